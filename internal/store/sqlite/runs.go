package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// nsOf is t in Unix nanoseconds, 0 for the zero time.
func nsOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// timeOf is the inverse of nsOf, in UTC.
func timeOf(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// newRunID returns a run id: the creation time in hex (so ids sort by
// creation) and 8 random bytes.
func newRunID(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016x%s", uint64(now.UnixNano()), hex.EncodeToString(b[:]))
}

const runColumns = `id, monitor, monitor_version, trigger, status, scheduled_ns, window_start_ns, window_end_ns,
	created_ns, started_ns, finished_ns, attempts, lease_owner, lease_until_ns, error, progress_done, progress_total`

// runPlaceholders has one placeholder per column of runColumns.
var runPlaceholders = strings.TrimSuffix(strings.Repeat("?, ", strings.Count(runColumns, ",")+1), ", ")

func runArgs(r model.Run) []any {
	return []any{r.ID, r.Monitor, r.MonitorVersion, r.Trigger, string(r.Status), nsOf(r.ScheduledAt),
		nsOf(r.WindowStart), nsOf(r.WindowEnd), nsOf(r.CreatedAt), nsOf(r.StartedAt), nsOf(r.FinishedAt),
		r.Attempts, r.LeaseOwner, nsOf(r.LeaseUntil), r.Error, r.Progress.Done, r.Progress.Total}
}

type scanner interface{ Scan(dest ...any) error }

func scanRun(sc scanner) (model.Run, error) {
	var r model.Run
	var status string
	var sched, ws, we, created, started, finished, lease int64
	err := sc.Scan(&r.ID, &r.Monitor, &r.MonitorVersion, &r.Trigger, &status, &sched, &ws, &we,
		&created, &started, &finished, &r.Attempts, &r.LeaseOwner, &lease, &r.Error, &r.Progress.Done, &r.Progress.Total)
	if err != nil {
		return model.Run{}, err
	}
	r.Status = model.RunStatus(status)
	r.ScheduledAt, r.WindowStart, r.WindowEnd = timeOf(sched), timeOf(ws), timeOf(we)
	r.CreatedAt, r.StartedAt, r.FinishedAt, r.LeaseUntil = timeOf(created), timeOf(started), timeOf(finished), timeOf(lease)
	return r, nil
}

// NextRunTimes returns every monitor's next scheduled run.
func (s *Store) NextRunTimes(ctx context.Context) (map[string]time.Time, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT monitor, next_ns FROM monitor_schedule`)
	if err != nil {
		return nil, s.readErr("next run times", err)
	}
	defer rows.Close()
	out := make(map[string]time.Time)
	for rows.Next() {
		var m string
		var ns int64
		if err := rows.Scan(&m, &ns); err != nil {
			return nil, s.readErr("next run times", err)
		}
		out[m] = timeOf(ns)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("next run times", err)
	}
	return out, nil
}

func setNext(tx *sql.Tx, monitor string, next time.Time) error {
	_, err := tx.Exec(`INSERT INTO monitor_schedule (monitor, next_ns) VALUES (?, ?)
		ON CONFLICT (monitor) DO UPDATE SET next_ns = excluded.next_ns`, monitor, nsOf(next))
	return err
}

// SetNextRunTime sets a monitor's next scheduled run.
func (s *Store) SetNextRunTime(ctx context.Context, monitor string, next time.Time) error {
	if err := s.write(ctx, func(tx *sql.Tx) error { return setNext(tx, monitor, next) }); err != nil {
		return fmt.Errorf("sqlite: set next run of %s: %w", monitor, err)
	}
	return nil
}

// ScheduleRun records a due scheduled run unless it is recorded already.
func (s *Store) ScheduleRun(ctx context.Context, r model.Run, next time.Time) (model.Run, bool, error) {
	r.Trigger, r.Status = model.TriggerSchedule, model.RunPending
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	created := false
	out := r
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := setNext(tx, r.Monitor, next); err != nil {
			return err
		}
		existing, err := scanRun(tx.QueryRow(`SELECT `+runColumns+` FROM runs
			WHERE monitor = ? AND scheduled_ns = ? AND trigger = 'schedule'`, r.Monitor, nsOf(r.ScheduledAt)))
		switch {
		case err == nil:
			out = existing
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// A scheduled run still waiting is moved to this tick rather than
		// a second one queued behind it.
		queued, err := scanRun(tx.QueryRow(`SELECT `+runColumns+` FROM runs
			WHERE monitor = ? AND trigger = 'schedule' AND status = 'pending'
			ORDER BY scheduled_ns DESC LIMIT 1`, r.Monitor))
		switch {
		case err == nil:
			if !r.ScheduledAt.After(queued.ScheduledAt) {
				out = queued
				return nil
			}
			queued.MonitorVersion, queued.ScheduledAt = r.MonitorVersion, r.ScheduledAt
			queued.WindowStart, queued.WindowEnd = r.WindowStart, r.WindowEnd
			if _, err := tx.Exec(`UPDATE runs SET monitor_version = ?, scheduled_ns = ?, window_start_ns = ?, window_end_ns = ?
				WHERE id = ?`, queued.MonitorVersion, nsOf(queued.ScheduledAt), nsOf(queued.WindowStart), nsOf(queued.WindowEnd), queued.ID); err != nil {
				return err
			}
			out = queued
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		out.ID = newRunID(r.CreatedAt)
		if _, err := tx.Exec(`INSERT INTO runs (`+runColumns+`) VALUES (`+runPlaceholders+`)`,
			runArgs(out)...); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return model.Run{}, false, fmt.Errorf("sqlite: schedule run of %s: %w", r.Monitor, err)
	}
	return out, created, nil
}

// CreateRun records a manual run.
func (s *Store) CreateRun(ctx context.Context, r model.Run) (model.Run, error) {
	r.Trigger, r.Status = model.TriggerManual, model.RunPending
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	r.ID = newRunID(r.CreatedAt)
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO runs (`+runColumns+`) VALUES (`+runPlaceholders+`)`, runArgs(r)...)
		return err
	})
	if err != nil {
		return model.Run{}, fmt.Errorf("sqlite: create run of %s: %w", r.Monitor, err)
	}
	return r, nil
}

// ClaimRun takes the oldest claimable run for owner.
func (s *Store) ClaimRun(ctx context.Context, owner string, now time.Time, lease time.Duration) (model.Run, bool, error) {
	var out model.Run
	found := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := scanRun(tx.QueryRow(`SELECT `+runColumns+` FROM runs
			WHERE status = 'pending' OR (status = 'running' AND lease_until_ns < ?)
			ORDER BY created_ns, id LIMIT 1`, nsOf(now)))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		r.Status, r.LeaseOwner, r.LeaseUntil = model.RunRunning, owner, now.Add(lease).UTC()
		r.Attempts++
		if r.StartedAt.IsZero() {
			r.StartedAt = now.UTC()
		}
		if _, err := tx.Exec(`UPDATE runs SET status = ?, lease_owner = ?, lease_until_ns = ?, attempts = ?, started_ns = ?
			WHERE id = ?`, string(r.Status), r.LeaseOwner, nsOf(r.LeaseUntil), r.Attempts, nsOf(r.StartedAt), r.ID); err != nil {
			return err
		}
		out, found = r, true
		return nil
	})
	if err != nil {
		return model.Run{}, false, fmt.Errorf("sqlite: claim run: %w", err)
	}
	return out, found, nil
}

// FinishRun ends a run its owner holds and applies decide's alert changes
// in the same transaction.
func (s *Store) FinishRun(ctx context.Context, id, owner string, status model.RunStatus, errMsg string, now time.Time, decide store.AlertDecider) error {
	if status != model.RunSucceeded && status != model.RunFailed {
		return fmt.Errorf("sqlite: finish run %s: status %q is not an end", id, status)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE runs SET status = ?, error = ?, finished_ns = ?, lease_until_ns = 0
			WHERE id = ? AND status = 'running' AND lease_owner = ?`, string(status), errMsg, nsOf(now), id, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("run is not held by %s: %w", owner, store.ErrConflict)
		}
		return applyAlerts(tx, id, now, decide)
	})
	if err != nil {
		return fmt.Errorf("sqlite: finish run %s: %w", id, err)
	}
	return nil
}

// RenewRun extends the lease of a run its owner holds and records its
// progress.
func (s *Store) RenewRun(ctx context.Context, id, owner string, until time.Time, p model.RunProgress) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE runs SET lease_until_ns = ?, progress_done = ?, progress_total = ?
			WHERE id = ? AND status = 'running' AND lease_owner = ?`, nsOf(until), p.Done, p.Total, id, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("run is not held by %s: %w", owner, store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: renew run %s: %w", id, err)
	}
	return nil
}

// ReleaseRun gives back a run its owner holds, uncounting the attempt.
func (s *Store) ReleaseRun(ctx context.Context, id, owner string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE runs SET lease_until_ns = 0, lease_owner = '', attempts = max(attempts - 1, 0)
			WHERE id = ? AND status = 'running' AND lease_owner = ?`, id, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("run is not held by %s: %w", owner, store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: release run %s: %w", id, err)
	}
	return nil
}

// ExpireLeases ends the lease of every running run (see
// store.LeaseRecovery): the data directory lock makes this process the
// only one writing, so whoever held them is gone.
func (s *Store) ExpireLeases(ctx context.Context) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE runs SET lease_until_ns = 0 WHERE status = 'running' AND lease_until_ns > 0`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: expire run leases: %w", err)
	}
	return int(n), nil
}

// GetRun returns a run by id.
func (s *Store) GetRun(ctx context.Context, id string) (model.Run, error) {
	if s.closed.Load() {
		return model.Run{}, store.ErrClosed
	}
	r, err := scanRun(s.rdb.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.Run{}, fmt.Errorf("sqlite: run %s: %w", id, store.ErrNotFound)
	case err != nil:
		return model.Run{}, s.readErr("get run "+id, err)
	}
	return r, nil
}

// ListRuns returns a monitor's runs, newest first.
func (s *Store) ListRuns(ctx context.Context, monitor string, limit int) ([]model.Run, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if limit <= 0 || limit > store.MaxLimit {
		limit = store.MaxLimit
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE monitor = ?
		ORDER BY created_ns DESC, id DESC LIMIT ?`, monitor, limit)
	if err != nil {
		return nil, s.readErr("list runs of "+monitor, err)
	}
	defer rows.Close()
	var out []model.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, s.readErr("list runs of "+monitor, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("list runs of "+monitor, err)
	}
	return out, nil
}
