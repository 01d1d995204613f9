package monitor

import (
	"errors"
	"fmt"
	"math"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/adhocore/gronx"
	"github.com/sosodev/duration"

	"github.com/flowwatch/flowwatch/internal/eval"
	"github.com/flowwatch/flowwatch/internal/model"
)

// metric describes a quality metric as validation needs it: whether an
// LLM judges it, its score scale, the default pass score and whether it
// compares with a ground truth. docs/monitors.md has the same table for
// users.
type metric struct {
	name        string
	llm         bool
	lo, hi      float64
	defaultPass float64
	groundTruth bool
}

// registry describes the metrics flowwatch computes (eval's, so that
// validation and evaluation never disagree). It is never modified.
var registry = eval.NewRegistry()

func metricInfo(name string) (metric, bool) {
	m, ok := registry.Lookup(name)
	if !ok {
		return metric{}, false
	}
	hi := m.Max
	if m.Unbounded {
		hi = math.Inf(1)
	}
	return metric{name: m.Name, llm: m.LLM(), lo: m.Min, hi: hi, defaultPass: m.DefaultPassScore,
		groundTruth: slices.Contains(m.Needs, eval.FieldGroundTruth)}, true
}

// metricNames are the known quality metrics, in documentation order.
func metricNames() []string { return registry.Names() }

// IsLLMMetric reports whether an LLM judge rates the quality metric name
// (as opposed to a built-in evaluator).
func IsLLMMetric(name string) bool {
	m, ok := metricInfo(name)
	return ok && m.llm
}

func (m metric) scale() string {
	if math.IsInf(m.hi, 1) {
		return fmt.Sprintf("%s's scale starts at %s", m.name, fnum(m.lo))
	}
	return fmt.Sprintf("%s's scale is %s to %s", m.name, fnum(m.lo), fnum(m.hi))
}

func (m metric) inScale(v float64) bool { return v >= m.lo && v <= m.hi }

// Operational signals: what a run checks besides quality, from the
// operational rollups of its window.
var operationalSignals = [...]string{
	"total_tokens", "total_tokens_per_group", "error_rate",
	"latency_p95_ms", "latency_p99_ms", "request_count", "cost_usd",
}

func signalNames() []string { return operationalSignals[:] }

// Recurrence frequencies and week days.
var (
	frequencies = [...]string{"minute", "hour", "day", "week", "month"}
	weekDays    = [...]string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)

// Bounds of the settings.
const (
	maxNameLen        = 128
	maxWindow         = 366 * 24 * time.Hour
	minRepeatInterval = time.Minute
)

// issue is a problem found on a built monitor, at a native path.
type issue struct {
	path string
	msg  string
	near string // when path is missing from the file, the key that needs it
}

// Validate checks an already-built monitor (no line numbers): one stored
// earlier, or one built in code. Keys that Load fills with defaults must
// be set (sampling_rate, alerting.for_runs, alerting.no_data); an empty
// timezone means UTC and an empty offset P0D. Its error is a
// *ValidationError.
func Validate(m model.Monitor, env Env) error {
	issues := validate(m, env)
	if len(issues) == 0 {
		return nil
	}
	ps := make([]Problem, len(issues))
	for i, is := range issues {
		ps[i] = Problem{Path: is.path, Message: is.msg}
	}
	return &ValidationError{Problems: ps}
}

func validate(m model.Monitor, env Env) []issue {
	var out []issue
	add := func(path, format string, args ...any) {
		out = append(out, issue{path: path, msg: fmt.Sprintf(format, args...)})
	}

	if msg := checkName(m.Name); msg != "" {
		add("name", "%s", msg)
	}
	if strings.TrimSpace(m.Target.Service) == "" {
		add("target.service", "required: the service.name resource attribute your application reports (on the reference platform, the endpoint name)")
	}

	scheduleChecked := len(out)
	switch {
	case m.Schedule.Cron == "" && m.Schedule.Recurrence == nil:
		add("schedule", `set when the monitor runs: either cron (e.g. cron: "*/5 * * * *") or recurrence (e.g. recurrence: {frequency: day, interval: 1, hours: [10]})`)
	case m.Schedule.Cron != "" && m.Schedule.Recurrence != nil:
		add("schedule", "set either cron or recurrence, not both")
	case m.Schedule.Cron != "":
		if msg := checkCron(m.Schedule.Cron); msg != "" {
			add("schedule.cron", "%s", msg)
		}
	default:
		out = append(out, checkRecurrence(*m.Schedule.Recurrence)...)
	}
	if msg := checkTimezone(m.Schedule.Timezone); msg != "" {
		add("schedule.timezone", "%s", msg)
	}
	if len(out) == scheduleChecked {
		if path, msg := checkFires(m.Schedule, time.Now()); msg != "" {
			add(path, "%s", msg)
		}
	}

	if m.Window.Lookback == "" {
		add("window.lookback", "required: how far back a run reads, an ISO 8601 duration such as P7D (7 days) or PT6H (6 hours)")
	} else if d, msg := parseWindow(m.Window.Lookback); msg != "" {
		add("window.lookback", "%s", msg)
	} else if d <= 0 {
		add("window.lookback", "must be longer than zero, e.g. P7D")
	}
	if m.Window.Offset != "" {
		if _, msg := parseWindow(m.Window.Offset); msg != "" {
			add("window.offset", "%s", msg)
		}
	}

	if r := m.SamplingRate; !(r > 0 && r <= 1) {
		add("sampling_rate", "must be greater than 0 and at most 1 (1 judges every trace of the window, 0.1 one in ten), not %s", fnum(r))
	}

	var llm, groundTruth []string
	for _, name := range orderedKeys(m.Quality, metricNames()) {
		t := m.Quality[name]
		path := join("quality", name)
		info, ok := metricInfo(name)
		if !ok {
			msg := fmt.Sprintf("unknown quality metric %q", name)
			if s := suggest(name, metricNames()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			add(path, "%s; known metrics: %s", msg, strings.Join(metricNames(), ", "))
			continue
		}
		if info.llm {
			llm = append(llm, name)
		}
		if info.groundTruth {
			groundTruth = append(groundTruth, name)
		}
		if t.PassScore != nil && !info.inScale(*t.PassScore) {
			add(path+".pass_score", "must be within the metric's scale (%s), not %s", info.scale(), fnum(*t.PassScore))
		}
		if t.MinPassRate != nil && !(*t.MinPassRate >= 0 && *t.MinPassRate <= 1) {
			add(path+".min_pass_rate", "must be between 0 and 1 (the share of judged answers that must pass, e.g. 0.7), not %s", fnum(*t.MinPassRate))
		}
		if t.MinAverage != nil && !info.inScale(*t.MinAverage) {
			add(path+".min_average", "must be within the metric's scale (%s), not %s", info.scale(), fnum(*t.MinAverage))
		}
	}
	if len(llm) > 0 && m.Judge == "" {
		add("judge", "missing judge connection: %s %s judged by an LLM; name a judge connection of the server config (judge: in the native form, connection_id in the reference form), or use only built-in metrics", strings.Join(llm, ", "), plural(len(llm), "is", "are"))
		out[len(out)-1].near = join("quality", llm[0])
	}
	if m.Judge != "" && env.Judge != nil && !env.Judge(m.Judge) {
		add("judge", "missing judge connection %q: the server config has no judge of that name; add it under judges:, e.g. judges: {%s: {type: azure_openai, endpoint: https://NAME.openai.azure.com, deployment: gpt-4, api_version: 2024-10-21, api_key_env: AZURE_OPENAI_API_KEY}}", m.Judge, m.Judge)
	}
	if b := m.Budget; b != nil {
		if b.MaxTokens < 0 {
			add("budget.max_tokens", "must not be negative: the judge tokens one run may use (0 or absent: no bound), not %d", b.MaxTokens)
		}
		if !(b.MaxCostUSD >= 0) || math.IsInf(b.MaxCostUSD, 0) {
			add("budget.max_cost_usd", "must not be negative: the US dollars one run may spend on its judge (0 or absent: no bound), not %s", fnum(b.MaxCostUSD))
		}
		if b.MaxTokens == 0 && b.MaxCostUSD == 0 {
			add("budget", "sets no bound: give max_tokens, max_cost_usd or both (e.g. budget: {max_tokens: 2000000}), or leave budget out")
		}
		if m.Judge == "" {
			add("budget", "bounds judge calls, but the monitor has no judge: leave budget out, or name a judge")
		}
	}
	if len(groundTruth) > 0 && m.Columns.GroundTruth == "" {
		add("columns.ground_truth", "required by %s, which compare%s answers with the expected answer: set it to the key of the expected answer in each request's input record", strings.Join(groundTruth, ", "), plural(len(groundTruth), "s", ""))
		out[len(out)-1].near = join("quality", groundTruth[0])
	}
	if len(m.Quality) == 0 && len(m.Operational) == 0 {
		add("quality", "nothing to check: add a quality metric (e.g. quality: {groundedness: {min_pass_rate: 0.7}}) or an operational signal (e.g. operational: {error_rate: {max: 0.05}})")
	}

	for _, name := range orderedKeys(m.Operational, signalNames()) {
		out = append(out, checkBound(name, m.Operational[name])...)
	}

	if m.Alerting.ForRuns < 1 {
		add("alerting.for_runs", "must be at least 1 (1 notifies on the first violating run, 3 after three in a row), not %d", m.Alerting.ForRuns)
	}
	if ri := m.Alerting.RepeatInterval; ri != "" {
		d, err := time.ParseDuration(ri)
		switch {
		case err != nil:
			add("alerting.repeat_interval", "%q is not a duration; write e.g. 30m, 4h or 24h (a day is 24h)", ri)
		case d < minRepeatInterval:
			add("alerting.repeat_interval", "must be at least 1m, not %s", ri)
		}
	}
	if nd := m.Alerting.NoData; nd != NoDataAlert && nd != NoDataIgnore {
		add("alerting.no_data", "must be %s (a run with nothing to judge notifies) or %s, not %q", NoDataAlert, NoDataIgnore, nd)
	}

	for i, e := range m.Notify.Emails {
		if _, err := mail.ParseAddress(e); err != nil {
			add(index("notify.emails", i), "%q is not an e-mail address (write e.g. oncall@example.com)", clip(e))
		}
	}
	if len(m.Notify.Emails) > 0 && env.Emails != nil && !env.Emails() {
		add("notify.emails", "the server cannot send e-mail: add smtp: to the server config (host, port, tls, from; see docs/configuration.md), or notify a channel instead")
	}
	for i, c := range m.Notify.Channels {
		switch {
		case strings.TrimSpace(c) == "":
			add(index("notify.channels", i), "must name a channel of the server config")
		case env.Channel != nil && !env.Channel(c):
			add(index("notify.channels", i), "unknown channel %q: add it under channels: in the server config, e.g. channels: {%s: {type: slack, url_env: SLACK_WEBHOOK_URL}}", c, c)
		}
	}
	return out
}

func checkName(name string) string {
	switch {
	case name == "":
		return "required: 1 to 128 letters, digits, '_', '.' or '-', e.g. rag-quality"
	case len(name) > maxNameLen:
		return fmt.Sprintf("is %d characters long; at most %d", len(name), maxNameLen)
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a usable name; use letters, digits, '_', '.' or '-'", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return fmt.Sprintf("may only hold letters, digits, '_', '.' and '-'; %q is not allowed", r)
		}
	}
	return ""
}

func checkRecurrence(r model.Recurrence) []issue {
	var out []issue
	add := func(path, format string, args ...any) {
		out = append(out, issue{path: path, msg: fmt.Sprintf(format, args...)})
	}
	const p = "schedule.recurrence"
	if !slices.Contains(frequencies[:], r.Frequency) {
		if r.Frequency == "" {
			add(p+".frequency", "required: one of %s", strings.Join(frequencies[:], ", "))
		} else {
			add(p+".frequency", "must be one of %s, not %q", strings.Join(frequencies[:], ", "), r.Frequency)
		}
	}
	if r.Interval < 1 {
		unit := "day"
		if slices.Contains(frequencies[:], r.Frequency) {
			unit = r.Frequency
		}
		add(p+".interval", "must be at least 1 (interval: 1 runs every %s, 2 every other one)", unit)
	}
	for i, h := range r.Hours {
		if h < 0 || h > 23 {
			add(index(p+".hours", i), "an hour is 0 to 23, not %d", h)
		}
	}
	for i, m := range r.Minutes {
		if m < 0 || m > 59 {
			add(index(p+".minutes", i), "a minute is 0 to 59, not %d", m)
		}
	}
	for i, d := range r.WeekDays {
		if !slices.Contains(weekDays[:], d) {
			add(index(p+".week_days", i), "must be a day name (%s), not %q", strings.Join(weekDays[:], ", "), d)
		}
	}
	switch r.Frequency {
	case "minute":
		if len(r.Hours) > 0 || len(r.Minutes) > 0 {
			add(p, "hours and minutes do not apply to frequency minute; remove them, or use a cron expression")
		}
	case "hour":
		if len(r.Hours) > 0 {
			add(p+".hours", "do not apply to frequency hour (minutes do); remove them, or use frequency day")
		}
	}
	if len(r.WeekDays) > 0 && r.Frequency != "week" && slices.Contains(frequencies[:], r.Frequency) {
		add(p+".week_days", "apply to frequency week only; set frequency: week, or remove them")
	}
	return out
}

func checkTimezone(tz string) string {
	if tz == "" {
		return ""
	}
	if tz == "Local" {
		return `"Local" depends on the server; name the time zone, e.g. Europe/Berlin or UTC`
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Sprintf("unknown time zone %q; use an IANA name such as UTC, Europe/Berlin or America/New_York", clip(tz))
	}
	return ""
}

func checkBound(name string, b model.Bound) []issue {
	var out []issue
	add := func(path, format string, args ...any) {
		out = append(out, issue{path: path, msg: fmt.Sprintf(format, args...)})
	}
	path := join("operational", name)
	if !slices.Contains(operationalSignals[:], name) {
		msg := fmt.Sprintf("unknown operational signal %q", name)
		if s := suggest(name, signalNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		add(path, "%s; known signals: %s", msg, strings.Join(signalNames(), ", "))
		return out
	}
	if b.Max == nil && b.Min == nil {
		add(path, "set max and/or min, e.g. %s: {max: %s}", name, exampleBound(name))
		return out
	}
	for _, v := range []struct {
		key string
		val *float64
	}{{"max", b.Max}, {"min", b.Min}} {
		if v.val == nil {
			continue
		}
		x := *v.val
		switch {
		case !(x >= 0):
			add(path+"."+v.key, "must be at least 0, not %s", fnum(x))
		case name == "error_rate" && x > 1:
			add(path+"."+v.key, "error_rate is a share of requests, between 0 and 1 (0.05 is 5%%), not %s", fnum(x))
		}
	}
	if b.Max != nil && b.Min != nil && *b.Min > *b.Max {
		add(path, "min (%s) is above max (%s): no value could pass", fnum(*b.Min), fnum(*b.Max))
	}
	return out
}

func exampleBound(name string) string {
	switch name {
	case "error_rate":
		return "0.05"
	case "latency_p95_ms", "latency_p99_ms":
		return "4000"
	case "cost_usd":
		return "50"
	case "request_count":
		return "100000"
	}
	return "2000000"
}

// parseWindow reads an ISO 8601 duration of a window: weeks, days, hours,
// minutes and seconds (years and months have no fixed length), not
// negative, at most 366 days. The message is empty when it is valid.
func parseWindow(s string) (time.Duration, string) {
	d, err := duration.Parse(s)
	if err != nil || !strings.ContainsAny(s, "0123456789") {
		return 0, fmt.Sprintf("%q is not an ISO 8601 duration; write e.g. P7D (7 days), PT6H (6 hours) or P1DT12H", clip(s))
	}
	switch {
	case d.Years != 0:
		return 0, fmt.Sprintf("%s: years are not allowed (their length varies); use days, e.g. P365D", s)
	case d.Months != 0:
		return 0, fmt.Sprintf("%s: months are not allowed (their length varies); use days, e.g. P30D", s)
	case d.Negative:
		return 0, fmt.Sprintf("%s: must not be negative", s)
	}
	secs := ((d.Weeks*7+d.Days)*24+d.Hours)*3600 + d.Minutes*60 + d.Seconds
	if !(secs <= maxWindow.Seconds()) {
		return 0, fmt.Sprintf("%s is longer than 366 days, the longest window", s)
	}
	return time.Duration(secs * float64(time.Second)), ""
}

// cronField is one field of a 5-field cron expression.
type cronField struct {
	name   string
	lo, hi int
	names  []string // names for lo, lo+1, ... (months, week days)
}

var cronFields = [5]cronField{
	{name: "minute", lo: 0, hi: 59},
	{name: "hour", lo: 0, hi: 23},
	{name: "day-of-month", lo: 1, hi: 31},
	{name: "month", lo: 1, hi: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day-of-week", lo: 0, hi: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// checkCron checks a 5-field cron expression (minute hour day-of-month
// month day-of-week) deterministically, field by field, then with gronx,
// which the scheduler uses to compute run times. The message is empty when
// it is valid.
func checkCron(expr string) string {
	const example = `e.g. "*/5 * * * *" (every 5 minutes) or "0 6 * * 1-5" (06:00 on weekdays)`
	fields := strings.Fields(expr)
	if strings.HasPrefix(strings.TrimSpace(expr), "@") {
		return fmt.Sprintf("%q: shorthands such as @daily are not supported; write the 5 fields, %s", clip(expr), example)
	}
	if len(fields) != 5 {
		return fmt.Sprintf("%q has %d fields; a cron expression has 5 (minute hour day-of-month month day-of-week), %s", clip(expr), len(fields), example)
	}
	for i, f := range fields {
		if err := cronFields[i].check(f); err != nil {
			return fmt.Sprintf("%q: the %s field %q is not valid: %v; %s", clip(expr), cronFields[i].name, clip(f), err, example)
		}
	}
	if !gronx.IsValid(strings.Join(fields, " ")) {
		return fmt.Sprintf("%q is not a valid cron expression; %s", clip(expr), example)
	}
	return ""
}

func (c cronField) check(s string) error {
	for _, part := range strings.Split(s, ",") {
		if err := c.checkPart(strings.ToUpper(part)); err != nil {
			return err
		}
	}
	return nil
}

func (c cronField) checkPart(p string) error {
	if p == "" {
		return errors.New("an empty list item")
	}
	if p == "*" || (p == "?" && (c.name == "day-of-month" || c.name == "day-of-week")) {
		return nil
	}
	switch c.name {
	case "day-of-month":
		if p == "L" {
			return nil
		}
		if n, ok := strings.CutSuffix(p, "W"); ok {
			_, err := c.value(n)
			return err
		}
	case "day-of-week":
		if n, ok := strings.CutSuffix(p, "L"); ok {
			_, err := c.value(n)
			return err
		}
		if d, nth, ok := strings.Cut(p, "#"); ok {
			if _, err := c.value(d); err != nil {
				return err
			}
			if k, err := strconv.Atoi(nth); err != nil || k < 1 || k > 5 {
				return fmt.Errorf("the week number after # must be 1 to 5, not %q", nth)
			}
			return nil
		}
	}
	rng, step, hasStep := strings.Cut(p, "/")
	if hasStep {
		k, err := strconv.Atoi(step)
		if err != nil || k < 1 || k > c.hi {
			return fmt.Errorf("the step after / must be 1 to %d, not %q", c.hi, step)
		}
		if rng == "*" {
			return nil
		}
	}
	from, to, isRange := strings.Cut(rng, "-")
	a, err := c.value(from)
	if err != nil {
		return err
	}
	if isRange {
		b, err := c.value(to)
		if err != nil {
			return err
		}
		if b < a {
			return fmt.Errorf("the range %s-%s runs backwards", from, to)
		}
	}
	return nil
}

func (c cronField) value(s string) (int, error) {
	if i := slices.Index(c.names, s); i >= 0 {
		return c.lo + i, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < c.lo || n > c.hi {
		return 0, fmt.Errorf("%d is outside %d-%d", n, c.lo, c.hi)
	}
	return n, nil
}

// fnum formats a number as written in a file.
func fnum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// checkFires checks that a valid schedule fires at all: a cron expression
// such as "0 0 30 2 *" (February 30th) is valid field by field but names
// no day there is. It returns the field and the problem, or "" when the
// schedule fires within eight years of now.
func checkFires(s model.Schedule, now time.Time) (path, msg string) {
	if _, err := Next(s, now); err == nil {
		return "", ""
	}
	if s.Cron != "" {
		return "schedule.cron", fmt.Sprintf("%q never fires: no date within eight years matches it (check the day-of-month and month fields name a day that exists, e.g. not February 30th)", clip(s.Cron))
	}
	return "schedule.recurrence", "never fires: no time within eight years matches it"
}
