package apitest

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// The alert side of Runs: alerts, trackers and the outbox, kept as the
// ports say. Notification ids the store gives are "n" and 31 hexadecimal
// digits counting up from 1.

// decideAlerts calls decide (nil: nothing) with monitor's alert state and
// checks what it returns, writing nothing; s.mu is held.
func (s *Runs) decideAlerts(monitor string, now time.Time, decide store.AlertDecider) (store.AlertChanges, error) {
	if decide == nil {
		return store.AlertChanges{}, nil
	}
	snap := store.AlertSnapshot{Trackers: map[string]model.AlertTracker{}, Firing: map[string]model.Alert{}}
	for k, tr := range s.trackers[monitor] {
		snap.Trackers[k] = tr
	}
	for _, a := range s.alerts {
		if a.Monitor != monitor || a.State != model.AlertFiring {
			continue
		}
		if cur, ok := snap.Firing[a.Key]; !ok || a.FiredAt.After(cur.FiredAt) || (a.FiredAt.Equal(cur.FiredAt) && a.ID > cur.ID) {
			snap.Firing[a.Key] = a
		}
	}
	c, err := decide(snap)
	if err != nil {
		return store.AlertChanges{}, fmt.Errorf("alert decider of monitor %s: %w", monitor, err)
	}
	out := store.AlertChanges{
		Trackers:      append([]model.AlertTracker(nil), c.Trackers...),
		Alerts:        append([]model.Alert(nil), c.Alerts...),
		Notifications: append([]model.Notification(nil), c.Notifications...),
	}
	own := func(m *string, what string) error {
		switch *m {
		case "":
			*m = monitor
		case monitor:
		default:
			return fmt.Errorf("alert changes of monitor %s: %s belongs to monitor %s", monitor, what, *m)
		}
		return nil
	}
	for i := range out.Trackers {
		if err := own(&out.Trackers[i].Monitor, "tracker "+out.Trackers[i].Key); err != nil {
			return store.AlertChanges{}, err
		}
	}
	for i := range out.Alerts {
		a := &out.Alerts[i]
		if a.ID == "" {
			return store.AlertChanges{}, fmt.Errorf("alert changes of monitor %s: alert of key %s has no id", monitor, a.Key)
		}
		if err := own(&a.Monitor, "alert "+a.ID); err != nil {
			return store.AlertChanges{}, err
		}
	}
	for i := range out.Notifications {
		n := &out.Notifications[i]
		if n.DedupKey == "" {
			return store.AlertChanges{}, fmt.Errorf("alert changes of monitor %s: notification of alert %s has no dedup key", monitor, n.AlertID)
		}
		if err := own(&n.Monitor, "notification "+n.DedupKey); err != nil {
			return store.AlertChanges{}, err
		}
		if n.CreatedAt.IsZero() {
			n.CreatedAt = now
		}
		if n.NextAttemptAt.IsZero() {
			n.NextAttemptAt = n.CreatedAt
		}
		n.CreatedAt, n.NextAttemptAt = n.CreatedAt.UTC(), n.NextAttemptAt.UTC()
		n.Status, n.Attempts, n.LastError, n.DoneAt = model.NotificationPending, 0, "", time.Time{}
		n.LeaseOwner, n.LeaseUntil = "", time.Time{}
	}
	return out, nil
}

// applyAlerts writes changes checked by decideAlerts; s.mu is held.
func (s *Runs) applyAlerts(c store.AlertChanges) {
	for _, tr := range c.Trackers {
		if s.trackers[tr.Monitor] == nil {
			s.trackers[tr.Monitor] = map[string]model.AlertTracker{}
		}
		s.trackers[tr.Monitor][tr.Key] = tr
	}
	for _, a := range c.Alerts {
		s.alerts[a.ID] = a
	}
	for _, n := range c.Notifications {
		s.queue(n)
	}
}

// queue adds n to the outbox unless its dedup key is there; s.mu is held.
func (s *Runs) queue(n model.Notification) {
	for _, x := range s.notes {
		if x.DedupKey == n.DedupKey {
			return
		}
	}
	if n.ID == "" {
		s.noteSeq++
		n.ID = fmt.Sprintf("n%031x", s.noteSeq)
	}
	n.Recipients = append([]string(nil), n.Recipients...)
	s.notes = append(s.notes, n)
}

// AddAlert records a as it is, with its notifications as they are (in any
// status; an empty ID gets one, a dedup key already queued is skipped).
// With AddTracker, it is how tests set up alert history.
func (s *Runs) AddAlert(a model.Alert, notes ...model.Notification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts[a.ID] = a
	for _, n := range notes {
		s.queue(n)
	}
}

// AddTracker records an alert state machine's tracker as it is.
func (s *Runs) AddTracker(tr model.AlertTracker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyAlerts(store.AlertChanges{Trackers: []model.AlertTracker{tr}})
}

// ListAlerts implements store.AlertStore: newest fired first, then by id
// descending. Its cursors are opaque offsets like ListTraces'.
func (s *Runs) ListAlerts(ctx context.Context, q store.AlertQuery) (store.AlertPage, error) {
	if err := ctx.Err(); err != nil {
		return store.AlertPage{}, err
	}
	offset := 0
	if q.Cursor != "" {
		n, err := decodeCursor(q.Cursor)
		if err != nil {
			return store.AlertPage{}, fmt.Errorf("apitest: cursor %q: %w", q.Cursor, store.ErrInvalidCursor)
		}
		offset = n
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = store.DefaultLimit
	case limit > store.MaxLimit:
		limit = store.MaxLimit
	}
	s.mu.Lock()
	var match []model.Alert
	for _, a := range s.alerts {
		if (q.Monitor == "" || a.Monitor == q.Monitor) && (q.State == "" || a.State == q.State) {
			match = append(match, a)
		}
	}
	s.mu.Unlock()
	sort.Slice(match, func(i, j int) bool {
		if !match[i].FiredAt.Equal(match[j].FiredAt) {
			return match[i].FiredAt.After(match[j].FiredAt)
		}
		return match[i].ID > match[j].ID
	})
	var page store.AlertPage
	if offset >= len(match) {
		return page, nil
	}
	end := min(offset+limit, len(match))
	page.Alerts = match[offset:end]
	if end < len(match) {
		page.NextCursor = encodeCursor(end)
	}
	return page, nil
}

// GetAlert implements store.AlertStore.
func (s *Runs) GetAlert(ctx context.Context, id string) (model.Alert, error) {
	if err := ctx.Err(); err != nil {
		return model.Alert{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.alerts[id]
	if !ok {
		return model.Alert{}, fmt.Errorf("apitest: alert %s: %w", id, store.ErrNotFound)
	}
	return a, nil
}

// AckAlert implements store.AlertAcks.
func (s *Runs) AckAlert(ctx context.Context, id, comment string, now time.Time) (model.Alert, error) {
	if err := ctx.Err(); err != nil {
		return model.Alert{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.alerts[id]
	switch {
	case !ok:
		return model.Alert{}, fmt.Errorf("apitest: alert %s: %w", id, store.ErrNotFound)
	case a.State != model.AlertFiring:
		return model.Alert{}, fmt.Errorf("apitest: alert %s is %s: %w", id, a.State, store.ErrConflict)
	}
	a.AckedAt, a.AckComment = now.UTC(), comment
	s.alerts[id] = a
	return a, nil
}

// AlertNotifications implements store.AlertStore: oldest first (by
// creation, then id).
func (s *Runs) AlertNotifications(ctx context.Context, alertID string) ([]model.Notification, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []model.Notification
	for _, n := range s.notes {
		if n.AlertID == alertID {
			out = append(out, n)
		}
	}
	s.mu.Unlock()
	sortOldest(out)
	return out, nil
}

func sortOldest(ns []model.Notification) {
	sort.SliceStable(ns, func(i, j int) bool {
		if !ns[i].CreatedAt.Equal(ns[j].CreatedAt) {
			return ns[i].CreatedAt.Before(ns[j].CreatedAt)
		}
		return ns[i].ID < ns[j].ID
	})
}

// due reports whether n is due at now.
func due(n model.Notification, now time.Time) bool {
	return n.Status == model.NotificationPending && !n.NextAttemptAt.After(now) && n.LeaseUntil.Before(now)
}

// DueChannels implements store.Outbox, by channel name.
func (s *Runs) DueChannels(ctx context.Context, now time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, n := range s.notes {
		if due(n, now) && !seen[n.Channel] {
			seen[n.Channel] = true
			out = append(out, n.Channel)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ClaimNotifications implements store.Outbox.
func (s *Runs) ClaimNotifications(ctx context.Context, owner, channel string, now time.Time, lease time.Duration, limit int) ([]model.Notification, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if owner == "" || limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("apitest: claim notifications of channel %s: owner %q, limit %d, lease %s", channel, owner, limit, lease)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var idx []int
	for i, n := range s.notes {
		if n.Channel == channel && due(n, now) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := s.notes[idx[a]], s.notes[idx[b]]
		if !x.CreatedAt.Equal(y.CreatedAt) {
			return x.CreatedAt.Before(y.CreatedAt)
		}
		return x.ID < y.ID
	})
	if len(idx) > limit {
		idx = idx[:limit]
	}
	var out []model.Notification
	for _, i := range idx {
		n := &s.notes[i]
		n.LeaseOwner, n.LeaseUntil = owner, now.Add(lease).UTC()
		n.Attempts++
		out = append(out, *n)
	}
	return out, nil
}

// SettleNotification implements store.Outbox.
func (s *Runs) SettleNotification(ctx context.Context, id, owner string, status model.NotificationStatus, next time.Time, errMsg string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch status {
	case model.NotificationSent, model.NotificationFailed, model.NotificationPending:
	default:
		return fmt.Errorf("apitest: settle notification %s: status %q is not sent, failed or pending", id, status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.notes {
		n := &s.notes[i]
		if n.ID != id {
			continue
		}
		if owner == "" || n.Status != model.NotificationPending || n.LeaseOwner != owner {
			break
		}
		switch status {
		case model.NotificationPending:
			n.NextAttemptAt, n.LastError = next.UTC(), errMsg
		case model.NotificationFailed:
			n.Status, n.DoneAt, n.LastError = status, now.UTC(), errMsg
		default:
			n.Status, n.DoneAt = status, now.UTC()
		}
		n.LeaseOwner, n.LeaseUntil = "", time.Time{}
		return nil
	}
	return fmt.Errorf("apitest: notification %s is not held by %s: %w", id, owner, store.ErrConflict)
}

// GetNotification implements store.Outbox.
func (s *Runs) GetNotification(ctx context.Context, id string) (model.Notification, error) {
	if err := ctx.Err(); err != nil {
		return model.Notification{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.notes {
		if n.ID == id {
			return n, nil
		}
	}
	return model.Notification{}, fmt.Errorf("apitest: notification %s: %w", id, store.ErrNotFound)
}

// FiringAlerts implements store.AlertStats.
func (s *Runs) FiringAlerts(ctx context.Context) (map[string]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, a := range s.alerts {
		if a.State == model.AlertFiring {
			out[a.Monitor]++
		}
	}
	return out, nil
}

// QueuedNotifications implements store.AlertStats.
func (s *Runs) QueuedNotifications(ctx context.Context) (map[string]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, n := range s.notes {
		if n.Status == model.NotificationPending {
			out[n.Channel]++
		}
	}
	return out, nil
}
