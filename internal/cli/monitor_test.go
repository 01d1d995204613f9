package cli_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/cli"
	"github.com/flowwatch/flowwatch/internal/monitor"
)

// monitorSetup serves the real API over an empty in-memory monitor store,
// checking files against one judge connection (aoai-connection) and one
// channel (oncall), and points the commands at it.
func monitorSetup(t *testing.T) (*httptest.Server, *apitest.Monitors) {
	t.Helper()
	clock := apitest.Ticking()
	st := apitest.NewMonitors(clock)
	mux := http.NewServeMux()
	api.New(api.Options{
		Monitors: st,
		MonitorEnv: monitor.Env{
			Judge:   func(name string) bool { return name == "aoai-connection" },
			Channel: func(name string) bool { return name == "oncall" },
		},
		Now: clock,
	}, nil).RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("FLOWWATCH_SERVER", srv.URL)
	t.Setenv("TZ", "Asia/Kolkata")
	return srv, st
}

// runDuration matches how long a run took, which the test stores' ticking
// clock makes depend on how often the scheduler's goroutine reads it.
var runDuration = regexp.MustCompile(`(succeeded|failed) in \d+m\d+s`)

func checkMonitorGolden(t *testing.T, name, got string) {
	t.Helper()
	got = runDuration.ReplaceAllString(got, "$1 in DURATION")
	path := filepath.Join("testdata", "monitor_"+name+".golden")
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// TestMonitorSession runs the commands in order against one server:
// apply, list, get, apply again, bad files, delete, validate. Each run's
// transcript is a golden file.
func TestMonitorSession(t *testing.T) {
	srv, st := monitorSetup(t)
	dir := filepath.Join("testdata", "monitors")
	file := func(name string) string { return filepath.Join(dir, name) }
	roundTrip := filepath.Join(t.TempDir(), "got.yaml")
	steps := []struct {
		name string
		args []string
		code int
	}{
		{"list_empty", []string{"monitor", "list"}, cli.ExitOK},
		{"apply", []string{"monitor", "apply", "-f", file("native.yaml")}, cli.ExitOK},
		{"apply_reference", []string{"monitor", "apply", "-f", file("reference.yaml")}, cli.ExitOK},
		{"list", []string{"monitor", "list"}, cli.ExitOK},
		{"list_json", []string{"monitor", "list", "-o", "json"}, cli.ExitOK},
		{"get_yaml", []string{"monitor", "get", "rag_quality"}, cli.ExitOK},
		{"get_reference_yaml", []string{"monitor", "get", "gen_ai_monitor_generation_quality", "-o", "yaml"}, cli.ExitOK},
		{"get_json", []string{"monitor", "get", "rag_quality", "-o", "json"}, cli.ExitOK},
		{"apply_again", []string{"monitor", "apply", "--file", file("native_v2.yaml")}, cli.ExitOK},
		{"list_after_apply_again", []string{"monitor", "list"}, cli.ExitOK},
		{"apply_invalid", []string{"monitor", "apply", "-f", file("invalid.yaml")}, cli.ExitError},
		{"apply_unknown_judge", []string{"monitor", "apply", "-f", file("unknown_judge.yaml")}, cli.ExitError},
		{"get_unknown", []string{"monitor", "get", "nope"}, cli.ExitNotFound},
		{"get_bad_name", []string{"monitor", "get", "Bad Name"}, cli.ExitUsage},
		{"delete", []string{"monitor", "delete", "rag_quality"}, cli.ExitOK},
		{"delete_again", []string{"monitor", "delete", "rag_quality"}, cli.ExitNotFound},
		{"list_after_delete", []string{"monitor", "list"}, cli.ExitOK},

		{"validate", []string{"monitor", "validate", "-f", file("native.yaml")}, cli.ExitOK},
		{"validate_reference", []string{"monitor", "validate", "-f", file("reference.yaml")}, cli.ExitOK},
		{"validate_invalid", []string{"monitor", "validate", "-f", file("invalid.yaml")}, cli.ExitError},
		{"validate_unknown_judge_offline", []string{"monitor", "validate", "-f", file("unknown_judge.yaml")}, cli.ExitOK},
		{"validate_server", []string{"monitor", "validate", "-f", file("native.yaml"), "--server", srv.URL}, cli.ExitOK},
		{"validate_server_unknown_judge", []string{"monitor", "validate", "-f", file("unknown_judge.yaml"), "--server", srv.URL}, cli.ExitError},
		{"list_after_validate", []string{"monitor", "list"}, cli.ExitOK},

		{"apply_no_file", []string{"monitor", "apply"}, cli.ExitUsage},
		{"apply_missing_file", []string{"monitor", "apply", "-f", file("nope.yaml")}, cli.ExitError},
		{"apply_argument", []string{"monitor", "apply", "-f", file("native.yaml"), "extra"}, cli.ExitUsage},
		{"get_no_args", []string{"monitor", "get"}, cli.ExitUsage},
		{"get_bad_output", []string{"monitor", "get", "rag_quality", "-o", "table"}, cli.ExitUsage},
		{"delete_two_args", []string{"monitor", "delete", "a", "b"}, cli.ExitUsage},
		{"list_bad_output", []string{"monitor", "list", "-o", "yaml"}, cli.ExitUsage},
		{"unknown_subcommand", []string{"monitor", "aply"}, cli.ExitUsage},
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

	// What get -o yaml prints applies back unchanged: same monitor, next
	// version.
	before, err := st.GetMonitor(t.Context(), "gen_ai_monitor_generation_quality")
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, "monitor", "get", "gen_ai_monitor_generation_quality")
	if err := os.WriteFile(roundTrip, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, "monitor", "apply", "-f", roundTrip)
	if r.code != cli.ExitOK || r.stdout != "monitor gen_ai_monitor_generation_quality configured (version 2)\n" || r.stderr != "" {
		t.Errorf("apply of get's YAML: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	after, err := st.GetMonitor(t.Context(), "gen_ai_monitor_generation_quality")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before.Monitor, after.Monitor); diff != "" {
		t.Errorf("monitor after applying get's YAML (-before +after):\n%s", diff)
	}
}

// TestMonitorApplyStdin applies a file read from standard input.
func TestMonitorApplyStdin(t *testing.T) {
	_, st := monitorSetup(t)
	f, err := os.Open(filepath.Join("testdata", "monitors", "native.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	r := run(t, "monitor", "apply", "-f", "-")
	os.Stdin = stdin
	if r.code != cli.ExitOK || r.stdout != "monitor rag_quality created (version 1)\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := st.GetMonitor(t.Context(), "rag_quality"); err != nil {
		t.Errorf("not stored: %v", err)
	}
}

// TestMonitorProblemsFromStdin checks that problems of a file read from
// standard input are named <stdin>.
func TestMonitorProblemsFromStdin(t *testing.T) {
	monitorSetup(t)
	f, err := os.Open(filepath.Join("testdata", "monitors", "invalid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	r := run(t, "monitor", "validate", "-f", "-")
	os.Stdin = stdin
	if r.code != cli.ExitError {
		t.Errorf("exit %d, want %d", r.code, cli.ExitError)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if first, last := lines[0], lines[len(lines)-1]; !strings.HasPrefix(first, "<stdin>:") || !strings.HasPrefix(last, "error: <stdin> is not a valid monitor") {
		t.Errorf("stderr does not name <stdin>:\n%s", r.stderr)
	}
}

// TestMonitorFileTooLarge checks that a file over 1 MiB is refused before
// anything is sent.
func TestMonitorFileTooLarge(t *testing.T) {
	monitorSetup(t)
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte("# "+strings.Repeat("x", 1<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "monitor", "apply", "-f", path)
	want := "error: " + path + " is larger than 1 MiB, the most a monitor file may be\n"
	if r.code != cli.ExitError || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, cli.ExitError, want)
	}
}
