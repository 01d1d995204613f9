package textclip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRunes(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		n       int
		want    string
		wantCut bool
	}{
		{"empty", "", 5, "", false},
		{"shorter", "abc", 5, "abc", false},
		{"exact", "abcde", 5, "abcde", false},
		{"longer", "abcdef", 5, "abcde", true},
		{"multibyte exact", "héllo", 5, "héllo", false},
		{"multibyte cut", "héllo wörld", 7, "héllo w", true},
		{"cjk", "日本語のテキスト", 3, "日本語", true},
		{"emoji", "😀😀😀", 2, "😀😀", true},
		{"zero", "abc", 0, "", true},
		{"zero empty", "", 0, "", false},
		{"negative", "abc", -1, "", true},
		{"invalid utf8 kept", "a\xffbc", 2, "a\xff", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := Runes(tc.in, tc.n)
			if got != tc.want || cut != tc.wantCut {
				t.Errorf("Runes(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, cut, tc.want, tc.wantCut)
			}
		})
	}
}

func TestBytes(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		n       int
		want    string
		wantCut bool
	}{
		{"shorter", "abc", 5, "abc", false},
		{"ascii cut", "abcdef", 4, "abcd", true},
		{"inside a sequence", "aé", 2, "a", true},
		{"after a sequence", "aéb", 3, "aé", true},
		{"zero", "abc", 0, "", true},
		{"negative", "abc", -3, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := Bytes(tc.in, tc.n)
			if got != tc.want || cut != tc.wantCut {
				t.Errorf("Bytes(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, cut, tc.want, tc.wantCut)
			}
		})
	}
}

func FuzzRunes(f *testing.F) {
	f.Add("héllo wörld", 3)
	f.Add("a\xffb", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 1 << 16
		got, cut := Runes(s, n)
		if !strings.HasPrefix(s, got) {
			t.Fatalf("%q is not a prefix of %q", got, s)
		}
		if cut != (got != s) {
			t.Fatalf("cut = %v, but %q vs %q", cut, got, s)
		}
		if utf8.RuneCountInString(got) > max(n, 0) {
			t.Fatalf("%q has more than %d runes", got, n)
		}
		if cut && utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("cut %q inside a character", got)
		}
	})
}
