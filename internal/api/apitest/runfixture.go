package apitest

import (
	"fmt"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
)

// The runs SeedRuns records, by id.
const (
	// SucceededRunID is a scheduled run of rag_quality that succeeded: 10
	// traces sampled; groundedness below its pass rate, coherence below
	// its average, relevance and fluency fine; error rate above its bound.
	SucceededRunID = "00000000000000000000000000000001"
	// FailedRunID is a scheduled run of rag_quality that failed.
	FailedRunID = "00000000000000000000000000000002"
	// RunningRunID is a manual run of rag_quality, running, no result yet.
	RunningRunID = "00000000000000000000000000000003"
	// DeletedMonitorRunID is a run of old_monitor, a monitor that no
	// longer exists; it judged nothing.
	DeletedMonitorRunID = "00000000000000000000000000000004"
)

// SeedRuns records the runs above in r (which must be empty) and returns
// them in order. Their times are before Now.
func SeedRuns(r *Runs) []model.Run {
	day := 24 * time.Hour
	at := func(d time.Duration) time.Time { return Now().Add(-d) }
	var out []model.Run

	sched := at(2 * time.Hour)
	res, instances := SucceededResult()
	out = append(out, r.Add(model.Run{
		Monitor: "rag_quality", MonitorVersion: 1, Trigger: model.TriggerSchedule, Status: model.RunSucceeded,
		ScheduledAt: sched, WindowStart: sched.Add(-7 * day), WindowEnd: sched, CreatedAt: sched,
		StartedAt: sched.Add(time.Second), FinishedAt: sched.Add(95 * time.Second), Attempts: 1,
	}, &res, instances))

	sched = at(time.Hour)
	out = append(out, r.Add(model.Run{
		Monitor: "rag_quality", MonitorVersion: 1, Trigger: model.TriggerSchedule, Status: model.RunFailed,
		ScheduledAt: sched, WindowStart: sched.Add(-7 * day), WindowEnd: sched, CreatedAt: sched,
		StartedAt: sched.Add(time.Second), FinishedAt: sched.Add(3 * time.Second), Attempts: 2,
		Error: "judge aoai-connection: 401 Unauthorized: check the API key",
	}, nil, nil))

	sched = at(10 * time.Minute)
	out = append(out, r.Add(model.Run{
		Monitor: "rag_quality", MonitorVersion: 1, Trigger: model.TriggerManual, Status: model.RunRunning,
		ScheduledAt: sched, WindowStart: sched.Add(-day), WindowEnd: sched, CreatedAt: sched,
		StartedAt: sched.Add(time.Second), Attempts: 1, LeaseOwner: "host-1", LeaseUntil: sched.Add(30 * time.Minute),
	}, nil, nil))

	sched = at(30 * day)
	empty := model.RunResult{Sampled: 0, Operational: []model.OperationalResult{}}
	m, err := monitor.Aggregate("relevance", threshold(3, 0.7, 0), nil)
	if err != nil {
		panic(err)
	}
	empty.Metrics = []model.MetricResult{m}
	out = append(out, r.Add(model.Run{
		Monitor: "old_monitor", MonitorVersion: 3, Trigger: model.TriggerSchedule, Status: model.RunSucceeded,
		ScheduledAt: sched, WindowStart: sched.Add(-day), WindowEnd: sched, CreatedAt: sched,
		StartedAt: sched.Add(time.Second), FinishedAt: sched.Add(2 * time.Second), Attempts: 1,
	}, &empty, nil))
	return out
}

func threshold(pass, minRate, minAvg float64) model.QualityThreshold {
	th := model.QualityThreshold{PassScore: &pass, MinPassRate: &minRate}
	if minAvg > 0 {
		th.MinAverage = &minAvg
	}
	return th
}

// SucceededResult is the result of SucceededRunID, aggregated from its
// instances the way a run does.
func SucceededResult() (model.RunResult, []model.Instance) {
	const traces = 10
	trace := func(i int) string { return fmt.Sprintf("%032x", 0xa000+i) }
	// Scores by metric; 0 means not evaluable, -1 a judge error.
	scores := []struct {
		metric string
		th     model.QualityThreshold
		scores [traces]float64
	}{
		{"coherence", threshold(3, 0.7, 4), [traces]float64{4, 4, 3, 5, 4, 3, 4, 3, 4, 3}},
		{"fluency", threshold(3, 0.7, 4), [traces]float64{5, 5, 4, 5, 4, 5, 4, 5, 5, 4}},
		{"groundedness", threshold(3, 0.7, 0), [traces]float64{5, 4, 4, 3, 2, 1, 5, 2, 0, -1}},
		{"relevance", threshold(3, 0.7, 0), [traces]float64{5, 5, 4, 4, 3, 5, 4, 3, 5, 2}},
	}
	res := model.RunResult{Sampled: traces}
	var all []model.Instance
	for _, m := range scores {
		var instances []model.Instance
		for i, s := range m.scores {
			in := model.Instance{Metric: m.metric, TraceID: trace(i), JudgeModel: "gpt-4o-mini", PromptVersion: "1"}
			switch s {
			case 0:
				in.Status, in.Error = model.InstanceNotEvaluable, "missing context"
			case -1:
				in.Status, in.Error, in.RawReply = model.InstanceError, "judge reply is not JSON (after one retry)", "I would rate this a four."
			default:
				v := s
				in.Status, in.Score, in.Reason = model.InstanceJudged, &v, fmt.Sprintf("Rated %d of 5.", int(s))
			}
			instances = append(instances, monitor.Grade(in, *m.th.PassScore))
		}
		r, err := monitor.Aggregate(m.metric, m.th, instances)
		if err != nil {
			panic(err)
		}
		res.Metrics = append(res.Metrics, r)
		all = append(all, instances...)
	}
	errRate, p95 := 0.08, 2310.5
	maxRate, maxP95 := 0.05, 4000.0
	res.Operational = []model.OperationalResult{
		monitor.CheckSignal("error_rate", "", &errRate, model.Bound{Max: &maxRate}),
		monitor.CheckSignal("latency_p95_ms", "", &p95, model.Bound{Max: &maxP95}),
	}
	return res, all
}
