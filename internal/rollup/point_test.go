package rollup

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flowwatch/flowwatch/internal/model"
)

func obs(kind Kind, at time.Time, d time.Duration, status model.Status, u model.Usage, priced bool) Observation {
	return Observation{Kind: kind, Time: at, Service: "svc", Model: "m", Status: status, Duration: d, Usage: u, Priced: priced}
}

// TestQuantilesWithinStatedError feeds known latencies, split over many
// points that are encoded, decoded and merged as the store does, and
// checks every percentile against the exact one.
func TestQuantilesWithinStatedError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var exact []float64
	total := NewPoint()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for part := 0; part < 50; part++ {
		p := NewPoint()
		for i := 0; i < 200; i++ {
			// Log-normal-ish latencies from 1 ms to minutes.
			ms := math.Exp(r.NormFloat64()*1.5 + 6)
			exact = append(exact, ms)
			p.Observe(obs(Requests, t0, time.Duration(ms*1e6), model.StatusOK, model.Usage{}, false))
		}
		enc, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var dec Point
		if err := dec.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decode part %d: %v", part, err)
		}
		if err := total.Merge(&dec); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(exact)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 1} {
		got, ok := total.Quantile(q)
		if !ok {
			t.Fatalf("q%v: no value", q)
		}
		// The sketch's guarantee is on the value at the rank it picks:
		// within 1% of some exact value of rank ceil(q*(n-1)) or floor.
		lo := exact[int(math.Floor(q*float64(len(exact)-1)))]
		hi := exact[int(math.Ceil(q*float64(len(exact)-1)))]
		if got < lo*(1-RelativeAccuracy)-1e-9 || got > hi*(1+RelativeAccuracy)+1e-9 {
			t.Errorf("q%v = %.4f ms, want within 1%% of [%.4f, %.4f]", q, got, lo, hi)
		}
	}
	if total.Count != int64(len(exact)) {
		t.Errorf("count = %d, want %d", total.Count, len(exact))
	}
	if want := exact[len(exact)-1]; math.Abs(total.LatencyMaxMs-want) > 1e-6 {
		t.Errorf("max = %v, want %v", total.LatencyMaxMs, want)
	}
}

func TestPointObserveAndMerge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := NewPoint(), NewPoint()
	a.Observe(obs(LLMCalls, t0, 100*time.Millisecond, model.StatusOK,
		model.Usage{Known: true, InputTokens: 100, OutputTokens: 50, TotalTokens: 150, CacheReadTokens: 40, CostUSD: 0.5, CostKnown: true}, true))
	a.Observe(obs(LLMCalls, t0, 300*time.Millisecond, model.StatusError,
		model.Usage{Known: true, InputTokens: 10, OutputTokens: 5}, false)) // no total: input + output
	b.Observe(obs(LLMCalls, t0, -time.Second, model.StatusOK, model.Usage{}, false)) // negative: 0
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	want := Point{Count: 3, Errors: 1, LatencySumMs: 400, LatencyMaxMs: 300, InputTokens: 110, OutputTokens: 55,
		TotalTokens: 165, CachedTokens: 40, CostUSD: 0.5, Unpriced: 1}
	if diff := cmp.Diff(want, *a, cmpopts.IgnoreUnexported(Point{})); diff != "" {
		t.Errorf("merged point (-want +got):\n%s", diff)
	}
	if p, _ := a.Quantile(0); p != 0 {
		t.Errorf("min latency = %v, want 0", p)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := NewPoint().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":           nil,
		"unknown version": append([]byte{9}, good[1:]...),
		"truncated":       good[:5],
		"bad sketch":      append(append([]byte{}, good[:len(good)-len(good)/3]...), 0xff, 0xff, 0xff),
		"oversized":       make([]byte, maxEncodedPoint+1),
	} {
		var p Point
		if err := p.UnmarshalBinary(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestUnmarshalDeferred checks that points whose sketches stay encoded
// merge to what decoded ones do, and that a bad sketch is an error when it
// is read.
func TestUnmarshalDeferred(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var encoded [][]byte
	for i := range 20 {
		p := NewPoint()
		for j := range 50 {
			p.Observe(obs(Requests, t0, time.Duration(1+i*j*j)*time.Millisecond, model.StatusOK, model.Usage{}, false))
		}
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, b)
	}
	eager, deferred := NewPoint(), NewPoint()
	for _, b := range encoded {
		var e, d Point
		if err := e.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if err := d.UnmarshalDeferred(b); err != nil {
			t.Fatal(err)
		}
		if err := eager.Merge(&e); err != nil {
			t.Fatal(err)
		}
		if err := deferred.Merge(&d); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []float64{0, 0.5, 0.95, 0.99, 1} {
		a, _ := eager.Quantile(q)
		b, _ := deferred.Quantile(q)
		if a != b {
			t.Errorf("quantile %v: deferred %v, decoded %v", q, b, a)
		}
	}
	if eager.Count != deferred.Count || eager.LatencySumMs != deferred.LatencySumMs {
		t.Errorf("deferred totals %d/%v, decoded %d/%v", deferred.Count, deferred.LatencySumMs, eager.Count, eager.LatencySumMs)
	}
	// A lone deferred point answers its own percentiles and re-encodes.
	var d Point
	if err := d.UnmarshalDeferred(encoded[3]); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Quantile(0.5); !ok {
		t.Error("deferred point has no median")
	}
	if b, err := d.MarshalBinary(); err != nil || string(b) != string(encoded[3]) {
		t.Errorf("deferred point re-encoded differently (err %v)", err)
	}

	bad := append(append([]byte{}, encoded[0][:len(encoded[0])-len(encoded[0])/3]...), 0xff, 0xff, 0xff)
	var p Point
	if err := p.UnmarshalDeferred(bad); err != nil {
		t.Fatalf("exact fields of a point with a bad sketch: %v", err)
	}
	if err := NewPoint().Merge(&p); err == nil {
		t.Error("merging a bad sketch: no error")
	}
	if _, ok := p.Quantile(0.5); ok {
		t.Error("a bad sketch answered a median")
	}
	if _, err := p.MarshalBinary(); err == nil {
		t.Error("re-encoding a bad sketch: no error")
	}
}

func FuzzUnmarshalPoint(f *testing.F) {
	p := NewPoint()
	p.Observe(obs(Requests, time.Unix(0, 0), time.Second, model.StatusError, model.Usage{}, false))
	enc, _ := p.MarshalBinary()
	f.Add(enc)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Deferred, any bytes merge or fail without a panic.
		var d Point
		if err := d.UnmarshalDeferred(b); err == nil {
			_ = NewPoint().Merge(&d)
			d.Quantile(0.5)
		}
		var p Point
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		// What decodes must encode and merge.
		if _, err := p.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		if err := NewPoint().Merge(&p); err != nil {
			t.Fatal(err)
		}
		p.Quantile(0.5)
		// What decodes merges deferred too.
		d = Point{}
		if err := d.UnmarshalDeferred(b); err != nil {
			t.Fatalf("deferred decoding refused what UnmarshalBinary took: %v", err)
		}
		if err := NewPoint().Merge(&d); err != nil {
			t.Fatal(err)
		}
	})
}
