package storetest

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// rollupFacts is what a test compares of a rollup row: every exact field,
// and the median and maximum latency.
type rollupFacts struct {
	Key                                    rollup.Key
	Count, Errors                          int64
	Input, Output, Total, Cached, Unpriced int64
	CostMicroUSD                           int64
	LatencySumMs, LatencyMaxMs             float64
	P50Ms                                  float64 // within rollup.RelativeAccuracy
}

func factsOf(rows []rollup.Row) []rollupFacts {
	out := make([]rollupFacts, 0, len(rows))
	for _, r := range rows {
		p := r.Point
		p50, _ := p.Quantile(0.5)
		out = append(out, rollupFacts{
			Key: r.Key, Count: p.Count, Errors: p.Errors,
			Input: p.InputTokens, Output: p.OutputTokens, Total: p.TotalTokens, Cached: p.CachedTokens,
			Unpriced: p.Unpriced, CostMicroUSD: int64(math.Round(p.CostUSD * 1e6)),
			LatencySumMs: p.LatencySumMs, LatencyMaxMs: p.LatencyMaxMs, P50Ms: p50,
		})
	}
	return out
}

// rollupCmp compares facts, allowing the median its stated error.
var rollupCmp = cmp.Options{
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".P50Ms" },
		cmp.Comparer(func(a, b float64) bool {
			return math.Abs(a-b) <= rollup.RelativeAccuracy*math.Max(math.Abs(a), math.Abs(b))+1e-9
		})),
}

func rollups(t *testing.T, s store.Store, kind rollup.Kind, res int64) []rollup.Row {
	t.Helper()
	rows, err := s.Rollups(context.Background(), store.RollupQuery{
		Kind: kind, Resolution: res, Start: at(-24 * time.Hour).Unix(), End: at(24 * time.Hour).Unix(),
	})
	if err != nil {
		t.Fatalf("Rollups(%s, %d): %v", kind, res, err)
	}
	return rows
}

// testRollups checks the operational rollups: exact counts, errors, tokens
// and cost per minute, hour and day, requests counted from root spans and
// LLM calls from model-call spans, nothing counted twice when a batch is
// sent again or a trace arrives in parts, and rows that survive a restart.
func testRollups(t *testing.T, o opened) {
	s := o.store(t)
	minute := at(0).Unix()
	// Trace 1 and 2 start in the first minute, trace 3 (failed) in the
	// second, trace 4 (unpriced model) an hour later.
	t1 := rag(1, 0, "shop", "blue", "gpt-x", "q1", "a1")
	t2 := rag(2, 30*time.Second, "shop", "blue", "gpt-x", "q2", "a2")
	t3 := rag(3, 90*time.Second, "shop", "blue", "gpt-x", "q3", "a3")
	t3[0].StatusCode = model.StatusError
	Deriver{}.DeriveSpan(&t3[0], nil)
	t4 := rag(4, time.Hour, "shop", "", UnpricedModel, "q4", "a4")
	batch := append(append(append([]model.Span{}, t1...), t2...), t3...)
	writeSpans(t, s, batch...)
	// Trace 4 arrives in two parts: the LLM span first, then the rest.
	writeSpans(t, s, t4[2])

	key := func(kind rollup.Kind, bucket int64, dep, mod string, st model.Status) rollup.Key {
		return rollup.Key{Kind: kind, Bucket: bucket, Service: "shop", Deployment: dep, Model: mod, Status: st}
	}
	wantReqMinutes := []rollupFacts{
		{Key: key(rollup.Requests, minute, "blue", "gpt-x", model.StatusOK), Count: 2,
			LatencySumMs: 1800, LatencyMaxMs: 900, P50Ms: 900},
		{Key: key(rollup.Requests, minute+60, "blue", "gpt-x", model.StatusError), Count: 1, Errors: 1,
			LatencySumMs: 900, LatencyMaxMs: 900, P50Ms: 900},
	}
	llm := func(bucket int64, dep, mod string, calls int64, priced bool) rollupFacts {
		f := rollupFacts{Key: key(rollup.LLMCalls, bucket, dep, mod, model.StatusOK), Count: calls,
			Input: 10 * calls, Output: 20 * calls, Total: 30 * calls, Cached: 5 * calls,
			LatencySumMs: 600 * float64(calls), LatencyMaxMs: 600, P50Ms: 600}
		if priced {
			f.CostMicroUSD = 10_000 * calls
		} else {
			f.Unpriced = calls
		}
		return f
	}
	wantLLMMinutes := []rollupFacts{
		llm(minute, "blue", "gpt-x", 2, true),
		llm(minute+60, "blue", "gpt-x", 1, true),
		llm(minute+3600, "", UnpricedModel, 1, false),
	}
	check := func(t *testing.T, s store.Store, when string) {
		t.Helper()
		if diff := cmp.Diff(wantReqMinutes, factsOf(rollups(t, s, rollup.Requests, rollup.Minute)), rollupCmp); diff != "" {
			t.Errorf("%s: request rows per minute (-want +got):\n%s", when, diff)
		}
		if diff := cmp.Diff(wantLLMMinutes, factsOf(rollups(t, s, rollup.LLMCalls, rollup.Minute)), rollupCmp); diff != "" {
			t.Errorf("%s: LLM rows per minute (-want +got):\n%s", when, diff)
		}
	}
	check(t, s, "after the first writes")

	// The same batch again and the rest of trace 4 (with its LLM span once
	// more): the requests of trace 4 count once, nothing else changes.
	writeSpans(t, s, batch...)
	writeSpans(t, s, t4...)
	wantReqMinutes = append(wantReqMinutes, rollupFacts{
		Key: key(rollup.Requests, minute+3600, "", UnpricedModel, model.StatusOK), Count: 1,
		LatencySumMs: 900, LatencyMaxMs: 900, P50Ms: 900})
	check(t, s, "after re-sending")

	// Hour rows are the minutes merged.
	hour := minute - minute%3600
	wantReqHours := []rollupFacts{
		{Key: key(rollup.Requests, hour, "blue", "gpt-x", model.StatusError), Count: 1, Errors: 1,
			LatencySumMs: 900, LatencyMaxMs: 900, P50Ms: 900},
		{Key: key(rollup.Requests, hour, "blue", "gpt-x", model.StatusOK), Count: 2,
			LatencySumMs: 1800, LatencyMaxMs: 900, P50Ms: 900},
		wantReqMinutes[2],
	}
	wantReqHours[2].Key.Bucket = hour + 3600
	if minute%3600 != 0 {
		t.Fatalf("fixture base time %s is not on the hour", at(0))
	}
	if diff := cmp.Diff(wantReqHours, factsOf(rollups(t, s, rollup.Requests, rollup.Hour)), rollupCmp); diff != "" {
		t.Errorf("request rows per hour (-want +got):\n%s", diff)
	}
	wantLLMHours := []rollupFacts{llm(hour, "blue", "gpt-x", 3, true), llm(hour+3600, "", UnpricedModel, 1, false)}
	if diff := cmp.Diff(wantLLMHours, factsOf(rollups(t, s, rollup.LLMCalls, rollup.Hour)), rollupCmp); diff != "" {
		t.Errorf("LLM rows per hour (-want +got):\n%s", diff)
	}

	// Day rows are the hours merged (both hours are of one UTC day).
	day := hour - hour%86400
	wantReqDays := []rollupFacts{wantReqHours[2], wantReqHours[0], wantReqHours[1]}
	for i := range wantReqDays {
		wantReqDays[i].Key.Bucket = day
	}
	if diff := cmp.Diff(wantReqDays, factsOf(rollups(t, s, rollup.Requests, rollup.Day)), rollupCmp); diff != "" {
		t.Errorf("request rows per day (-want +got):\n%s", diff)
	}
	wantLLMDays := []rollupFacts{llm(day, "", UnpricedModel, 1, false), llm(day, "blue", "gpt-x", 3, true)}
	if diff := cmp.Diff(wantLLMDays, factsOf(rollups(t, s, rollup.LLMCalls, rollup.Day)), rollupCmp); diff != "" {
		t.Errorf("LLM rows per day (-want +got):\n%s", diff)
	}

	// Filters and ranges.
	rows, err := s.Rollups(context.Background(), store.RollupQuery{Kind: rollup.LLMCalls, Resolution: rollup.Minute,
		Start: minute + 60, End: minute + 3600 + 60, Model: UnpricedModel})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantLLMMinutes[2:], factsOf(rows), rollupCmp); diff != "" {
		t.Errorf("filtered LLM rows (-want +got):\n%s", diff)
	}
	rows, err = s.Rollups(context.Background(), store.RollupQuery{Kind: rollup.Requests, Resolution: rollup.Minute,
		Start: minute, End: minute + 60, Service: "shop", Deployment: "green"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 0 {
		t.Errorf("rows of an unknown deployment: %v", factsOf(rows))
	}
	if _, err := s.Rollups(context.Background(), store.RollupQuery{Kind: rollup.Requests, Resolution: 7}); err == nil {
		t.Error("Rollups with resolution 7: no error")
	}

	// A restart keeps everything.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(t, o.store(t), "after a restart")
}
