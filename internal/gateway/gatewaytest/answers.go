package gatewaytest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"strings"
)

// The answers, in the shapes OpenAI's API sends them (field order
// included, as far as a map-free encoding keeps it). Everything in them is
// derived from the request and the reply: no clock, no counter.

// created is the creation time every answer names.
const created = 1700000000

// obj is a JSON object that keeps its keys in order.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, e := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("gatewaytest: " + err.Error()) // only fixed shapes are marshalled
	}
	return b
}

// answer is the whole (not streamed) answer to a request.
func answer(req Request, reply Reply) []byte {
	switch req.Endpoint {
	case EndpointResponses:
		return marshal(response(req, reply, "completed"))
	case EndpointEmbeddings:
		return marshal(embeddings(req, reply))
	case EndpointCompletions:
		return marshal(obj{
			{"id", "cmpl-" + digest(req)[:29]}, {"object", "text_completion"}, {"created", created},
			{"model", model(req, reply)},
			{"choices", []any{obj{{"text", content(reply)}, {"index", 0}, {"logprobs", nil}, {"finish_reason", "stop"}}}},
			{"usage", chatUsage(usage(req, reply))},
		})
	}
	msg := obj{{"role", "assistant"}, {"content", content(reply)}}
	finish := "stop"
	if len(reply.ToolCalls) > 0 {
		var calls []any
		for _, c := range reply.ToolCalls {
			calls = append(calls, obj{{"id", c.ID}, {"type", "function"}, {"function", obj{{"name", c.Name}, {"arguments", c.Arguments}}}})
		}
		msg = obj{{"role", "assistant"}, {"content", nilIfEmpty(reply.Content)}, {"tool_calls", calls}}
		finish = "tool_calls"
	}
	msg = append(msg, kv{"refusal", nil}, kv{"annotations", []any{}})
	return marshal(obj{
		{"id", "chatcmpl-" + digest(req)[:29]}, {"object", "chat.completion"}, {"created", created},
		{"model", model(req, reply)},
		{"choices", []any{obj{{"index", 0}, {"message", msg}, {"logprobs", nil}, {"finish_reason", finish}}}},
		{"usage", chatUsage(usage(req, reply))},
		{"service_tier", "default"}, {"system_fingerprint", "fp_gatewaytest"},
	})
}

// events is a streamed answer, one server-sent event per element.
func events(req Request, reply Reply) [][]byte {
	switch req.Endpoint {
	case EndpointResponses:
		return responseEvents(req, reply)
	case EndpointCompletions:
		return completionEvents(req, reply)
	}
	id, mdl := "chatcmpl-"+digest(req)[:29], model(req, reply)
	chunk := func(delta obj, finish any) []byte {
		c := obj{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", mdl},
			{"service_tier", "default"}, {"system_fingerprint", "fp_gatewaytest"},
			{"choices", []any{obj{{"index", 0}, {"delta", delta}, {"logprobs", nil}, {"finish_reason", finish}}}}}
		if req.IncludeUsage {
			c = append(c, kv{"usage", nil})
		}
		return data(c)
	}
	evs := [][]byte{chunk(obj{{"role", "assistant"}, {"content", ""}, {"refusal", nil}}, nil)}
	finish := "stop"
	if len(reply.ToolCalls) == 0 || reply.Content != "" {
		for _, piece := range pieces(content(reply)) {
			evs = append(evs, chunk(obj{{"content", piece}}, nil))
		}
	}
	for i, c := range reply.ToolCalls {
		finish = "tool_calls"
		evs = append(evs, chunk(obj{{"tool_calls", []any{obj{{"index", i}, {"id", c.ID}, {"type", "function"},
			{"function", obj{{"name", c.Name}, {"arguments", ""}}}}}}}, nil))
		for _, piece := range pieces(c.Arguments) {
			evs = append(evs, chunk(obj{{"tool_calls", []any{obj{{"index", i}, {"function", obj{{"arguments", piece}}}}}}}, nil))
		}
	}
	evs = append(evs, chunk(obj{}, finish))
	if req.IncludeUsage {
		evs = append(evs, data(obj{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", mdl},
			{"service_tier", "default"}, {"system_fingerprint", "fp_gatewaytest"},
			{"choices", []any{}}, {"usage", chatUsage(usage(req, reply))}}))
	}
	return append(evs, []byte("data: [DONE]\n\n"))
}

// completionEvents is a streamed legacy completion.
func completionEvents(req Request, reply Reply) [][]byte {
	id, mdl := "cmpl-"+digest(req)[:29], model(req, reply)
	chunk := func(text string, finish any) []byte {
		return data(obj{{"id", id}, {"object", "text_completion"}, {"created", created},
			{"choices", []any{obj{{"text", text}, {"index", 0}, {"logprobs", nil}, {"finish_reason", finish}}}}, {"model", mdl}})
	}
	var evs [][]byte
	for _, piece := range pieces(content(reply)) {
		evs = append(evs, chunk(piece, nil))
	}
	evs = append(evs, chunk("", "stop"))
	if req.IncludeUsage {
		evs = append(evs, data(obj{{"id", id}, {"object", "text_completion"}, {"created", created},
			{"choices", []any{}}, {"model", mdl}, {"usage", chatUsage(usage(req, reply))}}))
	}
	return append(evs, []byte("data: [DONE]\n\n"))
}

// response is a Responses API response object in the given status; its
// output and usage only once completed.
func response(req Request, reply Reply, status string) obj {
	output, usg := []any{}, any(nil)
	if status == "completed" {
		output = responseOutput(req, reply, "completed")
		usg = responsesUsage(usage(req, reply))
	}
	return obj{
		{"id", "resp_" + digest(req)[:40]}, {"object", "response"}, {"created_at", created}, {"status", status},
		{"background", false}, {"error", nil}, {"incomplete_details", nil}, {"instructions", nil},
		{"max_output_tokens", nil}, {"model", model(req, reply)}, {"output", output},
		{"parallel_tool_calls", true}, {"previous_response_id", nil}, {"store", true}, {"temperature", 1.0},
		{"text", obj{{"format", obj{{"type", "text"}}}}}, {"tool_choice", "auto"}, {"tools", []any{}},
		{"top_p", 1.0}, {"truncation", "disabled"}, {"usage", usg}, {"user", nil}, {"metadata", obj{}},
	}
}

func messageID(req Request) string { return "msg_" + digest(req)[24:64] }

// responseOutput is a response's output items: the message, then the
// function calls.
func responseOutput(req Request, reply Reply, status string) []any {
	var out []any
	if len(reply.ToolCalls) == 0 || reply.Content != "" {
		out = append(out, obj{{"id", messageID(req)}, {"type", "message"}, {"status", status}, {"role", "assistant"},
			{"content", []any{outputText(content(reply))}}})
	}
	for _, c := range reply.ToolCalls {
		out = append(out, obj{{"id", "fc_" + c.ID}, {"type", "function_call"}, {"status", status},
			{"arguments", c.Arguments}, {"call_id", c.ID}, {"name", c.Name}})
	}
	return out
}

func outputText(text string) obj {
	return obj{{"type", "output_text"}, {"annotations", []any{}}, {"logprobs", []any{}}, {"text", text}}
}

// responseEvents is a streamed Responses API answer: created, in
// progress, the message's text deltas, and response.completed with the
// whole response.
func responseEvents(req Request, reply Reply) [][]byte {
	var evs [][]byte
	add := func(typ string, fields ...kv) {
		o := append(obj{{"type", typ}, {"sequence_number", len(evs)}}, fields...)
		evs = append(evs, []byte("event: "+typ+"\ndata: "+string(marshal(o))+"\n\n"))
	}
	add("response.created", kv{"response", response(req, reply, "in_progress")})
	add("response.in_progress", kv{"response", response(req, reply, "in_progress")})
	text, id := content(reply), messageID(req)
	if len(reply.ToolCalls) == 0 || reply.Content != "" {
		add("response.output_item.added", kv{"output_index", 0},
			kv{"item", obj{{"id", id}, {"type", "message"}, {"status", "in_progress"}, {"role", "assistant"}, {"content", []any{}}}})
		add("response.content_part.added", kv{"item_id", id}, kv{"output_index", 0}, kv{"content_index", 0}, kv{"part", outputText("")})
		for _, piece := range pieces(text) {
			add("response.output_text.delta", kv{"item_id", id}, kv{"output_index", 0}, kv{"content_index", 0},
				kv{"delta", piece}, kv{"logprobs", []any{}})
		}
		add("response.output_text.done", kv{"item_id", id}, kv{"output_index", 0}, kv{"content_index", 0},
			kv{"text", text}, kv{"logprobs", []any{}})
		add("response.content_part.done", kv{"item_id", id}, kv{"output_index", 0}, kv{"content_index", 0}, kv{"part", outputText(text)})
		add("response.output_item.done", kv{"output_index", 0}, kv{"item", responseOutput(req, Reply{Content: text}, "completed")[0]})
	}
	add("response.completed", kv{"response", response(req, reply, "completed")})
	return evs
}

// embeddings is an embeddings answer: one small vector per input, made
// from the input's text, as floats or (encoding_format: base64) as
// little-endian float32 in base64.
func embeddings(req Request, reply Reply) obj {
	dims := req.Dimensions
	if dims <= 0 || dims > 64 {
		dims = 8
	}
	data := []any{}
	var tokens int64
	for i, in := range req.Inputs {
		vec := vector(in, dims)
		var e any = vec
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(float32(f)))
			}
			e = base64.StdEncoding.EncodeToString(b)
		}
		data = append(data, obj{{"object", "embedding"}, {"index", i}, {"embedding", e}})
		tokens += int64(len(strings.Fields(in)))
	}
	if reply.Usage != nil {
		tokens = reply.Usage.InputTokens
	}
	return obj{{"object", "list"}, {"data", data}, {"model", model(req, reply)},
		{"usage", obj{{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}
}

// vector is a unit vector of dims values in (-1, 1) drawn from text.
func vector(text string, dims int) []float64 {
	h := fnv.New64a()
	h.Write([]byte(text))
	seed := h.Sum64()
	vec := make([]float64, dims)
	var norm float64
	for i := range vec {
		seed = seed*6364136223846793005 + 1442695040888963407
		// A float32's precision, so that floats and base64 say the same.
		vec[i] = float64(float32(float64(seed>>11)/float64(1<<53)*2 - 1))
		norm += vec[i] * vec[i]
	}
	for i := range vec {
		vec[i] = float64(float32(vec[i] / math.Sqrt(norm)))
	}
	return vec
}

func chatUsage(u Usage) obj {
	return obj{{"prompt_tokens", u.InputTokens}, {"completion_tokens", u.OutputTokens}, {"total_tokens", u.InputTokens + u.OutputTokens},
		{"prompt_tokens_details", obj{{"cached_tokens", u.CachedTokens}, {"audio_tokens", 0}}},
		{"completion_tokens_details", obj{{"reasoning_tokens", u.ReasoningTokens}, {"audio_tokens", 0},
			{"accepted_prediction_tokens", 0}, {"rejected_prediction_tokens", 0}}}}
}

func responsesUsage(u Usage) obj {
	return obj{{"input_tokens", u.InputTokens}, {"input_tokens_details", obj{{"cached_tokens", u.CachedTokens}}},
		{"output_tokens", u.OutputTokens}, {"output_tokens_details", obj{{"reasoning_tokens", u.ReasoningTokens}}},
		{"total_tokens", u.InputTokens + u.OutputTokens}}
}

// usage is the reply's usage, or an estimate: a token per four bytes of
// the request body, a token per word of the answer.
func usage(req Request, reply Reply) Usage {
	if reply.Usage != nil {
		return *reply.Usage
	}
	out := int64(len(strings.Fields(content(reply))))
	for _, c := range reply.ToolCalls {
		out += int64(len(c.Arguments)+3) / 4
	}
	return Usage{InputTokens: int64(len(req.Body)+3) / 4, OutputTokens: out}
}

func content(reply Reply) string {
	if reply.Content == "" && len(reply.ToolCalls) == 0 {
		return DefaultContent
	}
	return reply.Content
}

func model(req Request, reply Reply) string {
	if reply.Model != "" {
		return reply.Model
	}
	return req.Model
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// pieces cuts text into the pieces a stream sends: each word with the
// space before it.
func pieces(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		j := i + 1
		for j < len(text) && text[j] != ' ' {
			j++
		}
		out = append(out, text[i:j])
		i = j
	}
	return out
}

// data is one server-sent event of a data line.
func data(v any) []byte {
	return []byte("data: " + string(marshal(v)) + "\n\n")
}
