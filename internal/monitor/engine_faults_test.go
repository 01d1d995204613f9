package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/eval"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// Fault tests: whole engine runs against a real OpenAI-compatible test
// server that misbehaves (429 with Retry-After, 5xx, malformed replies),
// through a real eval.Judge, with exact outcomes. The judge's waits go
// through an injected sleep that records them and returns at once, so no
// test waits for real.

// faultTraces is the number of traces of a fault run: all sampled, all
// evaluable.
const faultTraces = 10

// fluentMarker is in the answers of traces 1-6, which the scripted judge
// rates 5 for fluency (the others 2); groundedness is always 4.
const fluentMarker = "FLUENT-ANSWER"

// faultQuestion is trace i's question; no question is part of another, so
// judgetest.ByText picks a trace by it.
func faultQuestion(i int) string { return fmt.Sprintf("question %02d", i) }

var faultQuestionRE = regexp.MustCompile(`question \d\d`)

// faultScores is the scripted judge of a healthy server.
func faultScores() judgetest.ReplyFunc {
	return judgetest.Scores(func(r judgetest.Request, metric string) (int, bool) {
		if metric == "fluency" {
			if strings.Contains(r.UserText(), fluentMarker) {
				return 5, true
			}
			return 2, true
		}
		return 4, true
	})
}

// wantScore is the score faultScores gives trace i on a metric.
func wantScore(metric string, i int) float64 {
	if metric == "fluency" {
		if i <= 6 {
			return 5
		}
		return 2
	}
	return 4
}

// faultTraceID is trace i's id (as flowTrace makes it).
func faultTraceID(i int) string { return fmt.Sprintf("%032x", i) }

// faultSetup configures a fault run.
type faultSetup struct {
	reply judgetest.ReplyFunc
	// maxAttempts bounds the requests one reply may take (default 8);
	// concurrency bounds the judge's requests in flight (default 4) and
	// workers the engine's traces at once (default 64).
	maxAttempts, concurrency, workers int
	// clock makes the judge's clock move by its waits (one virtual clock
	// for all its calls) instead of real time, so that a run's breaker
	// sees the time its failures span.
	clock bool
	// cost prices the judge's usage; logger receives the engine's logs.
	cost   func(string, model.Usage) (float64, bool)
	logger *slog.Logger
}

// faultResult is what a fault run found, on both sides of the wire.
type faultResult struct {
	out    Outcome
	server *judgetest.Server
	stats  eval.Stats
	waits  []time.Duration // the judge's waits between attempts
}

// waitLog records the judge's waits and returns at once; as a clock
// (now), it reads the time the waits add up to.
type waitLog struct {
	mu     sync.Mutex
	waits  []time.Duration
	waited time.Duration
}

func (w *waitLog) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.waited += d
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waitLog) now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(w.waited)
}

// runFaults stores faultTraces requests of service shop, then runs a
// monitor rating groundedness and fluency (pass score 3, minimum pass rate
// 0.7) with a judge served by s.reply.
func runFaults(t *testing.T, s faultSetup) faultResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	end := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var spans []model.Span
	for i := 1; i <= faultTraces; i++ {
		answer := fmt.Sprintf("answer %d", i)
		if i <= 6 {
			answer += " " + fluentMarker
		}
		spans = append(spans, flowTrace(i, "shop", end.Add(-time.Duration(i)*time.Minute), faultQuestion(i), fmt.Sprintf("the context %d", i), answer))
	}
	if _, err := st.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}

	server := judgetest.New(t, judgetest.Options{Reply: s.reply})
	waits := &waitLog{}
	jo := eval.Options{Name: "j", Type: "openai", BaseURL: server.BaseURL(), Model: "judge-model",
		MaxConcurrency: cmpOr(s.concurrency, 4), MaxAttempts: s.maxAttempts, Sleep: waits.sleep, Cost: s.cost}
	if s.clock {
		jo.Now = waits.now
	}
	j, err := eval.New(jo, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(EngineOptions{Store: st, Registry: eval.NewRegistry(), Workers: s.workers,
		Judges: func(name string) (Judge, bool) { return j, name == "j" }}, s.logger)
	if err != nil {
		t.Fatal(err)
	}
	mon := model.Monitor{Name: "m", Target: model.MonitorTarget{Service: "shop"}, SamplingRate: 1, Judge: "j",
		Window:  model.Window{Lookback: "P1D"},
		Columns: model.Columns{Prompt: "question", Completion: "answer", Context: "context"},
		Quality: map[string]model.QualityThreshold{
			"groundedness": {PassScore: ptr(3), MinPassRate: ptr(0.7)},
			"fluency":      {PassScore: ptr(3), MinPassRate: ptr(0.7)},
		}}
	start, wend, err := WindowAt(mon.Window, end)
	if err != nil {
		t.Fatal(err)
	}
	out, err := eng.Run(ctx, model.Run{ID: "run-1", Monitor: "m", ScheduledAt: end, WindowStart: start, WindowEnd: wend}, mon, nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if out.Result.Sampled != faultTraces {
		t.Fatalf("sampled %d traces, want %d", out.Result.Sampled, faultTraces)
	}
	if len(out.Instances) != 2*faultTraces {
		t.Fatalf("%d instances, want %d (every trace, both metrics)", len(out.Instances), 2*faultTraces)
	}
	waits.mu.Lock()
	defer waits.mu.Unlock()
	return faultResult{out: out, server: server, stats: j.Stats(), waits: append([]time.Duration(nil), waits.waits...)}
}

func cmpOr(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

// metricWant is the expected aggregate of one metric.
type metricWant struct {
	Judged, Errors, Passed int
	PassRate, Average      *float64
	NoData, Violation      bool
}

func checkMetric(t *testing.T, out Outcome, metric string, want metricWant) {
	t.Helper()
	m := metricOf(t, out, metric)
	got := metricWant{Judged: m.Judged, Errors: m.Errors, Passed: m.Passed, PassRate: m.PassRate, Average: m.AverageScore,
		NoData: m.NoData, Violation: m.Violation}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", metric, diff)
	}
	if m.NotEvaluable != 0 {
		t.Errorf("%s: %d not evaluable, want 0 (every trace has its columns)", metric, m.NotEvaluable)
	}
	if (m.PassRateCI == nil) != (want.PassRate == nil) {
		t.Errorf("%s: pass rate interval %v with pass rate %v", metric, m.PassRateCI, want.PassRate)
	}
}

// traceIndex is the number of a trace from its id.
func traceIndex(t *testing.T, id string) int {
	t.Helper()
	for i := 1; i <= faultTraces; i++ {
		if faultTraceID(i) == id {
			return i
		}
	}
	t.Fatalf("instance of unknown trace %s", id)
	return 0
}

// checkJudged checks that an instance is judged with the scripted score.
func checkJudged(t *testing.T, in model.Instance) {
	t.Helper()
	want := wantScore(in.Metric, traceIndex(t, in.TraceID))
	if in.Status != model.InstanceJudged || in.Score == nil || *in.Score != want || in.Passed != (want >= 3) ||
		in.Error != "" || in.JudgeModel != "judge-model" {
		t.Errorf("trace %s %s: %+v, want judged with score %v", in.TraceID, in.Metric, in, want)
	}
}

// checkError checks that an instance is a judge error, without a score,
// whose message says each of says.
func checkError(t *testing.T, in model.Instance, says ...string) {
	t.Helper()
	if in.Status != model.InstanceError || in.Score != nil || in.Passed {
		t.Errorf("trace %s %s: %+v, want an error without a score", in.TraceID, in.Metric, in)
	}
	for _, s := range says {
		if !strings.Contains(in.Error, s) {
			t.Errorf("trace %s %s: error %q does not say %q", in.TraceID, in.Metric, in.Error, s)
		}
	}
}

func checkWaits(t *testing.T, waits []time.Duration, n int, lo, hi time.Duration) {
	t.Helper()
	if len(waits) != n {
		t.Fatalf("the judge waited %d times (%v), want %d", len(waits), waits, n)
	}
	for _, w := range waits {
		if w < lo || w > hi {
			t.Errorf("the judge waited %s, want between %s and %s", w, lo, hi)
		}
	}
}

// TestEngineRateLimited: the judge's server answers its first requests
// 429 with Retry-After, then rates. Every instance still ends judged with
// its scripted score, the figures are exact, each 429 was retried once
// after the wait the server asked for (and at most 20% more), and the
// server saw exactly one request per trace plus one per 429.
func TestEngineRateLimited(t *testing.T) {
	tests := []struct {
		name    string
		limited int // the first requests answered 429
		reply   judgetest.Reply
		// workers and concurrency 1 put every 429 on the first trace.
		serial bool
		wait   time.Duration
	}{
		{name: "one 429", limited: 1, reply: judgetest.Reply{Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second}, wait: 2 * time.Second},
		{name: "five 429s, milliseconds", limited: 5, reply: judgetest.Reply{Status: http.StatusTooManyRequests, RetryAfter: 250 * time.Millisecond}, wait: 250 * time.Millisecond},
		{name: "Retry-After in seconds only", limited: 3,
			reply: judgetest.Reply{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "3"}}, wait: 3 * time.Second},
		{name: "seven 429s on one reply, its last attempt succeeds", limited: 7, serial: true,
			reply: judgetest.Reply{Status: http.StatusTooManyRequests, RetryAfter: time.Second}, wait: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := make([]judgetest.ReplyFunc, 0, tt.limited+1)
			for range tt.limited {
				seq = append(seq, func(judgetest.Request) judgetest.Reply { return tt.reply })
			}
			setup := faultSetup{reply: judgetest.Sequence(append(seq, faultScores())...)}
			if tt.serial {
				setup.workers, setup.concurrency = 1, 1
			}
			r := runFaults(t, setup)

			for _, in := range r.out.Instances {
				checkJudged(t, in)
			}
			checkMetric(t, r.out, "fluency", metricWant{Judged: 10, Passed: 6, PassRate: ptr(0.6), Average: ptr(3.8), Violation: true})
			checkMetric(t, r.out, "groundedness", metricWant{Judged: 10, Passed: 10, PassRate: ptr(1), Average: ptr(4)})

			wantCounts := map[int]int64{http.StatusOK: faultTraces, http.StatusTooManyRequests: int64(tt.limited)}
			if diff := cmp.Diff(wantCounts, r.server.Counts()); diff != "" {
				t.Errorf("replies by status (-want +got):\n%s", diff)
			}
			if got, want := r.server.Total(), int64(faultTraces+tt.limited); got != want {
				t.Errorf("the server saw %d requests, want %d (one per trace, both metrics in one, plus one per 429)", got, want)
			}
			if r.stats.RateLimited != int64(tt.limited) || r.stats.Retries != int64(tt.limited) {
				t.Errorf("judge stats %+v, want %d rate limited and as many retries", r.stats, tt.limited)
			}
			checkWaits(t, r.waits, tt.limited, tt.wait, tt.wait+tt.wait/5)
		})
	}
}

// TestEngineServerErrorsPersist: a server that always fails. Every
// instance ends as an error naming the status, counted in Errors; nothing
// is judged, so there is no score, no pass rate, no average and no
// violation, only no data. Retryable statuses take every attempt; others
// one.
func TestEngineServerErrorsPersist(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
		perTrace   int // requests per trace
		// waits between them: between lo and hi each (backoff when the
		// server asks for none).
		lo, hi time.Duration
	}{
		{name: "500", status: http.StatusInternalServerError, perTrace: 3, lo: eval.DefaultBaseBackoff / 2, hi: 2 * eval.DefaultBaseBackoff},
		{name: "503 with Retry-After", status: http.StatusServiceUnavailable, retryAfter: 500 * time.Millisecond, perTrace: 3,
			lo: 500 * time.Millisecond, hi: 600 * time.Millisecond},
		// 4xx statuses are not retried, and give the judge up after a few
		// in a row: see TestEngineJudgeOutage.
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runFaults(t, faultSetup{reply: judgetest.Status(tt.status, tt.retryAfter), maxAttempts: 3})

			for _, in := range r.out.Instances {
				checkError(t, in, fmt.Sprintf("HTTP %d", tt.status))
			}
			noData := metricWant{Errors: 10, NoData: true}
			checkMetric(t, r.out, "fluency", noData)
			checkMetric(t, r.out, "groundedness", noData)
			checkDegraded(t, r.out.Result, 2*faultTraces, fmt.Sprintf("HTTP %d", tt.status))

			requests := int64(faultTraces * tt.perTrace)
			if diff := cmp.Diff(map[int]int64{tt.status: requests}, r.server.Counts()); diff != "" {
				t.Errorf("replies by status (-want +got):\n%s", diff)
			}
			if r.stats.JudgeErrors != 2*faultTraces {
				t.Errorf("judge stats %+v, want %d judge errors (both metrics of every trace)", r.stats, 2*faultTraces)
			}
			checkWaits(t, r.waits, faultTraces*(tt.perTrace-1), tt.lo, tt.hi)
		})
	}
}

// TestEngineSomeTracesFail: the server fails every request about some
// traces (500, for good) and rates the others. Judged and error counts are
// exact, and the pass rate and average are over the judged traces only.
func TestEngineSomeTracesFail(t *testing.T) {
	tests := []struct {
		name         string
		failing      []int
		fluency      metricWant
		groundedness metricWant
	}{
		{name: "none", failing: nil,
			fluency:      metricWant{Judged: 10, Passed: 6, PassRate: ptr(0.6), Average: ptr(3.8), Violation: true},
			groundedness: metricWant{Judged: 10, Passed: 10, PassRate: ptr(1), Average: ptr(4)}},
		{name: "one passing and one failing trace", failing: []int{2, 8},
			fluency:      metricWant{Judged: 8, Errors: 2, Passed: 5, PassRate: ptr(0.625), Average: ptr(3.875), Violation: true},
			groundedness: metricWant{Judged: 8, Errors: 2, Passed: 8, PassRate: ptr(1), Average: ptr(4)}},
		{name: "the failing traces", failing: []int{7, 8, 9, 10},
			fluency:      metricWant{Judged: 6, Errors: 4, Passed: 6, PassRate: ptr(1), Average: ptr(5)},
			groundedness: metricWant{Judged: 6, Errors: 4, Passed: 6, PassRate: ptr(1), Average: ptr(4)}},
		{name: "the passing traces", failing: []int{1, 2, 3, 4, 5, 6},
			fluency:      metricWant{Judged: 4, Errors: 6, PassRate: ptr(0), Average: ptr(2), Violation: true},
			groundedness: metricWant{Judged: 4, Errors: 6, Passed: 4, PassRate: ptr(1), Average: ptr(4)}},
		{name: "all", failing: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
			fluency:      metricWant{Errors: 10, NoData: true},
			groundedness: metricWant{Errors: 10, NoData: true}},
	}
	const attempts = 2
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fail := map[string]judgetest.ReplyFunc{}
			failing := map[int]bool{}
			for _, i := range tt.failing {
				fail[faultQuestion(i)] = judgetest.Status(http.StatusInternalServerError, 0)
				failing[i] = true
			}
			r := runFaults(t, faultSetup{reply: judgetest.ByText(fail, faultScores()), maxAttempts: attempts})

			for _, in := range r.out.Instances {
				if failing[traceIndex(t, in.TraceID)] {
					checkError(t, in, "HTTP 500")
				} else {
					checkJudged(t, in)
				}
			}
			checkMetric(t, r.out, "fluency", tt.fluency)
			checkMetric(t, r.out, "groundedness", tt.groundedness)
			checkDegraded(t, r.out.Result, 2*len(tt.failing), "HTTP 500")

			want := map[int]int64{}
			if n := faultTraces - len(tt.failing); n > 0 {
				want[http.StatusOK] = int64(n)
			}
			if n := len(tt.failing); n > 0 {
				want[http.StatusInternalServerError] = int64(n * attempts)
			}
			if diff := cmp.Diff(want, r.server.Counts()); diff != "" {
				t.Errorf("replies by status (-want +got):\n%s", diff)
			}
		})
	}
}

// perTrace answers the first request about each trace (by its question)
// with first, and the later ones with then.
func perTrace(first, then judgetest.ReplyFunc) judgetest.ReplyFunc {
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	return func(r judgetest.Request) judgetest.Reply {
		q := faultQuestionRE.FindString(r.UserText())
		mu.Lock()
		again := seen[q]
		seen[q] = true
		mu.Unlock()
		if again {
			return then(r)
		}
		return first(r)
	}
}

// TestEngineMalformedReplies: a reply that cannot be read is asked again
// once; a metric the second reply has no score for either ends as an
// error that keeps the raw reply, never as a score.
func TestEngineMalformedReplies(t *testing.T) {
	const prose = "I would rate this answer quite highly overall."
	onlyFluency := judgetest.FixedScores(map[string]int{"fluency": 5})
	partial := judgetest.ScoreContent([]string{"fluency", "groundedness"}, map[string]int{"fluency": 5})
	tests := []struct {
		name     string
		reply    judgetest.ReplyFunc
		perTrace int // requests per trace
		counts   func(n int64) map[int]int64
		// check checks an instance of trace i.
		check func(t *testing.T, in model.Instance)
		// fluency and groundedness are the expected aggregates.
		fluency, groundedness metricWant
	}{
		{
			name: "malformed twice", reply: judgetest.Content(prose), perTrace: 2,
			counts: func(n int64) map[int]int64 { return map[int]int64{http.StatusOK: n} },
			check: func(t *testing.T, in model.Instance) {
				checkError(t, in, "malformed reply twice")
				if in.RawReply != prose {
					t.Errorf("trace %s %s: raw reply %q, want %q", in.TraceID, in.Metric, in.RawReply, prose)
				}
			},
			fluency:      metricWant{Errors: 10, NoData: true},
			groundedness: metricWant{Errors: 10, NoData: true},
		},
		{
			name: "malformed once, then rated", reply: perTrace(judgetest.Content(prose), faultScores()), perTrace: 2,
			counts:       func(n int64) map[int]int64 { return map[int]int64{http.StatusOK: n} },
			check:        checkJudged,
			fluency:      metricWant{Judged: 10, Passed: 6, PassRate: ptr(0.6), Average: ptr(3.8), Violation: true},
			groundedness: metricWant{Judged: 10, Passed: 10, PassRate: ptr(1), Average: ptr(4)},
		},
		{
			name: "one metric missing from both replies", reply: onlyFluency, perTrace: 2,
			counts: func(n int64) map[int]int64 { return map[int]int64{http.StatusOK: n} },
			check: func(t *testing.T, in model.Instance) {
				if in.Metric == "fluency" {
					if in.Status != model.InstanceJudged || in.Score == nil || *in.Score != 5 {
						t.Errorf("trace %s fluency: %+v, want judged 5 (it is in the replies)", in.TraceID, in)
					}
					return
				}
				checkError(t, in, "malformed reply twice")
				if in.RawReply != partial {
					t.Errorf("trace %s %s: raw reply %q, want %q", in.TraceID, in.Metric, in.RawReply, partial)
				}
			},
			fluency:      metricWant{Judged: 10, Passed: 10, PassRate: ptr(1), Average: ptr(5)},
			groundedness: metricWant{Errors: 10, NoData: true},
		},
		{
			name: "malformed, then the retry fails", perTrace: 3, // the reply, then its retry's 2 attempts
			reply: perTrace(judgetest.Content(prose), judgetest.Status(http.StatusInternalServerError, 0)),
			counts: func(n int64) map[int]int64 {
				return map[int]int64{http.StatusOK: n / 3, http.StatusInternalServerError: 2 * n / 3}
			},
			check: func(t *testing.T, in model.Instance) {
				checkError(t, in, "malformed reply", "its retry failed", "HTTP 500")
				if in.RawReply != prose {
					t.Errorf("trace %s %s: raw reply %q, want the malformed one %q", in.TraceID, in.Metric, in.RawReply, prose)
				}
			},
			fluency:      metricWant{Errors: 10, NoData: true},
			groundedness: metricWant{Errors: 10, NoData: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runFaults(t, faultSetup{reply: tt.reply, maxAttempts: 2})

			for _, in := range r.out.Instances {
				tt.check(t, in)
			}
			checkMetric(t, r.out, "fluency", tt.fluency)
			checkMetric(t, r.out, "groundedness", tt.groundedness)
			n := int64(faultTraces * tt.perTrace)
			if diff := cmp.Diff(tt.counts(n), r.server.Counts()); diff != "" {
				t.Errorf("replies by status (-want +got):\n%s", diff)
			}
			if got := r.server.Total(); got != n {
				t.Errorf("the server saw %d requests, want %d", got, n)
			}
		})
	}
}
