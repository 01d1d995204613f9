package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
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

// judgeRun creates a run at created that judges traces (one metric, each
// passed), finishes it and returns it.
func judgeRun(t *testing.T, s *Store, created time.Time, traces ...string) model.Run {
	t.Helper()
	ctx := context.Background()
	r, err := s.CreateRun(ctx, model.Run{Monitor: "m", MonitorVersion: 1, ScheduledAt: created,
		WindowStart: created.Add(-time.Hour), WindowEnd: created, CreatedAt: created})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok, err := s.ClaimRun(ctx, "owner", created, time.Minute); err != nil || !ok || c.ID != r.ID {
		t.Fatalf("claim of run %s = %+v, %v, %v", r.ID, c, ok, err)
	}
	score := 5.0
	var instances []model.Instance
	for _, tr := range traces {
		instances = append(instances, model.Instance{RunID: r.ID, Metric: "fluency", TraceID: tr, Status: model.InstanceJudged,
			Score: &score, Passed: true, Reason: "fine", JudgeModel: "gpt-4o", PromptVersion: "1"})
	}
	if err := s.SaveRunResult(ctx, "owner", model.RunResult{RunID: r.ID, Sampled: len(traces)}, instances, created.Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// instanceCount counts what RunInstances and TraceEvaluations find of a
// run and a trace.
func instanceCount(t *testing.T, s *Store, runID, traceID string) (byRun, byTrace int) {
	t.Helper()
	ctx := context.Background()
	ins, err := s.RunInstances(ctx, store.InstanceQuery{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.TraceEvaluations(ctx, traceID, 10)
	if err != nil {
		t.Fatal(err)
	}
	return len(ins), len(evs)
}

// Retention's fast path: the partitions of days past the horizon go whole,
// spans and evaluations (a day later for evaluations: instanceSlack);
// DeleteTraces then removes the summaries (their spans already gone) and
// the evaluations left; writes for a dropped day make its partition again.
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
	id := func(n int) string { return fmt.Sprintf("%032x", n) }
	batch := model.Batch{Spans: []model.Span{span(1, day.AddDate(0, 0, -3)), span(2, day.AddDate(0, 0, -2)), span(3, day)}}
	if _, err := s.WriteBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// Each trace judged by a run of the hour after it started.
	runs := []model.Run{
		judgeRun(t, s, day.AddDate(0, 0, -3).Add(time.Hour), id(1)),
		judgeRun(t, s, day.AddDate(0, 0, -2).Add(time.Hour), id(2)),
		judgeRun(t, s, day.Add(time.Hour), id(3)),
	}
	horizon := day.AddDate(0, 0, -1).Truncate(24 * time.Hour) // start of the day before
	n, err := s.DropPartitionsBefore(ctx, horizon)
	if err != nil {
		t.Fatal(err)
	}
	// The spans of days -3 and -2 (no log record: no logs partition), and
	// the evaluations of day -3 (those of day -2 are within instanceSlack
	// of the horizon).
	if n != 3 {
		t.Errorf("dropped %d partitions, want 3", n)
	}
	if byRun, byTrace := instanceCount(t, s, runs[0].ID, id(1)); byRun != 0 || byTrace != 0 {
		t.Errorf("the evaluations of a dropped day: %d by run, %d by trace; want none", byRun, byTrace)
	}
	for i, r := range runs[1:] {
		if byRun, byTrace := instanceCount(t, s, r.ID, id(i+2)); byRun != 1 || byTrace != 1 {
			t.Errorf("the evaluations of trace %d, of a kept day: %d by run, %d by trace; want 1", i+2, byRun, byTrace)
		}
	}
	d, err := s.DeleteTraces(ctx, store.TraceDeletion{Service: "svc", End: horizon})
	if err != nil || d.Traces != 2 || d.Spans != 0 || d.Evaluations != 1 {
		t.Errorf("DeleteTraces after the drop = %+v, %v; want 2 traces, 0 spans (dropped with their partitions), 1 evaluation (trace 2's)", d, err)
	}
	if tr, err := s.GetTrace(ctx, id(3)); err != nil || len(tr.Spans) != 1 {
		t.Errorf("the trace of a kept day: %d spans, %v", len(tr.Spans), err)
	}
	if byRun, byTrace := instanceCount(t, s, runs[2].ID, id(3)); byRun != 1 || byTrace != 1 {
		t.Errorf("the evaluations of the trace kept: %d by run, %d by trace; want 1", byRun, byTrace)
	}
	if _, err := s.WriteBatch(ctx, model.Batch{Spans: []model.Span{span(4, day.AddDate(0, 0, -2))}}); err != nil {
		t.Fatalf("a write for a dropped day: %v", err)
	}
	if tr, err := s.GetTrace(ctx, id(4)); err != nil || len(tr.Spans) != 1 {
		t.Errorf("the trace written into a dropped day: %d spans, %v", len(tr.Spans), err)
	}
	// A run of a dropped day (one that waited long in the queue) makes
	// its partition again, although this process saw it made.
	late := judgeRun(t, s, day.AddDate(0, 0, -3).Add(2*time.Hour), id(4))
	if byRun, byTrace := instanceCount(t, s, late.ID, id(4)); byRun != 1 || byTrace != 1 {
		t.Errorf("the evaluations of a run of a dropped day: %d by run, %d by trace; want 1", byRun, byTrace)
	}
	if n, err := s.DropPartitionsBefore(ctx, time.Unix(0, 0)); err != nil || n != 0 {
		t.Errorf("DropPartitionsBefore(1970) = %d, %v; want nothing", n, err)
	}
}

// A database that 0004-0013 made, with evaluations in it, comes out of
// 0015 with the same evaluations, readable by run and by trace, in the
// partitions of their runs' days; those of a run no longer there are
// left behind.
func TestMigrateEvaluationsByTime(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	old := &Store{opts: Options{DSN: dsn, Schema: schema, MaxConns: 2}}
	pool, err := old.connect(ctx, dsn, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := migrateThrough(ctx, pool, schema, 13); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	created := []time.Time{day, day.AddDate(0, 0, 1), time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)}
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	for i, c := range created {
		ns := c.UnixNano()
		if _, err := pool.Exec(ctx, `INSERT INTO runs (id, monitor, monitor_version, trigger, status, scheduled_ns,
			window_start_ns, window_end_ns, created_ns, started_ns, finished_ns, attempts, lease_owner, lease_until_ns, error)
			VALUES ($1, 'm', 1, 'manual', 'succeeded', $2, $2, $2, $2, $2, $3, 1, '', 0, '')`,
			fmt.Sprintf("run-%d", i), ns, ns+int64(i)+1); err != nil {
			t.Fatal(err)
		}
	}
	for i, run := range []string{"run-0", "run-0", "run-1", "run-2", "gone"} {
		tr := trace
		if i == 1 {
			tr = "0af7651916cd43dd8448eb211c80319c"
		}
		if _, err := pool.Exec(ctx, `INSERT INTO run_instances (run_id, metric, trace_id, status, score, passed, reason,
			error, raw_reply, judge_model, prompt_version) VALUES ($1, 'fluency', $2, 'judged', 4, true, 'fine', '', '', 'gpt-4o', '1')`,
			run, tr); err != nil {
			t.Fatal(err)
		}
	}
	pool.Close()

	s, err := Open(ctx, Options{DSN: dsn, Schema: schema, Deriver: storetest.Deriver{}, MaxConns: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for run, want := range map[string]int{"run-0": 2, "run-1": 1, "run-2": 1, "gone": 0} {
		got, err := s.RunInstances(ctx, store.InstanceQuery{RunID: run})
		if err != nil || len(got) != want {
			t.Errorf("RunInstances(%s) = %d instances, %v; want %d", run, len(got), err, want)
		}
	}
	evs, err := s.TraceEvaluations(ctx, trace, 10)
	if err != nil {
		t.Fatal(err)
	}
	var gotRuns []string
	for _, e := range evs {
		gotRuns = append(gotRuns, e.Instance.RunID)
	}
	if want := []string{"run-1", "run-0", "run-2"}; !slices.Equal(gotRuns, want) {
		t.Errorf("TraceEvaluations = runs %v; want %v", gotRuns, want)
	}
	var parts []string
	rows, _ := s.pool.Query(ctx, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'run_instances'::regclass ORDER BY 1`)
	if parts, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	want := []string{partitionName("run_instances", -1), partitionName("run_instances", dayOf(day.UnixNano())),
		partitionName("run_instances", dayOf(day.UnixNano())+1)}
	if !slices.Equal(parts, want) {
		t.Errorf("partitions %v; want %v", parts, want)
	}
	// The write path finds the partitions the migration made, and makes
	// the others.
	r := judgeRun(t, s, day.AddDate(0, 0, 5), trace)
	if byRun, byTrace := instanceCount(t, s, r.ID, trace); byRun != 1 || byTrace != 4 {
		t.Errorf("after a new run: %d by run, %d by trace; want 1 and 4", byRun, byTrace)
	}
}
