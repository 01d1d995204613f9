package model

import "time"

// Alert kinds: what a monitor's alert is about.
const (
	// AlertQuality: a quality metric below its thresholds.
	AlertQuality = "quality"
	// AlertOperational: an operational signal out of its bounds.
	AlertOperational = "operational"
	// AlertNoData: a run's window held no traces to judge.
	AlertNoData = "no_data"
	// AlertUnhealthy: the monitor could not judge: its run failed, or a
	// metric got no score at all (only judge errors, nothing evaluable).
	AlertUnhealthy = "unhealthy"
)

// AlertState is where an alert is: firing until a run shows it recovered,
// then resolved for good (a new violation is a new alert).
type AlertState string

// Alert states.
const (
	AlertFiring   AlertState = "firing"
	AlertResolved AlertState = "resolved"
)

// Alert is one episode of a monitor's alert: from the run that fired it
// to the run that resolved it.
type Alert struct {
	ID      string
	Monitor string
	// Key names what the alert is about within the monitor, one state
	// machine per key: "quality:groundedness", "operational:error_rate",
	// "operational:total_tokens_per_group:gpt-4o", "no_data",
	// "unhealthy:run", "unhealthy:groundedness".
	Key  string
	Kind string // AlertQuality, AlertOperational, AlertNoData, AlertUnhealthy
	// Subject is the metric or signal the alert is about ("" for no_data
	// and for a failed run).
	Subject string
	State   AlertState
	// Summary says in one line what was wrong when it fired, e.g.
	// "groundedness pass rate 62.5% is below 70%".
	Summary string
	// Value is the metric's or signal's value in the firing run, and
	// Threshold the bound it broke, in words ("pass rate ≥ 70%").
	Value     *float64
	Threshold string
	FiredAt   time.Time
	// FiringRunID fired it; LastRunID is the latest run that found it
	// still violated; ResolvedRunID resolved it.
	FiringRunID   string
	LastRunID     string
	ResolvedRunID string
	ResolvedAt    time.Time
	// LastNotifiedAt is when the latest notification (firing or
	// reminder) was queued; Reminders counts the reminders queued.
	LastNotifiedAt time.Time
	Reminders      int
}

// AlertTracker is an alert state machine's memory between runs, for one
// (monitor, key).
type AlertTracker struct {
	Monitor string
	Key     string
	// Streak counts the violating runs in a row (for alerting.for_runs).
	Streak int
	// AlertID is the firing alert of this key; "" when none fires.
	AlertID string
	// LastWindowEnd is the end of the window of the latest run applied:
	// a run over an older window (a re-run of the past) changes nothing.
	LastWindowEnd time.Time
}

// Notification events.
const (
	EventFiring   = "firing"
	EventReminder = "reminder"
	EventResolved = "resolved"
	EventTest     = "test"
)

// NotificationStatus is where a notification is in the outbox.
type NotificationStatus string

// Notification statuses: queued (pending, including between retries),
// delivered (sent), or given up (failed: the error is kept).
const (
	NotificationPending NotificationStatus = "pending"
	NotificationSent    NotificationStatus = "sent"
	NotificationFailed  NotificationStatus = "failed"
)

// EmailsChannel is the channel of a monitor's inline notify.emails: its
// notifications go over the server's SMTP configuration to Recipients.
const EmailsChannel = "emails"

// Notification is one message to one channel, queued in the outbox in the
// same transaction as the alert transition it tells of, and delivered by
// the sender loop at least once.
type Notification struct {
	ID      string
	AlertID string // "" for a test notification
	Monitor string
	// Channel names a channel of the server configuration, or is
	// EmailsChannel for the monitor's inline e-mail addresses
	// (Recipients).
	Channel    string
	Recipients []string
	Event      string // EventFiring, EventReminder, EventResolved, EventTest
	// DedupKey is unique in the outbox: queueing a notification whose key
	// is already there does nothing. It is also sent along (Message-ID,
	// Idempotency-Key, PagerDuty dedup_key) so receivers can drop repeats.
	DedupKey string
	Message  AlertMessage
	Status   NotificationStatus
	// Attempts counts delivery attempts; NextAttemptAt is when the next
	// may start.
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	// DoneAt is when it was sent, or given up.
	DoneAt time.Time
	// LeaseOwner and LeaseUntil say which sender is delivering it.
	LeaseOwner string
	LeaseUntil time.Time
}

// AlertMessage is what a notification says, fixed when its transition is
// recorded; each channel renders it in its own format.
type AlertMessage struct {
	AlertID    string     `json:"alert_id"`
	Monitor    string     `json:"monitor"`
	Service    string     `json:"service"`
	Deployment string     `json:"deployment,omitempty"`
	Kind       string     `json:"kind"`
	Subject    string     `json:"subject,omitempty"`
	Event      string     `json:"event"`
	State      AlertState `json:"state"`
	Summary    string     `json:"summary"`
	// Value and Threshold are those of the run the message is about (for
	// a resolution: the recovered value).
	Value       *float64  `json:"value"`
	Threshold   string    `json:"threshold,omitempty"`
	RunID       string    `json:"run_id"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	FiredAt     time.Time `json:"fired_at"`
	ResolvedAt  time.Time `json:"resolved_at"`
	// Worst are up to three of the run's lowest-scoring instances of the
	// metric, with the judge's reasons.
	Worst []WorstInstance `json:"worst,omitempty"`
}

// WorstInstance is a low-scoring instance quoted in a notification.
type WorstInstance struct {
	TraceID string  `json:"trace_id"`
	Score   float64 `json:"score"`
	Reason  string  `json:"reason,omitempty"`
}
