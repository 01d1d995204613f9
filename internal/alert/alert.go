// Package alert decides, when a monitor run ends, which of the monitor's
// alerts fire or resolve, and what each of the monitor's targets is to be
// told of it; and, when a target's group of alerts is due, what message
// goes to it. It only decides: the store applies the decisions in its
// transactions, and package notify delivers the messages (the split of
// Prometheus' rules and notifier, with Alertmanager's grouping).
//
// Each monitor has one state machine per key: a quality metric
// ("quality:groundedness"), an operational signal
// ("operational:error_rate", "operational:total_tokens_per_group:gpt-4o"),
// its window having no data ("no_data"), and its health: a failed run
// ("unhealthy:run") or a metric that got no score at all
// ("unhealthy:groundedness"). A key is violated, ok, or not observed by a
// run. After alerting.for_runs violating runs in a row it fires (a new
// alert); the first run that finds it ok resolves it. A run not observing
// a key (no data for it) changes nothing, and neither does a run over a
// window older than the latest one applied (a re-run of the past).
//
// Delivery is grouped (group.go): one group per monitor and target holds
// the alerts firing, and those resolved but not yet told; a run's
// transitions all join it at once, so a target gets one message per run
// (or per group_interval) listing every alert that fired, still fires or
// resolved, and reminders (repeat_interval) are of the whole group.
package alert

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Keys of the alerts that are not about one metric or signal.
const (
	KeyNoData       = "no_data"
	KeyRunUnhealthy = "unhealthy:run"
)

// maxWorst is how many low-scoring instances a notification quotes.
const maxWorst = 3

// Input is how a run ended.
type Input struct {
	Run     model.Run
	Monitor model.Monitor
	// Result and Instances are those of a succeeded run; Result is nil
	// when the run failed, and Error says why.
	Result    *model.RunResult
	Instances []model.Instance
	Error     string
	// Now is when the run ended.
	Now time.Time
}

// Decider turns run ends into alert decisions.
type Decider struct {
	// NewID returns a new alert or group id (default: 16 random bytes in
	// hex).
	NewID func() string
	// Timing returns the group timing of a target: a channel's name, or
	// model.EmailsChannel for monitors' inline e-mails (default: all
	// zero). A zero Repeat falls back to the monitor's
	// alerting.repeat_interval.
	Timing func(channel string) model.GroupTiming
}

// For returns the decision of a run's end, for the store to apply in the
// transaction that ends the run.
func (d Decider) For(in Input) store.AlertDecider {
	return func(snap store.AlertSnapshot) (store.AlertChanges, error) {
		return d.Decide(in, snap)
	}
}

// status is what a run found about one key.
type status int

const (
	unobserved status = iota
	ok
	violated
)

// observation is what a run found about one key, with what to say about
// it.
type observation struct {
	key, kind, subject string
	status             status
	value              *float64
	threshold          string
	// summary says what is wrong (violated) or how it stands (ok).
	summary string
	worst   []model.WorstInstance
}

// Decide applies a run's end to the monitor's alert state.
func (d Decider) Decide(in Input, snap store.AlertSnapshot) (store.AlertChanges, error) {
	newID := d.NewID
	if newID == nil {
		newID = randomID
	}
	m := in.Monitor
	forRuns := max(m.Alerting.ForRuns, 1)
	var repeat time.Duration
	if m.Alerting.RepeatInterval != "" {
		r, err := time.ParseDuration(m.Alerting.RepeatInterval)
		if err != nil {
			return store.AlertChanges{}, fmt.Errorf("monitor %s: alerting.repeat_interval: %w", m.Name, err)
		}
		repeat = r
	}
	now := in.Now.UTC()

	var out store.AlertChanges
	var told []model.GroupedAlert // what the targets are to be told, by alert
	for _, o := range observe(in, snap) {
		t, known := snap.Trackers[o.key]
		if !known {
			t = model.AlertTracker{Monitor: m.Name, Key: o.key}
		}
		if known && !in.Run.WindowEnd.After(t.LastWindowEnd) {
			continue // a window no newer than the latest applied
		}
		t.LastWindowEnd = in.Run.WindowEnd
		a, firing := snap.Firing[o.key]
		switch o.status {
		case violated:
			t.Streak++
			switch {
			case firing:
				a.LastRunID = in.Run.ID
				out.Alerts = append(out.Alerts, a)
				told = append(told, model.GroupedAlert{AlertID: a.ID, Key: a.Key, State: a.State, Acked: !a.AckedAt.IsZero(), Message: message(in, a, o)})
			case t.Streak >= forRuns:
				a = model.Alert{ID: newID(), Monitor: m.Name, Key: o.key, Kind: o.kind, Subject: o.subject,
					State: model.AlertFiring, Summary: o.summary, Value: o.value, Threshold: o.threshold,
					FiredAt: now, FiringRunID: in.Run.ID, LastRunID: in.Run.ID}
				t.AlertID = a.ID
				out.Alerts = append(out.Alerts, a)
				told = append(told, model.GroupedAlert{AlertID: a.ID, Key: a.Key, State: a.State, Acked: !a.AckedAt.IsZero(), Message: message(in, a, o)})
			}
		case ok:
			t.Streak = 0
			if firing {
				a.State, a.ResolvedAt, a.ResolvedRunID, a.LastRunID = model.AlertResolved, now, in.Run.ID, in.Run.ID
				t.AlertID = ""
				out.Alerts = append(out.Alerts, a)
				told = append(told, model.GroupedAlert{AlertID: a.ID, Key: a.Key, State: a.State, Acked: !a.AckedAt.IsZero(), Message: message(in, a, o)})
			}
		}
		out.Trackers = append(out.Trackers, t)
	}
	if len(out.Trackers) == 0 {
		return out, nil // nothing applied: the groups stay as they are
	}
	// The alerts firing after this run: a group member not among them
	// resolved without this group hearing of it (the monitor did not
	// name the target then).
	firingNow := map[string]bool{}
	for _, a := range snap.Firing {
		firingNow[a.ID] = true
	}
	for _, a := range out.Alerts {
		firingNow[a.ID] = a.State == model.AlertFiring
	}
	for _, target := range targets(m) {
		g, known := snap.Groups[target]
		if !known {
			g = model.AlertGroup{ID: newID(), Monitor: m.Name, Channel: target}
		}
		g.Recipients = nil
		if target == model.EmailsChannel {
			g.Recipients = slices.Clone(m.Notify.Emails)
		}
		timing := d.timing(target)
		if timing.Repeat <= 0 {
			timing.Repeat = repeat
		}
		out.Groups = append(out.Groups, join(g, told, firingNow, timing, now))
	}
	return out, nil
}

// timing is the group timing of a target.
func (d Decider) timing(target string) model.GroupTiming {
	if d.Timing == nil {
		return model.GroupTiming{}
	}
	return d.Timing(target)
}

// targets are the targets of a monitor's messages: each channel it
// names, and its inline e-mail addresses as one.
func targets(m model.Monitor) []string {
	out := slices.Clone(m.Notify.Channels)
	if len(m.Notify.Emails) > 0 {
		out = append(out, model.EmailsChannel)
	}
	return out
}

// observe lists what the run found about every key it observes, and
// about the keys of firing alerts whose metric or signal the monitor no
// longer checks (ok: they resolve).
func observe(in Input, snap store.AlertSnapshot) []observation {
	m := in.Monitor
	var obs []observation
	if in.Result == nil {
		return append(obs, observation{key: KeyRunUnhealthy, kind: model.AlertUnhealthy, status: violated,
			summary: "the run failed: " + firstLine(in.Error)})
	}
	res := in.Result
	obs = append(obs, observation{key: KeyRunUnhealthy, kind: model.AlertUnhealthy, status: ok, summary: "the run succeeded"})

	noData := observation{key: KeyNoData, kind: model.AlertNoData, status: ok,
		summary: fmt.Sprintf("%d traces sampled from the window", res.Sampled)}
	if res.Sampled == 0 && m.Alerting.NoData != "ignore" {
		noData.status, noData.summary = violated, "no traces of the target in the window"
	}
	obs = append(obs, noData)

	for _, mr := range res.Metrics {
		if res.Sampled == 0 {
			break // nothing to say about the metrics
		}
		unhealthy := observation{key: "unhealthy:" + mr.Metric, kind: model.AlertUnhealthy, subject: mr.Metric, status: ok,
			summary: fmt.Sprintf("%s: %d of %d instances judged", mr.Metric, mr.Judged, mr.Judged+mr.NotEvaluable+mr.Errors)}
		if mr.NoData {
			unhealthy.status = violated
			unhealthy.summary = fmt.Sprintf("%s: no instance could be judged (%d judge errors, %d not evaluable)", mr.Metric, mr.Errors, mr.NotEvaluable)
			if e := firstError(in.Instances, mr.Metric); e != "" {
				unhealthy.summary += "; first error: " + e
			}
			obs = append(obs, unhealthy)
			continue // the quality alert is not observed
		}
		obs = append(obs, unhealthy, qualityObservation(mr, in.Instances))
	}

	for _, op := range res.Operational {
		key := "operational:" + op.Name
		subject := op.Name
		if op.Group != "" {
			key += ":" + op.Group
			subject += " (" + op.Group + ")"
		}
		o := observation{key: key, kind: model.AlertOperational, subject: subject, value: op.Value, threshold: describeBound(op.Bound)}
		switch {
		case op.NoData || op.Value == nil:
			o.status = unobserved
		case op.Violation:
			o.status = violated
			o.summary = describeSignal(subject, *op.Value, op.Bound)
		default:
			o.status = ok
			o.summary = fmt.Sprintf("%s %s is within %s", subject, formatNumber(*op.Value), o.threshold)
		}
		obs = append(obs, o)
	}

	// Firing alerts of metrics and signals the monitor no longer checks
	// resolve: nothing will ever observe them again.
	seen := map[string]bool{}
	for _, o := range obs {
		seen[o.key] = true
	}
	for _, key := range sortedKeys(snap.Firing) {
		a := snap.Firing[key]
		if seen[key] || checked(m, a) {
			continue
		}
		obs = append(obs, observation{key: key, kind: a.Kind, subject: a.Subject, status: ok,
			summary: fmt.Sprintf("%s is no longer checked by the monitor", cmp.Or(a.Subject, key))})
	}
	return obs
}

// checked reports whether the monitor still checks what alert a is about.
func checked(m model.Monitor, a model.Alert) bool {
	name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a.Key, "quality:"), "operational:"), ":")
	switch {
	case a.Kind == model.AlertQuality:
		_, ok := m.Quality[name]
		return ok
	case a.Kind == model.AlertOperational:
		_, ok := m.Operational[name]
		return ok
	case a.Key == KeyNoData, a.Key == KeyRunUnhealthy:
		return true
	default: // unhealthy:<metric>
		_, ok := m.Quality[strings.TrimPrefix(a.Key, "unhealthy:")]
		return ok
	}
}

// qualityObservation is what a run found about a quality metric with
// data.
func qualityObservation(mr model.MetricResult, instances []model.Instance) observation {
	o := observation{key: "quality:" + mr.Metric, kind: model.AlertQuality, subject: mr.Metric, status: ok}
	var bounds []string
	if mr.MinPassRate != nil {
		bounds = append(bounds, "pass rate ≥ "+formatPercent(*mr.MinPassRate))
	}
	if mr.MinAverage != nil {
		bounds = append(bounds, "average ≥ "+formatNumber(*mr.MinAverage))
	}
	o.threshold = strings.Join(bounds, ", ")
	o.value = mr.PassRate
	if mr.AverageViolation && !mr.PassRateViolation {
		o.value = mr.AverageScore
	}
	var parts []string
	if mr.PassRateViolation && mr.PassRate != nil && mr.MinPassRate != nil {
		parts = append(parts, fmt.Sprintf("%s pass rate %s is below %s", mr.Metric, formatPercent(*mr.PassRate), formatPercent(*mr.MinPassRate)))
	}
	if mr.AverageViolation && mr.AverageScore != nil && mr.MinAverage != nil {
		parts = append(parts, fmt.Sprintf("%s average %s is below %s", mr.Metric, formatNumber(*mr.AverageScore), formatNumber(*mr.MinAverage)))
	}
	if mr.Violation {
		o.status = violated
		o.summary = strings.Join(parts, "; ")
	} else {
		o.summary = fmt.Sprintf("%s pass rate %s", mr.Metric, formatPercent(deref(mr.PassRate)))
		if mr.AverageScore != nil {
			o.summary += fmt.Sprintf(", average %s", formatNumber(*mr.AverageScore))
		}
		if o.threshold != "" {
			o.summary += " (" + o.threshold + ")"
		}
	}
	o.worst = worst(instances, mr.Metric)
	return o
}

// worst returns the lowest-scoring judged instances of a metric, lowest
// first (ties by trace id).
func worst(instances []model.Instance, metric string) []model.WorstInstance {
	var judged []model.Instance
	for _, in := range instances {
		if in.Metric == metric && in.Status == model.InstanceJudged && in.Score != nil {
			judged = append(judged, in)
		}
	}
	slices.SortFunc(judged, func(a, b model.Instance) int {
		return cmp.Or(cmp.Compare(*a.Score, *b.Score), strings.Compare(a.TraceID, b.TraceID))
	})
	var out []model.WorstInstance
	for _, in := range judged[:min(len(judged), maxWorst)] {
		out = append(out, model.WorstInstance{TraceID: in.TraceID, Score: *in.Score, Reason: in.Reason})
	}
	return out
}

// firstError is the error of a metric's first failed instance.
func firstError(instances []model.Instance, metric string) string {
	for _, in := range instances {
		if in.Metric == metric && in.Status == model.InstanceError && in.Error != "" {
			return firstLine(in.Error)
		}
	}
	return ""
}

// message is what a message says of alert a after the run: its state,
// what the run found (o) and the run.
func message(in Input, a model.Alert, o observation) model.AlertMessage {
	m := in.Monitor
	msg := model.AlertMessage{AlertID: a.ID, Monitor: m.Name, Service: m.Target.Service, Deployment: m.Target.Deployment,
		Kind: a.Kind, Subject: a.Subject, State: a.State, Summary: cmp.Or(o.summary, a.Summary),
		Value: o.value, Threshold: o.threshold, RunID: in.Run.ID, WindowStart: in.Run.WindowStart.UTC(),
		WindowEnd: in.Run.WindowEnd.UTC(), FiredAt: a.FiredAt, ResolvedAt: a.ResolvedAt, Worst: o.worst}
	if r := in.Result; r != nil && r.Degraded {
		msg.Degraded = fmt.Sprintf("the judge failed for %d instances of this run", r.JudgeErrors)
		if r.JudgeError != "" {
			msg.Degraded += "; first error: " + firstLine(r.JudgeError)
		}
	}
	return msg
}

func describeBound(b model.Bound) string {
	var parts []string
	if b.Min != nil {
		parts = append(parts, "≥ "+formatNumber(*b.Min))
	}
	if b.Max != nil {
		parts = append(parts, "≤ "+formatNumber(*b.Max))
	}
	return strings.Join(parts, " and ")
}

func describeSignal(subject string, v float64, b model.Bound) string {
	if b.Max != nil && v > *b.Max {
		return fmt.Sprintf("%s %s is above %s", subject, formatNumber(v), formatNumber(*b.Max))
	}
	if b.Min != nil && v < *b.Min {
		return fmt.Sprintf("%s %s is below %s", subject, formatNumber(v), formatNumber(*b.Min))
	}
	return fmt.Sprintf("%s %s is out of %s", subject, formatNumber(v), describeBound(b))
}

// formatNumber writes v with at most 4 decimals.
func formatNumber(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e4)/1e4, 'f', -1, 64)
}

func formatPercent(v float64) string {
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// firstLine is the first line of s, at most 300 bytes.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
