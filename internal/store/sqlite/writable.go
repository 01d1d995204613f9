package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	sqlite3 "modernc.org/sqlite"

	"github.com/flowwatch/flowwatch/internal/store"
)

// Whether the store can write. A write that fails because the disk is full,
// the file system failed or went read-only, or the file cannot be written
// is returned wrapping store.ErrUnwritable, so that ingest answers 503
// (exporters retry) rather than 500 (exporters drop the data). The store
// then remembers that it cannot write: Writable reports it (readiness says
// not ready) until a write succeeds again, a batch or a probe that
// Writable itself runs at most once per probeEvery.

// SQLite primary result codes of a store that cannot write
// (https://sqlite.org/rescode.html); extended codes keep the primary code
// in their low byte.
const (
	codeReadOnly  = 8
	codeIOErr     = 10
	codeFull      = 13
	codeCantOpen  = 14
	primaryCodeOf = 0xff
)

// probeEvery bounds how often Writable probes a store that cannot write.
const probeEvery = time.Second

// probeBytes is the size of the probe's row: more than a page, so that
// the probe needs new pages as a batch would.
const probeBytes = 4 * pageSize

// isUnwritable reports whether err says the database cannot be written
// (as opposed to a bad batch or a bug).
func isUnwritable(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() & primaryCodeOf {
		case codeReadOnly, codeIOErr, codeFull, codeCantOpen:
			return true
		}
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) ||
		errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO)
}

// unwritableErr wraps err with store.ErrUnwritable when it says the
// database cannot be written, and records the fault.
func (s *Store) unwritableErr(err error) error {
	if !isUnwritable(err) || errors.Is(err, store.ErrUnwritable) {
		return err
	}
	if s.health.failed(err) {
		s.log.Error("store_unwritable", "err", err)
	}
	return fmt.Errorf("%w: %w", store.ErrUnwritable, err)
}

// writeSucceeded clears a fault after a successful write.
func (s *Store) writeSucceeded() {
	if s.health.succeeded() {
		s.log.Info("store_writable_again")
	}
}

// writeHealth is whether the last write failed for want of a writable
// database, and when Writable last probed.
type writeHealth struct {
	mu         sync.Mutex
	fault      error // nil when writes succeed
	lastProbe  time.Time
	probeEvery time.Duration // set by Open; tests shorten it
}

// failed records a fault; true when writes succeeded until now.
func (h *writeHealth) failed(err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.fault == nil
	h.fault = err
	return was
}

// succeeded clears the fault; true when there was one.
func (h *writeHealth) succeeded() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.fault != nil
	h.fault = nil
	return was
}

// Writable reports whether the store can write: nil, or an error wrapping
// store.ErrUnwritable that names the cause (disk full, I/O error,
// read-only). While a fault stands it probes with a small write, at most
// once per second, so that the store is seen writable again without
// waiting for an export.
func (s *Store) Writable(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	h := &s.health
	h.mu.Lock()
	fault := h.fault
	probe := fault != nil && time.Since(h.lastProbe) >= h.probeEvery
	if probe {
		h.lastProbe = time.Now()
	}
	h.mu.Unlock()
	if fault == nil {
		return nil
	}
	if probe {
		err := s.write(ctx, probeWrite)
		switch {
		case err == nil:
			s.writeSucceeded()
			return nil
		case isUnwritable(err):
			fault = err
		}
	}
	return fmt.Errorf("sqlite: cannot write: %w: %w", store.ErrUnwritable, fault)
}

// probeWrite writes a row that needs new pages and deletes it in the same
// transaction: it fails as a batch would when the disk is full, and leaves
// nothing behind.
func probeWrite(tx *sql.Tx) error {
	if _, err := tx.Exec(`INSERT OR REPLACE INTO search_state (name, value) VALUES ('write_probe', zeroblob(?))`, probeBytes); err != nil {
		return err
	}
	_, err := tx.Exec(`DELETE FROM search_state WHERE name = 'write_probe'`)
	return err
}

// checkWritableDir makes sure the directory of the database at abs, and
// the database file if it exists, can be written, naming the cause when
// they cannot: SQLite's own message for it ("unable to open database
// file", "attempt to write a readonly database") does not say which file.
func checkWritableDir(abs string) error {
	dir := filepath.Dir(abs)
	f, err := os.CreateTemp(dir, ".flowwatch-write-check-*")
	if err != nil {
		return fmt.Errorf("%w: data directory %s is not writable (%w): flowwatch keeps its database, write-ahead log and lock file there; "+
			"check the directory's owner and permissions and that its file system is not mounted read-only", store.ErrUnwritable, dir, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	if db, err := os.OpenFile(abs, os.O_RDWR, 0); err == nil {
		db.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: database file %s is not writable (%w): check its owner and permissions", store.ErrUnwritable, abs, unwrapPath(err))
	}
	return nil
}

// unwrapPath returns the cause of a *os.PathError without the path, which
// the message names already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
