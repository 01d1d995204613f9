// Package gatewaytest is an OpenAI-compatible upstream for tests of the
// gateway: a real HTTP server (httptest) that answers chat completions
// (JSON, or a server-sent-event stream with the final usage chunk of
// stream_options.include_usage, tool calls optionally), the Responses API
// (JSON, or its event stream ending with response.completed), embeddings
// (small vectors, as floats or base64) and legacy completions, with the
// headers OpenAI sends (x-request-id, openai-processing-ms, ...). A test
// scripts failures per request: any status in the OpenAI error envelope,
// 429 with Retry-After, a delay before the headers, a hang until the
// client goes away, a stream sent one event at a time on the test's
// signal. It keeps what it received (method, path, query, headers, body)
// so that tests can check what the gateway forwarded.
//
// The same request always gets the same answer, byte for byte (ids are
// derived from the request, times are fixed): a test can send a request
// directly and through the gateway and compare the two answers.
package gatewaytest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Endpoint is the OpenAI endpoint a request went to.
type Endpoint string

// Endpoints the server understands, by the end of the request's path
// (POST only); any other request is EndpointOther and gets 404 unless the
// reply says otherwise.
const (
	EndpointChat        Endpoint = "chat"
	EndpointResponses   Endpoint = "responses"
	EndpointEmbeddings  Endpoint = "embeddings"
	EndpointCompletions Endpoint = "completions"
	EndpointOther       Endpoint = ""
)

// Options configure a server.
type Options struct {
	// Reply scripts the answer to each request; nil answers every request
	// with Reply{}: the endpoint's success.
	Reply ReplyFunc
}

// ReplyFunc decides the reply to one request. It is called concurrently.
type ReplyFunc func(Request) Reply

// Request is one request as the server received it.
type Request struct {
	// Seq numbers requests in the order they reached the handler, from 1.
	Seq int64
	// Method, Path and RawQuery are the request line's; Header is a copy
	// of the headers, Body the whole body.
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
	// Endpoint is what the path names.
	Endpoint Endpoint
	// Model, Stream, IncludeUsage (stream_options.include_usage),
	// EncodingFormat and Dimensions (embeddings) are read from a JSON
	// body; BadJSON says the body of a known endpoint was not JSON.
	Model          string
	Stream         bool
	IncludeUsage   bool
	EncodingFormat string
	Dimensions     int
	BadJSON        bool
	// Inputs are the embeddings request's input texts.
	Inputs []string
}

// Usage is the token usage a reply reports.
type Usage struct {
	InputTokens, OutputTokens, CachedTokens, ReasoningTokens int64
}

// ToolCall is a function call in an answer.
type ToolCall struct {
	ID, Name, Arguments string
}

// DefaultContent is the answer's text when the reply sets none.
const DefaultContent = "Use the reset link on the sign-in page."

// Reply is what the server does with one request.
type Reply struct {
	// Status is the HTTP status (0: 200). A status of 400 or more sends
	// the OpenAI error envelope with Message (a message in OpenAI's
	// words for the status when empty).
	Status  int
	Message string
	// RetryAfter, when positive, is sent as Retry-After (whole seconds,
	// rounded up) and retry-after-ms.
	RetryAfter time.Duration
	// Header holds further response headers.
	Header map[string]string
	// Delay is how long the server waits before the headers; it stops
	// waiting when the client goes away (counted in Canceled).
	Delay time.Duration
	// Hang waits for the client to go away and answers nothing.
	Hang bool
	// Body, when set, is sent as the whole answer (application/json
	// unless Header says otherwise): a JSON endpoint of any shape.
	Body []byte

	// Content is the answer's text (DefaultContent when empty and there
	// are no tool calls); ToolCalls are function calls the answer makes.
	Content   string
	ToolCalls []ToolCall
	// Model is the model the answer names (default: the request's).
	Model string
	// Usage overrides the token counts (default: an estimate from the
	// request's and the answer's sizes).
	Usage *Usage
	// Gzip compresses a JSON answer when the client accepts gzip.
	Gzip bool
	// Step, when set, paces a stream: after each event the server waits
	// for a receive on Step (or for the client to go away) before sending
	// the next, so that a test can check each event arrives before the
	// next one is sent.
	Step <-chan struct{}
}

// Server is a running test server. Its methods are safe for concurrent
// use.
type Server struct {
	*httptest.Server
	opts Options
	// quit is closed when the test ends, releasing hung handlers so that
	// Close does not wait for clients that never go away.
	quit chan struct{}

	seq      atomic.Int64
	inFlight atomic.Int64
	canceled atomic.Int64

	mu       sync.Mutex
	byStatus map[int]int64
	requests []Request
}

// New starts a server and stops it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, quit: make(chan struct{}), byStatus: map[int]int64{}}
	if s.opts.Reply == nil {
		s.opts.Reply = func(Request) Reply { return Reply{} }
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.quit) }) // runs first: cleanups run last in, first out
	return s
}

// BaseURL is the base URL for OpenAI clients (ending in /v1).
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Total is the number of requests that reached the handler.
func (s *Server) Total() int64 { return s.seq.Load() }

// Count is the number of answers sent with the given status.
func (s *Server) Count(status int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byStatus[status]
}

// Canceled is the number of requests whose client went away before their
// answer was complete.
func (s *Server) Canceled() int64 { return s.canceled.Load() }

// InFlight is the number of requests being handled now.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// Requests returns the requests received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Last returns the last request received; ok is false when none was.
func (s *Server) Last() (r Request, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// WaitIdle waits until no request is in flight (the handler of a request
// whose client went away may still be finishing), failing the test after
// 10s.
func (s *Server) WaitIdle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.inFlight.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("gatewaytest: %d requests still in flight after 10s", s.inFlight.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	req := Request{
		Seq: s.seq.Add(1), Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, Endpoint: endpointOf(r.Method, r.URL.Path),
	}
	if req.Endpoint != EndpointOther {
		parseRequest(&req)
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()

	reply := s.opts.Reply(req)
	if reply.Hang {
		s.wait(r, nil)
		return
	}
	if reply.Delay > 0 {
		timer := time.NewTimer(reply.Delay)
		defer timer.Stop()
		if !s.wait(r, timer.C) {
			return
		}
	}
	h := w.Header()
	h.Set("X-Request-Id", "req_"+digest(req)[:24])
	h.Set("Openai-Version", "2020-10-01")
	h.Set("Openai-Processing-Ms", strconv.FormatInt(max(1, reply.Delay.Milliseconds()), 10))
	h.Set("X-Ratelimit-Limit-Requests", "10000")
	h.Set("X-Ratelimit-Remaining-Requests", "9999")
	if reply.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(reply.RetryAfter.Seconds())), 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(reply.RetryAfter.Milliseconds(), 10))
	}
	for k, v := range reply.Header {
		h.Set(k, v)
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case reply.Body != nil:
		s.send(w, r, status, reply, reply.Body)
	case status >= 400:
		s.fail(w, r, status, reply, errorMessage(req, status, reply.Message))
	case req.Endpoint == EndpointOther:
		s.fail(w, r, http.StatusNotFound, reply, "Invalid URL ("+req.Method+" "+req.Path+")")
	case req.BadJSON:
		s.fail(w, r, http.StatusBadRequest, reply, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
	case req.Stream && req.Endpoint != EndpointEmbeddings:
		s.stream(w, r, status, reply, events(req, reply))
	default:
		s.send(w, r, status, reply, answer(req, reply))
	}
}

// wait waits for ready (nil: forever) and reports true, or for the client
// to go away (or the test to end) and reports false.
func (s *Server) wait(r *http.Request, ready <-chan time.Time) bool {
	select {
	case <-ready:
		return true
	case <-r.Context().Done():
		s.canceled.Add(1)
	case <-s.quit:
	}
	return false
}

// send writes a whole JSON answer with its Content-Length, compressed
// when the reply says so and the client accepts gzip.
func (s *Server) send(w http.ResponseWriter, r *http.Request, status int, reply Reply, body []byte) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	if reply.Gzip && acceptsGzip(r.Header) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = b.Bytes()
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	s.count(status)
}

// fail writes the OpenAI error envelope.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, reply Reply, msg string) {
	typ, code := "invalid_request_error", any(nil)
	switch {
	case status == http.StatusUnauthorized:
		code = "invalid_api_key"
	case status == http.StatusNotFound:
		code = "unknown_url"
	case status == http.StatusTooManyRequests:
		typ, code = "requests", "rate_limit_exceeded"
	case status >= 500:
		typ = "server_error"
	}
	body, _ := json.MarshalIndent(map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": code,
	}}, "", "    ")
	s.send(w, r, status, reply, append(body, '\n'))
}

// stream writes a server-sent-event stream, flushing each event, paced by
// reply.Step when set.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, status int, reply Reply, evs [][]byte) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	for i, ev := range evs {
		if i > 0 && reply.Step != nil {
			select {
			case <-reply.Step:
			case <-r.Context().Done():
				s.canceled.Add(1)
				return
			case <-s.quit:
				return
			}
		}
		if _, err := w.Write(ev); err != nil {
			s.canceled.Add(1)
			return
		}
		if err := rc.Flush(); err != nil {
			s.canceled.Add(1)
			return
		}
	}
	s.count(status)
}

func (s *Server) count(status int) {
	s.mu.Lock()
	s.byStatus[status]++
	s.mu.Unlock()
}

func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for e := range strings.SplitSeq(v, ",") {
			coding, _, _ := strings.Cut(e, ";")
			if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				return true
			}
		}
	}
	return false
}

// endpointOf names the endpoint of a request by its path's end, as an
// OpenAI-compatible server behind any base path would.
func endpointOf(method, path string) Endpoint {
	if method != http.MethodPost {
		return EndpointOther
	}
	p := strings.TrimRight(path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		return EndpointChat
	case strings.HasSuffix(p, "/responses"):
		return EndpointResponses
	case strings.HasSuffix(p, "/embeddings"):
		return EndpointEmbeddings
	case strings.HasSuffix(p, "/completions"):
		return EndpointCompletions
	}
	return EndpointOther
}

// parseRequest reads what the answer depends on from a JSON body.
func parseRequest(req *Request) {
	var in struct {
		Model         string `json:"model"`
		Stream        bool   `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     int             `json:"dimensions"`
		Input          json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(req.Body, &in); err != nil {
		req.BadJSON = true
		return
	}
	req.Model, req.Stream = in.Model, in.Stream
	req.IncludeUsage = in.StreamOptions != nil && in.StreamOptions.IncludeUsage
	req.EncodingFormat, req.Dimensions = in.EncodingFormat, in.Dimensions
	if req.Endpoint == EndpointEmbeddings {
		var one string
		if json.Unmarshal(in.Input, &one) == nil {
			req.Inputs = []string{one}
		} else {
			_ = json.Unmarshal(in.Input, &req.Inputs)
		}
	}
}

// digest is a stable hex digest of a request: the answer's ids are made
// of it, so the same request gets the same answer.
func digest(req Request) string {
	h := sha256.New()
	h.Write([]byte(req.Method + " " + req.Path + "\n"))
	h.Write(req.Body)
	return hex.EncodeToString(h.Sum(nil))
}

// errorMessage is the error message of a status, in OpenAI's words.
func errorMessage(req Request, status int, msg string) string {
	if msg != "" {
		return msg
	}
	switch status {
	case http.StatusUnauthorized:
		// OpenAI quotes the key it refuses, masked but for its ends.
		return "Incorrect API key provided: " + maskKey(req.Header.Get("Authorization")) +
			". You can find your API key at https://platform.openai.com/account/api-keys."
	case http.StatusTooManyRequests:
		return "Rate limit reached for " + req.Model + " in organization org-test on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s."
	case http.StatusInternalServerError:
		return "The server had an error while processing your request. Sorry about that!"
	}
	return http.StatusText(status)
}

// maskKey masks an Authorization header's key as OpenAI does: the first
// three and the last four characters stay.
func maskKey(auth string) string {
	key := strings.TrimSpace(strings.TrimPrefix(auth, "Bearer "))
	if len(key) < 12 {
		return strings.Repeat("*", len(key))
	}
	return key[:3] + strings.Repeat("*", len(key)-7) + key[len(key)-4:]
}
