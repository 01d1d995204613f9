package cli

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api"
)

func TestCell(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven ch…"},
		{"  lead\n\n\ttrail  ", 20, "lead trail"},
		{"line one\r\nline two", 60, "line one line two"},
		{"red \x1b[31malert\x1b[0m", 60, "red [31malert [0m"},
		{"bidi \u202egnp.exe", 60, "bidi gnp.exe"},
		{"bad \xff utf8", 60, "bad utf8"},
		{"héllo wörld ünïcode", 9, "héllo wö…"},
		{"word word", 6, "word…"},
		{"", 5, ""},
		{strings.Repeat("x", 10000), 3, "xx…"},
	}
	for _, tc := range cases {
		if got := cell(tc.in, tc.max); got != tc.want {
			t.Errorf("cell(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// FuzzCell checks that whatever a server sends, a table cell holds no
// control characters and no more than max runes.
func FuzzCell(f *testing.F) {
	for _, s := range []string{"", "a\tb\nc", "\x1b[2J", "\u202e", "é\xff", strings.Repeat("ab ", 50)} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 1 || max > 1000 {
			return
		}
		got := cell(s, max)
		if n := utf8.RuneCountInString(got); n > max {
			t.Fatalf("cell(%q, %d) = %q: %d runes", s, max, got, n)
		}
		for _, r := range got {
			if unicode.IsControl(r) || r == utf8.RuneError || isBidiControl(r) || (unicode.IsSpace(r) && r != ' ') {
				t.Fatalf("cell(%q, %d) = %q holds %U", s, max, got, r)
			}
		}
		if strings.HasPrefix(got, " ") || strings.HasSuffix(got, " ") {
			t.Fatalf("cell(%q, %d) = %q has outer blanks", s, max, got)
		}
	})
}

func TestFormatMS(t *testing.T) {
	for ms, want := range map[float64]string{
		-1: "-", 0: "0µs", 0.0004: "0µs", 0.812: "812µs", 1: "1.0ms", 9.94: "9.9ms", 12.4: "12ms",
		999.4: "999ms", 1000: "1.00s", 30500: "30.50s", 59_999: "60.00s", 60_000: "1m0s",
		90_499: "1m30s", 3_600_000: "1h0m0s", 2e12: "555556h",
	} {
		if got := formatMS(ms); got != want {
			t.Errorf("formatMS(%v) = %q, want %q", ms, got, want)
		}
	}
}

func TestSpanTree(t *testing.T) {
	sp := func(id, parent string) api.Span { return api.Span{SpanID: id, ParentSpanID: parent} }
	cases := []struct {
		name  string
		spans []api.Span
		want  []treeNode
	}{
		{"empty", nil, []treeNode{}},
		{"nested in order", []api.Span{sp("a", ""), sp("b", "a"), sp("c", "b"), sp("d", "a")},
			[]treeNode{{0, 0}, {1, 1}, {2, 2}, {3, 1}}},
		{"child before parent", []api.Span{sp("b", "a"), sp("a", "")},
			[]treeNode{{1, 0}, {0, 1}}},
		{"orphan and second root", []api.Span{sp("a", ""), sp("x", "missing"), sp("y", "x"), sp("b", "")},
			[]treeNode{{0, 0}, {1, 0}, {2, 1}, {3, 0}}},
		{"self parent", []api.Span{sp("a", "a")}, []treeNode{{0, 0}}},
		{"cycle", []api.Span{sp("r", ""), sp("a", "b"), sp("b", "a")},
			[]treeNode{{0, 0}, {1, 0}, {2, 1}}},
		{"duplicate ids", []api.Span{sp("a", ""), sp("a", "")},
			[]treeNode{{0, 0}, {1, 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := spanTree(tc.spans)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(treeNode{})); diff != "" {
				t.Errorf("spanTree (-want +got):\n%s", diff)
			}
		})
	}
	// A deep chain is walked without recursion.
	deep := make([]api.Span, 100_000)
	for i := range deep {
		deep[i] = sp("s"+strconv.Itoa(i), "")
		if i > 0 {
			deep[i].ParentSpanID = deep[i-1].SpanID
		}
	}
	if got := spanTree(deep); len(got) != len(deep) || got[len(got)-1].depth != len(deep)-1 {
		t.Errorf("deep chain: %d nodes, last depth %d", len(got), got[len(got)-1].depth)
	}
}
