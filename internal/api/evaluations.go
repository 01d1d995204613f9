package api

import (
	"cmp"
	"slices"
	"strings"

	"github.com/flowwatch/flowwatch/internal/store"
)

// maxTraceEvaluations bounds the judge results shown on one trace (the
// newest are kept): a trace judged by a monitor every few minutes over an
// overlapping window would otherwise grow its answer without limit.
const maxTraceEvaluations = 200

// The judge results shown on a trace's root span are events named as the
// OpenTelemetry GenAI conventions name an evaluation result, with its
// attributes; what those conventions do not cover (the monitor, run and
// evaluator) is in flowwatch's own namespace.
const (
	evaluationEvent    = "gen_ai.evaluation.result"
	attrEvaluationName = "gen_ai.evaluation.name"
	attrScoreValue     = "gen_ai.evaluation.score.value"
	attrScoreLabel     = "gen_ai.evaluation.score.label"
	attrExplanation    = "gen_ai.evaluation.explanation"
	attrMonitor        = "flowwatch.monitor"
	attrRunID          = "flowwatch.run_id"
	attrJudgeModel     = "flowwatch.judge_model"
	attrPromptVersion  = "flowwatch.prompt_version"
)

// Score labels: whether the score reached the metric's pass score.
const (
	labelPass = "pass"
	labelFail = "fail"
)

// addEvaluations appends to the events of the trace's root span one
// gen_ai.evaluation.result event per judged instance, at the time its run
// finished, after the events the application sent: oldest run first, by
// metric within a run. The score label is pass when the score reached the
// metric's pass score in that run. The root is the span named by
// root_span_id; failing that (it should not), the first span without a
// parent, or else the earliest span. A trace without spans gets nothing.
func addEvaluations(d *TraceDetail, evals []store.TraceEvaluation) {
	if len(evals) == 0 {
		return
	}
	root := rootSpan(d)
	if root == nil {
		return
	}
	ordered := slices.Clone(evals)
	slices.SortFunc(ordered, func(a, b store.TraceEvaluation) int {
		return cmp.Or(a.FinishedAt.Compare(b.FinishedAt), strings.Compare(a.Instance.RunID, b.Instance.RunID),
			strings.Compare(a.Instance.Metric, b.Instance.Metric))
	})
	for _, e := range ordered {
		in := e.Instance
		label := labelFail
		if in.Passed {
			label = labelPass
		}
		attrs := map[string]any{
			attrEvaluationName: in.Metric,
			attrScoreLabel:     label,
			attrExplanation:    in.Reason,
			attrMonitor:        e.Monitor,
			attrRunID:          in.RunID,
			attrJudgeModel:     in.JudgeModel,
			attrPromptVersion:  in.PromptVersion,
		}
		if v := finitePtr(in.Score); v != nil {
			attrs[attrScoreValue] = *v
		}
		root.Events = append(root.Events, SpanEvent{Time: Timestamp{e.FinishedAt}, Name: evaluationEvent, Attributes: attrs})
	}
}

// rootSpan is the span a trace detail treats as its root; nil without
// spans.
func rootSpan(d *TraceDetail) *Span {
	for i := range d.Spans {
		if d.Spans[i].SpanID == d.RootSpanID {
			return &d.Spans[i]
		}
	}
	for i := range d.Spans {
		if d.Spans[i].ParentSpanID == "" {
			return &d.Spans[i]
		}
	}
	if len(d.Spans) > 0 {
		return &d.Spans[0]
	}
	return nil
}
