package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestAdmissionAcquire(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wait     time.Duration
		cancel   bool
		freeSlot bool // the held slot is released while the second waits
		want     bool
	}{
		{"no wait", 0, false, false, false},
		{"wait ends", 20 * time.Millisecond, false, false, false},
		{"context ends", time.Minute, true, false, false},
		{"slot comes free", time.Minute, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adm := NewAdmission(1, tc.wait, 0)
			if !adm.Acquire(context.Background()) {
				t.Fatal("first Acquire refused")
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			if tc.freeSlot {
				go adm.Release()
			}
			if got := adm.Acquire(ctx); got != tc.want {
				t.Fatalf("second Acquire = %v, want %v", got, tc.want)
			}
			wantRefused := int64(1)
			if tc.want {
				wantRefused = 0
			}
			if got := adm.Refused(); got != wantRefused {
				t.Errorf("Refused() = %d, want %d", got, wantRefused)
			}
			if got := adm.InFlight(); got != 1 {
				t.Errorf("InFlight() = %d, want 1", got)
			}
			adm.Release()
			if got := adm.InFlight(); got != 0 {
				t.Errorf("InFlight() = %d after Release, want 0", got)
			}
		})
	}
}

func TestAdmissionGRPC(t *testing.T) {
	adm := NewAdmission(1, 0, 0)
	ic := adm.UnaryInterceptor()
	block := make(chan struct{})
	entered := make(chan struct{})
	go func() {
		_, _ = ic(context.Background(), nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) {
			close(entered)
			<-block
			return nil, nil
		})
	}()
	<-entered
	_, err := ic(context.Background(), nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) {
		t.Error("handler ran without a slot")
		return nil, nil
	})
	st, _ := status.FromError(err)
	if st.Code() != codes.ResourceExhausted || len(st.Details()) != 1 {
		t.Errorf("refusal = %v (details %v), want RESOURCE_EXHAUSTED with RetryInfo", st.Code(), st.Details())
	}
	close(block)
}

func TestShutdownWithoutStartAndTwice(t *testing.T) {
	s := New(Options{HTTPAddress: "127.0.0.1:0", Handler: http.NotFoundHandler()}, nil)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown without Start: %v", err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start after Shutdown succeeded")
	}

	s = New(Options{HTTPAddress: "127.0.0.1:0", GRPCAddress: "127.0.0.1:0", Handler: http.NotFoundHandler(), GRPC: grpc.NewServer()}, nil)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.HTTPAddr() == "" || s.GRPCAddr() == "" {
		t.Fatalf("addresses not bound: %q %q", s.HTTPAddr(), s.GRPCAddr())
	}
	for i := 0; i < 2; i++ {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown #%d: %v", i+1, err)
		}
	}
}

func TestMiddlewareRecoversPanics(t *testing.T) {
	h := Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(errors.New("boom")) }), discard())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Errorf("panic gave %d %q, want 500 with a JSON error", rec.Code, rec.Body.String())
	}
	if rec.Header().Get(RequestIDHeader) == "" {
		t.Error("no request id header")
	}
}
