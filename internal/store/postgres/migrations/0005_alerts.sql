-- 0005: alerts, their state machines, delivery groups, the notification
-- outbox, silences and API keys (the SQLite backend's 0008, 0012, 0013).
--
-- Times are bigint nanoseconds since the Unix epoch, 0 when unset (as in
-- SQLite): alert and outbox times come back exactly as they went in, so a
-- copied installation answers exactly as the original and the state
-- machine's comparisons (a window end against the tracker's) are exact.
--
-- Alert state is written only in the transaction that ends a run
-- (applyAlerts), which first takes a transaction-scoped advisory lock on
-- the monitor and then locks its tracker, group and firing alert rows
-- (SELECT ... FOR UPDATE): two replicas ending runs of one monitor decide
-- one after the other, each on the state the other committed. No foreign
-- keys to other areas' tables: migrations apply in number order.

-- alert_trackers is one state machine per (monitor, key) between runs.
CREATE TABLE alert_trackers (
    monitor            text   NOT NULL,
    key                text   NOT NULL,
    streak             bigint NOT NULL,
    alert_id           text   NOT NULL,
    last_window_end_ns bigint NOT NULL,
    PRIMARY KEY (monitor, key)
);

-- alerts is the alert history: one row per episode (see SQLite's 0008).
-- value is NULL when the firing run had none.
CREATE TABLE alerts (
    id               text   NOT NULL PRIMARY KEY,
    monitor          text   NOT NULL,
    key              text   NOT NULL,
    kind             text   NOT NULL,
    subject          text   NOT NULL,
    state            text   NOT NULL CHECK (state IN ('firing', 'resolved')),
    summary          text   NOT NULL,
    value            double precision,
    threshold        text   NOT NULL,
    fired_ns         bigint NOT NULL,
    firing_run_id    text   NOT NULL,
    last_run_id      text   NOT NULL,
    resolved_run_id  text   NOT NULL,
    resolved_ns      bigint NOT NULL,
    last_notified_ns bigint NOT NULL,
    reminders        bigint NOT NULL,
    acked_ns         bigint NOT NULL DEFAULT 0,
    ack_comment      text   NOT NULL DEFAULT ''
);
-- Newest fired first: all alerts, a monitor's, those in one state.
CREATE INDEX alerts_fired ON alerts (fired_ns DESC, id DESC);
CREATE INDEX alerts_monitor_fired ON alerts (monitor, fired_ns DESC, id DESC);
CREATE INDEX alerts_state_fired ON alerts (state, fired_ns DESC, id DESC);
-- A monitor's firing alerts, read (and locked) when each of its runs ends.
CREATE INDEX alerts_monitor_firing ON alerts (monitor, key) WHERE state = 'firing';

-- notifications is the outbox: one message to one channel, queued with the
-- transition it tells of and delivered at least once. dedup_key is unique:
-- queueing a key already here does nothing (ON CONFLICT DO NOTHING). A
-- sender claims due notifications (pending, next attempt reached, no lease
-- or an ended one) with FOR UPDATE SKIP LOCKED, so concurrent senders on
-- several replicas never take the same one; a crashed sender's claim is
-- taken over when its lease ends. recipients is NULL when the
-- notification had none (a channel's), message the JSON of
-- model.AlertMessage, fixed when queued. alert_id is '' for a test
-- notification; silence_id names the silence of a suppressed one.
CREATE TABLE notifications (
    id              text   NOT NULL PRIMARY KEY,
    alert_id        text   NOT NULL,
    monitor         text   NOT NULL,
    channel         text   NOT NULL,
    recipients      text[],
    event           text   NOT NULL,
    dedup_key       text   NOT NULL UNIQUE,
    message         json   NOT NULL,
    status          text   NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'suppressed')),
    attempts        bigint NOT NULL,
    next_attempt_ns bigint NOT NULL,
    last_error      text   NOT NULL,
    created_ns      bigint NOT NULL,
    done_ns         bigint NOT NULL,
    lease_owner     text   NOT NULL,
    lease_until_ns  bigint NOT NULL,
    silence_id      text   NOT NULL DEFAULT ''
);
-- The pending notifications of a channel in the order they are claimed
-- (soonest due, then oldest); partial, so it stays as small as the queue.
-- It also serves DueChannels' walk over the channels.
CREATE INDEX notifications_due ON notifications (channel, next_attempt_ns, created_ns, id) WHERE status = 'pending';
-- An alert's notifications, oldest first.
CREATE INDEX notifications_alert ON notifications (alert_id, created_ns, id);

-- alert_groups is one delivery group per (monitor, channel) (see SQLite's
-- 0012). alerts is the JSON array of model.GroupedAlert. due_ns is when
-- the next message may be queued, 0 when none waits; a flush claims due
-- groups with FOR UPDATE SKIP LOCKED, so one replica flushes each.
CREATE TABLE alert_groups (
    monitor      text   NOT NULL,
    channel      text   NOT NULL,
    id           text   NOT NULL UNIQUE,
    recipients   text[],
    alerts       json   NOT NULL,
    due_ns       bigint NOT NULL,
    last_sent_ns bigint NOT NULL,
    sent         bigint NOT NULL,
    PRIMARY KEY (monitor, channel)
);
-- The groups with a message waiting, soonest due first.
CREATE INDEX alert_groups_due ON alert_groups (due_ns, monitor, channel) WHERE due_ns > 0;

-- message and alerts are json, not jsonb: nothing queries inside them,
-- json keeps the text as written (no reparse on every write), and it
-- accepts the \u0000 escape that a judge's quoted reason may hold, which
-- jsonb refuses.

-- notification_alerts links a group message to every alert it tells of.
CREATE TABLE notification_alerts (
    alert_id        text NOT NULL,
    notification_id text NOT NULL,
    PRIMARY KEY (alert_id, notification_id)
);

-- silences mute a monitor's alerts (key '': all of them) from created_ns
-- until ends_at_ns; expired_ns is when one was ended early (0: it was not).
CREATE TABLE silences (
    id         text   NOT NULL PRIMARY KEY,
    monitor    text   NOT NULL,
    key        text   NOT NULL,
    comment    text   NOT NULL,
    created_ns bigint NOT NULL,
    ends_at_ns bigint NOT NULL,
    expired_ns bigint NOT NULL
);
-- A monitor's silences in force, read when its groups are flushed.
CREATE INDEX silences_monitor_ends ON silences (monitor, ends_at_ns);
CREATE INDEX silences_created ON silences (created_ns DESC, id DESC);

-- api_keys: the SHA-256 of each key (its secret is never stored), its
-- scopes (ingest, read, admin). A revoked key keeps its row
-- (revoked_ns > 0); a name is unique among the keys not revoked.
CREATE TABLE api_keys (
    id           text   NOT NULL PRIMARY KEY,
    name         text   NOT NULL,
    scopes       text[] NOT NULL,
    hash         bytea  NOT NULL UNIQUE,
    created_ns   bigint NOT NULL,
    last_used_ns bigint NOT NULL DEFAULT 0,
    revoked_ns   bigint NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_ns = 0;
CREATE INDEX api_keys_created ON api_keys (created_ns, id);
