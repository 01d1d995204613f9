package postgres

// ListTraces: one query, newest first by (start_ns, trace_id), every
// filter a condition on the summary row. The planner picks the index to
// drive it (traces_start, traces_service_start, traces_errors_start, the
// model index trace_models, or the full-text GIN index), so every page is
// full but the last.

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Cursors are URL-safe base64 (unpadded) of: version byte 1, the last
// row's start time as 8 big-endian bytes, its trace id: the SQLite
// backend's form. The page continues with the traces before (start, id).
const cursorVersion = 1

func encodeCursor(startNS int64, traceID string) string {
	b := make([]byte, 9, 9+len(traceID))
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(startNS))
	b = append(b, traceID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string) (int64, string, error) {
	if len(c) > 2*maxIDLen {
		return 0, "", fmt.Errorf("%w: too long", store.ErrInvalidCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("%w: not base64", store.ErrInvalidCursor)
	}
	if len(b) < 9 || b[0] != cursorVersion {
		return 0, "", fmt.Errorf("%w: unknown format", store.ErrInvalidCursor)
	}
	id := string(b[9:])
	if len(id) > maxIDLen {
		return 0, "", fmt.Errorf("%w: bad trace id", store.ErrInvalidCursor)
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), id, nil
}

// ListTraces returns trace summaries matching q, newest first (by start
// time, then trace id, both descending).
func (s *Store) ListTraces(ctx context.Context, q store.TraceQuery) (store.TracePage, error) {
	if s.closed.Load() {
		return store.TracePage{}, store.ErrClosed
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = store.DefaultLimit
	case limit > store.MaxLimit:
		limit = store.MaxLimit
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// a is the alias whose (start_ns, trace_id) drive the order: the
	// model index's when a model is asked.
	from, a := `traces t`, "t"
	var where []string
	if q.Model != "" {
		from, a = `trace_models m JOIN traces t ON t.trace_id = m.trace_id`, "m"
		where = append(where, `m.model = `+arg([]byte(modelName(q.Model))))
	}
	if q.Service != "" {
		where = append(where, `t.service = `+arg([]byte(q.Service)))
	}
	if q.Deployment != "" {
		where = append(where, `t.deployment = `+arg([]byte(q.Deployment)))
	}
	switch q.Status {
	case "":
	case model.StatusError:
		where = append(where, `t.status = 'error'`)
	case model.StatusOK:
		where = append(where, `t.status <> 'error'`)
	default:
		where = append(where, `t.status = `+arg(validText(string(q.Status))))
	}
	if q.MinDuration > 0 {
		where = append(where, `t.duration_ns >= `+arg(int64(q.MinDuration)))
	}
	var since int64
	hasSince := !q.Since.IsZero()
	if hasSince {
		since = q.Since.UnixNano()
		where = append(where, a+`.start_ns >= `+arg(since))
	}
	if !q.Until.IsZero() {
		until := q.Until.UnixNano()
		if hasSince && since >= until {
			return store.TracePage{}, nil
		}
		where = append(where, a+`.start_ns < `+arg(until))
	}
	if q.Cursor != "" {
		start, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return store.TracePage{}, fmt.Errorf("postgres: list traces: %w", err)
		}
		where = append(where, `(`+a+`.start_ns, `+a+`.trace_id) < (`+arg(start)+`, `+arg([]byte(id))+`)`)
	}
	if q.Text != "" {
		if tsq := ftsQuery(q.Text); tsq != "" {
			where = append(where, `t.fts @@ `+arg(tsq)+`::tsquery`)
		}
	}
	query := `SELECT t.trace_id, t.start_ns, t.body FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY ` + a + `.start_ns DESC, ` + a + `.trace_id DESC LIMIT ` + strconv.Itoa(limit+1)
	rows, err := s.rpool.Query(ctx, query, args...)
	if err != nil {
		return store.TracePage{}, s.readErr("list traces", err)
	}
	defer rows.Close()
	page := store.TracePage{Traces: make([]model.Trace, 0, min(limit, 64))}
	var lastStart int64
	var lastID string
	for rows.Next() {
		var id, blob []byte
		var start int64
		if err := rows.Scan(&id, &start, &blob); err != nil {
			return store.TracePage{}, s.readErr("list traces", err)
		}
		if len(page.Traces) == limit {
			page.NextCursor = encodeCursor(lastStart, lastID)
			break
		}
		tr, err := s.decodeTraceBlob(blob)
		if err != nil {
			return store.TracePage{}, fmt.Errorf("postgres: list traces: trace %s: %w", id, err)
		}
		page.Traces = append(page.Traces, tr)
		lastStart, lastID = start, string(id)
	}
	if err := rows.Err(); err != nil {
		return store.TracePage{}, s.readErr("list traces", err)
	}
	return page, nil
}
