package apitest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// TestRunsDecide checks that a run's end applies its decider to the state
// the previous decider wrote, that a decider's error or another owner
// changes nothing, and that a dedup key is queued once.
func TestRunsDecide(t *testing.T) {
	ctx := context.Background()
	s := NewRuns()
	start := func(at time.Time) model.Run {
		t.Helper()
		r, err := s.CreateRun(ctx, model.Run{Monitor: "m", CreatedAt: at, WindowEnd: at})
		if err != nil {
			t.Fatal(err)
		}
		if c, ok, err := s.ClaimRun(ctx, "a", at, time.Minute); err != nil || !ok || c.ID != r.ID {
			t.Fatalf("claim = %+v, %v, %v", c, ok, err)
		}
		return r
	}
	t0 := Now()
	alert := model.Alert{ID: "x", Monitor: "m", Key: "no_data", Kind: model.AlertNoData, State: model.AlertFiring, FiredAt: t0}
	tracker := model.AlertTracker{Monitor: "m", Key: "no_data", Streak: 1, AlertID: "x", LastWindowEnd: t0}
	note := model.Notification{AlertID: "x", Channel: "oncall", Event: model.EventFiring, DedupKey: "x/firing"}
	changes := store.AlertChanges{Trackers: []model.AlertTracker{tracker}, Alerts: []model.Alert{alert},
		Notifications: []model.Notification{note}}

	r1 := start(t0)
	boom := errors.New("boom")
	err := s.FinishRun(ctx, r1.ID, "a", model.RunSucceeded, "", t0, func(store.AlertSnapshot) (store.AlertChanges, error) {
		return changes, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("FinishRun with a failing decider: %v", err)
	}
	called := false
	err = s.FinishRun(ctx, r1.ID, "b", model.RunSucceeded, "", t0, func(store.AlertSnapshot) (store.AlertChanges, error) {
		called = true
		return changes, nil
	})
	if !errors.Is(err, store.ErrConflict) || called {
		t.Fatalf("FinishRun by another owner: %v, decider called %v", err, called)
	}
	if r, _ := s.GetRun(ctx, r1.ID); r.Status != model.RunRunning {
		t.Fatalf("run after a failed decider: %+v", r)
	}
	if page, _ := s.ListAlerts(ctx, store.AlertQuery{}); len(page.Alerts) != 0 {
		t.Fatalf("alerts after a failed decider: %+v", page.Alerts)
	}

	var first store.AlertSnapshot
	if err := s.FinishRun(ctx, r1.ID, "a", model.RunSucceeded, "", t0, func(snap store.AlertSnapshot) (store.AlertChanges, error) {
		first = snap
		return changes, nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(first.Trackers)+len(first.Firing) != 0 {
		t.Errorf("first snapshot = %+v, want empty", first)
	}
	r2 := start(t0.Add(time.Hour))
	var second store.AlertSnapshot
	res := model.RunResult{RunID: r2.ID}
	if err := s.SaveRunResult(ctx, "a", res, nil, t0.Add(time.Hour), func(snap store.AlertSnapshot) (store.AlertChanges, error) {
		second = snap
		return changes, nil
	}); err != nil {
		t.Fatal(err)
	}
	want := store.AlertSnapshot{Trackers: map[string]model.AlertTracker{"no_data": tracker}, Firing: map[string]model.Alert{"no_data": alert}}
	if diff := cmp.Diff(want, second); diff != "" {
		t.Errorf("second snapshot (-want +got):\n%s", diff)
	}
	notes, err := s.AlertNotifications(ctx, "x")
	if err != nil || len(notes) != 1 {
		t.Fatalf("notifications = %+v, %v; want one", notes, err)
	}
	if n := notes[0]; n.ID == "" || n.Monitor != "m" || n.Status != model.NotificationPending || !n.CreatedAt.Equal(t0) || !n.NextAttemptAt.Equal(t0) {
		t.Errorf("queued notification = %+v", n)
	}
}

// TestRunsOutbox checks claims, leases and settling.
func TestRunsOutbox(t *testing.T) {
	ctx := context.Background()
	s := NewRuns()
	t0 := Now()
	s.AddAlert(model.Alert{ID: "x", Monitor: "m", State: model.AlertFiring, FiredAt: t0},
		model.Notification{ID: "n2", AlertID: "x", Channel: "oncall", DedupKey: "2", Status: model.NotificationPending, CreatedAt: t0, NextAttemptAt: t0},
		model.Notification{ID: "n1", AlertID: "x", Channel: "oncall", DedupKey: "1", Status: model.NotificationPending, CreatedAt: t0, NextAttemptAt: t0},
		model.Notification{ID: "n3", AlertID: "x", Channel: "mail", DedupKey: "3", Status: model.NotificationPending, CreatedAt: t0, NextAttemptAt: t0.Add(time.Hour)})
	ids := func(ns []model.Notification) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return out
	}
	if due, _ := s.DueChannels(ctx, t0); !cmp.Equal(due, []string{"oncall"}) {
		t.Errorf("DueChannels = %v", due)
	}
	got, err := s.ClaimNotifications(ctx, "a", "oncall", t0, time.Minute, 10)
	if err != nil || !cmp.Equal(ids(got), []string{"n1", "n2"}) || got[0].Attempts != 1 {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	if again, _ := s.ClaimNotifications(ctx, "b", "oncall", t0, time.Minute, 10); len(again) != 0 {
		t.Errorf("second owner claimed %v", ids(again))
	}
	if err := s.SettleNotification(ctx, "n1", "b", model.NotificationSent, time.Time{}, "", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("settle by a non-owner: %v", err)
	}
	if err := s.SettleNotification(ctx, "n1", "a", model.NotificationFailed, time.Time{}, "gave up", t0); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.GetNotification(ctx, "n1"); n.Status != model.NotificationFailed || n.LastError != "gave up" || n.LeaseOwner != "" {
		t.Errorf("failed notification = %+v", n)
	}
	later := t0.Add(2 * time.Minute)
	if got, _ := s.ClaimNotifications(ctx, "b", "oncall", later, time.Minute, 10); !cmp.Equal(ids(got), []string{"n2"}) || got[0].Attempts != 2 {
		t.Errorf("claim after the lease = %+v", got)
	}
}

// TestSeedAlerts checks what the seed promises: a firing alert with a sent
// and a failed notification, a resolved alert, newest fired first.
func TestSeedAlerts(t *testing.T) {
	ctx := context.Background()
	s := NewRuns()
	SeedRuns(s)
	seeded := SeedAlerts(s)
	page, err := s.ListAlerts(ctx, store.AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(seeded, page.Alerts); diff != "" {
		t.Errorf("ListAlerts (-seeded +got):\n%s", diff)
	}
	if len(seeded) != 2 || seeded[0].ID != FiringAlertID || seeded[0].State != model.AlertFiring ||
		seeded[1].ID != ResolvedAlertID || seeded[1].State != model.AlertResolved {
		t.Fatalf("seeded alerts = %+v", seeded)
	}
	if !seeded[0].FiredAt.Before(Now()) || seeded[0].Value == nil || *seeded[0].Value != 0.625 {
		t.Errorf("firing alert = %+v, want fired before Now with pass rate 0.625", seeded[0])
	}
	firing, _ := s.ListAlerts(ctx, store.AlertQuery{State: model.AlertFiring, Monitor: "rag_quality"})
	if len(firing.Alerts) != 1 || firing.Alerts[0].ID != FiringAlertID {
		t.Errorf("firing alerts of rag_quality = %+v", firing.Alerts)
	}
	notes, err := s.AlertNotifications(ctx, FiringAlertID)
	if err != nil || len(notes) != 2 {
		t.Fatalf("notifications = %+v, %v", notes, err)
	}
	if notes[0].ID != SentNotificationID || notes[0].Status != model.NotificationSent ||
		notes[1].ID != FailedNotificationID || notes[1].Status != model.NotificationFailed || notes[1].LastError != FailedNotificationError {
		t.Errorf("notifications = %+v", notes)
	}
	if w := notes[0].Message.Worst; len(w) != 3 || w[0].Score != 1 {
		t.Errorf("worst instances = %+v, want three, lowest score 1 first", w)
	}
	if due, _ := s.DueChannels(ctx, Now()); len(due) != 0 {
		t.Errorf("DueChannels = %v, want none (every seeded notification is done)", due)
	}
}
