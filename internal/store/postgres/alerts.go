package postgres

// Alerts and their state machines' trackers (schema:
// migrations/0005_alerts.sql). They are written only by applyAlerts, in
// the transaction that ends a run, and by AckAlert; outbox.go, groups.go,
// silences.go and keys.go hold the rest of the alerts area.
//
// Concurrency: every writer of a monitor's alert state takes, in this
// order, the monitor's advisory lock (applyAlerts and forgetMonitorAlerts
// only), its tracker rows, its group rows, then its alert rows. A fixed
// order means two transactions wait for each other instead of
// deadlocking; the advisory lock covers a monitor that has no rows yet
// (its first run), which no row lock could.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// alertLockClass is the first key of the transaction-scoped advisory
// locks on a monitor's alert state ("fwal"); the second is the hash of
// the monitor's name. Two monitors whose names collide only wait for
// each other.
const alertLockClass int32 = 0x6677616c

// epochNS returns t as nanoseconds since the Unix epoch, 0 for the zero
// time (the alert tables' "unset").
func epochNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// epochTime is the inverse of epochNS, in UTC.
func epochTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// newTimeID returns an id that sorts by creation: the time in hex and 8
// random bytes (the SQLite backend's run ids).
func newTimeID(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016x%s", uint64(now.UnixNano()), hex.EncodeToString(b[:]))
}

// collectAlertRows reads rows with scan and closes them; nil when there
// are none, as the SQLite backend answers.
func collectAlertRows[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// alertErr wraps a failed read of the alerts area.
func (s *Store) alertErr(what string, err error) error {
	return fmt.Errorf("postgres: %s: %w", what, s.mapErr(err))
}

const alertColumns = `id, monitor, key, kind, subject, state, summary, value, threshold, fired_ns,
	firing_run_id, last_run_id, resolved_run_id, resolved_ns, last_notified_ns, reminders, acked_ns, ack_comment`

// alertUpsert writes an alert by id, all its columns.
const alertUpsert = `INSERT INTO alerts (` + alertColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
	ON CONFLICT (id) DO UPDATE SET monitor = EXCLUDED.monitor, key = EXCLUDED.key, kind = EXCLUDED.kind,
		subject = EXCLUDED.subject, state = EXCLUDED.state, summary = EXCLUDED.summary, value = EXCLUDED.value,
		threshold = EXCLUDED.threshold, fired_ns = EXCLUDED.fired_ns, firing_run_id = EXCLUDED.firing_run_id,
		last_run_id = EXCLUDED.last_run_id, resolved_run_id = EXCLUDED.resolved_run_id,
		resolved_ns = EXCLUDED.resolved_ns, last_notified_ns = EXCLUDED.last_notified_ns,
		reminders = EXCLUDED.reminders, acked_ns = EXCLUDED.acked_ns, ack_comment = EXCLUDED.ack_comment`

func alertArgs(a model.Alert) []any {
	return []any{a.ID, a.Monitor, a.Key, a.Kind, a.Subject, string(a.State), a.Summary, a.Value, a.Threshold,
		epochNS(a.FiredAt), a.FiringRunID, a.LastRunID, a.ResolvedRunID, epochNS(a.ResolvedAt), epochNS(a.LastNotifiedAt),
		a.Reminders, epochNS(a.AckedAt), a.AckComment}
}

func scanAlert(row pgx.Row) (model.Alert, error) {
	var a model.Alert
	var state string
	var fired, resolved, notified, acked int64
	err := row.Scan(&a.ID, &a.Monitor, &a.Key, &a.Kind, &a.Subject, &state, &a.Summary, &a.Value, &a.Threshold,
		&fired, &a.FiringRunID, &a.LastRunID, &a.ResolvedRunID, &resolved, &notified, &a.Reminders, &acked, &a.AckComment)
	if err != nil {
		return model.Alert{}, err
	}
	a.State = model.AlertState(state)
	a.FiredAt, a.ResolvedAt, a.LastNotifiedAt, a.AckedAt = epochTime(fired), epochTime(resolved), epochTime(notified), epochTime(acked)
	return a, nil
}

// applyAlerts reads the alert state of the run's monitor in tx, locking
// its tracker, alert and group rows (SELECT ... FOR UPDATE) so that two
// replicas never decide on stale state, calls decide and writes its
// changes and notifications in tx. FinishRun and SaveRunResult call it
// inside the transaction that ends the run; a nil decide does nothing.
// now stands in for a notification's missing creation time. An error,
// decide's included, aborts the transaction.
func (s *Store) applyAlerts(ctx context.Context, tx pgx.Tx, runID string, now time.Time, decide store.AlertDecider) error {
	if decide == nil {
		return nil
	}
	var monitor string
	if err := tx.QueryRow(ctx, `SELECT monitor FROM runs WHERE id = $1`, runID).Scan(&monitor); err != nil {
		return fmt.Errorf("monitor of run %s: %w", runID, err)
	}
	if err := lockMonitorAlerts(ctx, tx, monitor); err != nil {
		return fmt.Errorf("lock the alert state of monitor %s: %w", monitor, err)
	}
	snap, err := alertSnapshot(ctx, tx, monitor)
	if err != nil {
		return fmt.Errorf("alert state of monitor %s: %w", monitor, err)
	}
	changes, err := decide(snap)
	if err != nil {
		return fmt.Errorf("alert decider of monitor %s: %w", monitor, err)
	}
	if err := writeAlertChanges(ctx, tx, monitor, changes, now); err != nil {
		return fmt.Errorf("alert changes of monitor %s: %w", monitor, err)
	}
	return nil
}

// lockMonitorAlerts takes the advisory lock on a monitor's alert state
// until tx ends: the decisions of two runs of one monitor ending at once
// (on two replicas) are made one after the other, the second on the
// state the first committed, even for a monitor without any state yet.
func lockMonitorAlerts(ctx context.Context, tx pgx.Tx, monitor string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, alertLockClass, monitor)
	return err
}

// alertSnapshot reads a monitor's trackers, groups and firing alerts in
// tx, locking their rows (in that order; see the top of this file).
func alertSnapshot(ctx context.Context, tx pgx.Tx, monitor string) (store.AlertSnapshot, error) {
	snap := store.AlertSnapshot{Trackers: map[string]model.AlertTracker{}, Firing: map[string]model.Alert{}}
	rows, err := tx.Query(ctx, `SELECT key, streak, alert_id, last_window_end_ns FROM alert_trackers
		WHERE monitor = $1 ORDER BY key FOR UPDATE`, monitor)
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
		tr.LastWindowEnd = epochTime(end)
		snap.Trackers[tr.Key] = tr
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return store.AlertSnapshot{}, err
	}
	if snap.Groups, err = alertGroups(ctx, tx, monitor); err != nil {
		return store.AlertSnapshot{}, err
	}
	rows, err = tx.Query(ctx, `SELECT `+alertColumns+` FROM alerts WHERE monitor = $1 AND state = 'firing'
		ORDER BY id FOR UPDATE`, monitor)
	if err != nil {
		return store.AlertSnapshot{}, err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return store.AlertSnapshot{}, err
		}
		// Should a key have two firing alerts, the newest is kept.
		cur, seen := snap.Firing[a.Key]
		if !seen || a.FiredAt.After(cur.FiredAt) || (a.FiredAt.Equal(cur.FiredAt) && a.ID > cur.ID) {
			snap.Firing[a.Key] = a
		}
	}
	return snap, rows.Err()
}

// writeAlertChanges writes trackers (by monitor and key), alerts (by id)
// and groups (by monitor and channel), and queues notifications (skipping
// those whose dedup key is queued already) in tx, in one round trip.
func writeAlertChanges(ctx context.Context, tx pgx.Tx, monitor string, c store.AlertChanges, now time.Time) error {
	var b pgx.Batch
	var what []string // what each queued statement writes, for errors
	for _, tr := range c.Trackers {
		if err := store.BindMonitor(&tr.Monitor, monitor, "tracker "+tr.Key); err != nil {
			return err
		}
		b.Queue(`INSERT INTO alert_trackers (monitor, key, streak, alert_id, last_window_end_ns) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (monitor, key) DO UPDATE SET streak = EXCLUDED.streak, alert_id = EXCLUDED.alert_id,
				last_window_end_ns = EXCLUDED.last_window_end_ns`,
			tr.Monitor, tr.Key, tr.Streak, tr.AlertID, epochNS(tr.LastWindowEnd))
		what = append(what, "tracker "+tr.Key)
	}
	for _, a := range c.Alerts {
		if a.ID == "" {
			return fmt.Errorf("alert of key %s has no id", a.Key)
		}
		if err := store.BindMonitor(&a.Monitor, monitor, "alert "+a.ID); err != nil {
			return err
		}
		b.Queue(alertUpsert, alertArgs(a)...)
		what = append(what, "alert "+a.ID)
	}
	for _, g := range c.Groups {
		if err := store.BindMonitor(&g.Monitor, monitor, "group of channel "+g.Channel); err != nil {
			return err
		}
		if err := queueAlertGroup(&b, g); err != nil {
			return err
		}
		what = append(what, "group of channel "+g.Channel)
	}
	for _, n := range c.Notifications {
		if err := queueNotification(&b, monitor, n, now); err != nil {
			return err
		}
		what = append(what, "notification "+n.DedupKey)
	}
	return sendBatch(ctx, tx, &b, what)
}

// sendBatch sends b in tx and reads its results; what names each
// statement for the error of the first that fails.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch, what []string) error {
	if b.Len() == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, b)
	for i := range b.Len() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("%s: %w", what[i], err)
		}
	}
	return br.Close()
}

// forgetMonitorAlerts is the alerts part of deleting a monitor, in the
// deletion's transaction: its firing alerts are resolved at now (without
// a run or a notification: nothing will run to resolve them), and its
// trackers and delivery groups are deleted (a message still waiting would
// tell of alerts resolved without one), so that a monitor created again
// under the name starts afresh. Its resolved alerts and its outbox stay.
func forgetMonitorAlerts(ctx context.Context, tx pgx.Tx, monitor string, now time.Time) error {
	if err := lockMonitorAlerts(ctx, tx, monitor); err != nil {
		return fmt.Errorf("lock the alert state of monitor %s: %w", monitor, err)
	}
	var b pgx.Batch
	b.Queue(`DELETE FROM alert_trackers WHERE monitor = $1`, monitor)
	b.Queue(`DELETE FROM alert_groups WHERE monitor = $1`, monitor)
	b.Queue(`UPDATE alerts SET state = 'resolved', resolved_ns = $2 WHERE monitor = $1 AND state = 'firing'`, monitor, epochNS(now))
	return sendBatch(ctx, tx, &b, []string{"trackers of monitor " + monitor, "groups of monitor " + monitor, "alerts of monitor " + monitor})
}

// alertCursorVersion starts every ListAlerts cursor.
const alertCursorVersion = 'a'

// encodeAlertCursor makes the cursor continuing after the alert fired at
// firedNS with id.
func encodeAlertCursor(firedNS int64, id string) string {
	b := make([]byte, 9, 9+len(id))
	b[0] = alertCursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(firedNS))
	b = append(b, id...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeAlertCursor(c string) (int64, string, error) {
	if len(c) > 1024 {
		return 0, "", fmt.Errorf("%w: too long", store.ErrInvalidCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("%w: not base64", store.ErrInvalidCursor)
	}
	if len(b) < 9 || b[0] != alertCursorVersion {
		return 0, "", fmt.Errorf("%w: unknown format", store.ErrInvalidCursor)
	}
	id := string(b[9:])
	if !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return 0, "", fmt.Errorf("%w: bad alert id", store.ErrInvalidCursor)
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), id, nil
}

// ListAlerts returns alerts, newest fired first (then by id, descending).
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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Cursor != "" {
		firedNS, id, err := decodeAlertCursor(q.Cursor)
		if err != nil {
			return store.AlertPage{}, fmt.Errorf("postgres: list alerts: %w", err)
		}
		where = append(where, `(fired_ns, id) < (`+arg(firedNS)+`, `+arg(id)+`)`)
	}
	if q.Monitor != "" {
		where = append(where, `monitor = `+arg(q.Monitor))
	}
	if q.State != "" {
		where = append(where, `state = `+arg(string(q.State)))
	}
	query := `SELECT ` + alertColumns + ` FROM alerts`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY fired_ns DESC, id DESC LIMIT ` + arg(limit+1)
	rows, err := s.rpool.Query(ctx, query, args...)
	if err != nil {
		return store.AlertPage{}, s.alertErr("list alerts", err)
	}
	alerts, err := collectAlertRows(rows, scanAlert)
	if err != nil {
		return store.AlertPage{}, s.alertErr("list alerts", err)
	}
	var page store.AlertPage
	if len(alerts) > limit {
		alerts = alerts[:limit]
		last := alerts[limit-1]
		page.NextCursor = encodeAlertCursor(epochNS(last.FiredAt), last.ID)
	}
	page.Alerts = alerts
	return page, nil
}

// GetAlert returns an alert by id.
func (s *Store) GetAlert(ctx context.Context, id string) (model.Alert, error) {
	if s.closed.Load() {
		return model.Alert{}, store.ErrClosed
	}
	a, err := scanAlert(s.rpool.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id))
	switch {
	case notFound(err):
		return model.Alert{}, fmt.Errorf("postgres: alert %s: %w", id, store.ErrNotFound)
	case err != nil:
		return model.Alert{}, s.alertErr("get alert "+id, err)
	}
	return a, nil
}

// AlertNotifications returns an alert's notifications, oldest first (by
// creation, then id): its own and the group messages linked to it; none
// for an unknown alert.
func (s *Store) AlertNotifications(ctx context.Context, alertID string) ([]model.Notification, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	// Both ways in by an index: its own (notifications_alert) and the
	// linked group messages (notification_alerts' key).
	rows, err := s.rpool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id IN (
			SELECT id FROM notifications WHERE alert_id = $1
			UNION SELECT notification_id FROM notification_alerts WHERE alert_id = $1)
		ORDER BY created_ns, id`, alertID)
	if err != nil {
		return nil, s.alertErr("notifications of alert "+alertID, err)
	}
	out, err := collectNotifications(rows)
	if err != nil {
		return nil, s.alertErr("notifications of alert "+alertID, err)
	}
	return out, nil
}

// AckAlert acknowledges a firing alert at now, with comment.
func (s *Store) AckAlert(ctx context.Context, id, comment string, now time.Time) (model.Alert, error) {
	var out model.Alert
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Locked: a run of its monitor ending now decides after the
		// acknowledgement, and sees it.
		a, err := scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1 FOR UPDATE`, id))
		switch {
		case notFound(err):
			return store.ErrNotFound
		case err != nil:
			return err
		case a.State != model.AlertFiring:
			return fmt.Errorf("the alert is %s, not firing: %w", a.State, store.ErrConflict)
		}
		a.AckedAt, a.AckComment = now.UTC(), comment
		if _, err := tx.Exec(ctx, `UPDATE alerts SET acked_ns = $1, ack_comment = $2 WHERE id = $3`,
			epochNS(a.AckedAt), comment, id); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return model.Alert{}, fmt.Errorf("postgres: acknowledge alert %s: %w", id, err)
	}
	return out, nil
}

// FiringAlerts counts the firing alerts by monitor.
func (s *Store) FiringAlerts(ctx context.Context) (map[string]int, error) {
	return s.countAlertsBy(ctx, "firing alerts", `SELECT monitor, count(*) FROM alerts WHERE state = 'firing' GROUP BY monitor`)
}

// countAlertsBy reads a query of (name, count) rows into a map.
func (s *Store) countAlertsBy(ctx context.Context, what, query string) (map[string]int, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rpool.Query(ctx, query)
	if err != nil {
		return nil, s.alertErr(what, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, s.alertErr(what, err)
		}
		out[name] = n
	}
	if err := rows.Err(); err != nil {
		return nil, s.alertErr(what, err)
	}
	return out, nil
}
