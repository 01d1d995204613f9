package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// TestRunPageDegraded: a run whose judge failed for some instances shows
// a warning box with the count and the (escaped) first error, the checks
// its metrics without data could not make, and a card with the judge's
// usage; a run that is not degraded shows no such box.
func TestRunPageDegraded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	run, err := f.st.CreateRun(ctx, model.Run{ID: "run-degraded", Monitor: "shop-quality", Trigger: model.TriggerManual,
		Status: model.RunPending, ScheduledAt: testNow.Add(-2 * time.Minute), WindowStart: testNow.Add(-62 * time.Minute),
		WindowEnd: testNow.Add(-2 * time.Minute), CreatedAt: testNow.Add(-2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.st.ClaimRun(ctx, "test", testNow.Add(-time.Minute), time.Minute); err != nil || !ok {
		t.Fatalf("claim run: %v %v", ok, err)
	}
	rate, cost := 0.8, 0.0045
	res := model.RunResult{RunID: run.ID, Sampled: 10,
		Metrics:  []model.MetricResult{{Metric: "fluency", Errors: 10, PassScore: 3, MinPassRate: &rate, NoData: true}},
		Degraded: true, JudgeErrors: 10, JudgeError: "judge error: error status (HTTP 500): <b>upstream</b> down",
		JudgeUsage: &model.JudgeUsage{InputTokens: 1000, OutputTokens: 200, CostUSD: &cost}}
	if err := f.st.SaveRunResult(ctx, "test", res, nil, testNow, nil); err != nil {
		t.Fatal(err)
	}

	_, body := f.get(t, "/runs/"+run.ID)
	for _, want := range []string{`class="warnbox"`, "Degraded:", "the judge failed for 10 instances",
		"judge error: error status (HTTP 500): &lt;b&gt;upstream&lt;/b&gt; down", "1 not made (no data)",
		"Judge usage", "tokens in / out"} {
		if !strings.Contains(body, want) {
			t.Errorf("degraded run page does not show %q", want)
		}
	}
	if strings.Contains(body, "<b>upstream</b>") {
		t.Error("the judge error is not escaped")
	}
	if _, body := f.get(t, "/runs/"+f.runID); strings.Contains(body, `class="warnbox"`) || strings.Contains(body, "Judge usage") {
		t.Error("a run that is not degraded and has no judge usage shows a warning or a usage card")
	}
}
