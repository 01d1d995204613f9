package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/flowwatch/flowwatch/internal/model"
)

// ChatClient sends one chat completion request, without retrying: the
// Judge retries. The openai-go client is the default; tests and other
// providers can supply their own.
type ChatClient interface {
	Complete(ctx context.Context, req ChatRequest) (ChatResponse, error)
}

// ChatMessage is one message of a chat request.
type ChatMessage struct {
	Role    string // system, user
	Content string
}

// ChatRequest is a chat completion request.
type ChatRequest struct {
	Model       string
	Messages    []ChatMessage
	Temperature float64
	// JSON asks for a JSON object reply (response_format json_object).
	JSON bool
}

// ChatResponse is the reply's first choice and its usage.
type ChatResponse struct {
	Content string
	// Model is the model the server says answered ("" if not said).
	Model string
	Usage model.Usage
}

// StatusError is an HTTP error status from the judge's server. A
// ChatClient returns it so the Judge can decide whether to retry.
type StatusError struct {
	Status int
	// RetryAfter is the wait the server asked for (0: none).
	RetryAfter time.Duration
	// Body is the start of the error body.
	Body string
	Err  error
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("HTTP %d", e.Status)
	if e.Body != "" {
		msg += ": " + clip(strings.TrimSpace(e.Body), 300)
	}
	return msg
}

func (e *StatusError) Unwrap() error { return e.Err }

// maxReplyBytes bounds a reply body.
const maxReplyBytes = 4 << 20

// openAIClient is the ChatClient over the official openai-go client, for
// OpenAI, OpenAI-compatible servers and Azure OpenAI.
type openAIClient struct {
	svc openai.ChatCompletionService
	now func() time.Time
	// key is the API key, taken out of error bodies (see scrubKey).
	key string
}

// newOpenAIClient builds the client of a judge connection. The openai-go
// client's own retries are off and nothing is read from OPENAI_*
// environment variables.
func newOpenAIClient(o Options, apiKey string, hc *http.Client, now func() time.Time) (*openAIClient, error) {
	opts := []option.RequestOption{
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
	}
	switch o.Type {
	case TypeAzureOpenAI:
		base, err := url.Parse(strings.TrimRight(o.Endpoint, "/"))
		if err != nil || base.Host == "" {
			return nil, fmt.Errorf("endpoint %q is not an absolute URL", o.Endpoint)
		}
		base = base.JoinPath("openai", "deployments", o.Deployment)
		opts = append(opts,
			option.WithBaseURL(base.String()+"/"),
			option.WithQuery("api-version", o.APIVersion))
		if apiKey != "" {
			opts = append(opts, option.WithHeader("api-key", apiKey))
		}
	case TypeOpenAI:
		base := o.BaseURL
		if base == "" {
			base = DefaultOpenAIBaseURL
		}
		if u, err := url.Parse(base); err != nil || u.Host == "" {
			return nil, fmt.Errorf("base_url %q is not an absolute URL", base)
		}
		opts = append(opts, option.WithBaseURL(base))
		if apiKey != "" {
			opts = append(opts, option.WithAPIKey(apiKey))
		}
	default:
		return nil, fmt.Errorf("type must be %s or %s, got %q", TypeOpenAI, TypeAzureOpenAI, o.Type)
	}
	return &openAIClient{svc: openai.NewChatCompletionService(opts...), now: now, key: apiKey}, nil
}

func (c *openAIClient) Complete(ctx context.Context, req ChatRequest) (ChatResponse, error) {
	params := openai.ChatCompletionNewParams{
		Model:       shared.ChatModel(req.Model),
		Temperature: openai.Float(req.Temperature),
	}
	for _, m := range req.Messages {
		switch m.Role {
		case "system":
			params.Messages = append(params.Messages, openai.SystemMessage(m.Content))
		default:
			params.Messages = append(params.Messages, openai.UserMessage(m.Content))
		}
	}
	if req.JSON {
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONObject: &shared.ResponseFormatJSONObjectParam{},
		}
	}
	var res *http.Response
	out, err := c.svc.New(ctx, params, option.WithResponseInto(&res))
	if err != nil {
		if ctx.Err() != nil {
			return ChatResponse{}, ctx.Err()
		}
		if res != nil && res.StatusCode >= 400 {
			se := &StatusError{Status: res.StatusCode, RetryAfter: retryAfter(res.Header, c.now()), Err: err}
			if res.Body != nil {
				b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
				_ = res.Body.Close()
				se.Body = string(b)
			}
			var apiErr *openai.Error
			if se.Body == "" && errors.As(err, &apiErr) {
				se.Body = apiErr.Message
			}
			se.Body = scrubKey(se.Body, c.key)
			return ChatResponse{}, se
		}
		return ChatResponse{}, err
	}
	var resp ChatResponse
	if len(out.Choices) > 0 {
		resp.Content = out.Choices[0].Message.Content
	}
	resp.Model = out.Model
	u := out.Usage
	if u.JSON.PromptTokens.Valid() || u.JSON.CompletionTokens.Valid() || u.JSON.TotalTokens.Valid() {
		resp.Usage = model.Usage{
			Known:           true,
			InputTokens:     u.PromptTokens,
			OutputTokens:    u.CompletionTokens,
			TotalTokens:     u.TotalTokens,
			CacheReadTokens: u.PromptTokensDetails.CachedTokens,
			ReasoningTokens: u.CompletionTokensDetails.ReasoningTokens,
		}
		if resp.Usage.TotalTokens == 0 {
			resp.Usage.TotalTokens = u.PromptTokens + u.CompletionTokens
		}
	}
	return resp, nil
}

// scrubKey replaces the API key in a server's error body with a marker:
// some OpenAI-compatible servers and proxies quote the key they refused
// ("Incorrect API key provided: Bearer sk-..."), and the body goes into
// run errors, logs, the API and the dashboard.
func scrubKey(body, key string) string {
	if key == "" {
		return body
	}
	return strings.ReplaceAll(body, key, "[REDACTED:api_key]")
}

// retryAfter reads the wait a server asked for: retry-after-ms
// (milliseconds, sent by OpenAI and Azure), else Retry-After in seconds
// or as an HTTP date. 0 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && s < 1e6 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// limitedTransport bounds response bodies to maxReplyBytes.
type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(r)
	if err == nil && res.Body != nil {
		res.Body = &limitedBody{ReadCloser: res.Body, left: maxReplyBytes}
	}
	return res, err
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("judge reply larger than %d bytes", maxReplyBytes)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// newHTTPClient returns the HTTP client of a judge: keeps as many idle
// connections as requests may be in flight.
func newHTTPClient(maxConcurrency int) *http.Client {
	tr, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		tr = tr.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second}
	}
	tr.MaxIdleConns = max(100, maxConcurrency)
	tr.MaxIdleConnsPerHost = maxConcurrency
	return &http.Client{Transport: limitedTransport{next: tr}}
}
