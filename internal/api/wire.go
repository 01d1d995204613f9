package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
)

// This file holds the JSON shapes of API v1 (the wire types) and their
// conversion from the domain model. Field names are part of the product:
// snake_case, times as Timestamp, durations in milliseconds with a _ms
// suffix. Every field is always present (no omitempty) so clients see one
// stable shape; lists are [] and maps {} when empty, never null. Token
// counts are null when the app reported no usage at all (unknown, not 0).
// openapi.json documents every field here; a test keeps them in step.

// timeLayout is how every time is written: UTC, RFC 3339, always with nine
// fractional digits (OTLP keeps nanoseconds; nothing is lost).
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// maxValueDepth bounds the nesting of attribute values written out.
const maxValueDepth = 32

// Timestamp is a point in time written as an RFC 3339 UTC string with
// nanoseconds, e.g. "2025-06-01T11:50:00.123000000Z".
type Timestamp struct{ time.Time }

// MarshalJSON writes the time in UTC with nine fractional digits.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	t.Time = v
	return nil
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// InvalidMonitorBody is the body of a 422 answer to a monitor file that is
// not a valid monitor: the error envelope plus every problem found.
type InvalidMonitorBody struct {
	Error    string    `json:"error"`
	Problems []Problem `json:"problems"`
}

// Problem is one thing wrong with a monitor file. Path names the key
// ("window.lookback", or the reference form's path); Line and Column are
// 1-based, 0 when unknown; Message says what is wrong and how to fix it.
type Problem struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// MonitorList is the body of GET /api/v1/monitors.
type MonitorList struct {
	// Monitors are sorted by name.
	Monitors []Monitor `json:"monitors"`
}

// Monitor is a stored monitor definition. Unlike the other shapes of the
// API, Monitor.Monitor is the monitor file in its native form, written as
// JSON: optional keys that are not set are left out, as in a file, so
// that the object can be sent back as it is.
type Monitor struct {
	Monitor model.Monitor `json:"monitor"`
	// Version starts at 1 and grows with every change; it is also the
	// ETag of the monitor ("3"), for If-Match.
	Version   int64     `json:"version"`
	CreatedAt Timestamp `json:"created_at"`
	UpdatedAt Timestamp `json:"updated_at"`
}

// AppliedMonitor is the body of PUT /api/v1/monitors/{name}: the monitor
// as stored (or, for a dry run, as it would be stored), the form of the
// file sent (native or reference) and the warnings about it.
type AppliedMonitor struct {
	Monitor
	Form     string   `json:"form"`
	Warnings []string `json:"warnings"`
}

// TraceList is the body of GET /api/v1/traces.
type TraceList struct {
	Traces []TraceSummary `json:"traces"`
	// NextCursor continues the listing (pass it as ?cursor=); it is the
	// empty string on the last page.
	NextCursor string `json:"next_cursor"`
}

// TraceSummary is one request (trace) in a list.
type TraceSummary struct {
	TraceID      string    `json:"trace_id"`
	Service      string    `json:"service"`
	Deployment   string    `json:"deployment"`
	Name         string    `json:"name"`
	StartTime    Timestamp `json:"start_time"`
	DurationMS   float64   `json:"duration_ms"`
	Status       string    `json:"status"`
	ErrorType    string    `json:"error_type"`
	ErrorMessage string    `json:"error_message"`
	Model        string    `json:"model"`
	Models       []string  `json:"models"`
	// Token counts are summed over model calls; null when unknown.
	InputTokens     *int64  `json:"input_tokens"`
	OutputTokens    *int64  `json:"output_tokens"`
	TotalTokens     *int64  `json:"total_tokens"`
	CachedTokens    *int64  `json:"cached_tokens"`
	ReasoningTokens *int64  `json:"reasoning_tokens"`
	CostUSD         float64 `json:"cost_usd"`
	Question        string  `json:"question"`
	Answer          string  `json:"answer"`
	SessionID       string  `json:"session_id"`
	UserID          string  `json:"user_id"`
	SpanCount       int     `json:"span_count"`
	LLMCallCount    int     `json:"llm_call_count"`
	ErrorCount      int     `json:"error_count"`
}

// TraceDetail is the body of GET /api/v1/traces/{trace_id}: the summary
// fields plus the root's input and output, the context documents, every
// span and the log records attached to them.
type TraceDetail struct {
	TraceSummary
	RootSpanID string      `json:"root_span_id"`
	Input      string      `json:"input"`
	Output     string      `json:"output"`
	Context    []Document  `json:"context"`
	Spans      []Span      `json:"spans"`
	Logs       []LogRecord `json:"logs"`
	// SpansTruncated and LogsTruncated say that spans (log records) were
	// left out to keep the answer within its size bound (about 16 MiB);
	// span_count counts them all.
	SpansTruncated bool `json:"spans_truncated"`
	LogsTruncated  bool `json:"logs_truncated"`
}

// Document is one retrieved context document.
type Document struct {
	ID      string `json:"id"`
	Content string `json:"content"`
	// Source is the document's URL or file when the retriever gave one.
	Source string `json:"source"`
	// Score is null when the retriever reported none.
	Score    *float64 `json:"score"`
	Metadata any      `json:"metadata"`
}

// Span is one span of a trace: what flowwatch derived from it and, in
// Attributes, Resource, Scope, Events and Links, everything the app sent.
type Span struct {
	SpanID       string `json:"span_id"`
	ParentSpanID string `json:"parent_span_id"`
	Name         string `json:"name"`
	Service      string `json:"service"`
	Deployment   string `json:"deployment"`
	// Kind is flowwatch's canonical kind (llm, retriever, tool, ...);
	// OTelKind the OTLP span kind (server, client, internal, ...).
	Kind          string    `json:"kind"`
	Operation     string    `json:"operation"`
	OTelKind      string    `json:"otel_kind"`
	StartTime     Timestamp `json:"start_time"`
	EndTime       Timestamp `json:"end_time"`
	DurationMS    float64   `json:"duration_ms"`
	Status        string    `json:"status"`
	StatusMessage string    `json:"status_message"`
	ErrorType     string    `json:"error_type"`
	ErrorMessage  string    `json:"error_message"`

	Model         string `json:"model"`
	RequestModel  string `json:"request_model"`
	ResponseModel string `json:"response_model"`
	// ModelAlias is the model without a dated snapshot suffix, as metrics
	// and the model filter group it.
	ModelAlias string `json:"model_alias"`
	// ModelParams are the request parameters as sent; null when none.
	ModelParams      map[string]any `json:"model_params"`
	Provider         string         `json:"provider"`
	InputTokens      *int64         `json:"input_tokens"`
	OutputTokens     *int64         `json:"output_tokens"`
	TotalTokens      *int64         `json:"total_tokens"`
	CachedTokens     *int64         `json:"cached_tokens"`
	CacheWriteTokens *int64         `json:"cache_write_tokens"`
	ReasoningTokens  *int64         `json:"reasoning_tokens"`
	CostUSD          float64        `json:"cost_usd"`
	// TTFTMS is the time to the first streamed chunk; null when unknown.
	TTFTMS        *float64 `json:"ttft_ms"`
	FinishReasons []string `json:"finish_reasons"`

	SessionID      string     `json:"session_id"`
	UserID         string     `json:"user_id"`
	Question       string     `json:"question"`
	Answer         string     `json:"answer"`
	Input          string     `json:"input"`
	Output         string     `json:"output"`
	SystemPrompt   string     `json:"system_prompt"`
	InputMessages  []Message  `json:"input_messages"`
	OutputMessages []Message  `json:"output_messages"`
	Context        []Document `json:"context"`

	ToolName      string `json:"tool_name"`
	AgentName     string `json:"agent_name"`
	WorkflowName  string `json:"workflow_name"`
	PromptName    string `json:"prompt_name"`
	PromptVersion string `json:"prompt_version"`

	TraceState             string         `json:"trace_state"`
	Attributes             map[string]any `json:"attributes"`
	Resource               map[string]any `json:"resource"`
	Scope                  Scope          `json:"scope"`
	Events                 []SpanEvent    `json:"events"`
	Links                  []SpanLink     `json:"links"`
	DroppedAttributesCount uint32         `json:"dropped_attributes_count"`
	DroppedEventsCount     uint32         `json:"dropped_events_count"`
	DroppedLinksCount      uint32         `json:"dropped_links_count"`
	// Truncated says that strings of this span were cut to 64 KiB in
	// this answer (each ends with "…[truncated N bytes]").
	Truncated bool `json:"truncated"`
}

// Message is one chat message.
type Message struct {
	Role         string `json:"role"`
	Name         string `json:"name"`
	Parts        []Part `json:"parts"`
	FinishReason string `json:"finish_reason"`
}

// Part is one piece of a message (text, tool_call, tool_call_response,
// reasoning, blob, file, uri).
type Part struct {
	Type      string `json:"type"`
	Content   string `json:"content"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments any    `json:"arguments"`
	Response  any    `json:"response"`
	URI       string `json:"uri"`
	MimeType  string `json:"mime_type"`
}

// Scope is the instrumentation scope that produced a span or log record.
type Scope struct {
	Name       string         `json:"name"`
	Version    string         `json:"version"`
	Attributes map[string]any `json:"attributes"`
}

// SpanEvent is a span event as sent.
type SpanEvent struct {
	Time       Timestamp      `json:"time"`
	Name       string         `json:"name"`
	Attributes map[string]any `json:"attributes"`
}

// SpanLink is a span link as sent.
type SpanLink struct {
	TraceID    string         `json:"trace_id"`
	SpanID     string         `json:"span_id"`
	TraceState string         `json:"trace_state"`
	Attributes map[string]any `json:"attributes"`
}

// LogRecord is an OTLP log record attached to one of the trace's spans.
type LogRecord struct {
	Time         Timestamp      `json:"time"`
	SpanID       string         `json:"span_id"`
	EventName    string         `json:"event_name"`
	SeverityText string         `json:"severity_text"`
	Body         any            `json:"body"`
	Attributes   map[string]any `json:"attributes"`
	Resource     map[string]any `json:"resource"`
	Scope        Scope          `json:"scope"`
	// Truncated says that strings of this record were cut in this answer.
	Truncated bool `json:"truncated"`
}

// ServiceList is the body of GET /api/v1/services.
type ServiceList struct {
	Services []Service `json:"services"`
	// NextCursor continues the listing (?cursor=); empty on the last page.
	NextCursor string `json:"next_cursor"`
}

// Service is one service and deployment seen in the data.
type Service struct {
	Service    string    `json:"service"`
	Deployment string    `json:"deployment"`
	FirstSeen  Timestamp `json:"first_seen"`
	LastSeen   Timestamp `json:"last_seen"`
	TraceCount int64     `json:"trace_count"`
}

// durationMS converts a duration to milliseconds, rounded to a tenth
// (see round.go).
func durationMS(d time.Duration) float64 {
	return roundMS(float64(d.Microseconds()) / 1000)
}

// finite replaces NaN and infinities (which JSON cannot carry) by 0.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// tokens returns a pointer to n when usage is known, nil otherwise.
func tokens(u model.Usage, n int64) *int64 {
	if !u.Known {
		return nil
	}
	return &n
}

func strings0(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toSummary(t model.Trace) TraceSummary {
	return TraceSummary{
		TraceID:         t.TraceID,
		Service:         t.Service,
		Deployment:      t.Deployment,
		Name:            t.Name,
		StartTime:       Timestamp{t.StartTime},
		DurationMS:      durationMS(t.Duration),
		Status:          string(t.Status),
		ErrorType:       t.ErrorType,
		ErrorMessage:    t.ErrorMessage,
		Model:           t.Model,
		Models:          strings0(t.Models),
		InputTokens:     tokens(t.Usage, t.Usage.InputTokens),
		OutputTokens:    tokens(t.Usage, t.Usage.OutputTokens),
		TotalTokens:     tokens(t.Usage, t.Usage.TotalTokens),
		CachedTokens:    tokens(t.Usage, t.Usage.CacheReadTokens),
		ReasoningTokens: tokens(t.Usage, t.Usage.ReasoningTokens),
		CostUSD:         finite(t.Usage.CostUSD),
		Question:        t.Question,
		Answer:          t.Answer,
		SessionID:       t.SessionID,
		UserID:          t.UserID,
		SpanCount:       t.SpanCount,
		LLMCallCount:    t.LLMCallCount,
		ErrorCount:      t.ErrorCount,
	}
}

func toTraceList(p []model.Trace, next string) TraceList {
	out := TraceList{Traces: make([]TraceSummary, 0, len(p)), NextCursor: next}
	for _, t := range p {
		out.Traces = append(out.Traces, toSummary(t))
	}
	return out
}

func toDetail(d model.TraceDetail) TraceDetail {
	out := TraceDetail{
		TraceSummary: toSummary(d.Trace),
		RootSpanID:   d.Trace.RootSpanID,
		Input:        d.Trace.Input,
		Output:       d.Trace.Output,
		Context:      toDocuments(d.Trace.Context),
		Spans:        make([]Span, 0, len(d.Spans)),
		Logs:         make([]LogRecord, 0, len(d.Logs)),
	}
	for i := range d.Spans {
		out.Spans = append(out.Spans, toSpan(&d.Spans[i]))
	}
	for _, l := range d.Logs {
		out.Logs = append(out.Logs, LogRecord{
			Time:         Timestamp{l.Time},
			SpanID:       l.SpanID,
			EventName:    l.EventName,
			SeverityText: l.SeverityText,
			Body:         jsonValue(l.Body, 0),
			Attributes:   jsonMap(l.Attributes, 0),
			Resource:     jsonMap(l.ResourceAttributes, 0),
			Scope:        toScope(l.Scope),
		})
	}
	return out
}

func toSpan(s *model.Span) Span {
	d := &s.Derived
	u := d.Usage
	status := d.Status
	if status == "" {
		status = s.StatusCode
	}
	var ttft *float64
	if d.TTFT > 0 {
		v := durationMS(d.TTFT)
		ttft = &v
	}
	out := Span{
		SpanID:                 s.SpanID,
		ParentSpanID:           s.ParentSpanID,
		Name:                   s.Name,
		Service:                d.Service,
		Deployment:             d.Deployment,
		Kind:                   string(d.Kind),
		Operation:              d.Operation,
		OTelKind:               s.OTelKind,
		StartTime:              Timestamp{s.StartTime},
		EndTime:                Timestamp{s.EndTime},
		DurationMS:             durationMS(s.Duration()),
		Status:                 string(status),
		StatusMessage:          s.StatusMessage,
		ErrorType:              d.ErrorType,
		ErrorMessage:           d.ErrorMessage,
		Model:                  d.Model,
		RequestModel:           d.RequestModel,
		ResponseModel:          d.ResponseModel,
		ModelAlias:             d.ModelAlias,
		Provider:               d.Provider,
		InputTokens:            tokens(u, u.InputTokens),
		OutputTokens:           tokens(u, u.OutputTokens),
		TotalTokens:            tokens(u, u.TotalTokens),
		CachedTokens:           tokens(u, u.CacheReadTokens),
		CacheWriteTokens:       tokens(u, u.CacheWriteTokens),
		ReasoningTokens:        tokens(u, u.ReasoningTokens),
		CostUSD:                finite(u.CostUSD),
		TTFTMS:                 ttft,
		FinishReasons:          strings0(d.FinishReasons),
		SessionID:              d.SessionID,
		UserID:                 d.UserID,
		Question:               d.Question,
		Answer:                 d.Answer,
		Input:                  d.Input,
		Output:                 d.Output,
		SystemPrompt:           d.SystemPrompt,
		InputMessages:          toMessages(d.InputMessages),
		OutputMessages:         toMessages(d.OutputMessages),
		Context:                toDocuments(d.Context),
		ToolName:               d.ToolName,
		AgentName:              d.AgentName,
		WorkflowName:           d.WorkflowName,
		PromptName:             d.PromptName,
		PromptVersion:          d.PromptVersion,
		TraceState:             s.TraceState,
		Attributes:             jsonMap(s.Attributes, 0),
		Resource:               jsonMap(s.ResourceAttributes, 0),
		Scope:                  toScope(s.Scope),
		Events:                 make([]SpanEvent, 0, len(s.Events)),
		Links:                  make([]SpanLink, 0, len(s.Links)),
		DroppedAttributesCount: s.DroppedAttributes,
		DroppedEventsCount:     s.DroppedEvents,
		DroppedLinksCount:      s.DroppedLinks,
	}
	if d.ModelParams != nil {
		out.ModelParams = jsonMap(d.ModelParams, 0)
	}
	for _, e := range s.Events {
		out.Events = append(out.Events, SpanEvent{Time: Timestamp{e.Time}, Name: e.Name, Attributes: jsonMap(e.Attributes, 0)})
	}
	for _, l := range s.Links {
		out.Links = append(out.Links, SpanLink{TraceID: l.TraceID, SpanID: l.SpanID, TraceState: l.TraceState, Attributes: jsonMap(l.Attributes, 0)})
	}
	return out
}

func toScope(s model.Scope) Scope {
	return Scope{Name: s.Name, Version: s.Version, Attributes: jsonMap(s.Attributes, 0)}
}

func toDocuments(docs []model.Document) []Document {
	out := make([]Document, 0, len(docs))
	for _, d := range docs {
		var score *float64
		if d.Score != nil && !math.IsNaN(*d.Score) && !math.IsInf(*d.Score, 0) {
			v := *d.Score
			score = &v
		}
		out = append(out, Document{ID: d.ID, Content: d.Content, Source: d.Source, Score: score, Metadata: jsonValue(d.Metadata, 0)})
	}
	return out
}

func toMessages(msgs []model.Message) []Message {
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		parts := make([]Part, 0, len(m.Parts))
		for _, p := range m.Parts {
			parts = append(parts, Part{
				Type:      p.Type,
				Content:   p.Content,
				ID:        p.ID,
				Name:      p.Name,
				Arguments: jsonValue(p.Arguments, 0),
				Response:  jsonValue(p.Response, 0),
				URI:       p.URI,
				MimeType:  p.MimeType,
			})
		}
		out = append(out, Message{Role: m.Role, Name: m.Name, Parts: parts, FinishReason: m.FinishReason})
	}
	return out
}

func toServices(infos []model.ServiceInfo) ServiceList {
	out := ServiceList{Services: make([]Service, 0, len(infos))}
	for _, s := range infos {
		out.Services = append(out.Services, Service{
			Service:    s.Service,
			Deployment: s.Deployment,
			FirstSeen:  Timestamp{s.FirstSeen},
			LastSeen:   Timestamp{s.LastSeen},
			TraceCount: s.TraceCount,
		})
	}
	sort.SliceStable(out.Services, func(i, j int) bool {
		a, b := out.Services[i], out.Services[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Deployment < b.Deployment
	})
	return out
}

// jsonMap converts an attribute map with jsonValue; nil becomes {}.
func jsonMap(m map[string]any, depth int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = jsonValue(v, depth+1)
	}
	return out
}

// jsonValue turns an attribute value into something encoding/json writes
// without error and as clients expect: []byte as a base64 string,
// json.Number as a number, NaN and infinities (which JSON cannot carry) as
// the strings "NaN", "+Inf" and "-Inf", nesting deeper than maxValueDepth
// as a marker string, and any other type as its fmt representation.
func jsonValue(v any, depth int) any {
	if depth > maxValueDepth {
		return "[nested too deep]"
	}
	switch x := v.(type) {
	case nil, string, bool,
		int, int8, int16, int32, int64,
		uint, uint8, uint16, uint32, uint64:
		return x
	case float64:
		return finiteOrString(x)
	case float32:
		return finiteOrString(float64(x))
	case json.Number:
		if isJSONNumber(string(x)) {
			return x
		}
		return string(x)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e, depth+1)
		}
		return out
	case map[string]any:
		return jsonMap(x, depth)
	default:
		return fmt.Sprint(x)
	}
}

func finiteOrString(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

// isJSONNumber reports whether s is exactly a number literal as JSON
// defines it (what encoding/json accepts for a json.Number).
func isJSONNumber(s string) bool {
	i := 0
	digits := func() bool {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// OperationalMetrics is the body of GET /api/v1/metrics/operational:
// requests (traces) with their errors and latency, and the tokens and cost
// of the model calls made in the same buckets.
type OperationalMetrics struct {
	MetricsRange
	// Series is the whole selection, one entry per step, grouped or not.
	Series []RequestPoint `json:"series"`
	Totals RequestStats   `json:"totals"`
	// Groups holds one series per value of GroupBy, sorted by value; []
	// when nothing is grouped.
	Groups []RequestGroup `json:"groups"`
	// UnpricedModels lists the models of calls in the range that reported
	// tokens but have no cost (not in the price table, none reported), so
	// cost_usd leaves them out.
	UnpricedModels []string `json:"unpriced_models"`
}

// LLMMetrics is the body of GET /api/v1/metrics/llm: model calls (llm and
// embedding spans) with their errors, latency, tokens and cost.
type LLMMetrics struct {
	MetricsRange
	Series         []CallPoint `json:"series"`
	Totals         CallStats   `json:"totals"`
	Groups         []CallGroup `json:"groups"`
	UnpricedModels []string    `json:"unpriced_models"`
}

// MetricsRange is what both metrics bodies say about their buckets.
type MetricsRange struct {
	StepSeconds int64 `json:"step_seconds"`
	// Since is the start of the first bucket (the since asked for rounded
	// down to a step), Until the end of the last one (until rounded up).
	Since Timestamp `json:"since"`
	Until Timestamp `json:"until"`
	// GroupBy is the dimension of Groups, "" when nothing is grouped.
	GroupBy string `json:"group_by"`
}

// RequestGroup is the series of one group of requests.
type RequestGroup struct {
	Group  string         `json:"group"`
	Series []RequestPoint `json:"series"`
	Totals RequestStats   `json:"totals"`
}

// RequestPoint is one bucket of requests; Time is its start.
type RequestPoint struct {
	Time Timestamp `json:"time"`
	RequestStats
}

// RequestStats are the figures of requests over a bucket or a range.
type RequestStats struct {
	Requests int64 `json:"requests"`
	Stats
}

// CallGroup is the series of one group of model calls.
type CallGroup struct {
	Group  string      `json:"group"`
	Series []CallPoint `json:"series"`
	Totals CallStats   `json:"totals"`
}

// CallPoint is one bucket of model calls; Time is its start.
type CallPoint struct {
	Time Timestamp `json:"time"`
	CallStats
}

// CallStats are the figures of model calls over a bucket or a range.
type CallStats struct {
	Calls int64 `json:"calls"`
	Stats
}

// Stats are the figures both kinds share. Tokens, cost and unpriced calls
// are always those of model calls.
type Stats struct {
	Errors int64 `json:"errors"`
	// ErrorRate is Errors over the count, 0 when the count is 0.
	ErrorRate float64 `json:"error_rate"`
	LatencyMS Latency `json:"latency_ms"`

	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	TotalTokens  int64   `json:"total_tokens"`
	CachedTokens int64   `json:"cached_tokens"`
	CostUSD      float64 `json:"cost_usd"`
	// UnpricedCalls counts model calls that reported tokens but have no
	// cost; CostUSD leaves them out.
	UnpricedCalls int64 `json:"unpriced_calls"`
}

// Latency summarizes durations in milliseconds. Every field is null when
// nothing happened. Percentiles come from a sketch and are within 1% of
// the exact value; Avg and Max are exact.
type Latency struct {
	P50 *float64 `json:"p50"`
	P90 *float64 `json:"p90"`
	P95 *float64 `json:"p95"`
	P99 *float64 `json:"p99"`
	Avg *float64 `json:"avg"`
	Max *float64 `json:"max"`
}

func toMonitor(sm model.StoredMonitor) Monitor {
	return Monitor{
		Monitor:   sm.Monitor,
		Version:   sm.Version,
		CreatedAt: Timestamp{sm.CreatedAt},
		UpdatedAt: Timestamp{sm.UpdatedAt},
	}
}

func toMonitorList(list []model.StoredMonitor) MonitorList {
	out := MonitorList{Monitors: make([]Monitor, 0, len(list))}
	for _, sm := range list {
		out.Monitors = append(out.Monitors, toMonitor(sm))
	}
	sort.SliceStable(out.Monitors, func(i, j int) bool {
		return out.Monitors[i].Monitor.Name < out.Monitors[j].Monitor.Name
	})
	return out
}

// RunList is the body of GET /api/v1/monitors/{name}/runs.
type RunList struct {
	// Runs are newest first.
	Runs []Run `json:"runs"`
}

// CreatedRun is the body of POST /api/v1/monitors/{name}/runs.
type CreatedRun struct {
	Run Run `json:"run"`
}

// RunRequest is the optional body of POST /api/v1/monitors/{name}/runs:
// the window to read, both ends or neither, as RFC 3339 times.
type RunRequest struct {
	WindowStart *string `json:"window_start"`
	WindowEnd   *string `json:"window_end"`
}

// Run is one run of a monitor and, once it succeeded, what it found.
// Times not reached yet (started_at, finished_at) are null. Sampled and
// Summary are null, Metrics {} and Operational [] while the run has no
// result.
type Run struct {
	ID             string     `json:"id"`
	Monitor        string     `json:"monitor"`
	MonitorVersion int64      `json:"monitor_version"`
	Trigger        string     `json:"trigger"`
	Status         string     `json:"status"`
	WindowStart    *Timestamp `json:"window_start"`
	WindowEnd      *Timestamp `json:"window_end"`
	ScheduledAt    *Timestamp `json:"scheduled_at"`
	CreatedAt      *Timestamp `json:"created_at"`
	StartedAt      *Timestamp `json:"started_at"`
	FinishedAt     *Timestamp `json:"finished_at"`
	Attempts       int        `json:"attempts"`
	Error          string     `json:"error"`
	// Progress is how far the run has gone: null until it has sampled its
	// traces.
	Progress *RunProgress `json:"progress"`

	Sampled     *int                     `json:"sampled"`
	Metrics     map[string]MetricOutcome `json:"metrics"`
	Operational []OperationalOutcome     `json:"operational"`
	Summary     *RunSummary              `json:"summary"`
	// Degraded is set on a succeeded run in which instances of LLM-judged
	// metrics ended in error (the judge failed after its retries or was
	// given up on, answered nonsense twice, or the budget ran out);
	// JudgeErrors counts them and JudgeError is the first one's error,
	// clipped ("" when none).
	Degraded    bool   `json:"degraded"`
	JudgeErrors int    `json:"judge_errors"`
	JudgeError  string `json:"judge_error"`
	// JudgeUsage is what the run's judge replies consumed; null when the
	// run has no result or sent the judge nothing.
	JudgeUsage *JudgeUsage `json:"judge_usage"`
}

// JudgeUsage is what an LLM judge's replies consumed in a run (or for one
// metric in it): tokens in and out, and their cost in US dollars from the
// price table (null when it has no price for the judge's model).
type JudgeUsage struct {
	InputTokens  int64    `json:"input_tokens"`
	OutputTokens int64    `json:"output_tokens"`
	CostUSD      *float64 `json:"cost_usd"`
}

func toJudgeUsage(u *model.JudgeUsage) *JudgeUsage {
	if u == nil {
		return nil
	}
	return &JudgeUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CostUSD: finitePtr(u.CostUSD)}
}

// RunProgress counts a run's sampled traces (total) and those evaluated
// for every metric so far (done), as its scheduler last recorded them
// (every few seconds).
type RunProgress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// MetricOutcome is one quality metric's result in a run.
type MetricOutcome struct {
	Judged       int `json:"judged"`
	NotEvaluable int `json:"not_evaluable"`
	Errors       int `json:"errors"`
	// AverageScore, PassRate and PassRateCI are null when nothing was
	// judged.
	AverageScore *float64    `json:"average_score"`
	Passed       int         `json:"passed"`
	PassRate     *float64    `json:"pass_rate"`
	PassRateCI   *[2]float64 `json:"pass_rate_ci"`
	PassScore    float64     `json:"pass_score"`
	// MinPassRate and MinAverage are null when not set.
	MinPassRate       *float64 `json:"min_pass_rate"`
	MinAverage        *float64 `json:"min_average"`
	NoData            bool     `json:"no_data"`
	Violation         bool     `json:"violation"`
	PassRateViolation bool     `json:"pass_rate_violation"`
	AverageViolation  bool     `json:"average_violation"`
	// JudgeUsage is this metric's share of the run's judge usage; null
	// for a built-in metric.
	JudgeUsage *JudgeUsage `json:"judge_usage"`
}

// OperationalOutcome is an operational signal's value in a run.
type OperationalOutcome struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	// Value is null when the window had no data for the signal.
	Value     *float64    `json:"value"`
	Bound     BoundValues `json:"bound"`
	NoData    bool        `json:"no_data"`
	Violation bool        `json:"violation"`
}

// BoundValues are an operational signal's limits; null when not set.
type BoundValues struct {
	Max *float64 `json:"max"`
	Min *float64 `json:"min"`
}

// RunSummary condenses a run's result: the quality checks (one per
// threshold set on a metric with data) and how many were violated, and
// the operational signals violated.
type RunSummary struct {
	Metrics         int `json:"metrics"`
	NoData          int `json:"no_data"`
	Checks          int `json:"checks"`
	Violations      int `json:"violations"`
	ViolatedMetrics int `json:"violated_metrics"`
	// Unchecked counts the thresholds of metrics with no data: checks not
	// made, never violations. Unhealthy counts the metrics with no data
	// because their evaluator failed (a judge outage).
	Unchecked int `json:"unchecked"`
	Unhealthy int `json:"unhealthy"`
	// ViolationRate is violations / checks; null when nothing was checked.
	ViolationRate         *float64 `json:"violation_rate"`
	OperationalViolations int      `json:"operational_violations"`
}

// InstanceList is the body of GET /api/v1/runs/{id}/instances.
type InstanceList struct {
	// Instances are sorted by metric, then trace id.
	Instances []Instance `json:"instances"`
	// NextCursor continues the list (the cursor parameter); "" on the
	// last page.
	NextCursor string `json:"next_cursor"`
}

// Instance is the evaluation of one sampled trace for one metric.
type Instance struct {
	Metric  string `json:"metric"`
	TraceID string `json:"trace_id"`
	Status  string `json:"status"`
	// Score is null unless the instance was judged.
	Score         *float64 `json:"score"`
	Passed        bool     `json:"passed"`
	Reason        string   `json:"reason"`
	Error         string   `json:"error"`
	RawReply      string   `json:"raw_reply"`
	JudgeModel    string   `json:"judge_model"`
	PromptVersion string   `json:"prompt_version"`
	// Question and Answer are the evaluated trace's, cut to
	// MaxInstanceQuestionRunes and MaxInstanceAnswerRunes characters
	// (QuestionTruncated and AnswerTruncated say so); both "" when the
	// store no longer holds the trace.
	Question          string `json:"question"`
	QuestionTruncated bool   `json:"question_truncated"`
	Answer            string `json:"answer"`
	AnswerTruncated   bool   `json:"answer_truncated"`
}

// timestamp is t as a nullable Timestamp: nil when zero.
func timestamp(t time.Time) *Timestamp {
	if t.IsZero() {
		return nil
	}
	return &Timestamp{t}
}

// finitePtr is a copy of p, nil when p is nil or not finite (JSON cannot
// carry NaN or infinities).
func finitePtr(p *float64) *float64 {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return nil
	}
	v := *p
	return &v
}

func toRun(r model.Run, res *model.RunResult) Run {
	out := Run{
		ID:             r.ID,
		Monitor:        r.Monitor,
		MonitorVersion: r.MonitorVersion,
		Trigger:        r.Trigger,
		Status:         string(r.Status),
		WindowStart:    timestamp(r.WindowStart),
		WindowEnd:      timestamp(r.WindowEnd),
		ScheduledAt:    timestamp(r.ScheduledAt),
		CreatedAt:      timestamp(r.CreatedAt),
		StartedAt:      timestamp(r.StartedAt),
		FinishedAt:     timestamp(r.FinishedAt),
		Attempts:       r.Attempts,
		Error:          r.Error,
		Metrics:        map[string]MetricOutcome{},
		Operational:    []OperationalOutcome{},
	}
	if p := r.Progress; p.Total > 0 {
		out.Progress = &RunProgress{Done: p.Done, Total: p.Total}
	}
	if res == nil {
		return out
	}
	sampled := res.Sampled
	out.Sampled = &sampled
	out.Progress = &RunProgress{Done: sampled, Total: sampled}
	for _, m := range res.Metrics {
		var ci *[2]float64
		if c := m.PassRateCI; c != nil && !math.IsNaN(c[0]+c[1]) && !math.IsInf(c[0]+c[1], 0) {
			v := [2]float64{roundRatio(c[0]), roundRatio(c[1])}
			ci = &v
		}
		out.Metrics[m.Metric] = MetricOutcome{
			Judged:            m.Judged,
			NotEvaluable:      m.NotEvaluable,
			Errors:            m.Errors,
			AverageScore:      roundPtr(m.AverageScore, roundScore),
			Passed:            m.Passed,
			PassRate:          roundPtr(m.PassRate, roundRatio),
			PassRateCI:        ci,
			PassScore:         finite(m.PassScore),
			MinPassRate:       finitePtr(m.MinPassRate),
			MinAverage:        finitePtr(m.MinAverage),
			NoData:            m.NoData,
			Violation:         m.Violation,
			PassRateViolation: m.PassRateViolation,
			AverageViolation:  m.AverageViolation,
			JudgeUsage:        toJudgeUsage(m.JudgeUsage),
		}
	}
	out.Degraded, out.JudgeErrors, out.JudgeError = res.Degraded, res.JudgeErrors, res.JudgeError
	out.JudgeUsage = toJudgeUsage(res.JudgeUsage)
	sum := RunSummary{}
	for _, o := range res.Operational {
		out.Operational = append(out.Operational, OperationalOutcome{
			Name:      o.Name,
			Group:     o.Group,
			Value:     roundPtr(o.Value, roundSignal(o.Name)),
			Bound:     BoundValues{Max: finitePtr(o.Bound.Max), Min: finitePtr(o.Bound.Min)},
			NoData:    o.NoData,
			Violation: o.Violation,
		})
		if o.Violation {
			sum.OperationalViolations++
		}
	}
	q := monitor.Summarize(res.Metrics)
	sum.Metrics, sum.NoData, sum.Checks, sum.Violations, sum.ViolatedMetrics = q.Metrics, q.NoData, q.Checks, q.Violations, q.ViolatedMetrics
	sum.Unchecked, sum.Unhealthy = q.Unchecked, q.Unhealthy
	sum.ViolationRate = roundPtr(q.ViolationRate, roundRatio)
	out.Summary = &sum
	return out
}

func toInstance(in model.Instance) Instance {
	return Instance{
		Metric:        in.Metric,
		TraceID:       in.TraceID,
		Status:        string(in.Status),
		Score:         finitePtr(in.Score),
		Passed:        in.Passed,
		Reason:        in.Reason,
		Error:         in.Error,
		RawReply:      in.RawReply,
		JudgeModel:    in.JudgeModel,
		PromptVersion: in.PromptVersion,
	}
}

// QualitySeries is the body of GET /api/v1/monitors/{name}/quality: the
// monitor's succeeded runs whose window ended in [Since, Until), oldest
// first, with the figures a dashboard plots for each run and metric.
type QualitySeries struct {
	Monitor string    `json:"monitor"`
	Since   Timestamp `json:"since"`
	Until   Timestamp `json:"until"`
	// Truncated is set when the range held more runs than one answer
	// carries (maxQualityRuns); Runs then holds the newest of them.
	Truncated bool `json:"truncated"`
	// Summary condenses the results of every run in Runs; Metrics
	// condenses each quality metric's results over them.
	Summary RunSummary                `json:"summary"`
	Metrics map[string]QualitySummary `json:"metrics"`
	Runs    []QualityRun              `json:"runs"`
}

// QualitySummary counts the checks and violations of quality metric
// results (see monitor.Summarize); for one metric over a range, Metrics
// counts the runs that evaluated it.
type QualitySummary struct {
	Metrics         int `json:"metrics"`
	NoData          int `json:"no_data"`
	Checks          int `json:"checks"`
	Violations      int `json:"violations"`
	ViolatedMetrics int `json:"violated_metrics"`
	// ViolationRate is violations / checks; null when nothing was checked.
	ViolationRate *float64 `json:"violation_rate"`
}

// QualityRun is one succeeded run in a quality series.
type QualityRun struct {
	RunID          string     `json:"run_id"`
	Trigger        string     `json:"trigger"`
	MonitorVersion int64      `json:"monitor_version"`
	WindowStart    Timestamp  `json:"window_start"`
	WindowEnd      Timestamp  `json:"window_end"`
	FinishedAt     Timestamp  `json:"finished_at"`
	Sampled        int        `json:"sampled"`
	Summary        RunSummary `json:"summary"`
	// Metrics holds one point per quality metric, by name.
	Metrics     map[string]QualityPoint `json:"metrics"`
	Operational []OperationalOutcome    `json:"operational"`
}

// QualityPoint is a quality metric's figures in one run. AverageScore and
// PassRate are null when nothing was judged (NoData).
type QualityPoint struct {
	Judged            int      `json:"judged"`
	AverageScore      *float64 `json:"average_score"`
	PassRate          *float64 `json:"pass_rate"`
	MinPassRate       *float64 `json:"min_pass_rate"`
	MinAverage        *float64 `json:"min_average"`
	NoData            bool     `json:"no_data"`
	Violation         bool     `json:"violation"`
	PassRateViolation bool     `json:"pass_rate_violation"`
	AverageViolation  bool     `json:"average_violation"`
}

// AlertList is the body of GET /api/v1/alerts.
type AlertList struct {
	// Alerts are newest fired first.
	Alerts []Alert `json:"alerts"`
	// NextCursor continues the listing (pass it as ?cursor=); "" on the
	// last page.
	NextCursor string `json:"next_cursor"`
}

// Alert is one episode of a monitor's alert, from the run that fired it
// to the run that resolved it. Times not reached (resolved_at, and
// last_notified_at before any notification) are null; run ids not
// reached are "".
type Alert struct {
	ID      string `json:"id"`
	Monitor string `json:"monitor"`
	// Key names the state machine within the monitor
	// ("quality:groundedness", "no_data", "unhealthy:run").
	Key  string `json:"key"`
	Kind string `json:"kind"`
	// Subject is the metric or signal, "" for no_data and a failed run.
	Subject string `json:"subject"`
	State   string `json:"state"`
	Summary string `json:"summary"`
	// Value is the metric's value in the firing run; null when it has
	// none.
	Value          *float64   `json:"value"`
	Threshold      string     `json:"threshold"`
	FiredAt        Timestamp  `json:"fired_at"`
	ResolvedAt     *Timestamp `json:"resolved_at"`
	FiringRunID    string     `json:"firing_run_id"`
	LastRunID      string     `json:"last_run_id"`
	ResolvedRunID  string     `json:"resolved_run_id"`
	LastNotifiedAt *Timestamp `json:"last_notified_at"`
	Reminders      int        `json:"reminders"`
	// AckedAt is when the alert was acknowledged, null when it was not;
	// AckComment is the comment given ("" when none).
	AckedAt    *Timestamp `json:"acked_at"`
	AckComment string     `json:"ack_comment"`
}

// SilenceRequest is the body of POST /api/v1/silences.
type SilenceRequest struct {
	// Monitor is the monitor whose alerts to mute.
	Monitor string `json:"monitor"`
	// Key is the alert key to mute ("quality:groundedness"); "" or absent
	// mutes every alert of the monitor.
	Key string `json:"key"`
	// DurationMS is how long the silence lasts, from now (1 minute to 30
	// days).
	DurationMS int64 `json:"duration_ms"`
	// Comment says why (at most 1000 characters).
	Comment string `json:"comment"`
}

// Silence mutes a monitor's alerts, or one key's, for a while: they still
// change state and are recorded, and their messages are recorded as
// suppressed instead of being sent.
type Silence struct {
	ID      string `json:"id"`
	Monitor string `json:"monitor"`
	// Key is the alert key it mutes; "" for every alert of the monitor.
	Key       string    `json:"key"`
	Comment   string    `json:"comment"`
	CreatedAt Timestamp `json:"created_at"`
	// EndsAt is when it stops muting (when it was ended, for one ended
	// early).
	EndsAt Timestamp `json:"ends_at"`
	// ExpiredAt is when it was ended early; null when it was not.
	ExpiredAt *Timestamp `json:"expired_at"`
	// State is active (muting now) or expired.
	State string `json:"state"`
}

// SilenceList is the body of GET /api/v1/silences.
type SilenceList struct {
	// Silences are newest first.
	Silences []Silence `json:"silences"`
}

// AckRequest is the body of POST /api/v1/alerts/{id}/ack (optional).
type AckRequest struct {
	// Comment says why, or who looks into it (at most 1000 characters).
	Comment string `json:"comment"`
}

// AlertDetail is the body of GET /api/v1/alerts/{id}: the alert and its
// notifications, oldest first.
type AlertDetail struct {
	Alert
	Notifications []Notification `json:"notifications"`
}

// Notification is one message of an alert to one channel, as the outbox
// holds it.
type Notification struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	// Recipients are the e-mail addresses of the monitor's inline e-mails
	// (channel "emails"); [] for other channels.
	Recipients []string `json:"recipients"`
	Event      string   `json:"event"`
	Status     string   `json:"status"`
	Attempts   int      `json:"attempts"`
	// LastError is the latest failed attempt's error, "" when none.
	LastError string    `json:"last_error"`
	DedupKey  string    `json:"dedup_key"`
	CreatedAt Timestamp `json:"created_at"`
	// NextAttemptAt is when a pending notification is tried next; null
	// once it is sent or given up.
	NextAttemptAt *Timestamp `json:"next_attempt_at"`
	// DoneAt is when it was sent or given up; null while pending.
	DoneAt *Timestamp `json:"done_at"`
	// SilenceID is the silence that suppressed it (status suppressed); ""
	// otherwise.
	SilenceID string `json:"silence_id"`
}

// ChannelList is the body of GET /api/v1/channels.
type ChannelList struct {
	// Channels are sorted by name.
	Channels []Channel `json:"channels"`
}

// Channel is a configured notification channel, without its secrets.
type Channel struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// URL is the scheme and host the channel posts to; null for a URL
	// taken from the environment (a secret) and for email channels.
	URL *string `json:"url"`
	// Recipients are an email channel's addresses; [] for other types.
	Recipients []string `json:"recipients"`
}

// ChannelTest is the body of a successful POST
// /api/v1/channels/{name}/test.
type ChannelTest struct {
	Channel   string `json:"channel"`
	Delivered bool   `json:"delivered"`
}
