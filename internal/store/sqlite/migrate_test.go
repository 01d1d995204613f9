package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// TestMigrateDayRollups checks that migration 0010 builds from the hour
// rows the day rows the writer keeps: it runs again on a store written
// now, and the day rows it builds are compared with the writer's.
func TestMigrateDayRollups(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fw.db")
	s, err := Open(ctx, Options{Path: path, Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Traces over 4 days, every 37 minutes, 3 services and models, one in
	// 7 failed.
	var spans []model.Span
	services, models := []string{"a", "b", "c"}, []string{"m1", "m2", ""}
	for i := range 4 * 24 * 60 / 37 {
		sp := searchTrace(i+1, time.Duration(i*37)*time.Minute, services[i%3], models[i%2*2], "words")
		sp.EndTime = sp.StartTime.Add(time.Duration(100+i*13%5000) * time.Millisecond)
		if i%7 == 0 {
			sp.StatusCode = model.StatusError
		}
		storetest.Deriver{}.DeriveSpan(&sp, nil)
		spans = append(spans, sp)
	}
	writeTest(t, s, spans...)
	days := func(s *Store) map[rollup.Kind][]string {
		out := map[rollup.Kind][]string{}
		for _, kind := range []rollup.Kind{rollup.Requests, rollup.LLMCalls} {
			rows, err := s.Rollups(ctx, store.RollupQuery{Kind: kind, Resolution: rollup.Day, Start: 0, End: 1 << 40})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				enc, err := r.Point.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				out[kind] = append(out[kind], time.Unix(r.Key.Bucket, 0).UTC().Format(time.DateOnly)+" "+r.Key.Service+" "+
					r.Key.Model+" "+string(r.Key.Status)+" "+string(enc))
			}
		}
		return out
	}
	want := days(s)
	if len(want[rollup.Requests]) < 4*3 || len(want[rollup.LLMCalls]) < 4*2 {
		t.Fatalf("the writer kept %d request and %d LLM day rows", len(want[rollup.Requests]), len(want[rollup.LLMCalls]))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Migration 0010 on the same hour rows: its SQL clears the day rows,
	// its Go part rebuilds them.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if migs[9].version != 10 || migs[9].backfill == nil {
		t.Fatalf("migration %s is not 0010 with its backfill", migs[9].name)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, migs[9].sql); err != nil {
		t.Fatalf("%s: %v", migs[9].name, err)
	}
	if err := migs[9].backfill(ctx, tx); err != nil {
		t.Fatalf("%s: backfill: %v", migs[9].name, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = Open(ctx, Options{Path: path, Deriver: storetest.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if diff := cmp.Diff(want, days(s)); diff != "" {
		t.Errorf("day rows after the migration (-writer's +migration's):\n%s", diff)
	}
}
