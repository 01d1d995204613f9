package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		payload, err := appendSpanBody(nil, &sp)
		if err != nil {
			t.Fatal(err)
		}
		var got model.Span
		if err := decodeSpanBody(payload, &got); err != nil {
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

// FuzzDecodeBlob feeds arbitrary blobs to the decoders used on stored data:
// they may fail, never panic.
func FuzzDecodeBlob(f *testing.F) {
	c, err := newCodec(false, 1)
	if err != nil {
		f.Fatal(err)
	}
	defer c.close()
	zc, err := newCodec(true, 1)
	if err != nil {
		f.Fatal(err)
	}
	defer zc.close()
	sp := model.Span{TraceID: "t", SpanID: "s", Attributes: map[string]any{"x": strings.Repeat("abc ", 300), "b": []byte{1}},
		Events: []model.Event{{Name: "e"}}}
	payload, _ := appendSpanBody(nil, &sp)
	f.Add(c.seal(payload))
	f.Add(zc.seal(payload))
	f.Add(append([]byte{markerJSON}, `{"r":{"a":{"x":{"$b":"AAE="},"y":{"$f":"NaN"},"z":{"$m":{"$q":1}}}},"d":{}}`...))
	f.Add(append([]byte{markerJSON}, `{"b":{"$u":"/w=="},"a":{"n":1e400}}`...))
	f.Add([]byte{markerS2, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, blob []byte) {
		p, err := c.open(blob)
		if err != nil {
			return
		}
		var s model.Span
		_ = decodeSpanBody(p, &s)
		var l model.LogRecord
		_ = decodeLogBody(p, &l)
		var tr model.Trace
		_ = decodeTrace(p, &tr)
	})
}

func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(123, "0123456789abcdef0123456789abcdef"))
	f.Add("")
	f.Add("!!!")
	f.Add("AQAAAAAAAAB7")
	f.Fuzz(func(t *testing.T, c string) {
		start, id, err := decodeCursor(c)
		if err != nil {
			return
		}
		if got := encodeCursor(start, id); got != c {
			// Accepted cursors are the ones the store issues.
			s2, id2, err := decodeCursor(got)
			if err != nil || s2 != start || id2 != id {
				t.Fatalf("cursor %q decoded to (%d, %q), which does not round trip", c, start, id)
			}
		}
	})
}

// FuzzFTSQuery checks that no user text makes the full-text query fail.
func FuzzFTSQuery(f *testing.F) {
	db, err := sql.Open("sqlite", filepath.Join(f.TempDir(), "fts.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := migrate(context.Background(), db, migs); err != nil {
		f.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO traces_fts (rowid, text) VALUES (1, 'foo bar café NEAR and or not')`); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{`"foo" AND (bar* OR NEAR`, `NEAR(a b, 3)`, `col:x`, `^a -b +c`, `{a b}:c`, "\x00", `'`, `""`,
		"ǅ ᾈ ﬁ", "a\u0301", "𝔘𝔫𝔦", "١٢٣", "\U000e0041", "x\u200dy", "ⅷ", "ᐁ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		q := ftsQuery(text)
		if q == "" {
			return
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM traces_fts WHERE traces_fts MATCH ?`, q).Scan(&n); err != nil {
			t.Fatalf("text %q: query %q: %v", text, q, err)
		}
	})
}

// TestSpanBodyRoundTrip checks every raw field of a span through the body
// encoding, and that derived fields are left out (readers derive them
// again; the conformance suite checks that through a store).
func TestSpanBodyRoundTrip(t *testing.T) {
	score := 0.25
	sp := model.Span{
		OTelKind: "server", StatusMessage: "msg", TraceState: "a=b", Flags: 257,
		Attributes:         map[string]any{"a": int64(1), "b": []any{1.5, "x"}},
		ResourceAttributes: map[string]any{"service.name": "svc"},
		Scope:              model.Scope{Name: "n", Version: "v", Attributes: map[string]any{"s": true}},
		Events:             []model.Event{{Time: time.Unix(5, 6).UTC(), Name: "ev", Attributes: map[string]any{"k": "v"}}},
		Links:              []model.Link{{TraceID: "t2", SpanID: "s2", TraceState: "x=y", Attributes: map[string]any{"l": int64(2)}}},
		DroppedAttributes:  1, DroppedEvents: 2, DroppedLinks: 3,
		Derived: model.Derived{Service: "svc", Kind: model.KindLLM, Question: "q", TTFT: time.Second,
			Usage:         model.Usage{Known: true, InputTokens: 1, CostUSD: 0.5},
			InputMessages: []model.Message{{Role: "user", Parts: []model.Part{{Type: "text", Content: "q"}}}},
			Context:       []model.Document{{ID: "d", Content: "c", Score: &score}}},
	}
	payload, err := appendSpanBody(nil, &sp)
	if err != nil {
		t.Fatal(err)
	}
	var got model.Span
	if err := decodeSpanBody(payload, &got); err != nil {
		t.Fatal(err)
	}
	want := sp
	want.Derived = model.Derived{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if bytes.Contains(payload, []byte(`"Question"`)) {
		t.Errorf("payload %s stores derived fields", payload)
	}
	if !bytes.Contains(payload, []byte(`"k":"server"`)) {
		t.Errorf("payload %s lacks the short raw keys", payload)
	}
}
