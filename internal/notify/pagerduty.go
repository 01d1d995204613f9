package notify

import (
	"github.com/flowwatch/flowwatch/internal/model"
)

// PagerDuty's limits.
const (
	pagerDutySummaryMax  = 1024
	pagerDutyDedupKeyMax = 255
)

// PagerDuty severities of the alert kinds.
const (
	pagerDutyError   = "error"
	pagerDutyWarning = "warning"
	pagerDutyInfo    = "info"
)

// pagerDutyEvent is an Events API v2 alert event.
type pagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"` // trigger or resolve
	DedupKey    string            `json:"dedup_key"`
	Payload     *pagerDutyPayload `json:"payload,omitempty"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
	Links       []pagerDutyLink   `json:"links,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string                 `json:"summary"`
	Source        string                 `json:"source"`
	Severity      string                 `json:"severity"`
	Timestamp     string                 `json:"timestamp,omitempty"`
	Component     string                 `json:"component,omitempty"`
	Group         string                 `json:"group,omitempty"`
	Class         string                 `json:"class,omitempty"`
	CustomDetails pagerDutyCustomDetails `json:"custom_details"`
}

// pagerDutyCustomDetails are the facts shown on the PagerDuty alert.
type pagerDutyCustomDetails struct {
	Event string `json:"event"`
	// Change is what the alert did since the group's previous message
	// (new, firing, resolved); null for a test.
	Change     *string        `json:"change"`
	Monitor    *string        `json:"monitor"`
	Service    *string        `json:"service"`
	Deployment *string        `json:"deployment"`
	Kind       *string        `json:"kind"`
	Subject    *string        `json:"subject"`
	Value      *float64       `json:"value"`
	Threshold  *string        `json:"threshold"`
	Run        *PayloadRun    `json:"run"`
	FiredAt    *Time          `json:"fired_at"`
	Worst      []PayloadWorst `json:"worst"`
}

type pagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// renderPagerDuty renders the PagerDuty Events API v2 events of n as a
// JSON array: what renderPagerDutyEvents gives, for RenderPayload.
func renderPagerDuty(n model.Notification, o PayloadOptions) ([]byte, error) {
	events, err := pagerDutyEvents(n, o)
	if err != nil {
		return nil, err
	}
	return marshal(events)
}

// renderPagerDutyEvents renders the bodies PagerDuty is sent for n, one
// event per alert of the message (PagerDuty keeps one incident alert per
// dedup key): a new or still firing alert triggers, a resolved one
// resolves. The dedup key is the alert id, so PagerDuty folds an alert's
// firing, reminders and resolution into one PagerDuty alert, and a
// message sent again (after a crash) changes nothing there. A test
// triggers one event of severity info.
func renderPagerDutyEvents(n model.Notification, o PayloadOptions) ([][]byte, error) {
	events, err := pagerDutyEvents(n, o)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, ev := range events {
		b, err := marshal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func pagerDutyEvents(n model.Notification, o PayloadOptions) ([]pagerDutyEvent, error) {
	v := newView(n, o.PublicURL)
	if len(v.Alerts) == 0 {
		dedup := firstNonEmpty(n.DedupKey, n.ID)
		item := alertView{Summary: v.Summary, Kind: v.Kind, Subject: v.Subject, What: v.What, FiredAt: n.Message.FiredAt}
		return []pagerDutyEvent{pagerDutyEventOf(v, item, dedup, o)}, nil
	}
	var out []pagerDutyEvent
	for _, a := range v.Alerts {
		out = append(out, pagerDutyEventOf(v, a, a.AlertID, o))
	}
	return out, nil
}

// pagerDutyEventOf is the event of alert a of message v.
func pagerDutyEventOf(v view, a alertView, dedup string, o PayloadOptions) pagerDutyEvent {
	if len(dedup) > pagerDutyDedupKeyMax || dedup == "" {
		dedup = "flowwatch-" + hashToken(dedup)
	}
	ev := pagerDutyEvent{RoutingKey: o.RoutingKey, EventAction: "trigger", DedupKey: dedup}
	if a.Change == model.ChangeResolved {
		// A resolve event needs nothing more.
		ev.EventAction = "resolve"
		return ev
	}
	ev.Client = "flowwatch"
	ev.ClientURL = o.PublicURL
	if a.RunURL != "" {
		ev.Links = []pagerDutyLink{{Href: a.RunURL, Text: "Run " + a.RunID + " in flowwatch"}}
	}
	class := a.Kind
	if a.Subject != "" {
		class = firstNonEmpty(class, "alert") + ": " + a.Subject
	}
	// When the violation was detected: the firing, else now. PagerDuty
	// reads ISO 8601; milliseconds are plenty.
	stamp := o.SentAt
	if !a.FiredAt.IsZero() {
		stamp = a.FiredAt
	}
	summary := a.Summary
	if v.Monitor != "" {
		summary = v.Monitor + ": " + summary
	}
	details := pagerDutyCustomDetails{
		Event:      v.Event,
		Change:     nullString(a.Change),
		Monitor:    nullString(v.Monitor),
		Service:    nullString(v.Service),
		Deployment: nullString(v.Deployment),
		Kind:       nullString(a.Kind),
		Subject:    nullString(a.Subject),
		Value:      finite(a.value),
		Threshold:  nullString(a.Threshold),
		FiredAt:    nullTime(a.FiredAt),
		Worst:      []PayloadWorst{},
	}
	if a.AlertID != "" {
		pa := payloadAlert(a)
		details.Run, details.Worst = pa.Run, pa.Worst
	}
	ev.Payload = &pagerDutyPayload{
		Summary:       truncate(summary, pagerDutySummaryMax),
		Source:        firstNonEmpty(v.Service, "flowwatch"),
		Severity:      pagerDutySeverity(v.Event, a.Kind),
		Timestamp:     stamp.UTC().Format("2006-01-02T15:04:05.000Z"),
		Component:     v.Deployment,
		Group:         v.Monitor,
		Class:         class,
		CustomDetails: details,
	}
	return ev
}

// pagerDutySeverity is the severity of an alert: error for a quality or
// operational violation (the application misbehaves), warning for no data
// or an unhealthy monitor (the watch itself is impaired), info for a test.
// critical is left to PagerDuty's own event rules.
func pagerDutySeverity(event, kind string) string {
	if event == model.EventTest {
		return pagerDutyInfo
	}
	switch kind {
	case model.AlertNoData, model.AlertUnhealthy:
		return pagerDutyWarning
	default:
		return pagerDutyError
	}
}
