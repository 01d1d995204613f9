package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// SaveRunResult stores a run's result and instances, ends the run and
// applies decide's alert changes, in one transaction.
func (s *Store) SaveRunResult(ctx context.Context, owner string, res model.RunResult, instances []model.Instance, now time.Time, decide store.AlertDecider) error {
	metrics, err := json.Marshal(res.Metrics)
	if err != nil {
		return fmt.Errorf("sqlite: save result of run %s: %w", res.RunID, err)
	}
	operational, err := json.Marshal(res.Operational)
	if err != nil {
		return fmt.Errorf("sqlite: save result of run %s: %w", res.RunID, err)
	}
	var judgeUsage []byte // NULL: no usage
	if res.JudgeUsage != nil {
		if judgeUsage, err = json.Marshal(res.JudgeUsage); err != nil {
			return fmt.Errorf("sqlite: save result of run %s: %w", res.RunID, err)
		}
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		upd, err := tx.Exec(`UPDATE runs SET status = 'succeeded', error = '', finished_ns = ?, lease_until_ns = 0
			WHERE id = ? AND status = 'running' AND lease_owner = ?`, nsOf(now), res.RunID, owner)
		if err != nil {
			return err
		}
		if n, _ := upd.RowsAffected(); n == 0 {
			return fmt.Errorf("run is not held by %s: %w", owner, store.ErrConflict)
		}
		if _, err := tx.Exec(`INSERT OR REPLACE INTO run_results (run_id, sampled, metrics, operational, judge_errors, judge_error,
			judge_usage) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			res.RunID, res.Sampled, metrics, operational, res.JudgeErrors, res.JudgeError, judgeUsage); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM run_instances WHERE run_id = ?`, res.RunID); err != nil {
			return err
		}
		stmt, err := tx.Prepare(`INSERT OR REPLACE INTO run_instances (run_id, metric, trace_id, status, score, passed,
			reason, error, raw_reply, judge_model, prompt_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, in := range instances {
			var score any
			if in.Score != nil {
				score = *in.Score
			}
			if _, err := stmt.Exec(res.RunID, in.Metric, in.TraceID, string(in.Status), score, in.Passed,
				in.Reason, in.Error, in.RawReply, in.JudgeModel, in.PromptVersion); err != nil {
				return fmt.Errorf("instance %s/%s: %w", in.Metric, in.TraceID, err)
			}
		}
		return applyAlerts(tx, res.RunID, now, decide)
	})
	if err != nil {
		return fmt.Errorf("sqlite: save result of run %s: %w", res.RunID, err)
	}
	return nil
}

// RunResult returns a run's stored result.
func (s *Store) RunResult(ctx context.Context, runID string) (model.RunResult, error) {
	if s.closed.Load() {
		return model.RunResult{}, store.ErrClosed
	}
	res := model.RunResult{RunID: runID}
	var metrics, operational, judgeUsage []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT sampled, metrics, operational, judge_errors, judge_error, judge_usage
		FROM run_results WHERE run_id = ?`, runID).
		Scan(&res.Sampled, &metrics, &operational, &res.JudgeErrors, &res.JudgeError, &judgeUsage)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.RunResult{}, fmt.Errorf("sqlite: result of run %s: %w", runID, store.ErrNotFound)
	case err != nil:
		return model.RunResult{}, s.readErr("result of run "+runID, err)
	}
	if err := decodeResult(&res, metrics, operational, judgeUsage); err != nil {
		return model.RunResult{}, err
	}
	return res, nil
}

// decodeResult fills a result from its stored columns: the metric and
// operational results, and the judge's usage (nil when NULL). A result
// with judge errors is degraded.
func decodeResult(res *model.RunResult, metrics, operational, judgeUsage []byte) error {
	if err := json.Unmarshal(metrics, &res.Metrics); err != nil {
		return fmt.Errorf("sqlite: result of run %s: metrics unreadable: %w", res.RunID, err)
	}
	if err := json.Unmarshal(operational, &res.Operational); err != nil {
		return fmt.Errorf("sqlite: result of run %s: operational results unreadable: %w", res.RunID, err)
	}
	if judgeUsage != nil {
		res.JudgeUsage = &model.JudgeUsage{}
		if err := json.Unmarshal(judgeUsage, res.JudgeUsage); err != nil {
			return fmt.Errorf("sqlite: result of run %s: judge usage unreadable: %w", res.RunID, err)
		}
	}
	res.Degraded = res.JudgeErrors > 0
	return nil
}

// RunInstances returns the instances of a run that q selects.
func (s *Store) RunInstances(ctx context.Context, q store.InstanceQuery) ([]model.Instance, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	runID := q.RunID
	var passed any // NULL: no filter
	if q.Passed != nil {
		passed = *q.Passed
	}
	limit := -1 // no bound
	if q.Limit > 0 {
		limit = q.Limit
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT metric, trace_id, status, score, passed, reason, error, raw_reply,
		judge_model, prompt_version FROM run_instances WHERE run_id = ?1 AND (?2 = '' OR metric = ?2)
		AND (?3 = '' OR status = ?3) AND (?4 IS NULL OR (status = 'judged' AND passed = ?4))
		AND (?5 = '' OR (metric, trace_id) > (?5, ?6))
		ORDER BY metric, trace_id LIMIT ?7`, runID, q.Metric, string(q.Status), passed, q.AfterMetric, q.AfterTraceID, limit)
	if err != nil {
		return nil, s.readErr("instances of run "+runID, err)
	}
	defer rows.Close()
	var out []model.Instance
	for rows.Next() {
		in := model.Instance{RunID: runID}
		var status string
		var score sql.NullFloat64
		if err := rows.Scan(&in.Metric, &in.TraceID, &status, &score, &in.Passed, &in.Reason, &in.Error,
			&in.RawReply, &in.JudgeModel, &in.PromptVersion); err != nil {
			return nil, s.readErr("instances of run "+runID, err)
		}
		in.Status = model.InstanceStatus(status)
		if score.Valid {
			v := score.Float64
			in.Score = &v
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr("instances of run "+runID, err)
	}
	return out, nil
}

// cacheLookupBatch bounds the keys of one cache query (4 parameters each,
// within SQLite's limit on parameters).
const cacheLookupBatch = 200

// CachedEvaluations returns the cached evaluations among keys.
func (s *Store) CachedEvaluations(ctx context.Context, keys []store.EvalCacheKey) (map[store.EvalCacheKey]model.Evaluation, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	out := make(map[store.EvalCacheKey]model.Evaluation)
	for len(keys) > 0 {
		batch := keys[:min(len(keys), cacheLookupBatch)]
		keys = keys[len(batch):]
		var q strings.Builder
		q.WriteString(`SELECT trace_id, metric, judge_model, prompt_version, score, reason, created_ns FROM eval_cache
			WHERE (trace_id, metric, judge_model, prompt_version) IN (VALUES `)
		args := make([]any, 0, 4*len(batch))
		for i, k := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?)")
			args = append(args, k.TraceID, k.Metric, k.JudgeModel, k.PromptVersion)
		}
		q.WriteString(")")
		rows, err := s.rdb.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, s.readErr("evaluation cache", err)
		}
		for rows.Next() {
			var e model.Evaluation
			var created int64
			if err := rows.Scan(&e.TraceID, &e.Metric, &e.JudgeModel, &e.PromptVersion, &e.Score, &e.Reason, &created); err != nil {
				rows.Close()
				return nil, s.readErr("evaluation cache", err)
			}
			e.CreatedAt = timeOf(created)
			out[store.EvalCacheKey{TraceID: e.TraceID, Metric: e.Metric, JudgeModel: e.JudgeModel, PromptVersion: e.PromptVersion}] = e
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.readErr("evaluation cache", err)
		}
	}
	return out, nil
}

// CacheEvaluations stores evaluations, keeping any already cached.
func (s *Store) CacheEvaluations(ctx context.Context, evals []model.Evaluation) error {
	if len(evals) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.Prepare(`INSERT INTO eval_cache (trace_id, metric, judge_model, prompt_version, score, reason, created_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range evals {
			if _, err := stmt.Exec(e.TraceID, e.Metric, e.JudgeModel, e.PromptVersion, e.Score, e.Reason, nsOf(e.CreatedAt)); err != nil {
				return fmt.Errorf("evaluation %s/%s: %w", e.Metric, e.TraceID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: cache evaluations: %w", err)
	}
	return nil
}

// withExtra scans a row's run columns (scanRun) and then the columns that
// follow them into extra.
type withExtra struct {
	sc    scanner
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.sc.Scan(append(dest, w.extra...)...) }

// runResultsQuery reads a monitor's succeeded runs whose window ends in
// [since, until) with their results, newest first, at most limit (the
// parameters in that order, times in nanoseconds); it walks the index
// runs_monitor_window_end.
const runResultsQuery = `SELECT ` + runColumns + `, sampled, metrics, operational, judge_errors, judge_error, judge_usage
	FROM runs JOIN run_results ON run_results.run_id = runs.id
	WHERE monitor = ? AND status = 'succeeded' AND window_end_ns >= ? AND window_end_ns < ?
	ORDER BY window_end_ns DESC, id DESC LIMIT ?`

// RunResults returns a monitor's succeeded runs in a range of window ends,
// with their results.
func (s *Store) RunResults(ctx context.Context, monitor string, since, until time.Time, limit int) ([]store.RunWithResult, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite: results of monitor %s: limit %d is not positive", monitor, limit)
	}
	end := int64(math.MaxInt64)
	if !until.IsZero() {
		end = nsOf(until)
	}
	what := "results of monitor " + monitor
	rows, err := s.rdb.QueryContext(ctx, runResultsQuery, monitor, nsOf(since), end, limit)
	if err != nil {
		return nil, s.readErr(what, err)
	}
	defer rows.Close()
	var out []store.RunWithResult
	for rows.Next() {
		var res model.RunResult
		var metrics, operational, judgeUsage []byte
		run, err := scanRun(withExtra{rows, []any{&res.Sampled, &metrics, &operational, &res.JudgeErrors, &res.JudgeError, &judgeUsage}})
		if err != nil {
			return nil, s.readErr(what, err)
		}
		res.RunID = run.ID
		if err := decodeResult(&res, metrics, operational, judgeUsage); err != nil {
			return nil, err
		}
		out = append(out, store.RunWithResult{Run: run, Result: res})
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(what, err)
	}
	return out, nil
}

// traceEvaluationsQuery reads a trace's judged instances with their
// runs' monitors and finish times, newest first, at most limit (the
// parameters: trace id, limit); it finds them by the index
// run_instances_trace.
const traceEvaluationsQuery = `SELECT i.run_id, i.metric, i.status, i.score, i.passed, i.reason, i.error,
	i.raw_reply, i.judge_model, i.prompt_version, r.monitor, r.finished_ns
	FROM run_instances i JOIN runs r ON r.id = i.run_id
	WHERE i.trace_id = ? AND i.status = 'judged' AND r.status = 'succeeded'
	ORDER BY r.finished_ns DESC, i.run_id DESC, i.metric LIMIT ?`

// TraceEvaluations returns a trace's judged instances with their runs'
// monitors and finish times.
func (s *Store) TraceEvaluations(ctx context.Context, traceID string, limit int) ([]store.TraceEvaluation, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite: evaluations of trace %s: limit %d is not positive", traceID, limit)
	}
	what := "evaluations of trace " + traceID
	rows, err := s.rdb.QueryContext(ctx, traceEvaluationsQuery, traceID, limit)
	if err != nil {
		return nil, s.readErr(what, err)
	}
	defer rows.Close()
	var out []store.TraceEvaluation
	for rows.Next() {
		e := store.TraceEvaluation{Instance: model.Instance{TraceID: traceID}}
		in := &e.Instance
		var status string
		var score sql.NullFloat64
		var finished int64
		if err := rows.Scan(&in.RunID, &in.Metric, &status, &score, &in.Passed, &in.Reason, &in.Error,
			&in.RawReply, &in.JudgeModel, &in.PromptVersion, &e.Monitor, &finished); err != nil {
			return nil, s.readErr(what, err)
		}
		in.Status = model.InstanceStatus(status)
		if score.Valid {
			v := score.Float64
			in.Score = &v
		}
		e.FinishedAt = timeOf(finished)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(what, err)
	}
	return out, nil
}
