package sqlite

import (
	"context"
	"fmt"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// ServicesPage returns a page of the services seen, by service then
// deployment.
func (s *Store) ServicesPage(ctx context.Context, q store.ServiceQuery) (store.ServicePage, error) {
	if s.closed.Load() {
		return store.ServicePage{}, store.ErrClosed
	}
	limit := q.Limit
	if limit <= 0 || limit > store.MaxLimit {
		limit = store.MaxLimit
	}
	query := `SELECT service, deployment, first_seen_ns, last_seen_ns, trace_count FROM services`
	args := []any{}
	if q.Cursor != "" {
		svc, dep, err := store.DecodeServiceCursor(q.Cursor)
		if err != nil {
			return store.ServicePage{}, fmt.Errorf("sqlite: %w", err)
		}
		query += ` WHERE (service, deployment) > (?, ?)`
		args = append(args, svc, dep)
	}
	query += ` ORDER BY service, deployment LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return store.ServicePage{}, s.readErr("list services", err)
	}
	defer rows.Close()
	var page store.ServicePage
	for rows.Next() {
		var si model.ServiceInfo
		var first, last int64
		if err := rows.Scan(&si.Service, &si.Deployment, &first, &last, &si.TraceCount); err != nil {
			return store.ServicePage{}, s.readErr("list services", err)
		}
		si.FirstSeen, si.LastSeen = payload.FromUnixNano(first), payload.FromUnixNano(last)
		page.Services = append(page.Services, si)
	}
	if err := rows.Err(); err != nil {
		return store.ServicePage{}, s.readErr("list services", err)
	}
	if len(page.Services) > limit {
		page.Services = page.Services[:limit]
		lastSI := page.Services[limit-1]
		page.NextCursor = store.EncodeServiceCursor(lastSI.Service, lastSI.Deployment)
	}
	return page, nil
}
