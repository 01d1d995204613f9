package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The full-text index is split by trace row into parts (0009_search.sql):
// part N, the table traces_fts_N, holds the text of the traces whose rows
// lie in [N<<shift, (N+1)<<shift), shift being Options.ftsPartShift
// (defaultFTSPartShift: 32,768 rows), except the rows up to
// Store.ftsLegacyMax, written before the split, whose text stays in
// traces_fts. A part is created by the writer with the first trace written
// into it.
const (
	defaultFTSPartShift = 15
	// blockShift makes the trace blocks of trace_blocks: rows
	// [B<<blockShift, (B+1)<<blockShift). A part holds whole blocks.
	blockShift = 9
)

// legacyPart stands for traces_fts among part numbers.
const legacyPart = -1

// ftsPartOf returns the part holding the text of a trace row.
func (s *Store) ftsPartOf(row int64) int64 {
	if row <= s.ftsLegacyMax {
		return legacyPart
	}
	return row >> s.opts.ftsPartShift
}

// blockPart returns the part holding the text of a trace block's rows
// (fts_legacy_max_row ends a block, so a block lies in one part).
func (s *Store) blockPart(b int64) int64 { return s.ftsPartOf((b+1)<<blockShift - 1) }

// ftsTable is the table of a part.
func ftsTable(part int64) string {
	if part == legacyPart {
		return "traces_fts"
	}
	return "traces_fts_" + strconv.FormatInt(part, 10)
}

// ftsPartRows returns the rows whose text a part holds: [lo, hi].
func (s *Store) ftsPartRows(part int64) (lo, hi int64) {
	if part == legacyPart {
		return 1, s.ftsLegacyMax
	}
	shift := s.opts.ftsPartShift
	lo, hi = part<<shift, (part+1)<<shift-1
	return max(lo, s.ftsLegacyMax+1), hi
}

// createFTSPart is the schema of a part: that of traces_fts (0001).
func createFTSPart(table string) string {
	return `CREATE VIRTUAL TABLE IF NOT EXISTS ` + table + ` USING fts5 (
    text,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO ` + table + ` (` + table + `, rank) VALUES ('automerge', 16);
INSERT INTO ` + table + ` (` + table + `, rank) VALUES ('pgsz', 16000);
` + deleteMergeOff(table)
}

// deleteMergeOff turns off a full-text table's delete merges. By default
// FTS5 rewrites a segment once a tenth of its rows are deleted; a part
// past its merging is one segment of 32,768 traces, and retention,
// deleting oldest first, made it rewrite that segment every tenth: one
// deletion transaction took 1.3 s, holding ingest up. Deleted rows are
// tombstoned instead (searches skip them), and a part whose traces are
// all gone is dropped whole (erase.go).
func deleteMergeOff(table string) string {
	return `INSERT INTO ` + table + ` (` + table + `, rank) VALUES ('deletemerge', 0);`
}

// parseFTSPart returns the part number of a table name, if it is one.
func parseFTSPart(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, "traces_fts_")
	if !ok || rest == "" || rest[0] < '0' || rest[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil
}

// ftsParts returns the parts that exist.
func ftsParts(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}) (map[int64]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'traces_fts_[0-9]*'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	parts := make(map[int64]bool)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if p, ok := parseFTSPart(name); ok {
			parts[p] = true
		}
	}
	return parts, rows.Err()
}

// ftsPartStmts are a part's statements in a write transaction.
type ftsPartStmts struct {
	insert, delete *sql.Stmt
	prepared       bool // by this transaction (closed with it)
}

// part returns the statements of the part holding row's text, creating
// the part if needed.
func (g *groupTx) part(row int64) (*ftsPartStmts, error) {
	p := g.s.ftsPartOf(row)
	if st := g.fts[p]; st != nil {
		return st, nil
	}
	if g.fts == nil {
		g.fts = make(map[int64]*ftsPartStmts)
	}
	if p == legacyPart {
		st := &ftsPartStmts{insert: g.stmts.insertFTS, delete: g.stmts.deleteFTS}
		g.fts[p] = st
		return st, nil
	}
	table := ftsTable(p)
	if !g.s.ftsParts[p] {
		if _, err := g.tx.ExecContext(g.ctx, createFTSPart(table)); err != nil {
			return nil, fmt.Errorf("create full-text part %s: %w", table, err)
		}
		g.created = append(g.created, p)
	}
	st := &ftsPartStmts{prepared: true}
	var err error
	if st.insert, err = g.tx.PrepareContext(g.ctx, `INSERT INTO `+table+` (rowid, text) VALUES (?, ?)`); err != nil {
		return nil, err
	}
	if st.delete, err = g.tx.PrepareContext(g.ctx, `DELETE FROM `+table+` WHERE rowid = ?`); err != nil {
		_ = st.insert.Close()
		return nil, err
	}
	g.fts[p] = st
	return st, nil
}

func (g *groupTx) insertText(row int64, text string) error {
	st, err := g.part(row)
	if err != nil {
		return err
	}
	_, err = st.insert.Exec(row, text)
	return err
}

func (g *groupTx) deleteText(row int64) error {
	st, err := g.part(row)
	if err != nil {
		return err
	}
	_, err = st.delete.Exec(row)
	return err
}

// closeFTS closes the part statements the transaction prepared.
func (g *groupTx) closeFTS() {
	for _, st := range g.fts {
		if st.prepared {
			_ = st.insert.Close()
			_ = st.delete.Close()
		}
	}
}

// Full-text parts are merged into one segment each once the writer has
// moved on to the next part: a part is written by hundreds of commits, each
// adding a segment, and FTS5 merges them only 16 at a time (0001), so a
// finished part kept about 20 segments, each searched by every query
// (0.1 ms a part for a word in none of its traces; 0.02 ms merged). The
// writer does the merge a step at a time between group commits
// (mergeStep), about 10 steps of 10 to 20 ms a part.

// mergeStepPages is the work of one merge step, in pages written.
const mergeStepPages = 16

// queueMerges finds the parts, all but the newest, that are not merged
// into one segment yet, newest first (at Open).
func (s *Store) queueMerges(ctx context.Context) error {
	var newest int64 = -1
	for p := range s.ftsParts {
		newest = max(newest, p)
	}
	for p := newest - 1; p >= 0; p-- {
		if !s.ftsParts[p] {
			continue
		}
		n, err := segments(ctx, s.wdb, p)
		if err != nil {
			return err
		}
		if n > 1 {
			s.ftsMerge = append(s.ftsMerge, p)
		}
	}
	return nil
}

// segments counts the segments of a part (those of more than one page:
// FTS5 indexes every segment's pages but the first).
func segments(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, part int64) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(DISTINCT segid) FROM `+ftsTable(part)+`_idx`).Scan(&n)
	return n, err
}

// partsCreated records parts a committed group created, and queues the
// part before each for merging.
func (s *Store) partsCreated(created []int64) {
	for _, p := range created {
		s.ftsParts[p] = true
		if s.ftsParts[p-1] && !slices.Contains(s.ftsMerge, p-1) {
			s.ftsMerge = append([]int64{p - 1}, s.ftsMerge...)
		}
	}
}

// mergeStep does one step of merging the first queued part, in a
// transaction of its own, and drops the part from the queue once it is
// one segment. A failure is logged and drops the part: searches stay
// right, only slower.
func (s *Store) mergeStep() {
	if len(s.ftsMerge) == 0 {
		return
	}
	p := s.ftsMerge[0]
	table := ftsTable(p)
	done := false
	err := s.inTx(func(tx *sql.Tx) error {
		ctx := context.Background()
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+table+`, rank) VALUES ('merge', ?)`, -mergeStepPages); err != nil {
			return err
		}
		n, err := segments(ctx, tx, p)
		done = n <= 1
		return err
	})
	if err != nil {
		s.log.Warn("fts_merge_failed", "table", table, "err", err)
		done = true
	}
	if done {
		s.ftsMerge = s.ftsMerge[1:]
	}
}
