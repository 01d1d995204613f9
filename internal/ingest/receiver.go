package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// DefaultMaxBodyBytes is the default limit on an OTLP/HTTP request body,
// applied both to the bytes on the wire and to the decompressed body.
const DefaultMaxBodyBytes = 16 << 20

// DefaultBodyTimeout is the default time an OTLP/HTTP body has to arrive,
// from when its headers are read: the export timeout of the OpenTelemetry
// SDKs (OTEL_EXPORTER_OTLP_TIMEOUT), after which the exporter has given up
// anyway.
const DefaultBodyTimeout = 10 * time.Second

// DefaultBodyMemoryBytes is the default budget for OTLP/HTTP bodies held
// in memory at once, from their first byte until they are decoded.
const DefaultBodyMemoryBytes = 256 << 20

// DefaultRetryAfter is the default delay an exporter is asked to wait before
// retrying a refused export.
const DefaultRetryAfter = time.Second

// Options configure a Receiver.
type Options struct {
	// Consumer takes the decoded batches. Required.
	Consumer Consumer
	// MaxBodyBytes limits an OTLP/HTTP body, before and after
	// decompression; larger bodies get 413. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Gate admits requests whose body has fully arrived to decoding and
	// the consumer (nil admits all). Taking the slot only then means a
	// slow client never holds one.
	Gate Gate
	// BodyTimeout bounds the time an OTLP/HTTP body has to arrive, from
	// when the handler starts reading it; a body still incomplete then is
	// answered 408 and its connection closed. Zero means
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
	// BodyMemoryBytes bounds the bytes of OTLP/HTTP bodies held in memory
	// at once, from their first byte until they are decoded (decompressed
	// size for gzip bodies); a body that would exceed it is refused with
	// 429. Zero means DefaultBodyMemoryBytes; it is raised to MaxBodyBytes
	// if smaller, so that one largest body always fits.
	BodyMemoryBytes int64
	// RetryAfter is the delay sent with 429/503 (Retry-After) and with
	// RESOURCE_EXHAUSTED/UNAVAILABLE (RetryInfo). Zero means
	// DefaultRetryAfter; it is rounded up to whole seconds for HTTP.
	RetryAfter time.Duration
}

// Receiver is flowwatch's OTLP edge. It decodes OTLP/HTTP and OTLP/gRPC
// exports, enforces the body limit, hands the batches to the Consumer and
// answers with the status codes of the OTLP specification. It is safe for
// concurrent use.
type Receiver struct {
	consumer    Consumer
	gate        Gate
	maxBody     int64
	bodyTimeout time.Duration
	budget      bodyBudget
	retryAfter  time.Duration
	log         *slog.Logger
	counters    counters
}

// New returns a Receiver. A nil logger discards logs.
func New(opts Options, logger *slog.Logger) (*Receiver, error) {
	if opts.Consumer == nil {
		return nil, errors.New("ingest: Options.Consumer is required")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("ingest: Options.MaxBodyBytes must not be negative, got %d", opts.MaxBodyBytes)
	}
	if opts.RetryAfter < 0 {
		return nil, fmt.Errorf("ingest: Options.RetryAfter must not be negative, got %s", opts.RetryAfter)
	}
	if opts.BodyTimeout < 0 || opts.BodyMemoryBytes < 0 {
		return nil, fmt.Errorf("ingest: Options.BodyTimeout and BodyMemoryBytes must not be negative, got %s and %d", opts.BodyTimeout, opts.BodyMemoryBytes)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.BodyTimeout == 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.BodyMemoryBytes == 0 {
		opts.BodyMemoryBytes = DefaultBodyMemoryBytes
	}
	// One largest body, grown to limit+1 bytes to see its end, must fit.
	opts.BodyMemoryBytes = max(opts.BodyMemoryBytes, opts.MaxBodyBytes+1)
	if opts.Gate == nil {
		opts.Gate = openGate{}
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Receiver{
		consumer:    opts.Consumer,
		gate:        opts.Gate,
		maxBody:     opts.MaxBodyBytes,
		bodyTimeout: opts.BodyTimeout,
		retryAfter:  opts.RetryAfter,
		log:         logger.With("component", "ingest"),
	}
	r.budget.limit = opts.BodyMemoryBytes
	return r, nil
}

// openGate admits every request.
type openGate struct{}

func (openGate) Acquire(context.Context) bool { return true }
func (openGate) Release()                     {}

// BodyMemory reports the bytes of OTLP/HTTP bodies held in memory now and
// the budget for them (Options.BodyMemoryBytes).
func (r *Receiver) BodyMemory() (used, limit int64) { return r.budget.Used(), r.budget.limit }

// Stats is a snapshot of a Receiver's counters since New, meant to feed
// metrics later.
type Stats struct {
	// AcceptedSpans and AcceptedLogRecords were committed by the consumer.
	AcceptedSpans      int64
	AcceptedLogRecords int64
	// RejectedSpans and RejectedLogRecords were turned down by the consumer
	// inside an otherwise accepted export (partial success); the exporter
	// does not retry them.
	RejectedSpans      int64
	RejectedLogRecords int64
	// RefusedSpans and RefusedLogRecords were decoded but the whole export
	// was refused (overload, unavailable, internal error); the exporter
	// may retry them.
	RefusedSpans      int64
	RefusedLogRecords int64
	// RepairedStrings counts strings whose invalid UTF-8 was replaced with
	// U+FFFD before the batch reached the consumer.
	RepairedStrings int64
	// Refused counts refused requests by reason.
	Refused RefusedRequests
}

// RefusedRequests counts refused export requests by reason.
type RefusedRequests struct {
	MethodNotAllowed     int64 // 405
	UnsupportedMediaType int64 // 415: content type or content encoding
	TooLarge             int64 // 413 (gRPC's receive limit is enforced by grpc-go, uncounted here)
	BadData              int64 // 400: undecodable body (gRPC decoding happens in grpc-go, uncounted here)
	Timeout              int64 // 408: the body did not arrive within the body timeout
	Overloaded           int64 // 429 / RESOURCE_EXHAUSTED: the consumer at capacity, or the body memory budget spent
	Unavailable          int64 // 503 / UNAVAILABLE, including canceled requests
	Internal             int64 // 500 / INTERNAL
}

// Stats returns the counters. Each field is read atomically; the snapshot
// as a whole is not.
func (r *Receiver) Stats() Stats {
	c := &r.counters
	return Stats{
		AcceptedSpans:      c.acceptedSpans.Load(),
		AcceptedLogRecords: c.acceptedLogs.Load(),
		RejectedSpans:      c.rejectedSpans.Load(),
		RejectedLogRecords: c.rejectedLogs.Load(),
		RefusedSpans:       c.refusedSpans.Load(),
		RefusedLogRecords:  c.refusedLogs.Load(),
		RepairedStrings:    c.repairedStrings.Load(),
		Refused: RefusedRequests{
			MethodNotAllowed:     c.refused[reasonMethod].Load(),
			UnsupportedMediaType: c.refused[reasonMediaType].Load(),
			TooLarge:             c.refused[reasonTooLarge].Load(),
			BadData:              c.refused[reasonBadData].Load(),
			Timeout:              c.refused[reasonTimeout].Load(),
			Overloaded:           c.refused[reasonOverloaded].Load(),
			Unavailable:          c.refused[reasonUnavailable].Load(),
			Internal:             c.refused[reasonInternal].Load(),
		},
	}
}

type counters struct {
	acceptedSpans, acceptedLogs atomic.Int64
	rejectedSpans, rejectedLogs atomic.Int64
	refusedSpans, refusedLogs   atomic.Int64
	repairedStrings             atomic.Int64
	refused                     [numReasons]atomic.Int64
}

// reason says why a request was refused; it indexes counters.refused.
type reason int

const (
	reasonMethod reason = iota
	reasonMediaType
	reasonTooLarge
	reasonBadData
	reasonTimeout
	reasonOverloaded
	reasonUnavailable
	reasonInternal
	numReasons
)

// failure is a refused request: why, and the message for the exporter.
// The HTTP status and gRPC code follow from the reason (see http.go and
// grpc.go).
type failure struct {
	reason  reason
	message string
}

func (f *failure) Error() string { return f.message }

// Messages sent to exporters when the consumer refuses a batch. They are
// fixed on purpose: the consumer's error text may carry internals, it is
// logged instead.
const (
	msgOverloaded  = "flowwatch is overloaded; retry later"
	msgUnavailable = "flowwatch cannot store data right now; retry later"
	msgInternal    = "flowwatch failed to store the data"
	// msgAtCapacity is the gate's refusal; msgBodiesBusy the budget's.
	msgAtCapacity = "flowwatch is at its ingest capacity; retry later"
	msgBodiesBusy = "flowwatch is reading too many request bodies at once; retry later"
)

// signalKind names what an export carries, for counters and logs.
type signalKind int

const (
	signalTraces signalKind = iota
	signalLogs
)

func (s signalKind) String() string {
	if s == signalLogs {
		return "logs"
	}
	return "traces"
}

// consumeTraces repairs td, hands it to the consumer and accounts for the
// outcome. A batch without spans is accepted without calling the consumer.
func (r *Receiver) consumeTraces(ctx context.Context, td ptrace.Traces) (Result, *failure) {
	n := int64(td.SpanCount())
	if n == 0 {
		return Result{}, nil
	}
	if fixed := repairTraces(td); fixed > 0 {
		r.counters.repairedStrings.Add(int64(fixed))
	}
	res, err := r.consumer.ConsumeTraces(ctx, td)
	return r.account(signalTraces, n, res, err)
}

// consumeLogs is consumeTraces for log records.
func (r *Receiver) consumeLogs(ctx context.Context, ld plog.Logs) (Result, *failure) {
	n := int64(ld.LogRecordCount())
	if n == 0 {
		return Result{}, nil
	}
	if fixed := repairLogs(ld); fixed > 0 {
		r.counters.repairedStrings.Add(int64(fixed))
	}
	res, err := r.consumer.ConsumeLogs(ctx, ld)
	return r.account(signalLogs, n, res, err)
}

// account counts a consumer's outcome for a batch of n items and maps an
// error to a failure. This is the one place consumer errors are classified.
func (r *Receiver) account(sig signalKind, n int64, res Result, err error) (Result, *failure) {
	c := &r.counters
	if err != nil {
		f := classify(err)
		c.refused[f.reason].Add(1)
		if sig == signalLogs {
			c.refusedLogs.Add(n)
		} else {
			c.refusedSpans.Add(n)
		}
		switch f.reason {
		case reasonInternal:
			r.log.Error("export failed", "signal", sig.String(), "items", n, "err", err)
		default:
			r.log.Debug("export refused", "signal", sig.String(), "items", n, "err", err)
		}
		return Result{}, f
	}
	res.Rejected = min(max(res.Rejected, 0), n)
	if sig == signalLogs {
		c.acceptedLogs.Add(n - res.Rejected)
		c.rejectedLogs.Add(res.Rejected)
	} else {
		c.acceptedSpans.Add(n - res.Rejected)
		c.rejectedSpans.Add(res.Rejected)
	}
	return res, nil
}

// classify maps a consumer error to a failure: overload and unavailability
// are retryable, a canceled or timed-out request is treated as unavailable
// (the exporter, if still listening, should retry), anything else is
// internal.
func classify(err error) *failure {
	switch {
	case errors.Is(err, ErrOverloaded):
		return &failure{reason: reasonOverloaded, message: msgOverloaded}
	case errors.Is(err, ErrUnavailable),
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return &failure{reason: reasonUnavailable, message: msgUnavailable}
	default:
		return &failure{reason: reasonInternal, message: msgInternal}
	}
}

// refuse counts a failure that happened before the consumer was called.
func (r *Receiver) refuse(f *failure) *failure {
	r.counters.refused[f.reason].Add(1)
	return f
}
