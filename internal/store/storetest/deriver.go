package storetest

import (
	"sort"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Attribute names the test Deriver reads from span attributes.
const (
	// UnpricedModel is a model whose calls get no cost.
	UnpricedModel = "unpriced-model"

	AttrKind     = "test.kind"     // string: Derived.Kind
	AttrModel    = "test.model"    // string: Derived.Model
	AttrQuestion = "test.question" // string: Derived.Question
	AttrAnswer   = "test.answer"   // string: Derived.Answer
	AttrInput    = "test.input"    // string: Derived.Input
	AttrOutput   = "test.output"   // string: Derived.Output
	AttrContext  = "test.context"  // string: one context document
	AttrTokens   = "test.tokens"   // int64 n: usage in n, out 2n, total 3n, cost n/1000 (unless the model is UnpricedModel)
	AttrSession  = "test.session"  // string: Derived.SessionID
	AttrUser     = "test.user"     // string: Derived.UserID
	AttrTTFTMS   = "test.ttft_ms"  // int64: Derived.TTFT in milliseconds
)

// Log record event names the test Deriver understands. Every log record's
// event name is also appended to Derived.FinishReasons, in the order the
// store passes the records, so tests can check that order.
const (
	EventQuestion = "test.question" // string body replaces Derived.Question
	EventAnswer   = "test.answer"   // string body replaces Derived.Answer
)

// Deriver is a small deterministic store.Deriver, independent of the real
// normalizer, with which the suite checks that a store calls DeriveSpan and
// Summarize at the right moments and with the right data. Service and
// deployment come from the resource attributes service.name and
// deployment.name; everything else from the test.* attributes above.
type Deriver struct{}

// DeriveSpan recomputes span.Derived from the span's attributes and logs.
func (Deriver) DeriveSpan(span *model.Span, logs []model.LogRecord) {
	d := model.Derived{
		Service:    str(span.ResourceAttributes, "service.name"),
		Deployment: str(span.ResourceAttributes, "deployment.name"),
		Kind:       model.SpanKind(str(span.Attributes, AttrKind)),
		Model:      str(span.Attributes, AttrModel),
		Question:   str(span.Attributes, AttrQuestion),
		Answer:     str(span.Attributes, AttrAnswer),
		Input:      str(span.Attributes, AttrInput),
		Output:     str(span.Attributes, AttrOutput),
		SessionID:  str(span.Attributes, AttrSession),
		UserID:     str(span.Attributes, AttrUser),
		Status:     span.StatusCode,
	}
	if d.Kind == "" {
		d.Kind = model.KindUnknown
	}
	if d.Status == "" {
		d.Status = model.StatusUnset
	}
	if d.Status == model.StatusError {
		d.ErrorType = "test_error"
		d.ErrorMessage = span.StatusMessage
	}
	d.RequestModel = d.Model
	d.ModelAlias = d.Model
	if n, ok := span.Attributes[AttrTokens].(int64); ok {
		d.Usage = model.Usage{Known: true, InputTokens: n, OutputTokens: 2 * n, TotalTokens: 3 * n, CacheReadTokens: n / 2}
		if d.Model != UnpricedModel {
			d.Usage.CostUSD, d.Usage.CostKnown = float64(n)/1000, true
		}
	}
	if ms, ok := span.Attributes[AttrTTFTMS].(int64); ok {
		d.TTFT = time.Duration(ms) * time.Millisecond
	}
	if c := str(span.Attributes, AttrContext); c != "" {
		score := 0.5
		d.Context = []model.Document{{ID: "doc-" + span.SpanID, Content: c, Score: &score,
			Metadata: map[string]any{"source": "test"}}}
	}
	for _, l := range logs {
		d.FinishReasons = append(d.FinishReasons, l.EventName)
		body, _ := l.Body.(string)
		switch l.EventName {
		case EventQuestion:
			d.Question = body
		case EventAnswer:
			d.Answer = body
		}
	}
	if d.Question != "" {
		d.InputMessages = []model.Message{{Role: "user", Parts: []model.Part{{Type: "text", Content: d.Question}}}}
	}
	if d.Answer != "" {
		d.OutputMessages = []model.Message{{Role: "assistant", Parts: []model.Part{{Type: "text", Content: d.Answer}},
			FinishReason: "stop"}}
	}
	span.Derived = d
}

// Summarize computes a trace summary. It does not depend on the order of
// spans.
func (Deriver) Summarize(in []model.Span) model.Trace {
	if len(in) == 0 {
		return model.Trace{}
	}
	spans := append([]model.Span(nil), in...)
	sort.Slice(spans, func(i, j int) bool {
		if !spans[i].StartTime.Equal(spans[j].StartTime) {
			return spans[i].StartTime.Before(spans[j].StartTime)
		}
		return spans[i].SpanID < spans[j].SpanID
	})
	root := &spans[0]
	for i := range spans {
		if spans[i].IsRoot() {
			root = &spans[i]
			break
		}
	}
	t := model.Trace{
		TraceID:    root.TraceID,
		Service:    root.Derived.Service,
		Deployment: root.Derived.Deployment,
		Name:       root.Name,
		RootSpanID: root.SpanID,
		StartTime:  spans[0].StartTime,
		Status:     root.Derived.Status,
		Question:   root.Derived.Question,
		Answer:     root.Derived.Answer,
		Input:      root.Derived.Input,
		Output:     root.Derived.Output,
		SpanCount:  len(spans),
	}
	if root.Derived.Status == model.StatusError {
		t.ErrorType, t.ErrorMessage = root.Derived.ErrorType, root.Derived.ErrorMessage
	}
	end := root.EndTime
	counts := map[string]int{}
	var usage model.Usage
	for i := range spans {
		s := &spans[i]
		d := &s.Derived
		if s.EndTime.After(end) {
			end = s.EndTime
		}
		if t.Service == "" {
			t.Service, t.Deployment = d.Service, d.Deployment
		}
		if t.Question == "" {
			t.Question = d.Question
		}
		if t.Answer == "" {
			t.Answer = d.Answer
		}
		if t.SessionID == "" {
			t.SessionID = d.SessionID
		}
		if t.UserID == "" {
			t.UserID = d.UserID
		}
		t.Context = append(t.Context, d.Context...)
		if d.Status == model.StatusError {
			t.ErrorCount++
			t.Status = model.StatusError
			if t.ErrorType == "" {
				t.ErrorType, t.ErrorMessage = d.ErrorType, d.ErrorMessage
			}
		}
		if d.Kind.IsModelCall() {
			t.LLMCallCount++
			usage = usage.Add(d.Usage)
			if d.Model != "" {
				if counts[d.Model] == 0 {
					t.Models = append(t.Models, d.Model)
				}
				counts[d.Model]++
			}
		}
	}
	for _, m := range t.Models {
		if counts[m] > counts[t.Model] {
			t.Model = m
		}
	}
	if !usage.Known {
		usage = root.Derived.Usage
	}
	t.Usage = usage
	if end.After(t.StartTime) {
		t.Duration = end.Sub(t.StartTime)
	}
	return t
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}
