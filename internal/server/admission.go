package server

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Admission bounds how many export requests are decoded and written at
// once. A slot is taken only once a request's body has fully arrived: for
// OTLP/HTTP the ingest receiver reads the body (within its own time and
// memory bounds) and then calls Acquire, so a slow client never holds a
// slot; grpc-go hands the interceptor a message already received. A
// request that finds no slot within the wait is refused with 429 (HTTP)
// or RESOURCE_EXHAUSTED (gRPC) and a retry delay, as the OTLP
// specification asks of an overloaded server.
type Admission struct {
	slots      chan struct{}
	wait       time.Duration
	retryAfter time.Duration
	refused    atomic.Int64
	inFlight   atomic.Int64
}

// NewAdmission allows max concurrent requests; others wait up to wait.
func NewAdmission(max int, wait, retryAfter time.Duration) *Admission {
	if max < 1 {
		max = 1
	}
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	return &Admission{slots: make(chan struct{}, max), wait: wait, retryAfter: retryAfter}
}

// Acquire takes a slot, waiting up to the admission's wait; false (and
// counted as refused) when none came free in time or ctx ended.
func (a *Admission) Acquire(ctx context.Context) bool {
	select {
	case a.slots <- struct{}{}:
		a.inFlight.Add(1)
		return true
	default:
	}
	if a.wait <= 0 {
		a.refused.Add(1)
		return false
	}
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		a.inFlight.Add(1)
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	a.refused.Add(1)
	return false
}

// Release gives back a slot taken by Acquire.
func (a *Admission) Release() {
	a.inFlight.Add(-1)
	<-a.slots
}

// Refused counts requests refused for lack of a slot.
func (a *Admission) Refused() int64 { return a.refused.Load() }

// InFlight is the number of requests holding a slot.
func (a *Admission) InFlight() int64 { return a.inFlight.Load() }

const overloadMessage = "flowwatch is at its ingest capacity; retry later"

// UnaryInterceptor applies admission to gRPC exports.
func (a *Admission) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !a.Acquire(ctx) {
			st := status.New(codes.ResourceExhausted, overloadMessage)
			if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(a.retryAfter)}); err == nil {
				st = d
			}
			return nil, st.Err()
		}
		defer a.Release()
		return handler(ctx, req)
	}
}
