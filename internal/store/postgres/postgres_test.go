package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// openTest opens a Store on a fresh schema.
func openTest(t testing.TB, d store.Deriver) *Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	s, err := Open(context.Background(), Options{DSN: dsn, Schema: pgtest.Schema(t, dsn), Deriver: d, MaxConns: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T, d store.Deriver) func() (store.Store, error) {
		schema := pgtest.Schema(t, dsn)
		return func() (store.Store, error) {
			return Open(context.Background(), Options{DSN: dsn, Schema: schema, Deriver: d, MaxConns: 8}, nil)
		}
	})
}

// Replicas starting at once on an empty database migrate it once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(context.Background(), Options{DSN: dsn, Schema: schema, Deriver: storetest.Deriver{}, MaxConns: 2}, nil)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	left, err := Pending(context.Background(), dsn, schema)
	if err != nil || len(left) != 0 {
		t.Errorf("Pending after the opens = %v, %v; want none", left, err)
	}
	all, _ := Migrations()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.flowwatch_migrations`).Scan(&n); err != nil || n != len(all) {
		t.Errorf("%d migrations recorded (%v), want %d", n, err, len(all))
	}
}

// A bad DSN is named by its key, never quoted (it may hold a password).
func TestOpenBadDSN(t *testing.T) {
	_, err := Open(context.Background(), Options{DSN: "postgres://user:s3cret@[::1", Deriver: storetest.Deriver{}}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	if got := err.Error(); !contains(got, "storage.postgres.dsn") || contains(got, "s3cret") {
		t.Errorf("error %q: want it to name the key and not the password", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// With a read DSN, searches, trace reads and rollups go to its pool; here
// it is the same server, so they see what the primary wrote (a real
// replica lags by its replication delay).
func TestReadDSN(t *testing.T) {
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	ctx := context.Background()
	s, err := Open(ctx, Options{DSN: dsn, ReadDSN: dsn, Schema: schema, Deriver: storetest.Deriver{}, MaxConns: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.rpool == s.pool {
		t.Fatal("one pool for both DSNs")
	}
	sp := model.Span{TraceID: strings.Repeat("ab", 16), SpanID: strings.Repeat("cd", 8), Name: "flow",
		StartTime: time.Now().Add(-time.Minute), EndTime: time.Now(), StatusCode: model.StatusOK,
		ResourceAttributes: map[string]any{"service.name": "read"}}
	storetest.Deriver{}.DeriveSpan(&sp, nil)
	if _, err := s.WriteBatch(ctx, model.Batch{Spans: []model.Span{sp}}); err != nil {
		t.Fatal(err)
	}
	before := s.rpool.Stat().AcquireCount()
	page, err := s.ListTraces(ctx, store.TraceQuery{Limit: 10})
	if err != nil || len(page.Traces) != 1 {
		t.Fatalf("ListTraces = %v, %v", page.Traces, err)
	}
	if _, err := s.GetTrace(ctx, sp.TraceID); err != nil {
		t.Fatal(err)
	}
	if s.rpool.Stat().AcquireCount() == before {
		t.Error("the reads did not use the read pool")
	}
	if _, err := Open(ctx, Options{DSN: dsn, ReadDSN: "postgres://nobody:secret@127.0.0.1:1/x", Schema: schema,
		Deriver: storetest.Deriver{}}, nil); err == nil || !strings.Contains(err.Error(), "storage.postgres.read_dsn") || strings.Contains(err.Error(), "secret") {
		t.Errorf("an unreachable read DSN: %v; want an error naming the key, without the password", err)
	}
}
