package postgres

// Monitor definitions. Owner: the runs work of issue 13.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// PutMonitor creates or replaces a monitor (see store.MonitorStore). Two
// replicas replacing the same version race on the row: the UPDATE of the
// second waits for the first to commit, then finds the version moved and
// reports a conflict.
func (s *Store) PutMonitor(ctx context.Context, m model.Monitor, ifVersion int64) (model.StoredMonitor, bool, error) {
	if m.Name == "" {
		return model.StoredMonitor{}, false, errors.New("postgres: put monitor: empty name")
	}
	def, err := json.Marshal(m)
	if err != nil {
		return model.StoredMonitor{}, false, fmt.Errorf("postgres: put monitor %s: %w", m.Name, err)
	}
	var out model.StoredMonitor
	created := false
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		now := time.Now().UTC()
		var version, createdNS int64
		if ifVersion > 0 {
			err := tx.QueryRow(ctx, `UPDATE monitors SET version = version + 1, definition = $3, updated_ns = $4
				WHERE name = $1 AND version = $2 RETURNING version, created_ns`,
				m.Name, ifVersion, def, now.UnixNano()).Scan(&version, &createdNS)
			if notFound(err) {
				var cur int64
				switch err := tx.QueryRow(ctx, `SELECT version FROM monitors WHERE name = $1`, m.Name).Scan(&cur); {
				case notFound(err):
					return fmt.Errorf("monitor %s does not exist, expected version %d: %w", m.Name, ifVersion, store.ErrConflict)
				case err != nil:
					return err
				}
				return fmt.Errorf("monitor %s is at version %d, expected %d: %w", m.Name, cur, ifVersion, store.ErrConflict)
			}
			if err != nil {
				return err
			}
		} else {
			// A monitor is created at version 1 and every replacement
			// raises it, so version 1 back means the row was inserted.
			if err := tx.QueryRow(ctx, `INSERT INTO monitors (name, version, definition, created_ns, updated_ns)
				VALUES ($1, 1, $2, $3, $3)
				ON CONFLICT (name) DO UPDATE SET version = monitors.version + 1, definition = excluded.definition,
					updated_ns = excluded.updated_ns
				RETURNING version, created_ns`, m.Name, def, now.UnixNano()).Scan(&version, &createdNS); err != nil {
				return err
			}
			created = version == 1
		}
		out = model.StoredMonitor{Monitor: m, Version: version, CreatedAt: payload.FromUnixNano(createdNS), UpdatedAt: now}
		return nil
	})
	if err != nil {
		return model.StoredMonitor{}, false, fmt.Errorf("postgres: put monitor %s: %w", m.Name, err)
	}
	return out, created, nil
}

// GetMonitor returns a monitor by name. Monitors are read on the primary
// (never Options.ReadDSN): an If-Match taken from a lagging replica would
// conflict for no reason, and the scheduler must see a monitor it is told
// to run.
func (s *Store) GetMonitor(ctx context.Context, name string) (model.StoredMonitor, error) {
	if s.closed.Load() {
		return model.StoredMonitor{}, store.ErrClosed
	}
	rows, _ := s.pool.Query(ctx, `SELECT name, version, definition, created_ns, updated_ns FROM monitors WHERE name = $1`, name)
	ms, err := scanMonitors(rows)
	if err != nil {
		return model.StoredMonitor{}, fmt.Errorf("postgres: get monitor %s: %w", name, s.mapErr(err))
	}
	if len(ms) == 0 {
		return model.StoredMonitor{}, fmt.Errorf("postgres: monitor %s: %w", name, store.ErrNotFound)
	}
	return ms[0], nil
}

// ListMonitors returns every monitor, by name.
func (s *Store) ListMonitors(ctx context.Context) ([]model.StoredMonitor, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, _ := s.pool.Query(ctx, `SELECT name, version, definition, created_ns, updated_ns FROM monitors ORDER BY name`)
	ms, err := scanMonitors(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: list monitors: %w", s.mapErr(err))
	}
	return ms, nil
}

// monitorDeletedError is the error of a queued run whose monitor was
// deleted (the SQLite backend's words).
const monitorDeletedError = "canceled: the monitor was deleted before the run started"

// DeleteMonitor removes a monitor (see store.MonitorStore): its firing
// alerts resolve, its alert state machines and delivery groups go, its
// queued runs fail and its next run time is forgotten, in one
// transaction. A run being claimed at the same moment is either claimed
// first (and finishes) or cancelled first (and never claimed): the UPDATE
// waits for the claim's row lock and re-checks the status.
func (s *Store) DeleteMonitor(ctx context.Context, name string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM monitors WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		// The alert tables belong to the alerts area (0005_alerts.sql);
		// what a deletion does to them is the port's contract, as in the
		// SQLite backend.
		if _, err := tx.Exec(ctx, `UPDATE alerts SET state = 'resolved', resolved_ns = $2 WHERE monitor = $1 AND state = 'firing'`,
			name, payload.UnixNano(now)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM alert_trackers WHERE monitor = $1`, name); err != nil {
			return err
		}
		// Its delivery groups go too: a message still waiting would tell
		// of alerts resolved without one.
		if _, err := tx.Exec(ctx, `DELETE FROM alert_groups WHERE monitor = $1`, name); err != nil {
			return err
		}
		// Its queued runs will not run: they end now, saying why.
		if _, err := tx.Exec(ctx, `UPDATE runs SET status = 'failed', error = $2, finished_ns = $3
			WHERE monitor = $1 AND status = 'pending'`, name, monitorDeletedError, payload.UnixNano(now)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM monitor_schedule WHERE monitor = $1`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete monitor %s: %w", name, err)
	}
	return nil
}

// scanMonitors reads monitor rows (name, version, definition, created_ns,
// updated_ns) and closes them.
func scanMonitors(rows pgx.Rows) ([]model.StoredMonitor, error) {
	defer rows.Close()
	var out []model.StoredMonitor
	for rows.Next() {
		var name string
		var def []byte
		var sm model.StoredMonitor
		var created, updated int64
		if err := rows.Scan(&name, &sm.Version, &def, &created, &updated); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(def, &sm.Monitor); err != nil {
			return nil, fmt.Errorf("monitor %s: stored definition unreadable: %w", name, err)
		}
		sm.CreatedAt, sm.UpdatedAt = payload.FromUnixNano(created), payload.FromUnixNano(updated)
		out = append(out, sm)
	}
	return out, rows.Err()
}
