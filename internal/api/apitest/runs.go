package apitest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Runs is an in-memory store.RunStore and store.ResultStore that keeps the
// ports' promises: a scheduled tick is recorded once, a run is claimed by
// one owner at a time (again once its lease ends), only the owner ends
// it, lists are newest first and instances come by metric and trace id.
// Run ids are 32 hexadecimal digits counting up from 1, so tests know
// them.
//
// It is also the store.AlertStore and store.Outbox (alerts.go), since a
// run's end applies its alert decider to the same state, atomically: a
// decider's error leaves the run and the alerts as they were.
type Runs struct {
	mu        sync.Mutex
	seq       uint64
	next      map[string]time.Time
	runs      map[string]model.Run
	results   map[string]model.RunResult
	instances map[string][]model.Instance
	evals     map[store.EvalCacheKey]model.Evaluation

	trackers map[string]map[string]model.AlertTracker // by monitor, then key
	alerts   map[string]model.Alert
	notes    []model.Notification // in the order queued
	noteSeq  uint64
}

var (
	_ store.RunStore    = (*Runs)(nil)
	_ store.ResultStore = (*Runs)(nil)
	_ store.AlertStore  = (*Runs)(nil)
	_ store.Outbox      = (*Runs)(nil)
	_ store.AlertStats  = (*Runs)(nil)
)

// NewRuns returns an empty store.
func NewRuns() *Runs {
	return &Runs{
		next:      map[string]time.Time{},
		runs:      map[string]model.Run{},
		results:   map[string]model.RunResult{},
		instances: map[string][]model.Instance{},
		evals:     map[store.EvalCacheKey]model.Evaluation{},
		trackers:  map[string]map[string]model.AlertTracker{},
		alerts:    map[string]model.Alert{},
	}
}

// RunID is the id of the n-th run recorded (from 1).
func RunID(n int) string { return fmt.Sprintf("%032x", n) }

// Add records r as it is (an empty ID gets the next one) with, when res is
// not nil, its result and instances; it returns the run stored. It is how
// tests set up runs in any state.
func (s *Runs) Add(r model.Run, res *model.RunResult, instances []model.Instance) model.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	r = s.record(r)
	if res != nil {
		out := *res
		out.RunID = r.ID
		s.results[r.ID] = out
		s.instances[r.ID] = withRunID(instances, r.ID)
	}
	return r
}

// record stores r, giving it an id when it has none; s.mu is held.
func (s *Runs) record(r model.Run) model.Run {
	s.seq++
	if r.ID == "" {
		r.ID = RunID(int(s.seq))
	}
	s.runs[r.ID] = r
	return r
}

func withRunID(in []model.Instance, id string) []model.Instance {
	out := make([]model.Instance, len(in))
	for i, x := range in {
		x.RunID = id
		out[i] = x
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Metric != out[j].Metric {
			return out[i].Metric < out[j].Metric
		}
		return out[i].TraceID < out[j].TraceID
	})
	return out
}

// NextRunTimes implements store.RunStore.
func (s *Runs) NextRunTimes(ctx context.Context) (map[string]time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.next))
	for k, v := range s.next {
		out[k] = v
	}
	return out, nil
}

// SetNextRunTime implements store.RunStore.
func (s *Runs) SetNextRunTime(ctx context.Context, monitor string, next time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next[monitor] = next.UTC()
	return nil
}

// ScheduleRun implements store.RunStore.
func (s *Runs) ScheduleRun(ctx context.Context, r model.Run, next time.Time) (model.Run, bool, error) {
	if err := ctx.Err(); err != nil {
		return model.Run{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next[r.Monitor] = next.UTC()
	for _, x := range s.runs {
		if x.Monitor == r.Monitor && x.ScheduledAt.Equal(r.ScheduledAt) {
			return x, false, nil
		}
	}
	r.ID, r.Trigger, r.Status = "", model.TriggerSchedule, model.RunPending
	return s.record(r), true, nil
}

// CreateRun implements store.RunStore.
func (s *Runs) CreateRun(ctx context.Context, r model.Run) (model.Run, error) {
	if err := ctx.Err(); err != nil {
		return model.Run{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.ID, r.Trigger, r.Status = "", model.TriggerManual, model.RunPending
	return s.record(r), nil
}

// ClaimRun implements store.RunStore.
func (s *Runs) ClaimRun(ctx context.Context, owner string, now time.Time, lease time.Duration) (model.Run, bool, error) {
	if err := ctx.Err(); err != nil {
		return model.Run{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *model.Run
	for _, r := range s.runs {
		claimable := r.Status == model.RunPending || (r.Status == model.RunRunning && r.LeaseUntil.Before(now))
		if claimable && (best == nil || r.CreatedAt.Before(best.CreatedAt) || (r.CreatedAt.Equal(best.CreatedAt) && r.ID < best.ID)) {
			r := r
			best = &r
		}
	}
	if best == nil {
		return model.Run{}, false, nil
	}
	r := *best
	if r.StartedAt.IsZero() {
		r.StartedAt = now.UTC()
	}
	r.Status, r.Attempts, r.LeaseOwner, r.LeaseUntil = model.RunRunning, r.Attempts+1, owner, now.Add(lease).UTC()
	s.runs[r.ID] = r
	return r, true, nil
}

// FinishRun implements store.RunStore.
func (s *Runs) FinishRun(ctx context.Context, id, owner string, status model.RunStatus, errMsg string, now time.Time, decide store.AlertDecider) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if status != model.RunSucceeded && status != model.RunFailed {
		return fmt.Errorf("apitest: finish run %s: status %q is not an end", id, status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.held(id, owner)
	if err != nil {
		return err
	}
	changes, err := s.decideAlerts(r.Monitor, now, decide)
	if err != nil {
		return fmt.Errorf("apitest: finish run %s: %w", id, err)
	}
	s.finish(r, status, errMsg, now)
	s.applyAlerts(changes)
	return nil
}

// held returns run id if owner holds it; s.mu is held.
func (s *Runs) held(id, owner string) (model.Run, error) {
	r, ok := s.runs[id]
	if !ok || r.Status != model.RunRunning || r.LeaseOwner != owner {
		return model.Run{}, fmt.Errorf("apitest: run %s is not held by %s: %w", id, owner, store.ErrConflict)
	}
	return r, nil
}

// finish ends run r; s.mu is held.
func (s *Runs) finish(r model.Run, status model.RunStatus, errMsg string, now time.Time) {
	r.Status, r.Error, r.FinishedAt, r.LeaseOwner, r.LeaseUntil = status, errMsg, now.UTC(), "", time.Time{}
	s.runs[r.ID] = r
}

// RenewRun implements store.RunStore.
func (s *Runs) RenewRun(ctx context.Context, id, owner string, until time.Time, p model.RunProgress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok || r.Status != model.RunRunning || r.LeaseOwner != owner {
		return fmt.Errorf("apitest: run %s is not held by %s: %w", id, owner, store.ErrConflict)
	}
	r.LeaseUntil, r.Progress = until.UTC(), p
	s.runs[id] = r
	return nil
}

// ReleaseRun implements store.RunStore.
func (s *Runs) ReleaseRun(ctx context.Context, id, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok || r.Status != model.RunRunning || r.LeaseOwner != owner {
		return fmt.Errorf("apitest: run %s is not held by %s: %w", id, owner, store.ErrConflict)
	}
	r.LeaseOwner, r.LeaseUntil, r.Attempts = "", time.Time{}, max(r.Attempts-1, 0)
	s.runs[id] = r
	return nil
}

// GetRun implements store.RunStore.
func (s *Runs) GetRun(ctx context.Context, id string) (model.Run, error) {
	if err := ctx.Err(); err != nil {
		return model.Run{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return model.Run{}, fmt.Errorf("apitest: run %s: %w", id, store.ErrNotFound)
	}
	return r, nil
}

// ListRuns implements store.RunStore.
func (s *Runs) ListRuns(ctx context.Context, monitor string, limit int) ([]model.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []model.Run
	for _, r := range s.runs {
		if r.Monitor == monitor {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// SaveRunResult implements store.ResultStore.
func (s *Runs) SaveRunResult(ctx context.Context, owner string, res model.RunResult, instances []model.Instance, now time.Time, decide store.AlertDecider) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.held(res.RunID, owner)
	if err != nil {
		return err
	}
	changes, err := s.decideAlerts(r.Monitor, now, decide)
	if err != nil {
		return fmt.Errorf("apitest: save result of run %s: %w", r.ID, err)
	}
	s.finish(r, model.RunSucceeded, "", now)
	s.applyAlerts(changes)
	s.results[res.RunID] = res
	s.instances[res.RunID] = withRunID(instances, res.RunID)
	return nil
}

// RunResult implements store.ResultStore.
func (s *Runs) RunResult(ctx context.Context, runID string) (model.RunResult, error) {
	if err := ctx.Err(); err != nil {
		return model.RunResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, ok := s.results[runID]
	if !ok {
		return model.RunResult{}, fmt.Errorf("apitest: result of run %s: %w", runID, store.ErrNotFound)
	}
	return res, nil
}

// RunInstances implements store.ResultStore.
func (s *Runs) RunInstances(ctx context.Context, q store.InstanceQuery) ([]model.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := slices.Clone(s.instances[q.RunID])
	slices.SortFunc(all, func(a, b model.Instance) int {
		return cmp.Or(strings.Compare(a.Metric, b.Metric), strings.Compare(a.TraceID, b.TraceID))
	})
	var out []model.Instance
	for _, in := range all {
		switch {
		case q.Metric != "" && in.Metric != q.Metric,
			q.Status != "" && in.Status != q.Status,
			q.Passed != nil && (in.Status != model.InstanceJudged || in.Passed != *q.Passed),
			q.AfterMetric != "" && cmp.Or(strings.Compare(in.Metric, q.AfterMetric), strings.Compare(in.TraceID, q.AfterTraceID)) <= 0:
			continue
		}
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		out = append(out, in)
	}
	return out, nil
}

// CachedEvaluations implements store.ResultStore.
func (s *Runs) CachedEvaluations(ctx context.Context, keys []store.EvalCacheKey) (map[store.EvalCacheKey]model.Evaluation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[store.EvalCacheKey]model.Evaluation{}
	for _, k := range keys {
		if e, ok := s.evals[k]; ok {
			out[k] = e
		}
	}
	return out, nil
}

// CacheEvaluations implements store.ResultStore.
func (s *Runs) CacheEvaluations(ctx context.Context, evals []model.Evaluation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evals {
		k := store.EvalCacheKey{TraceID: e.TraceID, Metric: e.Metric, JudgeModel: e.JudgeModel, PromptVersion: e.PromptVersion}
		if _, ok := s.evals[k]; !ok {
			s.evals[k] = e
		}
	}
	return nil
}
