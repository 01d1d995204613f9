// Package model holds flowwatch's domain types. It imports nothing internal.
package model

import (
	"time"
)

// SpanKind is the canonical role of a span in an LLM application
// (see the conventions reference, section 0).
type SpanKind string

// Canonical span kinds.
const (
	KindLLM       SpanKind = "llm"
	KindEmbedding SpanKind = "embedding"
	KindRetriever SpanKind = "retriever"
	KindReranker  SpanKind = "reranker"
	KindTool      SpanKind = "tool"
	KindAgent     SpanKind = "agent"
	KindChain     SpanKind = "chain"
	KindGuardrail SpanKind = "guardrail"
	KindEvaluator SpanKind = "evaluator"
	KindPrompt    SpanKind = "prompt"
	KindUnknown   SpanKind = "unknown"
)

// IsModelCall reports whether tokens and cost of spans of this kind are
// summed into a trace's usage.
func (k SpanKind) IsModelCall() bool { return k == KindLLM || k == KindEmbedding }

// Status is a span's or a trace's outcome.
type Status string

// Statuses, from the OTLP span status code.
const (
	StatusUnset Status = "unset"
	StatusOK    Status = "ok"
	StatusError Status = "error"
)

// Usage is what a model call consumed. InputTokens includes cached tokens
// (OpenTelemetry meaning); the cache and reasoning counts are subsets.
// Known is false when the span carried no usage at all: a missing count is
// unknown, not zero.
type Usage struct {
	Known            bool
	InputTokens      int64
	OutputTokens     int64
	TotalTokens      int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	ReasoningTokens  int64
	// CostUSD is the cost the app reported or, for a model call that
	// reported none, the cost computed from the price table.
	CostUSD float64
	// CostKnown says whether CostUSD is known (reported or priced); a model
	// call without it used a model the price table does not know.
	CostKnown bool
}

// Add returns the sum of two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		Known:            u.Known || o.Known,
		InputTokens:      u.InputTokens + o.InputTokens,
		OutputTokens:     u.OutputTokens + o.OutputTokens,
		TotalTokens:      u.TotalTokens + o.TotalTokens,
		CacheReadTokens:  u.CacheReadTokens + o.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens + o.CacheWriteTokens,
		ReasoningTokens:  u.ReasoningTokens + o.ReasoningTokens,
		CostUSD:          u.CostUSD + o.CostUSD,
		CostKnown:        u.CostKnown || o.CostKnown,
	}
}

// Document is one retrieved context document.
type Document struct {
	ID      string `json:"id,omitempty"`
	Content string `json:"content"`
	// Source is where the document came from (a URL or a file), when the
	// retriever said.
	Source   string   `json:"source,omitempty"`
	Score    *float64 `json:"score,omitempty"`
	Metadata any      `json:"metadata,omitempty"`
}

// Event is a span event, kept as sent.
type Event struct {
	Time       time.Time
	Name       string
	Attributes map[string]any
}

// Link is a span link, kept as sent.
type Link struct {
	TraceID    string
	SpanID     string
	TraceState string
	Attributes map[string]any
}

// Scope is the instrumentation scope that produced a span.
type Scope struct {
	Name       string
	Version    string
	Attributes map[string]any
}

// Span is one stored span: what the app sent (the Raw part, never thrown
// away) and what flowwatch derived from it by the convention tables (the
// Derived part, recomputable from Raw plus the span's log records).
type Span struct {
	// Identity, hex encoded as on OTLP/JSON (32 and 16 lowercase digits).
	TraceID      string
	SpanID       string
	ParentSpanID string

	// Raw, as received. Attribute values are string, bool, int64, float64,
	// []byte, []any or map[string]any (numbers may come back from storage
	// as json.Number).
	Name               string
	OTelKind           string // internal, server, client, producer, consumer, unspecified
	StartTime          time.Time
	EndTime            time.Time
	StatusCode         Status
	StatusMessage      string
	TraceState         string
	Flags              uint32
	Attributes         map[string]any
	ResourceAttributes map[string]any
	Scope              Scope
	Events             []Event
	Links              []Link
	DroppedAttributes  uint32
	DroppedEvents      uint32
	DroppedLinks       uint32

	Derived Derived
}

// Duration is the span's wall time (zero when the end precedes the start).
func (s *Span) Duration() time.Duration {
	if s.EndTime.Before(s.StartTime) {
		return 0
	}
	return s.EndTime.Sub(s.StartTime)
}

// IsRoot reports whether the span has no parent.
func (s *Span) IsRoot() bool { return s.ParentSpanID == "" }

// Derived holds the canonical fields the normalizer pulls out of a span.
type Derived struct {
	Service    string
	Deployment string

	Kind      SpanKind
	Operation string

	Model         string // response model if known, else request model
	RequestModel  string
	ResponseModel string
	// ModelAlias is Model without a dated snapshot suffix (gpt-4o-mini for
	// gpt-4o-mini-2024-07-18): the model as metrics, trace lists and the
	// model filter group it, so that one model reported dated by one
	// library and undated by another is one model.
	ModelAlias string
	// ModelParams are the request parameters (temperature, max_tokens,
	// ...) as sent, keyed by their OpenAI-style names; nil when none.
	ModelParams map[string]any
	Provider    string
	Usage       Usage

	Status       Status
	ErrorType    string
	ErrorMessage string

	SessionID string
	UserID    string

	SystemPrompt   string
	InputMessages  []Message
	OutputMessages []Message
	Question       string
	Answer         string
	// Input and Output are the span's input and output as the app sent them
	// (input.value, promptflow inputs/output JSON, traceloop entity input,
	// ...), kept whole so monitors can pick keys out of JSON objects.
	Input   string
	Output  string
	Context []Document

	FinishReasons []string
	ToolName      string
	AgentName     string
	WorkflowName  string
	PromptName    string
	PromptVersion string
	// TTFT is the time to the first streamed chunk (0 when unknown).
	TTFT time.Duration
}

// Message is one chat message, normalized to a role and parts.
type Message struct {
	Role         string `json:"role"`
	Name         string `json:"name,omitempty"`
	Parts        []Part `json:"parts"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// Part is one piece of a message: text, a tool call, a tool call response,
// reasoning, or a reference to a blob, file or URI.
type Part struct {
	Type      string `json:"type"`
	Content   string `json:"content,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments any    `json:"arguments,omitempty"`
	Response  any    `json:"response,omitempty"`
	URI       string `json:"uri,omitempty"`
	MimeType  string `json:"mime_type,omitempty"`
}

// Text returns the concatenated text parts of a message.
func (m Message) Text() string {
	var out string
	for _, p := range m.Parts {
		if p.Type == "text" && p.Content != "" {
			if out != "" {
				out += "\n"
			}
			out += p.Content
		}
	}
	return out
}

// LogRecord is an OTLP log record attached to a span by trace and span id:
// content (prompts, completions, evaluation results) that instrumentations
// send as events instead of span attributes.
type LogRecord struct {
	TraceID            string
	SpanID             string
	Time               time.Time
	EventName          string // the record's event name, or its event.name attribute
	SeverityText       string
	Body               any
	Attributes         map[string]any
	ResourceAttributes map[string]any
	Scope              Scope
}

// Batch is what one export request hands to the store.
type Batch struct {
	Spans []Span
	Logs  []LogRecord
}
