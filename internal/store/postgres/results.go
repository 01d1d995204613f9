package postgres

// Run results, instances, the evaluation cache and the retention of runs.
// Owner: the runs work of issue 13.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// SaveRunResult stores a run's result and instances, ends the run and
// applies decide's alert changes, in one transaction, if owner still holds
// the run: a scheduler whose run was taken over stores nothing.
func (s *Store) SaveRunResult(ctx context.Context, owner string, res model.RunResult, instances []model.Instance, now time.Time, decide store.AlertDecider) error {
	metrics, err := json.Marshal(res.Metrics)
	if err != nil {
		return fmt.Errorf("postgres: save result of run %s: %w", res.RunID, err)
	}
	operational, err := json.Marshal(res.Operational)
	if err != nil {
		return fmt.Errorf("postgres: save result of run %s: %w", res.RunID, err)
	}
	var judgeUsage []byte // NULL: no usage
	if res.JudgeUsage != nil {
		if judgeUsage, err = json.Marshal(res.JudgeUsage); err != nil {
			return fmt.Errorf("postgres: save result of run %s: %w", res.RunID, err)
		}
	}
	// The instances go in the partition of their run's creation day,
	// made beforehand in a transaction of its own (partitions.go). A run
	// not found here is not held by owner: the transaction says so.
	created, known, err := s.runCreated(ctx, res.RunID)
	if err != nil {
		return fmt.Errorf("postgres: save result of run %s: %w", res.RunID, err)
	}
	rows := instanceRows(res.RunID, created, instances)
	for attempt := 0; ; attempt++ {
		if known && len(rows) > 0 {
			if err := s.ensureInstancePartitions(ctx, created); err != nil {
				return fmt.Errorf("postgres: save result of run %s: %w", res.RunID, err)
			}
		}
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			if err := endRun(ctx, tx, res.RunID, owner, model.RunSucceeded, "", now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO run_results (run_id, sampled, metrics, operational, judge_errors, judge_error,
				judge_usage) VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (run_id) DO UPDATE SET sampled = excluded.sampled, metrics = excluded.metrics,
					operational = excluded.operational, judge_errors = excluded.judge_errors,
					judge_error = excluded.judge_error, judge_usage = excluded.judge_usage`,
				res.RunID, res.Sampled, metrics, operational, res.JudgeErrors, storableText(res.JudgeError), judgeUsage); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM run_instances WHERE run_id = $1 AND created_ns = $2`, res.RunID, created); err != nil {
				return err
			}
			if len(rows) > 0 {
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"run_instances"}, instanceRowColumns[:], pgx.CopyFromRows(rows)); err != nil {
					return fmt.Errorf("instances: %w", err)
				}
			}
			return s.applyAlerts(ctx, tx, res.RunID, now, decide)
		})
		// The run's partition may have been dropped since this process
		// made or saw it (retention on another replica): look again, once.
		if err == nil || attempt > 0 || !missingPartition(err) {
			break
		}
		s.tr.parts.forget()
	}
	if err != nil {
		return fmt.Errorf("postgres: save result of run %s: %w", res.RunID, err)
	}
	return nil
}

// runCreated returns when a run was created (the day its instances are
// stored in), and whether it exists.
func (s *Store) runCreated(ctx context.Context, runID string) (int64, bool, error) {
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT created_ns FROM runs WHERE id = $1`, runID).Scan(&created)
	switch {
	case notFound(err):
		return 0, false, nil
	case err != nil:
		return 0, false, s.mapErr(err)
	}
	return created, true, nil
}

// instanceRowColumns are the run_instances columns of instanceRows.
var instanceRowColumns = [...]string{"run_id", "metric", "trace_id", "status", "score", "passed", "reason", "error",
	"raw_reply", "judge_model", "prompt_version", "created_ns"}

// instanceRows is the run_instances rows of a run's instances. An
// instance given twice (same metric and trace) is stored once, as the
// last given, as the SQLite backend's INSERT OR REPLACE does; COPY would
// refuse the duplicate key. created is the run's creation time, the
// partition key.
func instanceRows(runID string, created int64, instances []model.Instance) [][]any {
	type key struct{ metric, trace string }
	at := make(map[key]int, len(instances))
	rows := make([][]any, 0, len(instances))
	for _, in := range instances {
		var score any
		if in.Score != nil {
			score = *in.Score
		}
		row := []any{runID, storableText(in.Metric), storableText(in.TraceID), string(in.Status), score, in.Passed,
			storableText(in.Reason), storableText(in.Error), storableText(in.RawReply), storableText(in.JudgeModel),
			storableText(in.PromptVersion), created}
		k := key{in.Metric, in.TraceID}
		if i, ok := at[k]; ok {
			rows[i] = row
			continue
		}
		at[k] = len(rows)
		rows = append(rows, row)
	}
	return rows
}

// RunResult returns a run's stored result (read on the primary, as the
// run it belongs to: GetRun).
func (s *Store) RunResult(ctx context.Context, runID string) (model.RunResult, error) {
	if s.closed.Load() {
		return model.RunResult{}, store.ErrClosed
	}
	res := model.RunResult{RunID: runID}
	var metrics, operational, judgeUsage []byte
	err := s.pool.QueryRow(ctx, `SELECT sampled, metrics, operational, judge_errors, judge_error, judge_usage
		FROM run_results WHERE run_id = $1`, runID).
		Scan(&res.Sampled, &metrics, &operational, &res.JudgeErrors, &res.JudgeError, &judgeUsage)
	switch {
	case notFound(err):
		return model.RunResult{}, fmt.Errorf("postgres: result of run %s: %w", runID, store.ErrNotFound)
	case err != nil:
		return model.RunResult{}, fmt.Errorf("postgres: result of run %s: %w", runID, s.mapErr(err))
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
		return fmt.Errorf("postgres: result of run %s: metrics unreadable: %w", res.RunID, err)
	}
	if err := json.Unmarshal(operational, &res.Operational); err != nil {
		return fmt.Errorf("postgres: result of run %s: operational results unreadable: %w", res.RunID, err)
	}
	if judgeUsage != nil {
		res.JudgeUsage = &model.JudgeUsage{}
		if err := json.Unmarshal(judgeUsage, res.JudgeUsage); err != nil {
			return fmt.Errorf("postgres: result of run %s: judge usage unreadable: %w", res.RunID, err)
		}
	}
	res.Degraded = res.JudgeErrors > 0
	return nil
}

// instanceColumns are the run_instances columns scanInstance reads.
const instanceColumns = `metric, trace_id, status, score, passed, reason, error, raw_reply, judge_model, prompt_version`

// scanInstance reads instanceColumns into in, then extra.
func scanInstance(row pgx.Row, in *model.Instance, extra ...any) error {
	var status string
	dest := []any{&in.Metric, &in.TraceID, &status, &in.Score, &in.Passed, &in.Reason, &in.Error, &in.RawReply,
		&in.JudgeModel, &in.PromptVersion}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return err
	}
	in.Status = model.InstanceStatus(status)
	return nil
}

// RunInstances returns the instances of a run that q selects, by metric
// and trace id (the primary key's order, so a page is an index range), in
// the partition of the run's creation day: every instance has its run
// (SaveRunResult ends the run it stores them for, DeleteRuns deletes them
// with it).
func (s *Store) RunInstances(ctx context.Context, q store.InstanceQuery) ([]model.Instance, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	var limit any // NULL: LIMIT ALL
	if q.Limit > 0 {
		limit = q.Limit
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+instanceColumns+` FROM run_instances
		WHERE run_id = $1 AND created_ns = (SELECT created_ns FROM runs WHERE id = $1) AND ($2 = '' OR metric = $2) AND ($3 = '' OR status = $3)
		AND ($4::boolean IS NULL OR (status = 'judged' AND passed = $4))
		AND ($5 = '' OR (metric, trace_id) > ($5, $6))
		ORDER BY metric, trace_id LIMIT $7`,
		q.RunID, q.Metric, string(q.Status), q.Passed, q.AfterMetric, q.AfterTraceID, limit)
	defer rows.Close()
	var out []model.Instance
	for rows.Next() {
		in := model.Instance{RunID: q.RunID}
		if err := scanInstance(rows, &in); err != nil {
			return nil, fmt.Errorf("postgres: instances of run %s: %w", q.RunID, s.mapErr(err))
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: instances of run %s: %w", q.RunID, s.mapErr(err))
	}
	return out, nil
}

// cacheBatch bounds the keys or evaluations of one cache statement (they
// go as arrays, one per column).
const cacheBatch = 1000

// CachedEvaluations returns the cached evaluations among keys. It reads
// the primary: a verdict another replica just paid for must be found.
func (s *Store) CachedEvaluations(ctx context.Context, keys []store.EvalCacheKey) (map[store.EvalCacheKey]model.Evaluation, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	out := make(map[store.EvalCacheKey]model.Evaluation)
	for len(keys) > 0 {
		batch := keys[:min(len(keys), cacheBatch)]
		keys = keys[len(batch):]
		traces, metrics, models, versions := make([]string, len(batch)), make([]string, len(batch)), make([]string, len(batch)), make([]string, len(batch))
		for i, k := range batch {
			traces[i], metrics[i] = storableText(k.TraceID), storableText(k.Metric)
			models[i], versions[i] = storableText(k.JudgeModel), storableText(k.PromptVersion)
		}
		rows, _ := s.pool.Query(ctx, `SELECT c.trace_id, c.metric, c.judge_model, c.prompt_version, c.score, c.reason, c.created_ns
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(trace_id, metric, judge_model, prompt_version)
			JOIN eval_cache c ON c.trace_id = k.trace_id AND c.metric = k.metric AND c.judge_model = k.judge_model
				AND c.prompt_version = k.prompt_version`, traces, metrics, models, versions)
		for rows.Next() {
			var e model.Evaluation
			var created int64
			if err := rows.Scan(&e.TraceID, &e.Metric, &e.JudgeModel, &e.PromptVersion, &e.Score, &e.Reason, &created); err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: evaluation cache: %w", s.mapErr(err))
			}
			e.CreatedAt = payload.FromUnixNano(created)
			out[store.EvalCacheKey{TraceID: e.TraceID, Metric: e.Metric, JudgeModel: e.JudgeModel, PromptVersion: e.PromptVersion}] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("postgres: evaluation cache: %w", s.mapErr(err))
		}
	}
	return out, nil
}

// CacheEvaluations stores evaluations, keeping any already cached (by
// another replica too: ON CONFLICT DO NOTHING).
func (s *Store) CacheEvaluations(ctx context.Context, evals []model.Evaluation) error {
	if len(evals) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for rest := evals; len(rest) > 0; {
			batch := rest[:min(len(rest), cacheBatch)]
			rest = rest[len(batch):]
			n := len(batch)
			traces, metrics, models, versions, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			scores, created := make([]float64, n), make([]int64, n)
			for i, e := range batch {
				traces[i], metrics[i] = storableText(e.TraceID), storableText(e.Metric)
				models[i], versions[i] = storableText(e.JudgeModel), storableText(e.PromptVersion)
				scores[i], reasons[i], created[i] = e.Score, storableText(e.Reason), payload.UnixNano(e.CreatedAt)
			}
			// ORDER BY: replicas caching overlapping verdicts insert in one
			// key order, so they wait for each other rather than deadlock.
			if _, err := tx.Exec(ctx, `INSERT INTO eval_cache (trace_id, metric, judge_model, prompt_version, score, reason, created_ns)
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::bigint[])
				ORDER BY 1, 2, 3, 4
				ON CONFLICT DO NOTHING`, traces, metrics, models, versions, scores, reasons, created); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: cache evaluations: %w", err)
	}
	return nil
}

// RunResults returns a monitor's succeeded runs in a range of window ends,
// with their results, newest first; it walks runs_monitor_window_end, on
// the read replica when there is one (history).
func (s *Store) RunResults(ctx context.Context, monitor string, since, until time.Time, limit int) ([]store.RunWithResult, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if limit <= 0 {
		return nil, fmt.Errorf("postgres: results of monitor %s: limit %d is not positive", monitor, limit)
	}
	end := int64(math.MaxInt64)
	if !until.IsZero() {
		end = payload.UnixNano(until)
	}
	rows, _ := s.rpool.Query(ctx, `SELECT `+runCols("r.")+`, x.sampled, x.metrics, x.operational, x.judge_errors,
		x.judge_error, x.judge_usage
		FROM runs r JOIN run_results x ON x.run_id = r.id
		WHERE r.monitor = $1 AND r.status = 'succeeded' AND r.window_end_ns >= $2 AND r.window_end_ns < $3
		ORDER BY r.window_end_ns DESC, r.id DESC LIMIT $4`, monitor, payload.UnixNano(since), end, limit)
	defer rows.Close()
	var out []store.RunWithResult
	for rows.Next() {
		var res model.RunResult
		var metrics, operational, judgeUsage []byte
		run, err := scanRun(rows, &res.Sampled, &metrics, &operational, &res.JudgeErrors, &res.JudgeError, &judgeUsage)
		if err != nil {
			return nil, fmt.Errorf("postgres: results of monitor %s: %w", monitor, s.mapErr(err))
		}
		res.RunID = run.ID
		if err := decodeResult(&res, metrics, operational, judgeUsage); err != nil {
			return nil, err
		}
		out = append(out, store.RunWithResult{Run: run, Result: res})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: results of monitor %s: %w", monitor, s.mapErr(err))
	}
	return out, nil
}

// TraceEvaluations returns a trace's judged instances with their runs'
// monitors and finish times, newest first; it finds them by
// run_instances_trace, on the read replica when there is one, in the
// partitions from the trace's start on (less instanceSlack): its runs were
// created after it started. A trace whose summary is gone (deleted while
// its evaluations are not yet) is looked for in every partition.
func (s *Store) TraceEvaluations(ctx context.Context, traceID string, limit int) ([]store.TraceEvaluation, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if limit <= 0 {
		return nil, fmt.Errorf("postgres: evaluations of trace %s: limit %d is not positive", traceID, limit)
	}
	rows, _ := s.rpool.Query(ctx, `SELECT i.metric, i.trace_id, i.status, i.score, i.passed, i.reason, i.error,
		i.raw_reply, i.judge_model, i.prompt_version, i.run_id, r.monitor, r.finished_ns
		FROM run_instances i JOIN runs r ON r.id = i.run_id
		WHERE i.trace_id = $1 AND i.status = 'judged' AND r.status = 'succeeded'
			AND i.created_ns >= `+instancesSince(`trace_id = $3`, `1`)+`
		ORDER BY r.finished_ns DESC, i.run_id DESC, i.metric LIMIT $2`, traceID, limit, []byte(traceID))
	defer rows.Close()
	var out []store.TraceEvaluation
	for rows.Next() {
		var e store.TraceEvaluation
		var finished int64
		if err := scanInstance(rows, &e.Instance, &e.Instance.RunID, &e.Monitor, &finished); err != nil {
			return nil, fmt.Errorf("postgres: evaluations of trace %s: %w", traceID, s.mapErr(err))
		}
		e.FinishedAt = payload.FromUnixNano(finished)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: evaluations of trace %s: %w", traceID, s.mapErr(err))
	}
	return out, nil
}

// DeleteRuns deletes up to limit finished runs created before before, with
// their results and instances (those retention has not dropped with their
// partition). Runs still pending or running are kept
// whatever their age: the scheduler owns them. SKIP LOCKED: a replica's
// retention sweep passes over runs another is deleting.
func (s *Store) DeleteRuns(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 || limit > store.MaxDeleteBatch {
		limit = store.MaxDeleteBatch
	}
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		rows, _ := tx.Query(ctx, `DELETE FROM runs WHERE id IN (
				SELECT id FROM runs WHERE created_ns < $1 AND status IN ('succeeded', 'failed')
				ORDER BY created_ns LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING id, created_ns`, before.UnixNano(), limit)
		var ids []string
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		var id string
		var created int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &created}, func() error {
			ids = append(ids, id)
			first, last = min(first, created), max(last, created)
			return nil
		}); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		// The oldest runs go first, so their instances are in the
		// partitions of a few days: the bounds let PostgreSQL read only
		// those.
		if _, err := tx.Exec(ctx, `DELETE FROM run_instances WHERE run_id = ANY($1) AND created_ns BETWEEN $2 AND $3`,
			ids, first, last); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM run_results WHERE run_id = ANY($1)`, ids); err != nil {
			return err
		}
		n = int64(len(ids))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete runs: %w", err)
	}
	return n, nil
}
