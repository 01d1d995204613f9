package postgres

// Trace reads: one trace, summaries by id, services.

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// readErr wraps a read's error with what was read.
func (s *Store) readErr(what string, err error) error {
	return fmt.Errorf("postgres: %s: %w", what, s.mapErr(err))
}

func (s *Store) decodeTraceBlob(blob []byte) (model.Trace, error) {
	p, err := s.tr.codec.Open(blob)
	if err != nil {
		return model.Trace{}, err
	}
	var tr model.Trace
	if err := payload.DecodeTrace(p, &tr); err != nil {
		return model.Trace{}, fmt.Errorf("decode summary: %w", err)
	}
	return tr, nil
}

// GetTrace returns a trace's summary, its spans ordered by start time
// (then span id) and its log records (by time, then as sent), read from
// one snapshot.
func (s *Store) GetTrace(ctx context.Context, traceID string) (model.TraceDetail, error) {
	if s.closed.Load() {
		return model.TraceDetail{}, store.ErrClosed
	}
	tx, err := s.rpool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return model.TraceDetail{}, s.readErr("get trace", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	id := []byte(traceID)
	b := &pgx.Batch{}
	b.Queue(`SELECT body FROM traces WHERE trace_id = $1`, id)
	b.Queue(`SELECT `+spanColumns+` FROM spans WHERE trace_id = $1 ORDER BY start_ns, span_id`, id)
	b.Queue(`SELECT trace_id, span_id, time_ns, body FROM logs WHERE trace_id = $1 ORDER BY time_ns, id`, id)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	var blob []byte
	if err := br.QueryRow().Scan(&blob); err != nil {
		if notFound(err) {
			return model.TraceDetail{}, fmt.Errorf("postgres: trace %q: %w", traceID, store.ErrNotFound)
		}
		return model.TraceDetail{}, s.readErr("get trace "+traceID, err)
	}
	var d model.TraceDetail
	if d.Trace, err = s.decodeTraceBlob(blob); err != nil {
		return model.TraceDetail{}, fmt.Errorf("postgres: trace %s: %w", traceID, err)
	}
	rows, err := br.Query()
	if err != nil {
		return model.TraceDetail{}, s.readErr("get spans of trace "+traceID, err)
	}
	if d.Spans, err = s.scanSpans(rows); err != nil {
		return model.TraceDetail{}, s.readErr("get spans of trace "+traceID, err)
	}
	rows, err = br.Query()
	if err != nil {
		return model.TraceDetail{}, s.readErr("get log records of trace "+traceID, err)
	}
	if err := s.scanLogRows(rows, func(l model.LogRecord) { d.Logs = append(d.Logs, l) }); err != nil {
		return model.TraceDetail{}, s.readErr("get log records of trace "+traceID, err)
	}
	bySpan := make(map[string][]model.LogRecord)
	for _, l := range d.Logs {
		if l.SpanID != "" {
			bySpan[l.SpanID] = append(bySpan[l.SpanID], l)
		}
	}
	for i := range d.Spans {
		s.opts.Deriver.DeriveSpan(&d.Spans[i], bySpan[d.Spans[i].SpanID])
	}
	return d, nil
}

// TraceSummaries returns the summaries of the traces among ids that the
// store holds, by trace id.
func (s *Store) TraceSummaries(ctx context.Context, ids []string) (map[string]model.Trace, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if len(ids) > store.MaxSummaryIDs {
		return nil, fmt.Errorf("postgres: trace summaries: %d ids, at most %d", len(ids), store.MaxSummaryIDs)
	}
	out := make(map[string]model.Trace, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.rpool.Query(ctx, `SELECT trace_id, body FROM traces WHERE trace_id = ANY($1::bytea[])`, bytesOf(ids))
	if err != nil {
		return nil, s.readErr("trace summaries", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, blob []byte
		if err := rows.Scan(&id, &blob); err != nil {
			return nil, s.readErr("trace summaries", err)
		}
		tr, err := s.decodeTraceBlob(blob)
		if err != nil {
			return nil, fmt.Errorf("postgres: trace %s: %w", id, err)
		}
		out[string(id)] = tr
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("trace summaries", err)
	}
	return out, nil
}

// ListServices returns the services and deployments seen, ordered by
// service then deployment (bytewise).
func (s *Store) ListServices(ctx context.Context) ([]model.ServiceInfo, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rpool.Query(ctx, `SELECT service, deployment, first_seen_ns, last_seen_ns, trace_count
		FROM services ORDER BY service, deployment`)
	if err != nil {
		return nil, s.readErr("list services", err)
	}
	out, err := scanServices(rows)
	if err != nil {
		return nil, s.readErr("list services", err)
	}
	return out, nil
}

func scanServices(rows pgx.Rows) ([]model.ServiceInfo, error) {
	defer rows.Close()
	var out []model.ServiceInfo
	for rows.Next() {
		var service, deployment []byte
		var first, last, n int64
		if err := rows.Scan(&service, &deployment, &first, &last, &n); err != nil {
			return nil, err
		}
		out = append(out, model.ServiceInfo{Service: string(service), Deployment: string(deployment),
			FirstSeen: payload.FromUnixNano(first), LastSeen: payload.FromUnixNano(last), TraceCount: n})
	}
	return out, rows.Err()
}

// ServicesPage returns a page of the services seen, by service then
// deployment.
func (s *Store) ServicesPage(ctx context.Context, q store.ServiceQuery) (store.ServicePage, error) {
	if s.closed.Load() {
		return store.ServicePage{}, store.ErrClosed
	}
	limit := q.Limit
	if limit <= 0 || limit > store.MaxLimit {
		limit = store.MaxLimit
	}
	query := `SELECT service, deployment, first_seen_ns, last_seen_ns, trace_count FROM services`
	args := []any{}
	if q.Cursor != "" {
		svc, dep, err := store.DecodeServiceCursor(q.Cursor)
		if err != nil {
			return store.ServicePage{}, fmt.Errorf("postgres: %w", err)
		}
		query += ` WHERE (service, deployment) > ($1, $2)`
		args = append(args, []byte(svc), []byte(dep))
	}
	query += fmt.Sprintf(` ORDER BY service, deployment LIMIT %d`, limit+1)
	rows, err := s.rpool.Query(ctx, query, args...)
	if err != nil {
		return store.ServicePage{}, s.readErr("list services", err)
	}
	all, err := scanServices(rows)
	if err != nil {
		return store.ServicePage{}, s.readErr("list services", err)
	}
	page := store.ServicePage{Services: all}
	if len(all) > limit {
		page.Services = all[:limit]
		last := page.Services[limit-1]
		page.NextCursor = store.EncodeServiceCursor(last.Service, last.Deployment)
	}
	return page, nil
}
