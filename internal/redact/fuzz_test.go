package redact

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzText runs every detector and a custom rule over arbitrary text: it
// must not panic, must keep valid UTF-8 and valid JSON objects and arrays
// valid, and must not change text without a marker.
func FuzzText(f *testing.F) {
	for _, s := range []string{
		"", "jane@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "(202) 555-0173",
		"sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90", "Bearer abc123DEF456ghi789JKL0",
		`[{"role":"user","content":"hi\njane@example.com \u00e9 4111111111111111"}]`,
		`{"api_key": "Qm9keS1rZXktMTIzNDU2Nzg5", "n": 4111111111111111}`,
		"ACME-123456", `["\\", "a@b.co\"", 5555555555554444]`, "@@@.@..", "+1 (2",
	} {
		f.Add(s)
	}
	r, err := New(Options{Detectors: DetectorNames(), Rules: []Rule{{Name: "internal_id", Pattern: `ACME-[0-9]{6}`}}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := r.Text(s)
		if out == s {
			return
		}
		if !strings.Contains(out, "[REDACTED:") {
			t.Fatalf("changed without a marker: %q -> %q", s, out)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("broke UTF-8: %q -> %q", s, out)
		}
		if looksLikeJSON(s) && json.Valid([]byte(s)) && !json.Valid([]byte(out)) {
			t.Fatalf("broke JSON: %q -> %q", s, out)
		}
		// A second pass may find more (two secrets written without a
		// separator are seen one at a time), but never changes a marker.
		if again := r.Text(out); strings.Count(again, "[REDACTED:") < strings.Count(out, "[REDACTED:") {
			t.Fatalf("second pass lost a marker: %q -> %q -> %q", s, out, again)
		}
	})
}

// FuzzRule compiles an arbitrary custom rule and runs it over an
// arbitrary text: a pattern is refused with an error or works, and never
// puts a marker in an empty match or breaks a JSON text's quoting.
func FuzzRule(f *testing.F) {
	f.Add(`ACME-[0-9]{6}`, "order ACME-123456")
	f.Add(`secret:[^ ]+`, `{"a":"secret:xyz","b":"keep"}`)
	f.Add(`[0-9]*`, "123")
	f.Add(`(?i)bob`, `["Bob\nBOB"]`)
	f.Add(`"`, `{"a":"b"}`)
	f.Add(`a|`, "aaa")
	f.Fuzz(func(t *testing.T, pattern, text string) {
		r, err := New(Options{Rules: []Rule{{Name: "custom", Pattern: pattern}}}, nil)
		if err != nil {
			if _, cerr := Compile(pattern); cerr == nil {
				t.Fatalf("New refused %q but Compile accepts it: %v", pattern, err)
			}
			return
		}
		out := r.Text(text)
		if out != text && !strings.Contains(out, Marker("custom")) {
			t.Fatalf("changed without a marker: %q -> %q", text, out)
		}
		if looksLikeJSON(text) && json.Valid([]byte(text)) && !json.Valid([]byte(out)) {
			t.Fatalf("pattern %q broke JSON: %q -> %q", pattern, text, out)
		}
	})
}
