package normalize

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// The helpers in this file read attribute values in whatever shape they
// arrive: straight from pdata (string, bool, int64, float64, []byte, []any,
// map[string]any) or after a JSON round trip through storage (numbers as
// float64 or json.Number, bytes as a base64 string). Every rule reads values
// through them so that a span derives the same result either way.

// maxInt64Float is 2^63, the first float64 outside the int64 range.
const maxInt64Float = float64(1 << 63)

// asString returns v as text: strings as they are, numbers and booleans
// formatted canonically, bytes base64 encoded (as JSON would carry them).
// Maps, slices and nil are not text.
func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return base64.StdEncoding.EncodeToString(x), true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return formatFloat(x), true
	case json.Number:
		return normalizeNumber(x), true
	}
	return "", false
}

// str is asString without the flag.
func str(v any) string {
	s, _ := asString(v)
	return s
}

// formatFloat formats integral values as integers so that an int64 that
// became a float64 in a JSON round trip formats the same.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case f == math.Trunc(f) && f < maxInt64Float && f >= -maxInt64Float:
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// normalizeNumber formats a JSON number the way formatFloat and
// strconv.FormatInt would format the same value.
func normalizeNumber(n json.Number) string {
	s := string(n)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(i, 10)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return formatFloat(f)
	}
	return s
}

// asInt returns v as an integer count. It accepts int64, integral float64,
// json.Number and numeric strings; anything else (including fractional
// numbers) is not an integer.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		return floatToInt(x)
	case json.Number:
		return parseIntText(string(x))
	case string:
		return parseIntText(strings.TrimSpace(x))
	}
	return 0, false
}

func parseIntText(s string) (int64, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return floatToInt(f)
	}
	return 0, false
}

func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f >= maxInt64Float || f < -maxInt64Float {
		return 0, false
	}
	return int64(f), true
}

// asFloat returns v as a finite float64. It accepts int64, float64,
// json.Number and numeric strings.
func asFloat(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	case json.Number:
		p, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return 0, false
		}
		f = p
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, false
		}
		f = p
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// looksLikeJSON reports whether s starts (after white space) like a JSON
// object, array or string: the only strings worth handing to the parser.
func looksLikeJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '{', '[', '"':
			return true
		}
		return false
	}
	return false
}

// parseJSON decodes s when it looks like a JSON container or string. It
// reports false when s is plain text or not valid JSON.
func parseJSON(s string) (any, bool) {
	if !looksLikeJSON(s) {
		return nil, false
	}
	return decodeJSON(s)
}

// depthMarker replaces values nested deeper than a limit.
const depthMarker = "[flowwatch: nested too deep, dropped]"

// canonical returns a copy of v in one canonical shape whatever path it
// came by: numbers as json.Number in the formatting of asString, bytes as
// base64 strings, NaN and infinities as strings. Derived fields that keep
// structured values (tool arguments, document metadata) store this shape so
// that derivation is stable across a JSON round trip. Nesting is bounded.
func canonical(v any, depth int) any {
	switch x := v.(type) {
	case nil, string, bool:
		return x
	case int64, int, json.Number, []byte:
		s, _ := asString(x)
		return canonicalNumberOrString(x, s)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return formatFloat(x)
		}
		return json.Number(formatFloat(x))
	case []any:
		if depth <= 0 {
			return depthMarker
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = canonical(e, depth-1)
		}
		return out
	case map[string]any:
		if depth <= 0 {
			return depthMarker
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = canonical(e, depth-1)
		}
		return out
	}
	return nil
}

func canonicalNumberOrString(v any, s string) any {
	if _, ok := v.([]byte); ok {
		return s
	}
	if n, ok := v.(json.Number); ok {
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			return string(n)
		}
	}
	return json.Number(s)
}

// marshalValue serializes a structured value in canonical form, for the
// Input and Output fields when an app sent a map or a list instead of a
// string.
func marshalValue(v any, depth int) string {
	b, err := json.Marshal(canonical(v, depth))
	if err != nil {
		return ""
	}
	return string(b)
}

// unbytes turns []byte into the base64 string a JSON round trip would
// produce, so that type switches treat both alike.
func unbytes(v any) any {
	if b, ok := v.([]byte); ok {
		return base64.StdEncoding.EncodeToString(b)
	}
	return v
}

// getPath looks a dotted key up in m, either as one flat key
// ("message.role", the flattened conventions) or as a path through nested
// maps ({"message": {"role": ...}}), or any mix of the two.
func getPath(m map[string]any, path string) (any, bool) {
	if m == nil {
		return nil, false
	}
	if v, ok := m[path]; ok {
		return v, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if sub, ok := m[path[:i]].(map[string]any); ok {
			if v, ok := getPath(sub, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// firstString returns the first non-empty text among the paths.
func firstString(m map[string]any, paths ...string) string {
	for _, p := range paths {
		if v, ok := getPath(m, p); ok {
			if s, ok := asString(v); ok && s != "" {
				return s
			}
		}
	}
	return ""
}

// firstValue returns the first present, non-nil value among the paths.
func firstValue(m map[string]any, paths ...string) (any, bool) {
	for _, p := range paths {
		if v, ok := getPath(m, p); ok && v != nil {
			return v, true
		}
	}
	return nil, false
}
