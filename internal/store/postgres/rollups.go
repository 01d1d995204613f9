package postgres

// Operational rollups: the rows of package rollup, kept in the transaction
// that stores the spans they count, exact with several writers at once.
//
// Why lanes (see migrations/0003_rollups.sql) rather than one locked row
// per key: every write of a service adds to the same minute, hour and day
// rows, and a row lock is held until the write commits, so with one row
// per key all writers of a service (the connections of one replica and
// every replica) would queue behind each other for the rest of their
// transactions. With lanes a writer takes whichever lane of a key nobody
// holds (FOR UPDATE SKIP LOCKED) or opens a new one: it never waits and
// never deadlocks, the sums stay exact (a lane is only rewritten under its
// lock), and sketches merge exactly as in one process (DDSketch bins add).
// A writer also folds the free lanes of a key into one, so a key has
// more than one lane only while (or just after) several writers add to it
// together, at most as many as write at once; reads merge them. Measured
// (BenchmarkAddObservations, a noisy shared 2-core machine): a batch of 50
// observations over ~80 keys costs about the same either way with one
// writer (3-5 ms, commit included), and with 16 writers on two replicas
// lanes take 6-7 ms a batch where one locked row per key takes 9-11 ms.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// rollupShare is what one write adds to one key at one resolution.
type rollupShare struct {
	res   int64
	key   rollup.Key
	point *rollup.Point
}

// rollupShares groups observations into the rows they add to, at every
// resolution, in a fixed order (resolution, then key).
func rollupShares(obs []rollup.Observation) []rollupShare {
	var out []rollupShare
	for _, res := range rollup.Resolutions() {
		d := rollup.NewDelta(res)
		for _, o := range obs {
			d.Add(o)
		}
		start := len(out)
		for k, p := range d.Points {
			out = append(out, rollupShare{res: res, key: k, point: p})
		}
		slices.SortFunc(out[start:], func(a, b rollupShare) int { return compareRollupKeys(a.key, b.key) })
	}
	return out
}

// compareRollupKeys orders keys as reads return them (bytewise text).
func compareRollupKeys(a, b rollup.Key) int {
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	if a.Bucket != b.Bucket {
		if a.Bucket < b.Bucket {
			return -1
		}
		return 1
	}
	for _, c := range [][2]string{{a.Service, b.Service}, {a.Deployment, b.Deployment}, {a.Model, b.Model},
		{string(a.Status), string(b.Status)}} {
		if r := strings.Compare(c[0], c[1]); r != 0 {
			return r
		}
	}
	return 0
}

// pickLanes locks, for each key of the arrays, every lane no other
// transaction holds, and returns them with their points in key order (k
// is the key's ordinal, from 1); a key whose lanes are all held, or that
// has none, comes back once with a NULL lane. It never waits: SKIP LOCKED
// passes over held lanes. Under READ COMMITTED a lane rewritten since the
// statement began is locked and read in its newest version, so what is
// merged into it is never stale.
const pickLanes = `SELECT k.i, l.lane, l.point
FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[])
	WITH ORDINALITY AS k(resolution, kind, bucket, service, deployment, model, status, i)
LEFT JOIN LATERAL (
	SELECT r.lane, r.point FROM rollups r
	WHERE r.resolution = k.resolution AND r.kind = k.kind AND r.bucket = k.bucket AND r.service = k.service
		AND r.deployment = k.deployment AND r.model = k.model AND r.status = k.status
	ORDER BY r.lane
	FOR UPDATE SKIP LOCKED
) l ON true
ORDER BY k.i, l.lane`

const updateLanes = `UPDATE rollups r SET point = u.point
FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[], $8::bigint[], $9::bytea[])
	AS u(resolution, kind, bucket, service, deployment, model, status, lane, point)
WHERE r.resolution = u.resolution AND r.kind = u.kind AND r.bucket = u.bucket AND r.service = u.service
	AND r.deployment = u.deployment AND r.model = u.model AND r.status = u.status AND r.lane = u.lane`

const insertLanes = `INSERT INTO rollups (resolution, kind, bucket, service, deployment, model, status, lane, point)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[], $8::bigint[], $9::bytea[])`

const deleteLanes = `DELETE FROM rollups r
USING unnest($1::bigint[], $2::text[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[], $8::bigint[])
	AS d(resolution, kind, bucket, service, deployment, model, status, lane)
WHERE r.resolution = d.resolution AND r.kind = d.kind AND r.bucket = d.bucket AND r.service = d.service
	AND r.deployment = d.deployment AND r.model = d.model AND r.status = d.status AND r.lane = d.lane`

// rollupColumns holds rows column by column, as arrays for unnest.
type rollupColumns struct {
	res, bucket, lane          []int64
	kind, status               []string
	service, deployment, model [][]byte // bytea: names may hold NUL
	point                      [][]byte
}

func (c *rollupColumns) addKey(res int64, k rollup.Key) {
	c.res = append(c.res, res)
	c.kind = append(c.kind, string(k.Kind))
	c.bucket = append(c.bucket, k.Bucket)
	c.service = append(c.service, []byte(k.Service))
	c.deployment = append(c.deployment, []byte(k.Deployment))
	c.model = append(c.model, []byte(k.Model))
	c.status = append(c.status, string(k.Status))
}

func (c *rollupColumns) keyArgs() []any {
	return []any{c.res, c.kind, c.bucket, c.service, c.deployment, c.model, c.status}
}

func (c *rollupColumns) rowArgs() []any { return append(c.keyArgs(), c.lane, c.point) }

// addObservations adds what the spans first stored by a write contribute
// to the rollups, in the write's transaction (WriteBatch calls it), so
// that the rollups count exactly what is stored, with several replicas
// writing at once. It takes two round trips whatever the number of keys:
// one to lock the free lanes of every key, one to write them back.
//
// A key's free lanes are folded into its first: the lanes that writers
// at once opened are merged again by the next writer that finds them
// free, so a key has more than one lane only while (or just after)
// several writers add to it together.
func (s *Store) addObservations(ctx context.Context, tx pgx.Tx, obs []rollup.Observation) error {
	if len(obs) == 0 {
		return nil
	}
	shares := rollupShares(obs)
	var keys rollupColumns
	for _, sh := range shares {
		keys.addKey(sh.res, sh.key)
	}
	type lane struct {
		id    *int64 // nil: no free lane
		point []byte
	}
	lanes := make([][]lane, len(shares))
	rows, err := tx.Query(ctx, pickLanes, keys.keyArgs()...)
	if err != nil {
		return fmt.Errorf("postgres: lock rollup rows: %w", err)
	}
	for rows.Next() {
		var i int64
		var l lane
		if err := rows.Scan(&i, &l.id, &l.point); err != nil {
			rows.Close()
			return fmt.Errorf("postgres: lock rollup rows: %w", err)
		}
		if i < 1 || i > int64(len(shares)) {
			rows.Close()
			return fmt.Errorf("postgres: lock rollup rows: key %d of %d", i, len(shares))
		}
		if l.id != nil {
			lanes[i-1] = append(lanes[i-1], l)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: lock rollup rows: %w", err)
	}

	var upd, ins, del rollupColumns
	for i, sh := range shares {
		p := sh.point
		for _, l := range lanes[i] {
			var stored rollup.Point
			if err := stored.UnmarshalBinary(l.point); err != nil {
				// A row this binary cannot read is replaced rather than
				// blocking every later write of its bucket; say so.
				s.log.Error("rollup_unreadable", "err", err, "kind", string(sh.key.Kind), "resolution", sh.res,
					"bucket", sh.key.Bucket)
			} else if err := p.Merge(&stored); err != nil {
				return fmt.Errorf("postgres: merge rollup %s/%d/%d: %w", sh.key.Kind, sh.res, sh.key.Bucket, err)
			}
		}
		enc, err := p.MarshalBinary()
		if err != nil {
			return fmt.Errorf("postgres: encode rollup %s/%d/%d: %w", sh.key.Kind, sh.res, sh.key.Bucket, err)
		}
		if len(lanes[i]) == 0 {
			// A new lane: every lane of the key is held by another
			// writer, or there is none yet. 63 random bits: writers
			// opening lanes of one key at once never pick the same in
			// practice, and if they did the write would fail (and its
			// sender retry) rather than count wrong.
			ins.addKey(sh.res, sh.key)
			ins.lane = append(ins.lane, rand.Int64())
			ins.point = append(ins.point, enc)
			continue
		}
		upd.addKey(sh.res, sh.key)
		upd.lane = append(upd.lane, *lanes[i][0].id)
		upd.point = append(upd.point, enc)
		for _, l := range lanes[i][1:] {
			del.addKey(sh.res, sh.key)
			del.lane = append(del.lane, *l.id)
		}
	}
	b := &pgx.Batch{}
	if len(upd.res) > 0 {
		b.Queue(updateLanes, upd.rowArgs()...)
	}
	if len(del.res) > 0 {
		b.Queue(deleteLanes, append(del.keyArgs(), del.lane)...)
	}
	if len(ins.res) > 0 {
		b.Queue(insertLanes, ins.rowArgs()...)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: write rollup rows: %w", err)
	}
	return nil
}

// Rollups returns the stored rollup rows q selects, in key order, one per
// key (its lanes merged).
func (s *Store) Rollups(ctx context.Context, q store.RollupQuery) ([]rollup.Row, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if !slices.Contains(rollup.Resolutions(), q.Resolution) {
		return nil, fmt.Errorf("postgres: rollups: resolution %ds is not one of %v", q.Resolution, rollup.Resolutions())
	}
	// Filters are added only when set, so that each combination gets a
	// plan of its own (statement cache) instead of one generic plan with
	// "$n = '' OR col = $n" in it.
	var sb strings.Builder
	sb.WriteString(`SELECT bucket, service, deployment, model, status, point FROM rollups
		WHERE resolution = $1 AND kind = $2 AND bucket >= $3 AND bucket < $4`)
	args := []any{q.Resolution, string(q.Kind), q.Start, q.End}
	for _, f := range []struct{ col, v string }{{"service", q.Service}, {"deployment", q.Deployment}, {"model", q.Model}} {
		if f.v != "" {
			args = append(args, []byte(f.v))
			fmt.Fprintf(&sb, " AND %s = $%d", f.col, len(args))
		}
	}
	sb.WriteString(" ORDER BY bucket, service, deployment, model, status")
	rows, err := s.rpool.Query(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: rollups: %w", s.mapErr(err))
	}
	defer rows.Close()
	var out []rollup.Row
	// The labels are read in place (DriverBytes): rr interns them.
	var rr rollup.RowReader
	var bucket int64
	var service, deployment, modelName, status, point pgtype.DriverBytes
	dest := []any{&bucket, &service, &deployment, &modelName, &status, &point}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("postgres: rollups: %w", s.mapErr(err))
		}
		row, err := rr.Row(q.Kind, bucket, service, deployment, modelName, status, point)
		if err != nil {
			return nil, fmt.Errorf("postgres: rollups: row %s/%d/%d: %w", q.Kind, q.Resolution, bucket, err)
		}
		if n := len(out); n > 0 && out[n-1].Key == row.Key {
			// Another lane of the same key.
			if err := out[n-1].Point.Merge(row.Point); err != nil {
				return nil, fmt.Errorf("postgres: rollups: row %s/%d/%d: %w", q.Kind, q.Resolution, bucket, err)
			}
			continue
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: rollups: %w", s.mapErr(err))
	}
	return out, nil
}

// DeleteRollups deletes up to limit rollup rows (lanes) of one resolution
// whose buckets start before before, and returns how many. Lanes a writer
// holds at that moment are passed over (SKIP LOCKED) and deleted by a
// later call: retention never waits for ingest.
func (s *Store) DeleteRollups(ctx context.Context, resolution int64, before time.Time, limit int) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	if limit <= 0 || limit > store.MaxDeleteBatch {
		limit = store.MaxDeleteBatch
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM rollups
		WHERE (resolution, kind, bucket, service, deployment, model, status, lane) IN (
			SELECT resolution, kind, bucket, service, deployment, model, status, lane FROM rollups
			WHERE resolution = $1 AND bucket < $2 LIMIT $3 FOR UPDATE SKIP LOCKED)`,
		resolution, before.Unix(), limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete rollups of resolution %ds: %w", resolution, s.mapErr(err))
	}
	return tag.RowsAffected(), nil
}
