// Package ingest is flowwatch's OTLP edge: OTLP/HTTP (/v1/traces, /v1/logs,
// protobuf and JSON, gzip) and OTLP/gRPC (TraceService, LogsService). It
// decodes, enforces limits, maps outcomes to the status codes of the OTLP
// specification, and hands decoded batches to a Consumer.
package ingest

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Result is a consumer's account of a batch it accepted. A non-zero
// Rejected becomes the response's partial_success.
type Result struct {
	Rejected int64
	// Message says why items were rejected (shown to the exporter).
	Message string
}

// Consumer takes decoded batches. It returns only after the accepted part
// of the batch is durably committed.
type Consumer interface {
	ConsumeTraces(ctx context.Context, td ptrace.Traces) (Result, error)
	ConsumeLogs(ctx context.Context, ld plog.Logs) (Result, error)
}

// ErrOverloaded is wrapped by consumers that refuse a batch because they are
// at capacity; the exporter is told to retry later (429 / RESOURCE_EXHAUSTED
// with Retry-After).
var ErrOverloaded = errors.New("overloaded")

// ErrUnavailable is wrapped by consumers that cannot take data right now
// (store down, shutting down); the exporter is told to retry (503 /
// UNAVAILABLE).
var ErrUnavailable = errors.New("unavailable")
