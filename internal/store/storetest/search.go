package storetest

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// searchCorpus is a store's worth of traces for the search tests: enough
// that a backend reading its indexes in chunks crosses several of them,
// written in an order unrelated to their start times (batches of shuffled
// traces, some traces split over two batches with the earlier start
// arriving last), so that nothing may rely on arrival following start.
type searchCorpus struct {
	spans map[string][]model.Span // by trace id, as written
	// summaries are what the store's summaries must be, by trace id.
	summaries map[string]model.Trace
	// texts are the words of each trace's question, answer and outputs.
	texts map[string][]string
}

var searchWords = strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike")

func writeSearchCorpus(t *testing.T, s store.Store, n int) *searchCorpus {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	c := &searchCorpus{spans: map[string][]model.Span{}, summaries: map[string]model.Trace{}, texts: map[string][]string{}}
	services := []string{"svc-a", "svc-a", "svc-a", "svc-b", "svc-c"}
	deployments := []string{"prod", "prod", "canary", ""}
	models := []string{"m-large", "m-small", "m-small", "m-embed", ""}
	var first, later []model.Span
	for i := 1; i <= n; i++ {
		// Starts over about a day, many shared by several traces.
		start := time.Duration(r.IntN(n/3)) * 2 * time.Minute
		if i%97 == 0 {
			start = time.Duration(i%5) * time.Second // ties at the very start
		}
		durs := []time.Duration{10 * time.Millisecond, 250 * time.Millisecond, 999 * time.Millisecond,
			time.Second, 1500 * time.Millisecond, 12 * time.Second, 2 * time.Minute}
		status := []model.Status{model.StatusOK, model.StatusOK, model.StatusOK, model.StatusUnset, model.StatusError}[r.IntN(5)]
		words := []string{"alpha"} // in every trace
		for range 1 + r.IntN(4) {
			words = append(words, searchWords[1+r.IntN(len(searchWords)-1)])
		}
		if i%150 == 0 {
			words = append(words, "zulu") // rare
		}
		var ms []string
		for range r.IntN(3) {
			ms = append(ms, models[r.IntN(len(models))])
		}
		ts := traceSpec{id: i, start: start, dur: durs[r.IntN(len(durs))], service: services[r.IntN(len(services))],
			deployment: deployments[r.IntN(len(deployments))], models: ms, status: status,
			question: strings.Join(words[:len(words)/2+1], " "), answer: strings.Join(words[len(words)/2+1:], " "),
			childOutput: "output " + searchWords[r.IntN(len(searchWords))]}
		spans := ts.spans()
		id := traceID(i)
		c.spans[id] = spans
		c.summaries[id] = summary(spans)
		c.texts[id] = words
		if len(ms) > 0 { // the output is a model call's
			c.texts[id] = append(c.texts[id], strings.Fields(ts.childOutput)...)
		}
		if i%13 == 0 && len(spans) > 1 {
			// The children first; the root (the trace's earliest start, its
			// service and duration) in a later batch.
			first = append(first, spans[1:]...)
			later = append(later, spans[0])
			continue
		}
		first = append(first, spans...)
	}
	for _, part := range [][]model.Span{first, later} {
		r.Shuffle(len(part), func(i, j int) { part[i], part[j] = part[j], part[i] })
		for len(part) > 0 {
			k := min(len(part), 40+r.IntN(80))
			writeSpans(t, s, part[:k]...)
			part = part[k:]
		}
	}
	return c
}

// want returns the ids of the corpus's traces that q selects, newest
// first, decided from the summaries the test Deriver makes.
func (c *searchCorpus) want(q store.TraceQuery) []string {
	type hit struct {
		start time.Time
		id    string
	}
	var hits []hit
	for id, tr := range c.summaries {
		switch {
		case q.Service != "" && tr.Service != q.Service,
			q.Deployment != "" && tr.Deployment != q.Deployment,
			q.Model != "" && !containsString(tr.Models, q.Model),
			q.Status == model.StatusError && tr.Status != model.StatusError,
			q.Status == model.StatusOK && tr.Status == model.StatusError,
			q.Status == model.StatusUnset && tr.Status != model.StatusUnset,
			!q.Since.IsZero() && tr.StartTime.Before(q.Since),
			!q.Until.IsZero() && !tr.StartTime.Before(q.Until),
			q.MinDuration > 0 && tr.Duration < q.MinDuration,
			q.Text != "" && !textMatches(c.texts[id], q.Text):
			continue
		}
		hits = append(hits, hit{tr.StartTime, id})
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].start.Equal(hits[j].start) {
			return hits[i].start.After(hits[j].start)
		}
		return hits[i].id > hits[j].id
	})
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	return ids
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// textMatches applies the documented full-text rules to lowercase ASCII
// words: every word of the query is a word of the text, the last one
// possibly as a prefix.
func textMatches(words []string, text string) bool {
	query := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range query {
		found := false
		for _, x := range words {
			if x == w || i == len(query)-1 && strings.HasPrefix(x, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// testSearchPaging pages through every kind of search, alone and
// combined, over a corpus whose arrival order is not its start order,
// and checks the pages against the corpus: the traces that match, newest
// first, each once. A page may be shorter than the limit, even empty,
// and still have a next cursor (a backend may bound the work of one
// page); the listing ends at the first page without one.
func testSearchPaging(t *testing.T, o opened) {
	s := o.store(t)
	const n = 700
	c := writeSearchCorpus(t, s, n)
	day := at(12 * time.Hour)
	for _, tc := range []struct {
		name string
		q    store.TraceQuery
	}{
		{"all", store.TraceQuery{}},
		{"service", store.TraceQuery{Service: "svc-b"}},
		{"service and deployment", store.TraceQuery{Service: "svc-a", Deployment: "canary"}},
		{"deployment", store.TraceQuery{Deployment: "canary"}},
		{"failed", store.TraceQuery{Status: model.StatusError}},
		{"did not fail", store.TraceQuery{Status: model.StatusOK}},
		{"status unset", store.TraceQuery{Status: model.StatusUnset}},
		{"model", store.TraceQuery{Model: "m-small"}},
		{"model of few traces", store.TraceQuery{Model: "m-embed"}},
		{"model nobody calls", store.TraceQuery{Model: "m-none"}},
		{"min duration, exactly a duration", store.TraceQuery{MinDuration: time.Second}},
		{"min duration between durations", store.TraceQuery{MinDuration: 1001 * time.Millisecond}},
		{"min duration, few", store.TraceQuery{MinDuration: time.Minute}},
		{"min duration, none", store.TraceQuery{MinDuration: time.Hour}},
		{"text in every trace", store.TraceQuery{Text: "alpha"}},
		{"text, prefix", store.TraceQuery{Text: "ALP"}},
		{"text, two words", store.TraceQuery{Text: "bravo charlie"}},
		{"text, rare", store.TraceQuery{Text: "zulu"}},
		{"text of a child span", store.TraceQuery{Text: "output kilo"}},
		{"text, no match", store.TraceQuery{Text: "yankee"}},
		{"text and service", store.TraceQuery{Text: "delta", Service: "svc-c"}},
		{"text and model", store.TraceQuery{Text: "alpha", Model: "m-embed"}},
		{"text and min duration", store.TraceQuery{Text: "echo", MinDuration: 12 * time.Second}},
		{"text and failed, a window", store.TraceQuery{Text: "alpha", Status: model.StatusError, Since: at(time.Hour), Until: day}},
		{"model and service", store.TraceQuery{Model: "m-large", Service: "svc-c"}},
		{"model and min duration", store.TraceQuery{Model: "m-small", MinDuration: 1500 * time.Millisecond}},
		{"failed and min duration", store.TraceQuery{Status: model.StatusError, MinDuration: time.Second}},
		{"service and failed since", store.TraceQuery{Service: "svc-a", Status: model.StatusError, Since: day}},
		{"until", store.TraceQuery{Until: at(time.Hour)}},
		{"window", store.TraceQuery{Since: at(time.Hour), Until: at(3 * time.Hour)}},
		{"everything", store.TraceQuery{Service: "svc-a", Deployment: "prod", Model: "m-small", Status: model.StatusOK,
			MinDuration: time.Second, Text: "alpha", Since: at(time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := c.want(tc.q)
			if tc.name == "all" && len(want) != n {
				t.Fatalf("the corpus has %d traces, want %d", len(want), n)
			}
			for _, limit := range []int{1, 9, 100} {
				if limit == 1 && len(want) > 40 {
					continue // a page per trace: slow, and 9 a page the same way
				}
				q := tc.q
				q.Limit = limit
				got := pages(t, s, q)
				if diff := cmp.Diff(want, got, cmpOpts()); diff != "" {
					t.Errorf("ListTraces(%+v), %d per page (-want +got):\n%s", tc.q, limit, diff)
				}
			}
		})
	}
}

// pages returns the trace ids of all pages of q, checking each page's
// size.
func pages(t *testing.T, s store.Store, q store.TraceQuery) []string {
	t.Helper()
	var ids []string
	for n := 0; ; n++ {
		if n > 100000 {
			t.Fatalf("ListTraces(%+v): more than 100000 pages", q)
		}
		page := list(t, s, q)
		if len(page.Traces) > q.Limit {
			t.Fatalf("ListTraces(%+v): %d traces on a page", q, len(page.Traces))
		}
		for _, tr := range page.Traces {
			ids = append(ids, tr.TraceID)
		}
		if page.NextCursor == "" {
			return ids
		}
		q.Cursor = page.NextCursor
	}
}

// testSearchRewrites checks that searches follow a trace whose summary
// changes: spans arriving later move its start, add a model and text, and
// change its service, duration and status.
func testSearchRewrites(t *testing.T, o opened) {
	s := o.store(t)
	writeTraces(t, s,
		traceSpec{id: 1, start: 10 * time.Minute, dur: time.Second, service: "a", models: []string{"m1"}, status: model.StatusOK, question: "one"},
		traceSpec{id: 2, start: 20 * time.Minute, dur: time.Second, service: "a", models: []string{"m1"}, status: model.StatusOK, question: "two"},
		traceSpec{id: 3, start: 30 * time.Minute, dur: time.Second, service: "a", models: []string{"m1"}, status: model.StatusOK, question: "three"},
	)
	// Trace 9 starts as a child span alone, the newest trace of service b.
	child := mk(spec{trace: 9, span: 92, parent: 91, name: "chat", start: 40 * time.Minute, dur: time.Second,
		status: model.StatusOK, service: "b", attrs: map[string]any{AttrKind: "llm", AttrModel: "m1", AttrOutput: "early words"}})
	writeSpans(t, s, child)
	for _, tc := range []struct {
		q    store.TraceQuery
		want []string
	}{
		{store.TraceQuery{Model: "m1"}, ids(9, 3, 2, 1)},
		{store.TraceQuery{Service: "b"}, ids(9)},
		{store.TraceQuery{Text: "early"}, ids(9)},
		{store.TraceQuery{MinDuration: time.Minute}, nil},
	} {
		if got := listIDs(t, s, tc.q); !cmp.Equal(got, tc.want, cmpOpts()) {
			t.Errorf("before the root: ListTraces(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Its root arrives: it started before the others, in service a, took
	// an hour, failed, and called another model.
	root := mk(spec{trace: 9, span: 91, name: "flow", start: 5 * time.Minute, dur: time.Hour, status: model.StatusError,
		service: "a", attrs: map[string]any{AttrKind: "chain", AttrQuestion: "late question"}})
	llm := mk(spec{trace: 9, span: 93, parent: 91, name: "chat", start: 6 * time.Minute, dur: time.Second,
		status: model.StatusOK, service: "a", attrs: map[string]any{AttrKind: "llm", AttrModel: "m2"}})
	writeSpans(t, s, root, llm)
	for _, tc := range []struct {
		q    store.TraceQuery
		want []string
	}{
		{store.TraceQuery{Model: "m1"}, ids(3, 2, 1, 9)},
		{store.TraceQuery{Model: "m2"}, ids(9)},
		{store.TraceQuery{Model: "m1", Limit: 2}, ids(3, 2, 1, 9)},
		{store.TraceQuery{Service: "a"}, ids(3, 2, 1, 9)},
		{store.TraceQuery{Service: "b"}, nil},
		{store.TraceQuery{Text: "early"}, ids(9)},
		{store.TraceQuery{Text: "late"}, ids(9)},
		{store.TraceQuery{Text: "question", Since: at(10 * time.Minute)}, nil},
		{store.TraceQuery{MinDuration: time.Minute}, ids(9)},
		{store.TraceQuery{Status: model.StatusError, Model: "m1"}, ids(9)},
		{store.TraceQuery{Until: at(15 * time.Minute)}, ids(1, 9)},
	} {
		if got := listIDs(t, s, tc.q); !cmp.Equal(got, tc.want, cmpOpts()) {
			t.Errorf("after the root: ListTraces(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}
