package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// PayloadVersion is the version of the generic webhook payload. It
// changes only when a field changes meaning or goes away; new fields may
// be added within a version. Version 2 tells of a group: a monitor's
// alerts that fired, still fire or resolved (version 1, one alert per
// body, is gone).
const PayloadVersion = "2"

// PayloadOptions is what a webhook body says beyond the notification.
type PayloadOptions struct {
	// PublicURL is the dashboard's base URL ("" for no link).
	PublicURL string
	// RoutingKey is the PagerDuty integration key (pagerduty only).
	RoutingKey string
	// SentAt is when the request is made.
	SentAt time.Time
}

// RenderPayload renders the request body of webhook flavour typ
// (TypeWebhook, TypeSlack, TypeTeams, TypePagerDuty) for n. It is pure.
func RenderPayload(typ string, n model.Notification, o PayloadOptions) ([]byte, error) {
	r, ok := renderer(firstNonEmpty(typ, TypeWebhook))
	if !ok {
		return nil, fmt.Errorf("notify: unknown webhook type %q", typ)
	}
	return r(n, o)
}

// Payload is the body of a generic webhook (type webhook), version 2:
// one message about a monitor's group of alerts. Unknown values are null,
// never "" or 0.
type Payload struct {
	// Version is PayloadVersion.
	Version string `json:"version"`
	// Event is firing (something changed and alerts fire), reminder
	// (alerts still fire, nothing changed), resolved (every alert of the
	// message resolved) or test.
	Event string `json:"event"`
	// Status is firing while any alert of the message fires, else
	// resolved; null for a test.
	Status *string `json:"status"`
	// DedupKey is the same for every delivery attempt of one
	// notification (also sent as the Idempotency-Key header).
	DedupKey *string `json:"dedup_key"`
	// Channel is the flowwatch channel's name.
	Channel    *string `json:"channel"`
	Monitor    *string `json:"monitor"`
	Service    *string `json:"service"`
	Deployment *string `json:"deployment"`
	// Title is the message's title ("[FIRING:2] rag (1 resolved)"),
	// Summary its counts ("2 firing (1 new), 1 resolved").
	Title   string `json:"title"`
	Summary string `json:"summary"`
	// Counts counts the alerts of the message, all of them (Alerts may
	// list fewer, at most 50).
	Counts PayloadCounts `json:"counts"`
	// Run is the latest run the message tells of.
	Run    *PayloadRun    `json:"run"`
	Alerts []PayloadAlert `json:"alerts"`
	SentAt Time           `json:"sent_at"`
}

// PayloadCounts counts a message's alerts.
type PayloadCounts struct {
	Firing   int `json:"firing"`
	Resolved int `json:"resolved"`
}

// PayloadAlert is one alert a message tells of.
type PayloadAlert struct {
	ID string `json:"id"`
	// Change is what the alert did since the group's previous message:
	// new (it fired), firing (still firing) or resolved.
	Change string `json:"change"`
	// Kind is quality, operational, no_data or unhealthy.
	Kind    *string `json:"kind"`
	Subject *string `json:"subject"`
	// State is firing or resolved.
	State string `json:"state"`
	// Summary says in one line what is wrong, or how it recovered.
	Summary string `json:"summary"`
	// Value is the metric's or signal's value in the alert's latest run,
	// Threshold the bound in words.
	Value      *float64 `json:"value"`
	Threshold  *string  `json:"threshold"`
	FiredAt    *Time    `json:"fired_at"`
	ResolvedAt *Time    `json:"resolved_at"`
	// Run is the alert's latest run.
	Run   *PayloadRun    `json:"run"`
	Worst []PayloadWorst `json:"worst"`
}

// PayloadRun is the monitor run the notification is about.
type PayloadRun struct {
	ID          string `json:"id"`
	WindowStart *Time  `json:"window_start"`
	WindowEnd   *Time  `json:"window_end"`
	// URL is the run in the dashboard; null without a public URL.
	URL *string `json:"url"`
	// Degraded says how many instances the judge failed in the run and
	// its first error; null when the run was not degraded (or for an
	// alert's own run, which the group's run describes).
	Degraded *string `json:"degraded"`
}

// PayloadWorst is one of the run's lowest-scoring instances.
type PayloadWorst struct {
	TraceID string   `json:"trace_id"`
	Score   *float64 `json:"score"`
	Reason  *string  `json:"reason"`
}

// timeLayout is how payload times are written: RFC 3339 in UTC with nine
// fractional digits, as in the JSON API.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// Time is a payload time: RFC 3339, UTC, nine fractional digits.
type Time struct{ time.Time }

// MarshalJSON writes the time in UTC.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(timeLayout) + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// newPayload builds the generic payload of n.
func newPayload(n model.Notification, o PayloadOptions) Payload {
	v := newView(n, o.PublicURL)
	m := n.Message
	p := Payload{
		Version:    PayloadVersion,
		Event:      v.Event,
		DedupKey:   nullString(n.DedupKey),
		Channel:    nullString(n.Channel),
		Monitor:    nullString(v.Monitor),
		Service:    nullString(v.Service),
		Deployment: nullString(v.Deployment),
		Title:      v.Title,
		Summary:    v.Summary,
		Counts:     PayloadCounts{Firing: v.Firing, Resolved: v.Resolved},
		Alerts:     []PayloadAlert{},
		SentAt:     Time{o.SentAt},
	}
	switch {
	case v.Event == model.EventTest:
	case v.Firing > 0:
		p.Status = nullString(string(model.AlertFiring))
	default:
		p.Status = nullString(string(model.AlertResolved))
	}
	if v.RunID != "" {
		p.Run = &PayloadRun{ID: v.RunID, WindowStart: nullTime(m.WindowStart), WindowEnd: nullTime(m.WindowEnd), URL: nullString(v.RunURL),
			Degraded: nullString(v.Degraded)}
	}
	for _, a := range v.Alerts {
		p.Alerts = append(p.Alerts, payloadAlert(a))
	}
	return p
}

// payloadAlert is the payload of one alert of a message.
func payloadAlert(a alertView) PayloadAlert {
	pa := PayloadAlert{
		ID:         a.AlertID,
		Change:     a.Change,
		Kind:       nullString(a.Kind),
		Subject:    nullString(a.Subject),
		State:      string(a.msg.State),
		Summary:    a.Summary,
		Value:      finite(a.value),
		Threshold:  nullString(a.Threshold),
		FiredAt:    nullTime(a.FiredAt),
		ResolvedAt: nullTime(a.ResolvedAt),
		Worst:      []PayloadWorst{},
	}
	if pa.State == "" {
		pa.State = string(model.AlertFiring)
		if a.Change == model.ChangeResolved {
			pa.State = string(model.AlertResolved)
		}
	}
	if a.RunID != "" {
		pa.Run = &PayloadRun{ID: a.RunID, WindowStart: nullTime(a.msg.WindowStart), WindowEnd: nullTime(a.msg.WindowEnd), URL: nullString(a.RunURL)}
	}
	for i, w := range a.Worst {
		score := a.worst[i].Score
		pa.Worst = append(pa.Worst, PayloadWorst{TraceID: w.TraceID, Score: finite(&score), Reason: nullString(w.Reason)})
	}
	return pa
}

func renderGeneric(n model.Notification, o PayloadOptions) ([]byte, error) {
	return marshal(newPayload(n, o))
}

// marshal writes v as compact JSON, leaving <, > and & as they are (the
// receivers are JSON parsers, not HTML pages).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullTime(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t}
}

// finite is a copy of p, nil when p is nil or not a finite number (JSON
// has no NaN or infinities).
func finite(p *float64) *float64 {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return nil
	}
	v := *p
	return &v
}
