// Package judgetest is an OpenAI-compatible chat completions server for
// tests: a real HTTP server (httptest) that answers POST
// /v1/chat/completions and the Azure OpenAI path
// /openai/deployments/{deployment}/chat/completions?api-version=... with
// replies a test scripts, including delays, error statuses with
// Retry-After, malformed content and dropped connections. It counts what
// it served so tests can assert on the server side (requests by status,
// the most requests in flight at once).
//
// The scripted reply helpers (FixedScores and friends) understand the
// convention flowwatch's judge prompts follow: a line "Metrics to rate: a,
// b." in the prompt names the metrics asked for; a request for one metric
// expects {"score": n, "reason": "..."}, a request for several expects
// {"a": {"score": n, "reason": "..."}, "b": {...}}.
package judgetest

import (
	"encoding/json"
	"fmt"
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

// Options configure a test server.
type Options struct {
	// Reply scripts the answer to each request; nil answers every metric
	// asked for with score 5.
	Reply ReplyFunc
	// APIKey, when set, is required: as "Authorization: Bearer KEY" on the
	// OpenAI path and as "api-key: KEY" on the Azure path. A request
	// without it gets 401.
	APIKey string
	// Deployment, when set, is the only Azure deployment served (others
	// get 404); APIVersion, when set, is the only api-version accepted
	// (others get 400). An Azure request without api-version always gets
	// 400.
	Deployment string
	APIVersion string
	// RejectResponseFormat makes the server answer 400 to any request that
	// sets response_format, like servers without JSON mode.
	RejectResponseFormat bool
	// DiscardRequests stops the server from keeping every request for
	// Requests (for benchmarks); counters still work.
	DiscardRequests bool
}

// ReplyFunc decides the reply to one request. It is called concurrently.
type ReplyFunc func(Request) Reply

// Message is one chat message of a request.
type Message struct {
	Role    string
	Content string
}

// Request is a parsed chat completions request.
type Request struct {
	// Seq numbers requests in the order they reached the handler, from 1.
	Seq int64
	// Azure is true for the Azure OpenAI path; Deployment and APIVersion
	// are then its deployment and api-version query parameter.
	Azure      bool
	Deployment string
	APIVersion string
	Path       string
	Header     http.Header

	Model string
	// Temperature is nil when the request did not set one.
	Temperature *float64
	// ResponseFormat is the response_format type ("json_object",
	// "json_schema", "text"), empty when not set.
	ResponseFormat string
	Messages       []Message
	// Body is the raw request body.
	Body []byte
}

// Text is the content of all messages, joined by blank lines.
func (r Request) Text() string {
	parts := make([]string, len(r.Messages))
	for i, m := range r.Messages {
		parts[i] = m.Content
	}
	return strings.Join(parts, "\n\n")
}

// UserText is the content of the messages that are not system messages,
// joined by blank lines.
func (r Request) UserText() string {
	var parts []string
	for _, m := range r.Messages {
		if m.Role != "system" && m.Role != "developer" {
			parts = append(parts, m.Content)
		}
	}
	return strings.Join(parts, "\n\n")
}

// Metrics returns the metrics the request asks to rate, from its last line
// "Metrics to rate: a, b." (nil when there is none).
func (r Request) Metrics() []string {
	const marker = "Metrics to rate:"
	text := r.Text()
	i := strings.LastIndex(text, marker)
	if i < 0 {
		return nil
	}
	line := text[i+len(marker):]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "."))
	var out []string
	for _, name := range strings.Split(line, ",") {
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// Usage is the token usage a reply reports.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
}

// Reply is what the server does with one request.
type Reply struct {
	// Content is the assistant message of a successful reply.
	Content string
	// Status is the HTTP status (0: 200). A status of 400 or more sends an
	// OpenAI-style error body with Content (or the status text) as its
	// message.
	Status int
	// RetryAfter, when positive, is sent as Retry-After (whole seconds,
	// rounded up) and retry-after-ms (milliseconds).
	RetryAfter time.Duration
	// Header holds further response headers.
	Header map[string]string
	// Delay is how long the server waits before answering (or dropping);
	// it stops waiting when the client goes away.
	Delay time.Duration
	// Usage overrides the token counts; nil reports an estimate of one
	// token per four bytes of prompt and completion.
	Usage *Usage
	// Model overrides the model named in the reply (default: the
	// request's model, or the Azure deployment).
	Model string
	// Drop closes the connection without any reply.
	Drop bool
}

// Server is a running test server. Its methods are safe for concurrent
// use.
type Server struct {
	*httptest.Server
	opts Options

	seq         atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	dropped     atomic.Int64
	canceled    atomic.Int64

	mu       sync.Mutex
	byStatus map[int]int64
	requests []Request
}

// New starts a server and stops it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, byStatus: map[int]int64{}}
	if s.opts.Reply == nil {
		s.opts.Reply = FixedScores(nil)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// BaseURL is the base URL for OpenAI clients (ending in /v1).
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Endpoint is the Azure OpenAI endpoint (the server's root URL).
func (s *Server) Endpoint() string { return s.URL }

// Total is the number of requests that reached the handler.
func (s *Server) Total() int64 { return s.seq.Load() }

// Count is the number of replies sent with the given status.
func (s *Server) Count(status int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byStatus[status]
}

// Counts returns the number of replies sent per status.
func (s *Server) Counts() map[int]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int64, len(s.byStatus))
	for k, v := range s.byStatus {
		out[k] = v
	}
	return out
}

// Dropped is the number of connections closed without a reply on purpose
// (Reply.Drop).
func (s *Server) Dropped() int64 { return s.dropped.Load() }

// Canceled is the number of requests whose client went away before the
// reply was sent.
func (s *Server) Canceled() int64 { return s.canceled.Load() }

// InFlight is the number of requests being handled now.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// MaxInFlight is the most requests handled at the same time so far.
func (s *Server) MaxInFlight() int64 { return s.maxInFlight.Load() }

// Requests returns the requests received so far, in arrival order (none
// with DiscardRequests).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// WaitIdle waits until no request is in flight (handlers of requests whose
// client gave up may still be finishing), failing the test after 10s.
func (s *Server) WaitIdle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.inFlight.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("judgetest: %d requests still in flight after 10s", s.inFlight.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *Server) count(status int) {
	s.mu.Lock()
	s.byStatus[status]++
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxInFlight.Load()
		if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	req := Request{Seq: s.seq.Add(1), Path: r.URL.Path, Header: r.Header.Clone()}

	if r.Method != http.MethodPost {
		s.fail(w, http.StatusMethodNotAllowed, "only POST is served")
		return
	}
	switch {
	case r.URL.Path == "/v1/chat/completions":
		if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
			s.fail(w, http.StatusUnauthorized, "missing or wrong Authorization: Bearer key")
			return
		}
	case strings.HasPrefix(r.URL.Path, "/openai/deployments/") && strings.HasSuffix(r.URL.Path, "/chat/completions"):
		req.Azure = true
		req.Deployment = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/openai/deployments/"), "/chat/completions")
		req.APIVersion = r.URL.Query().Get("api-version")
		if s.opts.APIKey != "" && r.Header.Get("api-key") != s.opts.APIKey {
			s.fail(w, http.StatusUnauthorized, "missing or wrong api-key header")
			return
		}
		if s.opts.Deployment != "" && req.Deployment != s.opts.Deployment {
			s.fail(w, http.StatusNotFound, fmt.Sprintf("deployment %q not found", req.Deployment))
			return
		}
		if req.APIVersion == "" || (s.opts.APIVersion != "" && req.APIVersion != s.opts.APIVersion) {
			s.fail(w, http.StatusBadRequest, fmt.Sprintf("unsupported api-version %q", req.APIVersion))
			return
		}
	default:
		s.fail(w, http.StatusNotFound, "no route for "+r.URL.Path)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		s.fail(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if err := parseBody(body, &req); err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.opts.RejectResponseFormat && req.ResponseFormat != "" {
		s.fail(w, http.StatusBadRequest, "response_format is not supported by this server")
		return
	}
	if !s.opts.DiscardRequests {
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}

	reply := s.opts.Reply(req)
	if reply.Delay > 0 {
		timer := time.NewTimer(reply.Delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			s.canceled.Add(1)
			return
		}
	}
	if reply.Drop {
		s.dropped.Add(1)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // no hijacking: abort the response instead
	}
	if r.Context().Err() != nil {
		s.canceled.Add(1)
		return
	}
	for k, v := range reply.Header {
		w.Header().Set(k, v)
	}
	if reply.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(reply.RetryAfter.Seconds())), 10))
		w.Header().Set("retry-after-ms", strconv.FormatInt(reply.RetryAfter.Milliseconds(), 10))
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status >= 400 {
		msg := reply.Content
		if msg == "" {
			msg = http.StatusText(status)
		}
		s.fail(w, status, msg)
		return
	}
	s.complete(w, status, req, reply)
}

// parseBody fills the request's model, temperature, response format and
// messages from a chat completions body.
func parseBody(body []byte, req *Request) error {
	var in struct {
		Model          string                 `json:"model"`
		Temperature    *float64               `json:"temperature"`
		ResponseFormat *struct{ Type string } `json:"response_format"`
		Messages       []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fmt.Errorf("the body is not a chat completions request: %v", err)
	}
	if len(in.Messages) == 0 {
		return fmt.Errorf("messages: at least one message is required")
	}
	req.Body = body
	req.Model = in.Model
	req.Temperature = in.Temperature
	if in.ResponseFormat != nil {
		req.ResponseFormat = in.ResponseFormat.Type
	}
	for i, m := range in.Messages {
		text, err := messageText(m.Content)
		if err != nil {
			return fmt.Errorf("messages[%d].content: %v", i, err)
		}
		req.Messages = append(req.Messages, Message{Role: m.Role, Content: text})
	}
	return nil
}

// messageText reads a message content: a string or a list of text parts.
func messageText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("neither a string nor a list of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func (s *Server) fail(w http.ResponseWriter, status int, msg string) {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_exceeded"
	case status >= 500:
		typ = "server_error"
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": strconv.Itoa(status),
	}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	s.count(status)
}

func (s *Server) complete(w http.ResponseWriter, status int, req Request, reply Reply) {
	usage := reply.Usage
	if usage == nil {
		usage = &Usage{
			PromptTokens:     int64(len(req.Text())+3) / 4,
			CompletionTokens: int64(len(reply.Content)+3) / 4,
		}
	}
	modelName := reply.Model
	if modelName == "" {
		modelName = req.Model
	}
	if modelName == "" {
		modelName = req.Deployment
	}
	out := map[string]any{
		"id":      "chatcmpl-judgetest-" + strconv.FormatInt(req.Seq, 10),
		"object":  "chat.completion",
		"created": 1700000000,
		"model":   modelName,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": reply.Content},
			"finish_reason": "stop",
		}},
		"usage": map[string]any{
			"prompt_tokens":         usage.PromptTokens,
			"completion_tokens":     usage.CompletionTokens,
			"total_tokens":          usage.PromptTokens + usage.CompletionTokens,
			"prompt_tokens_details": map[string]any{"cached_tokens": usage.CachedTokens},
		},
	}
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	s.count(status)
}
