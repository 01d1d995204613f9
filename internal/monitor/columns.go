package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
)

// MaxColumnBytes bounds every text Extract returns; a longer one is cut at
// a UTF-8 character boundary at or below it, and its Origin says so.
const MaxColumnBytes = 64 << 10

// Source is where Extract found a column's text.
type Source string

// Sources of a column's text.
const (
	// SourceNone: not found anywhere; the text is empty.
	SourceNone Source = ""
	// SourceInput and SourceOutput: under the column's key in the root
	// span's input or output record (a JSON object, such as a promptflow
	// flow's inputs and output).
	SourceInput  Source = "input"
	SourceOutput Source = "output"
	// SourceTrace: the trace's normalized question, answer or retrieved
	// documents, used when the records do not have the key.
	SourceTrace Source = "trace"
)

// Origin says where a column's text came from.
type Origin struct {
	Source Source
	// Key is the column key found in the record (SourceInput,
	// SourceOutput); empty otherwise.
	Key string
	// Truncated is set when the text was cut to MaxColumnBytes.
	Truncated bool
}

// Origins holds the Origin of each of Inputs' texts.
type Origins struct {
	Question, Answer, Context, GroundTruth Origin
}

// Inputs are the texts a monitor evaluates for one trace, extracted by its
// column mapping. An empty text is missing: metrics that need it are not
// evaluable for this trace.
type Inputs struct {
	Question    string
	Answer      string
	Context     string
	GroundTruth string
	From        Origins
	// Notes explain surprises met on the way, e.g. a record that looks
	// like JSON but does not parse, so a trace that is not evaluable can be
	// understood.
	Notes []string
}

// Extract takes a trace's question (the prompt column), answer
// (completion), context and ground truth.
//
// Each column's key is looked up first in the root span's records: the
// prompt in the input record, the completion in the output record, the
// context and the ground truth in the input record and then in the output
// record. A record is the root span's raw input or output when it is a
// JSON object (a promptflow flow's inputs and output are); plain text, as
// OpenInference's input.value often is, is no record. A key is looked up
// as a top-level key and, when it has dots and no such key exists, as a
// path through nested objects ("result.answer") and lists ("docs.0").
//
// A value found is rendered as text: a string as it is; a number or a
// boolean as written in the record; a list whose items are all documents
// (strings, or objects with a string content, page_content or text field)
// as their texts joined by blank lines; any other list or object as
// compact JSON. A value that is null, or renders empty or blank (or blank
// within MaxColumnBytes), counts as not found.
//
// When the column has no key, or its record is not a JSON object, the
// text falls back to the trace's normalized question, answer, or retrieved
// documents' contents joined by blank lines; the ground truth has no
// fallback. When the record is a JSON object without the key, the prompt
// and the completion are missing (a note says which key was not there),
// never guessed: an answer taken from anything else would be judged as the
// answer. The context still falls back to the retrieved documents, which
// are what a retrieval span reported. Every text is bounded by
// MaxColumnBytes.
//
// The error is for a malformed column key (an empty path segment), a
// monitor problem rather than a trace's; nothing about the trace's data is
// an error.
func Extract(tr model.Trace, cols model.Columns) (Inputs, error) {
	for _, c := range []struct{ name, key string }{
		{"prompt", cols.Prompt}, {"completion", cols.Completion},
		{"context", cols.Context}, {"ground_truth", cols.GroundTruth},
	} {
		if err := CheckColumnKey(c.key); err != nil {
			return Inputs{}, fmt.Errorf("columns.%s: %w", c.name, err)
		}
	}

	var in Inputs
	input := parseRecord(tr.Input, "input", &in.Notes)
	output := parseRecord(tr.Output, "output", &in.Notes)
	inOnly := []record{{SourceInput, input}}
	outOnly := []record{{SourceOutput, output}}
	both := []record{{SourceInput, input}, {SourceOutput, output}}

	in.Question, in.From.Question = pick(cols.Prompt, inOnly, tr.Question, true, &in.Notes)
	in.Answer, in.From.Answer = pick(cols.Completion, outOnly, tr.Answer, true, &in.Notes)
	in.Context, in.From.Context = pick(cols.Context, both, documentsText(tr.Context), false, &in.Notes)
	in.GroundTruth, in.From.GroundTruth = pick(cols.GroundTruth, both, "", false, &in.Notes)
	return in, nil
}

// CheckColumnKey reports whether key can be looked up: empty (no column)
// or a key or dotted path without empty segments.
func CheckColumnKey(key string) error {
	if key == "" {
		return nil
	}
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("column key %q is blank", key)
	}
	if strings.Contains(key, ".") {
		for _, seg := range strings.Split(key, ".") {
			if seg == "" {
				return fmt.Errorf("column key %q has an empty path segment; write keys and paths like answer or result.answer", key)
			}
		}
	}
	return nil
}

// record is a root span's input or output JSON object; nil when it is not
// one.
type record struct {
	source Source
	fields map[string]json.RawMessage
}

// parseRecord decodes raw as a JSON object. Plain text is no record and
// no surprise; text that starts like an object and does not parse is
// noted.
func parseRecord(raw, name string, notes *[]string) map[string]json.RawMessage {
	s := strings.TrimSpace(raw)
	if s == "" || s[0] != '{' {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		*notes = append(*notes, fmt.Sprintf("the root span's %s looks like a JSON object but is not valid JSON (%v); only the normalized fields were used", name, err))
		return nil
	}
	return fields
}

// pick looks key up in the records in order and falls back to fallback;
// when strict, only if no record is a JSON object.
func pick(key string, records []record, fallback string, strict bool, notes *[]string) (string, Origin) {
	if key != "" {
		var looked []Source
		for _, r := range records {
			if r.fields == nil {
				continue
			}
			looked = append(looked, r.source)
			raw, ok := lookup(r.fields, key)
			if !ok {
				continue
			}
			if text, cut := bound(render(raw)); strings.TrimSpace(text) != "" {
				return text, Origin{Source: r.source, Key: key, Truncated: cut}
			}
		}
		if strict && len(looked) > 0 {
			*notes = append(*notes, fmt.Sprintf("the root span's %s record has no value for the key %q", looked[0], key))
			return "", Origin{}
		}
	}
	if text, cut := bound(fallback); strings.TrimSpace(text) != "" {
		return text, Origin{Source: SourceTrace, Truncated: cut}
	}
	return "", Origin{}
}

// lookup finds key in fields: as a top-level key, else as a dotted path.
func lookup(fields map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := fields[key]; ok && !isNull(v) {
		return v, true
	}
	if !strings.Contains(key, ".") {
		return nil, false
	}
	segs := strings.Split(key, ".")
	cur, ok := fields[segs[0]]
	if !ok {
		return nil, false
	}
	for _, seg := range segs[1:] {
		cur = bytes.TrimSpace(cur)
		if len(cur) == 0 {
			return nil, false
		}
		switch cur[0] {
		case '{':
			var obj map[string]json.RawMessage
			if json.Unmarshal(cur, &obj) != nil {
				return nil, false
			}
			if cur, ok = obj[seg]; !ok {
				return nil, false
			}
		case '[':
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 {
				return nil, false
			}
			var list []json.RawMessage
			if json.Unmarshal(cur, &list) != nil || i >= len(list) {
				return nil, false
			}
			cur = list[i]
		default:
			return nil, false
		}
	}
	if isNull(cur) {
		return nil, false
	}
	return cur, true
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// render turns a JSON value into text (see Extract).
func render(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return ""
		}
		if len(items) == 0 {
			return ""
		}
		if texts, ok := documents(items); ok {
			return joinTexts(texts)
		}
		return compact(raw)
	case '{':
		if s := compact(raw); s != "{}" {
			return s
		}
		return ""
	case 'n':
		return ""
	default: // number, true, false: as written
		return string(raw)
	}
}

// documentFields are the fields that hold a document object's text, in
// the order they are tried (flowwatch and most vector stores: content;
// LangChain: page_content; promptflow's lookup tools: text).
var documentFields = [...]string{"content", "page_content", "text"}

// documents returns the texts of items when every item is a document.
func documents(items []json.RawMessage) ([]string, bool) {
	texts := make([]string, 0, len(items))
	for _, it := range items {
		it = bytes.TrimSpace(it)
		if len(it) == 0 {
			return nil, false
		}
		switch it[0] {
		case '"':
			var s string
			if json.Unmarshal(it, &s) != nil {
				return nil, false
			}
			texts = append(texts, s)
		case '{':
			var obj map[string]json.RawMessage
			if json.Unmarshal(it, &obj) != nil {
				return nil, false
			}
			text, found := "", false
			for _, f := range documentFields {
				v, ok := obj[f]
				if !ok {
					continue
				}
				if json.Unmarshal(v, &text) == nil {
					found = true
					break
				}
			}
			if !found {
				return nil, false
			}
			texts = append(texts, text)
		default:
			return nil, false
		}
	}
	return texts, true
}

// documentsText is the normalized documents' contents joined.
func documentsText(docs []model.Document) string {
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Content
	}
	return joinTexts(texts)
}

// joinTexts joins the non-blank texts with blank lines.
func joinTexts(texts []string) string {
	var b strings.Builder
	for _, t := range texts {
		if strings.TrimSpace(t) == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(t)
		if b.Len() > MaxColumnBytes {
			break // bound will cut it; the rest is not needed
		}
	}
	return b.String()
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// bound cuts s to at most MaxColumnBytes, at a UTF-8 character boundary.
func bound(s string) (string, bool) {
	if len(s) <= MaxColumnBytes {
		return s, false
	}
	i := MaxColumnBytes
	// Back up over at most UTFMax-1 continuation bytes; text that is not
	// UTF-8 there is cut at the limit.
	for j := 0; j < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(s[i]); j++ {
		i--
	}
	if !utf8.RuneStart(s[i]) {
		i = MaxColumnBytes
	}
	return s[:i], true
}
