package payload

import (
	"slices"
	"sort"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/textclip"
)

// What both backends index for a trace besides its payloads: the text of
// its full-text entry and its models, so that a search finds the same
// traces whichever store holds them.

// MaxSearchTextBytes bounds a trace's full-text entry.
const MaxSearchTextBytes = 256 << 10

// SearchText is the text indexed for a trace: its question and answer and
// its spans' questions, answers, inputs and outputs, bounded by
// MaxSearchTextBytes. Texts contained in another (a question inside the
// input JSON, the answer inside the output JSON, the same text on several
// spans) are indexed once: they would add no match, only work.
func SearchText(tr *model.Trace, spans []model.Span) string {
	texts := make([]string, 0, 2+4*len(spans))
	texts = append(texts, tr.Question, tr.Answer)
	for i := range spans {
		d := &spans[i].Derived
		texts = append(texts, d.Question, d.Answer, d.Input, d.Output)
	}
	// Longest first, so that a text is checked against the ones that may
	// contain it.
	sort.SliceStable(texts, func(i, j int) bool { return len(texts[i]) > len(texts[j]) })
	kept := texts[:0]
	size := 0
	for _, t := range texts {
		if t == "" || size >= MaxSearchTextBytes {
			continue
		}
		if slices.ContainsFunc(kept, func(k string) bool { return strings.Contains(k, t) }) {
			continue
		}
		t, _ = textclip.Bytes(t, MaxSearchTextBytes-size)
		kept = append(kept, t)
		size += len(t) + 1
	}
	return strings.Join(kept, "\n")
}

// ModelSep separates the models of a trace where a backend joins them into
// one column; a model name never holds it (ModelName).
const ModelSep = "\x1f"

// ModelName is a model as the backends index it: ModelSep replaced.
func ModelName(m string) string { return strings.ReplaceAll(m, ModelSep, " ") }

// TraceModels returns a trace's models as the backends index them: each
// once, through ModelName.
func TraceModels(tr model.Trace) []string {
	models := tr.Models
	if len(models) == 0 && tr.Model != "" {
		models = []string{tr.Model}
	}
	out := make([]string, 0, len(models))
	for _, m := range models {
		m = ModelName(m)
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
