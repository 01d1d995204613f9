package apitest

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// RunResults implements store.ResultStore.
func (s *Runs) RunResults(ctx context.Context, monitor string, since, until time.Time, limit int) ([]store.RunWithResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("apitest: results of monitor %s: limit %d is not positive", monitor, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.RunWithResult
	for id, r := range s.runs {
		res, ok := s.results[id]
		switch {
		case !ok, r.Monitor != monitor, r.Status != model.RunSucceeded:
			continue
		case r.WindowEnd.Before(since), !until.IsZero() && !r.WindowEnd.Before(until):
			continue
		}
		out = append(out, store.RunWithResult{Run: r, Result: res})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Run, out[j].Run
		if !a.WindowEnd.Equal(b.WindowEnd) {
			return a.WindowEnd.After(b.WindowEnd)
		}
		return a.ID > b.ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// TraceEvaluations implements store.ResultStore.
func (s *Runs) TraceEvaluations(ctx context.Context, traceID string, limit int) ([]store.TraceEvaluation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("apitest: evaluations of trace %s: limit %d is not positive", traceID, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.TraceEvaluation
	for id, list := range s.instances {
		r, ok := s.runs[id]
		if !ok || r.Status != model.RunSucceeded {
			continue
		}
		for _, in := range list {
			if in.TraceID == traceID && in.Status == model.InstanceJudged {
				out = append(out, store.TraceEvaluation{Instance: in, Monitor: r.Monitor, FinishedAt: r.FinishedAt})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case !a.FinishedAt.Equal(b.FinishedAt):
			return a.FinishedAt.After(b.FinishedAt)
		case a.Instance.RunID != b.Instance.RunID:
			return a.Instance.RunID > b.Instance.RunID
		}
		return a.Instance.Metric < b.Instance.Metric
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
