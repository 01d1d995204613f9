package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/eval"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/textclip"
)

// EngineStore is what a run reads and writes: the window's traces, the
// operational rollups and the evaluation cache.
type EngineStore interface {
	ListTraces(ctx context.Context, q store.TraceQuery) (store.TracePage, error)
	Rollups(ctx context.Context, q store.RollupQuery) ([]rollup.Row, error)
	CachedEvaluations(ctx context.Context, keys []store.EvalCacheKey) (map[store.EvalCacheKey]model.Evaluation, error)
	CacheEvaluations(ctx context.Context, evals []model.Evaluation) error
}

// Judge is an LLM judge connection as a run uses it (an *eval.Judge).
type Judge interface {
	eval.Rater
	// Model names the judge's model; it is part of the cache key.
	Model() string
}

// EngineOptions configure an Engine.
type EngineOptions struct {
	Store    EngineStore
	Registry *eval.Registry
	// Judges returns the judge connection of a name.
	Judges func(name string) (Judge, bool)
	// Workers bounds the samples evaluated at once (default 64); each
	// judge bounds its own requests in flight as well.
	Workers int
	// MaxSampled bounds the traces one run judges (default 100,000): a
	// window with more sampled traces fails the run with a message
	// rather than dropping some silently.
	MaxSampled int
	// FlushEvery is how many fresh evaluations are gathered before they
	// are written to the evaluation cache (default 256), and FlushInterval
	// how long one waits at most (default 1s): a verdict is durable within
	// about FlushInterval of the judge's reply, so that a run stopped
	// half-way, even by kill -9, and tried again does not pay for it
	// twice, while writes stay batched. What is gathered is also written
	// when a run ends for any reason.
	FlushEvery    int
	FlushInterval time.Duration
	// Breaker configures the breaker each run gives its judge calls: a
	// run gives up on a judge that fails request after request, rather
	// than retrying every instance (see eval.Breaker).
	Breaker eval.BreakerOptions
}

// Engine carries out monitor runs: it selects the window's traces, samples
// them, extracts their columns, evaluates them (from the evaluation cache
// when it can), aggregates per metric and checks the operational signals.
type Engine struct {
	o   EngineOptions
	log *slog.Logger
}

// NewEngine returns an engine.
func NewEngine(o EngineOptions, logger *slog.Logger) (*Engine, error) {
	if o.Store == nil || o.Registry == nil {
		return nil, errors.New("monitor: engine needs a store and a metric registry")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.MaxSampled <= 0 {
		o.MaxSampled = 100_000
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 256
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Judges == nil {
		o.Judges = func(string) (Judge, bool) { return nil, false }
	}
	return &Engine{o: o, log: logger.With("component", "engine")}, nil
}

// Outcome is what a run found.
type Outcome struct {
	Result    model.RunResult
	Instances []model.Instance
}

// Progress is told, as a run goes, how many of its sampled traces have
// been evaluated for every metric.
type Progress func(done, total int)

// Run carries out one run of m over run's window; progress, when not nil,
// follows it.
func (e *Engine) Run(ctx context.Context, run model.Run, m model.Monitor, progress Progress) (Outcome, error) {
	metrics := make([]string, 0, len(m.Quality))
	for name := range m.Quality {
		metrics = append(metrics, name)
	}
	slices.Sort(metrics)
	var judge Judge
	if m.Judge != "" {
		j, ok := e.o.Judges(m.Judge)
		if !ok {
			return Outcome{}, fmt.Errorf("judge connection %q is not in the server configuration (judges:)", m.Judge)
		}
		judge = j
	}
	traces, err := e.sample(ctx, run, m)
	if err != nil {
		return Outcome{}, err
	}
	if progress != nil {
		progress(0, len(traces))
	}
	tl := newTally()
	instances, err := e.evaluate(ctx, run, m, judge, metrics, traces, progress, tl)
	if err != nil {
		return Outcome{}, err
	}
	res := model.RunResult{RunID: run.ID, Sampled: len(traces)}
	byMetric := make(map[string][]model.Instance, len(metrics))
	for _, in := range instances {
		byMetric[in.Metric] = append(byMetric[in.Metric], in)
	}
	var graded []model.Instance
	for _, name := range metrics {
		th := m.Quality[name]
		mr, err := Aggregate(name, th, byMetric[name])
		if err != nil {
			return Outcome{}, fmt.Errorf("metric %s: %w", name, err)
		}
		pass := 0.0
		if th.PassScore != nil {
			pass = *th.PassScore
		}
		mt, _ := e.o.Registry.Lookup(name)
		for _, in := range byMetric[name] {
			g := Grade(in, pass)
			graded = append(graded, g)
			if mt.LLM() && g.Status == model.InstanceError {
				if res.JudgeErrors == 0 {
					res.JudgeError = clipError(g.Error)
				}
				res.JudgeErrors++
			}
		}
		mr.JudgeUsage = tl.usage(name)
		res.JudgeUsage = addJudgeUsage(res.JudgeUsage, mr.JudgeUsage)
		res.Metrics = append(res.Metrics, mr)
	}
	res.Degraded = res.JudgeErrors > 0
	if res.Operational, err = e.operational(ctx, run, m); err != nil {
		return Outcome{}, err
	}
	if res.Degraded {
		// One line per run, never one per instance.
		e.log.Warn("run_degraded", "monitor", m.Name, "run", run.ID, "judge", m.Judge, "judge_errors", res.JudgeErrors,
			"instances", len(graded), "given_up", tl.givenUp(), "first_error", res.JudgeError)
	}
	return Outcome{Result: res, Instances: graded}, nil
}

// clipError cuts a judge error to model.MaxJudgeErrorBytes, marking the
// cut.
func clipError(msg string) string {
	const mark = "…"
	if len(msg) <= model.MaxJudgeErrorBytes {
		return msg
	}
	cut, _ := textclip.Bytes(msg, model.MaxJudgeErrorBytes-len(mark))
	return cut + mark
}

// tally sums what a run's judge replies consumed, per metric, and counts
// the instances not sent because the judge was given up on. Safe for
// concurrent use.
type tally struct {
	mu       sync.Mutex
	byMetric map[string]*usageSum
	skipped  int
}

// usageSum is a sum of judge usages.
type usageSum struct {
	input, output int64
	cost          float64
	unpriced      bool
}

func newTally() *tally { return &tally{byMetric: map[string]*usageSum{}} }

// add counts the usage behind scores; a score without a usage report
// (built-in, cached, or a server that reports none) adds nothing.
func (t *tally) add(scores []eval.Score) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sc := range scores {
		u := sc.Tokens
		if !u.Known {
			continue
		}
		s := t.byMetric[sc.Metric]
		if s == nil {
			s = &usageSum{}
			t.byMetric[sc.Metric] = s
		}
		s.input += u.InputTokens
		s.output += u.OutputTokens
		if u.CostKnown {
			s.cost += u.CostUSD
		} else {
			s.unpriced = true
		}
	}
}

// giveUp counts instances not sent to a judge given up on.
func (t *tally) giveUp(n int) {
	t.mu.Lock()
	t.skipped += n
	t.mu.Unlock()
}

func (t *tally) givenUp() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.skipped
}

// usage is a metric's judge usage; nil when no reply reported any.
func (t *tally) usage(metric string) *model.JudgeUsage {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.byMetric[metric]
	if s == nil {
		return nil
	}
	u := &model.JudgeUsage{InputTokens: s.input, OutputTokens: s.output}
	if !s.unpriced {
		c := s.cost
		u.CostUSD = &c
	}
	return u
}

// addJudgeUsage returns the sum of two usages (nil for none); the cost is
// known only when it is known for both.
func addJudgeUsage(a, b *model.JudgeUsage) *model.JudgeUsage {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil:
		a = &model.JudgeUsage{CostUSD: new(float64)}
	case b == nil:
		b = &model.JudgeUsage{CostUSD: new(float64)}
	}
	out := &model.JudgeUsage{InputTokens: a.InputTokens + b.InputTokens, OutputTokens: a.OutputTokens + b.OutputTokens}
	if a.CostUSD != nil && b.CostUSD != nil {
		c := *a.CostUSD + *b.CostUSD
		out.CostUSD = &c
	}
	return out
}

// sample returns the window's traces of the target that the sampling rate
// keeps, oldest first.
func (e *Engine) sample(ctx context.Context, run model.Run, m model.Monitor) ([]model.Trace, error) {
	q := store.TraceQuery{Service: m.Target.Service, Deployment: m.Target.Deployment,
		Since: run.WindowStart, Until: run.WindowEnd, Limit: store.MaxLimit}
	var out []model.Trace
	for {
		page, err := e.o.Store.ListTraces(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("read the window's traces: %w", err)
		}
		for _, tr := range page.Traces {
			if Sampled(tr.TraceID, m.SamplingRate) {
				out = append(out, tr)
			}
		}
		if len(out) > e.o.MaxSampled {
			return nil, fmt.Errorf("the window holds more than %d sampled traces; lower sampling_rate or shorten window.lookback", e.o.MaxSampled)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	slices.Reverse(out) // the store lists newest first
	return out, nil
}

// evaluate rates every sampled trace for every metric. Each instance ends
// judged, not evaluable, or an error; when the monitor's budget runs out,
// the instances not yet judged end as errors saying so.
func (e *Engine) evaluate(ctx context.Context, run model.Run, m model.Monitor, judge Judge, metrics []string, traces []model.Trace, progress Progress, tl *tally) ([]model.Instance, error) {
	// One budget and one breaker per run: the judge is shared with other
	// monitors, what this run spends and how its judge fares are its own.
	budget := &eval.Budget{Breaker: eval.NewBreaker(e.o.Breaker)}
	if m.Budget != nil {
		budget.MaxTokens, budget.MaxCostUSD = m.Budget.MaxTokens, m.Budget.MaxCostUSD
	}
	judgeModel := ""
	if judge != nil {
		judgeModel = judge.Model()
	}
	var rater eval.Rater
	if judge != nil {
		rater = judge
	}

	// The evaluation cache, for the LLM-judged metrics.
	var keys []store.EvalCacheKey
	for _, tr := range traces {
		for _, name := range metrics {
			if mt, ok := e.o.Registry.Lookup(name); ok && mt.LLM() {
				keys = append(keys, store.EvalCacheKey{TraceID: tr.TraceID, Metric: name, JudgeModel: judgeModel, PromptVersion: mt.Version})
			}
		}
	}
	cached, err := e.o.Store.CachedEvaluations(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read the evaluation cache: %w", err)
	}

	results := make([][]model.Instance, len(traces))
	cache := &cacheWriter{store: e.o.Store, every: e.o.FlushEvery}
	stopFlusher := cache.flushEvery(ctx, e.o.FlushInterval, e.log.With("monitor", m.Name, "run", run.ID))
	var (
		mu       sync.Mutex
		done     int
		firstErr error
	)
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(e.o.Workers, max(len(traces), 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ins, evals, err := e.evaluateTrace(ctx, run, m, rater, budget, judgeModel, metrics, traces[i], cached, tl)
				if err == nil {
					err = cache.add(ctx, evals)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				results[i] = ins
				done++
				d := done
				mu.Unlock()
				if progress != nil {
					progress(d, len(traces))
				}
			}
		}()
	}
feed:
	for i := range traces {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	stopFlusher()
	// What was judged is kept even when the run stops here (shutdown, a
	// failure): a retry of the run finds it in the cache.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	flushErr := cache.flush(fctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if flushErr != nil {
		return nil, flushErr
	}
	var out []model.Instance
	for _, ins := range results {
		out = append(out, ins...)
	}
	return out, nil
}

// evaluateTrace rates one trace for every metric, taking cached
// evaluations where there are any. It returns an error only when the run
// cannot go on (the context ended).
func (e *Engine) evaluateTrace(ctx context.Context, run model.Run, m model.Monitor, rater eval.Rater, budget *eval.Budget,
	judgeModel string, metrics []string, tr model.Trace, cached map[store.EvalCacheKey]model.Evaluation, tl *tally) ([]model.Instance, []model.Evaluation, error) {
	inst := func(metric string) model.Instance {
		return model.Instance{RunID: run.ID, Metric: metric, TraceID: tr.TraceID}
	}
	out := make([]model.Instance, 0, len(metrics))
	in, err := Extract(tr, m.Columns)
	if err != nil {
		for _, name := range metrics {
			i := inst(name)
			i.Status, i.Error = model.InstanceError, err.Error()
			out = append(out, i)
		}
		return out, nil, nil
	}
	sample := eval.Sample{TraceID: tr.TraceID, Question: in.Question, Answer: in.Answer, Context: in.Context, GroundTruth: in.GroundTruth}
	var todo []string
	for _, name := range metrics {
		mt, ok := e.o.Registry.Lookup(name)
		if ok && !mt.LLM() {
			sc := []eval.Score{e.o.Registry.Builtin(name, sample)}
			explainMissing(sc, in.Notes)
			out = append(out, e.instance(inst(name), sc[0], nil))
			continue
		}
		if mt.LLM() {
			if ev, ok := cached[store.EvalCacheKey{TraceID: tr.TraceID, Metric: name, JudgeModel: judgeModel, PromptVersion: mt.Version}]; ok {
				i := inst(name)
				score := ev.Score
				i.Status, i.Score, i.Reason, i.JudgeModel, i.PromptVersion = model.InstanceJudged, &score, ev.Reason, ev.JudgeModel, ev.PromptVersion
				out = append(out, i)
				continue
			}
		}
		todo = append(todo, name)
	}
	if len(todo) == 0 {
		return out, nil, nil
	}
	scores, err := e.o.Registry.Evaluate(ctx, rater, budget, sample, todo)
	explainMissing(scores, in.Notes)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		// The budget ran out, the judge was given up on, or no judge could
		// rate: every metric of this trace ends as an error that says why.
		if errors.Is(err, eval.ErrJudgeGivenUp) {
			tl.giveUp(len(todo))
		}
		for _, name := range todo {
			i := inst(name)
			i.Status, i.Error, i.JudgeModel = model.InstanceError, err.Error(), judgeModel
			out = append(out, i)
		}
		return out, nil, nil
	}
	tl.add(scores)
	var fresh []model.Evaluation
	for _, sc := range scores {
		out = append(out, e.instance(inst(sc.Metric), sc, func(v float64) {
			fresh = append(fresh, model.Evaluation{TraceID: tr.TraceID, Metric: sc.Metric, JudgeModel: sc.JudgeModel,
				PromptVersion: sc.PromptVersion, Score: v, Reason: sc.Reason, CreatedAt: time.Now().UTC()})
		}))
	}
	return out, fresh, nil
}

// explainMissing adds to each not-evaluable score why its inputs are
// missing, when the column extraction noted it (a record without the
// configured key, a record that is not valid JSON).
func explainMissing(scores []eval.Score, notes []string) {
	if len(notes) == 0 {
		return
	}
	for i := range scores {
		if errors.Is(scores[i].Err, eval.ErrNotEvaluable) {
			scores[i].Err = fmt.Errorf("%w (%s)", scores[i].Err, strings.Join(notes, "; "))
		}
	}
}

// cacheWriter gathers a run's fresh evaluations and writes them to the
// evaluation cache every so many, so that little is judged again when a
// run is stopped and tried again. Safe for concurrent use.
type cacheWriter struct {
	store interface {
		CacheEvaluations(ctx context.Context, evals []model.Evaluation) error
	}
	every int

	mu      sync.Mutex
	pending []model.Evaluation
}

// add gathers evals and writes what has been gathered once there are
// enough.
func (c *cacheWriter) add(ctx context.Context, evals []model.Evaluation) error {
	if len(evals) == 0 {
		return nil
	}
	c.mu.Lock()
	c.pending = append(c.pending, evals...)
	var batch []model.Evaluation
	if len(c.pending) >= c.every {
		batch, c.pending = c.pending, nil
	}
	c.mu.Unlock()
	if batch == nil {
		return nil
	}
	if err := c.store.CacheEvaluations(ctx, batch); err != nil {
		if ctx.Err() != nil {
			// Stopping: keep the batch for the final flush.
			c.mu.Lock()
			c.pending = append(c.pending, batch...)
			c.mu.Unlock()
			return nil
		}
		return fmt.Errorf("write the evaluation cache: %w", err)
	}
	return nil
}

// flushEvery writes what is gathered every interval until the returned
// stop is called (stop waits for a write in progress). A failed write
// keeps its evaluations for the next, and is logged once.
func (c *cacheWriter) flushEvery(ctx context.Context, interval time.Duration, log *slog.Logger) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(interval)
		defer t.Stop()
		warned := false // once per run, not once per tick
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.flush(ctx); err != nil && ctx.Err() == nil && !warned {
					warned = true
					log.Warn("evaluation_cache_write_failed", "err", err)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// flush writes whatever is gathered; on failure it is kept for the next
// flush.
func (c *cacheWriter) flush(ctx context.Context) error {
	c.mu.Lock()
	batch := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := c.store.CacheEvaluations(ctx, batch); err != nil {
		c.mu.Lock()
		c.pending = append(batch, c.pending...)
		c.mu.Unlock()
		return fmt.Errorf("write the evaluation cache: %w", err)
	}
	return nil
}

// instance records a score in an instance; judged, if set, is called with
// the value of a judged score.
func (e *Engine) instance(i model.Instance, sc eval.Score, judged func(float64)) model.Instance {
	i.JudgeModel, i.PromptVersion = sc.JudgeModel, sc.PromptVersion
	var je *eval.JudgeError
	switch {
	case sc.Err == nil:
		v := sc.Value
		i.Status, i.Score, i.Reason = model.InstanceJudged, &v, sc.Reason
		if judged != nil {
			judged(v)
		}
	case errors.Is(sc.Err, eval.ErrNotEvaluable):
		i.Status, i.Error = model.InstanceNotEvaluable, sc.Err.Error()
	case errors.As(sc.Err, &je):
		i.Status, i.Error, i.RawReply = model.InstanceError, sc.Err.Error(), je.Raw
	default:
		i.Status, i.Error = model.InstanceError, sc.Err.Error()
	}
	return i
}

// operational checks the monitor's operational signals over the run's
// window, from the rollups (minutes that start inside the window):
// request_count, error_rate, latency_p95_ms and latency_p99_ms from the
// requests; total_tokens and cost_usd from the LLM calls; and
// total_tokens_per_group, one result per model.
func (e *Engine) operational(ctx context.Context, run model.Run, m model.Monitor) ([]model.OperationalResult, error) {
	if len(m.Operational) == 0 {
		return nil, nil
	}
	// The minutes that start inside the window: hour rows for its whole
	// hours, minute rows for its edges.
	parts := rollup.Cover(ceilUnix(run.WindowStart), ceilUnix(run.WindowEnd))
	read := func(kind rollup.Kind) ([]rollup.Row, error) {
		var rows []rollup.Row
		for _, pt := range parts {
			r, err := e.o.Store.Rollups(ctx, store.RollupQuery{Kind: kind, Resolution: pt.Resolution,
				Start: pt.Start, End: pt.End, Service: m.Target.Service, Deployment: m.Target.Deployment})
			if err != nil {
				return nil, fmt.Errorf("read the window's %s rollups: %w", kind, err)
			}
			rows = append(rows, r...)
		}
		return rows, nil
	}
	merge := func(rows []rollup.Row) (*rollup.Point, error) {
		p := rollup.NewPoint()
		for _, r := range rows {
			if err := p.Merge(r.Point); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	reqRows, err := read(rollup.Requests)
	if err != nil {
		return nil, err
	}
	llmRows, err := read(rollup.LLMCalls)
	if err != nil {
		return nil, err
	}
	reqs, err := merge(reqRows)
	if err != nil {
		return nil, err
	}
	calls, err := merge(llmRows)
	if err != nil {
		return nil, err
	}
	num := func(v float64, ok bool) *float64 {
		if !ok {
			return nil
		}
		return &v
	}
	var out []model.OperationalResult
	for _, name := range signalNames() {
		b, ok := m.Operational[name]
		if !ok {
			continue
		}
		switch name {
		case "request_count":
			out = append(out, CheckSignal(name, "", num(float64(reqs.Count), true), b))
		case "error_rate":
			out = append(out, CheckSignal(name, "", num(float64(reqs.Errors)/float64(reqs.Count), reqs.Count > 0), b))
		case "latency_p95_ms":
			out = append(out, CheckSignal(name, "", num(reqs.Quantile(0.95)), b))
		case "latency_p99_ms":
			out = append(out, CheckSignal(name, "", num(reqs.Quantile(0.99)), b))
		case "total_tokens":
			out = append(out, CheckSignal(name, "", num(float64(calls.TotalTokens), true), b))
		case "cost_usd":
			out = append(out, CheckSignal(name, "", num(calls.CostUSD, calls.Count > calls.Unpriced || calls.Count == 0), b))
		case "total_tokens_per_group":
			perModel := map[string]int64{}
			for _, r := range llmRows {
				perModel[r.Key.Model] += r.Point.TotalTokens
			}
			models := make([]string, 0, len(perModel))
			for k := range perModel {
				models = append(models, k)
			}
			slices.Sort(models)
			for _, mod := range models {
				out = append(out, CheckSignal(name, mod, num(float64(perModel[mod]), true), b))
			}
		}
	}
	return out, nil
}

// ceilUnix is t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}
