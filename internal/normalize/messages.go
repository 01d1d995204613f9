package normalize

import (
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Chat messages arrive in many shapes; all are normalized to model.Message
// (role + parts):
//   - OTel GenAI: {role, parts: [{type, content | id, name, arguments |
//     response | result | uri, mime_type}], name, finish_reason};
//   - OpenAI: {role, content: string | [{type: text, text} | {type:
//     image_url, image_url: {url}}], tool_calls: [{id, function: {name,
//     arguments}}], tool_call_id};
//   - OpenInference flattened: message.role, message.content,
//     message.contents[] (message_content.*), message.tool_calls[]
//     (tool_call.*);
//   - OpenLLMetry indexed: role, content, tool_calls[] ({id, name,
//     arguments});
//   - legacy completions: a bare string, prompt.text, completion.text;
//   - event bodies: {content, role, tool_calls, id} and gen_ai.choice
//     {index, finish_reason, message: {...}}.

// maxValueDepth bounds the recursion of every walker over decoded values.
const maxValueDepth = 8

// messagesFrom normalizes a message list (or a single message, or a JSON
// string holding either). defRole is the role of messages that name none.
func messagesFrom(v any, defRole string) []model.Message {
	return messagesAt(v, defRole, maxValueDepth)
}

func messagesAt(v any, defRole string, depth int) []model.Message {
	if depth <= 0 {
		return nil
	}
	switch x := unbytes(v).(type) {
	case string:
		if looksLikeJSON(x) {
			parsed, ok := parseJSON(x)
			if !ok {
				// Broken (often truncated) JSON is not a message.
				return nil
			}
			if _, isString := parsed.(string); !isString {
				return messagesAt(parsed, defRole, depth-1)
			}
			x = parsed.(string)
		}
		if x == "" {
			return nil
		}
		return []model.Message{{Role: defRole, Parts: []model.Part{{Type: "text", Content: x}}}}
	case []any:
		out := make([]model.Message, 0, len(x))
		for _, e := range x {
			if m, ok := toMessage(e, defRole); ok {
				out = append(out, m)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case map[string]any:
		if inner, ok := x["messages"]; ok {
			return messagesAt(inner, defRole, depth-1)
		}
		if m, ok := toMessage(x, defRole); ok {
			return []model.Message{m}
		}
	}
	return nil
}

// toMessage normalizes one message.
func toMessage(v any, defRole string) (model.Message, bool) {
	switch x := unbytes(v).(type) {
	case string:
		if x == "" {
			return model.Message{}, false
		}
		return model.Message{Role: defRole, Parts: []model.Part{{Type: "text", Content: x}}}, true
	case map[string]any:
		return mapMessage(x, defRole)
	}
	return model.Message{}, false
}

func mapMessage(m map[string]any, defRole string) (model.Message, bool) {
	msg := model.Message{
		Role:         normalizeRole(firstString(m, msgRoleFields...), defRole),
		Name:         firstString(m, msgNameFields...),
		FinishReason: firstString(m, msgFinishFields...),
	}
	if parts, ok := m["parts"].([]any); ok {
		msg.Parts = partsFrom(parts, msg.Parts)
	}
	toolCallID := firstString(m, msgToolCallIDFields...)
	if content, ok := firstValue(m, msgContentFields...); ok {
		if msg.Role == "tool" && toolCallID != "" {
			msg.Parts = append(msg.Parts, model.Part{Type: "tool_call_response", ID: toolCallID, Response: canonical(content, maxValueDepth)})
			toolCallID = ""
		} else {
			msg.Parts = contentParts(content, msg.Parts)
		}
	}
	if contents, ok := firstValue(m, msgContentsFields...); ok {
		if list, ok := contents.([]any); ok {
			msg.Parts = partsFrom(list, msg.Parts)
		}
	}
	if calls, ok := firstValue(m, msgToolCallsFields...); ok {
		msg.Parts = toolCalls(calls, msg.Parts)
	}
	if toolCallID != "" && msg.Role == "tool" && len(msg.Parts) == 0 {
		msg.Parts = append(msg.Parts, model.Part{Type: "tool_call_response", ID: toolCallID})
	}
	if len(msg.Parts) == 0 && msg.FinishReason == "" && firstString(m, msgRoleFields...) == "" {
		return model.Message{}, false
	}
	if msg.Parts == nil {
		msg.Parts = []model.Part{}
	}
	return msg, true
}

// normalizeRole lower-cases a role and maps framework spellings (human, ai,
// model) to the OTel roles.
func normalizeRole(role, defRole string) string {
	if role == "" {
		return defRole
	}
	role = strings.ToLower(role)
	if r, ok := roleNames[role]; ok {
		return r
	}
	return role
}

// contentParts normalizes a message content: a string (possibly a JSON
// list of content blocks), a list of parts, or one part.
func contentParts(content any, parts []model.Part) []model.Part {
	switch x := unbytes(content).(type) {
	case string:
		if strings.HasPrefix(strings.TrimSpace(x), "[{") {
			if list, ok := parseJSON(x); ok {
				if l, ok := list.([]any); ok && isPartList(l) {
					return partsFrom(l, parts)
				}
			}
		}
		if x == "" {
			return parts
		}
		return append(parts, model.Part{Type: "text", Content: x})
	case []any:
		return partsFrom(x, parts)
	case map[string]any:
		if p, ok := partFrom(x); ok {
			return append(parts, p)
		}
	case nil:
		return parts
	default:
		if s, ok := asString(x); ok {
			return append(parts, model.Part{Type: "text", Content: s})
		}
	}
	return parts
}

// isPartList reports whether every element is an object with a type.
func isPartList(l []any) bool {
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok || firstString(m, partTypeFields...) == "" {
			return false
		}
	}
	return len(l) > 0
}

func partsFrom(list []any, parts []model.Part) []model.Part {
	for _, e := range list {
		switch x := unbytes(e).(type) {
		case string:
			if x != "" {
				parts = append(parts, model.Part{Type: "text", Content: x})
			}
		case map[string]any:
			if p, ok := partFrom(x); ok {
				parts = append(parts, p)
			}
		}
	}
	return parts
}

// partFrom normalizes one content part from any of the shapes.
func partFrom(m map[string]any) (model.Part, bool) {
	typ := strings.ToLower(firstString(m, partTypeFields...))
	switch typ {
	case "", "text", "input_text", "output_text":
		text := firstString(m, partTextFields...)
		if text == "" {
			return model.Part{}, false
		}
		return model.Part{Type: "text", Content: text}, true
	case "tool_call", "tool_use", "function_call", "server_tool_call":
		args, _ := firstValue(m, "arguments", "input", "function.arguments")
		return model.Part{
			Type:      toolCallType(typ),
			ID:        firstString(m, "id", "call_id"),
			Name:      firstString(m, "name", "function.name"),
			Arguments: canonical(args, maxValueDepth),
		}, true
	case "tool_call_response", "tool_result", "function_call_output", "server_tool_call_response":
		resp, _ := firstValue(m, "response", "result", "content", "output")
		t := "tool_call_response"
		if typ == "server_tool_call_response" {
			t = typ
		}
		return model.Part{
			Type:     t,
			ID:       firstString(m, "id", "tool_use_id", "call_id"),
			Response: canonical(resp, maxValueDepth),
		}, true
	case "reasoning", "thinking":
		return model.Part{Type: "reasoning", Content: firstString(m, "content", "thinking", "text")}, true
	case "image_url", "image", "uri", "file", "input_image", "image_file":
		t := typ
		if t != "file" {
			t = "uri"
		}
		return model.Part{
			Type:     t,
			URI:      firstString(m, partURIFields...),
			MimeType: firstString(m, "mime_type"),
		}, true
	case "blob":
		return model.Part{Type: "blob", Content: firstString(m, "content"), MimeType: firstString(m, "mime_type")}, true
	}
	return model.Part{Type: typ, Content: firstString(m, partTextFields...)}, true
}

func toolCallType(t string) string {
	if t == "server_tool_call" {
		return t
	}
	return "tool_call"
}

// toolCalls appends the tool_call parts of a tool_calls list (OpenAI,
// OpenLLMetry and OpenInference shapes).
func toolCalls(v any, parts []model.Part) []model.Part {
	list, ok := v.([]any)
	if !ok {
		return parts
	}
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		args, _ := firstValue(m, toolCallArgsFields...)
		p := model.Part{
			Type:      "tool_call",
			ID:        firstString(m, toolCallIDFields...),
			Name:      firstString(m, toolCallNameFields...),
			Arguments: canonical(args, maxValueDepth),
		}
		if p.ID == "" && p.Name == "" && p.Arguments == nil {
			continue
		}
		parts = append(parts, p)
	}
	return parts
}

// lastUserText is the text of the last user message that has text.
func lastUserText(msgs []model.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			if t := msgs[i].Text(); t != "" {
				return t
			}
		}
	}
	return ""
}

// firstAssistantText is the text of the first output message (choice) that
// has text and is not an input role.
func firstAssistantText(msgs []model.Message) string {
	for _, m := range msgs {
		switch m.Role {
		case "user", "system", "developer", "tool":
			continue
		}
		if t := m.Text(); t != "" {
			return t
		}
	}
	return ""
}

// firstSystemText is the text of the first system (or developer) message.
func firstSystemText(msgs []model.Message) string {
	for _, m := range msgs {
		if m.Role == "system" || m.Role == "developer" {
			if t := m.Text(); t != "" {
				return t
			}
		}
	}
	return ""
}

// partsText is the text of a system instructions value: a string, a list
// of parts, or a JSON string of either.
func partsText(v any) string {
	switch x := unbytes(v).(type) {
	case string:
		if parsed, ok := parseJSON(x); ok {
			if s, isString := parsed.(string); isString {
				return s
			}
			return partsText(parsed)
		}
		return x
	case []any:
		var msgParts []model.Part
		for _, e := range x {
			if m, ok := e.(map[string]any); ok && firstString(m, msgRoleFields...) != "" {
				// A message list rather than parts.
				return firstSystemText(messagesFrom(x, "system"))
			}
		}
		msgParts = partsFrom(x, msgParts)
		return model.Message{Parts: msgParts}.Text()
	case map[string]any:
		if p, ok := partFrom(x); ok {
			return model.Message{Parts: []model.Part{p}}.Text()
		}
	}
	return ""
}

// messages applies a message source list: the first source yielding
// messages wins.
func (v *view) messages(sources []msgSource, defRole string) []model.Message {
	for _, src := range sources {
		if msgs := v.messagesFrom(src, defRole); len(msgs) > 0 {
			return msgs
		}
	}
	return nil
}

func (v *view) messagesFrom(src msgSource, defRole string) []model.Message {
	switch src.kind {
	case msgAttr:
		if val, ok := v.list(src.key); ok {
			return messagesFrom(val, defRole)
		}
	case msgEventAttr:
		for i := range v.events {
			e := &v.events[i]
			if e.name != src.event {
				continue
			}
			if val, ok := e.get(src.key); ok {
				if msgs := messagesFrom(val, defRole); len(msgs) > 0 {
					return msgs
				}
			}
		}
	case msgRoleEvents:
		var out []model.Message
		for i := range v.events {
			e := &v.events[i]
			role, ok := roleEvents[e.name]
			if !ok {
				continue
			}
			if m, ok := eventMessage(e, role); ok {
				out = append(out, m)
			}
		}
		return out
	case msgChoiceEvents:
		var out []model.Message
		for i := range v.events {
			e := &v.events[i]
			if e.name != choiceEvent {
				continue
			}
			if m, ok := eventMessage(e, "assistant"); ok {
				out = append(out, m)
			}
		}
		return out
	case msgPromptflow:
		if !v.pf {
			return nil
		}
		val, _, ok := v.value(src.key)
		if !ok {
			return nil
		}
		if src.path != "" {
			m, isMap := val.(map[string]any)
			if !isMap {
				return nil
			}
			if val, ok = getPath(m, src.path); !ok {
				return nil
			}
		}
		return messagesFrom(val, defRole)
	case msgIfChat:
		val, _, ok := v.value(src.key)
		if !ok {
			break
		}
		if isChat(val) {
			return messagesFrom(val, defRole)
		}
		// A model call's input or output given as plain text (a Langfuse
		// generation's completion) is one message.
		if s, isText := unbytes(val).(string); isText && v.kind.IsModelCall() && strings.TrimSpace(s) != "" {
			return []model.Message{{Role: defRole, Parts: []model.Part{{Type: "text", Content: s}}}}
		}
	}
	return nil
}

// isChat reports whether a decoded value is a chat message, a list of
// them, or an object holding such a list under "messages" (a Langfuse
// generation's input, a chat request body).
func isChat(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["role"]; ok {
			return true
		}
		if inner, ok := x["messages"].([]any); ok {
			return isChat(inner)
		}
		return false
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return false
			}
			if _, ok := m["role"]; !ok {
				return false
			}
		}
		return len(x) > 0
	}
	return false
}

// eventMessage reads one message from a deprecated message event or a
// gen_ai.choice event: the map body (or the attributes for span events).
func eventMessage(e *event, role string) (model.Message, bool) {
	fields := e.fields()
	if fields == nil {
		if s, ok := asString(e.raw); ok && s != "" {
			return model.Message{Role: role, Parts: []model.Part{{Type: "text", Content: s}}}, true
		}
		return model.Message{}, false
	}
	m, ok := mapMessage(fields, role)
	if ok && m.Role == "tool" && len(m.Parts) > 0 && m.Parts[0].Type == "tool_call_response" && m.Parts[0].ID == "" {
		m.Parts[0].ID = firstString(fields, "id")
	} else if ok && role == "tool" {
		if id := firstString(fields, "id"); id != "" && len(m.Parts) == 1 && m.Parts[0].Type == "text" {
			m.Parts[0] = model.Part{Type: "tool_call_response", ID: id, Response: m.Parts[0].Content}
		}
	}
	return m, ok
}

// systemPrompt applies the system_prompt precedence.
func (v *view) systemPrompt(input []model.Message) string {
	for _, src := range systemInstructionSources {
		switch src.kind {
		case msgAttr:
			if val, _, ok := v.value(src.key); ok {
				if t := partsText(val); t != "" {
					return t
				}
			}
		case msgEventAttr:
			for i := range v.events {
				e := &v.events[i]
				if e.name != src.event {
					continue
				}
				if val, ok := e.get(src.key); ok {
					if t := partsText(val); t != "" {
						return t
					}
				}
			}
		}
	}
	return firstSystemText(input)
}
