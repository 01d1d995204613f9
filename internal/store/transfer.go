package store

import (
	"context"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
)

// RecordKind names a kind of record that a copy from one store to another
// carries (flowwatch copy). Each kind is read in pages in its own key
// order, so that a copy can stop after any page and continue there.
type RecordKind string

// The kinds of record a copy carries, in the order it copies them.
const (
	// RecordTraces: one record per trace id, with its summary, spans and
	// log records (also a trace that has log records only).
	RecordTraces RecordKind = "traces"
	// RecordServices: the services and deployments seen, as the source
	// counted them (after the traces: they replace what the target
	// counted from the traces copied, since the source's first and last
	// seen times and counts cover traces it no longer holds, and traces
	// as they were when they arrived).
	RecordServices RecordKind = "services"
	// RecordRollups: the stored rollup rows, raw. They are not rebuilt
	// from the spans copied: they still count the traces that retention
	// deleted.
	RecordRollups       RecordKind = "rollups"
	RecordMonitors      RecordKind = "monitors"
	RecordSchedule      RecordKind = "schedule"
	RecordRuns          RecordKind = "runs"
	RecordResults       RecordKind = "results"
	RecordEvalCache     RecordKind = "eval_cache"
	RecordTrackers      RecordKind = "alert_trackers"
	RecordAlerts        RecordKind = "alerts"
	RecordGroups        RecordKind = "alert_groups"
	RecordNotifications RecordKind = "notifications"
	RecordSilences      RecordKind = "silences"
	RecordAPIKeys       RecordKind = "api_keys"
)

// RecordKinds returns every kind of record, in copy order.
func RecordKinds() []RecordKind {
	return []RecordKind{RecordTraces, RecordServices, RecordRollups, RecordMonitors, RecordSchedule, RecordRuns, RecordResults,
		RecordEvalCache, RecordTrackers, RecordAlerts, RecordGroups, RecordNotifications, RecordSilences, RecordAPIKeys}
}

// TraceRecord is everything stored of one trace.
type TraceRecord struct {
	TraceID string
	// Summary is the stored summary, as the source computed it when the
	// spans arrived (with the prices then); nil for a trace of which only
	// log records arrived. The target stores it as it is rather than
	// computing it again.
	Summary *model.Trace
	// Spans are derived (with their log records), as the write path
	// receives them.
	Spans []model.Span
	// Logs are in the order they were stored, which orders records of
	// equal times.
	Logs []model.LogRecord
}

// RollupRecord is one stored rollup row, its point in rollup.Point's
// binary encoding.
type RollupRecord struct {
	Resolution int64
	Key        rollup.Key
	Point      []byte
}

// ScheduleRecord is a monitor's next scheduled run.
type ScheduleRecord struct {
	Monitor string
	Next    time.Time
}

// ResultRecord is a finished run's result with its instances.
type ResultRecord struct {
	Result    model.RunResult
	Instances []model.Instance
}

// NotificationRecord is a notification of the outbox, in whatever state
// it is, with the alerts it is linked to (those a group message tells
// of).
type NotificationRecord struct {
	Notification model.Notification
	AlertIDs     []string
}

// RecordPage is one page of records of one kind. Only the field of its
// kind is set.
type RecordPage struct {
	Kind          RecordKind
	Traces        []TraceRecord
	Services      []model.ServiceInfo
	Rollups       []RollupRecord
	Monitors      []model.StoredMonitor
	Schedule      []ScheduleRecord
	Runs          []model.Run
	Results       []ResultRecord
	Evaluations   []model.Evaluation
	Trackers      []model.AlertTracker
	Alerts        []model.Alert
	Groups        []model.AlertGroup
	Notifications []NotificationRecord
	Silences      []model.Silence
	APIKeys       []model.APIKey
	// Next is the cursor after the page's last record; empty when the
	// page is the last.
	Next string
}

// Len returns how many records the page holds.
func (p *RecordPage) Len() int {
	return len(p.Traces) + len(p.Services) + len(p.Rollups) + len(p.Monitors) + len(p.Schedule) + len(p.Runs) + len(p.Results) +
		len(p.Evaluations) + len(p.Trackers) + len(p.Alerts) + len(p.Groups) + len(p.Notifications) +
		len(p.Silences) + len(p.APIKeys)
}

// Exporter reads everything a store holds, kind by kind, for a copy to
// another store. The store must not change during the copy.
type Exporter interface {
	// CountRecords returns how many records of kind the store holds.
	CountRecords(ctx context.Context, kind RecordKind) (int64, error)
	// ExportRecords returns up to limit records of kind after the cursor
	// after ("" : from the first), in the kind's key order.
	// ErrInvalidCursor (wrapped) for a cursor it did not issue.
	ExportRecords(ctx context.Context, kind RecordKind, after string, limit int) (RecordPage, error)
	// TableCounts counts the rows of the tables a copy fills, by table
	// name (the names are the same in every backend; see TableNames).
	TableCounts(ctx context.Context) (map[string]int64, error)
}

// CopyProgress is how far a copy into a store has gone with one kind.
type CopyProgress struct {
	// Cursor is the Next of the last page imported.
	Cursor string
	// Done says that the last page of the kind was imported.
	Done   bool
	Copied int64
}

// Importer writes records exported by another store, as they were (ids,
// times, states, leases), for flowwatch copy.
type Importer interface {
	// ImportRecords writes a page of records and records that the copy
	// of its kind has reached the page's Next (Done when Next is empty),
	// in one transaction. A record already stored is left as it is, so
	// importing a page again changes nothing. Spans imported do not add
	// to the rollups: those are imported raw (RecordRollups).
	ImportRecords(ctx context.Context, page RecordPage) error
	// CopyProgress returns the progress ImportRecords recorded, by kind
	// (empty when no copy went into the store).
	CopyProgress(ctx context.Context) (map[RecordKind]CopyProgress, error)
	// TableCounts counts the rows of the tables a copy fills, by table
	// name. Rollup rows are counted by key, however a backend stores
	// them.
	TableCounts(ctx context.Context) (map[string]int64, error)
}

// TableNames are the tables TableCounts counts, in the order a copy
// reports them.
func TableNames() []string {
	return []string{"traces", "spans", "logs", "services", "rollups", "monitors", "monitor_schedule", "runs",
		"run_results", "run_instances", "eval_cache", "alert_trackers", "alerts", "alert_groups",
		"notifications", "notification_alerts", "silences", "api_keys"}
}
