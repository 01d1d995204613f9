package gateway

import (
	"net/http"
	"time"
)

// Exchange is one proxied call as the proxy saw it: what went up, what
// came back and when. The proxy fills it on the request path (cheaply:
// copies of bounded body prefixes and a few times); everything else, from
// parsing the bodies to building spans, happens later on the recorder's
// goroutine. An Exchange never holds the caller's credentials: the proxy
// copies no request header but Content-Type and Content-Encoding (and
// keeps the credentials' values only to remove them from what is
// recorded).
type Exchange struct {
	// Gateway is the gateway's name.
	Gateway string
	// Method and Path are the request's method and the path sent to the
	// upstream after its base path (what followed /gateway/{name}),
	// without the query string, which may carry keys.
	Method, Path string
	// RequestContentType and RequestEncoding are the request's
	// Content-Type and Content-Encoding headers.
	RequestContentType, RequestEncoding string
	// RequestBody is the request body's first bytes (at most the
	// gateway's max_record_bytes); RequestTruncated says there were more.
	RequestBody      []byte
	RequestTruncated bool

	// Status is the status the caller got: the upstream's, or the one the
	// gateway answered with when the upstream could not be reached or did
	// not answer in time (502, 504); 0 when the caller went away first.
	Status int
	// ResponseHeader is a copy of the response's headers (the upstream's
	// answer carries no caller credential).
	ResponseHeader http.Header
	// ResponseBody is the response body's first bytes as they went to the
	// caller (still compressed if the upstream compressed them; for a
	// server-sent-event stream, the stream's bytes); ResponseTruncated
	// says there were more.
	ResponseBody      []byte
	ResponseTruncated bool
	// ResponseTail is, when the body was truncated, its last bytes (at
	// most TailBytes, not overlapping ResponseBody): the end of a stream,
	// where an OpenAI stream reports its usage and finish reasons.
	ResponseTail []byte

	// Start is when the request reached the gateway, FirstByte when the
	// first byte of the response body went to the caller (zero if none
	// did), End when the exchange ended.
	Start, FirstByte, End time.Time
	// Err is why the exchange failed without a complete answer: the
	// upstream unreachable or too slow, the caller gone, the stream cut.
	// nil when the upstream's whole answer, whatever its status, reached
	// the caller.
	Err error
	// ErrorType classifies Err for error.type: "timeout", "canceled"
	// (the caller went away), "upstream_unreachable", "stream_broken".
	ErrorType string

	// TraceID, ParentSpanID: the caller's trace context (W3C traceparent)
	// when it sent one, else a new trace id and a zero parent. ServerSpanID
	// is the gateway's server span, ClientSpanID its model-call span (the
	// parent named in the traceparent forwarded upstream).
	TraceID                                  [16]byte
	ParentSpanID, ServerSpanID, ClientSpanID [8]byte
	// TraceState is the caller's tracestate header, kept on the spans.
	TraceState string

	// credentials are the values of the caller's credentials, for the
	// recorder to remove from what it reads out of the bodies (see
	// credentials.go); never recorded themselves.
	credentials []string
}

// Call is what an exchange says about the model call it carried, read
// from its bodies by the gateway's kind (openai, json). Every field is
// optional: a body that cannot be read yields what could be, never an
// error; a plain HTTP call leaves Operation empty.
type Call struct {
	// Operation is gen_ai.operation.name: chat, text_completion,
	// embeddings; "" when the call is not a model call the kind knows.
	Operation string
	// Provider is gen_ai.provider.name (openai, azure.ai.openai, ...).
	Provider string
	// RequestModel and ResponseModel are the model asked for and the
	// model that answered; ResponseID the upstream's id of the answer.
	RequestModel, ResponseModel, ResponseID string
	// Stream says the caller asked for a streamed answer.
	Stream bool
	// Params are request parameters kept as gen_ai.request.*
	// (temperature, max_tokens, top_p, seed, ...), by their semconv
	// suffix.
	Params map[string]any
	// System is the system instructions when given apart from the
	// messages (the Responses API's instructions).
	System []Part
	// Input are the messages sent (chat history included), Output one
	// message per choice, in the GenAI semantic conventions' shape.
	Input, Output []Message
	// FinishReasons has one entry per choice.
	FinishReasons []string
	// Usage is the token counts the upstream reported.
	Usage Usage
	// Question and Answer are the request's question and the response's
	// answer where the kind names them apart from messages (json
	// mappings).
	Question, Answer string
	// Documents are the context documents the response carried (json
	// mappings).
	Documents []Document
	// EmbeddingInputs is how many inputs an embeddings request sent, and
	// EmbeddingDimensions the size of the vectors that came back (or were
	// asked for): gen_ai.embeddings.dimension.count. 0 when unknown; the
	// vectors themselves are never kept.
	EmbeddingInputs, EmbeddingDimensions int
	// ErrorMessage is the upstream's own error message (the OpenAI error
	// envelope's error.message, ...) when the status says it failed.
	ErrorMessage string
}

// Usage holds token counts; nil means not reported (never 0 for unknown).
type Usage struct {
	InputTokens, OutputTokens, TotalTokens *int64
	// CacheReadTokens is part of InputTokens, ReasoningTokens part of
	// OutputTokens (the OpenTelemetry meaning).
	CacheReadTokens, ReasoningTokens *int64
}

// Message is a chat message in the shape of gen_ai.input.messages and
// gen_ai.output.messages.
type Message struct {
	Role         string `json:"role"`
	Parts        []Part `json:"parts"`
	Name         string `json:"name,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// Part is one part of a message: text (Content), a tool call (ID, Name,
// Arguments), a tool call's response (ID, Response), or media sent to the
// model: "uri" (URI, without its query, which may sign it) or "blob" (a
// placeholder: the data itself is never kept), with their Modality
// (image, audio, ...) and MimeType when known.
type Part struct {
	Type      string `json:"type"`
	Content   string `json:"content,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments any    `json:"arguments,omitempty"`
	Response  any    `json:"response,omitempty"`
	Modality  string `json:"modality,omitempty"`
	MimeType  string `json:"mime_type,omitempty"`
	URI       string `json:"uri,omitempty"`
}

// Document is a context document (gen_ai.retrieval.documents, with the
// content the schema allows as an extra property).
type Document struct {
	ID      string   `json:"id,omitempty"`
	Content string   `json:"content,omitempty"`
	Score   *float64 `json:"score,omitempty"`
}
