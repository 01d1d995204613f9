package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Alerts, their trackers, delivery groups and the outbox (schema:
// migrations/0008_alerts.sql, 0012_alert_groups.sql).
// They are written only by applyAlerts, inside the transaction that ends a
// run; the outbox is then drained through ClaimNotifications and
// SettleNotification.

const alertColumns = `id, monitor, key, kind, subject, state, summary, value, threshold, fired_ns,
	firing_run_id, last_run_id, resolved_run_id, resolved_ns, last_notified_ns, reminders, acked_ns, ack_comment`

var alertPlaceholders = placeholders(alertColumns)

const notificationColumns = `id, alert_id, monitor, channel, recipients, event, dedup_key, message, status,
	attempts, next_attempt_ns, last_error, created_ns, done_ns, lease_owner, lease_until_ns, silence_id`

var notificationPlaceholders = placeholders(notificationColumns)

// placeholders returns one "?" per column of a comma-separated list.
func placeholders(columns string) string {
	return strings.TrimSuffix(strings.Repeat("?, ", strings.Count(columns, ",")+1), ", ")
}

func alertArgs(a model.Alert) []any {
	var value any
	if a.Value != nil {
		value = *a.Value
	}
	return []any{a.ID, a.Monitor, a.Key, a.Kind, a.Subject, string(a.State), a.Summary, value, a.Threshold,
		nsOf(a.FiredAt), a.FiringRunID, a.LastRunID, a.ResolvedRunID, nsOf(a.ResolvedAt), nsOf(a.LastNotifiedAt), a.Reminders,
		nsOf(a.AckedAt), a.AckComment}
}

func scanAlert(sc scanner) (model.Alert, error) {
	var a model.Alert
	var state string
	var value sql.NullFloat64
	var fired, resolved, notified, acked int64
	err := sc.Scan(&a.ID, &a.Monitor, &a.Key, &a.Kind, &a.Subject, &state, &a.Summary, &value, &a.Threshold,
		&fired, &a.FiringRunID, &a.LastRunID, &a.ResolvedRunID, &resolved, &notified, &a.Reminders, &acked, &a.AckComment)
	if err != nil {
		return model.Alert{}, err
	}
	a.State = model.AlertState(state)
	if value.Valid {
		v := value.Float64
		a.Value = &v
	}
	a.FiredAt, a.ResolvedAt, a.LastNotifiedAt, a.AckedAt = timeOf(fired), timeOf(resolved), timeOf(notified), timeOf(acked)
	return a, nil
}

func notificationArgs(n model.Notification) ([]any, error) {
	recipients, err := json.Marshal(n.Recipients)
	if err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	msg := n.Message
	msg.WindowStart, msg.WindowEnd = msg.WindowStart.UTC(), msg.WindowEnd.UTC()
	msg.FiredAt, msg.ResolvedAt = msg.FiredAt.UTC(), msg.ResolvedAt.UTC()
	message, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return []any{n.ID, n.AlertID, n.Monitor, n.Channel, string(recipients), n.Event, n.DedupKey, message, string(n.Status),
		n.Attempts, nsOf(n.NextAttemptAt), n.LastError, nsOf(n.CreatedAt), nsOf(n.DoneAt), n.LeaseOwner, nsOf(n.LeaseUntil), n.SilenceID}, nil
}

func scanNotification(sc scanner) (model.Notification, error) {
	var n model.Notification
	var recipients string
	var message []byte
	var status string
	var next, created, done, lease int64
	err := sc.Scan(&n.ID, &n.AlertID, &n.Monitor, &n.Channel, &recipients, &n.Event, &n.DedupKey, &message, &status,
		&n.Attempts, &next, &n.LastError, &created, &done, &n.LeaseOwner, &lease, &n.SilenceID)
	if err != nil {
		return model.Notification{}, err
	}
	if err := json.Unmarshal([]byte(recipients), &n.Recipients); err != nil {
		return model.Notification{}, fmt.Errorf("notification %s: recipients unreadable: %w", n.ID, err)
	}
	if err := json.Unmarshal(message, &n.Message); err != nil {
		return model.Notification{}, fmt.Errorf("notification %s: message unreadable: %w", n.ID, err)
	}
	n.Status = model.NotificationStatus(status)
	n.NextAttemptAt, n.CreatedAt, n.DoneAt, n.LeaseUntil = timeOf(next), timeOf(created), timeOf(done), timeOf(lease)
	return n, nil
}

// scanNotifications reads rows of notificationColumns and closes them.
func scanNotifications(rows *sql.Rows) ([]model.Notification, error) {
	defer rows.Close()
	var out []model.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// applyAlerts runs decide, when not nil, on the alert state of the monitor
// of run runID and writes what it decided, in tx (the transaction that
// ended the run, after the run's end is written). now stands in for a
// notification's missing creation time. An error, decide's included,
// aborts the transaction.
func applyAlerts(tx *sql.Tx, runID string, now time.Time, decide store.AlertDecider) error {
	if decide == nil {
		return nil
	}
	var monitor string
	if err := tx.QueryRow(`SELECT monitor FROM runs WHERE id = ?`, runID).Scan(&monitor); err != nil {
		return fmt.Errorf("monitor of the run: %w", err)
	}
	snap, err := alertSnapshot(tx, monitor)
	if err != nil {
		return fmt.Errorf("alert state of monitor %s: %w", monitor, err)
	}
	changes, err := decide(snap)
	if err != nil {
		return fmt.Errorf("alert decider of monitor %s: %w", monitor, err)
	}
	if err := writeAlertChanges(tx, monitor, changes, now); err != nil {
		return fmt.Errorf("alert changes of monitor %s: %w", monitor, err)
	}
	return nil
}

// alertSnapshot reads a monitor's trackers and firing alerts in tx.
func alertSnapshot(tx *sql.Tx, monitor string) (store.AlertSnapshot, error) {
	snap := store.AlertSnapshot{Trackers: map[string]model.AlertTracker{}, Firing: map[string]model.Alert{}}
	rows, err := tx.Query(`SELECT key, streak, alert_id, last_window_end_ns FROM alert_trackers WHERE monitor = ?`, monitor)
	if err != nil {
		return store.AlertSnapshot{}, err
	}
	for rows.Next() {
		tr := model.AlertTracker{Monitor: monitor}
		var end int64
		if err := rows.Scan(&tr.Key, &tr.Streak, &tr.AlertID, &end); err != nil {
			rows.Close()
			return store.AlertSnapshot{}, err
		}
		tr.LastWindowEnd = timeOf(end)
		snap.Trackers[tr.Key] = tr
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return store.AlertSnapshot{}, err
	}
	if snap.Groups, err = alertGroups(tx, monitor); err != nil {
		return store.AlertSnapshot{}, err
	}
	// By the index alerts_monitor_firing (an ORDER BY here would lead the
	// planner to another); should a key have two firing alerts, the newest
	// is kept.
	rows, err = tx.Query(`SELECT `+alertColumns+` FROM alerts WHERE monitor = ? AND state = 'firing'`, monitor)
	if err != nil {
		return store.AlertSnapshot{}, err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return store.AlertSnapshot{}, err
		}
		cur, seen := snap.Firing[a.Key]
		if !seen || a.FiredAt.After(cur.FiredAt) || (a.FiredAt.Equal(cur.FiredAt) && a.ID > cur.ID) {
			snap.Firing[a.Key] = a
		}
	}
	return snap, rows.Err()
}

// writeAlertChanges writes trackers (by monitor and key), alerts (by id)
// and queues notifications (skipping those whose dedup key is queued
// already) in tx.
func writeAlertChanges(tx *sql.Tx, monitor string, c store.AlertChanges, now time.Time) error {
	for _, tr := range c.Trackers {
		if err := store.BindMonitor(&tr.Monitor, monitor, "tracker "+tr.Key); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO alert_trackers (monitor, key, streak, alert_id, last_window_end_ns) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (monitor, key) DO UPDATE SET streak = excluded.streak, alert_id = excluded.alert_id,
				last_window_end_ns = excluded.last_window_end_ns`,
			tr.Monitor, tr.Key, tr.Streak, tr.AlertID, nsOf(tr.LastWindowEnd)); err != nil {
			return fmt.Errorf("tracker %s: %w", tr.Key, err)
		}
	}
	for _, a := range c.Alerts {
		if a.ID == "" {
			return fmt.Errorf("alert of key %s has no id", a.Key)
		}
		if err := store.BindMonitor(&a.Monitor, monitor, "alert "+a.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO alerts (`+alertColumns+`) VALUES (`+alertPlaceholders+`)
			ON CONFLICT (id) DO UPDATE SET monitor = excluded.monitor, key = excluded.key, kind = excluded.kind,
				subject = excluded.subject, state = excluded.state, summary = excluded.summary, value = excluded.value,
				threshold = excluded.threshold, fired_ns = excluded.fired_ns, firing_run_id = excluded.firing_run_id,
				last_run_id = excluded.last_run_id, resolved_run_id = excluded.resolved_run_id,
				resolved_ns = excluded.resolved_ns, last_notified_ns = excluded.last_notified_ns,
				reminders = excluded.reminders, acked_ns = excluded.acked_ns, ack_comment = excluded.ack_comment`,
			alertArgs(a)...); err != nil {
			return fmt.Errorf("alert %s: %w", a.ID, err)
		}
	}
	for _, g := range c.Groups {
		if err := store.BindMonitor(&g.Monitor, monitor, "group of channel "+g.Channel); err != nil {
			return err
		}
		if err := writeAlertGroup(tx, g); err != nil {
			return err
		}
	}
	for _, n := range c.Notifications {
		if err := queueNotification(tx, monitor, n, now); err != nil {
			return err
		}
	}
	return nil
}

// queueNotification queues n in tx (nothing when its dedup key is queued
// already) and links it to the alerts it tells of.
func queueNotification(tx *sql.Tx, monitor string, n model.Notification, now time.Time) error {
	if n.DedupKey == "" {
		return fmt.Errorf("notification of alert %s to channel %s has no dedup key", n.AlertID, n.Channel)
	}
	if err := store.BindMonitor(&n.Monitor, monitor, "notification "+n.DedupKey); err != nil {
		return err
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	if n.NextAttemptAt.IsZero() {
		n.NextAttemptAt = n.CreatedAt
	}
	if n.ID == "" {
		n.ID = newRunID(n.CreatedAt) // time-ordered, like run ids
	}
	n.Attempts, n.LastError, n.LeaseOwner, n.LeaseUntil = 0, "", "", time.Time{}
	if n.Status == model.NotificationSuppressed {
		// Recorded, never sent: done when queued.
		n.DoneAt = n.CreatedAt
	} else {
		n.Status, n.SilenceID, n.DoneAt = model.NotificationPending, "", time.Time{}
	}
	args, err := notificationArgs(n)
	if err != nil {
		return fmt.Errorf("notification %s: %w", n.DedupKey, err)
	}
	res, err := tx.Exec(`INSERT INTO notifications (`+notificationColumns+`) VALUES (`+notificationPlaceholders+`)
		ON CONFLICT (dedup_key) DO NOTHING`, args...)
	if err != nil {
		return fmt.Errorf("notification %s: %w", n.DedupKey, err)
	}
	if added, _ := res.RowsAffected(); added == 0 {
		return nil
	}
	for _, a := range n.Message.Alerts {
		if a.AlertID == "" {
			continue
		}
		if _, err := tx.Exec(`INSERT INTO notification_alerts (alert_id, notification_id) VALUES (?, ?)
			ON CONFLICT DO NOTHING`, a.AlertID, n.ID); err != nil {
			return fmt.Errorf("notification %s: alert %s: %w", n.DedupKey, a.AlertID, err)
		}
	}
	return nil
}

const alertGroupColumns = `monitor, channel, id, recipients, alerts, due_ns, last_sent_ns, sent`

// scanAlertGroup reads a row of alertGroupColumns.
func scanAlertGroup(sc scanner) (model.AlertGroup, error) {
	var g model.AlertGroup
	var recipients string
	var alerts []byte
	var due, last int64
	if err := sc.Scan(&g.Monitor, &g.Channel, &g.ID, &recipients, &alerts, &due, &last, &g.Sent); err != nil {
		return model.AlertGroup{}, err
	}
	if err := json.Unmarshal([]byte(recipients), &g.Recipients); err != nil {
		return model.AlertGroup{}, fmt.Errorf("group %s/%s: recipients unreadable: %w", g.Monitor, g.Channel, err)
	}
	if err := json.Unmarshal(alerts, &g.Alerts); err != nil {
		return model.AlertGroup{}, fmt.Errorf("group %s/%s: alerts unreadable: %w", g.Monitor, g.Channel, err)
	}
	g.DueAt, g.LastSentAt = timeOf(due), timeOf(last)
	return g, nil
}

// alertGroups reads a monitor's delivery groups by channel in tx.
func alertGroups(tx *sql.Tx, monitor string) (map[string]model.AlertGroup, error) {
	rows, err := tx.Query(`SELECT `+alertGroupColumns+` FROM alert_groups WHERE monitor = ?`, monitor)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]model.AlertGroup{}
	for rows.Next() {
		g, err := scanAlertGroup(rows)
		if err != nil {
			return nil, err
		}
		out[g.Channel] = g
	}
	return out, rows.Err()
}

// writeAlertGroup writes g by monitor and channel in tx.
func writeAlertGroup(tx *sql.Tx, g model.AlertGroup) error {
	if g.ID == "" || g.Channel == "" {
		return fmt.Errorf("group of monitor %s, channel %q: no id or channel", g.Monitor, g.Channel)
	}
	recipients, err := json.Marshal(g.Recipients)
	if err != nil {
		return fmt.Errorf("group of channel %s: recipients: %w", g.Channel, err)
	}
	if g.Alerts == nil {
		g.Alerts = []model.GroupedAlert{}
	}
	alerts, err := json.Marshal(g.Alerts)
	if err != nil {
		return fmt.Errorf("group of channel %s: alerts: %w", g.Channel, err)
	}
	if _, err := tx.Exec(`INSERT INTO alert_groups (`+alertGroupColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (monitor, channel) DO UPDATE SET id = excluded.id, recipients = excluded.recipients,
			alerts = excluded.alerts, due_ns = excluded.due_ns, last_sent_ns = excluded.last_sent_ns, sent = excluded.sent`,
		g.Monitor, g.Channel, g.ID, string(recipients), alerts, nsOf(g.DueAt), nsOf(g.LastSentAt), g.Sent); err != nil {
		return fmt.Errorf("group of channel %s: %w", g.Channel, err)
	}
	return nil
}

// FlushAlertGroups flushes up to limit groups due at now, all in one
// write transaction (the single writer makes it the only flush at a
// time).
func (s *Store) FlushAlertGroups(ctx context.Context, now time.Time, limit int, flush store.GroupFlush) (int, error) {
	switch {
	case flush == nil:
		return 0, errors.New("sqlite: flush alert groups: no flush function")
	case limit <= 0:
		return 0, fmt.Errorf("sqlite: flush alert groups: limit %d is not positive", limit)
	}
	limit = min(limit, store.MaxLimit)
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	// The sender asks every second: a read says whether anything is due
	// before a write transaction is taken.
	var due int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM alert_groups WHERE due_ns > 0 AND due_ns <= ? LIMIT 1)`,
		nsOf(now)).Scan(&due); err != nil {
		return 0, s.readErr("due alert groups", err)
	}
	if due == 0 {
		return 0, nil
	}
	queued := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		queued = 0
		rows, err := tx.Query(`SELECT `+alertGroupColumns+` FROM alert_groups WHERE due_ns > 0 AND due_ns <= ?
			ORDER BY due_ns, monitor, channel LIMIT ?`, nsOf(now), limit)
		if err != nil {
			return err
		}
		var due []model.AlertGroup
		for rows.Next() {
			g, err := scanAlertGroup(rows)
			if err != nil {
				rows.Close()
				return err
			}
			due = append(due, g)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		for _, g := range due {
			silences, err := silencesOf(tx, g.Monitor, now)
			if err != nil {
				return fmt.Errorf("silences of monitor %s: %w", g.Monitor, err)
			}
			next, ns, err := flush(g, silences)
			if err != nil {
				return fmt.Errorf("group %s/%s: %w", g.Monitor, g.Channel, err)
			}
			next.Monitor, next.Channel = g.Monitor, g.Channel
			if next.ID == "" {
				next.ID = g.ID
			}
			if err := writeAlertGroup(tx, next); err != nil {
				return fmt.Errorf("group %s: %w", g.Monitor, err)
			}
			for _, n := range ns {
				n.Channel = g.Channel
				if err := queueNotification(tx, g.Monitor, n, now); err != nil {
					return fmt.Errorf("group %s/%s: %w", g.Monitor, g.Channel, err)
				}
				if n.Status == model.NotificationSuppressed {
					continue
				}
				if err := markNotified(tx, n, now); err != nil {
					return fmt.Errorf("group %s/%s: %w", g.Monitor, g.Channel, err)
				}
				queued++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: flush alert groups: %w", err)
	}
	return queued, nil
}

// markNotified records on the alerts a queued message tells of firing
// that they were told now.
func markNotified(tx *sql.Tx, n model.Notification, now time.Time) error {
	for _, a := range n.Message.Alerts {
		if a.AlertID == "" || (a.Change != model.ChangeNew && a.Change != model.ChangeFiring) {
			continue
		}
		reminder := 0
		if a.Change == model.ChangeFiring {
			reminder = 1
		}
		// Messages of one flush to several targets are one reminder.
		if _, err := tx.Exec(`UPDATE alerts SET reminders = reminders + (CASE WHEN last_notified_ns < ?1 THEN ?2 ELSE 0 END),
				last_notified_ns = ?1 WHERE id = ?3 AND state = 'firing'`,
			nsOf(now), reminder, a.AlertID); err != nil {
			return fmt.Errorf("alert %s: %w", a.AlertID, err)
		}
	}
	return nil
}

// ListAlertGroups returns a monitor's delivery groups, by channel.
func (s *Store) ListAlertGroups(ctx context.Context, monitor string) ([]model.AlertGroup, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+alertGroupColumns+` FROM alert_groups WHERE monitor = ? ORDER BY channel`, monitor)
	if err != nil {
		return nil, s.readErr("alert groups of "+monitor, err)
	}
	defer rows.Close()
	var out []model.AlertGroup
	for rows.Next() {
		g, err := scanAlertGroup(rows)
		if err != nil {
			return nil, s.readErr("alert groups of "+monitor, err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("alert groups of "+monitor, err)
	}
	return out, nil
}

// ListAlerts returns alerts, newest fired first (then by id, descending).
// Cursors are those of ListTraces, holding the last alert's fired time
// and id.
func (s *Store) ListAlerts(ctx context.Context, q store.AlertQuery) (store.AlertPage, error) {
	if s.closed.Load() {
		return store.AlertPage{}, store.ErrClosed
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = store.DefaultLimit
	case limit > store.MaxLimit:
		limit = store.MaxLimit
	}
	var where []string
	var args []any
	if q.Cursor != "" {
		firedNS, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return store.AlertPage{}, fmt.Errorf("sqlite: list alerts: %w", err)
		}
		where = append(where, `(fired_ns, id) < (?, ?)`)
		args = append(args, firedNS, id)
	}
	if q.Monitor != "" {
		where = append(where, `monitor = ?`)
		args = append(args, q.Monitor)
	}
	if q.State != "" {
		where = append(where, `state = ?`)
		args = append(args, string(q.State))
	}
	query := `SELECT ` + alertColumns + ` FROM alerts`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY fired_ns DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return store.AlertPage{}, s.readErr("list alerts", err)
	}
	defer rows.Close()
	var page store.AlertPage
	for rows.Next() {
		if len(page.Alerts) == limit {
			last := page.Alerts[limit-1]
			page.NextCursor = encodeCursor(nsOf(last.FiredAt), last.ID)
			break
		}
		a, err := scanAlert(rows)
		if err != nil {
			return store.AlertPage{}, s.readErr("list alerts", err)
		}
		page.Alerts = append(page.Alerts, a)
	}
	if err := rows.Err(); err != nil {
		return store.AlertPage{}, s.readErr("list alerts", err)
	}
	return page, nil
}

// GetAlert returns an alert by id.
func (s *Store) GetAlert(ctx context.Context, id string) (model.Alert, error) {
	if s.closed.Load() {
		return model.Alert{}, store.ErrClosed
	}
	a, err := scanAlert(s.rdb.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.Alert{}, fmt.Errorf("sqlite: alert %s: %w", id, store.ErrNotFound)
	case err != nil:
		return model.Alert{}, s.readErr("get alert "+id, err)
	}
	return a, nil
}

// AlertNotifications returns an alert's notifications, oldest first (by
// creation, then id); none for an unknown alert.
func (s *Store) AlertNotifications(ctx context.Context, alertID string) ([]model.Notification, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE alert_id = ?1
		OR id IN (SELECT notification_id FROM notification_alerts WHERE alert_id = ?1)
		ORDER BY created_ns, id`, alertID)
	if err != nil {
		return nil, s.readErr("notifications of alert "+alertID, err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, s.readErr("notifications of alert "+alertID, err)
	}
	return out, nil
}

// AckAlert acknowledges a firing alert.
func (s *Store) AckAlert(ctx context.Context, id, comment string, now time.Time) (model.Alert, error) {
	var out model.Alert
	err := s.write(ctx, func(tx *sql.Tx) error {
		a, err := scanAlert(tx.QueryRow(`SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case a.State != model.AlertFiring:
			return fmt.Errorf("the alert is %s, not firing: %w", a.State, store.ErrConflict)
		}
		a.AckedAt, a.AckComment = now.UTC(), comment
		if _, err := tx.Exec(`UPDATE alerts SET acked_ns = ?, ack_comment = ? WHERE id = ?`, nsOf(a.AckedAt), comment, id); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return model.Alert{}, fmt.Errorf("sqlite: acknowledge alert %s: %w", id, err)
	}
	return out, nil
}

// dueCondition selects the notifications due at the time given as its one
// parameter: pending, their next attempt reached, not leased or the lease
// ended.
const dueCondition = `status = 'pending' AND next_attempt_ns <= ?1 AND lease_until_ns < ?1`

// DueChannels returns the channels with due notifications, by name.
func (s *Store) DueChannels(ctx context.Context, now time.Time) ([]string, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	// Channel by channel through the due index (a skip scan), each asked
	// for one due notification: a backlog of many pending notifications
	// costs a look per channel, not a read of every row.
	rows, err := s.rdb.QueryContext(ctx, `WITH RECURSIVE ch(c) AS (
			SELECT min(channel) FROM notifications WHERE status = 'pending'
			UNION ALL
			SELECT (SELECT min(channel) FROM notifications WHERE status = 'pending' AND channel > ch.c) FROM ch WHERE ch.c IS NOT NULL)
		SELECT c FROM ch WHERE c IS NOT NULL AND EXISTS (
			SELECT 1 FROM notifications WHERE channel = ch.c AND `+dueCondition+`)
		ORDER BY c`, nsOf(now))
	if err != nil {
		return nil, s.readErr("due channels", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, s.readErr("due channels", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("due channels", err)
	}
	return out, nil
}

// ClaimNotifications leases up to limit due notifications of channel to
// owner, soonest due first (then oldest, then by id), counting an
// attempt.
func (s *Store) ClaimNotifications(ctx context.Context, owner, channel string, now time.Time, lease time.Duration, limit int) ([]model.Notification, error) {
	switch {
	case owner == "":
		return nil, fmt.Errorf("sqlite: claim notifications of channel %s: empty owner", channel)
	case limit <= 0:
		return nil, fmt.Errorf("sqlite: claim notifications of channel %s: limit %d is not positive", channel, limit)
	case lease <= 0:
		return nil, fmt.Errorf("sqlite: claim notifications of channel %s: lease %s is not positive", channel, lease)
	}
	limit = min(limit, store.MaxLimit)
	until := now.Add(lease).UTC()
	var out []model.Notification
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT `+notificationColumns+` FROM notifications WHERE channel = ?2 AND `+dueCondition+`
			ORDER BY next_attempt_ns, created_ns, id LIMIT ?3`, nsOf(now), channel, limit)
		if err != nil {
			return err
		}
		claimed, err := scanNotifications(rows)
		if err != nil {
			return err
		}
		stmt, err := tx.Prepare(`UPDATE notifications SET lease_owner = ?, lease_until_ns = ?, attempts = attempts + 1 WHERE id = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, n := range claimed {
			if _, err := stmt.Exec(owner, nsOf(until), n.ID); err != nil {
				return fmt.Errorf("notification %s: %w", n.ID, err)
			}
			n.LeaseOwner, n.LeaseUntil = owner, until
			n.Attempts++
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim notifications of channel %s: %w", channel, err)
	}
	return out, nil
}

// SettleNotification ends an attempt of the notification's lease owner.
func (s *Store) SettleNotification(ctx context.Context, id, owner string, status model.NotificationStatus, next time.Time, errMsg string, now time.Time) error {
	if owner == "" {
		return fmt.Errorf("sqlite: settle notification %s: empty owner", id)
	}
	var query string
	var args []any
	switch status {
	case model.NotificationSent:
		// last_error keeps the error of an earlier attempt, if any.
		query, args = `UPDATE notifications SET status = 'sent', done_ns = ?, lease_owner = '', lease_until_ns = 0`,
			[]any{nsOf(now)}
	case model.NotificationFailed:
		query, args = `UPDATE notifications SET status = 'failed', done_ns = ?, last_error = ?, lease_owner = '', lease_until_ns = 0`,
			[]any{nsOf(now), errMsg}
	case model.NotificationPending:
		query, args = `UPDATE notifications SET next_attempt_ns = ?, last_error = ?, lease_owner = '', lease_until_ns = 0`,
			[]any{nsOf(next), errMsg}
	default:
		return fmt.Errorf("sqlite: settle notification %s: status %q is not sent, failed or pending", id, status)
	}
	query += ` WHERE id = ? AND status = 'pending' AND lease_owner = ?`
	args = append(args, id, owner)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("notification is not held by %s: %w", owner, store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: settle notification %s: %w", id, err)
	}
	return nil
}

// GetNotification returns a notification by id.
func (s *Store) GetNotification(ctx context.Context, id string) (model.Notification, error) {
	if s.closed.Load() {
		return model.Notification{}, store.ErrClosed
	}
	n, err := scanNotification(s.rdb.QueryRowContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.Notification{}, fmt.Errorf("sqlite: notification %s: %w", id, store.ErrNotFound)
	case err != nil:
		return model.Notification{}, s.readErr("get notification "+id, err)
	}
	return n, nil
}

// FiringAlerts counts the firing alerts by monitor.
func (s *Store) FiringAlerts(ctx context.Context) (map[string]int, error) {
	return s.countBy(ctx, "firing alerts", `SELECT monitor, count(*) FROM alerts WHERE state = 'firing' GROUP BY monitor`)
}

// QueuedNotifications counts the pending notifications by channel.
func (s *Store) QueuedNotifications(ctx context.Context) (map[string]int, error) {
	return s.countBy(ctx, "queued notifications", `SELECT channel, count(*) FROM notifications WHERE status = 'pending' GROUP BY channel`)
}

// countBy reads a query of (name, count) rows into a map.
func (s *Store) countBy(ctx context.Context, what, query string) (map[string]int, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, query)
	if err != nil {
		return nil, s.readErr(what, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, s.readErr(what, err)
		}
		out[name] = n
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(what, err)
	}
	return out, nil
}

const silenceColumns = `id, monitor, key, comment, created_ns, ends_at_ns, expired_ns`

func scanSilence(sc scanner) (model.Silence, error) {
	var x model.Silence
	var created, ends, expired int64
	if err := sc.Scan(&x.ID, &x.Monitor, &x.Key, &x.Comment, &created, &ends, &expired); err != nil {
		return model.Silence{}, err
	}
	x.CreatedAt, x.EndsAt, x.ExpiredAt = timeOf(created), timeOf(ends), timeOf(expired)
	return x, nil
}

// silencesOf reads the silences of monitor in force at now, in tx.
func silencesOf(tx *sql.Tx, monitor string, now time.Time) ([]model.Silence, error) {
	rows, err := tx.Query(`SELECT `+silenceColumns+` FROM silences WHERE monitor = ?1 AND ends_at_ns > ?2 AND created_ns <= ?2
		ORDER BY created_ns, id`, monitor, nsOf(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.Silence
	for rows.Next() {
		x, err := scanSilence(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// CreateSilence records a silence.
func (s *Store) CreateSilence(ctx context.Context, x model.Silence) (model.Silence, error) {
	switch {
	case x.Monitor == "":
		return model.Silence{}, errors.New("sqlite: create silence: no monitor")
	case !x.EndsAt.After(x.CreatedAt):
		return model.Silence{}, fmt.Errorf("sqlite: create silence of %s: it ends (%s) before it starts (%s)", x.Monitor, x.EndsAt, x.CreatedAt)
	}
	if x.ID == "" {
		x.ID = newRunID(x.CreatedAt)
	}
	x.CreatedAt, x.EndsAt, x.ExpiredAt = x.CreatedAt.UTC(), x.EndsAt.UTC(), time.Time{}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO silences (`+silenceColumns+`) VALUES (?, ?, ?, ?, ?, ?, 0)`,
			x.ID, x.Monitor, x.Key, x.Comment, nsOf(x.CreatedAt), nsOf(x.EndsAt))
		return err
	})
	if err != nil {
		return model.Silence{}, fmt.Errorf("sqlite: create silence of %s: %w", x.Monitor, err)
	}
	return x, nil
}

// ListSilences returns silences, newest first.
func (s *Store) ListSilences(ctx context.Context, q store.SilenceQuery) ([]model.Silence, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	var where []string
	var args []any
	if !q.ActiveAt.IsZero() {
		where = append(where, `created_ns <= ? AND ends_at_ns > ?`)
		args = append(args, nsOf(q.ActiveAt), nsOf(q.ActiveAt))
	}
	if q.Monitor != "" {
		where = append(where, `monitor = ?`)
		args = append(args, q.Monitor)
	}
	query := `SELECT ` + silenceColumns + ` FROM silences`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY created_ns DESC, id DESC LIMIT ?`
	args = append(args, store.MaxLimit)
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.readErr("list silences", err)
	}
	defer rows.Close()
	var out []model.Silence
	for rows.Next() {
		x, err := scanSilence(rows)
		if err != nil {
			return nil, s.readErr("list silences", err)
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("list silences", err)
	}
	return out, nil
}

// ExpireSilence ends a silence early.
func (s *Store) ExpireSilence(ctx context.Context, id string, now time.Time) (model.Silence, error) {
	var out model.Silence
	err := s.write(ctx, func(tx *sql.Tx) error {
		x, err := scanSilence(tx.QueryRow(`SELECT `+silenceColumns+` FROM silences WHERE id = ?`, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case !now.Before(x.EndsAt):
			return fmt.Errorf("it ended at %s: %w", x.EndsAt.UTC().Format(time.RFC3339), store.ErrConflict)
		}
		x.EndsAt, x.ExpiredAt = now.UTC(), now.UTC()
		if _, err := tx.Exec(`UPDATE silences SET ends_at_ns = ?, expired_ns = ? WHERE id = ?`, nsOf(x.EndsAt), nsOf(x.ExpiredAt), id); err != nil {
			return err
		}
		out = x
		return nil
	})
	if err != nil {
		return model.Silence{}, fmt.Errorf("sqlite: expire silence %s: %w", id, err)
	}
	return out, nil
}
