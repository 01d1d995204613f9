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
	// LastNotifiedAt is when the latest message telling of it firing (new
	// or still) was queued; Reminders counts the times a message told of
	// it still firing (one for the messages of a group flush to several
	// targets).
	LastNotifiedAt time.Time
	Reminders      int
	// AckedAt is when the alert was acknowledged (zero: it was not), with
	// AckComment: an acknowledged alert that still fires is left out of
	// reminders until it resolves.
	AckedAt    time.Time
	AckComment string
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
// delivered (sent), given up (failed: the error is kept), or never sent
// because a silence matched its alerts (suppressed, with the silence's
// id).
const (
	NotificationPending    NotificationStatus = "pending"
	NotificationSent       NotificationStatus = "sent"
	NotificationFailed     NotificationStatus = "failed"
	NotificationSuppressed NotificationStatus = "suppressed"
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
	// SilenceID is the silence that suppressed it (status suppressed).
	SilenceID string
}

// Silence mutes a monitor's alerts, or one key's, for a while: their
// state machines go on and their messages are recorded, as suppressed,
// but not sent.
type Silence struct {
	ID      string
	Monitor string
	// Key is the alert key it mutes ("quality:groundedness"); "" mutes
	// every alert of the monitor.
	Key     string
	Comment string
	// CreatedAt is when it was made; it mutes until EndsAt. ExpiredAt is
	// when it was ended early (zero: it was not), and then equals EndsAt.
	CreatedAt time.Time
	EndsAt    time.Time
	ExpiredAt time.Time
}

// Mutes reports whether s mutes the alert of monitor and key at now.
func (s Silence) Mutes(monitor, key string, now time.Time) bool {
	return s.Monitor == monitor && (s.Key == "" || s.Key == key) && !now.Before(s.CreatedAt) && now.Before(s.EndsAt)
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
	// Degraded is set when the run was degraded (RunResult.Degraded): how
	// many instances the judge failed and its first error.
	Degraded string `json:"degraded,omitempty"`
	// Change is, in a group message's Alerts, what the alert did since
	// the previous message of the group: ChangeNew, ChangeFiring (still
	// firing) or ChangeResolved.
	Change string `json:"change,omitempty"`
	// Alerts makes the message a group message: every alert of the
	// monitor it tells of, firing ones first. The fields above then
	// describe the group: Monitor, Service, Deployment, Event, Summary
	// (the counts), and RunID and the window of the latest run.
	Alerts []AlertMessage `json:"alerts,omitempty"`
}

// Changes of an alert within a group message.
const (
	ChangeNew      = "new"
	ChangeFiring   = "firing"
	ChangeResolved = "resolved"
)

// AlertGroup is the delivery state of one monitor's alerts to one target
// (a channel, or the monitor's inline e-mails): Alertmanager's
// aggregation group, kept in the store. Every run of the monitor updates
// it in the transaction that ends the run; when DueAt comes, one message
// telling of all its alerts is queued in the outbox in the transaction
// that advances it.
type AlertGroup struct {
	// ID is random, given when the group is created; the dedup keys of
	// its messages are "group/<id>/<sequence>".
	ID         string
	Monitor    string
	Channel    string
	Recipients []string
	// Alerts are the members: the monitor's firing alerts, and resolved
	// ones whose resolution is still to be told.
	Alerts []GroupedAlert
	// DueAt is when the next message may be queued (a change waits out
	// group_wait or group_interval; a reminder is due); zero when there is
	// nothing to send.
	DueAt time.Time
	// LastSentAt is when the latest message was queued; Sent counts them.
	LastSentAt time.Time
	Sent       int
}

// GroupedAlert is one alert of a group.
type GroupedAlert struct {
	AlertID string `json:"alert_id"`
	Key     string `json:"key"`
	// State is the alert's state now; Told the state the group's latest
	// message gave it ("" when no message told of it yet). They differ
	// while a change waits to be told.
	State AlertState `json:"state"`
	Told  AlertState `json:"told,omitempty"`
	// Acked is set while the alert is acknowledged: it does not make its
	// group remind.
	Acked bool `json:"acked,omitempty"`
	// Message is what a message says of the alert, from its latest run.
	Message AlertMessage `json:"message"`
}

// GroupTiming is when a target's group messages go (all zero: one
// message per run that changed something, no reminders).
type GroupTiming struct {
	// Wait is how long a new group (nothing firing told yet) waits before
	// its first message, so that more alerts can join it.
	Wait time.Duration
	// Interval is the least time between two messages of a group that
	// changed.
	Interval time.Duration
	// Repeat is how long after its latest message a group with alerts
	// still firing and no change is sent again (0: never).
	Repeat time.Duration
}

// WorstInstance is a low-scoring instance quoted in a notification.
type WorstInstance struct {
	TraceID string  `json:"trace_id"`
	Score   float64 `json:"score"`
	Reason  string  `json:"reason,omitempty"`
}
