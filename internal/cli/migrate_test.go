package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/store/postgres"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
)

func TestMigrate(t *testing.T) {
	dsn := pgtest.DSN(t)
	schema := pgtest.SchemaName(t, dsn)
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
