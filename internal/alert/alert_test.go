package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// machine runs alert decisions in sequence over a snapshot kept the way a
// store keeps it, flushes the delivery groups that are due the way the
// store and the sender loop do, and writes down the messages queued.
type machine struct {
	t       *testing.T
	d       Decider
	mon     model.Monitor
	snap    store.AlertSnapshot
	alerts  map[string]model.Alert
	queued  map[string]bool // dedup keys
	ids     int
	lines   []string
	sent    []model.Notification
	nextRun int
	// order numbers the alerts as they appear: lines name them #1, #2...
	order map[string]int
	// silences are those of the monitor, in force or not.
	silences []model.Silence
}

func newMachine(t *testing.T, mon model.Monitor) *machine {
	m := &machine{t: t, mon: mon, alerts: map[string]model.Alert{}, queued: map[string]bool{}, order: map[string]int{},
		snap: store.AlertSnapshot{Trackers: map[string]model.AlertTracker{}, Firing: map[string]model.Alert{},
			Groups: map[string]model.AlertGroup{}}}
	m.d = Decider{NewID: func() string { m.ids++; return fmt.Sprintf("a%d", m.ids) }}
	return m
}

// t0 is the first run's time; runs are 30 minutes apart unless said.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// run applies a run that ended at, over the 7 days before it, then
// flushes the groups due at that time.
func (m *machine) run(at time.Time, res *model.RunResult, instances []model.Instance, runErr string) {
	m.t.Helper()
	m.nextRun++
	id := fmt.Sprintf("run%d", m.nextRun)
	r := model.Run{ID: id, Monitor: m.mon.Name, WindowStart: at.Add(-7 * 24 * time.Hour), WindowEnd: at}
	changes, err := m.d.Decide(Input{Run: r, Monitor: m.mon, Result: res, Instances: instances, Error: runErr, Now: at}, m.snap)
	if err != nil {
		m.t.Fatalf("%s: %v", id, err)
	}
	m.apply(changes)
	m.flush(at)
}

// apply keeps the changes as a store does.
func (m *machine) apply(c store.AlertChanges) {
	for _, tr := range c.Trackers {
		m.snap.Trackers[tr.Key] = tr
	}
	for _, a := range c.Alerts {
		if _, ok := m.order[a.ID]; !ok {
			m.order[a.ID] = len(m.order) + 1
		}
		m.alerts[a.ID] = a
		if a.State == model.AlertFiring {
			m.snap.Firing[a.Key] = a
		} else {
			delete(m.snap.Firing, a.Key)
		}
	}
	for _, g := range c.Groups {
		m.snap.Groups[g.Channel] = g
	}
	if len(c.Notifications) > 0 {
		m.t.Errorf("a decision queued %d notifications itself; only groups queue them", len(c.Notifications))
	}
}

// flush flushes the groups due at now, in channel order, and writes down
// each message: when, its event (with "suppressed by ID" for one a
// silence muted), its target and its alerts.
func (m *machine) flush(now time.Time) {
	for _, ch := range sortedKeys(m.snap.Groups) {
		g := m.snap.Groups[ch]
		if g.DueAt.IsZero() || g.DueAt.After(now) {
			continue
		}
		g, ns := Flush(g, m.silences, now)
		m.snap.Groups[ch] = g
		for _, n := range ns {
			m.record(n, now)
		}
	}
}

// record writes down message n, flushed at now, as the store keeps it.
func (m *machine) record(n model.Notification, now time.Time) {
	if m.queued[n.DedupKey] {
		m.t.Errorf("dedup key %s queued twice", n.DedupKey)
	}
	m.queued[n.DedupKey] = true
	m.sent = append(m.sent, n)
	event := n.Event
	if n.Status == model.NotificationSuppressed {
		event += " suppressed by " + n.SilenceID
	} else {
		for _, a := range n.Message.Alerts {
			if al, ok := m.alerts[a.AlertID]; ok && al.State == model.AlertFiring {
				// As the store does: messages of one flush to several
				// targets count as one reminder.
				if a.Change == model.ChangeFiring && al.LastNotifiedAt.Before(now) {
					al.Reminders++
				}
				al.LastNotifiedAt = now
				m.alerts[a.AlertID] = al
				m.snap.Firing[al.Key] = al
			}
		}
	}
	to := n.Channel
	if len(n.Recipients) > 0 {
		to += "(" + strings.Join(n.Recipients, ",") + ")"
	}
	var items []string
	for _, a := range n.Message.Alerts {
		items = append(items, fmt.Sprintf("%s %s #%d", a.Change, m.alerts[a.AlertID].Key, m.order[a.AlertID]))
	}
	m.lines = append(m.lines, fmt.Sprintf("+%s %s to %s: %s", now.Sub(t0), event, to, strings.Join(items, "; ")))
}

func ptr(v float64) *float64 { return &v }

// quality is a run result with one metric judged 10 times, passed of them
// passing, against min_pass_rate 0.7.
func quality(metric string, passed int) *model.RunResult {
	rate := float64(passed) / 10
	mr := model.MetricResult{Metric: metric, Judged: 10, Passed: passed, PassRate: &rate, AverageScore: ptr(float64(passed) / 2),
		PassScore: 3, MinPassRate: ptr(0.7)}
	if rate < 0.7 {
		mr.Violation, mr.PassRateViolation = true, true
	}
	return &model.RunResult{Sampled: 10, Metrics: []model.MetricResult{mr}}
}

var (
	bad  = quality("groundedness", 5)
	good = quality("groundedness", 9)
)

func monitorWith(mod func(*model.Monitor)) model.Monitor {
	m := model.Monitor{Name: "rag", Target: model.MonitorTarget{Service: "shop"},
		Quality:  map[string]model.QualityThreshold{"groundedness": {MinPassRate: ptr(0.7)}},
		Alerting: model.Alerting{ForRuns: 1, NoData: "alert"},
		Notify:   model.Notify{Emails: []string{"ml@example.com"}, Channels: []string{"oncall"}}}
	if mod != nil {
		mod(&m)
	}
	return m
}

// step is one run of a sequence: its result (nil with err: failed) and
// how long after the previous step it ended (30 minutes when zero); a
// tick only flushes the groups due then.
type step struct {
	res   *model.RunResult
	err   string
	after time.Duration
	tick  bool
	// ack acknowledges the firing alerts, at the previous step's time.
	ack bool
	// mute adds a silence of this key ("*": of every key) for muteFor
	// from the previous step's time.
	mute    string
	muteFor time.Duration
}

// twoMetrics is a run in which groundedness and relevance both fail, or
// pass.
func twoMetrics(passed int) *model.RunResult {
	g, r := quality("groundedness", passed), quality("relevance", passed)
	g.Metrics = append(g.Metrics, r.Metrics...)
	return g
}

func TestSequences(t *testing.T) {
	noData := &model.RunResult{Sampled: 0, Metrics: []model.MetricResult{{Metric: "groundedness", NoData: true, MinPassRate: ptr(0.7)}}}
	allErrors := &model.RunResult{Sampled: 10, Metrics: []model.MetricResult{{Metric: "groundedness", Errors: 10, NoData: true, MinPassRate: ptr(0.7)}}}
	oneTarget := func(m *model.Monitor) { m.Notify = model.Notify{Channels: []string{"oncall"}} }
	both := func(m *model.Monitor) {
		oneTarget(m)
		m.Quality["relevance"] = model.QualityThreshold{MinPassRate: ptr(0.7)}
	}
	cases := []struct {
		name   string
		mod    func(*model.Monitor)
		timing map[string]model.GroupTiming
		steps  []step
		want   []string
	}{
		{
			name:  "fire and resolve",
			steps: []step{{res: bad}, {res: bad}, {res: good}, {res: good}},
			want: []string{
				"+0s firing to emails(ml@example.com): new quality:groundedness #1",
				"+0s firing to oncall: new quality:groundedness #1",
				"+1h0m0s resolved to emails(ml@example.com): resolved quality:groundedness #1",
				"+1h0m0s resolved to oncall: resolved quality:groundedness #1",
			},
		},
		{
			name:  "one message per run listing every metric",
			mod:   both,
			steps: []step{{res: twoMetrics(5)}, {res: twoMetrics(5)}, {res: quality("groundedness", 9)}, {res: twoMetrics(9)}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1; new quality:relevance #2",
				// relevance is not observed by the third run: still firing.
				"+1h0m0s firing to oncall: firing quality:relevance #2; resolved quality:groundedness #1",
				"+1h30m0s resolved to oncall: resolved quality:relevance #2",
			},
		},
		{
			name:  "for two runs",
			mod:   func(m *model.Monitor) { oneTarget(m); m.Alerting.ForRuns = 2 },
			steps: []step{{res: bad}, {res: good}, {res: bad}, {res: bad}, {res: bad}, {res: good}},
			want: []string{
				"+1h30m0s firing to oncall: new quality:groundedness #1",
				"+2h30m0s resolved to oncall: resolved quality:groundedness #1",
			},
		},
		{
			name: "the monitor's repeat_interval reminds of the group",
			mod:  func(m *model.Monitor) { oneTarget(m); m.Alerting.RepeatInterval = "1h" },
			steps: []step{{res: bad}, {res: bad}, {res: quality("groundedness", 4)}, {res: bad},
				{res: bad, after: 2 * time.Hour}, {res: good}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+1h0m0s reminder to oncall: firing quality:groundedness #1",
				"+3h30m0s reminder to oncall: firing quality:groundedness #1",
				"+4h0m0s resolved to oncall: resolved quality:groundedness #1",
			},
		},
		{
			name:   "a channel's repeat_interval replaces the monitor's",
			mod:    func(m *model.Monitor) { oneTarget(m); m.Alerting.RepeatInterval = "1h" },
			timing: map[string]model.GroupTiming{"oncall": {Repeat: 2 * time.Hour}},
			steps:  []step{{res: bad}, {res: bad}, {res: bad}, {res: bad}, {res: bad}, {res: bad}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+2h0m0s reminder to oncall: firing quality:groundedness #1",
			},
		},
		{
			name: "an acknowledged alert stops reminding until it resolves; its successor reminds",
			mod:  func(m *model.Monitor) { oneTarget(m); m.Alerting.RepeatInterval = "1h" },
			steps: []step{{res: bad}, {ack: true}, {res: bad, after: time.Hour}, {res: bad, after: time.Hour},
				{res: good}, {res: bad}, {res: bad, after: time.Hour}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+2h30m0s resolved to oncall: resolved quality:groundedness #1",
				"+3h0m0s firing to oncall: new quality:groundedness #2",
				"+4h0m0s reminder to oncall: firing quality:groundedness #2",
			},
		},
		{
			name: "an acknowledged alert is still listed in its group's reminders",
			mod:  func(m *model.Monitor) { both(m); m.Alerting.RepeatInterval = "1h" },
			steps: []step{{res: quality("groundedness", 5)}, {ack: true}, {res: twoMetrics(5)},
				{res: twoMetrics(5), after: time.Hour}, {res: twoMetrics(5), after: time.Hour}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+30m0s firing to oncall: new quality:relevance #2; firing quality:groundedness #1",
				"+1h30m0s reminder to oncall: firing quality:groundedness #1; firing quality:relevance #2",
				"+2h30m0s reminder to oncall: firing quality:groundedness #1; firing quality:relevance #2",
			},
		},
		{
			name: "a silence of a key suppresses its messages and expires",
			mod:  both,
			steps: []step{{mute: "quality:relevance", muteFor: 75 * time.Minute}, {res: twoMetrics(5)}, {res: quality("groundedness", 9)},
				{res: twoMetrics(9)}, {res: twoMetrics(5)}},
			want: []string{
				"+30m0s firing to oncall: new quality:groundedness #1",
				"+30m0s firing suppressed by s1 to oncall: new quality:relevance #2",
				"+1h0m0s resolved to oncall: resolved quality:groundedness #1",
				// The silence is over at +1h15m: the resolution is told.
				"+1h30m0s resolved to oncall: resolved quality:relevance #2",
				"+2h0m0s firing to oncall: new quality:groundedness #3; new quality:relevance #4",
			},
		},
		{
			name:  "a silence of the monitor mutes everything, reminders too",
			mod:   func(m *model.Monitor) { oneTarget(m); m.Alerting.RepeatInterval = "1h" },
			steps: []step{{res: bad}, {mute: "*", muteFor: 2 * time.Hour}, {res: bad, after: time.Hour}, {res: good}, {res: bad}, {res: bad, after: time.Hour}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+1h30m0s resolved suppressed by s1 to oncall: resolved quality:groundedness #1",
				// Over at +2h: the next alert is told, and reminds.
				"+2h0m0s firing to oncall: new quality:groundedness #2",
				"+3h0m0s reminder to oncall: firing quality:groundedness #2",
			},
		},
		{
			name:   "group_wait lets a later run's alerts join the first message",
			mod:    both,
			timing: map[string]model.GroupTiming{"oncall": {Wait: 10 * time.Minute}},
			steps: []step{{res: quality("groundedness", 5)}, {tick: true, after: 5 * time.Minute},
				{res: twoMetrics(5), after: 4 * time.Minute}, {tick: true, after: time.Minute}},
			want: []string{
				"+10m0s firing to oncall: new quality:groundedness #1; new quality:relevance #2",
			},
		},
		{
			name:   "an alert resolved within group_wait is never told",
			mod:    oneTarget,
			timing: map[string]model.GroupTiming{"oncall": {Wait: 10 * time.Minute}},
			steps:  []step{{res: bad}, {res: good, after: 5 * time.Minute}, {tick: true, after: 10 * time.Minute}},
		},
		{
			name:   "group_interval spaces the messages of a changing group",
			mod:    both,
			timing: map[string]model.GroupTiming{"oncall": {Interval: time.Hour}},
			steps: []step{{res: quality("groundedness", 5)}, {res: twoMetrics(5)}, {tick: true, after: 29 * time.Minute},
				{tick: true, after: time.Minute}, {res: twoMetrics(9), after: 10 * time.Minute}, {tick: true, after: 50 * time.Minute}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+1h0m0s firing to oncall: new quality:relevance #2; firing quality:groundedness #1",
				"+2h0m0s resolved to oncall: resolved quality:groundedness #1; resolved quality:relevance #2",
			},
		},
		{
			name:  "flapping makes new alerts",
			mod:   oneTarget,
			steps: []step{{res: bad}, {res: good}, {res: bad}, {res: good}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+30m0s resolved to oncall: resolved quality:groundedness #1",
				"+1h0m0s firing to oncall: new quality:groundedness #2",
				"+1h30m0s resolved to oncall: resolved quality:groundedness #2",
			},
		},
		{
			name:  "no data fires its own alert and leaves quality alone",
			mod:   oneTarget,
			steps: []step{{res: bad}, {res: noData}, {res: noData}, {res: bad}, {res: good}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+30m0s firing to oncall: new no_data #2; firing quality:groundedness #1",
				"+1h30m0s firing to oncall: firing quality:groundedness #1; resolved no_data #2",
				"+2h0m0s resolved to oncall: resolved quality:groundedness #1",
			},
		},
		{
			name:  "no data ignored",
			mod:   func(m *model.Monitor) { oneTarget(m); m.Alerting.NoData = "ignore" },
			steps: []step{{res: noData}, {res: noData}, {res: good}},
		},
		{
			name:  "a metric with only judge errors is unhealthy, not failing",
			mod:   oneTarget,
			steps: []step{{res: allErrors}, {res: allErrors}, {res: good}},
			want: []string{
				"+0s firing to oncall: new unhealthy:groundedness #1",
				"+1h0m0s resolved to oncall: resolved unhealthy:groundedness #1",
			},
		},
		{
			name:  "a failed run is unhealthy and leaves quality alone",
			mod:   oneTarget,
			steps: []step{{res: bad}, {err: "judge aoai: 429 Too Many Requests after 3 retries\nmore"}, {res: bad}, {res: good}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+30m0s firing to oncall: new unhealthy:run #2; firing quality:groundedness #1",
				"+1h0m0s firing to oncall: firing quality:groundedness #1; resolved unhealthy:run #2",
				"+1h30m0s resolved to oncall: resolved quality:groundedness #1",
			},
		},
		{
			name: "a re-run of an older window changes nothing",
			mod:  oneTarget,
			// The third run ends before the second (a manual re-run of the past).
			steps: []step{{res: bad}, {res: good}, {res: bad, after: -45 * time.Minute}, {res: good, after: time.Hour}},
			want: []string{
				"+0s firing to oncall: new quality:groundedness #1",
				"+30m0s resolved to oncall: resolved quality:groundedness #1",
			},
		},
		{
			name:  "no targets: alerts without notifications",
			mod:   func(m *model.Monitor) { m.Notify = model.Notify{} },
			steps: []step{{res: bad}, {res: good}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, monitorWith(tc.mod))
			m.d.Timing = func(ch string) model.GroupTiming { return tc.timing[ch] }
			at := t0
			for i, s := range tc.steps {
				if s.mute != "" {
					key := s.mute
					if key == "*" {
						key = ""
					}
					m.silences = append(m.silences, model.Silence{ID: fmt.Sprintf("s%d", len(m.silences)+1), Monitor: m.mon.Name,
						Key: key, CreatedAt: at, EndsAt: at.Add(s.muteFor)})
					continue
				}
				if s.ack {
					for k, a := range m.snap.Firing {
						a.AckedAt, a.AckComment = at, "looking into it"
						m.snap.Firing[k] = a
						m.alerts[a.ID] = a
					}
					continue
				}
				if i > 0 {
					at = at.Add(cmpOr(s.after, 30*time.Minute))
				}
				if s.tick {
					m.flush(at)
					continue
				}
				m.run(at, s.res, nil, s.err)
			}
			if diff := cmp.Diff(tc.want, m.lines); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// TestAlertHistory follows one alert's record: when and by which runs it
// fired, was last seen and resolved, and its reminders.
func TestAlertHistory(t *testing.T) {
	m := newMachine(t, monitorWith(func(m *model.Monitor) { m.Alerting.RepeatInterval = "1h" }))
	m.run(t0, bad, nil, "")
	m.run(t0.Add(time.Hour), bad, nil, "")
	m.run(t0.Add(90*time.Minute), good, nil, "")
	a := m.alerts["a1"]
	want := model.Alert{ID: "a1", Monitor: "rag", Key: "quality:groundedness", Kind: model.AlertQuality, Subject: "groundedness",
		State: model.AlertResolved, Summary: "groundedness pass rate 50.0% is below 70.0%", Value: ptr(0.5), Threshold: "pass rate ≥ 70.0%",
		FiredAt: t0, FiringRunID: "run1", LastRunID: "run3", ResolvedRunID: "run3", ResolvedAt: t0.Add(90 * time.Minute),
		LastNotifiedAt: t0.Add(time.Hour), Reminders: 1}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("alert (-want +got):\n%s", diff)
	}
	if len(m.snap.Firing) != 0 || m.snap.Trackers["quality:groundedness"].AlertID != "" {
		t.Errorf("after the resolution: firing %v, tracker %+v", m.snap.Firing, m.snap.Trackers["quality:groundedness"])
	}
}

// TestMessage checks what a group message says: of each alert, the value
// against the threshold, the window, the run and the three worst
// instances; of the group, the counts, the event and the latest run.
func TestMessage(t *testing.T) {
	score := func(v float64) *float64 { return &v }
	instances := []model.Instance{
		{Metric: "groundedness", TraceID: "t1", Status: model.InstanceJudged, Score: score(4), Reason: "fine"},
		{Metric: "groundedness", TraceID: "t2", Status: model.InstanceJudged, Score: score(1), Reason: "invents a refund policy"},
		{Metric: "groundedness", TraceID: "t3", Status: model.InstanceJudged, Score: score(2), Reason: "half supported"},
		{Metric: "groundedness", TraceID: "t0", Status: model.InstanceJudged, Score: score(2), Reason: "cites nothing"},
		{Metric: "groundedness", TraceID: "t4", Status: model.InstanceError, Error: "judge error"},
		{Metric: "fluency", TraceID: "t5", Status: model.InstanceJudged, Score: score(1)},
	}
	mon := monitorWith(func(m *model.Monitor) {
		m.Target.Deployment = "blue"
		m.Notify = model.Notify{Channels: []string{"oncall"}}
	})
	r := model.Run{ID: "run1", Monitor: "rag", WindowStart: t0.Add(-time.Hour), WindowEnd: t0}
	ids := []string{"a1", "g1"}
	d := Decider{NewID: func() string { id := ids[0]; ids = ids[1:]; return id }}
	now := t0.Add(time.Minute)
	c, err := d.Decide(Input{Run: r, Monitor: mon, Result: bad, Instances: instances, Now: now}, store.AlertSnapshot{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notifications) != 0 || len(c.Groups) != 1 {
		t.Fatalf("%d notifications and %d groups, want none and 1", len(c.Notifications), len(c.Groups))
	}
	g := c.Groups[0]
	if g.ID != "g1" || g.Channel != "oncall" || !g.DueAt.Equal(now) {
		t.Errorf("group %s of %s due at %s, want g1 of oncall due at %s", g.ID, g.Channel, g.DueAt, now)
	}
	g, ns := Flush(g, nil, now)
	if len(ns) != 1 {
		t.Fatalf("a due group queued %d notifications, want 1", len(ns))
	}
	n := &ns[0]
	item := model.AlertMessage{AlertID: "a1", Monitor: "rag", Service: "shop", Deployment: "blue", Kind: model.AlertQuality,
		Subject: "groundedness", State: model.AlertFiring, Change: model.ChangeNew,
		Summary: "groundedness pass rate 50.0% is below 70.0%", Value: ptr(0.5), Threshold: "pass rate ≥ 70.0%",
		RunID: "run1", WindowStart: t0.Add(-time.Hour), WindowEnd: t0, FiredAt: now,
		Worst: []model.WorstInstance{{TraceID: "t2", Score: 1, Reason: "invents a refund policy"},
			{TraceID: "t0", Score: 2, Reason: "cites nothing"}, {TraceID: "t3", Score: 2, Reason: "half supported"}}}
	want := model.Notification{AlertID: "a1", Monitor: "rag", Channel: "oncall", Event: model.EventFiring,
		DedupKey: "group/g1/1", Status: model.NotificationPending, CreatedAt: now, NextAttemptAt: now,
		Message: model.AlertMessage{Monitor: "rag", Service: "shop", Deployment: "blue", Event: model.EventFiring,
			State: model.AlertFiring, Summary: "1 firing", RunID: "run1", WindowStart: t0.Add(-time.Hour), WindowEnd: t0,
			Alerts: []model.AlertMessage{item}}}
	if diff := cmp.Diff(want, *n); diff != "" {
		t.Errorf("notification (-want +got):\n%s", diff)
	}
	if g.Sent != 1 || !g.LastSentAt.Equal(now) || !g.DueAt.IsZero() || g.Alerts[0].Told != model.AlertFiring {
		t.Errorf("group after the flush: %+v", g)
	}
	// Flushed again with nothing due: no message.
	if _, ns := Flush(model.AlertGroup{ID: "g2", Monitor: "rag", Channel: "oncall", DueAt: now}, nil, now); ns != nil {
		t.Errorf("an empty group queued %+v", ns)
	}
}

// TestGroupSummary counts the alerts of a message.
func TestGroupSummary(t *testing.T) {
	for _, tc := range []struct {
		fresh, firing, resolved int
		want                    string
	}{
		{1, 0, 0, "1 firing"},
		{2, 1, 0, "3 firing (2 new)"},
		{0, 3, 2, "3 firing, 2 resolved"},
		{0, 0, 2, "2 resolved"},
	} {
		if got := groupSummary(tc.fresh, tc.firing, tc.resolved); got != tc.want {
			t.Errorf("groupSummary(%d, %d, %d) = %q, want %q", tc.fresh, tc.firing, tc.resolved, got, tc.want)
		}
	}
}

// TestOperationalAndRemovedMetrics: operational signals alert per signal
// and group; a firing alert of a metric the monitor no longer checks
// resolves.
func TestOperationalAndRemovedMetrics(t *testing.T) {
	mon := monitorWith(func(m *model.Monitor) {
		m.Notify = model.Notify{Channels: []string{"oncall"}}
		m.Operational = map[string]model.Bound{"error_rate": {Max: ptr(0.05)}, "total_tokens_per_group": {Max: ptr(1000)}}
	})
	m := newMachine(t, mon)
	res := *bad
	res.Operational = []model.OperationalResult{
		{Name: "error_rate", Value: ptr(0.08), Bound: model.Bound{Max: ptr(0.05)}, Violation: true},
		{Name: "total_tokens_per_group", Group: "gpt-4o", Value: ptr(1200), Bound: model.Bound{Max: ptr(1000)}, Violation: true},
		{Name: "total_tokens_per_group", Group: "gpt-4o-mini", Value: ptr(10), Bound: model.Bound{Max: ptr(1000)}},
	}
	m.run(t0, &res, nil, "")
	// The monitor drops groundedness and error_rate; the window has no
	// gpt-4o traffic (not observed: its alert keeps firing).
	m.mon.Quality = map[string]model.QualityThreshold{"fluency": {MinPassRate: ptr(0.7)}}
	delete(m.mon.Operational, "error_rate")
	m.run(t0.Add(time.Hour), quality("fluency", 9), nil, "")
	want := []string{
		"+0s firing to oncall: new operational:error_rate #2; new operational:total_tokens_per_group:gpt-4o #3; new quality:groundedness #1",
		"+1h0m0s firing to oncall: firing operational:total_tokens_per_group:gpt-4o #3; resolved operational:error_rate #2; resolved quality:groundedness #1",
	}
	if diff := cmp.Diff(want, m.lines); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	var summaries []string
	for _, a := range m.sent[1].Message.Alerts {
		summaries = append(summaries, a.Summary)
	}
	wantSummaries := []string{"total_tokens_per_group (gpt-4o) 1200 is above 1000",
		"error_rate is no longer checked by the monitor", "groundedness is no longer checked by the monitor"}
	if diff := cmp.Diff(wantSummaries, summaries); diff != "" {
		t.Errorf("summaries (-want +got):\n%s", diff)
	}
	if _, ok := m.snap.Firing["operational:total_tokens_per_group:gpt-4o"]; !ok {
		t.Error("the gpt-4o alert stopped firing without data")
	}
}

// TestBadRepeatInterval: a repeat interval that does not parse (stored
// before validation tightened) fails the decision, not silently.
func TestBadRepeatInterval(t *testing.T) {
	mon := monitorWith(func(m *model.Monitor) { m.Alerting.RepeatInterval = "daily" })
	_, err := Decider{}.Decide(Input{Monitor: mon, Result: bad, Now: t0}, store.AlertSnapshot{})
	if err == nil || !strings.Contains(err.Error(), "repeat_interval") {
		t.Errorf("err = %v, want one naming repeat_interval", err)
	}
}

// TestGroupOfATargetDropped: an alert that resolves while the monitor
// does not name a target is told resolved when the target is named
// again, not left firing in its group.
func TestGroupOfATargetDropped(t *testing.T) {
	m := newMachine(t, monitorWith(func(m *model.Monitor) { m.Notify = model.Notify{Channels: []string{"oncall"}} }))
	m.run(t0, bad, nil, "")
	m.mon.Notify.Channels = []string{"pager"}
	m.run(t0.Add(time.Hour), good, nil, "")
	m.mon.Notify.Channels = []string{"oncall"}
	m.run(t0.Add(2*time.Hour), bad, nil, "")
	want := []string{
		"+0s firing to oncall: new quality:groundedness #1",
		"+2h0m0s firing to oncall: new quality:groundedness #2; resolved quality:groundedness #1",
	}
	if diff := cmp.Diff(want, m.lines); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// TestDegradedMessage: a run in which the judge failed says so in the
// message of each alert it decided and in the group's message.
func TestDegradedMessage(t *testing.T) {
	mon := monitorWith(func(m *model.Monitor) { m.Notify = model.Notify{Channels: []string{"oncall"}} })
	res := *bad
	res.Degraded, res.JudgeErrors, res.JudgeError = true, 3, "judge: 500 Internal Server Error\nretried 4 times"
	r := model.Run{ID: "run1", Monitor: "rag", WindowStart: t0.Add(-time.Hour), WindowEnd: t0}
	ids := []string{"a1", "g1"}
	d := Decider{NewID: func() string { id := ids[0]; ids = ids[1:]; return id }}
	now := t0.Add(time.Minute)
	c, err := d.Decide(Input{Run: r, Monitor: mon, Result: &res, Now: now}, store.AlertSnapshot{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 1 {
		t.Fatalf("%d groups, want 1", len(c.Groups))
	}
	_, ns := Flush(c.Groups[0], nil, now)
	if len(ns) != 1 || len(ns[0].Message.Alerts) == 0 {
		t.Fatalf("flush queued %+v, want one message with alerts", ns)
	}
	const want = "the judge failed for 3 instances of this run; first error: judge: 500 Internal Server Error"
	if got := ns[0].Message.Degraded; got != want {
		t.Errorf("group message degraded = %q, want %q", got, want)
	}
	if got := ns[0].Message.Alerts[0].Degraded; got != want {
		t.Errorf("alert message degraded = %q, want %q", got, want)
	}
}
