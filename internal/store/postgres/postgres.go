// Package postgres is flowwatch's shared storage backend: the whole
// storage port (package store) on PostgreSQL through pgx, so that several
// flowwatch replicas can run on one database. PostgreSQL also coordinates
// them: a run, a notification or an alert decision is claimed by one
// replica with row locks (FOR UPDATE SKIP LOCKED and leases), never by
// process-local state.
//
// Files by what they own: postgres.go (options, pool, lifecycle, error
// mapping), migrate.go (embedded migrations under an advisory lock),
// traces.go (the write path), partitions.go (day partitions of spans and
// logs), traceread.go, search.go and fts.go (reads, search, full text),
// erase.go (deleting traces), rollups.go, monitors.go, runs.go and
// results.go (monitors, schedule, runs, results, the evaluation cache),
// alerts.go, outbox.go, groups.go, silences.go and keys.go.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowwatch/flowwatch/internal/store"
)

// Options configures a Store. Zero values select the defaults.
type Options struct {
	// DSN is the PostgreSQL connection string (URL or key=value form).
	DSN string
	// ReadDSN, when set, is a read replica that the API's and the
	// dashboard's reads go to; writes and everything that coordinates
	// replicas use DSN.
	ReadDSN string
	// Schema, when set, is the schema flowwatch keeps its tables in
	// (created if missing); otherwise the connection's search_path
	// decides (usually public).
	Schema string
	// Deriver recomputes derived span fields and trace summaries when
	// related data arrives in separate batches. Required.
	Deriver store.Deriver
	// OnCommit, when set, is called after every committed write of spans;
	// it must return quickly.
	OnCommit func(store.Commit)
	// MaxConns bounds the connections of the pool (default 16).
	MaxConns int32
	// Compression is how large payloads are compressed: "s2" (default) or
	// "zstd", as for SQLite.
	Compression string
}

func (o *Options) withDefaults() error {
	if o.DSN == "" {
		return errors.New("postgres: Options.DSN is empty")
	}
	if o.Deriver == nil {
		return errors.New("postgres: Options.Deriver is nil")
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	switch o.Compression {
	case "":
		o.Compression = "s2"
	case "s2", "zstd":
	default:
		return fmt.Errorf("postgres: Options.Compression must be s2 or zstd, got %q", o.Compression)
	}
	return nil
}

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use, by several processes on one database too.
type Store struct {
	opts Options
	log  *slog.Logger
	// pool serves writes and reads that must see them; rpool serves the
	// API's reads (pool itself without Options.ReadDSN).
	pool  *pgxpool.Pool
	rpool *pgxpool.Pool
	// tr is what the traces area keeps across calls: the payload codec and
	// the partitions known to exist (traces.go).
	tr *traceShared

	closed    atomic.Bool
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database, applies the embedded migrations (under an
// advisory lock: replicas starting together migrate once) and returns the
// Store.
func Open(ctx context.Context, opts Options, logger *slog.Logger) (*Store, error) {
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, log: logger.With("component", "store", "backend", "postgres")}
	var err error
	if s.tr, err = newTraceShared(opts.Compression); err != nil {
		return nil, err
	}
	if s.pool, err = s.connect(ctx, opts.DSN, "storage.postgres.dsn"); err != nil {
		return nil, err
	}
	s.rpool = s.pool
	if opts.ReadDSN != "" {
		if s.rpool, err = s.connect(ctx, opts.ReadDSN, "storage.postgres.read_dsn"); err != nil {
			s.pool.Close()
			return nil, err
		}
	}
	applied, err := migrate(ctx, s.pool, opts.Schema)
	if err != nil {
		s.closePools()
		return nil, err
	}
	if len(applied) > 0 {
		s.log.Info("store_migrated", "migrations", len(applied), "to", applied[len(applied)-1])
	}
	s.log.Info("store_opened")
	return s, nil
}

// connect makes a pool on dsn whose connections use the store's schema,
// and checks that it answers.
func (s *Store) connect(ctx context.Context, dsn, key string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included: name the
		// key instead.
		return nil, fmt.Errorf("postgres: %s is not a valid connection string (a postgres:// URL or key=value pairs)", key)
	}
	cfg.MaxConns = s.opts.MaxConns
	if s.opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = s.opts.Schema
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "flowwatch"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect (%s): %w", key, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s (%s): %w", cfg.ConnConfig.Host, key, err)
	}
	return pool, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pools; it is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closePools()
		s.tr.close()
		s.log.Info("store_closed")
	})
	return nil
}

func (s *Store) closePools() {
	if s.rpool != nil && s.rpool != s.pool {
		s.rpool.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
}

// inTx runs fn in a transaction on the write pool and commits if fn
// returns nil; a serialization failure or deadlock is retried a few
// times (fn must be safe to run again).
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return s.mapErr(err)
}

// retryable reports whether err is a transient conflict between
// concurrent transactions (serialization failure, deadlock).
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// mapErr wraps errors that mean "cannot write now" (disk full, read-only,
// connection lost, too many connections) with store.ErrUnwritable, so that
// ingest answers 503 and exporters retry.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("%w: %w", store.ErrClosed, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "53100", // disk full
			"53300",                   // too many connections
			"25006",                   // read-only transaction (a standby)
			"57P01", "57P02", "57P03": // shutting down, starting
			return fmt.Errorf("%w: %w", store.ErrUnwritable, err)
		}
		if strings.HasPrefix(pe.Code, "08") { // connection exception
			return fmt.Errorf("%w: %w", store.ErrUnwritable, err)
		}
		return err
	}
	if pgconn.SafeToRetry(err) { // the request never reached the server
		return fmt.Errorf("%w: %w", store.ErrUnwritable, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: %w", store.ErrUnwritable, err)
	}
	return err
}

// notFound reports whether err is pgx's "no rows".
func notFound(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// Writable reports whether the store can take writes now: the primary
// answers and is not a standby in recovery (for /readyz).
func (s *Store) Writable(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	var standby bool
	if err := s.pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
		return s.mapErr(fmt.Errorf("postgres: %w", err))
	}
	if standby {
		return fmt.Errorf("%w: storage.postgres.dsn is a standby in recovery (read-only)", store.ErrUnwritable)
	}
	return nil
}

// WriteQueue reports the connections in use and the pool's size:
// PostgreSQL has no single writer queue; in use near the capacity means
// the database does not keep up (writes then wait for a connection).
func (s *Store) WriteQueue() (depth, capacity int) {
	st := s.pool.Stat()
	return int(st.AcquiredConns()), int(st.MaxConns())
}
