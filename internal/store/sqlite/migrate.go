package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/flowwatch/flowwatch/internal/rollup"
)

// migrationFiles holds the schema migrations: migrations/NNNN_name.sql,
// numbered from 1 without gaps. A released migration is never edited; a
// schema change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned (wrapped) by Open for a database written by a
// newer flowwatch whose schema this binary does not know.
var ErrSchemaTooNew = errors.New("database schema is newer than this flowwatch")

// migration is one numbered schema step.
type migration struct {
	version int
	name    string
	sql     string
	// backfill, when set, runs after sql in the same transaction: moving
	// data in a way SQL alone expresses badly (see backfillFor).
	backfill func(ctx context.Context, tx *sql.Tx) error
}

// loadMigrations reads and orders the migrations in dir of fsys, checking
// that they are numbered 1..n without gaps or duplicates.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		out = append(out, migration{version: v, name: name, sql: string(b), backfill: backfillFor(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d (numbers must run 1..n without gaps or repeats)", m.name, i+1)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no migrations")
	}
	return out, nil
}

// execBeginner is what migrations need of a database handle.
type execBeginner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// migrate brings the database on conn up to the newest of migs, applying
// each missing migration in its own transaction together with the version
// bump. It refuses a database whose version is newer than migs know.
func migrate(ctx context.Context, conn execBeginner, migs []migration) (from, to int, err error) {
	if _, err := conn.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return 0, 0, fmt.Errorf("create schema_version: %w", err)
	}
	latest := migs[len(migs)-1].version
	from = -1
	for {
		before, after, err := migrateStep(ctx, conn, migs)
		if from < 0 {
			from = before
		}
		if err != nil {
			return from, after, err
		}
		if after > latest {
			return from, after, fmt.Errorf("%w: database is at schema version %d, this binary knows up to %d; use a newer flowwatch",
				ErrSchemaTooNew, after, latest)
		}
		if after == before {
			return from, after, nil
		}
	}
}

// migrateStep applies the next missing migration, if any, in one
// transaction. It returns the database's version before and after.
func migrateStep(ctx context.Context, conn execBeginner, migs []migration) (before, after int, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("begin migration: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	var rows int
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(max(version), 0) FROM schema_version`).Scan(&rows, &before); err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	if before >= len(migs) {
		return before, before, nil
	}
	m := migs[before]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return before, before, fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	if m.backfill != nil {
		if err := m.backfill(ctx, tx); err != nil {
			return before, before, fmt.Errorf("apply migration %s: backfill: %w", m.name, err)
		}
	}
	if rows == 0 {
		_, err = tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, m.version)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, m.version)
	}
	if err != nil {
		return before, before, fmt.Errorf("record migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return before, before, fmt.Errorf("commit migration %s: %w", m.name, err)
	}
	committed = true
	return before, m.version, nil
}

// backfillFor returns the Go part of a migration, if it has one.
func backfillFor(version int) func(ctx context.Context, tx *sql.Tx) error {
	switch version {
	case 9:
		return backfillTraceModels
	case 10:
		return backfillDayRollups
	case 14:
		return noDeleteMerge
	}
	return nil
}

// noDeleteMerge turns off FTS5's delete-triggered merges in the full-text
// tables that exist (0014; fts.go says why).
func noDeleteMerge(ctx context.Context, tx *sql.Tx) error {
	parts, err := ftsParts(ctx, tx)
	if err != nil {
		return err
	}
	tables := []string{ftsTable(legacyPart)}
	for p := range parts {
		tables = append(tables, ftsTable(p))
	}
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, deleteMergeOff(t)); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}

// backfillTraceModels fills trace_models (0009) from traces.models: a
// recursive SQL split would queue every trace's row in memory first.
func backfillTraceModels(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, start_ns, trace_id, models FROM traces WHERE models <> ''`)
	if err != nil {
		return err
	}
	defer rows.Close()
	ins, err := tx.PrepareContext(ctx, insertModelSQL)
	if err != nil {
		return err
	}
	defer ins.Close()
	for rows.Next() {
		var row, start int64
		var traceID, models string
		if err := rows.Scan(&row, &start, &traceID, &models); err != nil {
			return err
		}
		for _, m := range splitModels(models) {
			if _, err := ins.ExecContext(ctx, m, start, traceID, row); err != nil {
				return fmt.Errorf("trace %s: %w", traceID, err)
			}
		}
	}
	return rows.Err()
}

// backfillDayRollups merges the hour rollup rows into day rows (0010),
// one kind and day at a time in key order, so memory holds one day's label
// sets. An hour row this binary cannot read is left out of its day (its
// hour is as unreadable); the writer replaces such rows when it next
// writes their bucket.
func backfillDayRollups(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT kind, bucket, service, deployment, model, status, point FROM rollups
		WHERE resolution = ? ORDER BY kind, bucket, service, deployment, model, status`, rollup.Hour)
	if err != nil {
		return err
	}
	defer rows.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO rollups (resolution, kind, bucket, service, deployment, model, status, point)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	type label struct{ service, deployment, model, status string }
	var (
		kind string
		day  int64 = math.MinInt64
		acc        = map[label]*rollup.Point{}
	)
	flush := func() error {
		keys := slices.SortedFunc(maps.Keys(acc), func(a, b label) int {
			return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.deployment, b.deployment),
				cmp.Compare(a.model, b.model), cmp.Compare(a.status, b.status))
		})
		for _, l := range keys {
			enc, err := acc[l].MarshalBinary()
			if err != nil {
				return fmt.Errorf("day %d of %s: %w", day, kind, err)
			}
			if _, err := ins.ExecContext(ctx, rollup.Day, kind, day, l.service, l.deployment, l.model, l.status, enc); err != nil {
				return fmt.Errorf("day %d of %s: %w", day, kind, err)
			}
		}
		clear(acc)
		return nil
	}
	for rows.Next() {
		var k string
		var bucket int64
		var l label
		var blob []byte
		if err := rows.Scan(&k, &bucket, &l.service, &l.deployment, &l.model, &l.status, &blob); err != nil {
			return err
		}
		if d := bucket - (bucket%rollup.Day+rollup.Day)%rollup.Day; k != kind || d != day {
			if err := flush(); err != nil {
				return err
			}
			kind, day = k, d
		}
		var hour rollup.Point
		if err := hour.UnmarshalBinary(blob); err != nil {
			continue
		}
		p, ok := acc[l]
		if !ok {
			p = rollup.NewPoint()
			acc[l] = p
		}
		if err := p.Merge(&hour); err != nil {
			return fmt.Errorf("hour %d of %s: %w", bucket, k, err)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}
