package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
	score, rate, avg := 4.0, 0.5, 3.0
	res := model.RunResult{RunID: r.ID, Sampled: 3,
		Metrics: []model.MetricResult{{Metric: "fluency", Judged: 2, NotEvaluable: 1, AverageScore: &avg, Passed: 1, PassRate: &rate,
			PassRateCI: &[2]float64{0.09, 0.91}, PassScore: 4, MinPassRate: &rate}},
		Operational: []model.OperationalResult{{Name: "error_rate", Value: &rate, Bound: model.Bound{Max: &rate}}}}
	instances := []model.Instance{
		{RunID: r.ID, Metric: "fluency", TraceID: "t1", Status: model.InstanceJudged, Score: &score, Passed: true, Reason: "clear",
			JudgeModel: "gpt-4o", PromptVersion: "v1.1"},
		{RunID: r.ID, Metric: "fluency", TraceID: "t2", Status: model.InstanceError, Error: "malformed reply", RawReply: "{score: ?"},
		{RunID: r.ID, Metric: "fluency", TraceID: "t3", Status: model.InstanceNotEvaluable, Error: "no answer"},
	}
	mustBe(t, "SaveRunResult by another owner", s.SaveRunResult(ctx, "b", res, instances, t0), store.ErrConflict)
	_, err = s.RunResult(ctx, r.ID)
	mustBe(t, "RunResult before saving", err, store.ErrNotFound)
	if err := s.SaveRunResult(ctx, "a", res, instances, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.RunResult(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	gotIn, err := s.RunInstances(ctx, r.ID, "fluency")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(instances, gotIn); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	if none, _ := s.RunInstances(ctx, r.ID, "coherence"); len(none) != 0 {
		t.Errorf("instances of another metric: %v", none)
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
