package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/ingest"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// waitLimit bounds the waits of these tests: a proxy that buffers or
// hangs fails a test instead of hanging it. It is never what a test
// asserts on.
const waitLimit = 10 * time.Second

// env is a gateway named "test" in a real HTTP server, in front of an
// upstream test server. Its recorder does not run, so that the tests can
// read the exchanges it queued; flush records them into sink.
type env struct {
	t    *testing.T
	up   *httptest.Server
	gw   *httptest.Server
	g    *Gateway
	rec  *Recorder
	sink *sink
}

// newEnv starts upstream (at base path /base unless mod says otherwise)
// and a gateway in front of it.
func newEnv(t *testing.T, upstream http.Handler, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, sink: &sink{}}
	e.up = httptest.NewServer(upstream)
	t.Cleanup(e.up.Close)
	var err error
	if e.rec, err = NewRecorder(RecorderOptions{Consumer: e.sink}, nil); err != nil {
		t.Fatal(err)
	}
	o := Options{Name: "test", Kind: KindOpenAI, Upstream: mustURL(e.up.URL + "/base"), Recorder: e.rec, RecordContent: true}
	if mod != nil {
		mod(&o)
	}
	if e.g, err = New(o, nil); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/gateway/test/", e.g)
	e.gw = httptest.NewServer(mux)
	t.Cleanup(e.gw.Close)
	return e
}

// url is the gateway's URL for path (after /gateway/test).
func (e *env) url(path string) string { return e.gw.URL + "/gateway/test" + path }

// exchanges waits until n exchanges are queued and returns them.
func (e *env) exchanges(n int) []*Exchange {
	e.t.Helper()
	limit := time.NewTimer(waitLimit)
	defer limit.Stop()
	for {
		e.rec.mu.Lock()
		if len(e.rec.queue) >= n {
			out := make([]*Exchange, len(e.rec.queue))
			for i, q := range e.rec.queue {
				out[i] = q.x
			}
			e.rec.mu.Unlock()
			return out
		}
		e.rec.mu.Unlock()
		select {
		case <-e.rec.wake:
		case <-limit.C:
			e.t.Fatalf("%d exchanges queued after %v; want %d", len(e.rec.queue), waitLimit, n)
		}
	}
}

// flush records the queued exchanges into the sink.
func (e *env) flush() {
	e.t.Helper()
	if err := e.rec.Shutdown(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// Status, headers and body reach the caller as the upstream sent them.
func TestPassthrough(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
	}{
		{"ok", 200, map[string]string{"Content-Type": "application/json", "X-Request-Id": "req-1", "Openai-Processing-Ms": "12"},
			`{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"hi"}}]}`},
		{"bad request", 400, map[string]string{"Content-Type": "application/json"},
			`{"error":{"message":"bad model","type":"invalid_request_error","code":null}}`},
		{"unauthorized", 401, map[string]string{"Content-Type": "application/json", "Www-Authenticate": `Bearer realm="OpenAI"`},
			`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`},
		{"rate limited", 429, map[string]string{"Content-Type": "application/json", "Retry-After": "20", "X-Ratelimit-Remaining-Requests": "0"},
			`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`},
		{"server error", 500, map[string]string{"Content-Type": "text/plain"}, "upstream exploded\n"},
		{"no content", 204, map[string]string{"X-Custom": "a"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}), nil)
			direct, directBody := do(t, mustRequest(t, "POST", e.up.URL+"/base/v1/chat/completions", `{"model":"gpt-4o"}`))
			via, viaBody := do(t, mustRequest(t, "POST", e.url("/v1/chat/completions"), `{"model":"gpt-4o"}`))
			if via.StatusCode != direct.StatusCode || !bytes.Equal(viaBody, directBody) {
				t.Errorf("through the gateway: %d %q; direct: %d %q", via.StatusCode, viaBody, direct.StatusCode, directBody)
			}
			direct.Header.Del("Date")
			via.Header.Del("Date")
			if d := cmp.Diff(direct.Header, via.Header); d != "" {
				t.Errorf("headers (-direct +gateway):\n%s", d)
			}
			x := e.exchanges(1)[0]
			if x.Status != tc.status || x.Err != nil || string(x.ResponseBody) != tc.body || x.ResponseTruncated {
				t.Errorf("recorded status %d err %v body %q truncated %v", x.Status, x.Err, x.ResponseBody, x.ResponseTruncated)
			}
			if x.Method != "POST" || x.Path != "/v1/chat/completions" || string(x.RequestBody) != `{"model":"gpt-4o"}` {
				t.Errorf("recorded %s %s %q", x.Method, x.Path, x.RequestBody)
			}
		})
	}
}

func mustRequest(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// seen is what an upstream saw of a request.
type seen struct {
	path, rawPath, query, host string
	header                     http.Header
	body                       string
}

// recording returns an upstream that answers {} and keeps what it saw.
func recording(got chan<- seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, r.Header.Clone(), string(b)}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	})
}

// The request goes to the upstream's base path joined with the rest, with
// the query, the caller's credentials and headers, but without the
// flowwatch key; the caller's credentials and query are recorded nowhere.
func TestForwarding(t *testing.T) {
	const (
		secret      = "sk-secret-caller-key-123"
		querySecret = "query-secret-456"
	)
	got := make(chan seen, 1)
	e := newEnv(t, recording(got), nil)
	req := mustRequest(t, "POST", e.url("/v1/chat/completions?api-version=2024-10-21&key="+querySecret), `{"model":"gpt-4o"}`)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Api-Key", secret)
	req.Header.Set(KeyHeader, "fw-ingest-key")
	req.Header.Set("X-Custom", "kept")
	req.Header.Set("Accept-Encoding", "br, gzip;q=0.9, zstd")
	res, _ := do(t, req)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	s := <-got
	upHost := mustURL(e.up.URL).Host
	want := seen{path: "/base/v1/chat/completions", query: "api-version=2024-10-21&key=" + querySecret, host: upHost, body: `{"model":"gpt-4o"}`}
	if s.path != want.path || s.query != want.query || s.host != want.host || s.body != want.body {
		t.Errorf("upstream saw %s ?%s host %s body %q; want %s ?%s host %s body %q",
			s.path, s.query, s.host, s.body, want.path, want.query, want.host, want.body)
	}
	for k, v := range map[string]string{
		"Authorization": "Bearer " + secret, "Api-Key": secret, "X-Custom": "kept", "Accept-Encoding": "gzip;q=0.9",
		KeyHeader: "", "Traceparent": "", "X-Forwarded-For": "", "X-Forwarded-Host": "", "Forwarded": "",
	} {
		if g := s.header.Get(k); g != v {
			t.Errorf("upstream header %s = %q; want %q", k, g, v)
		}
	}

	// An escaped slash stays escaped.
	res, _ = do(t, mustRequest(t, "GET", e.url("/v1/files/a%2Fb"), ""))
	if s := <-got; res.StatusCode != 200 || s.rawPath != "/base/v1/files/a%2Fb" {
		t.Errorf("upstream saw raw path %q; want /base/v1/files/a%%2Fb", s.rawPath)
	}

	xs := e.exchanges(2)
	if xs[0].Path != "/v1/chat/completions" {
		t.Errorf("recorded path %q; want it without the query", xs[0].Path)
	}
	e.flush()
	all := e.sink.json(t)
	if len(e.sink.servers()) != 2 {
		t.Fatalf("recorded %d exchanges; want 2", len(e.sink.servers()))
	}
	for _, s := range []string{secret, querySecret, "fw-ingest-key"} {
		if strings.Contains(all, s) {
			t.Errorf("%q recorded in %s", s, all)
		}
	}
}

// Accept-Encoding is narrowed to what the recorder can read.
func TestNarrowAcceptEncoding(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"gzip", "gzip"},
		{"gzip, deflate", "gzip, deflate"},
		{"gzip, deflate, br, zstd", "gzip, deflate"},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", "gzip;q=0.8"},
		{"br", "identity"},
		{"BR, GZIP", "GZIP"},
		{"identity", "identity"},
	} {
		h := http.Header{}
		if tc.in != "" {
			h.Set("Accept-Encoding", tc.in)
		}
		narrowAcceptEncoding(h)
		if got := h.Get("Accept-Encoding"); got != tc.want {
			t.Errorf("narrow(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// Server-sent events reach the caller one by one: the upstream writes
// event N+1 only after the caller has read event N, so a proxy that
// buffered would never deliver the first.
func TestSSEChunkByChunk(t *testing.T) {
	const events = 5
	read := make(chan int)
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range events {
			io.WriteString(w, "data: {\"n\":"+string(rune('0'+i))+"}\n\n")
			if err := rc.Flush(); err != nil {
				t.Errorf("flush: %v", err)
				return
			}
			select {
			case n := <-read:
				if n != i {
					t.Errorf("caller read event %d; want %d", n, i)
				}
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}), nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	req := mustRequest(t, "POST", e.url("/v1/chat/completions"), `{"stream":true}`).WithContext(ctx)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	var stream strings.Builder
	for i := range events {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v (the gateway buffered the stream?)", i, err)
		}
		blank, _ := br.ReadString('\n')
		stream.WriteString(line + blank)
		read <- i
	}
	rest, _ := io.ReadAll(br)
	stream.Write(rest)
	x := e.exchanges(1)[0]
	if x.Err != nil || string(x.ResponseBody) != stream.String() {
		t.Errorf("recorded err %v body %q; want %q", x.Err, x.ResponseBody, stream.String())
	}
	if x.FirstByte.IsZero() || x.FirstByte.Before(x.Start) || x.End.Before(x.FirstByte) {
		t.Errorf("times: start %v first byte %v end %v", x.Start, x.FirstByte, x.End)
	}
}

// The caller going away cancels the upstream request, before the answer
// and during it.
func TestCallerCancel(t *testing.T) {
	for _, tc := range []struct {
		name       string
		midStream  bool
		wantStatus int
	}{
		{"before the answer", false, 0},
		{"during the stream", true, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arrived, upstreamDone := make(chan struct{}), make(chan struct{})
			e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// A server notices a closed connection only once it has
				// read the request body.
				io.Copy(io.Discard, r.Body)
				if tc.midStream {
					w.Header().Set("Content-Type", "text/event-stream")
					io.WriteString(w, "data: first\n\n")
					http.NewResponseController(w).Flush()
				}
				close(arrived)
				<-r.Context().Done()
				close(upstreamDone)
			}), nil)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				req := mustRequest(t, "POST", e.url("/v1/chat/completions"), `{}`).WithContext(ctx)
				res, err := http.DefaultClient.Do(req)
				if err == nil {
					br := bufio.NewReader(res.Body)
					br.ReadString('\n')
					cancel()
					io.Copy(io.Discard, br)
					res.Body.Close()
				}
			}()
			select {
			case <-arrived:
			case <-time.After(waitLimit):
				t.Fatal("request never reached the upstream")
			}
			if !tc.midStream {
				cancel()
			}
			select {
			case <-upstreamDone:
			case <-time.After(waitLimit):
				t.Fatal("the upstream request was not canceled")
			}
			<-done
			x := e.exchanges(1)[0]
			if x.ErrorType != "canceled" || x.Err == nil || x.Status != tc.wantStatus {
				t.Errorf("recorded status %d error %v (%s); want %d, canceled", x.Status, x.Err, x.ErrorType, tc.wantStatus)
			}
		})
	}
}

// gatewayError is the body of the gateway's own error replies.
type gatewayError struct {
	Error struct{ Message, Type, Code string } `json:"error"`
}

// An upstream too slow gets the caller a 504 in the OpenAI error shape;
// one that stops mid-stream has its stream cut; both are recorded.
func TestTimeout(t *testing.T) {
	t.Run("before the answer", func(t *testing.T) {
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}), func(o *Options) { o.Timeout = 100 * time.Millisecond })
		res, body := do(t, mustRequest(t, "POST", e.url("/v1/chat/completions?key=query-secret"), `{}`))
		var ge gatewayError
		if err := json.Unmarshal(body, &ge); err != nil || res.StatusCode != 504 ||
			ge.Error.Type != "gateway_error" || ge.Error.Code != "upstream_timeout" ||
			!strings.HasPrefix(ge.Error.Message, "flowwatch gateway: ") || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("answer %d %s (%v); want 504 with an upstream_timeout error", res.StatusCode, body, err)
		}
		x := e.exchanges(1)[0]
		if x.Status != 504 || x.ErrorType != "timeout" || x.Err == nil || !bytes.Equal(x.ResponseBody, body) {
			t.Errorf("recorded %d %s %v %q", x.Status, x.ErrorType, x.Err, x.ResponseBody)
		}
		e.flush()
		sp := e.sink.servers()[0]
		if sp.Status().Code() != ptrace.StatusCodeError || strings.Contains(e.sink.json(t), "query-secret") {
			t.Errorf("server span status %v; recorded: %s", sp.Status().Code(), e.sink.json(t))
		}
		if n := testutil.ToFloat64(e.rec.m.requests.WithLabelValues("test", "5xx")); n != 1 {
			t.Errorf("requests_total{code=5xx} = %v; want 1", n)
		}
	})
	t.Run("during the stream", func(t *testing.T) {
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		}), func(o *Options) { o.Timeout = 100 * time.Millisecond })
		res, err := http.DefaultClient.Do(mustRequest(t, "POST", e.url("/v1/chat/completions"), `{}`))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil || string(body) != "data: first\n\n" {
			t.Errorf("caller read %q, %v; want the first event, then an error", body, err)
		}
		x := e.exchanges(1)[0]
		if x.Status != 200 || x.ErrorType != "timeout" || string(x.ResponseBody) != "data: first\n\n" {
			t.Errorf("recorded %d %s %v %q", x.Status, x.ErrorType, x.Err, x.ResponseBody)
		}
		if n := testutil.ToFloat64(e.rec.m.requests.WithLabelValues("test", "error")); n != 1 {
			t.Errorf("requests_total{code=error} = %v; want 1", n)
		}
	})
}

// An upstream that cannot be reached gets the caller a 502.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newEnv(t, http.NotFoundHandler(), func(o *Options) { o.Upstream = mustURL("http://" + addr) })
	res, body := do(t, mustRequest(t, "POST", e.url("/v1/chat/completions?key=query-secret"), `{}`))
	var ge gatewayError
	if err := json.Unmarshal(body, &ge); err != nil || res.StatusCode != 502 || ge.Error.Code != "upstream_unreachable" ||
		strings.Contains(string(body), "query-secret") {
		t.Errorf("answer %d %s (%v); want 502 with an upstream_unreachable error", res.StatusCode, body, err)
	}
	x := e.exchanges(1)[0]
	if x.Status != 502 || x.ErrorType != "upstream_unreachable" || strings.Contains(x.Err.Error(), "query-secret") {
		t.Errorf("recorded %d %s %v", x.Status, x.ErrorType, x.Err)
	}
}

// A caller's traceparent is honoured: the gateway's spans join its trace,
// and the upstream gets the trace with the gateway's client span as
// parent. Without one, a new trace is recorded and none is forwarded.
func TestTraceparent(t *testing.T) {
	got := make(chan seen, 1)
	e := newEnv(t, recording(got), nil)
	const (
		tid = "4bf92f3577b34da6a3ce929d0e0e4736"
		pid = "00f067aa0ba902b7"
	)
	req := mustRequest(t, "POST", e.url("/v1/chat/completions"), `{}`)
	req.Header.Set("Traceparent", "00-"+tid+"-"+pid+"-01")
	req.Header.Set("Tracestate", "congo=t61rcWkgMzE")
	do(t, req)
	s := <-got
	x := e.exchanges(1)[0]
	wantTP := "00-" + tid + "-" + hex.EncodeToString(x.ClientSpanID[:]) + "-01"
	if tp := s.header.Get("Traceparent"); tp != wantTP || s.header.Get("Tracestate") != "congo=t61rcWkgMzE" {
		t.Errorf("upstream got traceparent %q tracestate %q; want %q and the caller's tracestate", tp, s.header.Get("Tracestate"), wantTP)
	}
	if hex.EncodeToString(x.TraceID[:]) != tid || hex.EncodeToString(x.ParentSpanID[:]) != pid || x.TraceState != "congo=t61rcWkgMzE" {
		t.Errorf("recorded trace %x parent %x state %q", x.TraceID, x.ParentSpanID, x.TraceState)
	}

	do(t, mustRequest(t, "POST", e.url("/v1/chat/completions"), `{}`))
	s = <-got
	x2 := e.exchanges(2)[1]
	if tp := s.header.Get("Traceparent"); tp != "" || x2.TraceID == ([16]byte{}) || x2.TraceID == x.TraceID || x2.ParentSpanID != ([8]byte{}) {
		t.Errorf("without a traceparent: upstream got %q, recorded trace %x parent %x", tp, x2.TraceID, x2.ParentSpanID)
	}

	e.flush()
	var server, client ptrace.Span
	for _, td := range e.sink.traces {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if sp.TraceID().String() != tid {
						continue
					}
					switch sp.Kind() {
					case ptrace.SpanKindServer:
						server = sp
					case ptrace.SpanKindClient:
						client = sp
					}
				}
			}
		}
	}
	if server.ParentSpanID().String() != pid || client.ParentSpanID() != server.SpanID() ||
		client.SpanID().String() != hex.EncodeToString(x.ClientSpanID[:]) || server.TraceState().AsRaw() != "congo=t61rcWkgMzE" {
		t.Errorf("server span parent %s state %q; client span %s parent %s",
			server.ParentSpanID(), server.TraceState().AsRaw(), client.SpanID(), client.ParentSpanID())
	}
}

// Bodies longer than MaxRecordBytes are recorded as their head and, for
// responses, their last TailBytes; the caller gets them whole.
func TestTruncation(t *testing.T) {
	const limit = 1000
	resp := make([]byte, 3*TailBytes)
	for i := range resp {
		resp[i] = byte('a' + i%26)
	}
	copy(resp[len(resp)-10:], "END-MARKER")
	reqBody := strings.Repeat("0123456789", 500)
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path != "/base/v1/chat/completions" {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		// Odd write sizes, so that the ring wraps at odd places.
		for b := resp; len(b) > 0; {
			n := min(len(b), 7777)
			w.Write(b[:n])
			b = b[n:]
		}
	}), func(o *Options) { o.MaxRecordBytes = limit })
	_, body := do(t, mustRequest(t, "POST", e.url("/v1/chat/completions"), reqBody))
	if !bytes.Equal(body, resp) {
		t.Fatalf("caller got %d bytes; want the %d sent, unchanged", len(body), len(resp))
	}
	small := "short"
	do(t, mustRequest(t, "POST", e.url("/v1/x"), small))
	xs := e.exchanges(2)
	x := xs[0]
	if string(x.RequestBody) != reqBody[:limit] || !x.RequestTruncated {
		t.Errorf("request recorded %d bytes, truncated %v; want the first %d", len(x.RequestBody), x.RequestTruncated, limit)
	}
	if !bytes.Equal(x.ResponseBody, resp[:limit]) || !x.ResponseTruncated {
		t.Errorf("response head %d bytes, truncated %v; want the first %d", len(x.ResponseBody), x.ResponseTruncated, limit)
	}
	if !bytes.Equal(x.ResponseTail, resp[len(resp)-TailBytes:]) {
		t.Errorf("response tail %d bytes ending %q; want the last %d", len(x.ResponseTail), x.ResponseTail[max(0, len(x.ResponseTail)-10):], TailBytes)
	}
	if y := xs[1]; string(y.RequestBody) != small || y.RequestTruncated || y.ResponseTruncated || y.ResponseTail != nil {
		t.Errorf("short exchange recorded %q truncated %v/%v tail %d", y.RequestBody, y.RequestTruncated, y.ResponseTruncated, len(y.ResponseTail))
	}
}

// TestCaptureBudget: what all exchanges in flight capture is bounded. An
// exchange past the budget keeps what it had and is recorded as
// truncated, the caller still gets the whole answer, and once the
// exchange is queued the budget is whole again.
func TestCaptureBudget(t *testing.T) {
	const budget = 16 << 10
	resp := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for b := resp; len(b) > 0; b = b[4096:] {
			w.Write(b[:4096])
		}
	}), nil)
	e.rec.capture = newCaptureBudget(budget)
	e.g.o.Recorder = e.rec
	_, body := do(t, mustRequest(t, "POST", e.url("/v1/chat/completions"), `{"model":"m"}`))
	if !bytes.Equal(body, resp) {
		t.Fatalf("caller got %d bytes; want the %d sent, unchanged", len(body), len(resp))
	}
	x := e.exchanges(1)[0]
	if !x.ResponseTruncated || len(x.ResponseBody)+len(x.ResponseTail)+len(x.RequestBody) > budget {
		t.Errorf("captured %d + %d + %d bytes, truncated %v; want at most the %d of the budget, truncated",
			len(x.RequestBody), len(x.ResponseBody), len(x.ResponseTail), x.ResponseTruncated, budget)
	}
	if len(x.ResponseBody) == 0 || !bytes.Equal(x.ResponseBody, resp[:len(x.ResponseBody)]) {
		t.Errorf("the response head kept is not the answer's first bytes")
	}
	if left := e.rec.capture.left.Load(); left != budget {
		t.Errorf("budget left after the exchange: %d; want all %d back", left, budget)
	}
}

// The capture keeps the head and the last bytes whatever the writes'
// sizes.
func TestCapture(t *testing.T) {
	data := []byte("abcdefghijklmnopqrstuvwxyz0123456789")
	for _, tc := range []struct {
		name      string
		max, tail int
		sizes     []int
	}{
		{"fits", 100, 8, []int{5, 31}},
		{"exact head", 36, 8, []int{36}},
		{"one write", 4, 8, []int{36}},
		{"small writes", 4, 8, []int{1, 2, 3, 1, 7, 1, 1, 1, 5, 14}},
		{"tail only partly filled", 30, 8, []int{10, 10, 10, 6}},
		{"no tail", 10, 0, []int{3, 33}},
		{"writes the size of the tail", 4, 8, []int{4, 8, 8, 8, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head, truncated, tail := captureChunks(tc.max, tc.tail, data, tc.sizes)
			wantHead, wantTail := naiveCapture(tc.max, tc.tail, data)
			if string(head) != string(wantHead) || string(tail) != string(wantTail) || truncated != (len(data) > tc.max) {
				t.Errorf("got %q %q %v; want %q %q", head, tail, truncated, wantHead, wantTail)
			}
		})
	}
}

func captureChunks(limit, tail int, data []byte, sizes []int) ([]byte, bool, []byte) {
	var c capture
	c.init(limit, tail, -1, nil)
	for _, n := range sizes {
		n = min(n, len(data))
		c.write(data[:n])
		data = data[n:]
	}
	c.write(data)
	return c.result()
}

func naiveCapture(limit, tail int, data []byte) (head, end []byte) {
	head = data[:min(limit, len(data))]
	rest := data[len(head):]
	if len(rest) > 0 && tail > 0 {
		end = rest[max(0, len(rest)-tail):]
	}
	return head, end
}

func FuzzCapture(f *testing.F) {
	f.Add(uint8(4), uint8(8), []byte("abcdefghijklmnopqrstuvwxyz"), []byte{1, 2, 3, 9})
	f.Fuzz(func(t *testing.T, limit, tail uint8, data, sizes []byte) {
		s := make([]int, len(sizes))
		for i, n := range sizes {
			s[i] = int(n)
		}
		head, truncated, end := captureChunks(int(limit), int(tail), data, s)
		wantHead, wantEnd := naiveCapture(int(limit), int(tail), data)
		if !bytes.Equal(head, wantHead) || !bytes.Equal(end, wantEnd) || truncated != (len(data) > int(limit)) {
			t.Errorf("got %q %q %v; want %q %q", head, end, truncated, wantHead, wantEnd)
		}
	})
}

// New refuses bad options, naming the field.
func TestNewValidates(t *testing.T) {
	r, err := NewRecorder(RecorderOptions{Consumer: &sink{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := func() Options {
		return Options{Name: "openai", Kind: KindOpenAI, Upstream: mustURL("https://api.openai.com"), Recorder: r}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"bad name", func(o *Options) { o.Name = "Open AI" }, "Name"},
		{"empty name", func(o *Options) { o.Name = "" }, "Name"},
		{"bad kind", func(o *Options) { o.Kind = "grpc" }, "Kind"},
		{"no upstream", func(o *Options) { o.Upstream = nil }, "Upstream"},
		{"relative upstream", func(o *Options) { o.Upstream = mustURL("/v1") }, "Upstream"},
		{"ftp upstream", func(o *Options) { o.Upstream = mustURL("ftp://host/") }, "Upstream"},
		{"upstream with password", func(o *Options) { o.Upstream = mustURL("https://u:pw@host/") }, "Upstream"},
		{"upstream with query", func(o *Options) { o.Upstream = mustURL("https://host/?key=1") }, "Upstream"},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "Timeout"},
		{"negative connect timeout", func(o *Options) { o.ConnectTimeout = -time.Second }, "ConnectTimeout"},
		{"negative record bytes", func(o *Options) { o.MaxRecordBytes = -1 }, "MaxRecordBytes"},
		{"no recorder", func(o *Options) { o.Recorder = nil }, "Recorder"},
		{"json without mapping", func(o *Options) { o.Kind = KindJSON }, "Mapping"},
		{"openai with mapping", func(o *Options) { o.Mapping = Mapping{Answer: "answer"} }, "Mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.mod(&o)
			_, err := New(o, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v; want an error naming %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error shows the upstream's password: %v", err)
			}
		})
	}
	g, err := New(good(), nil)
	if err != nil || g.Name() != "openai" || g.o.Service != "openai" || g.o.Timeout != DefaultTimeout ||
		g.o.MaxRecordBytes != DefaultMaxRecordBytes || g.o.Provider == "" {
		t.Errorf("New(good) = %+v, %v; want defaults applied", g, err)
	}
}

// A path outside the gateway's prefix (a mount mistake) is refused, not
// proxied somewhere odd.
func TestWrongMount(t *testing.T) {
	e := newEnv(t, http.NotFoundHandler(), nil)
	rr := httptest.NewRecorder()
	e.g.ServeHTTP(rr, httptest.NewRequest("GET", "/gateway/other/v1/models", nil))
	if rr.Code != 404 {
		t.Errorf("status %d; want 404", rr.Code)
	}
}

// Many concurrent exchanges, streamed and not, through one gateway: every
// one arrives whole and is recorded (run with -race).
func TestConcurrent(t *testing.T) {
	e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Get("stream") != "" {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		for range 3 {
			w.Write(b)
			http.NewResponseController(w).Flush()
		}
	}), nil)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			q := ""
			if i%2 == 0 {
				q = "?stream=1"
			}
			body := strings.Repeat(string(rune('a'+i%26)), 100+i)
			_, got := do(t, mustRequest(t, "POST", e.url("/v1/chat/completions"+q), body))
			if string(got) != body+body+body {
				t.Errorf("request %d: got %d bytes; want %d", i, len(got), 3*len(body))
			}
		})
	}
	wg.Wait()
	e.exchanges(n)
	e.flush()
	if got := len(e.sink.servers()); got != n {
		t.Errorf("recorded %d exchanges; want %d", got, n)
	}
	if v := testutil.ToFloat64(e.rec.m.requests.WithLabelValues("test", "2xx")); v != n {
		t.Errorf("requests_total{code=2xx} = %v; want %d", v, n)
	}
}

// BenchmarkProxy compares a small chat completion straight to a local
// upstream with the same call through the gateway (recording included):
// the difference is what the gateway adds. The bench command measures
// latency percentiles at a fixed rate; this is for profiles.
func BenchmarkProxy(b *testing.B) {
	reply := []byte(`{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(reply)
	}))
	defer up.Close()
	rec, err := NewRecorder(RecorderOptions{Consumer: &discard{}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	go rec.Run(b.Context())
	defer rec.Shutdown(context.Background())
	g, err := New(Options{Name: "test", Kind: KindOpenAI, Upstream: mustURL(up.URL + "/v1"), Recorder: rec, RecordContent: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/gateway/test/", g)
	gw := httptest.NewServer(mux)
	defer gw.Close()
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, tc := range []struct{ name, url string }{
		{"direct", up.URL + "/v1/chat/completions"},
		{"gateway", gw.URL + "/gateway/test/chat/completions"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := client.Post(tc.url, "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			})
		})
	}
	b.ReportMetric(float64(rec.Stats().Dropped), "dropped")
}

// discard is a Consumer that keeps nothing.
type discard struct{}

func (discard) ConsumeTraces(context.Context, ptrace.Traces) (ingest.Result, error) {
	return ingest.Result{}, nil
}

// An upstream that quotes the caller's key back (in an error message, in
// an echoed request) does not get it recorded: the recorder removes the
// caller's credentials from everything it reads out of the bodies.
func TestEchoedCredentialsScrubbed(t *testing.T) {
	const secret = "sk-caller-echoed-7f3a9c"
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s (query key %s)","type":"invalid_request_error"}}`,
			key, r.URL.Query().Get("key"))
	})
	e := newEnv(t, echo, nil)
	req := mustRequest(t, "POST", e.url("/v1/chat/completions?key=query-"+secret), `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	req.Header.Set("Authorization", "Bearer "+secret)
	res, body := do(t, req)
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), secret) {
		t.Fatalf("the caller gets the upstream's answer unchanged: %d %s", res.StatusCode, body)
	}
	e.exchanges(1)
	e.flush()
	all := e.sink.json(t)
	if strings.Contains(all, secret) {
		t.Errorf("the echoed key was recorded: %s", all)
	}
	if !strings.Contains(all, "Incorrect API key provided: "+redacted) {
		t.Errorf("the upstream's message is not recorded with the key removed: %s", all)
	}
}
