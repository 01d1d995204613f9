package api

import (
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

// qualityResult aggregates a run's result the way a run does, from
// groundedness scores (pass score 3, min pass rate 0.7) and coherence
// scores (pass score 3, min pass rate 0.7, min average 4), and checks an
// error rate against a bound of 0.05. A score of 0 is a not evaluable
// instance; no scores at all give no data.
func qualityResult(t *testing.T, groundedness, coherence []float64, errorRate float64) model.RunResult {
	t.Helper()
	three, rate, four := 3.0, 0.7, 4.0
	metrics := []struct {
		name   string
		th     model.QualityThreshold
		scores []float64
	}{
		{"coherence", model.QualityThreshold{PassScore: &three, MinPassRate: &rate, MinAverage: &four}, coherence},
		{"groundedness", model.QualityThreshold{PassScore: &three, MinPassRate: &rate}, groundedness},
	}
	res := model.RunResult{Sampled: max(len(groundedness), len(coherence))}
	for _, m := range metrics {
		var instances []model.Instance
		for i, s := range m.scores {
			in := model.Instance{Metric: m.name, TraceID: fmt.Sprintf("%032x", 0xb000+i), Status: model.InstanceJudged}
			if s == 0 {
				in.Status = model.InstanceNotEvaluable
			} else {
				v := s
				in.Score = &v
			}
			instances = append(instances, monitor.Grade(in, three))
		}
		r, err := monitor.Aggregate(m.name, m.th, instances)
		if err != nil {
			t.Fatal(err)
		}
		res.Metrics = append(res.Metrics, r)
	}
	maxRate := 0.05
	res.Operational = []model.OperationalResult{monitor.CheckSignal("error_rate", "", &errorRate, model.Bound{Max: &maxRate})}
	return res
}

// qualityServer serves the API, with its clock at apitest.Now, over the
// monitor rag_quality and the runs of apitest.SeedRuns plus more runs of
// rag_quality: succeeded ones 1, 2 and 3 days before now and 40 days
// before now, a manual re-run over the window of the one of 2 days ago,
// and a failed one a day and a half ago.
func qualityServer(t *testing.T, logger *slog.Logger) *monitorsClient {
	t.Helper()
	mons := apitest.NewMonitors(nil)
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
	day := 24 * time.Hour
	add := func(trigger string, end, finished time.Time, status model.RunStatus, res *model.RunResult) {
		runs.Add(model.Run{
			Monitor: "rag_quality", MonitorVersion: 1, Trigger: trigger, Status: status,
			ScheduledAt: end, WindowStart: end.Add(-7 * day), WindowEnd: end, CreatedAt: finished.Add(-time.Minute),
			StartedAt: finished.Add(-time.Minute), FinishedAt: finished, Attempts: 1,
		}, res, nil)
	}
	at := func(d time.Duration) time.Time { return apitest.Now().Add(-d) }
	ok := func(g, c []float64, errRate float64) *model.RunResult {
		res := qualityResult(t, g, c, errRate)
		return &res
	}
	add(model.TriggerSchedule, at(40*day), at(40*day).Add(time.Minute), model.RunSucceeded, ok([]float64{5, 5}, []float64{5, 5}, 0.01))
	add(model.TriggerSchedule, at(3*day), at(3*day).Add(time.Minute), model.RunSucceeded, ok([]float64{5, 4, 4, 3}, []float64{5, 4, 4, 4}, 0.01))
	add(model.TriggerSchedule, at(2*day), at(2*day).Add(time.Minute), model.RunSucceeded, ok([]float64{5, 2, 2, 1}, []float64{4, 3, 3, 0}, 0.02))
	add(model.TriggerSchedule, at(36*time.Hour), at(36*time.Hour).Add(time.Minute), model.RunFailed, nil)
	add(model.TriggerSchedule, at(day), at(day).Add(time.Minute), model.RunSucceeded, ok(nil, nil, 0.09))
	add(model.TriggerManual, at(2*day), at(12*time.Hour), model.RunSucceeded, ok([]float64{5, 4, 2, 3}, []float64{4, 4, 5, 0}, 0.02))
	srv := newTestServer(t, Options{Monitors: mons, Runs: runs, Results: runs, Now: apitest.Now}, logger)
	return &monitorsClient{t: t, base: srv.URL}
}

func qualitySteps() []struct {
	name   string
	req    request
	status int
} {
	path := func(monitor, query string) string { return Prefix + "monitors/" + monitor + "/quality" + query }
	get := func(p string) request { return request{method: "GET", path: p} }
	return []struct {
		name   string
		req    request
		status int
	}{
		{"default", get(path("rag_quality", "")), 200},
		{"since", get(path("rag_quality", "?since=50h")), 200},
		{"range", get(path("rag_quality", "?since=2025-05-01&until=2025-05-30T12:00:00Z")), 200},
		{"empty", get(path("rag_quality", "?until=2025-01-01")), 200},
		{"deleted_monitor", get(path("old_monitor", "?since=60d")), 200},
		{"deleted_monitor_empty", get(path("old_monitor", "?since=1d")), 200},
		{"unknown_monitor", get(path("nope", "")), 404},
		{"bad_since", get(path("rag_quality", "?since=yesterday")), 400},
		{"until_before_since", get(path("rag_quality", "?since=2025-05-02&until=2025-05-01")), 400},
		{"since_after_now", get(path("rag_quality", "?since=2025-07-01")), 400},
		{"unknown_param", get(path("rag_quality", "?metric=coherence")), 400},
		{"repeated_param", get(path("rag_quality", "?since=1d&since=2d")), 400},
		{"bad_name", get(path("Bad%20Name", "")), 400},
		{"post", request{method: "POST", path: path("rag_quality", "")}, 405},
	}
}

// TestQuality runs the requests of qualitySteps against one server; each
// answer is a golden file (testdata/quality_NAME.golden) and is validated
// against the OpenAPI document.
func TestQuality(t *testing.T) {
	doc := loadOpenAPI(t)
	c := qualityServer(t, nil)
	for _, step := range qualitySteps() {
		t.Run(step.name, func(t *testing.T) {
			c.t = t
			res := c.do(step.req)
			if res.status != step.status {
				t.Errorf("status %d, want %d; body %s", res.status, step.status, res.body)
			}
			checkJSONHeaders(t, res.header)
			checkGolden(t, "quality_"+step.name, transcript(t, step.req, res))
			checkDocumentedAt(t, doc, Prefix+"monitors/{name}/quality", step.req.method, res)
		})
	}
}

// TestQualitySeries checks the figures of the default series against what
// its runs hold: the runs of the last 30 days that succeeded, oldest first
// by window end (the manual re-run right after the run whose window it
// read again), with the summaries adding up.
func TestQualitySeries(t *testing.T) {
	c := qualityServer(t, nil)
	res := c.do(request{method: "GET", path: Prefix + "monitors/rag_quality/quality"})
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var got QualitySeries
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Until.Equal(apitest.Now()) || !got.Since.Equal(apitest.Now().Add(-30*24*time.Hour)) || got.Truncated {
		t.Errorf("range %s..%s, truncated %v; want the 30 days up to now", got.Since, got.Until, got.Truncated)
	}
	type entry struct {
		End     time.Time
		Trigger string
	}
	var order []entry
	for _, r := range got.Runs {
		order = append(order, entry{r.WindowEnd.Time, r.Trigger})
	}
	day := 24 * time.Hour
	want := []entry{
		{apitest.Now().Add(-3 * day), "schedule"},
		{apitest.Now().Add(-2 * day), "schedule"},
		{apitest.Now().Add(-2 * day), "manual"},
		{apitest.Now().Add(-day), "schedule"},
		{apitest.Now().Add(-2 * time.Hour), "schedule"},
	}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Fatalf("runs (-want +got):\n%s", diff)
	}
	// 2 days ago: groundedness 1 of 4 passed, coherence 3 judged averaging
	// 3.33: both violated, coherence on both thresholds.
	two := got.Runs[1]
	g, co := two.Metrics["groundedness"], two.Metrics["coherence"]
	if g.Judged != 4 || *g.PassRate != 0.25 || *g.AverageScore != 2.5 || !g.PassRateViolation || g.AverageViolation {
		t.Errorf("groundedness 2 days ago = %+v", g)
	}
	if co.Judged != 3 || *co.PassRate != 1 || !co.AverageViolation || co.PassRateViolation {
		t.Errorf("coherence 2 days ago = %+v", co)
	}
	if s := two.Summary; s.Checks != 3 || s.Violations != 2 || s.ViolatedMetrics != 2 || *s.ViolationRate != 0.6667 {
		t.Errorf("summary 2 days ago = %+v", s)
	}
	// A day ago nothing was judged: no data, nothing checked.
	if s := got.Runs[3].Summary; s.NoData != 2 || s.Checks != 0 || s.ViolationRate != nil || s.OperationalViolations != 1 {
		t.Errorf("summary a day ago = %+v", s)
	}
	var checks, violations, opViolations int
	for _, r := range got.Runs {
		checks += r.Summary.Checks
		violations += r.Summary.Violations
		opViolations += r.Summary.OperationalViolations
	}
	if s := got.Summary; s.Checks != checks || s.Violations != violations || s.OperationalViolations != opViolations || s.Metrics != 12 {
		t.Errorf("summary %+v; the runs have %d checks, %d violations, %d operational violations", s, checks, violations, opViolations)
	}
	perMetric := 0
	for _, m := range got.Metrics {
		perMetric += m.Violations
	}
	if perMetric != violations || got.Metrics["groundedness"].Metrics != 5 || got.Metrics["fluency"].Metrics != 1 {
		t.Errorf("per metric %+v; want violations adding up to %d", got.Metrics, violations)
	}
}

// TestQualityTruncated checks that a range with more runs than an answer
// carries keeps the newest, oldest first, and says it was truncated.
func TestQualityTruncated(t *testing.T) {
	runs := apitest.NewRuns()
	res := qualityResult(t, []float64{5}, []float64{5}, 0)
	start := apitest.Now().Add(-20 * 24 * time.Hour)
	for i := range maxQualityRuns + 1 {
		end := start.Add(time.Duration(i) * 5 * time.Minute)
		runs.Add(model.Run{Monitor: "m", Trigger: model.TriggerSchedule, Status: model.RunSucceeded,
			WindowStart: end.Add(-time.Hour), WindowEnd: end, FinishedAt: end.Add(time.Minute)}, &res, nil)
	}
	srv := newTestServer(t, Options{Runs: runs, Results: runs}, nil)
	c := &monitorsClient{t: t, base: srv.URL}
	out := c.do(request{method: "GET", path: Prefix + "monitors/m/quality"})
	var got QualitySeries
	if err := json.Unmarshal(out.body, &got); err != nil {
		t.Fatalf("status %d: %v", out.status, err)
	}
	if !got.Truncated || len(got.Runs) != maxQualityRuns {
		t.Fatalf("truncated %v with %d runs; want true with %d", got.Truncated, len(got.Runs), maxQualityRuns)
	}
	first, last := got.Runs[0].WindowEnd.Time, got.Runs[len(got.Runs)-1].WindowEnd.Time
	if !first.Equal(start.Add(5*time.Minute)) || !last.Equal(start.Add(maxQualityRuns*5*time.Minute)) {
		t.Errorf("runs from %s to %s; want the newest %d, oldest first", first, last, maxQualityRuns)
	}
	if got.Summary.Metrics != 2*maxQualityRuns {
		t.Errorf("summary counts %d results, want %d (those of the runs listed)", got.Summary.Metrics, 2*maxQualityRuns)
	}
}

// failingResults fails every result read with err; monitor lookups
// answer not found.
type failingResults struct {
	*apitest.Runs
	err error
}

func (f failingResults) RunResults(context.Context, string, time.Time, time.Time, int) ([]store.RunWithResult, error) {
	return nil, f.err
}

func (f failingResults) TraceEvaluations(context.Context, string, int) ([]store.TraceEvaluation, error) {
	return nil, f.err
}

// TestQualityServerErrors checks the server side of the status table on
// the quality route.
func TestQualityServerErrors(t *testing.T) {
	secret := errors.New("disk I/O error at /secret/path/flowwatch.db")
	runs := apitest.NewRuns()
	mons := apitest.NewMonitors(nil)
	cases := []struct {
		name       string
		opts       Options
		status     int
		msg        string
		retryAfter string
		logged     string
	}{
		{
			name: "store failure", opts: Options{Monitors: mons, Runs: runs, Results: failingResults{runs, fmt.Errorf("select: %w", secret)}},
			status: 500, msg: "internal server error; the server log has the details", logged: "disk I/O error at /secret/path/flowwatch.db",
		},
		{
			name: "store closed", opts: Options{Monitors: mons, Runs: runs, Results: failingResults{runs, fmt.Errorf("sqlite: %w", store.ErrClosed)}},
			status: 503, msg: "server not ready: the store is closed (shutting down)", retryAfter: "5",
		},
		{
			name: "monitor lookup failure", opts: Options{Monitors: failingMonitors{fmt.Errorf("select: %w", secret)}, Runs: runs, Results: runs},
			status: 500, msg: "internal server error; the server log has the details", logged: "get monitor rag_quality",
		},
		{
			name: "no result store", opts: Options{Monitors: mons, Runs: runs},
			status: 503, msg: "server not ready: no run store configured", retryAfter: "5",
		},
		{
			name: "not ready", opts: Options{Monitors: mons, Runs: runs, Results: runs, Ready: func(context.Context) error { return errors.New("starting") }},
			status: 503, msg: "server not ready: starting", retryAfter: "5",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			srv := newTestServer(t, tc.opts, slog.New(slog.NewTextHandler(&logs, nil)))
			c := &monitorsClient{t: t, base: srv.URL}
			res := c.do(request{method: "GET", path: Prefix + "monitors/rag_quality/quality"})
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

// TestOpenAPIQualityParams checks the documented parameters of the quality
// operation against those the handler reads.
func TestOpenAPIQualityParams(t *testing.T) {
	doc := loadOpenAPI(t)
	names, in := opParams(t, doc, Prefix+"monitors/{name}/quality", "get")
	if diff := cmp.Diff(append([]string{"name"}, qualityParams()...), names); diff != "" {
		t.Errorf("parameters (-accepted +documented):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"path", "query", "query"}, in); diff != "" {
		t.Errorf("parameter places (-want +documented):\n%s", diff)
	}
}
