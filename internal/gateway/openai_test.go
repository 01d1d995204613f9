package gateway

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// (The -update flag that rewrites the golden files is declared once for
// the package, in spans_test.go.)

// extractCase is one file of testdata/extract: an exchange as the proxy
// records it, from a realistic request and answer, and the gateway that
// reads it. Its golden file (NAME.golden.json) is the Call read out.
type extractCase struct {
	Comment  string `json:"comment"`
	Kind     string `json:"kind"`
	Upstream string `json:"upstream"`
	// Provider is the configured provider; "" guesses from Upstream, as
	// the gateway does.
	Provider string `json:"provider"`
	Mapping  struct {
		Question     string `json:"question"`
		ChatHistory  string `json:"chat_history"`
		Answer       string `json:"answer"`
		Context      string `json:"context"`
		Model        string `json:"model"`
		InputTokens  string `json:"input_tokens"`
		OutputTokens string `json:"output_tokens"`
		TotalTokens  string `json:"total_tokens"`
	} `json:"mapping"`
	Method          string      `json:"method"`
	Path            string      `json:"path"`
	Status          int         `json:"status"`
	RequestEncoding string      `json:"request_encoding"`
	Request         rawBody     `json:"request"`
	ResponseHeaders http.Header `json:"response_headers"`
	Response        rawBody     `json:"response"`
	// ResponseGzip compresses the response as the upstream would.
	ResponseGzip bool `json:"response_gzip"`
	// RecordBytes and TailBytes record the response as a gateway with
	// that max_record_bytes would (TailBytes 0: the gateway's).
	RecordBytes int `json:"record_bytes"`
	TailBytes   int `json:"tail_bytes"`
}

// rawBody is a body in a test file: a JSON string is the body's text (an
// event stream), anything else is the body itself, as written.
type rawBody []byte

func (b *rawBody) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*b = []byte(s)
		return nil
	}
	*b = append([]byte(nil), data...)
	return nil
}

// exchange is the Exchange the proxy would have recorded.
func (tc *extractCase) exchange(t testing.TB) *Exchange {
	x := &Exchange{
		Gateway: "test", Method: tc.Method, Path: tc.Path, Status: tc.Status,
		RequestContentType: "application/json", RequestEncoding: tc.RequestEncoding,
		RequestBody: tc.Request, ResponseHeader: tc.ResponseHeaders.Clone(),
	}
	resp := []byte(tc.Response)
	if tc.ResponseGzip {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(resp); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		resp = b.Bytes()
		if x.ResponseHeader == nil {
			x.ResponseHeader = http.Header{}
		}
		x.ResponseHeader.Set("Content-Encoding", "gzip")
	}
	x.ResponseBody = resp
	if tc.RecordBytes > 0 && len(resp) > tc.RecordBytes {
		tail := tc.TailBytes
		if tail == 0 {
			tail = TailBytes
		}
		rest := resp[tc.RecordBytes:]
		x.ResponseBody, x.ResponseTruncated = resp[:tc.RecordBytes], true
		x.ResponseTail = rest[max(0, len(rest)-tail):]
	}
	return x
}

// extract reads the case's exchange as its gateway would.
func (tc *extractCase) extract(t testing.TB) Call {
	x := tc.exchange(t)
	switch tc.Kind {
	case KindOpenAI:
		provider := tc.Provider
		if provider == "" {
			u, err := url.Parse(tc.Upstream)
			if err != nil {
				t.Fatal(err)
			}
			provider = guessProvider(u)
		}
		return extractOpenAI(x, provider)
	case KindJSON:
		mp := tc.Mapping
		m, err := compileMapping(Mapping{
			Question: mp.Question, ChatHistory: mp.ChatHistory, Answer: mp.Answer, Context: mp.Context,
			Model: mp.Model, InputTokens: mp.InputTokens, OutputTokens: mp.OutputTokens, TotalTokens: mp.TotalTokens,
		})
		if err != nil {
			t.Fatal(err)
		}
		return m.extract(x)
	}
	t.Fatalf("unknown kind %q", tc.Kind)
	return Call{}
}

// extractCases reads every case of testdata/extract.
func extractCases(t testing.TB) map[string]*extractCase {
	files, err := filepath.Glob(filepath.Join("testdata", "extract", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]*extractCase{}
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tc extractCase
		if err := json.Unmarshal(data, &tc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cases[strings.TrimSuffix(f, ".json")] = &tc
	}
	if len(cases) == 0 {
		t.Fatal("no cases in testdata/extract")
	}
	return cases
}

func extractGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), buf.String()); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, d)
	}
}

func TestExtractGolden(t *testing.T) {
	for name, tc := range extractCases(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			got, err := json.Marshal(tc.extract(t))
			if err != nil {
				t.Fatal(err)
			}
			extractGolden(t, name+".golden.json", got)
		})
	}
}

// TestExtractOpenAIFields checks, apart from the golden files, the
// fields each case exists for, so that a regenerated golden file cannot
// quietly lose them.
func TestExtractOpenAIFields(t *testing.T) {
	cases := extractCases(t)
	get := func(name string) Call {
		tc, ok := cases[filepath.Join("testdata", "extract", name)]
		if !ok {
			t.Fatalf("no case %s", name)
		}
		return tc.extract(t)
	}
	text := func(m Message) string {
		var b strings.Builder
		for _, p := range m.Parts {
			if p.Type == "text" {
				b.WriteString(p.Content)
			}
		}
		return b.String()
	}
	n := func(p *int64) int64 {
		if p == nil {
			return -1
		}
		return *p
	}

	t.Run("chat", func(t *testing.T) {
		c := get("openai_chat")
		if c.Operation != "chat" || c.Provider != "openai" || c.RequestModel != "gpt-4o" || c.ResponseModel != "gpt-4o-2024-08-06" {
			t.Errorf("call = %+v", c)
		}
		if n(c.Usage.InputTokens) != 1117 || n(c.Usage.OutputTokens) != 46 || n(c.Usage.CacheReadTokens) != 1024 || n(c.Usage.ReasoningTokens) != 0 {
			t.Errorf("usage = %+v", c.Usage)
		}
		if c.Input[0].Role != "system" || len(c.Input[1].Parts) != 3 {
			t.Errorf("input = %+v", c.Input)
		}
		img, blob := c.Input[1].Parts[1], c.Input[1].Parts[2]
		if img.Type != "uri" || img.URI != "https://cdn.example.com/u/123/shoes.jpg" || blob.Type != "blob" || blob.MimeType != "image/png" || blob.Content != "" {
			t.Errorf("media parts = %+v, %+v (no query, no data)", img, blob)
		}
		if c.Params["max_tokens"] != int64(256) || c.Params["seed"] != int64(-7) || c.Params["choice.count"] != nil {
			t.Errorf("params = %v", c.Params)
		}
	})
	t.Run("stream with usage", func(t *testing.T) {
		c := get("openai_chat_stream_usage")
		if !c.Stream || text(c.Output[0]) != "The capital of France is Paris." || n(c.Usage.TotalTokens) != 31 {
			t.Errorf("call = %+v", c)
		}
	})
	t.Run("tool stream", func(t *testing.T) {
		c := get("openai_chat_tool_stream")
		out := c.Output[0].Parts
		if len(out) != 2 || out[0].Name != "get_weather" || string(out[0].Arguments.(json.RawMessage)) != `{"location":"Paris, France"}` || out[1].ID != "call_ABCDEFGH12345678" {
			t.Errorf("output = %+v", out)
		}
		if len(c.FinishReasons) != 1 || c.FinishReasons[0] != "tool_call" {
			t.Errorf("finish reasons = %v", c.FinishReasons)
		}
		if r := c.Input[2]; r.Role != "tool" || r.Parts[0].Type != "tool_call_response" || r.Parts[0].ID != "call_lyon1" {
			t.Errorf("tool message = %+v", r)
		}
	})
	t.Run("truncated stream", func(t *testing.T) {
		c := get("openai_chat_stream_truncated")
		if !strings.Contains(text(c.Output[0]), gapMarker) || n(c.Usage.OutputTokens) != 300 || c.FinishReasons[0] != "length" {
			t.Errorf("call = %+v", c)
		}
	})
	t.Run("responses", func(t *testing.T) {
		c := get("openai_responses")
		if len(c.System) != 1 || text(c.Output[0]) != "We open at 9:00 on weekdays and 10:00 on Saturdays." || n(c.Usage.ReasoningTokens) != 64 || c.FinishReasons[0] != "stop" {
			t.Errorf("call = %+v", c)
		}
	})
	t.Run("responses stream cut", func(t *testing.T) {
		c := get("openai_responses_stream_cut")
		if c.ResponseID == "" || !strings.HasSuffix(text(c.Output[0]), "[…]") || n(c.Usage.OutputTokens) != 400 {
			t.Errorf("call = %+v", c)
		}
	})
	t.Run("embeddings", func(t *testing.T) {
		c := get("openai_embeddings")
		if c.Operation != "embeddings" || c.EmbeddingInputs != 3 || c.EmbeddingDimensions != 64 || c.Input != nil || n(c.Usage.InputTokens) != 23 {
			t.Errorf("call = %+v", c)
		}
		c = get("openai_embeddings_truncated")
		if c.Provider != "ollama" || c.ResponseModel != "text-embedding-3-large" || n(c.Usage.InputTokens) != 61 {
			t.Errorf("truncated: call = %+v", c)
		}
	})
	t.Run("azure", func(t *testing.T) {
		c := get("azure_chat_gzip")
		if c.Provider != "azure.ai.openai" || c.RequestModel != "gpt-4o-prod" || len(c.Output) != 2 || c.Params["choice.count"] != int64(2) {
			t.Errorf("call = %+v", c)
		}
	})
	t.Run("error", func(t *testing.T) {
		c := get("openai_error_429")
		if !strings.HasPrefix(c.ErrorMessage, "Rate limit reached") || c.Output != nil {
			t.Errorf("call = %+v", c)
		}
	})
	t.Run("plain", func(t *testing.T) {
		c := get("openai_plain_models")
		if c.Operation != "" || c.Provider != "mistral_ai" {
			t.Errorf("call = %+v", c)
		}
	})
	t.Run("brotli", func(t *testing.T) {
		c := get("openai_brotli")
		if c.RequestModel != "deepseek-chat" || c.Output != nil || c.ResponseModel != "" {
			t.Errorf("call = %+v", c)
		}
	})
}

func TestGuessProvider(t *testing.T) {
	for _, tc := range []struct{ upstream, want string }{
		{"https://api.openai.com/v1", "openai"},
		{"https://contoso.openai.azure.com", "azure.ai.openai"},
		{"https://contoso.cognitiveservices.azure.com/openai", "azure.ai.openai"},
		{"https://contoso.services.ai.azure.com/models", "azure.ai.inference"},
		{"https://API.GROQ.COM/openai/v1", "groq"},
		{"https://api.mistral.ai/v1", "mistral_ai"},
		{"https://api.deepseek.com", "deepseek"},
		{"https://api.x.ai/v1", "x_ai"},
		{"https://api.perplexity.ai", "perplexity"},
		{"http://localhost:11434/v1", "ollama"},
		{"http://ollama.internal:8080/v1", "ollama"},
		{"http://vllm.internal:8000/v1", "openai"},
		{"http://litellm:4000", "openai"},
	} {
		u, err := url.Parse(tc.upstream)
		if err != nil {
			t.Fatal(err)
		}
		if got := guessProvider(u); got != tc.want {
			t.Errorf("guessProvider(%s) = %q, want %q", tc.upstream, got, tc.want)
		}
	}
	if got := guessProvider(nil); got != "openai" {
		t.Errorf("guessProvider(nil) = %q", got)
	}
}

func TestExtractOpenAIEndpoint(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         int
		deployment   string
	}{
		{"POST", "/v1/chat/completions", endpointChat, ""},
		{"POST", "/chat/completions", endpointChat, ""},
		{"post", "chat/completions/", endpointChat, ""},
		{"POST", "/openai/deployments/gpt-4o-prod/chat/completions", endpointChat, "gpt-4o-prod"},
		{"POST", "/openai/deployments/ada/embeddings", endpointEmbeddings, "ada"},
		{"POST", "/v1/completions", endpointCompletions, ""},
		{"POST", "/v1/responses", endpointResponses, ""},
		{"GET", "/v1/responses/resp_123", endpointNone, ""},
		{"GET", "/v1/chat/completions", endpointNone, ""},
		{"POST", "/v1/responses/resp_123/cancel", endpointNone, ""},
		{"POST", "/v1/audio/transcriptions", endpointNone, ""},
		{"POST", "/v1/mycompletions", endpointNone, ""},
	} {
		got, dep := openaiEndpoint(tc.method, tc.path)
		if got != tc.want || dep != tc.deployment {
			t.Errorf("openaiEndpoint(%s %s) = %d, %q; want %d, %q", tc.method, tc.path, got, dep, tc.want, tc.deployment)
		}
	}
}

func TestTailValue(t *testing.T) {
	for _, tc := range []struct{ tail, key, want string }{
		{`0.1,0.2]}],"model":"m-1","usage":{"prompt_tokens":8,"total_tokens":8}}`, "usage", `{"prompt_tokens":8,"total_tokens":8}`},
		{`0.1,0.2]}],"model":"m-1","usage":{"prompt_tokens":8}}`, "model", `"m-1"`},
		{`"content":"say \"usage\": no"}}],"usage" : {"input_tokens":3}}`, "usage", `{"input_tokens":3}`},
		{`"content":"say \"usage\": no"}}]}`, "usage", ``},
		{`nothing here`, "usage", ``},
	} {
		if got := tailValue([]byte(tc.tail), tc.key).Raw; got != tc.want {
			t.Errorf("tailValue(%q, %q) = %q, want %q", tc.tail, tc.key, got, tc.want)
		}
	}
}

// TestResponsesStreamFailed: a stream that fails after it began reports
// the failure in its events, with a 200 status.
func TestResponsesStreamFailed(t *testing.T) {
	stream := "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-4.1\",\"status\":\"in_progress\",\"output\":[]}}\n\n" +
		"event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-4.1\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"The model failed.\"},\"output\":[]}}\n\n"
	c := extractOpenAI(&Exchange{
		Method: "POST", Path: "/v1/responses", Status: 200,
		RequestBody:    []byte(`{"model":"gpt-4.1","input":"hi","stream":true}`),
		ResponseHeader: http.Header{"Content-Type": {"text/event-stream"}}, ResponseBody: []byte(stream),
	}, "openai")
	if c.ErrorMessage != "The model failed." || len(c.FinishReasons) != 1 || c.FinishReasons[0] != "failed" || c.ResponseID != "resp_1" {
		t.Errorf("call = %+v", c)
	}
}
