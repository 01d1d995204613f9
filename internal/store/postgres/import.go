package postgres

// Import: records exported by another store (flowwatch copy moving an
// embedded installation here), written as they were: ids, times, states,
// leases and counters kept, nothing recomputed but what this backend
// derives for itself (full-text entries, the model index, services).
//
// Every insert leaves a row already stored as it is (ON CONFLICT DO
// NOTHING; spans and log records are deduplicated by the write path), and
// each page records how far the copy of its kind has gone in
// flowwatch_copy, in the page's own transaction: a copy stopped anywhere
// continues after its last committed page, and a page sent again changes
// nothing.
//
// Traces go through the write path (traces.go: writeBatch), which stores
// spans and log records and keeps the summaries, the model index, the
// services and the full-text index current, with two differences: the
// summary stored is the source's (computed when the spans arrived, with the
// prices of then), and the spans add nothing to the rollups, which are
// copied raw: they still count traces that retention has deleted.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

var _ store.Importer = (*Store)(nil)

// copyTable records a copy's progress by kind. It is created by the first
// import rather than by a migration: only a database a copy went into has
// it, and it is the copy's bookkeeping, not flowwatch's.
const copyTable = `CREATE TABLE IF NOT EXISTS flowwatch_copy (
	kind       text    PRIMARY KEY,
	cursor     text    NOT NULL,
	done       boolean NOT NULL,
	copied     bigint  NOT NULL,
	updated_ns bigint  NOT NULL
)`

// ImportRecords writes a page of records and the copy's progress in one
// transaction.
func (s *Store) ImportRecords(ctx context.Context, page store.RecordPage) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if _, err := s.pool.Exec(ctx, copyTable); err != nil {
		return fmt.Errorf("postgres: import %s: %w", page.Kind, s.mapErr(err))
	}
	progress := func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO flowwatch_copy AS c (kind, cursor, done, copied, updated_ns)
			VALUES ($1, $2, $3, $4, (extract(epoch FROM clock_timestamp()) * 1e9)::bigint)
			ON CONFLICT (kind) DO UPDATE SET cursor = excluded.cursor, done = excluded.done,
				copied = c.copied + excluded.copied, updated_ns = excluded.updated_ns`,
			string(page.Kind), page.Next, page.Next == "", int64(page.Len()))
		if err != nil {
			return fmt.Errorf("record progress: %w", err)
		}
		return nil
	}
	var err error
	if page.Kind == store.RecordTraces {
		err = s.importTraces(ctx, page, progress)
	} else {
		for attempt := 0; ; attempt++ {
			if page.Kind == store.RecordResults {
				if err = s.ensureResultPartitions(ctx, page.Results); err != nil {
					break
				}
			}
			err = s.inTx(ctx, func(tx pgx.Tx) error {
				b := &pgx.Batch{}
				if err := queueImport(b, page); err != nil {
					return err
				}
				if err := tx.SendBatch(ctx, b).Close(); err != nil {
					return err
				}
				return progress(ctx, tx)
			})
			// A partition made or seen may have been dropped since
			// (retention on another replica): look again, once.
			if err == nil || attempt > 0 || !missingPartition(err) {
				break
			}
			s.tr.parts.forget()
		}
	}
	if err != nil {
		return fmt.Errorf("postgres: import %s: %w", page.Kind, s.mapErr(err))
	}
	return nil
}

// importTraces writes a page of traces through the write path.
func (s *Store) importTraces(ctx context.Context, page store.RecordPage, progress func(context.Context, pgx.Tx) error) error {
	var b model.Batch
	imp := &batchImport{summaries: make(map[string]*model.Trace, len(page.Traces)), after: progress}
	for _, t := range page.Traces {
		b.Spans = append(b.Spans, t.Spans...)
		b.Logs = append(b.Logs, t.Logs...)
		if t.Summary != nil {
			imp.summaries[t.TraceID] = t.Summary
		}
	}
	if len(b.Spans) == 0 && len(b.Logs) == 0 {
		return s.inTx(ctx, func(tx pgx.Tx) error { return progress(ctx, tx) })
	}
	_, err := s.writeBatch(ctx, b, imp)
	return err
}

// ensureResultPartitions makes the run_instances partitions of the days
// the runs of results were created on, before the page's transaction
// (partitions.go). The runs were copied before their results.
func (s *Store) ensureResultPartitions(ctx context.Context, results []store.ResultRecord) error {
	var ids []string
	for _, r := range results {
		if len(r.Instances) > 0 {
			ids = append(ids, r.Result.RunID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT created_ns FROM runs WHERE id = ANY($1)`, ids)
	created, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("creation times of runs: %w", err)
	}
	return s.ensureInstancePartitions(ctx, created...)
}

// queueImport queues the inserts of a page of any kind but traces.
func queueImport(b *pgx.Batch, page store.RecordPage) error {
	switch page.Kind {
	case store.RecordServices:
		// The source's counts and times replace those the traces copied
		// made (see store.RecordServices).
		for _, si := range page.Services {
			b.Queue(`INSERT INTO services (service, deployment, first_seen_ns, last_seen_ns, trace_count) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (service, deployment) DO UPDATE SET first_seen_ns = excluded.first_seen_ns,
					last_seen_ns = excluded.last_seen_ns, trace_count = excluded.trace_count`,
				[]byte(si.Service), []byte(si.Deployment), payload.UnixNano(si.FirstSeen), payload.UnixNano(si.LastSeen), si.TraceCount)
		}
	case store.RecordRollups:
		var c rollupColumns
		for _, r := range page.Rollups {
			c.addKey(r.Resolution, r.Key)
			// One lane per key, as a key has once its writers are done.
			c.lane = append(c.lane, 0)
			c.point = append(c.point, r.Point)
		}
		b.Queue(insertLanes+` ON CONFLICT DO NOTHING`, c.rowArgs()...)
	case store.RecordMonitors:
		for _, m := range page.Monitors {
			def, err := json.Marshal(m.Monitor)
			if err != nil {
				return fmt.Errorf("monitor %s: %w", m.Monitor.Name, err)
			}
			b.Queue(`INSERT INTO monitors (name, version, definition, created_ns, updated_ns) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT DO NOTHING`, m.Monitor.Name, m.Version, def, payload.UnixNano(m.CreatedAt), payload.UnixNano(m.UpdatedAt))
		}
	case store.RecordSchedule:
		for _, r := range page.Schedule {
			b.Queue(`INSERT INTO monitor_schedule (monitor, next_ns) VALUES ($1, $2) ON CONFLICT DO NOTHING`, r.Monitor, payload.UnixNano(r.Next))
		}
	case store.RecordRuns:
		for _, r := range page.Runs {
			b.Queue(insertRun+` ON CONFLICT DO NOTHING`, runArgs(r)...)
		}
	case store.RecordResults:
		for _, r := range page.Results {
			if err := queueResult(b, r); err != nil {
				return err
			}
		}
	case store.RecordEvalCache:
		for _, e := range page.Evaluations {
			b.Queue(`INSERT INTO eval_cache (trace_id, metric, judge_model, prompt_version, score, reason, created_ns)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
				storableText(e.TraceID), storableText(e.Metric), storableText(e.JudgeModel), storableText(e.PromptVersion),
				e.Score, storableText(e.Reason), payload.UnixNano(e.CreatedAt))
		}
	case store.RecordTrackers:
		for _, t := range page.Trackers {
			b.Queue(`INSERT INTO alert_trackers (monitor, key, streak, alert_id, last_window_end_ns) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT DO NOTHING`, t.Monitor, t.Key, t.Streak, t.AlertID, epochNS(t.LastWindowEnd))
		}
	case store.RecordAlerts:
		for _, a := range page.Alerts {
			b.Queue(`INSERT INTO alerts (`+alertColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
				ON CONFLICT DO NOTHING`, alertArgs(a)...)
		}
	case store.RecordGroups:
		for _, g := range page.Groups {
			if g.Alerts == nil {
				g.Alerts = []model.GroupedAlert{}
			}
			alerts, err := json.Marshal(g.Alerts)
			if err != nil {
				return fmt.Errorf("group %s/%s: alerts: %w", g.Monitor, g.Channel, err)
			}
			b.Queue(`INSERT INTO alert_groups (`+alertGroupColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT DO NOTHING`,
				g.Monitor, g.Channel, g.ID, g.Recipients, string(alerts), epochNS(g.DueAt), epochNS(g.LastSentAt), g.Sent)
		}
	case store.RecordNotifications:
		for _, r := range page.Notifications {
			args, err := notificationArgs(r.Notification)
			if err != nil {
				return fmt.Errorf("notification %s: %w", r.Notification.ID, err)
			}
			b.Queue(`INSERT INTO notifications (`+notificationColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
				ON CONFLICT DO NOTHING`, args...)
			if len(r.AlertIDs) > 0 {
				b.Queue(`INSERT INTO notification_alerts (alert_id, notification_id)
					SELECT a, $2 FROM unnest($1::text[]) AS a ON CONFLICT DO NOTHING`, r.AlertIDs, r.Notification.ID)
			}
		}
	case store.RecordSilences:
		for _, x := range page.Silences {
			b.Queue(`INSERT INTO silences (`+silenceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
				x.ID, x.Monitor, x.Key, x.Comment, epochNS(x.CreatedAt), epochNS(x.EndsAt), epochNS(x.ExpiredAt))
		}
	case store.RecordAPIKeys:
		for _, k := range page.APIKeys {
			b.Queue(`INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
				k.ID, k.Name, k.Scopes, k.Hash, epochNS(k.CreatedAt), epochNS(k.LastUsedAt), epochNS(k.RevokedAt))
		}
	default:
		return fmt.Errorf("unknown kind %q", page.Kind)
	}
	return nil
}

// queueResult queues a run's result and its instances.
func queueResult(b *pgx.Batch, r store.ResultRecord) error {
	res := r.Result
	metrics, err := json.Marshal(res.Metrics)
	if err != nil {
		return fmt.Errorf("result of run %s: %w", res.RunID, err)
	}
	operational, err := json.Marshal(res.Operational)
	if err != nil {
		return fmt.Errorf("result of run %s: %w", res.RunID, err)
	}
	var judgeUsage []byte // NULL: no usage
	if res.JudgeUsage != nil {
		if judgeUsage, err = json.Marshal(res.JudgeUsage); err != nil {
			return fmt.Errorf("result of run %s: %w", res.RunID, err)
		}
	}
	b.Queue(`INSERT INTO run_results (run_id, sampled, metrics, operational, judge_errors, judge_error, judge_usage)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		res.RunID, res.Sampled, metrics, operational, res.JudgeErrors, storableText(res.JudgeError), judgeUsage)
	// The partition key, the run's creation time, is read from the run,
	// copied before its results. Instances whose run the source no longer
	// had when the runs were copied are left out, as 0015 leaves out those
	// of a deleted run: nothing reads them, and the counts compared at the
	// end of the copy tell of them.
	rows := instanceRows(res.RunID, 0, r.Instances)
	if len(rows) == 0 {
		return nil
	}
	cols := make([][]any, len(instanceRowColumns))
	for _, row := range rows {
		for i, v := range row {
			cols[i] = append(cols[i], v)
		}
	}
	scores := make([]*float64, len(rows))
	for i, v := range cols[4] {
		if f, ok := v.(float64); ok {
			scores[i] = &f
		}
	}
	passed := make([]bool, len(rows))
	for i, v := range cols[5] {
		passed[i] = v.(bool)
	}
	text := func(i int) []string {
		out := make([]string, len(rows))
		for j, v := range cols[i] {
			out[j] = v.(string)
		}
		return out
	}
	b.Queue(`INSERT INTO run_instances (run_id, metric, trace_id, status, score, passed, reason, error, raw_reply,
			judge_model, prompt_version, created_ns)
		SELECT u.*, r.created_ns FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::bool[],
			$7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
			AS u(run_id, metric, trace_id, status, score, passed, reason, error, raw_reply, judge_model, prompt_version)
		JOIN runs r ON r.id = u.run_id
		ON CONFLICT DO NOTHING`,
		text(0), text(1), text(2), text(3), scores, passed, text(6), text(7), text(8), text(9), text(10))
	return nil
}

// CopyProgress returns what ImportRecords recorded, by kind.
func (s *Store) CopyProgress(ctx context.Context) (map[store.RecordKind]store.CopyProgress, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	out := make(map[store.RecordKind]store.CopyProgress)
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('flowwatch_copy') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("postgres: copy progress: %w", s.mapErr(err))
	}
	if !exists {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT kind, cursor, done, copied FROM flowwatch_copy`)
	if err != nil {
		return nil, fmt.Errorf("postgres: copy progress: %w", s.mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var p store.CopyProgress
		if err := rows.Scan(&kind, &p.Cursor, &p.Done, &p.Copied); err != nil {
			return nil, fmt.Errorf("postgres: copy progress: %w", s.mapErr(err))
		}
		out[store.RecordKind(kind)] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: copy progress: %w", s.mapErr(err))
	}
	return out, nil
}

// TableCounts counts the rows of the tables a copy fills; rollups by key
// (a key's lanes are one row of the SQLite backend).
func (s *Store) TableCounts(ctx context.Context) (map[string]int64, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	out := make(map[string]int64)
	for _, t := range store.TableNames() {
		q := `SELECT count(*) FROM ` + t
		if t == "rollups" {
			q = `SELECT count(*) FROM (SELECT DISTINCT resolution, kind, bucket, service, deployment, model, status FROM rollups) k`
		}
		var n int64
		if err := s.pool.QueryRow(ctx, q).Scan(&n); err != nil {
			return nil, fmt.Errorf("postgres: count %s: %w", t, s.mapErr(err))
		}
		out[t] = n
	}
	return out, nil
}
