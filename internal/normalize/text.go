package normalize

// Span input and output: the raw strings as sent, and the question and
// answer text found in them.

import (
	"github.com/flowwatch/flowwatch/internal/model"
)

// io reads the input or output sources: the raw value of the first present
// one (serialized when structured), and the first text found in them.
func (v *view) io(sources []ioSource, fields []string, question bool) (raw, text string) {
	for _, src := range sources {
		if src.promptflow && !v.pf {
			continue
		}
		val, _, ok := v.value(src.key)
		if !ok {
			continue
		}
		if raw == "" {
			raw = v.rawString(src.key)
		}
		if t := extractText(val, fields, question, maxValueDepth); t != "" {
			if raw == "" {
				raw = v.rawString(src.key)
			}
			return raw, t
		}
	}
	return raw, ""
}

// rawString is an attribute as the app sent it: strings as they are,
// structured values serialized as JSON.
func (v *view) rawString(key string) string {
	raw := v.attrs[key]
	if s, ok := asString(raw); ok {
		return s
	}
	switch raw.(type) {
	case map[string]any, []any:
		return marshalValue(raw, maxValueDepth*4)
	}
	return ""
}

// extractText finds the question (or answer) in a decoded input (or
// output): the string itself, a likely field of an object, or the last
// user (first assistant) text of a message list.
func extractText(v any, fields []string, question bool, depth int) string {
	if depth <= 0 {
		return ""
	}
	switch x := unbytes(v).(type) {
	case string:
		return x
	case map[string]any:
		if _, ok := x["role"]; ok {
			if msgs := messagesFrom(x, ""); len(msgs) > 0 {
				return msgs[0].Text()
			}
		}
		for _, f := range fields {
			e, ok := x[f]
			if !ok || e == nil {
				continue
			}
			if f == "choices" {
				// A response body: the first choice.
				if l, ok := e.([]any); ok && len(l) > 0 {
					e = l[0]
				}
			}
			if t := extractText(e, fields, question, depth-1); t != "" {
				return t
			}
		}
		if question {
			// traceloop.entity.input: {"args": [...], "kwargs": {...}}.
			if args, ok := x["args"].([]any); ok {
				for _, a := range args {
					if s, ok := a.(string); ok && s != "" {
						return s
					}
				}
			}
		}
		if len(x) == 1 {
			for k, e := range x {
				if s, ok := unbytes(e).(string); ok && !notTextFields[k] {
					return s
				}
			}
		}
	case []any:
		if len(x) == 0 {
			return ""
		}
		if m, ok := x[0].(map[string]any); ok {
			if _, hasRole := m["role"]; hasRole {
				msgs := messagesFrom(x, "")
				if question {
					return lastUserText(msgs)
				}
				return firstAssistantText(msgs)
			}
		}
		return ""
	case nil:
		return ""
	default:
		s, _ := asString(x)
		return s
	}
	return ""
}

// finishReasons applies the finish_reasons precedence, then the output
// messages' finish reasons, then the indexed completion keys.
func (v *view) finishReasons(output []model.Message) []string {
	for _, k := range finishReasonKeys {
		val, _, ok := v.value(k)
		if !ok {
			continue
		}
		if out := stringList(val); len(out) > 0 {
			return out
		}
	}
	if entries, ok := v.list(indexedFinishReasons.list); ok {
		if l, ok := entries.([]any); ok {
			var out []string
			for _, e := range l {
				if m, ok := e.(map[string]any); ok {
					if s := firstString(m, indexedFinishReasons.field); s != "" {
						out = append(out, s)
					}
				}
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	var out []string
	for _, m := range output {
		if m.FinishReason != "" {
			out = append(out, m.FinishReason)
		}
	}
	return out
}

// stringList reads a string list: a list, or a single string.
func stringList(v any) []string {
	switch x := unbytes(v).(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := asString(e); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	case nil:
		return nil
	default:
		if s, ok := asString(x); ok && s != "" {
			return []string{s}
		}
	}
	return nil
}
