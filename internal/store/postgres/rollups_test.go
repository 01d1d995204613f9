package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// openRollupReplicas opens n Stores on one fresh schema, as n replicas of one
// database.
func openRollupReplicas(t testing.TB, n int) []*Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	out := make([]*Store, n)
	for i := range out {
		s, err := Open(context.Background(), Options{DSN: dsn, Schema: schema, Deriver: storetest.Deriver{}, MaxConns: 8}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out
}

// rollupBase is the observations' base time: two minutes before an hour,
// so that their minutes fall into two hours.
var rollupBase = time.Date(2026, 3, 1, 11, 58, 0, 0, time.UTC)

// handMadeObservations returns n observations over a few keys (so that
// writers meet on the same rows), with whole-millisecond latencies and
// costs in 1/1024 dollars: their sums are exact in any order, so totals
// can be compared exactly.
func handMadeObservations(n int) []rollup.Observation {
	r := rand.New(rand.NewPCG(13, 3))
	out := make([]rollup.Observation, n)
	for i := range out {
		o := rollup.Observation{
			Kind:     []rollup.Kind{rollup.Requests, rollup.LLMCalls}[r.IntN(2)],
			Time:     rollupBase.Add(time.Duration(r.IntN(5*60)) * time.Second),
			Service:  []string{"shop", "search"}[r.IntN(2)],
			Model:    "gpt-x",
			Status:   model.StatusOK,
			Duration: time.Duration(1+r.IntN(5000)) * time.Millisecond,
		}
		if r.IntN(10) == 0 {
			o.Status = model.StatusError
		}
		if r.IntN(3) == 0 {
			o.Deployment = "blue"
		}
		if o.Kind == rollup.LLMCalls {
			in, outTok := int64(r.IntN(1000)), int64(r.IntN(500))
			o.Usage = model.Usage{Known: true, InputTokens: in, OutputTokens: outTok, CacheReadTokens: in / 4,
				CostUSD: float64(r.IntN(64)) / 1024}
			if r.IntN(2) == 0 {
				o.Usage.TotalTokens = in + outTok
			}
			o.Priced = r.IntN(5) != 0
		}
		out[i] = o
	}
	return out
}

// addConcurrently adds obs in batches of size, from workers goroutines on
// each store, each batch in a transaction of its own.
func addConcurrently(t *testing.T, stores []*Store, workers, size int, obs []rollup.Observation) {
	t.Helper()
	ctx := context.Background()
	batches := make(chan []rollup.Observation)
	errs := make(chan error, len(stores)*workers)
	var wg sync.WaitGroup
	for _, s := range stores {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					if err := s.inTx(ctx, func(tx pgx.Tx) error { return s.addObservations(ctx, tx, b) }); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	for i := 0; i < len(obs); i += size {
		batches <- obs[i:min(i+size, len(obs))]
	}
	close(batches)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// pointFacts is what a test compares of a point: every exact field and the
// latency at every percentile, which only equal sketches all agree on.
type pointFacts struct {
	Key                                    rollup.Key
	Count, Errors                          int64
	Input, Output, Total, Cached, Unpriced int64
	CostUSD, LatencySumMs, LatencyMaxMs    float64
	Quantiles                              [101]float64
}

func factsOfRows(rows []rollup.Row) []pointFacts {
	out := make([]pointFacts, len(rows))
	for i, r := range rows {
		p := r.Point
		f := pointFacts{Key: r.Key, Count: p.Count, Errors: p.Errors, Input: p.InputTokens, Output: p.OutputTokens,
			Total: p.TotalTokens, Cached: p.CachedTokens, Unpriced: p.Unpriced, CostUSD: p.CostUSD,
			LatencySumMs: p.LatencySumMs, LatencyMaxMs: p.LatencyMaxMs}
		for q := range f.Quantiles {
			f.Quantiles[q], _ = p.Quantile(float64(q) / 100)
		}
		out[i] = f
	}
	return out
}

// oneProcess is what the rows of kind at res must be: the observations
// merged in one process, in key order.
func oneProcess(obs []rollup.Observation, kind rollup.Kind, res int64) []rollup.Row {
	var rows []rollup.Row
	for _, sh := range rollupShares(obs) {
		if sh.res == res && sh.key.Kind == kind {
			rows = append(rows, rollup.Row{Key: sh.key, Point: sh.point})
		}
	}
	return rows
}

func allRollups(t *testing.T, s store.RollupReader, kind rollup.Kind, res int64) []rollup.Row {
	t.Helper()
	rows, err := s.Rollups(context.Background(), store.RollupQuery{Kind: kind, Resolution: res,
		Start: rollupBase.Add(-48 * time.Hour).Unix(), End: rollupBase.Add(48 * time.Hour).Unix()})
	if err != nil {
		t.Fatalf("Rollups(%s, %d): %v", kind, res, err)
	}
	return rows
}

// Two replicas, several writers each, adding to the same rows at once: the
// rows hold exactly what one process merging the same observations holds,
// sketches included, one row per key. Then one writer alone folds the
// lanes the others opened: one lane per key is left.
func TestRollupsConcurrentReplicas(t *testing.T) {
	replicas := openRollupReplicas(t, 2)
	ctx := context.Background()
	obs := handMadeObservations(6000)
	addConcurrently(t, replicas, 6, 20, obs)
	lanes := func() (lanes, keys int) {
		t.Helper()
		if err := replicas[0].pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (resolution, kind, bucket,
			service, deployment, model, status)) FROM rollups`).Scan(&lanes, &keys); err != nil {
			t.Fatal(err)
		}
		return lanes, keys
	}
	l, k := lanes()
	t.Logf("%d observations from 12 writers: %d keys stored in %d lanes", len(obs), k, l)

	// One observation more for every minute key (and so every hour and
	// day key), from one writer alone.
	var last []rollup.Observation
	for _, sh := range rollupShares(obs) {
		if sh.res == rollup.Minute {
			last = append(last, rollup.Observation{Kind: sh.key.Kind, Time: time.Unix(sh.key.Bucket, 0), Service: sh.key.Service,
				Deployment: sh.key.Deployment, Model: sh.key.Model, Status: sh.key.Status, Duration: time.Second})
		}
	}
	addConcurrently(t, replicas[:1], 1, len(last), last)
	obs = append(obs, last...)
	if l, k := lanes(); l != k {
		t.Errorf("after a write alone: %d keys stored in %d lanes, want one each", k, l)
	}

	for _, kind := range []rollup.Kind{rollup.Requests, rollup.LLMCalls} {
		for _, res := range rollup.Resolutions() {
			want := factsOfRows(oneProcess(obs, kind, res))
			for i, s := range replicas {
				if diff := cmp.Diff(want, factsOfRows(allRollups(t, s, kind, res))); diff != "" {
					t.Errorf("replica %d: %s rows per %ds (-one process +stored):\n%s", i, kind, res, diff)
				}
			}
		}
	}
}

// A writer never waits for another that holds a key's row: it opens a
// lane of its own, and reads merge the two.
func TestRollupsWritersNeverWait(t *testing.T) {
	replicas := openRollupReplicas(t, 2)
	ctx := context.Background()
	obs := handMadeObservations(40)
	first, second := obs[:20], obs[20:]
	// The first writer holds its rows until the second has written.
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- replicas[0].inTx(ctx, func(tx pgx.Tx) error {
			if err := replicas[0].addObservations(ctx, tx, first); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := replicas[1].inTx(wctx, func(tx pgx.Tx) error {
		// Twice in one transaction: the second call finds the lanes the
		// first locked (its own locks do not make it skip them).
		if err := replicas[1].addObservations(wctx, tx, second[:10]); err != nil {
			return err
		}
		return replicas[1].addObservations(wctx, tx, second[10:])
	})
	cancel()
	close(release)
	if err != nil {
		t.Fatalf("second writer, while the first holds its rows: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, res := range rollup.Resolutions() {
		for _, kind := range []rollup.Kind{rollup.Requests, rollup.LLMCalls} {
			if diff := cmp.Diff(factsOfRows(oneProcess(obs, kind, res)), factsOfRows(allRollups(t, replicas[1], kind, res))); diff != "" {
				t.Errorf("%s rows per %ds (-one process +stored):\n%s", kind, res, diff)
			}
		}
	}
	var lanes int
	if err := replicas[0].pool.QueryRow(ctx, `SELECT max(n) FROM (SELECT count(*) AS n FROM rollups
		GROUP BY resolution, kind, bucket, service, deployment, model, status) l`).Scan(&lanes); err != nil {
		t.Fatal(err)
	}
	if lanes != 2 {
		t.Errorf("at most %d lanes per key, want 2 (the second writer's own where the first held one)", lanes)
	}
}

// The same spans give the same rollups as in the SQLite backend: the
// observations SQLite's writer computed (as its commits report them) are
// added concurrently here, and both answer the same rows for every kind,
// resolution and filter.
func TestRollupsLikeSQLite(t *testing.T) {
	replicas := openRollupReplicas(t, 2)
	ctx := context.Background()
	var mu sync.Mutex
	var obs []rollup.Observation
	lite, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: storetest.Deriver{},
		OnCommit: func(c store.Commit) {
			mu.Lock()
			obs = append(obs, c.Observations...)
			mu.Unlock()
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	r := rand.New(rand.NewPCG(1, 2))
	n := 0
	for range 20 {
		var spans []model.Span
		for range 20 {
			n++
			start := rollupBase.Add(time.Duration(r.IntN(3*3600)) * time.Second)
			svc := []string{"shop", "search", "chat"}[r.IntN(3)]
			root := model.Span{TraceID: fmt.Sprintf("%032x", n), SpanID: fmt.Sprintf("%016x", 2*n), Name: "flow",
				StartTime: start, EndTime: start.Add(time.Duration(100+r.IntN(4000)) * time.Millisecond),
				StatusCode: model.StatusOK, ResourceAttributes: map[string]any{"service.name": svc},
				Attributes: map[string]any{storetest.AttrKind: "chain"}}
			if r.IntN(8) == 0 {
				root.StatusCode = model.StatusError
			}
			if r.IntN(2) == 0 {
				root.ResourceAttributes["deployment.name"] = "blue"
			}
			llm := root
			llm.SpanID, llm.ParentSpanID, llm.Name = fmt.Sprintf("%016x", 2*n+1), root.SpanID, "chat"
			llm.StatusCode = model.StatusOK
			llm.EndTime = start.Add(time.Duration(50+r.IntN(3000)) * time.Millisecond)
			llm.Attributes = map[string]any{storetest.AttrKind: "llm",
				storetest.AttrModel:  []string{"gpt-4o", "gpt-x", storetest.UnpricedModel}[r.IntN(3)],
				storetest.AttrTokens: int64(1 + r.IntN(900))}
			for _, sp := range []model.Span{root, llm} {
				storetest.Deriver{}.DeriveSpan(&sp, nil)
				spans = append(spans, sp)
			}
		}
		if _, err := lite.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(obs) != 2*n {
		t.Fatalf("SQLite reported %d observations for %d traces, want %d", len(obs), n, 2*n)
	}
	addConcurrently(t, replicas, 4, 15, obs)

	// Cost sums are added in another order here: allow them rounding.
	costs := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".CostUSD" },
		cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a)) }))
	from, to := rollupBase.Add(-48*time.Hour).Unix(), rollupBase.Add(48*time.Hour).Unix()
	var queries []store.RollupQuery
	for _, kind := range []rollup.Kind{rollup.Requests, rollup.LLMCalls} {
		for _, res := range rollup.Resolutions() {
			queries = append(queries,
				store.RollupQuery{Kind: kind, Resolution: res, Start: from, End: to},
				store.RollupQuery{Kind: kind, Resolution: res, Start: from, End: to, Service: "shop"},
				store.RollupQuery{Kind: kind, Resolution: res, Start: from, End: to, Service: "chat", Deployment: "blue"},
				store.RollupQuery{Kind: kind, Resolution: res, Start: from, End: to, Model: "gpt-x"},
				store.RollupQuery{Kind: kind, Resolution: res, Start: rollupBase.Add(time.Hour).Unix(),
					End: rollupBase.Add(2 * time.Hour).Unix()})
		}
	}
	for _, q := range queries {
		want, err := lite.Rollups(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := replicas[1].Rollups(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 && q.Start == from && q.Deployment == "" {
			t.Errorf("%+v: SQLite has no rows: the fixture is wrong", q)
		}
		if diff := cmp.Diff(factsOfRows(want), factsOfRows(got), costs); diff != "" {
			t.Errorf("%+v (-sqlite +postgres):\n%s", q, diff)
		}
	}
	if _, err := replicas[0].Rollups(ctx, store.RollupQuery{Kind: rollup.Requests, Resolution: 7}); err == nil {
		t.Error("Rollups with resolution 7: no error")
	}
}

// DeleteRollups deletes lanes of one resolution before a time, at most
// limit at a time, and says how many.
func TestDeleteRollupLanes(t *testing.T) {
	replicas := openRollupReplicas(t, 2)
	ctx := context.Background()
	obs := handMadeObservations(200)
	addConcurrently(t, replicas, 4, 5, obs)
	var minuteRows, hourRows int64
	if err := replicas[0].pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE resolution = 60),
		count(*) FILTER (WHERE resolution = 3600) FROM rollups`).Scan(&minuteRows, &hourRows); err != nil {
		t.Fatal(err)
	}
	var total int64
	for {
		n, err := replicas[1].DeleteRollups(ctx, rollup.Minute, time.Unix(1<<40, 0), 7)
		if err != nil {
			t.Fatal(err)
		}
		if n > 7 {
			t.Fatalf("DeleteRollups(limit 7) deleted %d", n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != minuteRows {
		t.Errorf("deleted %d minute rows, there were %d", total, minuteRows)
	}
	if rows := allRollups(t, replicas[0], rollup.Requests, rollup.Minute); len(rows) != 0 {
		t.Errorf("%d minute rows left", len(rows))
	}
	if diff := cmp.Diff(factsOfRows(oneProcess(obs, rollup.Requests, rollup.Hour)),
		factsOfRows(allRollups(t, replicas[0], rollup.Requests, rollup.Hour))); diff != "" {
		t.Errorf("hour rows after deleting minutes (-want +got):\n%s", diff)
	}
	replicas[0].Close()
	if _, err := replicas[0].DeleteRollups(ctx, rollup.Hour, time.Now(), 1); !errors.Is(err, store.ErrClosed) {
		t.Errorf("DeleteRollups after Close: %v, want ErrClosed", err)
	}
	if _, err := replicas[0].Rollups(ctx, store.RollupQuery{Kind: rollup.Requests, Resolution: rollup.Hour}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Rollups after Close: %v, want ErrClosed", err)
	}
}
