// Package pgtest gives tests a PostgreSQL to run against: the server that
// make test starts (scripts/with-postgres.sh sets FLOWWATCH_TEST_POSTGRES_DSN)
// and a throwaway schema per test, so that tests run in parallel on it.
// It is for tests only.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DSN returns the test server's DSN, or skips the test saying why; with
// FLOWWATCH_REQUIRE_POSTGRES=1 (CI) a missing server fails it instead.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("FLOWWATCH_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("FLOWWATCH_REQUIRE_POSTGRES") == "1" {
			t.Fatal("FLOWWATCH_TEST_POSTGRES_DSN is not set and FLOWWATCH_REQUIRE_POSTGRES=1: run the tests through make test (scripts/with-postgres.sh)")
		}
		t.Skip("no PostgreSQL: set FLOWWATCH_TEST_POSTGRES_DSN, or run make test, which starts one when PostgreSQL is installed")
	}
	return dsn
}

// SchemaName returns a fresh schema name, not created (flowwatch creates
// it), dropped with everything in it when the test ends.
func SchemaName(t testing.TB, dsn string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "fwtest_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Schema is SchemaName with the schema created, empty.
func Schema(t testing.TB, dsn string) string {
	t.Helper()
	schema := SchemaName(t, dsn)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	return schema
}
