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
// store keeps it, and writes down the notifications each run queued.
type machine struct {
	t       *testing.T
	d       Decider
	mon     model.Monitor
	snap    store.AlertSnapshot
	alerts  map[string]model.Alert
	queued  map[string]bool // dedup keys
	ids     int
	lines   []string
	nextRun int
}

func newMachine(t *testing.T, mon model.Monitor) *machine {
	m := &machine{t: t, mon: mon, alerts: map[string]model.Alert{}, queued: map[string]bool{},
		snap: store.AlertSnapshot{Trackers: map[string]model.AlertTracker{}, Firing: map[string]model.Alert{}}}
	m.d = Decider{NewID: func() string { m.ids++; return fmt.Sprintf("a%d", m.ids) }}
	return m
}

// t0 is the first run's time; runs are 30 minutes apart unless said.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// run applies a run that ended at, over the 7 days before it.
func (m *machine) run(at time.Time, res *model.RunResult, instances []model.Instance, runErr string) {
	m.t.Helper()
	m.nextRun++
	id := fmt.Sprintf("run%d", m.nextRun)
	r := model.Run{ID: id, Monitor: m.mon.Name, WindowStart: at.Add(-7 * 24 * time.Hour), WindowEnd: at}
	changes, err := m.d.Decide(Input{Run: r, Monitor: m.mon, Result: res, Instances: instances, Error: runErr, Now: at}, m.snap)
	if err != nil {
		m.t.Fatalf("%s: %v", id, err)
	}
	m.apply(id, changes)
}

// apply keeps the changes as a store does, and writes down the
// notifications that are new.
func (m *machine) apply(runID string, c store.AlertChanges) {
	for _, tr := range c.Trackers {
		m.snap.Trackers[tr.Key] = tr
	}
	for _, a := range c.Alerts {
		m.alerts[a.ID] = a
		if a.State == model.AlertFiring {
			m.snap.Firing[a.Key] = a
		} else {
			delete(m.snap.Firing, a.Key)
		}
	}
	for _, n := range c.Notifications {
		if m.queued[n.DedupKey] {
			continue
		}
		m.queued[n.DedupKey] = true
		to := n.Channel
		if len(n.Recipients) > 0 {
			to += "(" + strings.Join(n.Recipients, ",") + ")"
		}
		m.lines = append(m.lines, fmt.Sprintf("%s: %s %s %s to %s: %s", runID, n.Event, n.AlertID, m.alerts[n.AlertID].Key, to, n.Message.Summary))
	}
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
// how long after the previous run it ended (30 minutes when zero).
type step struct {
	res   *model.RunResult
	err   string
	after time.Duration
}

func TestSequences(t *testing.T) {
	noData := &model.RunResult{Sampled: 0, Metrics: []model.MetricResult{{Metric: "groundedness", NoData: true, MinPassRate: ptr(0.7)}}}
	allErrors := &model.RunResult{Sampled: 10, Metrics: []model.MetricResult{{Metric: "groundedness", Errors: 10, NoData: true, MinPassRate: ptr(0.7)}}}
	oneTarget := func(m *model.Monitor) { m.Notify = model.Notify{Channels: []string{"oncall"}} }
	cases := []struct {
		name  string
		mod   func(*model.Monitor)
		steps []step
		want  []string
	}{
		{
			name:  "fire and resolve",
			steps: []step{{res: bad}, {res: bad}, {res: good}, {res: good}},
			want: []string{
				"run1: firing a1 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
				"run1: firing a1 quality:groundedness to emails(ml@example.com): groundedness pass rate 50.0% is below 70.0%",
				"run3: resolved a1 quality:groundedness to oncall: groundedness pass rate 90.0%, average 4.5 (pass rate ≥ 70.0%)",
				"run3: resolved a1 quality:groundedness to emails(ml@example.com): groundedness pass rate 90.0%, average 4.5 (pass rate ≥ 70.0%)",
			},
		},
		{
			name:  "for two runs",
			mod:   func(m *model.Monitor) { oneTarget(m); m.Alerting.ForRuns = 2 },
			steps: []step{{res: bad}, {res: good}, {res: bad}, {res: bad}, {res: bad}, {res: good}},
			want: []string{
				"run4: firing a1 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
				"run6: resolved a1 quality:groundedness to oncall: groundedness pass rate 90.0%, average 4.5 (pass rate ≥ 70.0%)",
			},
		},
		{
			name: "reminders every hour",
			mod:  func(m *model.Monitor) { oneTarget(m); m.Alerting.RepeatInterval = "1h" },
			steps: []step{{res: bad}, {res: bad}, {res: quality("groundedness", 4)}, {res: bad},
				{res: bad, after: 2 * time.Hour}, {res: good}},
			want: []string{
				"run1: firing a1 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
				"run3: reminder a1 quality:groundedness to oncall: groundedness pass rate 40.0% is below 70.0%",
				"run5: reminder a1 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
				"run6: resolved a1 quality:groundedness to oncall: groundedness pass rate 90.0%, average 4.5 (pass rate ≥ 70.0%)",
			},
		},
		{
			name:  "flapping makes new alerts",
			mod:   oneTarget,
			steps: []step{{res: bad}, {res: good}, {res: bad}, {res: good}},
			want: []string{
				"run1: firing a1 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
				"run2: resolved a1 quality:groundedness to oncall: groundedness pass rate 90.0%, average 4.5 (pass rate ≥ 70.0%)",
				"run3: firing a2 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
				"run4: resolved a2 quality:groundedness to oncall: groundedness pass rate 90.0%, average 4.5 (pass rate ≥ 70.0%)",
			},
		},
		{
			name:  "no data fires its own alert and leaves quality alone",
			mod:   oneTarget,
			steps: []step{{res: bad}, {res: noData}, {res: noData}, {res: bad}, {res: good}},
			want: []string{
				"run1: firing a1 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
				"run2: firing a2 no_data to oncall: no traces of the target in the window",
				"run4: resolved a2 no_data to oncall: 10 traces sampled from the window",
				"run5: resolved a1 quality:groundedness to oncall: groundedness pass rate 90.0%, average 4.5 (pass rate ≥ 70.0%)",
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
				"run1: firing a1 unhealthy:groundedness to oncall: groundedness: no instance could be judged (10 judge errors, 0 not evaluable)",
				"run3: resolved a1 unhealthy:groundedness to oncall: groundedness: 10 of 10 instances judged",
			},
		},
		{
			name:  "a failed run is unhealthy and leaves quality alone",
			mod:   oneTarget,
			steps: []step{{res: bad}, {err: "judge aoai: 429 Too Many Requests after 3 retries\nmore"}, {res: bad}, {res: good}},
			want: []string{
				"run1: firing a1 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
				"run2: firing a2 unhealthy:run to oncall: the run failed: judge aoai: 429 Too Many Requests after 3 retries",
				"run3: resolved a2 unhealthy:run to oncall: the run succeeded",
				"run4: resolved a1 quality:groundedness to oncall: groundedness pass rate 90.0%, average 4.5 (pass rate ≥ 70.0%)",
			},
		},
		{
			name: "a re-run of an older window changes nothing",
			mod:  oneTarget,
			// The third run ends before the second (a manual re-run of the past).
			steps: []step{{res: bad}, {res: good}, {res: bad, after: -45 * time.Minute}, {res: good, after: time.Hour}},
			want: []string{
				"run1: firing a1 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
				"run2: resolved a1 quality:groundedness to oncall: groundedness pass rate 90.0%, average 4.5 (pass rate ≥ 70.0%)",
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
			at := t0
			for i, s := range tc.steps {
				if i > 0 {
					at = at.Add(cmpOr(s.after, 30*time.Minute))
				}
				m.run(at, s.res, nil, s.err)
			}
			if diff := cmp.Diff(tc.want, m.lines); diff != "" {
				t.Errorf("notifications (-want +got):\n%s", diff)
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

// TestMessage checks what a firing notification says: the value against
// the threshold, the window, the run, and the three worst instances.
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
	c, err := Decider{NewID: func() string { return "a1" }}.Decide(Input{Run: r, Monitor: mon, Result: bad, Instances: instances, Now: t0.Add(time.Minute)},
		store.AlertSnapshot{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notifications) != 1 {
		t.Fatalf("%d notifications, want 1", len(c.Notifications))
	}
	n := c.Notifications[0]
	want := model.Notification{AlertID: "a1", Monitor: "rag", Channel: "oncall", Event: model.EventFiring,
		DedupKey: "a1/firing/0/oncall", Status: model.NotificationPending, CreatedAt: t0.Add(time.Minute), NextAttemptAt: t0.Add(time.Minute),
		Message: model.AlertMessage{AlertID: "a1", Monitor: "rag", Service: "shop", Deployment: "blue", Kind: model.AlertQuality,
			Subject: "groundedness", Event: model.EventFiring, State: model.AlertFiring,
			Summary: "groundedness pass rate 50.0% is below 70.0%", Value: ptr(0.5), Threshold: "pass rate ≥ 70.0%",
			RunID: "run1", WindowStart: t0.Add(-time.Hour), WindowEnd: t0, FiredAt: t0.Add(time.Minute),
			Worst: []model.WorstInstance{{TraceID: "t2", Score: 1, Reason: "invents a refund policy"},
				{TraceID: "t0", Score: 2, Reason: "cites nothing"}, {TraceID: "t3", Score: 2, Reason: "half supported"}}}}
	if diff := cmp.Diff(want, n); diff != "" {
		t.Errorf("notification (-want +got):\n%s", diff)
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
		"run1: firing a1 quality:groundedness to oncall: groundedness pass rate 50.0% is below 70.0%",
		"run1: firing a2 operational:error_rate to oncall: error_rate 0.08 is above 0.05",
		"run1: firing a3 operational:total_tokens_per_group:gpt-4o to oncall: total_tokens_per_group (gpt-4o) 1200 is above 1000",
		"run2: resolved a2 operational:error_rate to oncall: error_rate is no longer checked by the monitor",
		"run2: resolved a1 quality:groundedness to oncall: groundedness is no longer checked by the monitor",
	}
	if diff := cmp.Diff(want, m.lines); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
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
