package sqlite

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// The benchmark load: what `make bench-ingest` sends, as the store sees it
// after normalization. Each batch holds benchTraces traces of three spans
// (a flow root, a retrieval span and an LLM span with GenAI attributes)
// whose texts are about benchTextLen bytes.
const (
	benchTraces  = 100
	benchTextLen = 1000
	benchWriters = 8
)

// benchText returns n bytes of word salad from a vocabulary of a thousand
// words, so that it compresses roughly like prose.
func benchText(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		w := r.IntN(1000)
		b.WriteString(string(rune('a' + w%26)))
		b.WriteString(string(rune('a' + w/26%26)))
		b.WriteString(fmt.Sprintf("%x", w*2654435761%65521))
	}
	return b.String()[:n]
}

// benchTemplate builds one trace's spans with placeholder ids.
func benchTemplate(r *rand.Rand) []model.Span {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	question := benchText(r, 200)
	answer := benchText(r, benchTextLen)
	doc := benchText(r, benchTextLen)
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
	score := 0.87
	usage := model.Usage{Known: true, InputTokens: 812, OutputTokens: 245, TotalTokens: 1057}
	common := model.Derived{Service: "rag-bench", Deployment: "blue", Status: model.StatusOK, SessionID: "session-42", UserID: "user-7"}

	root := model.Span{Name: "flow", OTelKind: "internal", StartTime: start, EndTime: start.Add(1200 * time.Millisecond),
		StatusCode: model.StatusOK, ResourceAttributes: resource, Scope: scope,
		Attributes: map[string]any{"span_type": "Flow", "function": "flow", "inputs": string(input), "output": string(output),
			"session.id": "session-42", "user.id": "user-7", "framework": "promptflow"}}
	root.Derived = common
	root.Derived.Kind, root.Derived.Operation = model.KindChain, "flow"
	root.Derived.Question, root.Derived.Answer = question, answer
	root.Derived.Input, root.Derived.Output = string(input), string(output)

	ret := model.Span{Name: "retrieve", OTelKind: "internal", StartTime: start.Add(10 * time.Millisecond),
		EndTime: start.Add(150 * time.Millisecond), StatusCode: model.StatusOK, ResourceAttributes: resource, Scope: scope,
		Attributes: map[string]any{"span_type": "Retrieval", "retrieval.query": question,
			"retrieval.documents.0.document.id": "doc-1", "retrieval.documents.0.document.content": doc,
			"retrieval.documents.0.document.score": score}}
	ret.Derived = common
	ret.Derived.Kind, ret.Derived.Operation = model.KindRetriever, "retrieval"
	ret.Derived.Input = question
	ret.Derived.Context = []model.Document{{ID: "doc-1", Content: doc, Score: &score}}

	llm := model.Span{Name: "chat gpt-4o", OTelKind: "client", StartTime: start.Add(160 * time.Millisecond),
		EndTime: start.Add(1190 * time.Millisecond), StatusCode: model.StatusOK, ResourceAttributes: resource, Scope: scope,
		Attributes: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "azure.ai.openai",
			"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
			"gen_ai.usage.input_tokens": int64(812), "gen_ai.usage.output_tokens": int64(245),
			"gen_ai.response.finish_reasons": []any{"stop"}, "gen_ai.request.temperature": 0.2,
			"gen_ai.input.messages": string(inMsgs), "gen_ai.output.messages": string(outMsgs)}}
	llm.Derived = common
	llm.Derived.Kind, llm.Derived.Operation = model.KindLLM, "chat"
	llm.Derived.Model, llm.Derived.RequestModel, llm.Derived.ResponseModel = "gpt-4o-2024-08-06", "gpt-4o", "gpt-4o-2024-08-06"
	llm.Derived.Provider, llm.Derived.Usage = "azure.ai.openai", usage
	llm.Derived.SystemPrompt = "Answer from the context:\n" + doc
	llm.Derived.InputMessages = []model.Message{
		{Role: "system", Parts: []model.Part{{Type: "text", Content: llm.Derived.SystemPrompt}}},
		{Role: "user", Parts: []model.Part{{Type: "text", Content: question}}}}
	llm.Derived.OutputMessages = []model.Message{{Role: "assistant", FinishReason: "stop",
		Parts: []model.Part{{Type: "text", Content: answer}}}}
	llm.Derived.Question, llm.Derived.Answer = question, answer
	llm.Derived.FinishReasons = []string{"stop"}
	return []model.Span{root, ret, llm}
}

// benchBatches makes a batch source: each call returns a fresh batch of
// benchTraces new traces built from a few templates.
func benchBatches() func() model.Batch {
	r := rand.New(rand.NewPCG(1, 2))
	templates := make([][]model.Span, 16)
	for i := range templates {
		templates[i] = benchTemplate(r)
	}
	var next atomic.Uint64
	return func() model.Batch {
		spans := make([]model.Span, 0, benchTraces*3)
		for range benchTraces {
			n := next.Add(1)
			var id [16]byte
			for k := range 8 {
				id[15-k] = byte(n >> (8 * k))
			}
			id[0] = 0xbe
			traceID := hex.EncodeToString(id[:])
			tpl := templates[n%uint64(len(templates))]
			offset := time.Duration(n) * time.Millisecond
			for k, sp := range tpl {
				sp.TraceID = traceID
				sp.SpanID = fmt.Sprintf("%016x", n*4+uint64(k))
				if k > 0 {
					sp.ParentSpanID = fmt.Sprintf("%016x", n*4)
				}
				sp.StartTime = sp.StartTime.Add(offset)
				sp.EndTime = sp.EndTime.Add(offset)
				spans = append(spans, sp)
			}
		}
		return model.Batch{Spans: spans}
	}
}

// BenchmarkWriteBatch measures the store's ingest rate on the benchmark
// load with benchWriters concurrent writers, reported as spans/s.
func BenchmarkWriteBatch(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"zstd", Options{Compression: "zstd"}},
		{"synchronous=full", Options{Synchronous: "full"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			opts := tc.opts
			opts.Path, opts.Deriver = filepath.Join(dir, "bench.db"), storetest.Deriver{}
			s, err := Open(context.Background(), opts, nil)
			if err != nil {
				b.Fatal(err)
			}
			next := benchBatches()
			var spans atomic.Int64
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((benchWriters + procs - 1) / procs)
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					batch := next()
					res, err := s.WriteBatch(context.Background(), batch)
					if err != nil {
						b.Error(err)
						return
					}
					spans.Add(int64(res.SpansWritten))
				}
			})
			b.StopTimer()
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(spans.Load())/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(0, "ns/op")
			if n := spans.Load(); n > 0 {
				// CPU time of the whole process per span: less noisy than
				// spans/s on a shared machine.
				b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/span")
			}
			closeStart := time.Now()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(time.Since(closeStart).Milliseconds()), "close-ms")
			if fi, err := os.Stat(filepath.Join(dir, "bench.db")); err == nil && spans.Load() > 0 {
				b.ReportMetric(float64(fi.Size())/float64(spans.Load()), "db-bytes/span")
			}
		})
	}
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkListTraces measures trace searches on a store holding
// benchQueryTraces traces of the benchmark load.
func BenchmarkListTraces(b *testing.B) {
	const benchQueryTraces = 20000
	s, err := Open(context.Background(), Options{Path: filepath.Join(b.TempDir(), "q.db"), Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	next := benchBatches()
	for range benchQueryTraces / benchTraces {
		if _, err := s.WriteBatch(context.Background(), next()); err != nil {
			b.Fatal(err)
		}
	}
	first := next().Spans[0]
	word := strings.Fields(first.Derived.Question)[0] // in one trace in 16
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		q    store.TraceQuery
	}{
		{"newest", store.TraceQuery{}},
		{"service", store.TraceQuery{Service: "rag-bench", Deployment: "blue"}},
		{"model", store.TraceQuery{Model: "gpt-4o-2024-08-06"}},
		{"errors (none)", store.TraceQuery{Status: model.StatusError}},
		{"time window", store.TraceQuery{Since: start.Add(5 * time.Second), Until: start.Add(6 * time.Second)}},
		{"min duration (none)", store.TraceQuery{MinDuration: time.Hour}},
		{"text", store.TraceQuery{Text: word}},
		{"text rare", store.TraceQuery{Text: word, Since: start.Add(5 * time.Second), Until: start.Add(6 * time.Second)}},
		{"text prefix", store.TraceQuery{Text: word[:3]}},
		{"text no match", store.TraceQuery{Text: "zzzzzz"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.ListTraces(context.Background(), tc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("get trace", func(b *testing.B) {
		page, err := s.ListTraces(context.Background(), store.TraceQuery{Limit: 100})
		if err != nil || len(page.Traces) == 0 {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			if _, err := s.GetTrace(context.Background(), page.Traces[i%len(page.Traces)].TraceID); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
