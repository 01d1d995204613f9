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
// be added within a version.
const PayloadVersion = "1"

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

// Payload is the body of a generic webhook (type webhook), version 1.
// Unknown values are null, never "" or 0.
type Payload struct {
	// Version is PayloadVersion.
	Version string `json:"version"`
	// Event is firing, reminder, resolved or test.
	Event string `json:"event"`
	// DedupKey is the same for every delivery attempt of one
	// notification (also sent as the Idempotency-Key header).
	DedupKey *string `json:"dedup_key"`
	// Channel is the flowwatch channel's name.
	Channel *string        `json:"channel"`
	Alert   PayloadAlert   `json:"alert"`
	Run     *PayloadRun    `json:"run"`
	Worst   []PayloadWorst `json:"worst"`
	SentAt  Time           `json:"sent_at"`
}

// PayloadAlert is the alert a notification tells of.
type PayloadAlert struct {
	// ID is null for a test notification.
	ID         *string `json:"id"`
	Monitor    *string `json:"monitor"`
	Service    *string `json:"service"`
	Deployment *string `json:"deployment"`
	// Kind is quality, operational, no_data or unhealthy.
	Kind    *string `json:"kind"`
	Subject *string `json:"subject"`
	// State is firing or resolved.
	State *string `json:"state"`
	// Summary says in one line what is wrong, or how it recovered.
	Summary string `json:"summary"`
	// Value is the metric's or signal's value in the run, Threshold the
	// bound in words.
	Value      *float64 `json:"value"`
	Threshold  *string  `json:"threshold"`
	FiredAt    *Time    `json:"fired_at"`
	ResolvedAt *Time    `json:"resolved_at"`
}

// PayloadRun is the monitor run the notification is about.
type PayloadRun struct {
	ID          string `json:"id"`
	WindowStart *Time  `json:"window_start"`
	WindowEnd   *Time  `json:"window_end"`
	// URL is the run in the dashboard; null without a public URL.
	URL *string `json:"url"`
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
		Version:  PayloadVersion,
		Event:    v.Event,
		DedupKey: nullString(n.DedupKey),
		Channel:  nullString(n.Channel),
		Alert: PayloadAlert{
			ID:         nullString(v.AlertID),
			Monitor:    nullString(v.Monitor),
			Service:    nullString(v.Service),
			Deployment: nullString(v.Deployment),
			Kind:       nullString(m.Kind),
			Subject:    nullString(v.Subject),
			State:      nullString(string(m.State)),
			Summary:    v.Summary,
			Value:      finite(m.Value),
			Threshold:  nullString(v.Threshold),
			FiredAt:    nullTime(m.FiredAt),
			ResolvedAt: nullTime(m.ResolvedAt),
		},
		Worst:  []PayloadWorst{},
		SentAt: Time{o.SentAt},
	}
	if v.RunID != "" {
		p.Run = &PayloadRun{ID: v.RunID, WindowStart: nullTime(m.WindowStart), WindowEnd: nullTime(m.WindowEnd), URL: nullString(v.RunURL)}
	}
	for i, w := range v.Worst {
		score := m.Worst[i].Score
		p.Worst = append(p.Worst, PayloadWorst{TraceID: w.TraceID, Score: finite(&score), Reason: nullString(w.Reason)})
	}
	return p
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
