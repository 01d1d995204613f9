package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// Limits on what a batch may carry.
const (
	maxIDLen = 256
)

// Request states: a queued request is taken by the writer or cancelled by
// its caller, whichever comes first.
const (
	stateQueued int32 = iota
	stateTaken
	stateCancelled
)

// request is one WriteBatch call on its way through the writer.
type request struct {
	spans []preparedSpan
	logs  []preparedLog
	// summaries are the summaries of the batch's traces computed from the
	// batch's spans alone: right for every trace the batch brings whole,
	// which the writer then need not summarize itself.
	summaries map[string]*summary
	size      int // spans + logs, for the group cap
	bytes     int // encoded size, roughly what the batch adds to the log

	state atomic.Int32
	res   store.WriteResult
	err   error
	done  chan struct{}
}

// preparedSpan is a span with its body encoded by the caller.
type preparedSpan struct {
	span *model.Span
	body []byte
}

// preparedLog is a log record with its body and content hash.
type preparedLog struct {
	log  *model.LogRecord
	seq  int64
	body []byte
}

// WriteBatch stores a batch and returns once it is committed. Spans and log
// records must carry a trace id (spans also a span id); a batch that breaks
// this is rejected whole.
func (s *Store) WriteBatch(ctx context.Context, b model.Batch) (store.WriteResult, error) {
	if s.closed.Load() {
		return store.WriteResult{}, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return store.WriteResult{}, fmt.Errorf("sqlite: write batch: %w", err)
	}
	if len(b.Spans) == 0 && len(b.Logs) == 0 {
		return store.WriteResult{}, nil
	}
	// Encoding is CPU work; bounding how many batches encode at once keeps
	// a core for the writer, which is what bounds throughput.
	select {
	case s.encodeSlots <- struct{}{}:
	case <-ctx.Done():
		return store.WriteResult{}, fmt.Errorf("sqlite: write batch: %w", ctx.Err())
	}
	req, err := s.prepare(&b)
	<-s.encodeSlots
	if err != nil {
		return store.WriteResult{}, fmt.Errorf("sqlite: write batch: %w", err)
	}
	select {
	case s.queue <- req:
	case <-ctx.Done():
		return store.WriteResult{}, fmt.Errorf("sqlite: write batch: %w", ctx.Err())
	case <-s.stop:
		return store.WriteResult{}, store.ErrClosed
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		if req.state.CompareAndSwap(stateQueued, stateCancelled) {
			return store.WriteResult{}, fmt.Errorf("sqlite: write batch: %w", ctx.Err())
		}
		<-req.done
	case <-s.writerDone:
		if req.state.CompareAndSwap(stateQueued, stateCancelled) {
			return store.WriteResult{}, store.ErrClosed
		}
		<-req.done
	}
	if req.err != nil {
		return store.WriteResult{}, fmt.Errorf("sqlite: write batch: %w", req.err)
	}
	return req.res, nil
}

// prepare validates a batch and encodes its spans and logs, in the
// caller's goroutine so that the writer only does database work.
func (s *Store) prepare(b *model.Batch) (*request, error) {
	req := &request{
		spans: make([]preparedSpan, len(b.Spans)),
		logs:  make([]preparedLog, len(b.Logs)),
		size:  len(b.Spans) + len(b.Logs),
		done:  make(chan struct{}),
	}
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
		buf, err = payload.AppendSpan(buf[:0], sp)
		if err != nil {
			return nil, fmt.Errorf("span %s/%s: %w", sp.TraceID, sp.SpanID, err)
		}
		req.spans[i] = preparedSpan{span: sp, body: s.codec.Seal(buf)}
		req.bytes += len(req.spans[i].body) + 200
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
		buf, err = payload.AppendLog(buf[:0], l)
		if err != nil {
			return nil, fmt.Errorf("log record %d of span %s/%s: %w", i, l.TraceID, l.SpanID, err)
		}
		req.logs[i] = preparedLog{log: l, seq: payload.LogSeq(payload.UnixNano(l.Time), buf), body: s.codec.Seal(buf)}
		req.bytes += len(req.logs[i].body) + 100
	}
	if err := s.presummarize(req, b.Spans); err != nil {
		return nil, err
	}
	return req, nil
}

// presummarize computes the summary of each trace of a batch from the
// batch's spans, on the chance that the trace is new and the batch holds
// all of it (the usual case). The writer uses such a summary only when
// that turns out true.
func (s *Store) presummarize(req *request, spans []model.Span) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("summarize: panic: %v", p)
		}
	}()
	byTrace := make(map[string][]model.Span)
	var order []string
	for i := range spans {
		id := spans[i].TraceID
		if _, ok := byTrace[id]; !ok {
			order = append(order, id)
		}
		byTrace[id] = append(byTrace[id], spans[i])
	}
	req.summaries = make(map[string]*summary, len(order))
	var buf []byte
	for _, id := range order {
		sum, err := s.summarize(id, byTrace[id], &buf)
		if err != nil {
			return err
		}
		req.summaries[id] = sum
	}
	return nil
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

// runWriter is the writer goroutine: it commits groups of queued requests
// until Close, then drains the queue, stops the checkpointer and exits.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	defer close(s.ckpt)
	written := 0 // bytes since the last checkpoint request
	commit := func(r *request) {
		group := s.gather(r)
		s.commitGroup(group)
		s.mergeStep()
		for _, r := range group {
			written += r.bytes
		}
		if written >= ckptEvery {
			written = 0
			select {
			case s.ckpt <- struct{}{}:
			default: // one is pending already
			}
		}
	}
	for {
		select {
		case r := <-s.queue:
			commit(r)
		case j := <-s.jobs:
			s.runJob(j)
		case <-s.stop:
			for {
				select {
				case r := <-s.queue:
					commit(r)
				case j := <-s.jobs:
					s.runJob(j)
				default:
					return
				}
			}
		}
	}
}

// job is a write other than a batch: fn runs in a transaction of its own
// on the writer's connection, which commits if fn returns nil.
type job struct {
	fn   func(tx *sql.Tx) error
	err  error
	done chan struct{}
}

// write runs fn in a write transaction of its own on the writer goroutine
// and returns once it is committed (or failed). Every write to the database
// goes through the writer, so writes never wait on SQLite's file lock.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	j := &job{fn: fn, done: make(chan struct{})}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.writerDone:
		return store.ErrClosed
	}
	<-j.done // a taken job finishes whatever its caller does
	return j.err
}

// runJob runs a job in its own transaction.
func (s *Store) runJob(j *job) {
	defer close(j.done)
	// A job that fails for want of a writable database marks the store
	// unwritable; one that succeeds does not clear the mark (it may have
	// written nothing): batches and Writable's probe do.
	if j.err = s.inTx(j.fn); j.err != nil {
		j.err = s.unwritableErr(j.err)
	}
}

// inTx runs fn in a transaction on the writer's connection (only the writer
// goroutine calls it) and commits if fn returns nil. A panic in fn (in the
// deriver, say) fails the transaction instead of the process.
func (s *Store) inTx(fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.wdb.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("write_panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic in write transaction: %v", p)
		}
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// gather takes first and whatever else is queued, up to the group cap.
// Requests their callers gave up on are skipped.
func (s *Store) gather(first *request) []*request {
	var group []*request
	size := 0
	take := func(r *request) {
		if r.state.CompareAndSwap(stateQueued, stateTaken) {
			group = append(group, r)
			size += r.size
		}
	}
	take(first)
	for size < s.opts.MaxGroupSpans {
		select {
		case r := <-s.queue:
			take(r)
		default:
			return group
		}
	}
	return group
}

// committed tells Options.OnCommit about a committed transaction.
func (s *Store) committed(start time.Time, group []*request, obs []rollup.Observation) {
	if s.opts.OnCommit == nil {
		return
	}
	spans := 0
	for _, r := range group {
		spans += r.res.SpansWritten
	}
	s.opts.OnCommit(store.Commit{Duration: time.Since(start), Spans: spans, Observations: obs})
}

// commitGroup writes a group in one transaction and answers its callers. If
// the transaction fails, each request is retried alone so that one bad batch
// cannot fail the others.
func (s *Store) commitGroup(group []*request) {
	if len(group) == 0 {
		return
	}
	start := time.Now()
	obs, err := s.writeGroup(group)
	if err == nil {
		s.committed(start, group, obs)
	} else if len(group) > 1 && !isUnwritable(err) { // a full disk fails each alike
		s.log.Warn("group_commit_failed", "err", err, "batches", len(group))
		for _, r := range group {
			r.res = store.WriteResult{}
			start := time.Now()
			obs, r.err = s.writeGroup([]*request{r})
			if r.err == nil {
				s.committed(start, []*request{r}, obs)
			}
		}
	} else {
		for _, r := range group {
			r.err = err
		}
	}
	ok := false
	for _, r := range group {
		if r.err != nil {
			r.res = store.WriteResult{}
			r.err = s.unwritableErr(r.err)
			if errors.Is(r.err, store.ErrUnwritable) {
				// Every export fails alike until the disk has room again:
				// the fault is logged once (store_unwritable), the
				// exporters retry.
				s.log.Debug("batch_write_failed", "err", r.err, "spans", len(r.spans), "logs", len(r.logs))
			} else {
				s.log.Error("batch_write_failed", "err", r.err, "spans", len(r.spans), "logs", len(r.logs))
			}
		} else {
			ok = true
		}
	}
	// The store is writable again before any caller learns its batch
	// committed, so that a caller asking right after sees it so.
	if ok {
		s.writeSucceeded()
	}
	for _, r := range group {
		close(r.done)
	}
}

// WriteQueue reports how many batches wait for the writer, and how many may.
func (s *Store) WriteQueue() (depth, capacity int) { return len(s.queue), cap(s.queue) }
