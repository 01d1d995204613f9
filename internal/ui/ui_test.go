package ui

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// testNow is the dashboard's clock in these tests.
var testNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

const (
	evilQuestion = `<script>alert("q")</script> What is the refund window?`
	evilAnswer   = `<img src=x onerror=alert(1)> Thirty days.`
	evilModel    = `gpt-4o-mini"><script>alert(2)</script>`
)

// fixture is a real SQLite store with a few RAG requests of two services,
// a monitor, a finished run with instances and a firing alert.
type fixture struct {
	st      *sqlite.Store
	srv     *httptest.Server
	traceID string // the request with hostile text
	runID   string
	alertID string
	ran     []string // monitors Run now was pressed for
}

func traceID(n int) string { return fmt.Sprintf("%032x", n+1) }
func spanID(n int) string  { return fmt.Sprintf("%016x", n+1) }

// request returns a root flow span and an LLM child span.
func request(n int, service, deployment string, start time.Time, question, answer, modelName string, failed bool) []model.Span {
	res := map[string]any{"service.name": service}
	if deployment != "" {
		res["deployment.name"] = deployment
	}
	root := model.Span{TraceID: traceID(n), SpanID: spanID(2 * n), Name: "rag", StartTime: start,
		EndTime: start.Add(time.Duration(400+n*10) * time.Millisecond), StatusCode: model.StatusOK, ResourceAttributes: res,
		Attributes: map[string]any{"input.value": fmt.Sprintf(`{"question": %q}`, question),
			"output.value": fmt.Sprintf(`{"answer": %q}`, answer), "openinference.span.kind": "CHAIN"}}
	if failed {
		root.StatusCode, root.StatusMessage = model.StatusError, "upstream timed out"
	}
	llm := model.Span{TraceID: traceID(n), SpanID: spanID(2*n + 1), ParentSpanID: root.SpanID, Name: "chat",
		StartTime: start.Add(50 * time.Millisecond), EndTime: start.Add(300 * time.Millisecond), StatusCode: model.StatusOK,
		ResourceAttributes: res,
		Attributes: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": modelName,
			"gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": int64(100 + n), "gen_ai.usage.output_tokens": int64(20),
			"gen_ai.input.messages":  fmt.Sprintf(`[{"role":"user","parts":[{"type":"text","content":%q}]}]`, question),
			"gen_ai.output.messages": fmt.Sprintf(`[{"role":"assistant","parts":[{"type":"text","content":%q}]}]`, answer)}}
	spans := []model.Span{root, llm}
	for i := range spans {
		normalize.Deriver{}.DeriveSpan(&spans[i], nil)
	}
	return spans
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, traceID: traceID(0)}
	var spans []model.Span
	spans = append(spans, request(0, "shop", "prod", testNow.Add(-30*time.Minute), evilQuestion, evilAnswer, evilModel, false)...)
	for i := 1; i < 12; i++ {
		spans = append(spans, request(i, "shop", "prod", testNow.Add(-time.Duration(i)*7*time.Minute),
			fmt.Sprintf("question %d", i), fmt.Sprintf("answer %d", i), "gpt-4o-mini", i%5 == 0)...)
	}
	spans = append(spans, request(20, "search", "", testNow.Add(-2*time.Hour), "other question", "other answer", "gpt-4o", false)...)
	if _, err := st.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}

	three, rate := 3.0, 0.8
	mon := model.Monitor{Name: "shop-quality", Target: model.MonitorTarget{Service: "shop", Deployment: "prod"},
		Schedule: model.Schedule{Cron: "*/15 * * * *"}, Window: model.Window{Lookback: "PT1H"}, SamplingRate: 1,
		Columns: model.Columns{Prompt: "question", Completion: "answer"},
		Quality: map[string]model.QualityThreshold{"fluency": {PassScore: &three, MinPassRate: &rate}}}
	if _, _, err := st.PutMonitor(ctx, mon, 0); err != nil {
		t.Fatal(err)
	}
	run, err := st.CreateRun(ctx, model.Run{ID: "run-1", Monitor: mon.Name, Trigger: model.TriggerManual, Status: model.RunPending,
		ScheduledAt: testNow.Add(-5 * time.Minute), WindowStart: testNow.Add(-65 * time.Minute), WindowEnd: testNow.Add(-5 * time.Minute),
		CreatedAt: testNow.Add(-5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	f.runID = run.ID
	if _, ok, err := st.ClaimRun(ctx, "test", testNow.Add(-4*time.Minute), time.Minute); err != nil || !ok {
		t.Fatalf("claim run: %v %v", ok, err)
	}
	pr, lo, hi, avg, answerWords, all := 0.5, 0.2, 0.8, 2.75, 17.25, 1.0
	res := model.RunResult{RunID: run.ID, Sampled: 4, Metrics: []model.MetricResult{{Metric: "fluency", Judged: 4, Passed: 2,
		AverageScore: &avg, PassRate: &pr, PassRateCI: &[2]float64{lo, hi}, PassScore: 3, MinPassRate: &rate,
		Violation: true, PassRateViolation: true},
		// Measured only: no threshold, so no pass rate worth showing.
		{Metric: "answer_length", Judged: 4, Passed: 4, AverageScore: &answerWords, PassRate: &all, PassRateCI: &[2]float64{0.5, 1}, PassScore: 1}}}
	score := func(v float64) *float64 { return &v }
	insts := []model.Instance{
		{RunID: run.ID, Metric: "fluency", TraceID: traceID(0), Status: model.InstanceJudged, Score: score(1), Reason: `<b>garbled</b> and unclear`, JudgeModel: "judge"},
		{RunID: run.ID, Metric: "fluency", TraceID: traceID(1), Status: model.InstanceJudged, Score: score(2), Reason: "choppy", JudgeModel: "judge"},
		{RunID: run.ID, Metric: "fluency", TraceID: traceID(2), Status: model.InstanceJudged, Score: score(4), Passed: true, Reason: "fine", JudgeModel: "judge"},
		{RunID: run.ID, Metric: "fluency", TraceID: traceID(3), Status: model.InstanceJudged, Score: score(4), Passed: true, Reason: "fine", JudgeModel: "judge"},
		{RunID: run.ID, Metric: "fluency", TraceID: traceID(4), Status: model.InstanceNotEvaluable, Error: `fluency: not evaluable: missing [answer]`},
	}
	f.alertID = "alert-1"
	decide := func(store.AlertSnapshot) (store.AlertChanges, error) {
		return store.AlertChanges{
			Alerts: []model.Alert{{ID: f.alertID, Monitor: mon.Name, Key: "quality:fluency", Kind: model.AlertQuality, Subject: "fluency",
				State: model.AlertFiring, Summary: "fluency pass rate 50% is below 80%", Value: &pr, Threshold: "pass rate ≥ 80%",
				FiredAt: testNow.Add(-3 * time.Minute), FiringRunID: run.ID, LastRunID: run.ID}},
			Trackers: []model.AlertTracker{{Monitor: mon.Name, Key: "quality:fluency", Streak: 1, AlertID: f.alertID}},
		}, nil
	}
	if err := st.SaveRunResult(ctx, "test", res, insts, testNow.Add(-3*time.Minute), decide); err != nil {
		t.Fatal(err)
	}

	u, err := New(Options{Traces: st, Rollups: st, Monitors: st, Runs: st, Results: st, Summaries: st, Alerts: st,
		RunNow: func(_ context.Context, name string, _, _ *time.Time) (model.Run, error) {
			if name != mon.Name {
				return model.Run{}, fmt.Errorf("monitor %q: %w", name, store.ErrNotFound)
			}
			f.ran = append(f.ran, name)
			return model.Run{ID: "run-2", Monitor: name}, nil
		},
		Now: func() time.Time { return testNow }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.RegisterHTTP(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestPages visits every page and view and checks its status and a few
// figures it must show.
func TestPages(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, path string
		status     int
		want       []string
	}{
		{"home", "/", 200, []string{"shop", "prod", "search", "shop-quality", "Violating", "fluency pass rate 50% is below 80%",
			">12<", "16.7%" /* 2 of 12 shop requests failed */, "/runs/{run}"}},
		{"home 7d", "/?range=7d", 200, []string{"last 7 days"}},
		{"service tokens", "/services/shop?deployment=prod", 200, []string{"Token usage", "Prompt and completion tokens", "gpt-4o-mini", "<svg"}},
		{"service tokens one model", "/services/shop/tokens?model=gpt-4o-mini-2024-07-18", 200, []string{"<strong>gpt-4o-mini</strong>"}},
		{"service operational", "/services/shop/operational", 200, []string{"Latency p50, p95, p99", "Error rate", "LLM calls by model"}},
		{"service quality", "/services/shop/quality?deployment=prod", 200, []string{"shop-quality", "50.0%", "95% CI 20.0%–80.0%",
			"Judged requests of the latest run", "/traces/" + traceID(0), "choppy", "measured only, no threshold", "17.25", "Average per run"}},
		{"service quality errors", "/services/shop/quality?show=not_evaluable", 200, []string{"missing [answer]"}},
		{"service traces", "/services/shop/traces", 200, []string{"/traces/" + traceID(1), "question 1"}},
		{"service traces text", "/services/shop/traces?q=refund", 200, []string{"/traces/" + traceID(0)}},
		{"service traces failed", "/services/shop/traces?status=error", 200, []string{"/traces/" + traceID(5), "/traces/" + traceID(10)}},
		{"service no deployment", "/services/search", 200, []string{"search"}},
		{"trace", "/traces/" + traceID(0), 200, []string{"Question", "What is the refund window?", "Thirty days.", "fluency", "shop-quality",
			"Attributes as sent", "gen_ai.operation.name"}},
		{"trace uppercase id", "/traces/" + strings.ToUpper(traceID(0)), 200, nil},
		{"monitors", "/monitors", 200, []string{"shop-quality", "*/15 * * * *", "Violating"}},
		{"monitor", "/monitors/shop-quality", 200, []string{"Run now", "name: shop-quality", "/runs/{run}", "Pass rate per run"}},
		{"run", "/runs/{run}", 200, []string{"Run of shop-quality", "fluency", "violated", "choppy", "/traces/" + traceID(1),
			"answer_length", "measured only"}},
		{"run all", "/runs/{run}?show=all", 200, []string{"fine"}},
		{"alerts", "/alerts", 200, []string{"fluency pass rate 50% is below 80%", "firing"}},
		{"alerts firing", "/alerts?state=firing&monitor=shop-quality", 200, []string{"fluency pass rate"}},
		{"alert", "/alerts/" + "alert-1", 200, []string{"quality:fluency", "pass rate ≥ 80%"}},
		{"custom range", "/?from=2026-03-10T10:00&to=2026-03-10T12:00", 200, []string{"custom range"}},

		{"unknown page", "/nope", 404, []string{"There is no page at /nope."}},
		{"unknown trace", "/traces/" + traceID(99), 404, []string{"No trace"}},
		{"bad trace id", "/traces/xyz", 404, []string{"is not a trace id"}},
		{"unknown run", "/runs/nope", 404, []string{"There is no run"}},
		{"unknown monitor", "/monitors/nope", 404, []string{"There is no monitor named"}},
		{"unknown alert", "/alerts/nope", 404, []string{"There is no alert"}},
		{"unknown service", "/services/nope", 404, []string{"No traces of a service named"}},
		{"unknown deployment", "/services/shop?deployment=nope", 404, []string{"has no deployment named"}},
		{"unknown view", "/services/shop/charts", 404, []string{"views tokens, quality, operational and traces"}},
		{"bad range", "/?range=2y", 400, []string{"range=&#34;2y&#34; is not one of"}},
		{"half a custom range", "/?from=2026-03-10T10:00", 400, []string{"needs both from and to"}},
		{"reversed range", "/?from=2026-03-10T10:00&to=2026-03-10T09:00", 400, []string{"must end after it starts"}},
		{"bad status filter", "/services/shop/traces?status=maybe", 400, []string{"status=&#34;maybe&#34;"}},
		{"bad latency filter", "/services/shop/traces?min_ms=fast", 400, []string{"min_ms="}},
		{"bad cursor", "/services/shop/traces?cursor=garbage", 400, []string{"out of date"}},
		{"bad instance filter", "/runs/{run}?show=odd", 400, []string{"show=&#34;odd&#34;"}},
		{"bad instance position", "/runs/{run}?after=x", 400, []string{"is not a position"}},
		{"bad alert state", "/alerts?state=snoozed", 400, []string{"state=&#34;snoozed&#34;"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.path = strings.ReplaceAll(tc.path, "{run}", f.runID)
			resp, body := f.get(t, tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("GET %s: %d, want %d\n%s", tc.path, resp.StatusCode, tc.status, clipBody(body))
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "{run}", f.runID)
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: page lacks %q\n%s", tc.path, w, clipBody(body))
				}
			}
			checkSafePage(t, resp, body)
		})
	}
}

func clipBody(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

// checkSafePage checks what every page must hold: the security headers,
// no inline script or style, and every hostile text escaped.
func checkSafePage(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no X-Content-Type-Options: nosniff")
	}
	for _, bad := range []string{`<script>alert`, `<img src=x`, `<b>garbled`, " style=\"", "<style"} {
		if strings.Contains(body, bad) {
			t.Errorf("page holds %q unescaped", bad)
		}
	}
	if n := strings.Count(body, "<script"); n != 1 || !strings.Contains(body, `<script src="/static/app.js" defer></script>`) {
		t.Errorf("page has %d script tags, want only the app's own script", n)
	}
}

// TestEscaping follows the hostile request through the pages that show
// it: its text is shown, escaped.
func TestEscaping(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/traces/" + f.traceID, []string{"&lt;script&gt;alert(&#34;q&#34;)&lt;/script&gt; What is the refund window?",
			"&lt;img src=x onerror=alert(1)&gt; Thirty days.", "&lt;b&gt;garbled&lt;/b&gt; and unclear"}},
		{"/services/shop/traces", []string{"&lt;script&gt;alert(&#34;q&#34;)&lt;/script&gt;"}},
		{"/services/shop/tokens", []string{"gpt-4o-mini&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"}},
		// Judged requests show their question and answer, escaped.
		{"/runs/" + f.runID + "?show=all", []string{"&lt;b&gt;garbled&lt;/b&gt; and unclear",
			"&lt;script&gt;alert(&#34;q&#34;)&lt;/script&gt; What is the refund window?", "answer 1"}},
		{"/services/shop/quality?deployment=prod", []string{"&lt;img src=x onerror=alert(1)&gt; Thirty days.", "question 1"}},
	} {
		_, body := f.get(t, tc.path)
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: escaped text %q not shown", tc.path, w)
			}
		}
	}
}

// TestRunNow: the button is a POST that starts a run and sends the viewer
// back to the monitor; a cross-site POST and a GET are refused.
func TestRunNow(t *testing.T) {
	f := newFixture(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, hdr map[string]string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := post("/monitors/shop-quality/run", map[string]string{"Origin": f.srv.URL, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/monitors/shop-quality?started=run-2" {
		t.Errorf("same-origin Run now: %d to %q, want 303 to the monitor", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(f.ran) != 1 {
		t.Errorf("runs started: %v, want one", f.ran)
	}
	resp = post("/monitors/shop-quality/run", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site Run now: %d, want 403", resp.StatusCode)
	}
	if len(f.ran) != 1 {
		t.Errorf("a cross-site request started a run: %v", f.ran)
	}
	resp = post("/monitors/nope/run", map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("Run now of an unknown monitor: %d, want 404", resp.StatusCode)
	}
	r, _ := f.get(t, "/monitors/shop-quality/run")
	if r.StatusCode != http.StatusMethodNotAllowed && r.StatusCode != http.StatusNotFound {
		t.Errorf("GET of the Run now address: %d, want 405 or 404", r.StatusCode)
	}
}

// TestStatic serves the embedded stylesheet and script.
func TestStatic(t *testing.T) {
	f := newFixture(t)
	for path, ct := range map[string]string{"/static/app.css": "text/css", "/static/app.js": "text/javascript"} {
		resp, body := f.get(t, path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) || len(body) < 100 {
			t.Errorf("GET %s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	if resp, _ := f.get(t, "/static/nope.css"); resp.StatusCode != 404 {
		t.Errorf("unknown static file: %d", resp.StatusCode)
	}
}

// TestViewerTimeZone: times are rendered in the zone of the fw_tz cookie,
// with UTC on hover; a bad cookie means UTC.
func TestViewerTimeZone(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ cookie, want string }{
		{"Europe/Berlin", "2026-03-10 13:00:00 CET"},
		{url.QueryEscape("America/New_York"), "2026-03-10 08:00:00 EDT"},
		{"Not/AZone", "2026-03-10 12:00:00 UTC"},
		{"", "2026-03-10 12:00:00 UTC"},
	} {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/alerts", nil)
		if tc.cookie != "" {
			req.AddCookie(&http.Cookie{Name: tzCookie, Value: tc.cookie})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "Rendered <time datetime=\"2026-03-10T12:00:00Z\" title=\"2026-03-10 12:00:00.000 UTC\">"+tc.want+"</time>") {
			t.Errorf("cookie %q: footer time not %q", tc.cookie, tc.want)
		}
	}
}

// TestNoStore: a dashboard without a store answers 503, not a crash.
func TestNoStore(t *testing.T) {
	u, err := New(Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.RegisterHTTP(mux)
	for _, path := range []string{"/", "/services/x", "/traces/" + traceID(1), "/monitors", "/monitors/x", "/runs/x", "/alerts", "/alerts/x"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("GET %s without a store: %d, want 503", path, rec.Code)
		}
	}
}

// TestBigTrace: a trace of 250 spans carrying megabytes of text is a page
// under 300 KB that says what it cut.
func TestBigTrace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	huge := strings.Repeat("A long answer. ", 70_000) // about 1 MB
	spans := request(50, "big", "", testNow.Add(-time.Minute), "big question", huge, "gpt-4o", false)
	root := spans[0]
	for i := 0; i < 250; i++ {
		sp := model.Span{TraceID: root.TraceID, SpanID: fmt.Sprintf("%016x", 1000+i), ParentSpanID: root.SpanID,
			Name: fmt.Sprintf("step %d", i), StartTime: root.StartTime.Add(time.Duration(i) * time.Millisecond),
			EndTime: root.StartTime.Add(time.Duration(i+1) * time.Millisecond), StatusCode: model.StatusOK,
			ResourceAttributes: root.ResourceAttributes,
			Attributes:         map[string]any{"input.value": strings.Repeat("x", 20_000), "output.value": strings.Repeat("y", 20_000)}}
		normalize.Deriver{}.DeriveSpan(&sp, nil)
		spans = append(spans, sp)
	}
	if _, err := f.st.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	resp, body := f.get(t, "/traces/"+root.TraceID)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(body) > 300<<10 {
		t.Errorf("page of %d KB, want under 300 KB", len(body)>>10)
	}
	for _, w := range []string{"cut at 16 KB", "too big to show whole", "step 249"} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

// TestEmptyHomeGateways: the empty overview shows the way in without
// instrumenting: the configured gateways' addresses, or a gateway to
// configure when there is none.
func TestEmptyHomeGateways(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, tc := range []struct {
		name     string
		gateways []Gateway
		want     []string
	}{
		{"none configured", nil, []string{"No traces yet", "kind: openai, upstream: https://api.openai.com/v1",
			"export OPENAI_BASE_URL=http://flowwatch.test/gateway/openai"}},
		{"configured", []Gateway{{Name: "oai", Kind: "openai"}, {Name: "score", Kind: "json"}}, []string{
			"export OPENAI_BASE_URL=http://flowwatch.test/gateway/oai\n",
			"# send the requests of score to http://flowwatch.test/gateway/score/..."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := New(Options{Traces: st, Rollups: st, Monitors: st, Runs: st, Results: st, Alerts: st,
				Gateways: tc.gateways, Now: func() time.Time { return testNow }}, nil)
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			u.RegisterHTTP(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://flowwatch.test/", nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			for _, w := range tc.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("the empty overview lacks %q", w)
				}
			}
		})
	}
}
