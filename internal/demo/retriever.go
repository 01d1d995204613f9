package demo

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"unicode"
)

// Hit is a document a search found, with its relevance (cosine similarity
// of TF-IDF vectors, 0 to 1).
type Hit struct {
	Doc   Document
	Score float64
}

// Retriever finds the articles of a knowledge base that match a question,
// by TF-IDF: each text becomes a vector of term weights (term frequency
// times inverse document frequency) and a question's hits are the
// documents whose vectors point the most in its direction.
type Retriever struct {
	docs []Document
	idf  map[string]float64
	// vecs are the documents' unit-length weight vectors.
	vecs []map[string]float64
}

// titleWeight is how many times a title's terms count: a title says what
// an article is about more surely than its body.
const titleWeight = 2

// NewRetriever indexes docs.
func NewRetriever(docs []Document) *Retriever {
	r := &Retriever{docs: slices.Clone(docs), idf: map[string]float64{}}
	tfs := make([]map[string]float64, len(docs))
	df := map[string]int{}
	for i, d := range docs {
		tf := map[string]float64{}
		for _, t := range terms(d.Title) {
			tf[t] += titleWeight
		}
		for _, t := range terms(d.Text) {
			tf[t]++
		}
		for t := range tf {
			df[t]++
		}
		tfs[i] = tf
	}
	n := float64(len(docs))
	for t, c := range df {
		r.idf[t] = math.Log(1 + n/float64(c))
	}
	r.vecs = make([]map[string]float64, len(docs))
	for i, tf := range tfs {
		r.vecs[i] = r.vector(tf)
	}
	return r
}

// vector weights term frequencies by idf (terms the index does not know
// are dropped) and scales the result to unit length.
// Sums run over the terms in sorted order, so that a text's vector, and
// a score, are the same to the last bit on every run.
func (r *Retriever) vector(tf map[string]float64) map[string]float64 {
	v := make(map[string]float64, len(tf))
	var norm float64
	for _, t := range slices.Sorted(maps.Keys(tf)) {
		f := tf[t]
		idf, ok := r.idf[t]
		if !ok {
			continue
		}
		w := (1 + math.Log(f)) * idf
		v[t] = w
		norm += w * w
	}
	if norm == 0 {
		return v
	}
	norm = math.Sqrt(norm)
	for t := range v {
		v[t] /= norm
	}
	return v
}

// Search returns at most k documents with a score above zero, best
// first (equal scores in id order).
func (r *Retriever) Search(query string, k int) []Hit {
	tf := map[string]float64{}
	for _, t := range terms(query) {
		tf[t]++
	}
	q := r.vector(tf)
	qterms := slices.Sorted(maps.Keys(q))
	var hits []Hit
	for i, dv := range r.vecs {
		var s float64
		for _, t := range qterms {
			s += q[t] * dv[t]
		}
		if s > 0 {
			hits = append(hits, Hit{Doc: r.docs[i], Score: s})
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Doc.ID, b.Doc.ID)
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// IDF is the inverse document frequency of a term (as terms returns it),
// 0 for a term no document has.
func (r *Retriever) IDF(term string) float64 { return r.idf[term] }

// stopTerms are left out of the index: they say nothing about what an
// article or question is about.
var stopTerms = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the and or but if then so of to in on at by for from with without
		into onto over under up down out about as is are was were be been being it its this that these those
		there here i me my we our you your he she they them their what which who whom when where why how
		do does did doing done can could will would should shall may might must not no nor only own same
		too very just than such each every all any both few more most other some also again once until
		while during before after above below between through off get got has have had having am s t`) {
		m[w] = true
	}
	return m
}()

// terms splits a text into index terms: lower-cased runs of letters and
// digits, stop words removed, plural endings folded ("sensors" and
// "sensor" are one term, "batteries" and "battery" too).
func terms(s string) []string {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := words[:0]
	for _, w := range words {
		if stopTerms[w] {
			continue
		}
		out = append(out, stem(w))
	}
	return out
}

// stem folds English plural endings.
func stem(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us"):
		return w[:len(w)-1]
	}
	return w
}
