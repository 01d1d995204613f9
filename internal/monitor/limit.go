package monitor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// LimitError refuses a new monitor beyond the server's cap
// (monitors.max_monitors).
type LimitError struct {
	Name string
	Max  int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("monitor %s not created: the server holds %d monitors, the most monitors.max_monitors allows; delete one, or raise monitors.max_monitors in the server configuration", e.Name, e.Max)
}

// Limited is a monitor store that refuses to create a monitor beyond Max
// monitors (replacing an existing one is always allowed) with a
// *LimitError. Creations through one Limited are serialized, so the cap
// holds exactly for a store written by one process (the embedded one);
// replicas sharing a store may each create one past it at the same
// moment.
type Limited struct {
	store.MonitorStore
	Max int

	mu sync.Mutex
}

// PutMonitor creates or replaces a monitor, within the cap.
func (l *Limited) PutMonitor(ctx context.Context, m model.Monitor, ifVersion int64) (model.StoredMonitor, bool, error) {
	if l.Max <= 0 || ifVersion > 0 {
		return l.MonitorStore.PutMonitor(ctx, m, ifVersion)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.MonitorStore.GetMonitor(ctx, m.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		list, err := l.MonitorStore.ListMonitors(ctx)
		if err != nil {
			return model.StoredMonitor{}, false, fmt.Errorf("count monitors: %w", err)
		}
		if len(list) >= l.Max {
			return model.StoredMonitor{}, false, &LimitError{Name: m.Name, Max: l.Max}
		}
	case err != nil:
		return model.StoredMonitor{}, false, err
	}
	return l.MonitorStore.PutMonitor(ctx, m, ifVersion)
}
