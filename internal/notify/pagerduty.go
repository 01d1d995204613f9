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
	Event      string         `json:"event"`
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

// renderPagerDuty renders a PagerDuty Events API v2 event. Firing,
// reminders and tests trigger; a resolution resolves. The dedup key is
// the alert id, so PagerDuty folds the firing, its reminders and its
// resolution into one alert.
func renderPagerDuty(n model.Notification, o PayloadOptions) ([]byte, error) {
	p := newPayload(n, o)
	v := newView(n, o.PublicURL)
	dedup := firstNonEmpty(v.AlertID, n.DedupKey, n.ID)
	if len(dedup) > pagerDutyDedupKeyMax {
		dedup = "flowwatch-" + hashToken(dedup)
	}
	ev := pagerDutyEvent{RoutingKey: o.RoutingKey, EventAction: "trigger", DedupKey: dedup}
	if v.Event == model.EventResolved {
		// A resolve event needs nothing more.
		ev.EventAction = "resolve"
		return marshal(ev)
	}
	ev.Client = "flowwatch"
	ev.ClientURL = o.PublicURL
	if v.RunURL != "" {
		ev.Links = []pagerDutyLink{{Href: v.RunURL, Text: "Run " + v.RunID + " in flowwatch"}}
	}
	class := v.Kind
	if v.Subject != "" {
		class = firstNonEmpty(class, "alert") + ": " + v.Subject
	}
	// When the violation was detected: the firing, else now. PagerDuty
	// reads ISO 8601; milliseconds are plenty.
	stamp := o.SentAt
	if !n.Message.FiredAt.IsZero() {
		stamp = n.Message.FiredAt
	}
	ev.Payload = &pagerDutyPayload{
		Summary:   truncate(v.Headline, pagerDutySummaryMax),
		Source:    firstNonEmpty(v.Service, "flowwatch"),
		Severity:  pagerDutySeverity(v.Event, v.Kind),
		Timestamp: stamp.UTC().Format("2006-01-02T15:04:05.000Z"),
		Component: v.Deployment,
		Group:     v.Monitor,
		Class:     class,
		CustomDetails: pagerDutyCustomDetails{
			Event:      v.Event,
			Monitor:    p.Alert.Monitor,
			Service:    p.Alert.Service,
			Deployment: p.Alert.Deployment,
			Kind:       p.Alert.Kind,
			Subject:    p.Alert.Subject,
			Value:      p.Alert.Value,
			Threshold:  p.Alert.Threshold,
			Run:        p.Run,
			FiredAt:    p.Alert.FiredAt,
			Worst:      p.Worst,
		},
	}
	return marshal(ev)
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
