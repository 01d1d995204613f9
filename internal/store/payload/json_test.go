package payload

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

// floatBits compares floats bit for bit (NaN equals NaN, -0 differs from 0).
func floatBits() cmp.Option {
	return cmp.Comparer(func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
	})
}

func TestJSONString(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted"`, `back\slash`, "new\nline\ttab\rcr", "\x00\x01\x1f\x7f",
		"ünïcödé ✓ 日本語 🎉", "exactly8", "eight ok\"and more text after the quote",
		"<html> & 'single'", "\u2028\u2029", strings.Repeat("a", 1000) + "\"" + strings.Repeat("b", 7),
		"bad \xff utf8", "trailing \xe2\x82",
	} {
		w := jw{}
		w.str(s)
		var got string
		if err := json.Unmarshal(w.b, &got); err != nil {
			t.Errorf("str(%q) = %s: not JSON: %v", s, w.b, err)
			continue
		}
		// encoding/json is the reference for invalid UTF-8 (one U+FFFD per
		// bad byte).
		ref, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Errorf("str(%q) decoded to %q, want %q", s, got, want)
		}
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain text", `"\`, "\x00\n\t", "ü✓🎉", "bad \xff", "12345678\"12345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w := jw{}
		w.str(s)
		var got string
		if err := json.Unmarshal(w.b, &got); err != nil {
			t.Fatalf("str(%q) = %s: not JSON: %v", s, w.b, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("str(%q) decoded to %q, encoding/json gives %q", s, got, want)
		}
	})
}

// FuzzValueRoundTrip checks that attribute values built from arbitrary
// input survive the typed JSON encoding exactly.
func FuzzValueRoundTrip(f *testing.F) {
	f.Add("text", int64(1<<62), 2.5, []byte{0, 1}, true, "$b")
	f.Add("", int64(-1), math.Inf(1), []byte(nil), false, "$m")
	f.Add("bad \xff", int64(0), -0.0, []byte("x"), true, "")
	f.Fuzz(func(t *testing.T, s string, i int64, fl float64, b []byte, ok bool, key string) {
		if b == nil {
			b = []byte{}
		}
		attrs := map[string]any{
			"s": s, "i": i, "f": fl, "b": b, "ok": ok,
			"arr":    []any{s, i, fl, b, ok, []any{}},
			"map":    map[string]any{key: s},
			"nested": map[string]any{"x": map[string]any{key: []any{i, fl}}},
		}
		sp := model.Span{TraceID: "t", SpanID: "s", Attributes: attrs}
		payload, err := AppendSpan(nil, &sp)
		if err != nil {
			t.Fatal(err)
		}
		var got model.Span
		if err := DecodeSpan(payload, &got); err != nil {
			t.Fatalf("decode %s: %v", payload, err)
		}
		want := attrs
		if !utf8.ValidString(key) {
			// Map keys are not lossless: invalid UTF-8 becomes U+FFFD.
			ref, _ := json.Marshal(key)
			var k string
			_ = json.Unmarshal(ref, &k)
			want = map[string]any{
				"s": s, "i": i, "f": fl, "b": b, "ok": ok,
				"arr":    []any{s, i, fl, b, ok, []any{}},
				"map":    map[string]any{k: s},
				"nested": map[string]any{"x": map[string]any{k: []any{i, fl}}},
			}
		}
		if diff := cmp.Diff(want, got.Attributes, floatBits()); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}
