package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrLocked is returned by Open when another process, or another Store of
// this process, has the database open.
var ErrLocked = errors.New("data directory is in use")

// The data directory lock: a SQLite file is written by one flowwatch at a
// time. Open takes an exclusive advisory lock (flock(2)) on a lock file
// beside the database, named after it with ".lock" appended, and writes
// its process id and start time into it; Close releases it. The kernel
// releases the lock when the process ends in any way, kill -9 included,
// so a lock file left behind is never stale: only a live holder makes
// Open refuse. flock locks belong to an open file description, so a
// second Open of the same database in one process is refused too. On
// systems without flock (Windows) no lock is taken.
//
// Because only one process owns the database, the runs it finds running
// when it starts were left by a process that is gone (see
// Store.ReleaseStaleRuns).

// lockPath is the lock file of the database at abs.
func lockPath(abs string) string { return abs + ".lock" }

// dirLock is a held lock file.
type dirLock struct {
	f *os.File
}

// acquireLock takes the lock of the database at abs, or fails with an
// error wrapping ErrLocked that names the process holding it.
func acquireLock(abs string) (*dirLock, error) {
	path := lockPath(abs)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !held {
		holder := describeHolder(f)
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by %s (lock file %s); stop it, or give this server another data_dir: %w",
			filepath.Dir(abs), holder, path, ErrLocked)
	}
	// Record who holds it, for the message of the next one to try.
	info := fmt.Sprintf("pid %d\nstarted %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
	}
	return &dirLock{f: f}, nil
}

// describeHolder reads the holder a lock file names: "flowwatch pid N
// (started T)".
func describeHolder(f *os.File) string {
	b := make([]byte, 256)
	n, _ := f.ReadAt(b, 0)
	var pid, started string
	for _, line := range strings.Split(string(b[:n]), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "pid":
			if _, err := strconv.Atoi(v); err == nil {
				pid = v
			}
		case "started":
			if _, err := time.Parse(time.RFC3339, v); err == nil {
				started = v
			}
		}
	}
	switch {
	case pid == "":
		return "another flowwatch"
	case started == "":
		return "flowwatch pid " + pid
	}
	return fmt.Sprintf("flowwatch pid %s (started %s)", pid, started)
}

// release gives the lock back; the file stays (removing it would race
// with a process opening it to lock).
func (l *dirLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
