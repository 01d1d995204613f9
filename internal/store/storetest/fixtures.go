package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// at returns the fixtures' base time plus d.
func at(d time.Duration) time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(d) }

// traceID and spanID make fixed-width hex ids.
func traceID(n int) string { return fmt.Sprintf("%032x", n) }
func spanID(n int) string  { return fmt.Sprintf("%016x", n) }

// spec describes a span to build.
type spec struct {
	trace, span, parent int
	name                string
	start               time.Duration // from base
	dur                 time.Duration
	status              model.Status
	service, deployment string
	attrs               map[string]any
}

// mk builds a span from a spec, derived by the test Deriver without logs
// (as the pipeline hands spans to the store).
func mk(s spec) model.Span {
	sp := model.Span{
		TraceID:    traceID(s.trace),
		SpanID:     spanID(s.span),
		Name:       s.name,
		OTelKind:   "internal",
		StartTime:  at(s.start),
		EndTime:    at(s.start + s.dur),
		StatusCode: s.status,
		Attributes: s.attrs,
		ResourceAttributes: map[string]any{
			"service.name": s.service,
		},
		Scope: model.Scope{Name: "storetest", Version: "1"},
	}
	if s.parent != 0 {
		sp.ParentSpanID = spanID(s.parent)
	}
	if sp.StatusCode == "" {
		sp.StatusCode = model.StatusUnset
	}
	if sp.Name == "" {
		sp.Name = "span " + sp.SpanID
	}
	if s.deployment != "" {
		sp.ResourceAttributes["deployment.name"] = s.deployment
	}
	if sp.Attributes == nil {
		sp.Attributes = map[string]any{}
	}
	Deriver{}.DeriveSpan(&sp, nil)
	return sp
}

// rag builds a three-span trace like the ones the benchmark load sends: a
// root chain span with the question and answer, a retriever span with a
// context document and an LLM span with a model and token usage.
func rag(trace int, start time.Duration, service, deployment, modelName, question, answer string) []model.Span {
	first := trace * 10
	return []model.Span{
		mk(spec{trace: trace, span: first + 1, name: "flow", start: start, dur: 900 * time.Millisecond,
			status: model.StatusOK, service: service, deployment: deployment,
			attrs: map[string]any{AttrKind: "chain", AttrQuestion: question, AttrAnswer: answer,
				AttrInput: fmt.Sprintf(`{"trace":%d}`, trace), AttrSession: "session-1", AttrUser: "user-1"}}),
		mk(spec{trace: trace, span: first + 2, parent: first + 1, name: "retrieve", start: start + 10*time.Millisecond,
			dur: 100 * time.Millisecond, status: model.StatusOK, service: service, deployment: deployment,
			attrs: map[string]any{AttrKind: "retriever", AttrContext: "context for " + question}}),
		mk(spec{trace: trace, span: first + 3, parent: first + 1, name: "chat " + modelName,
			start: start + 200*time.Millisecond, dur: 600 * time.Millisecond, status: model.StatusOK,
			service: service, deployment: deployment,
			attrs: map[string]any{AttrKind: "llm", AttrModel: modelName, AttrTokens: int64(10),
				AttrOutput: answer, AttrTTFTMS: int64(150)}}),
	}
}

// derive returns copies of spans derived with the given logs (keyed by span
// id), as a store must derive them.
func derive(spans []model.Span, logs []model.LogRecord) []model.Span {
	out := make([]model.Span, len(spans))
	for i, sp := range spans {
		var mine []model.LogRecord
		for _, l := range logs {
			if l.TraceID == sp.TraceID && l.SpanID == sp.SpanID {
				mine = append(mine, l)
			}
		}
		sort.SliceStable(mine, func(a, b int) bool { return mine[a].Time.Before(mine[b].Time) })
		Deriver{}.DeriveSpan(&sp, mine)
		out[i] = sp
	}
	return out
}

// summary is what a store's summary of spans must be.
func summary(spans []model.Span) model.Trace { return Deriver{}.Summarize(spans) }

// cmpOpts compares stored data with what was written, allowing what the
// port allows: numbers inside free-form values may come back as
// json.Number, and empty slices and maps may come back as nil.
func cmpOpts() cmp.Options {
	return cmp.Options{
		cmpopts.EquateEmpty(),
		cmp.FilterValues(func(x, y any) bool { return isNumber(x) && isNumber(y) },
			cmp.Comparer(func(x, y any) bool { return canonicalNumber(x) == canonicalNumber(y) })),
	}
}

func isNumber(v any) bool {
	switch v.(type) {
	case int64, float64, json.Number, int:
		return true
	}
	return false
}

// canonicalNumber renders a number so that equal values compare equal
// whether they are int64, float64 or json.Number.
func canonicalNumber(v any) string {
	var f float64
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		f = x
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			return "invalid:" + string(x)
		}
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<62 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// ---- helpers that fail the test -----------------------------------------

func write(t *testing.T, s store.Store, b model.Batch) store.WriteResult {
	t.Helper()
	res, err := s.WriteBatch(context.Background(), b)
	if err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	return res
}

func writeSpans(t *testing.T, s store.Store, spans ...model.Span) store.WriteResult {
	t.Helper()
	return write(t, s, model.Batch{Spans: spans})
}

func checkResult(t *testing.T, what string, got, want store.WriteResult) {
	t.Helper()
	if got != want {
		t.Errorf("%s: WriteResult = %+v, want %+v", what, got, want)
	}
}

func getTrace(t *testing.T, s store.Store, id string) model.TraceDetail {
	t.Helper()
	d, err := s.GetTrace(context.Background(), id)
	if err != nil {
		t.Fatalf("GetTrace(%s): %v", id, err)
	}
	return d
}

// checkTrace compares a stored trace with the spans it must consist of (in
// any order) and the logs attached to it.
func checkTrace(t *testing.T, s store.Store, spans []model.Span, logs []model.LogRecord) model.TraceDetail {
	t.Helper()
	if len(spans) == 0 {
		t.Fatal("checkTrace without spans")
	}
	got := getTrace(t, s, spans[0].TraceID)
	want := append([]model.Span(nil), spans...)
	sort.SliceStable(want, func(i, j int) bool {
		if !want[i].StartTime.Equal(want[j].StartTime) {
			return want[i].StartTime.Before(want[j].StartTime)
		}
		return want[i].SpanID < want[j].SpanID
	})
	if diff := cmp.Diff(summary(spans), got.Trace, cmpOpts()); diff != "" {
		t.Errorf("trace %s summary (-want +got):\n%s", spans[0].TraceID, diff)
	}
	if diff := cmp.Diff(want, got.Spans, cmpOpts()); diff != "" {
		t.Errorf("trace %s spans (-want +got):\n%s", spans[0].TraceID, diff)
	}
	wantLogs := sortedLogs(logs)
	if diff := cmp.Diff(wantLogs, sortedLogs(got.Logs), cmpOpts()); diff != "" {
		t.Errorf("trace %s logs (-want +got):\n%s", spans[0].TraceID, diff)
	}
	return got
}

func sortedLogs(logs []model.LogRecord) []model.LogRecord {
	out := append([]model.LogRecord(nil), logs...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].SpanID < out[j].SpanID
	})
	return out
}

func list(t *testing.T, s store.Store, q store.TraceQuery) store.TracePage {
	t.Helper()
	page, err := s.ListTraces(context.Background(), q)
	if err != nil {
		t.Fatalf("ListTraces(%+v): %v", q, err)
	}
	return page
}

// listIDs returns the trace ids of all pages of q.
func listIDs(t *testing.T, s store.Store, q store.TraceQuery) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("ListTraces(%+v): more than 10000 pages", q)
		}
		page := list(t, s, q)
		for _, tr := range page.Traces {
			ids = append(ids, tr.TraceID)
		}
		if page.NextCursor == "" {
			return ids
		}
		q.Cursor = page.NextCursor
	}
}

func services(t *testing.T, s store.Store) []model.ServiceInfo {
	t.Helper()
	out, err := s.ListServices(context.Background())
	if err != nil {
		t.Fatalf("ListServices: %v", err)
	}
	return out
}

func mustBe(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want one wrapping %v", what, err, target)
	}
}
