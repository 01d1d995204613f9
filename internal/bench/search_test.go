package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/normalize"
)

// TestSearchTraces checks that the generated traces are what the search
// benchmark's cases rely on, as the normalizer derives them: reproducible,
// one root, services and models as described, the common word in every
// answer but those of failed traces (which have none, or the query-rewrite
// call's).
func TestSearchTraces(t *testing.T) {
	g := newSearchGen(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Second)
	d := normalize.Deriver{}
	const n = 2000
	spans, failed := 0, 0
	models := map[string]int{}
	for i := range uint64(n) {
		trace := g.trace(nil, i)
		again := g.trace(nil, i)
		if len(trace) != len(again) || trace[0].TraceID != again[0].TraceID || !trace[0].StartTime.Equal(again[0].StartTime) {
			t.Fatalf("trace %d is not reproducible", i)
		}
		spans += len(trace)
		for j := range trace {
			d.DeriveSpan(&trace[j], nil)
		}
		tr := d.Summarize(trace)
		if tr.RootSpanID != trace[0].SpanID || tr.Service == "" || tr.Deployment == "" {
			t.Fatalf("trace %d: root %s, service %q, deployment %q", i, tr.RootSpanID, tr.Service, tr.Deployment)
		}
		for _, m := range tr.Models {
			models[m]++
		}
		if tr.Status == "error" {
			failed++
			if strings.Contains(tr.Answer, CommonWord) {
				t.Errorf("failed trace %d has the answer %.60q", i, tr.Answer)
			}
		} else if !strings.Contains(tr.Answer, CommonWord) {
			t.Errorf("trace %d: answer %.60q lacks %q", i, tr.Answer, CommonWord)
		}
	}
	if avg := float64(spans) / n; avg < 3.6 || avg > 4.0 {
		t.Errorf("%.2f spans a trace, want about 3.83 (the load's span count relies on it)", avg)
	}
	if failed < n/100 || failed > n/20 {
		t.Errorf("%d of %d traces failed, want about 3%%", failed, n)
	}
	// Dated snapshots are kept as aliases; the common model is in most
	// traces, the absent one in none.
	for _, m := range []string{"gpt-4o", CommonModel, "claude-3-5-sonnet", "llama3.1", "text-embedding-3-small"} {
		if models[m] == 0 {
			t.Errorf("no trace calls %s: %v", m, models)
		}
	}
	if models[CommonModel] < n/3 || models[AbsentModel] != 0 || models["gpt-4o-2024-08-06"] != 0 {
		t.Errorf("models %v", models)
	}
}

// TestSearchRuns runs the benchmark on a small load, once per search.
func TestSearchRuns(t *testing.T) {
	res, err := Search(context.Background(), SearchOptions{DataDir: t.TempDir(), Spans: 4000, Days: 30, Writers: 2,
		BatchTraces: 50, Runs: 1, Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Loaded || res.Spans < 4000 || res.DBBytes == 0 || len(res.Queries) != len(searchCases(res.Anchor)) {
		t.Fatalf("result %+v", res)
	}
	for _, q := range res.Queries {
		if strings.HasPrefix(q.Name, "newest") && q.Traces != 20 {
			t.Errorf("%s: %d traces, want a full page", q.Name, q.Traces)
		}
	}
	if !strings.Contains(res.String(), "text common word") {
		t.Errorf("the table lacks a search:\n%s", res)
	}
}
