package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// newHTTPExporter returns an otlptracehttp exporter for srvURL that does
// not retry, so every outcome is reported by ExportSpans.
func newHTTPExporter(t *testing.T, srvURL string, opts ...otlptracehttp.Option) *otlptrace.Exporter {
	t.Helper()
	opts = append([]otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(srvURL + PathTraces),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
	}, opts...)
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		t.Fatalf("otlptracehttp.New: %v", err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

func TestHTTPExportWithSDK(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []otlptracehttp.Option
	}{
		{"protobuf", []otlptracehttp.Option{otlptracehttp.WithCompression(otlptracehttp.NoCompression)}},
		{"protobuf gzip", []otlptracehttp.Option{otlptracehttp.WithCompression(otlptracehttp.GzipCompression)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMemConsumer()
			r, srv := startHTTP(t, c, Options{})
			exp := newHTTPExporter(t, srv.URL, tc.opts...)
			if err := exp.ExportSpans(context.Background(), sdkSpans().Snapshots()); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			if diff := cmp.Diff(sdkWant(), c.spans()); diff != "" {
				t.Errorf("consumed spans (-want +got):\n%s", diff)
			}
			if !c.ctxOK {
				t.Error("consumer was called with a done context")
			}
			if got := r.Stats(); got.AcceptedSpans != 2 || got.RejectedSpans != 0 {
				t.Errorf("stats = %+v, want 2 accepted spans", got)
			}
		})
	}
}

func TestHTTPPartialSuccessReachesSDK(t *testing.T) {
	c := newMemConsumer()
	const msg = "span 00f067aa0ba902b8: attribute gen_ai.prompt too large"
	c.reject(Result{Rejected: 1, Message: msg})
	r, srv := startHTTP(t, c, Options{})
	exp := newHTTPExporter(t, srv.URL, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))

	err := exp.ExportSpans(context.Background(), sdkSpans().Snapshots())
	want := "OTLP partial success: " + msg + " (1 spans rejected)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("ExportSpans error = %v, want it to contain %q", err, want)
	}
	if got := r.Stats(); got.AcceptedSpans != 1 || got.RejectedSpans != 1 {
		t.Errorf("stats = %+v, want 1 accepted and 1 rejected span", got)
	}
}

// TestHTTPPartialSuccessRawResponses checks partial_success in both encodings and
// both signals, read back with pdata's decoders.
func TestHTTPPartialSuccessRawResponses(t *testing.T) {
	c := newMemConsumer()
	c.reject(Result{Rejected: 5, Message: "too old"}) // more than sent: clamped to 1
	_, srv := startHTTP(t, c, Options{})

	for _, tc := range []struct {
		name, path, contentType string
		body                    []byte
		check                   func(t *testing.T, body []byte)
	}{
		{"traces json", PathTraces, contentTypeJSON, tracesJSON(t, sampleTraces(1, 10)), func(t *testing.T, body []byte) {
			resp := ptraceotlp.NewExportResponse()
			if err := resp.UnmarshalJSON(body); err != nil {
				t.Fatalf("decode response %s: %v", body, err)
			}
			if got := resp.PartialSuccess(); got.RejectedSpans() != 1 || got.ErrorMessage() != "too old" {
				t.Errorf("partial success = %d %q, want 1 %q", got.RejectedSpans(), got.ErrorMessage(), "too old")
			}
		}},
		{"traces protobuf", PathTraces, contentTypeProto, tracesProto(t, sampleTraces(1, 10)), func(t *testing.T, body []byte) {
			resp := ptraceotlp.NewExportResponse()
			if err := resp.UnmarshalProto(body); err != nil {
				t.Fatalf("decode response: %v", err)
			}
			if got := resp.PartialSuccess(); got.RejectedSpans() != 1 || got.ErrorMessage() != "too old" {
				t.Errorf("partial success = %d %q, want 1 %q", got.RejectedSpans(), got.ErrorMessage(), "too old")
			}
		}},
		{"logs json", PathLogs, contentTypeJSON, logsJSON(t, sampleLogs(1)), func(t *testing.T, body []byte) {
			resp := plogotlp.NewExportResponse()
			if err := resp.UnmarshalJSON(body); err != nil {
				t.Fatalf("decode response %s: %v", body, err)
			}
			if got := resp.PartialSuccess(); got.RejectedLogRecords() != 1 || got.ErrorMessage() != "too old" {
				t.Errorf("partial success = %d %q, want 1 %q", got.RejectedLogRecords(), got.ErrorMessage(), "too old")
			}
		}},
		{"logs protobuf", PathLogs, contentTypeProto, logsProto(t, sampleLogs(1)), func(t *testing.T, body []byte) {
			resp := plogotlp.NewExportResponse()
			if err := resp.UnmarshalProto(body); err != nil {
				t.Fatalf("decode response: %v", err)
			}
			if got := resp.PartialSuccess(); got.RejectedLogRecords() != 1 || got.ErrorMessage() != "too old" {
				t.Errorf("partial success = %d %q, want 1 %q", got.RejectedLogRecords(), got.ErrorMessage(), "too old")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, srv.URL+tc.path, tc.contentType, "", bytes.NewReader(tc.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, body %q", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", ct, tc.contentType)
			}
			tc.check(t, body)
		})
	}
}

// TestHTTPConsumerErrors maps consumer errors to status codes, Retry-After
// and the SDK's retry classification.
func TestHTTPConsumerErrors(t *testing.T) {
	const secret = "open /srv/secret/flowwatch.db: disk I/O error"
	for _, tc := range []struct {
		name           string
		err            error
		wantStatus     int
		wantRetryAfter string
		wantMsg        string
		sdkRetryable   bool
		refused        func(RefusedRequests) int64
	}{
		{"overloaded", fmt.Errorf("pipeline full: %w", ErrOverloaded), http.StatusTooManyRequests, "2", msgOverloaded, true,
			func(r RefusedRequests) int64 { return r.Overloaded }},
		{"unavailable", fmt.Errorf("store closing: %w", ErrUnavailable), http.StatusServiceUnavailable, "2", msgUnavailable, true,
			func(r RefusedRequests) int64 { return r.Unavailable }},
		{"canceled", fmt.Errorf("write: %w", context.Canceled), http.StatusServiceUnavailable, "2", msgUnavailable, true,
			func(r RefusedRequests) int64 { return r.Unavailable }},
		{"internal", errors.New(secret), http.StatusInternalServerError, "", msgInternal, false,
			func(r RefusedRequests) int64 { return r.Internal }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMemConsumer()
			c.fail(tc.err)
			r, srv := startHTTP(t, c, Options{RetryAfter: 1500 * time.Millisecond})

			for _, ct := range []string{contentTypeProto, contentTypeJSON} {
				var body []byte
				if ct == contentTypeJSON {
					body = tracesJSON(t, sampleTraces(3, 10))
				} else {
					body = tracesProto(t, sampleTraces(3, 10))
				}
				resp, got := post(t, srv.URL+PathTraces, ct, "", bytes.NewReader(body))
				if resp.StatusCode != tc.wantStatus {
					t.Fatalf("%s: status = %d, want %d", ct, resp.StatusCode, tc.wantStatus)
				}
				if ra := resp.Header.Get("Retry-After"); ra != tc.wantRetryAfter {
					t.Errorf("%s: Retry-After = %q, want %q", ct, ra, tc.wantRetryAfter)
				}
				st := decodeStatus(t, resp, got)
				if st.GetMessage() != tc.wantMsg {
					t.Errorf("%s: status message = %q, want %q", ct, st.GetMessage(), tc.wantMsg)
				}
				if strings.Contains(string(got), "secret") {
					t.Errorf("%s: response leaks the consumer error: %q", ct, got)
				}
			}

			exp := newHTTPExporter(t, srv.URL)
			err := exp.ExportSpans(context.Background(), sdkSpans().Snapshots())
			if err == nil {
				t.Fatal("ExportSpans succeeded, want an error")
			}
			if got := strings.Contains(err.Error(), "retry-able"); got != tc.sdkRetryable {
				t.Errorf("SDK error %q: retryable = %v, want %v", err, got, tc.sdkRetryable)
			}

			st := r.Stats()
			if n := tc.refused(st.Refused); n != 3 {
				t.Errorf("refused requests for the reason = %d, want 3 (stats %+v)", n, st)
			}
			if st.RefusedSpans != 3+3+2 || st.AcceptedSpans != 0 {
				t.Errorf("stats = %+v, want 8 refused and 0 accepted spans", st)
			}
		})
	}
}

type httpCase struct {
	name        string
	method      string // default POST
	path        string // default /v1/traces
	contentType string
	encoding    string
	body        []byte
	chunked     bool // send without Content-Length
	wantStatus  int
	wantMsg     string // contained in the status message or text body
	wantAllow   bool
}

func TestHTTPBadInput(t *testing.T) {
	const limit = 1 << 20
	valid := tracesProto(t, sampleTraces(20, 200))
	validJSON := tracesJSON(t, sampleTraces(2, 10))
	big := bytes.Repeat([]byte{0x0a}, limit+1)
	deep := `{"resourceSpans":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`

	cases := []httpCase{
		{name: "truncated protobuf", contentType: contentTypeProto, body: valid[:len(valid)/2],
			wantStatus: 400, wantMsg: "decode OTLP/protobuf traces:"},
		{name: "garbage protobuf", contentType: contentTypeProto, body: []byte{0xff, 0xff, 0xff, 0xff, 0x0f},
			wantStatus: 400, wantMsg: "decode OTLP/protobuf traces:"},
		{name: "protobuf trace id of 3 bytes", contentType: contentTypeProto, body: badTraceIDProto(),
			wantStatus: 400, wantMsg: "decode OTLP/protobuf traces:"},
		{name: "invalid JSON", contentType: contentTypeJSON, body: []byte(`{"resourceSpans":[{"scopeSpans":[{`),
			wantStatus: 400, wantMsg: "decode OTLP/JSON traces:"},
		{name: "JSON of the wrong shape", contentType: contentTypeJSON, body: []byte(`["not", "an", "object"]`),
			wantStatus: 400, wantMsg: "decode OTLP/JSON traces:"},
		{name: "JSON trace id not hex", contentType: contentTypeJSON,
			body:       []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"00f067aa0ba902b7","name":"x"}]}]}]}`),
			wantStatus: 400, wantMsg: "decode OTLP/JSON traces:"},
		{name: "JSON nested too deep", contentType: contentTypeJSON, body: []byte(deep),
			wantStatus: 400, wantMsg: "nested deeper than 256 levels"},
		{name: "invalid JSON logs", path: PathLogs, contentType: contentTypeJSON, body: []byte(`{"resourceLogs":[{"scopeLogs":`),
			wantStatus: 400, wantMsg: "decode OTLP/JSON logs:"},
		{name: "truncated protobuf logs", path: PathLogs, contentType: contentTypeProto, body: truncated(logsProto(t, sampleLogs(5))),
			wantStatus: 400, wantMsg: "decode OTLP/protobuf logs:"},
		{name: "wrong content type", contentType: "text/plain", body: validJSON,
			wantStatus: 415, wantMsg: `unsupported Content-Type "text/plain"`},
		{name: "no content type", body: valid,
			wantStatus: 415, wantMsg: "unsupported Content-Type"},
		{name: "grpc content type on the HTTP path", contentType: "application/grpc", body: valid,
			wantStatus: 415, wantMsg: "unsupported Content-Type"},
		{name: "unknown content encoding", contentType: contentTypeProto, encoding: "br", body: valid,
			wantStatus: 415, wantMsg: `unsupported Content-Encoding "br"`},
		{name: "GET", method: http.MethodGet,
			wantStatus: 405, wantMsg: "method GET not allowed", wantAllow: true},
		{name: "PUT logs", method: http.MethodPut, path: PathLogs, contentType: contentTypeJSON, body: []byte(`{}`),
			wantStatus: 405, wantMsg: "method PUT not allowed", wantAllow: true},
		{name: "oversized body with Content-Length", contentType: contentTypeProto, body: big,
			wantStatus: 413, wantMsg: "exceeds the limit of 1048576 bytes"},
		{name: "oversized chunked body", contentType: contentTypeProto, body: big, chunked: true,
			wantStatus: 413, wantMsg: "exceeds the limit"},
		{name: "gzip expanding beyond the limit", contentType: contentTypeProto, encoding: "gzip", body: gzipBytes(t, big),
			wantStatus: 413, wantMsg: "exceeds the limit"},
		{name: "corrupt gzip", contentType: contentTypeProto, encoding: "gzip", body: []byte("this is not gzip at all"),
			wantStatus: 400, wantMsg: "read gzip body: gzip: invalid header"},
		{name: "truncated gzip", contentType: contentTypeJSON, encoding: "gzip", body: truncated(gzipBytes(t, validJSON)),
			wantStatus: 400, wantMsg: "read gzip body: unexpected EOF"},
		{name: "gzip with trailing garbage", contentType: contentTypeProto, encoding: "gzip",
			body: append(gzipBytes(t, valid), "garbage"...), wantStatus: 400, wantMsg: "read gzip body"},
	}
	c := newMemConsumer()
	r, srv := startHTTP(t, c, Options{MaxBodyBytes: limit})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runHTTPCase(t, srv.URL, tc) })
	}
	if n := c.numCalls(); n != 0 {
		t.Errorf("consumer called %d times for bad input, want 0", n)
	}
	st := r.Stats()
	want := RefusedRequests{MethodNotAllowed: 2, UnsupportedMediaType: 4, TooLarge: 3, BadData: 12}
	if diff := cmp.Diff(want, st.Refused); diff != "" {
		t.Errorf("refused counters (-want +got):\n%s", diff)
	}
}

func TestHTTPEmptyRequests(t *testing.T) {
	cases := []httpCase{
		{name: "empty protobuf body", contentType: contentTypeProto, wantStatus: 200},
		{name: "empty JSON body", contentType: contentTypeJSON, wantStatus: 200},
		{name: "empty JSON object", contentType: contentTypeJSON, body: []byte(`{}`), wantStatus: 200},
		{name: "JSON without spans", contentType: contentTypeJSON, body: []byte(`{"resourceSpans":[{"resource":{},"scopeSpans":[]}]}`), wantStatus: 200},
		{name: "empty gzip stream", contentType: contentTypeProto, encoding: "gzip", body: gzipBytes(t, nil), wantStatus: 200},
		{name: "empty body, gzip declared", contentType: contentTypeProto, encoding: "gzip", wantStatus: 200},
		{name: "empty logs body", path: PathLogs, contentType: contentTypeProto, wantStatus: 200},
		{name: "empty logs JSON object", path: PathLogs, contentType: "application/json; charset=utf-8", body: []byte(`{}`), wantStatus: 200},
	}
	c := newMemConsumer()
	_, srv := startHTTP(t, c, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := runHTTPCase(t, srv.URL, tc)
			// An empty Export*ServiceResponse: no bytes in protobuf, {} in JSON.
			want := ""
			if strings.HasPrefix(tc.contentType, contentTypeJSON) {
				want = "{}"
			}
			if string(body) != want {
				t.Errorf("response body = %q, want %q", body, want)
			}
		})
	}
	if n := c.numCalls(); n != 0 {
		t.Errorf("consumer called %d times for empty requests, want 0", n)
	}
}

// runHTTPCase sends tc and checks status, Allow and the message; it
// returns the response body.
func runHTTPCase(t *testing.T, baseURL string, tc httpCase) []byte {
	t.Helper()
	method, path := tc.method, tc.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = PathTraces
	}
	var body io.Reader = bytes.NewReader(tc.body)
	if tc.chunked {
		body = io.MultiReader(body) // hides the length: chunked encoding
	}
	req, err := http.NewRequest(method, baseURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if tc.contentType != "" {
		req.Header.Set("Content-Type", tc.contentType)
	}
	if tc.encoding != "" {
		req.Header.Set("Content-Encoding", tc.encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode != tc.wantStatus {
		t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, tc.wantStatus, got)
	}
	if tc.wantAllow && resp.Header.Get("Allow") != http.MethodPost {
		t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
	}
	if tc.wantStatus == http.StatusOK {
		if ct, _ := encodingOf(tc.contentType); resp.Header.Get("Content-Type") != ct.contentType() {
			t.Errorf("Content-Type = %q, want %q", resp.Header.Get("Content-Type"), ct.contentType())
		}
		return got
	}
	var msg string
	if _, ok := encodingOf(tc.contentType); ok {
		st := decodeStatus(t, resp, got)
		msg = st.GetMessage()
		if tc.wantStatus == http.StatusBadRequest {
			checkBadRequestDetail(t, st)
		}
	} else {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type = %q, want text/plain for a request without an OTLP content type", ct)
		}
		msg = string(got)
	}
	if !strings.Contains(msg, tc.wantMsg) {
		t.Errorf("message = %q, want it to contain %q", msg, tc.wantMsg)
	}
	return got
}

// checkBadRequestDetail checks that a 400's Status carries a BadRequest
// detail, as the OTLP specification recommends.
func checkBadRequestDetail(t *testing.T, st *spb.Status) {
	t.Helper()
	if st.GetCode() != int32(codes.InvalidArgument) {
		t.Errorf("Status.code = %d, want %d", st.GetCode(), codes.InvalidArgument)
	}
	if len(st.GetDetails()) != 1 {
		t.Fatalf("Status.details = %v, want one BadRequest", st.GetDetails())
	}
	var br errdetails.BadRequest
	if err := st.GetDetails()[0].UnmarshalTo(&br); err != nil {
		t.Fatalf("detail is not a BadRequest: %v", err)
	}
	if len(br.GetFieldViolations()) != 1 || br.GetFieldViolations()[0].GetDescription() != st.GetMessage() {
		t.Errorf("BadRequest = %v, want one violation describing %q", &br, st.GetMessage())
	}
}

// TestHTTPGzipBomb sends 1 GiB of zeros, gzip-compressed while it is sent,
// so neither side ever holds it. The receiver must stop at the limit.
func TestHTTPGzipBomb(t *testing.T) {
	c := newMemConsumer()
	r, srv := startHTTP(t, c, Options{})

	pr, pw := io.Pipe()
	produced := make(chan int64, 1)
	go func() {
		var n int64
		defer func() { produced <- n }()
		zw, err := gzip.NewWriterLevel(pw, gzip.BestCompression)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		zeros := make([]byte, 1<<20)
		for range 1024 { // 1 GiB
			if _, err := zw.Write(zeros); err != nil {
				pw.CloseWithError(err)
				return
			}
			n += int64(len(zeros))
		}
		pw.CloseWithError(zw.Close())
	}()

	req, err := http.NewRequest(http.MethodPost, srv.URL+PathTraces, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentTypeProto)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pr.CloseWithError(errors.New("response received")) // stop the producer
	n := <-produced

	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d (body %q), want 413", resp.StatusCode, body)
	}
	if st := decodeStatus(t, resp, body); !strings.Contains(st.GetMessage(), "exceeds the limit of 16777216 bytes") {
		t.Errorf("message = %q", st.GetMessage())
	}
	if n >= 1<<30 {
		t.Errorf("the whole 1 GiB was produced; the receiver should have stopped reading at the limit")
	}
	t.Logf("zeros produced before the receiver stopped reading: %d MiB", n>>20)
	if c.numCalls() != 0 || r.Stats().Refused.TooLarge != 1 {
		t.Errorf("consumer calls = %d, stats = %+v; want 0 calls and one 413", c.numCalls(), r.Stats())
	}
}

// TestHTTPInvalidUTF8 sends strings with invalid UTF-8 in both encodings:
// the export is accepted and every broken sequence becomes U+FFFD.
func TestHTTPInvalidUTF8(t *testing.T) {
	const bad = "caf\xe9 \xff\xfe ok"
	const fixed = "caf\uFFFD \uFFFD ok" // each run of invalid bytes becomes one U+FFFD

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", bad)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(bad)
	sp := ss.Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{2})
	sp.SetName(bad)
	sp.Status().SetMessage(bad)
	sp.Attributes().PutStr(bad, "key was broken")
	sp.Attributes().PutStr("plain", "fine")
	nested := sp.Attributes().PutEmptyMap("nested")
	nested.PutEmptySlice("list").AppendEmpty().SetStr(bad)
	sp.Events().AppendEmpty().SetName(bad)

	wantSpan := []flatSpan{{
		Resource: map[string]any{"service.name": fixed}, Scope: fixed,
		TraceID: "01000000000000000000000000000000", SpanID: "0200000000000000",
		Name: fixed, Kind: "Unspecified", StatusCode: "Unset", StatusMessage: fixed,
		Attributes: map[string]any{
			fixed:    "key was broken",
			"plain":  "fine",
			"nested": map[string]any{"list": []any{fixed}},
		},
		Events: []flatEvent{{Name: fixed}},
	}}
	// In JSON the broken bytes travel raw inside the strings.
	jsonBody := []byte(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"` + bad + `"}}]},` +
		`"scopeSpans":[{"scope":{"name":"` + bad + `"},"spans":[{"traceId":"01000000000000000000000000000000","spanId":"0200000000000000",` +
		`"name":"` + bad + `","status":{"message":"` + bad + `"},"attributes":[` +
		`{"key":"` + bad + `","value":{"stringValue":"key was broken"}},{"key":"plain","value":{"stringValue":"fine"}},` +
		`{"key":"nested","value":{"kvlistValue":{"values":[{"key":"list","value":{"arrayValue":{"values":[{"stringValue":"` + bad + `"}]}}}]}}}],` +
		`"events":[{"name":"` + bad + `"}]}]}]}]}`)

	for _, tc := range []struct {
		name, contentType string
		body              []byte
	}{
		{"protobuf", contentTypeProto, tracesProto(t, td)},
		{"JSON", contentTypeJSON, jsonBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMemConsumer()
			r, srv := startHTTP(t, c, Options{})
			resp, body := post(t, srv.URL+PathTraces, tc.contentType, "", bytes.NewReader(tc.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, body %q", resp.StatusCode, body)
			}
			if diff := cmp.Diff(wantSpan, c.spans()); diff != "" {
				t.Errorf("consumed span (-want +got):\n%s", diff)
			}
			if got := r.Stats().RepairedStrings; got != 7 {
				t.Errorf("RepairedStrings = %d, want 7", got)
			}
		})
	}
}

// TestHTTPLogsProtobuf sends logs in protobuf, gzip-compressed.
func TestHTTPLogsProtobuf(t *testing.T) {
	c := newMemConsumer()
	r, srv := startHTTP(t, c, Options{})
	ld := sampleLogs(3)
	resp, body := post(t, srv.URL+PathLogs, contentTypeProto, "gzip", bytes.NewReader(gzipBytes(t, logsProto(t, ld))))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, body %q", resp.StatusCode, body)
	}
	if diff := cmp.Diff(flattenLogs(ld), c.logRecords()); diff != "" {
		t.Errorf("consumed logs (-want +got):\n%s", diff)
	}
	if got := r.Stats().AcceptedLogRecords; got != 3 {
		t.Errorf("AcceptedLogRecords = %d, want 3", got)
	}
}

// TestHTTPJSONGolden posts the OTLP/JSON bodies in testdata/otlpjson (hex
// ids in either case, int64s as strings and numbers, int enums, unknown
// fields) and compares what the consumer received with the golden files.
func TestHTTPJSONGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "otlpjson", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no OTLP/JSON fixtures: %v", err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.json") {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c := newMemConsumer()
			_, srv := startHTTP(t, c, Options{})
			path := PathTraces
			if strings.HasPrefix(name, "logs") {
				path = PathLogs
			}
			resp, body := post(t, srv.URL+path, contentTypeJSON, "", bytes.NewReader(in))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, body %q", resp.StatusCode, body)
			}
			var got any = c.spans()
			if path == PathLogs {
				got = c.logRecords()
			}
			out, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')
			golden := strings.TrimSuffix(file, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(out)); diff != "" {
				t.Errorf("decoded %s differs from %s (-want +got):\n%s", file, golden, diff)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	c := newMemConsumer()
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"defaults", Options{Consumer: c}, ""},
		{"no consumer", Options{}, "Consumer is required"},
		{"negative body limit", Options{Consumer: c, MaxBodyBytes: -1}, "MaxBodyBytes must not be negative"},
		{"negative retry", Options{Consumer: c, RetryAfter: -time.Second}, "RetryAfter must not be negative"},
		{"negative body timeout", Options{Consumer: c, BodyTimeout: -time.Second}, "must not be negative"},
		{"negative body memory", Options{Consumer: c, BodyMemoryBytes: -1}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.opts, nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if r.maxBody != DefaultMaxBodyBytes || r.retryAfter != DefaultRetryAfter ||
					r.bodyTimeout != DefaultBodyTimeout || r.budget.limit != DefaultBodyMemoryBytes {
					t.Errorf("defaults = %d, %s, %s, %d", r.maxBody, r.retryAfter, r.bodyTimeout, r.budget.limit)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {30 * time.Second, 30},
	} {
		if got := retryAfterSeconds(tc.d); got != tc.want {
			t.Errorf("retryAfterSeconds(%s) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// post sends a POST and returns the response with its body read.
func post(t *testing.T, url, contentType, encoding string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp, got
}

// decodeStatus decodes a google.rpc.Status error body in the response's
// content type.
func decodeStatus(t *testing.T, resp *http.Response, body []byte) *spb.Status {
	t.Helper()
	var st spb.Status
	switch ct := resp.Header.Get("Content-Type"); ct {
	case contentTypeProto:
		if err := proto.Unmarshal(body, &st); err != nil {
			t.Fatalf("decode protobuf Status %q: %v", body, err)
		}
	case contentTypeJSON:
		if err := protojson.Unmarshal(body, &st); err != nil {
			t.Fatalf("decode JSON Status %q: %v", body, err)
		}
	default:
		t.Fatalf("error response Content-Type = %q, want an OTLP content type", ct)
	}
	return &st
}

// sampleTraces builds n spans in one trace, each with a string attribute
// of attrBytes bytes.
func sampleTraces(n, attrBytes int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "sample")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("sample")
	text := strings.Repeat("x", attrBytes)
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{0xab, 1})
		sp.SetSpanID(pcommon.SpanID{0xcd, byte(i >> 8), byte(i)})
		sp.SetName(fmt.Sprintf("span-%d", i))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(sdkStart))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(sdkStart.Add(time.Second)))
		sp.Attributes().PutStr("text", text)
	}
	return td
}

func sampleLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "sample")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("sample")
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(sdkStart.Add(time.Duration(i) * time.Millisecond)))
		lr.SetTraceID(pcommon.TraceID{0xab, 1})
		lr.SetSpanID(pcommon.SpanID{0xcd, byte(i)})
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetEventName("gen_ai.user.message")
		lr.Body().SetEmptyMap().PutStr("content", fmt.Sprintf("question %d", i))
		lr.Attributes().PutStr("gen_ai.system", "openai")
	}
	return ld
}

func tracesProto(t testing.TB, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tracesJSON(t testing.TB, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logsProto(t testing.TB, ld plog.Logs) []byte {
	t.Helper()
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logsJSON(t testing.TB, ld plog.Logs) []byte {
	t.Helper()
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func truncated(b []byte) []byte { return b[:len(b)*2/3] }

// badTraceIDProto is an ExportTraceServiceRequest whose one span has a
// 3-byte trace id, written field by field.
func badTraceIDProto() []byte {
	span := []byte{0x0a, 3, 1, 2, 3}                                            // Span.trace_id (1), 3 bytes
	scopeSpans := append([]byte{0x12, byte(len(span))}, span...)                // ScopeSpans.spans (2)
	resourceSpans := append([]byte{0x12, byte(len(scopeSpans))}, scopeSpans...) // ResourceSpans.scope_spans (2)
	return append([]byte{0x0a, byte(len(resourceSpans))}, resourceSpans...)     // request.resource_spans (1)
}

// TestHTTPOtherServersPaths: the exporters of other LLM observability SDKs,
// given flowwatch's base URL, post under their own prefixes with their own
// credentials; flowwatch takes both signals there and ignores the
// credentials, and answers the other methods and unknown signals as it
// does on /v1.
func TestHTTPOtherServersPaths(t *testing.T) {
	for _, prefix := range []string{"", "/api/public/otel", "/api/v1/private/otel"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			c := newMemConsumer()
			_, srv := startHTTP(t, c, Options{})
			for _, tc := range []struct {
				path, contentType string
				body              []byte
			}{
				{PathTraces, contentTypeProto, tracesProto(t, sampleTraces(1, 3))},
				{PathTraces, contentTypeJSON, tracesJSON(t, sampleTraces(1, 3))},
				{PathLogs, contentTypeProto, logsProto(t, sampleLogs(1))},
			} {
				req, err := http.NewRequest(http.MethodPost, srv.URL+prefix+tc.path, bytes.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", tc.contentType)
				req.Header.Set("Authorization", "Basic cGstbGYtdGVzdDpzay1sZi10ZXN0") // pk-lf-test:sk-lf-test
				req.Header.Set("x-langfuse-sdk-name", "javascript")
				req.Header.Set("Comet-Workspace", "default")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("POST %s%s (%s): %d %s, want 200", prefix, tc.path, tc.contentType, resp.StatusCode, body)
				}
			}
			if c.calls != 3 || len(c.traces) != 2 || len(c.logs) != 1 {
				t.Errorf("consumer got %d calls, %d trace and %d log batches; want 3, 2, 1", c.calls, len(c.traces), len(c.logs))
			}
			resp, err := http.Get(srv.URL + prefix + PathTraces)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
				t.Errorf("GET %s%s: %d Allow %q, want 405 Allow POST", prefix, PathTraces, resp.StatusCode, resp.Header.Get("Allow"))
			}
			resp, _ = post(t, srv.URL+prefix+"/v1/metrics", contentTypeProto, "", bytes.NewReader(nil))
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s/v1/metrics: %d, want 404", prefix, resp.StatusCode)
			}
		})
	}
}
