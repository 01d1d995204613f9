package api

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Bounds on query parameter values.
const (
	// maxParamLen bounds every parameter value except q and cursor.
	maxParamLen = 512
	// maxTextLen bounds q, the full-text query.
	maxTextLen = 1024
	// maxCursorLen bounds cursor.
	maxCursorLen = 1024
	// maxLookback bounds relative since/until values (about 100 years).
	maxLookback = 100 * 365 * 24 * time.Hour
	// maxMinDurationMS bounds min_duration_ms (about 100 years).
	maxMinDurationMS = float64(maxLookback / time.Millisecond)
	// maxQueryLen bounds the whole raw query string.
	maxQueryLen = 8 << 10
)

// traceListParams are the query parameters GET /api/v1/traces accepts, in
// the order they are listed in error messages and the OpenAPI document.
func traceListParams() []string {
	return []string{"service", "deployment", "since", "until", "status", "model", "q", "min_duration_ms", "limit", "cursor"}
}

// requestError is a client error: the response is 400 with its message.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

// invalidParam returns the error for a parameter value that fails
// validation: `invalid "limit": must be ..., got "abc"`.
func invalidParam(name, value, reason string) error {
	if len(value) > 100 {
		// Echo a bounded prefix, cut on a rune boundary.
		cut := 100
		for cut > 0 && !utf8.RuneStart(value[cut]) {
			cut--
		}
		value = value[:cut] + "..."
	}
	return &requestError{fmt.Sprintf("invalid %q: %s, got %q", name, reason, value)}
}

// queryValues parses a raw query string strictly: bad escapes, unknown
// names and repeated names are errors. Empty values count as absent.
func queryValues(raw string, allowed []string) (map[string]string, error) {
	if len(raw) > maxQueryLen {
		return nil, &requestError{fmt.Sprintf("query string too long: %d bytes, at most %d", len(raw), maxQueryLen)}
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &requestError{fmt.Sprintf("invalid query string: %v", err)}
	}
	known := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		known[a] = true
	}
	var unknown []string
	for name := range vals {
		if !known[name] {
			unknown = append(unknown, strconv.Quote(name))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		what := "unknown query parameter"
		if len(unknown) > 1 {
			what += "s"
		}
		if len(allowed) == 0 {
			return nil, &requestError{fmt.Sprintf("%s %s: this endpoint takes no query parameters", what, strings.Join(unknown, ", "))}
		}
		return nil, &requestError{fmt.Sprintf("%s %s (allowed: %s)", what, strings.Join(unknown, ", "), strings.Join(allowed, ", "))}
	}
	out := make(map[string]string, len(vals))
	for name, vs := range vals {
		if len(vs) > 1 {
			return nil, &requestError{fmt.Sprintf("invalid %q: given %d times, at most once", name, len(vs))}
		}
		v := vs[0]
		if !utf8.ValidString(v) {
			return nil, &requestError{fmt.Sprintf("invalid %q: not valid UTF-8", name)}
		}
		limit := maxParamLen
		switch name {
		case "q":
			limit = maxTextLen
		case "cursor":
			limit = maxCursorLen
		}
		if len(v) > limit {
			return nil, &requestError{fmt.Sprintf("invalid %q: %d bytes long, at most %d", name, len(v), limit)}
		}
		if v != "" {
			out[name] = v
		}
	}
	return out, nil
}

// parseTraceQuery turns the query string of GET /api/v1/traces into a
// store query. Relative times are taken back from now.
func parseTraceQuery(raw string, now time.Time) (store.TraceQuery, error) {
	q := store.TraceQuery{Limit: store.DefaultLimit}
	vals, err := queryValues(raw, traceListParams())
	if err != nil {
		return q, err
	}
	q.Service = vals["service"]
	q.Deployment = vals["deployment"]
	q.Model = vals["model"]
	q.Text = vals["q"]
	q.Cursor = vals["cursor"]
	if v, ok := vals["status"]; ok {
		switch model.Status(v) {
		case model.StatusOK, model.StatusError:
			q.Status = model.Status(v)
		default:
			return q, invalidParam("status", v, `must be "ok" or "error"`)
		}
	}
	if v, ok := vals["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return q, invalidParam("limit", v, fmt.Sprintf("must be an integer between 1 and %d", store.MaxLimit))
		}
		q.Limit = n
	}
	if v, ok := vals["min_duration_ms"]; ok {
		ms, ok := parseMillis(v)
		if !ok {
			return q, invalidParam("min_duration_ms", v, "must be a non-negative number of milliseconds")
		}
		q.MinDuration = time.Duration(ms * float64(time.Millisecond))
	}
	for _, name := range []string{"since", "until"} {
		v, ok := vals[name]
		if !ok {
			continue
		}
		t, err := parseTime(v, now)
		if err != nil {
			return q, invalidParam(name, v, err.Error())
		}
		if name == "since" {
			q.Since = t
		} else {
			q.Until = t
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return q, invalidParam("until", vals["until"], fmt.Sprintf(`must be later than "since" (%s)`, q.Since.Format(time.RFC3339Nano)))
	}
	return q, nil
}

// parseMillis reads a non-negative decimal number of milliseconds (digits
// with at most one decimal point; no sign, exponent or hex).
func parseMillis(s string) (float64, bool) {
	dot := false
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f > maxMinDurationMS {
		return 0, false
	}
	return f, true
}

// errBadTime is the reason given for a since/until value that is neither
// form.
const errBadTime = "must be an RFC 3339 time (2025-06-01T12:00:00Z), a date (2025-06-01) or a positive duration before now of at most 100 years (30m, 1h, 7d, 2w)"

// parseTime reads since/until: an RFC 3339 time, a date (midnight UTC), or
// a relative duration meaning now minus that duration. The result is UTC.
func parseTime(s string, now time.Time) (time.Time, error) {
	if d, ok := parseRelative(s); ok {
		return now.Add(-d).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	// A '+' in an unencoded query string arrives as a space.
	if strings.Contains(s, " ") {
		if t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(s, " ", "+")); err == nil {
			return t.UTC(), nil
		}
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s", errBadTime)
}

// parseRelative reads a positive duration written as one or more
// number-unit pairs: 90s, 30m, 1h30m, 7d, 2w, 1.5h. Units: ms, s, m, h, d
// (24h), w (7d).
func parseRelative(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var total float64
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, false
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, false
		}
		s = s[i:]
		j := 0
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		var unit time.Duration
		switch s[:j] {
		case "ms":
			unit = time.Millisecond
		case "s":
			unit = time.Second
		case "m":
			unit = time.Minute
		case "h":
			unit = time.Hour
		case "d":
			unit = 24 * time.Hour
		case "w":
			unit = 7 * 24 * time.Hour
		default:
			return 0, false
		}
		s = s[j:]
		total += n * float64(unit)
		if total > float64(maxLookback) {
			return 0, false
		}
	}
	if total <= 0 {
		return 0, false
	}
	return time.Duration(total), true
}
