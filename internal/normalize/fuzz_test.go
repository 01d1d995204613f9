package normalize

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/model"
)

// fuzzLimits are small so that the limits are exercised too.
var fuzzLimits = Limits{MaxAttributes: 64, MaxDepth: 8}

func fixtureFiles(f *testing.F, suffix string) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*"+suffix))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// corpusFiles returns the requests real instrumentation libraries sent
// (the corpus the app tests replay), as OTLP protobuf, for one signal.
func corpusFiles(f *testing.F, signal string) [][]byte {
	f.Helper()
	var out [][]byte
	for _, ext := range []string{".pb", ".json"} {
		paths, err := filepath.Glob(filepath.Join("..", "app", "testdata", "instrumentations", "*", "*."+signal+ext))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			if ext == ".json" {
				b = jsonToProto(f, signal, b)
			}
			out = append(out, b)
		}
	}
	return out
}

func jsonToProto(f *testing.F, signal string, b []byte) []byte {
	f.Helper()
	var pb []byte
	var err error
	if signal == "logs" {
		var ld plog.Logs
		if ld, err = (&plog.JSONUnmarshaler{}).UnmarshalLogs(b); err == nil {
			pb, err = (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		}
	} else {
		var td ptrace.Traces
		if td, err = (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b); err == nil {
			pb, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		}
	}
	if err != nil {
		f.Fatal(err)
	}
	return pb
}

// checkSpans asserts what must hold for any accepted batch: every kept span
// has valid ids, derived fields, and a summary can be computed.
func checkSpans(t *testing.T, spans []model.Span, rep Report) {
	t.Helper()
	byTrace := map[string][]model.Span{}
	for _, s := range spans {
		if len(s.TraceID) != 32 || len(s.SpanID) != 16 || s.TraceID == strings.Repeat("0", 32) || s.SpanID == strings.Repeat("0", 16) {
			t.Fatalf("kept a span with invalid ids %q %q", s.TraceID, s.SpanID)
		}
		if s.Derived.Service == "" || s.Derived.Kind == "" || s.Derived.Status == "" {
			t.Fatalf("span %s not derived: %+v", s.SpanID, s.Derived)
		}
		if len(s.Attributes) > fuzzLimits.MaxAttributes {
			t.Fatalf("span %s kept %d attributes", s.SpanID, len(s.Attributes))
		}
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	for _, tr := range byTrace {
		sum := Deriver{}.Summarize(tr)
		if sum.SpanCount != len(tr) {
			t.Fatalf("summary counts %d spans of %d", sum.SpanCount, len(tr))
		}
	}
	if len(rep.Problems) > maxProblems {
		t.Fatalf("%d problems kept", len(rep.Problems))
	}
	if _, err := json.Marshal(spans); err != nil {
		t.Fatalf("spans do not encode as JSON: %v", err)
	}
}

func FuzzTraces(f *testing.F) {
	for _, b := range fixtureFiles(f, ".traces.json") {
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
		if err != nil {
			f.Fatal(err)
		}
		pb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pb)
	}
	for _, b := range corpusFiles(f, "traces") {
		f.Add(b)
	}
	pb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(benchTraces(2))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pb)
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
		if err != nil {
			return
		}
		spans, rep := Traces(td, fuzzLimits)
		checkSpans(t, spans, rep)
	})
}

func FuzzTracesJSON(f *testing.F) {
	for _, b := range fixtureFiles(f, ".traces.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
		if err != nil {
			return
		}
		spans, rep := Traces(td, fuzzLimits)
		checkSpans(t, spans, rep)
	})
}

func FuzzLogs(f *testing.F) {
	for _, b := range fixtureFiles(f, ".logs.json") {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
		if err != nil {
			f.Fatal(err)
		}
		pb, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pb)
	}
	for _, b := range corpusFiles(f, "logs") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		if err != nil {
			return
		}
		recs, rep := Logs(ld, fuzzLimits)
		if int64(len(recs))+rep.Rejected != int64(ld.LogRecordCount()) {
			t.Fatalf("%d kept + %d rejected != %d records", len(recs), rep.Rejected, ld.LogRecordCount())
		}
		// Attach every record to one span and derive it.
		s := model.Span{TraceID: strings.Repeat("1", 32), SpanID: strings.Repeat("1", 16), StatusCode: model.StatusError}
		Deriver{}.DeriveSpan(&s, recs)
		if _, err := json.Marshal(recs); err != nil {
			t.Fatalf("records do not encode as JSON: %v", err)
		}
	})
}

// jsonAttrKeys are the attributes rules decode as JSON.
var jsonAttrKeys = []string{
	"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
	"gen_ai.retrieval.documents", "gen_ai.prompt", "gen_ai.completion", "llm.input_messages",
	"input.value", "output.value", "traceloop.entity.input", "traceloop.entity.output",
	"inputs", "output", "llm.generated_message", "langfuse.observation.input",
	"langfuse.observation.output", "langfuse.observation.usage_details",
	"langfuse.observation.cost_details", "langfuse.trace.input", "langfuse.trace.output",
	"gen_ai.response.finish_reasons", "gen_ai.tool.call.result",
}

func FuzzDeriveJSONAttr(f *testing.F) {
	f.Add(`[{"role":"user","parts":[{"type":"text","content":"hi"}]}]`)
	f.Add(`{"question": "q", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}`)
	f.Add(`{"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}}]}`)
	f.Add(`[{"content": "doc", "score": 0.5, "metadata": {"a": [1, 2, {"b": null}]}}]`)
	f.Add(`{"input": 10, "input_cached_tokens": 5, "output": 2, "total": 1e3}`)
	f.Add(`"\ud800\udc00 \u0000 text"`)
	f.Add(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`)
	f.Add(`{"args": ["a", 1], "kwargs": {"query": {"text": "nested"}}}`)
	f.Fuzz(func(t *testing.T, value string) {
		// Traces repairs invalid UTF-8 before deriving; do the same.
		value = strings.ToValidUTF8(value, "\uFFFD")
		attrs := map[string]any{"span_type": "Retrieval", "gen_ai.tool.type": "datastore"}
		for _, k := range jsonAttrKeys {
			attrs[k] = value
		}
		s := model.Span{TraceID: strings.Repeat("1", 32), SpanID: strings.Repeat("1", 16), Attributes: attrs}
		var d Deriver
		d.DeriveSpan(&s, nil)
		first := s.Derived
		if _, err := json.Marshal(first); err != nil {
			t.Fatalf("derived fields do not encode as JSON: %v", err)
		}
		d.DeriveSpan(&s, nil)
		if diff := cmp.Diff(first, s.Derived); diff != "" {
			t.Fatalf("derivation is not repeatable (-first +second):\n%s", diff)
		}
		s.Derived = model.Derived{}
		back := roundTripT(t, s)
		d.DeriveSpan(&back, nil)
		if diff := cmp.Diff(first, back.Derived); diff != "" {
			t.Fatalf("derived after a JSON round trip (-before +after):\n%s", diff)
		}
	})
}

// roundTripT is roundTrip for fuzz targets (which have no subtests).
func roundTripT(t *testing.T, s model.Span) model.Span {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out model.Span
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzDecodeJSON checks that decodeJSON accepts and rejects what
// encoding/json does, and decodes to the same values.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"a": [1, -2.5e3, true, false, null, "x\n\u00e9\ud83d\ude00"]}`, `[]`, `{}`, `""`, ` 0 `,
		`"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, "\"\xff\xfe\"", `01`, `1.`, `-`, `1e400`,
		`{"a":1,"a":2}`, `[1,]`, `{"a" 1}`, "\"\t\"", `"\q"`, `nul`, `[1] x`, `"\u12"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := decodeJSON(s)
		var want any
		err := json.Unmarshal([]byte(s), &want)
		if ok != (err == nil) {
			t.Fatalf("decodeJSON ok=%v, encoding/json err=%v", ok, err)
		}
		if ok && !cmp.Equal(want, got) {
			t.Fatalf("decoded differently:\n%s", cmp.Diff(want, got))
		}
	})
}

// FuzzModelAlias: a model alias is never longer than the name and is a
// prefix of it.
func FuzzModelAlias(f *testing.F) {
	for _, s := range []string{"gpt-4o-mini-2024-07-18", "claude-3-5-sonnet-20241022", "gpt-4-0613", "x@20240101", "-0101", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if a := ModelAlias(name); !strings.HasPrefix(name, a) || (a == "" && name != "") {
			t.Errorf("ModelAlias(%q) = %q, want a non-empty prefix", name, a)
		}
	})
}
