package api

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/rollup"
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
	// Models are kept as aliases; a dated snapshot asked for finds its
	// model's traces.
	q.Model = normalize.ModelAlias(vals["model"])
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

// metricsParams are the query parameters both metrics endpoints accept, in
// the order they are listed in error messages and the OpenAPI document.
func metricsParams() []string {
	return []string{"service", "deployment", "model", "since", "until", "step", "group_by", "include_empty"}
}

// defaultMetricsRange is the range of a metrics query without since.
const defaultMetricsRange = time.Hour

// metricsQuery is a parsed metrics request: the rollup query and the
// filters of the rows it reads.
type metricsQuery struct {
	rollup.Query
	Service, Deployment, Model string
	// IncludeEmpty keeps the buckets in which nothing happened in the
	// series; by default they are left out.
	IncludeEmpty bool
}

// parseMetricsQuery turns the query string of GET /api/v1/metrics/... into
// a valid rollup query. until defaults to now and since to an hour before
// until; step defaults to rollup.AutoStep. Every problem is a 400 that
// names the parameter at fault.
func parseMetricsQuery(raw string, now time.Time) (metricsQuery, error) {
	var q metricsQuery
	vals, err := queryValues(raw, metricsParams())
	if err != nil {
		return q, err
	}
	q.Service = vals["service"]
	q.Deployment = vals["deployment"]
	q.Model = normalize.ModelAlias(vals["model"])
	if q.Since, q.Until, err = parseRange(vals, now, defaultMetricsRange); err != nil {
		return q, err
	}
	if v, ok := vals["group_by"]; ok {
		if !slices.Contains(rollup.GroupBy, v) {
			return q, invalidParam("group_by", v, "must be one of "+strings.Join(rollup.GroupBy, ", "))
		}
		q.GroupBy = v
	}
	if v, ok := vals["include_empty"]; ok {
		switch v {
		case "true", "1":
			q.IncludeEmpty = true
		case "false", "0":
		default:
			return q, invalidParam("include_empty", v, "must be true or false")
		}
	}
	if v, ok := vals["step"]; ok {
		step, err := parseStep(v)
		if err != nil {
			return q, invalidParam("step", v, err.Error())
		}
		q.Step = step
	} else {
		q.Step = rollup.AutoStep(q.Since, q.Until)
	}
	if err := q.Validate(); err != nil {
		return q, rangeError(q, vals, err)
	}
	return q, nil
}

// parseRange reads since and until from vals: until defaults to now and
// since to span before until; until must be later than since.
func parseRange(vals map[string]string, now time.Time, span time.Duration) (since, until time.Time, err error) {
	until = now.UTC()
	if v, ok := vals["until"]; ok {
		if until, err = parseTime(v, now); err != nil {
			return since, until, invalidParam("until", v, err.Error())
		}
	}
	since = until.Add(-span)
	if v, ok := vals["since"]; ok {
		if since, err = parseTime(v, now); err != nil {
			return since, until, invalidParam("since", v, err.Error())
		}
	}
	if !until.After(since) {
		if v, ok := vals["until"]; ok {
			return since, until, invalidParam("until", v, fmt.Sprintf(`must be later than "since" (%s)`, since.Format(time.RFC3339Nano)))
		}
		return since, until, invalidParam("since", vals["since"], fmt.Sprintf(`must be earlier than "until" (now, %s)`, until.Format(time.RFC3339Nano)))
	}
	return since, until, nil
}

// rangeError phrases what rollup.Query.Validate found wrong with a query
// whose parameters each parsed: too many buckets, which blames step when
// one was given and the range (since) when it was chosen automatically.
// An error it cannot attribute is still a 400, in rollup's words.
func rangeError(q metricsQuery, vals map[string]string, err error) error {
	n := (q.End() - q.Start()) / q.Step
	if n <= rollup.MaxPoints {
		return &requestError{"invalid query: " + err.Error()}
	}
	if v, ok := vals["step"]; ok {
		return invalidParam("step", v, fmt.Sprintf("gives %d buckets from since to until, at most %d are allowed: use a larger step or a shorter range", n, rollup.MaxPoints))
	}
	return invalidParam("since", vals["since"], fmt.Sprintf("the range from since to until is too long: even the largest automatic step (%s) gives %d buckets, at most %d are allowed", formatStep(q.Step), n, rollup.MaxPoints))
}

// maxStepDigits bounds a step written as plain seconds.
const maxStepDigits = 12

// parseStep reads a step: a whole number of seconds (300) or a duration
// written as number-unit pairs (5m, 1h30m, 1d) with the units of
// time.ParseDuration plus d (24h) and w (7d). It must be a whole number of
// minutes, from 1m to rollup.MaxStep. The error says which rule failed.
func parseStep(s string) (int64, error) {
	const form = "must be a duration such as 5m, 1h or 1d, or a whole number of seconds such as 300"
	tooBig := fmt.Errorf("must be at most %s (%d seconds)", formatStep(rollup.MaxStep), rollup.MaxStep)
	var ns float64 // nanoseconds
	if strings.Trim(s, "0123456789") == "" {
		if len(strings.TrimLeft(s, "0")) > maxStepDigits {
			return 0, tooBig
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, errors.New(form)
		}
		ns = float64(n) * 1e9
	} else {
		rest, negative := strings.CutPrefix(s, "-")
		rest = strings.TrimPrefix(rest, "+")
		if rest == "" {
			return 0, errors.New(form)
		}
		for rest != "" {
			i := 0
			for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
				i++
			}
			n, err := strconv.ParseFloat(rest[:i], 64)
			if i == 0 || err != nil {
				return 0, errors.New(form)
			}
			rest = rest[i:]
			j := 0
			for j < len(rest) && (rest[j] < '0' || rest[j] > '9') && rest[j] != '.' {
				j++
			}
			unit := stepUnit(rest[:j])
			if unit == 0 {
				return 0, errors.New(form)
			}
			rest = rest[j:]
			ns += n * unit
		}
		if negative && ns > 0 {
			return 0, errors.New("must be positive")
		}
	}
	switch secs := math.Round(ns) / 1e9; {
	case secs <= 0:
		return 0, errors.New("must be positive")
	case secs > float64(rollup.MaxStep):
		return 0, tooBig
	case secs != math.Trunc(secs) || int64(secs)%rollup.Minute != 0:
		return 0, errors.New("must be a whole number of minutes (60, 5m, 1h, 1d)")
	default:
		return int64(secs), nil
	}
}

// stepUnit is the length of a unit a step may be written in, in
// nanoseconds, or 0 for an unknown unit.
func stepUnit(u string) float64 {
	switch u {
	case "ns":
		return 1
	case "us", "µs", "μs":
		return 1e3
	case "ms":
		return 1e6
	case "s":
		return 1e9
	case "m":
		return 60e9
	case "h":
		return 3600e9
	case "d":
		return 86400e9
	case "w":
		return 7 * 86400e9
	}
	return 0
}

// formatStep writes a step in seconds in its shortest unit form: 60 is
// 1m, 5400 is 90m, 86400 is 1d.
func formatStep(secs int64) string {
	for _, u := range []struct {
		suffix string
		secs   int64
	}{{"w", 7 * 86400}, {"d", 86400}, {"h", 3600}, {"m", 60}} {
		if secs >= u.secs && secs%u.secs == 0 {
			return strconv.FormatInt(secs/u.secs, 10) + u.suffix
		}
	}
	return strconv.FormatInt(secs, 10) + "s"
}
