package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
)

// Gate admits requests whose body has been read to the decode and write
// stages (server.Admission). Acquire reports whether a slot was taken
// before ctx ended; every successful Acquire is followed by one Release.
type Gate interface {
	Acquire(ctx context.Context) bool
	Release()
}

// bodyBudget bounds the bytes of OTLP/HTTP bodies held in memory at once,
// from the first byte read until the body is decoded. A slow client holds
// only what it has sent (a first chunk at most), so many slow clients cost
// little, and many fast large bodies cannot add up beyond the budget.
type bodyBudget struct {
	limit int64
	used  atomic.Int64
}

// take reserves n bytes; false when the budget would be exceeded.
func (b *bodyBudget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *bodyBudget) give(n int64) { b.used.Add(-n) }

// Used reports the bytes reserved now.
func (b *bodyBudget) Used() int64 { return b.used.Load() }

// reservation is what one request holds of the budget.
type reservation struct {
	budget *bodyBudget
	held   int64
}

// errBudget marks a body refused because the budget is spent.
var errBudget = errors.New("body memory budget spent")

// errBodyTimeout marks a body that did not arrive within the body timeout.
var errBodyTimeout = errors.New("request body not received in time")

// growTo makes the reservation total bytes; false when the budget is spent.
func (r *reservation) growTo(total int64) bool {
	if r == nil || r.budget == nil || total <= r.held {
		return true
	}
	if !r.budget.take(total - r.held) {
		return false
	}
	r.held = total
	return true
}

// release gives back what the reservation holds; it is idempotent.
func (r *reservation) release() {
	if r == nil || r.budget == nil || r.held == 0 {
		return
	}
	r.budget.give(r.held)
	r.held = 0
}

// firstChunk is the most a body's buffer starts with even when the request
// announces a larger Content-Length: a client must have sent that much
// before the rest of the announced size is reserved, so a slow client
// cannot hold a large share of the budget by announcing a large body.
const firstChunk = 64 << 10

// readAtMost reads src to the end into a buffer that never grows beyond
// limit+1 bytes; more than limit bytes is errTooLarge. sizeHint, if
// positive, is the announced size (Content-Length): once firstChunk bytes
// have arrived the buffer grows to it at once. Every growth of the buffer
// is reserved in res first (nil reserves nothing); errBudget when the
// budget is spent.
func readAtMost(src io.Reader, limit, sizeHint int64, res *reservation) ([]byte, error) {
	const minRead = 32 << 10
	size := int64(minRead)
	if sizeHint > 0 {
		size = min(sizeHint+1, firstChunk) // +1: room to see EOF without growing
	}
	size = min(size, limit+1)
	if !res.growTo(size) {
		return nil, errBudget
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, errTooLarge
			}
			next := max(2*int64(cap(buf)), minRead)
			if sizeHint > 0 && sizeHint+1 > int64(cap(buf)) {
				next = sizeHint + 1 // the announced size, once the first chunk is in
			}
			next = min(next, limit+1)
			if !res.growTo(next) {
				return nil, errBudget
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			if isTimeout(err) {
				return nil, fmt.Errorf("%w: %w", errBodyTimeout, err)
			}
			return nil, err
		}
	}
}

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
