package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

func TestPartitionDay(t *testing.T) {
	for _, day := range []int64{-400000, -1, 0, 1, 20000, 3000000} {
		name := partitionName("spans", day)
		if got, ok := partitionDay("spans", name); !ok || got != day {
			t.Errorf("partitionDay(%q) = %d, %v; want %d", name, got, ok, day)
		}
	}
	for _, name := range []string{"spans", "spans_", "spans_px", "logs_p20260101", "spans_q1"} {
		if _, ok := partitionDay("spans", name); ok {
			t.Errorf("partitionDay(%q) read a day", name)
		}
	}
}

// Retention's fast path: the partitions of days past the horizon go whole;
// DeleteTraces then removes the summaries (their spans already gone);
// writes for a dropped day make its partition again.
func TestDropPartitionsBefore(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, storetest.Deriver{})
	day := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	span := func(n int, start time.Time) model.Span {
		sp := model.Span{TraceID: fmt.Sprintf("%032x", n), SpanID: fmt.Sprintf("%016x", n), Name: "flow",
			StartTime: start, EndTime: start.Add(time.Second), StatusCode: model.StatusOK,
			ResourceAttributes: map[string]any{"service.name": "svc"}}
		storetest.Deriver{}.DeriveSpan(&sp, nil)
		return sp
	}
	batch := model.Batch{Spans: []model.Span{span(1, day.AddDate(0, 0, -3)), span(2, day.AddDate(0, 0, -2)), span(3, day)}}
	if _, err := s.WriteBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	horizon := day.AddDate(0, 0, -1).Truncate(24 * time.Hour) // start of the day before
	n, err := s.DropPartitionsBefore(ctx, horizon)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // the spans of days -3 and -2 (no log record: no logs partition)
		t.Errorf("dropped %d partitions, want 2", n)
	}
	d, err := s.DeleteTraces(ctx, store.TraceDeletion{Service: "svc", End: horizon})
	if err != nil || d.Traces != 2 || d.Spans != 0 {
		t.Errorf("DeleteTraces after the drop = %+v, %v; want 2 traces, 0 spans (dropped with their partitions)", d, err)
	}
	if tr, err := s.GetTrace(ctx, fmt.Sprintf("%032x", 3)); err != nil || len(tr.Spans) != 1 {
		t.Errorf("the trace of a kept day: %d spans, %v", len(tr.Spans), err)
	}
	if _, err := s.WriteBatch(ctx, model.Batch{Spans: []model.Span{span(4, day.AddDate(0, 0, -2))}}); err != nil {
		t.Fatalf("a write for a dropped day: %v", err)
	}
	if tr, err := s.GetTrace(ctx, fmt.Sprintf("%032x", 4)); err != nil || len(tr.Spans) != 1 {
		t.Errorf("the trace written into a dropped day: %d spans, %v", len(tr.Spans), err)
	}
	if n, err := s.DropPartitionsBefore(ctx, time.Unix(0, 0)); err != nil || n != 0 {
		t.Errorf("DropPartitionsBefore(1970) = %d, %v; want nothing", n, err)
	}
}
