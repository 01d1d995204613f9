package chart

import (
	"math"
	"strconv"
	"strings"
)

// noValue is what the formatters print for NaN and ±Inf: never a number.
const noValue = "–"

// Unit says what a chart's values measure; it picks the axis labels and
// the read-out's formatting.
type Unit int

const (
	Count  Unit = iota // requests, errors, violations: 1,234 (axis from 0)
	Tokens             // 950, 12.3k, 1.23M tokens (axis from 0)
	Millis             // durations in milliseconds: 420 ms, 1.23 s (axis from 0)
	USD                // dollars: $0.000123, $12.34, $1,234 (axis from 0)
	Ratio              // a fraction 0..1 shown as 12.3% (axis 0–100% by default)
	Score              // a judge's score on its own scale (set YMin/YMax, e.g. 1–5)
)

// Format writes v with its unit, as the hover read-out shows it.
func (u Unit) Format(v float64) string {
	switch u {
	case Tokens:
		if !finite(v) {
			return noValue
		}
		return FormatTokens(v) + " tokens"
	case Millis:
		return FormatMillis(v)
	case USD:
		return FormatUSD(v)
	case Ratio:
		return FormatRatio(v)
	case Score:
		return FormatScore(v)
	}
	return FormatCount(v)
}

// formatRange writes "lo–hi" with the unit once: "1.2k–3.4k tokens".
func (u Unit) formatRange(lo, hi float64) string {
	if u == Tokens {
		return FormatTokens(lo) + "–" + FormatTokens(hi) + " tokens"
	}
	return u.Format(lo) + "–" + u.Format(hi)
}

// FormatCount writes a count with thousands separators: 1234567 gives
// "1,234,567". A fractional value (an average count) keeps up to two
// decimals: 2.5 gives "2.5".
func FormatCount(v float64) string {
	if !finite(v) {
		return noValue
	}
	return string(appendGrouped(nil, v, 2, true))
}

// FormatTokens writes a token count compactly: 950, 12.3k, 1.23M, 4.5B
// (three significant digits past a thousand).
func FormatTokens(v float64) string {
	if !finite(v) {
		return noValue
	}
	if math.Abs(v) < 1000 {
		return string(appendGrouped(nil, v, 1, true))
	}
	return compact(v, "")
}

// FormatMillis writes a duration given in milliseconds, in ms below a
// second and in s from there, to three significant digits: 0.42 ms,
// 123 ms, 1.23 s, 61.2 s, 3,600 s.
func FormatMillis(v float64) string {
	if !finite(v) {
		return noValue
	}
	if r := roundSig(math.Abs(v), 3); r < 1000 {
		return sig3(v) + " ms"
	}
	return sig3(v/1000) + " s"
}

// FormatUSD writes dollars with enough digits for tiny costs: three
// significant digits below a dollar ($0.000123, $0.50), cents up to a
// thousand ($12.34) and whole dollars with separators above ($1,234).
func FormatUSD(v float64) string {
	if !finite(v) {
		return noValue
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	switch {
	case v == 0:
		return "$0"
	case math.Round(v*100)/100 >= 1000:
		return sign + "$" + string(appendGrouped(nil, v, 0, false))
	case roundSig(v, 3) >= 1:
		return sign + "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
	d := sigDecimals(v, 3)
	s := trimZeros(strconv.FormatFloat(v, 'f', d, 64))
	if i := strings.IndexByte(s, '.'); i < 0 {
		s += ".00"
	} else if len(s)-i-1 < 2 {
		s += "0"
	}
	return sign + "$" + s
}

// FormatRatio writes a fraction as a percentage to one decimal: 0.123
// gives "12.3%".
func FormatRatio(v float64) string {
	if !finite(v) {
		return noValue
	}
	return negZero(strconv.FormatFloat(v*100, 'f', 1, 64)) + "%"
}

// FormatScore writes a score with up to two decimals: 4.25, 4.5, 4.
func FormatScore(v float64) string {
	if !finite(v) {
		return noValue
	}
	return negZero(trimZeros(strconv.FormatFloat(v, 'f', 2, 64)))
}

// compact writes v to three significant digits with a k, M, B or T
// suffix, moving up a suffix when rounding reaches a thousand.
func compact(v float64, prefix string) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	suffixes := []string{"", "k", "M", "B", "T"}
	i := 0
	for i < len(suffixes)-1 && roundSig(v, 3) >= 1000 {
		v /= 1000
		i++
	}
	var s string
	if i == len(suffixes)-1 && v >= 1000 {
		s = string(appendGrouped(nil, v, 0, false))
	} else {
		s = sig3(v)
	}
	return sign + prefix + s + suffixes[i]
}

// sig3 writes v to three significant digits, trailing zeros cut (but
// never fewer than the integer digits): 1.23, 12.3, 123, 1235.
func sig3(v float64) string {
	return string(appendGrouped(nil, v, sigDecimals(math.Abs(v), 3), true))
}

// sigDecimals is how many decimals show n significant digits of v > 0.
func sigDecimals(v float64, n int) int {
	if v == 0 || !finite(v) {
		return 0
	}
	r := roundSig(v, n)
	d := n - 1 - int(math.Floor(math.Log10(r)))
	return max(0, min(d, 20))
}

// roundSig rounds v > 0 to n significant digits.
func roundSig(v float64, n int) float64 {
	if v == 0 || !finite(v) {
		return v
	}
	p := math.Pow(10, float64(n-1)-math.Floor(math.Log10(v)))
	r := math.Round(v*p) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return v
	}
	return r
}

// appendGrouped appends v with the given decimals and a comma between
// thousands of its integer part; trim cuts trailing decimal zeros.
func appendGrouped(b []byte, v float64, decimals int, trim bool) []byte {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if trim {
		s = trimZeros(s)
	}
	s = negZero(s)
	if s[0] == '-' {
		b = append(b, '-')
		s = s[1:]
	}
	intPart := s
	frac := ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i:]
	}
	for i := 0; i < len(intPart); i++ {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, intPart[i])
	}
	return append(b, frac...)
}

// trimZeros cuts trailing zeros after a decimal point, and the point.
func trimZeros(s string) string {
	if strings.IndexByte(s, '.') < 0 {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// negZero drops the sign of a number that rounded to zero ("-0.0"), so
// that no label reads "-0".
func negZero(s string) string {
	if !strings.HasPrefix(s, "-") || strings.Trim(s[1:], "0.") != "" {
		return s
	}
	return s[1:]
}
