package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// testRunCoalesce checks that scheduled runs of a monitor that fell behind
// coalesce: while one is pending, a later tick moves it instead of
// queueing a second; once it is claimed, the next tick is a run of its
// own; manual runs never coalesce.
func testRunCoalesce(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tick := func(at time.Time, version int64) model.Run {
		return model.Run{Monitor: "m", MonitorVersion: version, ScheduledAt: at, WindowStart: at.Add(-time.Hour),
			WindowEnd: at, CreatedAt: at.Add(time.Second)}
	}
	first, created, err := s.ScheduleRun(ctx, tick(t0, 1), t0.Add(time.Minute))
	if err != nil || !created {
		t.Fatalf("first tick: created %v, %v", created, err)
	}
	manual, err := s.CreateRun(ctx, model.Run{Monitor: "m", MonitorVersion: 1, ScheduledAt: t0, WindowStart: t0.Add(-time.Hour),
		WindowEnd: t0, CreatedAt: t0.Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		r, created, err := s.ScheduleRun(ctx, tick(at, 2), at.Add(time.Minute))
		if err != nil || created || r.ID != first.ID {
			t.Fatalf("tick %d: run %s created %v (%v); want the pending %s moved", i, r.ID, created, err, first.ID)
		}
		if !r.ScheduledAt.Equal(at) || !r.WindowEnd.Equal(at) || r.MonitorVersion != 2 {
			t.Fatalf("tick %d: coalesced run %+v, want it at %s, version 2", i, r, at)
		}
	}
	// An older tick (a replica behind) does not move it back.
	if r, created, err := s.ScheduleRun(ctx, tick(t0.Add(90*time.Second), 2), t0.Add(4*time.Minute)); err != nil || created || !r.ScheduledAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("older tick: %+v created %v (%v)", r, created, err)
	}
	got, err := s.GetRun(ctx, first.ID)
	if err != nil || !got.ScheduledAt.Equal(t0.Add(3*time.Minute)) || !got.WindowStart.Equal(t0.Add(3*time.Minute-time.Hour)) {
		t.Fatalf("GetRun = %+v, %v; want the latest tick's window", got, err)
	}
	runs, err := s.ListRuns(ctx, "m", 0)
	if err != nil || len(runs) != 2 {
		t.Fatalf("ListRuns = %d runs, %v; want the coalesced run and the manual one", len(runs), err)
	}
	// Claimed, it no longer absorbs ticks.
	now := t0.Add(4 * time.Minute)
	c, ok, err := s.ClaimRun(ctx, "a", now, time.Minute)
	if err != nil || !ok || c.ID != first.ID {
		t.Fatalf("claim = %+v, %v, %v", c, ok, err)
	}
	next, created, err := s.ScheduleRun(ctx, tick(now, 2), now.Add(time.Minute))
	if err != nil || !created || next.ID == first.ID {
		t.Fatalf("tick after the claim: %s created %v (%v); want a new run", next.ID, created, err)
	}
	if m, err := s.GetRun(ctx, manual.ID); err != nil || m.Status != model.RunPending || !m.ScheduledAt.Equal(t0) {
		t.Fatalf("manual run = %+v, %v; want it untouched", m, err)
	}
}

// testDeleteMonitorRuns checks that deleting a monitor fails its queued
// runs, leaves a running one to finish, and forgets its next run time.
func testDeleteMonitorRuns(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mon := model.Monitor{Name: "doomed", Target: model.MonitorTarget{Service: "svc"}, Schedule: model.Schedule{Cron: "* * * * *"},
		Window: model.Window{Lookback: "PT1H"}}
	if _, _, err := s.PutMonitor(ctx, mon, 0); err != nil {
		t.Fatal(err)
	}
	other := mon
	other.Name = "kept"
	if _, _, err := s.PutMonitor(ctx, other, 0); err != nil {
		t.Fatal(err)
	}
	run := func(name string, i int) model.Run {
		at := t0.Add(time.Duration(i) * time.Second)
		r, err := s.CreateRun(ctx, model.Run{Monitor: name, MonitorVersion: 1, ScheduledAt: at, WindowStart: at.Add(-time.Hour),
			WindowEnd: at, CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	running := run("doomed", 0)
	if c, ok, err := s.ClaimRun(ctx, "a", t0.Add(time.Minute), time.Minute); err != nil || !ok || c.ID != running.ID {
		t.Fatalf("claim = %+v, %v, %v", c, ok, err)
	}
	run("doomed", 1)
	run("doomed", 2)
	if _, _, err := s.ScheduleRun(ctx, model.Run{Monitor: "doomed", MonitorVersion: 1, ScheduledAt: t0.Add(time.Minute),
		WindowStart: t0, WindowEnd: t0.Add(time.Minute), CreatedAt: t0.Add(3 * time.Second)}, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	keptRun := run("kept", 4)

	now := t0.Add(2 * time.Minute)
	if err := s.DeleteMonitor(ctx, "doomed", now); err != nil {
		t.Fatal(err)
	}
	runs, err := s.ListRuns(ctx, "doomed", 0)
	if err != nil || len(runs) != 4 {
		t.Fatalf("ListRuns = %d, %v; want 4", len(runs), err)
	}
	for _, r := range runs {
		if r.ID == running.ID {
			if r.Status != model.RunRunning {
				t.Errorf("the running run is %s, want it left running", r.Status)
			}
			continue
		}
		if r.Status != model.RunFailed || !strings.Contains(r.Error, "deleted") || !r.FinishedAt.Equal(now) {
			t.Errorf("queued run %s: %s %q finished %s; want failed, saying the monitor was deleted, at %s", r.ID, r.Status, r.Error, r.FinishedAt, now)
		}
	}
	if r, err := s.GetRun(ctx, keptRun.ID); err != nil || r.Status != model.RunPending {
		t.Fatalf("the other monitor's run = %+v, %v; want it pending", r, err)
	}
	if c, ok, err := s.ClaimRun(ctx, "b", now, time.Minute); err != nil || !ok || c.ID != keptRun.ID {
		t.Fatalf("claim after the delete = %+v, %v, %v; want the other monitor's run", c, ok, err)
	}
	next, err := s.NextRunTimes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := next["doomed"]; ok {
		t.Errorf("the deleted monitor still has a next run time")
	}
}

// testExpireLeases checks store.LeaseRecovery, for the stores that
// provide it: a run held by a process that is gone is claimable at once,
// its attempt still counted.
func testExpireLeases(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	lr, ok := s.(store.LeaseRecovery)
	if !ok {
		t.Skip("the store is shared by several processes: leases run out on their own")
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r, err := s.CreateRun(ctx, model.Run{Monitor: "m", MonitorVersion: 1, ScheduledAt: t0, WindowStart: t0.Add(-time.Hour),
		WindowEnd: t0, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ClaimRun(ctx, "dead", t0, time.Hour); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if _, ok, err := s.ClaimRun(ctx, "new", t0.Add(time.Minute), time.Hour); err != nil || ok {
		t.Fatalf("claim within the lease found a run (%v, %v)", ok, err)
	}
	n, err := lr.ExpireLeases(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ExpireLeases = %d, %v; want 1", n, err)
	}
	c, ok, err := s.ClaimRun(ctx, "new", t0.Add(time.Minute), time.Hour)
	if err != nil || !ok || c.ID != r.ID || c.Attempts != 2 || c.LeaseOwner != "new" {
		t.Fatalf("claim after ExpireLeases = %+v, %v, %v; want the run, attempt 2", c, ok, err)
	}
	if err := s.FinishRun(ctx, r.ID, "dead", model.RunSucceeded, "", t0.Add(2*time.Minute), nil); err == nil {
		t.Fatal("the dead owner finished the run taken over")
	}
}
