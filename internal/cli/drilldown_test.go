package cli_test

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/cli"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// The drill-down fixture: monitor shop_quality judged the traces of
// service shop in two runs; the second also judged a trace the store no
// longer holds (gone by retention).
const (
	drillMonitor = "shop_quality"
	drillRun1    = "0184c2f6a3b1e5d07f3a9c2b1d4e5f01"
	drillRun2    = "0184c2f6a3b1e5d07f3a9c2b1d4e5f02"
)

func drillTrace(n int) string { return fmt.Sprintf("%032x", 0xd000+n) }

// drillTexts are the traces' questions and answers; the second answer is
// longer than the API gives (300 characters) and than a table cell shows.
var drillTexts = [][2]string{
	{"What is the refund window?", "Thirty days from delivery, with the receipt."},
	{"Can I return opened headphones?", "Yes. " + strings.Repeat("Opened items are accepted when complete and undamaged; ", 8)},
	{"Do you ship to Norway?", "We ship to the moon."},
	{"Wie lange dauert der Versand?", "Zwei bis drei Werktage, \"Express\" am nächsten Tag."},
}

// drillSetup serves the real API over a real SQLite store holding the
// fixture, points the commands at it and shows times in a zone that is
// not UTC. It returns the server and the ids the store gave the runs, by
// the fixture's names for them (drillRun1, drillRun2).
func drillSetup(t *testing.T) (*httptest.Server, map[string]string) {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := apitest.Now()
	var spans []model.Span
	for n, qa := range drillTexts {
		in, _ := json.Marshal(map[string]string{"question": qa[0]})
		out, _ := json.Marshal(map[string]string{"answer": qa[1]})
		start := now.Add(-time.Duration(26-n) * time.Hour)
		sp := model.Span{TraceID: drillTrace(n), SpanID: fmt.Sprintf("%016x", 0xd000+n), Name: "rag", StartTime: start,
			EndTime: start.Add(800 * time.Millisecond), StatusCode: model.StatusOK, ResourceAttributes: map[string]any{"service.name": "shop"},
			Attributes: map[string]any{"openinference.span.kind": "CHAIN", "input.value": string(in), "output.value": string(out)}}
		normalize.Deriver{}.DeriveSpan(&sp, nil)
		spans = append(spans, sp)
	}
	if _, err := st.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	three, rate, avg := 3.0, 0.7, 3.5
	mon := model.Monitor{Name: drillMonitor, Target: model.MonitorTarget{Service: "shop"},
		Schedule: model.Schedule{Cron: "0 * * * *"}, Window: model.Window{Lookback: "PT12H"}, SamplingRate: 1,
		Columns: model.Columns{Prompt: "question", Completion: "answer"}, Judge: "aoai-connection",
		Quality: map[string]model.QualityThreshold{
			"groundedness": {PassScore: &three, MinPassRate: &rate},
			"fluency":      {PassScore: &three, MinPassRate: &rate, MinAverage: &avg},
		}}
	if _, _, err := st.PutMonitor(ctx, mon, 0); err != nil {
		t.Fatal(err)
	}
	score := func(v float64) *float64 { return &v }
	judged := func(run, metric string, n int, s float64, reason string) model.Instance {
		return model.Instance{RunID: run, Metric: metric, TraceID: drillTrace(n), Status: model.InstanceJudged, Score: score(s),
			Passed: s >= 3, Reason: reason, JudgeModel: "gpt-4o", PromptVersion: "1"}
	}
	metric := func(name string, judged, passed int, average float64, violation bool) model.MetricResult {
		pr := float64(passed) / float64(judged)
		m := model.MetricResult{Metric: name, Judged: judged, Passed: passed, AverageScore: &average, PassRate: &pr,
			PassScore: 3, MinPassRate: &rate, Violation: violation, PassRateViolation: violation && pr < rate}
		if name == "fluency" {
			m.MinAverage = &avg
			m.AverageViolation = average < avg
			m.Violation = m.Violation || m.AverageViolation
		}
		return m
	}
	runs := []struct {
		id        string
		windowEnd time.Time
		metrics   []model.MetricResult
		instances []model.Instance
	}{
		{drillRun1, now.Add(-13 * time.Hour), []model.MetricResult{metric("groundedness", 2, 2, 4.5, false), metric("fluency", 2, 2, 4, false)},
			[]model.Instance{
				judged(drillRun1, "groundedness", 0, 5, "Every claim is in the policy excerpt."),
				judged(drillRun1, "groundedness", 1, 4, "Mostly supported."),
				judged(drillRun1, "fluency", 0, 4, "Clear."),
				judged(drillRun1, "fluency", 1, 4, "Clear, a little long."),
			}},
		{drillRun2, now.Add(-time.Hour), []model.MetricResult{metric("groundedness", 3, 1, 2.33, true), metric("fluency", 3, 3, 3.33, true),
			// Measured only (a built-in evaluator without a threshold).
			{Metric: "answer_length", Judged: 3, Passed: 3, AverageScore: score(27.5), PassRate: score(1), PassScore: 1}},
			[]model.Instance{
				judged(drillRun2, "groundedness", 1, 2, "Claims about headphones are not in the context."),
				judged(drillRun2, "groundedness", 2, 1, "The context names no shipping to Norway; the answer invents one."),
				judged(drillRun2, "groundedness", 3, 4, "Supported by the shipping page."),
				judged(drillRun2, "fluency", 2, 3, "Short but fine."),
				judged(drillRun2, "fluency", 3, 3, "Fine."),
				judged(drillRun2, "fluency", 9, 4, "Fluent."), // the trace is gone
				{RunID: drillRun2, Metric: "relevance", TraceID: drillTrace(0), Status: model.InstanceError, Error: "judge aoai-connection: 429 Too Many Requests"},
				{RunID: drillRun2, Metric: "relevance", TraceID: drillTrace(1), Status: model.InstanceNotEvaluable, Error: "relevance: not evaluable: missing [question]"},
			}},
	}
	ids := map[string]string{}
	for _, r := range runs {
		if _, err := st.CreateRun(ctx, model.Run{ID: r.id, Monitor: drillMonitor, MonitorVersion: 1, Trigger: model.TriggerSchedule,
			Status: model.RunPending, ScheduledAt: r.windowEnd, WindowStart: r.windowEnd.Add(-12 * time.Hour), WindowEnd: r.windowEnd,
			CreatedAt: r.windowEnd}); err != nil {
			t.Fatal(err)
		}
		claimed, ok, err := st.ClaimRun(ctx, "test", r.windowEnd.Add(time.Second), 5*time.Minute)
		if err != nil || !ok {
			t.Fatalf("claim run %s: %v %v", r.id, ok, err)
		}
		// The store names its runs; the tests use the fixture's names.
		ids[r.id] = claimed.ID
		for i := range r.instances {
			r.instances[i].RunID = claimed.ID
		}
		res := model.RunResult{RunID: claimed.ID, Sampled: 3, Metrics: r.metrics}
		if err := st.SaveRunResult(ctx, "test", res, r.instances, r.windowEnd.Add(90*time.Second), nil); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	api.New(api.Options{Traces: st, Monitors: st, Runs: st, Results: st, Summaries: st, Now: apitest.Now}, nil).RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("FLOWWATCH_SERVER", srv.URL)
	t.Setenv("TZ", "Asia/Kolkata")
	return srv, ids
}

// checkDrillGolden compares got with testdata/NAME.golden, or rewrites it
// with -update.
func checkDrillGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := gocmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// TestDrillDownGolden runs the drill-down commands (runs instances,
// monitor quality, traces get with verdicts); each transcript is a golden
// file.
func TestDrillDownGolden(t *testing.T) {
	srv, ids := drillSetup(t)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"runs_instances", []string{"runs", "instances", drillRun2}, cli.ExitOK},
		{"runs_instances_failed", []string{"runs", "instances", drillRun2, "--metric", "groundedness", "--failed"}, cli.ExitOK},
		{"runs_instances_status", []string{"runs", "instances", drillRun2, "--status", "not_evaluable"}, cli.ExitOK},
		{"runs_instances_limit", []string{"runs", "instances", drillRun2, "--limit", "2"}, cli.ExitOK},
		{"runs_instances_json", []string{"runs", "instances", drillRun2, "--metric", "groundedness", "--failed", "--limit", "1", "-o", "json"}, cli.ExitOK},
		{"runs_instances_csv", []string{"runs", "instances", drillRun2, "-o", "csv"}, cli.ExitOK},
		{"runs_instances_csv_failed", []string{"runs", "instances", drillRun2, "--failed", "--limit", "1", "-o", "csv"}, cli.ExitOK},
		{"runs_instances_none", []string{"runs", "instances", drillRun1, "--failed"}, cli.ExitOK},
		{"runs_instances_unknown_run", []string{"runs", "instances", "ffffffffffffffffffffffffffffffff"}, cli.ExitNotFound},
		{"runs_instances_unknown_run_csv", []string{"runs", "instances", "ffffffffffffffffffffffffffffffff", "-o", "csv"}, cli.ExitNotFound},
		{"runs_instances_bad_run", []string{"runs", "instances", "not/a/run"}, cli.ExitUsage},
		{"runs_instances_failed_and_status", []string{"runs", "instances", drillRun2, "--failed", "--status", "error"}, cli.ExitUsage},
		{"runs_instances_bad_status", []string{"runs", "instances", drillRun2, "--status", "passed"}, cli.ExitUsage},
		{"runs_instances_bad_limit", []string{"runs", "instances", drillRun2, "--limit", "0"}, cli.ExitUsage},
		{"runs_instances_bad_output", []string{"runs", "instances", drillRun2, "-o", "yaml"}, cli.ExitUsage},
		{"runs_instances_no_args", []string{"runs", "instances"}, cli.ExitUsage},
		{"runs_unknown_subcommand", []string{"runs", "list"}, cli.ExitUsage},

		{"monitor_quality", []string{"monitor", "quality", drillMonitor}, cli.ExitOK},
		{"monitor_quality_since", []string{"monitor", "quality", drillMonitor, "--since", "6h"}, cli.ExitOK},
		{"monitor_quality_json", []string{"monitor", "quality", drillMonitor, "--since", "6h", "-o", "json"}, cli.ExitOK},
		{"monitor_quality_none", []string{"monitor", "quality", drillMonitor, "--since", "2025-05-01", "--until", "2025-05-02"}, cli.ExitOK},
		{"monitor_quality_unknown", []string{"monitor", "quality", "nope"}, cli.ExitNotFound},
		{"monitor_quality_bad_since", []string{"monitor", "quality", drillMonitor, "--since", "yesterday"}, cli.ExitUsage},
		{"monitor_quality_no_args", []string{"monitor", "quality"}, cli.ExitUsage},

		{"traces_get_verdicts", []string{"traces", "get", drillTrace(1)}, cli.ExitOK},
		{"traces_get_no_verdicts", []string{"traces", "get", drillTrace(3), "--server", srv.URL}, cli.ExitOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = cmp.Or(ids[a], a)
			}
			r := run(t, args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			checkDrillGolden(t, tc.name, r.transcript(args, srv.URL, "SERVER", ids[drillRun1], drillRun1, ids[drillRun2], drillRun2))
		})
	}
}

// TestRunsInstancesCSV checks that the CSV export parses, has a header
// and one row per instance, and carries what the table cuts.
func TestRunsInstancesCSV(t *testing.T) {
	_, ids := drillSetup(t)
	r := run(t, "runs", "instances", ids[drillRun2], "--metric", "groundedness", "-o", "csv")
	if r.code != cli.ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	records, err := csv.NewReader(bytes.NewReader([]byte(r.stdout))).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v", err)
	}
	if len(records) != 4 {
		t.Fatalf("%d records, want a header and 3 rows", len(records))
	}
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	for _, tc := range []struct {
		name  string
		row   int
		field string
		want  string
	}{
		{"trace", 1, "trace_id", drillTrace(1)},
		{"question", 1, "question", drillTexts[1][0]},
		{"answer cut", 1, "answer", string([]rune(drillTexts[1][1])[:api.MaxInstanceAnswerRunes])},
		{"answer cut flag", 1, "answer_truncated", "true"},
		{"score", 2, "score", "1"},
		{"failed", 2, "passed", "false"},
		{"reason", 2, "reason", "The context names no shipping to Norway; the answer invents one."},
		{"quotes kept", 3, "answer", drillTexts[3][1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, ok := col[tc.field]
			if !ok {
				t.Fatalf("no column %s in %v", tc.field, records[0])
			}
			if got := records[tc.row][i]; got != tc.want {
				t.Errorf("%s of row %d = %q, want %q", tc.field, tc.row, got, tc.want)
			}
		})
	}
}
