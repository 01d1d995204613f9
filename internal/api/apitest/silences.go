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

// Silences is an in-memory store.Silences.
type Silences struct {
	mu   sync.Mutex
	seq  uint64
	list []model.Silence
}

var _ store.Silences = (*Silences)(nil)

// NewSilences returns an empty silence store.
func NewSilences() *Silences { return &Silences{} }

// CreateSilence implements store.Silences: ids are s0000...1, s0000...2.
func (s *Silences) CreateSilence(ctx context.Context, x model.Silence) (model.Silence, error) {
	if err := ctx.Err(); err != nil {
		return model.Silence{}, err
	}
	if !x.EndsAt.After(x.CreatedAt) {
		return model.Silence{}, fmt.Errorf("apitest: silence of %s ends before it starts", x.Monitor)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if x.ID == "" {
		s.seq++
		x.ID = fmt.Sprintf("s%031x", s.seq)
	}
	x.ExpiredAt = time.Time{}
	s.list = append(s.list, x)
	return x, nil
}

// ListSilences implements store.Silences: newest first.
func (s *Silences) ListSilences(ctx context.Context, q store.SilenceQuery) ([]model.Silence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []model.Silence
	for _, x := range s.list {
		if (q.Monitor == "" || x.Monitor == q.Monitor) &&
			(q.ActiveAt.IsZero() || !q.ActiveAt.Before(x.CreatedAt) && q.ActiveAt.Before(x.EndsAt)) {
			out = append(out, x)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// ExpireSilence implements store.Silences.
func (s *Silences) ExpireSilence(ctx context.Context, id string, now time.Time) (model.Silence, error) {
	if err := ctx.Err(); err != nil {
		return model.Silence{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.list {
		if x.ID != id {
			continue
		}
		if !now.Before(x.EndsAt) {
			return model.Silence{}, fmt.Errorf("apitest: silence %s: %w", id, store.ErrConflict)
		}
		x.EndsAt, x.ExpiredAt = now.UTC(), now.UTC()
		s.list[i] = x
		return x, nil
	}
	return model.Silence{}, fmt.Errorf("apitest: silence %s: %w", id, store.ErrNotFound)
}
