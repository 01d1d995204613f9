package ingest

import (
	"context"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"
)

// memConsumer is an in-memory Consumer: it records a copy of every batch it
// accepts, or fails with a configured error, or reports a configured
// partial rejection.
type memConsumer struct {
	mu     sync.Mutex
	err    error
	result Result
	calls  int
	traces []ptrace.Traces
	logs   []plog.Logs
	ctxOK  bool // every call had a live request context
}

func newMemConsumer() *memConsumer { return &memConsumer{ctxOK: true} }

// fail makes later calls return err (nil accepts again).
func (c *memConsumer) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// reject makes later accepted batches report res.
func (c *memConsumer) reject(res Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.result = res
}

func (c *memConsumer) ConsumeTraces(ctx context.Context, td ptrace.Traces) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if ctx.Err() != nil {
		c.ctxOK = false
	}
	if c.err != nil {
		return Result{}, c.err
	}
	cp := ptrace.NewTraces()
	td.CopyTo(cp)
	c.traces = append(c.traces, cp)
	return c.result, nil
}

func (c *memConsumer) ConsumeLogs(ctx context.Context, ld plog.Logs) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if ctx.Err() != nil {
		c.ctxOK = false
	}
	if c.err != nil {
		return Result{}, c.err
	}
	cp := plog.NewLogs()
	ld.CopyTo(cp)
	c.logs = append(c.logs, cp)
	return c.result, nil
}

// numCalls is how many batches reached the consumer, accepted or not.
func (c *memConsumer) numCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// spans returns every span accepted so far, flattened and sorted by span id.
func (c *memConsumer) spans() []flatSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []flatSpan
	for _, td := range c.traces {
		out = append(out, flattenTraces(td)...)
	}
	slices.SortFunc(out, func(a, b flatSpan) int { return strings.Compare(a.SpanID, b.SpanID) })
	return out
}

// logRecords returns every log record accepted so far, flattened, in order.
func (c *memConsumer) logRecords() []flatLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []flatLog
	for _, ld := range c.logs {
		out = append(out, flattenLogs(ld)...)
	}
	return out
}

// flatSpan is a span with its resource and scope, in plain Go values, for
// comparisons with go-cmp and for golden files.
type flatSpan struct {
	Resource      map[string]any `json:"resource"`
	Scope         string         `json:"scope"`
	ScopeVersion  string         `json:"scope_version,omitempty"`
	TraceID       string         `json:"trace_id"`
	SpanID        string         `json:"span_id"`
	ParentSpanID  string         `json:"parent_span_id,omitempty"`
	TraceState    string         `json:"trace_state,omitempty"`
	Name          string         `json:"name"`
	Kind          string         `json:"kind"`
	Start         string         `json:"start"`
	End           string         `json:"end"`
	Attributes    map[string]any `json:"attributes,omitempty"`
	StatusCode    string         `json:"status_code"`
	StatusMessage string         `json:"status_message,omitempty"`
	Events        []flatEvent    `json:"events,omitempty"`
	Links         []flatLink     `json:"links,omitempty"`
}

type flatEvent struct {
	Name       string         `json:"name"`
	Time       string         `json:"time"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

type flatLink struct {
	TraceID    string         `json:"trace_id"`
	SpanID     string         `json:"span_id"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

type flatLog struct {
	Resource   map[string]any `json:"resource"`
	Scope      string         `json:"scope"`
	Time       string         `json:"time"`
	Observed   string         `json:"observed,omitempty"`
	TraceID    string         `json:"trace_id,omitempty"`
	SpanID     string         `json:"span_id,omitempty"`
	Severity   string         `json:"severity"`
	SevText    string         `json:"severity_text,omitempty"`
	EventName  string         `json:"event_name,omitempty"`
	Body       any            `json:"body"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

func flatTime(ts pcommon.Timestamp) string {
	if ts == 0 {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

func flatAttrs(m pcommon.Map) map[string]any {
	if m.Len() == 0 {
		return nil
	}
	return m.AsRaw()
}

func traceHex(id pcommon.TraceID) string {
	if id.IsEmpty() {
		return ""
	}
	return hex.EncodeToString(id[:])
}

func spanHex(id pcommon.SpanID) string {
	if id.IsEmpty() {
		return ""
	}
	return hex.EncodeToString(id[:])
}

func flattenTraces(td ptrace.Traces) []flatSpan {
	var out []flatSpan
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				fs := flatSpan{
					Resource:      rs.Resource().Attributes().AsRaw(),
					Scope:         ss.Scope().Name(),
					ScopeVersion:  ss.Scope().Version(),
					TraceID:       traceHex(sp.TraceID()),
					SpanID:        spanHex(sp.SpanID()),
					ParentSpanID:  spanHex(sp.ParentSpanID()),
					TraceState:    sp.TraceState().AsRaw(),
					Name:          sp.Name(),
					Kind:          sp.Kind().String(),
					Start:         flatTime(sp.StartTimestamp()),
					End:           flatTime(sp.EndTimestamp()),
					Attributes:    flatAttrs(sp.Attributes()),
					StatusCode:    sp.Status().Code().String(),
					StatusMessage: sp.Status().Message(),
				}
				for _, ev := range sp.Events().All() {
					fs.Events = append(fs.Events, flatEvent{
						Name: ev.Name(), Time: flatTime(ev.Timestamp()), Attributes: flatAttrs(ev.Attributes()),
					})
				}
				for _, l := range sp.Links().All() {
					fs.Links = append(fs.Links, flatLink{
						TraceID: traceHex(l.TraceID()), SpanID: spanHex(l.SpanID()), Attributes: flatAttrs(l.Attributes()),
					})
				}
				out = append(out, fs)
			}
		}
	}
	return out
}

func flattenLogs(ld plog.Logs) []flatLog {
	var out []flatLog
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				out = append(out, flatLog{
					Resource:   rl.Resource().Attributes().AsRaw(),
					Scope:      sl.Scope().Name(),
					Time:       flatTime(lr.Timestamp()),
					Observed:   flatTime(lr.ObservedTimestamp()),
					TraceID:    traceHex(lr.TraceID()),
					SpanID:     spanHex(lr.SpanID()),
					Severity:   lr.SeverityNumber().String(),
					SevText:    lr.SeverityText(),
					EventName:  lr.EventName(),
					Body:       lr.Body().AsRaw(),
					Attributes: flatAttrs(lr.Attributes()),
				})
			}
		}
	}
	return out
}

// startHTTP serves a Receiver's HTTP handlers on a real listener.
func startHTTP(t *testing.T, c Consumer, opts Options) (*Receiver, *httptest.Server) {
	t.Helper()
	opts.Consumer = c
	r, err := New(opts, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	r.RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return r, srv
}

// startGRPC serves a Receiver's gRPC services on 127.0.0.1:0 and returns
// the address.
func startGRPC(t *testing.T, c Consumer, opts Options, maxRecvBytes int) (*Receiver, string) {
	t.Helper()
	opts.Consumer = c
	r, err := New(opts, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := grpc.NewServer(GRPCServerOptions(maxRecvBytes)...)
	r.RegisterGRPC(s)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-served; err != nil {
			t.Errorf("grpc Serve: %v", err)
		}
	})
	return r, lis.Addr().String()
}
