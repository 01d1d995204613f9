-- 0012: grouped delivery of alert notifications.
--
-- alert_groups is one delivery group per (monitor, channel): what waits
-- to be told to that target about the monitor's alerts (Alertmanager's
-- aggregation group, kept in the store so that a restart or another
-- replica carries on where the last one stopped). It is written in the
-- transaction that ends each run of the monitor (with the alert
-- transitions), and advanced in the transaction that queues its message
-- in the outbox, so a message is queued once per change, never lost and
-- never twice. alerts is the JSON array of model.GroupedAlert (the
-- members), recipients a JSON array of addresses (the inline e-mails).
-- due_ns is when the next message may be queued, 0 when none waits;
-- last_sent_ns and sent are the latest message's time and the count of
-- messages (they number the dedup keys, group/<id>/<sequence>).
CREATE TABLE alert_groups (
    monitor      TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    id           TEXT    NOT NULL UNIQUE,
    recipients   TEXT    NOT NULL,
    alerts       BLOB    NOT NULL,
    due_ns       INTEGER NOT NULL,
    last_sent_ns INTEGER NOT NULL,
    sent         INTEGER NOT NULL,
    PRIMARY KEY (monitor, channel)
) WITHOUT ROWID;
-- The groups with a message waiting, soonest due first.
CREATE INDEX alert_groups_due ON alert_groups (due_ns) WHERE due_ns > 0;

-- notification_alerts links a group message to every alert it tells of,
-- so an alert's history lists the messages that told of it.
CREATE TABLE notification_alerts (
    alert_id        TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    PRIMARY KEY (alert_id, notification_id)
) WITHOUT ROWID;

-- An alert's acknowledgement: when (0: not acknowledged) and the comment
-- given. An acknowledged alert that still fires is left out of its
-- groups' reminders until it resolves (a new firing is a new alert).
ALTER TABLE alerts ADD COLUMN acked_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN ack_comment TEXT NOT NULL DEFAULT '';

-- silences mute a monitor's alerts (key '' : all of them) from created_ns
-- until ends_at_ns; expired_ns is when one was ended early (0: it was not;
-- ends_at_ns is then the same time). A message of a group whose alerts a
-- silence mutes is recorded in notifications with status 'suppressed' and
-- silence_id, and never sent.
CREATE TABLE silences (
    id         TEXT    NOT NULL PRIMARY KEY,
    monitor    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    comment    TEXT    NOT NULL,
    created_ns INTEGER NOT NULL,
    ends_at_ns INTEGER NOT NULL,
    expired_ns INTEGER NOT NULL
) WITHOUT ROWID;
-- A monitor's silences in force, read when its groups are flushed.
CREATE INDEX silences_monitor_ends ON silences (monitor, ends_at_ns);
CREATE INDEX silences_created ON silences (created_ns, id);

ALTER TABLE notifications ADD COLUMN silence_id TEXT NOT NULL DEFAULT '';
