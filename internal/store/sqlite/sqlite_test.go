package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	var opts []storetest.Option
	if raceEnabled && !testing.Short() {
		// The search-paging corpus takes 33 s through SQLite under the race
		// detector; TestConformanceSmallParts pages through the same corpus
		// (in more, smaller parts), so the race run reads it once.
		opts = append(opts, storetest.Skip("under -race TestConformanceSmallParts runs it", "SearchPaging"))
	}
	storetest.Run(t, func(t *testing.T, d store.Deriver) func() (store.Store, error) {
		path := filepath.Join(t.TempDir(), "data", "flowwatch.db")
		return func() (store.Store, error) {
			return Open(context.Background(), Options{Path: path, Deriver: d}, nil)
		}
	}, opts...)
}

func TestConformanceSynchronousFull(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite already ran with the default settings; -short skips the variant")
	}
	// Small groups and a tiny queue exercise the writer's grouping limits.
	storetest.Run(t, func(t *testing.T, d store.Deriver) func() (store.Store, error) {
		path := filepath.Join(t.TempDir(), "flowwatch.db")
		return func() (store.Store, error) {
			return Open(context.Background(), Options{Path: path, Deriver: d, Synchronous: "full",
				ReadConns: 1, QueueSize: 1, MaxGroupSpans: 2}, nil)
		}
	}, storetest.Skip("searches read as in the default variant; this one is about the writer (and took 35 s under -race)",
		"SearchPaging", "Paging"))
}

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Path: path, Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no path", Options{Deriver: storetest.Deriver{}}, "Path is empty"},
		{"no deriver", Options{Path: filepath.Join(dir, "a.db")}, "Deriver is nil"},
		{"bad synchronous", Options{Path: filepath.Join(dir, "b.db"), Deriver: storetest.Deriver{}, Synchronous: "off"}, "normal or full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), tc.opts, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?with#odd%chars", "flow watch.db")
	s := openTest(t, path)
	writeOne(t, s, "t1")
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the path asked for: %v", err)
	}
	s = openTest(t, path)
	if _, err := s.GetTrace(context.Background(), "t1"); err != nil {
		t.Errorf("reopened store: %v", err)
	}
}

func writeOne(t *testing.T, s *Store, traceID string) {
	t.Helper()
	if _, err := s.WriteBatch(context.Background(), model.Batch{Spans: []model.Span{{TraceID: traceID, SpanID: "s"}}}); err != nil {
		t.Fatal(err)
	}
}

func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flowwatch.db")
	s := openTest(t, path)
	var mode string
	if err := s.wdb.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var sync int
	if err := s.wdb.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 1 {
		t.Errorf("synchronous = %d, %v; want 1 (NORMAL)", sync, err)
	}
	var qo int
	if err := s.rdb.QueryRow(`PRAGMA query_only`).Scan(&qo); err != nil || qo != 1 {
		t.Errorf("readers' query_only = %d, %v; want 1", qo, err)
	}
	if _, err := s.rdb.Exec(`DELETE FROM traces`); err == nil {
		t.Error("a reader connection could write")
	}
}

func TestMigrations(t *testing.T) {
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	path := filepath.Join(t.TempDir(), "flowwatch.db")
	s := openTest(t, path)
	var version int
	if err := s.wdb.QueryRow(`SELECT version FROM schema_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != len(migs) {
		t.Errorf("schema version %d, want %d", version, len(migs))
	}
	s.Close()
	// Reopening applies nothing and keeps one version row.
	s = openTest(t, path)
	var rows int
	if err := s.wdb.QueryRow(`SELECT count(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("schema_version rows = %d, %v; want 1", rows, err)
	}
}

func TestMigrateSteps(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte(`CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);`)},
		"m/0002_b.sql": {Data: []byte(`CREATE TABLE b (y INTEGER); INSERT INTO b SELECT x + 1 FROM a;`)},
		"m/README":     {Data: []byte(`not a migration`)},
	}
	migs, err := loadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	from, to, err := migrate(ctx, db, migs[:1])
	if err != nil || from != 0 || to != 1 {
		t.Fatalf("first migration: from %d to %d, %v", from, to, err)
	}
	from, to, err = migrate(ctx, db, migs)
	if err != nil || from != 1 || to != 2 {
		t.Fatalf("second migration: from %d to %d, %v", from, to, err)
	}
	var y int
	if err := db.QueryRow(`SELECT y FROM b`).Scan(&y); err != nil || y != 2 {
		t.Errorf("b.y = %d, %v; want 2 (migrations ran in order)", y, err)
	}

	// A failing migration leaves the database at the previous version.
	bad := append(migs, migration{version: 3, name: "0003_bad.sql", sql: `CREATE TABLE c (z); SELECT no_such_function();`})
	_, to, err = migrate(ctx, db, bad)
	if err == nil || to != 2 {
		t.Fatalf("failing migration: to %d, %v; want an error at version 2", to, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM c`).Scan(new(int)); err == nil {
		t.Error("the failed migration's table exists")
	}

	// A database newer than the binary is refused.
	_, _, err = migrate(ctx, db, migs[:1])
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("older binary: %v, want ErrSchemaTooNew", err)
	}
}

func TestLoadMigrationsRejectsBadSets(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"duplicate": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"no number": {"m/init.sql": {}},
		"zero":      {"m/0000_a.sql": {}},
		"empty":     {"m/README": {}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := loadMigrations(fsys, "m"); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flowwatch.db")
	s := openTest(t, path)
	if _, err := s.wdb.Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), Options{Path: path, Deriver: storetest.Deriver{}}, nil)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer database: %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "999") {
		t.Errorf("error %q does not say the database's version", err)
	}
}

// floatBits compares floats bit for bit (NaN equals NaN, -0 differs from 0).
func floatBits() cmp.Option {
	return cmp.Comparer(func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
	})
}

// TestExactValueTypes checks what the conformance suite cannot demand of
// every backend: attribute values come back with their exact Go types.
func TestExactValueTypes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "flowwatch.db"))
	attrs := map[string]any{
		"int":         int64(math.MaxInt64),
		"min":         int64(math.MinInt64),
		"whole_float": 2.0,
		"neg_zero":    math.Copysign(0, -1),
		"nan":         math.NaN(),
		"inf":         math.Inf(1),
		"ninf":        math.Inf(-1),
		"bad_utf8":    "a\xffb",
		"bytes":       []byte("raw"),
		"arr":         []any{int64(1), 1.5, "s", []byte{1}},
		"tagged":      map[string]any{"$m": map[string]any{"x": int64(1)}},
	}
	sp := model.Span{TraceID: "t1", SpanID: "s1", StartTime: time.Unix(1, 0).UTC(), EndTime: time.Unix(2, 0).UTC(),
		Attributes: attrs}
	storetest.Deriver{}.DeriveSpan(&sp, nil)
	if _, err := s.WriteBatch(context.Background(), model.Batch{Spans: []model.Span{sp}}); err != nil {
		t.Fatal(err)
	}
	d, err := s.GetTrace(context.Background(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	got := d.Spans[0].Attributes
	if diff := cmp.Diff(attrs, got, floatBits()); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	if f := got["neg_zero"].(float64); !math.Signbit(f) {
		t.Error("-0.0 lost its sign")
	}
}

func TestStoredCompressed(t *testing.T) {
	for _, comp := range []string{"s2", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "c.db"),
				Deriver: storetest.Deriver{}, Compression: comp}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			big := strings.Repeat("the same words again and again ", 200)
			sp := model.Span{TraceID: "t1", SpanID: "large", Attributes: map[string]any{"x": big}}
			if _, err := s.WriteBatch(context.Background(), model.Batch{Spans: []model.Span{sp}}); err != nil {
				t.Fatal(err)
			}
			var body []byte
			if err := s.rdb.QueryRow(`SELECT body FROM spans`).Scan(&body); err != nil {
				t.Fatal(err)
			}
			// The stored blob's marker (see package payload): 's' for S2, 'z'
			// for zstd.
			if want := map[string]byte{"s2": 's', "zstd": 'z'}[comp]; body[0] != want || len(body) > len(big)/4 {
				t.Errorf("span stored in %d bytes with marker %q for %d bytes of text", len(body), body[0], len(big))
			}
			d, err := s.GetTrace(context.Background(), "t1")
			if err != nil || d.Spans[0].Attributes["x"] != big {
				t.Errorf("read back: %v", err)
			}
		})
	}
}

// failingDeriver panics when it summarizes a span named "boom" together
// with others, which happens only in the writer.
type failingDeriver struct{ storetest.Deriver }

func (d failingDeriver) Summarize(spans []model.Span) model.Trace {
	for _, s := range spans {
		if s.Name == "boom" && len(spans) > 1 {
			panic("deriver failure")
		}
	}
	return d.Deriver.Summarize(spans)
}

func TestDeriverPanicFailsOnlyItsBatch(t *testing.T) {
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "f.db"), Deriver: failingDeriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.WriteBatch(ctx, model.Batch{Spans: []model.Span{{TraceID: "bad", SpanID: "1", Name: "boom"}}}); err != nil {
		t.Fatal(err)
	}
	good := model.Batch{Spans: []model.Span{{TraceID: "good", SpanID: "1", Name: "fine"}}}
	bad := model.Batch{Spans: []model.Span{{TraceID: "bad", SpanID: "2", Name: "second"}}}
	// Committed as one group, the failure is isolated by the retry.
	g1, err := s.prepare(&good)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := s.prepare(&bad)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*request{g1, g2} {
		r.state.Store(stateTaken)
	}
	s.commitGroup([]*request{g1, g2})
	if g1.err != nil || g1.res.SpansWritten != 1 {
		t.Errorf("good batch: %+v, %v", g1.res, g1.err)
	}
	if g2.err == nil || !strings.Contains(g2.err.Error(), "deriver failure") {
		t.Errorf("bad batch error = %v, want the panic", g2.err)
	}
	if _, err := s.GetTrace(ctx, "good"); err != nil {
		t.Errorf("good trace: %v", err)
	}
	if d, err := s.GetTrace(ctx, "bad"); err != nil || len(d.Spans) != 1 {
		t.Errorf("bad trace: %d spans, %v; want the first span only", len(d.Spans), err)
	}
	// The store keeps working.
	if _, err := s.WriteBatch(ctx, model.Batch{Spans: []model.Span{{TraceID: "after", SpanID: "1"}}}); err != nil {
		t.Errorf("write after a failure: %v", err)
	}
	// A panic in the caller's goroutine (summarizing the batch) is an error too.
	boom := model.Batch{Spans: []model.Span{{TraceID: "x", SpanID: "1", Name: "boom"}, {TraceID: "x", SpanID: "2"}}}
	if _, err := s.WriteBatch(ctx, boom); err == nil || !strings.Contains(err.Error(), "deriver failure") {
		t.Errorf("batch whose summary panics: %v", err)
	}
}

func TestRejectsTooDeepValues(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "flowwatch.db"))
	var v any = "leaf"
	for range payload.MaxValueDepth + 5 {
		v = []any{v}
	}
	_, err := s.WriteBatch(context.Background(), model.Batch{Spans: []model.Span{
		{TraceID: "t", SpanID: "s", Attributes: map[string]any{"deep": v}}}})
	if err == nil || !strings.Contains(err.Error(), "nested too deeply") || !strings.Contains(err.Error(), "t/s") {
		t.Errorf("error = %v, want one naming the span and the nesting", err)
	}
}

// TestQueryPlans checks that every way of reading traces newest first
// reads an index in that order, without sorting.
func TestQueryPlans(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "flowwatch.db"))
	// A trace, so that there are duration buckets to merge.
	if _, err := s.WriteBatch(context.Background(), model.Batch{Spans: []model.Span{{TraceID: "t", SpanID: "s",
		StartTime: time.Unix(10, 0), EndTime: time.Unix(30, 0)}}}); err != nil {
		t.Fatal(err)
	}
	cursor := encodeCursor(5, "x")
	for _, tc := range []struct {
		name string
		q    store.TraceQuery
		d    driver
		cols int
		want []string
	}{
		{"time", store.TraceQuery{Cursor: cursor}, byTime, 0, []string{"traces_start"}},
		{"time, window", store.TraceQuery{Since: time.Unix(1, 0), Until: time.Unix(9, 0)}, byTime, colService, []string{"traces_start"}},
		{"service", store.TraceQuery{Service: "a", Cursor: cursor}, byService, colStatus, []string{"COVERING INDEX traces_service_start", "SEARCH f USING COVERING INDEX traces_filters (id=?)"}},
		{"errors", store.TraceQuery{Status: model.StatusError, Since: time.Unix(1, 0)}, byErrors, 0, []string{"traces_errors_start"}},
		{"model", store.TraceQuery{Model: "m", Cursor: cursor}, byModel, 0, []string{"SEARCH m USING PRIMARY KEY (model=? AND (start_ns,trace_id)<(?,?))"}},
		{"model, other filters", store.TraceQuery{Model: "m", Service: "a"}, byModel, colService, []string{"SEARCH m USING PRIMARY KEY", "SEARCH f USING COVERING INDEX traces_filters (id=?)"}},
		{"duration", store.TraceQuery{MinDuration: time.Second, Cursor: cursor}, byDuration, colStatus, []string{"MERGE", "traces_duration_start", "SEARCH f USING COVERING INDEX traces_filters (id=?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr, tx := testSearch(t, s, tc.q)
			defer tx.Rollback()
			query, args, err := sr.driverSQL(tc.d, tc.cols, false)
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, tx, query, args)
			for _, w := range tc.want {
				if !strings.Contains(plan, w) {
					t.Errorf("plan does not use %s:\n%s", w, plan)
				}
			}
			if strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "SCAN") {
				t.Errorf("plan sorts or scans:\n%s", plan)
			}
		})
	}
	t.Run("blocks", func(t *testing.T) {
		sr, tx := testSearch(t, s, store.TraceQuery{Text: "word", Since: time.Unix(1, 0), Cursor: cursor})
		defer tx.Rollback()
		query, args := sr.blocksSQL()
		plan := explain(t, tx, query, args)
		if !strings.Contains(plan, "COVERING INDEX trace_blocks_max_start") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("blocks plan:\n%s", plan)
		}
	})
	t.Run("text", func(t *testing.T) {
		_, tx := testSearch(t, s, store.TraceQuery{Text: "word"})
		defer tx.Rollback()
		plan := explain(t, tx, textQuery("traces_fts", colService), []any{`"word"*`, 1, 512})
		if !strings.Contains(plan, "VIRTUAL TABLE INDEX") || !strings.Contains(plan, "SEARCH f USING COVERING INDEX traces_filters (id=?)") ||
			strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("text plan:\n%s", plan)
		}
	})
}

// testSearch returns the search ListTraces makes of q, in a read
// transaction.
func testSearch(t *testing.T, s *Store, q store.TraceQuery) (*search, *sql.Tx) {
	t.Helper()
	sr, err := newSearch(s, q)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.rdb.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	sr.ctx, sr.tx = context.Background(), tx
	return sr, tx
}

// explain returns the query plan of a query.
func explain(t *testing.T, tx *sql.Tx, query string, args []any) string {
	t.Helper()
	rows, err := tx.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	return b.String()
}

func TestFTSQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{`"*()`, ""},
		{"hello", `"hello"*`},
		{"Hello World", `"Hello" "World"*`},
		{`"foo" AND (bar* OR NEAR`, `"foo" "AND" "bar" "OR" "NEAR"*`},
		{"col:value", `"col" "value"*`},
		{"café-au-lait", `"café" "au" "lait"*`},
		{"日本語 テキスト", `"日本語" "テキスト"*`},
	} {
		if got := ftsQuery(tc.in); got != tc.want {
			t.Errorf("ftsQuery(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		start int64
		id    string
	}{{0, "a"}, {-1, "0123456789abcdef0123456789abcdef"}, {math.MaxInt64, "ü"}} {
		start, id, err := decodeCursor(encodeCursor(tc.start, tc.id))
		if err != nil || start != tc.start || id != tc.id {
			t.Errorf("cursor (%d, %q) came back as (%d, %q), %v", tc.start, tc.id, start, id, err)
		}
	}
}

// blockingDeriver blocks the writer when it summarizes a stored trace
// again (more than one span), until release is closed; entered is sent to
// when it starts blocking.
type blockingDeriver struct {
	storetest.Deriver
	entered chan struct{}
	release chan struct{}
}

func (d blockingDeriver) Summarize(spans []model.Span) model.Trace {
	if len(spans) > 1 {
		d.entered <- struct{}{}
		<-d.release
	}
	return d.Deriver.Summarize(spans)
}

// blockWriter writes a trace and then a second span of it in the
// background, which parks the writer in the deriver. It returns the
// background write's result channel.
func blockWriter(t *testing.T, s *Store, d blockingDeriver) <-chan error {
	t.Helper()
	ctx := context.Background()
	if _, err := s.WriteBatch(ctx, model.Batch{Spans: []model.Span{{TraceID: "block", SpanID: "1"}}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.WriteBatch(ctx, model.Batch{Spans: []model.Span{{TraceID: "block", SpanID: "2"}}})
		done <- err
	}()
	<-d.entered
	return done
}

// waitQueued waits until n batches are queued for the writer.
func waitQueued(s *Store, n int) {
	for len(s.queue) < n {
		runtime.Gosched()
	}
}

func TestCancelWhileQueued(t *testing.T) {
	d := blockingDeriver{entered: make(chan struct{}), release: make(chan struct{})}
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "q.db"), Deriver: d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	blocked := blockWriter(t, s, d)

	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := s.WriteBatch(ctx, model.Batch{Spans: []model.Span{{TraceID: "cancelled", SpanID: "1"}}})
		cancelled <- err
	}()
	waitQueued(s, 1)
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while queued: %v, want context.Canceled", err)
	}
	close(d.release)
	if err := <-blocked; err != nil {
		t.Errorf("the batch being written when the other was cancelled: %v", err)
	}
	// The writer skipped the cancelled batch and carries on.
	if _, err := s.WriteBatch(context.Background(), model.Batch{Spans: []model.Span{{TraceID: "after", SpanID: "1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTrace(context.Background(), "cancelled"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cancelled batch: %v, want it not written", err)
	}
}

func TestCloseFinishesQueuedBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	d := blockingDeriver{entered: make(chan struct{}), release: make(chan struct{})}
	s, err := Open(context.Background(), Options{Path: path, Deriver: d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	blocked := blockWriter(t, s, d)
	queued := make(chan error, 1)
	go func() {
		_, err := s.WriteBatch(context.Background(), model.Batch{Spans: []model.Span{{TraceID: "queued", SpanID: "1"}}})
		queued <- err
	}()
	waitQueued(s, 1)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for !s.closed.Load() {
		runtime.Gosched()
	}
	// New work is refused while Close waits for the writer.
	if _, err := s.WriteBatch(context.Background(), model.Batch{Spans: []model.Span{{TraceID: "late", SpanID: "1"}}}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("WriteBatch during Close: %v, want ErrClosed", err)
	}
	close(d.release)
	for name, ch := range map[string]chan error{"in-flight batch": nil, "queued batch": queued, "Close": closed} {
		if ch == nil {
			if err := <-blocked; err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err := <-ch; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	s = openTest(t, path)
	for _, id := range []string{"block", "queued"} {
		if _, err := s.GetTrace(context.Background(), id); err != nil {
			t.Errorf("trace %s after Close and reopen: %v", id, err)
		}
	}
}

// TestFTSIntegrity rewrites summaries many times (split traces, late log
// records) and then asks SQLite to check the full-text index.
func TestFTSIntegrity(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "fts.db"))
	ctx := context.Background()
	d := storetest.Deriver{}
	for trace := range 30 {
		id := fmt.Sprintf("trace-%d", trace)
		for span := range 4 {
			sp := model.Span{TraceID: id, SpanID: fmt.Sprintf("s%d", span), StartTime: time.Unix(int64(trace), int64(span)).UTC(),
				Attributes: map[string]any{storetest.AttrOutput: fmt.Sprintf("output %d of %d", span, trace)}}
			if span > 0 {
				sp.ParentSpanID = "s0"
			}
			d.DeriveSpan(&sp, nil)
			if _, err := s.WriteBatch(ctx, model.Batch{Spans: []model.Span{sp}}); err != nil {
				t.Fatal(err)
			}
			l := model.LogRecord{TraceID: id, SpanID: sp.SpanID, Time: sp.StartTime, EventName: storetest.EventQuestion,
				Body: fmt.Sprintf("question %d %d", trace, span)}
			if _, err := s.WriteBatch(ctx, model.Batch{Logs: []model.LogRecord{l}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, table := range []string{"traces_fts", "traces_fts_0"} {
		if _, err := s.wdb.Exec(`INSERT INTO ` + table + ` (` + table + `, rank) VALUES ('integrity-check', 0)`); err != nil {
			t.Errorf("full-text index %s integrity check: %v", table, err)
		}
	}
	page, err := s.ListTraces(ctx, store.TraceQuery{Text: "question 7"})
	if err != nil || len(page.Traces) == 0 {
		t.Errorf("search after rewrites: %d traces, %v", len(page.Traces), err)
	}
}

// TestFTSTokenizerAgreement checks every character ftsQuery keeps in a word
// against SQLite's tokenizer: none may split a word, or the query would be
// a phrase, which the index rejects. Words are checked a thousand per
// query, and one by one only in a query that fails.
func TestFTSTokenizerAgreement(t *testing.T) {
	if raceEnabled {
		t.Skip("single-goroutine check of every Unicode character, 30x slower under the race detector; the normal run covers it")
	}
	s := openTest(t, filepath.Join(t.TempDir(), "tok.db"))
	ctx := context.Background()
	var words []string
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if ftsWordRune(r) {
			words = append(words, `"a`+string(r)+`b"`)
		}
	}
	var split []string
	for len(words) > 0 {
		chunk := words[:min(1000, len(words))]
		words = words[len(chunk):]
		if err := matchError(ctx, s, strings.Join(chunk, " OR ")); err == nil {
			continue
		}
		for _, w := range chunk {
			if err := matchError(ctx, s, w); err != nil {
				split = append(split, fmt.Sprintf("%U", []rune(w)[2]))
			}
		}
	}
	if len(split) > 0 {
		t.Errorf("the tokenizer splits words at %d characters ftsQuery keeps (add them to tokenizerSeparator): %v", len(split), split)
	}
}

// matchError runs a full-text query and returns its error.
func matchError(ctx context.Context, s *Store, match string) error {
	var n int
	return s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM traces_fts WHERE traces_fts MATCH ?`, match).Scan(&n)
}

func TestFTSQueryFallback(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"café au lait", `"caf" "au" "lait"*`},
		{"日本語", ""},
		{"plain words", `"plain" "words"*`},
	} {
		if got := ftsQueryASCII(tc.in); got != tc.want {
			t.Errorf("ftsQueryASCII(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A separator ftsQuery knows about splits the word.
	if got := ftsQuery("a\u19B0b"); got != `"a" "b"*` {
		t.Errorf("ftsQuery across a tokenizer separator = %q", got)
	}
}
