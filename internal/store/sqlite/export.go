package sqlite

// Export: everything the store holds, kind by kind, in pages in key
// order, for flowwatch copy (store.Exporter). Records are read raw (ids,
// times, states and leases as stored), except spans, which are derived
// with their log records as the write path receives them, and rollup
// points, which stay in their binary encoding.
//
// A cursor is the JSON array of the key columns of a page's last row;
// pages continue with a row-value comparison on the table's primary key
// (or unique index), so each page is one index range scan however far
// the copy has gone.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

var _ store.Exporter = (*Store)(nil)

// exportTable is how one kind of record is paged: its table, the columns
// of its key (primary key order) and the columns read.
type exportTable struct {
	table string
	keys  []string
	cols  string
}

var exportTables = map[store.RecordKind]exportTable{
	store.RecordServices:      {"services", []string{"service", "deployment"}, "service, deployment, first_seen_ns, last_seen_ns, trace_count"},
	store.RecordRollups:       {"rollups", []string{"resolution", "kind", "bucket", "service", "deployment", "model", "status"}, "resolution, kind, bucket, service, deployment, model, status, point"},
	store.RecordMonitors:      {"monitors", []string{"name"}, "name, version, definition, created_ns, updated_ns"},
	store.RecordSchedule:      {"monitor_schedule", []string{"monitor"}, "monitor, next_ns"},
	store.RecordRuns:          {"runs", []string{"id"}, runColumns},
	store.RecordResults:       {"run_results", []string{"run_id"}, "run_id, sampled, metrics, operational, judge_errors, judge_error, judge_usage"},
	store.RecordEvalCache:     {"eval_cache", []string{"trace_id", "metric", "judge_model", "prompt_version"}, "trace_id, metric, judge_model, prompt_version, score, reason, created_ns"},
	store.RecordTrackers:      {"alert_trackers", []string{"monitor", "key"}, "monitor, key, streak, alert_id, last_window_end_ns"},
	store.RecordAlerts:        {"alerts", []string{"id"}, alertColumns},
	store.RecordGroups:        {"alert_groups", []string{"monitor", "channel"}, alertGroupColumns},
	store.RecordNotifications: {"notifications", []string{"id"}, notificationColumns},
	store.RecordSilences:      {"silences", []string{"id"}, silenceColumns},
	store.RecordAPIKeys:       {"api_keys", []string{"id"}, apiKeyColumns},
}

// Bounds on one page's size beyond its record limit: a page is one read
// transaction here and one write transaction in the target.
const (
	exportMaxSpans     = 5000 // spans and log records of a page of traces
	exportMaxInstances = 20000
)

// CountRecords returns how many records of kind the store holds.
func (s *Store) CountRecords(ctx context.Context, kind store.RecordKind) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	q := `SELECT count(*) FROM (SELECT trace_id FROM traces UNION SELECT trace_id FROM logs)`
	if kind != store.RecordTraces {
		t, ok := exportTables[kind]
		if !ok {
			return 0, fmt.Errorf("sqlite: count records: unknown kind %q", kind)
		}
		q = `SELECT count(*) FROM ` + t.table
	}
	var n int64
	if err := s.rdb.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, s.readErr("count "+string(kind), err)
	}
	return n, nil
}

// TableCounts counts the rows of the tables a copy fills.
func (s *Store) TableCounts(ctx context.Context) (map[string]int64, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	out := make(map[string]int64)
	for _, t := range store.TableNames() {
		var n int64
		if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return nil, s.readErr("count "+t, err)
		}
		out[t] = n
	}
	return out, nil
}

// ExportRecords returns up to limit records of kind after the cursor
// after, in key order, read from one snapshot.
func (s *Store) ExportRecords(ctx context.Context, kind store.RecordKind, after string, limit int) (store.RecordPage, error) {
	if s.closed.Load() {
		return store.RecordPage{}, store.ErrClosed
	}
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	page := store.RecordPage{Kind: kind}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return page, s.readErr("export "+string(kind), err)
	}
	defer func() { _ = tx.Rollback() }()
	if kind == store.RecordTraces {
		err = s.exportTraces(ctx, tx, &page, after, limit)
	} else {
		err = s.exportRows(ctx, tx, &page, after, limit)
	}
	if err != nil {
		return store.RecordPage{}, fmt.Errorf("sqlite: export %s: %w", kind, err)
	}
	return page, nil
}

// exportRows reads a page of a kind kept in one table (exportTables).
func (s *Store) exportRows(ctx context.Context, tx *sql.Tx, page *store.RecordPage, after string, limit int) error {
	t, ok := exportTables[page.Kind]
	if !ok {
		return fmt.Errorf("unknown kind %q", page.Kind)
	}
	var args []any
	where := ""
	if after != "" {
		key, err := decodeExportCursor(after, len(t.keys))
		if err != nil {
			return err
		}
		where = ` WHERE (` + strings.Join(t.keys, ", ") + `) > (` + placeholders(strings.Join(t.keys, ",")) + `)`
		args = key
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+t.cols+` FROM `+t.table+where+
		` ORDER BY `+strings.Join(t.keys, ", ")+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var keys [][]any // each record's key, for the cursor
	instances := 0
	for rows.Next() {
		if len(keys) == limit || instances > exportMaxInstances {
			page.Next = encodeExportCursor(keys[len(keys)-1])
			break
		}
		key, err := s.scanExport(page, rows)
		if err != nil {
			return err
		}
		keys = append(keys, key)
		if page.Kind == store.RecordResults {
			instances += page.Results[len(page.Results)-1].Result.Sampled
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	// The instances and links are read once the page's rows are closed:
	// one read connection holds one statement at a time well.
	for i := range page.Results {
		if page.Results[i].Instances, err = s.exportInstances(ctx, tx, page.Results[i].Result.RunID); err != nil {
			return err
		}
	}
	for i := range page.Notifications {
		n := &page.Notifications[i]
		if n.AlertIDs, err = exportLinks(ctx, tx, n.Notification.ID); err != nil {
			return err
		}
	}
	return nil
}

// scanExport reads one row of page's kind into the page and returns its
// key.
func (s *Store) scanExport(page *store.RecordPage, rows *sql.Rows) ([]any, error) {
	switch page.Kind {
	case store.RecordRollups:
		var r store.RollupRecord
		var kind, status string
		if err := rows.Scan(&r.Resolution, &kind, &r.Key.Bucket, &r.Key.Service, &r.Key.Deployment, &r.Key.Model, &status, &r.Point); err != nil {
			return nil, err
		}
		r.Key.Kind, r.Key.Status = rollup.Kind(kind), model.Status(status)
		page.Rollups = append(page.Rollups, r)
		return []any{r.Resolution, kind, r.Key.Bucket, r.Key.Service, r.Key.Deployment, r.Key.Model, status}, nil
	case store.RecordServices:
		var si model.ServiceInfo
		var first, last int64
		if err := rows.Scan(&si.Service, &si.Deployment, &first, &last, &si.TraceCount); err != nil {
			return nil, err
		}
		si.FirstSeen, si.LastSeen = timeOf(first), timeOf(last)
		page.Services = append(page.Services, si)
		return []any{si.Service, si.Deployment}, nil
	case store.RecordMonitors:
		var sm model.StoredMonitor
		var name string
		var def []byte
		var created, updated int64
		if err := rows.Scan(&name, &sm.Version, &def, &created, &updated); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(def, &sm.Monitor); err != nil {
			return nil, fmt.Errorf("monitor %s: stored definition unreadable: %w", name, err)
		}
		sm.Monitor.Name = name
		sm.CreatedAt, sm.UpdatedAt = timeOf(created), timeOf(updated)
		page.Monitors = append(page.Monitors, sm)
		return []any{name}, nil
	case store.RecordSchedule:
		var r store.ScheduleRecord
		var next int64
		if err := rows.Scan(&r.Monitor, &next); err != nil {
			return nil, err
		}
		r.Next = timeOf(next)
		page.Schedule = append(page.Schedule, r)
		return []any{r.Monitor}, nil
	case store.RecordRuns:
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		page.Runs = append(page.Runs, r)
		return []any{r.ID}, nil
	case store.RecordResults:
		var res model.RunResult
		var metrics, operational, judgeUsage []byte
		if err := rows.Scan(&res.RunID, &res.Sampled, &metrics, &operational, &res.JudgeErrors, &res.JudgeError, &judgeUsage); err != nil {
			return nil, err
		}
		if err := decodeResult(&res, metrics, operational, judgeUsage); err != nil {
			return nil, err
		}
		page.Results = append(page.Results, store.ResultRecord{Result: res})
		return []any{res.RunID}, nil
	case store.RecordEvalCache:
		var e model.Evaluation
		var created int64
		if err := rows.Scan(&e.TraceID, &e.Metric, &e.JudgeModel, &e.PromptVersion, &e.Score, &e.Reason, &created); err != nil {
			return nil, err
		}
		e.CreatedAt = timeOf(created)
		page.Evaluations = append(page.Evaluations, e)
		return []any{e.TraceID, e.Metric, e.JudgeModel, e.PromptVersion}, nil
	case store.RecordTrackers:
		var tr model.AlertTracker
		var last int64
		if err := rows.Scan(&tr.Monitor, &tr.Key, &tr.Streak, &tr.AlertID, &last); err != nil {
			return nil, err
		}
		tr.LastWindowEnd = timeOf(last)
		page.Trackers = append(page.Trackers, tr)
		return []any{tr.Monitor, tr.Key}, nil
	case store.RecordAlerts:
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		page.Alerts = append(page.Alerts, a)
		return []any{a.ID}, nil
	case store.RecordGroups:
		g, err := scanAlertGroup(rows)
		if err != nil {
			return nil, err
		}
		page.Groups = append(page.Groups, g)
		return []any{g.Monitor, g.Channel}, nil
	case store.RecordNotifications:
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		page.Notifications = append(page.Notifications, store.NotificationRecord{Notification: n})
		return []any{n.ID}, nil
	case store.RecordSilences:
		x, err := scanSilence(rows)
		if err != nil {
			return nil, err
		}
		page.Silences = append(page.Silences, x)
		return []any{x.ID}, nil
	case store.RecordAPIKeys:
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		page.APIKeys = append(page.APIKeys, k)
		return []any{k.ID}, nil
	}
	return nil, fmt.Errorf("unknown kind %q", page.Kind)
}

// exportInstances reads every instance of a run, by metric and trace.
func (s *Store) exportInstances(ctx context.Context, tx *sql.Tx, runID string) ([]model.Instance, error) {
	rows, err := tx.QueryContext(ctx, `SELECT metric, trace_id, status, score, passed, reason, error, raw_reply,
		judge_model, prompt_version FROM run_instances WHERE run_id = ? ORDER BY metric, trace_id`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.Instance
	for rows.Next() {
		in := model.Instance{RunID: runID}
		var status string
		var score sql.NullFloat64
		if err := rows.Scan(&in.Metric, &in.TraceID, &status, &score, &in.Passed, &in.Reason, &in.Error,
			&in.RawReply, &in.JudgeModel, &in.PromptVersion); err != nil {
			return nil, fmt.Errorf("instances of run %s: %w", runID, err)
		}
		in.Status = model.InstanceStatus(status)
		if score.Valid {
			v := score.Float64
			in.Score = &v
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// exportLinks reads the alerts a notification is linked to.
func exportLinks(ctx context.Context, tx *sql.Tx, id string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT alert_id FROM notification_alerts WHERE notification_id = ? ORDER BY alert_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// exportTraces reads a page of traces by trace id: those with a summary
// and those of which only log records arrived.
func (s *Store) exportTraces(ctx context.Context, tx *sql.Tx, page *store.RecordPage, after string, limit int) error {
	var from string
	if after != "" {
		key, err := decodeExportCursor(after, 1)
		if err != nil {
			return err
		}
		var ok bool
		if from, ok = key[0].(string); !ok {
			return fmt.Errorf("cursor %q: %w", after, store.ErrInvalidCursor)
		}
	}
	// Each side reads its index from the cursor on; the union keeps each
	// id once.
	rows, err := tx.QueryContext(ctx, `SELECT trace_id FROM (
			SELECT * FROM (SELECT trace_id FROM traces WHERE trace_id > ?1 ORDER BY trace_id LIMIT ?2)
			UNION
			SELECT * FROM (SELECT DISTINCT trace_id FROM logs WHERE trace_id > ?1 ORDER BY trace_id LIMIT ?2))
		ORDER BY trace_id LIMIT ?2`, from, limit+1)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Traces are read in chunks, a few queries a chunk, until the page
	// holds its limit or enough spans and log records.
	size := 0
	for len(ids) > 0 && len(page.Traces) < limit && size < exportMaxSpans {
		n := min(len(ids), exportChunkTraces, limit-len(page.Traces))
		recs, err := s.exportChunk(ctx, tx, ids[:n])
		if err != nil {
			return err
		}
		ids = ids[n:]
		for _, r := range recs {
			size += len(r.Spans) + len(r.Logs)
		}
		page.Traces = append(page.Traces, recs...)
	}
	if len(ids) > 0 {
		page.Next = encodeExportCursor([]any{page.Traces[len(page.Traces)-1].TraceID})
	}
	return nil
}

// exportChunkTraces is how many traces exportChunk reads at once.
const exportChunkTraces = 64

// exportChunk reads traces (ids sorted): their summaries, their spans
// derived with their log records, and their log records in the order
// they were stored.
func (s *Store) exportChunk(ctx context.Context, tx *sql.Tx, ids []string) ([]store.TraceRecord, error) {
	recs := make([]store.TraceRecord, len(ids))
	at := make(map[string]*store.TraceRecord, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		recs[i].TraceID = id
		at[id] = &recs[i]
		args[i] = id
	}
	in := `(` + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + `)`
	rows, err := tx.QueryContext(ctx, `SELECT id, trace_id, body FROM traces WHERE trace_id IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("traces: %w", err)
	}
	var traceRows []any
	for rows.Next() {
		var row int64
		var id string
		var blob []byte
		if err := rows.Scan(&row, &id, &blob); err != nil {
			rows.Close()
			return nil, fmt.Errorf("traces: %w", err)
		}
		tr, err := s.decodeTraceBlob(blob)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("trace %s: %w", id, err)
		}
		at[id].Summary = &tr
		traceRows = append(traceRows, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("traces: %w", err)
	}
	if len(traceRows) > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT `+spanColumns+` FROM spans WHERE trace_row IN (`+
			strings.TrimSuffix(strings.Repeat("?,", len(traceRows)), ",")+`) ORDER BY trace_row, start_ns, span_id`, traceRows...)
		if err != nil {
			return nil, fmt.Errorf("spans: %w", err)
		}
		spans, err := s.scanSpans(rows)
		if err != nil {
			return nil, fmt.Errorf("spans: %w", err)
		}
		for _, sp := range spans {
			r := at[sp.TraceID]
			r.Spans = append(r.Spans, sp)
		}
	}
	rows, err = tx.QueryContext(ctx, `SELECT trace_id, span_id, time_ns, body FROM logs WHERE trace_id IN `+in+` ORDER BY trace_id, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("log records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var t int64
		var blob []byte
		l := model.LogRecord{}
		if err := rows.Scan(&id, &l.SpanID, &t, &blob); err != nil {
			return nil, fmt.Errorf("log records: %w", err)
		}
		l.TraceID, l.Time = id, timeOf(t)
		p, err := s.codec.Open(blob)
		if err != nil {
			return nil, fmt.Errorf("log record of span %s/%s: %w", id, l.SpanID, err)
		}
		if err := payload.DecodeLog(p, &l); err != nil {
			return nil, fmt.Errorf("log record of span %s/%s: decode: %w", id, l.SpanID, err)
		}
		r := at[id]
		r.Logs = append(r.Logs, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("log records: %w", err)
	}
	for i := range recs {
		r := &recs[i]
		if len(r.Spans) > 0 {
			// derive attaches records to spans in time order, as reads
			// do.
			byTime := append([]model.LogRecord(nil), r.Logs...)
			sortLogsByTime(byTime)
			s.derive(r.Spans, byTime)
		}
	}
	return recs, nil
}

// sortLogsByTime orders records by time, stably (records of equal times
// stay in the order they were stored), as reads order them.
func sortLogsByTime(logs []model.LogRecord) {
	sort.SliceStable(logs, func(i, j int) bool { return logs[i].Time.Before(logs[j].Time) })
}

func encodeExportCursor(key []any) string {
	b, _ := json.Marshal(key)
	return string(b)
}

// decodeExportCursor returns the n key values of a cursor: strings, and
// integers as int64.
func decodeExportCursor(c string, n int) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(c)))
	dec.UseNumber()
	var key []any
	if err := dec.Decode(&key); err != nil || len(key) != n {
		return nil, fmt.Errorf("cursor %q: %w", c, store.ErrInvalidCursor)
	}
	for i, v := range key {
		switch v := v.(type) {
		case string:
		case json.Number:
			x, err := v.Int64()
			if err != nil {
				return nil, fmt.Errorf("cursor %q: %w", c, store.ErrInvalidCursor)
			}
			key[i] = x
		default:
			return nil, fmt.Errorf("cursor %q: %w", c, store.ErrInvalidCursor)
		}
	}
	return key, nil
}
