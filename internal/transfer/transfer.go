// Package transfer copies everything one store holds into another
// (flowwatch copy: an embedded SQLite installation moving to PostgreSQL),
// through the storage port's neutral record stream (store.Exporter,
// store.Importer) rather than table to table, so that neither backend
// knows the other's schema.
//
// A copy goes kind by kind (store.RecordKinds), page by page in each
// kind's key order. The target records, in each page's transaction, how
// far the copy has gone, and leaves any record it holds already as it is:
// a copy that was interrupted is run again and continues after its last
// page, and nothing is stored twice. At the end the rows of every table
// are counted on both sides and compared.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/store"
)

// Errors Copy returns (wrapped).
var (
	// ErrTargetNotEmpty: the target holds data and no copy went into it.
	ErrTargetNotEmpty = errors.New("the target store is not empty")
	// ErrMismatch: the copy ended but some table's count differs.
	ErrMismatch = errors.New("the copy's row counts differ from the source's")
)

// DefaultPageSize is the records per page (traces: also bounded by their
// spans, by the exporter).
const DefaultPageSize = 500

// Options configures a copy.
type Options struct {
	// PageSize is the records of one page, one transaction in the target
	// (default DefaultPageSize).
	PageSize int
	// Progress, when set, receives a progress line per kind (rows done of
	// the total, rate, time left).
	Progress io.Writer
	// Redraw makes the progress line redraw itself in place (a terminal);
	// otherwise a line is written every ProgressEvery and when a kind
	// ends.
	Redraw bool
	// ProgressEvery is how often progress is shown (default 250ms when
	// redrawing, 10s otherwise).
	ProgressEvery time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// TableCount is one table's rows in the source and the target.
type TableCount struct {
	Table          string
	Source, Target int64
}

// KindReport is what a copy did with one kind of record.
type KindReport struct {
	Kind store.RecordKind
	// Total is the records the source holds; Copied those imported by
	// this run, Before those imported by earlier runs (a resumed copy).
	Total, Copied, Before int64
	Elapsed               time.Duration
}

// Report is what a copy did.
type Report struct {
	Kinds   []KindReport
	Tables  []TableCount
	Resumed bool
	Elapsed time.Duration
}

// Mismatches returns the tables whose counts differ.
func (r Report) Mismatches() []TableCount {
	var out []TableCount
	for _, t := range r.Tables {
		if t.Source != t.Target {
			out = append(out, t)
		}
	}
	return out
}

// WriteTable writes the per-table comparison, one line a table.
func (r Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%-20s %12s %12s\n", "TABLE", "SOURCE", "TARGET")
	for _, t := range r.Tables {
		mark := ""
		if t.Source != t.Target {
			mark = "  MISMATCH"
		}
		fmt.Fprintf(w, "%-20s %12d %12d%s\n", t.Table, t.Source, t.Target, mark)
	}
}

// Copy copies every record of from into to, continuing a copy that was
// interrupted, and compares the tables' row counts at the end: an error
// wrapping ErrMismatch, with the report, when they differ. A target that
// holds data no copy put there is refused (ErrTargetNotEmpty).
func Copy(ctx context.Context, from store.Exporter, to store.Importer, opts Options, logger *slog.Logger) (Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 10 * time.Second
		if opts.Redraw {
			opts.ProgressEvery = 250 * time.Millisecond
		}
	}
	start := opts.Now()
	var rep Report
	progress, err := to.CopyProgress(ctx)
	if err != nil {
		return rep, err
	}
	if len(progress) == 0 {
		counts, err := to.TableCounts(ctx)
		if err != nil {
			return rep, err
		}
		var held []string
		for _, t := range store.TableNames() {
			if counts[t] > 0 {
				held = append(held, fmt.Sprintf("%s: %d", t, counts[t]))
			}
		}
		if len(held) > 0 {
			return rep, fmt.Errorf("%w (%s): copy into an empty database or schema", ErrTargetNotEmpty, strings.Join(held, ", "))
		}
	} else {
		rep.Resumed = true
		if opts.Progress != nil {
			fmt.Fprintln(opts.Progress, "continuing the copy that was interrupted")
		}
	}
	logger.Info("copy_started", "resumed", rep.Resumed)
	for _, kind := range store.RecordKinds() {
		kr, err := copyKind(ctx, from, to, kind, progress[kind], opts)
		rep.Kinds = append(rep.Kinds, kr)
		if err != nil {
			return rep, fmt.Errorf("copy %s: %w", kind, err)
		}
		logger.Info("copy_kind_done", "kind", string(kind), "copied", kr.Copied, "before", kr.Before, "elapsed", kr.Elapsed)
	}
	if rep.Tables, err = compare(ctx, from, to); err != nil {
		return rep, err
	}
	rep.Elapsed = opts.Now().Sub(start)
	if bad := rep.Mismatches(); len(bad) > 0 {
		names := make([]string, len(bad))
		for i, t := range bad {
			names[i] = fmt.Sprintf("%s: %d in the source, %d in the target", t.Table, t.Source, t.Target)
		}
		return rep, fmt.Errorf("%w: %s", ErrMismatch, strings.Join(names, "; "))
	}
	logger.Info("copy_done", "elapsed", rep.Elapsed)
	return rep, nil
}

// copyKind copies the records of one kind from where an earlier run
// stopped.
func copyKind(ctx context.Context, from store.Exporter, to store.Importer, kind store.RecordKind, p store.CopyProgress, opts Options) (KindReport, error) {
	kr := KindReport{Kind: kind, Before: p.Copied}
	start := opts.Now()
	total, err := from.CountRecords(ctx, kind)
	if err != nil {
		return kr, err
	}
	kr.Total = total
	bar := newBar(opts, kind, total, p.Copied)
	if p.Done {
		bar.finish(kr.Copied, "copied earlier")
		return kr, nil
	}
	// The next page is read while this one is written: the source's
	// reads and decoding (about 55 µs of CPU a span) overlap the target's
	// writes. One page ahead at most.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan exported, 1)
	go export(pctx, from, kind, p.Cursor, opts.PageSize, pages)
	for {
		var e exported
		select {
		case e = <-pages:
		case <-ctx.Done():
			bar.finish(kr.Copied, "stopped")
			return kr, ctx.Err()
		}
		if e.err != nil {
			bar.finish(kr.Copied, "failed")
			return kr, e.err
		}
		if err := ctx.Err(); err != nil {
			bar.finish(kr.Copied, "stopped")
			return kr, err
		}
		if err := to.ImportRecords(ctx, e.page); err != nil {
			bar.finish(kr.Copied, "failed")
			return kr, err
		}
		kr.Copied += int64(e.page.Len())
		kr.Elapsed = opts.Now().Sub(start)
		if e.page.Next == "" {
			bar.finish(kr.Copied, "")
			return kr, nil
		}
		bar.update(kr.Copied)
	}
}

// exported is a page read from the source, or why it could not be.
type exported struct {
	page store.RecordPage
	err  error
}

// export reads the pages of kind from cursor on into out, until the last
// page, an error or ctx's end.
func export(ctx context.Context, from store.Exporter, kind store.RecordKind, cursor string, limit int, out chan<- exported) {
	for {
		page, err := from.ExportRecords(ctx, kind, cursor, limit)
		select {
		case out <- exported{page, err}:
		case <-ctx.Done():
			return
		}
		if err != nil || page.Next == "" {
			return
		}
		cursor = page.Next
	}
}

// compare counts every table on both sides.
func compare(ctx context.Context, from store.Exporter, to store.Importer) ([]TableCount, error) {
	src, err := from.TableCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("count the source's rows: %w", err)
	}
	dst, err := to.TableCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("count the target's rows: %w", err)
	}
	names := store.TableNames()
	for t := range src {
		if !slices.Contains(names, t) {
			names = append(names, t)
		}
	}
	out := make([]TableCount, 0, len(names))
	for _, t := range names {
		out = append(out, TableCount{Table: t, Source: src[t], Target: dst[t]})
	}
	return out, nil
}
