package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// spanKey identifies a span.
type spanKey struct{ trace, span string }

// summary is a trace summary ready to be written.
type summary struct {
	trace  model.Trace
	spans  int      // how many spans it was computed from
	body   []byte   // encoded trace
	models []string // the trace's models, as trace_models holds them
	joined string   // traces.models
	text   string   // full-text entry
}

// summarize computes and encodes the summary of a trace's spans (sorted
// here, in place). buf is scratch space.
func (s *Store) summarize(traceID string, spans []model.Span, buf *[]byte) (*summary, error) {
	sortSpans(spans)
	tr := s.deriver.Summarize(spans)
	if tr.TraceID == "" {
		tr.TraceID = traceID
	}
	var err error
	*buf, err = payload.AppendTrace((*buf)[:0], &tr)
	if err != nil {
		return nil, fmt.Errorf("encode summary of trace %s: %w", traceID, err)
	}
	models := payload.TraceModels(tr)
	return &summary{
		trace:  tr,
		spans:  len(spans),
		body:   s.codec.Seal(*buf),
		models: models,
		joined: joinModels(models),
		text:   payload.SearchText(&tr, spans),
	}, nil
}

// traceWork is what a group does to one trace.
type traceWork struct {
	id string
	// row is the trace's traces.id: stored, or reserved for a new trace.
	row   int64
	isNew bool // no summary (hence no span) stored before this group
	// hasLogs says whether log records of the trace are stored (including
	// those of this group).
	hasLogs bool
	// newSpans are the spans first stored by this group, as derived.
	newSpans []*model.Span
	changed  bool
	reqs     []*request // requests that changed the trace

	// src is the request whose spans reached the trace first; its
	// precomputed summary is usable while presum stays true: every span of
	// the trace in this group came from src, was new and was not derived
	// again with log records.
	src    *request
	presum bool
}

func (w *traceWork) touch(r *request) {
	w.changed = true
	w.reqs = appendUnique(w.reqs, r)
}

func appendUnique(rs []*request, r *request) []*request {
	for _, x := range rs {
		if x == r {
			return rs
		}
	}
	return append(rs, r)
}

// groupTx is the state of one group transaction.
type groupTx struct {
	s       *Store
	ctx     context.Context
	tx      *sql.Tx
	stmts   writerStmts // bound to the transaction
	traces  map[string]*traceWork
	order   []*traceWork
	nextRow int64 // next traces.id to hand out
	svc     map[svcKey]*svcDelta
	buf     []byte
	// obs is what the spans first stored by this group contribute to the
	// rollups.
	obs []rollup.Observation
	// blocks are the start times written per trace block (trace_blocks).
	blocks map[int64]*startRange
	// fts are the statements of the full-text parts written, and created
	// the parts this transaction created (see fts.go).
	fts     map[int64]*ftsPartStmts
	created []int64
}

// startRange is a range of trace start times.
type startRange struct{ min, max int64 }

type svcKey struct{ service, deployment string }

type svcDelta struct {
	count       int64
	first, last int64
}

// writeGroup writes the requests of a group in one transaction, filling in
// their results, and returns what the spans it stored for the first time
// contribute to the rollups. It never panics: a panic (in the deriver, say)
// fails the transaction.
func (s *Store) writeGroup(group []*request) ([]rollup.Observation, error) {
	var obs []rollup.Observation
	var created []int64
	err := s.inTx(func(tx *sql.Tx) error {
		ctx := context.Background() // a taken batch is written whatever its caller does
		g := &groupTx{
			s:      s,
			ctx:    ctx,
			tx:     tx,
			stmts:  s.stmts.bind(ctx, tx),
			traces: make(map[string]*traceWork),
			svc:    make(map[svcKey]*svcDelta),
			blocks: make(map[int64]*startRange),
		}
		defer g.closeFTS()
		if err := g.stmts.maxTraceRow.QueryRow().Scan(&g.nextRow); err != nil {
			return fmt.Errorf("read trace rows: %w", err)
		}
		g.nextRow++
		if err := g.write(group); err != nil {
			return err
		}
		obs, created = g.obs, g.created
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.partsCreated(created)
	return obs, nil
}

func (g *groupTx) write(group []*request) error {
	// 1. Log records first, so that spans of this group see them.
	newLogs := make(map[spanKey][]*request)
	var newLogKeys []spanKey
	for _, r := range group {
		for i := range r.logs {
			pl := &r.logs[i]
			res, err := g.stmts.insertLog.Exec(pl.log.TraceID, pl.log.SpanID, pl.seq, payload.UnixNano(pl.log.Time), pl.body)
			if err != nil {
				return fmt.Errorf("insert log record of span %s/%s: %w", pl.log.TraceID, pl.log.SpanID, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				r.res.LogsWritten++
				if pl.log.SpanID != "" {
					k := spanKey{pl.log.TraceID, pl.log.SpanID}
					if _, ok := newLogs[k]; !ok {
						newLogKeys = append(newLogKeys, k)
					}
					newLogs[k] = appendUnique(newLogs[k], r)
				}
			}
		}
	}

	// 2. Spans, derived with their log records if there are any.
	inserted := make(map[spanKey]bool)
	for _, r := range group {
		for i := range r.spans {
			if err := g.insertSpan(r, &r.spans[i], inserted); err != nil {
				return err
			}
		}
	}

	// 3. Stored spans that new log records attach to are derived again.
	for _, k := range newLogKeys {
		w, err := g.trace(k.trace)
		if err != nil {
			return err
		}
		if inserted[k] {
			// Derived with these records in step 2.
			for _, r := range newLogs[k] {
				w.touch(r)
			}
			continue
		}
		if w.isNew {
			continue // the span has not arrived yet; its records wait for it
		}
		found, err := g.rederive(w, k.span)
		if err != nil {
			return err
		}
		if found {
			w.presum = false
			for _, r := range newLogs[k] {
				w.touch(r)
			}
		}
	}

	// 4. Summaries of every changed trace.
	for _, w := range g.order {
		if !w.changed {
			continue
		}
		if err := g.writeSummary(w); err != nil {
			return err
		}
		for _, r := range w.reqs {
			r.res.TracesTouched++
		}
	}
	if err := g.writeServices(); err != nil {
		return err
	}
	if err := g.writeBlocks(); err != nil {
		return err
	}
	return g.writeRollups()
}

// insertSpan stores one span of request r unless it is stored already.
func (g *groupTx) insertSpan(r *request, ps *preparedSpan, inserted map[spanKey]bool) error {
	w, err := g.trace(ps.span.TraceID)
	if err != nil {
		return err
	}
	if w.src == nil {
		w.src = r
		w.presum = w.isNew
	} else if w.src != r {
		w.presum = false
	}
	sp := ps.span
	body := ps.body
	if w.hasLogs {
		logs, err := g.spanLogs(sp.TraceID, sp.SpanID)
		if err != nil {
			return err
		}
		if len(logs) > 0 {
			derived := *sp // the caller's span stays as it was
			g.s.deriver.DeriveSpan(&derived, logs)
			sp = &derived
			if body, err = g.encodeSpan(sp); err != nil {
				return err
			}
			w.presum = false
		}
	}
	d := &sp.Derived
	in, out, total := usageArgs(d.Usage)
	res, err := g.stmts.insertSpan.Exec(w.row, sp.TraceID, sp.SpanID, sp.ParentSpanID, sp.Name,
		payload.UnixNano(sp.StartTime), payload.UnixNano(sp.EndTime), string(sp.StatusCode),
		string(d.Kind), d.Model, string(d.Status), in, out, total, body)
	if err != nil {
		return fmt.Errorf("insert span %s/%s: %w", sp.TraceID, sp.SpanID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		r.res.Duplicates++
		w.presum = false
		return nil
	}
	r.res.SpansWritten++
	w.newSpans = append(w.newSpans, sp)
	w.touch(r)
	inserted[spanKey{sp.TraceID, sp.SpanID}] = true
	return nil
}

// trace returns the work record of a trace, looking up its stored state the
// first time and reserving a row for a new trace.
func (g *groupTx) trace(id string) (*traceWork, error) {
	if w, ok := g.traces[id]; ok {
		return w, nil
	}
	w := &traceWork{id: id}
	var row sql.NullInt64
	if err := g.stmts.traceState.QueryRow(id).Scan(&row, &w.hasLogs); err != nil {
		return nil, fmt.Errorf("look up trace %s: %w", id, err)
	}
	if row.Valid {
		w.row = row.Int64
	} else {
		w.row, w.isNew = g.nextRow, true
		g.nextRow++
	}
	g.traces[id] = w
	g.order = append(g.order, w)
	return w, nil
}

func (g *groupTx) encodeSpan(sp *model.Span) ([]byte, error) {
	var err error
	g.buf, err = payload.AppendSpan(g.buf[:0], sp)
	if err != nil {
		return nil, fmt.Errorf("encode span %s/%s: %w", sp.TraceID, sp.SpanID, err)
	}
	return g.s.codec.Seal(g.buf), nil
}

// spanLogs reads the stored log records of a span, oldest first.
func (g *groupTx) spanLogs(traceID, spanID string) ([]model.LogRecord, error) {
	rows, err := g.stmts.spanLogs.Query(traceID, spanID)
	if err != nil {
		return nil, fmt.Errorf("read log records of span %s/%s: %w", traceID, spanID, err)
	}
	logs, err := g.s.scanLogs(rows, traceID)
	if err != nil {
		return nil, fmt.Errorf("read log records of span %s/%s: %w", traceID, spanID, err)
	}
	return logs, nil
}

// rederive derives a stored span again with all its log records. It
// reports false if the span is not stored.
func (g *groupTx) rederive(w *traceWork, spanID string) (bool, error) {
	rows, err := g.stmts.getSpan.Query(w.row, spanID)
	if err != nil {
		return false, fmt.Errorf("read span %s/%s: %w", w.id, spanID, err)
	}
	spans, err := g.s.scanSpans(rows)
	if err != nil {
		return false, fmt.Errorf("read span %s/%s: %w", w.id, spanID, err)
	}
	if len(spans) == 0 {
		return false, nil
	}
	sp := &spans[0]
	logs, err := g.spanLogs(w.id, spanID)
	if err != nil {
		return false, err
	}
	g.s.deriver.DeriveSpan(sp, logs)
	body, err := g.encodeSpan(sp)
	if err != nil {
		return false, err
	}
	d := &sp.Derived
	in, out, total := usageArgs(d.Usage)
	if _, err := g.stmts.updateSpan.Exec(string(d.Kind), d.Model, string(d.Status), in, out, total, body, w.row, spanID); err != nil {
		return false, fmt.Errorf("update span %s/%s: %w", w.id, spanID, err)
	}
	return true, nil
}

func usageArgs(u model.Usage) (in, out, total any) {
	if !u.Known {
		return nil, nil, nil
	}
	return u.InputTokens, u.OutputTokens, u.TotalTokens
}

// writeSummary writes the summary, full-text entry and service counts of a
// changed trace, computing the summary unless the batch that brought the
// whole trace did.
func (g *groupTx) writeSummary(w *traceWork) error {
	var sum *summary
	if w.isNew && w.presum && w.src != nil {
		if pre := w.src.summaries[w.id]; pre != nil && pre.spans == len(w.newSpans) {
			sum = pre
		}
	}
	if sum == nil {
		var spans []model.Span
		if w.isNew {
			spans = make([]model.Span, len(w.newSpans))
			for i, sp := range w.newSpans {
				spans[i] = *sp
			}
		} else {
			rows, err := g.stmts.traceSpans.Query(w.row)
			if err != nil {
				return fmt.Errorf("read spans of trace %s: %w", w.id, err)
			}
			if spans, err = g.s.scanSpans(rows); err != nil {
				return fmt.Errorf("read spans of trace %s: %w", w.id, err)
			}
			var logs []model.LogRecord
			if w.hasLogs {
				rows, err := g.stmts.traceLogs.Query(w.id)
				if err != nil {
					return fmt.Errorf("read log records of trace %s: %w", w.id, err)
				}
				if logs, err = g.s.scanLogs(rows, w.id); err != nil {
					return fmt.Errorf("read log records of trace %s: %w", w.id, err)
				}
			}
			g.s.derive(spans, logs)
		}
		if len(spans) == 0 {
			return nil
		}
		var err error
		if sum, err = g.s.summarize(w.id, spans, &g.buf); err != nil {
			return err
		}
	}
	g.observe(w, sum)
	tr := &sum.trace
	start := payload.UnixNano(tr.StartTime)
	args := []any{tr.Service, tr.Deployment, start, int64(tr.Duration), string(tr.Status), sum.joined,
		tr.SessionID, tr.UserID, tr.SpanCount, tr.ErrorCount,
		tr.Usage.InputTokens, tr.Usage.OutputTokens, tr.Usage.TotalTokens, tr.Usage.CostUSD, sum.body}
	if w.isNew {
		if _, err := g.stmts.insertTrace.Exec(append([]any{w.row, w.id}, args...)...); err != nil {
			return fmt.Errorf("insert summary of trace %s: %w", w.id, err)
		}
		g.service(tr.Service, tr.Deployment, 1, start)
		if err := g.insertModels(w, sum.models, start); err != nil {
			return err
		}
	} else {
		var oldService, oldDeployment, oldModels string
		var oldStart int64
		if err := g.stmts.traceService.QueryRow(w.row).Scan(&oldService, &oldDeployment, &oldStart, &oldModels); err != nil {
			return fmt.Errorf("read summary of trace %s: %w", w.id, err)
		}
		if _, err := g.stmts.updateTrace.Exec(append(args, w.row)...); err != nil {
			return fmt.Errorf("update summary of trace %s: %w", w.id, err)
		}
		if err := g.deleteText(w.row); err != nil {
			return fmt.Errorf("delete text of trace %s: %w", w.id, err)
		}
		if oldService != tr.Service || oldDeployment != tr.Deployment {
			g.service(oldService, oldDeployment, -1, 0)
			g.service(tr.Service, tr.Deployment, 1, start)
		} else {
			g.service(tr.Service, tr.Deployment, 0, start)
		}
		if oldStart != start || oldModels != sum.joined {
			for _, m := range splitModels(oldModels) {
				if _, err := g.stmts.deleteModel.Exec(m, oldStart, w.id); err != nil {
					return fmt.Errorf("delete model %s of trace %s: %w", m, w.id, err)
				}
			}
			if err := g.insertModels(w, sum.models, start); err != nil {
				return err
			}
		}
	}
	g.block(w.row, start)
	if sum.text != "" {
		if err := g.insertText(w.row, sum.text); err != nil {
			return fmt.Errorf("index text of trace %s: %w", w.id, err)
		}
	}
	return nil
}

// insertModels records a trace's models in trace_models.
func (g *groupTx) insertModels(w *traceWork, models []string, start int64) error {
	for _, m := range models {
		if _, err := g.stmts.insertModel.Exec(m, start, w.id, w.row); err != nil {
			return fmt.Errorf("insert model %s of trace %s: %w", m, w.id, err)
		}
	}
	return nil
}

// block widens the start range of a trace row's block.
func (g *groupTx) block(row, start int64) {
	b := row >> blockShift
	if r := g.blocks[b]; r != nil {
		r.min, r.max = min(r.min, start), max(r.max, start)
		return
	}
	g.blocks[b] = &startRange{start, start}
}

func (g *groupTx) writeBlocks() error {
	for b, r := range g.blocks {
		if _, err := g.stmts.upsertBlock.Exec(b, r.min, r.max); err != nil {
			return fmt.Errorf("update trace block %d: %w", b, err)
		}
	}
	return nil
}

// service records a change of a service's trace count and seen times.
// start 0 leaves the times alone.
func (g *groupTx) service(service, deployment string, delta int64, start int64) {
	k := svcKey{service, deployment}
	d, ok := g.svc[k]
	if !ok {
		d = &svcDelta{first: math.MaxInt64, last: math.MinInt64}
		g.svc[k] = d
	}
	d.count += delta
	if start != 0 {
		d.first = min(d.first, start)
		d.last = max(d.last, start)
	}
}

func (g *groupTx) writeServices() error {
	if len(g.svc) == 0 {
		return nil
	}
	keys := make([]svcKey, 0, len(g.svc))
	for k := range g.svc {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].service != keys[j].service {
			return keys[i].service < keys[j].service
		}
		return keys[i].deployment < keys[j].deployment
	})
	decremented := false
	for _, k := range keys {
		d := g.svc[k]
		if d.count < 0 {
			decremented = true
		}
		if d.count <= 0 && d.first == math.MaxInt64 {
			// Only a decrement: never create a row for it.
			if _, err := g.stmts.decService.Exec(-d.count, k.service, k.deployment); err != nil {
				return fmt.Errorf("update service %s/%s: %w", k.service, k.deployment, err)
			}
			continue
		}
		if _, err := g.stmts.upsertService.Exec(k.service, k.deployment, d.first, d.last, d.count); err != nil {
			return fmt.Errorf("update service %s/%s: %w", k.service, k.deployment, err)
		}
	}
	if decremented {
		if _, err := g.stmts.deleteEmptyServices.Exec(); err != nil {
			return fmt.Errorf("delete unused services: %w", err)
		}
	}
	return nil
}

// sortSpans orders spans by start time, then span id.
func sortSpans(spans []model.Span) {
	sort.Slice(spans, func(i, j int) bool {
		a, b := &spans[i], &spans[j]
		if !a.StartTime.Equal(b.StartTime) {
			return a.StartTime.Before(b.StartTime)
		}
		return a.SpanID < b.SpanID
	})
}

// joinModels encodes a trace's models for the models column.
func joinModels(models []string) string {
	if len(models) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(payload.ModelSep)
	for _, m := range models {
		b.WriteString(m)
		b.WriteString(payload.ModelSep)
	}
	return b.String()
}

// splitModels decodes the models column.
func splitModels(joined string) []string {
	joined = strings.TrimPrefix(strings.TrimSuffix(joined, payload.ModelSep), payload.ModelSep)
	if joined == "" {
		return nil
	}
	return strings.Split(joined, payload.ModelSep)
}

// writerStmts are the writer's prepared statements.
type writerStmts struct {
	insertLog, traceState, maxTraceRow, spanLogs, insertSpan, getSpan, updateSpan, traceSpans,
	insertTrace, updateTrace, traceService, insertFTS, deleteFTS,
	upsertService, decService, deleteEmptyServices, traceLogs, getRollup, putRollup,
	insertModel, deleteModel, upsertBlock *sql.Stmt
}

// traceLogsQuery reads the log records of a trace, oldest first; records
// with equal times keep the order in which they were sent (their order in
// the export, then arrival: the row id), because instrumentations stamp the
// messages of one call with the same millisecond.
const traceLogsQuery = `SELECT span_id, time_ns, body FROM logs WHERE trace_id = ? ORDER BY time_ns, id`

// insertModelSQL records a model of a trace (a name that two models share
// once their separators are replaced is recorded once).
const insertModelSQL = `INSERT OR IGNORE INTO trace_models (model, start_ns, trace_id, trace_row) VALUES (?, ?, ?, ?)`

const spanColumns = `trace_id, span_id, parent_span_id, name, start_ns, end_ns, status_code, body`

const traceColumns = `service, deployment, start_ns, duration_ns, status, models, session_id, user_id,
	span_count, error_count, input_tokens, output_tokens, total_tokens, cost_usd, body`

func (st *writerStmts) list() []**sql.Stmt {
	return []**sql.Stmt{&st.insertLog, &st.traceState, &st.maxTraceRow, &st.spanLogs, &st.insertSpan, &st.getSpan,
		&st.updateSpan, &st.traceSpans, &st.insertTrace, &st.updateTrace, &st.traceService,
		&st.insertFTS, &st.deleteFTS, &st.upsertService, &st.decService, &st.deleteEmptyServices, &st.traceLogs,
		&st.getRollup, &st.putRollup, &st.insertModel, &st.deleteModel, &st.upsertBlock}
}

func (st *writerStmts) prepare(ctx context.Context, db *sql.DB) error {
	queries := []string{
		`INSERT INTO logs (trace_id, span_id, seq, time_ns, body) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (trace_id, span_id, seq) DO NOTHING`,
		`SELECT (SELECT id FROM traces WHERE trace_id = ?1), EXISTS (SELECT 1 FROM logs WHERE trace_id = ?1)`,
		`SELECT coalesce(max(id), 0) FROM traces`,
		`SELECT span_id, time_ns, body FROM logs WHERE trace_id = ? AND span_id = ? ORDER BY time_ns, id`,
		`INSERT INTO spans (trace_row, trace_id, span_id, parent_span_id, name, start_ns, end_ns, status_code,
			kind, model, status, input_tokens, output_tokens, total_tokens, body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (trace_row, span_id) DO NOTHING`,
		`SELECT ` + spanColumns + ` FROM spans WHERE trace_row = ? AND span_id = ?`,
		`UPDATE spans SET kind = ?, model = ?, status = ?, input_tokens = ?, output_tokens = ?,
			total_tokens = ?, body = ? WHERE trace_row = ? AND span_id = ?`,
		`SELECT ` + spanColumns + ` FROM spans WHERE trace_row = ? ORDER BY start_ns, span_id`,
		`INSERT INTO traces (id, trace_id, ` + traceColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		`UPDATE traces SET service = ?, deployment = ?, start_ns = ?, duration_ns = ?, status = ?,
			models = ?, session_id = ?, user_id = ?, span_count = ?, error_count = ?,
			input_tokens = ?, output_tokens = ?, total_tokens = ?, cost_usd = ?, body = ?
			WHERE id = ?`,
		`SELECT service, deployment, start_ns, models FROM traces WHERE id = ?`,
		`INSERT INTO traces_fts (rowid, text) VALUES (?, ?)`,
		`DELETE FROM traces_fts WHERE rowid = ?`,
		`INSERT INTO services (service, deployment, first_seen_ns, last_seen_ns, trace_count)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (service, deployment) DO UPDATE SET
				first_seen_ns = min(first_seen_ns, excluded.first_seen_ns),
				last_seen_ns = max(last_seen_ns, excluded.last_seen_ns),
				trace_count = trace_count + excluded.trace_count`,
		`UPDATE services SET trace_count = trace_count - ? WHERE service = ? AND deployment = ?`,
		`DELETE FROM services WHERE trace_count <= 0`,
		traceLogsQuery,
		`SELECT point FROM rollups WHERE resolution = ? AND kind = ? AND bucket = ? AND service = ?
			AND deployment = ? AND model = ? AND status = ?`,
		`INSERT OR REPLACE INTO rollups (resolution, kind, bucket, service, deployment, model, status, point)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		insertModelSQL,
		`DELETE FROM trace_models WHERE model = ? AND start_ns = ? AND trace_id = ?`,
		`INSERT INTO trace_blocks (block, min_start_ns, max_start_ns) VALUES (?, ?, ?)
			ON CONFLICT (block) DO UPDATE SET
				min_start_ns = min(min_start_ns, excluded.min_start_ns),
				max_start_ns = max(max_start_ns, excluded.max_start_ns)`,
	}
	ptrs := st.list()
	if len(ptrs) != len(queries) {
		return errors.New("writer statements and queries do not match")
	}
	for i, q := range queries {
		stmt, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", firstLine(q), err)
		}
		*ptrs[i] = stmt
	}
	return nil
}

// bind returns the statements bound to a transaction.
func (st *writerStmts) bind(ctx context.Context, tx *sql.Tx) writerStmts {
	var out writerStmts
	src, dst := st.list(), out.list()
	for i := range src {
		*dst[i] = tx.StmtContext(ctx, *src[i])
	}
	return out
}

func (st *writerStmts) close() {
	for _, p := range st.list() {
		if *p != nil {
			_ = (*p).Close()
			*p = nil
		}
	}
}

func firstLine(q string) string {
	q, _, _ = strings.Cut(strings.TrimSpace(q), "\n")
	return q
}
