-- 0008: alerts, their state machines' memory, and the notification outbox.
--
-- All three are written in the transaction that ends a run (FinishRun,
-- SaveRunResult), by what the alert state machine decided from the state
-- read in that same transaction: a run's end, its alert transitions and
-- the notifications telling of them commit together or not at all. Times
-- are integer nanoseconds since the Unix epoch, 0 when unset.

-- alert_trackers is one state machine per (monitor, key) between runs:
-- the violating runs in a row (for alerting.for_runs), the alert of the
-- key that fires now ('' when none), and the end of the latest window
-- applied (a run over an older window changes nothing).
CREATE TABLE alert_trackers (
    monitor            TEXT    NOT NULL,
    key                TEXT    NOT NULL,
    streak             INTEGER NOT NULL,
    alert_id           TEXT    NOT NULL,
    last_window_end_ns INTEGER NOT NULL,
    PRIMARY KEY (monitor, key)
) WITHOUT ROWID;

-- alerts is the alert history: one row per episode, from the run that
-- fired it (firing_run_id, fired_ns) through the latest run that found it
-- still violated (last_run_id) to the run that resolved it
-- (resolved_run_id, resolved_ns; '' and 0 while it fires). value is the
-- metric's value in the firing run, NULL when it had none; threshold says
-- the bound in words. last_notified_ns and reminders record the latest
-- notification queued and the reminders queued so far (repeat_interval).
CREATE TABLE alerts (
    id               TEXT    NOT NULL PRIMARY KEY,
    monitor          TEXT    NOT NULL,
    key              TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    state            TEXT    NOT NULL, -- firing | resolved
    summary          TEXT    NOT NULL,
    value            REAL,
    threshold        TEXT    NOT NULL,
    fired_ns         INTEGER NOT NULL,
    firing_run_id    TEXT    NOT NULL,
    last_run_id      TEXT    NOT NULL,
    resolved_run_id  TEXT    NOT NULL,
    resolved_ns      INTEGER NOT NULL,
    last_notified_ns INTEGER NOT NULL,
    reminders        INTEGER NOT NULL
) WITHOUT ROWID;
-- Newest fired first: all alerts, a monitor's, those in one state.
CREATE INDEX alerts_fired ON alerts (fired_ns, id);
CREATE INDEX alerts_monitor_fired ON alerts (monitor, fired_ns, id);
CREATE INDEX alerts_state_fired ON alerts (state, fired_ns, id);
-- A monitor's firing alerts, read when each of its runs ends.
CREATE INDEX alerts_monitor_firing ON alerts (monitor, key) WHERE state = 'firing';

-- notifications is the outbox: one message to one channel, queued with
-- the transition it tells of and delivered by the sender loop at least
-- once. dedup_key is unique: queueing a notification whose key is already
-- here does nothing, so a re-run or a restart never queues one transition
-- twice. recipients is a JSON array of addresses (the inline e-mails
-- channel), message the JSON of model.AlertMessage, fixed when queued.
--
-- A notification is pending until it is sent or given up (failed, with
-- last_error). A sender claims due ones (pending, next_attempt_ns reached,
-- no lease or an ended one) by setting lease_owner and lease_until_ns and
-- counting an attempt; another sender can take it over once the lease
-- ends. A failed attempt puts it back to pending with a later
-- next_attempt_ns. alert_id is '' for a test notification.
CREATE TABLE notifications (
    id              TEXT    NOT NULL PRIMARY KEY,
    alert_id        TEXT    NOT NULL,
    monitor         TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    recipients      TEXT    NOT NULL,
    event           TEXT    NOT NULL, -- firing | reminder | resolved | test
    dedup_key       TEXT    NOT NULL UNIQUE,
    message         BLOB    NOT NULL,
    status          TEXT    NOT NULL, -- pending | sent | failed
    attempts        INTEGER NOT NULL,
    next_attempt_ns INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    created_ns      INTEGER NOT NULL,
    done_ns         INTEGER NOT NULL,
    lease_owner     TEXT    NOT NULL,
    lease_until_ns  INTEGER NOT NULL
) WITHOUT ROWID;
-- The due notifications of a channel in the order they are claimed
-- (soonest due, then oldest); only pending ones are indexed, so the index
-- stays as small as the queue.
CREATE INDEX notifications_due ON notifications (channel, next_attempt_ns, created_ns, id) WHERE status = 'pending';
-- An alert's notifications, oldest first.
CREATE INDEX notifications_alert ON notifications (alert_id, created_ns, id);
