package notify

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/alert"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// TestSenderRateLimit: a rate-limited channel is sent one notification a
// second (its limit), the others wait in the outbox and none is dropped;
// a channel without a limit takes all of its at once.
func TestSenderRateLimit(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "fw.db"))
	c := &fakeClock{t: t0}
	for i := range 3 {
		queue(t, st, t0.Add(time.Duration(i)*time.Millisecond), "slack", "hook")
	}
	c.Add(time.Second)
	slack, hook := &scripted{}, &scripted{}
	s, err := NewSender(SenderOptions{Store: st, Channels: map[string]Channel{"slack": slack, "hook": hook}, Now: c.Now,
		Owner: "a", RateLimit: map[string]float64{"slack": 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		after     time.Duration
		wantSlack int
	}{
		{0, 1},
		{500 * time.Millisecond, 1}, // within the second: waits
		{500 * time.Millisecond, 2},
		{100 * time.Millisecond, 2},
		{900 * time.Millisecond, 3},
		{time.Second, 3}, // nothing left
	}
	for i, st := range steps {
		c.Add(st.after)
		step(t, s)
		if got := slack.count(); got != st.wantSlack {
			t.Errorf("step %d (+%s): slack was sent %d, want %d", i, c.Now().Sub(t0), got, st.wantSlack)
		}
		if hook.count() != 3 {
			t.Errorf("step %d: the channel without a limit was sent %d, want all 3", i, hook.count())
		}
	}
	if _, err := NewSender(SenderOptions{Store: st, RateLimit: map[string]float64{"x": -1}}, nil); err == nil {
		t.Error("a negative rate limit was accepted")
	}
}

// groupedRun ends a run of mon at `at` whose result fails or passes both
// of its metrics, deciding its alerts with the alert package as the
// scheduler does.
func groupedRun(t *testing.T, st *sqlite.Store, mon model.Monitor, at time.Time, failing bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.CreateRun(ctx, model.Run{Monitor: mon.Name, ScheduledAt: at, WindowStart: at.Add(-time.Hour), WindowEnd: at, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	r, ok, err := st.ClaimRun(ctx, "sched", at, time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	res := model.RunResult{RunID: r.ID, Sampled: 10}
	for _, metric := range []string{"groundedness", "relevance"} {
		rate := 0.9
		if failing {
			rate = 0.4
		}
		res.Metrics = append(res.Metrics, model.MetricResult{Metric: metric, Judged: 10, PassRate: &rate, MinPassRate: ptr(0.7),
			Violation: failing, PassRateViolation: failing})
	}
	d := alert.Decider{}
	if err := st.SaveRunResult(ctx, "sched", res, nil, at, d.For(alert.Input{Run: r, Monitor: mon, Result: &res, Now: at})); err != nil {
		t.Fatal(err)
	}
}

// TestGroupedDeliveryAcrossRestarts follows grouped messages through
// crashes: a run's groups survive a crash before they are flushed; a
// flushed message survives a crash before it is sent; and a restart never
// sends again what was recorded as sent. Each run gives one message
// listing both of its alerts.
func TestGroupedDeliveryAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fw.db")
	st := openStore(t, path)
	c := &fakeClock{t: t0}
	mon := model.Monitor{Name: "rag", Target: model.MonitorTarget{Service: "shop"},
		Quality:  map[string]model.QualityThreshold{"groundedness": {MinPassRate: ptr(0.7)}, "relevance": {MinPassRate: ptr(0.7)}},
		Alerting: model.Alerting{ForRuns: 1, NoData: "alert"}, Notify: model.Notify{Channels: []string{"hook"}}}
	hook := &scripted{}
	restart := func() *Sender {
		t.Helper()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st = openStore(t, path)
		s, err := NewSender(SenderOptions{Store: st, Channels: map[string]Channel{"hook": hook}, Now: c.Now, Owner: "s",
			Flush: func(ctx context.Context, now time.Time) (int, error) {
				return st.FlushAlertGroups(ctx, now, 10, func(g model.AlertGroup, silences []model.Silence) (model.AlertGroup, []model.Notification, error) {
					g, ns := alert.Flush(g, silences, now)
					return g, ns, nil
				})
			}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sent := func() []string {
		var out []string
		for _, n := range hook.sent {
			line := n.Event + " " + n.DedupKey[len(n.DedupKey)-2:] + ":"
			for _, a := range n.Message.Alerts {
				line += fmt.Sprintf(" %s %s", a.Change, a.Subject)
			}
			out = append(out, line)
		}
		return out
	}

	// The run ends, and flowwatch dies before its groups are flushed.
	groupedRun(t, st, mon, t0, true)
	s := restart()
	step(t, s)
	want := []string{"firing /1: new groundedness new relevance"}
	if got := sent(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the first run: sent %q, want %q", got, want)
	}
	// Sent and recorded: a restart sends nothing again.
	s = restart()
	step(t, s)
	c.Add(time.Hour)
	step(t, s)
	if got := sent(); len(got) != 1 {
		t.Fatalf("after a restart: sent %q, want the one message only", got)
	}

	// The next run resolves both; its message is queued, and flowwatch
	// dies before sending it.
	c.Add(time.Minute)
	groupedRun(t, st, mon, c.Now(), false)
	if n, err := st.FlushAlertGroups(context.Background(), c.Now(), 10, func(g model.AlertGroup, silences []model.Silence) (model.AlertGroup, []model.Notification, error) {
		g, ns := alert.Flush(g, silences, c.Now())
		return g, ns, nil
	}); err != nil || n != 1 {
		t.Fatalf("flush: %d, %v; want 1 queued", n, err)
	}
	s = restart()
	step(t, s)
	step(t, s)
	want = append(want, "resolved /2: resolved groundedness resolved relevance")
	if got := sent(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the second run: sent %q, want %q", got, want)
	}
}
