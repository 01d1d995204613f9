package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/pipeline"
	"github.com/flowwatch/flowwatch/internal/redact"
	"github.com/flowwatch/flowwatch/internal/store"
)

// recorder is a store.Writer that keeps what it is given.
type recorder struct{ batches []model.Batch }

func (r *recorder) WriteBatch(_ context.Context, b model.Batch) (store.WriteResult, error) {
	r.batches = append(r.batches, b)
	return store.WriteResult{}, nil
}

// TestRedactionBeforeNormalize checks that the pipeline redacts a batch
// before deriving anything from it: the question, the answer and the
// messages the store receives (and a judge would read) hold markers.
func TestRedactionBeforeNormalize(t *testing.T) {
	rd, err := redact.New(redact.Options{Detectors: redact.DetectorNames()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	p, err := pipeline.New(pipeline.Options{Writer: rec, Redactor: rd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const email, card = "jane.doe@example.com", "4111 1111 1111 1111"
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{1, 2})
	s.SetSpanID(pcommon.SpanID{3})
	s.SetName("chat")
	now := time.Now()
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Second)))
	s.Attributes().PutStr("gen_ai.operation.name", "chat")
	s.Attributes().PutStr("gen_ai.input.messages", fmt.Sprintf(`[{"role":"user","parts":[{"type":"text","content":"I am %s, card %s"}]}]`, email, card))
	s.Attributes().PutStr("gen_ai.output.messages", fmt.Sprintf(`[{"role":"assistant","parts":[{"type":"text","content":"Noted, %s."}]}]`, email))
	if _, err := p.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTraceID(pcommon.TraceID{1, 2})
	lr.SetSpanID(pcommon.SpanID{3})
	lr.Body().SetStr("user wrote " + email)
	if _, err := p.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	if len(rec.batches) != 2 || len(rec.batches[0].Spans) != 1 || len(rec.batches[1].Logs) != 1 {
		t.Fatalf("store got %d batches, want one of spans and one of logs", len(rec.batches))
	}
	d := rec.batches[0].Spans[0].Derived
	want := "I am [REDACTED:email], card [REDACTED:card]"
	if d.Question != want {
		t.Errorf("question = %q, want %q", d.Question, want)
	}
	if d.Answer != "Noted, [REDACTED:email]." {
		t.Errorf("answer = %q", d.Answer)
	}
	stored := fmt.Sprint(rec.batches[0].Spans[0].Attributes, d, rec.batches[1].Logs[0].Body)
	for _, secret := range []string{email, card} {
		if strings.Contains(stored, secret) {
			t.Errorf("the store received %q", secret)
		}
	}
}
