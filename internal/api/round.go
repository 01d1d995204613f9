package api

import (
	"math"
	"strings"
)

// Figures on the wire are rounded for people, one rule per kind of
// figure (docs/api.md, "Precision"): more digits than these are noise
// (latency percentiles come from a sketch within 1%; scores are means of
// small integers) and make answers long and tables wide.
const (
	// msDigits, msScale: milliseconds to four significant digits, but
	// never finer than a microsecond (0.812, 23.46, 699.4) nor coarser
	// than a tenth (1107.9).
	msDigits = 4
	msScale  = 10
	// costScale, costDigits: US dollars to a millionth, and small costs
	// (under a tenth of a cent) to four significant digits, so that a
	// cheap embedding call's $0.0000006 stays what it is.
	costScale  = 1e6
	costDigits = 4
	// scoreScale: judge scores and their averages to four decimals.
	scoreScale = 1e4
	// ratioDigits: ratios (error, pass and violation rates) to four
	// significant digits.
	ratioDigits = 4
)

// roundMS rounds milliseconds for people: a tenth from a second up, four
// significant digits below, down to a microsecond.
func roundMS(v float64) float64 {
	if math.Abs(v) >= 1000 {
		return roundTo(v, msScale)
	}
	return roundSignificant(v, msDigits, 1e3)
}

// roundCost rounds US dollars to a millionth, or to four significant
// digits when that is finer.
func roundCost(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return finite(v)
	}
	exp := math.Floor(math.Log10(math.Abs(v)))
	return roundTo(v, max(costScale, math.Pow(10, costDigits-1-exp)))
}

// roundScore rounds a score or an average score to four decimals.
func roundScore(v float64) float64 { return roundTo(v, scoreScale) }

// roundRatio rounds a ratio to four significant digits (0.1235,
// 0.0001235), and non-finite values to 0.
func roundRatio(v float64) float64 {
	return roundSignificant(v, ratioDigits, math.Inf(1))
}

// roundSignificant rounds v to digits significant digits, but not finer
// than 1/maxScale; non-finite values become 0.
func roundSignificant(v float64, digits int, maxScale float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return finite(v)
	}
	exp := math.Floor(math.Log10(math.Abs(v)))
	return roundTo(v, min(math.Pow(10, float64(digits)-1-exp), maxScale))
}

// roundPtr applies round to *p, keeping nil and dropping non-finite
// values (as finitePtr).
func roundPtr(p *float64, round func(float64) float64) *float64 {
	p = finitePtr(p)
	if p != nil {
		*p = round(*p)
	}
	return p
}

// roundSignal rounds the value or bound of an operational signal by the
// signal's unit, read from its name: milliseconds (latency_p95_ms),
// a rate (error_rate), dollars (cost_usd); counts to a tenth (a per-group
// total can be an average).
func roundSignal(name string) func(float64) float64 {
	switch {
	case strings.HasSuffix(name, "_ms"):
		return roundMS
	case strings.HasSuffix(name, "_rate"):
		return roundRatio
	case strings.HasPrefix(name, "cost"):
		return roundCost
	}
	return roundScore
}
