package ui

import (
	"net/http"
	"net/url"
	"time"
	_ "time/tzdata" // the viewer's time zone, whatever the host has installed
)

// Range is a page's time range: a preset relative to now (live) or fixed
// bounds, never both, and the chart step that goes with it.
type Range struct {
	// Key is the preset ("1h", "6h", "24h", "7d", "30d") or "custom".
	Key      string
	From, To time.Time
	Step     time.Duration
}

// presets are the ranges offered, shortest first.
var presets = []struct {
	key string
	d   time.Duration
}{
	{"1h", time.Hour}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour},
	{"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour},
}

// defaultRange is the range of a page whose URL names none: short, so the
// first page is fast.
const defaultRange = "24h"

// maxRange bounds a custom range.
const maxRange = 400 * 24 * time.Hour

// Presets lists the preset keys for the range picker.
func (Range) Presets() []string {
	out := make([]string, len(presets))
	for i, p := range presets {
		out[i] = p.key
	}
	return out
}

// Label names the range for a heading.
func (r Range) Label() string {
	switch r.Key {
	case "1h":
		return "last hour"
	case "6h":
		return "last 6 hours"
	case "24h":
		return "last 24 hours"
	case "7d":
		return "last 7 days"
	case "30d":
		return "last 30 days"
	}
	return "custom range"
}

// StepLabel says the chart step ("5-minute buckets").
func (r Range) StepLabel() string {
	switch {
	case r.Step >= 24*time.Hour:
		return "daily buckets"
	case r.Step >= time.Hour:
		return trimZero(r.Step.Hours()) + "-hour buckets"
	default:
		return trimZero(r.Step.Minutes()) + "-minute buckets"
	}
}

func trimZero(f float64) string {
	return formatFloat(f, 0)
}

// parseRange reads range=PRESET or from=...&to=... (RFC 3339, or the
// datetime-local form YYYY-MM-DDTHH:MM in the viewer's zone). A bad value
// is an error naming the parameter.
func parseRange(q url.Values, now time.Time, loc *time.Location) (Range, error) {
	from, to := q.Get("from"), q.Get("to")
	if from != "" || to != "" {
		if from == "" || to == "" {
			return Range{}, badRequest("A custom range needs both from and to.")
		}
		f, err := parseTime(from, loc)
		if err != nil {
			return Range{}, badRequest("from=%q is not a time: write 2006-01-02T15:04 or an RFC 3339 time.", from)
		}
		t, err := parseTime(to, loc)
		if err != nil {
			return Range{}, badRequest("to=%q is not a time: write 2006-01-02T15:04 or an RFC 3339 time.", to)
		}
		if !t.After(f) {
			return Range{}, badRequest("The range must end after it starts (from=%s, to=%s).", from, to)
		}
		if t.Sub(f) > maxRange {
			return Range{}, badRequest("A range may span at most 400 days.")
		}
		return Range{Key: "custom", From: f.UTC(), To: t.UTC(), Step: stepFor(t.Sub(f))}, nil
	}
	key := q.Get("range")
	if key == "" {
		key = defaultRange
	}
	for _, p := range presets {
		if p.key == key {
			return Range{Key: key, From: now.Add(-p.d).UTC(), To: now.UTC(), Step: stepFor(p.d)}, nil
		}
	}
	return Range{}, badRequest("range=%q is not one of 1h, 6h, 24h, 7d, 30d.", key)
}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04", s, loc)
}

// stepFor is the chart bucket of a range (a few hundred points at most,
// each a whole number of minutes or hours so buckets are unions of stored
// rollup rows).
func stepFor(d time.Duration) time.Duration {
	switch {
	case d <= time.Hour:
		return time.Minute
	case d <= 6*time.Hour:
		return 5 * time.Minute
	case d <= 24*time.Hour:
		return 15 * time.Minute
	case d <= 7*24*time.Hour:
		return time.Hour
	case d <= 31*24*time.Hour:
		return 6 * time.Hour
	}
	return 24 * time.Hour
}

// tzCookie holds the viewer's IANA time zone, set by static/app.js.
const tzCookie = "fw_tz"

// viewerLocation is the viewer's time zone from the cookie, else UTC.
func viewerLocation(r *http.Request) *time.Location {
	c, err := r.Cookie(tzCookie)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return time.UTC
	}
	name, err := url.QueryUnescape(c.Value)
	if err != nil {
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}
