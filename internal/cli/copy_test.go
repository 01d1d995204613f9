package cli_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// flowwatch copy checks its arguments, refuses a store a server holds,
// and copies (the records themselves: internal/transfer's tests).
func TestCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flowwatch.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: path, Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 30 {
		sp := model.Span{TraceID: fmt.Sprintf("%032x", i+1), SpanID: "0000000000000001", Name: "rag",
			StartTime: start.Add(time.Duration(i) * time.Minute), EndTime: start.Add(time.Duration(i)*time.Minute + time.Second),
			ResourceAttributes: map[string]any{"service.name": "svc"}}
		normalize.Deriver{}.DeriveSpan(&sp, nil)
		if _, err := st.WriteBatch(ctx, model.Batch{Spans: []model.Span{sp}}); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no from", []string{"copy", "--to", "postgres:x"}, 2, "--from must be sqlite:PATH"},
		{"bad to", []string{"copy", "--from", "sqlite:" + path, "--to", "mysql:x"}, 2, "--to must be postgres:DSN"},
		{"missing file", []string{"copy", "--from", "sqlite:" + path + ".nope", "--to", "postgres://127.0.0.1:1/x"}, 1, "no such file"},
		// The store is open (st): a server would hold it the same way.
		{"in use", []string{"copy", "--from", "sqlite:" + path, "--to", "postgres://127.0.0.1:1/x"}, 1, "stop the flowwatch server using it first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
	st.Close()

	dsn := os.Getenv("FLOWWATCH_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("FLOWWATCH_REQUIRE_POSTGRES") == "1" {
			t.Fatal("FLOWWATCH_TEST_POSTGRES_DSN is not set: run the tests through make test")
		}
		t.Skip("no PostgreSQL for the copy itself: set FLOWWATCH_TEST_POSTGRES_DSN, or run make test")
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
	t.Setenv("FLOWWATCH_POSTGRES_DSN", dsn)
	args := []string{"copy", "--from", "sqlite:" + path, "--to", "postgres:", "--schema", schema, "--page-size", "7"}
	r := run(t, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "every table's count matches") ||
		!strings.Contains(r.stdout, "traces                         30           30") ||
		!strings.Contains(r.stderr, "traces          30/30 100%") {
		t.Fatalf("copy: exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("--- stdout\n%s--- stderr\n%s", r.stdout, r.stderr)
	// Run again: everything was copied, nothing is copied twice.
	r = run(t, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "copied 0 records") || !strings.Contains(r.stderr, "(copied earlier)") {
		t.Fatalf("copy again: exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
	}
}
