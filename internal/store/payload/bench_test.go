package payload

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// benchSpans returns the spans of one trace of the benchmark load (as in
// the sqlite package's BenchmarkWriteBatch: a flow root, a retrieval span
// and an LLM call with GenAI attributes, texts of about 1 KB), without the
// derived fields, which are not stored.
func benchSpans(r *rand.Rand) []model.Span {
	text := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			w := r.IntN(1000)
			b.WriteString(string(rune('a' + w%26)))
			b.WriteString(string(rune('a' + w/26%26)))
			b.WriteString(strconv.FormatInt(int64(w*2654435761%65521), 16))
		}
		return b.String()[:n]
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	question, answer, doc := text(200), text(1000), text(1000)
	input, _ := json.Marshal(map[string]any{"question": question, "chat_history": []any{}})
	output, _ := json.Marshal(map[string]any{"answer": answer})
	inMsgs, _ := json.Marshal([]any{
		map[string]any{"role": "system", "parts": []any{map[string]any{"type": "text", "content": "Answer from the context:\n" + doc}}},
		map[string]any{"role": "user", "parts": []any{map[string]any{"type": "text", "content": question}}},
	})
	outMsgs, _ := json.Marshal([]any{map[string]any{"role": "assistant", "finish_reason": "stop",
		"parts": []any{map[string]any{"type": "text", "content": answer}}}})
	resource := map[string]any{
		"service.name": "rag-bench", "deployment.name": "blue", "service.version": "1.4.2",
		"telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.38.0",
		"host.name": "bench-host",
	}
	scope := model.Scope{Name: "promptflow", Version: "1.17.0"}
	return []model.Span{
		{TraceID: "be000000000000000000000000000001", SpanID: "0000000000000004", Name: "flow", OTelKind: "internal",
			StartTime: start, EndTime: start.Add(1200 * time.Millisecond), StatusCode: model.StatusOK,
			ResourceAttributes: resource, Scope: scope,
			Attributes: map[string]any{"span_type": "Flow", "function": "flow", "inputs": string(input), "output": string(output),
				"session.id": "session-42", "user.id": "user-7", "framework": "promptflow"}},
		{TraceID: "be000000000000000000000000000001", SpanID: "0000000000000005", ParentSpanID: "0000000000000004",
			Name: "retrieve", OTelKind: "internal", StartTime: start.Add(10 * time.Millisecond),
			EndTime: start.Add(150 * time.Millisecond), StatusCode: model.StatusOK, ResourceAttributes: resource, Scope: scope,
			Attributes: map[string]any{"span_type": "Retrieval", "retrieval.query": question,
				"retrieval.documents.0.document.id": "doc-1", "retrieval.documents.0.document.content": doc,
				"retrieval.documents.0.document.score": 0.87}},
		{TraceID: "be000000000000000000000000000001", SpanID: "0000000000000006", ParentSpanID: "0000000000000004",
			Name: "chat gpt-4o", OTelKind: "client", StartTime: start.Add(160 * time.Millisecond),
			EndTime: start.Add(1190 * time.Millisecond), StatusCode: model.StatusOK, ResourceAttributes: resource, Scope: scope,
			Attributes: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "azure.ai.openai",
				"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
				"gen_ai.usage.input_tokens": int64(812), "gen_ai.usage.output_tokens": int64(245),
				"gen_ai.response.finish_reasons": []any{"stop"}, "gen_ai.request.temperature": 0.2,
				"gen_ai.input.messages": string(inMsgs), "gen_ai.output.messages": string(outMsgs)}},
	}
}

// BenchmarkSpan measures what ingest and reads spend per span on its
// payload: encoding and sealing it, and opening and decoding it again.
// stored-bytes/span is the size of the sealed blob.
func BenchmarkSpan(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var spans []model.Span
	for range 8 {
		spans = append(spans, benchSpans(r)...)
	}
	for _, comp := range []string{"s2", "zstd"} {
		c, err := NewCodec(comp, 1)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		blobs := make([][]byte, len(spans))
		var stored int
		for i := range spans {
			p, err := AppendSpan(nil, &spans[i])
			if err != nil {
				b.Fatal(err)
			}
			blobs[i] = c.Seal(p)
			stored += len(blobs[i])
		}
		b.Run("encode/"+comp, func(b *testing.B) {
			var buf []byte
			var err error
			for i := 0; b.Loop(); i++ {
				buf, err = AppendSpan(buf[:0], &spans[i%len(spans)])
				if err != nil {
					b.Fatal(err)
				}
				_ = c.Seal(buf)
			}
			b.ReportMetric(float64(stored)/float64(len(spans)), "stored-bytes/span")
		})
		b.Run("decode/"+comp, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				p, err := c.Open(blobs[i%len(blobs)])
				if err != nil {
					b.Fatal(err)
				}
				var sp model.Span
				if err := DecodeSpan(p, &sp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
