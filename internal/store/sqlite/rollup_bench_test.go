package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// BenchmarkMetricsQuery measures what GET /api/v1/metrics/operational does
// for a day of traffic from 4 services calling 2 models, a request of each
// service and model every minute (11,520 traces): read a day of request
// and LLM rows per minute and merge them into 288 five-minute buckets
// grouped by model; and the same for a week of hour rows.
func BenchmarkMetricsQuery(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(b.TempDir(), "fw.db"), Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for m := 0; m < 24*60; m++ {
		var spans []model.Span
		for svc := 0; svc < 4; svc++ {
			for mod := 0; mod < 2; mod++ {
				n++
				tid := fmt.Sprintf("%032x", n)
				start := day.Add(time.Duration(m)*time.Minute + time.Duration(svc*7+mod)*time.Second)
				root := model.Span{TraceID: tid, SpanID: fmt.Sprintf("%016x", 2*n), Name: "flow",
					StartTime: start, EndTime: start.Add(time.Duration(200+n%1800) * time.Millisecond),
					StatusCode: model.StatusOK, ResourceAttributes: map[string]any{"service.name": fmt.Sprintf("svc-%d", svc)},
					Attributes: map[string]any{storetest.AttrKind: "chain"}}
				llm := root
				llm.SpanID, llm.ParentSpanID, llm.Name = fmt.Sprintf("%016x", 2*n+1), root.SpanID, "chat"
				llm.Attributes = map[string]any{storetest.AttrKind: "llm", storetest.AttrModel: fmt.Sprintf("model-%d", mod),
					storetest.AttrTokens: int64(100 + n%900)}
				for _, sp := range []model.Span{root, llm} {
					storetest.Deriver{}.DeriveSpan(&sp, nil)
					spans = append(spans, sp)
				}
			}
		}
		if _, err := s.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, q rollup.Query) {
		for b.Loop() {
			var rows []rollup.Row
			for _, kind := range []rollup.Kind{rollup.Requests, rollup.LLMCalls} {
				r, err := s.Rollups(ctx, store.RollupQuery{Kind: kind, Resolution: q.Resolution(), Start: q.Start(), End: q.End()})
				if err != nil {
					b.Fatal(err)
				}
				rows = append(rows, r...)
			}
			res, err := rollup.Aggregate(q, rows)
			if err != nil {
				b.Fatal(err)
			}
			if res.Totals.Count == 0 {
				b.Fatal("no data")
			}
		}
	}
	b.Run("day by 5m", func(b *testing.B) {
		run(b, rollup.Query{Since: day, Until: day.Add(24 * time.Hour), Step: 300, GroupBy: "model"})
	})
	b.Run("week by 1h", func(b *testing.B) {
		run(b, rollup.Query{Since: day.Add(-6 * 24 * time.Hour), Until: day.Add(24 * time.Hour), Step: 3600, GroupBy: "model"})
	})
}
