package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/ingest"
)

// Consumer takes recorded traces: the pipeline, the same write path as
// OTLP traffic. It returns after the batch is durably committed.
type Consumer interface {
	ConsumeTraces(ctx context.Context, td ptrace.Traces) (ingest.Result, error)
}

// DefaultQueueBytes is RecorderOptions.QueueBytes' default.
const DefaultQueueBytes = 64 << 20

// Recording's pace. A batch gathers what queued in the linger after the
// first exchange and while the previous batch was written, up to maxBatch
// exchanges; a refused batch is tried again
// after a backoff that doubles from minBackoff to maxBackoff, at most
// maxAttempts times in all.
const (
	maxBatch    = 512
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 5 * time.Second
	maxAttempts = 8
)

// exchangeOverhead is what an Exchange costs besides its bodies and
// headers (the struct, its strings, the queue slot), counted against the
// queue's budget so that bodiless exchanges are not free.
const exchangeOverhead = 512

// RecorderOptions configure the Recorder.
type RecorderOptions struct {
	Consumer Consumer
	// QueueBytes bounds the memory queued exchanges may take (bodies
	// included); an exchange that would go past it is dropped and
	// counted. 0 means DefaultQueueBytes.
	QueueBytes int64
	// Registerer receives the gateway's metrics (nil: not registered).
	Registerer prometheus.Registerer
	// CaptureBytes bounds the memory the bodies of all calls in flight
	// may take for recording, before they are queued (0 means
	// DefaultCaptureBytes): past it a call is recorded from what it
	// kept, as truncated. Calls themselves are never cut or slowed.
	CaptureBytes int64
	// Linger is how long the recorder waits, once an exchange is queued,
	// for more to join its batch (DefaultLinger when 0; negative: not at
	// all). Each batch is a commit that rewrites the same rollup and
	// index pages, so at a few hundred calls a second a commit per call
	// or two costs the store several times the CPU of a commit per
	// dozens; recordings appear that much later.
	Linger time.Duration
}

// DefaultCaptureBytes is RecorderOptions.CaptureBytes' default.
const DefaultCaptureBytes = 256 << 20

// DefaultLinger is RecorderOptions.Linger's default.
const DefaultLinger = 50 * time.Millisecond

// RecorderStats are the recorder's counts since NewRecorder.
type RecorderStats struct {
	// Stored, Dropped and Failed count exchanges: handed to the consumer
	// and accepted, refused for want of queue room (or after Shutdown),
	// and given up on (refused by the consumer after retries, or still
	// queued when Shutdown's deadline passed).
	Stored, Dropped, Failed int64
	// QueueBytes is the memory the queued exchanges and the batch being
	// written take now.
	QueueBytes int64
}

// Recorder takes exchanges from every gateway into a bounded queue and
// records them as traces on a goroutine of its own.
type Recorder struct {
	consumer Consumer
	budget   int64
	linger   time.Duration
	capture  *captureBudget // shared by the gateways' exchanges in flight
	log      *slog.Logger
	m        recorderMetrics

	mu sync.Mutex
	// queue holds the exchanges waiting; bytes counts them and the batch
	// being written, which keeps its room until it is done with.
	queue   []queued
	bytes   int64
	closed  bool // Shutdown began: Record drops
	running bool // Run began

	// wake tells Run that the queue has work; stop is closed by Shutdown;
	// runDone is closed when a Run that began returns.
	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	runDone  chan struct{}
	// flushing serializes Shutdown's flushes.
	flushing sync.Mutex

	stored, dropped, failed atomic.Int64
}

// queued is one exchange waiting, with the gateway it came through and
// the room it takes.
type queued struct {
	src  *source
	x    *Exchange
	size int64
}

type recorderMetrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	recordings *prometheus.CounterVec
	queueBytes prometheus.Gauge
}

// NewRecorder returns a Recorder; it queues from the start and records
// once Run is called.
func NewRecorder(o RecorderOptions, log *slog.Logger) (*Recorder, error) {
	if o.Consumer == nil {
		return nil, errors.New("gateway recorder: RecorderOptions.Consumer is required")
	}
	if o.QueueBytes < 0 {
		return nil, fmt.Errorf("gateway recorder: RecorderOptions.QueueBytes %d: want a positive size (0 for the default %d)", o.QueueBytes, DefaultQueueBytes)
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.CaptureBytes < 0 {
		return nil, fmt.Errorf("gateway recorder: RecorderOptions.CaptureBytes %d: want a positive size (0 for the default %d)", o.CaptureBytes, DefaultCaptureBytes)
	}
	if o.CaptureBytes == 0 {
		o.CaptureBytes = DefaultCaptureBytes
	}
	switch {
	case o.Linger == 0:
		o.Linger = DefaultLinger
	case o.Linger < 0:
		o.Linger = 0
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		consumer: o.Consumer,
		budget:   o.QueueBytes,
		linger:   o.Linger,
		capture:  newCaptureBudget(o.CaptureBytes),
		log:      log.With("component", "gateway_recorder"),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		runDone:  make(chan struct{}),
		m: recorderMetrics{
			requests: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "flowwatch_gateway_requests_total",
				Help: "Requests proxied by a gateway, by status class of the answer the caller got (2xx, 3xx, 4xx, 5xx; error: the exchange broke off without a complete answer and without an answer of the gateway's own).",
			}, []string{"gateway", "code"}),
			duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: "flowwatch_gateway_request_duration_seconds",
				Help: "Duration of exchanges through a gateway, from the request's arrival to the end of the answer (streams included).",
				// The GenAI conventions' advised buckets for operation
				// durations: 10 ms to 82 s.
				Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
			}, []string{"gateway"}),
			recordings: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "flowwatch_gateway_recordings_total",
				Help: "Exchanges a gateway recorded as traces, by result (stored; dropped: the recording queue was full; failed: the store refused them after retries).",
			}, []string{"gateway", "result"}),
			queueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "flowwatch_gateway_queue_bytes",
				Help: "Memory taken by exchanges waiting to be recorded, bodies included.",
			}),
		},
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{r.m.requests, r.m.duration, r.m.recordings, r.m.queueBytes} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("gateway recorder: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// source is what the recorder needs to know of a gateway to turn its
// exchanges into spans, with the gateway's metrics resolved once so that
// the request path looks no label up.
type source struct {
	name, kind, service, deployment, provider string
	recordContent                             bool
	// host and port are the upstream's, as server.address and
	// server.port (port 0 when the URL names none).
	host    string
	port    int
	mapping *mapping

	requests                *prometheus.CounterVec
	codes                   [6]prometheus.Counter // error, 1xx .. 5xx
	duration                prometheus.Observer
	stored, dropped, failed prometheus.Counter
}

// source returns the recording side of a gateway with options o (defaults
// applied).
func (r *Recorder) source(o Options, m *mapping) *source {
	s := &source{
		name: o.Name, kind: o.Kind, service: o.Service, deployment: o.Deployment, provider: o.Provider,
		recordContent: o.RecordContent, mapping: m,
		requests: r.m.requests,
		duration: r.m.duration.WithLabelValues(o.Name),
		stored:   r.m.recordings.WithLabelValues(o.Name, "stored"),
		dropped:  r.m.recordings.WithLabelValues(o.Name, "dropped"),
		failed:   r.m.recordings.WithLabelValues(o.Name, "failed"),
	}
	s.host, s.port = upstreamAddress(o.Upstream)
	// 1xx (a protocol switch) is left to be resolved when it happens: it
	// hardly does, and an always-zero series would only be noise.
	for i, code := range []string{"error", "", "2xx", "3xx", "4xx", "5xx"} {
		if code != "" {
			s.codes[i] = r.m.requests.WithLabelValues(o.Name, code)
		}
	}
	return s
}

// upstreamAddress is an upstream URL's host and explicit port.
func upstreamAddress(u *url.URL) (string, int) {
	port, _ := strconv.Atoi(u.Port())
	return u.Hostname(), port
}

// observe counts a finished exchange in the request metrics. answered
// says the gateway answered the caller itself (502, 504): such an exchange
// counts by the status sent, any other broken one as "error".
func (s *source) observe(x *Exchange, answered bool) {
	class := x.Status / 100
	if (x.Err != nil && !answered) || class < 1 || class > 5 {
		class = 0
	}
	if c := s.codes[class]; c != nil {
		c.Inc()
	} else {
		s.requests.WithLabelValues(s.name, strconv.Itoa(class)+"xx").Inc()
	}
	s.duration.Observe(x.End.Sub(x.Start).Seconds())
}

// extract reads the call an exchange carried, by the gateway's kind.
func (s *source) extract(x *Exchange) Call {
	var c Call
	switch s.kind {
	case KindOpenAI:
		c = extractOpenAI(x, s.provider)
	case KindJSON:
		c = s.mapping.extract(x)
	}
	if c.Provider == "" {
		c.Provider = s.provider
	}
	return c
}

// Record queues an exchange of gateway g for recording and says whether
// it was queued. It never blocks: when the queue has no room for it, or
// Shutdown began, the exchange is dropped and counted.
func (r *Recorder) Record(g *Gateway, x *Exchange) bool {
	size := exchangeSize(x)
	r.mu.Lock()
	if r.closed || r.bytes+size > r.budget {
		r.mu.Unlock()
		r.dropped.Add(1)
		g.src.dropped.Inc()
		return false
	}
	r.queue = append(r.queue, queued{src: g.src, x: x, size: size})
	r.bytes += size
	r.mu.Unlock()
	r.m.queueBytes.Add(float64(size))
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

// exchangeSize is the room an exchange takes in the queue.
func exchangeSize(x *Exchange) int64 {
	n := exchangeOverhead + len(x.Path) + len(x.RequestBody) + len(x.ResponseBody) + len(x.ResponseTail)
	for k, vs := range x.ResponseHeader {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return int64(n)
}

// Stats returns the recorder's counts.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	b := r.bytes
	r.mu.Unlock()
	return RecorderStats{Stored: r.stored.Load(), Dropped: r.dropped.Load(), Failed: r.failed.Load(), QueueBytes: b}
}

// Run records queued exchanges until ctx is done or Shutdown is called;
// what is still queued then is Shutdown's to flush. It returns nil, or an
// error when called twice.
func (r *Recorder) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("gateway recorder: Run called twice")
	}
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.running = true
	r.mu.Unlock()
	defer close(r.runDone)
	r.log.Info("recorder_started", "queue_bytes", r.budget)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.stop:
			return nil
		case <-r.wake:
		}
		if r.linger > 0 {
			t := time.NewTimer(r.linger)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-r.stop:
				t.Stop()
				return nil
			}
		}
		for {
			batch := r.take()
			if len(batch) == 0 {
				break
			}
			if !r.write(ctx, batch, r.stop) {
				return nil
			}
		}
	}
}

// Shutdown stops taking exchanges and records what is queued, waiting for
// Run's batch in progress first; it gives up when ctx is done, counting
// what is left as failed. It is idempotent and safe without Run. Call it
// before the consumer shuts down.
func (r *Recorder) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		close(r.stop)
	})
	r.mu.Lock()
	running := r.running
	r.mu.Unlock()
	if running {
		select {
		case <-r.runDone:
		case <-ctx.Done():
			return fmt.Errorf("gateway recorder: shutdown: waiting for the batch being written: %w", ctx.Err())
		}
	}
	r.flushing.Lock()
	defer r.flushing.Unlock()
	for {
		batch := r.take()
		if len(batch) == 0 {
			return nil
		}
		if !r.write(ctx, batch, nil) {
			// The batch is back in the queue: give up on all of it.
			n := 0
			for left := r.take(); len(left) > 0; left = r.take() {
				n += len(left)
				r.give(left, "failed")
			}
			r.log.Warn("recorder_flush_incomplete", "exchanges", n, "err", ctx.Err())
			return fmt.Errorf("gateway recorder: shutdown: %d exchanges not recorded: %w", n, ctx.Err())
		}
	}
}

// take removes up to maxBatch exchanges from the queue; they keep their
// room until given up with give.
func (r *Recorder) take() []queued {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(len(r.queue), maxBatch)
	if n == 0 {
		return nil
	}
	batch := make([]queued, n)
	copy(batch, r.queue)
	// Shift rather than reslice, so that the queue's array does not keep
	// recorded exchanges alive.
	m := copy(r.queue, r.queue[n:])
	clear(r.queue[m:])
	r.queue = r.queue[:m]
	return batch
}

// putBack returns an interrupted batch to the head of the queue.
func (r *Recorder) putBack(batch []queued) {
	r.mu.Lock()
	r.queue = append(append(make([]queued, 0, len(batch)+len(r.queue)), batch...), r.queue...)
	r.mu.Unlock()
}

// give frees a batch's room and counts it with result (stored, failed).
func (r *Recorder) give(batch []queued, result string) {
	if len(batch) == 0 {
		return
	}
	var size int64
	for _, q := range batch {
		size += q.size
		if result == "stored" {
			q.src.stored.Inc()
		} else {
			q.src.failed.Inc()
		}
	}
	if result == "stored" {
		r.stored.Add(int64(len(batch)))
	} else {
		r.failed.Add(int64(len(batch)))
	}
	r.mu.Lock()
	r.bytes -= size
	r.mu.Unlock()
	r.m.queueBytes.Sub(float64(size))
}

// write records a batch. A batch the consumer refuses for now (overloaded,
// unavailable) is tried again with backoff while the queue has room: once
// an exchange has been dropped for want of room, or after maxAttempts, the
// batch is given up, so that a store that stays down costs the oldest
// recordings rather than the newest. write returns false, with the batch
// back in the queue, when ctx is done or interrupt closed before the batch
// was stored or given up.
func (r *Recorder) write(ctx context.Context, batch []queued, interrupt <-chan struct{}) bool {
	td, broken := r.build(batch)
	if len(broken) > 0 {
		r.give(broken, "failed")
	}
	batch = batch[:len(batch)-len(broken)]
	if len(batch) == 0 {
		return true
	}
	dropped := r.dropped.Load()
	backoff := minBackoff
	for attempt := 1; ; attempt++ {
		res, err := r.consumer.ConsumeTraces(ctx, td)
		if err == nil {
			if res.Rejected > 0 {
				r.log.Warn("recorded_spans_rejected", "spans", res.Rejected, "reason", res.Message)
			}
			r.give(batch, "stored")
			return true
		}
		retry := errors.Is(err, ingest.ErrOverloaded) || errors.Is(err, ingest.ErrUnavailable) ||
			errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
		if retry && ctx.Err() != nil {
			r.putBack(batch)
			return false
		}
		if !retry || attempt >= maxAttempts || r.dropped.Load() != dropped {
			r.log.Error("recording_failed", "exchanges", len(batch), "attempts", attempt, "err", err)
			r.give(batch, "failed")
			return true
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			r.putBack(batch)
			return false
		case <-interrupt:
			t.Stop()
			r.putBack(batch)
			return false
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// build turns a batch into traces, one ResourceSpans per gateway. It
// returns the exchanges it could not turn into spans (a reader that
// panicked) at the end of batch, which it reorders.
func (r *Recorder) build(batch []queued) (ptrace.Traces, []queued) {
	td := ptrace.NewTraces()
	scopes := make(map[*source]ptrace.ScopeSpans)
	ok := 0
	for i := range batch {
		q := batch[i]
		ss, have := scopes[q.src]
		if !have {
			ss = newScope(td.ResourceSpans().AppendEmpty(), q.src)
			scopes[q.src] = ss
		}
		if r.spans(ss.Spans(), q) {
			batch[i], batch[ok] = batch[ok], batch[i]
			ok++
		}
	}
	return td, batch[ok:]
}

// spans appends the spans of one exchange, and says false when reading
// the exchange panicked: bad input must not take the recorder down.
func (r *Recorder) spans(ss ptrace.SpanSlice, q queued) (ok bool) {
	n := ss.Len()
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("recording_panic", "gateway", q.src.name, "panic", p)
			// Remove what was appended before the panic.
			i := 0
			ss.RemoveIf(func(ptrace.Span) bool {
				i++
				return i > n
			})
			ok = false
		}
	}()
	c := q.src.extract(q.x)
	c.scrub(q.x.credentials)
	appendSpans(ss, q.src, q.x, &c)
	return true
}
