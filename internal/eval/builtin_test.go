package eval

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"The cat sat on the mat.", []string{"cat", "sat", "on", "mat"}},
		{"  A U.S.A.-based firm, an ANT!  ", []string{"usabased", "firm", "ant"}},
		{"Theory and them", []string{"theory", "and", "them"}},
		{"¿Qué? «Ça va» — 100$", []string{"qué", "ça", "va", "100"}},
		{"", []string{}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, Tokens(tc.in)); diff != "" {
			t.Errorf("Tokens(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestBuiltinScores(t *testing.T) {
	reg := NewRegistry()
	tests := []struct {
		name   string
		metric string
		s      Sample
		want   float64
		reason string // checked when set
	}{
		// f1_score: lower-case, strip punctuation and articles, multiset overlap.
		{"f1 identical after normalization", "f1_score", Sample{Answer: "The cat sat on the mat.", GroundTruth: "A cat sat on a mat"}, 1, ""},
		{"f1 short truth", "f1_score", Sample{Answer: "Paris is the capital of France", GroundTruth: "Paris"}, 1.0 / 3, ""},
		{"f1 multiset", "f1_score", Sample{Answer: "the the dog dog dog", GroundTruth: "dog cat dog"}, 2.0 / 3, ""},
		{"f1 no overlap", "f1_score", Sample{Answer: "yes", GroundTruth: "no"}, 0, "token-overlap F1 with the ground truth is 0.000"},
		{"f1 punctuation inside words", "f1_score", Sample{Answer: "U.S.A.", GroundTruth: "usa"}, 1, ""},
		{"f1 both empty after normalization", "f1_score", Sample{Answer: "The.", GroundTruth: "a"}, 1, ""},
		{"f1 one empty after normalization", "f1_score", Sample{Answer: "cat", GroundTruth: "An!"}, 0, ""},
		{"f1 rag answer", "f1_score", fullSample, 0.4, "token-overlap F1 with the ground truth is 0.400"},

		{"exact match", "exact_match", Sample{Answer: "The Eiffel Tower!", GroundTruth: "eiffel   tower"}, 1, ""},
		{"exact match differs", "exact_match", Sample{Answer: "Eiffel Tower in Paris", GroundTruth: "Eiffel Tower"}, 0, ""},
		{"exact match order matters", "exact_match", Sample{Answer: "tower eiffel", GroundTruth: "Eiffel Tower"}, 0, ""},

		// 7 distinct content words (x200 comes twoyear warranty covering
		// motor battery); the context has 5 of them.
		{"lexical groundedness", "lexical_groundedness", fullSample, 5.0 / 7, "5 of 7 content words of the answer occur in the context"},
		{"lexical groundedness distinct words", "lexical_groundedness", Sample{Answer: "Paris Paris Paris London", Context: "Paris is big"}, 0.5, ""},
		{"lexical groundedness only stop words", "lexical_groundedness", Sample{Answer: "It is what it is.", Context: "unrelated"}, 1, "the answer has no content words"},
		{"lexical groundedness none", "lexical_groundedness", Sample{Answer: "Bananas grow quickly.", Context: "Apples fall slowly."}, 0, ""},

		{"answer length", "answer_length", Sample{Answer: "  Héllo wörld  "}, 2, "2 words, 11 characters"},
		{"answer length white space", "answer_length", Sample{Answer: "one two\tthree\nfour"}, 4, "4 words, 18 characters"},

		// refusal and pii: 1 is good (no refusal, no personal data).
		{"refusal sorry but", "refusal", Sample{Answer: "I'm sorry, but I can't help with that."}, 0, `the answer declines to help ("i'm sorry but")`},
		{"refusal curly apostrophe", "refusal", Sample{Answer: "I’m unable to find that in the documents."}, 0, ""},
		{"refusal don't know", "refusal", Sample{Answer: "I don't know."}, 0, ""},
		{"refusal cannot answer", "refusal", Sample{Answer: "Sorry, I cannot answer questions about pricing."}, 0, ""},
		{"no refusal", "refusal", Sample{Answer: "The warranty is two years."}, 1, "no refusal phrase found"},
		{"no refusal cannot stress", "refusal", Sample{Answer: "I cannot stress enough how good this is."}, 1, ""},
		{"no refusal inside a word", "refusal", Sample{Answer: "Ai don't knowledge-check."}, 1, ""},

		{"pii email", "pii", Sample{Answer: "Write to jane.doe@example.com for help."}, 0, "found: email"},
		{"pii card", "pii", Sample{Answer: "Card 4111 1111 1111 1111 expires soon"}, 0, "found: card"},
		{"pii card fails luhn", "pii", Sample{Answer: "Order 4111 1111 1111 1112 shipped"}, 1, ""},
		{"pii international phone", "pii", Sample{Answer: "Call +44 20 7946 0958 today"}, 0, "found: phone"},
		{"pii north american phone", "pii", Sample{Answer: "Call (555) 123-4567"}, 0, "found: phone"},
		{"pii dotted phone", "pii", Sample{Answer: "555.123.4567"}, 0, "found: phone"},
		{"pii all kinds", "pii", Sample{Answer: "Mail bob@example.org, call 555-123-4567, card 5555-5555-5555-4444"}, 0, "found: card, email, phone"},
		{"pii date and time", "pii", Sample{Answer: "Meeting on 2024-05-01 at 10:30, room 12."}, 1, "no e-mail address, phone number or card number found"},
		{"pii version", "pii", Sample{Answer: "Version 1.2.3 released; order #12345678."}, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := reg.Builtin(tc.metric, tc.s)
			if got.Err != nil {
				t.Fatal(got.Err)
			}
			if math.Abs(got.Value-tc.want) > 1e-12 {
				t.Errorf("%s = %v, want %v", tc.metric, got.Value, tc.want)
			}
			if tc.reason != "" && got.Reason != tc.reason {
				t.Errorf("reason %q, want %q", got.Reason, tc.reason)
			}
			if got.JudgeModel != BuiltinModel || got.PromptVersion != builtinVersion || got.Metric != tc.metric {
				t.Errorf("score %+v", got)
			}
		})
	}
}

func TestLuhn(t *testing.T) {
	for in, want := range map[string]bool{
		"4111111111111111": true, "5555555555554444": true, "378282246310005": true,
		"4111111111111112": false, "": false, "41111x1111111111": false, "0": true,
	} {
		if got := Luhn(in); got != want {
			t.Errorf("Luhn(%q) = %v", in, got)
		}
	}
}

func TestRegistry(t *testing.T) {
	reg := NewRegistry()
	want := []string{"groundedness", "relevance", "coherence", "fluency", "similarity",
		"f1_score", "exact_match", "lexical_groundedness", "answer_length", "refusal", "pii"}
	if diff := cmp.Diff(want, reg.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	g, _ := reg.Lookup("groundedness")
	if !g.LLM() || g.Min != 1 || g.Max != 5 || !g.Integer || g.Version != "v1.1" ||
		!cmp.Equal(g.Needs, []Field{FieldAnswer, FieldContext}) || g.DefaultPassScore != 3 {
		t.Errorf("groundedness %+v", g)
	}
	sim, _ := reg.Lookup("similarity")
	if !cmp.Equal(sim.Needs, []Field{FieldQuestion, FieldAnswer, FieldGroundTruth}) {
		t.Errorf("similarity needs %v", sim.Needs)
	}
	f1, _ := reg.Lookup("f1_score")
	if f1.LLM() || f1.Max != 1 || f1.Integer || f1.DefaultPassScore != 0.5 || f1.Description[:19] != "built-in (no LLM): " {
		t.Errorf("f1_score %+v", f1)
	}
	if pii, _ := reg.Lookup("pii"); pii.DefaultPassScore != 1 || pii.Max != 1 || pii.Unbounded {
		t.Errorf("pii %+v", pii)
	}
	if l, _ := reg.Lookup("answer_length"); !l.Unbounded || l.DefaultPassScore != 1 || !l.Integer {
		t.Errorf("answer_length %+v", l)
	}
	if _, ok := reg.Lookup("helpfulness"); ok {
		t.Error("helpfulness should be unknown")
	}
	if m := f1.Missing(Sample{Answer: "x", GroundTruth: " \n"}); !cmp.Equal(m, []Field{FieldGroundTruth}) {
		t.Errorf("missing %v", m)
	}
	if sc := reg.Builtin("f1_score", Sample{Answer: "x"}); !errors.Is(sc.Err, ErrNotEvaluable) {
		t.Errorf("f1 without ground truth: %v", sc.Err)
	}
	if sc := reg.Builtin("fluency", fullSample); !errors.Is(sc.Err, ErrUnknownMetric) {
		t.Errorf("fluency as built-in: %v", sc.Err)
	}
}

// stubRater rates every metric 3 and records what it was asked.
type stubRater struct{ asked [][]string }

func (r *stubRater) Rate(_ context.Context, _ *Budget, _ Sample, metrics []string) ([]Score, error) {
	r.asked = append(r.asked, metrics)
	out := make([]Score, len(metrics))
	for i, m := range metrics {
		out[i] = Score{Metric: m, Value: 3}
	}
	return out, nil
}

func TestRegistryEvaluate(t *testing.T) {
	reg := NewRegistry()
	r := &stubRater{}
	scores, err := reg.Evaluate(context.Background(), r, nil, fullSample, []string{"exact_match", "fluency", "f1_score", "relevance"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range scores {
		got[s.Metric] = s.Value
	}
	if diff := cmp.Diff(map[string]float64{"exact_match": 0, "fluency": 3, "f1_score": 0.4, "relevance": 3}, got); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"fluency", "relevance"}}, r.asked); diff != "" {
		t.Errorf("one judge call for the LLM metrics (-want +got):\n%s", diff)
	}
	if _, err := reg.Evaluate(context.Background(), nil, nil, fullSample, []string{"fluency"}); err == nil {
		t.Error("an LLM metric without a judge should fail")
	}
	if _, err := reg.Evaluate(context.Background(), r, nil, fullSample, []string{"nope"}); !errors.Is(err, ErrUnknownMetric) {
		t.Errorf("unknown metric: %v", err)
	}
}

func FuzzBuiltins(f *testing.F) {
	for _, s := range []string{"The cat sat.", "Call +1 800 555 0199 or a@b.co", "4111 1111 1111 1111", "I’m sorry, but no.", ""} {
		f.Add(s, "the cat")
	}
	reg := NewRegistry()
	f.Fuzz(func(t *testing.T, answer, other string) {
		s := Sample{Answer: answer, GroundTruth: other, Context: other}
		for _, name := range reg.Names() {
			m, _ := reg.Lookup(name)
			if m.LLM() {
				continue
			}
			sc := reg.Builtin(name, s)
			if sc.Err != nil {
				if !errors.Is(sc.Err, ErrNotEvaluable) {
					t.Fatalf("%s: %v", name, sc.Err)
				}
				continue
			}
			if math.IsNaN(sc.Value) || sc.Value < m.Min || (!m.Unbounded && sc.Value > m.Max) {
				t.Fatalf("%s = %v outside its scale for %q / %q", name, sc.Value, answer, other)
			}
		}
	})
}

// TestRefusalPhrasesDocumented keeps docs/judges.md's phrase list in step
// with the code.
func TestRefusalPhrasesDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "judges.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(doc)), " ")
	for _, p := range RefusalPhrases() {
		if !strings.Contains(text, `"`+p+`"`) {
			t.Errorf("docs/judges.md does not list the refusal phrase %q", p)
		}
	}
	if n := strings.Count(text[strings.Index(text, "**refusal**"):strings.Index(text, "**pii**")], `", "`) + 1; n != len(RefusalPhrases()) {
		t.Errorf("docs/judges.md lists %d refusal phrases, the code %d", n, len(RefusalPhrases()))
	}
}
