package rollup

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowwatch/flowwatch/internal/model"
)

// DefaultMaxSeries is the default cap on the label sets Metrics keeps per
// kind of row (see MetricsOptions.MaxSeries).
const DefaultMaxSeries = 2000

// DefaultIdleAfter is how long a label set is idle before a new one may
// take its place at the cap (see MetricsOptions.MaxSeries).
const DefaultIdleAfter = 15 * time.Minute

// Other is the value that replaces service, deployment and model in the
// label set observations are folded into once MetricsOptions.MaxSeries
// label sets exist.
const Other = "other"

// maxLabelValueBytes bounds a label value; longer values are cut at a
// character boundary.
const maxLabelValueBytes = 256

// DefaultRequestBuckets are the upper bounds, in seconds, of
// flowwatch_request_duration_seconds: from a cached answer (50 ms) to a
// long agent run (2 minutes).
func DefaultRequestBuckets() []float64 {
	return []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 12, 20, 30, 60, 120}
}

// DefaultWriteBuckets are the upper bounds, in seconds, of
// flowwatch_store_write_duration_seconds: from 1 ms to 5 s.
func DefaultWriteBuckets() []float64 {
	return []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
}

// MetricsOptions configure Metrics. Zero values select the defaults.
type MetricsOptions struct {
	// MaxSeries caps the distinct (service, deployment) pairs of the
	// request families and, separately, the distinct (service,
	// deployment, model) triples of the LLM families. Past the cap, an
	// observation with a new label set is counted under service,
	// deployment and model "other" and in
	// flowwatch_metrics_series_folded_total. Zero means DefaultMaxSeries.
	//
	// A label set idle (no observation) for IdleAfter gives its place to
	// a new one: at the cap, the least recently active label set, if idle
	// that long, is dropped from the exposition (counted in
	// flowwatch_metrics_series_evicted_total) and the new one takes its
	// place, so that a service first seen after the cap is reached is
	// exported on its own once others fall idle. Prometheus sees the
	// dropped series end; should it come back, it starts again from zero,
	// which rate() and increase() read as a counter reset.
	MaxSeries int
	// IdleAfter is how long a label set must have been idle to be
	// evicted at the cap (default DefaultIdleAfter).
	IdleAfter time.Duration
	// Now is the clock of activity (default time.Now).
	Now func() time.Time
	// RequestBuckets are the histogram bounds of request durations, in
	// seconds, strictly increasing. Nil means DefaultRequestBuckets.
	RequestBuckets []float64
	// WriteBuckets are the histogram bounds of store write durations, in
	// seconds, strictly increasing. Nil means DefaultWriteBuckets.
	WriteBuckets []float64
}

// Metrics keeps cumulative counters and histograms of what the store has
// committed, for the Prometheus exposition: requests, their durations and
// errors, LLM calls, tokens and cost by service, deployment and model, and
// the store's write latency. It is fed the observations of each commit
// (only spans stored for the first time, so duplicates are never counted)
// and starts from zero at every start of the process, which Prometheus'
// rate() and increase() handle as a counter reset.
//
// Metrics implements prometheus.Collector. It is safe for concurrent use.
type Metrics struct {
	maxSeries      int
	idleAfter      time.Duration
	now            func() time.Time
	requestBuckets []float64
	writeBuckets   []float64
	log            *slog.Logger
	d              metricsDescs

	mu       sync.Mutex
	requests map[seriesKey]*requestSeries
	llm      map[seriesKey]*llmSeries
	// foldedRequests and foldedLLM count folded observations;
	// fullRequests and fullLLM say whether the cap was reached (which is
	// logged once per kind).
	foldedRequests, foldedLLM int64
	fullRequests, fullLLM     bool
	writes                    histogram
	writtenSpans              int64

	// requestActivity and llmActivity order the label sets (but the
	// folded one) by their last observation; evictedRequests and
	// evictedLLM count those dropped for a new one.
	requestActivity, llmActivity *activity
	evictedRequests, evictedLLM  int64
}

type metricsDescs struct {
	requests, requestDuration              *prometheus.Desc
	llmCalls, llmTokens, llmCost, unpriced *prometheus.Desc
	writeDuration, writtenSpans, folded    *prometheus.Desc
	evicted                                *prometheus.Desc
}

// seriesKey is the label set of a row kind's families; model is empty for
// requests.
type seriesKey struct {
	service, deployment, model string
}

type requestSeries struct {
	ok, errors int64
	duration   histogram
}

type llmSeries struct {
	ok, errors            int64
	input, output, cached int64
	costUSD               float64
	unpriced              int64
}

// NewMetrics returns an empty Metrics. A nil logger discards logs.
func NewMetrics(opts MetricsOptions, logger *slog.Logger) (*Metrics, error) {
	if opts.MaxSeries < 0 {
		return nil, fmt.Errorf("rollup: MetricsOptions.MaxSeries must not be negative, got %d", opts.MaxSeries)
	}
	if opts.MaxSeries == 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.IdleAfter <= 0 {
		opts.IdleAfter = DefaultIdleAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RequestBuckets == nil {
		opts.RequestBuckets = DefaultRequestBuckets()
	}
	if opts.WriteBuckets == nil {
		opts.WriteBuckets = DefaultWriteBuckets()
	}
	if err := errors.Join(
		checkBuckets("RequestBuckets", opts.RequestBuckets),
		checkBuckets("WriteBuckets", opts.WriteBuckets),
	); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sd := []string{"service", "deployment"}
	sdm := []string{"service", "deployment", "model"}
	m := &Metrics{
		maxSeries:      opts.MaxSeries,
		idleAfter:      opts.IdleAfter,
		now:            opts.Now,
		requestBuckets: slices.Clone(opts.RequestBuckets),
		writeBuckets:   slices.Clone(opts.WriteBuckets),
		log:            logger.With("component", "metrics"),
		d: metricsDescs{
			requests: prometheus.NewDesc("flowwatch_requests_total",
				"Requests (traces, counted by their root span) stored, by outcome.",
				append(sd, "status"), nil),
			requestDuration: prometheus.NewDesc("flowwatch_request_duration_seconds",
				"Duration of requests (root spans) stored.",
				sd, nil),
			llmCalls: prometheus.NewDesc("flowwatch_llm_calls_total",
				"Model calls (spans of kind llm or embedding) stored, by outcome.",
				append(sdm, "status"), nil),
			llmTokens: prometheus.NewDesc("flowwatch_llm_tokens_total",
				"Tokens of model calls stored, by type: input, output, or cached (cache reads, a part of input).",
				append(sdm, "type"), nil),
			llmCost: prometheus.NewDesc("flowwatch_llm_cost_usd_total",
				"Cost in US dollars of model calls stored, as reported by the app or computed from the price table.",
				sdm, nil),
			unpriced: prometheus.NewDesc("flowwatch_llm_unpriced_calls_total",
				"Model calls stored that reported tokens but have no cost: the app sent none and the price table does not know the model.",
				sdm, nil),
			writeDuration: prometheus.NewDesc("flowwatch_store_write_duration_seconds",
				"Duration of the store's write transactions.",
				nil, nil),
			writtenSpans: prometheus.NewDesc("flowwatch_store_written_spans_total",
				"Spans stored for the first time (duplicates excluded).",
				nil, nil),
			folded: prometheus.NewDesc("flowwatch_metrics_series_folded_total",
				"Observations counted under service, deployment and model \"other\" because the cap on label sets was reached, by kind (request or llm).",
				[]string{"kind"}, nil),
			evicted: prometheus.NewDesc("flowwatch_metrics_series_evicted_total",
				"Label sets dropped from the exposition, once idle, to make room for a new one at the cap on label sets, by kind (request or llm).",
				[]string{"kind"}, nil),
		},
		requests: make(map[seriesKey]*requestSeries),
		llm:      make(map[seriesKey]*llmSeries),
		writes:   newHistogram(len(opts.WriteBuckets)),

		requestActivity: newActivity(),
		llmActivity:     newActivity(),
	}
	return m, nil
}

func checkBuckets(name string, b []float64) error {
	if len(b) == 0 {
		return fmt.Errorf("rollup: MetricsOptions.%s is empty", name)
	}
	for i, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("rollup: MetricsOptions.%s[%d] must be a finite number, got %v", name, i, v)
		}
		if i > 0 && v <= b[i-1] {
			return fmt.Errorf("rollup: MetricsOptions.%s must be strictly increasing: [%d] = %v after %v", name, i, v, b[i-1])
		}
	}
	return nil
}

// Observe adds what one commit's newly stored spans contribute. It adds
// every time it is called: not counting a span twice is the store's job.
// Observations of an unknown kind are ignored.
func (m *Metrics) Observe(obs []Observation) {
	if len(obs) == 0 {
		return
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range obs {
		o := &obs[i]
		switch o.Kind {
		case Requests:
			s := m.requestSeries(seriesKey{service: labelValue(o.Service), deployment: labelValue(o.Deployment)}, now)
			if o.Status == model.StatusError {
				s.errors++
			} else {
				s.ok++
			}
			s.duration.observe(m.requestBuckets, max(o.Duration, 0).Seconds())
		case LLMCalls:
			s := m.llmSeries(seriesKey{service: labelValue(o.Service), deployment: labelValue(o.Deployment), model: labelValue(o.Model)}, now)
			if o.Status == model.StatusError {
				s.errors++
			} else {
				s.ok++
			}
			u := o.Usage
			s.input += max(u.InputTokens, 0)
			s.output += max(u.OutputTokens, 0)
			s.cached += max(u.CacheReadTokens, 0)
			switch {
			case o.Priced:
				if c := u.CostUSD; c > 0 && !math.IsInf(c, 0) {
					s.costUSD += c
				}
			case u.Known:
				s.unpriced++
			}
		}
	}
}

// ObserveWrite adds one committed write transaction: how long it took and
// how many spans it stored for the first time.
func (m *Metrics) ObserveWrite(d time.Duration, spans int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes.observe(m.writeBuckets, max(d, 0).Seconds())
	m.writtenSpans += int64(max(spans, 0))
}

// requestSeries returns the series of k, or of the folded key when k is
// new and the cap is reached with no label set idle enough to give way.
// m.mu is held.
func (m *Metrics) requestSeries(k seriesKey, now time.Time) *requestSeries {
	if s, ok := m.requests[k]; ok {
		m.requestActivity.touch(k, now)
		return s
	}
	if len(m.requests) >= m.maxSeries {
		if old, ok := m.requestActivity.idle(now, m.idleAfter); ok {
			delete(m.requests, old)
			m.evictedRequests++
			s := &requestSeries{duration: newHistogram(len(m.requestBuckets))}
			m.requests[k] = s
			m.requestActivity.touch(k, now)
			return s
		}
	}
	if len(m.requests) >= m.maxSeries {
		m.foldedRequests++
		if !m.fullRequests {
			m.fullRequests = true
			m.log.Warn("metrics_series_cap_reached", "kind", string(Requests), "max_series", m.maxSeries)
		}
		k = seriesKey{service: Other, deployment: Other}
		if s, ok := m.requests[k]; ok {
			return s
		}
	}
	s := &requestSeries{duration: newHistogram(len(m.requestBuckets))}
	m.requests[k] = s
	if k.service != Other {
		m.requestActivity.touch(k, now)
	}
	return s
}

// llmSeries is requestSeries for model calls. m.mu is held.
func (m *Metrics) llmSeries(k seriesKey, now time.Time) *llmSeries {
	if s, ok := m.llm[k]; ok {
		m.llmActivity.touch(k, now)
		return s
	}
	if len(m.llm) >= m.maxSeries {
		if old, ok := m.llmActivity.idle(now, m.idleAfter); ok {
			delete(m.llm, old)
			m.evictedLLM++
			s := &llmSeries{}
			m.llm[k] = s
			m.llmActivity.touch(k, now)
			return s
		}
	}
	if len(m.llm) >= m.maxSeries {
		m.foldedLLM++
		if !m.fullLLM {
			m.fullLLM = true
			m.log.Warn("metrics_series_cap_reached", "kind", string(LLMCalls), "max_series", m.maxSeries)
		}
		k = seriesKey{service: Other, deployment: Other, model: Other}
		if s, ok := m.llm[k]; ok {
			return s
		}
	}
	s := &llmSeries{}
	m.llm[k] = s
	if k.service != Other {
		m.llmActivity.touch(k, now)
	}
	return s
}

// activity orders label sets by their last observation, most recent
// first.
type activity struct {
	order *list.List // of *lastSeen
	at    map[seriesKey]*list.Element
}

type lastSeen struct {
	k    seriesKey
	last time.Time
}

func newActivity() *activity {
	return &activity{order: list.New(), at: map[seriesKey]*list.Element{}}
}

// touch records an observation of k at now. The folded label set is not
// tracked: it is never evicted.
func (a *activity) touch(k seriesKey, now time.Time) {
	if k.service == Other && k.deployment == Other {
		return
	}
	if e, ok := a.at[k]; ok {
		e.Value.(*lastSeen).last = now
		a.order.MoveToFront(e)
		return
	}
	a.at[k] = a.order.PushFront(&lastSeen{k: k, last: now})
}

// idle removes and returns the least recently active label set if it has
// been idle for at least d at now.
func (a *activity) idle(now time.Time, d time.Duration) (seriesKey, bool) {
	e := a.order.Back()
	if e == nil {
		return seriesKey{}, false
	}
	ls := e.Value.(*lastSeen)
	if now.Sub(ls.last) < d {
		return seriesKey{}, false
	}
	a.order.Remove(e)
	delete(a.at, ls.k)
	return ls.k, true
}

// labelValue makes a value safe and bounded as a label value: valid UTF-8
// of at most maxLabelValueBytes. Empty stays empty (Prometheus treats an
// empty label as an absent one).
func labelValue(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if len(v) <= maxLabelValueBytes {
		return v
	}
	cut := maxLabelValueBytes
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut]
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	d := &m.d
	for _, desc := range []*prometheus.Desc{
		d.requests, d.requestDuration, d.llmCalls, d.llmTokens, d.llmCost, d.unpriced,
		d.writeDuration, d.writtenSpans, d.folded, d.evicted,
	} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector. Every known label set is
// exported with both statuses and all three token types, zeros included,
// so that ratios such as an error rate are 0 rather than absent. The lock
// is held only to copy the figures, so a scrape delays the store's writer
// (which calls Observe) as little as possible.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	type requestCopy struct {
		k seriesKey
		s requestSeries
	}
	type llmCopy struct {
		k seriesKey
		s llmSeries
	}
	m.mu.Lock()
	requests := make([]requestCopy, 0, len(m.requests))
	for k, s := range m.requests {
		c := requestCopy{k: k, s: *s}
		c.s.duration.counts = slices.Clone(s.duration.counts)
		requests = append(requests, c)
	}
	llm := make([]llmCopy, 0, len(m.llm))
	for k, s := range m.llm {
		llm = append(llm, llmCopy{k: k, s: *s})
	}
	writes := m.writes
	writes.counts = slices.Clone(m.writes.counts)
	writtenSpans, foldedRequests, foldedLLM := m.writtenSpans, m.foldedRequests, m.foldedLLM
	evictedRequests, evictedLLM := m.evictedRequests, m.evictedLLM
	m.mu.Unlock()

	d := &m.d
	for _, c := range requests {
		k, s := c.k, &c.s
		ch <- counter(d.requests, s.ok, k.service, k.deployment, string(model.StatusOK))
		ch <- counter(d.requests, s.errors, k.service, k.deployment, string(model.StatusError))
		ch <- s.duration.metric(d.requestDuration, m.requestBuckets, k.service, k.deployment)
	}
	for _, c := range llm {
		k, s := c.k, &c.s
		ch <- counter(d.llmCalls, s.ok, k.service, k.deployment, k.model, string(model.StatusOK))
		ch <- counter(d.llmCalls, s.errors, k.service, k.deployment, k.model, string(model.StatusError))
		ch <- counter(d.llmTokens, s.input, k.service, k.deployment, k.model, "input")
		ch <- counter(d.llmTokens, s.output, k.service, k.deployment, k.model, "output")
		ch <- counter(d.llmTokens, s.cached, k.service, k.deployment, k.model, "cached")
		ch <- constMetric(d.llmCost, prometheus.CounterValue, s.costUSD, k.service, k.deployment, k.model)
		ch <- counter(d.unpriced, s.unpriced, k.service, k.deployment, k.model)
	}
	ch <- writes.metric(d.writeDuration, m.writeBuckets)
	ch <- counter(d.writtenSpans, writtenSpans)
	ch <- counter(d.folded, foldedRequests, string(Requests))
	ch <- counter(d.folded, foldedLLM, string(LLMCalls))
	ch <- counter(d.evicted, evictedRequests, string(Requests))
	ch <- counter(d.evicted, evictedLLM, string(LLMCalls))
}

func counter(desc *prometheus.Desc, v int64, labels ...string) prometheus.Metric {
	return constMetric(desc, prometheus.CounterValue, float64(v), labels...)
}

// constMetric builds a metric, or an invalid one that fails the scrape with
// the reason (never a panic).
func constMetric(desc *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}

// histogram is a cumulative histogram over fixed bounds kept by its owner.
type histogram struct {
	// counts[i] counts observations in (bounds[i-1], bounds[i]]; the last
	// element counts those above every bound.
	counts []uint64
	count  uint64
	sum    float64
}

func newHistogram(bounds int) histogram {
	return histogram{counts: make([]uint64, bounds+1)}
}

func (h *histogram) observe(bounds []float64, v float64) {
	h.counts[sort.SearchFloat64s(bounds, v)]++
	h.count++
	h.sum += v
}

func (h *histogram) metric(desc *prometheus.Desc, bounds []float64, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += h.counts[i]
		buckets[b] = cum
	}
	m, err := prometheus.NewConstHistogram(desc, h.count, h.sum, buckets, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}

// HealthOptions say where flowwatch's own health figures come from. Each
// source is a function called at every scrape; it must be safe for
// concurrent use. A nil source leaves its families out.
type HealthOptions struct {
	// Ingest returns the OTLP edge's counters since the process started.
	Ingest func() IngestStats
	// InFlight returns the export requests being decoded or written
	// now (a request counts once its body has arrived).
	InFlight func() int64
	// Queue returns the batches waiting for the store's writer and how
	// many the queue holds at most.
	Queue func() (depth, capacity int)
	// Screened returns the spans whose times, ids or names were fixed or
	// rejected on ingest, by reason (pipeline.Pipeline.Screened).
	Screened func() map[string]int64
}

// IngestStats are the OTLP edge's counters. Items are "received" once
// decoded from an export request; each received item is accepted,
// rejected or refused.
type IngestStats struct {
	// Accepted items were committed (stored, or already stored).
	SpansAccepted, LogRecordsAccepted int64
	// Rejected items were turned down in an otherwise accepted export
	// (partial success): invalid, the exporter drops them.
	SpansRejected, LogRecordsRejected int64
	// Refused items came in an export refused whole (overload, store
	// unavailable, internal error); the exporter may send them again, so
	// they may be received again.
	SpansRefused, LogRecordsRefused int64
	// RepairedStrings counts strings whose invalid UTF-8 was replaced.
	RepairedStrings int64
	// TruncatedValues counts values cut to the value cap
	// (ingest.max_attribute_value_bytes).
	TruncatedValues int64
	// BodyMemoryBytes is the memory held now by OTLP/HTTP bodies being
	// read or decoded.
	BodyMemoryBytes int64
	// RefusedRequests counts export requests refused whole, by reason.
	RefusedRequests RefusedRequests
}

// RefusedRequests counts refused export requests by reason; each field is
// one value of the reason label.
type RefusedRequests struct {
	MethodNotAllowed     int64 // method_not_allowed (HTTP 405)
	UnsupportedMediaType int64 // unsupported_media_type (415)
	TooLarge             int64 // too_large (413)
	BadData              int64 // bad_data (400: undecodable body)
	Timeout              int64 // timeout (408: the body did not arrive within ingest.body_timeout)
	Overloaded           int64 // overloaded (429: the write path is at capacity)
	AtCapacity           int64 // at_capacity (429: no admission slot once the body was read)
	Unavailable          int64 // unavailable (503, canceled requests included)
	Internal             int64 // internal (500)
}

func (r RefusedRequests) byReason() []reasonCount {
	return []reasonCount{
		{"method_not_allowed", r.MethodNotAllowed},
		{"unsupported_media_type", r.UnsupportedMediaType},
		{"too_large", r.TooLarge},
		{"bad_data", r.BadData},
		{"timeout", r.Timeout},
		{"overloaded", r.Overloaded},
		{"at_capacity", r.AtCapacity},
		{"unavailable", r.Unavailable},
		{"internal", r.Internal},
	}
}

type reasonCount struct {
	reason string
	n      int64
}

// Health exposes flowwatch's own health: what the OTLP edge received and
// turned down, and how full the store's write queue is. It implements
// prometheus.Collector; figures are read from its sources at each scrape.
type Health struct {
	src   HealthOptions
	descs []*prometheus.Desc

	spansReceived, spansRejected, logsReceived, logsRejected *prometheus.Desc
	requestsRefused, repaired, inFlight                      *prometheus.Desc
	truncated, bodyMemory                                    *prometheus.Desc
	queueDepth, queueCapacity                                *prometheus.Desc
	screened                                                 *prometheus.Desc
}

// NewHealth returns a Health over the given sources. It logs nothing, so
// it takes no logger.
func NewHealth(opts HealthOptions) *Health {
	h := &Health{src: opts}
	add := func(d **prometheus.Desc, name, help string, labels ...string) {
		*d = prometheus.NewDesc(name, help, labels, nil)
		h.descs = append(h.descs, *d)
	}
	if opts.Ingest != nil {
		add(&h.spansReceived, "flowwatch_ingest_spans_received_total",
			"Spans decoded from OTLP export requests.")
		add(&h.spansRejected, "flowwatch_ingest_spans_rejected_total",
			"Spans received but not accepted, by reason: invalid (dropped in a partial success) or refused (the whole export was refused; the exporter may retry).",
			"reason")
		add(&h.logsReceived, "flowwatch_ingest_log_records_received_total",
			"Log records decoded from OTLP export requests.")
		add(&h.logsRejected, "flowwatch_ingest_log_records_rejected_total",
			"Log records received but not accepted, by reason: invalid or refused (as for spans).",
			"reason")
		add(&h.requestsRefused, "flowwatch_ingest_requests_refused_total",
			"OTLP export requests refused whole, by reason.",
			"reason")
		add(&h.repaired, "flowwatch_ingest_repaired_strings_total",
			"Strings whose invalid UTF-8 was replaced with U+FFFD on ingest.")
		add(&h.truncated, "flowwatch_ingest_truncated_values_total",
			"Values (attribute values, array elements, log bodies, names, status messages) cut to ingest.max_attribute_value_bytes on ingest.")
		add(&h.bodyMemory, "flowwatch_ingest_body_memory_bytes",
			"Memory held now by OTLP/HTTP request bodies being read or decoded (bounded by ingest.body_memory_bytes).")
	}
	if opts.InFlight != nil {
		add(&h.inFlight, "flowwatch_ingest_requests_in_flight",
			"OTLP export requests being decoded or written now (counted once their body has arrived).")
	}
	if opts.Screened != nil {
		add(&h.screened, "flowwatch_ingest_spans_screened_total",
			"Spans whose times, ids or names were fixed or rejected on ingest, by reason: start_time_missing, end_time_invalid and name_too_long (fixed and kept), start_time_in_future and duplicate_span_id (rejected in a partial success).",
			"reason")
	}
	if opts.Queue != nil {
		add(&h.queueDepth, "flowwatch_store_queue_depth",
			"Write batches waiting for the store's writer.")
		add(&h.queueCapacity, "flowwatch_store_queue_capacity",
			"Write batches the store's queue holds at most; writers wait when it is full.")
	}
	return h
}

// Describe implements prometheus.Collector.
func (h *Health) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range h.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (h *Health) Collect(ch chan<- prometheus.Metric) {
	if h.src.Ingest != nil {
		s := h.src.Ingest()
		ch <- counter(h.spansReceived, s.SpansAccepted+s.SpansRejected+s.SpansRefused)
		ch <- counter(h.spansRejected, s.SpansRejected, "invalid")
		ch <- counter(h.spansRejected, s.SpansRefused, "refused")
		ch <- counter(h.logsReceived, s.LogRecordsAccepted+s.LogRecordsRejected+s.LogRecordsRefused)
		ch <- counter(h.logsRejected, s.LogRecordsRejected, "invalid")
		ch <- counter(h.logsRejected, s.LogRecordsRefused, "refused")
		for _, r := range s.RefusedRequests.byReason() {
			ch <- counter(h.requestsRefused, r.n, r.reason)
		}
		ch <- counter(h.repaired, s.RepairedStrings)
		ch <- counter(h.truncated, s.TruncatedValues)
		ch <- constMetric(h.bodyMemory, prometheus.GaugeValue, float64(s.BodyMemoryBytes))
	}
	if h.src.InFlight != nil {
		ch <- constMetric(h.inFlight, prometheus.GaugeValue, float64(h.src.InFlight()))
	}
	if h.src.Screened != nil {
		counts := h.src.Screened()
		reasons := make([]string, 0, len(counts))
		for r := range counts {
			reasons = append(reasons, r)
		}
		slices.Sort(reasons)
		for _, r := range reasons {
			ch <- counter(h.screened, counts[r], r)
		}
	}
	if h.src.Queue != nil {
		depth, capacity := h.src.Queue()
		ch <- constMetric(h.queueDepth, prometheus.GaugeValue, float64(depth))
		ch <- constMetric(h.queueCapacity, prometheus.GaugeValue, float64(capacity))
	}
}
