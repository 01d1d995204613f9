package eval

import (
	"context"
	"fmt"
)

// Kind tells how a metric is computed.
type Kind string

// The kinds of metric.
const (
	// KindLLM metrics are rated by an LLM judge, on integers 1-5.
	KindLLM Kind = "llm"
	// KindBuiltin metrics are computed by flowwatch itself, without an LLM.
	KindBuiltin Kind = "builtin"
)

// Metric describes one metric: how it is computed, its scale, and what it
// needs.
type Metric struct {
	Name        string
	Description string
	Kind        Kind
	// Min and Max bound the values; Unbounded means there is no upper
	// bound (a count) and Max is meaningless.
	Min, Max  float64
	Unbounded bool
	// Integer is true when every value is a whole number.
	Integer bool
	// DefaultPassScore is the pass score to use when a monitor gives none.
	// Higher is better for every metric: an instance passes when its value
	// is at least the pass score.
	DefaultPassScore float64
	// Needs are the sample fields without which the metric cannot be
	// computed (the sample is then not evaluable); Uses are further fields
	// shown to the judge when present.
	Needs []Field
	Uses  []Field
	// Version is the prompt version (LLM metrics) or algorithm version
	// (built-in metrics); it changes whenever results could change.
	Version string
}

// LLM reports whether the metric is rated by an LLM judge.
func (m Metric) LLM() bool { return m.Kind == KindLLM }

// Missing returns the needed fields the sample lacks (empty or only white
// space).
func (m Metric) Missing(s Sample) []Field {
	var out []Field
	for _, f := range m.Needs {
		if isBlank(s.Value(f)) {
			out = append(out, f)
		}
	}
	return out
}

// Registry describes every metric flowwatch can compute. It is built once
// at start and is safe for concurrent use.
type Registry struct {
	byName   map[string]Metric
	names    []string
	builtins map[string]func(Sample) (float64, string)
}

// NewRegistry returns the registry of the LLM-judged metrics
// (groundedness, relevance, coherence, fluency, similarity) and the
// built-in evaluators.
func NewRegistry() *Registry {
	r := &Registry{byName: map[string]Metric{}, builtins: map[string]func(Sample) (float64, string){}}
	for _, name := range llmMetricOrder {
		rub := rubrics[name]
		r.add(Metric{
			Name:             name,
			Description:      "LLM judge: " + rub.summary,
			Kind:             KindLLM,
			Min:              1,
			Max:              5,
			Integer:          true,
			DefaultPassScore: 3,
			Needs:            rub.needs,
			Uses:             rub.uses,
			Version:          PromptVersion(name),
		})
	}
	for _, b := range builtins() {
		r.add(b.Metric)
		r.builtins[b.Name] = b.eval
	}
	return r
}

func (r *Registry) add(m Metric) {
	r.byName[m.Name] = m
	r.names = append(r.names, m.Name)
}

// Lookup returns the metric of a name.
func (r *Registry) Lookup(name string) (Metric, bool) {
	m, ok := r.byName[name]
	return m, ok
}

// Names returns every metric name: the LLM-judged ones first, then the
// built-in ones.
func (r *Registry) Names() []string { return append([]string(nil), r.names...) }

// Builtin computes a built-in metric for a sample. A sample lacking a
// needed field gets a score with ErrNotEvaluable.
func (r *Registry) Builtin(name string, s Sample) Score {
	m, ok := r.byName[name]
	fn := r.builtins[name]
	if !ok || fn == nil {
		return Score{Metric: name, Err: fmt.Errorf("%w: %q is not a built-in evaluator", ErrUnknownMetric, name)}
	}
	if missing := m.Missing(s); len(missing) > 0 {
		return notEvaluable(name, missing)
	}
	v, reason := fn(s)
	return Score{Metric: name, Value: v, Reason: reason, JudgeModel: BuiltinModel, PromptVersion: m.Version}
}

// Rater rates a sample for LLM-judged metrics (a *Judge).
type Rater interface {
	Rate(ctx context.Context, b *Budget, s Sample, metrics []string) ([]Score, error)
}

// Evaluate computes the metrics for a sample, in the order given: built-in
// ones locally, LLM-judged ones with one call of the rater. It returns an
// error, and no scores, for an unknown metric, an LLM metric without a
// rater, or when the rater returns one (ErrBudgetExhausted, a canceled
// context).
func (r *Registry) Evaluate(ctx context.Context, rater Rater, b *Budget, s Sample, metrics []string) ([]Score, error) {
	out := make([]Score, len(metrics))
	var llm []string
	var llmAt []int
	for i, name := range metrics {
		m, ok := r.byName[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: %q", ErrUnknownMetric, name)
		case m.Kind == KindBuiltin:
			out[i] = r.Builtin(name, s)
		case rater == nil:
			return nil, fmt.Errorf("metric %s needs an LLM judge and none is configured", name)
		default:
			llm = append(llm, name)
			llmAt = append(llmAt, i)
		}
	}
	if len(llm) == 0 {
		return out, nil
	}
	scores, err := rater.Rate(ctx, b, s, llm)
	if err != nil {
		return nil, err
	}
	if len(scores) != len(llm) {
		return nil, fmt.Errorf("judge returned %d scores for %d metrics", len(scores), len(llm))
	}
	for j, sc := range scores {
		out[llmAt[j]] = sc
	}
	return out, nil
}
