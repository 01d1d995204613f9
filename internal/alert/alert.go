// Package alert decides, when a monitor run ends, which of the monitor's
// alerts fire, remind or resolve, and which notifications that queues.
// It only decides: the store applies the decision in the transaction that
// ends the run, and package notify delivers the notifications (the split
// of Prometheus' rules and notifier).
//
// Each monitor has one state machine per key: a quality metric
// ("quality:groundedness"), an operational signal
// ("operational:error_rate", "operational:total_tokens_per_group:gpt-4o"),
// its window having no data ("no_data"), and its health: a failed run
// ("unhealthy:run") or a metric that got no score at all
// ("unhealthy:groundedness"). A key is violated, ok, or not observed by a
// run. After alerting.for_runs violating runs in a row it fires (a new
// alert); while it stays violated, a run at least alerting.repeat_interval
// after the last notification reminds; the first run that finds it ok
// resolves it. A run not observing a key (no data for it) changes
// nothing, and neither does a run over a window older than the latest one
// applied (a re-run of the past).
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
	// NewID returns a new alert id (default: 16 random bytes in hex).
	NewID func() string
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
				if repeat > 0 && !now.Before(a.LastNotifiedAt.Add(repeat)) {
					a.Reminders++
					a.LastNotifiedAt = now
					out.Notifications = append(out.Notifications, notifications(in, a, o, model.EventReminder, strconv.Itoa(a.Reminders))...)
				}
				out.Alerts = append(out.Alerts, a)
			case t.Streak >= forRuns:
				a = model.Alert{ID: newID(), Monitor: m.Name, Key: o.key, Kind: o.kind, Subject: o.subject,
					State: model.AlertFiring, Summary: o.summary, Value: o.value, Threshold: o.threshold,
					FiredAt: now, FiringRunID: in.Run.ID, LastRunID: in.Run.ID, LastNotifiedAt: now}
				t.AlertID = a.ID
				out.Alerts = append(out.Alerts, a)
				out.Notifications = append(out.Notifications, notifications(in, a, o, model.EventFiring, "0")...)
			}
		case ok:
			t.Streak = 0
			if firing {
				a.State, a.ResolvedAt, a.ResolvedRunID, a.LastRunID = model.AlertResolved, now, in.Run.ID, in.Run.ID
				t.AlertID = ""
				out.Alerts = append(out.Alerts, a)
				out.Notifications = append(out.Notifications, notifications(in, a, o, model.EventResolved, "0")...)
			}
		}
		out.Trackers = append(out.Trackers, t)
	}
	return out, nil
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

// notifications are the messages of one transition, one per target of the
// monitor: each channel it names, and its inline e-mail addresses.
func notifications(in Input, a model.Alert, o observation, event, seq string) []model.Notification {
	m := in.Monitor
	msg := model.AlertMessage{AlertID: a.ID, Monitor: m.Name, Service: m.Target.Service, Deployment: m.Target.Deployment,
		Kind: a.Kind, Subject: a.Subject, Event: event, State: a.State, Summary: o.summary,
		Value: o.value, Threshold: o.threshold, RunID: in.Run.ID, WindowStart: in.Run.WindowStart.UTC(),
		WindowEnd: in.Run.WindowEnd.UTC(), FiredAt: a.FiredAt, ResolvedAt: a.ResolvedAt, Worst: o.worst}
	if event == model.EventReminder {
		msg.Summary = a.Summary
		if o.summary != "" && o.summary != a.Summary {
			msg.Summary = o.summary
		}
	}
	n := model.Notification{AlertID: a.ID, Monitor: m.Name, Event: event, Message: msg,
		Status: model.NotificationPending, CreatedAt: in.Now.UTC(), NextAttemptAt: in.Now.UTC()}
	var out []model.Notification
	for _, ch := range m.Notify.Channels {
		c := n
		c.Channel = ch
		c.DedupKey = DedupKey(a.ID, event, seq, ch)
		out = append(out, c)
	}
	if len(m.Notify.Emails) > 0 {
		c := n
		c.Channel, c.Recipients = model.EmailsChannel, slices.Clone(m.Notify.Emails)
		c.DedupKey = DedupKey(a.ID, event, seq, model.EmailsChannel)
		out = append(out, c)
	}
	return out
}

// DedupKey identifies one notification of one transition to one channel:
// the alert, the event, its sequence number (the reminder's, 0 otherwise)
// and the channel.
func DedupKey(alertID, event, seq, channel string) string {
	return alertID + "/" + event + "/" + seq + "/" + channel
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
