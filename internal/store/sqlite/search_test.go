package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// TestConformanceSmallParts runs the suite with full-text parts of one
// trace block, a search budget of 20 traces and full-text matches read
// block by block from the sixth, so that its searches cross parts and
// blocks and answer short pages with cursors.
func TestConformanceSmallParts(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite already ran with the default settings; -short skips the variant")
	}
	storetest.Run(t, func(t *testing.T, d store.Deriver) func() (store.Store, error) {
		path := filepath.Join(t.TempDir(), "flowwatch.db")
		return func() (store.Store, error) {
			return Open(context.Background(), Options{Path: path, Deriver: d, ftsPartShift: blockShift, scanBudget: 20, fewMatches: 5}, nil)
		}
	})
}

// searchTrace builds a one-span trace for the tests of this file.
func searchTrace(n int, start time.Duration, service, modelName, text string) model.Span {
	sp := model.Span{TraceID: fmt.Sprintf("%032x", n), SpanID: fmt.Sprintf("%016x", n), Name: "flow",
		StartTime: time.Unix(1_700_000_000, 0).Add(start).UTC(), StatusCode: model.StatusOK,
		ResourceAttributes: map[string]any{"service.name": service},
		Attributes:         map[string]any{storetest.AttrQuestion: text, storetest.AttrModel: modelName, storetest.AttrKind: "llm"}}
	sp.EndTime = sp.StartTime.Add(time.Second)
	storetest.Deriver{}.DeriveSpan(&sp, nil)
	return sp
}

func writeTest(t *testing.T, s store.Writer, spans ...model.Span) {
	t.Helper()
	if _, err := s.WriteBatch(context.Background(), model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
}

func searchIDs(t *testing.T, s store.TraceReader, q store.TraceQuery) (ids []string, pages int) {
	t.Helper()
	for {
		page, err := s.ListTraces(context.Background(), q)
		if err != nil {
			t.Fatalf("ListTraces(%+v): %v", q, err)
		}
		pages++
		for _, tr := range page.Traces {
			ids = append(ids, tr.TraceID)
		}
		if page.NextCursor == "" {
			return ids, pages
		}
		if pages > 10000 {
			t.Fatal("too many pages")
		}
		q.Cursor = page.NextCursor
	}
}

// TestSearchBudget checks that a search whose filters rarely hold together
// answers after examining its budget, with a short page and a cursor, and
// that following the cursors finds every match in order.
func TestSearchBudget(t *testing.T) {
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "f.db"), Deriver: storetest.Deriver{},
		scanBudget: 30, fewMatches: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var spans []model.Span
	for i := 1; i <= 600; i++ {
		// Service a calls m1 in traces 5 and 301 only; b calls it often.
		service, m := "a", "m2"
		if i%2 == 0 {
			service, m = "b", "m1"
		}
		if i == 5 || i == 301 {
			m = "m1"
		}
		spans = append(spans, searchTrace(i, time.Duration(i)*time.Second, service, m, "common words"))
	}
	writeTest(t, s, spans...)
	for _, tc := range []struct {
		q     store.TraceQuery
		pages int
	}{
		// 30 traces of b per page, then a cursor.
		{store.TraceQuery{Service: "a", Model: "m1", Limit: 10}, 10},
		// The text's matches are read a block (512 rows) at a time.
		{store.TraceQuery{Service: "a", Model: "m1", Text: "common", Limit: 10}, 2},
	} {
		q := tc.q
		first, err := s.ListTraces(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(first.Traces) != 0 || first.NextCursor == "" {
			t.Errorf("ListTraces(%+v): first page %d traces, cursor %q; want none found yet and a cursor", q, len(first.Traces), first.NextCursor)
		}
		ids, pages := searchIDs(t, s, q)
		if want := []string{fmt.Sprintf("%032x", 301), fmt.Sprintf("%032x", 5)}; !cmp.Equal(ids, want) {
			t.Errorf("ListTraces(%+v) = %v, want %v", q, ids, want)
		}
		if pages < tc.pages {
			t.Errorf("ListTraces(%+v) took %d pages; the budget did not apply", q, pages)
		}
	}
	// A plain listing fills its pages whatever the budget.
	page, err := s.ListTraces(context.Background(), store.TraceQuery{Limit: 500})
	if err != nil || len(page.Traces) != 500 || page.NextCursor == "" {
		t.Errorf("listing: %d traces, cursor %q, %v", len(page.Traces), page.NextCursor, err)
	}
}

// TestFullTextParts checks that text is written to parts by trace row and
// that each part is a sound index.
func TestFullTextParts(t *testing.T) {
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "f.db"), Deriver: storetest.Deriver{},
		ftsPartShift: blockShift, fewMatches: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 3 << blockShift
	for i := 1; i <= n; i += 100 {
		var spans []model.Span
		for j := i; j < i+100 && j <= n; j++ {
			spans = append(spans, searchTrace(j, time.Duration(n-j)*time.Second, "a", "m", fmt.Sprintf("word%d shared", j%7)))
		}
		writeTest(t, s, spans...)
	}
	parts, err := ftsParts(context.Background(), s.rdb)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 4 { // rows 1-511, 512-1023, 1024-1535, 1536
		t.Errorf("parts %v, want 4", parts)
	}
	for p := range parts {
		table := ftsTable(p)
		if _, err := s.wdb.Exec(`INSERT INTO ` + table + ` (` + table + `, rank) VALUES ('integrity-check', 0)`); err != nil {
			t.Errorf("%s: %v", table, err)
		}
	}
	// The writer merged the parts it moved on from (a few commits ago).
	for _, p := range []int64{0, 1} {
		if n, err := segments(context.Background(), s.rdb, p); err != nil || n > 1 {
			t.Errorf("part %d: %d segments, %v; want it merged into one", p, n, err)
		}
	}
	// Starts run against arrival here: the oldest trace arrived last.
	ids, _ := searchIDs(t, s, store.TraceQuery{Text: "word3 sha", Limit: 17})
	var want []string
	for j := 1; j <= n; j++ {
		if j%7 == 3 {
			want = append(want, fmt.Sprintf("%032x", j))
		}
	}
	if !cmp.Equal(ids, want) {
		t.Errorf("search over parts: %d traces, want %d:\n%s", len(ids), len(want), cmp.Diff(want, ids))
	}
}

// TestMigrateSearch builds a store as flowwatch wrote it before migration
// 0009 (the data of a store written now, copied into the schema of 0008
// with the whole full-text index in traces_fts), opens it, and checks that
// the migrated store answers every search as the original does, before
// and after more traces arrive.
func TestMigrateSearch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	newPath, oldPath := filepath.Join(dir, "new.db"), filepath.Join(dir, "old.db")
	a, err := Open(ctx, Options{Path: newPath, Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	batch := func(from, to int) []model.Span {
		var spans []model.Span
		services, models := []string{"a", "b", "c"}, []string{"m1", "m2", "m3", ""}
		for i := from; i < to; i++ {
			sp := searchTrace(i, time.Duration(i*7%1000)*time.Second, services[i%3], models[i%4],
				fmt.Sprintf("text%d words", i%5))
			sp.EndTime = sp.StartTime.Add(time.Duration(i%9) * 300 * time.Millisecond)
			if i%11 == 0 {
				sp.StatusCode = model.StatusError
			}
			storetest.Deriver{}.DeriveSpan(&sp, nil)
			spans = append(spans, sp)
		}
		return spans
	}
	writeTest(t, a, batch(1, 600)...)

	// The store of 0008: the same rows, the text in traces_fts.
	old, err := sql.Open("sqlite", oldPath)
	if err != nil {
		t.Fatal(err)
	}
	old.SetMaxOpenConns(1)
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := migrate(ctx, old, migs[:8]); err != nil {
		t.Fatal(err)
	}
	const traceCols = `id, trace_id, service, deployment, start_ns, duration_ns, status, models, session_id, user_id,
		span_count, error_count, input_tokens, output_tokens, total_tokens, cost_usd, body`
	for _, stmt := range []string{
		`ATTACH DATABASE '` + newPath + `' AS a`,
		`INSERT INTO traces (` + traceCols + `) SELECT ` + traceCols + ` FROM a.traces`,
		`INSERT INTO spans SELECT * FROM a.spans`,
		`INSERT INTO services SELECT * FROM a.services`,
	} {
		if _, err := old.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	rows, err := old.Query(`SELECT id, trace_id FROM a.traces`)
	if err != nil {
		t.Fatal(err)
	}
	texts := map[int64]string{}
	for rows.Next() {
		var row int64
		var id string
		if err := rows.Scan(&row, &id); err != nil {
			t.Fatal(err)
		}
		d, err := a.GetTrace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		texts[row] = payload.SearchText(&d.Trace, d.Spans)
	}
	rows.Close()
	for row, text := range texts {
		if _, err := old.Exec(`INSERT INTO traces_fts (rowid, text) VALUES (?, ?)`, row, text); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Exec(`DETACH DATABASE a`); err != nil {
		t.Fatal(err)
	}
	old.Close()

	// Small parts, and matches read block by block on the migrated store:
	// the original reads them all.
	b, err := Open(ctx, Options{Path: oldPath, Deriver: storetest.Deriver{}, ftsPartShift: blockShift, fewMatches: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.ftsLegacyMax != 1023 {
		t.Errorf("legacy rows up to %d, want 1023 (the end of the block of row 599)", b.ftsLegacyMax)
	}
	compare := func(when string) {
		t.Helper()
		for _, q := range []store.TraceQuery{
			{}, {Service: "b"}, {Model: "m2"}, {Model: "m9"}, {MinDuration: 900 * time.Millisecond},
			{MinDuration: 2400 * time.Millisecond}, {Status: model.StatusError}, {Text: "text3"}, {Text: "wor"},
			{Text: "words", Service: "c", Model: "m1"}, {Model: "m3", MinDuration: time.Second},
			{Since: time.Unix(1_700_000_100, 0), Until: time.Unix(1_700_000_500, 0), Text: "text1"},
		} {
			q.Limit = 40
			want, _ := searchIDs(t, a, q)
			got, _ := searchIDs(t, b, q)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: ListTraces(%+v) on the migrated store (-original +migrated):\n%s", when, q, diff)
			}
		}
	}
	compare("migrated")
	// New traces go to the legacy index up to the end of its last block,
	// then to parts.
	more := batch(600, 1200)
	writeTest(t, a, more...)
	writeTest(t, b, more...)
	compare("after more traces")
	parts, err := ftsParts(ctx, b.rdb)
	if err != nil {
		t.Fatal(err)
	}
	if !parts[2] || parts[1] || parts[0] {
		t.Errorf("parts %v, want 2 (rows 1024-1199) and none below the legacy index", parts)
	}
	withModel := 0
	for i := 1; i < 1200; i++ {
		if i%4 != 3 {
			withModel++
		}
	}
	var n int
	if err := b.rdb.QueryRow(`SELECT count(*) FROM trace_models`).Scan(&n); err != nil || n != withModel {
		t.Errorf("trace_models rows %d, %v; want %d", n, err, withModel)
	}
}
