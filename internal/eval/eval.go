// Package eval rates sampled answers of an LLM application: an LLM judge
// (prompts, reply parsing, concurrency and rate limits, retries, a token
// and cost budget) for groundedness, relevance, coherence, fluency and
// similarity, and built-in evaluators that need no LLM (F1 and exact match
// against a ground truth, lexical groundedness, answer length, refusal and
// PII detection). A Registry, built at start, describes every metric.
package eval

import (
	"errors"
	"fmt"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Sample is one request to rate: its trace and the columns a monitor
// extracted from it. An empty field is missing.
type Sample struct {
	TraceID     string
	Question    string
	Answer      string
	Context     string
	GroundTruth string
}

// Field names a Sample field a metric needs.
type Field string

// The sample fields.
const (
	FieldQuestion    Field = "question"
	FieldAnswer      Field = "answer"
	FieldContext     Field = "context"
	FieldGroundTruth Field = "ground_truth"
)

// Value returns the sample's value of a field.
func (s Sample) Value(f Field) string {
	switch f {
	case FieldQuestion:
		return s.Question
	case FieldAnswer:
		return s.Answer
	case FieldContext:
		return s.Context
	case FieldGroundTruth:
		return s.GroundTruth
	}
	return ""
}

// Score is the outcome of rating one sample for one metric: a Value, or an
// Err when the judge failed (a *JudgeError carrying the raw reply) or the
// sample lacked an input (ErrNotEvaluable). A Score with Err set has no
// value and must not count as judged.
type Score struct {
	Metric string
	Value  float64
	Reason string
	Err    error
	// Tokens is this metric's share of what the judge calls behind it
	// consumed (retries included): when one request rated several
	// metrics, its usage is split evenly between them (the remainder to
	// the first), so summing Tokens over scores gives the exact total.
	// Zero for built-in evaluators.
	Tokens model.Usage
	// JudgeModel and PromptVersion identify the judge (the configured
	// model, or the Azure deployment) and the metric's prompt; together
	// with the trace and metric they key the evaluation cache. Built-in
	// evaluators set JudgeModel to "builtin" and PromptVersion to their
	// algorithm version.
	JudgeModel    string
	PromptVersion string
}

// Judged reports whether the score holds a value.
func (s Score) Judged() bool { return s.Err == nil }

var (
	// ErrBudgetExhausted is returned, without calling the judge, once a
	// run's Budget is used up.
	ErrBudgetExhausted = errors.New("judge budget exhausted")
	// ErrNotEvaluable marks a score whose sample lacks an input the metric
	// needs; it counts as not evaluable, never as a failure.
	ErrNotEvaluable = errors.New("not evaluable")
	// ErrUnknownMetric is returned for a metric name no evaluator knows.
	ErrUnknownMetric = errors.New("unknown metric")
)

// JudgeError is a judge call that produced no score: a reply that could
// not be parsed (after one retry), an error status, or a transport failure
// or timeout after the retries allowed.
type JudgeError struct {
	// Reason says what went wrong, in a sentence fragment.
	Reason string
	// Raw is the last reply's content (or error body), truncated to 8 KiB.
	Raw string
	// Status is the last HTTP status (0: none received).
	Status int
	// Attempts is the number of requests made.
	Attempts int
	// Err is the underlying error, if any.
	Err error
}

func (e *JudgeError) Error() string {
	msg := "judge error: " + e.Reason
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *JudgeError) Unwrap() error { return e.Err }

// notEvaluable is the score of a sample lacking inputs.
func notEvaluable(metric string, missing []Field) Score {
	return Score{Metric: metric, Err: fmt.Errorf("%s: %w: missing %v", metric, ErrNotEvaluable, missing)}
}
