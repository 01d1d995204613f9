package normalize

import (
	"cmp"
	"slices"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Summarize computes a trace summary from all of a trace's spans, whose
// Derived fields must be computed. The result does not depend on the order
// of spans.
func (Deriver) Summarize(spans []model.Span) model.Trace {
	if len(spans) == 0 {
		return model.Trace{}
	}
	order := spanOrder(spans)
	root := &spans[pickRoot(spans, order)]

	t := model.Trace{
		TraceID:    root.TraceID,
		Service:    root.Derived.Service,
		Deployment: root.Derived.Deployment,
		Name:       root.Name,
		RootSpanID: root.SpanID,
		StartTime:  root.StartTime,
		Duration:   root.Duration(),
		Status:     spanStatus(root),
		Input:      root.Derived.Input,
		Output:     root.Derived.Output,
		SpanCount:  len(spans),
	}
	if t.Service == "" {
		t.Service = defaultService
	}

	// counts counts every model call per model, textCounts only the calls
	// that produce text: the trace's model is the model it chatted with,
	// not the embedding model of its retrieval.
	counts, textCounts := map[string]int{}, map[string]int{}
	var usageSpans int
	var firstErr *model.Span
	for _, i := range order {
		s := &spans[i]
		if spanStatus(s) == model.StatusError {
			t.ErrorCount++
			if firstErr == nil && (s.Derived.ErrorType != "" || s.Derived.ErrorMessage != "") {
				firstErr = s
			}
		}
		if !isModelCall(s) {
			continue
		}
		t.LLMCallCount++
		// A span that reported only a cost still counts towards the trace's.
		if s.Derived.Usage.Known || s.Derived.Usage.CostUSD > 0 {
			t.Usage = t.Usage.Add(s.Derived.Usage)
			usageSpans++
		}
		if m := s.Derived.ModelAlias; m != "" {
			if counts[m] == 0 {
				t.Models = append(t.Models, m)
			}
			counts[m]++
			if isLLMCall(s) {
				textCounts[m]++
			}
		}
	}
	if usageSpans == 0 {
		t.Usage = root.Derived.Usage
	}
	if len(textCounts) > 0 {
		counts = textCounts
	}
	for _, m := range t.Models {
		if counts[m] > counts[t.Model] {
			t.Model = m
		}
	}

	switch {
	case root.Derived.ErrorType != "" || root.Derived.ErrorMessage != "":
		t.ErrorType, t.ErrorMessage = root.Derived.ErrorType, root.Derived.ErrorMessage
	case firstErr != nil:
		t.ErrorType, t.ErrorMessage = firstErr.Derived.ErrorType, firstErr.Derived.ErrorMessage
	}

	t.Question, t.Answer = traceQA(spans, order, root)
	t.Context = traceContext(spans, order)

	t.SessionID = root.Derived.SessionID
	t.UserID = root.Derived.UserID
	for _, i := range order {
		if t.SessionID == "" {
			t.SessionID = spans[i].Derived.SessionID
		}
		if t.UserID == "" {
			t.UserID = spans[i].Derived.UserID
		}
	}
	return t
}

// spanOrder returns the span indexes by start time, then span id (and
// further raw fields for duplicates), so that results are deterministic.
func spanOrder(spans []model.Span) []int {
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		sa, sb := &spans[a], &spans[b]
		if c := sa.StartTime.Compare(sb.StartTime); c != 0 {
			return c
		}
		if c := cmp.Compare(sa.SpanID, sb.SpanID); c != 0 {
			return c
		}
		if c := sa.EndTime.Compare(sb.EndTime); c != 0 {
			return c
		}
		if c := cmp.Compare(sa.Name, sb.Name); c != 0 {
			return c
		}
		return cmp.Compare(sa.ParentSpanID, sb.ParentSpanID)
	})
	return order
}

// pickRoot returns the span without a parent; when there are several or
// none, the earliest span whose parent is absent from the set.
func pickRoot(spans []model.Span, order []int) int {
	root, roots := -1, 0
	for _, i := range order {
		if spans[i].ParentSpanID == "" {
			roots++
			if root < 0 {
				root = i
			}
		}
	}
	if roots == 1 {
		return root
	}
	ids := make(map[string]bool, len(spans))
	for i := range spans {
		ids[spans[i].SpanID] = true
	}
	for _, i := range order {
		if p := spans[i].ParentSpanID; p == "" || !ids[p] {
			return i
		}
	}
	// Every parent is present: a cycle. Take the earliest span.
	return order[0]
}

func spanStatus(s *model.Span) model.Status {
	if s.Derived.Status != "" {
		return s.Derived.Status
	}
	if s.StatusCode != "" {
		return s.StatusCode
	}
	return model.StatusUnset
}

// isModelCall reports whether a span's usage counts toward the trace's.
func isModelCall(s *model.Span) bool {
	return s.Derived.Kind.IsModelCall() || modelCallOperations[s.Derived.Operation]
}

// isLLMCall reports whether a span is a text-producing model call.
func isLLMCall(s *model.Span) bool {
	return s.Derived.Kind == model.KindLLM || llmOperations[s.Derived.Operation]
}

// traceQA applies the trace-level question and answer precedence.
func traceQA(spans []model.Span, order []int, root *model.Span) (string, string) {
	q := traceLevelText(spans, order, root, traceInputKeys, questionFields, true)
	a := traceLevelText(spans, order, root, traceOutputKeys, answerFields, false)
	if q == "" {
		q = root.Derived.Question
	}
	if a == "" {
		a = root.Derived.Answer
	}
	if q == "" {
		for _, i := range order {
			if s := &spans[i]; isLLMCall(s) && s.Derived.Question != "" {
				q = s.Derived.Question
				break
			}
		}
	}
	if a == "" {
		for j := len(order) - 1; j >= 0; j-- {
			if s := &spans[order[j]]; isLLMCall(s) && s.Derived.Answer != "" {
				a = s.Derived.Answer
				break
			}
		}
	}
	return q, a
}

// traceLevelText reads a trace-level input or output attribute from any
// span, the root first.
func traceLevelText(spans []model.Span, order []int, root *model.Span, keys, fields []string, question bool) string {
	try := func(s *model.Span) string {
		for _, k := range keys {
			if _, ok := s.Attributes[k]; !ok {
				continue
			}
			v := &view{s: s, attrs: s.Attributes}
			val, _, _ := v.value(k)
			if t := extractText(val, fields, question, maxValueDepth); t != "" {
				return t
			}
			if r := v.rawString(k); r != "" {
				return r
			}
		}
		return ""
	}
	if t := try(root); t != "" {
		return t
	}
	for _, i := range order {
		if t := try(&spans[i]); t != "" {
			return t
		}
	}
	return ""
}

// traceContext applies the context_docs precedence over all spans: the
// documents of the highest-ranked source, from the earliest span carrying
// it.
func traceContext(spans []model.Span, order []int) []model.Document {
	best, bestRank := -1, len(contextSources)
	for _, i := range order {
		s := &spans[i]
		if len(s.Derived.Context) == 0 {
			continue
		}
		rank := contextRank(s)
		if rank < bestRank {
			best, bestRank = i, rank
		}
	}
	if best < 0 {
		return nil
	}
	return spans[best].Derived.Context
}

// contextRank is the rank of the first context source a span carries.
func contextRank(s *model.Span) int {
	v := &view{s: s, attrs: s.Attributes, kind: s.Derived.Kind}
	if len(s.Events) > 0 {
		v.events = make([]event, len(s.Events))
		for i := range s.Events {
			v.events[i] = event{name: s.Events[i].Name, attrs: s.Events[i].Attributes}
		}
	}
	for _, k := range promptflowMarkers {
		if _, ok := v.attrs[k]; ok {
			v.pf = true
		}
	}
	for rank, src := range contextSources {
		if v.contextPresent(src) {
			return rank
		}
	}
	// The documents came from log records (db.query.result events).
	for rank, src := range contextSources {
		if src.kind == ctxEvents {
			return rank
		}
	}
	return len(contextSources)
}
