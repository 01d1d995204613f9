package payload

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

// TestSpanRoundTrip checks every raw field of a span through the payload
// encoding, and that derived fields are left out (readers derive them
// again; the conformance suite checks that through a store).
func TestSpanRoundTrip(t *testing.T) {
	score := 0.25
	sp := model.Span{
		OTelKind: "server", StatusMessage: "msg", TraceState: "a=b", Flags: 257,
		Attributes:         map[string]any{"a": int64(1), "b": []any{1.5, "x"}},
		ResourceAttributes: map[string]any{"service.name": "svc"},
		Scope:              model.Scope{Name: "n", Version: "v", Attributes: map[string]any{"s": true}},
		Events:             []model.Event{{Time: time.Unix(5, 6).UTC(), Name: "ev", Attributes: map[string]any{"k": "v"}}},
		Links:              []model.Link{{TraceID: "t2", SpanID: "s2", TraceState: "x=y", Attributes: map[string]any{"l": int64(2)}}},
		DroppedAttributes:  1, DroppedEvents: 2, DroppedLinks: 3,
		Derived: model.Derived{Service: "svc", Kind: model.KindLLM, Question: "q", TTFT: time.Second,
			Usage:         model.Usage{Known: true, InputTokens: 1, CostUSD: 0.5},
			InputMessages: []model.Message{{Role: "user", Parts: []model.Part{{Type: "text", Content: "q"}}}},
			Context:       []model.Document{{ID: "d", Content: "c", Score: &score}}},
	}
	payload, err := AppendSpan(nil, &sp)
	if err != nil {
		t.Fatal(err)
	}
	var got model.Span
	if err := DecodeSpan(payload, &got); err != nil {
		t.Fatal(err)
	}
	want := sp
	want.Derived = model.Derived{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if bytes.Contains(payload, []byte(`"Question"`)) {
		t.Errorf("payload %s stores derived fields", payload)
	}
	if !bytes.Contains(payload, []byte(`"k":"server"`)) {
		t.Errorf("payload %s lacks the short raw keys", payload)
	}
}
