package app_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/otlptest"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestRunSurvivesRestart stops flowwatch in the middle of a monitor run
// and starts it again on the same data: the run is taken up at once and
// finishes, it is not run twice, the stop does not count as a failed
// attempt, and no trace is judged twice (what was judged before the stop
// comes from the evaluation cache).
func TestRunSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	const traces, before = 60, 25

	// The judge answers the first 25 requests, then holds every request
	// until its caller gives up, until it is told to answer again.
	var (
		mu       sync.Mutex
		answered = map[string]int{} // by question
		hold     = true
	)
	scores := judgetest.FixedScores(map[string]int{"groundedness": 4, "relevance": 2})
	js := judgetest.New(t, judgetest.Options{Reply: func(r judgetest.Request) judgetest.Reply {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range answered {
			n += c
		}
		if hold && n >= before {
			return judgetest.Reply{Delay: time.Hour}
		}
		answered[r.UserText()]++
		return scores(r)
	}})
	cfg := func(c *config.Config) {
		c.Judges = map[string]config.Judge{"j": {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model", MaxConcurrency: 4}}
	}
	dir := t.TempDir()
	a := startAppWith(t, dir, cfg)

	base := time.Now().UTC().Add(-time.Hour)
	var spans tracetest.SpanStubs
	for i := range traces {
		r := otlptest.RAG{Service: "rag-app", Question: fmt.Sprintf("question number %d?", i), Answer: "an answer",
			Documents: []string{"a document"}, Model: "gpt-4o", Start: base.Add(time.Duration(i) * time.Second)}
		spans = append(spans, r.Spans()...)
	}
	if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), spans, false); err != nil {
		t.Fatal(err)
	}
	monitorYAML := `name: quality
target: {service: rag-app}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT2H}
judge: j
quality:
  groundedness: {pass_score: 3, min_pass_rate: 0.7}
  relevance: {pass_score: 3, min_pass_rate: 0.7}
`
	if code := do(t, a, http.MethodPut, "/api/v1/monitors/quality", "application/yaml", monitorYAML, nil); code != http.StatusCreated {
		t.Fatalf("PUT monitor: %d", code)
	}
	var created struct {
		Run runWire `json:"run"`
	}
	if code := do(t, a, http.MethodPost, "/api/v1/monitors/quality/runs", "", "", &created); code != http.StatusAccepted {
		t.Fatalf("POST run: %d", code)
	}
	id := created.Run.ID

	// Wait until the run has recorded the 25 traces judged (its heartbeat
	// records progress every 2 s), then stop flowwatch.
	var run restartRunWire
	waitRun(t, a, id, &run, func() bool { return run.Progress != nil && run.Progress.Done >= before })
	if run.Progress.Done != before || run.Progress.Total != traces {
		t.Fatalf("progress before the stop %+v, want %d of %d", *run.Progress, before, traces)
	}
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	hold = false
	mu.Unlock()

	b := startAppWith(t, dir, cfg)
	waitRun(t, b, id, &run, func() bool { return run.Status == "succeeded" || run.Status == "failed" })
	if run.Status != "succeeded" || run.Attempts != 1 {
		t.Fatalf("run after the restart: %s in %d attempts (%s), want succeeded in 1", run.Status, run.Attempts, run.Error)
	}
	for name, m := range run.Metrics {
		if m.Judged != traces {
			t.Errorf("%s judged %d, want %d", name, m.Judged, traces)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(answered) != traces {
		t.Errorf("the judge answered about %d traces, want %d", len(answered), traces)
	}
	for q, n := range answered {
		if n != 1 {
			t.Errorf("the judge answered %q %d times, want once", q, n)
		}
	}
	var list struct {
		Runs []runWire `json:"runs"`
	}
	get(t, b, "/api/v1/monitors/quality/runs", &list)
	if len(list.Runs) != 1 {
		t.Errorf("%d runs, want 1", len(list.Runs))
	}
}

type restartRunWire struct {
	runWire
	Attempts int `json:"attempts"`
	Progress *struct {
		Done  int `json:"done"`
		Total int `json:"total"`
	} `json:"progress"`
}

// waitRun reads run id into v until done says so, for at most 30 s.
func waitRun(t *testing.T, a *app.App, id string, v any, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code := get(t, a, "/api/v1/runs/"+id, v); code != http.StatusOK {
			t.Fatalf("GET run %s: %d", id, code)
		}
		if done() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: still %+v after 30 s", id, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
