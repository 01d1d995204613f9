package normalize

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/model"
)

// benchText returns n bytes of prose-like text.
func benchText(seed string, n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(seed)
		b.WriteString(" lorem ipsum dolor sit amet, consectetur adipiscing elit. ")
	}
	return b.String()[:n]
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// benchTraces builds the ingest benchmark's load: traces × 3 spans (a
// promptflow flow root, an OpenInference retrieval span with 3 documents,
// an OTel GenAI chat span), text fields of 1,000 bytes.
func benchTraces(traces int) ptrace.Traces {
	question := benchText("question", 1000)
	answer := benchText("answer", 1000)
	doc := benchText("document", 1000)
	inputs := mustJSON(map[string]any{"question": question, "chat_history": []any{}})
	output := mustJSON(map[string]any{"answer": answer})
	inMsgs := mustJSON([]any{
		map[string]any{"role": "system", "parts": []any{map[string]any{"type": "text", "content": benchText("system", 1000)}}},
		map[string]any{"role": "user", "parts": []any{map[string]any{"type": "text", "content": question}}},
	})
	outMsgs := mustJSON([]any{map[string]any{
		"role": "assistant", "finish_reason": "stop",
		"parts": []any{map[string]any{"type": "text", "content": answer}},
	}})

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "rag-1234-endpoint")
	rs.Resource().Attributes().PutStr("deployment.name", "rag-1234-deployment")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("bench")
	start := pcommon.Timestamp(1736935200000000000)
	for i := 0; i < traces; i++ {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[8:], uint64(i+1))
		sid := func(n int) pcommon.SpanID {
			var s pcommon.SpanID
			binary.BigEndian.PutUint64(s[:], uint64(i*3+n+1))
			return s
		}

		root := ss.Spans().AppendEmpty()
		root.SetTraceID(tid)
		root.SetSpanID(sid(0))
		root.SetName("flow")
		root.SetStartTimestamp(start)
		root.SetEndTimestamp(start + 2e9)
		a := root.Attributes()
		a.PutStr("framework", "promptflow")
		a.PutStr("span_type", "Flow")
		a.PutStr("function", "flow")
		a.PutStr("inputs", inputs)
		a.PutStr("output", output)
		a.PutInt("__computed__.cumulative_token_count.total", 700)

		ret := ss.Spans().AppendEmpty()
		ret.SetTraceID(tid)
		ret.SetSpanID(sid(1))
		ret.SetParentSpanID(sid(0))
		ret.SetName("retrieve")
		ret.SetStartTimestamp(start + 1e8)
		ret.SetEndTimestamp(start + 3e8)
		a = ret.Attributes()
		a.PutStr("openinference.span.kind", "RETRIEVER")
		a.PutStr("input.value", question)
		for d := 0; d < 3; d++ {
			p := "retrieval.documents." + string(rune('0'+d)) + ".document."
			a.PutStr(p+"id", "doc-"+string(rune('0'+d)))
			a.PutStr(p+"content", doc)
			a.PutDouble(p+"score", 0.9-float64(d)/10)
		}

		llm := ss.Spans().AppendEmpty()
		llm.SetTraceID(tid)
		llm.SetSpanID(sid(2))
		llm.SetParentSpanID(sid(0))
		llm.SetName("chat gpt-4o")
		llm.SetKind(ptrace.SpanKindClient)
		llm.SetStartTimestamp(start + 4e8)
		llm.SetEndTimestamp(start + 19e8)
		a = llm.Attributes()
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutStr("gen_ai.provider.name", "openai")
		a.PutStr("gen_ai.request.model", "gpt-4o")
		a.PutStr("gen_ai.response.model", "gpt-4o-2024-08-06")
		a.PutInt("gen_ai.usage.input_tokens", 650)
		a.PutInt("gen_ai.usage.output_tokens", 50)
		a.PutStr("gen_ai.input.messages", inMsgs)
		a.PutStr("gen_ai.output.messages", outMsgs)
		a.PutStr("gen_ai.response.finish_reasons", "stop")
		start += 3e9
	}
	return td
}

// cpuTime is the process's user and system CPU time so far. On a shared
// machine it is a steadier measure than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTraces measures normalization of the ingest benchmark's
// requests (100 traces × 3 spans) and reports ns/span.
func BenchmarkTraces(b *testing.B) {
	td := benchTraces(100)
	n := td.SpanCount()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		spans, rep := Traces(td, Limits{})
		if len(spans) != n || rep.Rejected != 0 {
			b.Fatalf("got %d spans, %+v", len(spans), rep)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/span")
}

// BenchmarkDeriveSpan measures re-derivation alone (what the store does
// when log records arrive).
func BenchmarkDeriveSpan(b *testing.B) {
	spans, _ := Traces(benchTraces(1), Limits{})
	var d Deriver
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range spans {
			d.DeriveSpan(&spans[i], nil)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
}

// BenchmarkSummarize measures one trace summary of the benchmark's shape.
func BenchmarkSummarize(b *testing.B) {
	spans, _ := Traces(benchTraces(1), Limits{})
	var d Deriver
	var tr model.Trace
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tr = d.Summarize(spans)
	}
	if tr.Question == "" || len(tr.Context) != 3 || tr.Usage.TotalTokens != 700 {
		b.Fatalf("unexpected summary %+v", tr)
	}
}
