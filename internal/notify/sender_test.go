package notify

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// scripted is a channel that answers from a script, one error (or nil)
// per send, and records what it was sent.
type scripted struct {
	mu     sync.Mutex
	script []error
	sent   []model.Notification
	block  chan struct{} // when set, Send waits for it (or ctx)
}

func (c *scripted) Send(ctx context.Context, n model.Notification) error {
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, n)
	if len(c.script) == 0 {
		return nil
	}
	err := c.script[0]
	c.script = c.script[1:]
	return err
}

func (c *scripted) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.sent) }

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// queue records a run of monitor m whose end queues one notification per
// channel, the way an alert transition does.
func queue(t *testing.T, st *sqlite.Store, at time.Time, channels ...string) {
	t.Helper()
	ctx := context.Background()
	r, err := st.CreateRun(ctx, model.Run{Monitor: "m", ScheduledAt: at, WindowStart: at.Add(-time.Hour), WindowEnd: at, CreatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.ClaimRun(ctx, "sched", at, time.Minute); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	alertID := "alert-" + r.ID
	decide := func(store.AlertSnapshot) (store.AlertChanges, error) {
		c := store.AlertChanges{Alerts: []model.Alert{{ID: alertID, Monitor: "m", Key: "quality:groundedness", Kind: model.AlertQuality,
			State: model.AlertFiring, FiredAt: at, FiringRunID: r.ID, LastRunID: r.ID}}}
		for _, ch := range channels {
			c.Notifications = append(c.Notifications, model.Notification{AlertID: alertID, Monitor: "m", Channel: ch,
				Event: model.EventFiring, DedupKey: alertID + "/" + ch, CreatedAt: at, NextAttemptAt: at,
				Message: model.AlertMessage{AlertID: alertID, Monitor: "m", Summary: "groundedness pass rate 50.0% is below 70.0%"}})
		}
		return c, nil
	}
	if err := st.SaveRunResult(ctx, "sched", model.RunResult{RunID: r.ID, Sampled: 1}, nil, at, decide); err != nil {
		t.Fatal(err)
	}
}

// notifications returns the alert notifications of every alert, by
// channel.
func notifications(t *testing.T, st *sqlite.Store) map[string]model.Notification {
	t.Helper()
	page, err := st.ListAlerts(context.Background(), store.AlertQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]model.Notification{}
	for _, a := range page.Alerts {
		ns, err := st.AlertNotifications(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			out[n.Channel] = n
		}
	}
	return out
}

func newTestSender(t *testing.T, st Outbox, c *fakeClock, channels map[string]Channel, owner string) *Sender {
	t.Helper()
	s, err := NewSender(SenderOptions{Store: st, Channels: channels, Now: c.Now, Owner: owner,
		Jitter: func() float64 { return 1 }, InitialBackoff: 10 * time.Second, MaxBackoff: time.Minute, GiveUpAfter: 3 * time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// step delivers what is due now and waits for the deliveries.
func step(t *testing.T, s *Sender) {
	t.Helper()
	if err := s.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Wait()
}

// TestSenderOutcomes follows notifications to channels that fail in
// different ways through their attempts: retried with a doubling backoff
// (honouring Retry-After), given up at once when no retry can help, given
// up after GiveUpAfter (3 minutes here).
func TestSenderOutcomes(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	c := &fakeClock{t: t0}
	transient := errors.New("connection refused")
	channels := map[string]Channel{
		"ok":        &scripted{},
		"flaky":     &scripted{script: []error{transient, transient}},
		"limited":   &scripted{script: []error{WithRetryAfter(transient, 45*time.Second)}},
		"rejecting": &scripted{script: []error{Permanent(errors.New("HTTP 400: bad payload"))}},
		"down":      &scripted{script: []error{transient, transient, transient, transient, transient, transient, transient}},
	}
	queue(t, st, t0, "ok", "flaky", "limited", "rejecting", "down", "gone")
	s := newTestSender(t, st, c, channels, "a")

	step(t, s)
	got := notifications(t, st)
	want := map[string]struct {
		status model.NotificationStatus
		next   time.Duration // after t0; for pending
	}{
		"ok":        {model.NotificationSent, 0},
		"flaky":     {model.NotificationPending, 10 * time.Second},
		"limited":   {model.NotificationPending, 45 * time.Second},
		"rejecting": {model.NotificationFailed, 0},
		"down":      {model.NotificationPending, 10 * time.Second},
		"gone":      {model.NotificationFailed, 0},
	}
	for ch, w := range want {
		n := got[ch]
		if n.Status != w.status || n.Attempts != 1 || (w.status == model.NotificationPending && !n.NextAttemptAt.Equal(t0.Add(w.next))) {
			t.Errorf("%s after one attempt: %s, attempts %d, next %s (%s); want %s next +%s", ch, n.Status, n.Attempts, n.NextAttemptAt, n.LastError, w.status, w.next)
		}
	}
	if e := got["gone"].LastError; e != `gave up: channel "gone" is not configured (channels: in the server configuration)` {
		t.Errorf("notification to an unconfigured channel: %q", e)
	}
	if e := got["rejecting"].LastError; e != "gave up: HTTP 400: bad payload" {
		t.Errorf("rejected notification: %q", e)
	}

	// Not due yet: nothing is sent again.
	c.Add(5 * time.Second)
	step(t, s)
	if n := channels["flaky"].(*scripted).count(); n != 1 {
		t.Errorf("flaky channel tried %d times before its backoff ended", n)
	}
	// The backoff doubles: 10 s, 20 s, 40 s, then at most a minute.
	var nexts []time.Duration
	for range 6 {
		n := notifications(t, st)["down"]
		c.t = n.NextAttemptAt
		step(t, s)
		after := notifications(t, st)["down"]
		if after.Status != model.NotificationPending {
			break
		}
		nexts = append(nexts, after.NextAttemptAt.Sub(c.Now()))
	}
	if fmt.Sprint(nexts) != "[20s 40s 1m0s 1m0s]" {
		t.Errorf("backoffs %v, want [20s 40s 1m0s 1m0s]", nexts)
	}
	got = notifications(t, st)
	if d := got["down"]; d.Status != model.NotificationFailed || d.Attempts != 6 ||
		d.LastError != "gave up after 6 attempts over 3m0s: connection refused" {
		t.Errorf("down channel after 3 minutes: %s, %d attempts, %q", d.Status, d.Attempts, d.LastError)
	}
	if f := got["flaky"]; f.Status != model.NotificationSent || f.Attempts != 3 {
		t.Errorf("flaky channel: %s after %d attempts, want sent after 3", f.Status, f.Attempts)
	}
	if l := got["limited"]; l.Status != model.NotificationSent || l.Attempts != 2 {
		t.Errorf("rate-limited channel: %s after %d attempts, want sent after 2", l.Status, l.Attempts)
	}
	if n := channels["ok"].(*scripted).count(); n != 1 {
		t.Errorf("ok channel sent %d times, want once", n)
	}
}

// TestSenderSlowChannel: a channel whose deliveries hang holds only its
// own slots; other channels' notifications go out meanwhile.
func TestSenderSlowChannel(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	c := &fakeClock{t: t0.Add(2 * time.Second)}
	slow := &scripted{block: make(chan struct{})}
	fast := &scripted{}
	for i := range 3 {
		queue(t, st, t0.Add(time.Duration(i)*time.Second), "slow", "fast")
	}
	s, err := NewSender(SenderOptions{Store: st, Channels: map[string]Channel{"slow": slow, "fast": fast},
		Concurrency: map[string]int{"slow": 2}, Now: c.Now, Owner: "a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	// The slow channel holds its two slots; the third waits, claimed by
	// no one; the fast channel's three are delivered.
	if err := s.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return fast.count() == 3 })
	if due, err := st.DueChannels(ctx, c.Now()); err != nil || fmt.Sprint(due) != "[slow]" {
		t.Errorf("due channels while slow is busy: %v, %v; want [slow]", due, err)
	}
	close(slow.block)
	s.Wait()
	if err := s.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	if n := slow.count(); n != 3 {
		t.Errorf("slow channel sent %d, want 3", n)
	}
}

// TestSenderCrashMidDelivery: a sender dies after a channel took a
// message but before recording it; another sender delivers it again once
// the lease ends (at least once), with the same dedup key, and never a
// third time.
func TestSenderCrashMidDelivery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fw.db")
	st := openStore(t, path)
	c := &fakeClock{t: t0}
	queue(t, st, t0, "hook")
	ns, err := st.ClaimNotifications(context.Background(), "dead", "hook", t0, 2*time.Minute, 10)
	if err != nil || len(ns) != 1 {
		t.Fatalf("claim by the sender that dies: %v, %v", ns, err)
	}
	first := ns[0] // sent, never recorded
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, path)
	hook := &scripted{}
	s := newTestSender(t, st, c, map[string]Channel{"hook": hook}, "b")
	step(t, s)
	if hook.count() != 0 {
		t.Fatal("delivered again while the dead sender's lease lasted")
	}
	c.Add(2*time.Minute + time.Second)
	step(t, s)
	step(t, s)
	if hook.count() != 1 || hook.sent[0].DedupKey != first.DedupKey {
		t.Fatalf("after the lease: %d sends, want 1 with dedup key %s", hook.count(), first.DedupKey)
	}
	if n := notifications(t, st)["hook"]; n.Status != model.NotificationSent || n.Attempts != 2 {
		t.Errorf("notification %s after %d attempts, want sent after 2", n.Status, n.Attempts)
	}
}

// TestSenderTest sends a test notification straight to a channel.
func TestSenderTest(t *testing.T) {
	c := &fakeClock{t: t0}
	hook := &scripted{script: []error{nil, errors.New("HTTP 500")}}
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	s := newTestSender(t, st, c, map[string]Channel{"hook": hook}, "a")
	ctx := context.Background()
	if err := s.Test(ctx, "hook", nil); err != nil {
		t.Fatalf("first test: %v", err)
	}
	if n := hook.sent[0]; n.Event != model.EventTest || n.Message.Event != model.EventTest || n.DedupKey == "" {
		t.Errorf("test notification %+v", n)
	}
	if err := s.Test(ctx, "hook", nil); err == nil || err.Error() != "HTTP 500" {
		t.Errorf("failing test: %v", err)
	}
	if err := s.Test(ctx, "nope", nil); !errors.Is(err, ErrUnknownChannel) {
		t.Errorf("unknown channel: %v", err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSenderWakesOnFreedSlot: with one slot and a poll of an hour, the
// queue still drains: each delivery that ends wakes the sender for the
// next.
func TestSenderWakesOnFreedSlot(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	c := &fakeClock{t: t0.Add(time.Second)}
	for i := range 3 {
		queue(t, st, t0.Add(time.Duration(i)*time.Millisecond), "hook")
	}
	hook := &scripted{}
	s, err := NewSender(SenderOptions{Store: st, Channels: map[string]Channel{"hook": hook},
		Concurrency: map[string]int{"hook": 1}, Poll: time.Hour, Now: c.Now, Owner: "a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	waitFor(t, func() bool { return hook.count() == 3 })
	cancel()
	<-done
}
