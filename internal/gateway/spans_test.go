package gateway

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func i64(n int64) *int64 { return &n }

// spanCases are representative exchanges with the calls their kinds read
// out of them (given here, so that the spans are tested apart from the
// readers).
func spanCases() []struct {
	name string
	o    Options
	x    Exchange
	c    Call
} {
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tid := [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	openai := Options{Name: "openai", Kind: KindOpenAI, Upstream: mustURL("https://api.openai.com/v1"),
		Service: "chat-app", Deployment: "prod", RecordContent: true}
	chat := Call{
		Operation: "chat", Provider: "openai", RequestModel: "gpt-4o-mini", ResponseModel: "gpt-4o-mini-2024-07-18",
		ResponseID: "chatcmpl-123", Stream: true,
		Params: map[string]any{"temperature": 0.2, "max_tokens": int64(200), "stop_sequences": []string{"\n\n"}},
		Input: []Message{
			{Role: "system", Parts: []Part{{Type: "text", Content: "Answer briefly."}}},
			{Role: "user", Parts: []Part{{Type: "text", Content: "What is <b>2+2</b>?"}}},
		},
		Output:        []Message{{Role: "assistant", Parts: []Part{{Type: "text", Content: "4"}}, FinishReason: "stop"}},
		FinishReasons: []string{"stop"},
		Usage:         Usage{InputTokens: i64(20), OutputTokens: i64(1), CacheReadTokens: i64(0)},
	}
	ollama := chat
	ollama.Provider = "ollama"
	sse := http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}
	score := 0.83
	return []struct {
		name string
		o    Options
		x    Exchange
		c    Call
	}{
		{"openai_stream_traced", openai, Exchange{
			Gateway: "openai", Method: "POST", Path: "/chat/completions", Status: 200, ResponseHeader: sse,
			Start: start, FirstByte: start.Add(250 * time.Millisecond), End: start.Add(time.Second),
			TraceID: tid, ParentSpanID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
			ServerSpanID: [8]byte{0x10, 1}, ClientSpanID: [8]byte{0x20, 2}, TraceState: "vendor=a",
		}, chat},
		{"openai_rate_limited", openai, Exchange{
			Gateway: "openai", Method: "POST", Path: "/chat/completions", Status: 429,
			Start: start, FirstByte: start.Add(40 * time.Millisecond), End: start.Add(41 * time.Millisecond),
			TraceID: tid, ServerSpanID: [8]byte{0x10, 1}, ClientSpanID: [8]byte{0x20, 2},
		}, Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", ErrorMessage: "Rate limit reached for gpt-4o"}},
		{"openai_timeout", openai, Exchange{
			Gateway: "openai", Method: "POST", Path: "/embeddings", Status: 504,
			Start: start, End: start.Add(10 * time.Minute),
			Err: errors.New("no answer within 10m0s: context deadline exceeded"), ErrorType: "timeout",
			TraceID: tid, ServerSpanID: [8]byte{0x10, 1}, ClientSpanID: [8]byte{0x20, 2},
		}, Call{Operation: "embeddings", Provider: "openai", RequestModel: "text-embedding-3-small",
			ErrorMessage: "flowwatch gateway: upstream api.openai.com did not answer within 10m0s"}},
		{"openai_plain_http", openai, Exchange{
			Gateway: "openai", Method: "GET", Path: "/models", Status: 200,
			Start: start, FirstByte: start.Add(time.Millisecond), End: start.Add(2 * time.Millisecond),
			TraceID: tid, ServerSpanID: [8]byte{0x10, 1}, ClientSpanID: [8]byte{0x20, 2},
		}, Call{Provider: "openai"}},
		{"openai_no_content", Options{Name: "openai", Kind: KindOpenAI, Upstream: mustURL("http://localhost:11434/v1"),
			Provider: "ollama"}, Exchange{
			Gateway: "openai", Method: "POST", Path: "/chat/completions", Status: 200, ResponseHeader: sse,
			Start: start, FirstByte: start.Add(100 * time.Millisecond), End: start.Add(time.Second),
			TraceID: tid, ServerSpanID: [8]byte{0x10, 1}, ClientSpanID: [8]byte{0x20, 2},
		}, ollama},
		{"json_rag", Options{Name: "rag", Kind: KindJSON, Upstream: mustURL("http://rag.internal:8080"),
			Service: "rag-1234-endpoint", Deployment: "blue", RecordContent: true,
			Mapping: Mapping{Question: "inputs.question", Answer: "outputs.answer"}}, Exchange{
			Gateway: "rag", Method: "POST", Path: "/score", Status: 200,
			Start: start, FirstByte: start.Add(900 * time.Millisecond), End: start.Add(time.Second),
			TraceID: tid, ServerSpanID: [8]byte{0x10, 1}, ClientSpanID: [8]byte{0x20, 2},
		}, Call{Question: "Where is the office?", Answer: "In Lyon.", ResponseModel: "gpt-4",
			Usage:     Usage{InputTokens: i64(300), OutputTokens: i64(12), TotalTokens: i64(312)},
			Documents: []Document{{ID: "doc-1", Content: "The office is in Lyon.", Score: &score}}}},
		{"json_caller_gone", Options{Name: "rag", Kind: KindJSON, Upstream: mustURL("http://rag.internal:8080"),
			RecordContent: true, Mapping: Mapping{Question: "question"}}, Exchange{
			Gateway: "rag", Method: "POST", Path: "/score",
			Start: start, End: start.Add(3 * time.Second),
			Err:       errors.New("caller went away before the upstream answered: context canceled"),
			ErrorType: "canceled",
			TraceID:   tid, ServerSpanID: [8]byte{0x10, 1}, ClientSpanID: [8]byte{0x20, 2},
		}, Call{Question: "Where is the office?"}},
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// testSource is the recording side of a gateway with options o, defaults
// applied as New applies them.
func testSource(t testing.TB, o Options) *source {
	t.Helper()
	r, err := NewRecorder(RecorderOptions{Consumer: &sink{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Recorder = r
	g, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g.src
}

// The spans of representative exchanges, against golden files.
func TestSpansGolden(t *testing.T) {
	for _, tc := range spanCases() {
		t.Run(tc.name, func(t *testing.T) {
			s := testSource(t, tc.o)
			td := ptrace.NewTraces()
			appendSpans(newScope(td.ResourceSpans().AppendEmpty(), s).Spans(), s, &tc.x, &tc.c)
			got := dumpTraces(td)
			path := filepath.Join("testdata", "spans", tc.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("spans differ from %s (-want +got):\n%s", path, d)
			}
		})
	}
}

// dumpTraces writes traces one line per span and per attribute, in the
// order they were set: shorter to read and to diff than OTLP JSON.
func dumpTraces(td ptrace.Traces) string {
	var b strings.Builder
	for _, rs := range td.ResourceSpans().All() {
		b.WriteString("resource")
		for k, v := range rs.Resource().Attributes().All() {
			fmt.Fprintf(&b, " %s=%s", k, v.AsString())
		}
		b.WriteString("\n")
		for _, ss := range rs.ScopeSpans().All() {
			fmt.Fprintf(&b, "scope %s\n", ss.Scope().Name())
			for _, sp := range ss.Spans().All() {
				start := sp.StartTimestamp().AsTime()
				fmt.Fprintf(&b, "\n%s %q trace=%s span=%s parent=%s state=%q\n", sp.Kind(), sp.Name(),
					sp.TraceID(), sp.SpanID(), sp.ParentSpanID(), sp.TraceState().AsRaw())
				fmt.Fprintf(&b, "  time %s +%v status %s %q\n", start.Format(time.RFC3339Nano),
					sp.EndTimestamp().AsTime().Sub(start), sp.Status().Code(), sp.Status().Message())
				for k, v := range sp.Attributes().All() {
					fmt.Fprintf(&b, "  %s (%s) = %s\n", k, v.Type(), v.AsString())
				}
			}
		}
	}
	return b.String()
}

// The spans read back through the real normalizer as what they are: a
// request whose root is the server span, an LLM call with its model,
// tokens, messages and time to first chunk, errors as errors. This is the
// contract with everything downstream (metrics, monitors, the dashboard).
func TestSpansNormalize(t *testing.T) {
	byName := map[string]func(t *testing.T, spans map[string]model.Span){
		"openai_stream_traced": func(t *testing.T, spans map[string]model.Span) {
			root, llm := spans["server"], spans["client"]
			if root.ParentSpanID != "0102030405060708" || root.Derived.Service != "chat-app" || root.Derived.Deployment != "prod" {
				t.Errorf("root = parent %q service %q deployment %q", root.ParentSpanID, root.Derived.Service, root.Derived.Deployment)
			}
			d := llm.Derived
			want := model.Derived{Kind: model.KindLLM, Operation: "chat", Model: "gpt-4o-mini-2024-07-18",
				RequestModel: "gpt-4o-mini", ResponseModel: "gpt-4o-mini-2024-07-18", Question: "What is <b>2+2</b>?",
				Answer: "4", TTFT: 250 * time.Millisecond}
			got := model.Derived{Kind: d.Kind, Operation: d.Operation, Model: d.Model, RequestModel: d.RequestModel,
				ResponseModel: d.ResponseModel, Question: d.Question, Answer: d.Answer, TTFT: d.TTFT}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("llm span (-want +got):\n%s", diff)
			}
			if d.Usage.InputTokens != 20 || d.Usage.OutputTokens != 1 || d.Provider != "openai" || d.Status == model.StatusError {
				t.Errorf("llm span usage %+v provider %q status %q", d.Usage, d.Provider, d.Status)
			}
			if fmt.Sprint(d.ModelParams["temperature"]) != "0.2" || d.ModelParams["stream"] != true {
				t.Errorf("model params = %v; want temperature 0.2", d.ModelParams)
			}
		},
		"openai_rate_limited": func(t *testing.T, spans map[string]model.Span) {
			for _, k := range []string{"server", "client"} {
				d := spans[k].Derived
				if d.Status != model.StatusError || d.ErrorType != "429" || d.ErrorMessage != "Rate limit reached for gpt-4o" {
					t.Errorf("%s span: status %q type %q message %q", k, d.Status, d.ErrorType, d.ErrorMessage)
				}
			}
		},
		"openai_timeout": func(t *testing.T, spans map[string]model.Span) {
			d := spans["client"].Derived
			if d.Kind != model.KindEmbedding || d.Status != model.StatusError || d.ErrorType != "timeout" {
				t.Errorf("client span: kind %q status %q type %q", d.Kind, d.Status, d.ErrorType)
			}
		},
		"openai_no_content": func(t *testing.T, spans map[string]model.Span) {
			d := spans["client"].Derived
			if d.Question != "" || d.Answer != "" || len(d.InputMessages) != 0 || d.Usage.InputTokens != 20 || d.Provider != "ollama" {
				t.Errorf("client span without content: question %q answer %q messages %v tokens %d provider %q",
					d.Question, d.Answer, d.InputMessages, d.Usage.InputTokens, d.Provider)
			}
		},
		"json_rag": func(t *testing.T, spans map[string]model.Span) {
			root := spans["server"].Derived
			if root.Question != "Where is the office?" || root.Answer != "In Lyon." {
				t.Errorf("root question %q answer %q", root.Question, root.Answer)
			}
			llm := spans["client"].Derived
			if llm.Kind != model.KindLLM || llm.Model != "gpt-4" || llm.Usage.TotalTokens != 312 {
				t.Errorf("llm span kind %q model %q usage %+v", llm.Kind, llm.Model, llm.Usage)
			}
			ret := spans["retrieval"].Derived
			if ret.Kind != model.KindRetriever || len(ret.Context) != 1 || ret.Context[0].Content != "The office is in Lyon." {
				t.Errorf("retriever span kind %q context %+v", ret.Kind, ret.Context)
			}
		},
	}
	for _, tc := range spanCases() {
		check := byName[tc.name]
		if check == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s := testSource(t, tc.o)
			td := ptrace.NewTraces()
			appendSpans(newScope(td.ResourceSpans().AppendEmpty(), s).Spans(), s, &tc.x, &tc.c)
			got, rep := normalize.Deriver{}.Traces(td, normalize.Limits{})
			if rep.Rejected != 0 {
				t.Fatalf("normalizer rejected %d spans: %s", rep.Rejected, rep.Message())
			}
			spans := map[string]model.Span{}
			for _, sp := range got {
				switch sp.OTelKind {
				case "server":
					spans["server"] = sp
				case "client":
					spans["client"] = sp
				default:
					spans[sp.Name] = sp
				}
			}
			check(t, spans)
		})
	}
}

// A retried batch writes the same spans: derived ids do not change.
func TestDerivedSpanIDStable(t *testing.T) {
	x := &Exchange{TraceID: [16]byte{1}, ServerSpanID: [8]byte{2}, ClientSpanID: [8]byte{3}}
	a, b := derivedSpanID(x, "retrieval"), derivedSpanID(x, "retrieval")
	if a != b || a == x.ServerSpanID || a == x.ClientSpanID || a == ([8]byte{}) {
		t.Errorf("derived ids %x, %x; want equal and distinct from %x, %x", a, b, x.ServerSpanID, x.ClientSpanID)
	}
}
