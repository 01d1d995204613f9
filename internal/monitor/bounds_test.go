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
)

func everyMinute(name string) model.Monitor {
	m := every5(name)
	m.Schedule.Cron = "* * * * *"
	return m
}

// TestSchedulerManyMonitors puts 60 monitors on "* * * * *" and lets the
// scheduler fall ten minutes behind (a slow store, a pause): each monitor
// has one queued run, for the latest minute, not ten. Deleting half of
// them cancels their queued runs; the rest run once each, never more than
// MaxConcurrent at a time.
func TestSchedulerManyMonitors(t *testing.T) {
	ctx := context.Background()
	const monitors, concurrent = 60, 3
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	for i := range monitors {
		if _, _, err := st.PutMonitor(ctx, everyMinute(fmt.Sprintf("m%02d", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	c := &clock{}
	var (
		mu            sync.Mutex
		running, most int
		ran           = map[string][]string{}
		release       = make(chan struct{})
		started       = make(chan struct{}, monitors)
	)
	execute := func(ctx context.Context, r model.Run, _ model.Monitor, _ Progress) (Outcome, error) {
		mu.Lock()
		running++
		most = max(most, running)
		ran[r.Monitor] = append(ran[r.Monitor], r.ScheduledAt.Format("15:04"))
		mu.Unlock()
		started <- struct{}{}
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return Outcome{Result: model.RunResult{Sampled: 1}}, nil
	}
	s, err := NewScheduler(SchedulerOptions{Store: st, Execute: execute, Now: c.Now, Owner: "a", MaxConcurrent: concurrent}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Set(at("10:00"))
	if err := s.Schedule(ctx); err != nil { // first seen: next at 10:01
		t.Fatal(err)
	}
	for m := 1; m <= 10; m++ { // scheduling goes on, nothing is dispatched
		c.Set(at(fmt.Sprintf("10:%02d", m)))
		if err := s.Schedule(ctx); err != nil {
			t.Fatal(err)
		}
	}
	queued := 0
	for i := range monitors {
		runs, err := st.ListRuns(ctx, fmt.Sprintf("m%02d", i), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Status != model.RunPending || runs[0].ScheduledAt.Format("15:04") != "10:10" {
			t.Fatalf("m%02d: %d runs %+v; want one pending run for 10:10", i, len(runs), runs)
		}
		queued += len(runs)
	}
	if queued != monitors {
		t.Fatalf("%d runs queued, want %d", queued, monitors)
	}

	for i := 0; i < monitors; i += 2 {
		if err := st.DeleteMonitor(ctx, fmt.Sprintf("m%02d", i), at("10:10")); err != nil {
			t.Fatal(err)
		}
	}
	// The scheduler's loop (polling every millisecond, its clock still at
	// 10:10) starts every remaining run, each held until released one by
	// one: never more than `concurrent` at once.
	rctx, stop := context.WithCancel(ctx)
	s.o.Poll = time.Millisecond
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		_ = s.Run(rctx)
	}()
	for range monitors / 2 {
		<-started
		release <- struct{}{}
	}
	close(release) // a run too many would end too, and be seen below
	stop()
	<-loopDone
	mu.Lock()
	defer mu.Unlock()
	if most > concurrent {
		t.Errorf("%d runs at once, want at most %d", most, concurrent)
	}
	for i := range monitors {
		name := fmt.Sprintf("m%02d", i)
		got := strings.Join(ran[name], " ")
		want := "10:10"
		if i%2 == 0 {
			want = "" // deleted: its queued run was canceled
		}
		if got != want {
			t.Errorf("%s ran at %q, want %q", name, got, want)
		}
	}
	runs, err := st.ListRuns(ctx, "m00", 10)
	if err != nil || len(runs) != 1 || runs[0].Status != model.RunFailed || !strings.Contains(runs[0].Error, "deleted") {
		t.Errorf("deleted monitor's run: %+v, %v; want failed, saying the monitor was deleted", runs, err)
	}
}

// TestSchedulerNeverFiringCron: a monitor stored with a cron that never
// fires (stored before such crons were refused) is logged once per
// version, not on every poll, and does not stop the other monitors.
func TestSchedulerNeverFiringCron(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	bad := every5("feb30")
	bad.Schedule.Cron = "0 0 30 2 *"
	if _, _, err := st.PutMonitor(ctx, bad, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutMonitor(ctx, every5("good"), 0); err != nil {
		t.Fatal(err)
	}
	logs, logger := newLogBuffer()
	c := &clock{}
	ex := &executions{}
	s, err := NewScheduler(SchedulerOptions{Store: st, Execute: ex.execute, Now: c.Now, Owner: "a"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		hhmm      string
		replace   bool // store the bad monitor again (a new version)
		wantLines int  // monitor_unschedulable lines so far
	}{
		{"10:00", false, 1},
		{"10:00", false, 1},
		{"10:05", false, 1},
		{"10:06", true, 2},
		{"10:07", false, 2},
		{"10:10", false, 2},
	}
	for _, tc := range steps {
		if tc.replace {
			if _, _, err := st.PutMonitor(ctx, bad, 0); err != nil {
				t.Fatal(err)
			}
		}
		step(t, s, c, tc.hhmm)
		if n := len(logs.records(t, "monitor_unschedulable")); n != tc.wantLines {
			t.Fatalf("at %s: %d monitor_unschedulable lines, want %d", tc.hhmm, n, tc.wantLines)
		}
	}
	if got := strings.Join(ex.ticks(), " "); got != "10:05 10:10" {
		t.Errorf("the good monitor ran at %s, want 10:05 10:10", got)
	}
}

// TestLimited checks the cap on monitors: creating one beyond Max is
// refused with a *LimitError naming the setting; replacing one is not a
// creation; after a delete there is room again.
func TestLimited(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	l := &Limited{MonitorStore: st, Max: 2}
	steps := []struct {
		op, name string
		wantErr  bool
	}{
		{"put", "a", false},
		{"put", "b", false},
		{"put", "c", true},
		{"put", "a", false}, // a new version of a
		{"delete", "b", false},
		{"put", "c", false},
		{"put", "d", true},
	}
	for i, tc := range steps {
		var err error
		switch tc.op {
		case "put":
			_, _, err = l.PutMonitor(ctx, every5(tc.name), 0)
		case "delete":
			err = l.DeleteMonitor(ctx, tc.name, at("10:00"))
		}
		var le *LimitError
		switch {
		case tc.wantErr && !errors.As(err, &le):
			t.Fatalf("step %d (%s %s): %v, want a *LimitError", i, tc.op, tc.name, err)
		case tc.wantErr && !strings.Contains(err.Error(), "monitors.max_monitors"):
			t.Fatalf("step %d: %q does not name monitors.max_monitors", i, err)
		case !tc.wantErr && err != nil:
			t.Fatalf("step %d (%s %s): %v", i, tc.op, tc.name, err)
		}
	}
	list, err := st.ListMonitors(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("%d monitors, %v; want 2", len(list), err)
	}
}
