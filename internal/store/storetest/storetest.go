// Package storetest is the conformance suite every flowwatch storage
// backend runs: the behaviour of store.Store that the rest of flowwatch
// relies on, checked against a real backend.
//
// A backend's test calls Run with an Opener:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, d store.Deriver) func() (store.Store, error) {
//			path := filepath.Join(t.TempDir(), "flowwatch.db")
//			return func() (store.Store, error) {
//				return sqlite.Open(context.Background(), sqlite.Options{Path: path, Deriver: d}, nil)
//			}
//		})
//	}
//
// The suite uses its own small Deriver (see Deriver) so that it does not
// depend on the real normalizer and can tell exactly what the store passed
// it. Besides what store.go says, it holds backends to these choices:
//   - a batch is atomic: a batch with an invalid span (empty trace or span
//     id) or log record (empty trace id) is rejected whole, with an error;
//   - a log record is identified by its span and content: the same record
//     sent twice is stored (and counted in LogsWritten) once; a record
//     without a span id belongs to its trace and is returned by GetTrace;
//   - a WriteBatch whose context is already done writes nothing;
//   - a batch that stores nothing new (only duplicates) touches no trace;
//   - TracesTouched counts each trace a batch changed once, whether by
//     spans or by log records that attach to stored spans;
//   - services count traces (not spans), and a service's first and last
//     seen times are the earliest and latest trace start times;
//   - a listing without filters fills every page but the last; a search
//     with filters may answer a short or empty page with a next cursor
//     (TracePage), and the pages up to the one without a cursor hold
//     exactly the matching traces, newest first, once each;
//   - a run's alert decider is called only when its owner holds the run
//     (never on ErrConflict), and also when the run ends as failed; a
//     notification it queues is pending, without attempts or lease, and
//     due at its creation when it has no next attempt time;
//   - the outbox settles only a pending notification held by the owner
//     (ErrConflict otherwise, also for a second settle of one attempt);
//     an unknown status is an error; AlertNotifications of an unknown
//     alert is empty.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Opener prepares a fresh, empty data location for one test (a file in
// t.TempDir(), a new schema, ...) and returns a function that opens a store
// with deriver d on it. The suite calls open once per test and again, after
// closing the first store, to check that data persists; it closes every
// store it opens. Cleaning up the location is the Opener's business (t.Cleanup).
type Opener func(t *testing.T, d store.Deriver) (open func() (store.Store, error))

// Option changes how Run runs the suite.
type Option func(*runConfig)

type runConfig struct {
	skip map[string]string // test name -> why it is skipped
}

// Skip skips the named tests, saying why: a variant of a backend's
// settings that changes only some paths (the read paths are the same
// whatever the writer's durability) need not run them all again. A
// backend's main run skips nothing.
func Skip(reason string, names ...string) Option {
	return func(c *runConfig) {
		for _, n := range names {
			c.skip[n] = reason
		}
	}
}

// Names lists the suite's tests, in the order Run runs them.
func Names() []string {
	var out []string
	for _, tc := range tests() {
		out = append(out, tc.name)
	}
	return out
}

// Run runs the conformance suite against the backend that open provides.
func Run(t *testing.T, open Opener, opts ...Option) {
	cfg := runConfig{skip: map[string]string{}}
	for _, o := range opts {
		o(&cfg)
	}
	known := map[string]bool{}
	for _, tc := range tests() {
		known[tc.name] = true
	}
	for name := range cfg.skip {
		if !known[name] {
			t.Errorf("storetest: Skip names %q, which is not a test of the suite", name)
		}
	}
	for _, tc := range tests() {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := cfg.skip[tc.name]; ok {
				t.Skip(why)
			}
			tc.fn(t, newOpened(t, open))
		})
	}
}

type suiteTest struct {
	name string
	fn   func(t *testing.T, o opened)
}

func tests() []suiteTest {
	return []suiteTest{
		{"RoundTrip", testRoundTrip},
		{"EmptyBatch", testEmptyBatch},
		{"InvalidBatch", testInvalidBatch},
		{"Idempotent", testIdempotent},
		{"SplitTrace", testSplitTrace},
		{"LogsBeforeSpans", testLogsBeforeSpans},
		{"LogsAfterSpans", testLogsAfterSpans},
		{"LogsWithSpans", testLogsWithSpans},
		{"LogsEqualTimes", testLogsEqualTimes},
		{"Filters", testFilters},
		{"Paging", testPaging},
		{"FullText", testFullText},
		{"SearchPaging", testSearchPaging},
		{"SearchRewrites", testSearchRewrites},
		{"Services", testServices},
		{"ServicesPage", testServicesPage},
		{"NotFound", testNotFound},
		{"TraceSummaries", testTraceSummaries},
		{"InvalidCursor", testInvalidCursor},
		{"CancelledContext", testCancelledContext},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Rollups", testRollups},
		{"Monitors", testMonitors},
		{"Runs", testRuns},
		{"RunCoalesce", testRunCoalesce},
		{"DeleteMonitorRuns", testDeleteMonitorRuns},
		{"ExpireLeases", testExpireLeases},
		{"Results", testResults},
		{"RunResults", testRunResults},
		{"TraceEvaluations", testTraceEvaluations},
		{"AlertDecider", testAlertDecider},
		{"AlertRollback", testAlertRollback},
		{"Outbox", testOutbox},
		{"AlertGroups", testAlertGroups},
		{"AckAlert", testAckAlert},
		{"Silences", testSilences},
		{"APIKeys", testAPIKeys},
		{"ListAlerts", testListAlerts},
		{"DeleteMonitorAlerts", testDeleteMonitorAlerts},
		{"DeleteTraces", testDeleteTraces},
		{"DeleteRollupsAndRuns", testDeleteRollupsAndRuns},
		{"Persistence", testPersistence},
		{"Close", testClose},
	}
}

// opened is one test's data location.
type opened struct {
	open func() (store.Store, error)
}

func newOpened(t *testing.T, open Opener) opened {
	return opened{open: open(t, Deriver{})}
}

// store opens a store on the test's location and closes it at the end.
func (o opened) store(t *testing.T) store.Store {
	t.Helper()
	s, err := o.open()
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// ---- tests ---------------------------------------------------------------

func testRoundTrip(t *testing.T, o opened) {
	s := o.store(t)
	attrs := map[string]any{
		"string":       `text with "quotes", \backslashes\, <html> & unicode ✓ 日本語` + "\n\ttabs \x01",
		"empty_string": "",
		"bool_true":    true,
		"bool_false":   false,
		"int_big":      int64(1<<60 + 1), // not representable as float64
		"int_negative": int64(-9007199254740993),
		"int_zero":     int64(0),
		"float":        3.25,
		"float_whole":  2.0,
		"float_tiny":   1e-300,
		"float_huge":   -1.5e300,
		"bytes":        []byte{0, 1, 2, 0xfe, 0xff},
		"bytes_empty":  []byte{},
		"array":        []any{"a", int64(1), 2.5, true, []byte{9}, []any{"nested"}, map[string]any{"k": "v"}},
		"array_empty":  []any{},
		"map": map[string]any{
			"nested": map[string]any{"deep": int64(7), "list": []any{int64(1), int64(2)}},
			"empty":  map[string]any{},
		},
		"dollar_map":    map[string]any{"$b": "not bytes"},
		"dollar_map2":   map[string]any{"$f": "NaN"},
		"key with.dots": "value",
		AttrKind:        "llm",
		AttrModel:       "gpt-test",
		AttrTokens:      int64(21),
		AttrQuestion:    "What is the round trip?",
		AttrAnswer:      "Everything comes back.",
		AttrContext:     "a retrieved document",
		AttrTTFTMS:      int64(123),
	}
	sp := model.Span{
		TraceID:       traceID(1),
		SpanID:        spanID(1),
		ParentSpanID:  "",
		Name:          "chat gpt-test",
		OTelKind:      "client",
		StartTime:     time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		EndTime:       time.Date(2026, 3, 1, 12, 0, 2, 987654321, time.UTC),
		StatusCode:    model.StatusError,
		StatusMessage: "upstream said no",
		TraceState:    "vendor=value",
		Flags:         1,
		Attributes:    attrs,
		ResourceAttributes: map[string]any{
			"service.name": "round-trip", "deployment.name": "blue", "host.cores": int64(2),
		},
		Scope: model.Scope{Name: "scope", Version: "1.2.3", Attributes: map[string]any{"scope.attr": true}},
		Events: []model.Event{
			{Time: at(time.Second), Name: "exception", Attributes: map[string]any{"exception.message": "boom", "n": int64(3)}},
			{Time: at(2 * time.Second), Name: "no attributes"},
		},
		Links: []model.Link{
			{TraceID: traceID(99), SpanID: spanID(99), TraceState: "a=b", Attributes: map[string]any{"link.kind": "follows"}},
			{TraceID: traceID(98), SpanID: spanID(98)},
		},
		DroppedAttributes: 4,
		DroppedEvents:     5,
		DroppedLinks:      6,
	}
	Deriver{}.DeriveSpan(&sp, nil)
	logs := []model.LogRecord{{
		TraceID:      sp.TraceID,
		SpanID:       sp.SpanID,
		Time:         at(1500 * time.Millisecond),
		EventName:    "gen_ai.choice",
		SeverityText: "INFO",
		Body: map[string]any{"message": map[string]any{"role": "assistant", "content": "hi"},
			"index": int64(0), "raw": []byte("bytes"), "score": 0.75},
		Attributes:         map[string]any{"gen_ai.system": "test", "big": int64(1<<62 + 3)},
		ResourceAttributes: map[string]any{"service.name": "round-trip"},
		Scope:              model.Scope{Name: "log-scope", Version: "0.1"},
	}}
	res := write(t, s, model.Batch{Spans: []model.Span{sp}, Logs: logs})
	checkResult(t, "first write", res, store.WriteResult{SpansWritten: 1, LogsWritten: 1, TracesTouched: 1})
	got := checkTrace(t, s, derive([]model.Span{sp}, logs), logs)

	// Byte values must come back as bytes, not as strings.
	if b, ok := got.Spans[0].Attributes["bytes"].([]byte); !ok || string(b) != "\x00\x01\x02\xfe\xff" {
		t.Errorf("bytes attribute came back as %#v", got.Spans[0].Attributes["bytes"])
	}
	if got.Trace.Usage.InputTokens != 21 || !got.Trace.Usage.Known {
		t.Errorf("trace usage = %+v, want the span's (input 21)", got.Trace.Usage)
	}
}

func testEmptyBatch(t *testing.T, o opened) {
	s := o.store(t)
	checkResult(t, "empty batch", write(t, s, model.Batch{}), store.WriteResult{})
	if page := list(t, s, store.TraceQuery{}); len(page.Traces) != 0 {
		t.Errorf("ListTraces after an empty batch: %d traces", len(page.Traces))
	}
}

func testInvalidBatch(t *testing.T, o opened) {
	s := o.store(t)
	good := rag(1, 0, "svc", "", "m", "question", "answer")
	for _, tc := range []struct {
		name  string
		batch func() model.Batch
	}{
		{"empty trace id", func() model.Batch {
			bad := mk(spec{trace: 2, span: 21, service: "svc"})
			bad.TraceID = ""
			return model.Batch{Spans: append(append([]model.Span(nil), good...), bad)}
		}},
		{"empty span id", func() model.Batch {
			bad := mk(spec{trace: 2, span: 21, service: "svc"})
			bad.SpanID = ""
			return model.Batch{Spans: append([]model.Span{bad}, good...)}
		}},
		{"log without trace id", func() model.Batch {
			return model.Batch{Spans: good, Logs: []model.LogRecord{{SpanID: spanID(11), Time: at(0), Body: "x"}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.WriteBatch(context.Background(), tc.batch()); err == nil {
				t.Fatal("WriteBatch accepted an invalid batch")
			}
			_, err := s.GetTrace(context.Background(), traceID(1))
			mustBe(t, "GetTrace of a trace in a rejected batch", err, store.ErrNotFound)
		})
	}
}

func testIdempotent(t *testing.T, o opened) {
	s := o.store(t)
	spans := rag(1, 0, "svc", "prod", "m1", "why is the sky blue", "scattering")
	logs := []model.LogRecord{{TraceID: traceID(1), SpanID: spans[2].SpanID, Time: at(300 * time.Millisecond),
		EventName: EventAnswer, Body: "rayleigh scattering"}}
	b := model.Batch{Spans: spans, Logs: logs}

	checkResult(t, "first write", write(t, s, b), store.WriteResult{SpansWritten: 3, LogsWritten: 1, TracesTouched: 1})
	first := checkTrace(t, s, derive(spans, logs), logs)
	checkResult(t, "same batch again", write(t, s, b), store.WriteResult{Duplicates: 3})
	second := checkTrace(t, s, derive(spans, logs), logs)
	if diff := cmp.Diff(first, second, cmpOpts()); diff != "" {
		t.Errorf("trace changed by a duplicate write (-before +after):\n%s", diff)
	}

	// A span repeated within one batch is stored once.
	extra := mk(spec{trace: 1, span: 99, parent: 11, start: time.Second, dur: time.Millisecond,
		service: "svc", deployment: "prod"})
	checkResult(t, "span twice in one batch", writeSpans(t, s, extra, extra),
		store.WriteResult{SpansWritten: 1, Duplicates: 1, TracesTouched: 1})
	all := append(append([]model.Span(nil), spans...), extra)
	checkTrace(t, s, derive(all, logs), logs)

	if got := listIDs(t, s, store.TraceQuery{}); !cmp.Equal(got, []string{traceID(1)}) {
		t.Errorf("ListTraces = %v, want the one trace", got)
	}
	want := []model.ServiceInfo{{Service: "svc", Deployment: "prod", FirstSeen: at(0), LastSeen: at(0), TraceCount: 1}}
	if diff := cmp.Diff(want, services(t, s)); diff != "" {
		t.Errorf("ListServices (-want +got):\n%s", diff)
	}
}

func testSplitTrace(t *testing.T, o opened) {
	s := o.store(t)
	for i, tc := range []struct {
		name  string
		parts [][]int // indexes into the rag spans, one batch each
	}{
		{"children first", [][]int{{2}, {1}, {0}}},
		{"root first", [][]int{{0}, {1, 2}}},
		{"root in the middle", [][]int{{1}, {0}, {2}}},
		{"one batch", [][]int{{0, 1, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := i + 1
			spans := rag(id, time.Duration(id)*time.Minute, "split", "", fmt.Sprintf("model-%d", id),
				fmt.Sprintf("question %d", id), fmt.Sprintf("answer %d", id))
			var sent []model.Span
			for n, part := range tc.parts {
				var batch []model.Span
				for _, k := range part {
					batch = append(batch, spans[k])
				}
				res := writeSpans(t, s, batch...)
				checkResult(t, fmt.Sprintf("part %d", n), res, store.WriteResult{SpansWritten: len(batch), TracesTouched: 1})
				sent = append(sent, batch...)
				// After every part the summary covers every span sent so far.
				checkTrace(t, s, sent, nil)
			}
			got := getTrace(t, s, traceID(id)).Trace
			if got.SpanCount != 3 || got.RootSpanID != spans[0].SpanID || got.Question != fmt.Sprintf("question %d", id) ||
				got.Usage.TotalTokens != 30 || !got.StartTime.Equal(spans[0].StartTime) {
				t.Errorf("summary = %+v, want 3 spans, the root's question, 30 tokens, the root's start", got)
			}
		})
	}
	if got := services(t, s); len(got) != 1 || got[0].TraceCount != 4 {
		t.Errorf("ListServices = %+v, want one service with 4 traces", got)
	}
}

// logsFor returns log records for a span: notes, a question and an
// answer, latest first, so that a store that does not pass records to
// DeriveSpan ordered by time is caught (logOrder is the order it must use).
func logsFor(sp model.Span, question, answer string) []model.LogRecord {
	var logs []model.LogRecord
	for i := 7; i >= 0; i-- {
		l := model.LogRecord{TraceID: sp.TraceID, SpanID: sp.SpanID, Time: sp.StartTime.Add(time.Duration(i+1) * time.Millisecond),
			EventName: fmt.Sprintf("note %d", i), Body: fmt.Sprintf("note %d", i), Attributes: map[string]any{"seq": int64(i)}}
		switch i {
		case 3:
			l.EventName, l.Body = EventQuestion, question
		case 5:
			l.EventName, l.Body = EventAnswer, answer
		}
		logs = append(logs, l)
	}
	return logs
}

// logOrder is the order of the event names of logsFor's records by time.
func logOrder() []string {
	return []string{"note 0", "note 1", "note 2", EventQuestion, "note 4", EventAnswer, "note 6", "note 7"}
}

func testLogsBeforeSpans(t *testing.T, o opened) {
	s := o.store(t)
	spans := rag(1, 0, "logs", "", "m", "attribute question", "attribute answer")
	logs := logsFor(spans[0], "question from a log record", "answer from a log record")

	checkResult(t, "logs", write(t, s, model.Batch{Logs: logs}), store.WriteResult{LogsWritten: len(logs)})
	_, err := s.GetTrace(context.Background(), traceID(1))
	mustBe(t, "GetTrace before any span", err, store.ErrNotFound)

	checkResult(t, "spans", writeSpans(t, s, spans...), store.WriteResult{SpansWritten: 3, TracesTouched: 1})
	got := checkTrace(t, s, derive(spans, logs), logs)
	root := got.Spans[0]
	if root.Derived.Question != "question from a log record" {
		t.Errorf("root question = %q, want the log record's", root.Derived.Question)
	}
	if want := logOrder(); !cmp.Equal(root.Derived.FinishReasons, want) {
		t.Errorf("logs passed to DeriveSpan in order %v, want by time %v", root.Derived.FinishReasons, want)
	}
	if got.Trace.Question != "question from a log record" {
		t.Errorf("trace question = %q, want the log record's", got.Trace.Question)
	}
	if ids := listIDs(t, s, store.TraceQuery{Text: "record"}); len(ids) != 1 {
		t.Errorf("full-text search for text from log records: %v, want the trace", ids)
	}
}

func testLogsAfterSpans(t *testing.T, o opened) {
	s := o.store(t)
	spans := rag(1, 0, "logs", "", "m", "original wording", "first answer")
	checkResult(t, "spans", writeSpans(t, s, spans...), store.WriteResult{SpansWritten: 3, TracesTouched: 1})
	if ids := listIDs(t, s, store.TraceQuery{Text: "original"}); len(ids) != 1 {
		t.Fatalf("full-text search before the log records: %v, want the trace", ids)
	}

	logs := logsFor(spans[0], "replacement phrasing", "second answer")
	checkResult(t, "logs", write(t, s, model.Batch{Logs: logs}), store.WriteResult{LogsWritten: len(logs), TracesTouched: 1})
	got := checkTrace(t, s, derive(spans, logs), logs)
	if got.Trace.Question != "replacement phrasing" {
		t.Errorf("trace question = %q, want the log record's", got.Trace.Question)
	}
	// The full-text index follows the rewritten summary.
	if ids := listIDs(t, s, store.TraceQuery{Text: "replacement"}); len(ids) != 1 {
		t.Errorf("search for the new question: %v, want the trace", ids)
	}
	if ids := listIDs(t, s, store.TraceQuery{Text: "original wording"}); len(ids) != 0 {
		t.Errorf("search for the replaced question: %v, want nothing", ids)
	}

	// Sending the records again changes nothing.
	checkResult(t, "logs again", write(t, s, model.Batch{Logs: logs}), store.WriteResult{})
	// A record for a span that is not stored waits for it.
	orphan := model.LogRecord{TraceID: traceID(1), SpanID: spanID(77), Time: at(time.Second), EventName: EventQuestion, Body: "later"}
	checkResult(t, "record for an unknown span", write(t, s, model.Batch{Logs: []model.LogRecord{orphan}}),
		store.WriteResult{LogsWritten: 1})
	late := mk(spec{trace: 1, span: 77, parent: 11, start: time.Second, dur: time.Millisecond, service: "logs"})
	checkResult(t, "its span", writeSpans(t, s, late), store.WriteResult{SpansWritten: 1, TracesTouched: 1})
	allLogs := append(append([]model.LogRecord(nil), logs...), orphan)
	got = checkTrace(t, s, derive(append(append([]model.Span(nil), spans...), late), allLogs), allLogs)
	if q := got.Spans[len(got.Spans)-1].Derived.Question; q != "later" {
		t.Errorf("late span question = %q, want the waiting record's", q)
	}
}

func testLogsWithSpans(t *testing.T, o opened) {
	s := o.store(t)
	spans := rag(1, 0, "logs", "", "m", "attribute question", "attribute answer")
	logs := logsFor(spans[2], "in the same batch", "answered together")
	checkResult(t, "spans and logs", write(t, s, model.Batch{Spans: spans, Logs: logs}),
		store.WriteResult{SpansWritten: 3, LogsWritten: len(logs), TracesTouched: 1})
	got := checkTrace(t, s, derive(spans, logs), logs)
	if q := got.Spans[2].Derived.Question; q != "in the same batch" {
		t.Errorf("llm span question = %q, want the log record's", q)
	}
	if want := logOrder(); !cmp.Equal(got.Spans[2].Derived.FinishReasons, want) {
		t.Errorf("logs passed to DeriveSpan in order %v, want by time %v", got.Spans[2].Derived.FinishReasons, want)
	}
	// A trace-level record (no span id) is kept and returned with the trace.
	traceLog := model.LogRecord{TraceID: traceID(1), Time: at(5 * time.Second), EventName: "note", Body: "trace level"}
	checkResult(t, "trace-level record", write(t, s, model.Batch{Logs: []model.LogRecord{traceLog}}),
		store.WriteResult{LogsWritten: 1})
	allLogs := append(append([]model.LogRecord(nil), logs...), traceLog)
	checkTrace(t, s, derive(spans, logs), allLogs)
}

// testLogsEqualTimes: instrumentations stamp the messages of one call with
// the same millisecond, so records with equal times must reach DeriveSpan in
// the order they were sent: their order in the export, then arrival, and
// for a span stored after its records as well as before them.
func testLogsEqualTimes(t *testing.T, o opened) {
	s := o.store(t)
	spans := rag(1, 0, "logs", "", "m", "q", "a")
	llm := spans[2]
	// Sixteen records, none in name or content order, so that any order but
	// the sent one shows.
	names := []string{"p", "c", "n", "a", "k", "f", "o", "b", "j", "e", "m", "h", "d", "l", "g", "i"}
	var first, second []model.LogRecord
	for i, n := range names {
		l := model.LogRecord{TraceID: llm.TraceID, SpanID: llm.SpanID, Time: llm.StartTime.Add(time.Millisecond),
			EventName: n, Body: fmt.Sprintf("message %d", 100-i)}
		if i < 10 {
			first = append(first, l)
		} else {
			second = append(second, l)
		}
	}
	checkResult(t, "first records", write(t, s, model.Batch{Logs: first}), store.WriteResult{LogsWritten: len(first)})
	checkResult(t, "spans", writeSpans(t, s, spans...), store.WriteResult{SpansWritten: 3, TracesTouched: 1})
	checkResult(t, "later records", write(t, s, model.Batch{Logs: second}),
		store.WriteResult{LogsWritten: len(second), TracesTouched: 1})
	got := getTrace(t, s, llm.TraceID)
	var order []string
	for _, sp := range got.Spans {
		if sp.SpanID == llm.SpanID {
			order = sp.Derived.FinishReasons
		}
	}
	if !cmp.Equal(order, names) {
		t.Errorf("records of equal time passed to DeriveSpan in order %v, want as sent %v", order, names)
	}
	// Sending the first records again changes neither what is stored nor
	// their place, and GetTrace returns them in the same order.
	checkResult(t, "first records again", write(t, s, model.Batch{Logs: first}), store.WriteResult{})
	got = getTrace(t, s, llm.TraceID)
	var gotNames []string
	for _, l := range got.Logs {
		gotNames = append(gotNames, l.EventName)
	}
	if !cmp.Equal(gotNames, names) {
		t.Errorf("GetTrace logs in order %v, want as sent %v", gotNames, names)
	}
}

func testCancelledContext(t *testing.T, o opened) {
	s := o.store(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.WriteBatch(ctx, model.Batch{Spans: rag(1, 0, "svc", "", "m", "q", "a")})
	mustBe(t, "WriteBatch with a cancelled context", err, context.Canceled)
	_, err = s.GetTrace(context.Background(), traceID(1))
	mustBe(t, "GetTrace of the cancelled batch's trace", err, store.ErrNotFound)
}

func testConcurrentWriters(t *testing.T, o opened) {
	s := o.store(t)
	const (
		writers          = 8
		batchesPerWriter = 10
		tracesPerBatch   = 5
		shared           = 4 // traces every writer sends one span of
	)
	// Every writer also sends the same duplicate batch and one span of each
	// shared trace, so that batches of one trace meet in the writer.
	dup := rag(100000, 0, "dup", "", "m", "dup", "dup")
	var sharedSpans [shared][writers]model.Span
	for k := range shared {
		for w := range writers {
			sharedSpans[k][w] = mk(spec{trace: 200000 + k, span: 200000 + k*100 + w + 1, start: time.Duration(w) * time.Millisecond,
				dur: time.Second, status: model.StatusOK, service: "shared",
				attrs: map[string]any{AttrKind: "llm", AttrModel: "m", AttrTokens: int64(1)}})
		}
	}
	var (
		mu    sync.Mutex
		total store.WriteResult
		errs  []error
		wg    sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			add := func(res store.WriteResult, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				total.SpansWritten += res.SpansWritten
				total.Duplicates += res.Duplicates
				total.LogsWritten += res.LogsWritten
				total.TracesTouched += res.TracesTouched
			}
			for b := range batchesPerWriter {
				var spans []model.Span
				for k := range tracesPerBatch {
					id := (w*batchesPerWriter+b)*tracesPerBatch + k + 1
					spans = append(spans, rag(id, time.Duration(id)*time.Second, fmt.Sprintf("svc-%d", w%2), "", "m", "q", "a")...)
				}
				if b < shared {
					spans = append(spans, sharedSpans[b][w])
				}
				add(s.WriteBatch(context.Background(), model.Batch{Spans: spans}))
				if b == batchesPerWriter/2 {
					add(s.WriteBatch(context.Background(), model.Batch{Spans: dup}))
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("WriteBatch errors: %v", errors.Join(errs...))
	}
	ownTraces := writers * batchesPerWriter * tracesPerBatch
	wantSpans := ownTraces*3 + shared*writers + len(dup)
	if total.SpansWritten != wantSpans || total.Duplicates != (writers-1)*len(dup) {
		t.Errorf("totals %+v, want %d spans written and %d duplicates", total, wantSpans, (writers-1)*len(dup))
	}
	// Each own trace is touched once, the dup trace once, each shared trace
	// once per writer.
	if want := ownTraces + 1 + shared*writers; total.TracesTouched != want {
		t.Errorf("TracesTouched total %d, want %d", total.TracesTouched, want)
	}
	for k := range shared {
		checkTrace(t, s, sharedSpans[k][:], nil)
	}
	ids := listIDs(t, s, store.TraceQuery{Limit: store.MaxLimit})
	if want := ownTraces + 1 + shared; len(ids) != want {
		t.Errorf("ListTraces: %d traces, want %d", len(ids), want)
	}
	counts := map[string]int64{}
	for _, si := range services(t, s) {
		counts[si.Service] = si.TraceCount
	}
	want := map[string]int64{"svc-0": int64(ownTraces / 2), "svc-1": int64(ownTraces / 2), "dup": 1, "shared": shared}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("service trace counts (-want +got):\n%s", diff)
	}
}

func testPersistence(t *testing.T, o opened) {
	first, err := o.open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	spans := rag(1, 0, "persist", "green", "m", "durable question", "durable answer")
	logs := logsFor(spans[2], "logged question", "logged answer")
	if _, err := first.WriteBatch(context.Background(), model.Batch{Spans: spans, Logs: logs}); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	before, err := first.GetTrace(context.Background(), traceID(1))
	if err != nil {
		t.Fatalf("GetTrace: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s := o.store(t)
	after := checkTrace(t, s, derive(spans, logs), logs)
	if diff := cmp.Diff(before, after, cmpOpts()); diff != "" {
		t.Errorf("trace changed across reopen (-before +after):\n%s", diff)
	}
	if ids := listIDs(t, s, store.TraceQuery{Text: "durable"}); len(ids) != 1 {
		t.Errorf("full-text search after reopen: %v", ids)
	}
	// The reopened store still knows what it stored.
	checkResult(t, "duplicate after reopen", writeSpans(t, s, spans...), store.WriteResult{Duplicates: 3})
	more := mk(spec{trace: 1, span: 50, parent: 11, start: time.Second, dur: time.Second, service: "persist", deployment: "green"})
	checkResult(t, "new span after reopen", writeSpans(t, s, more), store.WriteResult{SpansWritten: 1, TracesTouched: 1})
	checkTrace(t, s, derive(append(append([]model.Span(nil), spans...), more), logs), logs)
	if got := services(t, s); len(got) != 1 || got[0].TraceCount != 1 {
		t.Errorf("ListServices after reopen = %+v, want one service with one trace", got)
	}
}

func testClose(t *testing.T, o opened) {
	s, err := o.open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	writeSpans(t, s, rag(1, 0, "svc", "", "m", "q", "a")...)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping on an open store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := context.Background()
	_, err = s.WriteBatch(ctx, model.Batch{Spans: rag(2, 0, "svc", "", "m", "q", "a")})
	mustBe(t, "WriteBatch after Close", err, store.ErrClosed)
	_, err = s.ListTraces(ctx, store.TraceQuery{})
	mustBe(t, "ListTraces after Close", err, store.ErrClosed)
	_, err = s.GetTrace(ctx, traceID(1))
	mustBe(t, "GetTrace after Close", err, store.ErrClosed)
	_, err = s.ListServices(ctx)
	mustBe(t, "ListServices after Close", err, store.ErrClosed)
	mustBe(t, "Ping after Close", s.Ping(ctx), store.ErrClosed)
}
