package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Judge connection types.
const (
	TypeOpenAI      = "openai"
	TypeAzureOpenAI = "azure_openai"
	// DefaultOpenAIBaseURL is the base URL of type openai without base_url.
	DefaultOpenAIBaseURL = "https://api.openai.com/v1/"
)

// Defaults of Options.
const (
	DefaultMaxConcurrency = 16
	DefaultTimeout        = 60 * time.Second
	DefaultMaxAttempts    = 8
	DefaultMaxRetryTime   = 5 * time.Minute
	DefaultBaseBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

// maxRawBytes bounds the raw reply kept in a JudgeError.
const maxRawBytes = 8 << 10

// Options configure a Judge. The connection fields mirror a judge
// connection of the server configuration.
type Options struct {
	// Name is the connection's name, for logs and errors.
	Name string
	// Type is openai (OpenAI or any OpenAI-compatible server) or
	// azure_openai.
	Type string
	// Endpoint, Deployment and APIVersion address an Azure OpenAI
	// deployment.
	Endpoint   string
	Deployment string
	APIVersion string
	// BaseURL (type openai) defaults to OpenAI's API; Model is the model
	// to ask (for azure_openai it may be empty: the deployment decides).
	BaseURL string
	Model   string
	// APIKeyEnv names the environment variable holding the API key, read
	// once by New; empty for servers that need none. The key is sent as
	// "Authorization: Bearer" (openai) or "api-key" (azure_openai) and
	// never logged.
	APIKeyEnv string
	// MaxConcurrency bounds requests in flight (default 16).
	MaxConcurrency int
	// RequestsPerMinute bounds the rate requests are sent at, retries
	// included (0: unbounded), with a burst of one second's worth.
	RequestsPerMinute int
	// Timeout bounds one request (default 60s).
	Timeout time.Duration
	// MaxAttempts bounds the requests one reply may take: the first and
	// its retries after 429, 5xx, timeouts and transport errors (default
	// 8). A malformed reply's one retry has its own attempts.
	MaxAttempts int
	// MaxRetryTime bounds the time from a reply's first request to the
	// start of its last retry, waits included (default 5m). A retry that
	// would start later is not made.
	MaxRetryTime time.Duration
	// BaseBackoff and MaxBackoff shape the exponential backoff between
	// retries when the server gives no Retry-After (defaults 500ms, 30s).
	BaseBackoff, MaxBackoff time.Duration
	// Cost prices a reply's usage by model (for Budget.MaxCostUSD); nil
	// leaves costs unknown.
	Cost func(model string, u model.Usage) (float64, bool)

	// Client replaces the openai-go client (tests, other providers).
	Client ChatClient
	// HTTPClient replaces the HTTP client of the openai-go client.
	HTTPClient *http.Client
	// Now and Sleep replace the clock (tests); nil means real time.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Judge rates samples with an LLM. It is safe for concurrent use; share
// one Judge per connection so its limits hold across monitors.
type Judge struct {
	name      string
	model     string // the judge's identity: the model, or the Azure deployment
	reqModel  string // the model sent in requests
	client    ChatClient
	logger    *slog.Logger
	sem       chan struct{}
	bucket    *bucket
	timeout   time.Duration
	attempts  int
	retryTime time.Duration
	base, cap time.Duration
	cost      func(string, model.Usage) (float64, bool)
	now       func() time.Time
	sleep     func(context.Context, time.Duration) error
	noJSON    atomic.Bool
	stats     stats
}

type stats struct {
	calls, requests, retries, rateLimited, serverErrors, timeouts atomic.Int64
	malformed, judgeErrors, budgetRefusals, givenUp               atomic.Int64
	breakerOpens                                                  atomic.Int64
	inputTokens, outputTokens                                     atomic.Int64
}

// Stats are a judge's counters since it was built.
type Stats struct {
	// Calls counts Rate calls that sent at least one request; Requests
	// counts requests sent, Retries those that were retries after a
	// failure.
	Calls, Requests, Retries int64
	// RateLimited, ServerErrors and Timeouts count failed requests by
	// cause (429, 5xx, per-request timeout).
	RateLimited, ServerErrors, Timeouts int64
	// Malformed counts replies whose content could not be parsed;
	// JudgeErrors counts metric scores that ended as judge errors;
	// BudgetRefusals counts Rate calls refused by an exhausted budget.
	Malformed, JudgeErrors, BudgetRefusals int64
	// BreakerOpens counts the runs' breakers this judge's failures
	// opened; GivenUp counts Rate calls refused by an open breaker.
	BreakerOpens, GivenUp     int64
	InputTokens, OutputTokens int64
}

// New builds a judge. It reads the API key from the environment variable
// named by APIKeyEnv and fails if that variable is unset or empty.
func New(o Options, logger *slog.Logger) (*Judge, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	name := o.Name
	if name == "" {
		name = "judge"
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("judge %s: %s", name, fmt.Sprintf(format, args...))
	}
	j := &Judge{
		name:      name,
		logger:    logger.With("component", "judge", "judge", name),
		timeout:   orDuration(o.Timeout, DefaultTimeout),
		attempts:  o.MaxAttempts,
		retryTime: orDuration(o.MaxRetryTime, DefaultMaxRetryTime),
		base:      orDuration(o.BaseBackoff, DefaultBaseBackoff),
		cap:       orDuration(o.MaxBackoff, DefaultMaxBackoff),
		cost:      o.Cost,
		now:       o.Now,
		sleep:     o.Sleep,
		bucket:    newBucket(o.RequestsPerMinute),
	}
	if j.attempts <= 0 {
		j.attempts = DefaultMaxAttempts
	}
	if j.now == nil {
		j.now = time.Now
	}
	if j.sleep == nil {
		j.sleep = sleepCtx
	}
	conc := o.MaxConcurrency
	if conc <= 0 {
		conc = DefaultMaxConcurrency
	}
	if o.RequestsPerMinute < 0 {
		return nil, fail("requests_per_minute must not be negative")
	}
	j.sem = make(chan struct{}, conc)

	switch o.Type {
	case TypeOpenAI:
		if o.Model == "" {
			return nil, fail("model is required for type openai")
		}
		j.model, j.reqModel = o.Model, o.Model
	case TypeAzureOpenAI:
		if o.Endpoint == "" || o.Deployment == "" || o.APIVersion == "" {
			return nil, fail("endpoint, deployment and api_version are required for type azure_openai")
		}
		j.model, j.reqModel = o.Deployment, o.Deployment
		if o.Model != "" {
			j.reqModel = o.Model
		}
	default:
		return nil, fail("type must be %s or %s, got %q", TypeOpenAI, TypeAzureOpenAI, o.Type)
	}

	j.client = o.Client
	if j.client == nil {
		var key string
		if o.APIKeyEnv != "" {
			key = os.Getenv(o.APIKeyEnv)
			if key == "" {
				return nil, fail("environment variable %s (api_key_env) is not set or empty", o.APIKeyEnv)
			}
		}
		hc := o.HTTPClient
		if hc == nil {
			hc = newHTTPClient(conc)
		}
		c, err := newOpenAIClient(o, key, hc, j.now)
		if err != nil {
			return nil, fail("%v", err)
		}
		j.client = c
	}
	j.logger.Info("judge_ready", "type", o.Type, "model", j.model, "host", hostOf(o),
		"max_concurrency", conc, "requests_per_minute", o.RequestsPerMinute, "timeout", j.timeout)
	return j, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func hostOf(o Options) string {
	raw := o.BaseURL
	if o.Type == TypeAzureOpenAI {
		raw = o.Endpoint
	}
	if raw == "" {
		raw = DefaultOpenAIBaseURL
	}
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

// Model is the judge's identity for the evaluation cache: the configured
// model, or the Azure deployment.
func (j *Judge) Model() string { return j.model }

// Stats returns the judge's counters.
func (j *Judge) Stats() Stats {
	s := &j.stats
	return Stats{
		Calls: s.calls.Load(), Requests: s.requests.Load(), Retries: s.retries.Load(),
		RateLimited: s.rateLimited.Load(), ServerErrors: s.serverErrors.Load(), Timeouts: s.timeouts.Load(),
		Malformed: s.malformed.Load(), JudgeErrors: s.judgeErrors.Load(), BudgetRefusals: s.budgetRefusals.Load(),
		BreakerOpens: s.breakerOpens.Load(), GivenUp: s.givenUp.Load(),
		InputTokens: s.inputTokens.Load(), OutputTokens: s.outputTokens.Load(),
	}
}

// Rate rates a sample on LLM metrics with one request (the multi-metric
// form; one metric uses the single-metric form). It returns one Score per
// metric, in order: a value, a *JudgeError (the reply was malformed twice,
// or the request failed after its retries), or ErrNotEvaluable for a
// metric whose inputs the sample lacks. It returns an error, and no
// scores, for an unknown or repeated metric, when the budget is exhausted
// (ErrBudgetExhausted; nothing is sent), when the budget's breaker is open
// (ErrJudgeGivenUp; nothing is sent) or when ctx ends.
func (j *Judge) Rate(ctx context.Context, b *Budget, s Sample, metrics []string) ([]Score, error) {
	if err := checkMetrics(metrics); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		j.stats.budgetRefusals.Add(1)
		return nil, err
	}
	if err := b.breaker().Err(); err != nil {
		j.stats.givenUp.Add(1)
		return nil, err
	}
	scores := make([]Score, len(metrics))
	var ask []string
	var at []int
	for i, name := range metrics {
		r := rubrics[name]
		if missing := (Metric{Needs: r.needs}).Missing(s); len(missing) > 0 {
			scores[i] = notEvaluable(name, missing)
			continue
		}
		ask = append(ask, name)
		at = append(at, i)
	}
	if len(ask) == 0 {
		return scores, nil
	}
	j.stats.calls.Add(1)
	out, usage, err := j.rate(ctx, b, s, ask)
	if err != nil {
		return nil, err
	}
	shares := splitUsage(usage, len(ask))
	for k, sc := range out {
		sc.Tokens = shares[k]
		sc.JudgeModel = j.model
		sc.PromptVersion = PromptVersion(sc.Metric)
		if sc.Err != nil {
			j.stats.judgeErrors.Add(1)
		}
		scores[at[k]] = sc
	}
	return scores, nil
}

// RateEach rates a sample with one request per metric (the single-metric
// form), concurrently. Scores are as for Rate. When some requests could not
// be made (budget, context), it returns their errors joined, and still the
// scores of the metrics that were rated; the others carry the error.
func (j *Judge) RateEach(ctx context.Context, b *Budget, s Sample, metrics []string) ([]Score, error) {
	if err := checkMetrics(metrics); err != nil {
		return nil, err
	}
	scores := make([]Score, len(metrics))
	errs := make([]error, len(metrics))
	done := make(chan struct{}, len(metrics))
	for i, name := range metrics {
		go func() {
			defer func() { done <- struct{}{} }()
			out, err := j.Rate(ctx, b, s, []string{name})
			if err != nil {
				errs[i] = err
				scores[i] = Score{Metric: name, Err: err}
				return
			}
			scores[i] = out[0]
		}()
	}
	for range metrics {
		<-done
	}
	return scores, errors.Join(errs...)
}

func checkMetrics(metrics []string) error {
	seen := map[string]bool{}
	for _, name := range metrics {
		if _, ok := rubrics[name]; !ok {
			return fmt.Errorf("%w: %q is not an LLM-judged metric", ErrUnknownMetric, name)
		}
		if seen[name] {
			return fmt.Errorf("metric %s asked for twice", name)
		}
		seen[name] = true
	}
	return nil
}

// rate asks once and, if the reply is malformed for any metric, once more.
// A metric takes its score from the second reply if that one has it, else
// from the first; with neither, it is a judge error carrying the last raw
// reply.
func (j *Judge) rate(ctx context.Context, b *Budget, s Sample, metrics []string) ([]Score, model.Usage, error) {
	system, user := buildPrompt(metrics, s)
	req := ChatRequest{
		Model:       j.reqModel,
		Messages:    []ChatMessage{{Role: "system", Content: system}, {Role: "user", Content: user}},
		Temperature: 0,
		JSON:        true,
	}
	out := make([]Score, len(metrics))
	for i, name := range metrics {
		out[i].Metric = name
	}
	var usage model.Usage

	resp, attempts, err := j.send(ctx, b, req)
	usage = usage.Add(resp.Usage)
	if err != nil {
		if ctx.Err() != nil {
			return nil, usage, ctx.Err()
		}
		je := requestError(err, attempts)
		for i := range out {
			out[i].Err = je
		}
		return out, usage, nil
	}
	first := parseReply(resp.Content, metrics)
	if allOK(first) {
		fill(out, first)
		return out, usage, nil
	}
	j.stats.malformed.Add(1)

	resp2, attempts2, err := j.send(ctx, b, req)
	usage = usage.Add(resp2.Usage)
	if err != nil {
		if ctx.Err() != nil {
			return nil, usage, ctx.Err()
		}
		je := requestError(err, attempts2)
		for i, r := range first {
			if r.ok() {
				out[i].Value, out[i].Reason = float64(r.Score), r.Reason
				continue
			}
			out[i].Err = &JudgeError{
				Reason:   "malformed reply (" + r.Problem + "), and its retry failed: " + je.Reason,
				Raw:      clip(resp.Content, maxRawBytes),
				Status:   je.Status,
				Attempts: attempts + attempts2,
				Err:      je.Err,
			}
		}
		return out, usage, nil
	}
	second := parseReply(resp2.Content, metrics)
	if !allOK(second) {
		j.stats.malformed.Add(1)
	}
	for i := range out {
		switch r1, r2 := first[i], second[i]; {
		case r2.ok():
			out[i].Value, out[i].Reason = float64(r2.Score), r2.Reason
		case r1.ok():
			out[i].Value, out[i].Reason = float64(r1.Score), r1.Reason
		default:
			out[i].Err = &JudgeError{
				Reason:   "malformed reply twice: " + r2.Problem,
				Raw:      clip(resp2.Content, maxRawBytes),
				Status:   http.StatusOK,
				Attempts: attempts + attempts2,
			}
		}
	}
	return out, usage, nil
}

func allOK(rs []rating) bool {
	for _, r := range rs {
		if !r.ok() {
			return false
		}
	}
	return true
}

func fill(out []Score, rs []rating) {
	for i, r := range rs {
		out[i].Value, out[i].Reason = float64(r.Score), r.Reason
	}
}

// requestError is the judge error of a request that failed for good.
func requestError(err error, attempts int) *JudgeError {
	je := &JudgeError{Reason: "request failed", Attempts: attempts, Err: err}
	var se *StatusError
	switch {
	case errors.As(err, &se):
		je.Reason = "error status"
		je.Status = se.Status
		je.Raw = clip(se.Body, maxRawBytes)
	case errors.Is(err, context.DeadlineExceeded):
		je.Reason = "request timed out"
	}
	return je
}

// send makes one request, retrying 429, 408, 409, 5xx, timeouts and
// transport errors with exponential backoff and jitter (or the server's
// Retry-After, plus up to 20% jitter), within MaxAttempts and
// MaxRetryTime. Each attempt holds a concurrency slot and a rate token;
// waits between attempts hold neither. Every reply is charged to the
// budget, and every request's outcome told to the budget's breaker: once
// that opens, the request in flight is abandoned and no retry is made.
// It returns the number of requests made.
func (j *Judge) send(ctx context.Context, b *Budget, req ChatRequest) (ChatResponse, int, error) {
	br := b.breaker()
	bctx, stop := br.bind(ctx)
	defer stop()
	start := j.now()
	var last error
	for attempt := 1; ; attempt++ {
		if err := br.Err(); err != nil {
			// Given up meanwhile: a call that already failed ends with its
			// own failure, one not yet sent with the breaker's.
			if last != nil {
				return ChatResponse{}, attempt - 1, last
			}
			return ChatResponse{}, attempt - 1, err
		}
		if attempt > 1 {
			j.stats.retries.Add(1)
		}
		resp, usedJSON, sent, err := j.attempt(bctx, req)
		if err == nil {
			br.succeeded()
			resp.Usage = j.price(resp)
			b.charge(resp.Usage)
			j.stats.inputTokens.Add(resp.Usage.InputTokens)
			j.stats.outputTokens.Add(resp.Usage.OutputTokens)
			return resp, attempt, nil
		}
		if ctx.Err() != nil {
			return ChatResponse{}, attempt, ctx.Err()
		}
		if bctx.Err() != nil {
			// The breaker opened while this request was in flight.
			if last != nil {
				return ChatResponse{}, attempt, last
			}
			return ChatResponse{}, attempt, br.Err()
		}
		last = err
		var se *StatusError
		var wait time.Duration
		switch {
		case errors.As(err, &se):
			switch {
			case se.Status == http.StatusTooManyRequests:
				j.stats.rateLimited.Add(1)
			case se.Status >= 500:
				j.stats.serverErrors.Add(1)
				j.failed(br, sent, err, false)
			case se.Status == http.StatusBadRequest && usedJSON &&
				strings.Contains(strings.ToLower(se.Body), "response_format"):
				// The server has no JSON mode: ask without it from now on
				// (this call and, through the flag, every other).
				if j.noJSON.CompareAndSwap(false, true) {
					j.logger.Warn("judge_json_mode_unsupported", "err", se)
				}
				if attempt < j.attempts {
					continue
				}
				return ChatResponse{}, attempt, err
			case se.Status == http.StatusRequestTimeout || se.Status == http.StatusConflict:
				j.failed(br, sent, err, false)
			default:
				j.failed(br, sent, err, true)
				return ChatResponse{}, attempt, err // not worth retrying
			}
			wait = se.RetryAfter
		case errors.Is(err, context.DeadlineExceeded):
			j.stats.timeouts.Add(1)
			j.failed(br, sent, err, false)
		default:
			j.failed(br, sent, err, false)
		}
		if attempt >= j.attempts || br.Err() != nil {
			return ChatResponse{}, attempt, err
		}
		if wait > 0 {
			wait += time.Duration(rand.Int64N(int64(wait)/5 + 1))
		} else {
			wait = j.backoff(attempt)
		}
		if j.now().Add(wait).Sub(start) > j.retryTime {
			return ChatResponse{}, attempt, err
		}
		if serr := j.sleep(bctx, wait); serr != nil {
			if ctx.Err() != nil {
				return ChatResponse{}, attempt, serr
			}
			return ChatResponse{}, attempt, err // given up while waiting
		}
	}
}

// failed tells a run's breaker of a failed request, counting the
// breakers it opens.
func (j *Judge) failed(br *Breaker, sent time.Time, err error, permanent bool) {
	if br.failed(sent, j.now(), err, permanent) {
		j.stats.breakerOpens.Add(1)
	}
}

// backoff is the wait after the n-th failed attempt: base·2^(n-1), capped,
// halved and topped up with a random share of the other half.
func (j *Judge) backoff(n int) time.Duration {
	d := j.base
	for i := 1; i < n && d < j.cap; i++ {
		d *= 2
	}
	d = min(d, j.cap)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// attempt sends one request within the concurrency and rate limits and
// the per-request timeout. It reports whether the request asked for JSON
// mode, and when it was sent.
func (j *Judge) attempt(ctx context.Context, req ChatRequest) (ChatResponse, bool, time.Time, error) {
	select {
	case j.sem <- struct{}{}:
	case <-ctx.Done():
		return ChatResponse{}, false, time.Time{}, ctx.Err()
	}
	defer func() { <-j.sem }()
	if j.bucket != nil {
		if wait := j.bucket.reserve(j.now()); wait > 0 {
			if err := j.sleep(ctx, wait); err != nil {
				j.bucket.refund()
				return ChatResponse{}, false, time.Time{}, err
			}
		}
	}
	if j.noJSON.Load() {
		req.JSON = false
	}
	actx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	j.stats.requests.Add(1)
	sent := j.now()
	resp, err := j.client.Complete(actx, req)
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		// The per-request timeout, whatever the client wrapped it in.
		err = fmt.Errorf("no reply within %s: %w", j.timeout, context.DeadlineExceeded)
	}
	if err != nil && errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("connection closed before the reply: %w", err)
	}
	return resp, req.JSON, sent, err
}

// price fills in the cost of a reply's usage.
func (j *Judge) price(resp ChatResponse) model.Usage {
	u := resp.Usage
	if j.cost == nil {
		return u
	}
	name := resp.Model
	if name == "" {
		name = j.reqModel
	}
	if c, ok := j.cost(name, u); ok {
		u.CostUSD, u.CostKnown = c, true
	} else if name != j.reqModel {
		if c, ok := j.cost(j.reqModel, u); ok {
			u.CostUSD, u.CostKnown = c, true
		}
	}
	return u
}

// splitUsage splits a usage into n shares whose sum is the usage: counts
// evenly with the remainder to the first share, cost evenly.
func splitUsage(u model.Usage, n int) []model.Usage {
	out := make([]model.Usage, n)
	if n == 0 {
		return out
	}
	split := func(v int64, i int) int64 {
		share := v / int64(n)
		if i == 0 {
			share += v % int64(n)
		}
		return share
	}
	var costSum float64
	for i := range out {
		out[i] = model.Usage{
			Known:            u.Known,
			InputTokens:      split(u.InputTokens, i),
			OutputTokens:     split(u.OutputTokens, i),
			TotalTokens:      split(u.TotalTokens, i),
			CacheReadTokens:  split(u.CacheReadTokens, i),
			CacheWriteTokens: split(u.CacheWriteTokens, i),
			ReasoningTokens:  split(u.ReasoningTokens, i),
			CostKnown:        u.CostKnown,
		}
		if i > 0 {
			out[i].CostUSD = u.CostUSD / float64(n)
			costSum += out[i].CostUSD
		}
	}
	out[0].CostUSD = u.CostUSD - costSum
	return out
}
