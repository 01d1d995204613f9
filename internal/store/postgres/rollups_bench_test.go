package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// addObservationsLocked is the alternative addObservations does not take,
// kept here to measure it: one row per key (lane 0), created if missing,
// then locked in key order (FOR UPDATE waits for its holder), merged and
// rewritten. Exact too, but writers of a key queue behind each other.
func addObservationsLocked(ctx context.Context, tx pgx.Tx, obs []rollup.Observation) error {
	shares := rollupShares(obs)
	empty, err := rollup.NewPoint().MarshalBinary()
	if err != nil {
		return err
	}
	var keys rollupColumns
	for _, sh := range shares {
		keys.addKey(sh.res, sh.key)
		keys.lane = append(keys.lane, 0)
		keys.point = append(keys.point, empty)
	}
	b := &pgx.Batch{}
	b.Queue(insertLanes+` ON CONFLICT DO NOTHING`, keys.rowArgs()...)
	var stored [][]byte
	b.Queue(`SELECT r.point FROM rollups r
		JOIN unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
			WITH ORDINALITY AS k(resolution, kind, bucket, service, deployment, model, status, i)
		ON r.resolution = k.resolution AND r.kind = k.kind AND r.bucket = k.bucket AND r.service = k.service
			AND r.deployment = k.deployment AND r.model = k.model AND r.status = k.status AND r.lane = 0
		ORDER BY k.i FOR UPDATE OF r`, keys.keyArgs()...).Query(func(rows pgx.Rows) error {
		var err error
		stored, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if len(stored) != len(shares) {
		return fmt.Errorf("%d rows for %d keys", len(stored), len(shares))
	}
	for i, sh := range shares {
		var p rollup.Point
		if err := p.UnmarshalBinary(stored[i]); err != nil {
			return err
		}
		if err := sh.point.Merge(&p); err != nil {
			return err
		}
		if keys.point[i], err = sh.point.MarshalBinary(); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, updateLanes, keys.rowArgs()...)
	return err
}

// BenchmarkAddObservations measures a write transaction adding a batch of
// 50 observations (of a few keys, as a batch of one service's traces is)
// to the rollups: with lanes (addObservations) or with one locked row per
// key, by 1 or 16 writers at once on two replicas, with the transaction
// ending at once or holding its rows 2 ms longer (as a write that stores
// its spans after the rollups would). ns/op is per batch.
//
//	scripts/with-postgres.sh go test ./internal/store/postgres/ -run '^$' -bench AddObservations -benchtime 2s
func BenchmarkAddObservations(b *testing.B) {
	ways := []struct {
		name string
		add  func(s *Store, ctx context.Context, tx pgx.Tx, obs []rollup.Observation) error
	}{
		{"lanes", (*Store).addObservations},
		{"locked", func(_ *Store, ctx context.Context, tx pgx.Tx, obs []rollup.Observation) error {
			return addObservationsLocked(ctx, tx, obs)
		}},
	}
	obs := handMadeObservations(50 * 1000)
	for _, way := range ways {
		for _, writers := range []int{1, 16} {
			for _, hold := range []time.Duration{0, 2 * time.Millisecond} {
				b.Run(fmt.Sprintf("%s/writers=%d/hold=%s", way.name, writers, hold), func(b *testing.B) {
					replicas := openRollupReplicas(b, 2)
					ctx := context.Background()
					var next atomic.Int64
					b.ResetTimer()
					runParallel(b, writers, func() error {
						i := int(next.Add(1)) % 1000
						batch := obs[i*50 : i*50+50]
						s := replicas[i%2]
						return s.inTx(ctx, func(tx pgx.Tx) error {
							if err := way.add(s, ctx, tx, batch); err != nil {
								return err
							}
							if hold > 0 {
								time.Sleep(hold)
							}
							return nil
						})
					})
				})
			}
		}
	}
}

// runParallel runs b.N calls of fn on exactly n goroutines.
func runParallel(b *testing.B, n int, fn func() error) {
	var left atomic.Int64
	left.Store(int64(b.N))
	errs := make(chan error, n)
	for range n {
		go func() {
			for left.Add(-1) >= 0 {
				if err := fn(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRollupsRead measures the 7-day operational view's reads: the
// hour rows of requests and model calls over 168 hours for 54 label sets
// (6 services x 3 models x 3 deployments, ok and error) each, about 18,000
// rows as at 10 million spans in bench backends, every key in one lane.
//
//	scripts/with-postgres.sh go test ./internal/store/postgres/ -run '^$' -bench RollupsRead -benchtime 20x
func BenchmarkRollupsRead(b *testing.B) {
	s := openTest(b, storetest.Deriver{})
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 5))
	end := rollupBase.Truncate(time.Hour)
	start := end.Add(-7 * 24 * time.Hour)
	for h := start; h.Before(end); h = h.Add(time.Hour) {
		var obs []rollup.Observation
		for svc := range 6 {
			for m := range 3 {
				for dep := range 3 {
					for _, st := range []model.Status{model.StatusOK, model.StatusError} {
						for _, kind := range []rollup.Kind{rollup.Requests, rollup.LLMCalls} {
							for range 4 {
								obs = append(obs, rollup.Observation{Kind: kind, Time: h.Add(time.Duration(r.IntN(3600)) * time.Second),
									Service: fmt.Sprintf("service-%d", svc), Deployment: fmt.Sprintf("deployment-%d", dep),
									Model: fmt.Sprintf("model-%d", m), Status: st, Duration: time.Duration(50+r.IntN(8000)) * time.Millisecond,
									Usage: model.Usage{Known: true, InputTokens: int64(r.IntN(2000)), OutputTokens: int64(r.IntN(500))}, Priced: true})
							}
						}
					}
				}
			}
		}
		if err := s.inTx(ctx, func(tx pgx.Tx) error { return s.addObservations(ctx, tx, obs) }); err != nil {
			b.Fatal(err)
		}
	}
	rows := 0
	b.ResetTimer()
	for range b.N {
		rows = 0
		for _, kind := range []rollup.Kind{rollup.Requests, rollup.LLMCalls} {
			got, err := s.Rollups(ctx, store.RollupQuery{Kind: kind, Resolution: rollup.Hour, Start: start.Unix(), End: end.Unix()})
			if err != nil {
				b.Fatal(err)
			}
			rows += len(got)
		}
	}
	b.ReportMetric(float64(rows), "rows")
}
