package sqlite

import (
	"cmp"
	"container/heap"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// How ListTraces finds a page
//
// Every filter can read its traces newest first, by (start_ns, trace_id)
// descending: the time window through traces_start, a service through
// traces_service_start, failed traces through traces_errors_start, a model
// through trace_models, a minimum duration through traces_duration_start
// (a merge of the duration buckets at or above the minimum's), and a text
// through the full-text parts, read block by block (textScan). One of them
// drives: its traces are read in that order and the other filters are
// checked on each, from traces_filters (an index of what the filters look
// at, by trace row: a few dozen bytes a trace where the row holds a few
// kilobytes), until the page is full.
//
// The driver is the filter likely to have the fewest traces: the first
// probeRows traces of each are counted in the window; one that runs out
// drives (the one with the fewest), else the one whose probeRows traces
// reach furthest back. With a text, the text drives unless another filter
// runs out, or matches less than half the share of traces the text matches
// in the newest full-text part; then that filter drives and the text is
// checked on its traces a batch at a time (scanWithText).
//
// A search whose filters rarely hold together (a service and a model it
// seldom calls, say, or a text found only in the answers of traces that
// failed before answering) could still read every trace of the window: once
// defaultScanBudget traces read failed the filters (or full-text matches
// were read for nothing), it answers with the traces found so far, possibly
// none, and a cursor that continues where it stopped. A page shorter than
// the limit may thus have a next cursor; only a page without one is the
// last. A listing with no filter but the time window never stops short.

// Search bounds.
const (
	// probeRows is how many traces of each candidate driver are counted to
	// choose the driver.
	probeRows = 256
	// defaultScanBudget is how many traces failing its filters a search
	// reads before it answers with what it found (and a cursor to
	// continue).
	defaultScanBudget = 10000
)

// Cursors: URL-safe base64 (unpadded) of version byte 1, a start time (8
// bytes, big-endian) and a trace id: the page continues with the traces
// before (start, trace id), newest first. A cursor with an empty trace id
// continues with the traces that started before start, and is issued by a
// search that stopped between two start times.

// ListTraces returns trace summaries matching q, newest first (by start
// time, then trace id, both descending).
func (s *Store) ListTraces(ctx context.Context, q store.TraceQuery) (store.TracePage, error) {
	if s.closed.Load() {
		return store.TracePage{}, store.ErrClosed
	}
	sr, err := newSearch(s, q)
	if err != nil {
		return store.TracePage{}, fmt.Errorf("sqlite: list traces: %w", err)
	}
	if sr.empty() {
		return store.TracePage{}, nil
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.TracePage{}, s.readErr("list traces", err)
	}
	defer func() { _ = tx.Rollback() }()
	sr.ctx, sr.tx = ctx, tx

	res, err := sr.run()
	if err != nil && sr.match != "" && strings.Contains(err.Error(), "fts5") {
		// A word the tokenizer splits in two is a phrase, which the index
		// cannot answer (ftsQuery knows every such character of this
		// SQLite; this is for a newer Unicode than it knows). Fall back to
		// the words' ASCII letters and digits.
		if sr.match = ftsQueryASCII(q.Text); sr.match == "" {
			return store.TracePage{}, nil
		}
		res, err = sr.run()
	}
	if err != nil {
		return store.TracePage{}, s.readErr("list traces", err)
	}
	page := store.TracePage{Traces: make([]model.Trace, 0, len(res.page))}
	if res.more {
		page.NextCursor = encodeCursor(res.next.start, res.next.id)
	}
	if len(res.page) == 0 {
		return page, nil
	}
	rows := make([]int64, len(res.page))
	for i, c := range res.page {
		rows[i] = c.row
	}
	bodies, err := sr.bodies(rows)
	if err != nil {
		return store.TracePage{}, s.readErr("list traces", err)
	}
	for _, c := range res.page {
		blob, ok := bodies[c.row]
		if !ok {
			return store.TracePage{}, fmt.Errorf("sqlite: list traces: trace %s: summary missing", c.id)
		}
		tr, err := s.decodeTraceBlob(blob)
		if err != nil {
			return store.TracePage{}, fmt.Errorf("sqlite: list traces: trace %s: %w", c.id, err)
		}
		page.Traces = append(page.Traces, tr)
	}
	return page, nil
}

// key orders traces: by start time, then trace id.
type key struct {
	start int64
	id    string
}

func (a key) less(b key) bool { return a.start < b.start || a.start == b.start && a.id < b.id }

// cand is a trace read by a driver: its row, key and what the other
// filters look at.
type cand struct {
	row int64
	key
	service, deployment, status, models string
	duration                            int64
}

// driver is a way to read the traces matching a filter newest first.
type driver int

const (
	byTime driver = iota
	byService
	byErrors
	byModel
	byDuration
	byText
)

func (d driver) String() string {
	return [...]string{"time", "service", "errors", "model", "duration", "text"}[d]
}

// search is one ListTraces call.
type search struct {
	s     *Store
	ctx   context.Context
	tx    *sql.Tx
	q     store.TraceQuery
	limit int
	match string // full-text query, "" for none
	model string // q.Model as trace_models holds it
	// since is the inclusive lower bound on start times (hasSince), upper
	// the exclusive upper bound on keys (hasUpper): from Until and the
	// cursor.
	since    int64
	hasSince bool
	upper    key
	hasUpper bool
}

// result is a page of candidates, in order, and whether (and where) the
// search continues.
type result struct {
	page []cand
	more bool
	next key
}

func newSearch(s *Store, q store.TraceQuery) (*search, error) {
	sr := &search{s: s, q: q, limit: q.Limit, match: ftsQuery(q.Text), model: payload.ModelName(q.Model)}
	switch {
	case sr.limit <= 0:
		sr.limit = store.DefaultLimit
	case sr.limit > store.MaxLimit:
		sr.limit = store.MaxLimit
	}
	if !q.Since.IsZero() {
		sr.since, sr.hasSince = q.Since.UnixNano(), true
	}
	if !q.Until.IsZero() {
		sr.upper, sr.hasUpper = key{start: q.Until.UnixNano()}, true
	}
	if q.Cursor != "" {
		start, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		if c := (key{start, id}); !sr.hasUpper || c.less(sr.upper) {
			sr.upper, sr.hasUpper = c, true
		}
	}
	return sr, nil
}

// empty reports whether the window holds no key at all.
func (sr *search) empty() bool {
	return sr.hasSince && sr.hasUpper && !(key{start: sr.since}).less(sr.upper)
}

// drivers returns the drivers q allows besides time and text.
func (sr *search) drivers() []driver {
	var ds []driver
	if sr.q.Service != "" {
		ds = append(ds, byService)
	}
	if sr.q.Status == model.StatusError {
		ds = append(ds, byErrors)
	}
	if sr.q.Model != "" {
		ds = append(ds, byModel)
	}
	if sr.q.MinDuration > 0 {
		ds = append(ds, byDuration)
	}
	return ds
}

// run chooses a driver and reads the page.
func (sr *search) run() (result, error) {
	ds := sr.drivers()
	if sr.match != "" {
		return sr.runText(ds)
	}
	switch len(ds) {
	case 0:
		return sr.scan(byTime)
	case 1:
		return sr.scan(ds[0])
	}
	best, bestN, bestOldest := ds[0], math.MaxInt, int64(math.MaxInt64)
	for _, d := range ds {
		n, oldest, err := sr.probe(d)
		if err != nil {
			return result{}, err
		}
		switch {
		case n < probeRows:
			if n < bestN {
				best, bestN = d, n
			}
		case bestN == math.MaxInt && oldest < bestOldest:
			best, bestOldest = d, oldest
		}
	}
	return sr.scan(best)
}

// runText runs a search with a text: the text drives unless another
// filter has fewer than probeRows traces in the window, or matches a
// clearly smaller share of the traces than the text does (estimated from
// the newest full-text part); then that filter drives and the text is
// checked on its traces a batch at a time.
func (sr *search) runText(ds []driver) (result, error) {
	parts, err := ftsParts(sr.ctx, sr.tx)
	if err != nil {
		return result{}, fmt.Errorf("list full-text parts: %w", err)
	}
	type probed struct {
		d      driver
		n      int
		oldest int64
	}
	var ps []probed
	few, fewN := byText, probeRows
	for _, d := range ds {
		n, oldest, err := sr.probe(d)
		if err != nil {
			return result{}, err
		}
		ps = append(ps, probed{d, n, oldest})
		if n < fewN {
			few, fewN = d, n
		}
	}
	if few != byText {
		return sr.scanWithText(few, parts)
	}
	if res, ok, err := sr.fewMatches(parts); err != nil || ok {
		return res, err
	}
	if len(ps) == 0 {
		return sr.textScan(parts)
	}
	textShare, ok, err := sr.textShare(parts)
	if err != nil {
		return result{}, err
	}
	if !ok {
		return sr.textScan(parts)
	}
	best, bestShare := byText, textShare/2 // the text drives unless clearly beaten
	for _, p := range ps {
		share, err := sr.share(p.n, p.oldest)
		if err != nil {
			return result{}, err
		}
		if share < bestShare {
			best, bestShare = p.d, share
		}
	}
	if best == byText {
		return sr.textScan(parts)
	}
	return sr.scanWithText(best, parts)
}

// fewMatchesMax is the number of full-text matches up to which a search
// reads them all and sorts them, rather than reading them block by block.
const fewMatchesMax = 2000

// fewMatches answers a text search that matches at most fewMatchesMax
// traces (in any part, in the window or not; Options.fewMatches): it
// reads them all, keeps
// those of the window that pass the other filters, and sorts them. It
// reports false, having read at most fewMatchesMax+1 matches of the newest
// parts, when there are more. The parts are asked newest first, up to
// partsPerQuery in one query.
func (sr *search) fewMatches(parts map[int64]bool) (result, bool, error) {
	tables := make([]int64, 0, len(parts)+1)
	for p := range parts {
		tables = append(tables, p)
	}
	slices.SortFunc(tables, func(a, b int64) int { return cmp.Compare(b, a) })
	if sr.s.ftsLegacyMax > 0 {
		tables = append(tables, legacyPart)
	}
	var chunks []string
	for len(tables) > 0 {
		chunk := tables[:min(len(tables), partsPerQuery)]
		tables = tables[len(chunk):]
		arms := make([]string, len(chunk))
		for i, p := range chunk {
			t := ftsTable(p)
			arms[i] = `SELECT rowid FROM ` + t + ` WHERE ` + t + ` MATCH ?1`
		}
		chunks = append(chunks, strings.Join(arms, ` UNION ALL `))
	}
	// Count first: many matches are not read. The words without the last
	// one's prefix match fewer traces, and are counted without merging the
	// lists of the prefix's words: when they are too many already, so is
	// the text.
	count := func(match string) (int, error) {
		n := 0
		for _, q := range chunks {
			var c int
			if err := sr.tx.QueryRowContext(sr.ctx, `SELECT count(*) FROM (`+q+` LIMIT ?2)`, match, sr.s.opts.fewMatches+1-n).Scan(&c); err != nil {
				return 0, fmt.Errorf("full-text search: %w", err)
			}
			if n += c; n > sr.s.opts.fewMatches {
				break
			}
		}
		return n, nil
	}
	if exact := strings.TrimSuffix(sr.match, "*"); exact != sr.match {
		n, err := count(exact)
		if err != nil || n > sr.s.opts.fewMatches {
			return result{}, false, err
		}
	}
	n, err := count(sr.match)
	if err != nil || n > sr.s.opts.fewMatches {
		return result{}, false, err
	}
	rows := make([]int64, 0, n)
	for _, q := range chunks {
		if n == 0 {
			break
		}
		rs, err := sr.tx.QueryContext(sr.ctx, q, sr.match)
		if err != nil {
			return result{}, false, fmt.Errorf("full-text search: %w", err)
		}
		for rs.Next() {
			var r int64
			if err := rs.Scan(&r); err != nil {
				rs.Close()
				return result{}, false, fmt.Errorf("full-text search: %w", err)
			}
			rows = append(rows, r)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return result{}, false, fmt.Errorf("full-text search: %w", err)
		}
	}
	var res result
	if len(rows) == 0 {
		return res, true, nil
	}
	cols := sr.residual(byText)
	args := make([]any, len(rows))
	for i, r := range rows {
		args[i] = r
	}
	rs, err := sr.tx.QueryContext(sr.ctx, `SELECT `+columns(`f.id, f.start_ns, f.trace_id`, cols)+
		` FROM traces f INDEXED BY traces_filters WHERE f.id IN (?`+strings.Repeat(`, ?`, len(rows)-1)+`)`, args...)
	if err != nil {
		return result{}, false, fmt.Errorf("read full-text matches: %w", err)
	}
	defer rs.Close()
	var found []cand
	for rs.Next() {
		c, err := scanCand(rs, cols)
		if err != nil {
			return result{}, false, fmt.Errorf("read full-text matches: %w", err)
		}
		if sr.hasSince && c.start < sr.since || sr.hasUpper && !c.key.less(sr.upper) || !sr.keep(&c, cols) {
			continue
		}
		found = append(found, c)
	}
	if err := rs.Err(); err != nil {
		return result{}, false, fmt.Errorf("read full-text matches: %w", err)
	}
	slices.SortFunc(found, func(a, b cand) int {
		switch {
		case a.key.less(b.key):
			return 1
		case b.key.less(a.key):
			return -1
		}
		return 0
	})
	if len(found) > sr.limit {
		res.more, res.next = true, found[sr.limit-1].key
		found = found[:sr.limit]
	}
	res.page = found
	return res, true, nil
}

// partsPerQuery bounds the full-text parts one query asks (SQLite allows
// 500 arms in a compound select).
const partsPerQuery = 200

// textShare estimates the share of traces the text matches from the
// newest full-text part (with the one before it while it is small). It
// reports false when the newest traces are in traces_fts, which is too
// large to count.
func (sr *search) textShare(parts map[int64]bool) (float64, bool, error) {
	var top int64
	if err := sr.tx.QueryRowContext(sr.ctx, `SELECT coalesce(max(id), 0) FROM traces`).Scan(&top); err != nil {
		return 0, false, fmt.Errorf("newest trace row: %w", err)
	}
	var matches, rows int64
	for p := sr.s.ftsPartOf(top); rows < 4096; p-- {
		if p == legacyPart || p < 0 {
			if rows == 0 {
				return 0, false, nil
			}
			break
		}
		lo, hi := sr.s.ftsPartRows(p)
		rows += min(hi, top) - lo + 1
		if !parts[p] {
			continue // no trace of the part has text
		}
		table := ftsTable(p)
		var n int64
		if err := sr.tx.QueryRowContext(sr.ctx, `SELECT count(*) FROM `+table+` WHERE `+table+` MATCH ?`, sr.match).Scan(&n); err != nil {
			return 0, false, fmt.Errorf("full-text search: %w", err)
		}
		matches += n
	}
	return float64(matches) / float64(max(rows, 1)), true, nil
}

// share estimates the share of traces a driver's probe found: n traces
// back to oldest, among the traces of the blocks that may hold traces
// from oldest to the window's end.
func (sr *search) share(n int, oldest int64) (float64, error) {
	query := `SELECT count(*) FROM trace_blocks WHERE max_start_ns >= ?`
	args := []any{oldest}
	if sr.hasUpper {
		query += ` AND min_start_ns <= ?`
		args = append(args, sr.upper.start)
	}
	var blocks int64
	if err := sr.tx.QueryRowContext(sr.ctx, query, args...).Scan(&blocks); err != nil {
		return 0, fmt.Errorf("count trace blocks: %w", err)
	}
	return float64(n) / float64(max(blocks, 1)<<blockShift), nil
}

// Columns a candidate is read with.
const (
	colService = 1 << iota
	colDeployment
	colStatus
	colDuration
	colModels
)

// residual returns the columns the filters other than d's need.
func (sr *search) residual(d driver) int {
	var cols int
	if sr.q.Service != "" && d != byService {
		cols |= colService
	}
	if sr.q.Deployment != "" {
		cols |= colDeployment
	}
	if sr.q.Status != "" && !(d == byErrors && sr.q.Status == model.StatusError) {
		cols |= colStatus
	}
	if sr.q.MinDuration > 0 && d != byDuration {
		cols |= colDuration
	}
	if sr.q.Model != "" && d != byModel {
		cols |= colModels
	}
	return cols
}

// columns returns the select list of a candidate: row, start and trace
// id (base), then the columns cols read from traces_filters (alias f).
func columns(base string, cols int) string {
	var b strings.Builder
	b.WriteString(base)
	for _, c := range []struct {
		bit  int
		name string
	}{{colService, "f.service"}, {colDeployment, "f.deployment"}, {colStatus, "f.status"}, {colDuration, "f.duration_ns"}, {colModels, "f.models"}} {
		if cols&c.bit != 0 {
			b.WriteString(", ")
			b.WriteString(c.name)
		}
	}
	return b.String()
}

// scanCand reads a row of columns(base, cols).
func scanCand(rows *sql.Rows, cols int) (cand, error) {
	var c cand
	dest := []any{&c.row, &c.start, &c.id}
	if cols&colService != 0 {
		dest = append(dest, &c.service)
	}
	if cols&colDeployment != 0 {
		dest = append(dest, &c.deployment)
	}
	if cols&colStatus != 0 {
		dest = append(dest, &c.status)
	}
	if cols&colDuration != 0 {
		dest = append(dest, &c.duration)
	}
	if cols&colModels != 0 {
		dest = append(dest, &c.models)
	}
	err := rows.Scan(dest...)
	return c, err
}

// keep reports whether a candidate passes the filters whose columns it
// was read with.
func (sr *search) keep(c *cand, cols int) bool {
	q := &sr.q
	if cols&colService != 0 && c.service != q.Service {
		return false
	}
	if cols&colDeployment != 0 && c.deployment != q.Deployment {
		return false
	}
	if cols&colStatus != 0 {
		switch q.Status {
		case model.StatusOK:
			if c.status == string(model.StatusError) {
				return false
			}
		default:
			if c.status != string(q.Status) {
				return false
			}
		}
	}
	if cols&colDuration != 0 && c.duration < int64(q.MinDuration) {
		return false
	}
	if cols&colModels != 0 && !strings.Contains(c.models, payload.ModelSep+sr.model+payload.ModelSep) {
		return false
	}
	return true
}

// bounds returns the window's conditions on the start and trace id
// columns of alias a.
func (sr *search) bounds(a string, args []any) (string, []any) {
	var conds []string
	if sr.hasSince {
		conds = append(conds, a+`.start_ns >= ?`)
		args = append(args, sr.since)
	}
	if sr.hasUpper {
		conds = append(conds, `(`+a+`.start_ns, `+a+`.trace_id) < (?, ?)`)
		args = append(args, sr.upper.start, sr.upper.id)
	}
	if len(conds) == 0 {
		return "1", args
	}
	return strings.Join(conds, " AND "), args
}

// driverSQL returns the query reading d's traces newest first with the
// columns cols, or with only the start time (startOnly, for probes).
//
// The driver's table is aliased d (m for trace_models). The other
// filters' columns come from traces_filters (f), an index keyed by trace
// row that holds them: a few dozen bytes a trace instead of the trace's
// row of a few kilobytes, most of it the summary.
func (sr *search) driverSQL(d driver, cols int, startOnly bool) (string, []any, error) {
	var args []any
	var where string
	order := ` ORDER BY d.start_ns DESC, d.trace_id DESC`
	sel := columns(`d.id, d.start_ns, d.trace_id`, cols)
	if startOnly {
		sel, cols = `d.start_ns`, 0
	}
	from := ` FROM traces d` + filtersJoin("d.id", cols)
	switch d {
	case byTime:
		where, args = sr.bounds("d", args)
		return `SELECT ` + sel + from + ` WHERE ` + where + order, args, nil
	case byService:
		args = append(args, sr.q.Service)
		where, args = sr.bounds("d", args)
		return `SELECT ` + sel + from + ` WHERE d.service = ? AND ` + where + order, args, nil
	case byErrors:
		// A literal, so that the partial index on failed traces applies.
		where, args = sr.bounds("d", args)
		return `SELECT ` + sel + from + ` WHERE d.status = 'error' AND ` + where + order, args, nil
	case byModel:
		args = append(args, sr.model)
		where, args = sr.bounds("m", args)
		sel = columns(`m.trace_row, m.start_ns, m.trace_id`, cols)
		if startOnly {
			sel = `m.start_ns`
		}
		return `SELECT ` + sel + ` FROM trace_models m` + filtersJoin("m.trace_row", cols) + ` WHERE m.model = ? AND ` +
			where + ` ORDER BY m.start_ns DESC, m.trace_id DESC`, args, nil
	case byDuration:
		return sr.durationSQL(sel, from, startOnly)
	}
	return "", nil, fmt.Errorf("no query for driver %s", d)
}

// filtersJoin joins traces_filters (f) on the trace row on when the
// columns cols are needed.
func filtersJoin(on string, cols int) string {
	if cols == 0 {
		return ""
	}
	return ` JOIN traces f INDEXED BY traces_filters ON f.id = ` + on
}

// durationBucket is the duration_bucket of a duration (0009_search.sql)
// for positive durations: decimal digits times ten plus the leading digit.
func durationBucket(ns int64) int64 {
	s := strconv.FormatInt(ns, 10)
	return int64(len(s))*10 + int64(s[0]-'0')
}

// durationSQL merges the duration buckets from the minimum's up to the
// largest stored, each read newest first; the minimum's own bucket also
// holds shorter traces, checked there (from the index).
func (sr *search) durationSQL(sel, from string, startOnly bool) (string, []any, error) {
	minNS := int64(sr.q.MinDuration)
	var top sql.NullInt64
	if err := sr.tx.QueryRowContext(sr.ctx, `SELECT max(duration_bucket) FROM traces`).Scan(&top); err != nil {
		return "", nil, fmt.Errorf("largest duration bucket: %w", err)
	}
	lowest := durationBucket(minNS)
	var arms []string
	var args []any
	for b := lowest; top.Valid && b <= top.Int64; b++ {
		if b%10 == 0 {
			continue // durations of no positive number
		}
		cond := `d.duration_bucket = ?`
		args = append(args, b)
		if b == lowest {
			cond += ` AND d.duration_ns >= ?`
			args = append(args, minNS)
		}
		var where string
		where, args = sr.bounds("d", args)
		arm := `SELECT ` + sel
		if startOnly {
			arm += `, d.trace_id`
		}
		arms = append(arms, arm+from+` WHERE `+cond+` AND `+where)
	}
	if len(arms) == 0 {
		// Nothing is that long: a query that reads nothing.
		arm := `SELECT ` + sel
		if startOnly {
			arm += `, d.trace_id`
		}
		arms = append(arms, arm+from+` WHERE 0`)
	}
	return strings.Join(arms, ` UNION ALL `) + ` ORDER BY 2 DESC, 3 DESC`, args, nil
}

// probe counts the first probeRows traces of d in the window and returns
// how many there are (fewer when d runs out) and the oldest start among
// them.
func (sr *search) probe(d driver) (n int, oldest int64, err error) {
	query, args, err := sr.driverSQL(d, 0, true)
	if err != nil {
		return 0, 0, err
	}
	if d == byDuration {
		// The merge orders by the start and trace id columns (2 and 3 of
		// the scan's select list); here they are 1 and 2.
		query = strings.TrimSuffix(query, ` ORDER BY 2 DESC, 3 DESC`) + ` ORDER BY 1 DESC, 2 DESC`
	}
	var min sql.NullInt64
	err = sr.tx.QueryRowContext(sr.ctx, `SELECT count(*), min(start_ns) FROM (`+query+` LIMIT ?)`, append(args, probeRows)...).Scan(&n, &min)
	if err != nil {
		return 0, 0, fmt.Errorf("probe %s: %w", d, err)
	}
	return n, min.Int64, nil
}

// scan reads d's traces newest first, checking the other filters on
// each, until the page is full or the budget of traces examined is spent.
func (sr *search) scan(d driver) (result, error) {
	cols := sr.residual(d)
	query, args, err := sr.driverSQL(d, cols, false)
	if err != nil {
		return result{}, err
	}
	rows, err := sr.tx.QueryContext(sr.ctx, query, args...)
	if err != nil {
		return result{}, fmt.Errorf("read by %s: %w", d, err)
	}
	defer rows.Close()
	var res result
	rejected := 0
	for rows.Next() {
		c, err := scanCand(rows, cols)
		if err != nil {
			return result{}, fmt.Errorf("read by %s: %w", d, err)
		}
		if sr.keep(&c, cols) {
			if len(res.page) == sr.limit {
				res.more, res.next = true, res.page[sr.limit-1].key
				return res, nil
			}
			res.page = append(res.page, c)
			continue
		}
		rejected++
		if rejected >= sr.s.opts.scanBudget && rows.Next() {
			// Not done, but examined enough: continue after this one.
			res.more, res.next = true, c.key
			return res, nil
		}
	}
	if err := rows.Err(); err != nil {
		return result{}, fmt.Errorf("read by %s: %w", d, err)
	}
	return res, nil
}

// scanWithText reads d's traces newest first like scan, and checks the
// text on those passing the other filters a batch at a time: for each
// full-text part a batch touches, the matches among the batch's rows in
// one query. Batches start at the page size and double, up to textBatch.
func (sr *search) scanWithText(d driver, parts map[int64]bool) (result, error) {
	cols := sr.residual(d)
	query, args, err := sr.driverSQL(d, cols, false)
	if err != nil {
		return result{}, err
	}
	rows, err := sr.tx.QueryContext(sr.ctx, query, args...)
	if err != nil {
		return result{}, fmt.Errorf("read by %s: %w", d, err)
	}
	defer rows.Close()
	var res result
	rejected := 0
	size := max(sr.limit+1, 64)
	var batch []cand
	// check moves the batch's matches to the page; it reports whether the
	// page is full.
	check := func() (bool, error) {
		if len(batch) == 0 {
			return false, nil
		}
		matched, read, err := sr.matchRows(batch, parts)
		if err != nil {
			return false, err
		}
		// Matches of rows outside the batch were read for nothing: they
		// count against the budget like traces failing the filters.
		rejected += read
		for _, c := range batch {
			if matched[c.row] {
				rejected--
			}
		}
		for _, c := range batch {
			if !matched[c.row] {
				rejected++
				continue
			}
			if len(res.page) == sr.limit {
				res.more, res.next = true, res.page[sr.limit-1].key
				return true, nil
			}
			res.page = append(res.page, c)
		}
		batch = batch[:0]
		size = min(2*size, textBatch)
		return false, nil
	}
	var last key
	for rows.Next() {
		c, err := scanCand(rows, cols)
		if err != nil {
			return result{}, fmt.Errorf("read by %s: %w", d, err)
		}
		last = c.key
		if sr.keep(&c, cols) {
			batch = append(batch, c)
		} else {
			rejected++
		}
		if len(batch) < size && rejected < sr.s.opts.scanBudget {
			continue
		}
		if full, err := check(); full || err != nil {
			return res, err
		}
		if rejected >= sr.s.opts.scanBudget {
			if rows.Next() {
				// Not done, but examined enough: continue after the last.
				res.more, res.next = true, last
				return res, nil
			}
			break
		}
	}
	if err := rows.Err(); err != nil {
		return result{}, fmt.Errorf("read by %s: %w", d, err)
	}
	if _, err := check(); err != nil {
		return result{}, err
	}
	return res, nil
}

// textBatch is the largest batch of traces whose text scanWithText checks
// at once.
const textBatch = 4096

// matchRows returns which of the candidates' rows the text matches, and
// how many matches it read (of the rows between the candidates' too).
func (sr *search) matchRows(cs []cand, parts map[int64]bool) (map[int64]bool, int, error) {
	type span struct{ lo, hi int64 }
	byPart := make(map[int64]*span)
	for _, c := range cs {
		p := sr.s.ftsPartOf(c.row)
		if sp := byPart[p]; sp != nil {
			sp.lo, sp.hi = min(sp.lo, c.row), max(sp.hi, c.row)
		} else {
			byPart[p] = &span{c.row, c.row}
		}
	}
	matched := make(map[int64]bool)
	read := 0
	for p, sp := range byPart {
		if p != legacyPart && !parts[p] {
			continue // no text in that part
		}
		table := ftsTable(p)
		rows, err := sr.tx.QueryContext(sr.ctx, `SELECT rowid FROM `+table+` WHERE `+table+` MATCH ? AND rowid BETWEEN ? AND ?`,
			sr.match, sp.lo, sp.hi)
		if err != nil {
			return nil, 0, fmt.Errorf("full-text search: %w", err)
		}
		for rows.Next() {
			var r int64
			if err := rows.Scan(&r); err != nil {
				rows.Close()
				return nil, 0, fmt.Errorf("full-text search: %w", err)
			}
			read++
			matched[r] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, fmt.Errorf("full-text search: %w", err)
		}
	}
	return matched, read, nil
}

// block is a row of trace_blocks.
type block struct {
	id       int64
	min, max int64
}

// blockStream reads the blocks that may hold traces of the window, by
// descending latest start.
type blockStream struct {
	sr   *search
	rows *sql.Rows
	buf  []block // read ahead
	done bool
	err  error
}

func (sr *search) blocks() (*blockStream, error) {
	query, args := sr.blocksSQL()
	rows, err := sr.tx.QueryContext(sr.ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read trace blocks: %w", err)
	}
	return &blockStream{sr: sr, rows: rows}, nil
}

// blocksSQL reads the blocks of the window by descending latest start
// (through trace_blocks_max_start, whose order breaks ties).
func (sr *search) blocksSQL() (string, []any) {
	var conds []string
	var args []any
	if sr.hasSince {
		conds = append(conds, `max_start_ns >= ?`)
		args = append(args, sr.since)
	}
	if sr.hasUpper {
		// Blocks whose every trace is newer than the window hold none of it.
		conds = append(conds, `min_start_ns <= ?`)
		args = append(args, sr.upper.start)
	}
	query := `SELECT block, min_start_ns, max_start_ns FROM trace_blocks`
	if len(conds) > 0 {
		query += ` WHERE ` + strings.Join(conds, ` AND `)
	}
	return query + ` ORDER BY max_start_ns DESC, min_start_ns DESC, block DESC`, args
}

// peek returns the i-th block not yet taken, reading ahead as needed.
func (bs *blockStream) peek(i int) (block, bool) {
	for len(bs.buf) <= i && !bs.done {
		if !bs.rows.Next() {
			bs.done, bs.err = true, bs.rows.Err()
			break
		}
		var b block
		if err := bs.rows.Scan(&b.id, &b.min, &b.max); err != nil {
			bs.done, bs.err = true, err
			break
		}
		bs.buf = append(bs.buf, b)
	}
	if i < len(bs.buf) {
		return bs.buf[i], true
	}
	return block{}, false
}

func (bs *blockStream) take(n int) { bs.buf = bs.buf[n:] }

func (bs *blockStream) close() { bs.rows.Close() }

// candHeap holds matches newest first.
type candHeap []cand

func (h candHeap) Len() int           { return len(h) }
func (h candHeap) Less(i, j int) bool { return h[j].key.less(h[i].key) }
func (h candHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)        { *h = append(*h, x.(cand)) }
func (h *candHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// textScan reads the text's matches block by block, in descending order of
// the blocks' latest start, and holds each match back until no block left
// can hold a newer trace. Consecutive blocks of one full-text part are read
// with one query (the part's prefix terms are merged once). It stops at a
// block's end once the page is full or the budget of matches examined is
// spent.
func (sr *search) textScan(parts map[int64]bool) (result, error) {
	bs, err := sr.blocks()
	if err != nil {
		return result{}, err
	}
	defer bs.close()
	cols := sr.residual(byText)
	var res result
	var held candHeap
	rejected := 0
	// emit moves the held matches newer than every block left to the page;
	// it reports whether the page is full (and more follow).
	emit := func(bound int64, last bool) bool {
		for held.Len() > 0 && (last || held[0].start > bound) {
			c := heap.Pop(&held).(cand)
			if len(res.page) == sr.limit {
				res.more, res.next = true, res.page[sr.limit-1].key
				return true
			}
			res.page = append(res.page, c)
		}
		return false
	}
	for {
		first, ok := bs.peek(0)
		if !ok {
			break
		}
		// The run: first and the blocks right below it in the same part.
		part := sr.s.blockPart(first.id)
		n := 1
		for {
			b, ok := bs.peek(n)
			if !ok || b.id != first.id-int64(n) || sr.s.blockPart(b.id) != part {
				break
			}
			n++
		}
		lo := (first.id - int64(n) + 1) << blockShift
		hi := (first.id+1)<<blockShift - 1
		var rows *sql.Rows
		if part == legacyPart || parts[part] {
			if rows, err = sr.tx.QueryContext(sr.ctx, textQuery(ftsTable(part), cols), sr.match, lo, hi); err != nil {
				return result{}, fmt.Errorf("full-text search: %w", err)
			}
		}
		// finish ends the run's i-th block: everything newer than the
		// blocks left may go to the page. It reports whether to stop.
		stop := false
		finish := func(i int) {
			next, ok := bs.peek(i + 1)
			if !ok {
				next.max = math.MinInt64
			}
			if emit(next.max, !ok) {
				stop = true
				return
			}
			if rejected >= sr.s.opts.scanBudget && ok && (!sr.hasUpper || (key{start: next.max + 1}).less(sr.upper)) {
				// Examined enough: answer with what was found; the next
				// page starts with the traces that started no later than
				// the newest a block left may hold.
				res.more, res.next, stop = true, key{start: next.max + 1}, true
			}
		}
		cur := 0 // index in the run of the block being read
		for rows != nil && rows.Next() && !stop {
			c, err := scanCand(rows, cols)
			if err != nil {
				rows.Close()
				return result{}, fmt.Errorf("full-text search: %w", err)
			}
			for c.row>>blockShift < first.id-int64(cur) && !stop {
				finish(cur)
				cur++
			}
			if stop {
				break
			}
			if sr.hasSince && c.start < sr.since || sr.hasUpper && !c.key.less(sr.upper) || !sr.keep(&c, cols) {
				rejected++
				continue
			}
			heap.Push(&held, c)
		}
		if rows != nil {
			rows.Close()
			if err := rows.Err(); err != nil {
				return result{}, fmt.Errorf("full-text search: %w", err)
			}
		}
		for ; cur < n && !stop; cur++ {
			finish(cur)
		}
		if stop {
			return res, nil
		}
		bs.take(n)
	}
	if bs.err != nil {
		return result{}, fmt.Errorf("read trace blocks: %w", bs.err)
	}
	emit(0, true)
	return res, nil
}

// textQuery reads the matches of a full-text part among rows [?, ?],
// newest row first, with the columns cols.
func textQuery(table string, cols int) string {
	return `SELECT ` + columns(`f.id, f.start_ns, f.trace_id`, cols) + ` FROM ` + table +
		` JOIN traces f INDEXED BY traces_filters ON f.id = ` + table + `.rowid WHERE ` + table + ` MATCH ? AND ` + table +
		`.rowid BETWEEN ? AND ? ORDER BY ` + table + `.rowid DESC`
}

// bodies reads the summaries of trace rows.
func (sr *search) bodies(rows []int64) (map[int64][]byte, error) {
	args := make([]any, len(rows))
	for i, r := range rows {
		args[i] = r
	}
	rs, err := sr.tx.QueryContext(sr.ctx, `SELECT id, body FROM traces WHERE id IN (?`+strings.Repeat(`, ?`, len(rows)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := make(map[int64][]byte, len(rows))
	for rs.Next() {
		var r int64
		var blob []byte
		if err := rs.Scan(&r, &blob); err != nil {
			return nil, err
		}
		out[r] = blob
	}
	return out, rs.Err()
}
