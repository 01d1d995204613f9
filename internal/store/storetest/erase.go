package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// withUser returns a rag trace's spans with its root span carrying user.
func withUser(spans []model.Span, user string) []model.Span {
	attrs := make(map[string]any, len(spans[0].Attributes))
	for k, v := range spans[0].Attributes {
		attrs[k] = v
	}
	attrs[AttrUser] = user
	spans[0].Attributes = attrs
	return derive(spans, nil)
}

// testDeleteTraces checks DeleteTraces: a deleted trace is gone from
// every read (GetTrace, listings, full-text and model searches, its
// evaluations and cached verdicts, the services' counts) while the
// rollups it fed stay; selections by id, user, service and time combine,
// go oldest first and stop at the limit with More; an empty selection is
// an error; a deleted trace sent again is stored afresh.
func testDeleteTraces(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	var spans []model.Span
	spans = append(spans, withUser(rag(1, 0, "shop", "blue", "gpt-4o", "where is parcel aardvark", "on its way"), "alice")...)
	spans = append(spans, withUser(rag(2, time.Minute, "shop", "blue", "gpt-4o", "refund zebra", "done"), "alice")...)
	spans = append(spans, withUser(rag(3, 2*time.Minute, "shop", "green", "gpt-4o", "opening hours", "9 to 5"), "bob")...)
	spans = append(spans, rag(4, 3*time.Minute, "bank", "", "claude-3", "balance aardvark", "42")...)
	spans = append(spans, rag(5, 4*time.Minute, "bank", "", "claude-3", "loan", "no")...)
	writeSpans(t, s, spans...)
	log := model.LogRecord{TraceID: traceID(1), SpanID: spanID(13), Time: at(time.Second), Body: "user said aardvark"}
	write(t, s, model.Batch{Logs: []model.LogRecord{log}})

	score := 4.0
	inst := []model.Instance{{Metric: "fluency", TraceID: traceID(1), Status: model.InstanceJudged, Score: &score,
		Passed: true, Reason: "fine", JudgeModel: "gpt-4o", PromptVersion: "1"}}
	finishRun(t, s, "quality", at(time.Hour), at(time.Hour), true, model.RunResult{Sampled: 1}, inst)
	key := store.EvalCacheKey{TraceID: traceID(1), Metric: "fluency", JudgeModel: "gpt-4o", PromptVersion: "1"}
	if err := s.CacheEvaluations(ctx, []model.Evaluation{{TraceID: key.TraceID, Metric: key.Metric,
		JudgeModel: key.JudgeModel, PromptVersion: key.PromptVersion, Score: 4, CreatedAt: at(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	rollupsBefore := factsOf(rollups(t, s, rollup.Requests, rollup.Minute))

	t.Run("empty selection", func(t *testing.T) {
		if _, err := s.DeleteTraces(ctx, store.TraceDeletion{}); err == nil {
			t.Error("DeleteTraces with no selection: no error")
		}
		if _, err := s.DeleteTraces(ctx, store.TraceDeletion{Deployment: "blue"}); err == nil {
			t.Error("DeleteTraces with a deployment and no service: no error")
		}
	})

	t.Run("by id", func(t *testing.T) {
		got, err := s.DeleteTraces(ctx, store.TraceDeletion{TraceIDs: []string{traceID(1), traceID(99)}})
		if err != nil {
			t.Fatal(err)
		}
		want := store.Deleted{Traces: 1, Spans: 3, LogRecords: 1, Evaluations: 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Deleted (-want +got):\n%s", diff)
		}
		if _, err := s.GetTrace(ctx, traceID(1)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetTrace of a deleted trace: %v, want ErrNotFound", err)
		}
		checkIDs(t, "full-text search", listIDs(t, s, store.TraceQuery{Text: "aardvark"}), ids(4))
		checkIDs(t, "all traces", listIDs(t, s, store.TraceQuery{}), ids(5, 4, 3, 2))
		checkIDs(t, "model search", listIDs(t, s, store.TraceQuery{Model: "gpt-4o"}), ids(3, 2))
		evals, err := s.TraceEvaluations(ctx, traceID(1), 10)
		if err != nil || len(evals) != 0 {
			t.Errorf("TraceEvaluations of a deleted trace = %v, %v; want none", evals, err)
		}
		cached, err := s.CachedEvaluations(ctx, []store.EvalCacheKey{key})
		if err != nil || len(cached) != 0 {
			t.Errorf("CachedEvaluations of a deleted trace = %v, %v; want none", cached, err)
		}
		if n := serviceCount(t, s, "shop", "blue"); n != 1 {
			t.Errorf("shop/blue counts %d traces after the deletion, want 1", n)
		}
		got, err = s.DeleteTraces(ctx, store.TraceDeletion{TraceIDs: []string{traceID(1)}})
		if err != nil || got != (store.Deleted{}) {
			t.Errorf("deleting it again = %+v, %v; want nothing deleted", got, err)
		}
	})

	t.Run("by user", func(t *testing.T) {
		got, err := s.DeleteTraces(ctx, store.TraceDeletion{UserID: "alice"})
		if err != nil || got.Traces != 1 || got.More {
			t.Fatalf("DeleteTraces(alice) = %+v, %v; want 1 trace", got, err)
		}
		checkIDs(t, "all traces", listIDs(t, s, store.TraceQuery{}), ids(5, 4, 3))
		if n := serviceCount(t, s, "shop", "blue"); n != 0 {
			t.Errorf("shop/blue still listed with %d traces", n)
		}
	})

	t.Run("by service and time, limited", func(t *testing.T) {
		q := store.TraceDeletion{Service: "bank", End: at(10 * time.Minute), Limit: 1}
		got, err := s.DeleteTraces(ctx, q)
		if err != nil || got.Traces != 1 || !got.More {
			t.Fatalf("first call = %+v, %v; want 1 trace and more", got, err)
		}
		checkIDs(t, "after the first call (oldest first)", listIDs(t, s, store.TraceQuery{}), ids(5, 3))
		for _, si := range services(t, s) {
			if si.Service == "bank" && !si.FirstSeen.Equal(at(4*time.Minute)) {
				t.Errorf("bank first seen %s, want the start of its earliest trace left (%s)", si.FirstSeen, at(4*time.Minute))
			}
		}
		got, err = s.DeleteTraces(ctx, store.TraceDeletion{Service: "bank", End: at(4 * time.Minute)})
		if err != nil || got.Traces != 0 {
			t.Fatalf("before trace 5's start = %+v, %v; want nothing", got, err)
		}
		got, err = s.DeleteTraces(ctx, q)
		if err != nil || got.Traces != 1 || got.More {
			t.Fatalf("second call = %+v, %v; want 1 trace, no more", got, err)
		}
		checkIDs(t, "left", listIDs(t, s, store.TraceQuery{}), ids(3))
	})

	t.Run("rollups stay", func(t *testing.T) {
		if diff := cmp.Diff(rollupsBefore, factsOf(rollups(t, s, rollup.Requests, rollup.Minute)), rollupCmp); diff != "" {
			t.Errorf("rollups changed by deletions (-before +after):\n%s", diff)
		}
	})

	t.Run("sent again", func(t *testing.T) {
		writeSpans(t, s, rag(1, 0, "shop", "blue", "gpt-4o", "where is parcel aardvark", "on its way")...)
		getTrace(t, s, traceID(1))
		checkIDs(t, "full-text search", listIDs(t, s, store.TraceQuery{Text: "aardvark"}), ids(1))
	})
}

func checkIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// serviceCount is the trace count the services list gives a service and
// deployment (0 when it is not listed).
func serviceCount(t *testing.T, s store.Store, service, deployment string) int64 {
	t.Helper()
	for _, si := range services(t, s) {
		if si.Service == service && si.Deployment == deployment {
			return si.TraceCount
		}
	}
	return 0
}

// testDeleteRollupsAndRuns checks the retention of rollup rows (one
// resolution at a time, by bucket start, bounded) and of runs (finished
// ones only, with their results and instances).
func testDeleteRollupsAndRuns(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	writeSpans(t, s, rag(1, 0, "shop", "", "gpt-4o", "q", "a")...)
	writeSpans(t, s, rag(2, 2*time.Hour, "shop", "", "gpt-4o", "q", "a")...)
	minutes := len(rollups(t, s, rollup.Requests, rollup.Minute))
	hours := len(rollups(t, s, rollup.Requests, rollup.Hour))
	if minutes != 2 || hours != 2 {
		t.Fatalf("fixture: %d minute and %d hour request rows, want 2 and 2", minutes, hours)
	}
	var total int64
	for {
		n, err := s.DeleteRollups(ctx, rollup.Minute, at(time.Hour), 1)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total == 0 {
		t.Error("DeleteRollups deleted nothing")
	}
	if n := len(rollups(t, s, rollup.Requests, rollup.Minute)); n != 1 {
		t.Errorf("%d minute request rows left, want 1 (the newer)", n)
	}
	if n := len(rollups(t, s, rollup.Requests, rollup.Hour)); n != 2 {
		t.Errorf("%d hour request rows left, want 2 (another resolution)", n)
	}

	score := 3.0
	old := finishRun(t, s, "quality", at(0), at(time.Minute), true, model.RunResult{Sampled: 1},
		[]model.Instance{{Metric: "fluency", TraceID: traceID(1), Status: model.InstanceJudged, Score: &score, JudgeModel: "m", PromptVersion: "1"}})
	recent := finishRun(t, s, "quality", at(3*time.Hour), at(3*time.Hour), true, model.RunResult{Sampled: 0}, nil)
	pending, err := s.CreateRun(ctx, model.Run{Monitor: "quality", MonitorVersion: 1, ScheduledAt: at(0), WindowStart: at(-time.Hour),
		WindowEnd: at(0), CreatedAt: at(0)})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteRuns(ctx, at(2*time.Hour), 10)
	if err != nil || n != 1 {
		t.Fatalf("DeleteRuns = %d, %v; want 1 (the old finished run)", n, err)
	}
	if _, err := s.GetRun(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun of a deleted run: %v, want ErrNotFound", err)
	}
	if _, err := s.RunResult(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RunResult of a deleted run: %v, want ErrNotFound", err)
	}
	if inst, err := s.RunInstances(ctx, store.InstanceQuery{RunID: old.ID}); err != nil || len(inst) != 0 {
		t.Errorf("RunInstances of a deleted run = %v, %v; want none", inst, err)
	}
	for _, r := range []model.Run{recent, pending} {
		if _, err := s.GetRun(ctx, r.ID); err != nil {
			t.Errorf("run %s (%s) was deleted: %v", r.ID, r.Status, err)
		}
	}
}
