package model

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResultJSON(t *testing.T) {
	v := func(f float64) *float64 { return &f }
	tests := []struct {
		name string
		in   any
		want string
	}{
		{
			// The keys of the run API's contract (issue: results), plus
			// metric, min_average, no_data and which threshold was violated.
			name: "metric result",
			in: MetricResult{
				Metric: "groundedness", Judged: 10, NotEvaluable: 2, Errors: 1,
				AverageScore: v(3.2), Passed: 6, PassRate: v(0.6), PassRateCI: &[2]float64{0.31, 0.83},
				PassScore: 3, MinPassRate: v(0.7), Violation: true, PassRateViolation: true,
			},
			want: `{"metric":"groundedness","judged":10,"not_evaluable":2,"errors":1,"average_score":3.2,"passed":6,"pass_rate":0.6,"pass_rate_ci":[0.31,0.83],"pass_score":3,"min_pass_rate":0.7,"min_average":null,"no_data":false,"violation":true,"pass_rate_violation":true,"average_violation":false}`,
		},
		{
			name: "metric result without data",
			in:   MetricResult{Metric: "fluency", NotEvaluable: 4, PassScore: 3, MinAverage: v(4), NoData: true},
			want: `{"metric":"fluency","judged":0,"not_evaluable":4,"errors":0,"average_score":null,"passed":0,"pass_rate":null,"pass_rate_ci":null,"pass_score":3,"min_pass_rate":null,"min_average":4,"no_data":true,"violation":false,"pass_rate_violation":false,"average_violation":false}`,
		},
		{
			name: "judged instance",
			in: Instance{RunID: "r1", Metric: "fluency", TraceID: "abc", Status: InstanceJudged, Score: v(4), Passed: true,
				Reason: "Clear and correct.", JudgeModel: "gpt-4o", PromptVersion: "fluency/1"},
			want: `{"run_id":"r1","metric":"fluency","trace_id":"abc","status":"judged","score":4,"passed":true,"reason":"Clear and correct.","judge_model":"gpt-4o","prompt_version":"fluency/1"}`,
		},
		{
			name: "instance in error",
			in: Instance{RunID: "r1", Metric: "fluency", TraceID: "abc", Status: InstanceError,
				Error: "judge error: reply is not JSON", RawReply: "I'd rate it 4", JudgeModel: "gpt-4o", PromptVersion: "fluency/1"},
			want: `{"run_id":"r1","metric":"fluency","trace_id":"abc","status":"error","score":null,"passed":false,"error":"judge error: reply is not JSON","raw_reply":"I'd rate it 4","judge_model":"gpt-4o","prompt_version":"fluency/1"}`,
		},
		{
			name: "operational result",
			in:   OperationalResult{Name: "total_tokens_per_group", Group: "gpt-4o", Value: v(2500), Bound: Bound{Max: v(2000)}, Violation: true},
			want: `{"name":"total_tokens_per_group","group":"gpt-4o","value":2500,"bound":{"max":2000},"no_data":false,"violation":true}`,
		},
		{
			name: "quality summary",
			in:   QualitySummary{Metrics: 4, NoData: 1, Checks: 5, Violations: 1, ViolatedMetrics: 1, Unchecked: 1, Unhealthy: 1, ViolationRate: v(0.2)},
			want: `{"metrics":4,"no_data":1,"checks":5,"violations":1,"violated_metrics":1,"unchecked":1,"unhealthy":1,"violation_rate":0.2}`,
		},
		{
			name: "degraded run result with judge usage",
			in: RunResult{RunID: "r1", Sampled: 2, Degraded: true, JudgeErrors: 1, JudgeError: "judge error: request timed out",
				JudgeUsage: &JudgeUsage{InputTokens: 300, OutputTokens: 40}},
			want: `{"run_id":"r1","sampled":2,"metrics":null,"operational":null,"degraded":true,"judge_errors":1,"judge_error":"judge error: request timed out","judge_usage":{"input_tokens":300,"output_tokens":40,"cost_usd":null}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
		})
	}
}
