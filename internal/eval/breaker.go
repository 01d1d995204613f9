package eval

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of BreakerOptions.
const (
	DefaultBreakerFailures  = 5
	DefaultBreakerMinOutage = 5 * time.Second
)

// ErrJudgeGivenUp is returned, without calling the judge, once a run's
// Breaker has opened.
var ErrJudgeGivenUp = errors.New("judge given up for the rest of the run")

// BreakerOptions configure a Breaker.
type BreakerOptions struct {
	// Failures is how many requests in a row must fail before the breaker
	// opens (default 5). A reply of any kind, even one that cannot be
	// parsed, ends a run of failures; a 429 neither counts nor ends one
	// (the server is up and asks to slow down, and is waited for).
	Failures int
	// MinOutage is how long the failing requests must span, from the
	// sending of the first of them, before failures that may pass (5xx,
	// 408, 409, timeouts, refused or dropped connections) open the
	// breaker (default 5s), so that a short blip is retried through.
	// Failures that will not pass by retrying (any other 4xx status:
	// 400, 401, 403, 404, ...) open it as soon as there are Failures of
	// them in a row.
	MinOutage time.Duration
}

// Breaker gives up on the judge for the rest of one run once the judge
// looks down, so that an outage costs the run seconds instead of every
// instance's retries: once open, requests waiting to be retried are not
// retried, requests in flight are abandoned, and Judge.Rate fails at once
// with ErrJudgeGivenUp (wrapped with what failed). It never closes again;
// the next run starts with a closed breaker of its own. Share one
// *Breaker between all the calls of a run (Budget.Breaker). Safe for
// concurrent use; nil is a breaker that never opens.
type Breaker struct {
	failures  int
	minOutage time.Duration
	opened    context.Context
	open      context.CancelFunc

	mu        sync.Mutex
	streak    int       // requests in a row that failed
	permanent bool      // every failure of the streak was permanent
	since     time.Time // when the streak's first request was sent
	last      error     // the streak's last failure
	err       error     // set when open
}

// NewBreaker returns a closed breaker.
func NewBreaker(o BreakerOptions) *Breaker {
	if o.Failures <= 0 {
		o.Failures = DefaultBreakerFailures
	}
	if o.MinOutage <= 0 {
		o.MinOutage = DefaultBreakerMinOutage
	}
	opened, open := context.WithCancel(context.Background())
	return &Breaker{failures: o.Failures, minOutage: o.MinOutage, opened: opened, open: open}
}

// Err is nil while the breaker is closed; once open, it is
// ErrJudgeGivenUp wrapped with the failures that opened it.
func (b *Breaker) Err() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// succeeded records a request that got a reply.
func (b *Breaker) succeeded() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.streak, b.last = 0, nil
	}
}

// failed records a request sent at sent that failed at now with err;
// permanent says that retrying it cannot help. It reports whether this
// failure opened the breaker.
func (b *Breaker) failed(sent, now time.Time, err error, permanent bool) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return false
	}
	if b.streak == 0 {
		b.since, b.permanent = sent, true
	}
	b.streak++
	b.permanent = b.permanent && permanent
	if sent.Before(b.since) {
		b.since = sent
	}
	b.last = err
	if b.streak < b.failures || (!b.permanent && now.Sub(b.since) < b.minOutage) {
		return false
	}
	b.err = fmt.Errorf("%w: %d requests in a row failed over %s, the last: %v",
		ErrJudgeGivenUp, b.streak, now.Sub(b.since).Round(time.Millisecond), b.last)
	b.open()
	return true
}

// bind returns ctx, canceled as well when the breaker opens; call stop
// once done with it.
func (b *Breaker) bind(ctx context.Context) (bound context.Context, stop func()) {
	if b == nil {
		return ctx, func() {}
	}
	bound, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(b.opened, cancel)
	return bound, func() {
		unhook()
		cancel()
	}
}
