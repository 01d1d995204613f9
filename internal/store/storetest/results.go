package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// testResults checks run results and the evaluation cache: a result is
// saved only by the run's holder and ends the run, instances come back as
// saved, and a cached evaluation is kept, not replaced.
func testResults(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r, _, err := s.ScheduleRun(ctx, model.Run{Monitor: "m", ScheduledAt: t0, WindowStart: t0.Add(-time.Hour), WindowEnd: t0, CreatedAt: t0}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ClaimRun(ctx, "a", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	score, rate, avg, cost := 4.0, 0.5, 3.0, 0.0042
	// A degraded run: the judge failed for one instance; what its replies
	// consumed is kept per metric and in all.
	res := model.RunResult{RunID: r.ID, Sampled: 3,
		Metrics: []model.MetricResult{{Metric: "fluency", Judged: 2, NotEvaluable: 1, AverageScore: &avg, Passed: 1, PassRate: &rate,
			PassRateCI: &[2]float64{0.09, 0.91}, PassScore: 4, MinPassRate: &rate,
			JudgeUsage: &model.JudgeUsage{InputTokens: 1200, OutputTokens: 80, CostUSD: &cost}}},
		Operational: []model.OperationalResult{{Name: "error_rate", Value: &rate, Bound: model.Bound{Max: &rate}}},
		Degraded:    true, JudgeErrors: 1, JudgeError: "judge error: malformed reply twice: not JSON",
		JudgeUsage: &model.JudgeUsage{InputTokens: 1200, OutputTokens: 80, CostUSD: &cost}}
	instances := []model.Instance{
		{RunID: r.ID, Metric: "fluency", TraceID: "t1", Status: model.InstanceJudged, Score: &score, Passed: true, Reason: "clear",
			JudgeModel: "gpt-4o", PromptVersion: "v1.1"},
		{RunID: r.ID, Metric: "fluency", TraceID: "t2", Status: model.InstanceError, Error: "malformed reply", RawReply: "{score: ?"},
		{RunID: r.ID, Metric: "fluency", TraceID: "t3", Status: model.InstanceNotEvaluable, Error: "no answer"},
	}
	mustBe(t, "SaveRunResult by another owner", s.SaveRunResult(ctx, "b", res, instances, t0, nil), store.ErrConflict)
	_, err = s.RunResult(ctx, r.ID)
	mustBe(t, "RunResult before saving", err, store.ErrNotFound)
	if err := s.SaveRunResult(ctx, "a", res, instances, t0.Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.RunResult(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	yes, no := true, false
	for _, tc := range []struct {
		name string
		q    store.InstanceQuery
		want []model.Instance
	}{
		{"all", store.InstanceQuery{RunID: r.ID}, instances},
		{"by metric", store.InstanceQuery{RunID: r.ID, Metric: "fluency"}, instances},
		{"another metric", store.InstanceQuery{RunID: r.ID, Metric: "coherence"}, nil},
		{"by status", store.InstanceQuery{RunID: r.ID, Status: model.InstanceError}, instances[1:2]},
		{"passed", store.InstanceQuery{RunID: r.ID, Passed: &yes}, instances[:1]},
		{"failed (judged only)", store.InstanceQuery{RunID: r.ID, Passed: &no}, nil},
		{"first page", store.InstanceQuery{RunID: r.ID, Limit: 2}, instances[:2]},
		{"next page", store.InstanceQuery{RunID: r.ID, Limit: 2, AfterMetric: "fluency", AfterTraceID: "t2"}, instances[2:]},
		{"after the last", store.InstanceQuery{RunID: r.ID, AfterMetric: "fluency", AfterTraceID: "t3"}, nil},
		{"another run", store.InstanceQuery{RunID: "nope"}, nil},
	} {
		got, err := s.RunInstances(ctx, tc.q)
		if err != nil {
			t.Fatalf("RunInstances %s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("RunInstances %s (-want +got):\n%s", tc.name, diff)
		}
	}
	if run, _ := s.GetRun(ctx, r.ID); run.Status != model.RunSucceeded || !run.FinishedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("run after its result: %+v", run)
	}

	evals := []model.Evaluation{
		{TraceID: "t1", Metric: "fluency", JudgeModel: "gpt-4o", PromptVersion: "v1.1", Score: 4, Reason: "clear", CreatedAt: t0},
		{TraceID: "t1", Metric: "fluency", JudgeModel: "gpt-4o", PromptVersion: "v1.2", Score: 5, CreatedAt: t0},
	}
	if err := s.CacheEvaluations(ctx, evals); err != nil {
		t.Fatal(err)
	}
	again := evals[0]
	again.Score = 1
	if err := s.CacheEvaluations(ctx, []model.Evaluation{again}); err != nil {
		t.Fatal(err)
	}
	key := func(trace, version string) store.EvalCacheKey {
		return store.EvalCacheKey{TraceID: trace, Metric: "fluency", JudgeModel: "gpt-4o", PromptVersion: version}
	}
	keys := []store.EvalCacheKey{key("t1", "v1.1"), key("t1", "v1.2"), key("t2", "v1.1")}
	for i := 0; i < 500; i++ { // more keys than one query takes
		keys = append(keys, store.EvalCacheKey{TraceID: "x", Metric: "fluency", JudgeModel: "m", PromptVersion: string(rune('a' + i%26))})
	}
	cached, err := s.CachedEvaluations(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[store.EvalCacheKey]model.Evaluation{keys[0]: evals[0], keys[1]: evals[1]}
	if diff := cmp.Diff(want, cached); diff != "" {
		t.Errorf("cached evaluations (-want +got):\n%s", diff)
	}
}

// finishRun records a run of monitor over the window ending at windowEnd
// (a scheduled one, or a manual one when manual is set), claims it and
// saves its result with instances at finished. The store must hold no
// other claimable run.
func finishRun(t *testing.T, s store.Store, monitor string, windowEnd, finished time.Time, manual bool, res model.RunResult, instances []model.Instance) model.Run {
	t.Helper()
	ctx := context.Background()
	r := model.Run{Monitor: monitor, MonitorVersion: 1, ScheduledAt: windowEnd, WindowStart: windowEnd.Add(-time.Hour),
		WindowEnd: windowEnd, CreatedAt: finished.Add(-time.Minute)}
	var err error
	if manual {
		r, err = s.CreateRun(ctx, r)
	} else {
		r, _, err = s.ScheduleRun(ctx, r, windowEnd.Add(time.Hour))
	}
	if err != nil {
		t.Fatal(err)
	}
	claimed, ok, err := s.ClaimRun(ctx, "owner", finished.Add(-time.Second), time.Minute)
	if err != nil || !ok || claimed.ID != r.ID {
		t.Fatalf("claim of run %s = %+v, %v, %v", r.ID, claimed, ok, err)
	}
	res.RunID = r.ID
	for i := range instances {
		instances[i].RunID = r.ID
	}
	if err := s.SaveRunResult(ctx, "owner", res, instances, finished, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// testRunResults checks the runs listed with their results for a time
// series: only succeeded runs of the monitor, by window end in [since,
// until), newest first (a later run over the same window first), bounded
// by limit.
func testRunResults(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	result := func(avg float64) model.RunResult {
		rate, minRate := avg/5, 0.7
		return model.RunResult{Sampled: 4,
			Metrics: []model.MetricResult{{Metric: "coherence", Judged: 4, AverageScore: &avg, Passed: 2, PassRate: &rate,
				PassRateCI: &[2]float64{0.15, 0.85}, PassScore: 3, MinPassRate: &minRate, Violation: rate < minRate, PassRateViolation: rate < minRate}},
			Operational: []model.OperationalResult{{Name: "request_count", Value: &avg, Bound: model.Bound{Min: &minRate}}}}
	}
	var runs []store.RunWithResult
	for i := 0; i < 4; i++ {
		end := t0.Add(time.Duration(i) * time.Hour)
		res := result(float64(i + 1))
		switch i {
		case 1: // degraded, its judge's model without a price
			res.Degraded, res.JudgeErrors, res.JudgeError = true, 3, "judge error: error status (HTTP 500) after 8 attempts"
			res.JudgeUsage = &model.JudgeUsage{InputTokens: 300, OutputTokens: 20}
		case 2: // judged without a failure
			cost := 0.01
			res.JudgeUsage = &model.JudgeUsage{InputTokens: 900, OutputTokens: 60, CostUSD: &cost}
		}
		r := finishRun(t, s, "m", end, end.Add(time.Minute), false, res, nil)
		res.RunID = r.ID
		runs = append(runs, store.RunWithResult{Run: r, Result: res})
	}
	// A manual re-run over the window of runs[2], finished later.
	rerun := result(4.5)
	r := finishRun(t, s, "m", t0.Add(2*time.Hour), t0.Add(5*time.Hour), true, rerun, nil)
	rerun.RunID = r.ID
	again := store.RunWithResult{Run: r, Result: rerun}
	// Another monitor's run, and runs of m that did not succeed.
	finishRun(t, s, "other", t0.Add(time.Hour), t0.Add(6*time.Hour), false, result(2), nil)
	failed, _, err := s.ScheduleRun(ctx, model.Run{Monitor: "m", ScheduledAt: t0.Add(90 * time.Minute), WindowEnd: t0.Add(90 * time.Minute),
		CreatedAt: t0.Add(7 * time.Hour)}, t0.Add(8*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ClaimRun(ctx, "owner", t0.Add(7*time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, failed.ID, "owner", model.RunFailed, "judge unreachable", t0.Add(7*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRun(ctx, model.Run{Monitor: "m", ScheduledAt: t0.Add(150 * time.Minute), WindowEnd: t0.Add(150 * time.Minute),
		CreatedAt: t0.Add(8 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name         string
		monitor      string
		since, until time.Time
		limit        int
		want         []store.RunWithResult
	}{
		{"range", "m", t0.Add(time.Hour), t0.Add(3 * time.Hour), 10, []store.RunWithResult{again, runs[2], runs[1]}},
		{"limit keeps the newest", "m", t0.Add(time.Hour), t0.Add(3 * time.Hour), 2, []store.RunWithResult{again, runs[2]}},
		{"no upper bound", "m", t0.Add(2 * time.Hour), time.Time{}, 10, []store.RunWithResult{runs[3], again, runs[2]}},
		{"everything", "m", time.Time{}, time.Time{}, 10, []store.RunWithResult{runs[3], again, runs[2], runs[1], runs[0]}},
		{"empty range", "m", t0.Add(10 * time.Minute), t0.Add(time.Hour), 10, nil},
		{"unknown monitor", "nope", time.Time{}, time.Time{}, 10, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.RunResults(ctx, tc.monitor, tc.since, tc.until, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("RunResults (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := s.RunResults(ctx, "m", time.Time{}, time.Time{}, 0); err == nil {
		t.Error("RunResults with limit 0: no error")
	}
}

// testTraceEvaluations checks the judged instances listed for a trace:
// from every run that judged it, newest finish first and by metric within
// a run, with the run's monitor and finish time; instances not evaluable
// or in error are left out; bounded by limit.
func testTraceEvaluations(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const trace, otherTrace = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	score := func(v float64) *float64 { return &v }
	judged := func(metric, traceID string, v float64, passed bool, reason string) model.Instance {
		return model.Instance{Metric: metric, TraceID: traceID, Status: model.InstanceJudged, Score: score(v), Passed: passed,
			Reason: reason, JudgeModel: "gpt-4o", PromptVersion: "2"}
	}
	first := []model.Instance{
		judged("relevance", trace, 5, true, "On topic."),
		judged("fluency", trace, 4, true, "Reads well."),
		{Metric: "coherence", TraceID: trace, Status: model.InstanceNotEvaluable, Error: "no answer"},
		{Metric: "groundedness", TraceID: trace, Status: model.InstanceError, Error: "judge reply is not JSON", RawReply: "four"},
		judged("fluency", otherTrace, 3, true, "Fine."),
	}
	r1 := finishRun(t, s, "quality", t0, t0.Add(time.Minute), false, model.RunResult{Sampled: 2}, first)
	second := []model.Instance{judged("fluency", trace, 2, false, "Broken sentences.")}
	second[0].JudgeModel, second[0].PromptVersion = "builtin", "1"
	r2 := finishRun(t, s, "old", t0.Add(time.Hour), t0.Add(2*time.Hour), false, model.RunResult{Sampled: 1}, second)

	eval := func(r model.Run, in model.Instance) store.TraceEvaluation {
		return store.TraceEvaluation{Instance: in, Monitor: r.Monitor, FinishedAt: r.FinishedAt}
	}
	all := []store.TraceEvaluation{eval(r2, second[0]), eval(r1, first[1]), eval(r1, first[0])}
	if !r1.FinishedAt.Equal(t0.Add(time.Minute)) || !r2.FinishedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("finish times %s, %s", r1.FinishedAt, r2.FinishedAt)
	}
	cases := []struct {
		name  string
		trace string
		limit int
		want  []store.TraceEvaluation
	}{
		{"all", trace, 10, all},
		{"limit keeps the newest", trace, 2, all[:2]},
		{"other trace", otherTrace, 10, []store.TraceEvaluation{eval(r1, first[4])}},
		{"unknown trace", "ffffffffffffffffffffffffffffffff", 10, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.TraceEvaluations(ctx, tc.trace, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("TraceEvaluations (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := s.TraceEvaluations(ctx, trace, 0); err == nil {
		t.Error("TraceEvaluations with limit 0: no error")
	}
}
