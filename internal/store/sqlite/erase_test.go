package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// tableExists reports whether the database has a table of that name.
func tableExists(t *testing.T, s *Store, name string) bool {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// Deleting every trace of a full-text part drops the part's table (its
// pages are freed at once), the part with the newest rows is kept, and
// searches and writes go on as before; the full-text tables never merge
// on deletes (deleteMergeOff).
func TestDeleteDropsEmptyParts(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: storetest.Deriver{}, ftsPartShift: blockShift}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const perPart = 1 << blockShift
	var spans []model.Span
	for n := 1; n <= 2*perPart+10; n++ { // rows 1..1034: parts 0, 1 and 2
		spans = append(spans, searchTrace(n, time.Duration(n)*time.Second, "svc", "m", fmt.Sprintf("word%d common", n)))
	}
	writeTest(t, s, spans...)
	for _, p := range []int64{0, 1, 2} {
		if !tableExists(t, s, ftsTable(p)) {
			t.Fatalf("fixture: part %d missing", p)
		}
	}
	// Parts made by the writer, and the legacy table by migration 14.
	for _, table := range []string{ftsTable(1), ftsTable(legacyPart)} {
		var dm string
		if err := s.rdb.QueryRow(`SELECT v FROM ` + table + `_config WHERE k = 'deletemerge'`).Scan(&dm); err != nil || dm != "0" {
			t.Errorf("deletemerge of %s = %q, %v; want 0", table, dm, err)
		}
	}

	// Rows 1..600: all of part 0 (rows 1..511) and some of part 1.
	var total int64
	for {
		d, err := s.DeleteTraces(ctx, store.TraceDeletion{Service: "svc", End: time.Unix(1_700_000_000, 0).Add(601 * time.Second), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		total += d.Traces
		if !d.More {
			break
		}
	}
	if total != 600 {
		t.Fatalf("deleted %d traces, want 600", total)
	}
	if tableExists(t, s, ftsTable(0)) {
		t.Error("part 0 holds no trace any more but was kept")
	}
	if !tableExists(t, s, ftsTable(1)) || !tableExists(t, s, ftsTable(2)) {
		t.Error("a part still holding traces was dropped")
	}
	var blocks int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM trace_blocks WHERE block = 0`).Scan(&blocks); err != nil || blocks != 0 {
		t.Errorf("block 0 still listed (%d, %v)", blocks, err)
	}
	for _, c := range []struct {
		text string
		want int
	}{{"word5", 0}, {"word600", 0}, {"word601", 1}, {"word1034", 1}, {"common", 2*perPart + 10 - 600}} {
		ids, _ := searchIDs(t, s, store.TraceQuery{Text: c.text, Limit: 1000})
		if len(ids) != c.want {
			t.Errorf("search %q finds %d traces, want %d", c.text, len(ids), c.want)
		}
	}

	// Deleting the newest traces keeps their part: the writer goes on
	// writing into it.
	if _, err := s.DeleteTraces(ctx, store.TraceDeletion{Service: "svc", Start: time.Unix(1_700_000_000, 0).Add(1000 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if !tableExists(t, s, ftsTable(2)) {
		t.Error("the newest part was dropped")
	}
	writeTest(t, s, searchTrace(5000, 5000*time.Second, "svc", "m", "fresh words"))
	if ids, _ := searchIDs(t, s, store.TraceQuery{Text: "fresh"}); len(ids) != 1 {
		t.Errorf("a trace written after the deletions is not found: %v", ids)
	}
}
