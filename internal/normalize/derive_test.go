package normalize

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

// derive runs DeriveSpan on a span with the given attributes.
func derive(attrs map[string]any) model.Derived {
	s := model.Span{
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
		StartTime:  time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC),
		StatusCode: model.StatusUnset,
		Attributes: attrs,
	}
	Deriver{}.DeriveSpan(&s, nil)
	return s.Derived
}

func TestCoercion(t *testing.T) {
	ints := []struct {
		in   any
		want int64
		ok   bool
	}{
		{int64(5), 5, true}, {5, 5, true}, {5.0, 5, true}, {5.5, 0, false}, {json.Number("7"), 7, true},
		{json.Number("7.0"), 7, true}, {json.Number("1e3"), 1000, true}, {"42", 42, true}, {" 42 ", 42, true},
		{"4.2", 0, false}, {"x", 0, false}, {true, 0, false}, {nil, 0, false}, {1e300, 0, false},
	}
	for _, tc := range ints {
		got, ok := asInt(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("asInt(%#v) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	floats := []struct {
		in   any
		want float64
		ok   bool
	}{
		{0.5, 0.5, true}, {int64(2), 2, true}, {json.Number("0.25"), 0.25, true}, {"1e-3", 0.001, true},
		{"NaN", 0, false}, {"inf", 0, false}, {"x", 0, false}, {[]any{}, 0, false},
	}
	for _, tc := range floats {
		got, ok := asFloat(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("asFloat(%#v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// A value and its JSON round trip format alike.
	strs := []struct {
		in   any
		want string
	}{
		{"s", "s"}, {int64(12), "12"}, {12.0, "12"}, {json.Number("12"), "12"}, {json.Number("12.0"), "12"},
		{1.5, "1.5"}, {json.Number("1.50"), "1.5"}, {float64(1 << 60), "1152921504606846976"},
		{int64(1 << 60), "1152921504606846976"}, {true, "true"}, {[]byte("hi"), "aGk="},
	}
	for _, tc := range strs {
		if got, ok := asString(tc.in); got != tc.want || !ok {
			t.Errorf("asString(%#v) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	if _, ok := asString(map[string]any{}); ok {
		t.Error("a map is not text")
	}
}

func TestCanonical(t *testing.T) {
	orig := map[string]any{"i": int64(3), "f": 2.5, "b": []byte{1}, "l": []any{int64(1), "x"}, "n": nil}
	var back map[string]any
	b, _ := json.Marshal(orig)
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(canonical(orig, 8), canonical(back, 8)); diff != "" {
		t.Errorf("canonical forms differ after a round trip:\n%s", diff)
	}
	if got := canonical([]any{[]any{[]any{"deep"}}}, 2); !cmp.Equal(got, []any{[]any{depthMarker}}) {
		t.Errorf("depth not bounded: %#v", got)
	}
}

func TestFlatten(t *testing.T) {
	attrs := map[string]any{
		"llm.input_messages.1.message.role":                                      "user",
		"llm.input_messages.0.message.role":                                      "system",
		"llm.input_messages.0.message.content":                                   "sys",
		"llm.input_messages.1.message.tool_calls.1.tool_call.function.name":      "second",
		"llm.input_messages.1.message.tool_calls.0.tool_call.function.name":      "first",
		"llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments": "{}",
		"llm.input_messages.999999999.message.content":                           "huge index, kept in order without allocating",
		"llm.input_messages.1234567890.message.content":                          "index too long: ignored",
		"llm.input_messages.x.message.content":                                   "not an index: ignored",
		"llm.input_messages_extra.0":                                             "other prefix",
		"llm.prompts.0":                                                          "bare value",
		"gen_ai.prompt.name":                                                     "not a list",
	}
	idx := buildFlatIndex(attrs)
	got := assembleList(idx["llm.input_messages"], maxValueDepth)
	want := []any{
		map[string]any{"message.role": "system", "message.content": "sys"},
		map[string]any{"message.role": "user", "message.tool_calls": []any{
			map[string]any{"tool_call.function.name": "first", "tool_call.function.arguments": "{}"},
			map[string]any{"tool_call.function.name": "second"},
		}},
		map[string]any{"message.content": "huge index, kept in order without allocating"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("assembled (-want +got):\n%s", diff)
	}
	if got := assembleList(idx["llm.prompts"], maxValueDepth); !cmp.Equal(got, []any{"bare value"}) {
		t.Errorf("bare value list = %#v", got)
	}
	if _, ok := idx["gen_ai.prompt"]; ok {
		t.Error("gen_ai.prompt.name taken for a list element")
	}
}

func TestProvider(t *testing.T) {
	cases := []struct {
		attrs map[string]any
		want  string
	}{
		{map[string]any{"gen_ai.provider.name": "azure.ai.openai", "gen_ai.system": "openai"}, "azure_openai"},
		{map[string]any{"gen_ai.system": "az.ai.inference"}, "azure_inference"},
		{map[string]any{"gen_ai.system": "xai"}, "xai"},
		{map[string]any{"gen_ai.system": "together_ai"}, "together"},
		{map[string]any{"llm.provider": "aws"}, "aws_bedrock"},
		{map[string]any{"llm.system": "amazon"}, "aws_bedrock"},
		{map[string]any{"llm.system": "MistralAI"}, "mistral"},
		{map[string]any{"gen_ai.system": "Some.New.Vendor"}, "some.new.vendor"},
		{map[string]any{"server.address": "my-resource.openai.azure.com"}, "azure_openai"},
		{map[string]any{"server.address": "bedrock-runtime.us-east-1.amazonaws.com"}, "aws_bedrock"},
		{map[string]any{"server.address": "evil-api.openai.com.example.org"}, ""},
		{map[string]any{"server.address": "localhost"}, ""},
		{nil, ""},
		// LangChain through OpenInference: ls_provider in the metadata JSON.
		{map[string]any{"metadata": `{"ls_provider": "openai", "ls_model_name": "gpt-4o-mini"}`}, "openai"},
		{map[string]any{"metadata": `{"ls_provider": "google_vertexai"}`, "llm.model_name": "gpt-4o"}, "google_vertex"},
		{map[string]any{"langfuse.observation.metadata.ls_provider": "azure"}, "azure_openai"},
		{map[string]any{"langfuse.observation.metadata": map[string]any{"ls_provider": "bedrock"}}, "aws_bedrock"},
		// An attribute naming the provider beats the metadata.
		{map[string]any{"llm.provider": "anthropic", "metadata": `{"ls_provider": "openai"}`}, "anthropic"},
		// The endpoint beats the model name.
		{map[string]any{"server.address": "x.openai.azure.com", "gen_ai.request.model": "gpt-4o"}, "azure_openai"},
		// The model name, the last hint.
		{map[string]any{"langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o-mini"}, "openai"},
		{map[string]any{"gen_ai.request.model": "o3-mini"}, "openai"},
		{map[string]any{"gen_ai.request.model": "o1"}, "openai"},
		{map[string]any{"gen_ai.request.model": "gpt-35-turbo"}, "azure_openai"},
		{map[string]any{"gen_ai.request.model": "claude-3-5-sonnet-20241022"}, "anthropic"},
		{map[string]any{"gen_ai.request.model": "mistral-large-latest"}, "mistral"},
		{map[string]any{"gen_ai.request.model": "olmo-2"}, ""},
		{map[string]any{"gen_ai.request.model": "llama3.1"}, ""},
	}
	for _, tc := range cases {
		if got := derive(tc.attrs).Provider; got != tc.want {
			t.Errorf("provider(%v) = %q, want %q", tc.attrs, got, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]any
		want  model.Usage
	}{
		{"none", map[string]any{"gen_ai.operation.name": "chat"}, model.Usage{}},
		{"zero is known", map[string]any{"gen_ai.usage.output_tokens": int64(0)}, model.Usage{Known: true}},
		{"new name wins, never added", map[string]any{
			"gen_ai.usage.input_tokens": int64(10), "gen_ai.usage.prompt_tokens": int64(99), "llm.token_count.prompt": int64(77),
		}, model.Usage{Known: true, InputTokens: 10, TotalTokens: 10}},
		{"given total wins", map[string]any{
			"llm.token_count.prompt": int64(10), "llm.token_count.completion": int64(5), "llm.token_count.total": int64(16),
		}, model.Usage{Known: true, InputTokens: 10, OutputTokens: 5, TotalTokens: 16}},
		{"negative and garbage ignored", map[string]any{
			"gen_ai.usage.input_tokens": int64(-3), "gen_ai.usage.prompt_tokens": "12", "gen_ai.usage.output_tokens": "many",
		}, model.Usage{Known: true, InputTokens: 12, TotalTokens: 12}},
		{"langfuse usage_details: input excludes cache", map[string]any{
			"langfuse.observation.usage_details": `{"input": 100, "input_cached_tokens": 400, "cache_creation_input_tokens": 20, "output": 50, "output_reasoning_tokens": 30}`,
		}, model.Usage{Known: true, InputTokens: 520, OutputTokens: 80, TotalTokens: 600, CacheReadTokens: 400, CacheWriteTokens: 20, ReasoningTokens: 30}},
		{"usage_details as a map, per-field fallback", map[string]any{
			"gen_ai.usage.input_tokens":          int64(7),
			"langfuse.observation.usage_details": map[string]any{"input": int64(100), "output": int64(2), "total": int64(999)},
		}, model.Usage{Known: true, InputTokens: 7, OutputTokens: 2, TotalTokens: 999}},
		{"cost reported", map[string]any{
			"langfuse.observation.cost_details": `{"input": 0.5, "output": 0.25}`, "llm.cost.total": 9.0,
		}, model.Usage{CostUSD: 0.75, CostKnown: true}},
		{"cost fallback", map[string]any{"llm.cost.total": "0.125"}, model.Usage{CostUSD: 0.125, CostKnown: true}},
		{"promptflow __computed__ is never read", map[string]any{
			"span_type": "Flow", "__computed__.cumulative_token_count.total": int64(1000),
		}, model.Usage{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, derive(tc.attrs).Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSpanKind(t *testing.T) {
	cases := []struct {
		attrs map[string]any
		want  model.SpanKind
	}{
		{map[string]any{"langfuse.observation.type": "generation", "openinference.span.kind": "CHAIN"}, model.KindLLM},
		{map[string]any{"langfuse.observation.type": "novel", "openinference.span.kind": "RERANKER"}, model.KindReranker},
		{map[string]any{"gen_ai.operation.name": "invoke_workflow"}, model.KindChain},
		{map[string]any{"gen_ai.operation.name": "create_agent"}, model.KindAgent},
		{map[string]any{"traceloop.span.kind": "task"}, model.KindChain},
		{map[string]any{"llm.request.type": "rerank"}, model.KindReranker},
		{map[string]any{"span_type": "Embedding"}, model.KindEmbedding},
		{map[string]any{"gen_ai.tool.name": "calc"}, model.KindTool},
		{map[string]any{"embedding.model_name": "e5"}, model.KindLLM},
		{map[string]any{"http.route": "/"}, model.KindChain},
	}
	for _, tc := range cases {
		if got := derive(tc.attrs).Kind; got != tc.want {
			t.Errorf("kind(%v) = %q, want %q", tc.attrs, got, tc.want)
		}
	}
}

func TestQuestionAnswer(t *testing.T) {
	cases := []struct {
		name          string
		attrs         map[string]any
		question      string
		answer        string
		input, output string
	}{
		{
			name:     "promptflow keys, whole JSON kept",
			attrs:    map[string]any{"span_type": "Flow", "inputs": `{"chat_input": "hi", "chat_history": []}`, "output": `{"chat_output": "hello"}`},
			question: "hi", answer: "hello",
			input: `{"chat_input": "hi", "chat_history": []}`, output: `{"chat_output": "hello"}`,
		},
		{
			name:  "promptflow names on other spans are not read",
			attrs: map[string]any{"inputs": `{"question": "q"}`, "output": `{"answer": "a"}`},
		},
		{
			name:     "unrecognized JSON object is the question as sent, but no answer",
			attrs:    map[string]any{"input.value": `{"a": 1, "b": 2}`, "output.value": `[1, 2]`},
			question: `{"a": 1, "b": 2}`, input: `{"a": 1, "b": 2}`, output: `[1, 2]`,
		},
		{
			name:   "an output with only a context has no answer",
			attrs:  map[string]any{"span_type": "Flow", "output": `{"context": "Paris is in France."}`},
			output: `{"context": "Paris is in France."}`,
		},
		{
			name: "an output of documents and sources has no answer",
			attrs: map[string]any{"output.value": `{"documents": ["d1"], "sources": ["s1"]}`,
				"input.value": `{"chat_history": "earlier turns"}`},
			// The question falls back to the input as sent; the answer has
			// no such fallback.
			question: `{"chat_history": "earlier turns"}`,
			input:    `{"chat_history": "earlier turns"}`, output: `{"documents": ["d1"], "sources": ["s1"]}`,
		},
		{
			name:   "an object with one unknown key holding text answers with it",
			attrs:  map[string]any{"output.value": `{"final_reply": "Paris."}`},
			answer: "Paris.", output: `{"final_reply": "Paris."}`,
		},
		{
			name:     "traceloop args",
			attrs:    map[string]any{"traceloop.entity.input": `{"args": ["first arg"], "kwargs": {"k": 1}}`},
			question: "first arg", input: `{"args": ["first arg"], "kwargs": {"k": 1}}`,
		},
		{
			name:     "structured values serialized for Input/Output",
			attrs:    map[string]any{"langfuse.observation.input": map[string]any{"query": "q", "n": int64(2)}},
			question: "q", input: `{"n":2,"query":"q"}`,
		},
		{
			name:  "an empty output is no answer, an empty input no question",
			attrs: map[string]any{"span_type": "Flow", "inputs": `{ }`, "output": `{}`},
			input: `{ }`, output: `{}`,
		},
		{
			name:  "empty lists are no question or answer either",
			attrs: map[string]any{"input.value": `[]`, "output.value": ` [ ] `},
			input: `[]`, output: ` [ ] `,
		},
		{
			name:   "a JSON string",
			attrs:  map[string]any{"output.value": `"quoted answer"`},
			answer: "quoted answer", output: `"quoted answer"`,
		},
		{
			name: "a tool call has no answer",
			attrs: map[string]any{
				"gen_ai.output.messages": `[{"role":"assistant","parts":[{"type":"tool_call","name":"f"}]}]`,
			},
		},
		{
			name:     "retrieval query",
			attrs:    map[string]any{"gen_ai.retrieval.query.text": "what"},
			question: "what",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := derive(tc.attrs)
			got := [4]string{d.Question, d.Answer, d.Input, d.Output}
			want := [4]string{tc.question, tc.answer, tc.input, tc.output}
			if got != want {
				t.Errorf("question, answer, input, output = %q, want %q", got, want)
			}
		})
	}
}

func TestMessageShapes(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]any
		want  []model.Message
	}{
		{
			name: "OpenAI content blocks and tool message",
			attrs: map[string]any{"gen_ai.prompt": `[
				{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
				{"role": "tool", "tool_call_id": "c1", "content": "42"}]`},
			want: []model.Message{
				{Role: "user", Parts: []model.Part{{Type: "text", Content: "look"}, {Type: "uri", URI: "https://x/y.png"}}},
				{Role: "tool", Parts: []model.Part{{Type: "tool_call_response", ID: "c1", Response: "42"}}},
			},
		},
		{
			name: "Anthropic-style blocks in an indexed content string",
			attrs: map[string]any{
				"gen_ai.prompt.0.role":    "user",
				"gen_ai.prompt.0.content": `[{"type": "text", "text": "hi"}, {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]`,
			},
			want: []model.Message{{Role: "user", Parts: []model.Part{
				{Type: "text", Content: "hi"}, {Type: "tool_call_response", ID: "t1", Response: "ok"},
			}}},
		},
		{
			name:  "LangChain roles",
			attrs: map[string]any{"gen_ai.input.messages": `[{"role": "human", "content": "hey"}]`},
			want:  []model.Message{{Role: "user", Parts: []model.Part{{Type: "text", Content: "hey"}}}},
		},
		{
			name:  "truncated JSON yields nothing",
			attrs: map[string]any{"gen_ai.input.messages": `[{"role": "user", "parts": [{"type": "text", "content": "cut`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, derive(tc.attrs).InputMessages); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLangfuseGeneration: a generation's input {"messages": [...]} is its
// chat, and a plain-text output is the assistant's message.
func TestLangfuseGeneration(t *testing.T) {
	text := func(role, s string) model.Message {
		return model.Message{Role: role, Parts: []model.Part{{Type: "text", Content: s}}}
	}
	d := derive(map[string]any{
		"langfuse.observation.type":       "generation",
		"langfuse.observation.model.name": "gpt-4o-mini",
		"langfuse.observation.input": `{"messages": [{"role": "system", "content": "You are a geography assistant."},
			{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."},
			{"role": "user", "content": "And of Germany?"}]}`,
		"langfuse.observation.output":        "Berlin.",
		"langfuse.observation.usage_details": `{"input": 25, "output": 7, "total": 32}`,
	})
	want := model.Derived{
		SystemPrompt: "You are a geography assistant.",
		InputMessages: []model.Message{text("system", "You are a geography assistant."),
			text("user", "What is the capital of France?"), text("assistant", "Paris."), text("user", "And of Germany?")},
		OutputMessages: []model.Message{text("assistant", "Berlin.")},
		Question:       "And of Germany?",
		Answer:         "Berlin.",
		Provider:       "openai",
	}
	got := model.Derived{SystemPrompt: d.SystemPrompt, InputMessages: d.InputMessages, OutputMessages: d.OutputMessages,
		Question: d.Question, Answer: d.Answer, Provider: d.Provider}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("generation (-want +got):\n%s", diff)
	}
	if u := d.Usage; u.InputTokens != 25 || u.OutputTokens != 7 || u.TotalTokens != 32 {
		t.Errorf("usage = %+v, want 25 in, 7 out, 32 total", u)
	}

	// A span that is not a model call keeps a plain-text output as its
	// answer but has no messages.
	d = derive(map[string]any{"langfuse.observation.type": "span", "langfuse.observation.output": "done"})
	if d.Answer != "done" || d.OutputMessages != nil {
		t.Errorf("span: answer %q, messages %v; want done and none", d.Answer, d.OutputMessages)
	}
}

func TestTTFT(t *testing.T) {
	cases := []struct {
		attrs map[string]any
		want  time.Duration
	}{
		{map[string]any{"gen_ai.response.time_to_first_chunk": 0.5}, 500 * time.Millisecond},
		{map[string]any{"gen_ai.response.time_to_first_chunk": "0.5"}, 500 * time.Millisecond},
		{map[string]any{"langfuse.observation.completion_start_time": "2025-01-15T10:00:01.25Z"}, 1250 * time.Millisecond},
		{map[string]any{"langfuse.observation.completion_start_time": "2025-01-15T09:00:00Z"}, 0},
		{map[string]any{"langfuse.observation.completion_start_time": "yesterday"}, 0},
		{map[string]any{"gen_ai.response.time_to_first_chunk": 1e300}, 0},
	}
	for _, tc := range cases {
		if got := derive(tc.attrs).TTFT; got != tc.want {
			t.Errorf("ttft(%v) = %v, want %v", tc.attrs, got, tc.want)
		}
	}
}

func TestDecodeJSONExamples(t *testing.T) {
	cases := []struct {
		in   string
		want any
		ok   bool
	}{
		{`{"a":[1,"x",true,null]}`, map[string]any{"a": []any{1.0, "x", true, nil}}, true},
		{`"esc\"aped \u00e9 \ud83d\ude00"`, "esc\"aped é 😀", true},
		{`"\ud800x"`, "\uFFFDx", true},
		{"\"\xff\"", "\uFFFD", true},
		{` [ ] `, []any{}, true},
		{`{"a":1,}`, nil, false},
		{`1e999`, nil, false},
		{`"unterminated`, nil, false},
		{`[1 2]`, nil, false},
	}
	for _, tc := range cases {
		got, ok := decodeJSON(tc.in)
		if ok != tc.ok || (ok && !cmp.Equal(tc.want, got)) {
			t.Errorf("decodeJSON(%q) = %#v, %v; want %#v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestModelAlias(t *testing.T) {
	for in, want := range map[string]string{
		"gpt-4o-mini-2024-07-18":          "gpt-4o-mini",
		"gpt-4o-2024-08-06":               "gpt-4o",
		"o1-2024-12-17":                   "o1",
		"gpt-4o-audio-preview-2024-12-17": "gpt-4o-audio-preview",
		"claude-3-5-sonnet-20241022":      "claude-3-5-sonnet",
		"claude-3-5-sonnet-v2@20241022":   "claude-3-5-sonnet-v2",
		"gpt-3.5-turbo-0125":              "gpt-3.5-turbo",
		"gpt-4-32k-0613":                  "gpt-4-32k",
		"gpt-4o-mini":                     "gpt-4o-mini",
		"gemini-1.5-pro-002":              "gemini-1.5-pro-002",
		"mistral-large-2411":              "mistral-large-2411", // YYMM: not a month and day
		"claude-3-5-sonnet-latest":        "claude-3-5-sonnet-latest",
		"text-embedding-3-small":          "text-embedding-3-small",
		"model-2024-13-01":                "model-2024-13-01",
		"2024-07-18":                      "2024-07-18",
		"-0125":                           "-0125",
		"":                                "",
	} {
		if got := ModelAlias(in); got != want {
			t.Errorf("ModelAlias(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestModelParams(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]any
		want  map[string]any
	}{
		{"none", map[string]any{"gen_ai.request.model": "gpt-4o"}, nil},
		{"OTel request attributes", map[string]any{
			"gen_ai.request.model": "gpt-4o", "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": int64(256),
			"gen_ai.request.stop_sequences": []any{"END"},
		}, map[string]any{"temperature": json.Number("0.2"), "max_tokens": json.Number("256"), "stop_sequences": []any{"END"}}},
		{"OpenInference invocation parameters", map[string]any{
			"openinference.span.kind":   "LLM",
			"llm.invocation_parameters": `{"model": "gpt-4o-mini", "temperature": 0}`, "gen_ai.request.top_p": 1.0,
		}, map[string]any{"model": "gpt-4o-mini", "temperature": json.Number("0")}},
		{"Langfuse model parameters", map[string]any{
			"langfuse.observation.type":             "generation",
			"langfuse.observation.model.parameters": `{"temperature": 0.2, "max_tokens": "256"}`,
		}, map[string]any{"temperature": json.Number("0.2"), "max_tokens": "256"}},
		{"not an object", map[string]any{"openinference.span.kind": "LLM", "llm.invocation_parameters": `temperature=0`}, nil},
		{"not a model call", map[string]any{"openinference.span.kind": "CHAIN", "llm.invocation_parameters": `{"temperature": 0}`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, derive(tc.attrs).ModelParams); diff != "" {
				t.Errorf("model params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContext(t *testing.T) {
	score := func(f float64) *float64 { return &f }
	cases := []struct {
		name  string
		attrs map[string]any
		want  []model.Document
	}{
		{
			name:  "datastore tool result",
			attrs: map[string]any{"gen_ai.tool.type": "datastore", "gen_ai.tool.call.result": `{"results": [{"text": "row 1"}, "row 2"]}`},
			want:  []model.Document{{Content: "row 1"}, {Content: "row 2"}},
		},
		{
			name:  "a function tool's result is not context",
			attrs: map[string]any{"gen_ai.tool.type": "function", "gen_ai.tool.call.result": `[{"text": "x"}]`},
		},
		{
			name:  "retrieval documents with ids and scores only",
			attrs: map[string]any{"gen_ai.retrieval.documents": []any{map[string]any{"id": "d1", "score": 0.5}}},
			want:  []model.Document{{ID: "d1", Score: score(0.5)}},
		},
		{
			name:  "retriever output as plain text",
			attrs: map[string]any{"openinference.span.kind": "RETRIEVER", "output.value": "one passage"},
			want:  []model.Document{{Content: "one passage"}},
		},
		{
			name:  "other spans' outputs are not context",
			attrs: map[string]any{"openinference.span.kind": "CHAIN", "output.value": `[{"content": "x"}]`},
		},
		{
			name: "OpenInference documents as an AnyValue list",
			attrs: map[string]any{"retrieval.documents": []any{
				map[string]any{"document": map[string]any{"content": "nested", "score": int64(1)}},
			}},
			want: []model.Document{{Content: "nested", Score: score(1)}},
		},
		{
			name: "OpenInference metadata as a JSON string gives the id and source",
			attrs: map[string]any{
				"openinference.span.kind":                 "RETRIEVER",
				"retrieval.documents.0.document.content":  "Paris is the capital of France.",
				"retrieval.documents.0.document.metadata": `{"id": "doc-paris-1", "source": "https://example.com/wiki/paris", "page": 3}`,
				"retrieval.documents.1.document.content":  "Berlin.",
				"retrieval.documents.1.document.id":       "own-id",
				"retrieval.documents.1.document.metadata": `{"id": "metadata-id", "url": "file:///kb/berlin.md"}`,
				"retrieval.documents.2.document.content":  "No metadata.",
				"retrieval.documents.2.document.metadata": `not json`,
			},
			want: []model.Document{
				{ID: "doc-paris-1", Content: "Paris is the capital of France.", Source: "https://example.com/wiki/paris",
					Metadata: map[string]any{"id": "doc-paris-1", "source": "https://example.com/wiki/paris", "page": json.Number("3")}},
				{ID: "own-id", Content: "Berlin.", Source: "file:///kb/berlin.md",
					Metadata: map[string]any{"id": "metadata-id", "url": "file:///kb/berlin.md"}},
				{Content: "No metadata.", Metadata: "not json"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, derive(tc.attrs).Context); diff != "" {
				t.Errorf("context (-want +got):\n%s", diff)
			}
		})
	}
}

// fixedPrices prices "priced-model" at $1 per million input tokens and $2 per
// million output tokens.
type fixedPrices struct{}

func (fixedPrices) Cost(m string, u model.Usage) (float64, bool) {
	if m != "priced-model" {
		return 0, false
	}
	return (float64(u.InputTokens) + 2*float64(u.OutputTokens)) / 1e6, true
}

func TestDerivePricing(t *testing.T) {
	llm := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": int64(1000),
		"gen_ai.usage.output_tokens": int64(500)}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range llm {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name      string
		attrs     map[string]any
		wantCost  float64
		wantKnown bool
	}{
		{"priced model call", with(map[string]any{"gen_ai.request.model": "priced-model"}), 0.002, true},
		{"unknown model has no cost", with(map[string]any{"gen_ai.request.model": "mystery"}), 0, false},
		{"reported cost wins over the table", with(map[string]any{"gen_ai.request.model": "priced-model", "llm.cost.total": 0.5}), 0.5, true},
		{"not a model call is not priced", map[string]any{"gen_ai.request.model": "priced-model", "span_type": "Tool",
			"gen_ai.usage.input_tokens": int64(10)}, 0, false},
		{"no tokens, nothing to price", map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "priced-model"}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := &model.Span{TraceID: "t", SpanID: "s", Name: "span", Attributes: tc.attrs}
			Deriver{Prices: fixedPrices{}}.DeriveSpan(sp, nil)
			u := sp.Derived.Usage
			if u.CostKnown != tc.wantKnown || math.Abs(u.CostUSD-tc.wantCost) > 1e-12 {
				t.Errorf("cost = %v (known %v), want %v (known %v); kind %s", u.CostUSD, u.CostKnown, tc.wantCost, tc.wantKnown, sp.Derived.Kind)
			}
		})
	}
}
