package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// openReplicas opens n Stores on one fresh schema: n replicas sharing one
// database.
func openReplicas(t *testing.T, n int) []*Store {
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

// Replicas claiming at once take each run exactly once: 16 schedulers on
// two Stores claim and finish 300 runs; every run ends succeeded after
// one attempt, by the scheduler that claimed it.
func TestClaimRunReplicas(t *testing.T) {
	replicas := openReplicas(t, 2)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const runs, schedulers = 300, 16
	ids := map[string]bool{}
	for i := range runs {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		r, err := replicas[i%2].CreateRun(ctx, model.Run{Monitor: fmt.Sprintf("m%d", i%7), MonitorVersion: 1, ScheduledAt: at,
			WindowStart: at.Add(-time.Hour), WindowEnd: at, CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		ids[r.ID] = true
	}
	var mu sync.Mutex
	claimedBy := map[string][]string{} // run id -> owners that claimed it
	var wg sync.WaitGroup
	errs := make(chan error, schedulers)
	for i := range schedulers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, owner := replicas[i%2], fmt.Sprintf("replica%d-scheduler%d", i%2, i)
			for {
				now := t0.Add(time.Hour)
				r, ok, err := s.ClaimRun(ctx, owner, now, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				claimedBy[r.ID] = append(claimedBy[r.ID], owner)
				mu.Unlock()
				if err := s.FinishRun(ctx, r.ID, owner, model.RunSucceeded, "", now, nil); err != nil {
					errs <- fmt.Errorf("%s finishing %s: %w", owner, r.ID, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimedBy) != runs {
		t.Errorf("%d runs claimed, want %d", len(claimedBy), runs)
	}
	for id, owners := range claimedBy {
		if !ids[id] {
			t.Errorf("claimed unknown run %s", id)
		}
		if len(owners) != 1 {
			t.Errorf("run %s claimed %d times: %v", id, len(owners), owners)
			continue
		}
		r, err := replicas[1].GetRun(ctx, id)
		if err != nil || r.Status != model.RunSucceeded || r.Attempts != 1 || r.LeaseOwner != owners[0] {
			t.Errorf("run %s = %+v, %v; want succeeded after one attempt by %s", id, r, err, owners[0])
		}
	}
}

// A replica that dies holding a run loses it when its lease ends, and only
// then: the other replica takes it over as a second attempt, and the dead
// one can no longer end it.
func TestClaimRunTakeOver(t *testing.T) {
	replicas := openReplicas(t, 2)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r, err := replicas[0].CreateRun(ctx, model.Run{Monitor: "m", MonitorVersion: 1, ScheduledAt: t0, WindowStart: t0.Add(-time.Hour),
		WindowEnd: t0, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok, err := replicas[0].ClaimRun(ctx, "dead", t0, time.Minute); err != nil || !ok || c.ID != r.ID {
		t.Fatalf("claim = %+v, %v, %v", c, ok, err)
	}
	if _, ok, err := replicas[1].ClaimRun(ctx, "alive", t0.Add(30*time.Second), time.Minute); err != nil || ok {
		t.Fatalf("claim within the lease: %v, %v; want none", ok, err)
	}
	c, ok, err := replicas[1].ClaimRun(ctx, "alive", t0.Add(2*time.Minute), time.Minute)
	if err != nil || !ok || c.ID != r.ID || c.Attempts != 2 || c.LeaseOwner != "alive" {
		t.Fatalf("claim after the lease = %+v, %v, %v; want attempt 2 by alive", c, ok, err)
	}
	res := model.RunResult{RunID: r.ID, Sampled: 1}
	if err := replicas[0].SaveRunResult(ctx, "dead", res, nil, t0.Add(3*time.Minute), nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("SaveRunResult by the dead owner: %v, want ErrConflict", err)
	}
	if err := replicas[1].SaveRunResult(ctx, "alive", res, nil, t0.Add(3*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
}

// Replicas scheduling the same tick at once record it once, and agree on
// the run.
func TestScheduleRunReplicas(t *testing.T) {
	replicas := openReplicas(t, 2)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const schedulers = 12
	for tick := range 5 {
		at := t0.Add(time.Duration(tick) * 5 * time.Minute)
		type outcome struct {
			id      string
			created bool
			err     error
		}
		out := make(chan outcome, schedulers)
		for i := range schedulers {
			go func() {
				r, created, err := replicas[i%2].ScheduleRun(ctx, model.Run{Monitor: "m", MonitorVersion: 1, ScheduledAt: at,
					WindowStart: at.Add(-time.Hour), WindowEnd: at, CreatedAt: at}, at.Add(5*time.Minute))
				out <- outcome{r.ID, created, err}
			}()
		}
		created, ids := 0, map[string]bool{}
		for range schedulers {
			o := <-out
			if o.err != nil {
				t.Fatal(o.err)
			}
			ids[o.id] = true
			if o.created {
				created++
			}
		}
		if created != 1 || len(ids) != 1 {
			t.Fatalf("tick %d: %d created, %d run ids; want one run", tick, created, len(ids))
		}
		// Claimed, so that the next tick is a run of its own.
		if _, ok, err := replicas[tick%2].ClaimRun(ctx, "a", at, time.Hour); err != nil || !ok {
			t.Fatalf("claim: %v, %v", ok, err)
		}
	}
	if runs, err := replicas[0].ListRuns(ctx, "m", 0); err != nil || len(runs) != 5 {
		t.Fatalf("ListRuns = %d runs, %v; want 5", len(runs), err)
	}
}

// The PostgreSQL store is shared by replicas, so it offers no
// store.LeaseRecovery: expiring every lease at start would take the runs
// of replicas that are alive. The composition root must test for the
// interface, and the conformance suite skips ExpireLeases.
func TestNoLeaseRecovery(t *testing.T) {
	var s store.Store = (*Store)(nil)
	if _, ok := s.(store.LeaseRecovery); ok {
		t.Fatal("*postgres.Store implements store.LeaseRecovery")
	}
}

// Text PostgreSQL cannot hold (NUL, invalid UTF-8), from a judge's reply,
// is stored with U+FFFD instead of failing the run's end.
func TestResultUnstorableText(t *testing.T) {
	s := openReplicas(t, 1)[0]
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r, err := s.CreateRun(ctx, model.Run{Monitor: "m", MonitorVersion: 1, ScheduledAt: t0, WindowEnd: t0, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ClaimRun(ctx, "a", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	in := model.Instance{RunID: r.ID, Metric: "fluency", TraceID: "t1", Status: model.InstanceError, Error: "bad\x00reply",
		RawReply: "\xff{score"}
	if err := s.SaveRunResult(ctx, "a", model.RunResult{RunID: r.ID, JudgeErrors: 1, JudgeError: "x\x00y"}, []model.Instance{in}, t0, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.RunInstances(ctx, store.InstanceQuery{RunID: r.ID})
	if err != nil || len(got) != 1 || got[0].Error != "bad\uFFFDreply" || got[0].RawReply != "\uFFFD{score" {
		t.Fatalf("RunInstances = %+v, %v", got, err)
	}
}

// DeleteRuns deletes the old finished runs with their results and
// instances, a bounded number at a time, and keeps the runs not ended and
// the recent ones (the conformance suite's DeleteRollupsAndRuns checks
// the same after writing spans).
func TestDeleteRuns(t *testing.T) {
	s := openReplicas(t, 1)[0]
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	score := 3.0
	finish := func(at time.Time) model.Run {
		t.Helper()
		r, err := s.CreateRun(ctx, model.Run{Monitor: "m", MonitorVersion: 1, ScheduledAt: at, WindowEnd: at, CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if c, ok, err := s.ClaimRun(ctx, "a", at, time.Minute); err != nil || !ok || c.ID != r.ID {
			t.Fatalf("claim = %+v, %v, %v", c, ok, err)
		}
		in := []model.Instance{{RunID: r.ID, Metric: "fluency", TraceID: "t1", Status: model.InstanceJudged, Score: &score}}
		if err := s.SaveRunResult(ctx, "a", model.RunResult{RunID: r.ID, Sampled: 1}, in, at, nil); err != nil {
			t.Fatal(err)
		}
		return r
	}
	var old []model.Run
	for i := range 3 {
		old = append(old, finish(t0.Add(time.Duration(i)*time.Minute)))
	}
	recent := finish(t0.Add(3 * time.Hour))
	pending, err := s.CreateRun(ctx, model.Run{Monitor: "m", MonitorVersion: 1, ScheduledAt: t0, WindowEnd: t0, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	var counts []int64
	for {
		n, err := s.DeleteRuns(ctx, t0.Add(time.Hour), 2)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		counts = append(counts, n)
	}
	if fmt.Sprint(counts) != "[2 1]" {
		t.Errorf("DeleteRuns deleted %v, want [2 1]", counts)
	}
	for _, r := range old {
		if _, err := s.GetRun(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRun of deleted run: %v", err)
		}
		if _, err := s.RunResult(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RunResult of deleted run: %v", err)
		}
		if in, err := s.RunInstances(ctx, store.InstanceQuery{RunID: r.ID}); err != nil || len(in) != 0 {
			t.Errorf("RunInstances of deleted run = %v, %v", in, err)
		}
	}
	for _, r := range []model.Run{recent, pending} {
		if _, err := s.GetRun(ctx, r.ID); err != nil {
			t.Errorf("run %s deleted: %v", r.ID, err)
		}
	}
	if in, err := s.RunInstances(ctx, store.InstanceQuery{RunID: recent.ID}); err != nil || len(in) != 1 {
		t.Errorf("RunInstances of the recent run = %v, %v", in, err)
	}
}
