package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api"
)

// TestProgressLines follows a run off a terminal: a line when the status
// changes and one for each tenth of the traces evaluated, never the same
// twice.
func TestProgressLines(t *testing.T) {
	run := func(status string, done, total int) api.Run {
		r := api.Run{ID: "r1", Status: status}
		if total > 0 {
			r.Progress = &api.RunProgress{Done: done, Total: total}
		}
		return r
	}
	var buf bytes.Buffer
	p := newProgress(&buf)
	for _, r := range []api.Run{
		run("pending", 0, 0), run("pending", 0, 0), run("running", 0, 0),
		run("running", 0, 200), run("running", 15, 200), run("running", 20, 200),
		run("running", 39, 200), run("running", 110, 200), run("running", 200, 200),
	} {
		p.update(r, time.Second)
	}
	want := `run r1: pending
run r1: running
run r1: 0/200 traces evaluated (0%)
run r1: 20/200 traces evaluated (10%)
run r1: 110/200 traces evaluated (55%)
run r1: 200/200 traces evaluated (100%)
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("progress lines (-want +got):\n%s", diff)
	}
}

func TestProgressBar(t *testing.T) {
	for _, tc := range []struct {
		done, total int
		want        string
	}{
		{0, 10, "[..........]"},
		{5, 10, "[#####.....]"},
		{10, 10, "[##########]"},
		{12, 10, "[##########]"}, // never past full
		{1, 3, "[###.......]"},
		{0, 0, "[..........]"},
	} {
		if got := progressBar(tc.done, tc.total, 10); got != tc.want {
			t.Errorf("progressBar(%d, %d) = %s, want %s", tc.done, tc.total, got, tc.want)
		}
	}
}

// TestTimeLeft estimates from the rate seen since progress was first seen,
// not from the run's start.
func TestTimeLeft(t *testing.T) {
	p := newProgress(&bytes.Buffer{})
	at := func(done int, elapsed time.Duration) (time.Duration, bool) {
		return p.timeLeft(api.Run{Progress: &api.RunProgress{Done: done, Total: 1000}}, elapsed)
	}
	if _, ok := at(400, 10*time.Second); ok {
		t.Error("an estimate from a single reading")
	}
	if _, ok := at(400, 11*time.Second); ok {
		t.Error("an estimate while nothing moved")
	}
	// 100 traces in 5 s since first seen: 500 left take 25 s.
	if left, ok := at(500, 15*time.Second); !ok || left != 25*time.Second {
		t.Errorf("time left = %v, %v; want 25s", left, ok)
	}
	if _, ok := at(1000, 20*time.Second); ok {
		t.Error("an estimate for a finished run")
	}
}

// TestWriteResultsJudgeOutage: the run of the judge outage. The
// LLM metrics judged nothing because every judge call failed, the
// built-in metric violated its threshold: the view says the run is
// degraded with the count and first error, the footer counts the
// built-in violation only and says which checks could not be made, and
// the judge's usage is shown when there is any.
func TestWriteResultsJudgeOutage(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	sampled := 10
	noData := func(errors int) api.MetricOutcome {
		return api.MetricOutcome{Errors: errors, PassScore: 3, MinPassRate: f(0.7), NoData: true}
	}
	run := api.Run{ID: "r1", Monitor: "m", Trigger: "schedule", Status: "succeeded", Sampled: &sampled,
		Metrics: map[string]api.MetricOutcome{
			"fluency":              noData(10),
			"groundedness":         noData(10),
			"lexical_groundedness": {Judged: 10, Passed: 7, PassRate: f(0.7), PassScore: 0.8, MinPassRate: f(0.9), Violation: true, PassRateViolation: true},
		},
		Summary:  &api.RunSummary{Metrics: 3, NoData: 2, Checks: 1, Violations: 1, ViolatedMetrics: 1, Unchecked: 2, Unhealthy: 2, ViolationRate: f(1)},
		Degraded: true, JudgeErrors: 20, JudgeError: "judge error: error status (HTTP 500) after 8 attempts: HTTP 500: upstream down"}
	tests := []struct {
		name  string
		usage *api.JudgeUsage
		want  []string
		not   []string
	}{
		{name: "every call failed", want: []string{
			"DEGRADED: the judge failed for 20 instances; first error: judge error: error status (HTTP 500) after 8 attempts: HTTP 500: upstream down\n",
			"\n1 of 1 quality check violated (100.0%); 2 metrics judged nothing (2 because the judge or evaluator failed), so 2 checks not made; 0 operational signals violated\n",
		}, not: []string{"judge usage"}},
		{name: "priced usage", usage: &api.JudgeUsage{InputTokens: 1000, OutputTokens: 200, CostUSD: f(0.0045)},
			want: []string{"judge usage: 1000 input and 200 output tokens, $0.0045\n"}},
		{name: "no price", usage: &api.JudgeUsage{InputTokens: 1000, OutputTokens: 200},
			want: []string{"judge usage: 1000 input and 200 output tokens, cost unknown (no price for the judge's model)\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run
			r.JudgeUsage = tt.usage
			var b strings.Builder
			if err := writeResults(&b, r, time.UTC); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output does not hold %q:\n%s", w, b.String())
				}
			}
			for _, w := range tt.not {
				if strings.Contains(b.String(), w) {
					t.Errorf("output holds %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestRunTableDegraded: the run list marks a degraded run.
func TestRunTableDegraded(t *testing.T) {
	sampled := 10
	runs := []api.Run{
		{ID: "r2", Status: "succeeded", Trigger: "schedule", Sampled: &sampled, Summary: &api.RunSummary{Unchecked: 2, Unhealthy: 2}, Degraded: true, JudgeErrors: 20},
		{ID: "r1", Status: "succeeded", Trigger: "schedule", Sampled: &sampled, Summary: &api.RunSummary{Checks: 2}},
	}
	var b bytes.Buffer
	if err := writeRunTable(&b, runs, time.UTC); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "0/0 degraded") || strings.Contains(lines[2], "degraded") {
		t.Errorf("run table:\n%s\nwant r2 marked degraded, r1 not", b.String())
	}
}
