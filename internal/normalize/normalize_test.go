package normalize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Deriver is the store's Deriver.
var _ store.Deriver = Deriver{}

var (
	testTraceID = pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	testSpanID  = pcommon.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)

// oneSpan returns a batch with one span and that span, for tests to fill.
func oneSpan() (ptrace.Traces, ptrace.Span) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(testTraceID)
	sp.SetSpanID(testSpanID)
	sp.SetName("span")
	sp.SetStartTimestamp(pcommon.Timestamp(1736935200000000000))
	sp.SetEndTimestamp(pcommon.Timestamp(1736935201000000000))
	return td, sp
}

func TestTracesRawFields(t *testing.T) {
	td, sp := oneSpan()
	sp.SetParentSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	sp.SetKind(ptrace.SpanKindClient)
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage("boom")
	sp.TraceState().FromRaw("vendor=x")
	sp.SetFlags(1)
	sp.SetDroppedAttributesCount(2)
	a := sp.Attributes()
	a.PutStr("s", "text")
	a.PutInt("i", 42)
	a.PutDouble("f", 1.5)
	a.PutDouble("nan", math.NaN())
	a.PutBool("b", true)
	a.PutEmptyBytes("raw").FromRaw([]byte{0xff, 0x00})
	a.PutEmptySlice("list").FromRaw([]any{"x", int64(1)})
	a.PutEmptyMap("map").FromRaw(map[string]any{"k": "v"})
	a.PutEmpty("empty")
	ev := sp.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(pcommon.Timestamp(1736935200500000000))
	ev.Attributes().PutStr("exception.type", "ValueError")
	ln := sp.Links().AppendEmpty()
	ln.SetTraceID(testTraceID)
	ln.Attributes().PutStr("link.kind", "follows")

	spans, rep := Traces(td, Limits{})
	if rep.Rejected != 0 || rep.Message() != "" {
		t.Fatalf("report = %+v", rep)
	}
	if len(spans) != 1 {
		t.Fatalf("got %d spans", len(spans))
	}
	s := spans[0]
	want := model.Span{
		TraceID:       "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:        "00f067aa0ba902b7",
		ParentSpanID:  "0102030405060708",
		Name:          "span",
		OTelKind:      "client",
		StartTime:     time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC),
		EndTime:       time.Date(2025, 1, 15, 10, 0, 1, 0, time.UTC),
		StatusCode:    model.StatusError,
		StatusMessage: "boom",
		TraceState:    "vendor=x",
		Flags:         1,
		Attributes: map[string]any{
			"s": "text", "i": int64(42), "f": 1.5, "nan": "NaN", "b": true, "raw": []byte{0xff, 0x00},
			"list": []any{"x", int64(1)}, "map": map[string]any{"k": "v"}, "empty": nil,
		},
		ResourceAttributes: map[string]any{"service.name": "svc"},
		Events: []model.Event{{
			Time: time.Date(2025, 1, 15, 10, 0, 0, 500000000, time.UTC), Name: "exception",
			Attributes: map[string]any{"exception.type": "ValueError"},
		}},
		Links:             []model.Link{{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Attributes: map[string]any{"link.kind": "follows"}}},
		DroppedAttributes: 2,
	}
	if diff := cmp.Diff(want, s, cmpIgnoreDerived); diff != "" {
		t.Errorf("raw fields (-want +got):\n%s", diff)
	}
	if s.StartTime.Location() != time.UTC {
		t.Errorf("start time not UTC: %v", s.StartTime.Location())
	}
	if s.Derived.Status != model.StatusError || s.Derived.ErrorType != "ValueError" || s.Derived.ErrorMessage != "boom" {
		t.Errorf("derived status = %q %q %q", s.Derived.Status, s.Derived.ErrorType, s.Derived.ErrorMessage)
	}
}

var cmpIgnoreDerived = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Derived" }, cmp.Ignore())

func TestTracesOTelKind(t *testing.T) {
	cases := map[ptrace.SpanKind]string{
		ptrace.SpanKindUnspecified: "unspecified", ptrace.SpanKindInternal: "internal",
		ptrace.SpanKindServer: "server", ptrace.SpanKindClient: "client",
		ptrace.SpanKindProducer: "producer", ptrace.SpanKindConsumer: "consumer", ptrace.SpanKind(42): "unspecified",
	}
	for k, want := range cases {
		t.Run(want, func(t *testing.T) {
			td, sp := oneSpan()
			sp.SetKind(k)
			spans, _ := Traces(td, Limits{})
			if got := spans[0].OTelKind; got != want {
				t.Errorf("kind %d = %q, want %q", k, got, want)
			}
		})
	}
}

func TestTracesInvalidIDs(t *testing.T) {
	cases := []struct {
		name    string
		traceID pcommon.TraceID
		spanID  pcommon.SpanID
		problem string
	}{
		{"valid", testTraceID, testSpanID, ""},
		{"zero trace id", pcommon.TraceID{}, testSpanID, "resource 0, scope 0, span 0: trace_id is empty or all zeros"},
		{"zero span id", testTraceID, pcommon.SpanID{}, "resource 0, scope 0, span 0: span_id is empty or all zeros"},
		{"both zero", pcommon.TraceID{}, pcommon.SpanID{}, "resource 0, scope 0, span 0: trace_id is empty or all zeros"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			td, sp := oneSpan()
			sp.SetTraceID(tc.traceID)
			sp.SetSpanID(tc.spanID)
			spans, rep := Traces(td, Limits{})
			if tc.problem == "" {
				if len(spans) != 1 || rep.Rejected != 0 || rep.Message() != "" {
					t.Fatalf("valid span: %d spans, report %+v", len(spans), rep)
				}
				return
			}
			if len(spans) != 0 || rep.Rejected != 1 {
				t.Fatalf("got %d spans, %d rejected", len(spans), rep.Rejected)
			}
			if rep.Message() != tc.problem {
				t.Errorf("message = %q, want %q", rep.Message(), tc.problem)
			}
		})
	}
}

func TestTracesInvalidIDsFromJSON(t *testing.T) {
	// Ids that are not hex or have the wrong length never reach Traces:
	// the OTLP/JSON decoder refuses them.
	for _, id := range []string{"zz", "0af7651916cd43dd8448eb211c80319", "0af7651916cd43dd8448eb211c80319c00"} {
		body := fmt.Sprintf(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":%q,"spanId":"b7ad6b7169203331"}]}]}]}`, id)
		if _, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces([]byte(body)); err == nil {
			t.Errorf("trace id %q decoded without error", id)
		}
	}
}

func TestTracesPositions(t *testing.T) {
	td := ptrace.NewTraces()
	for r := 0; r < 2; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		for s := 0; s < 2; s++ {
			ss := rs.ScopeSpans().AppendEmpty()
			for i := 0; i < 3; i++ {
				sp := ss.Spans().AppendEmpty()
				sp.SetTraceID(testTraceID)
				sp.SetSpanID(pcommon.SpanID{byte(r), byte(s), byte(i), 1})
				if r == 1 && s == 1 && i == 2 {
					sp.SetSpanID(pcommon.SpanID{})
				}
			}
		}
	}
	spans, rep := Traces(td, Limits{})
	if len(spans) != 11 || rep.Rejected != 1 {
		t.Fatalf("got %d spans, %d rejected", len(spans), rep.Rejected)
	}
	if want := "resource 1, scope 1, span 2: span_id is empty or all zeros"; rep.Message() != want {
		t.Errorf("message = %q, want %q", rep.Message(), want)
	}
}

func TestReportMessage(t *testing.T) {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := 0; i < 25; i++ {
		ss.Spans().AppendEmpty() // zero ids
	}
	spans, rep := Traces(td, Limits{})
	if len(spans) != 0 || rep.Rejected != 25 {
		t.Fatalf("got %d spans, %d rejected", len(spans), rep.Rejected)
	}
	if len(rep.Problems) != maxProblems {
		t.Errorf("kept %d problems, want %d", len(rep.Problems), maxProblems)
	}
	msg := rep.Message()
	if !strings.HasPrefix(msg, "resource 0, scope 0, span 0: trace_id is empty") || !strings.HasSuffix(msg, "; and 15 more problems") {
		t.Errorf("message = %q", msg)
	}

	var empty Report
	if empty.Message() != "" {
		t.Errorf("empty report message = %q", empty.Message())
	}
	dup := Report{}
	dup.add("x")
	dup.add("x")
	if len(dup.Problems) != 1 {
		t.Errorf("duplicate problems kept: %v", dup.Problems)
	}
}

func TestTracesAttributeLimit(t *testing.T) {
	const n = 100_000
	td, sp := oneSpan()
	raw := make(map[string]any, n)
	for i := 0; i < n; i++ {
		raw[fmt.Sprintf("attr.%06d", i)] = "v"
	}
	// FromRaw, unlike PutStr, does not search for duplicates (quadratic).
	if err := sp.Attributes().FromRaw(raw); err != nil {
		t.Fatal(err)
	}
	ev := sp.Events().AppendEmpty()
	ev.SetName("big")
	for i := 0; i < 20; i++ {
		ev.Attributes().PutInt(fmt.Sprintf("e%d", i), int64(i))
	}
	spans, rep := Traces(td, Limits{MaxAttributes: 10})
	if len(spans) != 1 || rep.Rejected != 0 {
		t.Fatalf("got %d spans, %d rejected: the span must be kept", len(spans), rep.Rejected)
	}
	s := spans[0]
	if len(s.Attributes) != 10 || s.DroppedAttributes != n-10 {
		t.Errorf("kept %d attributes, dropped %d", len(s.Attributes), s.DroppedAttributes)
	}
	if len(s.Events[0].Attributes) != 10 {
		t.Errorf("event kept %d attributes", len(s.Events[0].Attributes))
	}
	// The span's and the event's excess are reported together.
	if want := "resource 0, scope 0, span 0: 100000 span and event attributes over the limit of 10 dropped"; rep.Message() != want {
		t.Errorf("message = %q, want %q", rep.Message(), want)
	}

	// The default limit keeps 4096.
	spans, rep = Traces(td, Limits{})
	if len(spans[0].Attributes) != DefaultMaxAttributes || spans[0].DroppedAttributes != n-DefaultMaxAttributes {
		t.Errorf("default limit kept %d, dropped %d", len(spans[0].Attributes), spans[0].DroppedAttributes)
	}
	if want := fmt.Sprintf("resource 0, scope 0, span 0: %d span and event attributes over the limit of 4096 dropped", n-DefaultMaxAttributes); rep.Message() != want {
		t.Errorf("message = %q, want %q", rep.Message(), want)
	}
}

// nest builds a value nested depth maps deep, alternating maps and lists.
func nest(v pcommon.Value, depth int) {
	for i := 0; i < depth; i++ {
		if i%2 == 0 {
			v = v.SetEmptyMap().PutEmpty("k")
		} else {
			v = v.SetEmptySlice().AppendEmpty()
		}
	}
	v.SetStr("bottom")
}

func depthOf(v any) int {
	switch x := v.(type) {
	case map[string]any:
		return 1 + depthOf(x["k"])
	case []any:
		if len(x) == 0 {
			return 1
		}
		return 1 + depthOf(x[0])
	}
	return 0
}

func TestTracesDepthLimit(t *testing.T) {
	cases := []struct {
		name     string
		depth    int
		maxDepth int
		wantDeep int
		trimmed  bool
	}{
		{"shallow", 5, 0, 5, false},
		{"at limit", 32, 0, 32, false},
		{"over limit", 33, 0, 32, true},
		{"very deep", 10_000, 0, 32, true},
		{"custom limit", 10, 3, 3, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			td, sp := oneSpan()
			nest(sp.Attributes().PutEmpty("deep"), tc.depth)
			spans, rep := Traces(td, Limits{MaxDepth: tc.maxDepth})
			if len(spans) != 1 {
				t.Fatalf("span not kept: %+v", rep)
			}
			v := spans[0].Attributes["deep"]
			if got := depthOf(v); got != tc.wantDeep {
				t.Errorf("nesting kept = %d, want %d", got, tc.wantDeep)
			}
			if got := strings.Contains(rep.Message(), "nested deeper than"); got != tc.trimmed {
				t.Errorf("reported = %v, want %v (%q)", got, tc.trimmed, rep.Message())
			}
			if tc.trimmed {
				b, _ := json.Marshal(v)
				if !strings.Contains(string(b), depthMarker) {
					t.Errorf("marker missing in %s", b)
				}
			}
		})
	}
}

func TestTracesInvalidUTF8(t *testing.T) {
	td, sp := oneSpan()
	sp.SetName("bad \xff name")
	sp.Attributes().PutStr("input.value", "caf\xc3")
	spans, rep := Traces(td, Limits{})
	if len(spans) != 1 {
		t.Fatal("span not kept")
	}
	if spans[0].Name != "bad \uFFFD name" || spans[0].Attributes["input.value"] != "caf\uFFFD" {
		t.Errorf("not repaired: %q %q", spans[0].Name, spans[0].Attributes["input.value"])
	}
	if want := "resource 0, scope 0, span 0: invalid UTF-8 in span and event replaced"; rep.Message() != want {
		t.Errorf("message = %q, want %q", rep.Message(), want)
	}
}

func TestTracesTimestamps(t *testing.T) {
	td, sp := oneSpan()
	sp.SetStartTimestamp(0)
	sp.SetEndTimestamp(pcommon.Timestamp(math.MaxUint64))
	spans, _ := Traces(td, Limits{})
	if !spans[0].StartTime.Equal(time.Unix(0, 0)) {
		t.Errorf("start = %v", spans[0].StartTime)
	}
	if !spans[0].EndTime.Equal(time.Unix(0, math.MaxInt64)) {
		t.Errorf("end = %v", spans[0].EndTime)
	}
}

func TestLogs(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "svc")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()

	ok := lrs.AppendEmpty()
	ok.SetTraceID(testTraceID)
	ok.SetSpanID(testSpanID)
	ok.SetObservedTimestamp(pcommon.Timestamp(1736935200000000000))
	ok.SetSeverityText("INFO")
	ok.Attributes().PutStr("event.name", "gen_ai.user.message")
	ok.Body().SetEmptyMap().PutStr("content", "hi")

	named := lrs.AppendEmpty()
	named.SetTraceID(testTraceID)
	named.SetSpanID(testSpanID)
	named.SetEventName("gen_ai.choice")
	named.Attributes().PutStr("event.name", "ignored")

	noSpan := lrs.AppendEmpty()
	noSpan.SetTraceID(testTraceID)
	noTrace := lrs.AppendEmpty()
	noTrace.SetSpanID(testSpanID)

	recs, rep := Logs(ld, Limits{})
	if len(recs) != 2 || rep.Rejected != 2 {
		t.Fatalf("got %d records, %d rejected", len(recs), rep.Rejected)
	}
	want := model.LogRecord{
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
		Time:         time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC),
		EventName:    "gen_ai.user.message",
		SeverityText: "INFO",
		Body:         map[string]any{"content": "hi"},
		Attributes:   map[string]any{"event.name": "gen_ai.user.message"},
		ResourceAttributes: map[string]any{
			"service.name": "svc",
		},
	}
	if diff := cmp.Diff(want, recs[0]); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if recs[1].EventName != "gen_ai.choice" {
		t.Errorf("event name = %q: the record's own name wins", recs[1].EventName)
	}
	msg := rep.Message()
	for _, want := range []string{
		"resource 0, scope 0, log record 2: log record without trace_id/span_id: flowwatch stores only records attached to spans",
		"resource 0, scope 0, log record 3: log record without trace_id/span_id",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

// roundTrip sends a span's raw fields (and log records) through JSON, as a
// store would, optionally decoding numbers as json.Number.
func roundTrip[T any](t *testing.T, v T, useNumber bool) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	dec := json.NewDecoder(bytes.NewReader(b))
	if useNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// fixtureSpans returns every fixture's spans with their log records.
func fixtureSpans(t *testing.T) ([]model.Span, map[string][]model.LogRecord) {
	t.Helper()
	var all []model.Span
	logs := map[string][]model.LogRecord{}
	for _, name := range goldenCases {
		spans, _ := Traces(readTraces(t, filepath.Join("testdata", name+".traces.json")), Limits{})
		all = append(all, spans...)
		if ld, ok := readLogs(t, filepath.Join("testdata", name+".logs.json")); ok {
			recs, _ := Logs(ld, Limits{})
			for _, r := range recs {
				logs[r.TraceID+r.SpanID] = append(logs[r.TraceID+r.SpanID], r)
			}
		}
	}
	return all, logs
}

func TestDeriveSpanJSONRoundTrip(t *testing.T) {
	spans, logs := fixtureSpans(t)
	spans = append(spans, structuredSpan(t))
	var d Deriver
	for _, useNumber := range []bool{false, true} {
		for _, s := range spans {
			t.Run(fmt.Sprintf("%s/%s/number=%v", s.TraceID[:8], s.SpanID, useNumber), func(t *testing.T) {
				ls := logs[s.TraceID+s.SpanID]
				d.DeriveSpan(&s, ls)
				want := s.Derived

				raw := s
				raw.Derived = model.Derived{}
				back := roundTrip(t, raw, useNumber)
				backLogs := roundTrip(t, ls, useNumber)
				d.DeriveSpan(&back, backLogs)
				if diff := cmp.Diff(want, back.Derived); diff != "" {
					t.Errorf("derived after a JSON round trip (-before +after):\n%s", diff)
				}
			})
		}
	}
}

// structuredSpan carries AnyValue maps, lists, bytes and numbers in the
// places rules read structured values from.
func structuredSpan(t *testing.T) model.Span {
	t.Helper()
	td, sp := oneSpan()
	a := sp.Attributes()
	a.PutStr("gen_ai.operation.name", "chat")
	a.PutInt("gen_ai.usage.input_tokens", 1<<52+1)
	a.PutDouble("gen_ai.usage.output_tokens", 12)
	a.PutEmptyBytes("input.value").FromRaw([]byte("bytes input"))
	a.PutInt("session.id", 77)
	a.PutDouble("gen_ai.response.time_to_first_chunk", 0.25)
	if err := a.PutEmptyMap("langfuse.observation.output").FromRaw(map[string]any{
		"answer": "structured answer", "n": int64(3), "f": 2.5, "nested": map[string]any{"b": []byte{1, 2}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutEmptySlice("gen_ai.output.messages").FromRaw([]any{map[string]any{
		"role": "assistant",
		"parts": []any{
			map[string]any{"type": "tool_call", "id": "c1", "name": "f", "arguments": map[string]any{"x": int64(1), "y": 1.5, "big": int64(1 << 60)}},
			map[string]any{"type": "text", "content": "done"},
		},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutEmptySlice("gen_ai.retrieval.documents").FromRaw([]any{
		map[string]any{"id": int64(5), "score": int64(1), "content": "doc", "metadata": map[string]any{"page": int64(3)}},
	}); err != nil {
		t.Fatal(err)
	}
	spans, _ := Traces(td, Limits{})
	return spans[0]
}

func TestDeriveSpanRecomputes(t *testing.T) {
	spans, logs := fixtureSpans(t)
	var d Deriver
	for _, s := range spans {
		ls := logs[s.TraceID+s.SpanID]
		if len(ls) == 0 {
			continue
		}
		t.Run(s.SpanID, func(t *testing.T) {
			without := s.Derived
			d.DeriveSpan(&s, ls)
			with := s.Derived
			d.DeriveSpan(&s, ls)
			if diff := cmp.Diff(with, s.Derived); diff != "" {
				t.Errorf("second derivation with the same logs differs (-first +second):\n%s", diff)
			}
			if cmp.Equal(with, without) {
				t.Errorf("the log records changed nothing")
			}
			d.DeriveSpan(&s, nil)
			if diff := cmp.Diff(without, s.Derived); diff != "" {
				t.Errorf("derivation without logs kept state (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummarizeOrderIndependent(t *testing.T) {
	spans, logs := fixtureSpans(t)
	var d Deriver
	byTrace := map[string][]model.Span{}
	for _, s := range spans {
		d.DeriveSpan(&s, logs[s.TraceID+s.SpanID])
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for id, trace := range byTrace {
		t.Run(id, func(t *testing.T) {
			want := d.Summarize(trace)
			for i := 0; i < 20; i++ {
				shuffled := append([]model.Span(nil), trace...)
				rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
				if diff := cmp.Diff(want, d.Summarize(shuffled)); diff != "" {
					t.Fatalf("summary depends on span order (-first +shuffled):\n%s", diff)
				}
			}
		})
	}
}

func TestSummarizeEmpty(t *testing.T) {
	var d Deriver
	if got := d.Summarize(nil); !cmp.Equal(got, model.Trace{}) {
		t.Errorf("empty summary = %+v", got)
	}
}

// span builds a derived span for Summarize tests.
func span(id, parent string, start int, attrs map[string]any) model.Span {
	s := model.Span{
		TraceID: "t", SpanID: id, ParentSpanID: parent, Name: id,
		StartTime:  time.Unix(int64(start), 0).UTC(),
		EndTime:    time.Unix(int64(start)+1, 0).UTC(),
		StatusCode: model.StatusUnset, Attributes: attrs,
	}
	Deriver{}.DeriveSpan(&s, nil)
	return s
}

func TestSummarize(t *testing.T) {
	usage := func(in, out int) map[string]any {
		return map[string]any{"gen_ai.usage.input_tokens": int64(in), "gen_ai.usage.output_tokens": int64(out)}
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	cases := []struct {
		name  string
		spans []model.Span
		check func(t *testing.T, tr model.Trace)
	}{
		{
			name: "root without parent, usage over model calls only",
			spans: []model.Span{
				span("a", "", 0, with(usage(1000, 1000), "gen_ai.operation.name", "invoke_agent")),
				span("b", "a", 1, with(usage(10, 1), "gen_ai.operation.name", "chat", "gen_ai.request.model", "m1")),
				span("c", "a", 2, with(usage(20, 2), "gen_ai.operation.name", "embeddings", "gen_ai.request.model", "m2")),
				span("d", "a", 3, with(usage(5000, 5000), "openinference.span.kind", "CHAIN")),
			},
			check: func(t *testing.T, tr model.Trace) {
				if tr.RootSpanID != "a" || tr.Usage.InputTokens != 30 || tr.Usage.OutputTokens != 3 || tr.LLMCallCount != 2 {
					t.Errorf("root %q usage %+v calls %d", tr.RootSpanID, tr.Usage, tr.LLMCallCount)
				}
			},
		},
		{
			name: "fallback to the root's usage",
			spans: []model.Span{
				span("a", "", 0, with(usage(7, 3), "traceloop.span.kind", "workflow")),
				span("b", "a", 1, map[string]any{"gen_ai.operation.name": "chat"}),
			},
			check: func(t *testing.T, tr model.Trace) {
				if !tr.Usage.Known || tr.Usage.TotalTokens != 10 {
					t.Errorf("usage = %+v", tr.Usage)
				}
			},
		},
		{
			name: "a model call that reported only a cost counts",
			spans: []model.Span{
				span("a", "", 0, nil),
				span("b", "a", 1, map[string]any{"gen_ai.operation.name": "chat", "llm.cost.total": 0.25}),
				span("c", "a", 2, with(usage(10, 1), "gen_ai.operation.name", "chat", "llm.cost.total", 0.5)),
			},
			check: func(t *testing.T, tr model.Trace) {
				if tr.Usage.CostUSD != 0.75 || tr.Usage.InputTokens != 10 {
					t.Errorf("usage = %+v, want cost 0.75 and 10 input tokens", tr.Usage)
				}
			},
		},
		{
			name: "no root: earliest span whose parent is absent",
			spans: []model.Span{
				span("x", "missing", 5, nil),
				span("y", "missing", 2, nil),
				span("z", "y", 1, nil),
			},
			check: func(t *testing.T, tr model.Trace) {
				if tr.RootSpanID != "y" {
					t.Errorf("root = %q, want y", tr.RootSpanID)
				}
			},
		},
		{
			name: "several roots: the earliest",
			spans: []model.Span{
				span("late", "", 9, nil),
				span("early", "", 1, nil),
			},
			check: func(t *testing.T, tr model.Trace) {
				if tr.RootSpanID != "early" {
					t.Errorf("root = %q, want early", tr.RootSpanID)
				}
			},
		},
		{
			name: "most frequent model, first seen on a tie",
			spans: []model.Span{
				span("r", "", 0, nil),
				span("1", "r", 1, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "a"}),
				span("2", "r", 2, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "b"}),
				span("3", "r", 3, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "b"}),
				span("4", "r", 4, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "c"}),
				span("5", "r", 5, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "c"}),
				span("6", "r", 6, map[string]any{"openinference.span.kind": "AGENT", "llm.model_name": "agent-model"}),
			},
			check: func(t *testing.T, tr model.Trace) {
				if tr.Model != "b" || !cmp.Equal(tr.Models, []string{"a", "b", "c"}) {
					t.Errorf("model %q models %v", tr.Model, tr.Models)
				}
			},
		},
		{
			name: "question and answer: trace-level attributes first",
			spans: []model.Span{
				span("r", "", 0, map[string]any{"input.value": "root question", "output.value": "root answer"}),
				span("c", "r", 1, map[string]any{"langfuse.trace.input": `{"question": "trace question"}`}),
			},
			check: func(t *testing.T, tr model.Trace) {
				if tr.Question != "trace question" || tr.Answer != "root answer" {
					t.Errorf("question %q answer %q", tr.Question, tr.Answer)
				}
			},
		},
		{
			name: "question and answer: first and last LLM spans",
			spans: []model.Span{
				span("r", "", 0, nil),
				span("1", "r", 1, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.input.messages": `[{"role":"user","parts":[{"type":"text","content":"first q"}]}]`, "gen_ai.output.messages": `[{"role":"assistant","parts":[{"type":"text","content":"first a"}]}]`}),
				span("2", "r", 2, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.input.messages": `[{"role":"user","parts":[{"type":"text","content":"last q"}]}]`, "gen_ai.output.messages": `[{"role":"assistant","parts":[{"type":"text","content":"last a"}]}]`}),
				span("3", "r", 3, map[string]any{"gen_ai.operation.name": "embeddings", "input.value": "embedded text", "output.value": "[0.1, 0.2]"}),
			},
			check: func(t *testing.T, tr model.Trace) {
				if tr.Question != "first q" || tr.Answer != "last a" {
					t.Errorf("question %q answer %q", tr.Question, tr.Answer)
				}
			},
		},
		{
			name: "context: reranker output beats an earlier retriever",
			spans: []model.Span{
				span("r", "", 0, nil),
				span("ret", "r", 1, map[string]any{"openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.content": "retrieved"}),
				span("rr", "r", 2, map[string]any{"openinference.span.kind": "RERANKER", "reranker.output_documents.0.document.content": "reranked"}),
				span("ret2", "r", 3, map[string]any{"openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.content": "later"}),
			},
			check: func(t *testing.T, tr model.Trace) {
				if len(tr.Context) != 1 || tr.Context[0].Content != "reranked" {
					t.Errorf("context = %+v", tr.Context)
				}
			},
		},
		{
			name: "context: same source, earliest span",
			spans: []model.Span{
				span("r", "", 0, nil),
				span("late", "r", 3, map[string]any{"retrieval.documents.0.document.content": "late"}),
				span("early", "r", 1, map[string]any{"retrieval.documents.0.document.content": "early"}),
			},
			check: func(t *testing.T, tr model.Trace) {
				if len(tr.Context) != 1 || tr.Context[0].Content != "early" {
					t.Errorf("context = %+v", tr.Context)
				}
			},
		},
		{
			name: "errors from the first failed span when the root has none; session from a child",
			spans: []model.Span{
				span("r", "", 0, nil),
				span("e1", "r", 1, map[string]any{"gen_ai.task.status": "failure"}),
				span("e2", "r", 2, map[string]any{"langfuse.observation.level": "ERROR", "langfuse.observation.status_message": "bad", "error.type": "Timeout"}),
				span("s", "r", 3, map[string]any{"session.id": "child-session", "user.id": "child-user"}),
			},
			check: func(t *testing.T, tr model.Trace) {
				if tr.ErrorCount != 2 || tr.ErrorType != "Timeout" || tr.ErrorMessage != "bad" || tr.Status != model.StatusUnset {
					t.Errorf("errors %d %q %q status %q", tr.ErrorCount, tr.ErrorType, tr.ErrorMessage, tr.Status)
				}
				if tr.SessionID != "child-session" || tr.UserID != "child-user" {
					t.Errorf("session %q user %q", tr.SessionID, tr.UserID)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := Deriver{}.Summarize(tc.spans)
			if tr.SpanCount != len(tc.spans) {
				t.Errorf("span count = %d", tr.SpanCount)
			}
			tc.check(t, tr)
		})
	}
}
