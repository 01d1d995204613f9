package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// FuzzCursor checks that the cursor decoder accepts only what round-trips
// to the cursor the store issues, and never panics.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(123, "0123456789abcdef0123456789abcdef"))
	f.Add("")
	f.Add("!!!")
	f.Add("AQAAAAAAAAB7")
	f.Fuzz(func(t *testing.T, c string) {
		start, id, err := decodeCursor(c)
		if err != nil {
			return
		}
		if got := encodeCursor(start, id); got != c {
			// Accepted cursors are the ones the store issues.
			s2, id2, err := decodeCursor(got)
			if err != nil || s2 != start || id2 != id {
				t.Fatalf("cursor %q decoded to (%d, %q), which does not round trip", c, start, id)
			}
		}
	})
}

// FuzzFTSQuery checks that no user text makes the full-text query fail.
func FuzzFTSQuery(f *testing.F) {
	db, err := sql.Open("sqlite", filepath.Join(f.TempDir(), "fts.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := migrate(context.Background(), db, migs); err != nil {
		f.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO traces_fts (rowid, text) VALUES (1, 'foo bar café NEAR and or not')`); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{`"foo" AND (bar* OR NEAR`, `NEAR(a b, 3)`, `col:x`, `^a -b +c`, `{a b}:c`, "\x00", `'`, `""`,
		"ǅ ᾈ ﬁ", "a\u0301", "𝔘𝔫𝔦", "١٢٣", "\U000e0041", "x\u200dy", "ⅷ", "ᐁ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		q := ftsQuery(text)
		if q == "" {
			return
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM traces_fts WHERE traces_fts MATCH ?`, q).Scan(&n); err != nil {
			t.Fatalf("text %q: query %q: %v", text, q, err)
		}
	})
}
