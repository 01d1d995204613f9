package monitor

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/eval"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
)

// Judge outage tests: whole engine runs against a judge that fails every
// request, through a real eval.Judge whose clock moves by its (recorded,
// not waited) retry waits. A run gives its judge up after a few failures
// in a row, so an outage costs it seconds; the run is degraded, says how
// many instances the judge failed and why, and logs that once.

// logBuffer collects JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns the records whose msg is msg.
func (l *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func newLogBuffer() (*logBuffer, *slog.Logger) {
	l := &logBuffer{}
	return l, slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// checkDegraded checks a run's judge errors: degraded with n of them and
// a first error that says says, or not degraded when n is 0.
func checkDegraded(t *testing.T, res model.RunResult, n int, says string) {
	t.Helper()
	if res.Degraded != (n > 0) || res.JudgeErrors != n {
		t.Errorf("degraded %v with %d judge errors, want %v with %d", res.Degraded, res.JudgeErrors, n > 0, n)
	}
	switch {
	case n == 0 && res.JudgeError != "":
		t.Errorf("judge error %q in a run without judge errors", res.JudgeError)
	case n > 0 && !strings.Contains(res.JudgeError, says):
		t.Errorf("first judge error %q does not say %q", res.JudgeError, says)
	case len(res.JudgeError) > model.MaxJudgeErrorBytes:
		t.Errorf("first judge error is %d bytes, more than %d", len(res.JudgeError), model.MaxJudgeErrorBytes)
	}
}

// TestEngineJudgeOutage: a judge that fails every request. The run gives
// it up after DefaultBreakerFailures failures in a row (and, for failures
// that may pass, once they span DefaultBreakerMinOutage): the traces left
// are not sent, and end as errors that say why. The quality metrics have
// no data and no violation, the run is degraded with every instance in
// error, and one warning says so.
func TestEngineJudgeOutage(t *testing.T) {
	const given = "judge given up for the rest of the run"
	tests := []struct {
		name  string
		reply judgetest.ReplyFunc
		says  string
		// lo and hi bound the requests the server saw; sent is the
		// number of traces whose request was sent (the others were given
		// up before sending).
		lo, hi int64
		sent   int
		// waited bounds the judge's retry waits, in all.
		waitLo, waitHi time.Duration
	}{
		{name: "401 (a wrong key): five requests, no retries", reply: judgetest.Status(http.StatusUnauthorized, 0),
			says: "HTTP 401", lo: 5, hi: 5, sent: 5},
		{name: "404 (no such deployment)", reply: judgetest.Status(http.StatusNotFound, 0),
			says: "HTTP 404", lo: 5, hi: 5, sent: 5},
		// Attempts at 0, then after waits of 0.25-0.5s, 0.5-1s, 1-2s,
		// 2-4s, 4-8s: the fifth or sixth failure is the first 5s after
		// the first, and ends the first trace's call.
		{name: "500 on every request: retried for 5s, then given up", reply: judgetest.Status(http.StatusInternalServerError, 0),
			says: "HTTP 500", lo: 5, hi: 6, sent: 1, waitLo: eval.DefaultBreakerMinOutage, waitHi: 15500 * time.Millisecond},
		{name: "dropped connections", reply: func(judgetest.Request) judgetest.Reply { return judgetest.Reply{Drop: true} },
			says: "EOF", lo: 5, hi: 6, sent: 1, waitLo: eval.DefaultBreakerMinOutage, waitHi: 15500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs, logger := newLogBuffer()
			r := runFaults(t, faultSetup{reply: tt.reply, workers: 1, concurrency: 1, clock: true, logger: logger})

			skipped := 0
			for _, in := range r.out.Instances {
				checkError(t, in, tt.says)
				if strings.Contains(in.Error, given) {
					skipped++
				}
			}
			if want := 2 * (faultTraces - tt.sent); skipped != want {
				t.Errorf("%d instances given up, want %d", skipped, want)
			}
			checkMetric(t, r.out, "fluency", metricWant{Errors: 10, NoData: true})
			checkMetric(t, r.out, "groundedness", metricWant{Errors: 10, NoData: true})
			checkDegraded(t, r.out.Result, 2*faultTraces, tt.says)
			s := Summarize(r.out.Result.Metrics)
			if s.Checks != 0 || s.Violations != 0 || s.Unchecked != 2 || s.Unhealthy != 2 {
				t.Errorf("summary %+v, want no check, no violation, 2 unchecked, 2 unhealthy", s)
			}

			if n := r.server.Total(); n < tt.lo || n > tt.hi {
				t.Errorf("the server saw %d requests, want %d to %d", n, tt.lo, tt.hi)
			}
			if r.stats.BreakerOpens != 1 || r.stats.GivenUp != int64(faultTraces-tt.sent) {
				t.Errorf("judge stats %+v, want the breaker opened once and %d calls given up", r.stats, faultTraces-tt.sent)
			}
			var waited time.Duration
			for _, w := range r.waits {
				waited += w
			}
			if waited < tt.waitLo || waited > tt.waitHi {
				t.Errorf("the judge waited %s in all (%v), want %s to %s", waited, r.waits, tt.waitLo, tt.waitHi)
			}

			recs := logs.records(t, "run_degraded")
			if len(recs) != 1 {
				t.Fatalf("%d run_degraded records, want 1 per run", len(recs))
			}
			rec := recs[0]
			if rec["level"] != "WARN" || rec["monitor"] != "m" || rec["run"] != "run-1" || rec["judge"] != "j" ||
				rec["judge_errors"] != float64(2*faultTraces) || rec["given_up"] != float64(skipped) ||
				!strings.Contains(rec["first_error"].(string), tt.says) {
				t.Errorf("run_degraded record %v", rec)
			}
		})
	}
}

// TestEngineJudgeBlip: four 500s in a row, then a healthy judge. They are
// retried through (the breaker wants five failures over 5s), every
// instance is judged and the run is not degraded.
func TestEngineJudgeBlip(t *testing.T) {
	logs, logger := newLogBuffer()
	fail := func(judgetest.Request) judgetest.Reply {
		return judgetest.Reply{Status: http.StatusInternalServerError}
	}
	r := runFaults(t, faultSetup{reply: judgetest.Sequence(fail, fail, fail, fail, faultScores()),
		workers: 1, concurrency: 1, clock: true, logger: logger})
	for _, in := range r.out.Instances {
		checkJudged(t, in)
	}
	checkDegraded(t, r.out.Result, 0, "")
	if r.stats.BreakerOpens != 0 || r.stats.GivenUp != 0 || r.stats.ServerErrors != 4 {
		t.Errorf("judge stats %+v, want 4 server errors and the breaker closed", r.stats)
	}
	if n := len(logs.records(t, "run_degraded")); n != 0 {
		t.Errorf("%d run_degraded records for a run that is not degraded", n)
	}
}

// TestEngineJudgeUsage: every reply reports 100 input and 20 output
// tokens. The run sums them per metric (a reply rating two metrics is
// shared evenly) and in all, and prices them with the price table when it
// knows the judge's model.
func TestEngineJudgeUsage(t *testing.T) {
	withUsage := func(r judgetest.Request) judgetest.Reply {
		rep := faultScores()(r)
		rep.Usage = &judgetest.Usage{PromptTokens: 100, CompletionTokens: 20}
		return rep
	}
	priced, err := rollup.NewPrices([]rollup.Price{{Model: "judge-*", InputPerMTok: 2.5, OutputPerMTok: 10}}, false)
	if err != nil {
		t.Fatal(err)
	}
	unpriced, err := rollup.NewPrices([]rollup.Price{{Model: "gpt-4o", InputPerMTok: 2.5, OutputPerMTok: 10}}, false)
	if err != nil {
		t.Fatal(err)
	}
	// One reply per trace: 100 in and 20 out, $0.00045.
	perReply := (100*2.5 + 20*10) / 1e6
	tests := []struct {
		name   string
		prices *rollup.Prices
		// cost is the run's cost; nil for unknown.
		cost *float64
	}{
		{name: "priced", prices: priced, cost: ptr(faultTraces * perReply)},
		{name: "the judge's model has no price", prices: unpriced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runFaults(t, faultSetup{reply: withUsage, cost: tt.prices.Cost})
			checkDegraded(t, r.out.Result, 0, "")
			check := func(what string, got *model.JudgeUsage, in, out int64, cost *float64) {
				t.Helper()
				if got == nil {
					t.Fatalf("%s: no judge usage", what)
				}
				if got.InputTokens != in || got.OutputTokens != out {
					t.Errorf("%s: %d input and %d output tokens, want %d and %d", what, got.InputTokens, got.OutputTokens, in, out)
				}
				switch {
				case (got.CostUSD == nil) != (cost == nil):
					t.Errorf("%s: cost %v, want %v", what, got.CostUSD, cost)
				case cost != nil && math.Abs(*got.CostUSD-*cost) > 1e-12:
					t.Errorf("%s: cost %v, want %v", what, *got.CostUSD, *cost)
				}
			}
			check("run", r.out.Result.JudgeUsage, faultTraces*100, faultTraces*20, tt.cost)
			var half *float64
			if tt.cost != nil {
				half = ptr(*tt.cost / 2)
			}
			for _, name := range []string{"fluency", "groundedness"} {
				check(name, metricOf(t, r.out, name).JudgeUsage, faultTraces*50, faultTraces*10, half)
			}
		})
	}
}
