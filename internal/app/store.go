package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// backend is what flowwatch needs of its store: the storage port, plus
// what running it takes (readiness, the write queue's depth for /metrics).
// A store written by this process alone (SQLite) also provides
// store.LeaseRecovery; a shared one (PostgreSQL) does not, since the
// leases it holds may be other replicas' (see App.Start).
type backend interface {
	store.Store
	// Writable reports whether writes can succeed now (for /readyz).
	Writable(ctx context.Context) error
	// WriteQueue reports the writes waiting and the room for them.
	WriteQueue() (depth, capacity int)
}

// openStore opens the store the configuration selects: PostgreSQL when
// storage.postgres.dsn is set, else the embedded SQLite file in data_dir.
// It is the only place that names a concrete store.
func openStore(ctx context.Context, cfg config.Config, d store.Deriver, onCommit func(store.Commit), logger *slog.Logger) (backend, error) {
	if cfg.UsePostgres() {
		p := cfg.Storage.Postgres
		st, err := postgres.Open(ctx, postgres.Options{DSN: p.DSN, ReadDSN: p.ReadDSN, Schema: p.Schema,
			MaxConns: int32(p.MaxConns), Deriver: d, OnCommit: onCommit}, logger)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return st, nil
	}
	dbPath := cfg.SQLitePath()
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Path: dbPath, Deriver: d, Synchronous: cfg.Storage.SQLite.Synchronous, OnCommit: onCommit}, logger)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dbPath, err)
	}
	return st, nil
}

// storeName says which store is open, for the start-up log: the SQLite
// file, or "postgres" (never the DSN: it may hold a password).
func storeName(cfg config.Config) string {
	if cfg.UsePostgres() {
		return "postgres"
	}
	return cfg.SQLitePath()
}
