package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
	"github.com/flowwatch/flowwatch/internal/textclip"
)

// Full-text query bounds.
const (
	maxQueryTerms   = 32
	maxQueryTermLen = 256
)

func (s *Store) decodeTraceBlob(blob []byte) (model.Trace, error) {
	p, err := s.codec.Open(blob)
	if err != nil {
		return model.Trace{}, err
	}
	var tr model.Trace
	if err := payload.DecodeTrace(p, &tr); err != nil {
		return model.Trace{}, fmt.Errorf("decode summary: %w", err)
	}
	return tr, nil
}

// GetTrace returns a trace's summary, its spans ordered by start time and
// the log records attached to it, read from one snapshot.
func (s *Store) GetTrace(ctx context.Context, traceID string) (model.TraceDetail, error) {
	if s.closed.Load() {
		return model.TraceDetail{}, store.ErrClosed
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return model.TraceDetail{}, s.readErr("get trace", err)
	}
	defer func() { _ = tx.Rollback() }()

	var row int64
	var blob []byte
	err = tx.QueryRowContext(ctx, `SELECT id, body FROM traces WHERE trace_id = ?`, traceID).Scan(&row, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return model.TraceDetail{}, fmt.Errorf("sqlite: trace %q: %w", traceID, store.ErrNotFound)
	}
	if err != nil {
		return model.TraceDetail{}, s.readErr("get trace "+traceID, err)
	}
	var d model.TraceDetail
	if d.Trace, err = s.decodeTraceBlob(blob); err != nil {
		return model.TraceDetail{}, fmt.Errorf("sqlite: trace %s: %w", traceID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+spanColumns+` FROM spans WHERE trace_row = ? ORDER BY start_ns, span_id`, row)
	if err != nil {
		return model.TraceDetail{}, s.readErr("get spans of trace "+traceID, err)
	}
	if d.Spans, err = s.scanSpans(rows); err != nil {
		return model.TraceDetail{}, fmt.Errorf("sqlite: spans of trace %s: %w", traceID, err)
	}
	rows, err = tx.QueryContext(ctx, traceLogsQuery, traceID)
	if err != nil {
		return model.TraceDetail{}, s.readErr("get log records of trace "+traceID, err)
	}
	if d.Logs, err = s.scanLogs(rows, traceID); err != nil {
		return model.TraceDetail{}, fmt.Errorf("sqlite: log records of trace %s: %w", traceID, err)
	}
	s.derive(d.Spans, d.Logs)
	return d, nil
}

// derive recomputes the derived fields of stored spans from their raw
// fields and log records (logs ordered by time; any span's records may be
// among them).
func (s *Store) derive(spans []model.Span, logs []model.LogRecord) {
	bySpan := make(map[string][]model.LogRecord)
	for _, l := range logs {
		if l.SpanID != "" {
			bySpan[l.SpanID] = append(bySpan[l.SpanID], l)
		}
	}
	for i := range spans {
		s.deriver.DeriveSpan(&spans[i], bySpan[spans[i].SpanID])
	}
}

// scanSpans reads rows of spanColumns and closes them.
func (s *Store) scanSpans(rows *sql.Rows) ([]model.Span, error) {
	defer rows.Close()
	var out []model.Span
	for rows.Next() {
		var sp model.Span
		var start, end int64
		var status string
		var blob []byte
		if err := rows.Scan(&sp.TraceID, &sp.SpanID, &sp.ParentSpanID, &sp.Name, &start, &end, &status, &blob); err != nil {
			return nil, err
		}
		sp.StartTime = payload.FromUnixNano(start)
		sp.EndTime = payload.FromUnixNano(end)
		sp.StatusCode = model.Status(status)
		p, err := s.codec.Open(blob)
		if err != nil {
			return nil, fmt.Errorf("span %s: %w", sp.SpanID, err)
		}
		if err := payload.DecodeSpan(p, &sp); err != nil {
			return nil, fmt.Errorf("span %s: decode: %w", sp.SpanID, err)
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

// scanLogs reads rows of (span_id, time_ns, body) and closes them.
func (s *Store) scanLogs(rows *sql.Rows, traceID string) ([]model.LogRecord, error) {
	defer rows.Close()
	var out []model.LogRecord
	for rows.Next() {
		l := model.LogRecord{TraceID: traceID}
		var t int64
		var blob []byte
		if err := rows.Scan(&l.SpanID, &t, &blob); err != nil {
			return nil, err
		}
		l.Time = payload.FromUnixNano(t)
		p, err := s.codec.Open(blob)
		if err != nil {
			return nil, fmt.Errorf("log record of span %s: %w", l.SpanID, err)
		}
		if err := payload.DecodeLog(p, &l); err != nil {
			return nil, fmt.Errorf("log record of span %s: decode: %w", l.SpanID, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// TraceSummaries returns the summaries of the traces among ids that the
// store holds, by trace id.
func (s *Store) TraceSummaries(ctx context.Context, ids []string) (map[string]model.Trace, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if len(ids) > store.MaxSummaryIDs {
		return nil, fmt.Errorf("sqlite: trace summaries: %d ids, at most %d", len(ids), store.MaxSummaryIDs)
	}
	out := make(map[string]model.Trace, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT trace_id, body FROM traces WHERE trace_id IN (?`+
		strings.Repeat(`, ?`, len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, s.readErr("trace summaries", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var blob []byte
		if err := rows.Scan(&id, &blob); err != nil {
			return nil, s.readErr("trace summaries", err)
		}
		tr, err := s.decodeTraceBlob(blob)
		if err != nil {
			return nil, fmt.Errorf("sqlite: trace %s: %w", id, err)
		}
		out[id] = tr
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("trace summaries", err)
	}
	return out, nil
}

// ListServices returns the services and deployments seen, ordered by
// service then deployment.
func (s *Store) ListServices(ctx context.Context) ([]model.ServiceInfo, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT service, deployment, first_seen_ns, last_seen_ns, trace_count
		FROM services ORDER BY service, deployment`)
	if err != nil {
		return nil, s.readErr("list services", err)
	}
	defer rows.Close()
	var out []model.ServiceInfo
	for rows.Next() {
		var si model.ServiceInfo
		var first, last int64
		if err := rows.Scan(&si.Service, &si.Deployment, &first, &last, &si.TraceCount); err != nil {
			return nil, s.readErr("list services", err)
		}
		si.FirstSeen = payload.FromUnixNano(first)
		si.LastSeen = payload.FromUnixNano(last)
		out = append(out, si)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("list services", err)
	}
	return out, nil
}

// Cursors are URL-safe base64 (unpadded) of: version byte 1, the last
// row's start time as 8 big-endian bytes, its trace id (see search.go).
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
	if !utf8.ValidString(id) || len(id) > maxIDLen {
		return 0, "", fmt.Errorf("%w: bad trace id", store.ErrInvalidCursor)
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), id, nil
}

// ftsQuery turns user text into an FTS5 query that cannot be a syntax
// error: the text is split into words as the index's tokenizer splits it
// (runs of letters and digits), each word is quoted as a string, and all
// must match (AND); the last word also matches as a prefix. Text without
// words gives "" (no full-text filter). A word the tokenizer would split
// further would be a phrase, which the index (detail=none) rejects: hence
// the exact agreement with the tokenizer, checked by
// TestFTSTokenizerAgreement.
func ftsQuery(text string) string {
	return buildFTSQuery(text, ftsWordRune)
}

// ftsWordRune reports whether the index's tokenizer keeps r in a word.
func ftsWordRune(r rune) bool {
	return (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r)) && !tokenizerSeparator(r)
}

// ftsQueryASCII is the fallback of ftsQuery: words of ASCII letters and
// digits only, which every tokenizer keeps whole.
func ftsQueryASCII(text string) string {
	return buildFTSQuery(text, func(r rune) bool {
		return r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
	})
}

// tokenizerSeparator reports the characters Go's Unicode tables call
// letters but SQLite's unicode61 tokenizer (older tables) treats as
// separators: New Tai Lue vowel signs and two Vedic signs.
func tokenizerSeparator(r rune) bool {
	return (r >= 0x19B0 && r <= 0x19C0) || r == 0x19C8 || r == 0x19C9 || r == 0x1CF2 || r == 0x1CF3
}

func buildFTSQuery(text string, inWord func(rune) bool) string {
	words := strings.FieldsFunc(text, func(r rune) bool { return !inWord(r) })
	if len(words) > maxQueryTerms {
		words = words[:maxQueryTerms]
	}
	var b strings.Builder
	for i, w := range words {
		if len(w) > maxQueryTermLen {
			w, _ = textclip.Bytes(w, maxQueryTermLen)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		b.WriteString(w) // letters and digits only: nothing to escape
		b.WriteByte('"')
		if i == len(words)-1 {
			b.WriteByte('*')
		}
	}
	return b.String()
}
