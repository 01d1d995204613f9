package monitor

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flowwatch/flowwatch/internal/model"
)

func ptr(v float64) *float64 { return &v }

// judged returns judged instances of metric with the scores, trace ids
// t0, t1, ...
func judged(metric string, scores ...float64) []model.Instance {
	out := make([]model.Instance, len(scores))
	for i, s := range scores {
		out[i] = model.Instance{Metric: metric, TraceID: fmt.Sprintf("t%d", i), Status: model.InstanceJudged, Score: ptr(s)}
	}
	return out
}

// others returns n instances of metric with the status.
func others(metric string, status model.InstanceStatus, n int) []model.Instance {
	out := make([]model.Instance, n)
	for i := range out {
		out[i] = model.Instance{Metric: metric, TraceID: fmt.Sprintf("%s%d", status, i), Status: status, Error: "missing context"}
	}
	return out
}

func concat(parts ...[]model.Instance) []model.Instance {
	var out []model.Instance
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// The Wilson intervals below follow Wilson's formula (see Wilson) with
// z = 1.959963984540054, z² = 3.841458820694124. Worked by hand for 7 of
// 10: p = 0.7; z²/n = 0.3841458820694124; denominator 1.3841458820694124;
// centre = (0.7 + 0.1920729410347062) / 1.3841458820694124
// = 0.644493440027; half-width = (1.959963984540054 / 1.3841458820694124)
// × √(0.021 + 0.0096036470517353) = 1.416013 × 0.174939 = 0.247715292566;
// interval [0.396778147461, 0.892208732594], which published tables give
// as 0.3968 to 0.8922. The other values were computed from the same
// formula in 40-digit decimal arithmetic (and agree with published tables
// at four places: 70/100 is 0.6042 to 0.7811, 0/10 is 0 to 0.2775).
var wilsonCases = []struct {
	passed, n int
	lo, hi    float64
}{
	{7, 10, 0.396778147461145, 0.892208732593699},
	{0, 10, 0, 0.277532799862889},
	{10, 10, 0.722467200137111, 1},
	{1, 1, 0.206549314377237, 1},
	{3, 4, 0.300641842582402, 0.954412739190299},
	{5, 8, 0.305742394602627, 0.863155714176403},
	{2, 3, 0.207659600802048, 0.938508055279604},
	{70, 100, 0.604151453666533, 0.781051147050672},
}

func TestWilson(t *testing.T) {
	const tol = 1e-12
	for _, tt := range wilsonCases {
		lo, hi, err := Wilson(tt.passed, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(lo-tt.lo) > tol || math.Abs(hi-tt.hi) > tol {
			t.Errorf("Wilson(%d, %d) = [%.15f, %.15f], want [%.15f, %.15f]", tt.passed, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
	for _, bad := range [][2]int{{0, 0}, {1, 0}, {-1, 5}, {6, 5}} {
		if _, _, err := Wilson(bad[0], bad[1]); err == nil {
			t.Errorf("Wilson(%d, %d): no error", bad[0], bad[1])
		}
	}
}

func TestWilsonBounds(t *testing.T) {
	for n := 1; n <= 200; n++ {
		for x := 0; x <= n; x++ {
			lo, hi, err := Wilson(x, n)
			if err != nil {
				t.Fatal(err)
			}
			p := float64(x) / float64(n)
			if !(0 <= lo && lo <= p && p <= hi && hi <= 1) {
				t.Fatalf("Wilson(%d, %d) = [%v, %v] does not hold %v within [0, 1]", x, n, lo, hi, p)
			}
		}
	}
}

func TestAggregate(t *testing.T) {
	tests := []struct {
		name      string
		metric    string
		th        model.QualityThreshold
		instances []model.Instance
		want      model.MetricResult
	}{
		{
			name:   "pass rate exactly at min_pass_rate is no violation",
			metric: "groundedness",
			th:     model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7)},
			instances: concat(
				judged("groundedness", 5, 4, 3, 3, 2, 1, 5, 4, 3, 2),
				others("groundedness", model.InstanceNotEvaluable, 2),
				others("groundedness", model.InstanceError, 1),
			),
			want: model.MetricResult{
				Metric: "groundedness", Judged: 10, NotEvaluable: 2, Errors: 1,
				AverageScore: ptr(3.2), Passed: 7, PassRate: ptr(0.7),
				PassRateCI: &[2]float64{0.396778147461145, 0.892208732593699},
				PassScore:  3, MinPassRate: ptr(0.7),
			},
		},
		{
			name:      "pass rate below min_pass_rate",
			metric:    "relevance",
			th:        model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7)},
			instances: judged("relevance", 5, 4, 3, 3, 2, 1, 5, 4, 2, 2),
			want: model.MetricResult{
				Metric: "relevance", Judged: 10,
				AverageScore: ptr(3.1), Passed: 6, PassRate: ptr(0.6),
				PassRateCI: &[2]float64{0.312673769733658, 0.831819670293764},
				PassScore:  3, MinPassRate: ptr(0.7),
				Violation: true, PassRateViolation: true,
			},
		},
		{
			name:      "average exactly at min_average is no violation",
			metric:    "fluency",
			th:        model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7), MinAverage: ptr(4)},
			instances: judged("fluency", 5, 3, 4, 4),
			want: model.MetricResult{
				Metric: "fluency", Judged: 4,
				AverageScore: ptr(4), Passed: 4, PassRate: ptr(1),
				PassRateCI: &[2]float64{0.510109163545403, 1},
				PassScore:  3, MinPassRate: ptr(0.7), MinAverage: ptr(4),
			},
		},
		{
			name:      "average below min_average while the pass rate holds",
			metric:    "coherence",
			th:        model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7), MinAverage: ptr(4)},
			instances: judged("coherence", 5, 3, 3, 3, 5),
			want: model.MetricResult{
				Metric: "coherence", Judged: 5,
				AverageScore: ptr(3.8), Passed: 5, PassRate: ptr(1),
				PassRateCI: &[2]float64{0.565517535216825, 1},
				PassScore:  3, MinPassRate: ptr(0.7), MinAverage: ptr(4),
				Violation: true, AverageViolation: true,
			},
		},
		{
			name:      "both thresholds violated",
			metric:    "coherence",
			th:        model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7), MinAverage: ptr(4)},
			instances: judged("coherence", 5, 2, 2, 4),
			want: model.MetricResult{
				Metric: "coherence", Judged: 4,
				AverageScore: ptr(3.25), Passed: 2, PassRate: ptr(0.5),
				PassRateCI: &[2]float64{0.150038989152150, 0.849961010847850},
				PassScore:  3, MinPassRate: ptr(0.7), MinAverage: ptr(4),
				Violation: true, PassRateViolation: true, AverageViolation: true,
			},
		},
		{
			name:      "all passing",
			metric:    "groundedness",
			th:        model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(1)},
			instances: judged("groundedness", 3, 3, 4, 4, 5, 5, 3, 4, 5, 3),
			want: model.MetricResult{
				Metric: "groundedness", Judged: 10,
				AverageScore: ptr(3.9), Passed: 10, PassRate: ptr(1),
				PassRateCI: &[2]float64{0.722467200137111, 1},
				PassScore:  3, MinPassRate: ptr(1),
			},
		},
		{
			name:      "none passing",
			metric:    "groundedness",
			th:        model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0)},
			instances: judged("groundedness", 1, 2, 2, 1, 2, 2, 1, 1, 2, 2),
			want: model.MetricResult{
				Metric: "groundedness", Judged: 10,
				AverageScore: ptr(1.6), Passed: 0, PassRate: ptr(0),
				PassRateCI: &[2]float64{0, 0.277532799862889},
				PassScore:  3, MinPassRate: ptr(0),
			},
		},
		{
			name:      "none passing against a minimum",
			metric:    "groundedness",
			th:        model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7)},
			instances: judged("groundedness", 1, 2, 2, 1, 2, 2, 1, 1, 2, 2),
			want: model.MetricResult{
				Metric: "groundedness", Judged: 10,
				AverageScore: ptr(1.6), Passed: 0, PassRate: ptr(0),
				PassRateCI: &[2]float64{0, 0.277532799862889},
				PassScore:  3, MinPassRate: ptr(0.7),
				Violation: true, PassRateViolation: true,
			},
		},
		{
			name:   "nothing judged is no data, not a violation",
			metric: "similarity",
			th:     model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7), MinAverage: ptr(4)},
			instances: concat(
				others("similarity", model.InstanceNotEvaluable, 3),
				others("similarity", model.InstanceError, 2),
			),
			want: model.MetricResult{
				Metric: "similarity", NotEvaluable: 3, Errors: 2,
				PassScore: 3, MinPassRate: ptr(0.7), MinAverage: ptr(4),
				NoData: true,
			},
		},
		{
			name:   "no instances at all",
			metric: "fluency",
			th:     model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7)},
			want:   model.MetricResult{Metric: "fluency", PassScore: 3, MinPassRate: ptr(0.7), NoData: true},
		},
		{
			name:   "NaN, infinite, absent and out-of-scale scores are errors",
			metric: "groundedness",
			th:     model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7)},
			instances: concat(
				judged("groundedness", 4, math.NaN(), math.Inf(1), math.Inf(-1), 7, 0, 0.5, 3),
				[]model.Instance{{Metric: "groundedness", TraceID: "nil", Status: model.InstanceJudged}},
				[]model.Instance{{Metric: "groundedness", TraceID: "odd", Status: "pending", Score: ptr(5)}},
			),
			want: model.MetricResult{
				Metric: "groundedness", Judged: 2, Errors: 8,
				AverageScore: ptr(3.5), Passed: 2, PassRate: ptr(1),
				PassRateCI: &[2]float64{0.342380227506653, 1},
				PassScore:  3, MinPassRate: ptr(0.7),
			},
		},
		{
			name:      "scores of non-evaluated instances are ignored",
			metric:    "relevance",
			th:        model.QualityThreshold{PassScore: ptr(3)},
			instances: []model.Instance{{Metric: "relevance", Status: model.InstanceError, Score: ptr(5), Passed: true}, {Metric: "relevance", Status: model.InstanceJudged, Score: ptr(2), Passed: true}},
			want: model.MetricResult{
				Metric: "relevance", Judged: 1, Errors: 1,
				AverageScore: ptr(2), Passed: 0, PassRate: ptr(0),
				PassRateCI: &[2]float64{0, 0.793450685622763},
				PassScore:  3,
			},
		},
		{
			// 0.1 + 0.4 + 0.7 sums to 1.2 and averages to
			// 0.39999999999999997 in floating point: still a tie.
			name:      "fractional scores: a tie despite rounding",
			metric:    "lexical_groundedness",
			th:        model.QualityThreshold{PassScore: ptr(0.4), MinPassRate: ptr(2.0 / 3), MinAverage: ptr(0.4)},
			instances: judged("lexical_groundedness", 0.1, 0.4, 0.7),
			want: model.MetricResult{
				Metric: "lexical_groundedness", Judged: 3,
				AverageScore: ptr(0.39999999999999997), Passed: 2, PassRate: ptr(2.0 / 3),
				PassRateCI: &[2]float64{0.207659600802048, 0.938508055279604},
				PassScore:  0.4, MinPassRate: ptr(2.0 / 3), MinAverage: ptr(0.4),
			},
		},
		{
			name:      "exact match scores 0 and 1",
			metric:    "exact_match",
			th:        model.QualityThreshold{PassScore: ptr(1), MinPassRate: ptr(0.5)},
			instances: judged("exact_match", 1, 0, 0, 1, 0, 0, 0, 1),
			want: model.MetricResult{
				Metric: "exact_match", Judged: 8,
				AverageScore: ptr(0.375), Passed: 3, PassRate: ptr(0.375),
				PassRateCI: &[2]float64{0.136844285823597, 0.694257605397373},
				PassScore:  1, MinPassRate: ptr(0.5),
				Violation: true, PassRateViolation: true,
			},
		},
		{
			name:      "answer length has no upper bound",
			metric:    "answer_length",
			th:        model.QualityThreshold{PassScore: ptr(1), MinAverage: ptr(10)},
			instances: judged("answer_length", 0, 12, 250, 1e6),
			want: model.MetricResult{
				Metric: "answer_length", Judged: 4,
				AverageScore: ptr(250065.5), Passed: 3, PassRate: ptr(0.75),
				PassRateCI: &[2]float64{0.300641842582402, 0.954412739190299},
				PassScore:  1, MinAverage: ptr(10),
			},
		},
	}
	// The intervals not in wilsonCases (6/10, 4/4, 5/5, 2/4, 2/2, 0/1, 3/8)
	// come from the same 40-digit computation, written to 15 places; the
	// comparison allows 1e-12.
	opts := cmp.Options{cmpopts.EquateApprox(0, 1e-12)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Aggregate(tt.metric, tt.th, tt.instances)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("Aggregate (-want +got):\n%s", diff)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("result does not encode: %v", err)
			}
		})
	}
}

func TestAggregateErrors(t *testing.T) {
	tests := []struct {
		name      string
		th        model.QualityThreshold
		instances []model.Instance
		want      string
	}{
		{"no pass score", model.QualityThreshold{MinPassRate: ptr(0.7)}, nil, "no pass score"},
		{"NaN pass score", model.QualityThreshold{PassScore: ptr(math.NaN())}, nil, "pass score is NaN"},
		{"another metric's instance", model.QualityThreshold{PassScore: ptr(3)}, judged("fluency", 4), `instance of trace t0 is for metric "fluency"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Aggregate("coherence", tt.th, tt.instances)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestGrade(t *testing.T) {
	inst := func(metric string, status model.InstanceStatus, score *float64) model.Instance {
		return model.Instance{RunID: "r1", Metric: metric, TraceID: "t1", Status: status, Score: score, Reason: "why"}
	}
	tests := []struct {
		name      string
		in        model.Instance
		passScore float64
		want      model.Instance
	}{
		{"above", inst("fluency", model.InstanceJudged, ptr(4)), 3,
			model.Instance{RunID: "r1", Metric: "fluency", TraceID: "t1", Status: model.InstanceJudged, Score: ptr(4), Passed: true, Reason: "why"}},
		{"tie passes", inst("fluency", model.InstanceJudged, ptr(3)), 3,
			model.Instance{RunID: "r1", Metric: "fluency", TraceID: "t1", Status: model.InstanceJudged, Score: ptr(3), Passed: true, Reason: "why"}},
		{"below", inst("fluency", model.InstanceJudged, ptr(2)), 3,
			model.Instance{RunID: "r1", Metric: "fluency", TraceID: "t1", Status: model.InstanceJudged, Score: ptr(2), Reason: "why"}},
		{"NaN", inst("fluency", model.InstanceJudged, ptr(math.NaN())), 3,
			model.Instance{RunID: "r1", Metric: "fluency", TraceID: "t1", Status: model.InstanceError, Reason: "why", Error: "score NaN is not a number on the metric's scale"}},
		{"+Inf", inst("answer_length", model.InstanceJudged, ptr(math.Inf(1))), 1,
			model.Instance{RunID: "r1", Metric: "answer_length", TraceID: "t1", Status: model.InstanceError, Reason: "why", Error: "score +Inf is not a number on the metric's scale"}},
		{"out of scale", inst("fluency", model.InstanceJudged, ptr(6)), 3,
			model.Instance{RunID: "r1", Metric: "fluency", TraceID: "t1", Status: model.InstanceError, Reason: "why", Error: "score 6 is outside the scale: fluency's scale is 1 to 5"}},
		{"unknown metric: no scale check", inst("custom", model.InstanceJudged, ptr(60)), 50,
			model.Instance{RunID: "r1", Metric: "custom", TraceID: "t1", Status: model.InstanceJudged, Score: ptr(60), Passed: true, Reason: "why"}},
		{"judged without score", inst("fluency", model.InstanceJudged, nil), 3,
			model.Instance{RunID: "r1", Metric: "fluency", TraceID: "t1", Status: model.InstanceError, Reason: "why", Error: "judged without a score"}},
		{"not evaluable loses any score", model.Instance{Metric: "fluency", Status: model.InstanceNotEvaluable, Score: ptr(5), Passed: true, Error: "missing answer"}, 3,
			model.Instance{Metric: "fluency", Status: model.InstanceNotEvaluable, Error: "missing answer"}},
		{"unknown status", inst("fluency", "", ptr(5)), 3,
			model.Instance{RunID: "r1", Metric: "fluency", TraceID: "t1", Status: model.InstanceError, Reason: "why", Error: `unknown instance status ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Grade(tt.in, tt.passScore)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Grade (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	res := func(minRate, minAvg *float64, noData, rateViol, avgViol bool) model.MetricResult {
		return model.MetricResult{MinPassRate: minRate, MinAverage: minAvg, NoData: noData,
			PassRateViolation: rateViol, AverageViolation: avgViol, Violation: rateViol || avgViol}
	}
	tests := []struct {
		name    string
		results []model.MetricResult
		want    model.QualitySummary
	}{
		{"nothing", nil, model.QualitySummary{}},
		{
			name: "the seed monitor: 5 checks, 3 violated",
			results: []model.MetricResult{
				res(ptr(0.7), nil, false, false, false),    // groundedness holds
				res(ptr(0.7), nil, true, false, false),     // relevance: no data, not a check
				res(ptr(0.7), ptr(4), false, false, true),  // coherence: average below
				res(ptr(0.7), ptr(4), false, true, true),   // fluency: both below
				res(ptr(0.7), ptr(4), false, false, false), // similarity holds
			},
			want: model.QualitySummary{Metrics: 5, NoData: 1, Checks: 7, Violations: 3, ViolatedMetrics: 2, Unchecked: 1, ViolationRate: ptr(3.0 / 7)},
		},
		{
			// The judge failed for every instance of the LLM metrics; the
			// built-in metric's violation is the only check made. The
			// unhealthy metrics' thresholds are unchecked, never violated.
			name: "judge outage: LLM metrics unhealthy, a built-in metric violated",
			results: []model.MetricResult{
				{Metric: "fluency", Errors: 10, NoData: true, MinPassRate: ptr(0.7), MinAverage: ptr(4)},
				{Metric: "groundedness", Errors: 10, NoData: true, MinPassRate: ptr(0.7)},
				{Metric: "relevance", NotEvaluable: 10, NoData: true, MinPassRate: ptr(0.7)}, // no data, evaluator fine
				{Metric: "lexical_groundedness", Judged: 10, MinPassRate: ptr(0.9), PassRateViolation: true, Violation: true},
			},
			want: model.QualitySummary{Metrics: 4, NoData: 3, Checks: 1, Violations: 1, ViolatedMetrics: 1, Unchecked: 4, Unhealthy: 2,
				ViolationRate: ptr(1)},
		},
		{
			name: "judge outage, LLM metrics only: nothing checked, nothing violated",
			results: []model.MetricResult{
				{Metric: "fluency", Errors: 10, NoData: true, MinPassRate: ptr(0.7), MinAverage: ptr(4)},
			},
			want: model.QualitySummary{Metrics: 1, NoData: 1, Unchecked: 2, Unhealthy: 1},
		},
		{
			name:    "no thresholds set: nothing to check",
			results: []model.MetricResult{res(nil, nil, false, false, false), res(nil, nil, true, false, false)},
			want:    model.QualitySummary{Metrics: 2, NoData: 1},
		},
		{
			name:    "all violated",
			results: []model.MetricResult{res(ptr(0.7), nil, false, true, false), res(nil, ptr(4), false, false, true)},
			want:    model.QualitySummary{Metrics: 2, Checks: 2, Violations: 2, ViolatedMetrics: 2, ViolationRate: ptr(1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Summarize(tt.results)); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckSignal(t *testing.T) {
	both := model.Bound{Max: ptr(0.05), Min: ptr(0.01)}
	tests := []struct {
		name          string
		value         *float64
		bound         model.Bound
		violation     bool
		noData        bool
		wantValueNil  bool
		wantBoundKept bool
	}{
		{name: "within", value: ptr(0.03), bound: both},
		{name: "at max", value: ptr(0.05), bound: both},
		{name: "at max after division", value: ptr(1.0 / 20), bound: both},
		{name: "above max", value: ptr(0.0500001), bound: both, violation: true},
		{name: "at min", value: ptr(0.01), bound: both},
		{name: "below min", value: ptr(0.0099), bound: both, violation: true},
		{name: "no bound", value: ptr(1e9)},
		{name: "no data", bound: both, noData: true, wantValueNil: true},
		{name: "NaN is no data", value: ptr(math.NaN()), bound: both, noData: true, wantValueNil: true},
		{name: "Inf is no data", value: ptr(math.Inf(1)), bound: both, noData: true, wantValueNil: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckSignal("error_rate", "", tt.value, tt.bound)
			if got.Violation != tt.violation || got.NoData != tt.noData || (got.Value == nil) != tt.wantValueNil {
				t.Errorf("CheckSignal = %+v, want violation %v, no data %v", got, tt.violation, tt.noData)
			}
			if diff := cmp.Diff(tt.bound, got.Bound); diff != "" || got.Name != "error_rate" {
				t.Errorf("bound or name not kept: %s %s", got.Name, diff)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("result does not encode: %v", err)
			}
		})
	}
}

// TestSeedRunGolden aggregates a run of the seed's monitor (gsq.md:
// groundedness, relevance, coherence, fluency with pass score 3 and
// min_pass_rate 0.7; coherence and fluency with min_average 4) and pins
// the JSON the API shows for its metrics.
func TestSeedRunGolden(t *testing.T) {
	th := func(minAvg *float64) model.QualityThreshold {
		return model.QualityThreshold{PassScore: ptr(3), MinPassRate: ptr(0.7), MinAverage: minAvg}
	}
	runs := []struct {
		metric    string
		th        model.QualityThreshold
		instances []model.Instance
	}{
		{"groundedness", th(nil), concat(judged("groundedness", 5, 4, 3, 3, 2, 1, 5, 4, 3, 2), others("groundedness", model.InstanceNotEvaluable, 2))},
		{"relevance", th(nil), others("relevance", model.InstanceError, 3)},
		{"coherence", th(ptr(4)), judged("coherence", 5, 4, 4, 3, 4, 5, 3, 4, 4, 4)},
		{"fluency", th(ptr(4)), judged("fluency", 5, 4, 3, 2, 4, 5, 2, 4, 3, 4)},
	}
	out := struct {
		Metrics map[string]model.MetricResult `json:"metrics"`
		Quality model.QualitySummary          `json:"quality"`
	}{Metrics: map[string]model.MetricResult{}}
	var all []model.MetricResult
	for _, r := range runs {
		res, err := Aggregate(r.metric, r.th, r.instances)
		if err != nil {
			t.Fatal(err)
		}
		out.Metrics[r.metric] = res
		all = append(all, res)
	}
	out.Quality = Summarize(all)
	got, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "aggregate/seed_run.json", append(got, '\n'))
}
