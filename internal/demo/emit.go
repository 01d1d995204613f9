package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// scope names the demo application's instrumentation.
const scope = "github.com/flowwatch/flowwatch/internal/demo"

// appVersion is the demo application's service.version.
const appVersion = "2.3.1"

// SenderOptions configure a Sender.
type SenderOptions struct {
	// HTTPEndpoint and GRPCEndpoint (host:port) are flowwatch's OTLP/HTTP
	// and OTLP/gRPC listeners.
	HTTPEndpoint, GRPCEndpoint string
	// BatchTimeout is how long spans wait to be exported with others
	// (default 1s).
	BatchTimeout time.Duration
}

// Sender is the demo application's OpenTelemetry instrumentation: one
// tracer provider of the OpenTelemetry Go SDK per deployment (its
// resource names the service and deployment), each exporting through a
// batch span processor to flowwatch, over OTLP/HTTP or OTLP/gRPC as the
// deployment's profile says.
type Sender struct {
	providers map[string]*sdktrace.TracerProvider
	tracers   map[string]trace.Tracer
	exporters []*countingExporter
	once      sync.Once
}

// NewSender builds the tracer providers of profiles.
func NewSender(ctx context.Context, o SenderOptions, profiles []Profile) (*Sender, error) {
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = time.Second
	}
	s := &Sender{providers: map[string]*sdktrace.TracerProvider{}, tracers: map[string]trace.Tracer{}}
	for _, p := range profiles {
		var (
			exp sdktrace.SpanExporter
			err error
		)
		switch p.Transport {
		case "grpc":
			exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(o.GRPCEndpoint), otlptracegrpc.WithInsecure(),
				otlptracegrpc.WithCompressor("gzip"), otlptracegrpc.WithTimeout(10*time.Second))
		default:
			exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(o.HTTPEndpoint), otlptracehttp.WithInsecure(),
				otlptracehttp.WithCompression(otlptracehttp.GzipCompression), otlptracehttp.WithTimeout(10*time.Second))
		}
		if err != nil {
			_ = s.Shutdown(context.Background())
			return nil, fmt.Errorf("OTLP exporter for %s: %w", p.Key(), err)
		}
		ce := &countingExporter{SpanExporter: exp}
		s.exporters = append(s.exporters, ce)
		attrs := []attribute.KeyValue{
			attribute.String("service.name", p.Service),
			attribute.String("service.version", appVersion),
			attribute.String("deployment.name", p.Deployment),
			attribute.String("deployment.environment.name", "production"),
		}
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithResource(resource.NewSchemaless(attrs...)),
			sdktrace.WithBatcher(ce, sdktrace.WithBlocking(), sdktrace.WithBatchTimeout(o.BatchTimeout),
				sdktrace.WithMaxQueueSize(8192), sdktrace.WithMaxExportBatchSize(512)),
		)
		s.providers[p.Key()] = tp
		s.tracers[p.Key()] = tp.Tracer(scope, trace.WithInstrumentationVersion(appVersion))
	}
	return s, nil
}

// Send records the spans of a request; the batch span processors export
// them.
func (s *Sender) Send(ctx context.Context, r Request) error {
	tr, ok := s.tracers[r.Profile.Key()]
	if !ok {
		return fmt.Errorf("no tracer for %s", r.Profile.Key())
	}
	emit(ctx, tr, r)
	return nil
}

// Flush exports every span recorded so far and returns the first export
// error since the last Flush.
func (s *Sender) Flush(ctx context.Context) error {
	var errs []error
	for key, tp := range s.providers {
		if err := tp.ForceFlush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("export the spans of %s: %w", key, err))
		}
	}
	for _, e := range s.exporters {
		if err := e.takeError(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Exported counts the spans flowwatch accepted, and those whose export
// failed.
func (s *Sender) Exported() (ok, failed int64) {
	for _, e := range s.exporters {
		ok += e.ok.Load()
		failed += e.failed.Load()
	}
	return ok, failed
}

// Shutdown exports what is left and stops the providers.
func (s *Sender) Shutdown(ctx context.Context) error {
	var errs []error
	s.once.Do(func() {
		for key, tp := range s.providers {
			if err := tp.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
			}
		}
		if len(s.providers) == 0 {
			for _, e := range s.exporters {
				_ = e.Shutdown(ctx)
			}
		}
	})
	return errors.Join(errs...)
}

// countingExporter counts what its exporter sent and keeps its first
// error, so that failures the batch span processor does not return
// (exports on its timer) are still reported.
type countingExporter struct {
	sdktrace.SpanExporter
	ok, failed atomic.Int64
	mu         sync.Mutex
	err        error
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.failed.Add(int64(len(spans)))
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
		return err
	}
	e.ok.Add(int64(len(spans)))
	return nil
}

func (e *countingExporter) takeError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.err
	e.err = nil
	return err
}

// emit records a request as the demo application's instrumentation
// would, following the OpenTelemetry GenAI conventions: a root span for
// the request (its input and output as JSON in input.value and
// output.value), an embeddings call, a retrieval with its documents and,
// for the assistant, a chat call with its messages and token usage.
// Failures end their span with an error status and an exception event.
func emit(ctx context.Context, tr trace.Tracer, r Request) {
	p := r.Profile
	at := r.Start
	workflow := "nimbus_answer"
	input := map[string]any{"question": r.Question}
	if p.ChatModel == "" {
		workflow = "nimbus_search"
		input = map[string]any{"query": r.Question}
	}
	ctx, root := tr.Start(ctx, "invoke_workflow "+workflow, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(at),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "invoke_workflow"),
			attribute.String("gen_ai.workflow.name", workflow),
			attribute.String("gen_ai.conversation.id", r.Session),
			attribute.String("user.id", r.User),
			attribute.String("http.request.method", "POST"),
			attribute.String("url.path", "/v1/"+workflow),
			attribute.String("input.value", jsonString(input)),
			attribute.String("input.mime_type", "application/json"),
		))
	at = at.Add(r.Before)

	// The question's embedding.
	_, emb := tr.Start(ctx, "embeddings "+EmbeddingModel, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(at),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "embeddings"),
			attribute.String("gen_ai.provider.name", provider),
			attribute.String("gen_ai.request.model", EmbeddingModel),
			attribute.String("gen_ai.response.model", EmbeddingModel),
			attribute.Int("gen_ai.embeddings.dimension.count", 1536),
			attribute.Int64("gen_ai.usage.input_tokens", r.EmbedTokens),
			attribute.String("server.address", "api.openai.com"),
		))
	at = at.Add(r.Embed)
	emb.End(trace.WithTimestamp(at))

	// The retrieval.
	_, ret := tr.Start(ctx, "retrieval nimbus-help-center", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(at),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "retrieval"),
			attribute.String("gen_ai.data_source.id", "nimbus-help-center"),
			attribute.String("gen_ai.retrieval.query.text", r.Question),
		))
	at = at.Add(r.Retrieve)
	if r.Failure == FailRetrieverTimeout {
		fail(ret, at, "timeout", "VectorStoreTimeout", "the nimbus-help-center index did not answer within 2s")
		ret.End(trace.WithTimestamp(at))
		at = at.Add(r.After)
		fail(root, at, "timeout", "RetrievalError", "retrieval failed: the nimbus-help-center index did not answer within 2s")
		root.End(trace.WithTimestamp(at))
		return
	}
	docs := make([]map[string]any, len(r.Hits))
	for i, h := range r.Hits {
		docs[i] = map[string]any{"id": h.Doc.ID, "title": h.Doc.Title, "content": h.Doc.Text, "score": round3(h.Score)}
	}
	ret.SetAttributes(attribute.String("gen_ai.retrieval.documents", jsonString(docs)))
	ret.End(trace.WithTimestamp(at))

	if p.ChatModel == "" {
		found := make([]map[string]any, len(r.Hits))
		for i, h := range r.Hits {
			found[i] = map[string]any{"id": h.Doc.ID, "title": h.Doc.Title, "score": round3(h.Score)}
		}
		at = at.Add(r.After)
		root.SetAttributes(attribute.String("output.value", jsonString(map[string]any{"documents": found})),
			attribute.String("output.mime_type", "application/json"))
		root.SetStatus(codes.Ok, "")
		root.End(trace.WithTimestamp(at))
		return
	}

	// The answer.
	user := userMessage(r.Question, r.Hits)
	_, chat := tr.Start(ctx, "chat "+p.ChatModel, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(at),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", provider),
			attribute.String("gen_ai.request.model", p.ChatModel),
			attribute.Float64("gen_ai.request.temperature", 0.2),
			attribute.Int("gen_ai.request.max_tokens", 400),
			attribute.Bool("gen_ai.request.stream", true),
			attribute.String("gen_ai.system_instructions", jsonString([]map[string]any{{"type": "text", "content": systemPrompt}})),
			attribute.String("gen_ai.input.messages", jsonString([]map[string]any{
				{"role": "user", "parts": []map[string]any{{"type": "text", "content": user}}},
			})),
			attribute.String("server.address", "api.openai.com"),
		))
	at = at.Add(r.Chat)
	switch r.Failure {
	case FailRateLimited:
		fail(chat, at, "429", "openai.RateLimitError",
			fmt.Sprintf("Error code: 429 - Rate limit reached for %s on tokens per min (TPM): Limit 200000, Used 199311, Requested %d. Please try again in 420ms.", p.ChatModel, r.InputTokens))
		chat.End(trace.WithTimestamp(at))
		at = at.Add(r.After)
		fail(root, at, "429", "AnswerError", "the model refused the call: rate limit reached")
		root.End(trace.WithTimestamp(at))
		return
	case FailChatTimeout:
		fail(chat, at, "timeout", "openai.APITimeoutError", "Request timed out after 10s.")
		chat.End(trace.WithTimestamp(at))
		at = at.Add(r.After)
		fail(root, at, "timeout", "AnswerError", "the model did not answer within 10s")
		root.End(trace.WithTimestamp(at))
		return
	}
	chat.SetAttributes(
		attribute.String("gen_ai.response.model", p.ResponseModel),
		attribute.String("gen_ai.response.id", r.ResponseID),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop"}),
		attribute.Float64("gen_ai.response.time_to_first_chunk", r.TTFT.Seconds()),
		attribute.Int64("gen_ai.usage.input_tokens", r.InputTokens),
		attribute.Int64("gen_ai.usage.output_tokens", r.OutputTokens),
		attribute.String("gen_ai.output.messages", jsonString([]map[string]any{
			{"role": "assistant", "parts": []map[string]any{{"type": "text", "content": r.Answer.Text}}, "finish_reason": "stop"},
		})),
	)
	chat.SetStatus(codes.Ok, "")
	chat.End(trace.WithTimestamp(at))
	at = at.Add(r.After)
	root.SetAttributes(attribute.String("output.value", jsonString(map[string]any{"answer": r.Answer.Text})),
		attribute.String("output.mime_type", "application/json"))
	root.SetStatus(codes.Ok, "")
	root.End(trace.WithTimestamp(at))
}

// fail marks a span failed at time at, with an exception event as the
// OpenTelemetry conventions describe it.
func fail(s trace.Span, at time.Time, errType, excType, msg string) {
	s.AddEvent("exception", trace.WithTimestamp(at), trace.WithAttributes(
		attribute.String("exception.type", excType),
		attribute.String("exception.message", msg),
	))
	s.SetAttributes(attribute.String("error.type", errType))
	s.SetStatus(codes.Error, msg)
}

// jsonString is v as JSON; v holds only strings, finite numbers, maps
// and slices, which always encode.
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func round3(f float64) float64 { return float64(int(f*1000+0.5)) / 1000 }
