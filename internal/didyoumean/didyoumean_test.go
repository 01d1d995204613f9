package didyoumean

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClosest(t *testing.T) {
	keys := []string{"smtp", "http", "grpc", "channels", "monitors_dir"}
	tests := []struct {
		name, word, want string
	}{
		{name: "transposition", word: "smpt", want: "smtp"},
		{name: "one letter off", word: "htp", want: "http"},
		{name: "case", word: "SMTP", want: "smtp"},
		{name: "prefix", word: "monitors", want: "monitors_dir"},
		{name: "nothing close", word: "pricing_table", want: ""},
		{name: "short and far", word: "xyz", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Closest(tt.word, keys); got != tt.want {
				t.Errorf("Closest(%q) = %q, want %q", tt.word, got, tt.want)
			}
		})
	}
}

func TestRank(t *testing.T) {
	got := Rank("rag-app", []string{"rag-1234-endpoint", "chat", "rag-app2", "rag-app2", "rag"})
	want := []string{"rag-app2", "rag", "chat", "rag-1234-endpoint"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rank mismatch (-want +got):\n%s", diff)
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{name: "equal", a: "abc", b: "abc", want: 0},
		{name: "empty", a: "", b: "abc", want: 3},
		{name: "substitution", a: "abc", b: "abd", want: 1},
		{name: "runes", a: "héllo", b: "hello", want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Distance(tt.a, tt.b); got != tt.want {
				t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
