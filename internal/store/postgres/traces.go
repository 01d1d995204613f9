package postgres

// The write path: WriteBatch stores spans and log records, keeps the trace
// summaries, the services, the model index and the full-text entries
// current, and hands what the new spans contribute to the rollups
// (rollups.go) in the same transaction.
//
// Several replicas may write spans of one trace at once. Each write takes
// a transaction-scoped advisory lock per trace it touches, in one sorted
// order (so two writes never wait on each other in a cycle), before it
// reads anything of those traces: a summary is therefore always computed
// from every span stored for its trace, and the check that a span is not
// stored yet (the spans primary key holds the partition key, so it cannot
// enforce (trace_id, span_id) alone) cannot race another insert.
//
// A write costs three round trips plus the rollups' and the commit: one
// pipeline takes the locks, stores the log records and reads the traces'
// stored state; the summaries are computed in Go; a second pipeline
// writes the spans, summaries, models and services.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// Limits on what a batch may carry (as in the SQLite backend).
const (
	maxIDLen = 256
)

// Advisory lock classes (the first key of the two-key form, so that they
// never meet the one-key locks, such as the migrations').
const (
	traceLockClass     int32 = 0x66777472 // "fwtr": one lock per trace (hash of its id)
	partitionLockClass int32 = 0x66777061 // "fwpa": creating partitions
)

// traceShared is what the traces area keeps for the life of a Store.
type traceShared struct {
	codec *payload.Codec
	parts partitionCache
}

func newTraceShared(compression string) (*traceShared, error) {
	c, err := payload.NewCodec(compression, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &traceShared{codec: c, parts: partitionCache{known: map[string]bool{}}}, nil
}

func (t *traceShared) close() {
	if t != nil {
		t.codec.Close()
	}
}

// partitionCache remembers the partitions this process knows to exist.
type partitionCache struct {
	mu    sync.Mutex
	known map[string]bool
}

// spanKey identifies a span.
type spanKey struct{ trace, span string }

// preparedSpan is a span of a batch with its body encoded.
type preparedSpan struct {
	span       *model.Span
	body       []byte
	start, end int64
}

// preparedLog is a log record of a batch with its body and identity.
type preparedLog struct {
	log  *model.LogRecord
	seq  int64
	time int64
	body []byte
}

// preparedBatch is a validated, encoded batch.
type preparedBatch struct {
	spans []preparedSpan
	logs  []preparedLog
	// traces are the batch's trace ids, sorted, each once.
	traces []string
	// imp is set for a batch copied from another store (import.go).
	imp *batchImport
}

// batchImport is how a batch copied from another store is written: with
// the summaries the source stored, and no observations (the rollups are
// copied raw), and after is called in the transaction (it records the
// copy's progress).
type batchImport struct {
	summaries map[string]*model.Trace
	after     func(ctx context.Context, tx pgx.Tx) error
}

// WriteBatch stores a batch and returns once it is committed. Spans and
// log records must carry a trace id (spans also a span id); a batch that
// breaks this is rejected whole.
func (s *Store) WriteBatch(ctx context.Context, b model.Batch) (store.WriteResult, error) {
	return s.writeBatch(ctx, b, nil)
}

// writeBatch is WriteBatch, or an import's write when imp is set.
func (s *Store) writeBatch(ctx context.Context, b model.Batch, imp *batchImport) (store.WriteResult, error) {
	if s.closed.Load() {
		return store.WriteResult{}, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return store.WriteResult{}, fmt.Errorf("postgres: write batch: %w", err)
	}
	if len(b.Spans) == 0 && len(b.Logs) == 0 {
		return store.WriteResult{}, nil
	}
	in, err := s.prepareBatch(&b)
	if err != nil {
		return store.WriteResult{}, fmt.Errorf("postgres: write batch: %w", err)
	}
	in.imp = imp
	var w *batchTx
	for attempt := 0; ; attempt++ {
		if err = s.ensurePartitions(ctx, in); err != nil {
			return store.WriteResult{}, fmt.Errorf("postgres: write batch: %w", err)
		}
		start := time.Now()
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			w = &batchTx{s: s, ctx: ctx, tx: tx, in: in}
			return w.run()
		})
		if err == nil {
			if s.opts.OnCommit != nil {
				s.opts.OnCommit(store.Commit{Duration: time.Since(start), Spans: w.res.SpansWritten, Observations: w.obs})
			}
			return w.res, nil
		}
		// A partition this process created or saw may have been dropped
		// since (retention on another replica): look again, once.
		if attempt > 0 || !missingPartition(err) {
			return store.WriteResult{}, fmt.Errorf("postgres: write batch: %w", err)
		}
		s.tr.parts.forget()
	}
}

// prepareBatch validates a batch and encodes its spans and log records,
// before any transaction.
func (s *Store) prepareBatch(b *model.Batch) (*preparedBatch, error) {
	in := &preparedBatch{spans: make([]preparedSpan, len(b.Spans)), logs: make([]preparedLog, len(b.Logs))}
	ids := make(map[string]struct{})
	var buf []byte
	for i := range b.Spans {
		sp := &b.Spans[i]
		if err := checkID("trace id", sp.TraceID); err != nil {
			return nil, fmt.Errorf("span %d (%s): %w", i, sp.SpanID, err)
		}
		if err := checkID("span id", sp.SpanID); err != nil {
			return nil, fmt.Errorf("span %d of trace %s: %w", i, sp.TraceID, err)
		}
		if len(sp.ParentSpanID) > maxIDLen {
			return nil, fmt.Errorf("span %s/%s: parent span id longer than %d bytes", sp.TraceID, sp.SpanID, maxIDLen)
		}
		var err error
		if buf, err = payload.AppendSpan(buf[:0], sp); err != nil {
			return nil, fmt.Errorf("span %s/%s: %w", sp.TraceID, sp.SpanID, err)
		}
		in.spans[i] = preparedSpan{span: sp, body: s.tr.codec.Seal(buf),
			start: payload.UnixNano(sp.StartTime), end: payload.UnixNano(sp.EndTime)}
		ids[sp.TraceID] = struct{}{}
	}
	for i := range b.Logs {
		l := &b.Logs[i]
		if err := checkID("trace id", l.TraceID); err != nil {
			return nil, fmt.Errorf("log record %d: %w", i, err)
		}
		if len(l.SpanID) > maxIDLen {
			return nil, fmt.Errorf("log record %d of trace %s: span id longer than %d bytes", i, l.TraceID, maxIDLen)
		}
		var err error
		if buf, err = payload.AppendLog(buf[:0], l); err != nil {
			return nil, fmt.Errorf("log record %d of span %s/%s: %w", i, l.TraceID, l.SpanID, err)
		}
		t := payload.UnixNano(l.Time)
		in.logs[i] = preparedLog{log: l, seq: payload.LogSeq(t, buf), time: t, body: s.tr.codec.Seal(buf)}
		ids[l.TraceID] = struct{}{}
	}
	in.traces = make([]string, 0, len(ids))
	for id := range ids {
		in.traces = append(in.traces, id)
	}
	slices.Sort(in.traces)
	return in, nil
}

func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty %s", what)
	case len(id) > maxIDLen:
		return fmt.Errorf("%s longer than %d bytes", what, maxIDLen)
	}
	return nil
}

// traceLockKeys returns the advisory lock keys of traces, sorted, each
// once: every writer takes them in this order.
func traceLockKeys(traces []string) []int32 {
	keys := make([]int32, 0, len(traces))
	for _, id := range traces {
		h := fnv.New32a()
		_, _ = h.Write([]byte(id))
		keys = append(keys, int32(h.Sum32()))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// traceState is what is stored of a trace of the batch, read under its
// lock.
type traceState struct {
	id                  string
	exists              bool
	service, deployment string
	start               int64
	models              string // traces.models
	// stored are the trace's stored spans, raw (not derived).
	stored []model.Span
	// newSpans are the spans the batch stores for the first time, as
	// derived (with their log records when there are any).
	newSpans []*model.Span
	changed  bool
}

// batchTx is one WriteBatch transaction.
type batchTx struct {
	s   *Store
	ctx context.Context
	tx  pgx.Tx
	in  *preparedBatch

	traces map[string]*traceState
	// logs are the stored log records of the batch's traces that belong
	// to a span (this batch's included), by span, oldest first.
	logs map[spanKey][]model.LogRecord
	// newLogKeys are the spans the batch stored log records of.
	newLogKeys []spanKey

	res store.WriteResult
	obs []rollup.Observation
}

// run writes the batch. A panic (in the deriver, say) fails the
// transaction instead of the process.
func (w *batchTx) run() (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.s.log.Error("write_panic", "panic", fmt.Sprint(p))
			err = fmt.Errorf("panic in write transaction: %v", p)
		}
	}()
	if err := w.lockAndRead(); err != nil {
		return err
	}
	spans, err := w.placeSpans()
	if err != nil {
		return err
	}
	w.attachLogs(spans)
	rows, err := w.summarize()
	if err != nil {
		return err
	}
	if err := w.write(spans, rows); err != nil {
		return err
	}
	if w.in.imp != nil {
		w.obs = nil
		return w.in.imp.after(w.ctx, w.tx)
	}
	if err := w.s.addObservations(w.ctx, w.tx, w.obs); err != nil {
		return fmt.Errorf("rollups: %w", err)
	}
	return nil
}

// lockAndRead takes the traces' locks, stores the log records and reads
// what is stored of the traces, in one pipeline: the reads come after the
// locks, so they see every write that held them before.
func (w *batchTx) lockAndRead() error {
	in := w.in
	ids := bytesOf(in.traces)
	b := &pgx.Batch{}
	b.Queue(`SELECT count(pg_advisory_xact_lock($1::int4, k)) FROM unnest($2::int4[]) AS k`,
		traceLockClass, traceLockKeys(in.traces))
	if len(in.logs) > 0 {
		tids, sids, seqs, times, bodies := make([][]byte, len(in.logs)), make([][]byte, len(in.logs)),
			make([]int64, len(in.logs)), make([]int64, len(in.logs)), make([][]byte, len(in.logs))
		for i, pl := range in.logs {
			tids[i], sids[i], seqs[i], times[i], bodies[i] = []byte(pl.log.TraceID), []byte(pl.log.SpanID), pl.seq, pl.time, pl.body
		}
		// ORDER BY ord: ids are handed out in the order the records were
		// sent, which orders records of equal times.
		b.Queue(`INSERT INTO logs (trace_id, span_id, seq, time_ns, body)
			SELECT t, sp, q, tm, bd FROM unnest($1::bytea[], $2::bytea[], $3::int8[], $4::int8[], $5::bytea[])
				WITH ORDINALITY AS u(t, sp, q, tm, bd, ord) ORDER BY ord
			ON CONFLICT DO NOTHING RETURNING trace_id, span_id`, tids, sids, seqs, times, bodies)
		b.Queue(`INSERT INTO log_traces (trace_id) SELECT DISTINCT unnest($1::bytea[]) ON CONFLICT DO NOTHING`, tids)
	}
	b.Queue(`SELECT t.trace_id, t.service, t.deployment, t.start_ns, t.models FROM traces t WHERE t.trace_id = ANY($1::bytea[])`, ids)
	b.Queue(`SELECT `+spanColumns+` FROM spans
		WHERE trace_id = ANY(ARRAY(SELECT trace_id FROM traces WHERE trace_id = ANY($1::bytea[])))`, ids)
	b.Queue(`SELECT trace_id, span_id, time_ns, body FROM logs
		WHERE trace_id = ANY(ARRAY(SELECT trace_id FROM log_traces WHERE trace_id = ANY($1::bytea[]))) AND span_id <> ''
		ORDER BY trace_id, span_id, time_ns, id`, ids)
	br := w.tx.SendBatch(w.ctx, b)
	defer br.Close()

	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("lock traces: %w", err)
	}
	if len(in.logs) > 0 {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("insert log records: %w", err)
		}
		seen := make(map[spanKey]bool)
		for rows.Next() {
			var t, sp []byte
			if err := rows.Scan(&t, &sp); err != nil {
				rows.Close()
				return fmt.Errorf("insert log records: %w", err)
			}
			w.res.LogsWritten++
			if k := (spanKey{string(t), string(sp)}); k.span != "" && !seen[k] {
				seen[k] = true
				w.newLogKeys = append(w.newLogKeys, k)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("insert log records: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("record traces with log records: %w", err)
		}
	}

	w.traces = make(map[string]*traceState, len(in.traces))
	for _, id := range in.traces {
		w.traces[id] = &traceState{id: id}
	}
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("read traces: %w", err)
	}
	for rows.Next() {
		var id, service, deployment, models []byte
		var start int64
		if err := rows.Scan(&id, &service, &deployment, &start, &models); err != nil {
			rows.Close()
			return fmt.Errorf("read traces: %w", err)
		}
		if st := w.traces[string(id)]; st != nil {
			st.exists, st.service, st.deployment, st.start, st.models = true, string(service), string(deployment), start, string(models)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read traces: %w", err)
	}

	rows, err = br.Query()
	if err != nil {
		return fmt.Errorf("read stored spans: %w", err)
	}
	stored, err := w.s.scanSpans(rows)
	if err != nil {
		return fmt.Errorf("read stored spans: %w", err)
	}
	for _, sp := range stored {
		if st := w.traces[sp.TraceID]; st != nil {
			st.stored = append(st.stored, sp)
		}
	}

	rows, err = br.Query()
	if err != nil {
		return fmt.Errorf("read log records: %w", err)
	}
	w.logs = make(map[spanKey][]model.LogRecord)
	if err := w.s.scanLogRows(rows, func(l model.LogRecord) {
		k := spanKey{l.TraceID, l.SpanID}
		w.logs[k] = append(w.logs[k], l)
	}); err != nil {
		return fmt.Errorf("read log records: %w", err)
	}
	return br.Close()
}

// placeSpans decides which of the batch's spans are new, deriving those
// that have log records with them, and returns the new ones in batch
// order.
func (w *batchTx) placeSpans() ([]preparedSpan, error) {
	have := make(map[spanKey]bool)
	for _, st := range w.traces {
		for i := range st.stored {
			have[spanKey{st.id, st.stored[i].SpanID}] = true
		}
	}
	var out []preparedSpan
	for _, ps := range w.in.spans {
		sp := ps.span
		k := spanKey{sp.TraceID, sp.SpanID}
		if have[k] {
			w.res.Duplicates++
			continue
		}
		have[k] = true
		if logs := w.logs[k]; len(logs) > 0 {
			derived := *sp // the caller's span stays as it was
			w.s.opts.Deriver.DeriveSpan(&derived, logs)
			sp = &derived
		}
		st := w.traces[sp.TraceID]
		st.newSpans = append(st.newSpans, sp)
		st.changed = true
		w.res.SpansWritten++
		out = append(out, preparedSpan{span: sp, body: ps.body, start: ps.start, end: ps.end})
	}
	return out, nil
}

// attachLogs marks changed the traces whose stored spans got new log
// records (their derived fields, hence their summary, change). A record
// whose span is not stored waits for it.
func (w *batchTx) attachLogs(newSpans []preparedSpan) {
	for _, k := range w.newLogKeys {
		st := w.traces[k.trace]
		if st == nil || st.changed {
			continue
		}
		for i := range st.stored {
			if st.stored[i].SpanID == k.span {
				st.changed = true
				break
			}
		}
	}
}

// summaryRow is a trace summary ready to be written.
type summaryRow struct {
	st     *traceState
	trace  model.Trace
	body   []byte
	models []string
	joined string
	lex    string // full-text lexemes, space-separated
}

// summarize computes the summaries of the changed traces, in trace id
// order, and what their new spans contribute to the rollups.
func (w *batchTx) summarize() ([]summaryRow, error) {
	var out []summaryRow
	var buf []byte
	for _, id := range w.in.traces {
		st := w.traces[id]
		if !st.changed {
			continue
		}
		w.res.TracesTouched++
		var spans []model.Span
		if !st.exists {
			spans = make([]model.Span, len(st.newSpans))
			for i, sp := range st.newSpans {
				spans[i] = *sp
			}
		} else {
			spans = make([]model.Span, 0, len(st.stored)+len(st.newSpans))
			spans = append(spans, st.stored...)
			for _, sp := range st.newSpans {
				spans = append(spans, *sp)
			}
			for i := range spans {
				w.s.opts.Deriver.DeriveSpan(&spans[i], w.logs[spanKey{id, spans[i].SpanID}])
			}
		}
		sortSpans(spans)
		var tr model.Trace
		if imp := w.in.imp; imp != nil && imp.summaries[id] != nil {
			tr = *imp.summaries[id] // as the source stored it
		} else {
			tr = w.s.opts.Deriver.Summarize(spans)
		}
		if tr.TraceID == "" {
			tr.TraceID = id
		}
		var err error
		if buf, err = payload.AppendTrace(buf[:0], &tr); err != nil {
			return nil, fmt.Errorf("encode summary of trace %s: %w", id, err)
		}
		models := payload.TraceModels(tr)
		out = append(out, summaryRow{st: st, trace: tr, body: w.s.tr.codec.Seal(buf), models: models,
			joined: joinModels(models), lex: ftsLexemes(payload.SearchText(&tr, spans))})
		for _, sp := range st.newSpans {
			w.obs = append(w.obs, rollup.Observe(sp, tr.Model)...)
		}
	}
	return out, nil
}

// svcKey identifies a service and deployment.
type svcKey struct{ service, deployment string }

// svcDelta is a change of a service's trace count and seen times.
type svcDelta struct {
	count       int64
	first, last int64
}

// write stores the new spans, the summaries, their models and the
// services' changes in one pipeline. The services come last, in key
// order: their rows are the ones writes of different traces share.
func (w *batchTx) write(spans []preparedSpan, rows []summaryRow) error {
	b := &pgx.Batch{}
	if n := len(spans); n > 0 {
		tids, sids, pids, names, bodies := make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		starts, ends, codes := make([]int64, n), make([]int64, n), make([]string, n)
		for i, ps := range spans {
			sp := ps.span
			tids[i], sids[i], pids[i], names[i], bodies[i] = []byte(sp.TraceID), []byte(sp.SpanID), []byte(sp.ParentSpanID), []byte(sp.Name), ps.body
			starts[i], ends[i], codes[i] = ps.start, ps.end, validText(string(sp.StatusCode))
		}
		b.Queue(`INSERT INTO spans (`+spanColumns+`)
			SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::int8[], $6::int8[], $7::text[], $8::bytea[])`,
			tids, sids, pids, names, starts, ends, codes, bodies)
	}
	svc := make(map[svcKey]*svcDelta)
	delta := func(service, deployment string, n, start int64, timed bool) {
		k := svcKey{service, deployment}
		d := svc[k]
		if d == nil {
			d = &svcDelta{first: math.MaxInt64, last: math.MinInt64}
			svc[k] = d
		}
		d.count += n
		if timed {
			d.first, d.last = min(d.first, start), max(d.last, start)
		}
	}
	if n := len(rows); n > 0 {
		cols := newSummaryCols(n)
		var delModel, delID, addModel, addID [][]byte
		var delStart, addStart []int64
		for i := range rows {
			r := &rows[i]
			cols.set(i, r)
			tr := &r.trace
			start := payload.UnixNano(tr.StartTime)
			st := r.st
			modelsMoved := true
			if !st.exists {
				delta(tr.Service, tr.Deployment, 1, start, true)
			} else {
				if st.service != tr.Service || st.deployment != tr.Deployment {
					delta(st.service, st.deployment, -1, 0, false)
					delta(tr.Service, tr.Deployment, 1, start, true)
				} else {
					delta(tr.Service, tr.Deployment, 0, start, true)
				}
				if modelsMoved = st.start != start || st.models != r.joined; modelsMoved {
					for _, m := range splitModels(st.models) {
						delModel, delStart, delID = append(delModel, []byte(m)), append(delStart, st.start), append(delID, []byte(st.id))
					}
				}
			}
			if modelsMoved {
				for _, m := range r.models {
					addModel, addStart, addID = append(addModel, []byte(m)), append(addStart, start), append(addID, []byte(st.id))
				}
			}
		}
		cols.queue(b)
		if len(delModel) > 0 {
			b.Queue(`DELETE FROM trace_models m USING unnest($1::bytea[], $2::int8[], $3::bytea[]) AS d(model, start_ns, trace_id)
				WHERE m.model = d.model AND m.start_ns = d.start_ns AND m.trace_id = d.trace_id`, delModel, delStart, delID)
		}
		if len(addModel) > 0 {
			b.Queue(`INSERT INTO trace_models (model, start_ns, trace_id)
				SELECT * FROM unnest($1::bytea[], $2::int8[], $3::bytea[]) ON CONFLICT DO NOTHING`, addModel, addStart, addID)
		}
	}
	queueServices(b, svc)
	if b.Len() == 0 {
		return nil
	}
	if err := w.tx.SendBatch(w.ctx, b).Close(); err != nil {
		return fmt.Errorf("write spans and summaries: %w", err)
	}
	return nil
}

// queueServices queues the services' changes, in key order. A decrement
// never creates a row (one that would is deleted at once), and a service
// left without traces is deleted.
func queueServices(b *pgx.Batch, svc map[svcKey]*svcDelta) {
	if len(svc) == 0 {
		return
	}
	keys := make([]svcKey, 0, len(svc))
	for k := range svc {
		keys = append(keys, k)
	}
	sortSvcKeys(keys)
	n := len(keys)
	services, deployments := make([][]byte, n), make([][]byte, n)
	firsts, lasts, counts := make([]int64, n), make([]int64, n), make([]int64, n)
	var decService, decDeployment [][]byte
	for i, k := range keys {
		d := svc[k]
		services[i], deployments[i], firsts[i], lasts[i], counts[i] = []byte(k.service), []byte(k.deployment), d.first, d.last, d.count
		if d.count < 0 {
			decService, decDeployment = append(decService, services[i]), append(decDeployment, deployments[i])
		}
	}
	b.Queue(`INSERT INTO services AS s (service, deployment, first_seen_ns, last_seen_ns, trace_count)
		SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::int8[], $4::int8[], $5::int8[])
		ON CONFLICT (service, deployment) DO UPDATE SET
			first_seen_ns = least(s.first_seen_ns, excluded.first_seen_ns),
			last_seen_ns = greatest(s.last_seen_ns, excluded.last_seen_ns),
			trace_count = s.trace_count + excluded.trace_count`,
		services, deployments, firsts, lasts, counts)
	if len(decService) > 0 {
		b.Queue(`DELETE FROM services s USING unnest($1::bytea[], $2::bytea[]) AS d(service, deployment)
			WHERE s.service = d.service AND s.deployment = d.deployment AND s.trace_count <= 0`, decService, decDeployment)
	}
}

// summaryCols are the summaries of a write as columns, for one upsert.
type summaryCols struct {
	ids, services, deployments, models, sessions, users, bodies [][]byte
	starts, durations, inTok, outTok, totTok                    []int64
	statuses, lex                                               []string
	spanCounts, errorCounts                                     []int32
	costs                                                       []float64
}

func newSummaryCols(n int) *summaryCols {
	return &summaryCols{
		ids: make([][]byte, n), services: make([][]byte, n), deployments: make([][]byte, n), models: make([][]byte, n),
		sessions: make([][]byte, n), users: make([][]byte, n), bodies: make([][]byte, n),
		starts: make([]int64, n), durations: make([]int64, n), inTok: make([]int64, n), outTok: make([]int64, n),
		totTok: make([]int64, n), statuses: make([]string, n), lex: make([]string, n),
		spanCounts: make([]int32, n), errorCounts: make([]int32, n), costs: make([]float64, n),
	}
}

func (c *summaryCols) set(i int, r *summaryRow) {
	tr := &r.trace
	c.ids[i], c.services[i], c.deployments[i], c.models[i] = []byte(r.st.id), []byte(tr.Service), []byte(tr.Deployment), []byte(r.joined)
	c.sessions[i], c.users[i], c.bodies[i] = []byte(tr.SessionID), []byte(tr.UserID), r.body
	c.starts[i], c.durations[i] = payload.UnixNano(tr.StartTime), int64(tr.Duration)
	c.inTok[i], c.outTok[i], c.totTok[i], c.costs[i] = tr.Usage.InputTokens, tr.Usage.OutputTokens, tr.Usage.TotalTokens, tr.Usage.CostUSD
	c.statuses[i], c.lex[i] = validText(string(tr.Status)), r.lex
	c.spanCounts[i], c.errorCounts[i] = int32(min(tr.SpanCount, math.MaxInt32)), int32(min(tr.ErrorCount, math.MaxInt32))
}

func (c *summaryCols) queue(b *pgx.Batch) {
	b.Queue(`INSERT INTO traces AS t (trace_id, service, deployment, start_ns, duration_ns, status, models,
			session_id, user_id, span_count, error_count, input_tokens, output_tokens, total_tokens, cost_usd, fts, body)
		SELECT id, svc, dep, st, du, stat, mo, se, us, sc, ec, it, ot, tt, co,
			array_to_tsvector(string_to_array(lx, ' ')), bd
		FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[], $6::text[], $7::bytea[],
			$8::bytea[], $9::bytea[], $10::int4[], $11::int4[], $12::int8[], $13::int8[], $14::int8[], $15::float8[],
			$16::text[], $17::bytea[]) AS u(id, svc, dep, st, du, stat, mo, se, us, sc, ec, it, ot, tt, co, lx, bd)
		ON CONFLICT (trace_id) DO UPDATE SET
			service = excluded.service, deployment = excluded.deployment, start_ns = excluded.start_ns,
			duration_ns = excluded.duration_ns, status = excluded.status, models = excluded.models,
			session_id = excluded.session_id, user_id = excluded.user_id, span_count = excluded.span_count,
			error_count = excluded.error_count, input_tokens = excluded.input_tokens,
			output_tokens = excluded.output_tokens, total_tokens = excluded.total_tokens,
			cost_usd = excluded.cost_usd, fts = excluded.fts, body = excluded.body`,
		c.ids, c.services, c.deployments, c.starts, c.durations, c.statuses, c.models,
		c.sessions, c.users, c.spanCounts, c.errorCounts, c.inTok, c.outTok, c.totTok, c.costs, c.lex, c.bodies)
}

// validText makes s storable as text (statuses are few fixed words; this
// guards against a stray NUL or invalid UTF-8 failing a whole batch).
func validText(s string) string {
	if strings.IndexByte(s, 0) < 0 && isUTF8(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
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

func joinModels(models []string) string {
	var b strings.Builder
	for _, m := range models {
		b.WriteString(m)
		b.WriteString(payload.ModelSep)
	}
	return b.String()
}

func splitModels(joined string) []string {
	joined = strings.TrimSuffix(joined, payload.ModelSep)
	if joined == "" {
		return nil
	}
	return strings.Split(joined, payload.ModelSep)
}

// spanColumns are the columns spans are read and written with.
const spanColumns = `trace_id, span_id, parent_span_id, name, start_ns, end_ns, status_code, body`

// scanSpans reads rows of spanColumns (raw spans, not derived) and
// closes them.
func (s *Store) scanSpans(rows pgx.Rows) ([]model.Span, error) {
	defer rows.Close()
	var out []model.Span
	for rows.Next() {
		var sp model.Span
		var tid, sid, pid, name, blob []byte
		var start, end int64
		var status string
		if err := rows.Scan(&tid, &sid, &pid, &name, &start, &end, &status, &blob); err != nil {
			return nil, err
		}
		sp.TraceID, sp.SpanID, sp.ParentSpanID, sp.Name = string(tid), string(sid), string(pid), string(name)
		sp.StartTime, sp.EndTime, sp.StatusCode = payload.FromUnixNano(start), payload.FromUnixNano(end), model.Status(status)
		p, err := s.tr.codec.Open(blob)
		if err != nil {
			return nil, fmt.Errorf("span %s/%s: %w", sp.TraceID, sp.SpanID, err)
		}
		if err := payload.DecodeSpan(p, &sp); err != nil {
			return nil, fmt.Errorf("span %s/%s: decode: %w", sp.TraceID, sp.SpanID, err)
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

// scanLogRows reads rows of (trace_id, span_id, time_ns, body), passes
// each record to fn and closes them.
func (s *Store) scanLogRows(rows pgx.Rows, fn func(model.LogRecord)) error {
	defer rows.Close()
	for rows.Next() {
		var tid, sid, blob []byte
		var t int64
		if err := rows.Scan(&tid, &sid, &t, &blob); err != nil {
			return err
		}
		l := model.LogRecord{TraceID: string(tid), SpanID: string(sid), Time: payload.FromUnixNano(t)}
		p, err := s.tr.codec.Open(blob)
		if err != nil {
			return fmt.Errorf("log record of span %s/%s: %w", l.TraceID, l.SpanID, err)
		}
		if err := payload.DecodeLog(p, &l); err != nil {
			return fmt.Errorf("log record of span %s/%s: decode: %w", l.TraceID, l.SpanID, err)
		}
		fn(l)
	}
	return rows.Err()
}

// bytesOf returns strings as byte slices (bytea parameters).
func bytesOf(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// missingPartition reports whether err is an insert that found no
// partition for its row.
func missingPartition(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && strings.Contains(pe.Message, "no partition")
}
