package postgres

// The notification outbox (schema: migrations/0005_alerts.sql):
// notifications are queued in the transaction of the alert transition or
// group flush they tell of, and drained by the sender loops of every
// replica: ClaimNotifications leases due notifications with FOR UPDATE
// SKIP LOCKED, so two senders never hold one notification at once, and a
// crashed sender's lease simply runs out, after which another takes the
// notification over; SettleNotification ends only its owner's attempt.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

const notificationColumns = `id, alert_id, monitor, channel, recipients, event, dedup_key, message, status,
	attempts, next_attempt_ns, last_error, created_ns, done_ns, lease_owner, lease_until_ns, silence_id`

// notificationInsert queues a notification unless its dedup key is queued
// already, and links a new one to the alerts its message tells of ($18,
// a text array), in one statement.
const notificationInsert = `WITH added AS (
		INSERT INTO notifications (` + notificationColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (dedup_key) DO NOTHING
		RETURNING id)
	INSERT INTO notification_alerts (alert_id, notification_id)
	SELECT DISTINCT a.id, added.id FROM added, unnest($18::text[]) AS a(id)
	ON CONFLICT DO NOTHING`

// notificationArgs returns n's columns, in the order of
// notificationColumns.
func notificationArgs(n model.Notification) ([]any, error) {
	msg := n.Message
	msg.WindowStart, msg.WindowEnd = msg.WindowStart.UTC(), msg.WindowEnd.UTC()
	msg.FiredAt, msg.ResolvedAt = msg.FiredAt.UTC(), msg.ResolvedAt.UTC()
	message, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	// A nil slice is NULL, an empty one an empty array: both read back
	// as they were.
	return []any{n.ID, n.AlertID, n.Monitor, n.Channel, n.Recipients, n.Event, n.DedupKey, string(message), string(n.Status),
		n.Attempts, epochNS(n.NextAttemptAt), n.LastError, epochNS(n.CreatedAt), epochNS(n.DoneAt), n.LeaseOwner,
		epochNS(n.LeaseUntil), n.SilenceID}, nil
}

func scanNotification(row pgx.Row) (model.Notification, error) {
	var n model.Notification
	var message []byte
	var status string
	var next, created, done, lease int64
	err := row.Scan(&n.ID, &n.AlertID, &n.Monitor, &n.Channel, &n.Recipients, &n.Event, &n.DedupKey, &message, &status,
		&n.Attempts, &next, &n.LastError, &created, &done, &n.LeaseOwner, &lease, &n.SilenceID)
	if err != nil {
		return model.Notification{}, err
	}
	if err := json.Unmarshal(message, &n.Message); err != nil {
		return model.Notification{}, fmt.Errorf("notification %s: message unreadable: %w", n.ID, err)
	}
	n.Status = model.NotificationStatus(status)
	n.NextAttemptAt, n.CreatedAt, n.DoneAt, n.LeaseUntil = epochTime(next), epochTime(created), epochTime(done), epochTime(lease)
	return n, nil
}

// collectNotifications reads rows of notificationColumns and closes them.
func collectNotifications(rows pgx.Rows) ([]model.Notification, error) {
	return collectAlertRows(rows, scanNotification)
}

// queueNotification adds to b the statement that queues n (nothing when
// its dedup key is queued already) and links it to the alerts its
// message tells of. now stands in for a missing creation time.
func queueNotification(b *pgx.Batch, monitor string, n model.Notification, now time.Time) error {
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
		n.ID = newTimeID(n.CreatedAt)
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
	alerts := []string{}
	for _, a := range n.Message.Alerts {
		if a.AlertID != "" {
			alerts = append(alerts, a.AlertID)
		}
	}
	b.Queue(notificationInsert, append(args, alerts)...)
	return nil
}

// dueCondition selects the notifications due at $1: pending, their next
// attempt reached, not leased or the lease ended.
const dueCondition = `status = 'pending' AND next_attempt_ns <= $1 AND lease_until_ns < $1`

// DueChannels returns the channels with due notifications, by name.
func (s *Store) DueChannels(ctx context.Context, now time.Time) ([]string, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	// Channel by channel through the due index (a loose index scan: each
	// step asks the index for the next channel), each asked for one due
	// notification: a backlog of many pending notifications costs a look
	// per channel, not a read of every row. On the primary: what is due
	// is what senders are about to claim.
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE ch(c) AS (
			(SELECT channel FROM notifications WHERE status = 'pending' ORDER BY channel LIMIT 1)
			UNION ALL
			SELECT (SELECT channel FROM notifications WHERE status = 'pending' AND channel > ch.c ORDER BY channel LIMIT 1)
			FROM ch WHERE ch.c IS NOT NULL)
		SELECT c FROM ch WHERE c IS NOT NULL AND EXISTS (
			SELECT 1 FROM notifications WHERE channel = ch.c AND `+dueCondition+`)
		ORDER BY c`, epochNS(now))
	if err != nil {
		return nil, s.alertErr("due channels", err)
	}
	out, err := collectAlertRows(rows, func(r pgx.Row) (c string, err error) { return c, r.Scan(&c) })
	if err != nil {
		return nil, s.alertErr("due channels", err)
	}
	return out, nil
}

// ClaimNotifications leases up to limit due notifications of channel to
// owner, soonest due first (then oldest, then by id), counting an
// attempt. Rows another sender is claiming at this moment are skipped
// (SKIP LOCKED), not waited for: when it commits they are leased, and
// when it rolls back they are due again for the next claim.
func (s *Store) ClaimNotifications(ctx context.Context, owner, channel string, now time.Time, lease time.Duration, limit int) ([]model.Notification, error) {
	switch {
	case owner == "":
		return nil, fmt.Errorf("postgres: claim notifications of channel %s: empty owner", channel)
	case limit <= 0:
		return nil, fmt.Errorf("postgres: claim notifications of channel %s: limit %d is not positive", channel, limit)
	case lease <= 0:
		return nil, fmt.Errorf("postgres: claim notifications of channel %s: lease %s is not positive", channel, lease)
	}
	limit = min(limit, store.MaxLimit)
	until := now.Add(lease)
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	// One statement, so no transaction around it: the rows it picks are
	// locked as it picks them, and leased when it commits.
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id FROM notifications WHERE channel = $2 AND `+dueCondition+`
			ORDER BY next_attempt_ns, created_ns, id LIMIT $3
			FOR UPDATE SKIP LOCKED)
		UPDATE notifications n SET lease_owner = $4, lease_until_ns = $5, attempts = n.attempts + 1
		FROM due WHERE n.id = due.id
		RETURNING `+qualified("n", notificationColumns),
		epochNS(now), channel, limit, owner, epochNS(until))
	if err != nil {
		return nil, fmt.Errorf("postgres: claim notifications of channel %s: %w", channel, s.mapErr(err))
	}
	out, err := collectNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim notifications of channel %s: %w", channel, s.mapErr(err))
	}
	// RETURNING keeps no order.
	slices.SortFunc(out, func(a, b model.Notification) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// qualified prefixes each of a comma-separated list of columns with
// table.
func qualified(table, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = table + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// SettleNotification ends an attempt of the notification's lease owner.
func (s *Store) SettleNotification(ctx context.Context, id, owner string, status model.NotificationStatus, next time.Time, errMsg string, now time.Time) error {
	if owner == "" {
		return fmt.Errorf("postgres: settle notification %s: empty owner", id)
	}
	var query string
	var args []any
	switch status {
	case model.NotificationSent:
		// last_error keeps the error of an earlier attempt, if any.
		query, args = `UPDATE notifications SET status = 'sent', done_ns = $3, lease_owner = '', lease_until_ns = 0`,
			[]any{epochNS(now)}
	case model.NotificationFailed:
		query, args = `UPDATE notifications SET status = 'failed', done_ns = $3, last_error = $4, lease_owner = '', lease_until_ns = 0`,
			[]any{epochNS(now), errMsg}
	case model.NotificationPending:
		query, args = `UPDATE notifications SET next_attempt_ns = $3, last_error = $4, lease_owner = '', lease_until_ns = 0`,
			[]any{epochNS(next), errMsg}
	default:
		return fmt.Errorf("postgres: settle notification %s: status %q is not sent, failed or pending", id, status)
	}
	// One statement: the row lock it takes orders it after a claim in
	// progress, whose new owner it then no longer matches.
	query += ` WHERE id = $1 AND status = 'pending' AND lease_owner = $2`
	args = append([]any{id, owner}, args...)
	if s.closed.Load() {
		return store.ErrClosed
	}
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("postgres: settle notification %s: %w", id, s.mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: settle notification %s: it is not held by %s: %w", id, owner, store.ErrConflict)
	}
	return nil
}

// GetNotification returns a notification by id, from the primary (the
// sender reads what it just claimed).
func (s *Store) GetNotification(ctx context.Context, id string) (model.Notification, error) {
	if s.closed.Load() {
		return model.Notification{}, store.ErrClosed
	}
	n, err := scanNotification(s.pool.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = $1`, id))
	switch {
	case notFound(err):
		return model.Notification{}, fmt.Errorf("postgres: notification %s: %w", id, store.ErrNotFound)
	case err != nil:
		return model.Notification{}, s.alertErr("get notification "+id, err)
	}
	return n, nil
}

// QueuedNotifications counts the pending notifications by channel.
func (s *Store) QueuedNotifications(ctx context.Context) (map[string]int, error) {
	return s.countAlertsBy(ctx, "queued notifications", `SELECT channel, count(*) FROM notifications WHERE status = 'pending' GROUP BY channel`)
}
