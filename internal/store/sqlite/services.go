package sqlite

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// Service cursors are URL-safe base64 (unpadded) of: version byte 's',
// the last entry's service length as a uvarint, its service, then its
// deployment.
const serviceCursorVersion = 's'

func encodeServiceCursor(service, deployment string) string {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(service)+len(deployment))
	b = append(b, serviceCursorVersion)
	b = binary.AppendUvarint(b, uint64(len(service)))
	b = append(b, service...)
	b = append(b, deployment...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeServiceCursor(c string) (service, deployment string, err error) {
	bad := fmt.Errorf("services cursor: %w", store.ErrInvalidCursor)
	if len(c) > 4*maxIDLen {
		return "", "", bad
	}
	b, derr := base64.RawURLEncoding.DecodeString(c)
	if derr != nil || len(b) < 2 || b[0] != serviceCursorVersion {
		return "", "", bad
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return "", "", bad
	}
	rest := b[1+k:]
	return string(rest[:n]), string(rest[n:]), nil
}

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
		svc, dep, err := decodeServiceCursor(q.Cursor)
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
		page.NextCursor = encodeServiceCursor(lastSI.Service, lastSI.Deployment)
	}
	return page, nil
}
