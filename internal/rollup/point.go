package rollup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/store"

	"github.com/flowwatch/flowwatch/internal/model"
)

// RelativeAccuracy is the latency sketch's guarantee: a percentile it
// reports is within 1% of the true value of that percentile.
const RelativeAccuracy = 0.01

// maxBins bounds a sketch's memory. At 1% accuracy, 2048 bins cover a
// ratio of about 10^17 between the smallest and the largest latency before
// the lowest bins collapse (and only they lose accuracy).
const maxBins = 2048

// Point is what a row holds. Every field merges exactly, except the latency
// sketch, which merges within its stated accuracy.
type Point struct {
	Count  int64 // requests or calls
	Errors int64
	// latency holds durations in milliseconds. A point read with
	// UnmarshalDeferred has none until it is needed: its sketch stays
	// encoded in pending, and merging it into another point reads those
	// bytes straight into the other point's sketch.
	latency      *ddsketch.DDSketch
	pending      []byte
	LatencySumMs float64
	LatencyMaxMs float64

	InputTokens  int64
	OutputTokens int64
	TotalTokens  int64
	CachedTokens int64 // cache reads, a subset of InputTokens
	CostUSD      float64
	// Unpriced counts model calls that reported tokens but have no cost:
	// their model is not in the price table and the app sent no cost.
	Unpriced int64
}

// NewPoint returns an empty point.
func NewPoint() *Point {
	return &Point{latency: newSketch()}
}

// sketch returns the point's latency sketch, decoding a deferred one.
func (p *Point) sketch() (*ddsketch.DDSketch, error) {
	if p.latency == nil {
		sk := newSketch()
		if p.pending != nil {
			if err := mergeEncodedSketch(sk, p.pending); err != nil {
				return nil, err
			}
		}
		p.latency, p.pending = sk, nil
	}
	return p.latency, nil
}

func newSketch() *ddsketch.DDSketch {
	s, err := ddsketch.LogCollapsingLowestDenseDDSketch(RelativeAccuracy, maxBins)
	if err != nil {
		// Only a bad accuracy or bin count fails, and both are constants.
		panic(fmt.Sprintf("rollup: new sketch: %v", err))
	}
	return s
}

// Observe adds one observation.
func (p *Point) Observe(o Observation) {
	p.Count++
	if o.Status == model.StatusError {
		p.Errors++
	}
	ms := float64(max(o.Duration, 0)) / 1e6
	if sk, err := p.sketch(); err == nil {
		_ = sk.Add(ms) // fails only for NaN or negative values
	}
	p.LatencySumMs += ms
	p.LatencyMaxMs = max(p.LatencyMaxMs, ms)
	u := o.Usage
	p.InputTokens += u.InputTokens
	p.OutputTokens += u.OutputTokens
	p.TotalTokens += totalTokens(u)
	p.CachedTokens += u.CacheReadTokens
	if o.Priced {
		p.CostUSD += u.CostUSD
	} else if o.Kind == LLMCalls && u.Known {
		p.Unpriced++
	}
}

// totalTokens is the usage's total, or input + output when the app sent
// no total.
func totalTokens(u model.Usage) int64 {
	if u.TotalTokens > 0 {
		return u.TotalTokens
	}
	return u.InputTokens + u.OutputTokens
}

// Merge adds o into p. After an error p is left part-merged, and should
// be dropped.
func (p *Point) Merge(o *Point) error {
	if o == nil {
		return nil
	}
	sk, err := p.sketch()
	if err != nil {
		return err
	}
	switch {
	case o.latency != nil:
		if err := sk.MergeWith(o.latency); err != nil {
			return fmt.Errorf("merge latency sketches: %w", err)
		}
	case o.pending != nil:
		// Reading the bytes into sk costs a sixth of decoding them into
		// a sketch of their own and merging that (a new sketch's stores
		// grow from nothing).
		if err := mergeEncodedSketch(sk, o.pending); err != nil {
			return err
		}
	}
	p.Count += o.Count
	p.Errors += o.Errors
	p.LatencySumMs += o.LatencySumMs
	p.LatencyMaxMs = max(p.LatencyMaxMs, o.LatencyMaxMs)
	p.InputTokens += o.InputTokens
	p.OutputTokens += o.OutputTokens
	p.TotalTokens += o.TotalTokens
	p.CachedTokens += o.CachedTokens
	p.CostUSD += o.CostUSD
	p.Unpriced += o.Unpriced
	return nil
}

// Quantile returns the latency at quantile q (0..1) in milliseconds, and
// false when the point holds no latency.
func (p *Point) Quantile(q float64) (float64, bool) {
	sk, err := p.sketch()
	if err != nil || sk.IsEmpty() {
		return 0, false
	}
	v, err := sk.GetValueAtQuantile(q)
	if err != nil {
		return 0, false
	}
	// The sketch answers a bin's representative value, which may exceed
	// the largest value seen by up to the accuracy; the exact maximum is
	// known.
	return min(v, p.LatencyMaxMs), true
}

// Encoding of a point (MarshalBinary): a version byte, the exact fields,
// then the sketch in sketches-go's own encoding with its index mapping.
const pointVersion = 1

// maxEncodedPoint bounds what UnmarshalBinary accepts.
const maxEncodedPoint = 1 << 20

// MarshalBinary encodes the point.
func (p *Point) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 128)
	b = append(b, pointVersion)
	for _, v := range []int64{p.Count, p.Errors, p.InputTokens, p.OutputTokens, p.TotalTokens, p.CachedTokens, p.Unpriced} {
		b = binary.AppendVarint(b, v)
	}
	for _, f := range []float64{p.LatencySumMs, p.LatencyMaxMs, p.CostUSD} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	sk, err := p.sketch()
	if err != nil {
		return nil, err
	}
	sk.Encode(&b, false)
	return b, nil
}

// UnmarshalBinary decodes a point encoded by MarshalBinary. It rejects
// anything else with an error (never a panic).
func (p *Point) UnmarshalBinary(b []byte) error {
	if err := p.UnmarshalDeferred(b); err != nil {
		return err
	}
	_, err := p.sketch()
	return err
}

// UnmarshalDeferred decodes the exact fields of a point encoded by
// MarshalBinary and keeps its latency sketch encoded until it is needed,
// which makes merging many stored points several times cheaper. An error
// in the sketch's bytes surfaces then: from Merge, MarshalBinary, or as no
// latency from Quantile. The point keeps b.
func (p *Point) UnmarshalDeferred(b []byte) error {
	if len(b) > maxEncodedPoint {
		return fmt.Errorf("rollup point: %d bytes, more than %d", len(b), maxEncodedPoint)
	}
	if len(b) == 0 || b[0] != pointVersion {
		return errors.New("rollup point: unknown encoding version")
	}
	b = b[1:]
	var ints [7]int64
	for i := range ints {
		v, n := binary.Varint(b)
		if n <= 0 {
			return fmt.Errorf("rollup point: bad count %d", i)
		}
		ints[i], b = v, b[n:]
	}
	var floats [3]float64
	for i := range floats {
		if len(b) < 8 {
			return errors.New("rollup point: truncated")
		}
		floats[i], b = math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:]
	}
	if len(b) == 0 {
		return errors.New("rollup point: no latency sketch")
	}
	*p = Point{
		Count: ints[0], Errors: ints[1], InputTokens: ints[2], OutputTokens: ints[3],
		TotalTokens: ints[4], CachedTokens: ints[5], Unpriced: ints[6],
		LatencySumMs: floats[0], LatencyMaxMs: floats[1], CostUSD: floats[2],
		pending: b,
	}
	return nil
}

// mergeEncodedSketch reads an encoded sketch into sk, whose bounded stores
// keep the memory it takes no more than Point's whatever the bytes say. It
// rejects a sketch whose index mapping is not sk's (it could not be
// merged) and bad bytes with an error, never a panic.
func mergeEncodedSketch(sk *ddsketch.DDSketch, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rollup point: bad latency sketch: %v", r)
		}
	}()
	if err := sk.DecodeAndMergeWith(b); err != nil {
		return fmt.Errorf("rollup point: bad latency sketch: %w", err)
	}
	// Bins beyond the indexes of the smallest and largest values the
	// mapping can index come only from made-up bytes, and sketches-go's
	// stores panic when merging them later.
	m := sk.IndexMapping
	lo, hi := m.Index(m.MinIndexableValue()), m.Index(m.MaxIndexableValue())
	for _, st := range []store.Store{sk.GetPositiveValueStore(), sk.GetNegativeValueStore()} {
		if st.IsEmpty() {
			continue
		}
		mn, err1 := st.MinIndex()
		mx, err2 := st.MaxIndex()
		if err1 != nil || err2 != nil || mn < lo || mx > hi {
			return fmt.Errorf("rollup point: bad latency sketch: bins %d..%d outside %d..%d", mn, mx, lo, hi)
		}
	}
	return nil
}
