package eval

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// bucket is a token bucket: Rate tokens per second, at most Burst saved.
// A caller reserves a token and waits until it is due; reservations may
// drive the balance negative, which queues callers fairly in order.
type bucket struct {
	rate  float64
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// newBucket returns a bucket for a requests-per-minute limit, with a burst
// of one second's worth of requests (at least one); nil for no limit.
func newBucket(perMinute int) *bucket {
	if perMinute <= 0 {
		return nil
	}
	rate := float64(perMinute) / 60
	return &bucket{rate: rate, burst: max(1, float64(int(rate)))}
}

// reserve takes a token at time now and returns how long to wait before
// using it.
func (b *bucket) reserve(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens, b.last = b.burst, now
	}
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// refund returns a reserved token that was not used.
func (b *bucket) refund() {
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+1)
	b.mu.Unlock()
}

// Budget bounds what one run may spend on judge calls: MaxTokens total
// tokens and MaxCostUSD dollars (0: no bound), and with a Breaker the
// failed requests in a row. Share one *Budget between
// all the calls of a run. Once either bound is reached, Judge.Rate fails
// fast with ErrBudgetExhausted. Calls already in flight finish and are
// counted, so a run may overshoot by what they use. A cost bound cannot
// count calls whose model has no price (see Used().Unpriced). Safe for
// concurrent use; do not copy after first use.
type Budget struct {
	MaxTokens  int64
	MaxCostUSD float64
	// Breaker, when set, gives up on the judge for the rest of the run
	// once it looks down (see Breaker).
	Breaker *Breaker

	mu   sync.Mutex
	used BudgetUse
}

// BudgetUse is what a budget has been charged.
type BudgetUse struct {
	Tokens  int64
	CostUSD float64
	// Calls is the number of judge replies charged; Unpriced counts those
	// without a known cost.
	Calls    int64
	Unpriced int64
}

// check returns ErrBudgetExhausted (wrapped with the figures) once a bound
// is reached; a nil budget never is.
func (b *Budget) check() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.MaxTokens > 0 && b.used.Tokens >= b.MaxTokens {
		return fmt.Errorf("%w: %d tokens used of %d", ErrBudgetExhausted, b.used.Tokens, b.MaxTokens)
	}
	if b.MaxCostUSD > 0 && b.used.CostUSD >= b.MaxCostUSD {
		return fmt.Errorf("%w: $%.4f used of $%.4f", ErrBudgetExhausted, b.used.CostUSD, b.MaxCostUSD)
	}
	return nil
}

// charge adds one reply's usage.
func (b *Budget) charge(u model.Usage) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used.Calls++
	b.used.Tokens += usageTokens(u)
	if u.CostKnown {
		b.used.CostUSD += u.CostUSD
	} else {
		b.used.Unpriced++
	}
}

// Used returns what the budget has been charged so far.
func (b *Budget) Used() BudgetUse {
	if b == nil {
		return BudgetUse{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Exhausted reports whether a bound has been reached.
func (b *Budget) Exhausted() bool { return b.check() != nil }

// usageTokens is a usage's total tokens (input plus output when the total
// is missing).
func usageTokens(u model.Usage) int64 {
	if u.TotalTokens > 0 {
		return u.TotalTokens
	}
	return u.InputTokens + u.OutputTokens
}

// breaker returns the budget's breaker (nil for a nil budget).
func (b *Budget) breaker() *Breaker {
	if b == nil {
		return nil
	}
	return b.Breaker
}
