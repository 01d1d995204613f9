package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/store"
)

// schedulerStore is what the scheduler needs, from the in-memory stores.
type schedulerStore struct {
	*apitest.Monitors
	*apitest.Runs
}

// runServer serves the API over in-memory stores holding the monitor
// rag_quality (testdata/monitors/native.yaml) and the runs of
// apitest.SeedRuns, with manual runs recorded by a real scheduler (which
// the tests never start, so runs stay pending).
func runServer(t *testing.T, logger *slog.Logger) (*monitorsClient, *apitest.Runs) {
	t.Helper()
	clock := apitest.Ticking()
	mons := apitest.NewMonitors(clock)
	data, err := os.ReadFile(filepath.Join("testdata", "monitors", "native.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := monitor.Load(data, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mons.PutMonitor(t.Context(), loaded.Monitor, 0); err != nil {
		t.Fatal(err)
	}
	runs := apitest.NewRuns()
	apitest.SeedRuns(runs)
	sched, err := monitor.NewScheduler(monitor.SchedulerOptions{
		Store: schedulerStore{mons, runs},
		Execute: func(context.Context, model.Run, model.Monitor, monitor.Progress) (monitor.Outcome, error) {
			return monitor.Outcome{}, nil
		},
		Now:   clock,
		Owner: "test",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, Options{Monitors: mons, MonitorEnv: testEnv(), Runs: runs, Results: runs, RunNow: sched.RunNow, Now: clock}, logger)
	return &monitorsClient{t: t, base: srv.URL}, runs
}

// runDocPath is the OpenAPI path of a request path.
func runDocPath(path string) string {
	path = strings.SplitN(path, "?", 2)[0]
	rest := strings.TrimPrefix(path, Prefix)
	switch {
	case strings.HasPrefix(rest, "monitors/") && strings.HasSuffix(rest, "/runs"):
		return Prefix + "monitors/{name}/runs"
	case strings.HasPrefix(rest, "runs/") && strings.HasSuffix(rest, "/instances"):
		return Prefix + "runs/{id}/instances"
	case strings.HasPrefix(rest, "runs/"):
		return Prefix + "runs/{id}"
	}
	return path
}

func runSteps() []struct {
	name   string
	req    request
	status int
} {
	runs := Prefix + "monitors/rag_quality/runs"
	run := func(id string) string { return Prefix + "runs/" + id }
	inst := func(id, query string) string { return Prefix + "runs/" + id + "/instances" + query }
	jsonBody := map[string]string{"Content-Type": "application/json"}
	ok := apitest.SucceededRunID
	return []struct {
		name   string
		req    request
		status int
	}{
		{"list", request{method: "GET", path: runs}, 200},
		{"list_limit", request{method: "GET", path: runs + "?limit=1"}, 200},
		{"list_deleted_monitor", request{method: "GET", path: Prefix + "monitors/old_monitor/runs"}, 200},
		{"list_unknown_monitor", request{method: "GET", path: Prefix + "monitors/nope/runs"}, 404},
		{"list_bad_limit", request{method: "GET", path: runs + "?limit=101"}, 400},
		{"list_bad_name", request{method: "GET", path: Prefix + "monitors/Bad%20Name/runs"}, 400},
		{"list_unknown_param", request{method: "GET", path: runs + "?status=failed"}, 400},

		{"get_succeeded", request{method: "GET", path: run(ok)}, 200},
		{"get_failed", request{method: "GET", path: run(apitest.FailedRunID)}, 200},
		{"get_running", request{method: "GET", path: run(apitest.RunningRunID)}, 200},
		{"get_no_data", request{method: "GET", path: run(apitest.DeletedMonitorRunID)}, 200},
		{"get_unknown", request{method: "GET", path: run("ffffffffffffffffffffffffffffffff")}, 404},
		{"get_bad_id", request{method: "GET", path: run("a.b")}, 400},
		{"get_param", request{method: "GET", path: run(ok) + "?metric=x"}, 400},

		{"instances", request{method: "GET", path: inst(ok, "?metric=groundedness")}, 200},
		{"instances_failed", request{method: "GET", path: inst(ok, "?passed=false")}, 200},
		{"instances_passed_judged", request{method: "GET", path: inst(ok, "?metric=coherence&status=judged&passed=true")}, 200},
		{"instances_not_evaluable", request{method: "GET", path: inst(ok, "?status=not_evaluable")}, 200},
		{"instances_error", request{method: "GET", path: inst(ok, "?status=error")}, 200},
		{"instances_unknown_metric", request{method: "GET", path: inst(ok, "?metric=toxicity")}, 200},
		{"instances_page", request{method: "GET", path: inst(ok, "?metric=groundedness&limit=3")}, 200},
		{"instances_next_page", request{method: "GET", path: inst(ok, "?metric=groundedness&limit=3&cursor="+instanceCursor("groundedness", "0000000000000000000000000000a002"))}, 200},
		{"instances_last_page", request{method: "GET", path: inst(ok, "?metric=groundedness&cursor="+instanceCursor("groundedness", "0000000000000000000000000000a008"))}, 200},
		{"instances_bad_cursor", request{method: "GET", path: inst(ok, "?cursor=bm90LWEtY3Vyc29y")}, 400},
		{"instances_bad_limit", request{method: "GET", path: inst(ok, "?limit=10001")}, 400},
		{"instances_no_result", request{method: "GET", path: inst(apitest.RunningRunID, "")}, 200},
		{"instances_unknown_run", request{method: "GET", path: inst("ffffffffffffffffffffffffffffffff", "")}, 404},
		{"instances_bad_status", request{method: "GET", path: inst(ok, "?status=passed")}, 400},
		{"instances_bad_passed", request{method: "GET", path: inst(ok, "?passed=no")}, 400},
		{"instances_passed_with_error", request{method: "GET", path: inst(ok, "?status=error&passed=false")}, 400},
		{"instances_format_json", request{method: "GET", path: inst(ok, "?format=json&metric=coherence&limit=2")}, 200},
		{"instances_csv", request{method: "GET", path: inst(ok, "?format=csv&metric=groundedness")}, 200},
		{"instances_csv_filtered", request{method: "GET", path: inst(ok, "?format=csv&passed=false&limit=3&cursor="+instanceCursor("coherence", "0000000000000000000000000000a000"))}, 200},
		{"instances_csv_no_result", request{method: "GET", path: inst(apitest.RunningRunID, "?format=csv")}, 200},
		{"instances_csv_unknown_run", request{method: "GET", path: inst("ffffffffffffffffffffffffffffffff", "?format=csv")}, 404},
		{"instances_bad_format", request{method: "GET", path: inst(ok, "?format=xlsx")}, 400},

		{"create", request{method: "POST", path: runs}, 202},
		{"create_window", request{method: "POST", path: runs, header: jsonBody, body: `{"window_start": "2025-05-01T00:00:00+02:00", "window_end": "2025-05-02T00:00:00Z"}`}, 202},
		{"get_created", request{method: "GET", path: run(apitest.RunID(6))}, 200},
		{"list_after_create", request{method: "GET", path: runs + "?limit=2"}, 200},
		{"create_unknown_monitor", request{method: "POST", path: Prefix + "monitors/nope/runs"}, 404},
		{"create_half_window", request{method: "POST", path: runs, header: jsonBody, body: `{"window_start": "2025-05-01T00:00:00Z"}`}, 400},
		{"create_end_before_start", request{method: "POST", path: runs, header: jsonBody, body: `{"window_start": "2025-05-02T00:00:00Z", "window_end": "2025-05-01T00:00:00Z"}`}, 400},
		{"create_window_too_long", request{method: "POST", path: runs, header: jsonBody, body: `{"window_start": "2024-01-01T00:00:00Z", "window_end": "2025-01-02T00:00:01Z"}`}, 400},
		{"create_bad_time", request{method: "POST", path: runs, header: jsonBody, body: `{"window_start": "yesterday", "window_end": "2025-05-01T00:00:00Z"}`}, 400},
		{"create_unknown_field", request{method: "POST", path: runs, header: jsonBody, body: `{"lookback": "P1D"}`}, 400},
		{"create_not_json", request{method: "POST", path: runs, header: jsonBody, body: `window_start=2025`}, 400},
		{"create_two_values", request{method: "POST", path: runs, header: jsonBody, body: `{} {}`}, 400},
		{"create_text_body", request{method: "POST", path: runs, header: map[string]string{"Content-Type": "text/plain"}, body: `{}`}, 415},
		{"create_no_type", request{method: "POST", path: runs, body: `{}`}, 415},
		{"create_too_large", request{method: "POST", path: runs, header: jsonBody, body: `{"window_start": "` + strings.Repeat("x", maxRunBodyBytes) + `"}`}, 413},
		{"create_param", request{method: "POST", path: runs + "?wait=true"}, 400},

		{"delete_runs", request{method: "DELETE", path: runs}, 405},
		{"post_run", request{method: "POST", path: run(ok)}, 405},
	}
}

// TestRuns runs the requests of runSteps in order against one server; each
// answer is a golden file (testdata/runs_NAME.golden) and is validated
// against the OpenAPI document.
func TestRuns(t *testing.T) {
	doc := loadOpenAPI(t)
	c, _ := runServer(t, nil)
	for _, step := range runSteps() {
		ok := t.Run(step.name, func(t *testing.T) {
			c.t = t
			res := c.do(step.req)
			if res.status != step.status {
				t.Errorf("status %d, want %d; body %s", res.status, step.status, res.body)
			}
			if res.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", res.header.Get("Cache-Control"))
			}
			got := transcript(t, step.req, res)
			if step.req.body != "" {
				line, rest, _ := bytes.Cut(got, []byte("\n"))
				body := step.req.body
				if len(body) > 200 {
					body = fmt.Sprintf("(%d bytes)", len(body))
				}
				var b bytes.Buffer
				fmt.Fprintf(&b, "%s\n(body: %s)\n%s", line, body, rest)
				got = b.Bytes()
			}
			checkGolden(t, "runs_"+step.name, got)
			checkDocumentedAt(t, doc, runDocPath(step.req.path), step.req.method, res)
		})
		if !ok {
			break
		}
	}
}

// checkDocumentedAt validates an answer against the OpenAPI document's
// operation at docPath: its status is documented, and a JSON body has the
// schema documented for that status.
func checkDocumentedAt(t *testing.T, doc map[string]any, docPath, method string, res response) {
	t.Helper()
	item := obj(obj(doc["paths"])[docPath])
	if item == nil {
		t.Fatalf("path %s is not documented", docPath)
	}
	op := obj(item[strings.ToLower(method)])
	if op == nil {
		// 405s: the method is not an operation; the body is an Error.
		op = obj(item["get"])
	}
	if op == nil {
		op = obj(item["post"])
	}
	r := obj(obj(op["responses"])[fmt.Sprint(res.status)])
	if r == nil {
		t.Fatalf("status %d of %s %s is not documented", res.status, method, docPath)
	}
	if ref, ok := r["$ref"].(string); ok {
		resolved, err := resolve(doc, ref)
		if err != nil {
			t.Fatal(err)
		}
		r = resolved
	}
	if mt, _, _ := strings.Cut(res.header.Get("Content-Type"), ";"); mt != "application/json" {
		// Another format (a CSV export): documented for this status.
		if obj(obj(r["content"])[mt]) == nil {
			t.Errorf("%s answer of %d is not documented", mt, res.status)
		}
		return
	}
	content := obj(obj(r["content"])["application/json"])
	if content == nil {
		t.Fatalf("JSON answer of %d is not documented", res.status)
	}
	var body any
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatal(err)
	}
	v := validator{doc: doc}
	v.check("$", obj(content["schema"]), body, true)
	for _, p := range v.problems {
		t.Error(p)
	}
	for name, h := range obj(r["headers"]) {
		hdr := obj(h)
		if hdr["required"] == true && res.header.Get(name) == "" {
			t.Errorf("required header %s missing", name)
		}
	}
}

// TestRunsCreated checks what a manual run records: the window asked for,
// in UTC, or the monitor's own window as of now; pending, manual, at the
// monitor's version.
func TestRunsCreated(t *testing.T) {
	c, runs := runServer(t, nil)
	path := Prefix + "monitors/rag_quality/runs"
	res := c.do(request{method: "POST", path: path, header: map[string]string{"Content-Type": "application/json; charset=utf-8"},
		body: `{"window_start": "2025-05-01T02:00:00+02:00", "window_end": "2025-05-01T06:00:00Z"}`})
	if res.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var created CreatedRun
	if err := json.Unmarshal(res.body, &created); err != nil {
		t.Fatal(err)
	}
	if loc := res.header.Get("Location"); loc != Prefix+"runs/"+created.Run.ID {
		t.Errorf("Location = %q, run id %q", loc, created.Run.ID)
	}
	got, err := runs.GetRun(t.Context(), created.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := model.Run{
		ID: created.Run.ID, Monitor: "rag_quality", MonitorVersion: 1, Trigger: model.TriggerManual, Status: model.RunPending,
		WindowStart: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), WindowEnd: time.Date(2025, 5, 1, 6, 0, 0, 0, time.UTC),
	}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool {
		f := p.Last().String()
		return f == ".ScheduledAt" || f == ".CreatedAt"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("recorded run (-want +got):\n%s", diff)
	}
	res = c.do(request{method: "POST", path: path})
	if err := json.Unmarshal(res.body, &created); err != nil {
		t.Fatal(err)
	}
	got, _ = runs.GetRun(t.Context(), created.Run.ID)
	if lookback := got.WindowEnd.Sub(got.WindowStart); lookback != 7*24*time.Hour || !got.WindowEnd.Equal(got.ScheduledAt) {
		t.Errorf("default window %s..%s (scheduled %s): want the monitor's 7 days up to now", got.WindowStart, got.WindowEnd, got.ScheduledAt)
	}
}

// TestRunsSummary checks the summary of the seeded run against its
// metrics: groundedness misses its pass rate, coherence its average, and
// the error rate its bound.
func TestRunsSummary(t *testing.T) {
	c, _ := runServer(t, nil)
	res := c.do(request{method: "GET", path: Prefix + "runs/" + apitest.SucceededRunID})
	var run Run
	if err := json.Unmarshal(res.body, &run); err != nil {
		t.Fatal(err)
	}
	rate := 0.3333 // 2 of 6, to four significant digits
	want := &RunSummary{Metrics: 4, Checks: 6, Violations: 2, ViolatedMetrics: 2, ViolationRate: &rate, OperationalViolations: 1}
	if diff := cmp.Diff(want, run.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	g := run.Metrics["groundedness"]
	if g.Judged != 8 || g.NotEvaluable != 1 || g.Errors != 1 || g.Passed != 5 || *g.PassRate != 0.625 || !g.PassRateViolation || g.AverageViolation {
		t.Errorf("groundedness = %+v", g)
	}
	if co := run.Metrics["coherence"]; *co.AverageScore != 3.7 || !co.AverageViolation || co.PassRateViolation {
		t.Errorf("coherence = %+v", co)
	}
}

// failingRuns fails every call with err.
type failingRuns struct {
	store.RunStore
	store.ResultStore
	err error
}

func (f failingRuns) GetRun(context.Context, string) (model.Run, error) { return model.Run{}, f.err }
func (f failingRuns) ListRuns(context.Context, string, int) ([]model.Run, error) {
	return nil, f.err
}

// TestRunsServerErrors checks the server side of the status table on
// every run route.
func TestRunsServerErrors(t *testing.T) {
	secret := errors.New("disk I/O error at /secret/path/flowwatch.db")
	mons := apitest.NewMonitors(nil)
	runs := apitest.NewRuns()
	failRunNow := func(context.Context, string, *time.Time, *time.Time) (model.Run, error) {
		return model.Run{}, fmt.Errorf("create run: %w", secret)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "monitors", "native.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := monitor.Load(data, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mons.PutMonitor(t.Context(), loaded.Monitor, 0); err != nil {
		t.Fatal(err)
	}
	reads := []request{
		{method: "GET", path: Prefix + "monitors/rag_quality/runs"},
		{method: "GET", path: Prefix + "runs/" + apitest.SucceededRunID},
		{method: "GET", path: Prefix + "runs/" + apitest.SucceededRunID + "/instances"},
	}
	post := request{method: "POST", path: Prefix + "monitors/rag_quality/runs"}
	cases := []struct {
		name       string
		opts       Options
		requests   []request
		status     int
		msg        string
		retryAfter string
		logged     string
	}{
		{
			name: "store failure", opts: Options{Monitors: mons, Runs: failingRuns{err: fmt.Errorf("select: %w", secret)}, Results: runs},
			requests: reads, status: 500, msg: "internal server error; the server log has the details", logged: "disk I/O error at /secret/path/flowwatch.db",
		},
		{
			name: "store closed", opts: Options{Monitors: mons, Runs: failingRuns{err: fmt.Errorf("sqlite: %w", store.ErrClosed)}, Results: runs},
			requests: reads, status: 503, msg: "server not ready: the store is closed (shutting down)", retryAfter: "5",
		},
		{
			name: "no run store", opts: Options{Monitors: mons, Results: runs},
			requests: reads, status: 503, msg: "server not ready: no run store configured", retryAfter: "5",
		},
		{
			name: "no result store", opts: Options{Monitors: mons, Runs: runs},
			requests: reads, status: 503, msg: "server not ready: no run store configured", retryAfter: "5",
		},
		{
			name: "not ready", opts: Options{Monitors: mons, Runs: runs, Results: runs, Ready: func(context.Context) error { return errors.New("starting") }},
			requests: reads, status: 503, msg: "server not ready: starting", retryAfter: "5",
		},
		{
			name: "no scheduler", opts: Options{Monitors: mons, Runs: runs, Results: runs},
			requests: []request{post}, status: 503, msg: "the scheduler is not running", retryAfter: "5",
		},
		{
			name: "no monitor store", opts: Options{Runs: runs, Results: runs, RunNow: failRunNow},
			requests: []request{post}, status: 503, msg: "server not ready: no monitor store configured", retryAfter: "5",
		},
		{
			name: "scheduler failure", opts: Options{Monitors: mons, Runs: runs, Results: runs, RunNow: failRunNow},
			requests: []request{post}, status: 500, msg: "internal server error; the server log has the details", logged: "disk I/O error",
		},
	}
	for _, tc := range cases {
		for _, rq := range tc.requests {
			t.Run(tc.name+" "+rq.method+" "+rq.path, func(t *testing.T) {
				var logs syncBuffer
				srv := newTestServer(t, tc.opts, slog.New(slog.NewTextHandler(&logs, nil)))
				c := &monitorsClient{t: t, base: srv.URL}
				res := c.do(rq)
				if res.status != tc.status {
					t.Errorf("status %d, want %d", res.status, tc.status)
				}
				checkJSONHeaders(t, res.header)
				checkErrorBody(t, res.body, tc.msg)
				if got := res.header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
				}
				if tc.logged != "" && !strings.Contains(logs.String(), tc.logged) {
					t.Errorf("log does not contain %q:\n%s", tc.logged, logs.String())
				}
			})
		}
	}
}

// TestOpenAPIRunParams checks the documented parameters of the run
// operations against those the handlers read.
func TestOpenAPIRunParams(t *testing.T) {
	doc := loadOpenAPI(t)
	cases := []struct {
		path, method string
		names        []string
	}{
		{Prefix + "monitors/{name}/runs", "get", []string{"name", "limit"}},
		{Prefix + "monitors/{name}/runs", "post", []string{"name"}},
		{Prefix + "runs/{id}", "get", []string{"id"}},
		{Prefix + "runs/{id}/instances", "get", append([]string{"id"}, instanceParams()...)},
	}
	for _, tc := range cases {
		names, _ := opParams(t, doc, tc.path, tc.method)
		if diff := cmp.Diff(tc.names, names); diff != "" {
			t.Errorf("%s %s parameters (-accepted +documented):\n%s", tc.method, tc.path, diff)
		}
	}
}

// FuzzParseRunWindow checks that no body makes the window parser fail
// other than with a client error, and that an accepted window is ordered
// and bounded.
func FuzzParseRunWindow(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"window_start":"2025-01-01T00:00:00Z","window_end":"2025-01-02T00:00:00Z"}`, `{"window_start":1}`, `[]`, `null`, `{"window_end":"x"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var body []byte
		if s != "" {
			body = []byte(s)
		}
		start, end, err := parseRunWindow(body)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a requestError", err)
			}
			return
		}
		if (start == nil) != (end == nil) || (start != nil && (!end.After(*start) || end.Sub(*start) > maxRunWindow)) {
			t.Fatalf("parseRunWindow(%q) = %v, %v", s, start, end)
		}
	})
}
