package retention_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/retention"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// trace is a one-span trace of a service that started age ago.
func trace(n int, service string, age time.Duration) model.Span {
	sp := model.Span{
		TraceID: fmt.Sprintf("%032x", n), SpanID: fmt.Sprintf("%016x", n), Name: "flow", OTelKind: "internal",
		StartTime: now.Add(-age), EndTime: now.Add(-age + time.Second), StatusCode: model.StatusOK,
		Attributes:         map[string]any{storetest.AttrKind: "chain", storetest.AttrQuestion: fmt.Sprintf("question %d", n)},
		ResourceAttributes: map[string]any{"service.name": service},
	}
	storetest.Deriver{}.DeriveSpan(&sp, nil)
	return sp
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	day := 24 * time.Hour
	var spans []model.Span
	n := 0
	add := func(service string, age time.Duration, count int) {
		for range count {
			n++
			spans = append(spans, trace(n, service, age))
		}
	}
	add("chat", 40*day, 7)  // past the default 30 days
	add("chat", 10*day, 2)  // kept
	add("audit", 40*day, 3) // kept: audit keeps 90 days
	add("audit", 100*day, 1)
	add("scratch", 2*day, 2) // scratch keeps 1 day
	if _, err := st.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	sw, err := retention.New(retention.Options{
		Store: st,
		Policy: retention.Policy{Traces: 30 * day, Services: map[string]time.Duration{"audit": 90 * day, "scratch": day},
			MinuteRollups: 35 * day, Rollups: 60 * day, Runs: 400 * day},
		BatchSize: 2, Rest: 0.01, Now: func() time.Time { return now }, Registerer: reg,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Traces != 10 || rep.Spans != 10 {
		t.Errorf("swept %d traces and %d spans, want 10 and 10 (7 chat, 1 audit, 2 scratch)", rep.Traces, rep.Spans)
	}
	left := map[string]int64{}
	infos, err := st.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, si := range infos {
		left[si.Service] = si.TraceCount
	}
	if left["chat"] != 2 || left["audit"] != 3 || left["scratch"] != 0 {
		t.Errorf("traces left by service = %v, want chat 2, audit 3, scratch none", left)
	}
	page, err := st.ListTraces(ctx, store.TraceQuery{Text: "question", Limit: 100})
	if err != nil || len(page.Traces) != 5 {
		t.Errorf("full-text search finds %d traces (%v), want the 5 kept", len(page.Traces), err)
	}
	// Rows are per service and bucket: five of each resolution. Minute
	// rows of 40 and 100 days ago are past 35 days; the hour and day rows
	// of 100 days ago past 60.
	for _, c := range []struct {
		res  int64
		want int
	}{{rollup.Minute, 2}, {rollup.Hour, 4}, {rollup.Day, 4}} {
		rows, err := st.Rollups(ctx, store.RollupQuery{Kind: rollup.Requests, Resolution: c.res, Start: now.Add(-200 * day).Unix(), End: now.Unix()})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != c.want {
			t.Errorf("%d request rows of resolution %ds left, want %d", len(rows), c.res, c.want)
		}
	}
	want := `
# HELP flowwatch_retention_deleted_total Rows deleted for being older than their retention, by kind (traces, spans, log_records, evaluations, rollups, runs; partitions: time partitions of spans and logs dropped whole).
# TYPE flowwatch_retention_deleted_total counter
flowwatch_retention_deleted_total{kind="evaluations"} 0
flowwatch_retention_deleted_total{kind="log_records"} 0
flowwatch_retention_deleted_total{kind="rollups"} ` + fmt.Sprint(rep.Rollups) + `
flowwatch_retention_deleted_total{kind="runs"} 0
flowwatch_retention_deleted_total{kind="spans"} 10
flowwatch_retention_deleted_total{kind="traces"} 10
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "flowwatch_retention_deleted_total"); err != nil {
		t.Error(err)
	}
	if rep.Rollups == 0 {
		t.Error("no rollup row deleted")
	}

	// A second sweep finds nothing to do.
	rep, err = sw.Sweep(ctx)
	if err != nil || rep.Traces != 0 || rep.Rollups != 0 {
		t.Errorf("second sweep = %+v, %v; want nothing deleted", rep, err)
	}
	sweeps := `
# HELP flowwatch_retention_sweeps_total Retention sweeps finished, by result (ok, error).
# TYPE flowwatch_retention_sweeps_total counter
flowwatch_retention_sweeps_total{result="error"} 0
flowwatch_retention_sweeps_total{result="ok"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(sweeps), "flowwatch_retention_sweeps_total"); err != nil {
		t.Error(err)
	}
}

// A sweep stops at once when its context ends, and says so.
func TestSweepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sw, err := retention.New(retention.Options{Store: st, Policy: retention.Policy{Traces: time.Hour}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := sw.Sweep(ctx); err == nil {
		t.Error("Sweep with a cancelled context: no error")
	}
}
