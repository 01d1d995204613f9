package payload

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MaxValueDepth bounds the nesting of attribute values: encoding a deeper
// value fails with ErrTooDeep.
const MaxValueDepth = 64

// ErrTooDeep is returned for attribute values nested beyond MaxValueDepth.
var ErrTooDeep = errors.New("attribute value nested too deeply")

// ---- typed JSON writer -------------------------------------------------

// jw appends JSON to a byte slice.
type jw struct {
	b   []byte
	err error
	// sortKeys writes object keys in sorted order: a log record's payload
	// is its identity (LogSeq), which must not depend on the order Go
	// iterates a map in.
	sortKeys bool
}

func (w *jw) raw(s string) { w.b = append(w.b, s...) }

// str appends s as a JSON string. Invalid UTF-8 is replaced by U+FFFD; use
// value for lossless strings.
func (w *jw) str(s string) {
	w.b = append(w.b, '"')
	start := 0
	i := 0
	for i < len(s) {
		// Skip eight plain bytes at a time: no control character, quote or
		// backslash, nothing beyond ASCII.
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			w.b = append(w.b, s[start:i]...)
			switch c {
			case '"':
				w.b = append(w.b, '\\', '"')
			case '\\':
				w.b = append(w.b, '\\', '\\')
			case '\n':
				w.b = append(w.b, '\\', 'n')
			case '\r':
				w.b = append(w.b, '\\', 'r')
			case '\t':
				w.b = append(w.b, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				w.b = append(w.b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.b = append(w.b, s[start:i]...)
			w.b = append(w.b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	w.b = append(w.b, s[start:]...)
	w.b = append(w.b, '"')
}

// plain8 reports whether 8 bytes need no JSON escaping and are ASCII.
func plain8(s string) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	// A byte below 0x20, a '"' (0x22), a '\\' (0x5c) or a byte >= 0x80.
	low := (x - 0x20*ones) & ^x
	quote := x ^ ('"' * ones)
	quote = (quote - ones) & ^quote
	bslash := x ^ ('\\' * ones)
	bslash = (bslash - ones) & ^bslash
	return (low|quote|bslash|x)&highs == 0
}

func (w *jw) key(k string) {
	if len(w.b) > 0 {
		if last := w.b[len(w.b)-1]; last != '{' && last != '[' {
			w.b = append(w.b, ',')
		}
	}
	w.str(k)
	w.b = append(w.b, ':')
}

func (w *jw) int(n int64) { w.b = strconv.AppendInt(w.b, n, 10) }

func (w *jw) float(f float64) {
	switch {
	case math.IsNaN(f):
		w.raw(`{"$f":"NaN"}`)
		return
	case math.IsInf(f, 1):
		w.raw(`{"$f":"+Inf"}`)
		return
	case math.IsInf(f, -1):
		w.raw(`{"$f":"-Inf"}`)
		return
	}
	start := len(w.b)
	w.b = strconv.AppendFloat(w.b, f, 'g', -1, 64)
	if bytes.IndexAny(w.b[start:], ".eE") < 0 {
		w.b = append(w.b, '.', '0')
	}
}

func (w *jw) bytesValue(p []byte) {
	w.raw(`{"$b":"`)
	w.b = base64.StdEncoding.AppendEncode(w.b, p)
	w.raw(`"}`)
}

// value appends an attribute value in the typed form described above.
func (w *jw) value(v any, depth int) {
	if depth > MaxValueDepth {
		if w.err == nil {
			w.err = ErrTooDeep
		}
		w.raw("null")
		return
	}
	switch x := v.(type) {
	case nil:
		w.raw("null")
	case string:
		if utf8.ValidString(x) {
			w.str(x)
		} else {
			w.raw(`{"$u":"`)
			w.b = base64.StdEncoding.AppendEncode(w.b, []byte(x))
			w.raw(`"}`)
		}
	case bool:
		if x {
			w.raw("true")
		} else {
			w.raw("false")
		}
	case int64:
		w.int(x)
	case int:
		w.int(int64(x))
	case int32:
		w.int(int64(x))
	case uint32:
		w.int(int64(x))
	case uint64:
		w.b = strconv.AppendUint(w.b, x, 10)
	case float64:
		w.float(x)
	case float32:
		w.float(float64(x))
	case json.Number:
		w.jsonNumber(x)
	case []byte:
		w.bytesValue(x)
	case []any:
		w.b = append(w.b, '[')
		for i, e := range x {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(e, depth+1)
		}
		w.b = append(w.b, ']')
	case []string:
		w.b = append(w.b, '[')
		for i, e := range x {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(e, depth+1)
		}
		w.b = append(w.b, ']')
	case map[string]any:
		w.mapValue(x, depth)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		w.mapValue(m, depth)
	default:
		// Not an OTLP value type: keep what encoding/json makes of it.
		b, err := json.Marshal(x)
		if err != nil {
			w.str(fmt.Sprint(x))
			return
		}
		w.b = append(w.b, b...)
	}
}

func (w *jw) jsonNumber(n json.Number) {
	if i, err := n.Int64(); err == nil {
		w.int(i)
		return
	}
	if f, err := n.Float64(); err == nil {
		w.float(f)
		return
	}
	w.str(string(n))
}

func (w *jw) mapValue(m map[string]any, depth int) {
	wrap := false
	if len(m) == 1 {
		for k := range m {
			wrap = len(k) > 0 && k[0] == '$'
		}
	}
	if wrap {
		w.raw(`{"$m":`)
	}
	w.attrs(m, depth+1)
	if wrap {
		w.b = append(w.b, '}')
	}
}

// attrs appends a map as a JSON object of typed values (keys unsorted,
// unless w.sortKeys: attribute maps are unordered).
func (w *jw) attrs(m map[string]any, depth int) {
	if w.sortKeys && len(m) > 1 {
		w.sortedAttrs(m, depth)
		return
	}
	w.b = append(w.b, '{')
	first := true
	for k, v := range m {
		if !first {
			w.b = append(w.b, ',')
		}
		first = false
		w.str(k)
		w.b = append(w.b, ':')
		w.value(v, depth)
	}
	w.b = append(w.b, '}')
}

func (w *jw) sortedAttrs(m map[string]any, depth int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.b = append(w.b, '{')
	for i, k := range keys {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(k)
		w.b = append(w.b, ':')
		w.value(m[k], depth)
	}
	w.b = append(w.b, '}')
}

// ---- typed JSON reader -------------------------------------------------

// decodeJSON decodes a payload with json.Number for numbers.
func decodeJSON(payload []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return err
	}
	return nil
}

// typed converts a value decoded with UseNumber from the typed form back to
// attribute value types.
func typed(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return typedNumber(x)
	case []any:
		for i, e := range x {
			t, err := typed(e)
			if err != nil {
				return nil, err
			}
			x[i] = t
		}
		return x, nil
	case map[string]any:
		if len(x) == 1 {
			for k, inner := range x {
				if len(k) == 0 || k[0] != '$' {
					break
				}
				return typedTag(k, inner)
			}
		}
		return typedMap(x)
	default:
		return v, nil
	}
}

func typedMap(m map[string]any) (map[string]any, error) {
	for k, e := range m {
		t, err := typed(e)
		if err != nil {
			return nil, err
		}
		m[k] = t
	}
	return m, nil
}

func typedNumber(n json.Number) (any, error) {
	s := string(n)
	if !bytes.ContainsAny([]byte(s), ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return float64(u), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("number %q: %w", s, err)
	}
	return f, nil
}

func typedTag(tag string, inner any) (any, error) {
	switch tag {
	case "$b", "$u":
		s, ok := inner.(string)
		if !ok {
			return nil, fmt.Errorf("%s tag holds %T, want string", tag, inner)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s tag: %w", tag, err)
		}
		if tag == "$u" {
			return string(b), nil
		}
		return b, nil
	case "$f":
		switch inner {
		case "NaN":
			return math.NaN(), nil
		case "+Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		}
		return nil, fmt.Errorf("$f tag holds %v", inner)
	case "$m":
		m, ok := inner.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$m tag holds %T, want object", inner)
		}
		return typedMap(m)
	default:
		// Never written by this encoder; keep it as the plain map it is.
		return typedMap(map[string]any{tag: inner})
	}
}

// typedAttrs converts a decoded attribute map in place.
func typedAttrs(m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	return typedMap(m)
}
