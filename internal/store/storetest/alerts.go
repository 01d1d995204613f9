package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// recorder is an alert decider that returns fixed changes (and error) and
// records the snapshots it was called with.
type recorder struct {
	changes store.AlertChanges
	err     error
	calls   []store.AlertSnapshot
}

func (r *recorder) decide(snap store.AlertSnapshot) (store.AlertChanges, error) {
	r.calls = append(r.calls, snap)
	return r.changes, r.err
}

// snapshot returns the one snapshot r was called with.
func (r *recorder) snapshot(t *testing.T, what string) store.AlertSnapshot {
	t.Helper()
	if len(r.calls) != 1 {
		t.Fatalf("%s: decider called %d times, want once", what, len(r.calls))
	}
	return r.calls[0]
}

// claimAlertRun records a scheduled run of monitor over the hour ending at
// end and claims it for owner at end. The store must hold no other
// claimable run.
func claimAlertRun(t *testing.T, s store.Store, monitor string, end time.Time, owner string) model.Run {
	t.Helper()
	ctx := context.Background()
	r, _, err := s.ScheduleRun(ctx, model.Run{Monitor: monitor, MonitorVersion: 1, ScheduledAt: end,
		WindowStart: end.Add(-time.Hour), WindowEnd: end, CreatedAt: end}, end.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	claimed, ok, err := s.ClaimRun(ctx, owner, end, time.Hour)
	if err != nil || !ok || claimed.ID != r.ID {
		t.Fatalf("claim of run %s = %+v, %v, %v", r.ID, claimed, ok, err)
	}
	return claimed
}

// finishAlertRun claims a run of monitor over the hour ending at end and
// finishes it as succeeded at end+1m with decide; it returns the run.
func finishAlertRun(t *testing.T, s store.Store, monitor string, end time.Time, decide store.AlertDecider) model.Run {
	t.Helper()
	r := claimAlertRun(t, s, monitor, end, "owner")
	if err := s.FinishRun(context.Background(), r.ID, "owner", model.RunSucceeded, "", end.Add(time.Minute), decide); err != nil {
		t.Fatalf("FinishRun of %s: %v", r.ID, err)
	}
	return r
}

// queued is n as the outbox holds it right after it was queued.
func queued(n model.Notification) model.Notification {
	n.Status, n.Attempts, n.LastError, n.DoneAt, n.LeaseOwner, n.LeaseUntil = model.NotificationPending, 0, "", time.Time{}, "", time.Time{}
	if n.NextAttemptAt.IsZero() {
		n.NextAttemptAt = n.CreatedAt
	}
	return n
}

func alertNotifications(t *testing.T, s store.Store, alertID string) []model.Notification {
	t.Helper()
	out, err := s.AlertNotifications(context.Background(), alertID)
	if err != nil {
		t.Fatalf("AlertNotifications(%s): %v", alertID, err)
	}
	return out
}

func getAlert(t *testing.T, s store.Store, id string) model.Alert {
	t.Helper()
	a, err := s.GetAlert(context.Background(), id)
	if err != nil {
		t.Fatalf("GetAlert(%s): %v", id, err)
	}
	return a
}

// emptyAsNil compares empty maps and slices as equal to nil ones.
var emptyAsNil = cmpopts.EquateEmpty()

// testAlertDecider checks the alert state written in the transaction that
// ends a run: each run's decider sees what the previous runs' deciders
// wrote (the trackers and firing alerts of its own monitor only), alerts
// are upserted by id, notifications are queued once per dedup key, a
// failed run's end applies its decider too, and it all persists.
func testAlertDecider(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	end := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	finished := func(h int) time.Time { return end(h).Add(time.Minute) }

	// Another monitor's alert state, which rag's deciders must not see.
	other := &recorder{changes: store.AlertChanges{
		Trackers: []model.AlertTracker{{Monitor: "other", Key: model.AlertNoData, Streak: 1, AlertID: "alert-other", LastWindowEnd: end(0)}},
		Alerts: []model.Alert{{ID: "alert-other", Monitor: "other", Key: model.AlertNoData, Kind: model.AlertNoData,
			State: model.AlertFiring, Summary: "no traces in the window", FiredAt: finished(0)}},
	}}
	finishAlertRun(t, s, "other", end(0), other.decide)

	// Run 1 fires groundedness and queues two notifications, one without
	// an id (the store gives it one).
	value, rate := 0.625, 0.75
	r1 := claimAlertRun(t, s, "rag", end(1), "owner")
	fired := model.Alert{ID: "alert-g", Monitor: "rag", Key: "quality:groundedness", Kind: model.AlertQuality,
		Subject: "groundedness", State: model.AlertFiring, Summary: "groundedness pass rate 62.5% is below 70%",
		Value: &value, Threshold: "pass rate ≥ 70%", FiredAt: finished(1), FiringRunID: r1.ID, LastRunID: r1.ID,
		LastNotifiedAt: finished(1)}
	msg := model.AlertMessage{AlertID: fired.ID, Monitor: "rag", Service: "rag-app", Deployment: "prod",
		Kind: fired.Kind, Subject: fired.Subject, Event: model.EventFiring, State: model.AlertFiring, Summary: fired.Summary,
		Value: &value, Threshold: fired.Threshold, RunID: r1.ID, WindowStart: end(0), WindowEnd: end(1), FiredAt: finished(1),
		Worst: []model.WorstInstance{{TraceID: traceID(5), Score: 1, Reason: "not in the context"}, {TraceID: traceID(4), Score: 2}}}
	fireOncall := model.Notification{ID: "n-fire-oncall", AlertID: fired.ID, Monitor: "rag", Channel: "oncall",
		Event: model.EventFiring, DedupKey: "alert-g/firing/oncall", Message: msg, CreatedAt: finished(1)}
	fireMail := model.Notification{AlertID: fired.ID, Monitor: "rag", Channel: model.EmailsChannel,
		Recipients: []string{"a@example.com", "b@example.com"}, Event: model.EventFiring, DedupKey: "alert-g/firing/emails",
		Message: msg, CreatedAt: finished(1).Add(time.Millisecond), NextAttemptAt: finished(1).Add(time.Second)}
	trackers1 := []model.AlertTracker{
		{Monitor: "rag", Key: fired.Key, Streak: 1, AlertID: fired.ID, LastWindowEnd: end(1)},
		{Monitor: "rag", Key: "quality:relevance", LastWindowEnd: end(1)},
	}
	d1 := &recorder{changes: store.AlertChanges{Trackers: trackers1, Alerts: []model.Alert{fired},
		Notifications: []model.Notification{fireOncall, fireMail}}}
	if err := s.FinishRun(ctx, r1.ID, "owner", model.RunSucceeded, "", finished(1), d1.decide); err != nil {
		t.Fatal(err)
	}
	if snap := d1.snapshot(t, "run 1"); len(snap.Trackers) != 0 || len(snap.Firing) != 0 {
		t.Errorf("run 1: the first decider of rag saw %+v, want no state", snap)
	}
	if diff := cmp.Diff(fired, getAlert(t, s, fired.ID)); diff != "" {
		t.Errorf("fired alert (-want +got):\n%s", diff)
	}
	got := alertNotifications(t, s, fired.ID)
	if len(got) != 2 || got[1].ID == "" {
		t.Fatalf("notifications after run 1: %+v, want two, both with ids", got)
	}
	fireMail.ID = got[1].ID
	wantNotes := []model.Notification{queued(fireOncall), queued(fireMail)}
	if diff := cmp.Diff(wantNotes, got); diff != "" {
		t.Errorf("notifications after run 1 (-want +got):\n%s", diff)
	}
	if n, err := s.GetNotification(ctx, fireMail.ID); err != nil || !cmp.Equal(queued(fireMail), n) {
		t.Errorf("GetNotification(%s) = %+v, %v", fireMail.ID, n, err)
	}

	// Run 2 (ended with its result) sees run 1's state, reminds, and
	// queues the firing notification again, which the outbox skips.
	r2 := claimAlertRun(t, s, "rag", end(2), "owner")
	reminded := fired
	reminded.LastRunID, reminded.LastNotifiedAt, reminded.Reminders = r2.ID, finished(2), 1
	refire := fireOncall
	refire.ID, refire.Message.Summary, refire.CreatedAt = "", "queued again", finished(2)
	remind := model.Notification{ID: "n-remind", AlertID: fired.ID, Monitor: "rag", Channel: "oncall",
		Event: model.EventReminder, DedupKey: "alert-g/reminder/1/oncall", Message: msg, CreatedAt: finished(2)}
	remind.Message.Event, remind.Message.RunID = model.EventReminder, r2.ID
	trackers2 := []model.AlertTracker{{Monitor: "rag", Key: fired.Key, Streak: 2, AlertID: fired.ID, LastWindowEnd: end(2)}}
	d2 := &recorder{changes: store.AlertChanges{Trackers: trackers2, Alerts: []model.Alert{reminded},
		Notifications: []model.Notification{refire, remind}}}
	res := model.RunResult{RunID: r2.ID, Sampled: 8,
		Metrics: []model.MetricResult{{Metric: "groundedness", Judged: 8, Passed: 6, PassRate: &rate}}}
	if err := s.SaveRunResult(ctx, "owner", res, nil, finished(2), d2.decide); err != nil {
		t.Fatal(err)
	}
	want1 := store.AlertSnapshot{
		Trackers: map[string]model.AlertTracker{trackers1[0].Key: trackers1[0], trackers1[1].Key: trackers1[1]},
		Firing:   map[string]model.Alert{fired.Key: fired},
	}
	if diff := cmp.Diff(want1, d2.snapshot(t, "run 2"), emptyAsNil); diff != "" {
		t.Errorf("snapshot of run 2 (-want +got):\n%s", diff)
	}
	if _, err := s.RunResult(ctx, r2.ID); err != nil {
		t.Errorf("result of run 2: %v", err)
	}
	if diff := cmp.Diff(reminded, getAlert(t, s, fired.ID)); diff != "" {
		t.Errorf("reminded alert (-want +got):\n%s", diff)
	}
	wantNotes = append(wantNotes, queued(remind))
	if diff := cmp.Diff(wantNotes, alertNotifications(t, s, fired.ID)); diff != "" {
		t.Errorf("notifications after run 2, one queued twice (-want +got):\n%s", diff)
	}

	// Run 3 fails: its decider still runs, and raises an unhealthy alert.
	r3 := claimAlertRun(t, s, "rag", end(3), "owner")
	unhealthy := model.Alert{ID: "alert-u", Monitor: "rag", Key: "unhealthy:run", Kind: model.AlertUnhealthy,
		State: model.AlertFiring, Summary: "run failed: judge unreachable", FiredAt: finished(3), FiringRunID: r3.ID,
		LastRunID: r3.ID, LastNotifiedAt: finished(3)}
	trackerU := model.AlertTracker{Monitor: "rag", Key: unhealthy.Key, Streak: 1, AlertID: unhealthy.ID, LastWindowEnd: end(3)}
	d3 := &recorder{changes: store.AlertChanges{Trackers: []model.AlertTracker{trackerU}, Alerts: []model.Alert{unhealthy}}}
	if err := s.FinishRun(ctx, r3.ID, "owner", model.RunFailed, "judge unreachable", finished(3), d3.decide); err != nil {
		t.Fatal(err)
	}
	want2 := store.AlertSnapshot{
		Trackers: map[string]model.AlertTracker{trackers2[0].Key: trackers2[0], trackers1[1].Key: trackers1[1]},
		Firing:   map[string]model.Alert{fired.Key: reminded},
	}
	if diff := cmp.Diff(want2, d3.snapshot(t, "run 3"), emptyAsNil); diff != "" {
		t.Errorf("snapshot of run 3 (-want +got):\n%s", diff)
	}
	if run, err := s.GetRun(ctx, r3.ID); err != nil || run.Status != model.RunFailed || run.Error != "judge unreachable" {
		t.Errorf("failed run = %+v, %v", run, err)
	}

	// Run 4 resolves groundedness.
	r4 := claimAlertRun(t, s, "rag", end(4), "owner")
	resolved := reminded
	resolved.State, resolved.ResolvedRunID, resolved.ResolvedAt = model.AlertResolved, r4.ID, finished(4)
	resolvedMsg := msg
	resolvedMsg.Event, resolvedMsg.State, resolvedMsg.RunID, resolvedMsg.ResolvedAt = model.EventResolved, model.AlertResolved, r4.ID, finished(4)
	resolve := model.Notification{ID: "n-resolve", AlertID: fired.ID, Monitor: "rag", Channel: "oncall",
		Event: model.EventResolved, DedupKey: "alert-g/resolved/oncall", Message: resolvedMsg, CreatedAt: finished(4)}
	trackerG := model.AlertTracker{Monitor: "rag", Key: fired.Key, LastWindowEnd: end(4)}
	d4 := &recorder{changes: store.AlertChanges{Trackers: []model.AlertTracker{trackerG}, Alerts: []model.Alert{resolved},
		Notifications: []model.Notification{resolve}}}
	if err := s.FinishRun(ctx, r4.ID, "owner", model.RunSucceeded, "", finished(4), d4.decide); err != nil {
		t.Fatal(err)
	}
	if len(d4.calls) != 1 {
		t.Fatalf("run 4: decider called %d times", len(d4.calls))
	}
	wantNotes = append(wantNotes, queued(resolve))

	// Run 5 sees the resolved alert no longer firing.
	check := func(t *testing.T, s store.Store, h int) {
		t.Helper()
		d := &recorder{}
		finishAlertRun(t, s, "rag", end(h), d.decide)
		want := store.AlertSnapshot{
			Trackers: map[string]model.AlertTracker{fired.Key: trackerG, trackers1[1].Key: trackers1[1], unhealthy.Key: trackerU},
			Firing:   map[string]model.Alert{unhealthy.Key: unhealthy},
		}
		if diff := cmp.Diff(want, d.snapshot(t, fmt.Sprintf("run %d", h)), emptyAsNil); diff != "" {
			t.Errorf("snapshot of run %d (-want +got):\n%s", h, diff)
		}
		if diff := cmp.Diff(resolved, getAlert(t, s, fired.ID)); diff != "" {
			t.Errorf("resolved alert (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantNotes, alertNotifications(t, s, fired.ID)); diff != "" {
			t.Errorf("notifications of the resolved alert (-want +got):\n%s", diff)
		}
		if got := alertNotifications(t, s, unhealthy.ID); len(got) != 0 {
			t.Errorf("notifications of %s: %+v, want none", unhealthy.ID, got)
		}
	}
	check(t, s, 5)

	// Everything survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(t, o.store(t), 6)
}

// testAlertRollback checks that the alert changes and the run's end commit
// together or not at all: a decider's error leaves the run running (to be
// finished later) and writes none of its changes, and an owner that no
// longer holds the run gets ErrConflict without the decider being called.
func testAlertRollback(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	errBoom := errors.New("decider exploded")
	changes := store.AlertChanges{
		Trackers: []model.AlertTracker{{Monitor: "m", Key: "no_data", Streak: 1, AlertID: "alert-x", LastWindowEnd: t0}},
		Alerts: []model.Alert{{ID: "alert-x", Monitor: "m", Key: "no_data", Kind: model.AlertNoData, State: model.AlertFiring,
			Summary: "no traces", FiredAt: t0}},
		Notifications: []model.Notification{{ID: "n-x", AlertID: "alert-x", Monitor: "m", Channel: "oncall",
			Event: model.EventFiring, DedupKey: "alert-x/firing/oncall", CreatedAt: t0}},
	}
	nothingWritten := func(t *testing.T, what string) {
		t.Helper()
		_, err := s.GetAlert(ctx, "alert-x")
		mustBe(t, what+": GetAlert", err, store.ErrNotFound)
		_, err = s.GetNotification(ctx, "n-x")
		mustBe(t, what+": GetNotification", err, store.ErrNotFound)
		if due, err := s.DueChannels(ctx, t0.Add(time.Hour)); err != nil || len(due) != 0 {
			t.Errorf("%s: DueChannels = %v, %v; want none", what, due, err)
		}
	}
	stillRunning := func(t *testing.T, what string, id string) {
		t.Helper()
		run, err := s.GetRun(ctx, id)
		if err != nil || run.Status != model.RunRunning || !run.FinishedAt.IsZero() || run.LeaseOwner != "a" {
			t.Errorf("%s: run = %+v, %v; want it running, held by a", what, run, err)
		}
	}

	r := claimAlertRun(t, s, "m", t0, "a")
	failing := &recorder{changes: changes, err: errBoom}
	err := s.FinishRun(ctx, r.ID, "a", model.RunSucceeded, "", t0.Add(time.Minute), failing.decide)
	mustBe(t, "FinishRun with a failing decider", err, errBoom)
	stillRunning(t, "after FinishRun's decider failed", r.ID)
	nothingWritten(t, "after FinishRun's decider failed")

	res := model.RunResult{RunID: r.ID, Sampled: 1, Metrics: []model.MetricResult{}, Operational: []model.OperationalResult{}}
	err = s.SaveRunResult(ctx, "a", res, nil, t0.Add(time.Minute), failing.decide)
	mustBe(t, "SaveRunResult with a failing decider", err, errBoom)
	stillRunning(t, "after SaveRunResult's decider failed", r.ID)
	nothingWritten(t, "after SaveRunResult's decider failed")
	_, err = s.RunResult(ctx, r.ID)
	mustBe(t, "RunResult after the decider failed", err, store.ErrNotFound)
	if len(failing.calls) != 2 {
		t.Errorf("failing decider called %d times, want twice", len(failing.calls))
	}

	// Another owner: ErrConflict, and the decider is not even asked.
	other := &recorder{changes: changes}
	mustBe(t, "FinishRun by another owner", s.FinishRun(ctx, r.ID, "b", model.RunSucceeded, "", t0.Add(time.Minute), other.decide),
		store.ErrConflict)
	mustBe(t, "SaveRunResult by another owner", s.SaveRunResult(ctx, "b", res, nil, t0.Add(time.Minute), other.decide),
		store.ErrConflict)
	if len(other.calls) != 0 {
		t.Errorf("decider called %d times for an owner that does not hold the run", len(other.calls))
	}
	stillRunning(t, "after another owner's attempts", r.ID)
	nothingWritten(t, "after another owner's attempts")

	// The owner finishes the run later, and its decider's changes commit.
	ok := &recorder{changes: changes}
	if err := s.SaveRunResult(ctx, "a", res, nil, t0.Add(2*time.Minute), ok.decide); err != nil {
		t.Fatal(err)
	}
	if snap := ok.snapshot(t, "finish after the failures"); len(snap.Trackers) != 0 || len(snap.Firing) != 0 {
		t.Errorf("snapshot after failed deciders = %+v, want no state", snap)
	}
	if run, err := s.GetRun(ctx, r.ID); err != nil || run.Status != model.RunSucceeded || !run.FinishedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("run finished later = %+v, %v", run, err)
	}
	if diff := cmp.Diff(changes.Alerts[0], getAlert(t, s, "alert-x")); diff != "" {
		t.Errorf("alert (-want +got):\n%s", diff)
	}
	// A finished run cannot be finished again, and its decider is not asked.
	again := &recorder{changes: changes}
	mustBe(t, "FinishRun of a finished run", s.FinishRun(ctx, r.ID, "a", model.RunFailed, "x", t0.Add(3*time.Minute), again.decide),
		store.ErrConflict)
	if len(again.calls) != 0 {
		t.Errorf("decider called %d times for a finished run", len(again.calls))
	}
	if got := alertNotifications(t, s, "alert-x"); len(got) != 1 {
		t.Errorf("notifications = %+v, want the one queued", got)
	}
}

// testOutbox checks the outbox: claims by channel and due time, oldest
// first; a lease held by one sender at a time and taken over once it
// ends, with attempts counted; settling only by the lease's owner; a
// retry not due before its time; sent and failed as ends; persistence.
func testOutbox(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	note := func(id, channel string, created time.Time) model.Notification {
		return model.Notification{ID: id, AlertID: "alert-1", Monitor: "m", Channel: channel, Event: model.EventFiring,
			DedupKey: "dedup-" + id, CreatedAt: created,
			Message: model.AlertMessage{AlertID: "alert-1", Monitor: "m", Event: model.EventFiring, State: model.AlertFiring}}
	}
	// Oldest first is by creation, then id: b, c, a.
	na, nb, nc := note("n-a", "oncall", t0.Add(time.Second)), note("n-b", "oncall", t0), note("n-c", "oncall", t0)
	nd := note("n-d", "mail", t0.Add(2*time.Second))
	nd.NextAttemptAt = t0.Add(time.Hour)
	d := &recorder{changes: store.AlertChanges{
		Alerts:        []model.Alert{{ID: "alert-1", Monitor: "m", Key: "no_data", Kind: model.AlertNoData, State: model.AlertFiring, FiredAt: t0}},
		Notifications: []model.Notification{na, nb, nc, nd},
	}}
	finishAlertRun(t, s, "m", t0.Add(-time.Hour), d.decide)
	if q, err := s.QueuedNotifications(ctx); err != nil || !cmp.Equal(q, map[string]int{"oncall": 3, "mail": 1}) {
		t.Errorf("QueuedNotifications = %v, %v; want oncall 3, mail 1 (due or not)", q, err)
	}

	due := func(t *testing.T, at time.Time, want ...string) {
		t.Helper()
		got, err := s.DueChannels(ctx, at)
		if err != nil {
			t.Fatalf("DueChannels(%s): %v", at, err)
		}
		sort.Strings(got)
		if !cmp.Equal(want, got, emptyAsNil) {
			t.Errorf("DueChannels(%s) = %v, want %v", at, got, want)
		}
	}
	claim := func(t *testing.T, owner, channel string, at time.Time, limit int, want ...string) []model.Notification {
		t.Helper()
		got, err := s.ClaimNotifications(ctx, owner, channel, at, time.Minute, limit)
		if err != nil {
			t.Fatalf("ClaimNotifications(%s, %s, %s): %v", owner, channel, at, err)
		}
		var ids []string
		for _, n := range got {
			ids = append(ids, n.ID)
			if n.LeaseOwner != owner || !n.LeaseUntil.Equal(at.Add(time.Minute)) || n.Status != model.NotificationPending {
				t.Errorf("claimed by %s at %s: %+v", owner, at, n)
			}
			if stored := getNotification(t, s, n.ID); !cmp.Equal(n, stored) {
				t.Errorf("claimed notification %s differs from the stored one:\n%s", n.ID, cmp.Diff(stored, n))
			}
		}
		if !cmp.Equal(want, ids, emptyAsNil) {
			t.Errorf("ClaimNotifications(%s, %s, %s, %d) = %v, want %v", owner, channel, at, limit, ids, want)
		}
		return got
	}
	settle := func(t *testing.T, id, owner string, status model.NotificationStatus, next time.Time, errMsg string, at time.Time) {
		t.Helper()
		if err := s.SettleNotification(ctx, id, owner, status, next, errMsg, at); err != nil {
			t.Fatalf("SettleNotification(%s, %s, %s): %v", id, owner, status, err)
		}
	}

	due(t, t0.Add(-time.Second))
	now := t0.Add(time.Minute)
	due(t, now, "oncall")
	due(t, t0.Add(time.Hour), "mail", "oncall")

	// Leases are exclusive: a, then b, then nothing left for c.
	if got := claim(t, "a", "oncall", now, 1, "n-b"); len(got) == 1 && got[0].Attempts != 1 {
		t.Errorf("first claim: attempts %d, want 1", got[0].Attempts)
	}
	claim(t, "b", "oncall", now, 10, "n-c", "n-a")
	claim(t, "c", "oncall", now, 10)
	due(t, now)
	claim(t, "c", "mail", now, 10) // not due before its next attempt

	// Only the lease's owner settles.
	mustBe(t, "SettleNotification by a non-owner", s.SettleNotification(ctx, "n-b", "b", model.NotificationSent, time.Time{}, "", now),
		store.ErrConflict)
	if n := getNotification(t, s, "n-b"); n.Status != model.NotificationPending || n.LeaseOwner != "a" {
		t.Errorf("after a non-owner's settle: %+v", n)
	}
	// A failed attempt: pending again, due at its next attempt.
	retry := now.Add(5 * time.Minute)
	settle(t, "n-b", "a", model.NotificationPending, retry, "HTTP 503", now)
	nb = queued(nb)
	nb.Attempts, nb.NextAttemptAt, nb.LastError = 1, retry, "HTTP 503"
	if diff := cmp.Diff(nb, getNotification(t, s, "n-b")); diff != "" {
		t.Errorf("notification to retry (-want +got):\n%s", diff)
	}
	mustBe(t, "second settle of one attempt", s.SettleNotification(ctx, "n-b", "a", model.NotificationSent, time.Time{}, "", now),
		store.ErrConflict)

	// b's lease ends: c takes its notifications over, counting attempts;
	// n-b is not due yet.
	later := now.Add(2 * time.Minute)
	due(t, later, "oncall")
	for _, n := range claim(t, "c", "oncall", later, 10, "n-c", "n-a") {
		if n.Attempts != 2 {
			t.Errorf("%s taken over: attempts %d, want 2", n.ID, n.Attempts)
		}
	}
	mustBe(t, "SettleNotification by the expired owner", s.SettleNotification(ctx, "n-c", "b", model.NotificationSent, time.Time{}, "", later),
		store.ErrConflict)
	settle(t, "n-c", "c", model.NotificationSent, time.Time{}, "", later)
	settle(t, "n-a", "c", model.NotificationFailed, time.Time{}, "gave up: HTTP 500 for 24h", later)
	mustBe(t, "SettleNotification of a failed notification", s.SettleNotification(ctx, "n-a", "c", model.NotificationPending, later, "", later),
		store.ErrConflict)
	if n := getNotification(t, s, "n-c"); n.Status != model.NotificationSent || !n.DoneAt.Equal(later) || n.LeaseOwner != "" || !n.LeaseUntil.IsZero() {
		t.Errorf("sent notification: %+v", n)
	}
	if n := getNotification(t, s, "n-a"); n.Status != model.NotificationFailed || !n.DoneAt.Equal(later) ||
		n.LastError != "gave up: HTTP 500 for 24h" || n.LeaseOwner != "" || n.Attempts != 2 {
		t.Errorf("failed notification: %+v", n)
	}

	// The retry comes due.
	claim(t, "a", "oncall", retry.Add(-time.Second), 10)
	if got := claim(t, "a", "oncall", retry, 10, "n-b"); len(got) == 1 && got[0].Attempts != 2 {
		t.Errorf("retry: attempts %d, want 2", got[0].Attempts)
	}
	settle(t, "n-b", "a", model.NotificationSent, time.Time{}, "", retry)
	due(t, t0.Add(2*time.Hour), "mail")

	if err := s.SettleNotification(ctx, "n-d", "a", model.NotificationStatus("lost"), time.Time{}, "", now); err == nil ||
		errors.Is(err, store.ErrConflict) {
		t.Errorf("SettleNotification with an unknown status: %v, want an error other than a conflict", err)
	}
	_, err := s.GetNotification(ctx, "nope")
	mustBe(t, "GetNotification(unknown)", err, store.ErrNotFound)

	// After a restart the outbox is as it was.
	before := alertNotifications(t, s, "alert-1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = o.store(t)
	if diff := cmp.Diff(before, alertNotifications(t, s, "alert-1")); diff != "" {
		t.Errorf("outbox changed across a restart (-before +after):\n%s", diff)
	}
	due(t, t0.Add(2*time.Hour), "mail")
	claim(t, "z", "mail", t0.Add(2*time.Hour), 10, "n-d")
}

func getNotification(t *testing.T, s store.Store, id string) model.Notification {
	t.Helper()
	n, err := s.GetNotification(context.Background(), id)
	if err != nil {
		t.Fatalf("GetNotification(%s): %v", id, err)
	}
	return n
}

// testListAlerts checks ListAlerts: newest fired first with ties by id,
// filters by monitor and state, cursor paging, and GetAlert.
func testListAlerts(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v := 0.5
	alert := func(id, monitor string, state model.AlertState, fired time.Duration) model.Alert {
		a := model.Alert{ID: id, Monitor: monitor, Key: "quality:" + id, Kind: model.AlertQuality, Subject: id, State: state,
			Summary: id + " is low", Value: &v, Threshold: "pass rate ≥ 70%", FiredAt: t0.Add(fired), FiringRunID: "run-" + id,
			LastRunID: "run-" + id}
		if state == model.AlertResolved {
			a.ResolvedRunID, a.ResolvedAt = "run-later", t0.Add(fired+time.Minute)
		}
		return a
	}
	a1 := alert("a1", "m1", model.AlertResolved, 0)
	a2 := alert("a2", "m1", model.AlertFiring, time.Hour)
	a3 := alert("a3", "m2", model.AlertFiring, time.Hour) // same time as a2: a3 first
	a4 := alert("a4", "m2", model.AlertResolved, 2*time.Hour)
	a5 := alert("a5", "m1", model.AlertFiring, 3*time.Hour)
	a5.Value = nil
	m1 := &recorder{changes: store.AlertChanges{Alerts: []model.Alert{a1, a2, a5}}}
	m2 := &recorder{changes: store.AlertChanges{Alerts: []model.Alert{a4, a3}}}
	finishAlertRun(t, s, "m1", t0, m1.decide)
	finishAlertRun(t, s, "m2", t0.Add(time.Hour), m2.decide)

	for _, tc := range []struct {
		name string
		q    store.AlertQuery
		want []model.Alert
	}{
		{"all", store.AlertQuery{}, []model.Alert{a5, a4, a3, a2, a1}},
		{"monitor", store.AlertQuery{Monitor: "m1"}, []model.Alert{a5, a2, a1}},
		{"state", store.AlertQuery{State: model.AlertFiring}, []model.Alert{a5, a3, a2}},
		{"monitor and state", store.AlertQuery{Monitor: "m2", State: model.AlertResolved}, []model.Alert{a4}},
		{"unknown monitor", store.AlertQuery{Monitor: "none"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.ListAlerts(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, page.Alerts, emptyAsNil); diff != "" {
				t.Errorf("ListAlerts(%+v) (-want +got):\n%s", tc.q, diff)
			}
			if page.NextCursor != "" {
				t.Errorf("ListAlerts(%+v): a next cursor on the only page", tc.q)
			}
		})
	}

	for _, tc := range []struct {
		name  string
		q     store.AlertQuery
		pages [][]string
	}{
		{"by two", store.AlertQuery{Limit: 2}, [][]string{{"a5", "a4"}, {"a3", "a2"}, {"a1"}}},
		{"by one, one monitor", store.AlertQuery{Limit: 1, Monitor: "m1"}, [][]string{{"a5"}, {"a2"}, {"a1"}}},
		{"full last page", store.AlertQuery{Limit: 3, State: model.AlertFiring}, [][]string{{"a5", "a3", "a2"}}},
	} {
		t.Run("paging "+tc.name, func(t *testing.T) {
			q := tc.q
			var got [][]string
			for range 10 {
				page, err := s.ListAlerts(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, a := range page.Alerts {
					ids = append(ids, a.ID)
				}
				got = append(got, ids)
				if page.NextCursor == "" {
					break
				}
				q.Cursor = page.NextCursor
			}
			if diff := cmp.Diff(tc.pages, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}

	_, err := s.ListAlerts(ctx, store.AlertQuery{Cursor: "not a cursor!"})
	mustBe(t, "ListAlerts with a bad cursor", err, store.ErrInvalidCursor)
	if diff := cmp.Diff(a3, getAlert(t, s, "a3")); diff != "" {
		t.Errorf("GetAlert (-want +got):\n%s", diff)
	}
	_, err = s.GetAlert(ctx, "nope")
	mustBe(t, "GetAlert(unknown)", err, store.ErrNotFound)
	if got := alertNotifications(t, s, "nope"); len(got) != 0 {
		t.Errorf("AlertNotifications(unknown) = %+v, want none", got)
	}
}

// testDeleteMonitorAlerts: deleting a monitor resolves its firing alerts
// (and only its own) and forgets its state machines, so that a monitor
// created again under the name starts afresh; its resolved alerts stay.
func testDeleteMonitorAlerts(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, name := range []string{"doomed", "kept"} {
		if _, _, err := s.PutMonitor(ctx, model.Monitor{Name: name}, 0); err != nil {
			t.Fatal(err)
		}
	}
	fire := func(monitor, id, key string, state model.AlertState, end time.Time) {
		t.Helper()
		a := model.Alert{ID: id, Monitor: monitor, Key: key, Kind: model.AlertQuality, State: state, FiredAt: end}
		if state == model.AlertResolved {
			a.ResolvedAt = end
		}
		rec := &recorder{changes: store.AlertChanges{
			Trackers: []model.AlertTracker{{Monitor: monitor, Key: key, Streak: 1, AlertID: id, LastWindowEnd: end}},
			Alerts:   []model.Alert{a}}}
		finishAlertRun(t, s, monitor, end, rec.decide)
	}
	fire("doomed", "d-old", "quality:fluency", model.AlertResolved, t0)
	fire("doomed", "d-firing", "quality:groundedness", model.AlertFiring, t0.Add(time.Hour))
	fire("kept", "k-firing", "quality:groundedness", model.AlertFiring, t0.Add(2*time.Hour))

	if firing, err := s.FiringAlerts(ctx); err != nil || len(firing) != 2 || firing["doomed"] != 1 || firing["kept"] != 1 {
		t.Errorf("FiringAlerts = %v, %v; want doomed 1, kept 1", firing, err)
	}
	deleted := t0.Add(3 * time.Hour)
	if err := s.DeleteMonitor(ctx, "doomed", deleted); err != nil {
		t.Fatal(err)
	}
	if a := getAlert(t, s, "d-firing"); a.State != model.AlertResolved || !a.ResolvedAt.Equal(deleted) || a.ResolvedRunID != "" {
		t.Errorf("firing alert of the deleted monitor: %+v, want resolved at the deletion without a run", a)
	}
	if a := getAlert(t, s, "d-old"); a.State != model.AlertResolved || !a.ResolvedAt.Equal(t0) {
		t.Errorf("resolved alert of the deleted monitor changed: %+v", a)
	}
	if a := getAlert(t, s, "k-firing"); a.State != model.AlertFiring {
		t.Errorf("another monitor's alert: %+v, want it still firing", a)
	}
	if firing, err := s.FiringAlerts(ctx); err != nil || len(firing) != 1 || firing["kept"] != 1 {
		t.Errorf("FiringAlerts after the deletion = %v, %v; want kept 1", firing, err)
	}

	// Created again: its first run's decider starts from nothing.
	if _, _, err := s.PutMonitor(ctx, model.Monitor{Name: "doomed"}, 0); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	finishAlertRun(t, s, "doomed", t0.Add(4*time.Hour), rec.decide)
	if snap := rec.snapshot(t, "first run after re-creation"); len(snap.Trackers) != 0 || len(snap.Firing) != 0 {
		t.Errorf("snapshot after re-creation: %+v, want empty", snap)
	}
}

// testAlertGroups checks the delivery groups: written with a run's end and
// read back in the next run's snapshot (by channel); flushed when due,
// once, in one transaction with the message they queue (linked to its
// alerts, whose last notification and reminders it updates); a flush that
// fails changes nothing; a monitor's deletion takes its groups.
func testAlertGroups(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, _, err := s.PutMonitor(ctx, model.Monitor{Name: "rag"}, 0); err != nil {
		t.Fatal(err)
	}
	end1 := t0.Add(time.Minute) // when the first run ends
	alert := model.Alert{ID: "alert-a", Monitor: "rag", Key: "quality:groundedness", Kind: model.AlertQuality,
		State: model.AlertFiring, FiredAt: end1}
	msg := model.AlertMessage{AlertID: alert.ID, Monitor: "rag", Kind: model.AlertQuality, Subject: "groundedness",
		State: model.AlertFiring, Summary: "groundedness pass rate 50.0% is below 70.0%", RunID: "r1"}
	oncall := model.AlertGroup{ID: "g-oncall", Monitor: "rag", Channel: "oncall", DueAt: end1,
		Alerts: []model.GroupedAlert{{AlertID: alert.ID, Key: alert.Key, State: model.AlertFiring, Message: msg}}}
	emails := model.AlertGroup{ID: "g-emails", Monitor: "rag", Channel: model.EmailsChannel, Recipients: []string{"ml@example.com"},
		DueAt: end1.Add(10 * time.Minute), Alerts: oncall.Alerts}
	rec := &recorder{changes: store.AlertChanges{Alerts: []model.Alert{alert}, Groups: []model.AlertGroup{oncall, emails}}}
	finishAlertRun(t, s, "rag", t0, rec.decide)

	rec2 := &recorder{}
	finishAlertRun(t, s, "rag", t0.Add(time.Hour), rec2.decide)
	want := map[string]model.AlertGroup{"oncall": oncall, model.EmailsChannel: emails}
	if diff := cmp.Diff(want, rec2.snapshot(t, "run 2").Groups, emptyAsNil); diff != "" {
		t.Errorf("groups in the next run's snapshot (-want +got):\n%s", diff)
	}
	if got, err := s.ListAlertGroups(ctx, "rag"); err != nil || len(got) != 2 || got[0].Channel != model.EmailsChannel || got[1].Channel != "oncall" {
		t.Errorf("ListAlertGroups = %+v, %v; want emails and oncall", got, err)
	}

	// flush tells of every member as the alert package does, or fails.
	var calls []string
	var failWith error
	flush := func(now time.Time) store.GroupFlush {
		return func(g model.AlertGroup, _ []model.Silence) (model.AlertGroup, []model.Notification, error) {
			calls = append(calls, g.Channel)
			if failWith != nil {
				return model.AlertGroup{}, nil, failWith
			}
			var items []model.AlertMessage
			for i, m := range g.Alerts {
				item := m.Message
				item.Change = model.ChangeNew
				if m.Told == model.AlertFiring {
					item.Change = model.ChangeFiring
				}
				items = append(items, item)
				g.Alerts[i].Told = m.State
			}
			g.Sent++
			g.LastSentAt, g.DueAt = now, time.Time{}
			if g.Channel == model.EmailsChannel && g.Sent == 1 {
				return g, nil, nil // nothing to say: only the group changes
			}
			return g, []model.Notification{{Monitor: g.Monitor, Channel: g.Channel, Recipients: g.Recipients,
				Event: model.EventFiring, DedupKey: fmt.Sprintf("group/%s/%d", g.ID, g.Sent), CreatedAt: now,
				Message: model.AlertMessage{Monitor: g.Monitor, Event: model.EventFiring, Alerts: items}}}, nil
		}
	}
	flushAt := func(now time.Time, wantCalls []string, wantQueued int) {
		t.Helper()
		calls = nil
		n, err := s.FlushAlertGroups(ctx, now, 10, flush(now))
		if err != nil || n != wantQueued {
			t.Errorf("FlushAlertGroups at %s = %d, %v; want %d queued", now, n, err, wantQueued)
		}
		if diff := cmp.Diff(wantCalls, calls, emptyAsNil); diff != "" {
			t.Errorf("groups flushed at %s (-want +got):\n%s", now, diff)
		}
	}

	// A flush that fails changes nothing: the group stays due.
	failWith = errors.New("no")
	if _, err := s.FlushAlertGroups(ctx, end1, 10, flush(end1)); err == nil {
		t.Error("a failing flush reported no error")
	}
	failWith = nil
	if ns := alertNotifications(t, s, alert.ID); len(ns) != 0 {
		t.Errorf("a failed flush queued %d notifications", len(ns))
	}

	flushAt(end1.Add(-time.Second), nil, 0) // nothing due yet
	flushAt(end1, []string{"oncall"}, 1)
	flushAt(end1, nil, 0) // flushed once
	ns := alertNotifications(t, s, alert.ID)
	if len(ns) != 1 || ns[0].Channel != "oncall" || ns[0].DedupKey != "group/g-oncall/1" || ns[0].Status != model.NotificationPending ||
		len(ns[0].Message.Alerts) != 1 || ns[0].Message.Alerts[0].Change != model.ChangeNew {
		t.Fatalf("the alert's notifications after the flush: %+v", ns)
	}
	if a := getAlert(t, s, alert.ID); !a.LastNotifiedAt.Equal(end1) || a.Reminders != 0 {
		t.Errorf("alert after its first message: notified %s, %d reminders; want %s, 0", a.LastNotifiedAt, a.Reminders, end1)
	}
	// The e-mails' group is due later; its flush queues nothing.
	flushAt(end1.Add(10*time.Minute), []string{model.EmailsChannel}, 0)

	// Both due again (a reminder): one flush queues both messages, and
	// the alert counts one reminder.
	remind := end1.Add(2 * time.Hour)
	var groups []model.AlertGroup
	for _, g := range rec2.snapshot(t, "run 2").Groups {
		g.DueAt = remind
		g.Alerts = []model.GroupedAlert{{AlertID: alert.ID, Key: alert.Key, State: model.AlertFiring, Told: model.AlertFiring, Message: msg}}
		g.Sent, g.LastSentAt = 1, end1
		groups = append(groups, g)
	}
	rec3 := &recorder{changes: store.AlertChanges{Groups: groups}}
	finishAlertRun(t, s, "rag", t0.Add(2*time.Hour), rec3.decide)
	flushAt(remind, []string{model.EmailsChannel, "oncall"}, 2)
	if a := getAlert(t, s, alert.ID); !a.LastNotifiedAt.Equal(remind) || a.Reminders != 1 {
		t.Errorf("alert after a reminder to two targets: notified %s, %d reminders; want %s, 1", a.LastNotifiedAt, a.Reminders, remind)
	}
	if ns := alertNotifications(t, s, alert.ID); len(ns) != 3 {
		t.Errorf("the alert has %d notifications, want 3", len(ns))
	}

	// Persisted, and gone with the monitor.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = o.store(t)
	got, err := s.ListAlertGroups(ctx, "rag")
	if err != nil || len(got) != 2 || got[1].Sent != 2 || !got[1].LastSentAt.Equal(remind) || !got[1].DueAt.IsZero() {
		t.Errorf("groups after a restart: %+v, %v", got, err)
	}
	if err := s.DeleteMonitor(ctx, "rag", remind); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ListAlertGroups(ctx, "rag"); err != nil || len(got) != 0 {
		t.Errorf("groups of a deleted monitor: %+v, %v", got, err)
	}
}

// testAckAlert checks acknowledgements: recorded on a firing alert with
// their time and comment, seen by the next run's decider (and kept when
// it writes the alert back), refused for an unknown or resolved alert.
func testAckAlert(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := model.Alert{ID: "alert-a", Monitor: "rag", Key: "quality:groundedness", Kind: model.AlertQuality, State: model.AlertFiring, FiredAt: t0}
	finishAlertRun(t, s, "rag", t0, (&recorder{changes: store.AlertChanges{Alerts: []model.Alert{a}}}).decide)

	acked := t0.Add(10 * time.Minute)
	got, err := s.AckAlert(ctx, a.ID, "looking into it", acked)
	if err != nil || !got.AckedAt.Equal(acked) || got.AckComment != "looking into it" || got.State != model.AlertFiring {
		t.Fatalf("AckAlert = %+v, %v", got, err)
	}
	if g := getAlert(t, s, a.ID); !g.AckedAt.Equal(acked) || g.AckComment != "looking into it" {
		t.Errorf("acknowledged alert reads %+v", g)
	}
	if _, err := s.AckAlert(ctx, "nope", "", acked); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AckAlert of an unknown alert: %v, want ErrNotFound", err)
	}

	// The next run sees it acknowledged, and writing it back keeps that.
	rec := &recorder{}
	decide := func(snap store.AlertSnapshot) (store.AlertChanges, error) {
		rec.calls = append(rec.calls, snap)
		b := snap.Firing[a.Key]
		b.State, b.ResolvedAt = model.AlertResolved, t0.Add(time.Hour)
		return store.AlertChanges{Alerts: []model.Alert{b}}, nil
	}
	finishAlertRun(t, s, "rag", t0.Add(time.Hour), decide)
	if b := rec.snapshot(t, "run 2").Firing[a.Key]; !b.AckedAt.Equal(acked) {
		t.Errorf("the next run's snapshot: %+v, want it acknowledged", b)
	}
	if g := getAlert(t, s, a.ID); g.State != model.AlertResolved || !g.AckedAt.Equal(acked) {
		t.Errorf("resolved alert: %+v, want its acknowledgement kept", g)
	}
	if _, err := s.AckAlert(ctx, a.ID, "", acked); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AckAlert of a resolved alert: %v, want ErrConflict", err)
	}
}

// testSilences checks silences: created with an id, listed newest first
// (all, in force at a time, of a monitor), ended early once; the silences
// of a group's monitor in force are handed to its flush; and a suppressed
// notification is recorded with its silence, done, never due, without
// marking its alerts notified.
func testSilences(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(monitor, key string, from time.Time, d time.Duration) model.Silence {
		t.Helper()
		x, err := s.CreateSilence(ctx, model.Silence{Monitor: monitor, Key: key, Comment: "deploying", CreatedAt: from, EndsAt: from.Add(d)})
		if err != nil || x.ID == "" {
			t.Fatalf("CreateSilence = %+v, %v", x, err)
		}
		return x
	}
	all := mk("rag", "", t0, 2*time.Hour)
	key := mk("rag", "quality:groundedness", t0.Add(time.Minute), time.Hour)
	other := mk("other", "", t0.Add(2*time.Minute), time.Hour)
	if _, err := s.CreateSilence(ctx, model.Silence{Monitor: "rag", CreatedAt: t0, EndsAt: t0}); err == nil {
		t.Error("a silence that ends as it starts was accepted")
	}
	ids := func(q store.SilenceQuery) []string {
		t.Helper()
		xs, err := s.ListSilences(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range xs {
			out = append(out, x.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    store.SilenceQuery
		want []string
	}{
		{"all", store.SilenceQuery{}, []string{other.ID, key.ID, all.ID}},
		{"of a monitor", store.SilenceQuery{Monitor: "rag"}, []string{key.ID, all.ID}},
		{"in force", store.SilenceQuery{ActiveAt: t0.Add(90 * time.Minute)}, []string{all.ID}},
		{"before any", store.SilenceQuery{ActiveAt: t0.Add(-time.Second)}, nil},
	} {
		if diff := cmp.Diff(tc.want, ids(tc.q), emptyAsNil); diff != "" {
			t.Errorf("ListSilences %s (-want +got):\n%s", tc.name, diff)
		}
	}

	// A due group's flush gets the silences of its monitor in force.
	alert := model.Alert{ID: "alert-a", Monitor: "rag", Key: "quality:groundedness", Kind: model.AlertQuality, State: model.AlertFiring, FiredAt: t0}
	g := model.AlertGroup{ID: "g1", Monitor: "rag", Channel: "oncall", DueAt: t0.Add(30 * time.Minute),
		Alerts: []model.GroupedAlert{{AlertID: alert.ID, Key: alert.Key, State: model.AlertFiring}}}
	finishAlertRun(t, s, "rag", t0, (&recorder{changes: store.AlertChanges{Alerts: []model.Alert{alert}, Groups: []model.AlertGroup{g}}}).decide)
	now := t0.Add(30 * time.Minute)
	var got []model.Silence
	n, err := s.FlushAlertGroups(ctx, now, 10, func(g model.AlertGroup, silences []model.Silence) (model.AlertGroup, []model.Notification, error) {
		got = silences
		g.DueAt = time.Time{}
		return g, []model.Notification{{Monitor: "rag", Event: model.EventFiring, DedupKey: "group/g1/1/suppressed", CreatedAt: now,
			Status: model.NotificationSuppressed, SilenceID: key.ID,
			Message: model.AlertMessage{Alerts: []model.AlertMessage{{AlertID: alert.ID, Change: model.ChangeNew}}}}}, nil
	})
	if err != nil || n != 0 {
		t.Errorf("FlushAlertGroups = %d, %v; want 0 queued for delivery", n, err)
	}
	var gotIDs []string
	for _, x := range got {
		gotIDs = append(gotIDs, x.ID)
	}
	if diff := cmp.Diff([]string{all.ID, key.ID}, gotIDs); diff != "" {
		t.Errorf("silences handed to the flush (-want +got):\n%s", diff)
	}
	ns := alertNotifications(t, s, alert.ID)
	if len(ns) != 1 || ns[0].Status != model.NotificationSuppressed || ns[0].SilenceID != key.ID || !ns[0].DoneAt.Equal(now) {
		t.Fatalf("suppressed notification: %+v", ns)
	}
	if due, err := s.DueChannels(ctx, now.Add(time.Hour)); err != nil || len(due) != 0 {
		t.Errorf("DueChannels with only a suppressed notification = %v, %v", due, err)
	}
	if a := getAlert(t, s, alert.ID); !a.LastNotifiedAt.IsZero() {
		t.Errorf("a suppressed message marked the alert notified at %s", a.LastNotifiedAt)
	}

	// Ended early, once.
	ended := t0.Add(40 * time.Minute)
	x, err := s.ExpireSilence(ctx, all.ID, ended)
	if err != nil || !x.EndsAt.Equal(ended) || !x.ExpiredAt.Equal(ended) {
		t.Errorf("ExpireSilence = %+v, %v", x, err)
	}
	if _, err := s.ExpireSilence(ctx, all.ID, ended); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ExpireSilence again: %v, want ErrConflict", err)
	}
	if _, err := s.ExpireSilence(ctx, "nope", ended); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ExpireSilence of an unknown silence: %v, want ErrNotFound", err)
	}
	if diff := cmp.Diff([]string{key.ID}, ids(store.SilenceQuery{ActiveAt: ended, Monitor: "rag"})); diff != "" {
		t.Errorf("in force after the expiry (-want +got):\n%s", diff)
	}
}
