// Package otlptest sends traces to flowwatch in tests through the real
// OpenTelemetry Go SDK exporters (OTLP/HTTP protobuf and OTLP/gRPC), the
// clients applications use.
package otlptest

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// RAG describes one request of a retrieval-augmented chat app.
type RAG struct {
	Service, Deployment string
	Question, Answer    string
	Documents           []string
	Model               string
	InputTokens         int64
	OutputTokens        int64
	Start               time.Time
	Duration            time.Duration
	Failed              bool
}

// NewIDs returns a random trace id and n random span ids.
func NewIDs(n int) (trace.TraceID, []trace.SpanID) {
	var tid trace.TraceID
	_, _ = rand.Read(tid[:])
	sids := make([]trace.SpanID, n)
	for i := range sids {
		_, _ = rand.Read(sids[i][:])
	}
	return tid, sids
}

// Spans builds the request as three spans: a promptflow flow root with
// inputs/output JSON, an OpenInference retriever span with documents, and
// an OTel GenAI chat span with usage and messages.
func (r RAG) Spans() tracetest.SpanStubs {
	tid, sids := NewIDs(3)
	if r.Start.IsZero() {
		r.Start = time.Now().Add(-time.Second)
	}
	if r.Duration == 0 {
		r.Duration = 800 * time.Millisecond
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", r.Service)}
	if r.Deployment != "" {
		attrs = append(attrs, attribute.String("deployment.name", r.Deployment))
	}
	res := resource.NewSchemaless(attrs...)
	scope := instrumentation.Scope{Name: "flowwatch.otlptest", Version: "1"}
	sc := func(i int) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sids[i], TraceFlags: trace.FlagsSampled})
	}
	status := sdktrace.Status{Code: codes.Ok}
	if r.Failed {
		status = sdktrace.Status{Code: codes.Error, Description: "upstream timeout"}
	}
	root := tracetest.SpanStub{
		Name: "chat_flow", SpanContext: sc(0), SpanKind: trace.SpanKindServer,
		StartTime: r.Start, EndTime: r.Start.Add(r.Duration), Status: status,
		Attributes: []attribute.KeyValue{
			attribute.String("span_type", "Flow"),
			attribute.String("framework", "promptflow"),
			attribute.String("inputs", fmt.Sprintf(`{"question": %q}`, r.Question)),
			attribute.String("output", fmt.Sprintf(`{"answer": %q}`, r.Answer)),
		},
		Resource: res, InstrumentationScope: scope,
	}
	retAttrs := []attribute.KeyValue{
		attribute.String("openinference.span.kind", "RETRIEVER"),
		attribute.String("input.value", r.Question),
	}
	for i, d := range r.Documents {
		retAttrs = append(retAttrs,
			attribute.String(fmt.Sprintf("retrieval.documents.%d.document.id", i), fmt.Sprintf("doc-%d", i)),
			attribute.String(fmt.Sprintf("retrieval.documents.%d.document.content", i), d),
			attribute.Float64(fmt.Sprintf("retrieval.documents.%d.document.score", i), 0.9-float64(i)/10))
	}
	ret := tracetest.SpanStub{
		Name: "retrieve", SpanContext: sc(1), Parent: sc(0), SpanKind: trace.SpanKindInternal,
		StartTime: r.Start.Add(r.Duration / 10), EndTime: r.Start.Add(r.Duration / 5),
		Attributes: retAttrs, Resource: res, InstrumentationScope: scope,
	}
	llm := tracetest.SpanStub{
		Name: "chat " + r.Model, SpanContext: sc(2), Parent: sc(0), SpanKind: trace.SpanKindClient,
		StartTime: r.Start.Add(r.Duration / 4), EndTime: r.Start.Add(r.Duration * 9 / 10),
		Attributes: []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", r.Model),
			attribute.Int64("gen_ai.usage.input_tokens", r.InputTokens),
			attribute.Int64("gen_ai.usage.output_tokens", r.OutputTokens),
			attribute.String("gen_ai.input.messages", fmt.Sprintf(`[{"role":"user","parts":[{"type":"text","content":%q}]}]`, r.Question)),
			attribute.String("gen_ai.output.messages", fmt.Sprintf(`[{"role":"assistant","parts":[{"type":"text","content":%q}],"finish_reason":"stop"}]`, r.Answer)),
		},
		Resource: res, InstrumentationScope: scope,
	}
	return tracetest.SpanStubs{root, ret, llm}
}

// ExportHTTP sends spans with the SDK's OTLP/HTTP protobuf exporter to
// endpoint (host:port) and returns its result: nil means the server
// answered success.
func ExportHTTP(ctx context.Context, endpoint string, spans tracetest.SpanStubs, gzip bool) error {
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure(),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}
	if gzip {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	return exp.ExportSpans(ctx, spans.Snapshots())
}

// ExportGRPC sends spans with the SDK's OTLP/gRPC exporter (gzip) to
// endpoint (host:port).
func ExportGRPC(ctx context.Context, endpoint string, spans tracetest.SpanStubs) error {
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithCompressor("gzip"), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	return exp.ExportSpans(ctx, spans.Snapshots())
}
