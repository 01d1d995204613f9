package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// TestLongRequest: a route under LongRequest takes a body that arrives
// more slowly than the server's ReadTimeout allows (the read deadline is
// lifted), and the connection then serves another request of the same
// keep-alive client after that route's own deadline has passed (net/http
// sets the deadlines anew for each request).
func TestLongRequest(t *testing.T) {
	const readTimeout = 200 * time.Millisecond
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		fmt.Fprint(w, n)
	})
	mux := http.NewServeMux()
	mux.Handle("/plain/", count)
	mux.Handle("/long/", LongRequest(count, 2*time.Second))
	s := New(Options{HTTPAddress: "127.0.0.1:0", Handler: mux, ReadTimeout: readTimeout}, nil)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	var conns atomic.Int32
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conns.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	// slow sends a body in two halves, 3 read timeouts apart.
	slow := func(path string) (int, string, error) {
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte("first half;"))
			time.Sleep(3 * readTimeout)
			_, _ = pw.Write([]byte("second half"))
			pw.Close()
		}()
		resp, err := client.Post("http://"+s.HTTPAddr()+path, "text/plain", pr)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, body, err := slow("/plain/"); err == nil && code == http.StatusOK {
		t.Fatalf("a slow body on a plain route: %d %q, want it cut by the read timeout (else this test proves nothing)", code, body)
	}
	code, body, err := slow("/long/")
	if err != nil || code != http.StatusOK || body != "22" {
		t.Fatalf("a slow body under LongRequest: %d %q %v, want 200 \"22\"", code, body, err)
	}
	// Past the long route's deadline, the same connection still answers.
	before := conns.Load()
	time.Sleep(2*time.Second + 100*time.Millisecond)
	resp, err := client.Post("http://"+s.HTTPAddr()+"/plain/", "text/plain", strings.NewReader("abc"))
	if err != nil {
		t.Fatalf("the next request on the connection: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "3" {
		t.Errorf("the next request: %d %q", resp.StatusCode, b)
	}
	if conns.Load() != before {
		t.Errorf("the client dialled again (%d connections, then %d): the test did not reuse the connection", before, conns.Load())
	}
}

// TestAccessLogOmitsSecrets: the access log names the method and the
// path, never the query (an Azure-style api-key may be in it) nor a
// header (the caller's Authorization goes through the gateway).
func TestAccessLogOmitsSecrets(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }), log)
	r := httptest.NewRequest(http.MethodPost, "/gateway/azure/openai/deployments/d/chat/completions?api-version=2024-10-21&api-key=QUERYSECRET", nil)
	r.Header.Set("Authorization", "Bearer HEADERSECRET")
	r.Header.Set("Api-Key", "APIKEYSECRET")
	r.Header.Set("X-Flowwatch-Key", "FLOWWATCHSECRET")
	h.ServeHTTP(httptest.NewRecorder(), r)
	out := logs.String()
	if !strings.Contains(out, "path=/gateway/azure/openai/deployments/d/chat/completions") || !strings.Contains(out, "status=418") {
		t.Fatalf("access log = %q, want the path and the status", out)
	}
	for _, secret := range []string{"QUERYSECRET", "api-version", "HEADERSECRET", "APIKEYSECRET", "FLOWWATCHSECRET"} {
		if strings.Contains(out, secret) {
			t.Errorf("access log holds %s: %q", secret, out)
		}
	}
}
