package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// openAlertReplicas opens n Stores on one fresh schema: n replicas sharing a
// database.
func openAlertReplicas(t *testing.T, n int) []*Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	var out []*Store
	for range n {
		s, err := Open(context.Background(), Options{DSN: dsn, Schema: schema, Deriver: storetest.Deriver{}, MaxConns: 8}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

// queueTestNotifications queues notifications as a run's end would, in
// one transaction of s.
func queueTestNotifications(t *testing.T, s *Store, now time.Time, ns []model.Notification) {
	t.Helper()
	err := s.inTx(context.Background(), func(tx pgx.Tx) error {
		var b pgx.Batch
		var what []string
		for _, n := range ns {
			if err := queueNotification(&b, n.Monitor, n, now); err != nil {
				return err
			}
			what = append(what, n.DedupKey)
		}
		return sendBatch(context.Background(), tx, &b, what)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Several senders on two replicas drain one outbox at once: each
// notification is claimed and sent exactly once, and a second queueing
// of a dedup key adds nothing.
func TestOutboxReplicas(t *testing.T) {
	replicas := openAlertReplicas(t, 2)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	channels := []string{"oncall", "emails", "hook"}
	const total = 300
	var ns []model.Notification
	for i := range total {
		ns = append(ns, model.Notification{AlertID: fmt.Sprintf("alert-%d", i%7), Monitor: "m", Channel: channels[i%len(channels)],
			Event: model.EventFiring, DedupKey: fmt.Sprintf("dedup-%d", i), CreatedAt: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	queueTestNotifications(t, replicas[0], t0, ns)
	queueTestNotifications(t, replicas[1], t0, ns[:50]) // queued again: skipped
	if q, err := replicas[1].QueuedNotifications(ctx); err != nil || q["oncall"] != total/3 || len(q) != 3 {
		t.Fatalf("QueuedNotifications = %v, %v; want %d per channel", q, err, total/3)
	}

	now := t0.Add(time.Minute)
	var mu sync.Mutex
	claims := map[string]int{} // id -> times claimed
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 12 {
		s := replicas[i%2]
		owner := fmt.Sprintf("sender-%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				due, err := s.DueChannels(ctx, now)
				if err != nil {
					errs <- err
					return
				}
				if len(due) == 0 {
					return
				}
				for _, ch := range due {
					got, err := s.ClaimNotifications(ctx, owner, ch, now, time.Minute, 5)
					if err != nil {
						errs <- err
						return
					}
					for _, n := range got {
						mu.Lock()
						claims[n.ID]++
						mu.Unlock()
						if n.LeaseOwner != owner || n.Attempts != 1 {
							errs <- fmt.Errorf("claimed %+v as %s", n, owner)
							return
						}
						if err := s.SettleNotification(ctx, n.ID, owner, model.NotificationSent, time.Time{}, "", now); err != nil {
							errs <- err
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claims) != total {
		t.Errorf("%d notifications claimed, want %d", len(claims), total)
	}
	for id, n := range claims {
		if n != 1 {
			t.Errorf("notification %s claimed %d times", id, n)
		}
	}
	if q, err := replicas[0].QueuedNotifications(ctx); err != nil || len(q) != 0 {
		t.Errorf("QueuedNotifications after the drain = %v, %v; want none", q, err)
	}
}

// A sender that crashes holding a notification (it never settles) loses
// it when its lease ends: another replica takes it over, counting a
// second attempt, and the crashed sender can no longer settle it.
func TestOutboxLeaseTakeover(t *testing.T) {
	replicas := openAlertReplicas(t, 2)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	queueTestNotifications(t, replicas[0], t0, []model.Notification{{AlertID: "a", Monitor: "m", Channel: "oncall",
		Event: model.EventFiring, DedupKey: "a/firing/oncall", CreatedAt: t0}})
	got, err := replicas[0].ClaimNotifications(ctx, "crashed", "oncall", t0, time.Minute, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	id := got[0].ID
	if again, err := replicas[1].ClaimNotifications(ctx, "alive", "oncall", t0.Add(59*time.Second), time.Minute, 10); err != nil || len(again) != 0 {
		t.Fatalf("claim during the lease = %+v, %v; want none", again, err)
	}
	taken, err := replicas[1].ClaimNotifications(ctx, "alive", "oncall", t0.Add(61*time.Second), time.Minute, 10)
	if err != nil || len(taken) != 1 || taken[0].ID != id || taken[0].Attempts != 2 {
		t.Fatalf("claim after the lease = %+v, %v; want %s, attempt 2", taken, err, id)
	}
	if err := replicas[0].SettleNotification(ctx, id, "crashed", model.NotificationSent, time.Time{}, "", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("settle by the crashed sender: %v, want ErrConflict", err)
	}
	if err := replicas[1].SettleNotification(ctx, id, "alive", model.NotificationSent, time.Time{}, "", t0.Add(62*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// Two replicas flushing the same due groups at once: each group is
// flushed, and its message queued, exactly once.
func TestFlushAlertGroupsReplicas(t *testing.T) {
	replicas := openAlertReplicas(t, 2)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const groups = 40
	err := replicas[0].inTx(ctx, func(tx pgx.Tx) error {
		var b pgx.Batch
		var what []string
		for i := range groups {
			g := model.AlertGroup{ID: fmt.Sprintf("g%d", i), Monitor: fmt.Sprintf("m%d", i%5), Channel: fmt.Sprintf("c%d", i), DueAt: t0}
			if err := queueAlertGroup(&b, g); err != nil {
				return err
			}
			what = append(what, g.ID)
		}
		return sendBatch(ctx, tx, &b, what)
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	flushed := map[string]int{}
	flush := func(g model.AlertGroup, _ []model.Silence) (model.AlertGroup, []model.Notification, error) {
		mu.Lock()
		flushed[g.ID]++
		mu.Unlock()
		g.Sent++
		g.DueAt, g.LastSentAt = time.Time{}, t0
		return g, []model.Notification{{Monitor: g.Monitor, Event: model.EventFiring, CreatedAt: t0,
			DedupKey: fmt.Sprintf("group/%s/%d", g.ID, g.Sent)}}, nil
	}
	var wg sync.WaitGroup
	var total int
	for i := range 6 {
		s := replicas[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := s.FlushAlertGroups(ctx, t0, 3, flush)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total += n
				mu.Unlock()
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	// A flush whose transaction is retried calls flush again without
	// committing twice: what counts is what was queued.
	if total != groups {
		t.Errorf("%d messages queued, want %d", total, groups)
	}
	if len(flushed) != groups {
		t.Errorf("%d groups flushed, want %d", len(flushed), groups)
	}
	q, err := replicas[1].QueuedNotifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, n := range q {
		sum += n
	}
	if sum != groups {
		t.Errorf("%d notifications queued, want %d", sum, groups)
	}
}
