package gateway

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Mappings: a json gateway reads a call out of any JSON endpoint through
// paths its configuration gives. The paths are a small subset of gjson's
// syntax (dot-separated names, numeric indices, # for every element of a
// list), with JSONPath's $. prefix and [n] indices accepted for people
// used to them. Nothing else is accepted, so that a path never means
// something surprising (gjson's modifiers, queries and wildcards).

// Bounds on paths, which come from configuration.
const (
	maxPathBytes = 256
	// maxPathEach bounds the # of a path: each one copies the list it
	// walks, and no real answer nests lists of lists of lists.
	maxPathEach = 3
	// maxDocuments bounds the context documents of one answer.
	maxDocuments = 1000
	// maxHistory bounds the chat history of one request.
	maxHistory = 1000
)

const pathSyntax = "a path is names (letters, digits, _ and -) separated by dots, with numeric indices (.0 or [0]) and # for every element of a list, optionally after $."

// ValidatePath says whether p is a path a Mapping accepts, and if not why.
func ValidatePath(p string) error {
	_, err := compilePath(p)
	return err
}

// pathError says where a path is wrong: the character (counted from 1, in
// characters, not bytes) and what is wrong there.
func pathError(p string, i int, format string, args ...any) error {
	return fmt.Errorf("path %q, character %d: %s", p, utf8.RuneCountInString(p[:i])+1, fmt.Sprintf(format, args...))
}

// compilePath checks a path and turns it into the gjson path it means.
func compilePath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("path is empty")
	}
	if len(p) > maxPathBytes {
		return "", fmt.Errorf("path %q is longer than %d bytes", p, maxPathBytes)
	}
	i := 0
	if p[0] == '$' {
		i = 1
		switch {
		case len(p) == 1:
			return "@this", nil // the whole body
		case p[1] == '.':
			i = 2
		case p[1] != '[':
			return "", pathError(p, 1, "expected . or [ after $ (%s)", pathSyntax)
		}
	}
	var segs []string
	each := 0
	for {
		if i >= len(p) {
			return "", pathError(p, i, "the path ends with a dot where a name should follow")
		}
		switch c := p[i]; {
		case c == '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return "", pathError(p, i, "[ is not closed by ]")
			}
			idx := p[i+1 : i+end]
			if idx == "" || strings.Trim(idx, "0123456789") != "" {
				return "", pathError(p, i+1, "an index in [ ] must be a number (use # for every element)")
			}
			if len(idx) > 9 {
				return "", pathError(p, i+1, "index %s is too large", idx)
			}
			segs = append(segs, idx)
			i += end + 1
		case c == '#':
			if i+1 < len(p) && p[i+1] != '.' && p[i+1] != '[' {
				return "", pathError(p, i+1, "# must be a whole name (as in docs.#.text)")
			}
			if each++; each > maxPathEach {
				return "", pathError(p, i, "more than %d # in one path", maxPathEach)
			}
			segs = append(segs, "#")
			i++
		case c == '.':
			return "", pathError(p, i, "empty name (two dots in a row, or a dot at the start)")
		default:
			start := i
			for i < len(p) && nameByte(p[i]) {
				i++
			}
			if i == start {
				r, _ := utf8.DecodeRuneInString(p[i:])
				return "", pathError(p, i, "%q is not allowed (%s)", r, pathSyntax)
			}
			segs = append(segs, p[start:i])
		}
		if i == len(p) {
			break
		}
		// After a name or an index: a dot and the next name, or an index.
		switch p[i] {
		case '.':
			i++
		case '[':
		default:
			r, _ := utf8.DecodeRuneInString(p[i:])
			return "", pathError(p, i, "%q is not allowed (%s)", r, pathSyntax)
		}
	}
	// A final # (docs.#, "every document") is the list itself: in gjson it
	// would be the list's length.
	for len(segs) > 0 && segs[len(segs)-1] == "#" {
		segs = segs[:len(segs)-1]
	}
	if len(segs) == 0 {
		return "@this", nil
	}
	return strings.Join(segs, "."), nil
}

// nameByte says whether b may be part of a name.
func nameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// mapping is a compiled Mapping: gjson paths, "" for those not read.
type mapping struct {
	question, chatHistory                                          string
	answer, context, model, inputTokens, outputTokens, totalTokens string
}

// compileMapping checks a Mapping's paths and compiles it.
func compileMapping(m Mapping) (*mapping, error) {
	var out mapping
	for _, f := range []struct {
		name, path string
		to         *string
	}{
		{"question", m.Question, &out.question},
		{"chat_history", m.ChatHistory, &out.chatHistory},
		{"answer", m.Answer, &out.answer},
		{"context", m.Context, &out.context},
		{"model", m.Model, &out.model},
		{"input_tokens", m.InputTokens, &out.inputTokens},
		{"output_tokens", m.OutputTokens, &out.outputTokens},
		{"total_tokens", m.TotalTokens, &out.totalTokens},
	} {
		if f.path == "" {
			continue
		}
		g, err := compilePath(f.path)
		if err != nil {
			return nil, fmt.Errorf("mapping %s: %w", f.name, err)
		}
		*f.to = g
	}
	return &out, nil
}

// extract reads the call an exchange carried through the mapping. A
// request or answer that is not JSON, or lacks a path, leaves those
// fields empty. The call is a model call (operation chat, which gives it
// an LLM span) when the mapping found a model or token counts in it.
func (m *mapping) extract(x *Exchange) Call {
	var c Call
	resp := readBody(x.ResponseBody, x.ResponseHeader.Get("Content-Encoding"), x.ResponseTruncated, nil)
	if x.Status >= 400 {
		c.ErrorMessage = errorMessage(resp.head)
	}
	if m.question != "" || m.chatHistory != "" {
		req := readBody(x.RequestBody, x.RequestEncoding, x.RequestTruncated, nil)
		if m.chatHistory != "" {
			c.Input = history(gjson.GetBytes(req.head, m.chatHistory))
		}
		if m.question != "" {
			c.Question = textOf(gjson.GetBytes(req.head, m.question))
			// The question ends the messages, unless the history already
			// does (a mapping whose question is the history's last
			// message).
			if c.Question != "" && !endsWith(c.Input, c.Question) {
				c.Input = append(c.Input, Message{Role: "user", Parts: textParts(c.Question)})
			}
		}
	}
	get := func(path string) gjson.Result {
		if path == "" {
			return gjson.Result{}
		}
		return gjson.GetBytes(resp.head, path)
	}
	if c.Answer = textOf(get(m.answer)); c.Answer != "" {
		c.Output = []Message{{Role: "assistant", Parts: textParts(c.Answer)}}
	}
	c.Documents = documents(get(m.context))
	if v := get(m.model); v.Type == gjson.String {
		c.ResponseModel = v.Str
	}
	c.Usage = Usage{
		InputTokens:  count(get(m.inputTokens)),
		OutputTokens: count(get(m.outputTokens)),
		TotalTokens:  count(get(m.totalTokens)),
	}
	if c.ResponseModel != "" || c.Usage != (Usage{}) {
		c.Operation = "chat"
	}
	return c
}

// endsWith says whether the last message is the user's text q.
func endsWith(msgs []Message, q string) bool {
	if len(msgs) == 0 {
		return false
	}
	last := msgs[len(msgs)-1]
	return last.Role == "user" && len(last.Parts) == 1 && last.Parts[0].Type == "text" && last.Parts[0].Content == q
}

// history reads a chat history: OpenAI-style messages ({role, content}),
// promptflow's turns ({inputs: {question}, outputs: {answer}}: a user and
// an assistant message each), or [question, answer] pairs.
func history(v gjson.Result) []Message {
	var out []Message
	elements(v, func(t gjson.Result) bool {
		switch {
		case t.IsObject() && t.Get("role").Exists():
			if msg, ok := chatMessage(t); ok {
				out = append(out, msg)
			}
		case t.IsObject():
			if q := turnText(t.Get("inputs"), "question", "chat_input", "query", "input"); q != "" {
				out = append(out, Message{Role: "user", Parts: textParts(q)})
			}
			if a := turnText(t.Get("outputs"), "answer", "chat_output", "output", "response"); a != "" {
				out = append(out, Message{Role: "assistant", Parts: textParts(a)})
			}
		case t.IsArray():
			pair := t.Array()
			if len(pair) == 2 && pair[0].Type == gjson.String && pair[1].Type == gjson.String {
				out = append(out,
					Message{Role: "user", Parts: textParts(pair[0].Str)},
					Message{Role: "assistant", Parts: textParts(pair[1].Str)})
			}
		}
		return len(out) < maxHistory
	})
	// A pair may have an empty side: drop the messages without text.
	kept := out[:0]
	for _, msg := range out {
		if len(msg.Parts) > 0 {
			kept = append(kept, msg)
		}
	}
	return kept
}

// turnText is one side of a promptflow turn: a string, or the field of
// the usual names, or else the first string field (a flow names its
// inputs and outputs as it likes).
func turnText(v gjson.Result, names ...string) string {
	if v.Type == gjson.String {
		return v.Str
	}
	if !v.IsObject() {
		return ""
	}
	for _, n := range names {
		if s := str(v.Get(n)); s != "" {
			return s
		}
	}
	var first string
	fields(v, func(_ string, f gjson.Result) bool {
		first = str(f)
		return first == ""
	})
	return first
}

// Fields of a context document, in order of preference.
var (
	docContentNames = []string{"content", "text", "page_content", "chunk"}
	docIDNames      = []string{"id", "doc_id", "source", "url"}
	docListNames    = []string{"documents", "docs"}
)

// documents reads context documents: one string, a list of strings or of
// objects, an object with a documents (or docs) list, or a JSON string
// holding any of these (flows often return their context serialized).
func documents(v gjson.Result) []Document {
	var out []Document
	addDocuments(&out, v, 2)
	return out
}

func addDocuments(out *[]Document, v gjson.Result, depth int) {
	if depth < 0 || len(*out) >= maxDocuments {
		return
	}
	switch {
	case v.Type == gjson.String:
		if s := strings.TrimSpace(v.Str); len(s) > 0 && (s[0] == '[' || s[0] == '{') && gjson.Valid(s) {
			addDocuments(out, gjson.Parse(s), depth-1)
			return
		}
		if v.Str != "" {
			*out = append(*out, Document{Content: v.Str})
		}
	case v.IsArray():
		elements(v, func(e gjson.Result) bool {
			if e.IsArray() {
				// A path with # over lists of lists.
				addDocuments(out, e, depth-1)
			} else if e.Type == gjson.String {
				if e.Str != "" {
					*out = append(*out, Document{Content: e.Str})
				}
			} else if e.IsObject() {
				if d, ok := document(e); ok {
					*out = append(*out, d)
				}
			}
			return len(*out) < maxDocuments
		})
	case v.IsObject():
		for _, n := range docListNames {
			if l := v.Get(n); l.IsArray() {
				addDocuments(out, l, depth-1)
				return
			}
		}
		if d, ok := document(v); ok {
			*out = append(*out, d)
		}
	}
}

// document reads one document object; one with neither content nor id
// says nothing.
func document(e gjson.Result) (Document, bool) {
	var d Document
	for _, n := range docContentNames {
		if v := e.Get(n); v.Exists() && v.Type != gjson.Null {
			d.Content = textOf(v)
			break
		}
	}
	for _, n := range docIDNames {
		if v := e.Get(n); v.Type == gjson.String || v.Type == gjson.Number {
			d.ID = v.String()
			break
		}
	}
	if d.ID == "" {
		for _, n := range docIDNames {
			if v := e.Get("metadata." + n); v.Type == gjson.String || v.Type == gjson.Number {
				d.ID = v.String()
				break
			}
		}
	}
	var score float64
	switch s := e.Get("score"); s.Type {
	case gjson.Number:
		score = s.Num
	case gjson.String:
		f, err := strconv.ParseFloat(strings.TrimSpace(s.Str), 64)
		if err != nil {
			f = math.NaN()
		}
		score = f
	default:
		score = math.NaN()
	}
	if !math.IsNaN(score) && !math.IsInf(score, 0) {
		// (A score JSON cannot carry is no score.)
		d.Score = &score
	}
	return d, d.Content != "" || d.ID != ""
}
