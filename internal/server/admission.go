package server

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Admission bounds how many export requests are read, decoded and written
// at once. It is applied before a request body is read, so memory stays
// bounded by max × body limit however many exporters connect. A request
// that finds no slot within the wait is refused with 429 (HTTP) or
// RESOURCE_EXHAUSTED (gRPC) and a retry delay, as the OTLP specification
// asks of an overloaded server.
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

func (a *Admission) acquire(ctx context.Context) bool {
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

func (a *Admission) release() {
	a.inFlight.Add(-1)
	<-a.slots
}

// Refused counts requests refused for lack of a slot.
func (a *Admission) Refused() int64 { return a.refused.Load() }

// InFlight is the number of requests holding a slot.
func (a *Admission) InFlight() int64 { return a.inFlight.Load() }

const overloadMessage = "flowwatch is at its ingest capacity; retry later"

// HTTP wraps an OTLP/HTTP handler.
func (a *Admission) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost { // let the handler answer 405
			next.ServeHTTP(w, r)
			return
		}
		if !a.acquire(r.Context()) {
			writeOverloaded(w, r, a.retryAfter)
			return
		}
		defer a.release()
		next.ServeHTTP(w, r)
	})
}

// writeOverloaded answers 429 with Retry-After and a google.rpc.Status body
// in the request's encoding.
func writeOverloaded(w http.ResponseWriter, r *http.Request, retryAfter time.Duration) {
	secs := int(retryAfter.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	st := &spb.Status{Code: int32(codes.ResourceExhausted), Message: overloadMessage}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var body []byte
	if mt == "application/x-protobuf" {
		body, _ = proto.Marshal(st)
	} else {
		mt = "application/json"
		body, _ = protojson.Marshal(st)
	}
	w.Header().Set("Content-Type", mt)
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(body)
}

// UnaryInterceptor applies admission to gRPC exports.
func (a *Admission) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !a.acquire(ctx) {
			st := status.New(codes.ResourceExhausted, overloadMessage)
			if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(a.retryAfter)}); err == nil {
				st = d
			}
			return nil, st.Err()
		}
		defer a.release()
		return handler(ctx, req)
	}
}
