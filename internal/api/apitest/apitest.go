// Package apitest provides what tests of the API and of its clients need:
// an in-memory store.TraceReader with a fixed set of traces, an in-memory
// store.RollupReader with fixed observations, an in-memory
// store.MonitorStore, and an in-memory store.RunStore, store.ResultStore,
// store.AlertStore and store.Outbox with a set of runs and alerts to seed
// it with. It is for tests only; production code never imports it.
package apitest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Reader is an in-memory store.TraceReader over fixed traces. It filters
// like the port says (Since inclusive, Until exclusive, newest first) with a
// case-insensitive substring match standing in for full-text search, and
// records every query it is asked so tests can check what a caller sent.
type Reader struct {
	traces []model.TraceDetail

	mu      sync.Mutex
	queries []store.TraceQuery
}

var _ store.TraceReader = (*Reader)(nil)

// NewReader returns a Reader over traces.
func NewReader(traces []model.TraceDetail) *Reader {
	return &Reader{traces: traces}
}

// Queries returns the queries ListTraces was called with, in order.
func (r *Reader) Queries() []store.TraceQuery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.TraceQuery(nil), r.queries...)
}

// ListTraces implements store.TraceReader. Its cursors are opaque strings
// holding an offset; any other cursor is store.ErrInvalidCursor.
func (r *Reader) ListTraces(ctx context.Context, q store.TraceQuery) (store.TracePage, error) {
	r.mu.Lock()
	r.queries = append(r.queries, q)
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return store.TracePage{}, err
	}
	offset := 0
	if q.Cursor != "" {
		n, err := decodeCursor(q.Cursor)
		if err != nil {
			return store.TracePage{}, fmt.Errorf("apitest: cursor %q: %w", q.Cursor, store.ErrInvalidCursor)
		}
		offset = n
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = store.DefaultLimit
	case limit > store.MaxLimit:
		limit = store.MaxLimit
	}
	var match []model.Trace
	for i := range r.traces {
		if matches(&r.traces[i], q) {
			match = append(match, r.traces[i].Trace)
		}
	}
	sort.SliceStable(match, func(i, j int) bool {
		if !match[i].StartTime.Equal(match[j].StartTime) {
			return match[i].StartTime.After(match[j].StartTime)
		}
		return match[i].TraceID > match[j].TraceID
	})
	page := store.TracePage{Traces: []model.Trace{}}
	if offset >= len(match) {
		return page, nil
	}
	end := min(offset+limit, len(match))
	page.Traces = match[offset:end]
	if end < len(match) {
		page.NextCursor = encodeCursor(end)
	}
	return page, nil
}

func matches(d *model.TraceDetail, q store.TraceQuery) bool {
	t := &d.Trace
	switch {
	case q.Service != "" && t.Service != q.Service,
		q.Deployment != "" && t.Deployment != q.Deployment,
		q.Status != "" && t.Status != q.Status,
		!q.Since.IsZero() && t.StartTime.Before(q.Since),
		!q.Until.IsZero() && !t.StartTime.Before(q.Until),
		t.Duration < q.MinDuration:
		return false
	}
	if q.Model != "" && !contains(t.Models, q.Model) && t.Model != q.Model {
		return false
	}
	if q.Text != "" {
		text := []string{t.Question, t.Answer, t.Input, t.Output}
		for i := range d.Spans {
			text = append(text, d.Spans[i].Derived.Input, d.Spans[i].Derived.Output)
		}
		needle := strings.ToLower(q.Text)
		found := false
		for _, s := range text {
			if strings.Contains(strings.ToLower(s), needle) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, err
	}
	s, ok := strings.CutPrefix(string(b), "offset:")
	if !ok {
		return 0, fmt.Errorf("no offset")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad offset %q", s)
	}
	return n, nil
}

// GetTrace implements store.TraceReader.
func (r *Reader) GetTrace(ctx context.Context, traceID string) (model.TraceDetail, error) {
	if err := ctx.Err(); err != nil {
		return model.TraceDetail{}, err
	}
	for _, d := range r.traces {
		if d.Trace.TraceID == traceID {
			return d, nil
		}
	}
	return model.TraceDetail{}, fmt.Errorf("apitest: trace %s: %w", traceID, store.ErrNotFound)
}

// ListServices implements store.TraceReader: one entry per (service,
// deployment) with the first and last trace start times.
func (r *Reader) ListServices(ctx context.Context) ([]model.ServiceInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type key struct{ service, deployment string }
	seen := map[key]*model.ServiceInfo{}
	var order []key
	for _, d := range r.traces {
		t := d.Trace
		k := key{t.Service, t.Deployment}
		info, ok := seen[k]
		if !ok {
			info = &model.ServiceInfo{Service: t.Service, Deployment: t.Deployment, FirstSeen: t.StartTime, LastSeen: t.StartTime}
			seen[k] = info
			order = append(order, k)
		}
		if t.StartTime.Before(info.FirstSeen) {
			info.FirstSeen = t.StartTime
		}
		if t.StartTime.After(info.LastSeen) {
			info.LastSeen = t.StartTime
		}
		info.TraceCount++
	}
	out := make([]model.ServiceInfo, 0, len(order))
	// Newest last-seen first, so that the API's own sorting is exercised.
	for _, k := range order {
		out = append(out, *seen[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out, nil
}

// ServicesPage implements store.TraceReader: ListServices by service and
// deployment, a page at a time.
func (r *Reader) ServicesPage(ctx context.Context, q store.ServiceQuery) (store.ServicePage, error) {
	all, err := r.ListServices(ctx)
	if err != nil {
		return store.ServicePage{}, err
	}
	key := func(si model.ServiceInfo) string { return si.Service + "\x00" + si.Deployment }
	sort.Slice(all, func(i, j int) bool { return key(all[i]) < key(all[j]) })
	if q.Cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil {
			return store.ServicePage{}, fmt.Errorf("apitest: services cursor: %w", store.ErrInvalidCursor)
		}
		i := sort.Search(len(all), func(i int) bool { return key(all[i]) > string(after) })
		all = all[i:]
	}
	limit := q.Limit
	if limit <= 0 || limit > store.MaxLimit {
		limit = store.MaxLimit
	}
	var page store.ServicePage
	if len(all) > limit {
		all = all[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(key(all[limit-1])))
	}
	page.Services = all
	return page, nil
}

// Now is the fixture's "now": every fixture trace started before it.
func Now() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

// Trace ids of the fixture.
const (
	// RAGTraceID is a successful RAG request: a chain root, a retrieval and
	// an LLM call with usage, messages, context documents and attributes of
	// every type.
	RAGTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	// ErrorTraceID is a failed request with a long multi-line question.
	ErrorTraceID = "0af7651916cd43dd8448eb211c80319c"
	// StagingTraceID is a request of another deployment of the same
	// service.
	StagingTraceID = "a3ce929d0e0e47364bf92f3577b34da6"
	// BatchTraceID is a trace without model calls or usage, with an
	// orphan span, a link, a log record and non-finite numbers.
	BatchTraceID = "5b8efff798038103d269b633813fc60c"
)

// Fixture returns four traces (newest first: RAG, error, staging, batch)
// with every field the API shows filled in somewhere. Each call returns
// fresh values.
func Fixture() []model.TraceDetail {
	return []model.TraceDetail{ragTrace(), errorTrace(), stagingTrace(), batchTrace()}
}

func ragResource() map[string]any {
	return map[string]any{"service.name": "rag-app", "deployment.name": "prod", "telemetry.sdk.language": "python"}
}

func ragTrace() model.TraceDetail {
	start := Now().Add(-10 * time.Minute).Add(123 * time.Millisecond)
	score1, score2 := 0.92, 0.71
	docs := []model.Document{
		{ID: "doc-1", Content: "Refunds are accepted within 30 days of purchase.", Score: &score1, Metadata: map[string]any{"source": "policy.md"}},
		{ID: "doc-2", Content: "Shipping takes 3-5 business days.", Score: &score2},
	}
	scope := model.Scope{Name: "promptflow", Version: "1.15.0"}
	usage := model.Usage{Known: true, InputTokens: 120, OutputTokens: 30, TotalTokens: 150, CacheReadTokens: 20, CostUSD: 0.0012}
	question := "What is the refund policy?"
	answer := "Refunds are accepted within 30 days <of purchase> & free."
	root := model.Span{
		TraceID: RAGTraceID, SpanID: "00f067aa0ba902b7",
		Name: "chat", OTelKind: "server",
		StartTime: start, EndTime: start.Add(1234567 * time.Microsecond),
		StatusCode: model.StatusOK,
		Attributes: map[string]any{
			"http.route":  "/chat",
			"app.retries": int64(2),
			"app.sampled": true,
			"app.ratio":   0.25,
			"app.tags":    []any{"faq", int64(3)},
			"app.blob":    []byte{0xde, 0xad, 0xbe, 0xef},
			"app.big":     json.Number("12345678901234567890"),
			"app.nested":  map[string]any{"k": "v", "n": []any{map[string]any{"deep": false}}},
			"inputs":      `{"question":"What is the refund policy?"}`,
		},
		ResourceAttributes: ragResource(),
		Scope:              scope,
		Derived: model.Derived{
			Service: "rag-app", Deployment: "prod", Kind: model.KindChain,
			Status: model.StatusOK, SessionID: "sess-1", UserID: "user-7",
			Question: question, Answer: answer,
			Input:  `{"question":"What is the refund policy?"}`,
			Output: `{"answer":"Refunds are accepted within 30 days <of purchase> & free."}`,
		},
	}
	retrieve := model.Span{
		TraceID: RAGTraceID, SpanID: "1111111111111111", ParentSpanID: root.SpanID,
		Name: "retrieve_documents", OTelKind: "internal",
		StartTime: start.Add(5 * time.Millisecond), EndTime: start.Add(125 * time.Millisecond),
		StatusCode:         model.StatusUnset,
		Attributes:         map[string]any{"retrieval.documents.0.document.id": "doc-1"},
		ResourceAttributes: ragResource(), Scope: scope,
		Derived: model.Derived{
			Service: "rag-app", Deployment: "prod", Kind: model.KindRetriever,
			Status: model.StatusUnset, Input: question, Context: docs,
		},
	}
	llm := model.Span{
		TraceID: RAGTraceID, SpanID: "2222222222222222", ParentSpanID: root.SpanID,
		Name: "chat gpt-4o", OTelKind: "client",
		StartTime: start.Add(130 * time.Millisecond), EndTime: start.Add(1230 * time.Millisecond),
		StatusCode: model.StatusOK,
		Attributes: map[string]any{
			"gen_ai.operation.name":      "chat",
			"gen_ai.request.model":       "gpt-4o",
			"gen_ai.response.model":      "gpt-4o-2024-08-06",
			"gen_ai.usage.input_tokens":  int64(120),
			"gen_ai.usage.output_tokens": int64(30),
		},
		ResourceAttributes: ragResource(), Scope: scope,
		Events: []model.Event{{
			Time: start.Add(480 * time.Millisecond), Name: "gen_ai.choice",
			Attributes: map[string]any{"index": int64(0)},
		}},
		Derived: model.Derived{
			Service: "rag-app", Deployment: "prod", Kind: model.KindLLM, Operation: "chat",
			Model: "gpt-4o-2024-08-06", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06", ModelAlias: "gpt-4o",
			Provider: "openai", Usage: usage, Status: model.StatusOK,
			SystemPrompt: "Answer from the context only.",
			InputMessages: []model.Message{
				{Role: "system", Parts: []model.Part{{Type: "text", Content: "Answer from the context only."}}},
				{Role: "user", Parts: []model.Part{{Type: "text", Content: question}}},
			},
			OutputMessages: []model.Message{{
				Role: "assistant", FinishReason: "stop",
				Parts: []model.Part{
					{Type: "text", Content: answer},
					{Type: "tool_call", ID: "call_1", Name: "lookup", Arguments: map[string]any{"order": float64(42)}},
				},
			}},
			Question: question, Answer: answer,
			FinishReasons: []string{"stop"},
			TTFT:          350 * time.Millisecond,
		},
	}
	return model.TraceDetail{
		Trace: model.Trace{
			TraceID: RAGTraceID, Service: "rag-app", Deployment: "prod", Name: "chat",
			RootSpanID: root.SpanID, StartTime: start, Duration: root.Duration(),
			Status: model.StatusOK, Model: "gpt-4o", Models: []string{"gpt-4o"},
			Usage: usage, Question: question, Answer: answer,
			Input: root.Derived.Input, Output: root.Derived.Output, Context: docs,
			SessionID: "sess-1", UserID: "user-7",
			SpanCount: 3, LLMCallCount: 1,
		},
		Spans: []model.Span{root, retrieve, llm},
	}
}

func errorTrace() model.TraceDetail {
	start := Now().Add(-2 * time.Hour)
	question := "Summarize the following ticket:\n\nCustomer says the app crashes when uploading photos larger than 10 MB on Android 14."
	usage := model.Usage{Known: true, InputTokens: 50, TotalTokens: 50}
	res := map[string]any{"service.name": "rag-app", "deployment.name": "prod"}
	root := model.Span{
		TraceID: ErrorTraceID, SpanID: "3333333333333333",
		Name: "chat", OTelKind: "server",
		StartTime: start, EndTime: start.Add(30500 * time.Millisecond),
		StatusCode: model.StatusError, StatusMessage: "upstream failed",
		ResourceAttributes: res,
		Derived: model.Derived{
			Service: "rag-app", Deployment: "prod", Kind: model.KindChain, Status: model.StatusError,
			ErrorType: "RateLimitError", ErrorMessage: "rate limit exceeded, retry after 20s",
			Question: question,
		},
	}
	llm := model.Span{
		TraceID: ErrorTraceID, SpanID: "4444444444444444", ParentSpanID: root.SpanID,
		Name: "chat gpt-4o-mini", OTelKind: "client",
		StartTime: start.Add(time.Millisecond), EndTime: start.Add(30400 * time.Millisecond),
		StatusCode: model.StatusError, StatusMessage: "429 Too Many Requests",
		ResourceAttributes: res,
		Attributes:         map[string]any{"error.type": "RateLimitError"},
		Derived: model.Derived{
			Service: "rag-app", Deployment: "prod", Kind: model.KindLLM, Operation: "chat",
			Model: "gpt-4o-mini", RequestModel: "gpt-4o-mini", ModelAlias: "gpt-4o-mini", Provider: "openai",
			Usage: usage, Status: model.StatusError,
			ErrorType: "RateLimitError", ErrorMessage: "rate limit exceeded, retry after 20s",
			Input: question,
		},
	}
	return model.TraceDetail{
		Trace: model.Trace{
			TraceID: ErrorTraceID, Service: "rag-app", Deployment: "prod", Name: "chat",
			RootSpanID: root.SpanID, StartTime: start, Duration: root.Duration(),
			Status: model.StatusError, ErrorType: "RateLimitError", ErrorMessage: "rate limit exceeded, retry after 20s",
			Model: "gpt-4o-mini", Models: []string{"gpt-4o-mini"}, Usage: usage,
			Question: question, SpanCount: 2, LLMCallCount: 1, ErrorCount: 2,
		},
		Spans: []model.Span{root, llm},
	}
}

func stagingTrace() model.TraceDetail {
	start := Now().Add(-26 * time.Hour)
	usage := model.Usage{Known: true, InputTokens: 1200, OutputTokens: 80, TotalTokens: 1280, ReasoningTokens: 40, CostUSD: 0.0042}
	root := model.Span{
		TraceID: StagingTraceID, SpanID: "5555555555555555",
		Name: "chat", OTelKind: "server",
		StartTime: start, EndTime: start.Add(2500 * time.Millisecond),
		StatusCode:         model.StatusOK,
		ResourceAttributes: map[string]any{"service.name": "rag-app", "deployment.name": "staging"},
		Derived: model.Derived{
			Service: "rag-app", Deployment: "staging", Kind: model.KindLLM, Operation: "chat",
			Model: "o3-mini", ModelAlias: "o3-mini", Provider: "openai", Usage: usage, Status: model.StatusOK,
			Question: "Which plans include SSO?", Answer: "The Business and Enterprise plans.",
		},
	}
	return model.TraceDetail{
		Trace: model.Trace{
			TraceID: StagingTraceID, Service: "rag-app", Deployment: "staging", Name: "chat",
			RootSpanID: root.SpanID, StartTime: start, Duration: root.Duration(),
			Status: model.StatusOK, Model: "o3-mini", Models: []string{"o3-mini"}, Usage: usage,
			Question: "Which plans include SSO?", Answer: "The Business and Enterprise plans.",
			SpanCount: 1, LLMCallCount: 1,
		},
		Spans: []model.Span{root},
	}
}

func batchTrace() model.TraceDetail {
	start := Now().Add(-72 * time.Hour)
	res := map[string]any{"service.name": "batch-scorer"}
	root := model.Span{
		TraceID: BatchTraceID, SpanID: "6666666666666666",
		Name: "score-batch", OTelKind: "internal",
		StartTime: start, EndTime: start.Add(812 * time.Microsecond),
		StatusCode: model.StatusUnset, TraceState: "vendor=1",
		Attributes: map[string]any{
			"batch.size":  int64(0),
			"score.nan":   math.NaN(),
			"score.inf":   math.Inf(1),
			"score.ninf":  math.Inf(-1),
			"odd.number":  json.Number("12 "),
			"empty.bytes": []byte{},
		},
		ResourceAttributes: res,
		Scope:              model.Scope{Name: "batch", Attributes: map[string]any{"lib": "custom"}},
		Links:              []model.Link{{TraceID: RAGTraceID, SpanID: "00f067aa0ba902b7", Attributes: map[string]any{"reason": "rescore"}}},
		DroppedAttributes:  3,
		Derived:            model.Derived{Service: "batch-scorer", Kind: model.KindChain, Status: model.StatusUnset},
	}
	tool := model.Span{
		TraceID: BatchTraceID, SpanID: "7777777777777777", ParentSpanID: root.SpanID,
		Name: "lookup", OTelKind: "internal",
		StartTime: start.Add(100 * time.Microsecond), EndTime: start.Add(500 * time.Microsecond),
		StatusCode: model.StatusUnset, ResourceAttributes: res,
		Derived: model.Derived{Service: "batch-scorer", Kind: model.KindTool, ToolName: "lookup", Status: model.StatusUnset},
	}
	orphan := model.Span{
		TraceID: BatchTraceID, SpanID: "8888888888888888", ParentSpanID: "9999999999999999",
		Name: "late-callback", OTelKind: "consumer",
		StartTime: start.Add(600 * time.Microsecond), EndTime: start.Add(700 * time.Microsecond),
		StatusCode: model.StatusUnset, ResourceAttributes: res,
		Derived: model.Derived{Service: "batch-scorer", Kind: model.KindUnknown, Status: model.StatusUnset},
	}
	return model.TraceDetail{
		Trace: model.Trace{
			TraceID: BatchTraceID, Service: "batch-scorer", Name: "score-batch",
			RootSpanID: root.SpanID, StartTime: start, Duration: root.Duration(),
			Status: model.StatusUnset, SpanCount: 3,
		},
		Spans: []model.Span{root, tool, orphan},
		Logs: []model.LogRecord{{
			TraceID: BatchTraceID, SpanID: root.SpanID, Time: start.Add(200 * time.Microsecond),
			EventName: "gen_ai.user.message", SeverityText: "INFO",
			Body:               map[string]any{"content": "score these", "raw": []byte("hi")},
			Attributes:         map[string]any{"gen_ai.system": "openai"},
			ResourceAttributes: res,
		}},
	}
}
