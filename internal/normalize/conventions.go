package normalize

import "github.com/flowwatch/flowwatch/internal/model"

// This file is the one place that knows attribute names. Every canonical
// field has an ordered list of sources, highest precedence first (the
// merged precedence table of the conventions reference, section 6); a new
// attribute name is a one-line change here. The tables are read-only.

// Resource attributes.
var (
	serviceKeys    = []string{"service.name"}
	deploymentKeys = []string{"deployment.name"}
)

// defaultService names spans whose resource has no service.name, as the
// OpenTelemetry SDKs do.
const defaultService = "unknown_service"

// kindSource maps the values of one attribute to span kinds. Values are
// compared lower-cased; an unknown value falls through to the next source.
type kindSource struct {
	key    string
	values map[string]model.SpanKind
}

// kindSources is the span_kind precedence. When none matches, heuristics
// apply: a tool name means a tool span, a model key an llm span, otherwise
// a chain.
var kindSources = []kindSource{
	{"langfuse.observation.type", map[string]model.SpanKind{
		"generation": model.KindLLM, "embedding": model.KindEmbedding, "agent": model.KindAgent,
		"tool": model.KindTool, "chain": model.KindChain, "retriever": model.KindRetriever,
		"guardrail": model.KindGuardrail, "evaluator": model.KindEvaluator, "span": model.KindChain,
		"event": model.KindUnknown,
	}},
	{"openinference.span.kind", map[string]model.SpanKind{
		"llm": model.KindLLM, "embedding": model.KindEmbedding, "chain": model.KindChain,
		"retriever": model.KindRetriever, "reranker": model.KindReranker, "tool": model.KindTool,
		"agent": model.KindAgent, "guardrail": model.KindGuardrail, "evaluator": model.KindEvaluator,
		"prompt": model.KindPrompt, "unknown": model.KindUnknown,
	}},
	{"gen_ai.operation.name", map[string]model.SpanKind{
		"chat": model.KindLLM, "generate_content": model.KindLLM, "text_completion": model.KindLLM,
		"embeddings": model.KindEmbedding, "retrieval": model.KindRetriever, "execute_tool": model.KindTool,
		"create_agent": model.KindAgent, "invoke_agent": model.KindAgent, "plan": model.KindAgent,
		"invoke_workflow": model.KindChain,
	}},
	{"traceloop.span.kind", map[string]model.SpanKind{
		"workflow": model.KindChain, "task": model.KindChain, "agent": model.KindAgent,
		"tool": model.KindTool, "unknown": model.KindUnknown,
	}},
	{"llm.request.type", map[string]model.SpanKind{
		"chat": model.KindLLM, "completion": model.KindLLM, "embedding": model.KindEmbedding,
		"rerank": model.KindReranker,
	}},
	{"span_type", map[string]model.SpanKind{ // promptflow
		"llm": model.KindLLM, "embedding": model.KindEmbedding, "retrieval": model.KindRetriever,
		"flow": model.KindChain, "function": model.KindChain, "langchain": model.KindChain,
		"tool": model.KindTool,
	}},
}

// operationKeys give the raw operation name.
var operationKeys = []string{"gen_ai.operation.name", "llm.request.type"}

// modelCallOperations are the operations whose spans are model calls even
// when another source named a different kind.
var modelCallOperations = map[string]bool{
	"chat": true, "generate_content": true, "text_completion": true, "embeddings": true,
}

// llmOperations are the model-call operations that produce text (for the
// trace question and answer fallbacks).
var llmOperations = map[string]bool{"chat": true, "generate_content": true, "text_completion": true}

// Models.
var (
	modelKeys = []string{
		"langfuse.observation.model.name", "gen_ai.response.model", "llm.response.model_name",
		"llm.model_name", "llm.response.model", "gen_ai.request.model", "llm.request.model_name",
		"embedding.model_name",
	}
	requestModelKeys  = []string{"gen_ai.request.model", "llm.request.model_name"}
	responseModelKeys = []string{"gen_ai.response.model", "llm.response.model_name", "llm.response.model"}
)

// Request parameters (model_params): the first of modelParamKeys holding a
// JSON object, else every gen_ai.request.* attribute but the model, keyed
// by the rest of its name (temperature, max_tokens, top_p, ...).
var (
	modelParamKeys = []string{
		"langfuse.observation.model.parameters", "llm.invocation_parameters", "embedding.invocation_parameters",
	}
	requestParamPrefix = "gen_ai.request."
)

// toolNameKeys make an otherwise unclassified span a tool span.
var toolNameKeys = []string{"gen_ai.tool.name"}

// Provider sources and normalization (conventions reference, section 8).
var (
	providerKeys = []string{"gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"}
	// providerMetadataKeys are metadata attributes (a JSON object, or
	// flattened key.field attributes) whose ls_provider field, set by
	// LangChain, names the provider; they come after providerKeys.
	providerMetadataKeys = []struct{ key, flat string }{
		{"metadata", "metadata.ls_provider"},
		{"langfuse.observation.metadata", "langfuse.observation.metadata.ls_provider"},
		{"langfuse.trace.metadata", "langfuse.trace.metadata.ls_provider"},
	}
	providerMetadataField = "ls_provider"
	// providerNames maps every spelling to the canonical provider. Unknown
	// values are kept lower-cased.
	providerNames = map[string]string{
		"openai":             "openai",
		"azure.ai.openai":    "azure_openai",
		"az.ai.openai":       "azure_openai",
		"azure":              "azure_openai",
		"azure_openai":       "azure_openai",
		"azure.ai.inference": "azure_inference",
		"az.ai.inference":    "azure_inference",
		"anthropic":          "anthropic",
		"aws.bedrock":        "aws_bedrock",
		"aws":                "aws_bedrock",
		"amazon":             "aws_bedrock",
		"gcp.vertex_ai":      "google_vertex",
		"vertex_ai":          "google_vertex",
		"vertexai":           "google_vertex",
		"google":             "google_vertex",
		"gcp.gemini":         "google_gemini",
		"gcp.gen_ai":         "google_gemini",
		"gemini":             "google_gemini",
		"mistral_ai":         "mistral",
		"mistralai":          "mistral",
		"cohere":             "cohere",
		"groq":               "groq",
		"x_ai":               "xai",
		"xai":                "xai",
		"deepseek":           "deepseek",
		"perplexity":         "perplexity",
		"ibm.watsonx.ai":     "watsonx",
		"ollama":             "ollama",
		"together":           "together",
		"together_ai":        "together",
		"fireworks":          "fireworks",
		"openrouter":         "openrouter",
		// LangChain's ls_provider spellings.
		"google_vertexai": "google_vertex",
		"google_genai":    "google_gemini",
		"bedrock":         "aws_bedrock",
		"amazon_bedrock":  "aws_bedrock",
		"azure_ai":        "azure_inference",
	}
	// serverAddressKeys and providerHosts guess the provider from the
	// endpoint when no attribute names it: the first host suffix that
	// matches wins.
	serverAddressKeys = []string{"server.address"}
	providerHosts     = []struct{ suffix, provider string }{
		{"openai.azure.com", "azure_openai"},
		{"services.ai.azure.com", "azure_inference"},
		{"models.ai.azure.com", "azure_inference"},
		{"inference.ai.azure.com", "azure_inference"},
		{"api.openai.com", "openai"},
		{"api.anthropic.com", "anthropic"},
		{"amazonaws.com", "aws_bedrock"},
		{"aiplatform.googleapis.com", "google_vertex"},
		{"generativelanguage.googleapis.com", "google_gemini"},
		{"api.mistral.ai", "mistral"},
		{"cohere.com", "cohere"},
		{"cohere.ai", "cohere"},
		{"api.groq.com", "groq"},
		{"api.x.ai", "xai"},
		{"api.deepseek.com", "deepseek"},
		{"api.perplexity.ai", "perplexity"},
		{"openrouter.ai", "openrouter"},
		{"api.together.xyz", "together"},
		{"fireworks.ai", "fireworks"},
	}
	// modelProviders guess the provider from the model name, the last hint:
	// the first prefix that matches wins. A prefix ending in a letter or
	// digit must be followed by '-', '.' or the end of the name.
	modelProviders = []struct{ prefix, provider string }{
		{"gpt-35-", "azure_openai"}, // Azure's spelling of gpt-3.5
		{"gpt-", "openai"}, {"chatgpt-", "openai"}, {"o1", "openai"}, {"o3", "openai"}, {"o4", "openai"},
		{"text-embedding-", "openai"}, {"davinci", "openai"}, {"babbage", "openai"},
		{"claude-", "anthropic"}, {"gemini-", "google_gemini"},
		{"mistral-", "mistral"}, {"mixtral-", "mistral"}, {"codestral", "mistral"}, {"ministral-", "mistral"},
		{"pixtral-", "mistral"}, {"magistral-", "mistral"},
		{"command-", "cohere"}, {"grok-", "xai"}, {"deepseek-", "deepseek"},
	}
)

// Token usage and cost. Langfuse's usage_details map comes last for each
// count and is interpreted by usageDetails.
var (
	inputTokenKeys = []string{
		"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
		"llm.usage.prompt_tokens",
	}
	outputTokenKeys = []string{
		"gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
		"llm.usage.completion_tokens",
	}
	totalTokenKeys = []string{"llm.token_count.total", "gen_ai.usage.total_tokens", "llm.usage.total_tokens"}
	cacheReadKeys  = []string{
		"gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
		"llm.token_count.prompt_details.cache_read",
	}
	cacheWriteKeys = []string{
		"gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens",
		"llm.token_count.prompt_details.cache_write",
	}
	reasoningKeys = []string{
		"gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
		"llm.usage.reasoning_tokens", "llm.token_count.completion_details.reasoning",
	}
	usageDetailsKey = "langfuse.observation.usage_details"
	costDetailsKey  = "langfuse.observation.cost_details"
	costKeys        = []string{"llm.cost.total", "gen_ai.usage.cost"}
)

// Status and errors.
var (
	levelKeys             = []string{"langfuse.observation.level"}
	taskStatusKeys        = []string{"gen_ai.task.status"}
	errorTypeKeys         = []string{"error.type"}
	errorMessageFallbacks = []string{"langfuse.observation.status_message"}
	exceptionEvents       = map[string]bool{"exception": true, "gen_ai.client.operation.exception": true}
	exceptionTypeKey      = "exception.type"
	exceptionMessageKey   = "exception.message"
)

// Session and user. Resource attributes are consulted after the span's.
var (
	sessionKeys = []string{
		"langfuse.session.id", "session.id", "gen_ai.conversation.id",
		"traceloop.association.properties.session_id", "session_id",
	}
	resourceSessionKeys = []string{"session.id"}
	userKeys            = []string{
		"langfuse.user.id", "user.id", "enduser.id", "traceloop.association.properties.user_id",
		"gen_ai.user", "llm.user",
	}
)

// promptflowMarkers identify promptflow spans; their generic attribute
// names (inputs, output) are read only on such spans.
var promptflowMarkers = []string{"span_type", "framework"}

// ioSource is an attribute carrying a span's input or output as sent.
type ioSource struct {
	key        string
	promptflow bool // read only on promptflow spans
}

// Span input and output, as sent (Input, Output) and as text (Question,
// Answer). The first present source wins for Input/Output; Question and
// Answer take the first source that yields text, then the extra keys, then
// the messages.
var (
	inputSources = []ioSource{
		{"langfuse.observation.input", false}, {"input.value", false},
		{"traceloop.entity.input", false}, {"inputs", true},
	}
	outputSources = []ioSource{
		{"langfuse.observation.output", false}, {"output.value", false},
		{"traceloop.entity.output", false}, {"output", true},
	}
	questionExtraKeys = []string{"gen_ai.retrieval.query.text", "reranker.query"}
	// traceInputKeys / traceOutputKeys give the trace-level question and
	// answer when any span carries them.
	traceInputKeys  = []string{"langfuse.trace.input"}
	traceOutputKeys = []string{"langfuse.trace.output"}
)

// notTextFields name what an input or output object carries besides the
// question and the answer. An object whose only key is one of these is not
// read as a question or an answer (an object with one other key is: its
// value is the text).
var notTextFields = map[string]bool{
	"context": true, "contexts": true, "documents": true, "docs": true, "retrieved_documents": true,
	"sources": true, "source": true, "citations": true, "references": true, "chunks": true, "passages": true,
	"chat_history": true, "history": true, "memory": true, "metadata": true, "meta": true,
	"id": true, "ids": true, "usage": true, "error": true, "errors": true, "score": true, "scores": true,
	"status": true, "config": true, "tags": true,
}

// Keys of JSON objects (function kwargs, flow inputs and outputs, request
// and response bodies) that likely hold the question or the answer, in
// order. "messages" and "choices" lists are read as chat messages.
var (
	questionFields = []string{
		"question", "query", "chat_input", "user_input", "input", "prompt", "text", "q",
		"message", "content", "messages", "kwargs",
	}
	answerFields = []string{
		"answer", "output", "chat_output", "result", "response", "text", "content", "completion",
		"generated_text", "output_text", "reply", "message", "choices", "messages",
	}
)

// msgSourceKind says how a message source is read.
type msgSourceKind int

const (
	// msgAttr: an attribute holding a message list (JSON string or AnyValue)
	// or, for flattened conventions, prefix.N.* keys.
	msgAttr msgSourceKind = iota
	// msgEventAttr: an attribute of the named event (span event or log
	// record), or the same key in a log record's map body.
	msgEventAttr
	// msgRoleEvents: the deprecated per-message events; the role comes from
	// the event name when the body has none.
	msgRoleEvents
	// msgChoiceEvents: gen_ai.choice events, one output message each.
	msgChoiceEvents
	// msgPromptflow: a key path inside promptflow's inputs/output JSON, or a
	// promptflow attribute.
	msgPromptflow
	// msgIfChat: a generic input/output attribute, read only when it holds
	// chat messages (objects with a role).
	msgIfChat
)

// msgSource is one source of input or output messages.
type msgSource struct {
	kind  msgSourceKind
	key   string // attribute key or prefix
	event string // event name for msgEventAttr
	path  string // field inside the attribute's JSON value, for msgPromptflow
}

var (
	inputMessageSources = []msgSource{
		{kind: msgAttr, key: "gen_ai.input.messages"},
		{kind: msgAttr, key: "llm.input_messages"},
		{kind: msgAttr, key: "gen_ai.prompt"},
		{kind: msgAttr, key: "llm.prompts"},
		{kind: msgEventAttr, event: "gen_ai.client.inference.operation.details", key: "gen_ai.input.messages"},
		{kind: msgRoleEvents},
		{kind: msgEventAttr, event: "gen_ai.content.prompt", key: "gen_ai.prompt"},
		{kind: msgPromptflow, key: "inputs", path: "messages"},
		{kind: msgIfChat, key: "langfuse.observation.input"},
	}
	outputMessageSources = []msgSource{
		{kind: msgAttr, key: "gen_ai.output.messages"},
		{kind: msgAttr, key: "llm.output_messages"},
		{kind: msgAttr, key: "gen_ai.completion"},
		{kind: msgAttr, key: "llm.choices"},
		{kind: msgAttr, key: "llm.completions"},
		{kind: msgEventAttr, event: "gen_ai.client.inference.operation.details", key: "gen_ai.output.messages"},
		{kind: msgChoiceEvents},
		{kind: msgEventAttr, event: "gen_ai.content.completion", key: "gen_ai.completion"},
		{kind: msgPromptflow, key: "llm.generated_message"},
		{kind: msgPromptflow, key: "output", path: "choices"},
		{kind: msgIfChat, key: "langfuse.observation.output"},
	}
	// roleEvents maps the deprecated per-message events to their role.
	roleEvents = map[string]string{
		"gen_ai.system.message": "system", "gen_ai.user.message": "user",
		"gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool",
	}
	choiceEvent = "gen_ai.choice"
	// systemInstructionSources precede the first system message.
	systemInstructionSources = []msgSource{
		{kind: msgAttr, key: "gen_ai.system_instructions"},
		{kind: msgEventAttr, event: "gen_ai.client.inference.operation.details", key: "gen_ai.system_instructions"},
	}
)

// flattenedPrefixes are the conventions that flatten lists into
// prefix.N.field keys (zero-based N); the longest known prefix is used so
// that dots inside field names are not split.
var flattenedPrefixes = []string{
	"llm.input_messages", "llm.output_messages", "gen_ai.prompt", "gen_ai.completion",
	"llm.prompts", "llm.choices", "llm.completions", "retrieval.documents",
	"reranker.output_documents",
}

// Fields of one message, in any of the shapes (OTel, OpenAI, OpenInference
// flattened, OpenLLMetry indexed, event bodies).
var (
	msgRoleFields       = []string{"role", "message.role"}
	msgNameFields       = []string{"name", "message.name"}
	msgFinishFields     = []string{"finish_reason", "message.finish_reason"}
	msgContentFields    = []string{"content", "message.content", "prompt.text", "completion.text", "text"}
	msgContentsFields   = []string{"message.contents", "contents"}
	msgToolCallsFields  = []string{"tool_calls", "message.tool_calls"}
	msgToolCallIDFields = []string{"tool_call_id", "message.tool_call_id"}
	toolCallIDFields    = []string{"id", "tool_call.id"}
	toolCallNameFields  = []string{"function.name", "name", "tool_call.function.name"}
	toolCallArgsFields  = []string{"function.arguments", "arguments", "tool_call.function.arguments"}
	partTypeFields      = []string{"type", "message_content.type"}
	partTextFields      = []string{"content", "text", "message_content.text"}
	partURIFields       = []string{"uri", "url", "image_url.url", "image.image.url", "message_content.image.image.url", "file_id"}
	// roleNames normalizes role spellings.
	roleNames = map[string]string{"human": "user", "ai": "assistant", "model": "assistant", "bot": "assistant"}
)

// Context documents (trace-level precedence, applied per span too).
type contextSourceKind int

const (
	ctxFlattened       contextSourceKind = iota // prefix.N.document.* keys or the list attribute
	ctxAttr                                     // an attribute holding a document list
	ctxEvents                                   // events carrying one document each
	ctxRetrieverOutput                          // the output of a retriever-kind span
	ctxDatastoreTool                            // a datastore tool's result
)

type contextSource struct {
	kind contextSourceKind
	key  string
}

var (
	contextSources = []contextSource{
		{ctxFlattened, "reranker.output_documents"},
		{ctxFlattened, "retrieval.documents"},
		{ctxAttr, "gen_ai.retrieval.documents"},
		{ctxEvents, "db.query.result"},
		{ctxRetrieverOutput, ""},
		{ctxDatastoreTool, "gen_ai.tool.call.result"},
	}
	docContentFields = []string{"document.content", "content", "text", "page_content", "document", "chunk", "db.query.result.document"}
	docIDFields      = []string{"document.id", "id", "doc_id", "db.query.result.id"}
	docSourceFields  = []string{"document.source", "source", "document.url", "url"}
	// docMetadataIDFields and docMetadataSourceFields are read from the
	// document's metadata object (a JSON string decoded) when the document
	// itself has no id or source: OpenInference sends LangChain's metadata
	// that way.
	docMetadataIDFields     = []string{"id", "doc_id", "document_id", "_id"}
	docMetadataSourceFields = []string{"source", "url", "uri", "file_path", "filename"}
	docScoreFields          = []string{"document.score", "score", "relevance_score", "db.query.result.score"}
	docMetadataFields       = []string{"document.metadata", "metadata", "db.query.result.metadata"}
	// docListFields hold document lists inside an output object.
	docListFields = []string{
		"documents", "docs", "results", "retrieved_documents", "context", "contexts", "chunks",
		"sources", "output",
	}
	toolTypeKey       = "gen_ai.tool.type"
	datastoreToolType = "datastore"
)

// Other single-valued fields.
var (
	finishReasonKeys = []string{
		"gen_ai.response.finish_reasons", "llm.finish_reason", "gen_ai.response.finish_reason",
		"llm.response.finish_reason", "gen_ai.response.stop_reason",
	}
	// indexedFinishReasons come after finishReasonKeys, then the output
	// messages' finish reasons.
	indexedFinishReasons = struct{ list, field string }{"gen_ai.completion", "finish_reason"}
	ttftSecondsKeys      = []string{"gen_ai.response.time_to_first_chunk"}
	completionStartKeys  = []string{"langfuse.observation.completion_start_time"}
	toolNames            = []string{"gen_ai.tool.name", "tool.name"}
	agentNames           = []string{"gen_ai.agent.name", "agent.name"}
	entityNameKey        = "traceloop.entity.name" // the tool or agent name on a span of that kind
	workflowNames        = []string{"gen_ai.workflow.name", "traceloop.workflow.name", "langfuse.trace.name"}
	promptNames          = []string{"langfuse.observation.prompt.name", "gen_ai.prompt.name", "traceloop.prompt.key"}
	promptVersions       = []string{
		"langfuse.observation.prompt.version", "traceloop.prompt.version", "llm.prompt_template.version",
	}
)
