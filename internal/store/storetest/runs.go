package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// testRuns checks monitor runs and the scheduler's state: a tick recorded
// once however often it is scheduled, claims in creation order, a run whose
// lease ended claimed again with its attempts counted, finishing only by
// the owner, listing newest first, and persistence.
func testRuns(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tick := func(m string, at time.Time) model.Run {
		return model.Run{Monitor: m, MonitorVersion: 2, ScheduledAt: at, WindowStart: at.Add(-7 * 24 * time.Hour),
			WindowEnd: at, CreatedAt: at.Add(time.Second)}
	}

	r1, created, err := s.ScheduleRun(ctx, tick("m1", t0), t0.Add(5*time.Minute))
	if err != nil || !created || r1.ID == "" || r1.Status != model.RunPending || r1.Trigger != model.TriggerSchedule {
		t.Fatalf("ScheduleRun = %+v, %v, %v", r1, created, err)
	}
	// The same tick again (a restart, a second replica): not recorded twice.
	again, created, err := s.ScheduleRun(ctx, tick("m1", t0), t0.Add(10*time.Minute))
	if err != nil || created || again.ID != r1.ID {
		t.Fatalf("ScheduleRun of the same tick = %s, created %v, %v; want %s, false", again.ID, created, err, r1.ID)
	}
	next, err := s.NextRunTimes(ctx)
	if err != nil || !next["m1"].Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("NextRunTimes = %v, %v; want m1 at %s", next, err, t0.Add(10*time.Minute))
	}
	if err := s.SetNextRunTime(ctx, "m2", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	manual, err := s.CreateRun(ctx, model.Run{Monitor: "m2", MonitorVersion: 1, ScheduledAt: t0, WindowStart: t0.Add(-time.Hour),
		WindowEnd: t0, CreatedAt: t0.Add(2 * time.Second)})
	if err != nil || manual.Trigger != model.TriggerManual {
		t.Fatalf("CreateRun = %+v, %v", manual, err)
	}

	// Claims come oldest first; nothing is left after two.
	now := t0.Add(time.Minute)
	c1, ok, err := s.ClaimRun(ctx, "a", now, time.Minute)
	if err != nil || !ok || c1.ID != r1.ID || c1.Status != model.RunRunning || c1.Attempts != 1 || c1.LeaseOwner != "a" {
		t.Fatalf("first claim = %+v, %v, %v", c1, ok, err)
	}
	c2, ok, err := s.ClaimRun(ctx, "b", now, time.Minute)
	if err != nil || !ok || c2.ID != manual.ID {
		t.Fatalf("second claim = %+v, %v, %v", c2, ok, err)
	}
	if _, ok, err := s.ClaimRun(ctx, "b", now, time.Minute); err != nil || ok {
		t.Fatalf("third claim found a run (%v, %v)", ok, err)
	}
	mustBe(t, "FinishRun by another owner", s.FinishRun(ctx, c1.ID, "b", model.RunSucceeded, "", now, nil), store.ErrConflict)

	// Owner a dies; after its lease, b takes the run over as a second attempt.
	later := now.Add(2 * time.Minute)
	c3, ok, err := s.ClaimRun(ctx, "b", later, time.Minute)
	if err != nil || !ok || c3.ID != r1.ID || c3.Attempts != 2 || c3.LeaseOwner != "b" || !c3.StartedAt.Equal(now) {
		t.Fatalf("claim after the lease = %+v, %v, %v", c3, ok, err)
	}
	mustBe(t, "FinishRun by the old owner", s.FinishRun(ctx, c1.ID, "a", model.RunSucceeded, "", later, nil), store.ErrConflict)
	if err := s.FinishRun(ctx, c2.ID, "b", model.RunFailed, "judge unreachable", later, nil); err != nil {
		t.Fatal(err)
	}
	// b renews its lease as the run goes; the old owner cannot.
	progress := model.RunProgress{Done: 4, Total: 10}
	if err := s.RenewRun(ctx, c3.ID, "b", later.Add(10*time.Minute), progress); err != nil {
		t.Fatal(err)
	}
	mustBe(t, "RenewRun by the old owner", s.RenewRun(ctx, c3.ID, "a", later.Add(time.Hour), progress), store.ErrConflict)
	mustBe(t, "ReleaseRun by the old owner", s.ReleaseRun(ctx, c3.ID, "a"), store.ErrConflict)
	if _, ok, err := s.ClaimRun(ctx, "c", later.Add(5*time.Minute), time.Minute); err != nil || ok {
		t.Fatalf("claim of a renewed run before its new lease ended: %v, %v", ok, err)
	}
	if got, err := s.GetRun(ctx, c3.ID); err != nil || got.Progress != progress || !got.LeaseUntil.Equal(later.Add(10*time.Minute)) {
		t.Fatalf("renewed run = %+v, %v", got, err)
	}
	if err := s.FinishRun(ctx, c3.ID, "b", model.RunSucceeded, "", later, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, c2.ID, "b", model.RunPending, "", later, nil); err == nil {
		t.Error("FinishRun with status pending: no error")
	}

	check := func(t *testing.T, s store.Store) {
		t.Helper()
		got, err := s.GetRun(ctx, r1.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := r1
		want.Status, want.Attempts, want.LeaseOwner, want.Progress = model.RunSucceeded, 2, "b", progress
		want.StartedAt, want.FinishedAt = now, later
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("finished run (-want +got):\n%s", diff)
		}
		failed, err := s.GetRun(ctx, manual.ID)
		if err != nil || failed.Status != model.RunFailed || failed.Error != "judge unreachable" {
			t.Errorf("failed run = %+v, %v", failed, err)
		}
		_, err = s.GetRun(ctx, "nope")
		mustBe(t, "GetRun(unknown)", err, store.ErrNotFound)
	}
	check(t, s)

	r2, _, err := s.ScheduleRun(ctx, tick("m1", t0.Add(5*time.Minute)), t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// A scheduler shutting down gives its run back: it can be claimed at
	// once, and the attempt given back is not counted.
	c4, ok, err := s.ClaimRun(ctx, "c", later, time.Minute)
	if err != nil || !ok || c4.ID != r2.ID || c4.Attempts != 1 {
		t.Fatalf("claim of %s = %+v, %v, %v", r2.ID, c4, ok, err)
	}
	if err := s.ReleaseRun(ctx, c4.ID, "c"); err != nil {
		t.Fatal(err)
	}
	mustBe(t, "RenewRun of a released run", s.RenewRun(ctx, c4.ID, "c", later.Add(time.Hour), progress), store.ErrConflict)
	c5, ok, err := s.ClaimRun(ctx, "d", later, time.Minute)
	if err != nil || !ok || c5.ID != r2.ID || c5.Attempts != 1 || c5.LeaseOwner != "d" {
		t.Fatalf("claim after the release = %+v, %v, %v", c5, ok, err)
	}
	list, err := s.ListRuns(ctx, "m1", 10)
	if err != nil || len(list) != 2 || list[0].ID != r2.ID || list[1].ID != r1.ID {
		t.Fatalf("ListRuns = %v, %v; want %s then %s", list, err, r2.ID, r1.ID)
	}
	if list, _ := s.ListRuns(ctx, "m1", 1); len(list) != 1 {
		t.Errorf("ListRuns with limit 1: %d runs", len(list))
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = o.store(t)
	check(t, s)
	if next, _ := s.NextRunTimes(ctx); len(next) != 2 || !next["m2"].Equal(t0.Add(time.Hour)) {
		t.Errorf("after a restart NextRunTimes = %v", next)
	}
}
