package monitor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSampleHashContract pins the hash of Sampled's contract to values
// computed outside Go: the first 16 hex digits of
// `printf %s ID | sha256sum`.
func TestSampleHashContract(t *testing.T) {
	tests := []struct {
		id   string
		hash uint64
		// share is hash / 2^64: the trace is kept at every rate above it.
		share float64
	}{
		{"4bf92f3577b34da6a3ce929d0e0e4736", 0x398acaee65c4e533, 0.2247740585351213},
		{"4BF92F3577B34DA6A3CE929D0E0E4736", 0x398acaee65c4e533, 0.2247740585351213}, // same trace, upper case
		{"0af7651916cd43dd8448eb211c80319c", 0x15f774f039ec6d5f, 0.08580714096926707},
		{"00000000000000000000000000000001", 0xe0cca2965509df67, 0.8781224839231423},
		{"abc", 0xba7816bf8f01cfea, 0.7283949105904022},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := sampleHash(tt.id); got != tt.hash {
				t.Fatalf("sampleHash = %#x, want %#x", got, tt.hash)
			}
			for _, rate := range []float64{0.05, 0.1, 0.3, 0.5, 0.9} {
				want := tt.share < rate
				if got := Sampled(tt.id, rate); got != want {
					t.Errorf("Sampled(rate %v) = %v, want %v (share %v)", rate, got, want, tt.share)
				}
			}
		})
	}
}

func TestSampledEdgeRates(t *testing.T) {
	id := "00000000000000000000000000000001" // share 0.878
	tests := []struct {
		rate float64
		want bool
	}{
		{1, true},
		{1.5, true},
		{math.Inf(1), true},
		{math.Nextafter(1, 0), true},
		{0, false},
		{-0.5, false},
		{math.NaN(), false},
		{math.SmallestNonzeroFloat64, false},
	}
	for _, tt := range tests {
		if got := Sampled(id, tt.rate); got != tt.want {
			t.Errorf("Sampled(%v) = %v, want %v", tt.rate, got, tt.want)
		}
	}
}

// sampleIDs returns n trace ids (32 hex digits) from a fixed seed.
func sampleIDs(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
	}
	return ids
}

// TestSampledGolden pins which of 40 fixed ids a rate of 0.3 keeps, so an
// accidental change of the function shows as a diff. The golden file was
// checked outside Go: each hash is the start of `printf %s ID | sha256sum`,
// and an id is kept exactly when that hash is below 0.3 × 2^64.
func TestSampledGolden(t *testing.T) {
	var b strings.Builder
	b.WriteString("# trace id, first 8 bytes of its SHA-256, kept at sampling rate 0.3\n")
	for _, id := range sampleIDs(40, 1) {
		kept := "-"
		if Sampled(id, 0.3) {
			kept = "kept"
		}
		fmt.Fprintf(&b, "%s %016x %s\n", id, sampleHash(id), kept)
	}
	golden(t, "sample/kept_0.3.golden", []byte(b.String()))
}

// TestSampledProportion checks the share kept over 100,000 ids against a
// binomial bound of 5 standard deviations (the ids are fixed, so the test
// is deterministic; the bound says a correct function passes for almost
// any seed).
func TestSampledProportion(t *testing.T) {
	const n = 100_000
	ids := sampleIDs(n, 2)
	for _, rate := range []float64{0.01, 0.1, 0.3, 0.5, 0.9} {
		kept := 0
		for _, id := range ids {
			if Sampled(id, rate) {
				kept++
			}
		}
		mean := rate * n
		sd := math.Sqrt(n * rate * (1 - rate))
		if math.Abs(float64(kept)-mean) > 5*sd {
			t.Errorf("rate %v kept %d of %d, want %.0f ± %.0f", rate, kept, n, mean, 5*sd)
		}
	}
}

// TestSampledMonotonic checks that a trace kept at a rate is kept at every
// higher rate, and that raising the rate never drops a trace.
func TestSampledMonotonic(t *testing.T) {
	ids := sampleIDs(2000, 3)
	rates := []float64{0.001, 0.01, 0.1, 0.2, 0.3, 0.30000000000000004, 0.5, 0.7, 0.99, 1}
	for _, id := range ids {
		kept := false
		for _, r := range rates {
			got := Sampled(id, r)
			if kept && !got {
				t.Fatalf("%s kept at a lower rate but not at %v", id, r)
			}
			kept = got
		}
		if !kept {
			t.Fatalf("%s not kept at rate 1", id)
		}
	}
}

func TestSampledStable(t *testing.T) {
	for _, id := range sampleIDs(100, 4) {
		first := Sampled(id, 0.5)
		for range 3 {
			if Sampled(id, 0.5) != first {
				t.Fatalf("%s: Sampled changed between calls", id)
			}
		}
	}
}
