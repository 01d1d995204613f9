// Package rollup owns flowwatch's operational metrics: what each newly
// stored span contributes (Observe), the per-bucket rows the store keeps
// current in the transaction that stores the spans (Key, Point, Delta),
// the price table that turns tokens into cost (Prices), and the series
// the metrics API answers with, merged from those rows (Aggregate).
//
// Two kinds of rows are kept, per minute, hour and day, keyed by service,
// deployment, model and status:
//
//   - requests: one per root span (a trace is a request). Latency is the
//     root span's duration; model is the trace's main model as known when
//     the root span was stored; status is error when the root span failed.
//   - llm: one per model-call span (kind llm or embedding), with its
//     duration, tokens and cost; model is the span's model.
//
// Latencies are kept in a DDSketch with 1% relative accuracy, so merged
// buckets give percentiles within 1% of the exact ones (of the value, not
// of the rank). Counts, token sums, cost sums, latency sums and maxima are
// exact. Only spans the store had not stored before are observed, so a
// re-sent batch changes nothing.
package rollup

import (
	"bytes"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Kind says what a row counts.
type Kind string

const (
	// Requests rows count root spans.
	Requests Kind = "request"
	// LLMCalls rows count model-call spans.
	LLMCalls Kind = "llm"
)

// Resolutions of stored rows, in seconds (days are UTC days). A view
// merges the coarsest rows its step is a whole number of; a total over a
// range merges the coarsest rows that fit inside it (Cover).
const (
	Minute int64 = 60
	Hour   int64 = 3600
	Day    int64 = 86400
)

// Resolutions are the resolutions a store keeps rows at, finest first.
func Resolutions() []int64 { return []int64{Minute, Hour, Day} }

// Key identifies one row.
type Key struct {
	Kind       Kind
	Bucket     int64 // start of the bucket, Unix seconds, a multiple of the resolution
	Service    string
	Deployment string
	// Model is a model alias (model.Derived.ModelAlias): one row per model
	// whether a library reported it dated or not.
	Model string
	// Status is model.StatusError or model.StatusOK (which covers unset).
	Status model.Status
}

// Observation is what one newly stored span contributes to one kind of row.
type Observation struct {
	Kind       Kind
	Time       time.Time // the span's start
	Service    string
	Deployment string
	Model      string
	Status     model.Status // ok or error
	Duration   time.Duration
	// Usage holds the span's tokens and cost (model calls only).
	Usage model.Usage
	// Priced says whether Usage.CostUSD is known: reported by the app or
	// computed from the price table.
	Priced bool
}

// Observe returns what a newly stored span contributes: a request if it is
// a root span, an LLM call if it is a model call, both, or nothing.
// traceModel is the model of the span's trace as far as it is known.
func Observe(sp *model.Span, traceModel string) []Observation {
	d := &sp.Derived
	status := model.StatusOK
	if d.Status == model.StatusError {
		status = model.StatusError
	}
	base := Observation{
		Time:       sp.StartTime,
		Service:    d.Service,
		Deployment: d.Deployment,
		Status:     status,
		Duration:   sp.Duration(),
	}
	var out []Observation
	if sp.IsRoot() {
		o := base
		o.Kind = Requests
		o.Model = traceModel
		out = append(out, o)
	}
	if d.Kind.IsModelCall() {
		o := base
		o.Kind = LLMCalls
		o.Model = d.ModelAlias
		o.Usage = d.Usage
		o.Priced = d.Usage.CostKnown
		out = append(out, o)
	}
	return out
}

// KeyOf is the key of the row an observation falls into at a resolution.
func KeyOf(o Observation, resolution int64) Key {
	return Key{
		Kind:       o.Kind,
		Bucket:     floorTo(o.Time.Unix(), resolution),
		Service:    o.Service,
		Deployment: o.Deployment,
		Model:      o.Model,
		Status:     o.Status,
	}
}

// floorTo rounds t down to a multiple of step (also for times before 1970).
func floorTo(t, step int64) int64 {
	r := t % step
	if r < 0 {
		r += step
	}
	return t - r
}

// Delta is what a set of observations adds to the rows of one resolution.
type Delta struct {
	Resolution int64
	Points     map[Key]*Point
}

// NewDelta returns an empty delta at a resolution.
func NewDelta(resolution int64) *Delta {
	return &Delta{Resolution: resolution, Points: make(map[Key]*Point)}
}

// Add adds an observation.
func (d *Delta) Add(o Observation) {
	k := KeyOf(o, d.Resolution)
	p, ok := d.Points[k]
	if !ok {
		p = NewPoint()
		d.Points[k] = p
	}
	p.Observe(o)
}

// RowReader builds the rows a store reads back, the labels interned: a
// range of rows (a week of hour rows is some 18,000) repeats a few dozen
// label sets, so the labels may be handed over in the driver's own
// buffers and a row costs two allocations, its point and a copy of the
// point's bytes.
type RowReader struct {
	names map[string]string
}

// Row returns the row of one stored rollup, its point decoded deferred
// (callers merge rows, and a sketch read straight into the one it is
// merged into costs a sixth of one decoded alone). The byte slices may be
// reused by the caller afterwards.
func (r *RowReader) Row(kind Kind, bucket int64, service, deployment, modelName, status, point []byte) (Row, error) {
	k := Key{Kind: kind, Bucket: bucket, Service: r.intern(service), Deployment: r.intern(deployment),
		Model: r.intern(modelName), Status: model.Status(r.intern(status))}
	p := &Point{}
	if err := p.UnmarshalDeferred(bytes.Clone(point)); err != nil {
		return Row{}, err
	}
	return Row{Key: k, Point: p}, nil
}

func (r *RowReader) intern(b []byte) string {
	if v, ok := r.names[string(b)]; ok {
		return v
	}
	if r.names == nil {
		r.names = map[string]string{}
	}
	v := string(b)
	r.names[v] = v
	return v
}
