package postgres

// ListTraces: one query, newest first by (start_ns, trace_id), every
// filter a condition on the summary row. The planner picks the index to
// drive it (traces_start, traces_service_start, traces_errors_start, the
// model index trace_models, or the full-text GIN index), so every page is
// full but the last.
//
// A text is the exception: the planner cannot tell a rare word from a
// common one (a lexeme missing from the column's statistics is estimated
// at half the rarest one listed, about 0.4% of the traces), so for a
// rare word it walks traces_start backwards checking every trace's
// tsvector, through the whole table when the word is rarer than it
// thinks (0.9 s at a million spans for a word in 1 trace in 20,000).
// listText decides with what it reads instead: the newest textScanBudget
// traces that pass the other filters are checked first (a common word
// fills its page there); only when they hold fewer matches than a page,
// and there are more traces, does the GIN index drive, whose matches
// are then few (under 1 in textScanBudget/limit).

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// Cursors are URL-safe base64 (unpadded) of: version byte 1, the last
// row's start time as 8 big-endian bytes, its trace id: the SQLite
// backend's form. The page continues with the traces before (start, id).
const cursorVersion = 1

// textScanBudget is how many traces (passing the filters other than the
// text) a text search checks newest first before the full-text index
// drives it instead.
const textScanBudget = 5000

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
		where = append(where, `m.model = `+arg([]byte(payload.ModelName(q.Model))))
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
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	order := ` ORDER BY ` + a + `.start_ns DESC, ` + a + `.trace_id DESC`
	lim := ` LIMIT ` + strconv.Itoa(limit+1)
	cols := a + `.trace_id, ` + a + `.start_ns, t.body`
	if q.Text != "" {
		if tsq := ftsQuery(q.Text); tsq != "" {
			return s.listText(ctx, from, a, where, args, tsq, limit)
		}
	}
	page, _, err := s.queryPage(ctx, limit, `SELECT `+cols+` FROM `+from+cond+order+lim, args...)
	return page, err
}

// listText answers a search with a text (see the top of this file): the
// newest textScanBudget traces passing the other filters (where, over
// from, ordered by alias a) first, then, if they hold less than a page
// and more traces pass, the full-text index.
func (s *Store) listText(ctx context.Context, from, a string, where []string, args []any, tsq string, limit int) (store.TracePage, error) {
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	order := ` ORDER BY ` + a + `.start_ns DESC, ` + a + `.trace_id DESC`
	lim := ` LIMIT ` + strconv.Itoa(limit+1)
	budget := ` LIMIT ` + strconv.Itoa(textScanBudget)
	text := `$` + strconv.Itoa(len(args)+1) + `::tsquery`
	targs := append(slices.Clip(args), tsq)

	// The newest traces, checked one by one: the subquery's order is the
	// page's, so the scan stops at the page's last match.
	first := `SELECT trace_id, start_ns, body FROM (SELECT ` + a + `.trace_id AS trace_id, ` + a + `.start_ns AS start_ns, t.fts, t.body FROM ` +
		from + cond + order + budget + `) c WHERE c.fts @@ ` + text + ` ORDER BY c.start_ns DESC, c.trace_id DESC` + lim
	page, n, err := s.queryPage(ctx, limit, first, targs...)
	if err != nil || n > limit {
		return page, err
	}
	// Fewer matches than a page: the listing ends here unless more traces
	// than the budget pass the other filters.
	var passing int
	count := `SELECT count(*) FROM (SELECT 1 FROM ` + from + cond + order + budget + `) x`
	if err := s.rpool.QueryRow(ctx, count, args...).Scan(&passing); err != nil {
		return store.TracePage{}, s.readErr("list traces", err)
	}
	if passing < textScanBudget {
		return page, nil
	}
	// A rare text: its matches, through the GIN index (the CTE has no order
	// for the planner to follow), newest first, then the page's bodies.
	hits := `WITH hits AS MATERIALIZED (SELECT ` + a + `.trace_id AS trace_id, ` + a + `.start_ns AS start_ns FROM ` + from +
		` WHERE ` + strings.Join(append(slices.Clip(where), `t.fts @@ `+text), ` AND `) + `)
		SELECT p.trace_id, p.start_ns, t.body FROM (SELECT trace_id, start_ns FROM hits ORDER BY start_ns DESC, trace_id DESC` + lim + `) p
		JOIN traces t ON t.trace_id = p.trace_id ORDER BY p.start_ns DESC, p.trace_id DESC`
	page, _, err = s.queryPage(ctx, limit, hits, targs...)
	return page, err
}

// queryPage runs a page's query (trace_id, start_ns, body; limit+1 rows at
// most) and returns the page and the rows read.
func (s *Store) queryPage(ctx context.Context, limit int, query string, args ...any) (store.TracePage, int, error) {
	rows, err := s.rpool.Query(ctx, query, args...)
	if err != nil {
		return store.TracePage{}, 0, s.readErr("list traces", err)
	}
	defer rows.Close()
	page := store.TracePage{Traces: make([]model.Trace, 0, min(limit, 64))}
	var lastStart int64
	var lastID string
	n := 0
	for rows.Next() {
		n++
		var id, blob []byte
		var start int64
		if err := rows.Scan(&id, &start, &blob); err != nil {
			return store.TracePage{}, 0, s.readErr("list traces", err)
		}
		if len(page.Traces) == limit {
			page.NextCursor = encodeCursor(lastStart, lastID)
			break
		}
		tr, err := s.decodeTraceBlob(blob)
		if err != nil {
			return store.TracePage{}, 0, fmt.Errorf("postgres: list traces: trace %s: %w", id, err)
		}
		page.Traces = append(page.Traces, tr)
		lastStart, lastID = start, string(id)
	}
	if err := rows.Err(); err != nil {
		return store.TracePage{}, 0, s.readErr("list traces", err)
	}
	return page, n, nil
}
