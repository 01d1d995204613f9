// Package store is flowwatch's storage port: the small interfaces the rest
// of the system uses, the query types and the sentinel errors. Backends
// (sqlite, later postgres) implement it and run the storetest conformance
// suite.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
)

// Sentinel errors. Backends wrap them with context; callers test with
// errors.Is and the API maps them to status codes in one place.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrInvalidCursor is returned for a paging cursor the backend did not
	// issue.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store closed")
	// ErrUnwritable is wrapped by a write that failed because the store
	// cannot write now (disk full, I/O error, read-only file system or
	// file): retrying later may succeed, unlike retrying a bad batch.
	ErrUnwritable = errors.New("store cannot write")
)

// Deriver recomputes what flowwatch derives from raw data. The store calls
// it inside its write transaction when data that belongs together arrives
// in separate requests: a log record carrying a span's content after (or
// before) the span, or the spans of one trace split across exports.
// normalize provides the implementation.
type Deriver interface {
	// DeriveSpan recomputes span.Derived from the span's raw fields and the
	// log records attached to it, ordered by time and, for equal times, as
	// they were sent (order within an export, then arrival).
	DeriveSpan(span *model.Span, logs []model.LogRecord)
	// Summarize computes the trace summary from all of a trace's spans.
	Summarize(spans []model.Span) model.Trace
}

// WriteResult says what a write changed.
type WriteResult struct {
	// SpansWritten counts spans stored for the first time; Duplicates counts
	// spans already stored (same trace and span id), which change nothing.
	SpansWritten int
	Duplicates   int
	LogsWritten  int
	// TracesTouched counts trace summaries created or updated.
	TracesTouched int
}

// Writer is the durable write path. WriteBatch returns only after the batch
// is committed: a crash after it returns loses nothing.
type Writer interface {
	WriteBatch(ctx context.Context, b model.Batch) (WriteResult, error)
}

// TraceQuery selects trace summaries. Zero values mean "no filter".
type TraceQuery struct {
	Service    string
	Deployment string
	Model      string
	// Status selects failed traces (StatusError), traces that did not fail
	// (StatusOK: status ok or unset, since most SDKs leave a successful
	// span's status unset), or exactly StatusUnset.
	Status model.Status
	// Since is inclusive, Until exclusive, on the trace start time.
	Since time.Time
	Until time.Time
	// Text is a full-text query over question, answer and span inputs and
	// outputs.
	Text        string
	MinDuration time.Duration
	// Limit is the page size (the backend caps it at MaxLimit; 0 means
	// DefaultLimit).
	Limit int
	// Cursor continues a previous page (TracePage.NextCursor).
	Cursor string
}

// Page size bounds for ListTraces.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// TracePage is one page of trace summaries, newest first.
type TracePage struct {
	Traces []model.Trace
	// NextCursor is empty on the last page. A backend may bound the work
	// of one page: when the filters together match few of the traces it
	// reads, it may answer with fewer traces than the limit, even none, and
	// a NextCursor that continues the search where it stopped. Only a page
	// without a NextCursor ends the listing.
	NextCursor string
}

// TraceReader reads traces.
type TraceReader interface {
	ListTraces(ctx context.Context, q TraceQuery) (TracePage, error)
	// GetTrace returns ErrNotFound (wrapped) for an unknown id.
	GetTrace(ctx context.Context, traceID string) (model.TraceDetail, error)
	ListServices(ctx context.Context) ([]model.ServiceInfo, error)
	// ServicesPage returns a page of the services and deployments seen,
	// ordered by service then deployment; ErrInvalidCursor (wrapped) for
	// a cursor it did not issue.
	ServicesPage(ctx context.Context, q ServiceQuery) (ServicePage, error)
}

// ServiceQuery selects a page of services.
type ServiceQuery struct {
	// Cursor continues after the last entry of a page (its NextCursor).
	Cursor string
	// Limit is the page size (0: MaxLimit; capped at MaxLimit).
	Limit int
}

// ServicePage is a page of services; NextCursor is empty on the last.
type ServicePage struct {
	Services   []model.ServiceInfo
	NextCursor string
}

// MaxSummaryIDs bounds the ids of one TraceSummaries call.
const MaxSummaryIDs = 1000

// SummaryReader reads trace summaries by id, for lists that show many
// traces' questions and answers at once (a run's judged requests).
type SummaryReader interface {
	// TraceSummaries returns the summaries of the traces among ids that
	// the store holds, keyed by trace id; unknown ids are left out. More
	// than MaxSummaryIDs ids is an error.
	TraceSummaries(ctx context.Context, ids []string) (map[string]model.Trace, error)
}

// RollupQuery selects stored rollup rows: those of one kind and resolution
// whose bucket lies in [Start, End) (Unix seconds). Empty filters match
// everything.
type RollupQuery struct {
	Kind       rollup.Kind
	Resolution int64 // one of rollup.Resolutions()
	Start, End int64
	Service    string
	Deployment string
	Model      string
}

// RollupReader reads the operational rollups, which a backend keeps in the
// transaction that stores the spans they count (see package rollup).
type RollupReader interface {
	Rollups(ctx context.Context, q RollupQuery) ([]rollup.Row, error)
}

// Commit describes one committed write transaction, for whoever watches the
// store (the Prometheus exposition): how long it took and what the spans
// it stored for the first time contribute to the operational metrics.
type Commit struct {
	Duration     time.Duration
	Spans        int
	Observations []rollup.Observation
}

// MonitorStore keeps monitor definitions by name.
type MonitorStore interface {
	// PutMonitor creates or replaces the monitor named m.Name and reports
	// whether it was created. With ifVersion > 0 it replaces only that
	// version of the monitor and fails with ErrConflict (wrapped) otherwise
	// (also when the monitor does not exist).
	PutMonitor(ctx context.Context, m model.Monitor, ifVersion int64) (model.StoredMonitor, bool, error)
	// GetMonitor returns ErrNotFound (wrapped) for an unknown name.
	GetMonitor(ctx context.Context, name string) (model.StoredMonitor, error)
	// ListMonitors returns every monitor, by name.
	ListMonitors(ctx context.Context) ([]model.StoredMonitor, error)
	// DeleteMonitor deletes a monitor; ErrNotFound (wrapped) for an
	// unknown name. Its runs and alert history stay. Its firing alerts
	// are resolved at now, without a run or a notification (nothing will
	// run to resolve them), and its alert state machines are forgotten,
	// so that a monitor created again under the name starts afresh. Its
	// pending runs (queued, not yet claimed) are failed at now with an
	// error saying the monitor was deleted, and its next run time is
	// forgotten; a run already executing finishes.
	DeleteMonitor(ctx context.Context, name string, now time.Time) error
}

// RunStore keeps monitor runs and the scheduler's state. Every method is
// safe for several schedulers (replicas) at once: a tick is recorded once,
// and a run is claimed by one scheduler at a time.
type RunStore interface {
	// NextRunTimes returns the next scheduled run of every monitor that
	// has one.
	NextRunTimes(ctx context.Context) (map[string]time.Time, error)
	// SetNextRunTime sets a monitor's next scheduled run.
	SetNextRunTime(ctx context.Context, monitor string, next time.Time) error
	// ScheduleRun records a due scheduled run and sets the monitor's next
	// run time to next, in one transaction. A run already recorded for the
	// same monitor and ScheduledAt is not recorded again: it is returned
	// with created false (next is still set). Runs of a monitor that fell
	// behind coalesce: when the monitor has a scheduled run still pending
	// (not yet claimed), that run is moved to r's ScheduledAt and window
	// and returned with created false, instead of a second one queued.
	ScheduleRun(ctx context.Context, r model.Run, next time.Time) (model.Run, bool, error)
	// CreateRun records a manual run.
	CreateRun(ctx context.Context, r model.Run) (model.Run, error)
	// ClaimRun takes the oldest pending run, or the oldest running run
	// whose lease ended before now, for owner until now+lease, counting
	// an attempt. It reports false when there is none.
	ClaimRun(ctx context.Context, owner string, now time.Time, lease time.Duration) (model.Run, bool, error)
	// FinishRun ends a run claimed by owner, and applies decide's alert
	// changes in the same transaction (decide may be nil); ErrConflict
	// (wrapped) when owner no longer holds it.
	FinishRun(ctx context.Context, id, owner string, status model.RunStatus, errMsg string, now time.Time, decide AlertDecider) error
	// RenewRun extends the lease of a run owner holds until the given
	// time and records the run's progress; ErrConflict (wrapped) when
	// owner no longer holds it.
	RenewRun(ctx context.Context, id, owner string, until time.Time, p model.RunProgress) error
	// ReleaseRun gives back a run owner holds without ending it (its
	// scheduler is stopping): any scheduler may claim it at once, and the
	// attempt given back does not count against the run. ErrConflict
	// (wrapped) when owner no longer holds it.
	ReleaseRun(ctx context.Context, id, owner string) error
	// GetRun returns ErrNotFound (wrapped) for an unknown id.
	GetRun(ctx context.Context, id string) (model.Run, error)
	// ListRuns returns a monitor's runs, newest first, at most limit.
	ListRuns(ctx context.Context, monitor string, limit int) ([]model.Run, error)
}

// LeaseRecovery is provided by a store that only one process writes at a
// time (the embedded one, which locks its data directory): every lease
// found when it opens was held by a process that is gone.
type LeaseRecovery interface {
	// ExpireLeases ends the lease of every running run so that a
	// scheduler claims it at once instead of waiting for the lease to
	// run out; the attempt stays counted. It returns how many runs it
	// freed.
	ExpireLeases(ctx context.Context) (int, error)
}

// EvalCacheKey identifies a cached evaluation.
type EvalCacheKey struct {
	TraceID, Metric, JudgeModel, PromptVersion string
}

// InstanceQuery selects a run's instances. Zero values mean no filter.
type InstanceQuery struct {
	RunID  string
	Metric string
	Status model.InstanceStatus
	// Passed, when set, keeps the judged instances that passed (true) or
	// did not (false).
	Passed *bool
	// AfterMetric and AfterTraceID, when set, continue after that
	// instance (a page's last).
	AfterMetric, AfterTraceID string
	// Limit bounds the instances returned (0: no bound).
	Limit int
}

// ResultStore keeps what runs found, and the evaluation cache.
type ResultStore interface {
	// SaveRunResult stores a run's result and instances and ends the run
	// as succeeded, in one transaction, if owner still holds the run
	// (ErrConflict, wrapped, otherwise: another scheduler took it over).
	// decide's alert changes (decide may be nil) commit in the same
	// transaction.
	SaveRunResult(ctx context.Context, owner string, res model.RunResult, instances []model.Instance, now time.Time, decide AlertDecider) error
	// RunResult returns ErrNotFound (wrapped) for a run without a result.
	RunResult(ctx context.Context, runID string) (model.RunResult, error)
	// RunInstances returns the instances of a run that q selects, by
	// metric and trace id.
	RunInstances(ctx context.Context, q InstanceQuery) ([]model.Instance, error)
	// CachedEvaluations returns the cached evaluations among keys.
	CachedEvaluations(ctx context.Context, keys []EvalCacheKey) (map[EvalCacheKey]model.Evaluation, error)
	// CacheEvaluations stores evaluations (an existing one is kept).
	CacheEvaluations(ctx context.Context, evals []model.Evaluation) error
	// RunResults returns the succeeded runs of a monitor whose window
	// ends in [since, until) (a zero until means no upper bound), with
	// their results, newest window end first (then newest id), at most
	// limit, which must be positive. The runs of a deleted monitor are
	// still returned.
	RunResults(ctx context.Context, monitor string, since, until time.Time, limit int) ([]RunWithResult, error)
	// TraceEvaluations returns the judged instances of a trace in every
	// succeeded run, each with its run's monitor and finish time, newest
	// finish first (then newest run id, then by metric), at most limit,
	// which must be positive. Instances not evaluable or in error are
	// left out.
	TraceEvaluations(ctx context.Context, traceID string, limit int) ([]TraceEvaluation, error)
}

// RunWithResult is a succeeded run and what it found.
type RunWithResult struct {
	Run    model.Run
	Result model.RunResult
}

// TraceEvaluation is one judged instance of a trace, with the monitor
// whose run judged it and when that run finished.
type TraceEvaluation struct {
	Instance   model.Instance
	Monitor    string
	FinishedAt time.Time
}

// AlertSnapshot is a monitor's alert state when one of its runs ends: its
// state machines' trackers and its firing alerts, each by key.
type AlertSnapshot struct {
	Trackers map[string]model.AlertTracker
	Firing   map[string]model.Alert
	// Groups are the monitor's delivery groups, by channel.
	Groups map[string]model.AlertGroup
}

// AlertChanges is what the alert state machine decided when a run ended:
// trackers to write (by monitor and key), alerts to write (by id; new or
// changed), delivery groups to write (by monitor and channel) and
// notifications to queue in the outbox (one whose DedupKey is already
// there is skipped).
type AlertChanges struct {
	Trackers      []model.AlertTracker
	Alerts        []model.Alert
	Groups        []model.AlertGroup
	Notifications []model.Notification
}

// GroupFlush decides what a due delivery group sends, given the
// silences of its monitor in force: the group as it is to be written
// back, and the notifications to queue (none: nothing to send, the group
// only changes; one of status suppressed is recorded, never sent). It
// must not block.
type GroupFlush func(g model.AlertGroup, silences []model.Silence) (model.AlertGroup, []model.Notification, error)

// AlertDecider decides a run's alert changes from its monitor's alert
// state. The store calls it inside the transaction that ends the run, with
// the state read in that transaction, so that the run's end, the alert
// transitions and their notifications commit together or not at all (an
// error from it aborts the transaction). It must not block.
type AlertDecider func(AlertSnapshot) (AlertChanges, error)

// BindMonitor fills in an empty monitor name of a change an AlertDecider
// returned and refuses another monitor's: a run's decider changes the
// alert state of the run's monitor only. what names the change in the
// error. Backends call it on every tracker, alert, group and notification
// they write for a run.
func BindMonitor(got *string, monitor, what string) error {
	switch *got {
	case "":
		*got = monitor
	case monitor:
	default:
		return fmt.Errorf("%s belongs to monitor %s, not to the run's", what, *got)
	}
	return nil
}

// AlertQuery selects alerts; zero values mean no filter.
type AlertQuery struct {
	Monitor string
	State   model.AlertState
	// Limit is the page size (0: DefaultLimit; capped at MaxLimit).
	Limit  int
	Cursor string
}

// AlertPage is a page of alerts, newest fired first.
type AlertPage struct {
	Alerts     []model.Alert
	NextCursor string
}

// AlertStore reads alert history.
type AlertStore interface {
	// ListAlerts returns alerts, newest fired first.
	ListAlerts(ctx context.Context, q AlertQuery) (AlertPage, error)
	// GetAlert returns ErrNotFound (wrapped) for an unknown id.
	GetAlert(ctx context.Context, id string) (model.Alert, error)
	// AlertNotifications returns an alert's notifications, oldest first:
	// its own, and the group messages that told of it.
	AlertNotifications(ctx context.Context, alertID string) ([]model.Notification, error)
}

// AlertAcks acknowledges alerts.
type AlertAcks interface {
	// AckAlert acknowledges a firing alert at now, with comment (an
	// acknowledgement again replaces both) and returns it: its groups
	// stop reminding of it until it resolves. ErrNotFound (wrapped) for an
	// unknown id, ErrConflict (wrapped) for an alert that no longer fires.
	AckAlert(ctx context.Context, id, comment string, now time.Time) (model.Alert, error)
}

// AlertStats counts what /metrics shows of alerts and the outbox.
type AlertStats interface {
	// FiringAlerts counts the firing alerts of each monitor that has any.
	FiringAlerts(ctx context.Context) (map[string]int, error)
	// QueuedNotifications counts the pending notifications (due or
	// waiting for a retry) of each channel that has any.
	QueuedNotifications(ctx context.Context) (map[string]int, error)
}

// AlertGroups is the delivery groups of monitors' alerts: what waits to
// be told to each target.
type AlertGroups interface {
	// FlushAlertGroups takes up to limit groups due at now (DueAt set and
	// not after now), soonest first, and for each, in one transaction:
	// calls flush with the silences of its monitor in force at now, writes
	// the group it returns and queues its notifications (each linked to
	// the alerts of its Message.Alerts; for one not suppressed, their
	// last_notified time becomes now, and their reminders count one more
	// when told as still firing). A group is flushed once: of several
	// replicas, one takes it. It returns how many notifications it queued.
	FlushAlertGroups(ctx context.Context, now time.Time, limit int, flush GroupFlush) (int, error)
	// ListAlertGroups returns a monitor's delivery groups, by channel.
	ListAlertGroups(ctx context.Context, monitor string) ([]model.AlertGroup, error)
}

// SilenceQuery selects silences.
type SilenceQuery struct {
	// ActiveAt, when set, selects the silences in force then; else all.
	ActiveAt time.Time
	// Monitor, when set, selects that monitor's.
	Monitor string
}

// Silences mute monitors' alerts for a while.
type Silences interface {
	// CreateSilence records s (an empty ID gets one) and returns it.
	CreateSilence(ctx context.Context, s model.Silence) (model.Silence, error)
	// ListSilences returns the silences q selects, newest first, at most
	// MaxLimit.
	ListSilences(ctx context.Context, q SilenceQuery) ([]model.Silence, error)
	// ExpireSilence ends a silence at now and returns it; ErrNotFound
	// (wrapped) for an unknown id, ErrConflict (wrapped) for one that
	// has ended already.
	ExpireSilence(ctx context.Context, id string, now time.Time) (model.Silence, error)
}

// APIKeys keeps the API keys (hashed; the secret is never given to the
// store).
type APIKeys interface {
	// CreateAPIKey records k (the store assigns its ID) and returns it;
	// ErrConflict (wrapped) when an active key has the same name.
	CreateAPIKey(ctx context.Context, k model.APIKey) (model.APIKey, error)
	// ListAPIKeys returns every key, revoked ones too, oldest first.
	ListAPIKeys(ctx context.Context) ([]model.APIKey, error)
	// RevokeAPIKey revokes, at now, the active key whose ID or name is
	// idOrName and returns it; ErrNotFound (wrapped) when there is none.
	RevokeAPIKey(ctx context.Context, idOrName string, now time.Time) (model.APIKey, error)
	// TouchAPIKeys records when keys (by ID) were last used; unknown IDs
	// are ignored, and a time never moves back.
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}

// Outbox is the notifications queued for delivery. Every method is safe
// for several senders (replicas) at once: a notification is leased to one
// sender at a time.
type Outbox interface {
	// DueChannels returns the channels that have notifications due at now
	// (pending, NextAttemptAt not after now, not leased or lease ended).
	DueChannels(ctx context.Context, now time.Time) ([]string, error)
	// ClaimNotifications leases up to limit due notifications of channel
	// to owner until now+lease, soonest due first (then oldest), counting
	// an attempt.
	ClaimNotifications(ctx context.Context, owner, channel string, now time.Time, lease time.Duration, limit int) ([]model.Notification, error)
	// SettleNotification ends an attempt by owner: status sent or failed
	// (given up; errMsg says why) ends the notification at now; status
	// pending queues it again for next, with errMsg as its last error.
	// ErrConflict (wrapped) when owner no longer holds it.
	SettleNotification(ctx context.Context, id, owner string, status model.NotificationStatus, next time.Time, errMsg string, now time.Time) error
	// GetNotification returns ErrNotFound (wrapped) for an unknown id.
	GetNotification(ctx context.Context, id string) (model.Notification, error)
}

// MaxDeleteBatch bounds the traces one DeleteTraces call deletes: each
// call is one transaction, and a long one would hold up ingest.
const MaxDeleteBatch = 5000

// TraceDeletion selects traces to delete. At least one of TraceIDs,
// Service or UserID must be set: an empty selection is an error, not
// "everything". The filters combine with AND.
type TraceDeletion struct {
	// TraceIDs deletes these traces (at most MaxDeleteBatch); unknown ids
	// are skipped.
	TraceIDs []string
	// Service and Deployment select a service's traces ("" matches any
	// deployment).
	Service    string
	Deployment string
	// UserID selects the traces of one end user (a data-subject request).
	UserID string
	// Start and End bound the traces' start times: [Start, End); zero
	// times are open bounds.
	Start, End time.Time
	// Limit is how many traces one call deletes at most, oldest first
	// (0 or more than MaxDeleteBatch: MaxDeleteBatch). Call again while
	// More is true.
	Limit int
}

// Deleted counts what a deletion removed.
type Deleted struct {
	Traces, Spans, LogRecords, Evaluations int64
	// More says that the selection matched more traces than the limit.
	More bool
}

// Add adds o's counts to d.
func (d *Deleted) Add(o Deleted) {
	d.Traces += o.Traces
	d.Spans += o.Spans
	d.LogRecords += o.LogRecords
	d.Evaluations += o.Evaluations
}

// Eraser deletes stored data, in bounded transactions: traces for data
// subject requests and retention, old rollup rows and old monitor runs
// for retention. Deleted traces vanish from searches and reads; the
// rollups they fed keep counting them (they hold no content).
type Eraser interface {
	// DeleteTraces deletes up to q.Limit traces matching q, oldest first,
	// with their spans, log records, full-text entries and evaluations
	// (run instances and cached verdicts).
	DeleteTraces(ctx context.Context, q TraceDeletion) (Deleted, error)
	// DeleteRollups deletes up to limit rollup rows of a resolution whose
	// buckets start before before; it returns how many it deleted.
	DeleteRollups(ctx context.Context, resolution int64, before time.Time, limit int) (int64, error)
	// DeleteRuns deletes up to limit finished monitor runs created before
	// before, with their results and instances; it returns how many.
	DeleteRuns(ctx context.Context, before time.Time, limit int) (int64, error)
}

// Store is what a backend provides as a whole.
type Store interface {
	Writer
	TraceReader
	SummaryReader
	RollupReader
	MonitorStore
	RunStore
	ResultStore
	AlertStore
	AlertStats
	AlertAcks
	AlertGroups
	Silences
	Outbox
	APIKeys
	Eraser
	// Ping reports whether the store can serve (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
