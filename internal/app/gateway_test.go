package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
)

// chatReply is an OpenAI chat completion, as an upstream answers one.
const chatReply = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Use the reset link."},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}`

const chatRequest = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"How do I reset my password?"}]}`

// upstream is an OpenAI-compatible test server that remembers what it
// was sent.
type upstream struct {
	*httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	seen  []*http.Request // headers and URL of each call
	// hold, when set, keeps each call waiting until it is closed;
	// arrived is told of each call first.
	hold    chan struct{}
	arrived chan struct{}
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(context.Background()))
		hold, arrived := u.hold, u.arrived
		u.mu.Unlock()
		if arrived != nil {
			arrived <- struct{}{}
		}
		if hold != nil {
			<-hold
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "upstream-req-1")
		_, _ = io.WriteString(w, chatReply)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// gatewaysTo returns a config change adding an openai gateway named
// locked (keys required, the default) and one named open (require_key:
// false), both to up.
func gatewaysTo(up *upstream) func(*config.Config) {
	no := false
	return func(c *config.Config) {
		c.Gateways = []config.Gateway{
			{Name: "locked", Kind: "openai", Upstream: up.URL + "/v1", Service: "chat-app"},
			{Name: "open", Kind: "openai", Upstream: up.URL + "/v1", RequireKey: &no},
		}
	}
}

// TestGatewayKeys: with keys enforced, a gateway takes the flowwatch key
// from X-Flowwatch-Key only. Without it the call is refused before the
// upstream sees it, with a message saying where the key goes; a flowwatch
// key in Authorization is not taken (that header is the upstream's). With
// an ingest key in X-Flowwatch-Key the call goes through and the upstream
// gets the caller's Authorization unchanged and no X-Flowwatch-Key. A
// gateway of require_key: false needs nothing.
func TestGatewayKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	ks, err := app.OpenKeyStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ingest := mustCreate(t, ks, "app", "ingest")
	read := mustCreate(t, ks, "reader", "read")
	ks.Close()
	up := newUpstream(t)
	a, logs := startLogged(t, func(c *config.Config) {
		c.DataDir, c.Auth = dir, "keys"
		gatewaysTo(up)(c)
	})

	const upstreamKey = "Bearer sk-upstream-SECRET-0123456789"
	for _, tc := range []struct {
		name     string
		path     string
		headers  map[string]string
		code     int
		body     string // in the answer
		upstream string // the request URI the upstream gets; "": not called
	}{
		{name: "no flowwatch key", path: "/gateway/locked/chat/completions", headers: map[string]string{"Authorization": upstreamKey},
			code: 401, body: "X-Flowwatch-Key"},
		{name: "no key at all", path: "/gateway/locked/chat/completions", code: 401, body: "go to the upstream unchanged"},
		{name: "flowwatch key as Authorization", path: "/gateway/locked/chat/completions", headers: map[string]string{"Authorization": "Bearer " + ingest},
			code: 401, body: "X-Flowwatch-Key"},
		{name: "flowwatch key as x-api-key", path: "/gateway/locked/chat/completions", headers: map[string]string{"X-Api-Key": ingest}, code: 401},
		{name: "key without the ingest scope", path: "/gateway/locked/chat/completions", headers: map[string]string{"X-Flowwatch-Key": read}, code: 403},
		{name: "wrong key", path: "/gateway/locked/chat/completions", headers: map[string]string{"X-Flowwatch-Key": "fw_" + strings.Repeat("1", 64)}, code: 401},
		{name: "ingest key", path: "/gateway/locked/chat/completions?trace=1", headers: map[string]string{"X-Flowwatch-Key": ingest, "Authorization": upstreamKey},
			code: 200, body: `"chatcmpl-1"`, upstream: "/v1/chat/completions?trace=1"},
		{name: "open gateway", path: "/gateway/open/chat/completions", headers: map[string]string{"Authorization": upstreamKey},
			code: 200, body: `"chatcmpl-1"`, upstream: "/v1/chat/completions"},
		{name: "unknown gateway without a key", path: "/gateway/nope/chat/completions", code: 401},
		{name: "unknown gateway", path: "/gateway/nope/chat/completions", headers: map[string]string{"X-Flowwatch-Key": ingest}, code: 404, body: "unknown_gateway"},
		{name: "no gateway name", path: "/gateway/", headers: map[string]string{"X-Flowwatch-Key": ingest}, code: 404, body: "unknown_gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.calls.Load()
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range tc.headers {
				h[k] = v
			}
			code, _, body := call(t, a, "POST", tc.path, h, chatRequest)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("%d %s, want %d and %q", code, body, tc.code, tc.body)
			}
			if called := up.calls.Load() > before; called != (tc.upstream != "") {
				t.Fatalf("upstream called: %v, want %v", called, tc.upstream != "")
			}
			if tc.upstream == "" {
				return
			}
			r := up.last()
			if got := r.Header.Get("Authorization"); got != upstreamKey {
				t.Errorf("the upstream got Authorization %q, want the caller's %q", got, upstreamKey)
			}
			if v, ok := r.Header["X-Flowwatch-Key"]; ok {
				t.Errorf("the upstream got X-Flowwatch-Key %q", v)
			}
			if r.URL.RequestURI() != tc.upstream {
				t.Errorf("the upstream got %s, want %s", r.URL.RequestURI(), tc.upstream)
			}
		})
	}
	if out := logs.String(); strings.Contains(out, "sk-upstream-SECRET") || strings.Contains(out, ingest) {
		t.Errorf("the logs hold a key:\n%s", out)
	}
}

// TestGatewayRecords: a call through a gateway becomes a trace of the
// gateway's service, read back through the API, and is counted in
// /metrics.
func TestGatewayRecords(t *testing.T) {
	up := newUpstream(t)
	a, _ := startLogged(t, gatewaysTo(up))
	code, _, body := call(t, a, "POST", "/gateway/locked/chat/completions", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer sk-x"}, chatRequest)
	if code != 200 || body != chatReply {
		t.Fatalf("through the gateway: %d %q, want the upstream's answer unchanged", code, body)
	}
	var list traceList
	until(t, "the call recorded as a trace", func() bool {
		get(t, a, "/api/v1/traces?service=chat-app", &list)
		return len(list.Traces) == 1
	})
	tr := list.Traces[0]
	if tr.Model == "" || !strings.HasPrefix(tr.Model, "gpt-4o-mini") || tr.InputTokens != 12 || tr.OutputTokens != 5 || tr.Status == "error" {
		t.Errorf("trace = %+v, want gpt-4o-mini with 12 and 5 tokens, not an error", tr)
	}
	code, _, metrics := call(t, a, "GET", "/metrics", nil, "")
	if code != 200 || !strings.Contains(metrics, `flowwatch_gateway_requests_total{code="2xx",gateway="locked"} 1`) {
		t.Errorf("/metrics: %d, want flowwatch_gateway_requests_total of gateway locked:\n%s", code, grepLines(metrics, "flowwatch_gateway_"))
	}
}

// TestGatewayShutdownOrder: a call in flight when flowwatch is told to
// stop is answered, and its recording is stored before the store closes
// (it is there after a restart).
func TestGatewayShutdownOrder(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	up.hold, up.arrived = make(chan struct{}), make(chan struct{}, 1)
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.GRPC.Address = "127.0.0.1:0"
	gatewaysTo(up)(&cfg)
	a, err := app.New(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post("http://"+a.HTTPAddr()+"/gateway/open/chat/completions", "application/json", strings.NewReader(chatRequest))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b), err}
	}()
	<-up.arrived
	stopped := make(chan error, 1)
	go func() { stopped <- a.Shutdown(ctx) }()
	// Once the listener is closed, Shutdown waits for the call in
	// flight: let the upstream answer then.
	until(t, "the listener closed", func() bool {
		c, err := net.DialTimeout("tcp", a.HTTPAddr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(up.hold)
	if r := <-done; r.err != nil || r.code != 200 || r.body != chatReply {
		t.Fatalf("the call in flight: %d %q %v, want the upstream's answer", r.code, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	b := startApp(t, dir)
	var list traceList
	if get(t, b, "/api/v1/traces?service=open", &list); len(list.Traces) != 1 {
		t.Errorf("after a restart: %d traces of the call in flight at shutdown, want 1", len(list.Traces))
	}
}

// TestGatewayBadConfigRefused: a gateway that cannot be served stops the
// start with its key path and what to change.
func TestGatewayBadConfigRefused(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.GRPC.Address = "127.0.0.1:0"
	cfg.Gateways = []config.Gateway{
		{Name: "ok", Kind: "openai", Upstream: "https://api.openai.com"},
		{Name: "bad", Kind: "openai", Upstream: "https://user:pw@api.openai.com?x=1"},
		{Name: "ok", Kind: "json", Upstream: "http://localhost:8080"},
	}
	_, err := app.New(context.Background(), cfg, nil)
	if err == nil {
		t.Fatal("New() = nil, want the bad gateways refused")
	}
	for _, w := range []string{"gateways[1].upstream: must not hold user:password", "gateways[2].name:", "gateways[2].mapping: required for kind json"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("New() = %v\nwant it to contain %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "pw@") {
		t.Errorf("the error quotes the URL's password: %v", err)
	}
}
