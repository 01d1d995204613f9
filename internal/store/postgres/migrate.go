package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key migrations run under ("fwmigrat"
// as an integer): replicas starting at once migrate one after the other,
// and all but the first find nothing to do.
const migrationLock int64 = 0x66776d6967726174

// Migration is one embedded migration.
type Migration struct {
	Version int
	Name    string // file name without the .sql suffix
	sql     string
}

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: name must start with a positive number and an underscore", name)
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(name, ".sql"), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("postgres: migrations %s and %s have the same number", out[i-1].Name, out[i].Name)
		}
	}
	return out, nil
}

// Pending returns the migrations a database still needs, without applying
// them (flowwatch migrate --dry-run).
func Pending(ctx context.Context, dsn, schema string) ([]Migration, error) {
	s := &Store{opts: Options{DSN: dsn, Schema: schema, MaxConns: 2}}
	pool, err := s.connect(ctx, dsn, "storage.postgres.dsn")
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return pending(ctx, pool, schema)
}

// Migrate applies the migrations a database needs and returns their
// names (flowwatch migrate).
func Migrate(ctx context.Context, dsn, schema string) ([]string, error) {
	s := &Store{opts: Options{DSN: dsn, Schema: schema, MaxConns: 2}}
	pool, err := s.connect(ctx, dsn, "storage.postgres.dsn")
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return migrate(ctx, pool, schema)
}

func pending(ctx context.Context, pool *pgxpool.Pool, schema string) ([]Migration, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('flowwatch_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	if !exists {
		return all, nil
	}
	done, err := appliedVersions(ctx, pool)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, m := range all {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}

func appliedVersions(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) (map[int]bool, error) {
	rows, err := q.Query(ctx, `SELECT version FROM flowwatch_migrations`)
	if err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	done := make(map[int]bool, len(versions))
	for _, v := range versions {
		done[v] = true
	}
	return done, nil
}

// migrate applies the pending migrations, each in a transaction of its
// own, holding the advisory lock on one connection throughout. A database
// with migrations this binary does not know (a newer flowwatch migrated
// it) is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) ([]string, error) {
	return migrateThrough(ctx, pool, schema, 0)
}

// migrateThrough is migrate stopping after migration last (0: none left
// out), so that tests can make a database as an older flowwatch left it.
func migrateThrough(ctx context.Context, pool *pgxpool.Pool, schema string, last int) ([]string, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("postgres: take the migration lock: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) }()
	// Under the lock: CREATE SCHEMA IF NOT EXISTS is not safe against
	// itself, and replicas starting together on a new schema otherwise
	// fail with a unique violation on pg_namespace.
	if schema != "" {
		if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return nil, fmt.Errorf("postgres: create schema %s: %w", schema, err)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS flowwatch_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("postgres: create the migrations table: %w", err)
	}
	done, err := appliedVersions(ctx, conn)
	if err != nil {
		return nil, err
	}
	known := make(map[int]bool, len(all))
	for _, m := range all {
		known[m.Version] = true
	}
	for v := range done {
		if !known[v] {
			return nil, fmt.Errorf("postgres: the database has migration %d, which this flowwatch does not know: it was migrated by a newer flowwatch; use that version", v)
		}
	}
	var applied []string
	for _, m := range all {
		if done[m.Version] || (last > 0 && m.Version > last) {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO flowwatch_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		applied = append(applied, m.Name)
	}
	return applied, nil
}
