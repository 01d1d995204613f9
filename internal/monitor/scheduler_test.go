package monitor

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
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

func (e *executions) execute(_ context.Context, r model.Run, _ model.Monitor) (Outcome, error) {
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

// TestSchedulerTakesOverStoppedRun: a scheduler stops in the middle of a
// run; once its lease ends another finishes it (a second attempt); a run
// whose schedulers keep stopping is failed after two attempts.
func TestSchedulerTakesOverStoppedRun(t *testing.T) {
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
	a := newTestScheduler(t, st, c, ex, "a")
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
	cancel() // scheduler a stops mid-run
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
	s := newTestScheduler(t, st, c, stopping, "a")
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
