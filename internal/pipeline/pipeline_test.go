package pipeline_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/ingest"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/pipeline"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

func newPipeline(t *testing.T) (*pipeline.Pipeline, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{
		Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: normalize.Deriver{},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err := pipeline.New(pipeline.Options{Writer: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}

func traces(ids ...[16]byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	for i, id := range ids {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID(id))
		s.SetSpanID(pcommon.SpanID{1, byte(i + 1)})
		s.SetName("root")
		now := time.Now()
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Second)))
		s.Attributes().PutStr("input.value", "what is up?")
	}
	return td
}

func TestConsumeTracesReportsRejections(t *testing.T) {
	p, st := newPipeline(t)
	good := [16]byte{0xab, 1}
	res, err := p.ConsumeTraces(context.Background(), traces(good, [16]byte{}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 1 || !strings.Contains(res.Message, "trace_id") {
		t.Errorf("result = %+v, want 1 rejected span with a message naming trace_id", res)
	}
	d, err := st.GetTrace(context.Background(), pcommon.TraceID(good).String())
	if err != nil {
		t.Fatalf("accepted span not stored: %v", err)
	}
	if d.Trace.Question != "what is up?" {
		t.Errorf("question = %q", d.Trace.Question)
	}
}

func TestConsumeLogsRejectsRecordsWithoutSpan(t *testing.T) {
	p, _ := newPipeline(t)
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("no trace context")
	res, err := p.ConsumeLogs(context.Background(), ld)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 1 || res.Message == "" {
		t.Errorf("result = %+v, want 1 rejected record with a reason", res)
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	p, st := newPipeline(t)
	st.Close()
	_, err := p.ConsumeTraces(context.Background(), traces([16]byte{0xcd, 2}))
	if !errors.Is(err, ingest.ErrUnavailable) {
		t.Errorf("error = %v, want one wrapping ingest.ErrUnavailable", err)
	}
}
