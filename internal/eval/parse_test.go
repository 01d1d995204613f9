package eval

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReply(t *testing.T) {
	one := []string{"fluency"}
	two := []string{"groundedness", "relevance"}
	tests := []struct {
		name    string
		content string
		metrics []string
		want    []rating
	}{
		{"flat", `{"score": 4, "reason": "Clear and correct."}`, one,
			[]rating{{Score: 4, Reason: "Clear and correct."}}},
		{"flat without reason", `{"score": 1}`, one, []rating{{Score: 1}}},
		{"rating key", `{"rating": 5, "reason": "x"}`, one, []rating{{Score: 5, Reason: "x"}}},
		{"keyed single", `{"fluency": {"score": 2, "reason": "Awkward."}}`, one,
			[]rating{{Score: 2, Reason: "Awkward."}}},
		{"integer-valued float", `{"score": 3.0}`, one, []rating{{Score: 3}}},
		{"numeric string", `{"score": " 5 "}`, one, []rating{{Score: 5}}},
		{"fenced with prose", "Here is my rating:\n```json\n{\"score\": 3, \"reason\": \"Some slips.\"}\n```\nThanks.", one,
			[]rating{{Score: 3, Reason: "Some slips."}}},
		{"brace in prose before the object", `Scores {like this} follow: {"score": 4, "reason": "ok"}`, one,
			[]rating{{Score: 4, Reason: "ok"}}},
		{"reason white space collapsed", "{\"score\": 4, \"reason\": \"  two\\n lines \"}", one,
			[]rating{{Score: 4, Reason: "two lines"}}},
		{"non-string reason dropped", `{"score": 4, "reason": 17}`, one, []rating{{Score: 4}}},
		{"not an integer", `{"score": 3.5}`, one, []rating{{Problem: "score 3.5 is not an integer"}}},
		{"too high", `{"score": 6}`, one, []rating{{Problem: "score 6 is outside 1-5"}}},
		{"zero", `{"score": 0}`, one, []rating{{Problem: "score 0 is outside 1-5"}}},
		{"word", `{"score": "high"}`, one, []rating{{Problem: `score "high" is not a number`}}},
		{"null", `{"score": null}`, one, []rating{{Problem: `score "" is not a number`}}},
		{"no score", `{"reason": "fine"}`, one, []rating{{Problem: "the reply has no entry for fluency"}}},
		{"no JSON", "Four out of five.", one, []rating{{Problem: "the reply holds no JSON object"}}},
		{"empty", "", one, []rating{{Problem: "the reply holds no JSON object"}}},
		{"truncated", `{"score": 4, "reason": "cut`, one, []rating{{Problem: "the reply holds no JSON object"}}},
		{"array", `[{"score": 4}]`, one, []rating{{Score: 4}}},
		{"multi", `{"groundedness": {"score": 5, "reason": "a"}, "relevance": {"score": 2, "reason": "b"}}`, two,
			[]rating{{Score: 5, Reason: "a"}, {Score: 2, Reason: "b"}}},
		{"multi keys in another case", `{"Groundedness": {"score": 5}, "RELEVANCE": {"score": 2}}`, two,
			[]rating{{Score: 5}, {Score: 2}}},
		{"multi bare numbers", `{"groundedness": 3, "relevance": "4"}`, two, []rating{{Score: 3}, {Score: 4}}},
		{"multi partial", `{"groundedness": {"score": 5}, "relevance": {"score": 9}}`, two,
			[]rating{{Score: 5}, {Problem: "relevance: score 9 is outside 1-5"}}},
		{"multi missing", `{"groundedness": {"score": 5}}`, two,
			[]rating{{Score: 5}, {Problem: "the reply has no entry for relevance"}}},
		{"multi given a flat reply", `{"score": 5}`, two,
			[]rating{{Problem: "the reply has no entry for groundedness"}, {Problem: "the reply has no entry for relevance"}}},
		{"multi entry without score", `{"groundedness": {"reason": "x"}, "relevance": {"score": 1}}`, two,
			[]rating{{Problem: "groundedness: no score in the reply"}, {Score: 1}}},
		{"multi entry not a number", `{"groundedness": true, "relevance": {"score": 1}}`, two,
			[]rating{{Problem: "groundedness: score true is not a number"}, {Score: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseReply(tc.content, tc.metrics)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(rating{})); diff != "" {
				t.Errorf("parseReply(%q) (-want +got):\n%s", tc.content, diff)
			}
		})
	}
}

func TestParseReplyLongReason(t *testing.T) {
	got := parseReply(`{"score": 2, "reason": "`+strings.Repeat("é", 2000)+`"}`, []string{"fluency"})
	if n := len([]rune(got[0].Reason)); n != maxReasonRunes || got[0].Score != 2 {
		t.Errorf("reason of %d runes, score %d", n, got[0].Score)
	}
}

// FuzzParseReply checks the reply parser never panics, returns one entry
// per metric, and only ever returns integer scores from 1 to 5 (or a
// problem, never both).
func FuzzParseReply(f *testing.F) {
	for _, seed := range []string{
		`{"score": 4, "reason": "ok"}`,
		`{"groundedness": {"score": 5, "reason": "a"}, "relevance": {"score": 2}}`,
		"```json\n{\"score\": 3}\n```",
		`{"score": 3.5}`, `{"score": "4"}`, `{"score": 1e400}`, `{"score": -0}`,
		`{{{{`, `{"a":{"b":{"c":{}}}}`, "", "null", `{"relevance": 4}`,
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, content string, multi bool) {
		metrics := []string{"fluency"}
		if multi {
			metrics = []string{"groundedness", "relevance"}
		}
		got := parseReply(content, metrics)
		if len(got) != len(metrics) {
			t.Fatalf("%d ratings for %d metrics", len(got), len(metrics))
		}
		for _, r := range got {
			if r.ok() {
				if r.Score < 1 || r.Score > 5 {
					t.Fatalf("score %d outside 1-5 from %q", r.Score, content)
				}
				if len([]rune(r.Reason)) > maxReasonRunes {
					t.Fatalf("reason too long")
				}
			} else if r.Score != 0 {
				t.Fatalf("a rating with a problem has score %d", r.Score)
			}
		}
	})
}
