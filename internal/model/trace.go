package model

import "time"

// Trace is the summary of one request, kept current as its spans arrive so
// that lists never aggregate raw spans.
type Trace struct {
	TraceID    string
	Service    string
	Deployment string
	// Name is the root span's name.
	Name       string
	RootSpanID string
	StartTime  time.Time
	Duration   time.Duration
	Status     Status
	// ErrorType and ErrorMessage describe the root's error, or the first
	// failed span's when the root has none.
	ErrorType    string
	ErrorMessage string

	// Model is the model of the trace's model calls: the most frequent one
	// among the calls that produce text (llm), else among all (embeddings
	// only); the first seen on a tie. Models lists all of them. Both are model
	// aliases (Derived.ModelAlias): without a dated snapshot suffix.
	Model  string
	Models []string
	// Usage is summed over model-call spans only (llm, embedding); when no
	// model-call span reported usage, it is the root span's.
	Usage Usage

	Question string
	Answer   string
	// Input and Output are the root span's input and output as sent (a
	// promptflow flow's inputs / output JSON objects, for instance).
	Input   string
	Output  string
	Context []Document

	SessionID string
	UserID    string

	SpanCount    int
	LLMCallCount int
	ErrorCount   int
}

// TraceDetail is a trace with all its spans, ordered by start time.
type TraceDetail struct {
	Trace Trace
	Spans []Span
	// Logs are the log records attached to the trace's spans.
	Logs []LogRecord
}

// ServiceInfo describes one service and deployment seen in the data.
type ServiceInfo struct {
	Service    string
	Deployment string
	FirstSeen  time.Time
	LastSeen   time.Time
	TraceCount int64
}
