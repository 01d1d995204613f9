package bench

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// TestTemplateFill checks that every filled request decodes, carries the
// shape's spans with fresh ids, and has its span times moved to the time
// of filling.
func TestTemplateFill(t *testing.T) {
	shape := Shape{Traces: 10, TextBytes: 100, Services: 3}
	tp, err := newTemplate(shape)
	if err != nil {
		t.Fatal(err)
	}
	r := newRand()
	shifted := make(map[[16]byte]bool)
	for round := 0; round < 2; round++ {
		// A request filled an hour after the template was built, as after
		// a long run of load.
		sent := tp.base.Add(time.Duration(round+1) * time.Hour)
		body := tp.fill(nil, r, sent)
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatalf("round %d: filled body does not decode: %v", round, err)
		}
		spans := 0
		rss := req.Traces().ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			ss := rss.At(i).ScopeSpans()
			for j := 0; j < ss.Len(); j++ {
				sp := ss.At(j).Spans()
				for k := 0; k < sp.Len(); k++ {
					checkSpan(t, sp.At(k), sent)
					if sp.At(k).ParentSpanID().IsEmpty() {
						id := sp.At(k).TraceID()
						if shifted[id] {
							t.Errorf("round %d: trace id %s used twice", round, id)
						}
						shifted[id] = true
					}
					spans++
				}
			}
		}
		if want := shape.Traces * SpansPerTrace; spans != want {
			t.Errorf("round %d: %d spans, want %d", round, spans, want)
		}
	}
}

func checkSpan(t *testing.T, sp ptrace.Span, sent time.Time) {
	t.Helper()
	start, end := sp.StartTimestamp().AsTime(), sp.EndTimestamp().AsTime()
	// The template spreads root starts over the second before it was built.
	if start.Before(sent.Add(-2*time.Second)) || start.After(sent.Add(2*time.Second)) {
		t.Errorf("span %s starts at %s, want within 2s of %s", sp.Name(), start, sent)
	}
	if !end.After(start) {
		t.Errorf("span %s ends at %s, not after its start %s", sp.Name(), end, start)
	}
}
