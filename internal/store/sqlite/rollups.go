package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// observe records what the spans a trace gained in this group contribute to
// the rollups; sum is the trace's summary after the group.
func (g *groupTx) observe(w *traceWork, sum *summary) {
	for _, sp := range w.newSpans {
		g.obs = append(g.obs, rollup.Observe(sp, sum.trace.Model)...)
	}
}

// writeRollups merges the group's observations into the rollup rows, read
// and rewritten one key at a time in key order.
func (g *groupTx) writeRollups() error {
	if len(g.obs) == 0 {
		return nil
	}
	for _, res := range rollup.Resolutions() {
		d := rollup.NewDelta(res)
		for _, o := range g.obs {
			d.Add(o)
		}
		keys := make([]rollup.Key, 0, len(d.Points))
		for k := range d.Points {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareKeys)
		for _, k := range keys {
			if err := g.mergeRollup(res, k, d.Points[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *groupTx) mergeRollup(res int64, k rollup.Key, p *rollup.Point) error {
	args := []any{res, string(k.Kind), k.Bucket, k.Service, k.Deployment, k.Model, string(k.Status)}
	var blob []byte
	err := g.stmts.getRollup.QueryRow(args...).Scan(&blob)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read rollup %s/%d/%d: %w", k.Kind, res, k.Bucket, err)
	default:
		var stored rollup.Point
		if err := stored.UnmarshalBinary(blob); err != nil {
			// A row this binary cannot read is replaced rather than
			// blocking every later write of its bucket; say so.
			g.s.log.Error("rollup_unreadable", "err", err, "kind", string(k.Kind), "bucket", k.Bucket)
		} else if err := p.Merge(&stored); err != nil {
			return fmt.Errorf("merge rollup %s/%d/%d: %w", k.Kind, res, k.Bucket, err)
		}
	}
	enc, err := p.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode rollup %s/%d/%d: %w", k.Kind, res, k.Bucket, err)
	}
	if _, err := g.stmts.putRollup.Exec(append(args, enc)...); err != nil {
		return fmt.Errorf("write rollup %s/%d/%d: %w", k.Kind, res, k.Bucket, err)
	}
	return nil
}

func compareKeys(a, b rollup.Key) int {
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

// Rollups returns the stored rollup rows q selects, in key order.
func (s *Store) Rollups(ctx context.Context, q store.RollupQuery) ([]rollup.Row, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if !slices.Contains(rollup.Resolutions(), q.Resolution) {
		return nil, fmt.Errorf("sqlite: rollups: resolution %ds is not one of %v", q.Resolution, rollup.Resolutions())
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT bucket, service, deployment, model, status, point FROM rollups
		WHERE resolution = ? AND kind = ? AND bucket >= ? AND bucket < ?
			AND (?5 = '' OR service = ?5) AND (?6 = '' OR deployment = ?6) AND (?7 = '' OR model = ?7)
		ORDER BY bucket, service, deployment, model, status`,
		q.Resolution, string(q.Kind), q.Start, q.End, q.Service, q.Deployment, q.Model)
	if err != nil {
		return nil, s.readErr("rollups", err)
	}
	defer rows.Close()
	var out []rollup.Row
	// The labels are read in place (RawBytes): rr interns them.
	var rr rollup.RowReader
	var bucket int64
	var service, deployment, modelName, status, blob sql.RawBytes
	dest := []any{&bucket, &service, &deployment, &modelName, &status, &blob}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, s.readErr("rollups", err)
		}
		row, err := rr.Row(q.Kind, bucket, service, deployment, modelName, status, blob)
		if err != nil {
			return nil, fmt.Errorf("sqlite: rollups: row %s/%d/%d: %w", q.Kind, q.Resolution, bucket, err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("rollups", err)
	}
	return out, nil
}
