package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store"
)

// TestConsumeTracesScreensEdges sends one batch with a span whose start
// time is 0, one a year ahead, a duplicate span id and a 100,000-byte
// service name: the absurd times never reach the store, the rejected
// spans are reported in partial success with reasons, the counts are kept
// by reason, and the service is listed under its name cut to 256 bytes.
func TestConsumeTracesScreensEdges(t *testing.T) {
	ctx := context.Background()
	p, st := newPipeline(t)
	now := time.Now().UTC()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	long := strings.Repeat("s", 100_000)
	rs.Resource().Attributes().PutStr("service.name", long)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	add := func(trace, span byte, start, end time.Time) {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{trace, 1})
		s.SetSpanID(pcommon.SpanID{span, 1})
		s.SetName("root")
		if !start.IsZero() {
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		}
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	}
	add(1, 1, time.Time{}, now.Add(-time.Minute))               // start 0
	add(2, 1, now.AddDate(1, 0, 0), now.AddDate(1, 0, 0))       // a year ahead
	add(3, 1, now.Add(-2*time.Minute), now.Add(-time.Minute))   // fine
	add(3, 1, now.Add(-3*time.Minute), now.Add(-2*time.Minute)) // the same ids again
	res, err := p.ConsumeTraces(ctx, td)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 2 {
		t.Errorf("rejected %d, want 2 (the future span and the duplicate)", res.Rejected)
	}
	for _, want := range []string{"ahead of the server's clock", "appears more than once", "start time unset", "longer than 256 bytes"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("partial success message %q does not say %q", res.Message, want)
		}
	}
	d, err := st.GetTrace(ctx, pcommon.TraceID{1, 1}.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Trace.StartTime; got.Before(now.Add(-2*time.Minute)) || d.Trace.Duration != 0 {
		t.Errorf("start-0 trace stored at %s lasting %s; want its end time, lasting 0", got, d.Trace.Duration)
	}
	if _, err := st.GetTrace(ctx, pcommon.TraceID{2, 1}.String()); err == nil {
		t.Error("the span a year ahead was stored")
	}
	if d, err := st.GetTrace(ctx, pcommon.TraceID{3, 1}.String()); err != nil || !d.Trace.StartTime.Equal(now.Add(-2*time.Minute).Truncate(time.Nanosecond)) {
		t.Errorf("duplicate: stored %+v, %v; want the first of the two", d.Trace.StartTime, err)
	}
	page, err := st.ServicesPage(ctx, store.ServiceQuery{})
	if err != nil || len(page.Services) != 1 || len(page.Services[0].Service) != normalize.MaxNameBytes {
		t.Fatalf("services = %+v, %v; want one, named in 256 bytes", len(page.Services), err)
	}
	want := map[string]int64{normalize.ReasonStartMissing: 1, normalize.ReasonEndInvalid: 0, normalize.ReasonFuture: 1,
		normalize.ReasonDuplicate: 1, normalize.ReasonNameTooLong: 2}
	got := p.Screened()
	for r, n := range want {
		if got[r] != n {
			t.Errorf("screened %s = %d, want %d (all: %v)", r, got[r], n, got)
		}
	}
}
