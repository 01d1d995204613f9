package gateway

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"mime"
	"slices"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/textclip"
)

// Exchanges become spans in the OpenTelemetry GenAI conventions, the ones
// the normalizer reads from instrumented apps, so that gateway traffic and
// instrumented traffic are one and the same downstream:
//
//	SERVER  {METHOD} {path}         the exchange as the caller saw it
//	  CLIENT  {operation} {model}   the call to the upstream: gen_ai.* for a
//	                                model call, else a plain HTTP client span
//	  INTERNAL retrieval            the documents a json gateway's answer carried
//
// The client span is always there because it is the parent named in the
// traceparent forwarded upstream: an instrumented upstream's spans hang
// under it.

// scopeName names the instrumentation that made the spans.
const scopeName = "github.com/flowwatch/flowwatch/internal/gateway"

// Bounds of what a span's name and status message take from an exchange.
const (
	maxNameBytes    = 256
	maxMessageBytes = 1024
)

// newScope starts the resource of a gateway's spans.
func newScope(rs ptrace.ResourceSpans, s *source) ptrace.ScopeSpans {
	a := rs.Resource().Attributes()
	a.PutStr("service.name", s.service)
	if s.deployment != "" {
		a.PutStr("deployment.name", s.deployment)
	}
	a.PutStr("flowwatch.gateway", s.name)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scopeName)
	return ss
}

// appendSpans appends the spans of exchange x, whose call c was read by
// the gateway's kind.
func appendSpans(spans ptrace.SpanSlice, s *source, x *Exchange, c *Call) {
	failed, errType, msg := outcome(x, c)

	srv := spans.AppendEmpty()
	srv.SetParentSpanID(x.ParentSpanID)
	srv.TraceState().FromRaw(x.TraceState)
	name, _ := textclip.Bytes(x.Method+" "+x.Path, maxNameBytes)
	setSpan(srv, x, x.ServerSpanID, ptrace.SpanKindServer, name)
	a := srv.Attributes()
	a.PutStr("http.request.method", x.Method)
	a.PutStr("url.path", x.Path)
	putHTTP(a, s, x)
	if s.recordContent {
		putStr(a, "input.value", c.Question)
		putStr(a, "output.value", c.Answer)
	}
	setStatus(srv, failed, errType, msg)

	cl := spans.AppendEmpty()
	cl.SetParentSpanID(x.ServerSpanID)
	cl.TraceState().FromRaw(x.TraceState)
	a = cl.Attributes()
	if op := operation(c); op != "" {
		name = op
		if m := firstOf(c.RequestModel, c.ResponseModel); m != "" {
			name += " " + m
		}
		name, _ = textclip.Bytes(name, maxNameBytes)
		setSpan(cl, x, x.ClientSpanID, ptrace.SpanKindClient, name)
		putCall(a, s, x, c, op)
	} else {
		setSpan(cl, x, x.ClientSpanID, ptrace.SpanKindClient, x.Method)
		a.PutStr("http.request.method", x.Method)
	}
	putHTTP(a, s, x)
	setStatus(cl, failed, errType, msg)

	if s.recordContent && len(c.Documents) > 0 {
		ret := spans.AppendEmpty()
		ret.SetParentSpanID(x.ServerSpanID)
		ret.TraceState().FromRaw(x.TraceState)
		setSpan(ret, x, derivedSpanID(x, "retrieval"), ptrace.SpanKindInternal, "retrieval")
		a = ret.Attributes()
		a.PutStr("gen_ai.operation.name", "retrieval")
		putStr(a, "gen_ai.retrieval.query.text", c.Question)
		a.PutStr("gen_ai.retrieval.documents", jsonText(c.Documents))
	}
}

// setSpan sets what every span of an exchange shares.
func setSpan(sp ptrace.Span, x *Exchange, id [8]byte, kind ptrace.SpanKind, name string) {
	sp.SetTraceID(x.TraceID)
	sp.SetSpanID(id)
	sp.SetKind(kind)
	sp.SetName(name)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(x.Start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(x.End))
}

// operation is the call's gen_ai.operation.name: the kind's, or chat when
// the kind named none but found a model or token counts (a json mapping).
func operation(c *Call) string {
	if c.Operation != "" {
		return c.Operation
	}
	u := c.Usage
	if c.RequestModel != "" || c.ResponseModel != "" || u.InputTokens != nil || u.OutputTokens != nil || u.TotalTokens != nil {
		return "chat"
	}
	return ""
}

// putCall sets a model call's GenAI attributes.
func putCall(a pcommon.Map, s *source, x *Exchange, c *Call, op string) {
	a.PutStr("gen_ai.operation.name", op)
	putStr(a, "gen_ai.provider.name", c.Provider)
	putStr(a, "gen_ai.request.model", c.RequestModel)
	putStr(a, "gen_ai.response.model", c.ResponseModel)
	putStr(a, "gen_ai.response.id", c.ResponseID)
	if len(c.FinishReasons) > 0 {
		fr := a.PutEmptySlice("gen_ai.response.finish_reasons")
		for _, r := range c.FinishReasons {
			fr.AppendEmpty().SetStr(r)
		}
	}
	u := c.Usage
	putInt(a, "gen_ai.usage.input_tokens", u.InputTokens)
	putInt(a, "gen_ai.usage.output_tokens", u.OutputTokens)
	putInt(a, "gen_ai.usage.total_tokens", u.TotalTokens)
	putInt(a, "gen_ai.usage.cache_read.input_tokens", u.CacheReadTokens)
	putInt(a, "gen_ai.usage.reasoning.output_tokens", u.ReasoningTokens)
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		putAny(a, "gen_ai.request."+k, c.Params[k])
	}
	if c.Stream {
		a.PutBool("gen_ai.request.stream", true)
	}
	if (c.Stream || answeredStream(x)) && !x.FirstByte.IsZero() {
		a.PutDouble("gen_ai.response.time_to_first_chunk", x.FirstByte.Sub(x.Start).Seconds())
	}
	if s.recordContent {
		if len(c.System) > 0 {
			a.PutStr("gen_ai.system_instructions", jsonText(c.System))
		}
		if len(c.Input) > 0 {
			a.PutStr("gen_ai.input.messages", jsonText(c.Input))
		}
		if len(c.Output) > 0 {
			a.PutStr("gen_ai.output.messages", jsonText(c.Output))
		}
	}
}

// putHTTP sets the upstream's address and the status the caller got.
func putHTTP(a pcommon.Map, s *source, x *Exchange) {
	a.PutStr("server.address", s.host)
	if s.port != 0 {
		a.PutInt("server.port", int64(s.port))
	}
	if x.Status != 0 {
		a.PutInt("http.response.status_code", int64(x.Status))
	}
}

// outcome says whether the exchange failed, its error.type and the status
// message: the gateway's own account of a broken exchange, else the
// upstream's error message.
func outcome(x *Exchange, c *Call) (failed bool, errType, msg string) {
	switch {
	case x.Err != nil:
		errType = x.ErrorType
		if errType == "" {
			errType = "_OTHER"
		}
		msg = x.Err.Error()
	case x.Status >= 400:
		errType, msg = strconv.Itoa(x.Status), c.ErrorMessage
	default:
		return false, "", ""
	}
	msg, _ = textclip.Bytes(msg, maxMessageBytes)
	return true, errType, msg
}

func setStatus(sp ptrace.Span, failed bool, errType, msg string) {
	if !failed {
		// The gateway saw the whole exchange succeed, which an
		// instrumentation library leaving the status unset cannot know:
		// the dashboard shows the request as ok rather than unset.
		sp.Status().SetCode(ptrace.StatusCodeOk)
		return
	}
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage(msg)
	sp.Attributes().PutStr("error.type", errType)
}

// answeredStream says whether the answer was a server-sent-event stream.
func answeredStream(x *Exchange) bool {
	ct := x.ResponseHeader.Get("Content-Type")
	if ct == "" {
		return false
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "text/event-stream"
}

// derivedSpanID makes the id of a span the exchange has no id for, the
// same every time (a batch retried writes the same spans again, which the
// store keeps once).
func derivedSpanID(x *Exchange, what string) (id [8]byte) {
	h := fnv.New64a()
	h.Write(x.TraceID[:])
	h.Write(x.ServerSpanID[:])
	h.Write([]byte(what))
	copy(id[:], h.Sum(nil))
	if id == x.ServerSpanID || id == x.ClientSpanID || id == ([8]byte{}) {
		id[0] ^= 0xff
	}
	return id
}

func putStr(a pcommon.Map, k, v string) {
	if v != "" {
		a.PutStr(k, v)
	}
}

func putInt(a pcommon.Map, k string, v *int64) {
	if v != nil {
		a.PutInt(k, *v)
	}
}

// putAny sets a request parameter of whatever JSON-ish type it has;
// anything else is kept as its JSON text.
func putAny(a pcommon.Map, k string, v any) {
	switch v := v.(type) {
	case nil:
	case string:
		a.PutStr(k, v)
	case bool:
		a.PutBool(k, v)
	case int:
		a.PutInt(k, int64(v))
	case int64:
		a.PutInt(k, v)
	case float64:
		a.PutDouble(k, v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			a.PutInt(k, i)
		} else if f, err := v.Float64(); err == nil {
			a.PutDouble(k, f)
		} else {
			a.PutStr(k, v.String())
		}
	case []string:
		s := a.PutEmptySlice(k)
		for _, e := range v {
			s.AppendEmpty().SetStr(e)
		}
	default:
		a.PutStr(k, jsonText(v))
	}
}

// jsonText is v as JSON, with <, > and & left as they are: the text is
// stored and shown escaped, not embedded in HTML.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
