package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/store"
)

// DeleteTraces deletes up to q.Limit traces matching q, oldest first, in
// one transaction: their spans, log records, full-text entries (on the
// summary row), model index rows, evaluations (run instances and cached
// verdicts, the runs area's tables) and summary rows, and the services'
// trace counts and first seen times (a service left without traces
// leaves the services list). It holds the traces' advisory locks, as a
// write does, so that a write of a trace being deleted waits and then
// stores it afresh. Rollups are left alone: they hold counts, not content.
func (s *Store) DeleteTraces(ctx context.Context, q store.TraceDeletion) (store.Deleted, error) {
	if s.closed.Load() {
		return store.Deleted{}, store.ErrClosed
	}
	query, args, err := deletionQuery(q)
	if err != nil {
		return store.Deleted{}, err
	}
	limit := deletionLimit(q.Limit)
	var out store.Deleted
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		out = store.Deleted{}
		rows, err := tx.Query(ctx, query+` LIMIT `+strconv.Itoa(limit+1), args...)
		if err != nil {
			return fmt.Errorf("select traces to delete: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id []byte
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("select traces to delete: %w", err)
			}
			ids = append(ids, string(id))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("select traces to delete: %w", err)
		}
		if len(ids) > limit {
			ids, out.More = ids[:limit], true
		}
		if len(ids) == 0 {
			return nil
		}
		return s.deleteTraces(ctx, tx, ids, &out)
	})
	if err != nil {
		return store.Deleted{}, fmt.Errorf("postgres: delete traces: %w", err)
	}
	return out, nil
}

// deleteTraces deletes the traces ids and what is stored for them.
func (s *Store) deleteTraces(ctx context.Context, tx pgx.Tx, ids []string, out *store.Deleted) error {
	bids := bytesOf(ids)
	// The runs area keys evaluations by trace id as text: ids that text
	// cannot hold have none.
	var textIDs []string
	for _, id := range ids {
		if utf8.ValidString(id) && !strings.ContainsRune(id, 0) {
			textIDs = append(textIDs, id)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT count(pg_advisory_xact_lock($1::int4, k)) FROM unnest($2::int4[]) AS k`, traceLockClass, traceLockKeys(ids))
	// Evaluations first, while the summaries tell where the traces
	// started: their runs were created after that, so the partitions of
	// earlier days are not read.
	b.Queue(`DELETE FROM run_instances WHERE trace_id = ANY($1::text[])
		AND created_ns >= `+instancesSince(`trace_id = ANY($2::bytea[])`, `cardinality($2::bytea[])`), textIDs, bids)
	b.Queue(`DELETE FROM traces WHERE trace_id = ANY($1::bytea[]) RETURNING service, deployment`, bids)
	b.Queue(`DELETE FROM spans WHERE trace_id = ANY($1::bytea[])`, bids)
	b.Queue(`DELETE FROM logs WHERE trace_id = ANY($1::bytea[])`, bids)
	b.Queue(`DELETE FROM log_traces WHERE trace_id = ANY($1::bytea[])`, bids)
	b.Queue(`DELETE FROM trace_models WHERE trace_id = ANY($1::bytea[])`, bids)
	b.Queue(`DELETE FROM eval_cache WHERE trace_id = ANY($1::text[])`, textIDs)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("lock traces: %w", err)
	}
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("evaluations: %w", err)
	}
	out.Evaluations += tag.RowsAffected()
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("summaries: %w", err)
	}
	services := make(map[svcKey]int64)
	for rows.Next() {
		var service, deployment []byte
		if err := rows.Scan(&service, &deployment); err != nil {
			rows.Close()
			return fmt.Errorf("summaries: %w", err)
		}
		services[svcKey{string(service), string(deployment)}]++
		out.Traces++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("summaries: %w", err)
	}
	for _, c := range []struct {
		what string
		n    *int64
	}{{"spans", &out.Spans}, {"log records", &out.LogRecords}, {"traces with log records", nil},
		{"model index", nil}, {"cached verdicts", nil}} {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("%s: %w", c.what, err)
		}
		if c.n != nil {
			*c.n += tag.RowsAffected()
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	return settleServices(ctx, tx, services)
}

// settleServices lowers the services' trace counts by what was deleted,
// in key order (as writes lock them), moves their first seen times to
// their earliest trace left and drops those left without traces.
func settleServices(ctx context.Context, tx pgx.Tx, deleted map[svcKey]int64) error {
	if len(deleted) == 0 {
		return nil
	}
	keys := make([]svcKey, 0, len(deleted))
	for k := range deleted {
		keys = append(keys, k)
	}
	sortSvcKeys(keys)
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(`UPDATE services SET trace_count = trace_count - $3,
				first_seen_ns = coalesce((SELECT start_ns FROM traces WHERE service = $1 AND deployment = $2
					ORDER BY start_ns LIMIT 1), first_seen_ns)
			WHERE service = $1 AND deployment = $2`, []byte(k.service), []byte(k.deployment), deleted[k])
	}
	services, deployments := make([][]byte, len(keys)), make([][]byte, len(keys))
	for i, k := range keys {
		services[i], deployments[i] = []byte(k.service), []byte(k.deployment)
	}
	b.Queue(`DELETE FROM services s USING unnest($1::bytea[], $2::bytea[]) AS d(service, deployment)
		WHERE s.service = d.service AND s.deployment = d.deployment AND s.trace_count <= 0`, services, deployments)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("update services: %w", err)
	}
	return nil
}

func deletionLimit(n int) int {
	if n <= 0 || n > store.MaxDeleteBatch {
		return store.MaxDeleteBatch
	}
	return n
}

// deletionQuery builds the query selecting the trace ids of a deletion,
// oldest first (the caller adds the limit).
func deletionQuery(q store.TraceDeletion) (string, []any, error) {
	if len(q.TraceIDs) == 0 && q.Service == "" && q.UserID == "" && q.Start.IsZero() && q.End.IsZero() {
		return "", nil, errors.New("postgres: delete traces: no selection (give trace ids, a service, a user id or a time range)")
	}
	if len(q.TraceIDs) > store.MaxDeleteBatch {
		return "", nil, fmt.Errorf("postgres: delete traces: %d trace ids, at most %d at once", len(q.TraceIDs), store.MaxDeleteBatch)
	}
	if q.Deployment != "" && q.Service == "" {
		return "", nil, errors.New("postgres: delete traces: a deployment needs its service")
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(q.TraceIDs) > 0 {
		where = append(where, `trace_id = ANY(`+arg(bytesOf(q.TraceIDs))+`::bytea[])`)
	}
	if q.UserID != "" {
		// The second term lets the planner use the partial index.
		where = append(where, `user_id = `+arg([]byte(q.UserID)), `user_id <> ''`)
	}
	if q.Service != "" {
		where = append(where, `service = `+arg([]byte(q.Service)))
	}
	if q.Deployment != "" {
		where = append(where, `deployment = `+arg([]byte(q.Deployment)))
	}
	if !q.Start.IsZero() {
		where = append(where, `start_ns >= `+arg(q.Start.UnixNano()))
	}
	if !q.End.IsZero() {
		where = append(where, `start_ns < `+arg(q.End.UnixNano()))
	}
	return `SELECT trace_id FROM traces WHERE ` + strings.Join(where, ` AND `) + ` ORDER BY start_ns, trace_id`, args, nil
}

// sortSvcKeys sorts keys by service, then deployment: the order in
// which writes and deletions lock services rows.
func sortSvcKeys(keys []svcKey) {
	slices.SortFunc(keys, func(a, b svcKey) int {
		if c := cmp.Compare(a.service, b.service); c != 0 {
			return c
		}
		return cmp.Compare(a.deployment, b.deployment)
	})
}
