package gateway

import (
	"github.com/tidwall/gjson"
)

// The Responses API (POST /v1/responses): input items instead of
// messages, one response object with output items instead of choices,
// and a stream of typed events that ends with the whole response object.

// readResponsesRequest reads a Responses API request.
func readResponsesRequest(c *Call, r gjson.Result) {
	params := map[string]any{}
	fields(r, func(k string, v gjson.Result) bool {
		switch key := k; key {
		case "model":
			c.RequestModel = str(v)
		case "stream":
			c.Stream = v.Type == gjson.True
		case "instructions":
			c.System = contentParts(v)
		case "input":
			c.Input = responsesInput(v)
		case "temperature", "top_p", "max_output_tokens":
			requestParam(params, key, v)
		}
		return true
	})
	if len(params) > 0 {
		c.Params = params
	}
}

// responsesInput reads a request's input: a string (one user message) or
// a list of items: messages, and function calls with their outputs, which
// become the assistant's tool_call parts and tool messages as in a chat
// history. Other items (reasoning, item references, built-in tools) are
// skipped.
func responsesInput(v gjson.Result) []Message {
	if v.Type == gjson.String {
		if v.Str == "" {
			return nil
		}
		return []Message{{Role: "user", Parts: textParts(v.Str)}}
	}
	var out []Message
	calls := false // the last message holds the function calls just read
	elements(v, func(it gjson.Result) bool {
		switch str(it.Get("type")) {
		case "function_call":
			p := Part{Type: "tool_call", ID: str(it.Get("call_id")), Name: str(it.Get("name")), Arguments: arguments(str(it.Get("arguments")))}
			if calls && len(out[len(out)-1].Parts) < maxToolCalls {
				// Parallel calls are one assistant turn.
				out[len(out)-1].Parts = append(out[len(out)-1].Parts, p)
			} else {
				out = append(out, Message{Role: "assistant", Parts: []Part{p}})
			}
			calls = true
			return true
		case "function_call_output":
			out = append(out, Message{Role: "tool", Parts: []Part{{
				Type: "tool_call_response", ID: str(it.Get("call_id")), Response: contentText(it.Get("output")),
			}}})
		case "message", "":
			if msg, ok := chatMessage(it); ok {
				out = append(out, msg)
			}
		}
		calls = false
		return true
	})
	return out
}

// readResponseObject reads a response object (the JSON answer, or the one
// a stream's last event carries): its output items become the parts of
// one assistant message, reasoning items skipped.
func readResponseObject(c *Call, r gjson.Result) {
	if !r.IsObject() {
		return
	}
	var (
		msg                    = Message{Role: "assistant"}
		status, reason, errMsg string
		hasOutput, hasCall     bool
	)
	fields(r, func(k string, v gjson.Result) bool {
		switch k {
		case "id":
			c.ResponseID = str(v)
		case "model":
			c.ResponseModel = str(v)
		case "status":
			status = str(v)
		case "incomplete_details":
			reason = str(v.Get("reason"))
		case "error":
			errMsg = str(v.Get("message"))
		case "usage":
			if v.IsObject() {
				c.Usage = openaiUsage(v)
			}
		case "output":
			hasOutput = v.IsArray()
			elements(v, func(it gjson.Result) bool {
				switch str(it.Get("type")) {
				case "message":
					msg.Parts = append(msg.Parts, contentParts(it.Get("content"))...)
				case "function_call":
					hasCall = true
					msg.Parts = append(msg.Parts, Part{Type: "tool_call", ID: str(it.Get("call_id")), Name: str(it.Get("name")), Arguments: arguments(str(it.Get("arguments")))})
				}
				return len(msg.Parts) < maxToolCalls
			})
		}
		return true
	})
	if !hasOutput && status == "" {
		return
	}
	c.Output, c.FinishReasons = nil, nil
	c.addChoice(msg, responsesFinish(status, reason, hasCall))
	if status == "failed" && errMsg != "" && c.ErrorMessage == "" {
		c.ErrorMessage = errMsg
	}
}

// responsesFinish turns a response's status into a finish reason, in the
// chat completions' terms the conventions use: completed is stop (or
// tool_call when the model called functions), incomplete for want of
// tokens is length; any other status is kept as it is.
func responsesFinish(status, reason string, called bool) string {
	switch status {
	case "completed":
		if called {
			return "tool_call"
		}
		return "stop"
	case "incomplete":
		switch reason {
		case "max_output_tokens":
			return "length"
		case "content_filter":
			return "content_filter"
		}
	}
	return status
}

// responsesStream assembles a streamed response when its last event
// (response.completed, which carries the whole response) is missing: from
// the output text deltas and the items reported done.
type responsesStream struct {
	c     *Call
	phase int
	done  bool
	items []*itemAcc
}

// itemAcc is one output item of a stream.
type itemAcc struct {
	index int64
	text  gapText
	// parts is the item as reported done (a whole message, or a
	// function call), which supersedes its deltas.
	parts []Part
}

// readResponsesStream reads a streamed response.
func readResponsesStream(c *Call, b body) {
	s := &responsesStream{c: c}
	each := func(e sseEvent) bool {
		s.event(e)
		return true
	}
	eachEvent(b.head, !b.cut, each)
	if b.tail != nil {
		s.phase = 1
		eachEvent(tailEvents(b.tail), true, each)
	}
	if !s.done {
		if b.cut {
			for _, it := range s.items {
				it.text.markCut()
			}
		}
		s.assemble()
	}
}

func (s *responsesStream) event(e sseEvent) {
	r := gjson.ParseBytes(e.data)
	if !r.IsObject() {
		return
	}
	typ := str(r.Get("type"))
	if typ == "" {
		typ = e.name
	}
	c := s.c
	switch typ {
	case "response.created", "response.in_progress", "response.queued":
		resp := r.Get("response")
		if id := str(resp.Get("id")); id != "" && c.ResponseID == "" {
			c.ResponseID = id
		}
		if m := str(resp.Get("model")); m != "" && c.ResponseModel == "" {
			c.ResponseModel = m
		}
	case "response.output_text.delta", "response.refusal.delta":
		if it := s.item(r.Get("output_index").Int()); it != nil {
			it.text.add(str(r.Get("delta")), s.phase)
		}
	case "response.output_item.done":
		it := s.item(r.Get("output_index").Int())
		item := r.Get("item")
		if it == nil {
			return
		}
		switch str(item.Get("type")) {
		case "message":
			it.parts = contentParts(item.Get("content"))
		case "function_call":
			it.parts = []Part{{Type: "tool_call", ID: str(item.Get("call_id")), Name: str(item.Get("name")), Arguments: arguments(str(item.Get("arguments")))}}
		}
	case "response.completed", "response.incomplete", "response.failed":
		readResponseObject(c, r.Get("response"))
		s.done = true
	case "error":
		// {"type":"error","code":...,"message":...}: errorMessage reads
		// its message like an error body's.
		if c.ErrorMessage == "" {
			c.ErrorMessage = errorMessage(e.data)
		}
	}
}

// item finds or adds the output item of an index; nil past maxChoices.
func (s *responsesStream) item(index int64) *itemAcc {
	return byIndex(&s.items, index, maxChoices, func() *itemAcc { return &itemAcc{index: index} })
}

func (it *itemAcc) at() int64 { return it.index }

// assemble makes the output message of a stream that was cut before its
// last event; its finish reason is unknown.
func (s *responsesStream) assemble() {
	sortByIndex(s.items)
	msg := Message{Role: "assistant"}
	for _, it := range s.items {
		if it.parts != nil {
			msg.Parts = append(msg.Parts, it.parts...)
		} else {
			msg.Parts = append(msg.Parts, textParts(it.text.b.String())...)
		}
	}
	if len(msg.Parts) > 0 {
		s.c.addChoice(msg, "")
	}
}
