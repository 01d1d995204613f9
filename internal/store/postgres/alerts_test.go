package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Runs of one monitor ending at the same moment on two replicas decide
// one after the other, each on the state the other committed: a decider
// that fires an alert when none fires, and counts runs in its tracker,
// fires one alert and counts every run, even from no state at all (the
// monitor's first runs, which no row lock could order).
func TestAlertDecisionsReplicas(t *testing.T) {
	replicas := openAlertReplicas(t, 2)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const runs = 8
	var claimed []model.Run
	for i := range runs {
		r, err := replicas[0].CreateRun(ctx, model.Run{Monitor: "m", MonitorVersion: 1, CreatedAt: t0.Add(time.Duration(i) * time.Second),
			WindowStart: t0.Add(-time.Hour), WindowEnd: t0})
		if err != nil {
			t.Fatal(err)
		}
		c, ok, err := replicas[i%2].ClaimRun(ctx, fmt.Sprintf("owner-%d", i), t0, time.Hour)
		if err != nil || !ok || c.ID != r.ID {
			t.Fatalf("claim of run %d = %+v, %v, %v", i, c, ok, err)
		}
		claimed = append(claimed, c)
	}
	decide := func(run int) store.AlertDecider {
		return func(snap store.AlertSnapshot) (store.AlertChanges, error) {
			// Long enough for the other decisions to start meanwhile.
			time.Sleep(20 * time.Millisecond)
			tr := snap.Trackers["k"]
			tr.Key, tr.Streak = "k", tr.Streak+1
			ch := store.AlertChanges{}
			if _, firing := snap.Firing["k"]; !firing {
				a := model.Alert{ID: fmt.Sprintf("alert-%d", run), Key: "k", Kind: model.AlertQuality, State: model.AlertFiring, FiredAt: t0}
				tr.AlertID = a.ID
				ch.Alerts = []model.Alert{a}
				ch.Notifications = []model.Notification{{AlertID: a.ID, Channel: "oncall", Event: model.EventFiring,
					DedupKey: a.ID + "/firing/oncall", CreatedAt: t0}}
			}
			ch.Trackers = []model.AlertTracker{tr}
			return ch, nil
		}
	}
	var wg sync.WaitGroup
	for i, r := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := replicas[i%2].FinishRun(ctx, r.ID, r.LeaseOwner, model.RunSucceeded, "", t0.Add(time.Minute), decide(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	page, err := replicas[1].ListAlerts(ctx, store.AlertQuery{Monitor: "m"})
	if err != nil || len(page.Alerts) != 1 {
		t.Fatalf("alerts = %+v, %v; want one", page.Alerts, err)
	}
	if q, err := replicas[0].QueuedNotifications(ctx); err != nil || q["oncall"] != 1 {
		t.Errorf("QueuedNotifications = %v, %v; want one for oncall", q, err)
	}
	var streak int
	if err := replicas[0].pool.QueryRow(ctx, `SELECT streak FROM alert_trackers WHERE monitor = 'm' AND key = 'k'`).Scan(&streak); err != nil || streak != runs {
		t.Errorf("tracker streak = %d, %v; want %d (every run counted once)", streak, err, runs)
	}
}
