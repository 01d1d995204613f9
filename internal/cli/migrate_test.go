package cli_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/store/postgres"
)

func TestMigrate(t *testing.T) {
	dsn := os.Getenv("FLOWWATCH_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("FLOWWATCH_REQUIRE_POSTGRES") == "1" {
			t.Fatal("FLOWWATCH_TEST_POSTGRES_DSN is not set: run the tests through make test")
		}
		t.Skip("no PostgreSQL: set FLOWWATCH_TEST_POSTGRES_DSN, or run make test")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "fwtest_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
			conn.Close(context.Background())
		}
	})
	cfgPath := filepath.Join(t.TempDir(), "flowwatch.yaml")
	if err := os.WriteFile(cfgPath, []byte("storage: {postgres: {schema: "+schema+"}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLOWWATCH_POSTGRES_DSN", dsn)
	all, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}

	r := run(t, "migrate", "--config", cfgPath, "--dry-run")
	if r.code != 0 || strings.Count(r.stdout, "pending  ") != len(all) {
		t.Fatalf("dry run on an empty schema: exit %d, %q; want %d pending", r.code, r.stdout+r.stderr, len(all))
	}
	r = run(t, "migrate", "--config", cfgPath)
	if r.code != 0 || strings.Count(r.stdout, "applied  ") != len(all) {
		t.Fatalf("migrate: exit %d, %q; want %d applied", r.code, r.stdout+r.stderr, len(all))
	}
	for _, args := range [][]string{{"migrate", "--config", cfgPath, "--dry-run"}, {"migrate", "--config", cfgPath}} {
		if r := run(t, args...); r.code != 0 || !strings.Contains(r.stdout, "up to date") {
			t.Errorf("%v after migrating: exit %d, %q", args, r.code, r.stdout+r.stderr)
		}
	}
}

func TestMigrateEmbedded(t *testing.T) {
	t.Setenv("FLOWWATCH_DATA_DIR", t.TempDir())
	t.Setenv("FLOWWATCH_POSTGRES_DSN", "")
	r := run(t, "migrate")
	if r.code != 0 || !strings.Contains(r.stdout, "migrates itself") {
		t.Errorf("migrate without PostgreSQL: exit %d, %q", r.code, r.stdout+r.stderr)
	}
}
