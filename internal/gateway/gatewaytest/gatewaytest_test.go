package gatewaytest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/gateway/gatewaytest"
)

func post(t *testing.T, url, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestAnswers: each endpoint answers in its shape, the same request twice
// gets the same bytes, and the scripted failures carry their headers.
func TestAnswers(t *testing.T) {
	s := gatewaytest.New(t, gatewaytest.Options{Reply: func(r gatewaytest.Request) gatewaytest.Reply {
		switch {
		case strings.Contains(string(r.Body), "limit me"):
			return gatewaytest.Reply{Status: 429, RetryAfter: 1500 * time.Millisecond}
		case strings.Contains(string(r.Body), "zip me"):
			return gatewaytest.Reply{Gzip: true}
		}
		return gatewaytest.Reply{Usage: &gatewaytest.Usage{InputTokens: 7, OutputTokens: 3}}
	}})
	chat := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		status           int
		want             []string // in the body
		wantHeader       map[string]string
	}{
		{name: "chat", path: "/v1/chat/completions", body: chat, status: 200,
			want: []string{`"object":"chat.completion"`, `"content":"` + gatewaytest.DefaultContent + `"`, `"prompt_tokens":7`}},
		{name: "chat stream", path: "/v1/chat/completions", status: 200,
			body:       `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
			want:       []string{`"delta":{"content":" reset"}`, `"choices":[],"usage":{"prompt_tokens":7`, "data: [DONE]\n\n"},
			wantHeader: map[string]string{"Content-Type": "text/event-stream; charset=utf-8"}},
		{name: "responses", path: "/v1/responses", body: `{"model":"gpt-4o","input":"hi"}`, status: 200,
			want: []string{`"object":"response"`, `"status":"completed"`, `"output_tokens":3`}},
		{name: "responses stream", path: "/v1/responses", body: `{"model":"gpt-4o","input":"hi","stream":true}`, status: 200,
			want: []string{"event: response.created\n", "event: response.output_text.delta\n", "event: response.completed\n"}},
		{name: "embeddings", path: "/v1/embeddings", body: `{"model":"e","input":["a","b"],"dimensions":4}`, status: 200,
			want: []string{`"index":1`, `"prompt_tokens":7`}},
		{name: "legacy completions", path: "/v1/completions", body: `{"model":"i","prompt":"x"}`, status: 200,
			want: []string{`"object":"text_completion"`}},
		{name: "unknown path", path: "/v1/nothing", body: `{}`, status: 404, want: []string{`"code": "unknown_url"`}},
		{name: "not JSON", path: "/v1/chat/completions", body: `{`, status: 400, want: []string{"could not parse the JSON body"}},
		{name: "429", path: "/v1/chat/completions", body: `{"model":"m","messages":[{"role":"user","content":"limit me"}]}`, status: 429,
			want: []string{"rate_limit_exceeded"}, wantHeader: map[string]string{"Retry-After": "2", "Retry-After-Ms": "1500"}},
		{name: "gzip", path: "/v1/chat/completions", body: `{"model":"m","messages":[{"role":"user","content":"zip me"}]}`,
			header: map[string]string{"Accept-Encoding": "gzip"}, status: 200, wantHeader: map[string]string{"Content-Encoding": "gzip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := post(t, s.URL+tc.path, tc.body, tc.header)
			_, again := post(t, s.URL+tc.path, tc.body, tc.header)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if !bytes.Equal(b, again) {
				t.Errorf("the same request answered differently:\n%s\n%s", b, again)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("body lacks %q:\n%s", w, b)
				}
			}
			for k, v := range tc.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("Openai-Processing-Ms") == "" {
				t.Errorf("headers %v lack x-request-id or openai-processing-ms", resp.Header)
			}
			if resp.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				plain, _ := io.ReadAll(zr)
				if !json.Valid(plain) {
					t.Errorf("gzip body is not JSON: %q", plain)
				}
			}
		})
	}
	if r, ok := s.Last(); !ok || r.Endpoint != gatewaytest.EndpointChat || r.Header.Get("Accept-Encoding") != "gzip" {
		t.Errorf("last request %+v, want the gzip chat request with its headers", r)
	}
}

// TestHangAndSteps: a hung request ends when its client goes away, and
// counts as canceled; a paced stream sends its next event only on the
// test's signal.
func TestHangAndSteps(t *testing.T) {
	step := make(chan struct{})
	s := gatewaytest.New(t, gatewaytest.Options{Reply: func(r gatewaytest.Request) gatewaytest.Reply {
		if r.Stream {
			return gatewaytest.Reply{Content: "one two", Step: step}
		}
		return gatewaytest.Reply{Hang: true}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[]}`))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a hung request answered %d", resp.StatusCode)
	}
	s.WaitIdle(t)
	if s.Canceled() != 1 {
		t.Errorf("canceled %d, want 1", s.Canceled())
	}

	resp, err := http.Post(s.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","stream":true,"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Each event is read whole before the next is let go: were two in one
	// read, the server would have sent one without its signal.
	buf := make([]byte, 4096)
	var got []string
	var ev string
	for {
		n, err := resp.Body.Read(buf)
		ev += string(buf[:n])
		if strings.HasSuffix(ev, "\n\n") {
			got = append(got, ev)
			if strings.Count(ev, "\n\n") > 1 || ev == "data: [DONE]\n\n" {
				break
			}
			ev = ""
			step <- struct{}{}
		}
		if err != nil {
			break
		}
	}
	// role, "one", " two", finish, [DONE]: each read one event.
	if len(got) != 5 || got[4] != "data: [DONE]\n\n" {
		t.Errorf("reads %q, want the 5 events one by one", got)
	}
}
