package model

import "time"

// Monitor is a generation quality monitor in flowwatch's native form: what
// to watch (Target), when (Schedule), over which traces (Window,
// SamplingRate, Columns), how to judge them (Judge, Quality), which
// operational signals to check in the same run (Operational), and whom to
// tell (Alerting, Notify). Package monitor parses, validates and
// translates monitor files into this shape; the store keeps it as it is.
// Field names are the YAML and JSON keys users write.
type Monitor struct {
	Name        string        `yaml:"name" json:"name"`
	Description string        `yaml:"description,omitempty" json:"description,omitempty"`
	Disabled    bool          `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	Target      MonitorTarget `yaml:"target" json:"target"`
	Schedule    Schedule      `yaml:"schedule" json:"schedule"`
	Window      Window        `yaml:"window" json:"window"`
	// SamplingRate is the share of the window's traces judged, in (0, 1].
	SamplingRate float64 `yaml:"sampling_rate" json:"sampling_rate"`
	Columns      Columns `yaml:"columns" json:"columns"`
	// Judge names a judge connection of the server configuration; empty
	// means built-in evaluators only.
	Judge string `yaml:"judge,omitempty" json:"judge,omitempty"`
	// Budget bounds what one run may spend on judge calls; nil: no bound.
	Budget *RunBudget `yaml:"budget,omitempty" json:"budget,omitempty"`
	// Quality maps a metric (groundedness, relevance, coherence, fluency,
	// similarity, or a built-in evaluator) to its thresholds.
	Quality map[string]QualityThreshold `yaml:"quality,omitempty" json:"quality,omitempty"`
	// Operational maps an operational signal (total_tokens,
	// total_tokens_per_group, error_rate, latency_p95_ms, ...) to its
	// bounds.
	Operational map[string]Bound `yaml:"operational,omitempty" json:"operational,omitempty"`
	Alerting    Alerting         `yaml:"alerting,omitempty" json:"alerting"`
	Notify      Notify           `yaml:"notify,omitempty" json:"notify"`
}

// MonitorTarget is the monitored service and, optionally, one deployment.
type MonitorTarget struct {
	Service    string `yaml:"service" json:"service"`
	Deployment string `yaml:"deployment,omitempty" json:"deployment,omitempty"`
}

// Schedule is when a monitor runs: a 5-field cron expression or a
// recurrence, in a time zone (IANA name; UTC when empty).
type Schedule struct {
	Cron       string      `yaml:"cron,omitempty" json:"cron,omitempty"`
	Recurrence *Recurrence `yaml:"recurrence,omitempty" json:"recurrence,omitempty"`
	Timezone   string      `yaml:"timezone,omitempty" json:"timezone,omitempty"`
}

// Recurrence is a schedule of every Interval Frequency units (minute, hour,
// day, week, month), at the given hours and minutes and, weekly, on the
// given week days (monday ... sunday).
type Recurrence struct {
	Frequency string   `yaml:"frequency" json:"frequency"`
	Interval  int      `yaml:"interval,omitempty" json:"interval,omitempty"`
	Hours     []int    `yaml:"hours,omitempty" json:"hours,omitempty"`
	Minutes   []int    `yaml:"minutes,omitempty" json:"minutes,omitempty"`
	WeekDays  []string `yaml:"week_days,omitempty" json:"week_days,omitempty"`
}

// Window is the rolling lookback a run reads: traces that started in
// [now - offset - lookback, now - offset). Both are ISO 8601 durations
// without years or months (P7D, PT6H).
type Window struct {
	Lookback string `yaml:"lookback" json:"lookback"`
	Offset   string `yaml:"offset,omitempty" json:"offset,omitempty"`
}

// Columns maps the monitor's inputs to keys of a request's input and output
// records (falling back to the normalized question, answer and context).
type Columns struct {
	Prompt      string `yaml:"prompt,omitempty" json:"prompt,omitempty"`
	Completion  string `yaml:"completion,omitempty" json:"completion,omitempty"`
	Context     string `yaml:"context,omitempty" json:"context,omitempty"`
	GroundTruth string `yaml:"ground_truth,omitempty" json:"ground_truth,omitempty"`
}

// QualityThreshold holds a quality metric's thresholds. An instance passes
// when its score is at least PassScore; the run violates the threshold
// when the pass rate is strictly below MinPassRate or the average score
// strictly below MinAverage. Nil means "not set".
type QualityThreshold struct {
	PassScore   *float64 `yaml:"pass_score,omitempty" json:"pass_score,omitempty"`
	MinPassRate *float64 `yaml:"min_pass_rate,omitempty" json:"min_pass_rate,omitempty"`
	MinAverage  *float64 `yaml:"min_average,omitempty" json:"min_average,omitempty"`
}

// RunBudget bounds the judge tokens and the judge cost (US dollars) of one
// run; 0 means no bound. A run that reaches a bound stops asking the
// judge, records why for every instance left, and reports on what it
// judged.
type RunBudget struct {
	MaxTokens  int64   `yaml:"max_tokens,omitempty" json:"max_tokens,omitempty"`
	MaxCostUSD float64 `yaml:"max_cost_usd,omitempty" json:"max_cost_usd,omitempty"`
}

// Bound is an operational signal's limits; nil means "not set".
type Bound struct {
	Max *float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Min *float64 `yaml:"min,omitempty" json:"min,omitempty"`
}

// Alerting says when a violation notifies: after ForRuns violating runs in
// a row, again every RepeatInterval while it lasts (a Go duration such as
// 24h), and what a run with no data in its window does (alert | ignore).
type Alerting struct {
	ForRuns        int    `yaml:"for_runs,omitempty" json:"for_runs,omitempty"`
	RepeatInterval string `yaml:"repeat_interval,omitempty" json:"repeat_interval,omitempty"`
	NoData         string `yaml:"no_data,omitempty" json:"no_data,omitempty"`
}

// Notify lists who is told: e-mail addresses and named channels of the
// server configuration.
type Notify struct {
	Emails   []string `yaml:"emails,omitempty" json:"emails,omitempty"`
	Channels []string `yaml:"channels,omitempty" json:"channels,omitempty"`
}

// StoredMonitor is a monitor as the store keeps it. Version starts at 1 and
// grows with every change.
type StoredMonitor struct {
	Monitor   Monitor   `json:"monitor"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}
