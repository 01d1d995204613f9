package apitest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Monitors is an in-memory store.MonitorStore that keeps the port's
// promises: versions start at 1 and grow by one with every put, a put with
// a version replaces only that version (store.ErrConflict otherwise, also
// for a monitor that does not exist), the creation time is kept, and the
// list is sorted by name. Times come from the clock it was given.
type Monitors struct {
	now func() time.Time

	mu       sync.Mutex
	monitors map[string]model.StoredMonitor
}

var _ store.MonitorStore = (*Monitors)(nil)

// NewMonitors returns an empty store whose times come from now (Now when
// nil).
func NewMonitors(now func() time.Time) *Monitors {
	if now == nil {
		now = Now
	}
	return &Monitors{now: now, monitors: map[string]model.StoredMonitor{}}
}

// Ticking returns a clock that starts at Now and moves one minute forward
// each time it is read, so that successive writes get distinct, known
// times.
func Ticking() func() time.Time {
	var mu sync.Mutex
	t := Now()
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := t
		t = t.Add(time.Minute)
		return now
	}
}

// PutMonitor implements store.MonitorStore.
func (s *Monitors) PutMonitor(ctx context.Context, m model.Monitor, ifVersion int64) (model.StoredMonitor, bool, error) {
	if err := ctx.Err(); err != nil {
		return model.StoredMonitor{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.monitors[m.Name]
	if ifVersion > 0 && (!exists || cur.Version != ifVersion) {
		return model.StoredMonitor{}, false, fmt.Errorf("apitest: monitor %s is not at version %d: %w", m.Name, ifVersion, store.ErrConflict)
	}
	now := s.now().UTC()
	sm := model.StoredMonitor{Monitor: m, Version: 1, CreatedAt: now, UpdatedAt: now}
	if exists {
		sm.Version = cur.Version + 1
		sm.CreatedAt = cur.CreatedAt
	}
	s.monitors[m.Name] = sm
	return sm, !exists, nil
}

// GetMonitor implements store.MonitorStore.
func (s *Monitors) GetMonitor(ctx context.Context, name string) (model.StoredMonitor, error) {
	if err := ctx.Err(); err != nil {
		return model.StoredMonitor{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sm, ok := s.monitors[name]
	if !ok {
		return model.StoredMonitor{}, fmt.Errorf("apitest: monitor %s: %w", name, store.ErrNotFound)
	}
	return sm, nil
}

// ListMonitors implements store.MonitorStore.
func (s *Monitors) ListMonitors(ctx context.Context) ([]model.StoredMonitor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]model.StoredMonitor, 0, len(s.monitors))
	for _, sm := range s.monitors {
		out = append(out, sm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Monitor.Name < out[j].Monitor.Name })
	return out, nil
}

// DeleteMonitor implements store.MonitorStore; the monitor's alerts, which
// live in Runs, are not touched.
func (s *Monitors) DeleteMonitor(ctx context.Context, name string, _ time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.monitors[name]; !ok {
		return fmt.Errorf("apitest: monitor %s: %w", name, store.ErrNotFound)
	}
	delete(s.monitors, name)
	return nil
}
