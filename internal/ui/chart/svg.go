package chart

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// svgw accumulates the SVG. Every piece of text that is not a literal of
// this package goes through esc, which escapes it for both XML and HTML
// (the chart is inlined in an HTML page and parsed as XML in the tests).
type svgw struct{ b []byte }

// raw appends markup written in this package. Never pass data to it.
func (w *svgw) raw(s string) { w.b = append(w.b, s...) }

// esc appends s as text or as a double-quoted attribute value, on one line.
func (w *svgw) esc(s string) { w.b = appendEscaped(w.b, s) }

// num appends a coordinate rounded to a tenth of a unit.
func (w *svgw) num(v float64) { w.b = appendTenths(w.b, tenths(v)) }

// tenth appends a coordinate already counted in tenths.
func (w *svgw) tenth(q int64) { w.b = appendTenths(w.b, q) }

// tenths rounds a coordinate to tenths of a unit. Coordinates are inside
// the viewBox, so the conversion cannot overflow; NaN never reaches here.
func tenths(v float64) int64 { return int64(math.Round(v * 10)) }

// appendTenths writes q/10 with at most one decimal: 1234 is "123.4",
// 1230 is "123", -5 is "-0.5".
func appendTenths(b []byte, q int64) []byte {
	if q < 0 {
		b = append(b, '-')
		q = -q
	}
	b = strconv.AppendInt(b, q/10, 10)
	if r := q % 10; r != 0 {
		b = append(b, '.', byte('0'+r))
	}
	return b
}

// appendShortTenths is appendTenths without the zero before the point:
// ".5" and "-.5" (valid in SVG path data, and a byte shorter).
func appendShortTenths(b []byte, q int64) []byte {
	if q > -10 && q < 10 && q != 0 {
		if q < 0 {
			b = append(b, '-')
			q = -q
		}
		return append(b, '.', byte('0'+q))
	}
	return appendTenths(b, q)
}

// appendEscaped appends s escaped for XML and HTML text and attributes:
// the five special characters become references, control characters
// (line breaks included) become spaces, and bytes that are not
// UTF-8 or characters XML forbids become U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				b = append(b, "&amp;"...)
			case c == '<':
				b = append(b, "&lt;"...)
			case c == '>':
				b = append(b, "&gt;"...)
			case c == '"':
				b = append(b, "&#34;"...)
			case c == '\'':
				b = append(b, "&#39;"...)
			case c < 0x20 || c == 0x7f:
				b = append(b, ' ')
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == 0xFFFE, r == 0xFFFF:
			b = append(b, "\uFFFD"...)
		case r >= 0x80 && r <= 0x9f: // C1 controls
			b = append(b, ' ')
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// oneLine collapses runs of white space (line breaks included) to one
// space and cuts s to at most n runes, ending a cut with an ellipsis.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for i = range s {
		if k == n-1 {
			break
		}
		k++
	}
	return s[:i] + "…"
}

// textWidth estimates the width of s in user units at the chart's 11px
// font (a generous average advance, so that labels do not collide).
func textWidth(s string) float64 { return 6.4 * float64(utf8.RuneCountInString(s)) }
