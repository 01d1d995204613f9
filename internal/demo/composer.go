package demo

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
)

// Composer builds the demo application's answers from the sentences of
// the documents its retriever found, the way an extractive answerer
// would; told to, it goes beyond its context and adds a claim no document
// supports, the way a careless LLM does.
type Composer struct {
	Retriever *Retriever
	// MinScore is the relevance the best hit needs for the composer to
	// answer; below it, it declines.
	MinScore float64
	// MaxSentences bounds an answer's sentences from the context.
	MaxSentences int
}

// Answer is what the composer answered.
type Answer struct {
	Text string
	// Refused is set when no document was relevant enough and the
	// composer declined.
	Refused bool
	// Claim is the unsupported claim added to the answer, "" when the
	// answer keeps to its context.
	Claim string
}

// Grounded reports whether every sentence of the answer comes from the
// context.
func (a Answer) Grounded() bool { return !a.Refused && a.Claim == "" }

// refusal is the composer's answer when its context does not cover the
// question.
const refusal = "I'm sorry, but I can't find anything about that in the Nimbus help center."

// sentence is one sentence of a hit, with where it was found and how well
// it matches the question.
type sentence struct {
	text      string
	rank, pos int
	score     float64
}

// Compose answers question from hits (best first). claim, when not "",
// replaces all but the best sentence: the answer then goes beyond its
// context.
func (c Composer) Compose(question string, hits []Hit, claim string) Answer {
	if len(hits) == 0 || hits[0].Score < c.MinScore {
		return Answer{Text: refusal, Refused: true}
	}
	q := map[string]bool{}
	for _, t := range terms(question) {
		q[t] = true
	}
	var cands []sentence
	for rank, h := range hits {
		if h.Score < c.MinScore {
			continue // too far off the question to quote
		}
		for pos, s := range Sentences(h.Doc.Text) {
			seen := map[string]bool{}
			var overlap float64
			for _, t := range terms(s) {
				if q[t] && !seen[t] {
					seen[t] = true
					overlap += c.Retriever.IDF(t)
				}
			}
			cands = append(cands, sentence{text: s, rank: rank, pos: pos, score: overlap * h.Score})
		}
	}
	// The best sentences by score; ties go to the better document, then
	// to the earlier sentence.
	slices.SortStableFunc(cands, func(a, b sentence) int {
		if x := cmp.Compare(b.score, a.score); x != 0 {
			return x
		}
		if x := cmp.Compare(a.rank, b.rank); x != 0 {
			return x
		}
		return cmp.Compare(a.pos, b.pos)
	})
	limit := max(c.MaxSentences, 1)
	if claim != "" {
		limit = 1
	}
	// A further sentence must match the question at least a third as
	// well as the best one: an answer does not wander off its topic.
	var picked []sentence
	for _, s := range cands {
		if len(picked) == limit || s.score == 0 || (len(picked) > 0 && s.score < picked[0].score/3) {
			break
		}
		picked = append(picked, s)
	}
	if len(picked) == 0 {
		// Nothing in the words of the question: the best document's
		// opening says what it is about.
		picked = []sentence{{text: Sentences(hits[0].Doc.Text)[0]}}
	}
	// Read in the order of the documents.
	slices.SortFunc(picked, func(a, b sentence) int {
		if x := cmp.Compare(a.rank, b.rank); x != 0 {
			return x
		}
		return cmp.Compare(a.pos, b.pos)
	})
	parts := make([]string, 0, len(picked)+1)
	for _, s := range picked {
		parts = append(parts, s.text)
	}
	if claim != "" {
		parts = append(parts, claim)
	}
	return Answer{Text: strings.Join(parts, " "), Claim: claim}
}

// Sentences splits a text after each ".", "?" or "!" followed by a space
// and a capital letter or digit.
func Sentences(text string) []string {
	var out []string
	rs := []rune(text)
	start := 0
	for i := 0; i < len(rs)-2; i++ {
		if (rs[i] == '.' || rs[i] == '?' || rs[i] == '!') && rs[i+1] == ' ' &&
			(unicode.IsUpper(rs[i+2]) || unicode.IsDigit(rs[i+2])) {
			out = append(out, strings.TrimSpace(string(rs[start:i+1])))
			start = i + 2
		}
	}
	if rest := strings.TrimSpace(string(rs[start:])); rest != "" {
		out = append(out, rest)
	}
	return out
}
