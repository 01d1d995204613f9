package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// judgedRuns returns runs holding evaluations of the fixture's RAG trace:
// a run of rag_quality two hours ago that judged it for groundedness
// (passed) and relevance (failed), found it not evaluable for coherence and
// got a judge error for fluency; a run of old_monitor a day ago whose
// built-in evaluator judged it; and a run that judged another trace.
func judgedRuns() *apitest.Runs {
	runs := apitest.NewRuns()
	score := func(v float64) *float64 { return &v }
	judged := func(metric, trace string, v float64, passed bool, reason, judge string) model.Instance {
		return model.Instance{Metric: metric, TraceID: trace, Status: model.InstanceJudged, Score: score(v), Passed: passed,
			Reason: reason, JudgeModel: judge, PromptVersion: "1"}
	}
	add := func(monitor string, finished time.Time, instances ...model.Instance) {
		runs.Add(model.Run{Monitor: monitor, Trigger: model.TriggerSchedule, Status: model.RunSucceeded,
			WindowStart: finished.Add(-24 * time.Hour), WindowEnd: finished.Add(-time.Minute), FinishedAt: finished},
			&model.RunResult{Sampled: 1}, instances)
	}
	now := apitest.Now()
	add("old_monitor", now.Add(-24*time.Hour),
		judged("lexical_groundedness", apitest.RAGTraceID, 0.8, true, "8 of 10 content words are in the context.", "builtin"))
	add("rag_quality", now.Add(-2*time.Hour),
		judged("relevance", apitest.RAGTraceID, 2, false, "The answer adds a claim the question did not ask about.", "gpt-4o-mini"),
		judged("groundedness", apitest.RAGTraceID, 5, true, "Every claim is in doc-1.", "gpt-4o-mini"),
		model.Instance{Metric: "coherence", TraceID: apitest.RAGTraceID, Status: model.InstanceNotEvaluable, Error: "missing answer"},
		model.Instance{Metric: "fluency", TraceID: apitest.RAGTraceID, Status: model.InstanceError, Error: "judge reply is not JSON", RawReply: "five"},
	)
	add("rag_quality", now.Add(-time.Hour), judged("groundedness", apitest.ErrorTraceID, 1, false, "Unsupported.", "gpt-4o-mini"))
	return runs
}

// getDetail fetches a trace from srv and decodes it.
func getDetail(t *testing.T, url, id string) (TraceDetail, response) {
	t.Helper()
	res := do(t, http.MethodGet, url+"/api/v1/traces/"+id)
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var d TraceDetail
	if err := json.Unmarshal(res.body, &d); err != nil {
		t.Fatal(err)
	}
	return d, res
}

// rootIndex is the index of the span named root_span_id.
func rootIndex(t *testing.T, d TraceDetail) int {
	t.Helper()
	for i, s := range d.Spans {
		if s.SpanID == d.RootSpanID {
			return i
		}
	}
	t.Fatalf("no span %s", d.RootSpanID)
	return -1
}

// TestTraceEvaluations checks that the trace view shows the judge results
// of monitor runs as gen_ai.evaluation.result events on the root span
// (golden: testdata/trace_evaluations.golden), oldest first after the
// events the application sent, judged instances only, and changes nothing
// else of the trace.
func TestTraceEvaluations(t *testing.T) {
	doc := loadOpenAPI(t)
	plain := newTestServer(t, Options{Traces: apitest.NewReader(apitest.Fixture())}, nil)
	runs := judgedRuns()
	judged := newTestServer(t, Options{Traces: apitest.NewReader(apitest.Fixture()), Runs: runs, Results: runs}, nil)

	for _, id := range []string{apitest.RAGTraceID, apitest.ErrorTraceID, apitest.StagingTraceID, apitest.BatchTraceID} {
		t.Run(id, func(t *testing.T) {
			want, _ := getDetail(t, plain.URL, id)
			got, res := getDetail(t, judged.URL, id)
			checkDocumentedAt(t, doc, "/api/v1/traces/{trace_id}", http.MethodGet, res)
			root := rootIndex(t, got)
			sent := len(want.Spans[root].Events)
			added := got.Spans[root].Events[sent:]
			got.Spans[root].Events = got.Spans[root].Events[:sent]
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the trace apart from the added events (-without results +with):\n%s", diff)
			}
			switch id {
			case apitest.RAGTraceID:
				body, err := json.MarshalIndent(added, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, "trace_evaluations", append(body, '\n'))
			case apitest.ErrorTraceID:
				if len(added) != 1 || added[0].Attributes[attrScoreLabel] != labelFail {
					t.Errorf("added events %+v; want one failed groundedness", added)
				}
			default:
				if len(added) != 0 {
					t.Errorf("added events %+v to a trace never judged", added)
				}
			}
		})
	}
}

// TestTraceEvaluationsBounded checks that a trace judged more often than
// an answer shows keeps its newest evaluations, oldest first.
func TestTraceEvaluationsBounded(t *testing.T) {
	runs := apitest.NewRuns()
	older, newer := apitest.Now().Add(-2*time.Hour), apitest.Now().Add(-time.Hour)
	for _, run := range []struct {
		finished time.Time
		metrics  int
	}{{older, 100}, {newer, 150}} {
		var instances []model.Instance
		for i := range run.metrics {
			v := 4.0
			instances = append(instances, model.Instance{Metric: fmt.Sprintf("metric_%03d", i), TraceID: apitest.BatchTraceID,
				Status: model.InstanceJudged, Score: &v, Passed: true})
		}
		runs.Add(model.Run{Monitor: "m", Status: model.RunSucceeded, FinishedAt: run.finished}, &model.RunResult{}, instances)
	}
	srv := newTestServer(t, Options{Traces: apitest.NewReader(apitest.Fixture()), Runs: runs, Results: runs}, nil)
	d, _ := getDetail(t, srv.URL, apitest.BatchTraceID)
	var times []time.Time
	for _, e := range d.Spans[rootIndex(t, d)].Events {
		if e.Name == evaluationEvent {
			times = append(times, e.Time.Time)
		}
	}
	if len(times) != maxTraceEvaluations {
		t.Fatalf("%d evaluation events, want %d", len(times), maxTraceEvaluations)
	}
	// The newer run's 150 and 50 of the older run's, oldest first.
	split := maxTraceEvaluations - 150
	for i, tm := range times {
		want := newer
		if i < split {
			want = older
		}
		if !tm.Equal(want) {
			t.Fatalf("event %d at %s, want %s", i, tm, want)
		}
	}
}

// TestRootSpan checks which span the evaluation events go to.
func TestRootSpan(t *testing.T) {
	span := func(id, parent string) Span { return Span{SpanID: id, ParentSpanID: parent} }
	for _, tc := range []struct {
		name string
		d    TraceDetail
		want string
	}{
		{"named root", TraceDetail{RootSpanID: "b", Spans: []Span{span("a", "x"), span("b", ""), span("c", "b")}}, "b"},
		{"named root with a parent", TraceDetail{RootSpanID: "c", Spans: []Span{span("a", ""), span("c", "a")}}, "c"},
		{"unknown root: the first without parent", TraceDetail{RootSpanID: "z", Spans: []Span{span("a", "x"), span("b", ""), span("c", "")}}, "b"},
		{"unknown root, all with parents: the earliest", TraceDetail{Spans: []Span{span("a", "x"), span("b", "a")}}, "a"},
		{"no spans", TraceDetail{RootSpanID: "a"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if s := rootSpan(&tc.d); s != nil {
				got = s.SpanID
			}
			if got != tc.want {
				t.Errorf("root %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTraceEvaluationsServerErrors checks that a trace whose evaluations
// cannot be read fails with the error envelope rather than showing the
// trace without them.
func TestTraceEvaluationsServerErrors(t *testing.T) {
	secret := errors.New("disk I/O error at /secret/path/flowwatch.db")
	runs := judgedRuns()
	for _, tc := range []struct {
		name, msg, retryAfter, logged string
		err                           error
		status                        int
	}{
		{name: "store failure", err: fmt.Errorf("select: %w", secret), status: 500,
			msg: "internal server error; the server log has the details", logged: "evaluations of trace " + apitest.RAGTraceID},
		{name: "store closed", err: fmt.Errorf("sqlite: %w", store.ErrClosed), status: 503,
			msg: "server not ready: the store is closed (shutting down)", retryAfter: "5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			srv := newTestServer(t, Options{Traces: apitest.NewReader(apitest.Fixture()), Runs: runs, Results: failingResults{runs, tc.err}},
				slog.New(slog.NewTextHandler(&logs, nil)))
			res := do(t, http.MethodGet, srv.URL+"/api/v1/traces/"+apitest.RAGTraceID)
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
