package monitor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/eval"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// flowTrace is a one-span promptflow request: inputs {question, context},
// output {answer}.
func flowTrace(n int, service string, start time.Time, question, context, answer string) model.Span {
	sp := model.Span{TraceID: fmt.Sprintf("%032x", n), SpanID: fmt.Sprintf("%016x", n), Name: "flow",
		StartTime: start, EndTime: start.Add(time.Second), StatusCode: model.StatusOK,
		ResourceAttributes: map[string]any{"service.name": service},
		Attributes: map[string]any{"span_type": "Flow", "framework": "promptflow",
			"inputs": fmt.Sprintf(`{"question": %q, "context": %q}`, question, context),
			"output": fmt.Sprintf(`{"answer": %q}`, answer)}}
	if answer == "" {
		delete(sp.Attributes, "output") // the request produced no answer
	}
	normalize.Deriver{}.DeriveSpan(&sp, nil)
	return sp
}

type engineFixture struct {
	store  *sqlite.Store
	judge  *judgetest.Server
	engine *Engine
	run    model.Run
	mon    model.Monitor
}

// newEngineFixture stores 10 requests of service shop inside the window
// (trace 10 has no answer), one before it and one of another service. The
// judge rates fluency 5 for answers containing "clearly" and 2 otherwise,
// groundedness 4, and answers nonsense for the question "garbled".
func newEngineFixture(t *testing.T, budget *eval.Budget) *engineFixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	end := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var spans []model.Span
	for i := 1; i <= 10; i++ {
		q, a := fmt.Sprintf("question %d", i), fmt.Sprintf("answer %d", i)
		if i <= 6 {
			a += " clearly stated from the context"
		}
		if i == 9 {
			q = "garbled"
		}
		if i == 10 {
			a = ""
		}
		spans = append(spans, flowTrace(i, "shop", end.Add(-time.Duration(i)*time.Minute), q, "the context "+fmt.Sprint(i), a))
	}
	spans = append(spans, flowTrace(11, "shop", end.Add(-8*24*time.Hour), "old", "ctx", "old answer"),
		flowTrace(12, "other", end.Add(-time.Minute), "q", "ctx", "a"))
	if _, err := st.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}

	js := judgetest.New(t, judgetest.Options{Reply: judgetest.ByText(
		map[string]judgetest.ReplyFunc{"garbled": judgetest.Malformed()},
		judgetest.Scores(func(r judgetest.Request, metric string) (int, bool) {
			switch metric {
			case "fluency":
				if strings.Contains(r.UserText(), "clearly") {
					return 5, true
				}
				return 2, true
			}
			return 4, true
		}))})
	j, err := eval.New(eval.Options{Name: "j", Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model", MaxConcurrency: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(EngineOptions{Store: st, Registry: eval.NewRegistry(),
		Judges: func(name string) (Judge, bool) { return j, name == "j" }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	three, rate, four, half := 3.0, 0.7, 4.0, 0.5
	mon := model.Monitor{Name: "m", Target: model.MonitorTarget{Service: "shop"}, SamplingRate: 1, Judge: "j",
		Window:  model.Window{Lookback: "P7D"},
		Columns: model.Columns{Prompt: "question", Completion: "answer", Context: "context"},
		Quality: map[string]model.QualityThreshold{
			"groundedness":         {PassScore: &three, MinPassRate: &rate},
			"fluency":              {PassScore: &three, MinPassRate: &rate, MinAverage: &four},
			"lexical_groundedness": {PassScore: &half},
		}}
	if budget != nil {
		mon.Budget = &model.RunBudget{MaxTokens: budget.MaxTokens, MaxCostUSD: budget.MaxCostUSD}
	}
	start, wend, _ := WindowAt(mon.Window, end)
	return &engineFixture{store: st, judge: js, engine: eng, mon: mon,
		run: model.Run{ID: "run-1", Monitor: "m", ScheduledAt: end, WindowStart: start, WindowEnd: wend}}
}

func metricOf(t *testing.T, o Outcome, name string) model.MetricResult {
	t.Helper()
	for _, m := range o.Result.Metrics {
		if m.Metric == name {
			return m
		}
	}
	t.Fatalf("no result for %s in %+v", name, o.Result.Metrics)
	return model.MetricResult{}
}

// TestEngineRun runs a monitor over a known window and checks the exact
// figures: sampled traces, judged, not evaluable and judge errors per
// metric, pass rates and violations; then that a second run is served from
// the evaluation cache.
func TestEngineRun(t *testing.T) {
	ctx := context.Background()
	f := newEngineFixture(t, nil)
	out, err := f.engine.Run(ctx, f.run, f.mon, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Sampled != 10 {
		t.Errorf("sampled %d traces, want 10 (the window's traces of the target)", out.Result.Sampled)
	}
	if len(out.Instances) != 30 {
		t.Errorf("%d instances, want 30 (10 traces × 3 metrics)", len(out.Instances))
	}
	// Fluency: traces 1-6 score 5, 7-8 score 2, 9 is a judge error
	// (malformed twice), 10 is not evaluable (no answer).
	fl := metricOf(t, out, "fluency")
	if fl.Judged != 8 || fl.Errors != 1 || fl.NotEvaluable != 1 || fl.Passed != 6 || *fl.PassRate != 0.75 ||
		*fl.AverageScore != 4.25 || fl.Violation {
		t.Errorf("fluency %+v", fl)
	}
	gr := metricOf(t, out, "groundedness")
	if gr.Judged != 8 || gr.Passed != 8 || *gr.PassRate != 1 || gr.Violation {
		t.Errorf("groundedness %+v", gr)
	}
	for _, in := range out.Instances {
		if in.TraceID == fmt.Sprintf("%032x", 9) && in.Metric == "fluency" && (in.Status != model.InstanceError || in.RawReply == "") {
			t.Errorf("garbled reply: %+v, want an error with the raw reply", in)
		}
	}
	calls := f.judge.Total()

	// Again: every judged LLM evaluation comes from the cache; only the
	// instances without a score are asked again.
	out2, err := f.engine.Run(ctx, f.run, f.mon, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again := f.judge.Total() - calls; again != 2 {
		t.Errorf("second run made %d judge requests, want 2 (the garbled trace, asked and retried)", again)
	}
	if fl2 := metricOf(t, out2, "fluency"); fl2.Judged != 8 || *fl2.AverageScore != 4.25 {
		t.Errorf("second run fluency %+v", fl2)
	}
}

// TestEngineBudget: a run whose judge budget runs out stops judging, says
// why for each instance left, and still reports what it judged.
func TestEngineBudget(t *testing.T) {
	f := newEngineFixture(t, &eval.Budget{MaxTokens: 1})
	f.engine.o.Workers = 1
	out, err := f.engine.Run(context.Background(), f.run, f.mon, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One worker takes the traces oldest first: trace 10 (no answer, not
	// evaluable, no call), trace 9 (the judge is asked, which spends the
	// budget, and answers nonsense), then nothing more is asked.
	fl := metricOf(t, out, "fluency")
	if fl.Judged != 0 || fl.NotEvaluable != 1 || fl.Errors != 9 || !fl.NoData {
		t.Errorf("fluency with a 1-token budget: %+v, want 1 not evaluable and 9 errors", fl)
	}
	exhausted := 0
	for _, in := range out.Instances {
		if strings.Contains(in.Error, "budget") {
			exhausted++
		}
	}
	if exhausted != 16 { // traces 1-8, fluency and groundedness
		t.Errorf("%d instances say the budget ran out, want 16", exhausted)
	}
	if calls := f.judge.Total(); calls != 2 {
		t.Errorf("%d judge requests, want 2 (trace 9 and its retry)", calls)
	}
	if lex := metricOf(t, out, "lexical_groundedness"); lex.Judged != 9 {
		t.Errorf("built-in metric judged %d, want 9 (it needs no judge)", lex.Judged)
	}
}

// TestEngineMissingAnswerKey: a request whose output record is a JSON
// object without the completion key (a flow that returned only its
// context) is not evaluable, says which key was missing, and costs no
// judge request; the context is never judged as its answer.
func TestEngineMissingAnswerKey(t *testing.T) {
	ctx := context.Background()
	f := newEngineFixture(t, nil)
	sp := flowTrace(13, "shop", f.run.WindowEnd.Add(-30*time.Second), "question 13", "ctx 13", "")
	sp.Attributes["output"] = `{"context": "Only the context came back."}`
	normalize.Deriver{}.DeriveSpan(&sp, nil)
	if _, err := f.store.WriteBatch(ctx, model.Batch{Spans: []model.Span{sp}}); err != nil {
		t.Fatal(err)
	}
	out, err := f.engine.Run(ctx, f.run, f.mon, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	for _, in := range out.Instances {
		if in.TraceID != sp.TraceID {
			continue
		}
		seen++
		if in.Status != model.InstanceNotEvaluable || !strings.Contains(in.Error, `output record has no value for the key "answer"`) {
			t.Errorf("%s of the trace without an answer: %s %q, want not evaluable naming the key", in.Metric, in.Status, in.Error)
		}
	}
	if seen != 3 {
		t.Errorf("%d instances for the trace without an answer, want 3", seen)
	}
	for _, r := range f.judge.Requests() {
		if strings.Contains(r.UserText(), "Only the context came back") || strings.Contains(r.UserText(), "question 13") {
			t.Errorf("the judge was asked about the trace without an answer: %.200s", r.UserText())
		}
	}
}
