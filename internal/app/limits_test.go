package app_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/otlptest"
)

// trickle sends an export whose announced body of 4 KB comes one byte
// every 50 ms, and returns the server's status line.
func trickle(addr string) (string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "POST /v1/traces HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-protobuf\r\nContent-Length: 4096\r\n\r\n", addr); err != nil {
		return "", err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := conn.Write([]byte{0x0a}); err != nil {
					return
				}
			}
		}
	}()
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

// TestSlowUploadsEndToEnd: with 50 slow uploads open against a server of
// two ingest slots, exports from the OpenTelemetry SDK (HTTP and gRPC)
// still succeed, and every slow upload ends with 408, counted in /metrics.
func TestSlowUploadsEndToEnd(t *testing.T) {
	a := startAppWith(t, t.TempDir(), func(c *config.Config) {
		c.Ingest.MaxInFlight, c.Ingest.QueueTimeout, c.Ingest.BodyTimeout = 2, 0, config.Duration(time.Second)
	})
	const slow = 50
	statuses := make(chan string, slow)
	var wg sync.WaitGroup
	for range slow {
		wg.Go(func() {
			st, err := trickle(a.HTTPAddr())
			if err != nil {
				st = err.Error()
			}
			statuses <- st
		})
	}
	// Wait until every slow upload is being read (each holds 4097 bytes
	// of the body budget), then export.
	want := fmt.Sprintf("flowwatch_ingest_body_memory_bytes %d", slow*4097)
	for i := 0; !strings.Contains(scrapeText(t, a), want); i++ {
		if i == 500 {
			t.Fatalf("slow uploads not all open after 5s:\n%s", grepLines(scrapeText(t, a), "body_memory"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		rag := otlptest.RAG{Service: "chat", Question: "q", Answer: "a", Model: "gpt-4o"}
		if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), rag.Spans(), i%2 == 0); err != nil {
			t.Errorf("HTTP export %d with %d slow uploads open: %v", i, slow, err)
		}
		if err := otlptest.ExportGRPC(ctx, a.GRPCAddr(), rag.Spans()); err != nil {
			t.Errorf("gRPC export %d with %d slow uploads open: %v", i, slow, err)
		}
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if !strings.Contains(st, " 408 ") {
			t.Errorf("slow upload ended with %q, want 408", st)
		}
	}
	metrics := scrapeText(t, a)
	if !strings.Contains(metrics, `flowwatch_ingest_requests_refused_total{reason="timeout"} 50`) {
		t.Errorf("/metrics does not count 50 timed-out bodies:\n%s", grepLines(metrics, "requests_refused"))
	}
	if !strings.Contains(metrics, `flowwatch_ingest_requests_refused_total{reason="at_capacity"} 0`) {
		t.Errorf("slow uploads took ingest slots:\n%s", grepLines(metrics, "requests_refused"))
	}
}

// TestLargeAttributeEndToEnd sends a span carrying a 15 MB attribute: it is
// stored cut to ingest.max_attribute_value_bytes with the marker, the
// exporter is told in partial_success, /metrics counts it, and the trace's
// answer and question stay small.
func TestLargeAttributeEndToEnd(t *testing.T) {
	a := startApp(t, t.TempDir())
	big := strings.Repeat("y", 15<<20)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "big")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	tid := pcommon.TraceID{0x15, 0x15}
	sp.SetTraceID(tid)
	sp.SetSpanID(pcommon.SpanID{0x15})
	sp.SetName("chat")
	now := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	sp.Attributes().PutStr("input.value", big)
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+a.HTTPAddr()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, rb)
	}
	er := ptraceotlp.NewExportResponse()
	if err := er.UnmarshalProto(rb); err != nil {
		t.Fatal(err)
	}
	if ps := er.PartialSuccess(); ps.RejectedSpans() != 0 || !strings.Contains(ps.ErrorMessage(), "truncated") {
		t.Errorf("partial success = %d rejected, %q; want 0 rejected and a message about truncation", ps.RejectedSpans(), ps.ErrorMessage())
	}

	r, err := http.Get("http://" + a.HTTPAddr() + "/api/v1/traces/" + tid.String())
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(r.Body)
	r.Body.Close()
	const maxAnswer = 512 << 10 // the 64 KiB value appears as the attribute, input and question
	if r.StatusCode != http.StatusOK || len(answer) > maxAnswer {
		t.Errorf("trace answer: status %d, %d bytes; want 200 within %d", r.StatusCode, len(answer), maxAnswer)
	}
	if !bytes.Contains(answer, []byte("…[truncated ")) {
		t.Error("trace answer does not show the truncation marker")
	}
	var list struct {
		Traces []traceSummary `json:"traces"`
	}
	get(t, a, "/api/v1/traces?service=big", &list)
	if len(list.Traces) != 1 || len(list.Traces[0].Question) > 64<<10 {
		t.Errorf("trace list: %d traces, question of %d bytes; want 1 with at most 64 KiB", len(list.Traces), len(list.Traces[0].Question))
	}
	if m := scrapeText(t, a); !strings.Contains(m, "flowwatch_ingest_truncated_values_total 1") {
		t.Errorf("/metrics does not count the cut value:\n%s", grepLines(m, "truncated"))
	}
}

func scrapeText(t *testing.T, a *app.App) string {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
