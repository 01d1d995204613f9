package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// PutMonitor creates or replaces a monitor (see store.MonitorStore).
func (s *Store) PutMonitor(ctx context.Context, m model.Monitor, ifVersion int64) (model.StoredMonitor, bool, error) {
	if m.Name == "" {
		return model.StoredMonitor{}, false, errors.New("sqlite: put monitor: empty name")
	}
	def, err := json.Marshal(m)
	if err != nil {
		return model.StoredMonitor{}, false, fmt.Errorf("sqlite: put monitor %s: %w", m.Name, err)
	}
	var out model.StoredMonitor
	created := false
	err = s.write(ctx, func(tx *sql.Tx) error {
		now := time.Now().UTC()
		var version, createdNS int64
		err := tx.QueryRow(`SELECT version, created_ns FROM monitors WHERE name = ?`, m.Name).Scan(&version, &createdNS)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if ifVersion > 0 {
				return fmt.Errorf("monitor %s does not exist, expected version %d: %w", m.Name, ifVersion, store.ErrConflict)
			}
			created, version, createdNS = true, 0, now.UnixNano()
		case err != nil:
			return err
		case ifVersion > 0 && version != ifVersion:
			return fmt.Errorf("monitor %s is at version %d, expected %d: %w", m.Name, version, ifVersion, store.ErrConflict)
		}
		version++
		if _, err := tx.Exec(`INSERT INTO monitors (name, version, definition, created_ns, updated_ns) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET version = excluded.version, definition = excluded.definition,
				updated_ns = excluded.updated_ns`, m.Name, version, def, createdNS, now.UnixNano()); err != nil {
			return err
		}
		out = model.StoredMonitor{Monitor: m, Version: version, CreatedAt: time.Unix(0, createdNS).UTC(), UpdatedAt: now}
		return nil
	})
	if err != nil {
		return model.StoredMonitor{}, false, fmt.Errorf("sqlite: put monitor %s: %w", m.Name, err)
	}
	return out, created, nil
}

// GetMonitor returns a monitor by name.
func (s *Store) GetMonitor(ctx context.Context, name string) (model.StoredMonitor, error) {
	if s.closed.Load() {
		return model.StoredMonitor{}, store.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, version, definition, created_ns, updated_ns FROM monitors WHERE name = ?`, name)
	if err != nil {
		return model.StoredMonitor{}, s.readErr("get monitor "+name, err)
	}
	ms, err := s.scanMonitors(rows)
	if err != nil {
		return model.StoredMonitor{}, err
	}
	if len(ms) == 0 {
		return model.StoredMonitor{}, fmt.Errorf("sqlite: monitor %s: %w", name, store.ErrNotFound)
	}
	return ms[0], nil
}

// ListMonitors returns every monitor, by name.
func (s *Store) ListMonitors(ctx context.Context) ([]model.StoredMonitor, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, version, definition, created_ns, updated_ns FROM monitors ORDER BY name`)
	if err != nil {
		return nil, s.readErr("list monitors", err)
	}
	return s.scanMonitors(rows)
}

// MonitorDeletedError is the error of a queued run whose monitor was
// deleted.
const MonitorDeletedError = "canceled: the monitor was deleted before the run started"

// DeleteMonitor removes a monitor.
func (s *Store) DeleteMonitor(ctx context.Context, name string, now time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM monitors WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(`UPDATE alerts SET state = 'resolved', resolved_ns = ? WHERE monitor = ? AND state = 'firing'`,
			nsOf(now), name); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM alert_trackers WHERE monitor = ?`, name); err != nil {
			return err
		}
		// Its delivery groups go too: a message still waiting would tell
		// of alerts resolved without one.
		if _, err := tx.Exec(`DELETE FROM alert_groups WHERE monitor = ?`, name); err != nil {
			return err
		}
		// Its queued runs will not run: they end now, saying why.
		if _, err := tx.Exec(`UPDATE runs SET status = 'failed', error = ?, finished_ns = ?
			WHERE monitor = ? AND status = 'pending'`, MonitorDeletedError, nsOf(now), name); err != nil {
			return err
		}
		_, err = tx.Exec(`DELETE FROM monitor_schedule WHERE monitor = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete monitor %s: %w", name, err)
	}
	return nil
}

func (s *Store) scanMonitors(rows *sql.Rows) ([]model.StoredMonitor, error) {
	defer rows.Close()
	var out []model.StoredMonitor
	for rows.Next() {
		var name string
		var def []byte
		var sm model.StoredMonitor
		var created, updated int64
		if err := rows.Scan(&name, &sm.Version, &def, &created, &updated); err != nil {
			return nil, s.readErr("read monitors", err)
		}
		if err := json.Unmarshal(def, &sm.Monitor); err != nil {
			return nil, fmt.Errorf("sqlite: monitor %s: stored definition unreadable: %w", name, err)
		}
		sm.CreatedAt, sm.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
		out = append(out, sm)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("read monitors", err)
	}
	return out, nil
}
