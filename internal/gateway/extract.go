package gateway

import (
	"bytes"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/flowwatch/flowwatch/internal/textclip"
	"github.com/tidwall/gjson"
)

// Reading calls out of exchanges. The readers are pure functions of an
// Exchange, run on the recorder's goroutine. They read JSON with gjson,
// which finds what it can in a body the recording cut (a value cut in the
// middle is simply not found) and never builds a tree of the whole body:
// a 1 MiB answer costs the strings taken out of it, no more. A body that
// cannot be read yields what could be, never an error.

// Bounds on what one exchange can make the readers build, whatever the
// body says: an index of 1e9 in a stream chunk must not allocate a
// billion choices.
const (
	// maxChoices bounds the choices (output messages) of one answer.
	maxChoices = 128
	// maxToolCalls bounds the tool calls of one message.
	maxToolCalls = 128
	// maxErrorBytes bounds an upstream error message.
	maxErrorBytes = 512
	// maxURIBytes bounds the URI kept for a media part.
	maxURIBytes = 2048
	// gapMarker stands where a truncated stream's recording has a hole:
	// between the text read from its head and the text read from its
	// tail, so that nobody (a judge included) takes the two for one
	// answer.
	gapMarker = " […] "
)

// semconvFinish maps OpenAI finish reasons to the GenAI semantic
// conventions' values where they differ.
func semconvFinish(r string) string {
	switch r {
	case "tool_calls", "function_call":
		return "tool_call"
	}
	return r
}

// count reads a token count: a non-negative integer, or a string holding
// one (some JSON endpoints quote their numbers). Anything else is not a
// count: nil, never 0.
func count(r gjson.Result) *int64 {
	var f float64
	switch r.Type {
	case gjson.Number:
		f = r.Num
	case gjson.String:
		v, err := strconv.ParseFloat(strings.TrimSpace(r.Str), 64)
		if err != nil {
			return nil
		}
		f = v
	default:
		return nil
	}
	if f < 0 || f != math.Trunc(f) || f > 1<<53 {
		return nil
	}
	n := int64(f)
	return &n
}

// str reads a string value; other types are not strings.
func str(r gjson.Result) string {
	if r.Type == gjson.String {
		return r.Str
	}
	return ""
}

// textOf renders a value as text: a string as itself, anything else
// (object, array, number) as compact JSON, null and missing as "".
func textOf(r gjson.Result) string {
	switch r.Type {
	case gjson.String:
		return r.Str
	case gjson.Null:
		return ""
	}
	if !r.Exists() {
		return ""
	}
	return compactJSON(r.Raw)
}

// compactJSON compacts raw JSON; JSON the recording cut is kept as it is.
func compactJSON(raw string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(raw)); err != nil {
		return strings.TrimSpace(raw)
	}
	return b.String()
}

// arguments keeps a tool call's arguments: as JSON when they are a JSON
// object or array (the conventions' shape), else as the string sent
// (arguments a cut stream left incomplete). "" is no arguments.
func arguments(s string) any {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil
	}
	if (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
		return json.RawMessage(compactJSON(t))
	}
	return s
}

// textPart is a text part, or none for empty text.
func textParts(s string) []Part {
	if s == "" {
		return nil
	}
	return []Part{{Type: "text", Content: s}}
}

// errorMessage reads an upstream's error message from an error body: the
// OpenAI envelope {"error":{"message"}}, or the shapes other servers use
// ({"error":"..."}, {"message"}, {"detail"}), clipped.
func errorMessage(b []byte) string {
	r := gjson.ParseBytes(bytes.TrimSpace(b))
	if !r.IsObject() {
		return ""
	}
	var m string
	for _, p := range []string{"error.message", "error", "message", "detail", "error.code"} {
		if m = str(r.Get(p)); m != "" {
			break
		}
	}
	if m == "" {
		// FastAPI's validation errors: {"detail":[{"msg": ...}]}.
		m = str(r.Get("detail.0.msg"))
	}
	m, _ = textclip.Bytes(strings.TrimSpace(m), maxErrorBytes)
	return m
}

// mediaPart is the placeholder of an image, audio or file sent to the
// model: a data: URL becomes a blob part with its MIME type and without
// its data; another URL a uri part without its query and fragment, which
// may carry a signature.
func mediaPart(rawURL, modality string) Part {
	if rest, ok := strings.CutPrefix(rawURL, "data:"); ok {
		mime, _, _ := strings.Cut(rest, ";")
		mime, _, _ = strings.Cut(mime, ",")
		mime, _ = textclip.Bytes(mime, 100)
		return Part{Type: "blob", Modality: modality, MimeType: mime}
	}
	p := Part{Type: "uri", Modality: modality}
	if u, err := url.Parse(rawURL); err == nil && u.Scheme != "" {
		u.RawQuery, u.Fragment, u.User = "", "", nil
		p.URI, _ = textclip.Bytes(u.String(), maxURIBytes)
	}
	return p
}

// guessProvider names the provider of an OpenAI-compatible upstream from
// its host: openai for api.openai.com, azure.ai.openai for Azure OpenAI,
// ... and "openai" (the API spoken) when the host says nothing.
func guessProvider(u *url.URL) string {
	if u == nil {
		return "openai"
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	switch {
	case host == "api.openai.com":
		return "openai"
	case strings.HasSuffix(host, ".openai.azure.com"), strings.HasSuffix(host, ".cognitiveservices.azure.com"):
		return "azure.ai.openai"
	case strings.HasSuffix(host, ".services.ai.azure.com"):
		return "azure.ai.inference"
	case host == "api.groq.com":
		return "groq"
	case host == "api.mistral.ai":
		return "mistral_ai"
	case host == "api.deepseek.com":
		return "deepseek"
	case host == "api.x.ai":
		return "x_ai"
	case host == "api.perplexity.ai":
		return "perplexity"
	case u.Port() == "11434", strings.Contains(host, "ollama"):
		return "ollama"
	}
	return "openai"
}

// elements calls fn with each element of a list, until fn returns false;
// anything else has no elements (gjson's ForEach would call fn once with
// it).
func elements(v gjson.Result, fn func(gjson.Result) bool) {
	if v.IsArray() {
		v.ForEach(func(_, e gjson.Result) bool { return fn(e) })
	}
}

// fields calls fn with each key and value of an object, until fn returns
// false.
func fields(v gjson.Result, fn func(key string, v gjson.Result) bool) {
	if v.IsObject() {
		v.ForEach(func(k, e gjson.Result) bool { return fn(k.String(), e) })
	}
}
