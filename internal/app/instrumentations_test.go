package app_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/app"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The corpus: what real instrumentation libraries sent, captured by
// scripts/instrumentations/capture.sh (JavaScript libraries) or written
// from a library's documented attributes (python-*), one directory per
// library with a requests.json manifest.
const (
	corpusDir = "testdata/instrumentations"
	goldenDir = "testdata/instrumentations.golden"
)

type corpusRequest struct {
	File            string `json:"file"`
	Scenario        string `json:"scenario"`
	Transport       string `json:"transport"` // http/protobuf, http/json, grpc
	Signal          string `json:"signal"`    // traces, logs
	Path            string `json:"path"`
	ContentType     string `json:"content_type"`
	ContentEncoding string `json:"content_encoding"`

	body []byte
}

type corpusLibrary struct {
	Dir      string
	Library  string            `json:"library"`
	Packages map[string]string `json:"packages"`
	Requests []corpusRequest   `json:"requests"`
}

func loadCorpus(t *testing.T) []corpusLibrary {
	t.Helper()
	manifests, err := filepath.Glob(filepath.Join(corpusDir, "*", "requests.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(manifests) == 0 {
		t.Fatalf("no %s/*/requests.json", corpusDir)
	}
	var libs []corpusLibrary
	for _, m := range manifests {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		var lib corpusLibrary
		if err := json.Unmarshal(b, &lib); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		lib.Dir = filepath.Base(filepath.Dir(m))
		if lib.Library == "" || len(lib.Packages) == 0 || len(lib.Requests) == 0 {
			t.Fatalf("%s: a manifest names its library, the package versions and the requests", m)
		}
		for i := range lib.Requests {
			r := &lib.Requests[i]
			if r.body, err = os.ReadFile(filepath.Join(filepath.Dir(m), r.File)); err != nil {
				t.Fatal(err)
			}
		}
		libs = append(libs, lib)
	}
	return libs
}

// protobuf returns the request as an OTLP protobuf export request, whatever
// it was captured as.
func (r *corpusRequest) protobuf(t *testing.T) []byte {
	t.Helper()
	if r.ContentEncoding != "" {
		t.Fatalf("%s: replaying %s bodies over another transport is not supported", r.File, r.ContentEncoding)
	}
	if r.Transport != "http/json" {
		return r.body
	}
	var out []byte
	var err error
	switch r.Signal {
	case "traces":
		req := ptraceotlp.NewExportRequest()
		if err = req.UnmarshalJSON(r.body); err == nil {
			out, err = req.MarshalProto()
		}
	case "logs":
		req := plogotlp.NewExportRequest()
		if err = req.UnmarshalJSON(r.body); err == nil {
			out, err = req.MarshalProto()
		}
	default:
		t.Fatalf("%s: unknown signal %q", r.File, r.Signal)
	}
	if err != nil {
		t.Fatalf("%s: %v", r.File, err)
	}
	return out
}

// traceIDs returns the trace ids of a traces request.
func (r *corpusRequest) traceIDs(t *testing.T) []string {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(r.protobuf(t)); err != nil {
		t.Fatalf("%s: %v", r.File, err)
	}
	var ids []string
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				id := traceIDHex(spans.At(k).TraceID())
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
	}
	return ids
}

func traceIDHex(id [16]byte) string { return fmt.Sprintf("%x", id[:]) }

// rawCodec sends and receives gRPC messages as the bytes given, so that a
// captured request reaches the server exactly as captured.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// replayer sends corpus requests to one flowwatch over HTTP or gRPC.
type replayer struct {
	a    *app.App
	conn *grpc.ClientConn
}

func newReplayer(t *testing.T, a *app.App) *replayer {
	t.Helper()
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &replayer{a: a, conn: conn}
}

// sendHTTP posts body to path as the exporter did.
func (p *replayer) sendHTTP(t *testing.T, r *corpusRequest, path, contentType string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+p.a.HTTPAddr()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if r.ContentEncoding != "" && bytes.Equal(body, r.body) {
		req.Header.Set("Content-Encoding", r.ContentEncoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: POST %s: %v", r.File, path, err)
	}
	defer resp.Body.Close()
	var answer bytes.Buffer
	_, _ = answer.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: POST %s: %d %s", r.File, path, resp.StatusCode, answer.String())
	}
	checkFullSuccess(t, r, strings.HasPrefix(contentType, "application/json"), answer.Bytes())
}

func (p *replayer) sendGRPC(t *testing.T, r *corpusRequest, body []byte) {
	t.Helper()
	method := "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	if r.Signal == "logs" {
		method = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
	}
	var reply []byte
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.conn.Invoke(ctx, method, &body, &reply); err != nil {
		t.Fatalf("%s: gRPC %s: %v", r.File, method, err)
	}
	checkFullSuccess(t, r, false, reply)
}

// checkFullSuccess fails the test unless an export response says that
// nothing was rejected.
func checkFullSuccess(t *testing.T, r *corpusRequest, isJSON bool, body []byte) {
	t.Helper()
	var rejected int64
	var msg string
	var err error
	if r.Signal == "logs" {
		resp := plogotlp.NewExportResponse()
		if isJSON {
			err = resp.UnmarshalJSON(body)
		} else {
			err = resp.UnmarshalProto(body)
		}
		rejected, msg = resp.PartialSuccess().RejectedLogRecords(), resp.PartialSuccess().ErrorMessage()
	} else {
		resp := ptraceotlp.NewExportResponse()
		if isJSON {
			err = resp.UnmarshalJSON(body)
		} else {
			err = resp.UnmarshalProto(body)
		}
		rejected, msg = resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage()
	}
	if err != nil {
		t.Errorf("%s: response %q does not decode: %v", r.File, body, err)
	}
	if rejected != 0 || msg != "" {
		t.Errorf("%s: %d rejected (%s), want full success", r.File, rejected, msg)
	}
}

// asCaptured sends a request the way its exporter did: HTTP to the path it
// posted to, or gRPC.
func (p *replayer) asCaptured(t *testing.T, r *corpusRequest) {
	if r.Transport == "grpc" {
		p.sendGRPC(t, r, r.body)
		return
	}
	p.sendHTTP(t, r, r.Path, r.ContentType, r.body)
}

// swapped sends a request through the other receiver: what came over HTTP
// goes over gRPC, what came over gRPC goes to /v1/<signal> as protobuf.
func (p *replayer) swapped(t *testing.T, r *corpusRequest) {
	if r.Transport == "grpc" {
		p.sendHTTP(t, r, "/v1/"+r.Signal, "application/x-protobuf", r.body)
		return
	}
	p.sendGRPC(t, r, r.protobuf(t))
}

// Extracted is what flowwatch made of one request (trace): the fields a
// user reads, without what changes from one capture to the next (ids,
// times, durations).
type extractedTrace struct {
	Root         string          `json:"root"`
	Service      string          `json:"service"`
	Deployment   string          `json:"deployment"`
	Status       string          `json:"status"`
	ErrorType    string          `json:"error_type,omitempty"`
	ErrorMessage string          `json:"error_message,omitempty"`
	Question     string          `json:"question"`
	Answer       string          `json:"answer"`
	Context      []extractedDoc  `json:"context,omitempty"`
	Model        string          `json:"model,omitempty"`
	Models       []string        `json:"models,omitempty"`
	InputTokens  *int64          `json:"input_tokens"`
	OutputTokens *int64          `json:"output_tokens"`
	TotalTokens  *int64          `json:"total_tokens"`
	CostUSD      float64         `json:"cost_usd"`
	LLMCalls     int             `json:"llm_calls"`
	Spans        []extractedSpan `json:"spans"`
}

type extractedDoc struct {
	ID       string   `json:"id,omitempty"`
	Content  string   `json:"content"`
	Source   string   `json:"source,omitempty"`
	Score    *float64 `json:"score,omitempty"`
	Metadata any      `json:"metadata,omitempty"`
}

type extractedSpan struct {
	Name           string         `json:"name"`
	Kind           string         `json:"kind"`
	Status         string         `json:"status"`
	ErrorType      string         `json:"error_type,omitempty"`
	ErrorMessage   string         `json:"error_message,omitempty"`
	Model          string         `json:"model,omitempty"`
	RequestModel   string         `json:"request_model,omitempty"`
	ResponseModel  string         `json:"response_model,omitempty"`
	ModelAlias     string         `json:"model_alias,omitempty"`
	Provider       string         `json:"provider,omitempty"`
	ModelParams    map[string]any `json:"model_params,omitempty"`
	InputTokens    *int64         `json:"input_tokens,omitempty"`
	OutputTokens   *int64         `json:"output_tokens,omitempty"`
	TotalTokens    *int64         `json:"total_tokens,omitempty"`
	CostUSD        float64        `json:"cost_usd,omitempty"`
	HasTTFT        bool           `json:"has_ttft,omitempty"`
	FinishReasons  []string       `json:"finish_reasons,omitempty"`
	SystemPrompt   string         `json:"system_prompt,omitempty"`
	InputMessages  []string       `json:"input_messages,omitempty"`
	OutputMessages []string       `json:"output_messages,omitempty"`
	Question       string         `json:"question,omitempty"`
	Answer         string         `json:"answer,omitempty"`
	Context        []extractedDoc `json:"context,omitempty"`
	Logs           int            `json:"log_records,omitempty"`
}

func extract(d api.TraceDetail) extractedTrace {
	out := extractedTrace{
		Root: d.Name, Service: d.Service, Deployment: d.Deployment, Status: d.Status,
		ErrorType: d.ErrorType, ErrorMessage: d.ErrorMessage, Question: d.Question, Answer: d.Answer,
		Context: extractDocs(d.Context), Model: d.Model, Models: d.Models,
		InputTokens: d.InputTokens, OutputTokens: d.OutputTokens, TotalTokens: d.TotalTokens,
		CostUSD: round(d.CostUSD), LLMCalls: d.LLMCallCount,
	}
	logs := map[string]int{}
	for _, l := range d.Logs {
		logs[l.SpanID]++
	}
	for _, s := range d.Spans {
		es := extractedSpan{
			Name: s.Name, Kind: s.Kind, Status: s.Status, ErrorType: s.ErrorType, ErrorMessage: s.ErrorMessage,
			Model: s.Model, RequestModel: s.RequestModel, ResponseModel: s.ResponseModel, ModelAlias: s.ModelAlias,
			Provider: s.Provider, ModelParams: s.ModelParams,
			InputTokens: s.InputTokens, OutputTokens: s.OutputTokens, TotalTokens: s.TotalTokens, CostUSD: round(s.CostUSD),
			HasTTFT: s.TTFTMS != nil, FinishReasons: s.FinishReasons, SystemPrompt: s.SystemPrompt,
			InputMessages: messageLines(s.InputMessages), OutputMessages: messageLines(s.OutputMessages),
			Question: s.Question, Answer: s.Answer, Context: extractDocs(s.Context), Logs: logs[s.SpanID],
		}
		out.Spans = append(out.Spans, es)
	}
	// Sibling spans may start in the same millisecond, and span ids differ
	// between captures: order by content.
	slices.SortFunc(out.Spans, func(a, b extractedSpan) int {
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return bytes.Compare(ja, jb)
	})
	return out
}

func round(f float64) float64 { return math.Round(f*1e9) / 1e9 }

func extractDocs(docs []api.Document) []extractedDoc {
	var out []extractedDoc
	for _, d := range docs {
		out = append(out, extractedDoc{ID: d.ID, Content: d.Content, Source: d.Source, Score: d.Score, Metadata: d.Metadata})
	}
	return out
}

// messageLines shows each message as "role: text" with its tool calls.
func messageLines(msgs []api.Message) []string {
	var out []string
	for _, m := range msgs {
		var parts []string
		for _, p := range m.Parts {
			switch p.Type {
			case "text":
				parts = append(parts, p.Content)
			case "tool_call":
				args, _ := json.Marshal(p.Arguments)
				parts = append(parts, fmt.Sprintf("[tool_call %s %s(%s)]", p.ID, p.Name, args))
			default:
				parts = append(parts, "["+p.Type+"]")
			}
		}
		out = append(out, m.Role+": "+strings.Join(parts, " | "))
	}
	return out
}

// TestInstrumentationCorpus replays every captured request through the
// real receivers, once as captured (HTTP to the path the exporter posted to
// with its encoding, or gRPC) and once through the other receiver, and
// checks everything flowwatch extracted from each request against a
// golden file per library. The copies of a scenario captured over the
// three transports must give the same extraction.
func TestInstrumentationCorpus(t *testing.T) {
	libs := loadCorpus(t)
	for _, mode := range []string{"as captured", "swapped"} {
		t.Run(mode, func(t *testing.T) {
			a := startApp(t, t.TempDir())
			p := newReplayer(t, a)
			for _, lib := range libs {
				for i := range lib.Requests {
					if mode == "swapped" {
						p.swapped(t, &lib.Requests[i])
					} else {
						p.asCaptured(t, &lib.Requests[i])
					}
				}
			}
			for _, lib := range libs {
				t.Run(lib.Dir, func(t *testing.T) {
					got := extractLibrary(t, a, lib)
					checkCorpusGolden(t, lib.Dir, got, mode == "as captured")
					for scenario, tr := range got {
						checkExpectations(t, lib.Dir, scenario, tr)
					}
				})
			}
		})
	}
}

// extractLibrary reads back every trace of a library's requests, by
// scenario, checking that the transports agree.
func extractLibrary(t *testing.T, a *app.App, lib corpusLibrary) map[string]extractedTrace {
	t.Helper()
	type seen struct {
		transport string
		tr        extractedTrace
	}
	byScenario := map[string][]seen{}
	for i := range lib.Requests {
		r := &lib.Requests[i]
		if r.Signal != "traces" {
			continue
		}
		for _, id := range r.traceIDs(t) {
			var d api.TraceDetail
			if code := get(t, a, "/api/v1/traces/"+id, &d); code != http.StatusOK {
				t.Fatalf("%s: trace %s: status %d", r.File, id, code)
			}
			byScenario[r.Scenario] = append(byScenario[r.Scenario], seen{r.Transport, extract(d)})
		}
	}
	out := map[string]extractedTrace{}
	for scenario, all := range byScenario {
		for _, s := range all[1:] {
			if diff := gocmp.Diff(all[0].tr, s.tr); diff != "" {
				t.Errorf("%s: %s over %s differs from over %s (-%s +%s):\n%s", lib.Dir, scenario,
					s.transport, all[0].transport, all[0].transport, s.transport, diff)
			}
		}
		perTransport := map[string]int{}
		for _, s := range all {
			if perTransport[s.transport]++; perTransport[s.transport] > 1 {
				t.Errorf("%s: scenario %s has several traces over %s; want one", lib.Dir, scenario, s.transport)
			}
		}
		out[scenario] = all[0].tr
	}
	return out
}

func checkCorpusGolden(t *testing.T, lib string, got map[string]extractedTrace, mayUpdate bool) {
	t.Helper()
	path := filepath.Join(goldenDir, lib+".json")
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update && mayUpdate {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if diff := gocmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// spansOfKind returns a trace's spans of one kind.
func spansOfKind(tr extractedTrace, kind string) []extractedSpan {
	var out []extractedSpan
	for _, s := range tr.Spans {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

// checkExpectations states, independently of the golden files, what a
// user of each library must see: the defects reported against real
// instrumentations each have a line here.
func checkExpectations(t *testing.T, lib, scenario string, tr extractedTrace) {
	t.Helper()
	where := lib + "/" + scenario
	conversation := []string{"system: You are a geography assistant.", "user: What is the capital of France?",
		"assistant: Paris.", "user: And of Germany?"}

	// Every model call says its provider, and trace models are aliases.
	for _, s := range tr.Spans {
		if (s.Kind == "llm" || s.Kind == "embedding") && s.Provider == "" {
			t.Errorf("%s: %s span %q has no provider", where, s.Kind, s.Name)
		}
	}
	for _, m := range tr.Models {
		if strings.Contains(m, "-2024-") || strings.Contains(m, "-2025-") {
			t.Errorf("%s: trace model %q is a dated snapshot, want its alias", where, m)
		}
	}

	switch {
	case scenario == "chat" || scenario == "openai-chat":
		llm := spansOfKind(tr, "llm")
		if len(llm) != 1 {
			t.Fatalf("%s: %d llm spans, want 1", where, len(llm))
		}
		s := llm[0]
		if !slices.Equal(s.InputMessages, conversation) {
			t.Errorf("%s: input messages %q, want the conversation in order %q", where, s.InputMessages, conversation)
		}
		if s.Question != "And of Germany?" || tr.Question != "And of Germany?" {
			t.Errorf("%s: question %q (trace %q), want the last user message", where, s.Question, tr.Question)
		}
		if s.SystemPrompt != "You are a geography assistant." {
			t.Errorf("%s: system prompt %q", where, s.SystemPrompt)
		}
		if tr.Answer == "" || tr.Answer != s.Answer {
			t.Errorf("%s: trace answer %q, want the model's %q", where, tr.Answer, s.Answer)
		}
		if s.ModelAlias != "gpt-4o-mini" || tr.Model != "gpt-4o-mini" {
			t.Errorf("%s: model alias %q, trace model %q; want gpt-4o-mini", where, s.ModelAlias, tr.Model)
		}
	case scenario == "observations" && lib == "langfuse-js":
		gen := spansOfKind(tr, "llm")
		if len(gen) != 1 {
			t.Fatalf("%s: %d generations, want 1", where, len(gen))
		}
		g := gen[0]
		if !slices.Equal(g.InputMessages, conversation) || g.SystemPrompt != "You are a geography assistant." {
			t.Errorf("%s: generation input %q, system prompt %q; want the chat of its {messages} input", where, g.InputMessages, g.SystemPrompt)
		}
		if len(g.OutputMessages) != 1 || !strings.HasPrefix(g.OutputMessages[0], "assistant: ") {
			t.Errorf("%s: generation output messages %q, want its plain-text output as the assistant's", where, g.OutputMessages)
		}
		if g.ModelParams["temperature"] == nil || g.InputTokens == nil || *g.InputTokens != 25 {
			t.Errorf("%s: model params %v, input tokens %v; want Langfuse's parameters and usage details", where, g.ModelParams, g.InputTokens)
		}
	case scenario == "rag" || scenario == "rag-stream":
		// The retriever's documents carry {"id", "source"} in metadata sent
		// as a JSON string.
		if len(tr.Context) != 2 {
			t.Fatalf("%s: %d context documents, want 2", where, len(tr.Context))
		}
		for i, d := range tr.Context {
			md, ok := d.Metadata.(map[string]any)
			if !ok {
				t.Errorf("%s: document %d metadata is %T, want an object", where, i, d.Metadata)
				continue
			}
			if d.ID == "" || d.ID != md["id"] || d.Source == "" || d.Source != md["source"] {
				t.Errorf("%s: document %d id %q source %q, want those of its metadata %v", where, i, d.ID, d.Source, md)
			}
		}
		if tr.Question != "What is the capital of France?" || tr.Answer == "" {
			t.Errorf("%s: question %q answer %q", where, tr.Question, tr.Answer)
		}
	case scenario == "flow-no-answer":
		// The flow returned only its context and called no chat model: it
		// has no answer, whatever its output holds.
		if tr.Answer != "" {
			t.Errorf("%s: answer %q taken from what is not an answer", where, tr.Answer)
		}
	}
	if strings.Contains(scenario, "error") && tr.Status != "error" {
		t.Errorf("%s: status %q, want error", where, tr.Status)
	}
}

// TestMixedModelNames: the same model reported dated by one library and
// undated by another is one row of the per-model metrics, whose tokens and
// cost are the sums over the spans.
func TestMixedModelNames(t *testing.T) {
	libs := loadCorpus(t)
	a := startApp(t, t.TempDir())
	p := newReplayer(t, a)
	var ids []string
	for _, lib := range libs {
		for i := range lib.Requests {
			r := &lib.Requests[i]
			p.asCaptured(t, r)
			if r.Signal == "traces" {
				ids = append(ids, r.traceIDs(t)...)
			}
		}
	}
	type sums struct {
		calls, in, out int64
		cost           float64
		exact          map[string]bool
	}
	want := map[string]*sums{}
	var first, last time.Time
	miniTraces := 0
	for _, id := range ids {
		var d api.TraceDetail
		if code := get(t, a, "/api/v1/traces/"+id, &d); code != http.StatusOK {
			t.Fatalf("trace %s: %d", id, code)
		}
		if slices.Contains(d.Models, "gpt-4o-mini") {
			miniTraces++
		}
		for _, s := range d.Spans {
			if s.Kind != "llm" && s.Kind != "embedding" {
				continue
			}
			if first.IsZero() || s.StartTime.Time.Before(first) {
				first = s.StartTime.Time
			}
			if s.StartTime.Time.After(last) {
				last = s.StartTime.Time
			}
			w := want[s.ModelAlias]
			if w == nil {
				w = &sums{exact: map[string]bool{}}
				want[s.ModelAlias] = w
			}
			w.calls++
			w.exact[s.Model] = true
			if s.InputTokens != nil {
				w.in += *s.InputTokens
			}
			if s.OutputTokens != nil {
				w.out += *s.OutputTokens
			}
			w.cost += s.CostUSD
		}
	}
	if w := want["gpt-4o-mini"]; w == nil || !w.exact["gpt-4o-mini"] || !w.exact["gpt-4o-mini-2024-07-18"] {
		t.Fatalf("the corpus must report gpt-4o-mini both dated and undated: %+v", w)
	}
	q := url.Values{"group_by": {"model"}, "since": {first.Add(-time.Hour).Format(time.RFC3339)},
		"until": {last.Add(time.Hour).Format(time.RFC3339)}, "step": {"1h"}}
	var m api.LLMMetrics
	if code := get(t, a, "/api/v1/metrics/llm?"+q.Encode(), &m); code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	got := map[string]api.CallStats{}
	for _, g := range m.Groups {
		got[g.Group] = g.Totals
	}
	for alias, w := range want {
		g, ok := got[alias]
		if !ok {
			t.Errorf("no metrics row for %s (rows: %v)", alias, keys(got))
			continue
		}
		// The API rounds costs (six decimals, four significant digits
		// below a tenth of a cent).
		if g.Calls != w.calls || g.InputTokens != w.in || g.OutputTokens != w.out || math.Abs(g.CostUSD-w.cost) > max(5e-7, w.cost*5e-4) {
			t.Errorf("%s: %d calls, %d in, %d out, $%g; want the spans' sums %d, %d, %d, $%g",
				alias, g.Calls, g.InputTokens, g.OutputTokens, g.CostUSD, w.calls, w.in, w.out, w.cost)
		}
	}
	if len(got) != len(want) {
		t.Errorf("metrics rows %v, want one per model %v", keys(got), keys(want))
	}
	// The model filter finds the model by its dated name too.
	var list api.TraceList
	q = url.Values{"limit": {"1000"}, "model": {"gpt-4o-mini-2024-07-18"}, "since": q["since"], "until": q["until"]}
	if code := get(t, a, "/api/v1/traces?"+q.Encode(), &list); code != http.StatusOK {
		t.Fatalf("traces: %d", code)
	}
	withModel := 0
	for _, tr := range list.Traces {
		if slices.Contains(tr.Models, "gpt-4o-mini") {
			withModel++
		}
	}
	if withModel != len(list.Traces) || withModel != miniTraces {
		t.Errorf("model=gpt-4o-mini-2024-07-18 found %d traces, %d calling gpt-4o-mini; want the %d calling it",
			len(list.Traces), withModel, miniTraces)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
