package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// newGRPCExporter returns an otlptracegrpc exporter for addr that does not
// retry, so every outcome is reported by ExportSpans.
func newGRPCExporter(t *testing.T, addr string, opts ...otlptracegrpc.Option) *otlptrace.Exporter {
	t.Helper()
	opts = append([]otlptracegrpc.Option{
		otlptracegrpc.WithEndpoint(addr),
		otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
	}, opts...)
	exp, err := otlptracegrpc.New(context.Background(), opts...)
	if err != nil {
		t.Fatalf("otlptracegrpc.New: %v", err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestGRPCExportWithSDK(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []otlptracegrpc.Option
	}{
		{"gzip", []otlptracegrpc.Option{otlptracegrpc.WithCompressor("gzip")}},
		{"uncompressed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMemConsumer()
			r, addr := startGRPC(t, c, Options{}, 0)
			exp := newGRPCExporter(t, addr, tc.opts...)
			if err := exp.ExportSpans(context.Background(), sdkSpans().Snapshots()); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			if diff := cmp.Diff(sdkWant(), c.spans()); diff != "" {
				t.Errorf("consumed spans (-want +got):\n%s", diff)
			}
			if !c.ctxOK {
				t.Error("consumer was called with a done context")
			}
			if got := r.Stats().AcceptedSpans; got != 2 {
				t.Errorf("AcceptedSpans = %d, want 2", got)
			}
		})
	}
}

func TestGRPCPartialSuccessReachesSDK(t *testing.T) {
	c := newMemConsumer()
	const msg = "span 00f067aa0ba902b7: missing service.name"
	c.reject(Result{Rejected: 1, Message: msg})
	_, addr := startGRPC(t, c, Options{}, 0)
	exp := newGRPCExporter(t, addr, otlptracegrpc.WithCompressor("gzip"))

	err := exp.ExportSpans(context.Background(), sdkSpans().Snapshots())
	want := "OTLP partial success: " + msg + " (1 spans rejected)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("ExportSpans error = %v, want it to contain %q", err, want)
	}
	if _, isStatus := status.FromError(err); isStatus {
		t.Errorf("partial success reported as a gRPC error status: %v", err)
	}
	if n := len(c.spans()); n != 2 {
		t.Errorf("consumer kept %d spans, want 2", n)
	}
}

// TestGRPCConsumerErrors checks codes and RetryInfo for consumer errors,
// through the SDK exporter (traces) and pdata's gRPC client (logs).
func TestGRPCConsumerErrors(t *testing.T) {
	const retryAfter = 1500 * time.Millisecond
	for _, tc := range []struct {
		name      string
		err       error
		wantCode  codes.Code
		wantRetry bool
	}{
		{"overloaded", fmt.Errorf("queue full: %w", ErrOverloaded), codes.ResourceExhausted, true},
		{"unavailable", fmt.Errorf("store closing: %w", ErrUnavailable), codes.Unavailable, true},
		{"deadline", fmt.Errorf("commit: %w", context.DeadlineExceeded), codes.Unavailable, true},
		{"internal", errors.New("open /srv/secret/flowwatch.db: disk I/O error"), codes.Internal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMemConsumer()
			c.fail(tc.err)
			r, addr := startGRPC(t, c, Options{RetryAfter: retryAfter}, 0)

			exp := newGRPCExporter(t, addr, otlptracegrpc.WithCompressor("gzip"))
			traceErr := exp.ExportSpans(context.Background(), sdkSpans().Snapshots())
			_, logErr := plogotlp.NewGRPCClient(dialGRPC(t, addr)).Export(context.Background(),
				plogotlp.NewExportRequestFromLogs(sampleLogs(2)))

			for what, err := range map[string]error{"traces": traceErr, "logs": logErr} {
				st, ok := status.FromError(err)
				if !ok || st.Code() != tc.wantCode {
					t.Fatalf("%s: error %v, want code %s", what, err, tc.wantCode)
				}
				if strings.Contains(st.Message(), "secret") {
					t.Errorf("%s: status leaks the consumer error: %q", what, st.Message())
				}
				var delay time.Duration
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok {
						delay = ri.GetRetryDelay().AsDuration()
					}
				}
				if tc.wantRetry && delay != retryAfter {
					t.Errorf("%s: RetryInfo delay = %s, want %s", what, delay, retryAfter)
				}
				if !tc.wantRetry && delay != 0 {
					t.Errorf("%s: RetryInfo on a non-retryable error", what)
				}
			}
			st := r.Stats()
			if st.RefusedSpans != 2 || st.RefusedLogRecords != 2 {
				t.Errorf("stats = %+v, want 2 refused spans and 2 refused log records", st)
			}
		})
	}
}

func TestGRPCLogs(t *testing.T) {
	c := newMemConsumer()
	r, addr := startGRPC(t, c, Options{}, 0)
	ld := sampleLogs(4)
	resp, err := plogotlp.NewGRPCClient(dialGRPC(t, addr)).Export(context.Background(),
		plogotlp.NewExportRequestFromLogs(ld), grpc.UseCompressor("gzip"))
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if ps := resp.PartialSuccess(); ps.RejectedLogRecords() != 0 || ps.ErrorMessage() != "" {
		t.Errorf("partial success on a full success: %d %q", ps.RejectedLogRecords(), ps.ErrorMessage())
	}
	if diff := cmp.Diff(flattenLogs(ld), c.logRecords()); diff != "" {
		t.Errorf("consumed logs (-want +got):\n%s", diff)
	}
	if got := r.Stats().AcceptedLogRecords; got != 4 {
		t.Errorf("AcceptedLogRecords = %d, want 4", got)
	}
}

func TestGRPCEmptyRequests(t *testing.T) {
	c := newMemConsumer()
	_, addr := startGRPC(t, c, Options{}, 0)
	conn := dialGRPC(t, addr)
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequest()); err != nil {
		t.Errorf("empty traces export: %v", err)
	}
	if _, err := plogotlp.NewGRPCClient(conn).Export(context.Background(), plogotlp.NewExportRequest()); err != nil {
		t.Errorf("empty logs export: %v", err)
	}
	if n := c.numCalls(); n != 0 {
		t.Errorf("consumer called %d times for empty requests, want 0", n)
	}
}

// bigSpans returns n spans, each with a string attribute of size bytes.
func bigSpans(n, size int) tracetest.SpanStubs {
	stubs := make(tracetest.SpanStubs, n)
	text := strings.Repeat("a", size)
	for i := range stubs {
		stubs[i] = tracetest.SpanStub{
			Name: fmt.Sprintf("big-%d", i),
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: mustTraceID(sdkTraceID), SpanID: trace.SpanID{1, byte(i)},
			}),
			StartTime:  sdkStart,
			EndTime:    sdkStart.Add(time.Second),
			Attributes: []attribute.KeyValue{attribute.String("gen_ai.prompt", text)},
		}
	}
	return stubs
}

// TestGRPCReceiveLimit exports 10 MB in one request: accepted with the
// options of GRPCServerOptions, refused with grpc-go's 4 MiB default.
func TestGRPCReceiveLimit(t *testing.T) {
	const spans, size = 10, 1 << 20 // 10 MiB of attribute text
	for _, tc := range []struct {
		name     string
		maxRecv  int
		wantCode codes.Code
	}{
		{"GRPCServerOptions default", 0, codes.OK},
		{"grpc-go default of 4 MiB", 4 << 20, codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMemConsumer()
			_, addr := startGRPC(t, c, Options{}, tc.maxRecv)
			exp := newGRPCExporter(t, addr)
			err := exp.ExportSpans(context.Background(), bigSpans(spans, size).Snapshots())
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("ExportSpans: %v, want code %s", err, tc.wantCode)
			}
			if tc.wantCode != codes.OK {
				if c.numCalls() != 0 {
					t.Error("consumer called for a refused export")
				}
				return
			}
			got := c.spans()
			total := 0
			for _, s := range got {
				total += len(s.Attributes["gen_ai.prompt"].(string))
			}
			if len(got) != spans || total != spans*size {
				t.Errorf("consumer got %d spans with %d bytes of text, want %d and %d", len(got), total, spans, spans*size)
			}
		})
	}
}

// TestGRPCGzipDecompressedLimit sends 4 MiB that gzip squeezes to a few
// KiB to a server with a 1 MiB limit: the limit holds after decompression.
func TestGRPCGzipDecompressedLimit(t *testing.T) {
	c := newMemConsumer()
	_, addr := startGRPC(t, c, Options{}, 1<<20)
	exp := newGRPCExporter(t, addr, otlptracegrpc.WithCompressor("gzip"))
	err := exp.ExportSpans(context.Background(), bigSpans(4, 1<<20).Snapshots())
	if got := status.Code(err); got != codes.ResourceExhausted {
		t.Fatalf("ExportSpans: %v, want RESOURCE_EXHAUSTED", err)
	}
	if c.numCalls() != 0 {
		t.Error("consumer called for a refused export")
	}
}

// rawCodec sends bytes as they are, to put undecodable messages on the
// wire under the proto content subtype.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// TestGRPCUndecodable documents that grpc-go itself answers an undecodable
// message, with INTERNAL (not retryable, like INVALID_ARGUMENT), before the
// consumer is involved.
func TestGRPCUndecodable(t *testing.T) {
	c := newMemConsumer()
	_, addr := startGRPC(t, c, Options{}, 0)
	conn := dialGRPC(t, addr)
	for _, method := range []string{
		"/opentelemetry.proto.collector.trace.v1.TraceService/Export",
		"/opentelemetry.proto.collector.logs.v1.LogsService/Export",
	} {
		in := []byte{0x0a, 0x7f, 0x01} // a field claiming 127 bytes, with 1
		var out []byte
		err := conn.Invoke(context.Background(), method, &in, &out, grpc.ForceCodecV2(rawCodec{}))
		if got := status.Code(err); got != codes.Internal {
			t.Errorf("%s: %v, want INTERNAL", method, err)
		}
	}
	if c.numCalls() != 0 {
		t.Error("consumer called for an undecodable message")
	}
}
