package monitor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func at(hhmm string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", "2026-03-01 "+hhmm)
	if err != nil {
		panic(err)
	}
	return t
}

// executions records the runs an executor was given.
type executions struct {
	mu   sync.Mutex
	runs []model.Run
	fn   func(model.Run) error
}

func (e *executions) execute(_ context.Context, r model.Run, _ model.Monitor, _ Progress) (Outcome, error) {
	e.mu.Lock()
	e.runs = append(e.runs, r)
	fn := e.fn
	e.mu.Unlock()
	if fn != nil {
		if err := fn(r); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{Result: model.RunResult{Sampled: 1}}, nil
}

func (e *executions) ticks() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, r := range e.runs {
		out = append(out, r.ScheduledAt.Format("15:04"))
	}
	return out
}

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func every5(name string) model.Monitor {
	rate := 0.7
	return model.Monitor{Name: name, Target: model.MonitorTarget{Service: "svc"},
		Schedule: model.Schedule{Cron: "*/5 * * * *", Timezone: "UTC"}, Window: model.Window{Lookback: "P7D", Offset: "PT1H"},
		SamplingRate: 1, Quality: map[string]model.QualityThreshold{"lexical_groundedness": {MinPassRate: &rate}}}
}

func newTestScheduler(t *testing.T, st SchedulerStore, c *clock, ex *executions, owner string) *Scheduler {
	t.Helper()
	s, err := NewScheduler(SchedulerOptions{Store: st, Execute: ex.execute, Now: c.Now, Owner: owner, Lease: 10 * time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// step runs one scheduling pass and one dispatch at time hhmm and waits
// for the runs it started.
func step(t *testing.T, s *Scheduler, c *clock, hhmm string) {
	t.Helper()
	c.Set(at(hhmm))
	ctx := context.Background()
	if err := s.Schedule(ctx); err != nil {
		t.Fatalf("Schedule at %s: %v", hhmm, err)
	}
	if err := s.Dispatch(ctx); err != nil {
		t.Fatalf("Dispatch at %s: %v", hhmm, err)
	}
	s.Wait()
}

// TestSchedulerRunsEachTickOnce follows a monitor through its first ticks,
// a restart after half an hour down (one catch-up run, not six), and a
// second scheduler on the same store (nothing run twice).
func TestSchedulerRunsEachTickOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fw.db")
	st := openStore(t, path)
	if _, _, err := st.PutMonitor(ctx, every5("m"), 0); err != nil {
		t.Fatal(err)
	}
	off := every5("off")
	off.Disabled = true
	if _, _, err := st.PutMonitor(ctx, off, 0); err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	ex := &executions{}
	a := newTestScheduler(t, st, c, ex, "a")
	b := newTestScheduler(t, st, c, ex, "b")

	step(t, a, c, "10:02") // first seen: next run at 10:05, nothing now
	step(t, a, c, "10:04")
	step(t, a, c, "10:05")
	step(t, b, c, "10:05") // another replica at the same moment
	step(t, a, c, "10:06")
	step(t, a, c, "10:10")
	if got := strings.Join(ex.ticks(), " "); got != "10:05 10:10" {
		t.Fatalf("runs before the restart: %s, want 10:05 10:10", got)
	}
	// Down from 10:11 to 10:42: one run, of the latest tick missed (10:40).
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path)
	a2 := newTestScheduler(t, st, c, ex, "a2")
	step(t, a2, c, "10:42")
	step(t, a2, c, "10:44")
	step(t, a2, c, "10:45")
	if got := strings.Join(ex.ticks(), " "); got != "10:05 10:10 10:40 10:45" {
		t.Errorf("runs: %s, want 10:05 10:10 10:40 10:45", got)
	}
	runs, err := st.ListRuns(ctx, "m", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 {
		t.Fatalf("%d runs stored, want 4", len(runs))
	}
	last := runs[0]
	if last.Status != model.RunSucceeded || last.Attempts != 1 || last.MonitorVersion != 1 {
		t.Errorf("last run %+v", last)
	}
	// The window ends an hour (the offset) before the tick and spans 7 days.
	if !last.WindowEnd.Equal(at("09:45")) || !last.WindowStart.Equal(at("09:45").Add(-7*24*time.Hour)) {
		t.Errorf("window [%s, %s)", last.WindowStart, last.WindowEnd)
	}
	if off, _ := st.ListRuns(ctx, "off", 10); len(off) != 0 {
		t.Errorf("a disabled monitor ran %d times", len(off))
	}
}

// crashingStore is a store whose scheduler dies without giving its runs
// back: ReleaseRun fails as if the process were gone.
type crashingStore struct{ *sqlite.Store }

func (crashingStore) ReleaseRun(context.Context, string, string) error {
	return errors.New("process killed")
}

// TestSchedulerTakesOverCrashedRun: a scheduler dies in the middle of a
// run without giving it back; once its lease ends another finishes it (a
// second attempt).
func TestSchedulerTakesOverCrashedRun(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	if _, _, err := st.PutMonitor(ctx, every5("m"), 0); err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	started := make(chan struct{})
	stop := make(chan struct{})
	ex := &executions{fn: func(model.Run) error {
		close(started)
		<-stop
		return context.Canceled
	}}
	a := newTestScheduler(t, crashingStore{st}, c, ex, "a")
	step(t, a, c, "10:02")
	c.Set(at("10:05"))
	if err := a.Schedule(ctx); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	if err := a.Dispatch(actx); err != nil {
		t.Fatal(err)
	}
	<-started
	cancel() // scheduler a dies mid-run
	close(stop)
	a.Wait()

	ex2 := &executions{}
	b := newTestScheduler(t, st, c, ex2, "b")
	c.Set(at("10:09")) // lease not over: nothing to take
	if err := b.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	b.Wait()
	if len(ex2.ticks()) != 0 {
		t.Fatalf("run taken over before its lease ended")
	}
	c.Set(at("10:16"))
	if err := b.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	b.Wait()
	runs, _ := st.ListRuns(ctx, "m", 10)
	if len(runs) != 1 || runs[0].Status != model.RunSucceeded || runs[0].Attempts != 2 || runs[0].LeaseOwner != "b" {
		t.Fatalf("after the take-over: %+v", runs)
	}
}

func TestSchedulerRecordsFailures(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	for _, name := range []string{"errs", "panics"} {
		if _, _, err := st.PutMonitor(ctx, every5(name), 0); err != nil {
			t.Fatal(err)
		}
	}
	c := &clock{}
	ex := &executions{fn: func(r model.Run) error {
		if r.Monitor == "panics" {
			panic("evaluator bug")
		}
		return errors.New("judge unreachable")
	}}
	s := newTestScheduler(t, st, c, ex, "a")
	step(t, s, c, "10:02")
	step(t, s, c, "10:05")
	for name, want := range map[string]string{"errs": "judge unreachable", "panics": "panic: evaluator bug"} {
		runs, _ := st.ListRuns(ctx, name, 10)
		if len(runs) != 1 || runs[0].Status != model.RunFailed || runs[0].Error != want {
			t.Errorf("%s: runs %+v, want one failed with %q", name, runs, want)
		}
	}
}

// TestSchedulerReleasesOnShutdown: a scheduler shutting down in the middle
// of a run gives it back; the next scheduler takes it at once, and the
// interrupted attempt does not count.
func TestSchedulerReleasesOnShutdown(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	if _, _, err := st.PutMonitor(ctx, every5("m"), 0); err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	var stop context.CancelFunc
	ex := &executions{fn: func(model.Run) error { stop(); return context.Canceled }}
	a := newTestScheduler(t, st, c, ex, "a")
	step(t, a, c, "10:02")
	c.Set(at("10:05"))
	if err := a.Schedule(ctx); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	stop = cancel
	_ = a.Dispatch(actx)
	a.Wait()
	runs, _ := st.ListRuns(ctx, "m", 10)
	if len(runs) != 1 || runs[0].Status != model.RunRunning || runs[0].Attempts != 0 || runs[0].LeaseOwner != "" {
		t.Fatalf("after the shutdown: %+v, want the run given back", runs)
	}

	ex2 := &executions{}
	b := newTestScheduler(t, st, c, ex2, "b")
	if err := b.Dispatch(ctx); err != nil { // still 10:05: no lease to wait for
		t.Fatal(err)
	}
	b.Wait()
	runs, _ = st.ListRuns(ctx, "m", 10)
	if len(runs) != 1 || runs[0].Status != model.RunSucceeded || runs[0].Attempts != 1 || runs[0].LeaseOwner != "b" {
		t.Fatalf("after the restart: %+v, want it done by b in one counted attempt", runs)
	}
}

// lossyStore is a store on which the lease renewals of a run can be made
// to fail as if another scheduler had taken the run over.
type lossyStore struct {
	*sqlite.Store
	lost chan struct{} // closed: renewals conflict
}

func (s lossyStore) RenewRun(ctx context.Context, id, owner string, until time.Time, p model.RunProgress) error {
	select {
	case <-s.lost:
		return fmt.Errorf("taken over: %w", store.ErrConflict)
	default:
		return s.Store.RenewRun(ctx, id, owner, until, p)
	}
}

// TestSchedulerHeartbeat: while a run executes, its scheduler renews its
// lease from the clock and records its progress; when a renewal finds the
// run taken over, the run is stopped and abandoned to its new owner.
func TestSchedulerHeartbeat(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	if _, _, err := st.PutMonitor(ctx, every5("m"), 0); err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	ls := lossyStore{Store: st, lost: make(chan struct{})}
	// waitFor polls the store until the run satisfies ok; the heartbeat
	// runs on real time, every millisecond.
	waitFor := func(what string, ok func(model.Run) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			runs, err := st.ListRuns(ctx, "m", 1)
			if err == nil && len(runs) == 1 && ok(runs[0]) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never happened; last %+v (%v)", what, runs, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	var ctxErr error
	execute := func(ctx context.Context, r model.Run, _ model.Monitor, progress Progress) (Outcome, error) {
		progress(0, 10)
		progress(3, 10)
		progress(2, 10) // reported late by a slower worker
		waitFor("progress recorded", func(r model.Run) bool { return r.Progress == model.RunProgress{Done: 3, Total: 10} })
		c.Set(at("10:30"))
		waitFor("lease renewed", func(r model.Run) bool { return r.LeaseUntil.Equal(at("10:40")) })
		close(ls.lost)
		<-ctx.Done()
		ctxErr = ctx.Err()
		return Outcome{}, ctx.Err()
	}
	s, err := NewScheduler(SchedulerOptions{Store: ls, Execute: execute, Now: c.Now, Owner: "a",
		Lease: 10 * time.Minute, Heartbeat: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	step(t, s, c, "10:02")
	step(t, s, c, "10:05")
	if !errors.Is(ctxErr, context.Canceled) {
		t.Errorf("the run's context ended with %v, want it cancelled when the lease was lost", ctxErr)
	}
	runs, _ := st.ListRuns(ctx, "m", 1)
	if len(runs) != 1 || runs[0].Status != model.RunRunning || runs[0].LeaseOwner != "a" || !runs[0].FinishedAt.IsZero() {
		t.Errorf("after the lease was lost: %+v, want the run left as it was to its new owner", runs)
	}
}

// TestSchedulerGivesUp: a run whose schedulers stop twice is failed when
// claimed a third time, rather than retried forever.
func TestSchedulerGivesUp(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	if _, _, err := st.PutMonitor(ctx, every5("m"), 0); err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	var stop context.CancelFunc
	// The scheduler stops while the run executes.
	stopping := &executions{fn: func(model.Run) error { stop(); return context.Canceled }}
	s := newTestScheduler(t, crashingStore{st}, c, stopping, "a")
	step(t, s, c, "10:02")
	c.Set(at("10:05"))
	if err := s.Schedule(ctx); err != nil {
		t.Fatal(err)
	}
	for i, now := range []string{"10:05", "10:16"} {
		c.Set(at(now))
		dctx, cancel := context.WithCancel(ctx)
		stop = cancel
		err := s.Dispatch(dctx)
		s.Wait()
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("dispatch %d: %v", i, err)
		}
	}
	if got := len(stopping.ticks()); got != 2 {
		t.Fatalf("executed %d times before giving up, want 2", got)
	}
	c.Set(at("10:27"))
	if err := s.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	runs, _ := st.ListRuns(ctx, "m", 10)
	if len(runs) != 1 || runs[0].Status != model.RunFailed || runs[0].Attempts != 3 || !strings.Contains(runs[0].Error, "gave up after 2 attempts") {
		t.Fatalf("runs %+v, want one failed after 2 attempts", runs)
	}
	if got := len(stopping.ticks()); got != 2 {
		t.Errorf("executed %d times, want 2", got)
	}
}
