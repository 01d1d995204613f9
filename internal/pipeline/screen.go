package pipeline

import (
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
)

// screening applies normalize.Screen to each traces batch and keeps its
// counts by reason. Safe for concurrent use.
type screening struct {
	now func() time.Time

	mu     sync.Mutex
	counts normalize.ScreenCounts
}

func (s *screening) screen(spans []model.Span, rep *normalize.Report) []model.Span {
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	kept, counts := normalize.Screen(spans, now(), rep)
	if len(counts) > 0 {
		s.mu.Lock()
		if s.counts == nil {
			s.counts = normalize.ScreenCounts{}
		}
		for r, n := range counts {
			s.counts[r] += n
		}
		s.mu.Unlock()
	}
	return kept
}

// Screened counts the spans whose times, ids or names were fixed or
// rejected at ingest since New, by reason (normalize.ScreenReasons), every
// reason present.
func (p *Pipeline) Screened() map[string]int64 {
	out := make(map[string]int64, len(normalize.ScreenReasons()))
	for _, r := range normalize.ScreenReasons() {
		out[r] = 0
	}
	p.screening.mu.Lock()
	defer p.screening.mu.Unlock()
	for r, n := range p.screening.counts {
		out[r] += n
	}
	return out
}
