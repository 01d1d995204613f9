//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// TestDataDirectoryLock opens a database a second time while it is open
// (flock locks belong to an open file description, so a second Open in
// one process conflicts like a second process would): the second is
// refused, naming the holder's pid and start time; once the first is
// closed, the database opens again. A lock file left by a process that
// is gone (its content, without the lock) does not stop anyone.
func TestDataDirectoryLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "fw.db")
	open := func() (*Store, error) {
		return Open(ctx, Options{Path: path, Deriver: storetest.Deriver{}}, nil)
	}

	// A stale lock file, as kill -9 leaves it: the kernel released the lock.
	if err := os.WriteFile(path+".lock", []byte("pid 999999\nstarted 2026-01-01T00:00:00Z\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	first, err := open()
	if err != nil {
		t.Fatalf("open over a stale lock file: %v", err)
	}
	tests := []struct {
		name string
		want []string
	}{
		{"second open while the first holds it", []string{
			"data directory " + dir + " is in use by flowwatch pid " + fmt.Sprint(os.Getpid()) + " (started ",
			"fw.db.lock",
		}},
		{"third open, still held", []string{"in use by flowwatch pid " + fmt.Sprint(os.Getpid())}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := open()
			if err == nil {
				s.Close()
				t.Fatal("opened a database another Store holds")
			}
			if !errors.Is(err, ErrLocked) {
				t.Errorf("error %v does not wrap ErrLocked", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// The refused opens did not disturb the holder.
	if err := first.Ping(ctx); err != nil {
		t.Fatalf("the first store after refused opens: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := open()
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	again.Close()
}
