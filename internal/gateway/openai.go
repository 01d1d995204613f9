package gateway

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"math"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// OpenAI endpoints a gateway of kind openai understands, named by the
// end of the path: the upstream's base path may be /v1, an Azure
// deployment's /openai/deployments/{d}, or nothing.
const (
	endpointNone = iota
	endpointChat
	endpointResponses
	endpointEmbeddings
	endpointCompletions
)

// openaiEndpoint names the endpoint a request went to, and the Azure
// deployment its path names (the model, for Azure requests whose body
// names none). Only POST creates: GET /v1/chat/completions lists stored
// completions and GET /v1/responses/{id} reads one back, plain calls.
func openaiEndpoint(method, path string) (endpoint int, deployment string) {
	if !strings.EqualFold(method, "POST") {
		return endpointNone, ""
	}
	p := "/" + strings.Trim(path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		endpoint = endpointChat
	case strings.HasSuffix(p, "/responses"):
		endpoint = endpointResponses
	case strings.HasSuffix(p, "/embeddings"):
		endpoint = endpointEmbeddings
	case strings.HasSuffix(p, "/completions"):
		endpoint = endpointCompletions
	default:
		return endpointNone, ""
	}
	if _, after, ok := strings.Cut(p, "/deployments/"); ok {
		deployment, _, _ = strings.Cut(after, "/")
	}
	return endpoint, deployment
}

// extractOpenAI reads the call an exchange with an OpenAI-compatible API
// carried.
func extractOpenAI(x *Exchange, provider string) Call {
	c := Call{Provider: provider}
	resp := readBody(x.ResponseBody, x.ResponseHeader.Get("Content-Encoding"), x.ResponseTruncated, x.ResponseTail)
	failed := x.Status >= 400
	if failed {
		c.ErrorMessage = errorMessage(resp.head)
	}
	endpoint, deployment := openaiEndpoint(x.Method, x.Path)
	if endpoint == endpointNone {
		return c
	}
	req := readBody(x.RequestBody, x.RequestEncoding, x.RequestTruncated, nil)
	rq := gjson.ParseBytes(req.head)
	var stream bool
	switch endpoint {
	case endpointChat, endpointCompletions:
		c.Operation = "chat"
		if endpoint == endpointCompletions {
			c.Operation = "text_completion"
		}
		readCompletionRequest(&c, rq, endpoint == endpointCompletions)
		if failed {
			break
		}
		ct := x.ResponseHeader.Get("Content-Type")
		if stream = isEventStream(ct, resp.head, c.Stream); stream {
			readCompletionStream(&c, resp, endpoint == endpointCompletions)
		} else {
			readCompletionResponse(&c, gjson.ParseBytes(resp.head), endpoint == endpointCompletions)
		}
	case endpointResponses:
		c.Operation = "chat"
		readResponsesRequest(&c, rq)
		if failed {
			break
		}
		ct := x.ResponseHeader.Get("Content-Type")
		if stream = isEventStream(ct, resp.head, c.Stream); stream {
			readResponsesStream(&c, resp)
		} else {
			readResponseObject(&c, gjson.ParseBytes(resp.head))
		}
	case endpointEmbeddings:
		c.Operation = "embeddings"
		readEmbeddingsRequest(&c, rq)
		if !failed {
			readEmbeddingsResponse(&c, gjson.ParseBytes(resp.head))
		}
	}
	if !failed && resp.tail != nil {
		// A cut body's end still says what a reader most wants and the
		// head lost: a JSON answer ends with its model and usage, and an
		// event stream whose last event was too long for the tail (a
		// Responses stream's response.completed) still ends with usage.
		if c.Usage == (Usage{}) {
			if u := tailValue(resp.tail, "usage"); u.IsObject() {
				c.Usage = openaiUsage(u)
			}
		}
		if c.ResponseModel == "" && !stream {
			c.ResponseModel = str(tailValue(resp.tail, "model"))
		}
	}
	if c.RequestModel == "" {
		c.RequestModel = deployment
	}
	return c
}

// tailValue finds, in the end of a cut JSON body, the value of the last
// "key": in it. The tail starts anywhere, so it cannot be parsed as a
// whole; but a key in quotes followed by a colon can only be structure
// (a quote inside a string is escaped), and OpenAI answers end with
// model and usage.
func tailValue(tail []byte, key string) gjson.Result {
	pat := []byte(`"` + key + `"`)
	end := len(tail)
	for range 16 {
		i := bytes.LastIndex(tail[:end], pat)
		if i < 0 {
			return gjson.Result{}
		}
		rest := bytes.TrimLeft(tail[i+len(pat):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' && (i == 0 || tail[i-1] != '\\') {
			doc := make([]byte, 0, len(rest)+4)
			doc = append(append(doc, `{"v"`...), rest...)
			return gjson.GetBytes(doc, "v")
		}
		end = i
	}
	return gjson.Result{}
}

// openaiUsage reads a usage object, in the chat completions' names
// (prompt_tokens, completion_tokens) or the Responses API's (input_tokens,
// output_tokens). Both count cached tokens in the input and reasoning
// tokens in the output, as the conventions do.
func openaiUsage(u gjson.Result) Usage {
	pick := func(paths ...string) *int64 {
		for _, p := range paths {
			if n := count(u.Get(p)); n != nil {
				return n
			}
		}
		return nil
	}
	return Usage{
		InputTokens:     pick("prompt_tokens", "input_tokens"),
		OutputTokens:    pick("completion_tokens", "output_tokens"),
		TotalTokens:     pick("total_tokens"),
		CacheReadTokens: pick("prompt_tokens_details.cached_tokens", "input_tokens_details.cached_tokens"),
		ReasoningTokens: pick("completion_tokens_details.reasoning_tokens", "output_tokens_details.reasoning_tokens"),
	}
}

// integer reads an integral JSON number (negative ones too: a seed).
func integer(r gjson.Result) (int64, bool) {
	if r.Type != gjson.Number || r.Num != math.Trunc(r.Num) || math.Abs(r.Num) > 1<<53 {
		return 0, false
	}
	return int64(r.Num), true
}

// requestParam records one request parameter under its semconv suffix
// (gen_ai.request.{name}); it says whether key was one.
func requestParam(p map[string]any, key string, v gjson.Result) bool {
	switch key {
	case "temperature", "top_p", "frequency_penalty", "presence_penalty":
		if v.Type == gjson.Number && !math.IsInf(v.Num, 0) {
			p[key] = v.Num
		}
	case "max_tokens", "max_completion_tokens", "max_output_tokens":
		if n, ok := integer(v); ok {
			p["max_tokens"] = n
		}
	case "seed":
		if n, ok := integer(v); ok {
			p["seed"] = n
		}
	case "n":
		// The conventions record the choice count only when it is not 1.
		if n, ok := integer(v); ok && n != 1 {
			p["choice.count"] = n
		}
	case "stop":
		var stops []string
		if v.Type == gjson.String {
			stops = append(stops, v.Str)
		}
		elements(v, func(s gjson.Result) bool {
			if s.Type == gjson.String {
				stops = append(stops, s.Str)
			}
			return len(stops) < 16
		})
		if stops != nil {
			p["stop_sequences"] = stops
		}
	default:
		return false
	}
	return true
}

// readCompletionRequest reads a chat completions request (or, legacy, a
// completions request: a prompt instead of messages). It walks the
// request's top-level keys once: a request with a 1 MiB image in it is
// scanned once, not once per field.
func readCompletionRequest(c *Call, r gjson.Result, legacy bool) {
	params := map[string]any{}
	fields(r, func(k string, v gjson.Result) bool {
		switch key := k; key {
		case "model":
			c.RequestModel = str(v)
		case "stream":
			c.Stream = v.Type == gjson.True
		case "messages":
			if !legacy {
				c.Input = chatMessages(v)
			}
		case "prompt":
			if legacy {
				c.Input = promptMessages(v)
			}
		default:
			requestParam(params, key, v)
		}
		return true
	})
	if len(params) > 0 {
		c.Params = params
	}
}

// promptMessages is a legacy prompt (a string, or a list of them; token
// arrays say nothing readable) as one user message.
func promptMessages(v gjson.Result) []Message {
	var parts []Part
	if v.Type == gjson.String {
		parts = textParts(v.Str)
	}
	elements(v, func(s gjson.Result) bool {
		if s.Type == gjson.String && s.Str != "" {
			parts = append(parts, Part{Type: "text", Content: s.Str})
		}
		return true
	})
	if len(parts) == 0 {
		return nil
	}
	return []Message{{Role: "user", Parts: parts}}
}

// chatMessages reads a list of chat completions messages.
func chatMessages(v gjson.Result) []Message {
	var out []Message
	elements(v, func(m gjson.Result) bool {
		if msg, ok := chatMessage(m); ok {
			out = append(out, msg)
		}
		return true
	})
	return out
}

// role normalizes a role: OpenAI's developer messages are the system
// prompt of reasoning models, and LangChain-style histories say human and
// ai.
func role(r string) string {
	switch r = strings.ToLower(r); r {
	case "developer":
		return "system"
	case "human":
		return "user"
	case "ai":
		return "assistant"
	}
	return r
}

// chatMessage reads one chat completions message. A message without
// parts is dropped: it is one the recording cut in the middle, or says
// nothing.
func chatMessage(m gjson.Result) (Message, bool) {
	if !m.IsObject() {
		return Message{}, false
	}
	msg := Message{Role: role(str(m.Get("role"))), Name: str(m.Get("name"))}
	switch msg.Role {
	case "tool", "function":
		content := m.Get("content")
		if !content.Exists() {
			return Message{}, false
		}
		p := Part{Type: "tool_call_response", ID: str(m.Get("tool_call_id")), Response: contentText(content)}
		if msg.Role == "function" {
			// The legacy function role answers a function_call by name.
			msg.Role, p.Name, msg.Name = "tool", msg.Name, ""
		}
		msg.Parts = []Part{p}
	default:
		msg.Parts = contentParts(m.Get("content"))
		if r := str(m.Get("refusal")); r != "" {
			msg.Parts = append(msg.Parts, Part{Type: "text", Content: r})
		}
		msg.Parts = append(msg.Parts, toolCallParts(m.Get("tool_calls"))...)
		if fc := m.Get("function_call"); fc.IsObject() {
			msg.Parts = append(msg.Parts, Part{Type: "tool_call", Name: str(fc.Get("name")), Arguments: arguments(str(fc.Get("arguments")))})
		}
	}
	if len(msg.Parts) == 0 {
		return Message{}, false
	}
	return msg, true
}

// contentText is a message content as one string: a string as itself,
// text parts joined, anything else as JSON.
func contentText(c gjson.Result) string {
	if !c.IsArray() {
		return textOf(c)
	}
	var b strings.Builder
	elements(c, func(p gjson.Result) bool {
		if t := str(p.Get("text")); t != "" {
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(t)
		}
		return true
	})
	return b.String()
}

// contentParts reads a message content: a string, or a list of parts in
// the chat completions' shapes (text, image_url, input_audio, file) or the
// Responses API's (input_text, output_text, refusal, input_image,
// input_file). Media keep no data.
func contentParts(c gjson.Result) []Part {
	if c.Type == gjson.String {
		return textParts(c.Str)
	}
	var parts []Part
	elements(c, func(p gjson.Result) bool {
		if p.Type == gjson.String {
			if p.Str != "" {
				parts = append(parts, Part{Type: "text", Content: p.Str})
			}
			return true
		}
		switch typ := str(p.Get("type")); typ {
		case "image_url":
			u := p.Get("image_url")
			if u.IsObject() {
				u = u.Get("url")
			}
			parts = append(parts, mediaPart(str(u), "image"))
		case "input_image":
			if u := str(p.Get("image_url")); u != "" {
				parts = append(parts, mediaPart(u, "image"))
			} else {
				parts = append(parts, Part{Type: "blob", Modality: "image"})
			}
		case "input_audio":
			a := Part{Type: "blob", Modality: "audio"}
			if f := str(p.Get("input_audio.format")); f != "" && len(f) < 16 {
				a.MimeType = "audio/" + f
			}
			parts = append(parts, a)
		case "file", "input_file":
			name := str(p.Get("file.filename"))
			if name == "" {
				name = str(p.Get("filename"))
			}
			parts = append(parts, Part{Type: "blob", Name: name})
		case "refusal":
			if t := str(p.Get("refusal")); t != "" {
				parts = append(parts, Part{Type: "text", Content: t})
			}
		default:
			// text, input_text, output_text, and unknown parts that carry
			// text.
			if t := str(p.Get("text")); t != "" {
				parts = append(parts, Part{Type: "text", Content: t})
			}
		}
		return true
	})
	return parts
}

// toolCallParts reads a message's tool_calls.
func toolCallParts(v gjson.Result) []Part {
	var parts []Part
	elements(v, func(t gjson.Result) bool {
		parts = append(parts, Part{
			Type:      "tool_call",
			ID:        str(t.Get("id")),
			Name:      str(t.Get("function.name")),
			Arguments: arguments(str(t.Get("function.arguments"))),
		})
		return len(parts) < maxToolCalls
	})
	return parts
}

// readCompletionResponse reads a chat completion (or legacy completion)
// answer: one output message per choice.
func readCompletionResponse(c *Call, r gjson.Result, legacy bool) {
	fields(r, func(k string, v gjson.Result) bool {
		switch k {
		case "id":
			c.ResponseID = str(v)
		case "model":
			c.ResponseModel = str(v)
		case "usage":
			if v.IsObject() {
				c.Usage = openaiUsage(v)
			}
		case "choices":
			elements(v, func(ch gjson.Result) bool {
				msg := Message{Role: "assistant"}
				if legacy {
					msg.Parts = textParts(str(ch.Get("text")))
				} else if m := ch.Get("message"); m.IsObject() {
					if r := role(str(m.Get("role"))); r != "" {
						msg.Role = r
					}
					msg.Parts = contentParts(m.Get("content"))
					if r := str(m.Get("refusal")); r != "" {
						msg.Parts = append(msg.Parts, Part{Type: "text", Content: r})
					}
					msg.Parts = append(msg.Parts, toolCallParts(m.Get("tool_calls"))...)
					if fc := m.Get("function_call"); fc.IsObject() {
						msg.Parts = append(msg.Parts, Part{Type: "tool_call", Name: str(fc.Get("name")), Arguments: arguments(str(fc.Get("arguments")))})
					}
				}
				c.addChoice(msg, semconvFinish(str(ch.Get("finish_reason"))))
				return len(c.Output) < maxChoices
			})
		}
		return true
	})
}

// addChoice appends one choice's message and finish reason.
func (c *Call) addChoice(msg Message, finish string) {
	if msg.Parts == nil {
		// The conventions require parts: an empty answer has none.
		msg.Parts = []Part{}
	}
	msg.FinishReason = finish
	c.Output = append(c.Output, msg)
	if finish != "" {
		c.FinishReasons = append(c.FinishReasons, finish)
	}
}

// gapText is text assembled from stream deltas, from the head of a
// recording and then from its tail (phase 1), with the gap marked.
type gapText struct {
	b     strings.Builder
	phase int
}

func (g *gapText) add(s string, phase int) {
	if s == "" {
		return
	}
	if g.b.Len() > 0 && phase > g.phase {
		g.b.WriteString(gapMarker)
	}
	g.phase = phase
	g.b.WriteString(s)
}

// markCut marks the end of text that a cut recording ended before the
// stream did (the tail, if any, added nothing to it).
func (g *gapText) markCut() {
	if g.b.Len() > 0 && g.phase == 0 {
		g.b.WriteString(strings.TrimRight(gapMarker, " "))
		g.phase = 1
	}
}

// choiceAcc assembles one choice of a chat completions stream.
type choiceAcc struct {
	index         int64
	role          string
	text, refusal gapText
	tools         []*toolAcc
	finish        string
}

// toolAcc assembles one tool call of a choice from its deltas.
type toolAcc struct {
	index    int64
	id, name string
	args     gapText
}

// completionStream assembles a chat completions (or legacy completions)
// stream from its chunks.
type completionStream struct {
	c       *Call
	legacy  bool
	phase   int
	choices []*choiceAcc
}

// readCompletionStream reads a streamed chat completion: the head's
// events, then, when the recording was cut, the tail's, whose last chunks
// carry the finish reasons and (with include_usage) the usage.
func readCompletionStream(c *Call, b body, legacy bool) {
	s := &completionStream{c: c, legacy: legacy}
	each := func(e sseEvent) bool {
		s.chunk(e.data)
		return true
	}
	eachEvent(b.head, !b.cut, each)
	if b.tail != nil {
		s.phase = 1
		eachEvent(tailEvents(b.tail), true, each)
	}
	if b.cut {
		for _, a := range s.choices {
			a.text.markCut()
			a.refusal.markCut()
		}
	}
	s.finish()
}

func (s *completionStream) chunk(data []byte) {
	r := gjson.ParseBytes(data)
	if !r.IsObject() {
		// [DONE], or a cut or foreign line.
		return
	}
	c := s.c
	if e := r.Get("error"); e.Exists() && c.ErrorMessage == "" {
		// Some servers report a failure inside a stream that began well.
		c.ErrorMessage = errorMessage(data)
	}
	// Azure's first chunk carries only prompt filter results, without id
	// or model: keep the first that says.
	if id := str(r.Get("id")); id != "" && c.ResponseID == "" {
		c.ResponseID = id
	}
	if m := str(r.Get("model")); m != "" && c.ResponseModel == "" {
		c.ResponseModel = m
	}
	if u := r.Get("usage"); u.IsObject() {
		c.Usage = openaiUsage(u)
	}
	elements(r.Get("choices"), func(ch gjson.Result) bool {
		acc := s.choice(ch.Get("index").Int())
		if acc == nil {
			return false
		}
		if f := str(ch.Get("finish_reason")); f != "" {
			acc.finish = semconvFinish(f)
		}
		if s.legacy {
			acc.text.add(str(ch.Get("text")), s.phase)
			return true
		}
		d := ch.Get("delta")
		if r := str(d.Get("role")); r != "" {
			acc.role = role(r)
		}
		acc.text.add(str(d.Get("content")), s.phase)
		acc.refusal.add(str(d.Get("refusal")), s.phase)
		i := int64(-1)
		elements(d.Get("tool_calls"), func(tc gjson.Result) bool {
			i++
			idx := i
			if n := tc.Get("index"); n.Exists() {
				idx = n.Int()
			}
			t := acc.tool(idx)
			if t == nil {
				return false
			}
			if id := str(tc.Get("id")); id != "" {
				t.id = id
			}
			if n := str(tc.Get("function.name")); n != "" {
				t.name = n
			}
			t.args.add(str(tc.Get("function.arguments")), s.phase)
			return true
		})
		if fc := d.Get("function_call"); fc.IsObject() {
			// The legacy function_call streams as one call.
			t := acc.tool(0)
			if n := str(fc.Get("name")); n != "" && t != nil {
				t.name = n
			}
			if t != nil {
				t.args.add(str(fc.Get("arguments")), s.phase)
			}
		}
		return true
	})
}

// choice finds or adds the choice of an index; nil past maxChoices.
func (s *completionStream) choice(index int64) *choiceAcc {
	return byIndex(&s.choices, index, maxChoices, func() *choiceAcc { return &choiceAcc{index: index} })
}

// tool finds or adds a choice's tool call of an index; nil past
// maxToolCalls.
func (a *choiceAcc) tool(index int64) *toolAcc {
	return byIndex(&a.tools, index, maxToolCalls, func() *toolAcc { return &toolAcc{index: index} })
}

func (a *choiceAcc) at() int64 { return a.index }
func (t *toolAcc) at() int64   { return t.index }

// indexed is a part of an answer that stream events name by index: a
// choice, a tool call, an output item.
type indexed interface{ at() int64 }

// byIndex finds the part of an index, or adds a new one (fresh); nil past
// limit parts, so that a stream naming endless indexes stays bounded.
func byIndex[T indexed](parts *[]T, index int64, limit int, fresh func() T) T {
	for _, p := range *parts {
		if p.at() == index {
			return p
		}
	}
	var none T
	if len(*parts) >= limit {
		return none
	}
	p := fresh()
	*parts = append(*parts, p)
	return p
}

// sortByIndex puts parts in index order (events may name them in any).
func sortByIndex[T indexed](parts []T) {
	slices.SortFunc(parts, func(a, b T) int { return cmp.Compare(a.at(), b.at()) })
}

// finish turns the assembled choices into output messages, in index
// order.
func (s *completionStream) finish() {
	sortByIndex(s.choices)
	for _, a := range s.choices {
		msg := Message{Role: a.role}
		if msg.Role == "" {
			msg.Role = "assistant"
		}
		msg.Parts = textParts(a.text.b.String())
		msg.Parts = append(msg.Parts, textParts(a.refusal.b.String())...)
		sortByIndex(a.tools)
		for _, t := range a.tools {
			msg.Parts = append(msg.Parts, Part{Type: "tool_call", ID: t.id, Name: t.name, Arguments: arguments(t.args.b.String())})
		}
		s.c.addChoice(msg, a.finish)
	}
}

// readEmbeddingsRequest reads an embeddings request: the model, how many
// inputs (the inputs themselves are not chat and are not kept), the
// encoding and the dimensions asked for.
func readEmbeddingsRequest(c *Call, r gjson.Result) {
	fields(r, func(k string, v gjson.Result) bool {
		switch k {
		case "model":
			c.RequestModel = str(v)
		case "input":
			c.EmbeddingInputs = embeddingInputs(v)
		case "encoding_format":
			if f := str(v); f != "" {
				if c.Params == nil {
					c.Params = map[string]any{}
				}
				c.Params["encoding_formats"] = []string{f}
			}
		case "dimensions":
			if n, ok := integer(v); ok && n > 0 && n < math.MaxInt32 {
				c.EmbeddingDimensions = int(n)
			}
		}
		return true
	})
}

// embeddingInputs counts an embeddings request's inputs: a string, a list
// of strings, one token array, or a list of token arrays.
func embeddingInputs(v gjson.Result) int {
	switch {
	case v.Type == gjson.String:
		return 1
	case !v.IsArray():
		return 0
	}
	n, tokens := 0, false
	elements(v, func(e gjson.Result) bool {
		if e.Type == gjson.Number {
			tokens = true
			return false
		}
		n++
		return true
	})
	if tokens {
		return 1
	}
	return n
}

// readEmbeddingsResponse reads an embeddings answer: model, usage and
// the vectors' size, never the vectors.
func readEmbeddingsResponse(c *Call, r gjson.Result) {
	fields(r, func(k string, v gjson.Result) bool {
		switch k {
		case "model":
			c.ResponseModel = str(v)
		case "usage":
			if v.IsObject() {
				c.Usage = openaiUsage(v)
			}
		case "data":
			if d := embeddingDimensions(v.Get("0.embedding")); d > 0 {
				c.EmbeddingDimensions = d
			}
		}
		return true
	})
}

// embeddingDimensions is the size of one vector: a list of numbers, or
// base64 of little-endian float32s (encoding_format base64).
func embeddingDimensions(e gjson.Result) int {
	if e.Type == gjson.String {
		return base64.RawStdEncoding.DecodedLen(len(strings.TrimRight(e.Str, "="))) / 4
	}
	if !e.IsArray() || !strings.HasSuffix(strings.TrimSpace(e.Raw), "]") {
		// Not a vector, or one the recording cut.
		return 0
	}
	n := 0
	elements(e, func(gjson.Result) bool {
		n++
		return true
	})
	return n
}
