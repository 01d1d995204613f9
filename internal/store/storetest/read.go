package storetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// traceSpec describes a trace for the query tests: a root span with the
// question and answer, and one LLM child span per model.
type traceSpec struct {
	id                  int
	start, dur          time.Duration
	service, deployment string
	models              []string
	status              model.Status
	question, answer    string
	childOutput         string
}

func (ts traceSpec) spans() []model.Span {
	rootID := ts.id*10 + 1
	spans := []model.Span{mk(spec{trace: ts.id, span: rootID, name: "flow", start: ts.start, dur: ts.dur,
		status: ts.status, service: ts.service, deployment: ts.deployment,
		attrs: map[string]any{AttrKind: "chain", AttrQuestion: ts.question, AttrAnswer: ts.answer}})}
	for i, m := range ts.models {
		spans = append(spans, mk(spec{trace: ts.id, span: rootID + 1 + i, parent: rootID, name: "chat",
			start: ts.start + time.Millisecond, dur: ts.dur / 2, status: model.StatusOK,
			service: ts.service, deployment: ts.deployment,
			attrs: map[string]any{AttrKind: "llm", AttrModel: m, AttrTokens: int64(5), AttrOutput: ts.childOutput}}))
	}
	return spans
}

func writeTraces(t *testing.T, s store.Store, specs ...traceSpec) {
	t.Helper()
	var spans []model.Span
	for _, ts := range specs {
		spans = append(spans, ts.spans()...)
	}
	res := writeSpans(t, s, spans...)
	if res.SpansWritten != len(spans) || res.TracesTouched != len(specs) {
		t.Fatalf("writing %d traces: %+v", len(specs), res)
	}
}

func ids(ns ...int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = traceID(n)
	}
	return out
}

func testFilters(t *testing.T, o opened) {
	s := o.store(t)
	writeTraces(t, s,
		traceSpec{id: 1, start: time.Minute, dur: 100 * time.Millisecond, service: "a", deployment: "x",
			models: []string{"m1"}, status: model.StatusOK, question: "alpha bravo", answer: "charlie"},
		traceSpec{id: 2, start: 2 * time.Minute, dur: 2 * time.Second, service: "a", deployment: "y",
			models: []string{"m1", "m2"}, status: model.StatusError, question: "delta echo"},
		traceSpec{id: 3, start: 3 * time.Minute, dur: 500 * time.Millisecond, service: "b", deployment: "x",
			models: []string{"m2"}, status: model.StatusOK, question: "foxtrot"},
		traceSpec{id: 4, start: 4 * time.Minute, dur: 50 * time.Millisecond, service: "b",
			status: model.StatusUnset, question: "golf"},
		traceSpec{id: 5, start: 5 * time.Minute, dur: time.Second, service: "a", deployment: "x",
			models: []string{"m3"}, status: model.StatusError, question: "hotel", childOutput: "zulu yankee"},
		// Same start as 5: the tie is broken by trace id, descending.
		traceSpec{id: 6, start: 5 * time.Minute, dur: 499 * time.Millisecond, service: "c", deployment: "x",
			models: []string{"m1"}, status: model.StatusOK, question: "alpha"},
	)
	for _, tc := range []struct {
		name string
		q    store.TraceQuery
		want []string
	}{
		{"no filter", store.TraceQuery{}, ids(6, 5, 4, 3, 2, 1)},
		{"service", store.TraceQuery{Service: "a"}, ids(5, 2, 1)},
		{"deployment", store.TraceQuery{Deployment: "x"}, ids(6, 5, 3, 1)},
		{"service and deployment", store.TraceQuery{Service: "a", Deployment: "x"}, ids(5, 1)},
		{"unknown service", store.TraceQuery{Service: "nope"}, nil},
		{"model", store.TraceQuery{Model: "m1"}, ids(6, 2, 1)},
		{"second model of a trace", store.TraceQuery{Model: "m2"}, ids(3, 2)},
		{"model prefix is not a model", store.TraceQuery{Model: "m"}, nil},
		{"status error", store.TraceQuery{Status: model.StatusError}, ids(5, 2)},
		{"status ok matches every trace that did not fail", store.TraceQuery{Status: model.StatusOK}, ids(6, 4, 3, 1)},
		{"status unset", store.TraceQuery{Status: model.StatusUnset}, ids(4)},
		{"since is inclusive", store.TraceQuery{Since: at(2 * time.Minute)}, ids(6, 5, 4, 3, 2)},
		{"until is exclusive", store.TraceQuery{Until: at(3 * time.Minute)}, ids(2, 1)},
		{"since and until", store.TraceQuery{Since: at(2 * time.Minute), Until: at(5 * time.Minute)}, ids(4, 3, 2)},
		{"since on a tie", store.TraceQuery{Since: at(5 * time.Minute)}, ids(6, 5)},
		{"min duration", store.TraceQuery{MinDuration: 500 * time.Millisecond}, ids(5, 3, 2)},
		{"min duration 1s", store.TraceQuery{MinDuration: time.Second}, ids(5, 2)},
		{"text", store.TraceQuery{Text: "alpha"}, ids(6, 1)},
		{"text, two words, any case", store.TraceQuery{Text: "ALPHA Bravo"}, ids(1)},
		{"text in a child span's output", store.TraceQuery{Text: "zulu"}, ids(5)},
		{"text prefix", store.TraceQuery{Text: "yan"}, ids(5)},
		{"text words in different traces", store.TraceQuery{Text: "alpha zulu"}, nil},
		{"combined", store.TraceQuery{Service: "a", Status: model.StatusError, Since: at(3 * time.Minute)}, ids(5)},
		{"model and text", store.TraceQuery{Model: "m1", Text: "alpha"}, ids(6, 1)},
		{"everything", store.TraceQuery{Service: "a", Deployment: "x", Model: "m3", Status: model.StatusError,
			Since: at(time.Minute), Until: at(6 * time.Minute), MinDuration: time.Second, Text: "hotel"}, ids(5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := listIDs(t, s, tc.q)
			if diff := cmp.Diff(tc.want, got, cmpOpts()); diff != "" {
				t.Errorf("ListTraces(%+v) (-want +got):\n%s", tc.q, diff)
			}
			// The same answer a page at a time.
			q := tc.q
			q.Limit = 1
			if diff := cmp.Diff(tc.want, listIDs(t, s, q), cmpOpts()); diff != "" {
				t.Errorf("ListTraces(%+v) one per page (-want +got):\n%s", q, diff)
			}
		})
	}

	// Listed summaries are the full summaries.
	page := list(t, s, store.TraceQuery{Service: "a", Deployment: "y"})
	if len(page.Traces) != 1 {
		t.Fatalf("ListTraces(service a, deployment y): %d traces", len(page.Traces))
	}
	spans := traceSpec{id: 2, start: 2 * time.Minute, dur: 2 * time.Second, service: "a", deployment: "y",
		models: []string{"m1", "m2"}, status: model.StatusError, question: "delta echo"}.spans()
	if diff := cmp.Diff(summary(spans), page.Traces[0], cmpOpts()); diff != "" {
		t.Errorf("listed summary (-want +got):\n%s", diff)
	}
}

func testPaging(t *testing.T, o opened) {
	s := o.store(t)
	const n = 250
	var spans []model.Span
	var want, wantEven []string
	for i := 1; i <= n; i++ {
		service := "odd"
		if i%2 == 0 {
			service = "even"
		}
		// Four traces share each start time, so ties must be broken.
		spans = append(spans, mk(spec{trace: i, span: i, start: time.Duration(i/4) * time.Second, dur: time.Millisecond,
			status: model.StatusOK, service: service}))
	}
	writeSpans(t, s, spans...)
	order := append([]model.Span(nil), spans...)
	sort.Slice(order, func(i, j int) bool {
		if !order[i].StartTime.Equal(order[j].StartTime) {
			return order[i].StartTime.After(order[j].StartTime)
		}
		return order[i].TraceID > order[j].TraceID
	})
	for _, sp := range order {
		want = append(want, sp.TraceID)
		if sp.Derived.Service == "even" {
			wantEven = append(wantEven, sp.TraceID)
		}
	}

	for _, limit := range []int{1, 7, 50, 249, 250, 251} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			q := store.TraceQuery{Limit: limit}
			var got []string
			for pages := 0; ; pages++ {
				if pages > n+1 {
					t.Fatal("too many pages")
				}
				page := list(t, s, q)
				if len(page.Traces) > limit {
					t.Fatalf("page of %d traces with limit %d", len(page.Traces), limit)
				}
				if page.NextCursor != "" && len(page.Traces) != limit {
					t.Fatalf("short page (%d of %d) with a next cursor", len(page.Traces), limit)
				}
				for _, tr := range page.Traces {
					got = append(got, tr.TraceID)
				}
				if page.NextCursor == "" {
					break
				}
				q.Cursor = page.NextCursor
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("filtered", func(t *testing.T) {
		if diff := cmp.Diff(wantEven, listIDs(t, s, store.TraceQuery{Service: "even", Limit: 9})); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
	})
	t.Run("default limit", func(t *testing.T) {
		page := list(t, s, store.TraceQuery{})
		if len(page.Traces) != store.DefaultLimit || page.NextCursor == "" {
			t.Errorf("first page without a limit: %d traces, next cursor %q; want %d and a cursor",
				len(page.Traces), page.NextCursor, store.DefaultLimit)
		}
	})
	t.Run("limit above the maximum", func(t *testing.T) {
		page := list(t, s, store.TraceQuery{Limit: store.MaxLimit * 10})
		if len(page.Traces) != n || page.NextCursor != "" {
			t.Errorf("got %d traces and cursor %q, want all %d on one page", len(page.Traces), page.NextCursor, n)
		}
	})
	t.Run("newer traces arriving between pages", func(t *testing.T) {
		first := list(t, s, store.TraceQuery{Limit: 10})
		var newer []model.Span
		for i := n + 1; i <= n+5; i++ {
			newer = append(newer, mk(spec{trace: i, span: i, start: time.Hour, dur: time.Millisecond, service: "odd"}))
		}
		writeSpans(t, s, newer...)
		got := listIDs(t, s, store.TraceQuery{Limit: 10, Cursor: first.NextCursor})
		if diff := cmp.Diff(want[10:], got); diff != "" {
			t.Errorf("pages after the first (-want +got):\n%s", diff)
		}
	})
}

func testFullText(t *testing.T, o opened) {
	s := o.store(t)
	docs := []traceSpec{
		{id: 1, question: `"foo" AND (bar* OR NEAR`, answer: "plain"},
		{id: 2, question: "café au lait"},
		{id: 3, question: "Résumé writing tips", answer: "UPPERCASE Words"},
		{id: 4, question: "NEAR(a b) col:value -minus ^caret", models: []string{"m"},
			childOutput: "hidden treasure in a child span"},
		{id: 5, question: "apostrophe's test"},
	}
	for i := range docs {
		docs[i].start = time.Duration(docs[i].id) * time.Minute
		docs[i].dur = time.Second
		docs[i].service = "fts"
		docs[i].status = model.StatusOK
	}
	writeTraces(t, s, docs...)
	for _, tc := range []struct {
		text string
		want []string
	}{
		{`"foo" AND (bar* OR NEAR`, ids(1)},
		{`foo`, ids(1)},
		{`bar*`, ids(1)},
		{`(bar`, ids(1)},
		{`NEAR(`, ids(4, 1)},
		{`AND`, ids(1)},
		{`NOT`, nil},
		{`cafe`, ids(2)},
		{`CAFÉ`, ids(2)},
		{`resume`, ids(3)},
		{`uppercase words`, ids(3)},
		{`col:value`, ids(4)},
		{`-minus`, ids(4)},
		{`^caret`, ids(4)},
		{`treasure`, ids(4)},
		{`treasure hid`, ids(4)},
		{`apostrophe's`, ids(5)},
		{`"unbalanced`, nil},
		{`plain "foo"`, ids(1)},
	} {
		t.Run(tc.text, func(t *testing.T) {
			got := listIDs(t, s, store.TraceQuery{Text: tc.text})
			if diff := cmp.Diff(tc.want, got, cmpOpts()); diff != "" {
				t.Errorf("search %q (-want +got):\n%s", tc.text, diff)
			}
		})
	}
	// Text that arrives after the trace's first span is found too.
	root := mk(spec{trace: 9, span: 91, start: 9 * time.Minute, dur: time.Second, status: model.StatusOK, service: "fts"})
	writeSpans(t, s, root)
	writeSpans(t, s, mk(spec{trace: 9, span: 92, parent: 91, start: 9 * time.Minute, dur: time.Second,
		service: "fts", attrs: map[string]any{AttrOutput: "latecomer words"}}))
	if got := listIDs(t, s, store.TraceQuery{Text: "latecomer"}); !cmp.Equal(got, ids(9)) {
		t.Errorf("search for text of a later span = %v, want trace 9", got)
	}

	// Text that is all query syntax, or absurdly long, is never an error
	// (what it matches is up to the backend).
	for _, text := range []string{`"`, `*`, `'`, `)`, `(`, `:`, `^`, `-`, `""`, `NEAR(a, 5)`, `a OR b NOT c`,
		`{col1 col2}: x`, "\x00", strings.Repeat("word ", 1000), strings.Repeat("x", 10000), "   "} {
		if _, err := s.ListTraces(context.Background(), store.TraceQuery{Text: text}); err != nil {
			t.Errorf("search %.40q: %v", text, err)
		}
	}
}

func testServices(t *testing.T, o opened) {
	s := o.store(t)
	if got := services(t, s); len(got) != 0 {
		t.Errorf("ListServices on an empty store: %+v", got)
	}
	writeTraces(t, s,
		traceSpec{id: 1, start: time.Minute, dur: time.Second, service: "a", deployment: "x"},
		traceSpec{id: 2, start: 3 * time.Minute, dur: time.Second, service: "a", deployment: "x"},
		traceSpec{id: 3, start: 2 * time.Minute, dur: time.Second, service: "a"},
		traceSpec{id: 4, start: 0, dur: time.Second, service: "b", deployment: "x"},
		traceSpec{id: 5, start: 5 * time.Minute, dur: time.Second, service: "b", deployment: "x"},
	)
	// A trace whose child arrives before its root counts once.
	split := traceSpec{id: 6, start: 4 * time.Minute, dur: time.Second, service: "b", deployment: "x", models: []string{"m"}}.spans()
	writeSpans(t, s, split[1])
	writeSpans(t, s, split[0])
	// Duplicates change nothing.
	writeSpans(t, s, split...)
	want := []model.ServiceInfo{
		{Service: "a", Deployment: "", FirstSeen: at(2 * time.Minute), LastSeen: at(2 * time.Minute), TraceCount: 1},
		{Service: "a", Deployment: "x", FirstSeen: at(time.Minute), LastSeen: at(3 * time.Minute), TraceCount: 2},
		{Service: "b", Deployment: "x", FirstSeen: at(0), LastSeen: at(5 * time.Minute), TraceCount: 3},
	}
	if diff := cmp.Diff(want, services(t, s)); diff != "" {
		t.Errorf("ListServices (-want +got):\n%s", diff)
	}
}

func testNotFound(t *testing.T, o opened) {
	s := o.store(t)
	writeTraces(t, s, traceSpec{id: 1, dur: time.Second, service: "a"})
	// Log records alone do not make a trace.
	write(t, s, model.Batch{Logs: []model.LogRecord{{TraceID: traceID(2), SpanID: spanID(2), Time: at(0), Body: "x"}}})
	for _, id := range []string{traceID(404), traceID(2), "", "not a trace id", strings.Repeat("f", 1000)} {
		_, err := s.GetTrace(context.Background(), id)
		mustBe(t, fmt.Sprintf("GetTrace(%.40q)", id), err, store.ErrNotFound)
	}
}

func testTraceSummaries(t *testing.T, o opened) {
	s := o.store(t)
	writeTraces(t, s, traceSpec{id: 1, dur: time.Second, service: "a"}, traceSpec{id: 2, start: time.Second, dur: time.Second, service: "b"})
	ctx := context.Background()
	got, err := s.TraceSummaries(ctx, []string{traceID(2), traceID(404), traceID(1), traceID(2), "not an id"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("TraceSummaries found %d traces, want 2: %v", len(got), got)
	}
	for _, id := range []string{traceID(1), traceID(2)} {
		d, err := s.GetTrace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d.Trace, got[id]); diff != "" {
			t.Errorf("summary of %s (-GetTrace +TraceSummaries):\n%s", id, diff)
		}
	}
	if got, err := s.TraceSummaries(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("TraceSummaries(nil) = %v, %v; want nothing", got, err)
	}
	if _, err := s.TraceSummaries(ctx, make([]string, store.MaxSummaryIDs+1)); err == nil {
		t.Errorf("TraceSummaries of %d ids: no error", store.MaxSummaryIDs+1)
	}
}

func testInvalidCursor(t *testing.T, o opened) {
	s := o.store(t)
	writeTraces(t, s, traceSpec{id: 1, dur: time.Second, service: "a"}, traceSpec{id: 2, start: time.Second, dur: time.Second, service: "a"})
	for _, c := range []string{"!!!", "not a cursor", "AAAA", "bm90IGEgY3Vyc29y", "%%%", strings.Repeat("A", 5000), "\x00"} {
		_, err := s.ListTraces(context.Background(), store.TraceQuery{Cursor: c, Limit: 1})
		mustBe(t, fmt.Sprintf("ListTraces(cursor %.40q)", c), err, store.ErrInvalidCursor)
	}
	// A cursor the store issued works.
	page := list(t, s, store.TraceQuery{Limit: 1})
	if page.NextCursor == "" {
		t.Fatal("no cursor after the first of two traces")
	}
	if got := listIDs(t, s, store.TraceQuery{Limit: 1, Cursor: page.NextCursor}); !cmp.Equal(got, ids(1)) {
		t.Errorf("second page = %v, want trace 1", got)
	}
}
