package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/flowwatch/flowwatch/internal/ingest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/pipeline"
	"github.com/flowwatch/flowwatch/internal/store"
)

// incompressibleTraces is a batch of n spans, each with 8 KB of random
// text, so that storing it needs new pages whatever the compression.
func incompressibleTraces(n int, seed byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{seed, byte(i >> 8), byte(i), 1})
		sp.SetSpanID(pcommon.SpanID{seed, byte(i >> 8), byte(i), 1})
		sp.SetName("chat")
		b := make([]byte, 4096)
		_, _ = rand.Read(b)
		sp.Attributes().PutStr("input.value", hex.EncodeToString(b))
	}
	return td
}

// setMaxPages sets the writer connection's page limit: max_page_count at
// the database's current size makes every write that needs a new page
// fail with SQLITE_FULL, as a full disk does.
func setMaxPages(t *testing.T, s *Store, full bool) {
	t.Helper()
	err := s.write(context.Background(), func(tx *sql.Tx) error {
		limit := 1 << 30
		if full {
			var pages, free int
			if err := tx.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
				return err
			}
			if err := tx.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil {
				return err
			}
			limit = pages
			t.Logf("database of %d pages (%d free) made full", pages, free)
		}
		var got int
		return tx.QueryRow(fmt.Sprintf(`PRAGMA max_page_count = %d`, limit)).Scan(&got)
	})
	if err != nil {
		t.Fatalf("set max_page_count: %v", err)
	}
}

// TestDiskFullIsRetryable fills the database (max_page_count) under a real
// ingest edge: OTLP/HTTP exports get 503 with Retry-After and OTLP/gRPC
// exports UNAVAILABLE, so exporters retry instead of dropping; Writable
// reports the fault until the limit is lifted, then a probe write finds
// the store writable again and exports succeed.
func TestDiskFullIsRetryable(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.health.probeEvery = 0 // probe on every call

	pl, err := pipeline.New(pipeline.Options{Writer: s, Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := ingest.New(ingest.Options{Consumer: pl}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	rcv.RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	gs := grpc.NewServer()
	rcv.RegisterGRPC(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	grpcClient := ptraceotlp.NewGRPCClient(conn)

	postHTTP := func(seed byte) *http.Response {
		t.Helper()
		body, err := ptraceotlp.NewExportRequestFromTraces(incompressibleTraces(64, seed)).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+ingest.PathTraces, "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	exportGRPC := func(seed byte) error {
		_, err := grpcClient.Export(ctx, ptraceotlp.NewExportRequestFromTraces(incompressibleTraces(64, seed)))
		return err
	}

	if resp := postHTTP(1); resp.StatusCode != http.StatusOK {
		t.Fatalf("export before the disk is full: status %d", resp.StatusCode)
	}
	if err := s.Writable(ctx); err != nil {
		t.Fatalf("Writable before the disk is full: %v", err)
	}

	setMaxPages(t, s, true)
	resp := postHTTP(2)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("export with the disk full: status %d, Retry-After %q; want 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if err := exportGRPC(3); status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC export with the disk full: %v; want UNAVAILABLE", err)
	}
	werr := s.Writable(ctx) // probes, and fails: still full
	if !errors.Is(werr, store.ErrUnwritable) || !strings.Contains(werr.Error(), "full") {
		t.Errorf("Writable with the disk full = %v; want an error wrapping ErrUnwritable saying the database is full", werr)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping with the disk full = %v; reads still work", err)
	}
	if st := rcv.Stats(); st.Refused.Unavailable != 2 || st.Refused.Internal != 0 {
		t.Errorf("refused requests %+v; want 2 unavailable (HTTP and gRPC) and none internal", st.Refused)
	}

	setMaxPages(t, s, false)
	if err := s.Writable(ctx); err != nil {
		t.Errorf("Writable once the disk has room = %v; want the probe to succeed", err)
	}
	if resp := postHTTP(4); resp.StatusCode != http.StatusOK {
		t.Errorf("export once the disk has room: status %d", resp.StatusCode)
	}
	if err := exportGRPC(5); err != nil {
		t.Errorf("gRPC export once the disk has room: %v", err)
	}
}

// TestRecoveryByBatch: without a probe (the last one was just now), the
// next successful batch makes the store writable again.
func TestRecoveryByBatch(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "fw.db"))
	setMaxPages(t, s, true)
	spans, _ := normalize.Traces(incompressibleTraces(64, 1), normalize.Limits{})
	if _, err := s.WriteBatch(ctx, model.Batch{Spans: spans}); !errors.Is(err, store.ErrUnwritable) {
		t.Fatalf("WriteBatch with the disk full = %v; want ErrUnwritable", err)
	}
	s.health.probeEvery = 1 << 62 // never probe
	if err := s.Writable(ctx); !errors.Is(err, store.ErrUnwritable) {
		t.Fatalf("Writable = %v; want ErrUnwritable", err)
	}
	setMaxPages(t, s, false)
	if err := s.Writable(ctx); err == nil {
		t.Fatal("Writable without a probe or a batch reports writable")
	}
	spans, _ = normalize.Traces(incompressibleTraces(4, 2), normalize.Limits{})
	if _, err := s.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(ctx); err != nil {
		t.Errorf("Writable after a successful batch = %v", err)
	}
}

// TestOpenNamesUnwritableDirectory: a data directory flowwatch cannot write
// is named as the cause at start-up. Two ways: permissions (chmod 0555;
// root ignores them, so that case is skipped when running as root) and a
// database path under a regular file, which no user can create.
func TestOpenNamesUnwritableDirectory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string // returns the database path
		want  string
	}{
		{"read-only directory", func(t *testing.T) string {
			if os.Geteuid() == 0 {
				t.Skip("running as root: permissions do not stop root from writing; the /proc case covers Open's check")
			}
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
			return filepath.Join(dir, "fw.db")
		}, "is not writable"},
		{"read-only database file", func(t *testing.T) string {
			if os.Geteuid() == 0 {
				t.Skip("running as root: permissions do not stop root from writing")
			}
			dir := t.TempDir()
			db := filepath.Join(dir, "fw.db")
			if err := os.WriteFile(db, nil, 0o444); err != nil {
				t.Fatal(err)
			}
			return db
		}, "database file"},
		{"directory nobody can create files in", func(t *testing.T) string {
			// procfs refuses new files to root too: it stands in for a
			// read-only mount, which a test cannot make without privileges.
			if runtime.GOOS != "linux" {
				t.Skip("needs Linux's /proc")
			}
			if _, err := os.Stat("/proc/self"); err != nil {
				t.Skipf("no /proc: %v", err)
			}
			return "/proc/self/fw.db"
		}, "is not writable"},
		{"directory under a file", func(t *testing.T) string {
			file := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(file, "data", "fw.db")
		}, "create directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.setup(t)
			s, err := Open(context.Background(), Options{Path: path, Deriver: normalize.Deriver{}}, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Dir(path)) {
				t.Errorf("Open error %q does not name the cause (%q) and the directory", err, tc.want)
			}
		})
	}
}

func TestIsUnwritable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"other", errors.New("constraint failed"), false},
		{"no space", fmt.Errorf("write: %w", os.NewSyscallError("write", syscall.ENOSPC)), true},
		{"read-only file system", &os.PathError{Op: "open", Path: "x", Err: syscall.EROFS}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isUnwritable(tc.err); got != tc.want {
				t.Errorf("isUnwritable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
