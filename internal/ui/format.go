package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/ui/chart"
)

// funcs are the template functions. Numbers carry their units and
// thousands separators by the same rules as the charts' read-outs.
func funcs() template.FuncMap {
	return template.FuncMap{
		"count":    withUnit(chart.FormatCount),
		"tokens":   withUnit(chart.FormatTokens),
		"ms":       withUnit(chart.FormatMillis),
		"usd":      withUnit(chart.FormatUSD),
		"pct":      withUnit(chart.FormatRatio),
		"score":    withUnit(chart.FormatScore),
		"when":     fmtTime,
		"ago":      fmtAgo,
		"clip":     clip,
		"pathesc":  pathEscape,
		"duration": fmtDuration,
		"deref":    deref,
		"add":      func(a, b int) int { return a + b },
		"durms":    millis,
		"fmtlocal": func(t time.Time) string { return t.Format("2006-01-02T15:04") },
		"json":     prettyJSON,
		"long":     clipLong,
		"signal":   fmtSignal,
		"measured": measuredOnly,
	}
}

// measuredOnly says a metric has no threshold: it is measured, never
// violated, and its pass rate (against a default pass score) means little.
// It takes a result or a pointer to one.
func measuredOnly(v any) bool {
	switch m := v.(type) {
	case model.MetricResult:
		return m.MinPassRate == nil && m.MinAverage == nil
	case *model.MetricResult:
		return m != nil && m.MinPassRate == nil && m.MinAverage == nil
	}
	return false
}

// number converts the integer and float kinds the pages hold.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case *int64:
		if x == nil {
			return 0, false
		}
		return float64(*x), true
	case *float64:
		if x == nil {
			return 0, false
		}
		return *x, !math.IsNaN(*x) && !math.IsInf(*x, 0)
	}
	return 0, false
}

// noValue is shown where there is nothing to show (never a made-up zero).
const noValue = "–"

// withUnit adapts a chart formatter to the number kinds the pages hold;
// nothing to show (nil, NaN) is a dash, never a zero.
func withUnit(format func(float64) string) func(any) string {
	return func(v any) string {
		f, ok := number(v)
		if !ok {
			return noValue
		}
		return format(f)
	}
}

// formatFloat writes f with at most prec decimals, trailing zeros cut.
func formatFloat(f float64, prec int) string {
	s := strconv.FormatFloat(f, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fmtTime renders a time in the viewer's zone, with UTC on hover and the
// exact instant in datetime (which static/app.js may re-render).
func fmtTime(t time.Time, loc *time.Location) template.HTML {
	if t.IsZero() {
		return template.HTML(noValue)
	}
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	layout := "2006-01-02 15:04:05"
	label := local.Format(layout)
	if loc == time.UTC {
		label += " UTC"
	} else {
		label += " " + local.Format("MST")
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
		template.HTMLEscapeString(t.UTC().Format(time.RFC3339Nano)),
		template.HTMLEscapeString(t.UTC().Format("2006-01-02 15:04:05.000 UTC")),
		template.HTMLEscapeString(label)))
}

// fmtAgo says how long before now t was ("3 min ago").
func fmtAgo(t, now time.Time) string {
	if t.IsZero() {
		return noValue
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in " + fmtDuration(-d)
	case d < 45*time.Second:
		return "just now"
	}
	return fmtDuration(d) + " ago"
}

// fmtDuration writes a duration for people: 45 s, 12 min, 3 h, 2 d.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return formatFloat(d.Seconds(), 0) + " s"
	case d < time.Hour:
		return formatFloat(d.Minutes(), 0) + " min"
	case d < 48*time.Hour:
		return formatFloat(d.Hours(), 0) + " h"
	}
	return formatFloat(d.Hours()/24, 0) + " d"
}

// clip cuts s to at most n runes, with an ellipsis.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// prettyJSON shows a structured value (tool arguments, a tool's result)
// indented; a string holding JSON is indented too.
func prettyJSON(v any) string {
	if s, ok := v.(string); ok {
		var parsed any
		if json.Unmarshal([]byte(s), &parsed) != nil {
			return s
		}
		v = parsed
	}
	b, err := json.MarshalIndent(jsonSafe(v, 0), "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// maxTextBytes bounds each long text a page shows (a question, an answer,
// a message, a document, a span's attributes), so that a trace carrying
// megabytes stays a page of a few hundred kilobytes; the whole text is in
// the trace's JSON.
const maxTextBytes = 16 << 10

// clipLong cuts s to maxTextBytes at a character boundary and says so.
func clipLong(s string) string {
	if len(s) <= maxTextBytes {
		return s
	}
	i := maxTextBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "\n… (cut at 16 KB: the whole text is in the trace's JSON)"
}

// fmtSignal writes an operational signal's value with the unit its name
// says: latencies in ms or s, rates as percentages, tokens, dollars, and
// counts with thousands separators.
func fmtSignal(name string, v *float64) string {
	if v == nil {
		return noValue
	}
	switch {
	case strings.HasSuffix(name, "_ms"):
		return chart.FormatMillis(*v)
	case strings.HasSuffix(name, "_rate"):
		return chart.FormatRatio(*v)
	case strings.Contains(name, "cost"):
		return chart.FormatUSD(*v)
	case strings.Contains(name, "tokens"):
		return chart.FormatTokens(*v) + " tokens"
	}
	return chart.FormatCount(*v)
}
