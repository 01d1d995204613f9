package monitor

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
)

// Sampled reports whether a run with the given sampling rate judges the
// trace. The choice depends on the trace id and the rate only, so a re-run,
// a retried run and the overlapping windows of consecutive runs all judge
// the same traces, and raising the rate only adds traces (a trace sampled
// at rate r is sampled at every rate above r).
//
// The function is a contract: changing it changes which traces every
// existing monitor judges, and other tools may compute it. It is
//
//	key  = the trace id with the ASCII letters A-Z mapped to a-z
//	       (trace ids are hex; upper- and lower-case spellings are the same trace)
//	h    = the first 8 bytes of SHA-256(key), read as a big-endian uint64
//	keep = h < floor(rate * 2^64)
//
// where rate is the IEEE 754 double; a rate of 1 or more keeps every
// trace, a rate of 0 or less (or NaN) keeps none.
func Sampled(traceID string, rate float64) bool {
	if rate >= 1 {
		return true
	}
	if !(rate > 0) {
		return false
	}
	// rate * 2^64 is exact (a power of two), and below 2^64 because rate
	// is below 1; the conversion truncates toward zero, which is the floor.
	return sampleHash(traceID) < uint64(math.Ldexp(rate, 64))
}

// sampleHash is h of Sampled's contract.
func sampleHash(traceID string) uint64 {
	key := []byte(traceID)
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			key[i] = c + ('a' - 'A')
		}
	}
	sum := sha256.Sum256(key)
	return binary.BigEndian.Uint64(sum[:8])
}
