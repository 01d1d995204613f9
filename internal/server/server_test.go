package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestAdmissionHTTP(t *testing.T) {
	adm := NewAdmission(1, 0, 0)
	inside := make(chan struct{})
	release := make(chan struct{})
	h := adm.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inside)
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := http.Post(srv.URL, "application/x-protobuf", strings.NewReader(""))
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("admitted request: status %d", resp.StatusCode)
		}
	}()
	<-inside

	tests := []struct {
		name, contentType, wantType string
	}{
		{"protobuf", "application/x-protobuf", "application/x-protobuf"},
		{"json", "application/json", "application/json"},
		{"other", "text/plain", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL, tt.contentType, strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429", resp.StatusCode)
			}
			if got := resp.Header.Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After = %q, want 1", got)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if tt.wantType == "application/json" && !strings.Contains(string(body), "ingest capacity") {
				t.Errorf("body %q does not explain the refusal", body)
			}
		})
	}
	if got := adm.Refused(); got != int64(len(tests)) {
		t.Errorf("Refused() = %d, want %d", got, len(tests))
	}
	close(release)
	wg.Wait()
	if got := adm.InFlight(); got != 0 {
		t.Errorf("InFlight() = %d after all requests, want 0", got)
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
