package postgres

// Delivery groups (schema: migrations/0005_alerts.sql): written with a
// run's end by applyAlerts, and flushed by FlushAlertGroups, which claims
// due groups with FOR UPDATE SKIP LOCKED so that, of several replicas
// flushing at once, one takes each group.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

const alertGroupColumns = `monitor, channel, id, recipients, alerts, due_ns, last_sent_ns, sent`

// scanAlertGroup reads a row of alertGroupColumns.
func scanAlertGroup(row pgx.Row) (model.AlertGroup, error) {
	var g model.AlertGroup
	var alerts []byte
	var due, last int64
	if err := row.Scan(&g.Monitor, &g.Channel, &g.ID, &g.Recipients, &alerts, &due, &last, &g.Sent); err != nil {
		return model.AlertGroup{}, err
	}
	if err := json.Unmarshal(alerts, &g.Alerts); err != nil {
		return model.AlertGroup{}, fmt.Errorf("group %s/%s: alerts unreadable: %w", g.Monitor, g.Channel, err)
	}
	g.DueAt, g.LastSentAt = epochTime(due), epochTime(last)
	return g, nil
}

func collectAlertGroups(rows pgx.Rows) ([]model.AlertGroup, error) {
	return collectAlertRows(rows, scanAlertGroup)
}

// alertGroups reads a monitor's delivery groups by channel in tx, locking
// them.
func alertGroups(ctx context.Context, tx pgx.Tx, monitor string) (map[string]model.AlertGroup, error) {
	rows, err := tx.Query(ctx, `SELECT `+alertGroupColumns+` FROM alert_groups WHERE monitor = $1
		ORDER BY channel FOR UPDATE`, monitor)
	if err != nil {
		return nil, err
	}
	groups, err := collectAlertGroups(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string]model.AlertGroup, len(groups))
	for _, g := range groups {
		out[g.Channel] = g
	}
	return out, nil
}

// queueAlertGroup adds to b the statement that writes g by monitor and
// channel.
func queueAlertGroup(b *pgx.Batch, g model.AlertGroup) error {
	if g.ID == "" || g.Channel == "" {
		return fmt.Errorf("group of monitor %s, channel %q: no id or channel", g.Monitor, g.Channel)
	}
	if g.Alerts == nil {
		g.Alerts = []model.GroupedAlert{}
	}
	alerts, err := json.Marshal(g.Alerts)
	if err != nil {
		return fmt.Errorf("group of channel %s: alerts: %w", g.Channel, err)
	}
	b.Queue(`INSERT INTO alert_groups (`+alertGroupColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (monitor, channel) DO UPDATE SET id = EXCLUDED.id, recipients = EXCLUDED.recipients,
			alerts = EXCLUDED.alerts, due_ns = EXCLUDED.due_ns, last_sent_ns = EXCLUDED.last_sent_ns, sent = EXCLUDED.sent`,
		g.Monitor, g.Channel, g.ID, g.Recipients, string(alerts), epochNS(g.DueAt), epochNS(g.LastSentAt), g.Sent)
	return nil
}

// FlushAlertGroups flushes up to limit groups due at now in one
// transaction. The groups are claimed with FOR UPDATE SKIP LOCKED: a
// group another replica is flushing, or whose monitor's run is ending
// (applyAlerts locks its groups), is left for a later flush instead of
// waited for, and flushed once either way, since the flush that wins
// advances its due time.
func (s *Store) FlushAlertGroups(ctx context.Context, now time.Time, limit int, flush store.GroupFlush) (int, error) {
	switch {
	case flush == nil:
		return 0, errors.New("postgres: flush alert groups: no flush function")
	case limit <= 0:
		return 0, fmt.Errorf("postgres: flush alert groups: limit %d is not positive", limit)
	}
	limit = min(limit, store.MaxLimit)
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	// The sender asks every second: one read (by the partial index)
	// says whether anything is due before a transaction is begun.
	var due bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM alert_groups WHERE due_ns > 0 AND due_ns <= $1)`,
		epochNS(now)).Scan(&due); err != nil {
		return 0, s.alertErr("due alert groups", err)
	}
	if !due {
		return 0, nil
	}
	queued := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		queued = 0
		rows, err := tx.Query(ctx, `SELECT `+alertGroupColumns+` FROM alert_groups WHERE due_ns > 0 AND due_ns <= $1
			ORDER BY due_ns, monitor, channel LIMIT $2 FOR UPDATE SKIP LOCKED`, epochNS(now), limit)
		if err != nil {
			return err
		}
		groups, err := collectAlertGroups(rows)
		if err != nil {
			return err
		}
		silences := map[string][]model.Silence{} // by monitor
		for _, g := range groups {
			sl, seen := silences[g.Monitor]
			if !seen {
				if sl, err = silencesOf(ctx, tx, g.Monitor, now); err != nil {
					return fmt.Errorf("silences of monitor %s: %w", g.Monitor, err)
				}
				silences[g.Monitor] = sl
			}
			next, ns, err := flush(g, sl)
			if err != nil {
				return fmt.Errorf("group %s/%s: %w", g.Monitor, g.Channel, err)
			}
			next.Monitor, next.Channel = g.Monitor, g.Channel
			if next.ID == "" {
				next.ID = g.ID
			}
			var b pgx.Batch
			what := []string{"group"}
			if err := queueAlertGroup(&b, next); err != nil {
				return fmt.Errorf("group %s/%s: %w", g.Monitor, g.Channel, err)
			}
			for _, n := range ns {
				n.Channel = g.Channel
				if err := queueNotification(&b, g.Monitor, n, now); err != nil {
					return fmt.Errorf("group %s/%s: %w", g.Monitor, g.Channel, err)
				}
				what = append(what, "notification "+n.DedupKey)
				if n.Status == model.NotificationSuppressed {
					continue
				}
				what = append(what, queueNotified(&b, n, now)...)
				queued++
			}
			if err := sendBatch(ctx, tx, &b, what); err != nil {
				return fmt.Errorf("group %s/%s: %w", g.Monitor, g.Channel, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: flush alert groups: %w", err)
	}
	return queued, nil
}

// queueNotified adds to b the statements that record, on the alerts a
// queued message tells of firing, that they were told now; it returns
// what each writes.
func queueNotified(b *pgx.Batch, n model.Notification, now time.Time) []string {
	var what []string
	for _, a := range n.Message.Alerts {
		if a.AlertID == "" || (a.Change != model.ChangeNew && a.Change != model.ChangeFiring) {
			continue
		}
		reminder := 0
		if a.Change == model.ChangeFiring {
			reminder = 1
		}
		// Messages of one flush to several targets are one reminder.
		b.Queue(`UPDATE alerts SET reminders = reminders + (CASE WHEN last_notified_ns < $1 THEN $2::bigint ELSE 0 END),
				last_notified_ns = $1 WHERE id = $3 AND state = 'firing'`,
			epochNS(now), reminder, a.AlertID)
		what = append(what, "alert "+a.AlertID)
	}
	return what
}

// ListAlertGroups returns a monitor's delivery groups, by channel.
func (s *Store) ListAlertGroups(ctx context.Context, monitor string) ([]model.AlertGroup, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rpool.Query(ctx, `SELECT `+alertGroupColumns+` FROM alert_groups WHERE monitor = $1 ORDER BY channel`, monitor)
	if err != nil {
		return nil, s.alertErr("alert groups of "+monitor, err)
	}
	out, err := collectAlertGroups(rows)
	if err != nil {
		return nil, s.alertErr("alert groups of "+monitor, err)
	}
	return out, nil
}
