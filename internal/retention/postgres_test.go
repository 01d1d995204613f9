package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/retention"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// On PostgreSQL a sweep drops the span partitions of days every service's
// retention has passed, then deletes the expired traces' other rows.
func TestSweepPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	schema := pgtest.SchemaName(t, dsn)
	st, err := postgres.Open(ctx, postgres.Options{DSN: dsn, Schema: schema, Deriver: storetest.Deriver{}, MaxConns: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	day := 24 * time.Hour
	spans := []model.Span{trace(1, "chat", 40*day), trace(2, "chat", 41*day), trace(3, "chat", 2*day), trace(4, "audit", 50*day)}
	if _, err := st.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	sw, err := retention.New(retention.Options{Store: st, Now: func() time.Time { return now },
		Policy: retention.Policy{Traces: 30 * day, Services: map[string]time.Duration{"audit": 45 * day}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Partitions before now-45d go (the audit trace's and the day after
	// it); the chat traces of 40 and 41 days go row by row.
	if rep.Partitions == 0 || rep.Traces != 3 {
		t.Errorf("sweep = %+v; want partitions dropped and 3 traces deleted", rep)
	}
	page, err := st.ListTraces(ctx, store.TraceQuery{Limit: 10})
	if err != nil || len(page.Traces) != 1 || page.Traces[0].TraceID != spans[2].TraceID {
		t.Errorf("traces left = %v, %v; want only the recent one", page.Traces, err)
	}
}
