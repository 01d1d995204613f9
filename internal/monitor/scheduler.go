package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// SchedulerStore is what the scheduler needs of the store (store.MonitorStore
// and store.RunStore provide it).
type SchedulerStore interface {
	ListMonitors(ctx context.Context) ([]model.StoredMonitor, error)
	GetMonitor(ctx context.Context, name string) (model.StoredMonitor, error)
	NextRunTimes(ctx context.Context) (map[string]time.Time, error)
	SetNextRunTime(ctx context.Context, monitor string, next time.Time) error
	ScheduleRun(ctx context.Context, r model.Run, next time.Time) (model.Run, bool, error)
	ClaimRun(ctx context.Context, owner string, now time.Time, lease time.Duration) (model.Run, bool, error)
	FinishRun(ctx context.Context, id, owner string, status model.RunStatus, errMsg string, now time.Time, decide store.AlertDecider) error
	RenewRun(ctx context.Context, id, owner string, until time.Time, p model.RunProgress) error
	ReleaseRun(ctx context.Context, id, owner string) error
	SaveRunResult(ctx context.Context, owner string, res model.RunResult, instances []model.Instance, now time.Time, decide store.AlertDecider) error
	CreateRun(ctx context.Context, r model.Run) (model.Run, error)
}

// Executor carries out one claimed run of a monitor (Engine.Run): select,
// sample, evaluate and aggregate, telling progress how far it has gone.
// The scheduler stores its outcome, which ends the run as succeeded; an
// error fails the run.
type Executor func(ctx context.Context, run model.Run, m model.Monitor, progress Progress) (Outcome, error)

// SchedulerOptions configure a Scheduler. Zero values select the defaults.
type SchedulerOptions struct {
	Store   SchedulerStore
	Execute Executor
	// MaxConcurrent bounds the runs executing at once (default 4;
	// monitors.max_concurrent_runs).
	MaxConcurrent int
	// Lease is how long a claimed run stays this scheduler's without being
	// renewed (default 1m): when its scheduler stops without giving it
	// back (a crash, a lost machine), another takes it over after that.
	Lease time.Duration
	// Heartbeat is how often a running run's lease is renewed and its
	// progress recorded (default 2s; at most a third of Lease).
	Heartbeat time.Duration
	// MaxAttempts is how often a run may be claimed (default 2): a run
	// whose scheduler stopped is retried once, then failed.
	MaxAttempts int
	// Poll is how often due monitors and claimable runs are looked for
	// (default 1s).
	Poll time.Duration
	// Owner names this scheduler in leases (default host, process and a
	// random suffix).
	Owner string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Alerts, when set, returns the alert decision of a run's end, which
	// the store applies in the transaction that ends the run: res and
	// instances of a succeeded run, or res nil and runErr for a failed one.
	Alerts func(run model.Run, m model.Monitor, res *model.RunResult, instances []model.Instance, runErr string, now time.Time) store.AlertDecider
}

// Scheduler records each monitor's due runs and executes them. Runs are
// recorded in the store before they execute, once per schedule tick, so a
// restart neither skips nor doubles one: a run due while flowwatch was
// down is recorded once when it starts again (ticks missed in between are
// not each run), and a run whose scheduler stopped mid-way is taken over
// when its lease ends and tried once more. A monitor has at most one
// scheduled run waiting: a tick that comes while it still waits moves it
// to that tick (the store coalesces them), so a monitor that falls behind
// runs once, for its latest tick and that tick's window. A monitor whose
// schedule gives no next time is skipped and logged once per version.
type Scheduler struct {
	o   SchedulerOptions
	log *slog.Logger
	sem chan struct{}
	wg  sync.WaitGroup

	// unschedulable holds the version of each monitor whose schedule
	// gives no next time, once logged: it is logged once per version,
	// not on every poll.
	mu            sync.Mutex
	unschedulable map[string]int64
}

// NewScheduler returns a scheduler; start it with Run.
func NewScheduler(o SchedulerOptions, logger *slog.Logger) (*Scheduler, error) {
	if o.Store == nil || o.Execute == nil {
		return nil, errors.New("monitor: scheduler needs a store and an executor")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 4
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 2 * time.Second
	}
	o.Heartbeat = min(o.Heartbeat, o.Lease/3)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 2
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return &Scheduler{o: o, log: logger.With("component", "scheduler"), sem: make(chan struct{}, o.MaxConcurrent),
		unschedulable: map[string]int64{}}, nil
}

// Run schedules and executes runs until ctx ends, then waits for the runs
// executing to return (their context is ctx, so they stop early).
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.wg.Wait()
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	for {
		if err := s.Schedule(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("schedule_failed", "err", err)
		}
		if err := s.Dispatch(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("dispatch_failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Schedule records the run of every enabled monitor whose next run time
// has come, and gives monitors without one their first.
func (s *Scheduler) Schedule(ctx context.Context) error {
	now := s.o.Now()
	monitors, err := s.o.Store.ListMonitors(ctx)
	if err != nil {
		return fmt.Errorf("list monitors: %w", err)
	}
	nexts, err := s.o.Store.NextRunTimes(ctx)
	if err != nil {
		return fmt.Errorf("read next run times: %w", err)
	}
	var errs []error
	for _, sm := range monitors {
		m := sm.Monitor
		if m.Disabled {
			continue
		}
		next, ok := nexts[m.Name]
		if !ok {
			// A new monitor runs first at its first tick from now.
			first, err := Next(m.Schedule, now)
			if err != nil {
				s.cannotSchedule(sm, err)
				continue
			}
			if err := s.o.Store.SetNextRunTime(ctx, m.Name, first); err != nil {
				errs = append(errs, fmt.Errorf("monitor %s: %w", m.Name, err))
			}
			continue
		}
		if next.After(now) {
			continue
		}
		// Due: record one run, for the latest tick that has come (ticks
		// missed while flowwatch was down are not each run), and move on to
		// the first tick after now.
		tick, following, err := latestTick(m.Schedule, next, now)
		if err != nil {
			s.cannotSchedule(sm, err)
			continue
		}
		start, end, err := WindowAt(m.Window, tick)
		if err != nil {
			s.cannotSchedule(sm, err)
			continue
		}
		run := model.Run{Monitor: m.Name, MonitorVersion: sm.Version, ScheduledAt: tick,
			WindowStart: start, WindowEnd: end, CreatedAt: now}
		r, created, err := s.o.Store.ScheduleRun(ctx, run, following)
		if err != nil {
			errs = append(errs, fmt.Errorf("monitor %s: %w", m.Name, err))
			continue
		}
		if created {
			s.log.Info("run_scheduled", "monitor", m.Name, "run", r.ID, "tick", tick, "next", following)
		}
	}
	return errors.Join(errs...)
}

// cannotSchedule reports a monitor whose schedule or window gives no run
// (a cron that never fires, say, stored before monitors were checked for
// it): once per version of the monitor, since every poll finds it again.
func (s *Scheduler) cannotSchedule(sm model.StoredMonitor, err error) {
	s.mu.Lock()
	v, seen := s.unschedulable[sm.Monitor.Name]
	s.unschedulable[sm.Monitor.Name] = sm.Version
	s.mu.Unlock()
	if seen && v == sm.Version {
		return
	}
	s.log.Error("monitor_unschedulable", "monitor", sm.Monitor.Name, "version", sm.Version, "err", err)
}

// maxCatchUp bounds the ticks latestTick steps through (a month of
// minutes); past it the stored tick is run.
const maxCatchUp = 45000

// latestTick returns the latest tick from next up to now, and the first
// tick after now.
func latestTick(s model.Schedule, next, now time.Time) (tick, following time.Time, err error) {
	tick = next
	for i := 0; ; i++ {
		n, err := Next(s, tick)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		if n.After(now) || i == maxCatchUp {
			if i == maxCatchUp {
				if n, err = Next(s, now); err != nil {
					return time.Time{}, time.Time{}, err
				}
			}
			return tick, n, nil
		}
		tick = n
	}
}

// RunNow records a manual run of a monitor, over the given window or, when
// start and end are nil, over the window it would read now; a scheduler
// executes it within a poll interval.
func (s *Scheduler) RunNow(ctx context.Context, name string, start, end *time.Time) (model.Run, error) {
	sm, err := s.o.Store.GetMonitor(ctx, name)
	if err != nil {
		return model.Run{}, err
	}
	now := s.o.Now().UTC()
	run := model.Run{Monitor: name, MonitorVersion: sm.Version, ScheduledAt: now, CreatedAt: now}
	switch {
	case start != nil && end != nil:
		if !end.After(*start) {
			return model.Run{}, fmt.Errorf("monitor %s: window end %s is not after its start %s", name, end.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339))
		}
		run.WindowStart, run.WindowEnd = start.UTC(), end.UTC()
	case start == nil && end == nil:
		if run.WindowStart, run.WindowEnd, err = WindowAt(sm.Monitor.Window, now); err != nil {
			return model.Run{}, fmt.Errorf("monitor %s: %w", name, err)
		}
	default:
		return model.Run{}, fmt.Errorf("monitor %s: give both ends of the window, or neither", name)
	}
	r, err := s.o.Store.CreateRun(ctx, run)
	if err != nil {
		return model.Run{}, err
	}
	s.log.Info("run_requested", "monitor", name, "run", r.ID, "window_start", r.WindowStart, "window_end", r.WindowEnd)
	return r, nil
}

// Wait waits for the runs executing to return.
func (s *Scheduler) Wait() { s.wg.Wait() }

// Dispatch claims runs while fewer than MaxConcurrent execute and starts
// them. One pass is one instant: the clock is read once, when the first
// slot is free, so that how many times it is read does not depend on how
// fast the runs started meanwhile end.
func (s *Scheduler) Dispatch(ctx context.Context) error {
	var now time.Time
	for {
		select {
		case s.sem <- struct{}{}:
		default:
			return nil // all slots busy
		}
		if now.IsZero() {
			now = s.o.Now()
		}
		run, ok, err := s.o.Store.ClaimRun(ctx, s.o.Owner, now, s.o.Lease)
		if err != nil || !ok {
			<-s.sem
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			s.execute(ctx, run)
		}()
	}
}

// execute runs a claimed run and records how it ended. While it runs, its
// lease is renewed and its progress recorded every Heartbeat; a run whose
// lease was taken over meanwhile is abandoned to its new owner, and one
// interrupted by shutdown is given back for the next scheduler to take.
func (s *Scheduler) execute(ctx context.Context, run model.Run) {
	log := s.log.With("monitor", run.Monitor, "run", run.ID, "attempt", run.Attempts)
	sm, err := s.o.Store.GetMonitor(ctx, run.Monitor)
	status, msg := model.RunSucceeded, ""
	var outcome Outcome
	switch {
	case run.Attempts > s.o.MaxAttempts:
		status, msg = model.RunFailed, fmt.Sprintf("gave up after %d attempts: the scheduler running it stopped each time", run.Attempts-1)
	case err != nil:
		status, msg = model.RunFailed, fmt.Sprintf("monitor definition: %v", err)
	default:
		log.Info("run_started", "window_start", run.WindowStart, "window_end", run.WindowEnd)
		runCtx, cancel := context.WithCancel(ctx)
		hb := s.heartbeat(runCtx, cancel, run, log)
		outcome, err = s.safeExecute(runCtx, run, sm.Monitor, hb.progress)
		cancel()
		lost := hb.stop()
		switch {
		case lost:
			log.Warn("run_abandoned", "err", "another scheduler took the run over")
			return
		case err != nil && ctx.Err() != nil:
			// Shutting down: give the run back so that the next scheduler
			// to start takes it at once.
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer rcancel()
			if rerr := s.o.Store.ReleaseRun(rctx, run.ID, s.o.Owner); rerr != nil {
				log.Warn("run_release_failed", "err", rerr)
			}
			log.Warn("run_interrupted", "err", err)
			return
		case err != nil:
			status, msg = model.RunFailed, err.Error()
		}
	}
	// The outcome is recorded even when ctx ended meanwhile, with the alert
	// decision it leads to (for a monitor that still exists).
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	now := s.o.Now()
	var decide store.AlertDecider
	if s.o.Alerts != nil && sm.Monitor.Name != "" {
		var res *model.RunResult
		if status == model.RunSucceeded {
			res = &outcome.Result
		}
		decide = s.o.Alerts(run, sm.Monitor, res, outcome.Instances, msg, now)
	}
	if status == model.RunSucceeded {
		outcome.Result.RunID = run.ID
		err = s.o.Store.SaveRunResult(fctx, s.o.Owner, outcome.Result, outcome.Instances, now, decide)
	} else {
		err = s.o.Store.FinishRun(fctx, run.ID, s.o.Owner, status, msg, now, decide)
	}
	if err != nil {
		log.Error("run_finish_failed", "err", err)
		return
	}
	if status == model.RunFailed {
		log.Warn("run_failed", "err", msg)
	} else {
		log.Info("run_succeeded")
	}
}

// heartbeat renews a running run's lease and records its progress.
type heartbeat struct {
	done, total atomic.Int64
	lost        atomic.Bool
	stopped     chan struct{}
	exited      chan struct{}
}

// heartbeat starts renewing run's lease every Heartbeat until stop; when
// the lease turns out to be lost, it calls cancel.
func (s *Scheduler) heartbeat(ctx context.Context, cancel context.CancelFunc, run model.Run, log *slog.Logger) *heartbeat {
	hb := &heartbeat{stopped: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(hb.exited)
		t := time.NewTicker(s.o.Heartbeat)
		defer t.Stop()
		var last model.RunProgress
		renew := func(ctx context.Context) {
			p := model.RunProgress{Done: int(hb.done.Load()), Total: int(hb.total.Load())}
			err := s.o.Store.RenewRun(ctx, run.ID, s.o.Owner, s.o.Now().Add(s.o.Lease), p)
			switch {
			case errors.Is(err, store.ErrConflict):
				hb.lost.Store(true)
				cancel()
			case err != nil:
				if ctx.Err() == nil {
					log.Warn("run_renew_failed", "err", err)
				}
			default:
				last = p
			}
		}
		for {
			select {
			case <-t.C:
				renew(ctx)
			case <-hb.stopped:
				// Record the final progress, once, if it moved.
				if p := (model.RunProgress{Done: int(hb.done.Load()), Total: int(hb.total.Load())}); p != last && !hb.lost.Load() {
					fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
					renew(fctx)
					fcancel()
				}
				return
			}
		}
	}()
	return hb
}

// progress is the run's Progress.
func (hb *heartbeat) progress(done, total int) {
	hb.total.Store(int64(total))
	// Workers report out of order; keep the highest count.
	for {
		cur := hb.done.Load()
		if int64(done) <= cur || hb.done.CompareAndSwap(cur, int64(done)) {
			return
		}
	}
}

// stop ends the heartbeat and reports whether the lease was lost.
func (hb *heartbeat) stop() bool {
	close(hb.stopped)
	<-hb.exited
	return hb.lost.Load()
}

func (s *Scheduler) safeExecute(ctx context.Context, run model.Run, m model.Monitor, progress Progress) (out Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return s.o.Execute(ctx, run, m, progress)
}

// WindowAt is the window of a run at tick at: traces that started in
// [at - offset - lookback, at - offset).
func WindowAt(w model.Window, at time.Time) (start, end time.Time, err error) {
	lookback, msg := parseWindow(w.Lookback)
	if msg != "" {
		return time.Time{}, time.Time{}, fmt.Errorf("window.lookback: %s", msg)
	}
	var offset time.Duration
	if w.Offset != "" {
		if offset, msg = parseWindow(w.Offset); msg != "" {
			return time.Time{}, time.Time{}, fmt.Errorf("window.offset: %s", msg)
		}
	}
	end = at.Add(-offset).UTC()
	return end.Add(-lookback), end, nil
}
