package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/gateway/gatewaytest"
)

// sameUpstream answers by a marker in the request body.
func sameUpstream(t *testing.T) *gatewaytest.Server {
	return gatewaytest.New(t, gatewaytest.Options{Reply: func(r gatewaytest.Request) gatewaytest.Reply {
		body := string(r.Body)
		switch {
		case strings.Contains(body, "mark:gzip"):
			return gatewaytest.Reply{Gzip: true}
		case strings.Contains(body, "mark:401"):
			return gatewaytest.Reply{Status: http.StatusUnauthorized}
		case strings.Contains(body, "mark:429"):
			return gatewaytest.Reply{Status: http.StatusTooManyRequests, RetryAfter: 7 * time.Second}
		case strings.Contains(body, "mark:500"):
			return gatewaytest.Reply{Status: http.StatusInternalServerError}
		case strings.Contains(body, "mark:hang"):
			return gatewaytest.Reply{Hang: true}
		case strings.Contains(body, "mark:tools"):
			return gatewaytest.Reply{ToolCalls: []gatewaytest.ToolCall{{ID: "call_1", Name: "lookup", Arguments: `{"order":"A-1"}`}}}
		}
		return gatewaytest.Reply{}
	}})
}

// comparedHeaders are the response headers that must come through the
// gateway as the upstream sent them: those a client reads (the body's
// type, length and coding, how long to wait before retrying, the
// upstream's request id for support tickets, OpenAI's own headers, rate
// limits, caching). The others differ for good reasons: Date is the time
// each answer was sent; everything else the gateway's server adds is
// listed in gatewayAddedHeaders and checked apart.
var comparedHeaders = []string{
	"Content-Type", "Content-Length", "Content-Encoding", "Vary", "Cache-Control", "Retry-After", "Retry-After-Ms",
	"X-Request-Id", "Openai-Version", "Openai-Processing-Ms", "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests",
}

// gatewayAddedHeaders are headers a gateway answer may have that the
// upstream's has not.
var gatewayAddedHeaders = []string{"Date"}

// rawClient neither asks for compression nor decompresses: what it reads
// is the body's bytes as sent.
func rawClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableCompression: true}}
}

type rawAnswer struct {
	status int
	header http.Header
	body   []byte
}

func rawPost(t *testing.T, c *http.Client, url string, header map[string]string, body string) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the body: %v", url, err)
	}
	return rawAnswer{resp.StatusCode, resp.Header, b}
}

// TestGatewaySameAnswer sends each request directly to the upstream and
// through the gateway with a raw client, and compares the answers: the
// status, the body's bytes and the headers that matter. Then a stream is
// checked to come through event by event, and both kinds of timeout.
func TestGatewaySameAnswer(t *testing.T) {
	up := sameUpstream(t)
	a, _ := startLogged(t, func(c *config.Config) {
		c.Gateways = []config.Gateway{
			{Name: "same", Kind: "openai", Upstream: up.URL + "/v1"},
			{Name: "short", Kind: "openai", Upstream: up.URL + "/v1", Timeout: config.Duration(time.Second)},
		}
	})
	direct, through := up.URL+"/v1", "http://"+a.HTTPAddr()+"/gateway/same"
	client := rawClient(10 * time.Second)
	chat := func(mark string, extra string) string {
		return `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + mark + `"}]` + extra + `}`
	}
	key := callerKey()
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		status           int
		encoding         string
	}{
		{name: "200 JSON", path: "/chat/completions", body: chat("hello", ""), status: 200},
		{name: "200 tool calls", path: "/chat/completions", body: chat("mark:tools", ""), status: 200},
		{name: "200 gzip", path: "/chat/completions", body: chat("mark:gzip", ""), header: map[string]string{"Accept-Encoding": "gzip"},
			status: 200, encoding: "gzip"},
		{name: "200 stream", path: "/chat/completions", body: chat("hello", `,"stream":true,"stream_options":{"include_usage":true}`), status: 200},
		{name: "200 Responses stream", path: "/responses", body: `{"model":"gpt-4.1","input":"hi","stream":true}`, status: 200},
		{name: "200 embeddings base64", path: "/embeddings", body: `{"model":"text-embedding-3-small","input":"hi","encoding_format":"base64"}`, status: 200},
		{name: "400", path: "/chat/completions", body: `{"model":`, status: 400},
		{name: "401", path: "/chat/completions", body: chat("mark:401", ""), status: 401},
		{name: "404", path: "/no/such/endpoint", body: `{}`, status: 404},
		{name: "429 Retry-After", path: "/chat/completions", body: chat("mark:429", ""), status: 429},
		{name: "500", path: "/chat/completions", body: chat("mark:500", ""), status: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + key}
			for k, v := range tc.header {
				h[k] = v
			}
			want := rawPost(t, client, direct+tc.path, h, tc.body)
			got := rawPost(t, client, through+tc.path, h, tc.body)
			if want.status != tc.status {
				t.Fatalf("the upstream answered %d, want %d: the test's script is wrong", want.status, tc.status)
			}
			if got.status != want.status {
				t.Errorf("status %d through the gateway, %d directly", got.status, want.status)
			}
			if !bytes.Equal(got.body, want.body) {
				t.Errorf("body through the gateway:\n%q\ndirectly:\n%q", got.body, want.body)
			}
			if enc := got.header.Get("Content-Encoding"); enc != tc.encoding {
				t.Errorf("Content-Encoding %q, want %q", enc, tc.encoding)
			}
			for _, k := range comparedHeaders {
				if g, w := got.header.Values(k), want.header.Values(k); !slices.Equal(g, w) {
					t.Errorf("%s: %q through the gateway, %q directly", k, g, w)
				}
			}
			for k := range got.header {
				if _, ok := want.header[k]; !ok && !slices.Contains(gatewayAddedHeaders, k) {
					t.Errorf("the gateway added %s: %q", k, got.header.Values(k))
				}
			}
			for k := range want.header {
				if _, ok := got.header[k]; !ok {
					t.Errorf("the gateway dropped %s: %q", k, want.header.Values(k))
				}
			}
		})
	}
	if r, _ := up.Last(); r.Header.Get("Authorization") != "Bearer "+key {
		t.Errorf("the upstream got Authorization %q, want the caller's", r.Header.Get("Authorization"))
	}

	t.Run("stream event by event", func(t *testing.T) {
		// The upstream sends each event only once the test has read the
		// one before through the gateway: a gateway that buffered would
		// leave the test waiting, and the deadline fails it.
		step := make(chan struct{})
		paced := gatewaytest.New(t, gatewaytest.Options{Reply: func(gatewaytest.Request) gatewaytest.Reply {
			return gatewaytest.Reply{Content: "one two three four", Step: step}
		}})
		b, _ := startLogged(t, func(c *config.Config) {
			c.Gateways = []config.Gateway{{Name: "paced", Kind: "openai", Upstream: paced.URL}}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.HTTPAddr()+"/gateway/paced/v1/chat/completions",
			strings.NewReader(chat("hello", `,"stream":true`)))
		resp, err := rawClient(0).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var events []string
		var ev []byte
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			ev = append(ev, buf[:n]...)
			for {
				i := bytes.Index(ev, []byte("\n\n"))
				if i < 0 {
					break
				}
				events = append(events, string(ev[:i+2]))
				ev = ev[i+2:]
				if len(ev) > 0 {
					t.Fatalf("event %d arrived with the start of the next, which the upstream had not sent yet", len(events))
				}
				if events[len(events)-1] != "data: [DONE]\n\n" {
					select {
					case step <- struct{}{}:
					case <-ctx.Done():
						t.Fatalf("the upstream never asked for event %d", len(events)+1)
					}
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("after %d events: %v (buffered by the gateway?)", len(events), err)
				}
				break
			}
		}
		// role, four words, finish, [DONE]
		if len(events) != 7 || !strings.Contains(events[1], `"content":"one"`) || events[6] != "data: [DONE]\n\n" {
			t.Errorf("events %q, want 7 one by one", events)
		}
	})

	t.Run("client times out first", func(t *testing.T) {
		// Both ways the client's own timeout ends the call, and the
		// upstream sees its request canceled.
		before := up.Canceled()
		tp, tid, _ := traceParent(100)
		for _, base := range []string{direct, through} {
			req, _ := http.NewRequest(http.MethodPost, base+"/chat/completions", strings.NewReader(chat("mark:hang", "")))
			req.Header.Set("Traceparent", tp)
			resp, err := rawClient(300 * time.Millisecond).Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("%s: answered %d, want the client's timeout", base, resp.StatusCode)
			}
			if !errors.Is(err, context.DeadlineExceeded) && !os.IsTimeout(err) {
				t.Errorf("%s: %v, want the client's timeout", base, err)
			}
		}
		until(t, "the upstream saw both requests canceled", func() bool { return up.Canceled() == before+2 })
		d := waitTrace(t, a, tid)
		if d.Status != "error" || d.ErrorType != "canceled" {
			t.Errorf("recorded: status %q, error type %q, want an error of type canceled", d.Status, d.ErrorType)
		}
	})

	t.Run("gateway times out first", func(t *testing.T) {
		before := up.Canceled()
		tp, tid, _ := traceParent(101)
		start := time.Now()
		got := rawPost(t, client, "http://"+a.HTTPAddr()+"/gateway/short/chat/completions",
			map[string]string{"Content-Type": "application/json", "Traceparent": tp}, chat("mark:hang", ""))
		if elapsed := time.Since(start); elapsed < time.Second {
			t.Errorf("answered after %v, before the gateway's 1s timeout", elapsed)
		}
		var e struct {
			Error struct{ Message, Type, Code string }
		}
		if err := json.Unmarshal(got.body, &e); err != nil || got.status != http.StatusGatewayTimeout ||
			e.Error.Type != "gateway_error" || e.Error.Code != "upstream_timeout" || !strings.HasPrefix(e.Error.Message, "flowwatch gateway: ") ||
			got.header.Get("Content-Type") != "application/json" {
			t.Errorf("%d %s %q, want 504 with the gateway's JSON error", got.status, got.header.Get("Content-Type"), got.body)
		}
		if got.header.Get("X-Request-Id") == "" {
			t.Error("the gateway's own answer has no X-Request-Id of flowwatch's")
		}
		until(t, "the upstream saw its request canceled", func() bool { return up.Canceled() == before+1 })
		d := waitTrace(t, a, tid)
		if d.Status != "error" || d.ErrorType != "timeout" {
			t.Errorf("recorded: status %q, error type %q, want an error of type timeout", d.Status, d.ErrorType)
		}
	})
}
