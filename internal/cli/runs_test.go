package cli_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/cli"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
)

type schedulerStore struct {
	*apitest.Monitors
	*apitest.Runs
}

// runSetup serves the real API over in-memory stores holding the monitors
// rag_quality and gen_ai_monitor_generation_quality and the runs of
// apitest.SeedRuns. Manual runs go to a real scheduler whose executor
// gives rag_quality the seeded result and fails the other monitor. With
// sync, a manual run is executed before POST answers; otherwise it is
// executed after the first GET of it has answered pending. It returns the
// server and how many GETs of a run were answered.
func runSetup(t *testing.T, sync bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	clock := apitest.Ticking()
	mons := apitest.NewMonitors(clock)
	env := monitor.Env{
		Judge:   func(name string) bool { return name == "aoai-connection" },
		Channel: func(name string) bool { return name == "oncall" },
	}
	for _, f := range []string{"native.yaml", "reference.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "monitors", f))
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := monitor.Load(data, env)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := mons.PutMonitor(t.Context(), loaded.Monitor, 0); err != nil {
			t.Fatal(err)
		}
	}
	runs := apitest.NewRuns()
	apitest.SeedRuns(runs)
	sched, err := monitor.NewScheduler(monitor.SchedulerOptions{
		Store: schedulerStore{mons, runs},
		Execute: func(_ context.Context, _ model.Run, m model.Monitor, _ monitor.Progress) (monitor.Outcome, error) {
			if m.Name != "rag_quality" {
				return monitor.Outcome{}, errors.New("judge aoai-connection: 429 Too Many Requests after 3 retries")
			}
			res, instances := apitest.SucceededResult()
			return monitor.Outcome{Result: res, Instances: instances}, nil
		},
		// A clock of its own: shared with the stores, which the API reads
		// concurrently, its readings would depend on timing. One run at
		// a time, so that Dispatch does not look for a second run (and
		// read the clock) while the first one finishes.
		Now:           apitest.Ticking(),
		Owner:         "test",
		MaxConcurrent: 1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	execute := func() {
		if err := sched.Dispatch(context.Background()); err != nil {
			t.Error(err)
		}
		sched.Wait()
	}
	runNow := sched.RunNow
	if sync {
		runNow = func(ctx context.Context, name string, start, end *time.Time) (model.Run, error) {
			r, err := sched.RunNow(ctx, name, start, end)
			if err == nil {
				execute()
			}
			return r, err
		}
	}
	mux := http.NewServeMux()
	api.New(api.Options{Monitors: mons, MonitorEnv: env, Runs: runs, Results: runs, RunNow: runNow, Now: clock}, nil).RegisterHTTP(mux)
	var gets atomic.Int32
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/runs/") && gets.Add(1) == 1 && !sync {
			execute()
		}
	})
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	t.Setenv("FLOWWATCH_SERVER", srv.URL)
	t.Setenv("TZ", "Asia/Kolkata")
	return srv, &gets
}

// TestMonitorRunSession runs the run commands in order against one server;
// each transcript is a golden file.
func TestMonitorRunSession(t *testing.T) {
	srv, _ := runSetup(t, true)
	steps := []struct {
		name string
		args []string
		code int
	}{
		{"runs", []string{"monitor", "runs", "rag_quality"}, cli.ExitOK},
		{"runs_json", []string{"monitor", "runs", "rag_quality", "--limit", "1", "-o", "json"}, cli.ExitOK},
		{"runs_deleted_monitor", []string{"monitor", "runs", "old_monitor"}, cli.ExitOK},
		{"runs_none", []string{"monitor", "runs", "gen_ai_monitor_generation_quality"}, cli.ExitOK},
		{"runs_unknown", []string{"monitor", "runs", "nope"}, cli.ExitNotFound},
		{"runs_bad_limit", []string{"monitor", "runs", "rag_quality", "--limit", "0"}, cli.ExitUsage},
		{"results", []string{"monitor", "results", "rag_quality"}, cli.ExitOK},
		{"results_run", []string{"monitor", "results", "old_monitor", "--run", apitest.DeletedMonitorRunID}, cli.ExitOK},
		{"results_run_pending", []string{"monitor", "results", "rag_quality", "--run", apitest.RunningRunID}, cli.ExitOK},
		{"results_json", []string{"monitor", "results", "rag_quality", "-o", "json"}, cli.ExitOK},
		{"results_other_monitor", []string{"monitor", "results", "old_monitor", "--run", apitest.SucceededRunID}, cli.ExitUsage},
		{"results_unknown_run", []string{"monitor", "results", "rag_quality", "--run", "ffff"}, cli.ExitNotFound},
		{"results_none", []string{"monitor", "results", "gen_ai_monitor_generation_quality"}, cli.ExitNotFound},
		{"run", []string{"monitor", "run", "rag_quality"}, cli.ExitOK},
		{"run_wait", []string{"monitor", "run", "rag_quality", "--wait"}, cli.ExitOK},
		{"run_wait_window_json", []string{"monitor", "run", "rag_quality", "--wait", "-o", "json", "--window-start", "2025-05-01T00:00:00Z", "--window-end", "2025-05-02T00:00:00Z"}, cli.ExitOK},
		{"run_wait_failed", []string{"monitor", "run", "gen_ai_monitor_generation_quality", "--wait"}, cli.ExitError},
		{"results_after_failed", []string{"monitor", "results", "gen_ai_monitor_generation_quality"}, cli.ExitNotFound},
		{"runs_after", []string{"monitor", "runs", "rag_quality", "--limit", "3"}, cli.ExitOK},
		{"run_half_window", []string{"monitor", "run", "rag_quality", "--window-start", "2025-05-01T00:00:00Z"}, cli.ExitUsage},
		{"run_bad_window", []string{"monitor", "run", "rag_quality", "--window-start", "2025-05-02T00:00:00Z", "--window-end", "2025-05-01T00:00:00Z"}, cli.ExitUsage},
		{"run_unknown", []string{"monitor", "run", "nope", "--wait"}, cli.ExitNotFound},
		{"run_no_args", []string{"monitor", "run"}, cli.ExitUsage},
	}
	for _, step := range steps {
		ok := t.Run(step.name, func(t *testing.T) {
			r := run(t, step.args...)
			if r.code != step.code {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, step.code, r.stderr)
			}
			checkMonitorGolden(t, step.name, r.transcript(step.args, srv.URL, "SERVER"))
		})
		if !ok {
			break
		}
	}
}

// TestMonitorRunWaitPolls follows a run that is still pending when first
// asked about: the command polls until it has ended and says each status
// once.
func TestMonitorRunWaitPolls(t *testing.T) {
	_, gets := runSetup(t, false)
	r := run(t, "monitor", "run", "rag_quality", "--wait")
	if r.code != cli.ExitOK {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	if n := gets.Load(); n != 2 {
		t.Errorf("%d GETs of the run, want 2 (pending, then succeeded)", n)
	}
	id := apitest.RunID(5)
	// The run's duration comes from the test store's ticking clock, which
	// the scheduler's goroutine reads a varying number of times.
	got := regexp.MustCompile(`succeeded in \d+m0s`).ReplaceAllString(r.stderr, "succeeded in DURATION")
	want := "run " + id + " of monitor rag_quality started\nrun " + id + ": pending\nrun " + id + ": succeeded in DURATION\n"
	if got != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	if !strings.Contains(r.stdout, "groundedness  8       1          1") {
		t.Errorf("stdout has no results table:\n%s", r.stdout)
	}
}
