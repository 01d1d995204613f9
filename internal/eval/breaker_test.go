package eval

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/judgetest"
)

// TestBreakerOpens feeds a breaker request outcomes and checks when it
// opens: after Failures failures in a row, at once when all of them are
// permanent, else once they span MinOutage from the first one's sending.
func TestBreakerOpens(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	type event struct {
		ok        bool          // a reply
		sent, at  time.Duration // the request's sending and failure, from t0
		permanent bool
	}
	fail := func(sent, at time.Duration, permanent bool) event {
		return event{sent: sent, at: at, permanent: permanent}
	}
	reply := event{ok: true}
	tests := []struct {
		name   string
		events []event
		// opensAt is the index of the event that opens it; -1 for none.
		opensAt int
		says    string
	}{
		{name: "five permanent failures", opensAt: 4, says: "5 requests in a row failed over 0s",
			events: []event{fail(0, 0, true), fail(0, 0, true), fail(0, 0, true), fail(0, 0, true), fail(0, 0, true), fail(0, 0, true)}},
		{name: "four are not enough", opensAt: -1,
			events: []event{fail(0, 0, true), fail(0, 0, true), fail(0, 0, true), fail(0, 0, true)}},
		{name: "a reply ends the run of failures", opensAt: -1,
			events: []event{fail(0, 0, true), fail(0, 0, true), fail(0, 0, true), reply, fail(0, 0, true), fail(0, 0, true), fail(0, 0, true), fail(0, 0, true)}},
		{name: "transient failures within 5s do not open it", opensAt: -1,
			events: []event{fail(0, 0, false), fail(0, 0, false), fail(time.Second, time.Second, false), fail(2*time.Second, 2*time.Second, false),
				fail(4*time.Second, 4*time.Second, false), fail(4900*time.Millisecond, 4900*time.Millisecond, false)}},
		{name: "transient failures over 5s open it", opensAt: 5, says: "6 requests in a row failed over 5s",
			events: []event{fail(0, 0, false), fail(0, 0, false), fail(time.Second, time.Second, false), fail(2*time.Second, 2*time.Second, false),
				fail(4*time.Second, 4*time.Second, false), fail(5*time.Second, 5*time.Second, false)}},
		{name: "mixed failures wait for 5s", opensAt: 5,
			events: []event{fail(0, 0, true), fail(0, 0, true), fail(0, 0, true), fail(0, 0, true), fail(0, 0, false), fail(5*time.Second, 5*time.Second, true)}},
		{name: "timeouts span from their sending", opensAt: 4, says: "over 1m0s",
			events: []event{fail(0, time.Minute, false), fail(0, time.Minute, false), fail(0, time.Minute, false), fail(0, time.Minute, false), fail(0, time.Minute, false)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBreaker(BreakerOptions{})
			opened := -1
			for i, e := range tt.events {
				if e.ok {
					b.succeeded()
					continue
				}
				if b.failed(t0.Add(e.sent), t0.Add(e.at), errors.New("HTTP 503"), e.permanent) {
					if opened >= 0 {
						t.Fatalf("opened twice, at %d and %d", opened, i)
					}
					opened = i
				}
			}
			if opened != tt.opensAt {
				t.Fatalf("opened at event %d, want %d", opened, tt.opensAt)
			}
			err := b.Err()
			if (err != nil) != (tt.opensAt >= 0) {
				t.Fatalf("Err() = %v with the breaker opened at %d", err, opened)
			}
			if err != nil && (!errors.Is(err, ErrJudgeGivenUp) || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "HTTP 503")) {
				t.Errorf("Err() = %q, want ErrJudgeGivenUp saying %q and the last failure", err, tt.says)
			}
		})
	}
	var nilBreaker *Breaker
	if nilBreaker.failed(t0, t0, errors.New("x"), true) || nilBreaker.Err() != nil {
		t.Error("a nil breaker opened")
	}
}

// TestBreakerGivesUp: five 401s open a run's breaker. A request of the
// run in flight meanwhile is abandoned, later calls of the run fail at
// once without a request, and another run (another budget) still calls
// the same judge.
func TestBreakerGivesUp(t *testing.T) {
	inFlight := make(chan struct{})
	slow := Sample{Question: "q", Answer: "slow answer"}
	j, srv, _ := newTestJudge(t, judgetest.ByText(map[string]judgetest.ReplyFunc{
		"slow answer": func(judgetest.Request) judgetest.Reply {
			close(inFlight)
			return judgetest.Reply{Delay: time.Hour}
		},
		"failing answer": judgetest.Status(http.StatusUnauthorized, 0),
	}, judgetest.FixedScores(nil)), nil)
	run := &Budget{Breaker: NewBreaker(BreakerOptions{})}
	// Should the test fail half-way, the slow request still ends before
	// the server is closed.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	slowDone := make(chan []Score, 1)
	go func() {
		scores, err := j.Rate(ctx, run, slow, []string{"fluency"})
		if err != nil {
			t.Errorf("slow call: %v", err)
		}
		slowDone <- scores
	}()
	<-inFlight
	failing := Sample{Question: "q", Answer: "failing answer"}
	for i := range DefaultBreakerFailures {
		scores, err := j.Rate(ctx, run, failing, []string{"fluency"})
		if err != nil || scores[0].Err == nil || !strings.Contains(scores[0].Err.Error(), "HTTP 401") {
			t.Fatalf("failing call %d: %v, %v; want a judge error saying HTTP 401", i, scores, err)
		}
	}
	scores := <-slowDone
	if err := scores[0].Err; err == nil || !errors.Is(err, ErrJudgeGivenUp) {
		t.Errorf("slow call in flight: %v, want it abandoned with ErrJudgeGivenUp", err)
	}

	before := srv.Total()
	if _, err := j.Rate(ctx, run, ragSample, []string{"fluency"}); !errors.Is(err, ErrJudgeGivenUp) || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("call after the breaker opened: %v, want ErrJudgeGivenUp saying HTTP 401", err)
	}
	if srv.Total() != before {
		t.Errorf("a call of a run that gave the judge up sent %d requests", srv.Total()-before)
	}
	other := &Budget{Breaker: NewBreaker(BreakerOptions{})}
	if scores, err := j.Rate(ctx, other, ragSample, []string{"fluency"}); err != nil || scores[0].Err != nil {
		t.Errorf("another run's call: %v, %v; want a score", scores, err)
	}
	st := j.Stats()
	if st.BreakerOpens != 1 || st.GivenUp != 1 {
		t.Errorf("stats %+v, want one breaker opened and one call given up", st)
	}
}
