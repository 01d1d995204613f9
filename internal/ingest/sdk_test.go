package ingest

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The spans the SDK exporters send in the tests, and what the consumer must
// receive for them, written out independently.
const (
	sdkTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	sdkRootID  = "00f067aa0ba902b7"
	sdkLLMID   = "00f067aa0ba902b8"
	sdkLinkID  = "1111111111111111"
)

var sdkStart = time.Date(2025, 11, 20, 10, 0, 0, 123456789, time.UTC)

func mustTraceID(s string) trace.TraceID {
	id, err := trace.TraceIDFromHex(s)
	if err != nil {
		panic(err)
	}
	return id
}

func mustSpanID(s string) trace.SpanID {
	id, err := trace.SpanIDFromHex(s)
	if err != nil {
		panic(err)
	}
	return id
}

// sdkSpans returns a flow root span and an LLM child span with GenAI
// attributes, an event, a link and an error status.
func sdkSpans() tracetest.SpanStubs {
	res := resource.NewSchemaless(
		attribute.String("service.name", "rag-app"),
		attribute.String("deployment.name", "rag-prod"),
	)
	scope := instrumentation.Scope{Name: "flowwatch/ingest-test", Version: "1.2.3"}
	tid := mustTraceID(sdkTraceID)
	rootSC := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: mustSpanID(sdkRootID), TraceFlags: trace.FlagsSampled,
	})
	llmSC := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: mustSpanID(sdkLLMID), TraceFlags: trace.FlagsSampled,
	})
	linkSC := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: mustSpanID(sdkLinkID), TraceFlags: trace.FlagsSampled,
	})
	return tracetest.SpanStubs{
		{
			Name:        "flow",
			SpanContext: rootSC,
			SpanKind:    trace.SpanKindServer,
			StartTime:   sdkStart,
			EndTime:     sdkStart.Add(1500 * time.Millisecond),
			Attributes: []attribute.KeyValue{
				attribute.String("span_type", "Flow"),
				attribute.String("inputs", `{"question":"What is OTLP?"}`),
				attribute.Bool("cached", false),
			},
			Status:               sdktrace.Status{Code: otelcodes.Ok},
			Resource:             res,
			InstrumentationScope: scope,
		},
		{
			Name:        "chat gpt-4o",
			SpanContext: llmSC,
			Parent:      rootSC,
			SpanKind:    trace.SpanKindClient,
			StartTime:   sdkStart.Add(100 * time.Millisecond),
			EndTime:     sdkStart.Add(1400 * time.Millisecond),
			Attributes: []attribute.KeyValue{
				attribute.String("gen_ai.operation.name", "chat"),
				attribute.String("gen_ai.request.model", "gpt-4o"),
				attribute.Int64("gen_ai.usage.input_tokens", 1234),
				attribute.Int64("gen_ai.usage.output_tokens", 56),
				attribute.Float64("gen_ai.request.temperature", 0.25),
				attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop", "length"}),
				attribute.Int64Slice("ids", []int64{1, 2, 3}),
				attribute.String("text", "naïve café ☕ 日本語"),
			},
			Events: []sdktrace.Event{{
				Name:       "gen_ai.choice",
				Time:       sdkStart.Add(1300 * time.Millisecond),
				Attributes: []attribute.KeyValue{attribute.Int("index", 0)},
			}},
			Links: []sdktrace.Link{{
				SpanContext: linkSC,
				Attributes:  []attribute.KeyValue{attribute.String("link.kind", "retry")},
			}},
			Status:               sdktrace.Status{Code: otelcodes.Error, Description: "rate limited"},
			Resource:             res,
			InstrumentationScope: scope,
		},
	}
}

// sdkWant is what the consumer must receive for sdkSpans, sorted by span id.
func sdkWant() []flatSpan {
	resource := map[string]any{"service.name": "rag-app", "deployment.name": "rag-prod"}
	ts := func(d time.Duration) string { return sdkStart.Add(d).Format(time.RFC3339Nano) }
	return []flatSpan{
		{
			Resource: resource, Scope: "flowwatch/ingest-test", ScopeVersion: "1.2.3",
			TraceID: sdkTraceID, SpanID: sdkRootID,
			Name: "flow", Kind: "Server", Start: ts(0), End: ts(1500 * time.Millisecond),
			Attributes: map[string]any{
				"span_type": "Flow",
				"inputs":    `{"question":"What is OTLP?"}`,
				"cached":    false,
			},
			StatusCode: "Ok",
		},
		{
			Resource: resource, Scope: "flowwatch/ingest-test", ScopeVersion: "1.2.3",
			TraceID: sdkTraceID, SpanID: sdkLLMID, ParentSpanID: sdkRootID,
			Name: "chat gpt-4o", Kind: "Client", Start: ts(100 * time.Millisecond), End: ts(1400 * time.Millisecond),
			Attributes: map[string]any{
				"gen_ai.operation.name":          "chat",
				"gen_ai.request.model":           "gpt-4o",
				"gen_ai.usage.input_tokens":      int64(1234),
				"gen_ai.usage.output_tokens":     int64(56),
				"gen_ai.request.temperature":     0.25,
				"gen_ai.response.finish_reasons": []any{"stop", "length"},
				"ids":                            []any{int64(1), int64(2), int64(3)},
				"text":                           "naïve café ☕ 日本語",
			},
			StatusCode: "Error", StatusMessage: "rate limited",
			Events: []flatEvent{{Name: "gen_ai.choice", Time: ts(1300 * time.Millisecond), Attributes: map[string]any{"index": int64(0)}}},
			Links:  []flatLink{{TraceID: sdkTraceID, SpanID: sdkLinkID, Attributes: map[string]any{"link.kind": "retry"}}},
		},
	}
}
