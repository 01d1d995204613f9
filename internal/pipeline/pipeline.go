// Package pipeline is flowwatch's write path: it turns decoded OTLP batches
// into model spans and log records (normalize), writes them durably
// (store), and reports what was rejected. It satisfies ingest.Consumer.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/ingest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Options configures a Pipeline.
type Options struct {
	// Writer receives normalized batches; it returns after commit.
	Writer store.Writer
	// Limits bound what one span may carry.
	Limits normalize.Limits
	// Deriver computes spans' derived fields (the zero value prices
	// nothing); it should be the store's.
	Deriver normalize.Deriver
	// Redactor, when set, removes secrets from each batch in place
	// before it is normalized (internal/redact).
	Redactor Redactor
}

// Redactor rewrites batches in place before anything is derived from them.
type Redactor interface {
	Traces(ptrace.Traces)
	Logs(plog.Logs)
}

// Pipeline normalizes and writes batches.
type Pipeline struct {
	w       store.Writer
	limits  normalize.Limits
	deriver normalize.Deriver
	log     *slog.Logger
	redact  Redactor
	// screening checks spans' times, ids and names (screen.go).
	screening screening
	// truncated counts values cut to Limits.MaxValueBytes.
	truncated atomic.Int64
}

// Truncated counts the values cut to the value cap
// (normalize.Limits.MaxValueBytes) since New.
func (p *Pipeline) Truncated() int64 { return p.truncated.Load() }

// New returns a Pipeline.
func New(opts Options, logger *slog.Logger) (*Pipeline, error) {
	if opts.Writer == nil {
		return nil, errors.New("pipeline: Options.Writer is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{w: opts.Writer, limits: opts.Limits, deriver: opts.Deriver, redact: opts.Redactor, log: logger.With("component", "pipeline")}, nil
}

// ConsumeTraces normalizes and durably writes a traces batch.
func (p *Pipeline) ConsumeTraces(ctx context.Context, td ptrace.Traces) (ingest.Result, error) {
	if p.redact != nil {
		p.redact.Traces(td)
	}
	spans, rep := p.deriver.Traces(td, p.limits)
	spans = p.screening.screen(spans, &rep)
	p.truncated.Add(rep.Truncated)
	if len(spans) > 0 {
		if _, err := p.w.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
			return ingest.Result{}, writeError(err, len(spans), "spans")
		}
	}
	return ingest.Result{Rejected: rep.Rejected, Message: rep.Message()}, nil
}

// ConsumeLogs normalizes and durably writes a logs batch. Only records
// attached to spans are kept; the rest are reported as rejected.
func (p *Pipeline) ConsumeLogs(ctx context.Context, ld plog.Logs) (ingest.Result, error) {
	if p.redact != nil {
		p.redact.Logs(ld)
	}
	logs, rep := normalize.Logs(ld, p.limits)
	p.truncated.Add(rep.Truncated)
	if len(logs) > 0 {
		if _, err := p.w.WriteBatch(ctx, model.Batch{Logs: logs}); err != nil {
			return ingest.Result{}, writeError(err, len(logs), "log records")
		}
	}
	return ingest.Result{Rejected: rep.Rejected, Message: rep.Message()}, nil
}

// writeError classifies a store failure for the edge: a closed store, a
// store that cannot write now (disk full, read-only) or a cancelled
// request is retryable (503), anything else is an internal error.
func writeError(err error, n int, what string) error {
	switch {
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrUnwritable),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("write %d %s: %w: %w", n, what, ingest.ErrUnavailable, err)
	default:
		return fmt.Errorf("write %d %s: %w", n, what, err)
	}
}
