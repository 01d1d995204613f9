package eval

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/model"
)

// fakeClock is a clock whose Sleep returns at once, advancing the time and
// recording the wait.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

const testKey = "sk-test-0123456789"

// newTestJudge starts a judgetest server with reply and a judge (type
// openai) talking to it with a fake clock.
func newTestJudge(t *testing.T, reply judgetest.ReplyFunc, tweak func(*Options)) (*Judge, *judgetest.Server, *fakeClock) {
	t.Helper()
	srv := judgetest.New(t, judgetest.Options{Reply: reply, APIKey: testKey})
	t.Setenv("FLOWWATCH_TEST_JUDGE_KEY", testKey)
	clock := newFakeClock()
	o := Options{
		Name: "test", Type: TypeOpenAI, BaseURL: srv.BaseURL(), Model: "gpt-4o-mini",
		APIKeyEnv: "FLOWWATCH_TEST_JUDGE_KEY", MaxConcurrency: 4,
		Now: clock.Now, Sleep: clock.Sleep,
	}
	if tweak != nil {
		tweak(&o)
	}
	j, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return j, srv, clock
}

var ragSample = Sample{
	TraceID:  "4bf92f3577b34da6a3ce929d0e0e4736",
	Question: "How long is the warranty on the X200 vacuum?",
	Answer:   "The X200 comes with a two-year warranty covering the motor and battery.",
	Context:  "X200 product sheet: warranty two years, covering motor and battery. Filters are not covered.",
}

var fourMetrics = []string{"groundedness", "relevance", "coherence", "fluency"}

func values(t *testing.T, scores []Score) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range scores {
		if s.Err != nil {
			t.Fatalf("%s: unexpected error: %v", s.Metric, s.Err)
		}
		out[s.Metric] = s.Value
	}
	return out
}

func TestRateExactScores(t *testing.T) {
	want := map[string]int{"groundedness": 4, "relevance": 3, "coherence": 5, "fluency": 2}
	wantValues := map[string]float64{"groundedness": 4, "relevance": 3, "coherence": 5, "fluency": 2}
	j, srv, _ := newTestJudge(t, judgetest.FixedScores(want), nil)

	t.Run("multi", func(t *testing.T) {
		scores, err := j.Rate(context.Background(), nil, ragSample, fourMetrics)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantValues, values(t, scores)); diff != "" {
			t.Errorf("scores (-want +got):\n%s", diff)
		}
		for i, s := range scores {
			if s.Metric != fourMetrics[i] {
				t.Errorf("score %d is %s, want %s", i, s.Metric, fourMetrics[i])
			}
			if s.JudgeModel != "gpt-4o-mini" || s.PromptVersion != "v1.1" {
				t.Errorf("%s: judge %q prompt %q", s.Metric, s.JudgeModel, s.PromptVersion)
			}
			if s.Reason != "Scripted score for "+s.Metric+"." {
				t.Errorf("%s: reason %q", s.Metric, s.Reason)
			}
		}
		reqs := srv.Requests()
		if len(reqs) != 1 {
			t.Fatalf("server saw %d requests, want 1", len(reqs))
		}
		r := reqs[0]
		if r.Temperature == nil || *r.Temperature != 0 {
			t.Errorf("temperature = %v, want 0", r.Temperature)
		}
		if r.ResponseFormat != "json_object" || r.Model != "gpt-4o-mini" || r.Path != "/v1/chat/completions" {
			t.Errorf("response_format %q model %q path %q", r.ResponseFormat, r.Model, r.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
			t.Errorf("Authorization = %q", got)
		}
		if diff := cmp.Diff(fourMetrics, r.Metrics()); diff != "" {
			t.Errorf("metrics asked (-want +got):\n%s", diff)
		}
		// The reply's usage is split between the metrics, summing exactly.
		var sum model.Usage
		for _, s := range scores {
			sum = sum.Add(s.Tokens)
		}
		st := j.Stats()
		if sum.InputTokens != st.InputTokens || sum.OutputTokens != st.OutputTokens || sum.InputTokens == 0 {
			t.Errorf("summed tokens %d/%d, judge counted %d/%d", sum.InputTokens, sum.OutputTokens, st.InputTokens, st.OutputTokens)
		}
	})

	t.Run("single", func(t *testing.T) {
		before := srv.Total()
		scores, err := j.RateEach(context.Background(), nil, ragSample, fourMetrics)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantValues, values(t, scores)); diff != "" {
			t.Errorf("scores (-want +got):\n%s", diff)
		}
		if n := srv.Total() - before; n != 4 {
			t.Errorf("server saw %d requests, want 4", n)
		}
	})
}

func TestRateAzure(t *testing.T) {
	srv := judgetest.New(t, judgetest.Options{
		Reply: judgetest.AllScores(4), APIKey: testKey, Deployment: "gpt-4", APIVersion: "2024-10-21",
	})
	t.Setenv("AZURE_OPENAI_TEST_KEY", testKey)
	j, err := New(Options{
		Name: "aoai", Type: TypeAzureOpenAI, Endpoint: srv.Endpoint(), Deployment: "gpt-4",
		APIVersion: "2024-10-21", APIKeyEnv: "AZURE_OPENAI_TEST_KEY",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	scores, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]float64{"fluency": 4}, values(t, scores)); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	if scores[0].JudgeModel != "gpt-4" {
		t.Errorf("judge model %q, want the deployment", scores[0].JudgeModel)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests", len(reqs))
	}
	r := reqs[0]
	if !r.Azure || r.Deployment != "gpt-4" || r.APIVersion != "2024-10-21" {
		t.Errorf("azure %v deployment %q api-version %q", r.Azure, r.Deployment, r.APIVersion)
	}
	if got := r.Header.Get("api-key"); got != testKey {
		t.Errorf("api-key = %q", got)
	}
	if got := r.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none on Azure", got)
	}
}

func TestWrongKeyIsNotRetried(t *testing.T) {
	_, srv, _ := newTestJudge(t, judgetest.AllScores(5), nil)
	t.Setenv("FLOWWATCH_TEST_JUDGE_KEY", "wrong")
	j2, err := New(Options{Type: TypeOpenAI, BaseURL: srv.BaseURL(), Model: "m", APIKeyEnv: "FLOWWATCH_TEST_JUDGE_KEY"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	scores, err := j2.Rate(context.Background(), nil, ragSample, []string{"fluency"})
	if err != nil {
		t.Fatal(err)
	}
	var je *JudgeError
	if !errors.As(scores[0].Err, &je) || je.Status != http.StatusUnauthorized || je.Attempts != 1 {
		t.Fatalf("err = %v, want a judge error with HTTP 401 after 1 attempt", scores[0].Err)
	}
	if srv.Count(http.StatusUnauthorized) != 1 {
		t.Errorf("server counted %v", srv.Counts())
	}
}

func TestMalformedReply(t *testing.T) {
	const prose = "I would rate this answer quite highly overall."
	good := judgetest.FixedScores(map[string]int{"groundedness": 5, "relevance": 4})
	tests := []struct {
		name     string
		reply    judgetest.ReplyFunc
		want     map[string]float64 // judged metrics
		wantErrs map[string]string  // metric -> raw reply of its judge error
	}{
		{
			name:     "malformed twice is a judge error with the raw reply",
			reply:    judgetest.Malformed(),
			wantErrs: map[string]string{"groundedness": prose, "relevance": prose},
		},
		{
			name:  "malformed then good",
			reply: judgetest.Sequence(judgetest.Malformed(), good),
			want:  map[string]float64{"groundedness": 5, "relevance": 4},
		},
		{
			name: "each metric from whichever reply has it",
			reply: judgetest.Sequence(
				judgetest.Content(`{"groundedness": {"score": 2, "reason": "r"}, "relevance": {"score": 9}}`),
				judgetest.Content(`{"relevance": {"score": 3, "reason": "r"}}`)),
			want: map[string]float64{"groundedness": 2, "relevance": 3},
		},
		{
			name: "a score out of range twice",
			reply: judgetest.Sequence(
				judgetest.Content(`{"groundedness": {"score": 4}, "relevance": {"score": 0}}`),
				judgetest.Content(`{"groundedness": {"score": 4}, "relevance": {"score": 3.5}}`)),
			want:     map[string]float64{"groundedness": 4},
			wantErrs: map[string]string{"relevance": `{"groundedness": {"score": 4}, "relevance": {"score": 3.5}}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, srv, _ := newTestJudge(t, tc.reply, nil)
			scores, err := j.Rate(context.Background(), nil, ragSample, []string{"groundedness", "relevance"})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			gotErrs := map[string]string{}
			for _, s := range scores {
				if s.Err == nil {
					got[s.Metric] = s.Value
					continue
				}
				var je *JudgeError
				if !errors.As(s.Err, &je) {
					t.Fatalf("%s: error %v is not a JudgeError", s.Metric, s.Err)
				}
				if je.Attempts != 2 {
					t.Errorf("%s: attempts %d, want 2", s.Metric, je.Attempts)
				}
				gotErrs[s.Metric] = je.Raw
			}
			if diff := cmp.Diff(tc.want, got, cmpEmptyMaps); diff != "" {
				t.Errorf("judged (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, gotErrs, cmpEmptyMaps); diff != "" {
				t.Errorf("judge errors (-want +got):\n%s", diff)
			}
			if srv.Total() != 2 {
				t.Errorf("server saw %d requests, want 2 (one retry)", srv.Total())
			}
		})
	}
}

var cmpEmptyMaps = cmp.FilterValues(func(a, b any) bool {
	isEmpty := func(v any) bool {
		switch m := v.(type) {
		case map[string]float64:
			return len(m) == 0
		case map[string]string:
			return len(m) == 0
		}
		return false
	}
	return isEmpty(a) && isEmpty(b)
}, cmp.Ignore())

func TestRetryAfterHonoured(t *testing.T) {
	j, srv, clock := newTestJudge(t, judgetest.Sequence(
		judgetest.Status(http.StatusTooManyRequests, 2*time.Second),
		judgetest.Status(http.StatusTooManyRequests, 1500*time.Millisecond),
		judgetest.AllScores(4)), nil)
	scores, err := j.Rate(context.Background(), nil, ragSample, []string{"coherence"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]float64{"coherence": 4}, values(t, scores)); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	sleeps := clock.Sleeps()
	if len(sleeps) != 2 {
		t.Fatalf("slept %v, want two waits", sleeps)
	}
	// The server's retry-after-ms, plus at most 20% jitter.
	for i, ra := range []time.Duration{2 * time.Second, 1500 * time.Millisecond} {
		if sleeps[i] < ra || sleeps[i] > ra+ra/5 {
			t.Errorf("wait %d = %v, want between %v and %v", i, sleeps[i], ra, ra+ra/5)
		}
	}
	if got := srv.Counts(); got[http.StatusTooManyRequests] != 2 || got[http.StatusOK] != 1 {
		t.Errorf("server counts %v", got)
	}
	if st := j.Stats(); st.RateLimited != 2 || st.Retries != 2 || st.Requests != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestRetryAfterBeyondRetryTime(t *testing.T) {
	j, srv, clock := newTestJudge(t, judgetest.Status(http.StatusTooManyRequests, 10*time.Minute),
		func(o *Options) { o.MaxRetryTime = time.Minute })
	scores, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
	if err != nil {
		t.Fatal(err)
	}
	var je *JudgeError
	if !errors.As(scores[0].Err, &je) || je.Status != http.StatusTooManyRequests || je.Attempts != 1 {
		t.Fatalf("err = %v, want HTTP 429 after one attempt", scores[0].Err)
	}
	if len(clock.Sleeps()) != 0 || srv.Total() != 1 {
		t.Errorf("slept %v, %d requests: want no wait past the retry time", clock.Sleeps(), srv.Total())
	}
}

func TestServerErrorsRetried(t *testing.T) {
	t.Run("recovers", func(t *testing.T) {
		j, srv, clock := newTestJudge(t, judgetest.Sequence(
			judgetest.Status(http.StatusInternalServerError, 0),
			judgetest.Status(http.StatusServiceUnavailable, 0),
			judgetest.AllScores(3)), nil)
		scores, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]float64{"fluency": 3}, values(t, scores)); diff != "" {
			t.Errorf("scores (-want +got):\n%s", diff)
		}
		// Exponential backoff with jitter: [base/2, base], then [base, 2·base].
		sleeps := clock.Sleeps()
		if len(sleeps) != 2 || sleeps[0] < 250*time.Millisecond || sleeps[0] > 500*time.Millisecond ||
			sleeps[1] < 500*time.Millisecond || sleeps[1] > time.Second {
			t.Errorf("backoff waits %v", sleeps)
		}
		if got := srv.Counts(); got[500] != 1 || got[503] != 1 || got[200] != 1 {
			t.Errorf("server counts %v", got)
		}
	})
	t.Run("gives up after max attempts", func(t *testing.T) {
		j, srv, _ := newTestJudge(t, judgetest.Status(http.StatusInternalServerError, 0),
			func(o *Options) { o.MaxAttempts = 3 })
		scores, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency", "coherence"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range scores {
			var je *JudgeError
			if !errors.As(s.Err, &je) || je.Status != 500 || je.Attempts != 3 || !strings.Contains(je.Raw, "Internal Server Error") {
				t.Errorf("%s: err = %#v", s.Metric, s.Err)
			}
		}
		if srv.Count(500) != 3 {
			t.Errorf("server counts %v, want 3 × 500", srv.Counts())
		}
		if st := j.Stats(); st.JudgeErrors != 2 || st.ServerErrors != 3 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("400 is not retried", func(t *testing.T) {
		j, srv, _ := newTestJudge(t, judgetest.Status(http.StatusBadRequest, 0), nil)
		scores, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
		if err != nil {
			t.Fatal(err)
		}
		if scores[0].Err == nil || srv.Total() != 1 {
			t.Errorf("err %v after %d requests, want a judge error after 1", scores[0].Err, srv.Total())
		}
	})
	t.Run("dropped connection", func(t *testing.T) {
		j, srv, _ := newTestJudge(t, judgetest.Sequence(judgetest.Drop(), judgetest.AllScores(2)), nil)
		scores, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]float64{"fluency": 2}, values(t, scores)); diff != "" {
			t.Errorf("scores (-want +got):\n%s", diff)
		}
		if srv.Dropped() != 1 || srv.Total() != 2 {
			t.Errorf("dropped %d of %d requests", srv.Dropped(), srv.Total())
		}
	})
}

func TestTimeout(t *testing.T) {
	j, srv, _ := newTestJudge(t, judgetest.Delayed(time.Minute, judgetest.AllScores(5)), func(o *Options) {
		o.Timeout = 30 * time.Millisecond
		o.MaxAttempts = 2
	})
	scores, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
	if err != nil {
		t.Fatal(err)
	}
	var je *JudgeError
	if !errors.As(scores[0].Err, &je) || je.Reason != "request timed out" || je.Attempts != 2 ||
		!errors.Is(je, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout after 2 attempts", scores[0].Err)
	}
	srv.WaitIdle(t)
	if st := j.Stats(); st.Timeouts != 2 {
		t.Errorf("timeouts %d, want 2", st.Timeouts)
	}
	if srv.Count(http.StatusOK) != 0 || srv.Total() > 2 {
		t.Errorf("server counts %v of %d requests", srv.Counts(), srv.Total())
	}
}

func TestContextCanceled(t *testing.T) {
	j, _, _ := newTestJudge(t, judgetest.Delayed(time.Minute, judgetest.AllScores(5)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	scores, err := j.Rate(ctx, nil, ragSample, []string{"fluency"})
	if !errors.Is(err, context.Canceled) || scores != nil {
		t.Fatalf("got %v, %v; want context.Canceled and no scores", scores, err)
	}
}

func TestBudget(t *testing.T) {
	usage := &judgetest.Usage{PromptTokens: 100, CompletionTokens: 20}
	reply := func(r judgetest.Request) judgetest.Reply {
		rep := judgetest.AllScores(4)(r)
		rep.Usage = usage
		return rep
	}
	t.Run("tokens", func(t *testing.T) {
		j, srv, _ := newTestJudge(t, reply, nil)
		b := &Budget{MaxTokens: 300}
		var judged int
		var stop error
		for i := 0; i < 10; i++ {
			_, err := j.Rate(context.Background(), b, ragSample, fourMetrics)
			if err != nil {
				stop = err
				break
			}
			judged++
		}
		// 120 tokens a call: 0, 120 and 240 are under 300, 360 is not.
		if judged != 3 || !errors.Is(stop, ErrBudgetExhausted) {
			t.Fatalf("judged %d, stopped by %v; want 3 and ErrBudgetExhausted", judged, stop)
		}
		if srv.Total() != 3 {
			t.Errorf("server saw %d requests, want 3: an exhausted budget sends nothing", srv.Total())
		}
		if got := b.Used(); got.Tokens != 360 || got.Calls != 3 || got.Unpriced != 3 {
			t.Errorf("used %+v", got)
		}
		scores, err := j.RateEach(context.Background(), b, ragSample, []string{"fluency", "coherence"})
		if !errors.Is(err, ErrBudgetExhausted) || len(scores) != 2 ||
			!errors.Is(scores[0].Err, ErrBudgetExhausted) || scores[1].Metric != "coherence" {
			t.Errorf("RateEach on an exhausted budget: %+v, %v", scores, err)
		}
		if srv.Total() != 3 {
			t.Errorf("server saw %d requests after the budget ran out", srv.Total())
		}
	})
	t.Run("cost", func(t *testing.T) {
		j, srv, _ := newTestJudge(t, reply, func(o *Options) {
			o.Cost = func(model string, u model.Usage) (float64, bool) {
				if model != "gpt-4o-mini" {
					return 0, false
				}
				return float64(u.InputTokens)*1e-4 + float64(u.OutputTokens)*1e-3, true // $0.03 a call
			}
		})
		b := &Budget{MaxCostUSD: 0.05}
		var costs float64
		for i := 0; i < 2; i++ {
			scores, err := j.Rate(context.Background(), b, ragSample, []string{"fluency", "coherence"})
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			for _, s := range scores {
				costs += s.Tokens.CostUSD
			}
		}
		if _, err := j.Rate(context.Background(), b, ragSample, []string{"fluency"}); !errors.Is(err, ErrBudgetExhausted) {
			t.Fatalf("third call: %v, want ErrBudgetExhausted", err)
		}
		if got := b.Used(); got.Calls != 2 || got.Unpriced != 0 || got.CostUSD < 0.0599 || got.CostUSD > 0.0601 {
			t.Errorf("used %+v", got)
		}
		if costs < 0.0599 || costs > 0.0601 || srv.Total() != 2 {
			t.Errorf("scores carry $%v over %d requests", costs, srv.Total())
		}
		if st := j.Stats(); st.BudgetRefusals != 1 {
			t.Errorf("budget refusals %d", st.BudgetRefusals)
		}
	})
}

func TestConcurrencyLimit(t *testing.T) {
	j, srv, _ := newTestJudge(t, judgetest.Delayed(15*time.Millisecond, judgetest.AllScores(5)), func(o *Options) {
		o.MaxConcurrency = 3
		o.Now, o.Sleep = nil, nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if srv.Total() != 24 {
		t.Errorf("server saw %d requests, want 24", srv.Total())
	}
	if m := srv.MaxInFlight(); m > 3 || m < 1 {
		t.Errorf("server saw %d requests in flight at once, limit 3", m)
	}
}

func TestRequestsPerMinute(t *testing.T) {
	// 120 a minute: 2 a second, a burst of 2. On a fake clock, the third
	// and later requests each wait half a second.
	j, _, clock := newTestJudge(t, judgetest.AllScores(5), func(o *Options) { o.RequestsPerMinute = 120 })
	for i := 0; i < 6; i++ {
		if _, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"}); err != nil {
			t.Fatal(err)
		}
	}
	want := []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}
	if diff := cmp.Diff(want, clock.Sleeps()); diff != "" {
		t.Errorf("rate waits (-want +got):\n%s", diff)
	}
}

func TestJSONModeFallback(t *testing.T) {
	srv := judgetest.New(t, judgetest.Options{Reply: judgetest.Content("Sure! ```json\n{\"score\": 4, \"reason\": \"fine\"}\n```"), RejectResponseFormat: true})
	j, err := New(Options{Type: TypeOpenAI, BaseURL: srv.BaseURL(), Model: "llama3.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		scores, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]float64{"fluency": 4}, values(t, scores)); diff != "" {
			t.Errorf("scores (-want +got):\n%s", diff)
		}
	}
	// One refusal of response_format, then three requests without it.
	if got := srv.Counts(); got[400] != 1 || got[200] != 2 {
		t.Errorf("server counts %v", got)
	}
	for _, r := range srv.Requests() {
		if r.ResponseFormat != "" {
			t.Errorf("request %d still sets response_format", r.Seq)
		}
	}
}

func TestJSONModeFallbackConcurrent(t *testing.T) {
	// Calls already sent with response_format when the first refusal
	// arrives must fall back too, not fail.
	srv := judgetest.New(t, judgetest.Options{
		Reply:                judgetest.Delayed(10*time.Millisecond, judgetest.AllScores(3)),
		RejectResponseFormat: true,
	})
	j, err := New(Options{Type: TypeOpenAI, BaseURL: srv.BaseURL(), Model: "llama3.1", MaxConcurrency: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([][]Score, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
		}()
	}
	wg.Wait()
	for i, scores := range results {
		if len(scores) != 1 || scores[0].Err != nil || scores[0].Value != 3 {
			t.Errorf("call %d: %+v", i, scores)
		}
	}
	if got := srv.Count(http.StatusOK); got != 8 {
		t.Errorf("server counts %v, want 8 × 200", srv.Counts())
	}
}

func TestNotEvaluable(t *testing.T) {
	j, srv, _ := newTestJudge(t, judgetest.AllScores(4), nil)
	s := ragSample
	s.Context = "  "
	scores, err := j.Rate(context.Background(), nil, s, []string{"groundedness", "fluency", "similarity"})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(scores[0].Err, ErrNotEvaluable) || !errors.Is(scores[2].Err, ErrNotEvaluable) {
		t.Errorf("groundedness %v, similarity %v: want not evaluable", scores[0].Err, scores[2].Err)
	}
	if scores[1].Err != nil || scores[1].Value != 4 {
		t.Errorf("fluency %+v", scores[1])
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || !cmp.Equal(reqs[0].Metrics(), []string{"fluency"}) {
		t.Fatalf("requests %v", reqs)
	}
	if st := j.Stats(); st.JudgeErrors != 0 {
		t.Errorf("not evaluable counted as judge errors: %+v", st)
	}

	// Nothing to ask: no request at all.
	if _, err := j.Rate(context.Background(), nil, Sample{Answer: "x"}, []string{"similarity"}); err != nil {
		t.Fatal(err)
	}
	if srv.Total() != 1 {
		t.Errorf("server saw %d requests, want 1", srv.Total())
	}
}

func TestNewOptions(t *testing.T) {
	t.Setenv("FLOWWATCH_EMPTY_KEY", "")
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"unknown type", Options{Type: "anthropic", Model: "m"}, "type must be openai or azure_openai"},
		{"openai without model", Options{Type: TypeOpenAI}, "model is required"},
		{"azure without deployment", Options{Type: TypeAzureOpenAI, Endpoint: "https://x.openai.azure.com", APIVersion: "2024-10-21"}, "deployment"},
		{"key env unset", Options{Type: TypeOpenAI, Model: "m", APIKeyEnv: "FLOWWATCH_SURELY_UNSET_KEY"}, "FLOWWATCH_SURELY_UNSET_KEY"},
		{"key env empty", Options{Type: TypeOpenAI, Model: "m", APIKeyEnv: "FLOWWATCH_EMPTY_KEY"}, "FLOWWATCH_EMPTY_KEY"},
		{"bad base url", Options{Type: TypeOpenAI, Model: "m", BaseURL: "localhost"}, "base_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestKeyNeverLogged(t *testing.T) {
	var logs bytes.Buffer
	// The server quotes the key it was sent, as some proxies do in their
	// errors.
	srv := judgetest.New(t, judgetest.Options{Reply: func(r judgetest.Request) judgetest.Reply {
		return judgetest.Reply{Status: http.StatusInternalServerError, Content: "upstream refused " + r.Header.Get("Authorization")}
	}})
	t.Setenv("FLOWWATCH_TEST_JUDGE_KEY", testKey)
	j, err := New(Options{Type: TypeOpenAI, BaseURL: srv.BaseURL(), Model: "m", APIKeyEnv: "FLOWWATCH_TEST_JUDGE_KEY",
		MaxAttempts: 2, BaseBackoff: time.Millisecond},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	scores, err := j.Rate(context.Background(), nil, ragSample, []string{"fluency"})
	if err != nil {
		t.Fatal(err)
	}
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	var je *JudgeError
	if !errors.As(scores[0].Err, &je) || !strings.Contains(je.Raw, "upstream refused Bearer [REDACTED:api_key]") {
		t.Errorf("err = %v, want the server's answer with the key replaced", scores[0].Err)
	}
	if strings.Contains(logs.String(), testKey) || strings.Contains(scores[0].Err.Error(), testKey) || strings.Contains(je.Raw, testKey) {
		t.Errorf("the API key leaked:\n%s\n%v", logs.String(), scores[0].Err)
	}
}

func TestUnknownMetric(t *testing.T) {
	j, srv, _ := newTestJudge(t, judgetest.AllScores(4), nil)
	for _, metrics := range [][]string{{"f1_score"}, {"helpfulness"}, {"fluency", "fluency"}} {
		if _, err := j.Rate(context.Background(), nil, ragSample, metrics); err == nil {
			t.Errorf("%v: no error", metrics)
		}
	}
	if srv.Total() != 0 {
		t.Errorf("server saw %d requests", srv.Total())
	}
}

func TestSplitUsage(t *testing.T) {
	u := model.Usage{Known: true, InputTokens: 1003, OutputTokens: 41, TotalTokens: 1044, CostUSD: 0.01, CostKnown: true}
	shares := splitUsage(u, 4)
	want := []int64{253, 250, 250, 250}
	var sum model.Usage
	for i, s := range shares {
		if s.InputTokens != want[i] {
			t.Errorf("share %d: %d input tokens, want %d", i, s.InputTokens, want[i])
		}
		sum = sum.Add(s)
	}
	if sum.InputTokens != 1003 || sum.OutputTokens != 41 || sum.TotalTokens != 1044 || math.Abs(sum.CostUSD-0.01) > 1e-15 {
		t.Errorf("shares sum to %+v", sum)
	}
}
