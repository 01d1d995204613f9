package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/eval"
)

// passScore is the lexical_groundedness pass score of the demo's monitor.
const passScore = 0.8

func TestKnowledgeBase(t *testing.T) {
	docs := KnowledgeBase()
	if len(docs) < 25 {
		t.Errorf("%d documents, want a few dozen", len(docs))
	}
	ids := map[string]bool{}
	for _, d := range docs {
		if ids[d.ID] {
			t.Errorf("document id %s used twice", d.ID)
		}
		ids[d.ID] = true
		if n := len(Sentences(d.Text)); n < 3 {
			t.Errorf("%s has %d sentences, want at least 3: %q", d.ID, n, Sentences(d.Text))
		}
	}
	var outside int
	for _, q := range Questions() {
		if q.Doc == "" {
			outside++
			continue
		}
		if !ids[q.Doc] {
			t.Errorf("question %q names unknown document %s", q.Text, q.Doc)
		}
	}
	if outside == 0 {
		t.Error("no question the help center does not cover")
	}
}

func TestSentences(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"one", "Just one sentence.", []string{"Just one sentence."}},
		{"three", "First one. Second one? Third one!", []string{"First one.", "Second one?", "Third one!"}},
		{"decimal", "It joins 2.4 GHz networks. It cannot join others.", []string{"It joins 2.4 GHz networks.", "It cannot join others."}},
		{"digit start", "Turn it off. 5 GHz is not supported.", []string{"Turn it off.", "5 GHz is not supported."}},
		{"lower case after dot", "See Settings. then About.", []string{"See Settings. then About."}},
		{"no final dot", "First. Second", []string{"First.", "Second"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Sentences(tt.text)); diff != "" {
				t.Errorf("Sentences(%q) (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

// TestRetriever: every question the help center covers finds its article
// first, relevant enough to be answered; the others find nothing that is.
func TestRetriever(t *testing.T) {
	r := NewRetriever(KnowledgeBase())
	for _, q := range Questions() {
		t.Run(q.Text, func(t *testing.T) {
			hits := r.Search(q.Text, topK)
			if len(hits) > topK {
				t.Fatalf("%d hits, want at most %d", len(hits), topK)
			}
			for i := 1; i < len(hits); i++ {
				if hits[i].Score > hits[i-1].Score {
					t.Errorf("hits not best first: %v", hits)
				}
			}
			if q.Doc == "" {
				if len(hits) > 0 && hits[0].Score >= minScore {
					t.Errorf("best hit %s scores %.3f, want below %.2f for a question the help center does not cover", hits[0].Doc.ID, hits[0].Score, minScore)
				}
				return
			}
			if len(hits) == 0 {
				t.Fatalf("no hit, want %s", q.Doc)
			}
			if hits[0].Doc.ID != q.Doc || hits[0].Score < minScore {
				t.Errorf("best hit %s (%.3f), want %s scoring at least %.2f", hits[0].Doc.ID, hits[0].Score, q.Doc, minScore)
			}
		})
	}
	if got := r.Search("", topK); len(got) != 0 {
		t.Errorf("empty query found %d hits", len(got))
	}
	if got := r.Search("zebra xylophone", topK); len(got) != 0 {
		t.Errorf("unknown words found %d hits", len(got))
	}
}

// TestComposer: answers from the context keep to it by flowwatch's own
// lexical_groundedness (score 1), every answer with an unsupported claim
// fails the demo monitor's pass score, and questions outside the help
// center are declined in words the refusal evaluator recognizes.
func TestComposer(t *testing.T) {
	r := NewRetriever(KnowledgeBase())
	c := Composer{Retriever: r, MinScore: minScore, MaxSentences: 2}
	for _, q := range Questions() {
		hits := r.Search(q.Text, topK)
		var ctx []string
		for _, h := range hits {
			ctx = append(ctx, h.Doc.Text)
		}
		context := strings.Join(ctx, "\n\n")
		a := c.Compose(q.Text, hits, "")
		if q.Doc == "" {
			if !a.Refused || a.Grounded() || eval.Refusal(a.Text) == "" {
				t.Errorf("%q: answer %+v, want a refusal", q.Text, a)
			}
			continue
		}
		if a.Refused || !a.Grounded() {
			t.Errorf("%q: answer %+v, want grounded", q.Text, a)
		}
		if n := len(Sentences(a.Text)); n < 1 || n > 2 {
			t.Errorf("%q: %d sentences, want 1 or 2: %q", q.Text, n, a.Text)
		}
		if g, _ := eval.LexicalGroundedness(a.Text, context); g != 1 {
			t.Errorf("%q: lexical groundedness %.2f, want 1: %q", q.Text, g, a.Text)
		}
		if eval.Refusal(a.Text) != "" || len(eval.PII(a.Text)) > 0 {
			t.Errorf("%q: answer reads as a refusal or holds personal data: %q", q.Text, a.Text)
		}
		for _, claim := range unsupportedClaims {
			b := c.Compose(q.Text, hits, claim)
			if b.Grounded() || !strings.HasSuffix(b.Text, claim) || len(Sentences(b.Text)) != 2 {
				t.Errorf("%q with a claim: %+v, want the best sentence and the claim", q.Text, b)
			}
			if g, _ := eval.LexicalGroundedness(b.Text, context); g >= passScore {
				t.Errorf("%q with claim %q: lexical groundedness %.2f, want below %.2f", q.Text, claim, g, passScore)
			}
		}
	}
}

// TestTrafficReproducible: a seed gives the same requests, another seed
// others.
func TestTrafficReproducible(t *testing.T) {
	end := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	plan := func(seed uint64) []Request {
		tr := NewTraffic(TrafficOptions{Seed: seed, Incident: Incident{Start: end.Add(-38 * time.Minute), End: end.Add(-30 * time.Minute), Rate: 0.5}})
		return append(tr.Backfill(100, end, time.Hour), tr.Next(end))
	}
	a, b := plan(7), plan(7)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("the same seed planned different requests (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, plan(8)) {
		t.Error("seeds 7 and 8 planned the same requests")
	}
}

// TestTrafficShape: over many requests, the plan has what the demo
// promises: every deployment, answers beyond their context (more on the
// canary), declined and failed requests, retriever timeouts only in the
// incident, and consistent figures on each request.
func TestTrafficShape(t *testing.T) {
	end := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	inc := Incident{Start: end.Add(-38 * time.Minute), End: end.Add(-30 * time.Minute), Rate: 0.5}
	reqs := NewTraffic(TrafficOptions{Seed: 1, Incident: inc}).Backfill(3000, end, time.Hour)
	type counts struct{ requests, answers, beyond, failed int }
	per := map[string]*counts{}
	failures := map[Failure]int{}
	var declined int
	for i, r := range reqs {
		if r.Start.Before(end.Add(-time.Hour)) || !r.Start.Before(end) || (i > 0 && r.Start.Before(reqs[i-1].Start)) {
			t.Fatalf("request %d starts at %s: want [%s, %s), in order", i, r.Start, end.Add(-time.Hour), end)
		}
		c := per[r.Profile.Key()]
		if c == nil {
			c = &counts{}
			per[r.Profile.Key()] = c
		}
		c.requests++
		failures[r.Failure]++
		if r.Failed() {
			c.failed++
			if r.Answer.Text != "" || r.OutputTokens != 0 {
				t.Errorf("failed request %d has an answer: %+v", i, r.Answer)
			}
			if r.Failure == FailRetrieverTimeout && (r.Start.Before(inc.Start) || !r.Start.Before(inc.End)) {
				t.Errorf("retriever timeout at %s, outside the incident", r.Start)
			}
			continue
		}
		if r.Profile.ChatModel == "" {
			if r.Answer.Text != "" || r.InputTokens != 0 {
				t.Errorf("search request %d has an answer or model tokens", i)
			}
			continue
		}
		c.answers++
		if r.Answer.Claim != "" {
			c.beyond++
		}
		if r.Answer.Refused {
			declined++
		}
		if r.Answer.Text == "" || r.InputTokens <= r.EmbedTokens || r.OutputTokens <= 0 || r.TTFT <= 0 || r.Chat <= r.TTFT || r.ResponseID == "" {
			t.Errorf("answered request %d lacks figures: %+v", i, r)
		}
	}
	prod, canary := per[ServiceAssistant+"/prod"], per[ServiceAssistant+"/canary"]
	if prod == nil || canary == nil || per[ServiceSearch+"/prod"] == nil {
		t.Fatalf("deployments %v, want all three", per)
	}
	share := func(n, of int) float64 { return float64(n) / float64(of) }
	if p, c := share(prod.beyond, prod.answers), share(canary.beyond, canary.answers); p < 0.05 || c < 0.15 || c <= p {
		t.Errorf("beyond-context shares prod %.2f, canary %.2f: want both, the canary's higher", p, c)
	}
	if declined == 0 {
		t.Error("no declined answers")
	}
	for _, f := range []Failure{FailRateLimited, FailChatTimeout, FailRetrieverTimeout} {
		if failures[f] == 0 {
			t.Errorf("no failure of kind %d", f)
		}
	}
	if rate := share(prod.failed+canary.failed, prod.requests+canary.requests); rate <= 0.05 {
		t.Errorf("the assistant's error rate %.3f is not above the monitor's 5%%", rate)
	}
}
