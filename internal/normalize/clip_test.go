package normalize

import (
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestClipValue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		limit   int
		want    string
		wantCut bool
	}{
		{"short", "hello", 256, "hello", false},
		{"exactly the limit", strings.Repeat("a", 256), 256, strings.Repeat("a", 256), false},
		{"one over", strings.Repeat("a", 257), 256, strings.Repeat("a", 256-len("…[truncated 257 bytes]")) + "…[truncated 25 bytes]", true},
		{"multi-byte runes stay whole", strings.Repeat("é", 200), 256, strings.Repeat("é", 116) + "…[truncated 168 bytes]", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := clipValue(tc.in, tc.limit)
			if got != tc.want || cut != tc.wantCut {
				t.Errorf("clipValue = %q, %v; want %q, %v", got, cut, tc.want, tc.wantCut)
			}
			if len(got) > tc.limit || !utf8.ValidString(got) {
				t.Errorf("result of %d bytes (limit %d), valid UTF-8 %v", len(got), tc.limit, utf8.ValidString(got))
			}
		})
	}
}

// TestTracesCapValues sends a span whose values are far over the cap in
// every place a string can be, and checks each stored and derived string
// is within the cap, marked, and counted.
func TestTracesCapValues(t *testing.T) {
	const limit = 1 << 10
	big := strings.Repeat("x", 15<<20) // 15 MB, as in the issue
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	rs.Resource().Attributes().PutStr("big.resource", big)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{1})
	sp.SetName(big)
	sp.Status().SetMessage(big)
	a := sp.Attributes()
	a.PutStr("gen_ai.operation.name", "chat")
	a.PutStr("gen_ai.prompt", big)
	a.PutStr("input.value", big)
	a.PutStr("output.value", big)
	arr := a.PutEmptySlice("arr")
	arr.AppendEmpty().SetStr(big)
	arr.AppendEmpty().SetStr("small")
	a.PutEmptyMap("m").PutStr("inner", big)
	a.PutEmptyBytes("b").FromRaw([]byte(big))
	ev := sp.Events().AppendEmpty()
	ev.SetName("gen_ai.user.message")
	ev.Attributes().PutStr("content", big)

	spans, rep := Traces(td, Limits{MaxValueBytes: limit})
	if len(spans) != 1 {
		t.Fatalf("got %d spans", len(spans))
	}
	s := spans[0]
	check := func(what, v string) {
		t.Helper()
		if len(v) > limit {
			t.Errorf("%s: %d bytes, over the cap of %d", what, len(v), limit)
		}
		if len(v) > limit-64 && !strings.Contains(v, "…[truncated ") {
			t.Errorf("%s: cut without a marker", what)
		}
	}
	check("name", s.Name)
	check("status message", s.StatusMessage)
	for _, k := range []string{"gen_ai.prompt", "input.value", "output.value"} {
		v, _ := s.Attributes[k].(string)
		check(k, v)
		if !strings.HasSuffix(v, "bytes]") {
			t.Errorf("%s does not end with the truncation marker: %q", k, v[max(0, len(v)-40):])
		}
	}
	el := s.Attributes["arr"].([]any)
	check("array element", el[0].(string))
	if el[1] != "small" {
		t.Errorf("small array element changed: %v", el[1])
	}
	check("map value", s.Attributes["m"].(map[string]any)["inner"].(string))
	if b := s.Attributes["b"].([]byte); len(b) != limit {
		t.Errorf("bytes value of %d bytes, want it cut to %d", len(b), limit)
	}
	check("resource", s.ResourceAttributes["big.resource"].(string))
	check("event", s.Events[0].Attributes["content"].(string))
	d := s.Derived
	for what, v := range map[string]string{"question": d.Question, "input": d.Input, "output": d.Output, "answer": d.Answer} {
		check(what, v)
	}
	// name, status, 3 attributes, array element, map value, bytes, resource, event.
	if rep.Truncated != 10 {
		t.Errorf("Report.Truncated = %d, want 10", rep.Truncated)
	}
	if !strings.Contains(rep.Message(), "truncated") {
		t.Errorf("report message %q does not mention the truncation", rep.Message())
	}
}

func TestLogsCapBody(t *testing.T) {
	const limit = 1 << 10
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTraceID(pcommon.TraceID{1})
	lr.SetSpanID(pcommon.SpanID{1})
	lr.Body().SetStr(strings.Repeat("y", 1<<20))
	recs, rep := Logs(ld, Limits{MaxValueBytes: limit})
	if len(recs) != 1 {
		t.Fatalf("got %d records", len(recs))
	}
	if b, _ := recs[0].Body.(string); len(b) > limit || !strings.HasSuffix(b, "bytes]") {
		t.Errorf("body of %d bytes, want at most %d with the marker", len(b), limit)
	}
	if rep.Truncated != 1 {
		t.Errorf("Report.Truncated = %d, want 1", rep.Truncated)
	}
}
