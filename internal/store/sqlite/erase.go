package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/store"
)

// DeleteTraces deletes up to q.Limit traces matching q, oldest first, in
// one transaction on the writer: their spans, log records, full-text
// entries, model index rows, evaluations (run instances and cached
// verdicts) and summary rows, and the services' trace counts and first
// seen times (a service left without traces leaves the services list). trace_blocks keeps its
// ranges: they only have to contain the start times of the block's traces,
// and a wider range costs a search at most one block more. Rollups are
// left alone: they hold counts, not content.
func (s *Store) DeleteTraces(ctx context.Context, q store.TraceDeletion) (store.Deleted, error) {
	query, args, err := deletionQuery(q)
	if err != nil {
		return store.Deleted{}, err
	}
	var out store.Deleted
	err = s.write(ctx, func(tx *sql.Tx) error {
		out = store.Deleted{}
		victims, more, err := selectVictims(ctx, tx, query, args, deletionLimit(q.Limit))
		if err != nil {
			return fmt.Errorf("select traces to delete: %w", err)
		}
		out.More = more
		if len(victims) == 0 {
			return nil
		}
		e, err := s.newEraser(ctx, tx)
		if err != nil {
			return err
		}
		defer e.close()
		for _, v := range victims {
			if err := e.deleteTrace(v, &out); err != nil {
				return fmt.Errorf("delete trace %s: %w", v.traceID, err)
			}
		}
		if err := e.settleServices(); err != nil {
			return err
		}
		return e.dropEmptyParts()
	})
	if err != nil {
		return store.Deleted{}, fmt.Errorf("delete traces: %w", err)
	}
	return out, nil
}

func deletionLimit(n int) int {
	if n <= 0 || n > store.MaxDeleteBatch {
		return store.MaxDeleteBatch
	}
	return n
}

// deletionQuery builds the query selecting the traces of a deletion,
// oldest first, reading them through the index of its most selective
// filter.
func deletionQuery(q store.TraceDeletion) (string, []any, error) {
	if len(q.TraceIDs) == 0 && q.Service == "" && q.UserID == "" && q.Start.IsZero() && q.End.IsZero() {
		return "", nil, errors.New("delete traces: no selection (give trace ids, a service, a user id or a time range)")
	}
	if len(q.TraceIDs) > store.MaxDeleteBatch {
		return "", nil, fmt.Errorf("delete traces: %d trace ids, at most %d at once", len(q.TraceIDs), store.MaxDeleteBatch)
	}
	if q.Deployment != "" && q.Service == "" {
		return "", nil, errors.New("delete traces: a deployment needs its service")
	}
	var (
		from  = "traces"
		where []string
		args  []any
	)
	switch {
	case len(q.TraceIDs) > 0:
		where = append(where, "trace_id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(q.TraceIDs)), ",")+")")
		for _, id := range q.TraceIDs {
			args = append(args, id)
		}
	case q.UserID != "":
		from = "traces INDEXED BY traces_user"
	case q.Service != "":
		from = "traces INDEXED BY traces_service_start"
	default:
		from = "traces INDEXED BY traces_start"
	}
	if q.UserID != "" {
		// The second term lets SQLite use the partial index.
		where = append(where, "user_id = ?", "user_id <> ''")
		args = append(args, q.UserID)
	}
	if q.Service != "" {
		where = append(where, "service = ?")
		args = append(args, q.Service)
	}
	if q.Deployment != "" {
		where = append(where, "deployment = ?")
		args = append(args, q.Deployment)
	}
	if !q.Start.IsZero() {
		where = append(where, "start_ns >= ?")
		args = append(args, q.Start.UnixNano())
	}
	if !q.End.IsZero() {
		where = append(where, "start_ns < ?")
		args = append(args, q.End.UnixNano())
	}
	query := `SELECT id, trace_id, service, deployment, start_ns, models FROM ` + from +
		` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY start_ns LIMIT ?`
	return query, args, nil
}

// victim is a trace to delete.
type victim struct {
	row                 int64
	traceID             string
	service, deployment string
	start               int64
	models              string
}

// selectVictims reads up to limit traces of the query, and whether there
// are more.
func selectVictims(ctx context.Context, tx *sql.Tx, query string, args []any, limit int) ([]victim, bool, error) {
	rows, err := tx.QueryContext(ctx, query, append(args, limit+1)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []victim
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.row, &v.traceID, &v.service, &v.deployment, &v.start, &v.models); err != nil {
			return nil, false, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// eraser holds a deletion transaction's statements.
type eraser struct {
	s   *Store
	ctx context.Context
	tx  *sql.Tx

	spans, logs, instances, verdicts, models, trace *sql.Stmt
	fts                                             map[int64]*sql.Stmt
	services                                        map[svcKey]int64
}

func (s *Store) newEraser(ctx context.Context, tx *sql.Tx) (*eraser, error) {
	e := &eraser{s: s, ctx: ctx, tx: tx, fts: make(map[int64]*sql.Stmt), services: make(map[svcKey]int64)}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&e.spans, `DELETE FROM spans WHERE trace_row = ?`},
		{&e.logs, `DELETE FROM logs WHERE trace_id = ?`},
		{&e.instances, `DELETE FROM run_instances WHERE trace_id = ?`},
		{&e.verdicts, `DELETE FROM eval_cache WHERE trace_id = ?`},
		{&e.models, `DELETE FROM trace_models WHERE model = ? AND start_ns = ? AND trace_id = ?`},
		{&e.trace, `DELETE FROM traces WHERE id = ?`},
	} {
		st, err := tx.PrepareContext(ctx, p.query)
		if err != nil {
			e.close()
			return nil, fmt.Errorf("prepare %q: %w", p.query, err)
		}
		*p.stmt = st
	}
	return e, nil
}

func (e *eraser) close() {
	for _, st := range []*sql.Stmt{e.spans, e.logs, e.instances, e.verdicts, e.models, e.trace} {
		if st != nil {
			_ = st.Close()
		}
	}
	for _, st := range e.fts {
		_ = st.Close()
	}
}

// deleteTrace deletes one trace and everything stored for it.
func (e *eraser) deleteTrace(v victim, out *store.Deleted) error {
	n, err := affected(e.spans.ExecContext(e.ctx, v.row))
	if err != nil {
		return fmt.Errorf("spans: %w", err)
	}
	out.Spans += n
	if n, err = affected(e.logs.ExecContext(e.ctx, v.traceID)); err != nil {
		return fmt.Errorf("log records: %w", err)
	}
	out.LogRecords += n
	if n, err = affected(e.instances.ExecContext(e.ctx, v.traceID)); err != nil {
		return fmt.Errorf("evaluations: %w", err)
	}
	out.Evaluations += n
	if _, err = e.verdicts.ExecContext(e.ctx, v.traceID); err != nil {
		return fmt.Errorf("cached verdicts: %w", err)
	}
	for _, m := range splitModels(v.models) {
		if _, err := e.models.ExecContext(e.ctx, m, v.start, v.traceID); err != nil {
			return fmt.Errorf("model %s: %w", m, err)
		}
	}
	if err := e.deleteText(v.row); err != nil {
		return fmt.Errorf("full-text entry: %w", err)
	}
	if _, err := e.trace.ExecContext(e.ctx, v.row); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	e.services[svcKey{v.service, v.deployment}]++
	out.Traces++
	return nil
}

// deleteText removes a trace row's full-text entry from its part (a part
// that was never created, or was dropped, holds nothing).
func (e *eraser) deleteText(row int64) error {
	p := e.s.ftsPartOf(row)
	st := e.fts[p]
	if st == nil {
		if p != legacyPart && !e.s.ftsParts[p] {
			var n int
			if err := e.tx.QueryRowContext(e.ctx, `SELECT count(*) FROM sqlite_master WHERE name = ?`, ftsTable(p)).Scan(&n); err != nil || n == 0 {
				return err
			}
		}
		var err error
		if st, err = e.tx.PrepareContext(e.ctx, `DELETE FROM `+ftsTable(p)+` WHERE rowid = ?`); err != nil {
			return err
		}
		e.fts[p] = st
	}
	_, err := st.ExecContext(e.ctx, row)
	return err
}

// dropEmptyParts drops the full-text parts this deletion touched that hold
// no trace any more and will not again (newer rows exist, so the writer
// hands out none of theirs), with their trace_blocks rows: dropping a
// table frees its pages at once, where its deleted rows would otherwise
// stay as tombstones (deleteMergeOff). The legacy table stays.
func (e *eraser) dropEmptyParts() error {
	var maxRow int64
	if err := e.tx.QueryRowContext(e.ctx, `SELECT coalesce(max(id), 0) FROM traces`).Scan(&maxRow); err != nil {
		return err
	}
	for p, st := range e.fts {
		if p == legacyPart {
			continue
		}
		lo, hi := e.s.ftsPartRows(p)
		if hi >= maxRow {
			continue
		}
		var left int
		if err := e.tx.QueryRowContext(e.ctx, `SELECT count(*) FROM (SELECT 1 FROM traces WHERE id BETWEEN ? AND ? LIMIT 1)`, lo, hi).Scan(&left); err != nil {
			return err
		}
		if left > 0 {
			continue
		}
		_ = st.Close()
		delete(e.fts, p)
		table := ftsTable(p)
		if _, err := e.tx.ExecContext(e.ctx, `DROP TABLE `+table); err != nil {
			return fmt.Errorf("drop full-text part %s: %w", table, err)
		}
		if _, err := e.tx.ExecContext(e.ctx, `DELETE FROM trace_blocks WHERE block BETWEEN ? AND ?`, lo>>blockShift, hi>>blockShift); err != nil {
			return fmt.Errorf("drop trace blocks of %s: %w", table, err)
		}
		// The writer goroutine owns these; this runs on it. Should the
		// transaction fail after this, the part is known again when the
		// writer next writes into it or a deletion finds its table.
		delete(e.s.ftsParts, p)
		e.s.ftsMerge = slices.DeleteFunc(e.s.ftsMerge, func(q int64) bool { return q == p })
		e.s.log.Info("fts_part_dropped", "table", table)
	}
	return nil
}

// settleServices lowers the services' trace counts by what was deleted and
// drops the services left without traces.
func (e *eraser) settleServices() error {
	for k, n := range e.services {
		// first_seen_ns is the start of the pair's earliest trace: that
		// of the earliest one left (retention looks there for work).
		// Read in start order and stopping at the first of the
		// deployment: min() would read every trace of the service.
		if _, err := e.tx.ExecContext(e.ctx, `UPDATE services SET trace_count = trace_count - ?1,
				first_seen_ns = coalesce((SELECT start_ns FROM traces INDEXED BY traces_service_start
					WHERE service = ?2 AND deployment = ?3 ORDER BY start_ns LIMIT 1), first_seen_ns)
				WHERE service = ?2 AND deployment = ?3`,
			n, k.service, k.deployment); err != nil {
			return fmt.Errorf("update service %s: %w", k.service, err)
		}
	}
	if _, err := e.tx.ExecContext(e.ctx, `DELETE FROM services WHERE trace_count <= 0`); err != nil {
		return fmt.Errorf("drop empty services: %w", err)
	}
	return nil
}

func affected(r sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// DeleteRollups deletes up to limit rollup rows of one resolution whose
// buckets start before before.
func (s *Store) DeleteRollups(ctx context.Context, resolution int64, before time.Time, limit int) (int64, error) {
	limit = deletionLimit(limit)
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = affected(tx.ExecContext(ctx, `DELETE FROM rollups
			WHERE resolution = ?1 AND (kind, bucket, service, deployment, model, status) IN (
				SELECT kind, bucket, service, deployment, model, status FROM rollups
				WHERE resolution = ?1 AND bucket < ?2 LIMIT ?3)`,
			resolution, before.Unix(), limit))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete rollups of resolution %ds: %w", resolution, err)
	}
	return n, nil
}

// DeleteRuns deletes up to limit finished runs created before before, with
// their results and instances. Runs still pending or running are kept
// whatever their age: the scheduler owns them.
func (s *Store) DeleteRuns(ctx context.Context, before time.Time, limit int) (int64, error) {
	limit = deletionLimit(limit)
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT id FROM runs INDEXED BY runs_created
			WHERE created_ns < ? AND status NOT IN ('pending', 'running') ORDER BY created_ns LIMIT ?`,
			before.UnixNano(), limit)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			for _, q := range []string{
				`DELETE FROM run_instances WHERE run_id = ?`,
				`DELETE FROM run_results WHERE run_id = ?`,
				`DELETE FROM runs WHERE id = ?`,
			} {
				if _, err := tx.ExecContext(ctx, q, id); err != nil {
					return fmt.Errorf("run %s: %w", id, err)
				}
			}
		}
		n = int64(len(ids))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete runs: %w", err)
	}
	return n, nil
}
