package model

import "time"

// InstanceStatus is how the evaluation of one sampled trace for one metric
// ended.
type InstanceStatus string

// Instance statuses. Every sampled trace ends, for each metric, in exactly
// one of them: judged (it has a score), not evaluable (it lacks an input
// the metric needs; never a failure), or error (the evaluator produced no
// usable score; never silently dropped).
const (
	InstanceJudged       InstanceStatus = "judged"
	InstanceNotEvaluable InstanceStatus = "not_evaluable"
	InstanceError        InstanceStatus = "error"
)

// Instance is the evaluation of one trace for one metric in one run.
type Instance struct {
	RunID   string         `json:"run_id"`
	Metric  string         `json:"metric"`
	TraceID string         `json:"trace_id"`
	Status  InstanceStatus `json:"status"`
	// Score is the rating on the metric's scale; nil unless Status is
	// judged.
	Score *float64 `json:"score"`
	// Passed says whether Score is at least the metric's pass score; false
	// unless Status is judged.
	Passed bool `json:"passed"`
	// Reason is the evaluator's one-sentence explanation of the score.
	Reason string `json:"reason,omitempty"`
	// Error says why there is no score: the missing inputs of a not
	// evaluable instance, or the failure of an instance in error.
	Error string `json:"error,omitempty"`
	// RawReply is the judge's reply when it could not be parsed (bounded
	// by the judge), kept so the failure can be examined.
	RawReply string `json:"raw_reply,omitempty"`
	// JudgeModel and PromptVersion identify the evaluator: the judge model
	// (or deployment) and its prompt's version, or "builtin" and the
	// algorithm's version for a built-in evaluator.
	JudgeModel    string `json:"judge_model,omitempty"`
	PromptVersion string `json:"prompt_version,omitempty"`
}

// MetricResult is one quality metric's outcome in one run: the counts of
// its instances, the average score and pass rate over the judged ones, and
// whether the thresholds were violated.
type MetricResult struct {
	Metric string `json:"metric"`
	// Judged, NotEvaluable and Errors count the instances by status; they
	// add up to the number of sampled traces the metric was asked about.
	Judged       int `json:"judged"`
	NotEvaluable int `json:"not_evaluable"`
	Errors       int `json:"errors"`
	// AverageScore is the mean score of the judged instances; nil when
	// nothing was judged.
	AverageScore *float64 `json:"average_score"`
	// Passed counts the judged instances whose score is at least
	// PassScore.
	Passed int `json:"passed"`
	// PassRate is Passed / Judged; nil when nothing was judged.
	PassRate *float64 `json:"pass_rate"`
	// PassRateCI is the 95% Wilson score interval of the pass rate, as
	// [low, high]; nil when nothing was judged.
	PassRateCI *[2]float64 `json:"pass_rate_ci"`
	// PassScore, MinPassRate and MinAverage are the thresholds the run
	// applied (defaults included); nil means not set.
	PassScore   float64  `json:"pass_score"`
	MinPassRate *float64 `json:"min_pass_rate"`
	MinAverage  *float64 `json:"min_average"`
	// NoData is set when nothing was judged: there is then no average, no
	// pass rate and no violation.
	NoData bool `json:"no_data"`
	// Violation is set when the pass rate is strictly below MinPassRate
	// (PassRateViolation) or the average strictly below MinAverage
	// (AverageViolation), or both.
	Violation         bool `json:"violation"`
	PassRateViolation bool `json:"pass_rate_violation"`
	AverageViolation  bool `json:"average_violation"`
	// JudgeUsage is what the judge's replies for this metric consumed in
	// the run (a reply rating several metrics is shared evenly between
	// them); nil for a built-in metric and when nothing was sent.
	JudgeUsage *JudgeUsage `json:"judge_usage,omitempty"`
}

// JudgeUsage is what an LLM judge's replies consumed, as its server
// reported it: tokens in and out, and their cost when the price table
// knows the judge's model.
type JudgeUsage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	// CostUSD is nil when the judge's model has no price.
	CostUSD *float64 `json:"cost_usd"`
}

// QualitySummary condenses quality metric results (of one run, or of the
// runs in a time range) the way the reference system's dashboard does.
type QualitySummary struct {
	// Metrics counts the metric results summarized, NoData those among
	// them that judged nothing.
	Metrics int `json:"metrics"`
	NoData  int `json:"no_data"`
	// Checks counts the possible violations: over the results with data,
	// one per threshold set (min_pass_rate, min_average).
	Checks int `json:"checks"`
	// Violations counts the checks that were violated; a metric below both
	// its thresholds counts twice.
	Violations int `json:"violations"`
	// ViolatedMetrics counts the results with at least one violation.
	ViolatedMetrics int `json:"violated_metrics"`
	// Unchecked counts the thresholds set on results with no data: checks
	// that could not be made, never violations. Unhealthy counts the
	// results with no data because their evaluator failed (instances in
	// error), not only for lack of evaluable traces.
	Unchecked int `json:"unchecked"`
	Unhealthy int `json:"unhealthy"`
	// ViolationRate is Violations / Checks; nil when there was nothing to
	// check.
	ViolationRate *float64 `json:"violation_rate"`
}

// OperationalResult is an operational signal's value in one run (total
// tokens, error rate, p95 latency, ...) checked against its bound.
type OperationalResult struct {
	Name string `json:"name"`
	// Group is the group of a per-group signal (the model of
	// total_tokens_per_group); empty otherwise.
	Group string `json:"group,omitempty"`
	// Value is nil when the window had no data for the signal.
	Value  *float64 `json:"value"`
	Bound  Bound    `json:"bound"`
	NoData bool     `json:"no_data"`
	// Violation is set when Value is strictly above Bound.Max or strictly
	// below Bound.Min.
	Violation bool `json:"violation"`
}

// RunResult is what a finished run found.
type RunResult struct {
	RunID       string              `json:"run_id"`
	Sampled     int                 `json:"sampled"`
	Metrics     []MetricResult      `json:"metrics"`
	Operational []OperationalResult `json:"operational"`
	// Degraded is set when instances of LLM-judged metrics ended in error
	// (the judge failed after its retries, answered nonsense twice, the
	// budget ran out, or the judge was given up on for the rest of the
	// run): the run's quality figures then rest on fewer traces than it
	// sampled, or on none. JudgeErrors counts those instances; JudgeError
	// is the error of the first of them (metrics by name, traces oldest
	// first), clipped to MaxJudgeErrorBytes.
	Degraded    bool   `json:"degraded"`
	JudgeErrors int    `json:"judge_errors"`
	JudgeError  string `json:"judge_error,omitempty"`
	// JudgeUsage is what the run's judge replies consumed (the sum over
	// its metrics); nil when the run sent the judge nothing.
	JudgeUsage *JudgeUsage `json:"judge_usage,omitempty"`
}

// MaxJudgeErrorBytes bounds RunResult.JudgeError.
const MaxJudgeErrorBytes = 500

// Evaluation is a judge's verdict on one trace for one metric, as cached:
// keyed by trace, metric, judge model and prompt version.
type Evaluation struct {
	TraceID       string    `json:"trace_id"`
	Metric        string    `json:"metric"`
	JudgeModel    string    `json:"judge_model"`
	PromptVersion string    `json:"prompt_version"`
	Score         float64   `json:"score"`
	Reason        string    `json:"reason,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}
