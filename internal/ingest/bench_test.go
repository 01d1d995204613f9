package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// discardConsumer accepts everything and keeps nothing.
type discardConsumer struct{}

func (discardConsumer) ConsumeTraces(context.Context, ptrace.Traces) (Result, error) {
	return Result{}, nil
}
func (discardConsumer) ConsumeLogs(context.Context, plog.Logs) (Result, error) { return Result{}, nil }

// benchTraces is the load shape of the ingest benchmark: 100 traces of a
// flow root, a retrieval span and an LLM span, with 1,000-byte texts.
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "rag-app")
	ss := rs.ScopeSpans().AppendEmpty()
	text := strings.Repeat("lorem ipsum ", 84)[:1000]
	for i := range 100 {
		tid := pcommon.TraceID{byte(i), 1, 2, 3}
		for j, name := range []string{"flow", "retrieve", "chat gpt-4o"} {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(pcommon.SpanID{byte(i), byte(j + 1)})
			if j > 0 {
				sp.SetParentSpanID(pcommon.SpanID{byte(i), 1})
			}
			sp.SetName(name)
			a := sp.Attributes()
			a.PutStr("input.value", text)
			a.PutStr("output.value", text)
			a.PutStr("gen_ai.request.model", "gpt-4o")
			a.PutInt("gen_ai.usage.input_tokens", 1000)
			a.PutInt("gen_ai.usage.output_tokens", 100)
			a.PutStr("session.id", fmt.Sprintf("s-%d", i))
		}
	}
	return td
}

// BenchmarkHTTPTraces measures the handler alone (decode, repair, respond)
// on the benchmark's request shape.
func BenchmarkHTTPTraces(b *testing.B) {
	for _, tc := range []struct {
		name    string
		encode  func(testing.TB, ptrace.Traces) []byte
		ct, enc string
	}{
		{"protobuf", tracesProto, contentTypeProto, ""},
		{"protobuf gzip", func(t testing.TB, td ptrace.Traces) []byte { return gzipBytes(t, tracesProto(t, td)) }, contentTypeProto, "gzip"},
		{"json", tracesJSON, contentTypeJSON, ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := New(Options{Consumer: discardConsumer{}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			mux := http.NewServeMux()
			r.RegisterHTTP(mux)
			body := tc.encode(b, benchTraces())
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, PathTraces, bytes.NewReader(body))
				req.Header.Set("Content-Type", tc.ct)
				if tc.enc != "" {
					req.Header.Set("Content-Encoding", tc.enc)
				}
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(300*b.N)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}

// BenchmarkRepairTraces measures the UTF-8 check on valid data, the cost
// every export pays.
func BenchmarkRepairTraces(b *testing.B) {
	td := benchTraces()
	b.ReportAllocs()
	for b.Loop() {
		if n := repairTraces(td); n != 0 {
			b.Fatal(n)
		}
	}
}
