package ingest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The fuzz targets feed arbitrary bodies to the HTTP body decoders. Beyond
// "never panics" they check that an error names the decoder, that the
// UTF-8 repair leaves nothing to repair, and that an accepted body
// re-encodes and decodes again to as many items.

func addJSONSeeds(f *testing.F, prefix string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "otlpjson", prefix+"*.json"))
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.json") {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"k"}]}}}]}]}]}`))
	f.Add([]byte("{\"a\":\"\xff\\\"[[[\"}"))
}

func FuzzDecodeTracesProto(f *testing.F) {
	f.Add(tracesProto(f, sampleTraces(3, 20)))
	f.Add(badTraceIDProto())
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x7f, 0x01})
	f.Fuzz(func(t *testing.T, body []byte) { fuzzTraces(t, encProto, body) })
}

func FuzzDecodeTracesJSON(f *testing.F) {
	f.Add(tracesJSON(f, sampleTraces(3, 20)))
	addJSONSeeds(f, "traces")
	f.Fuzz(func(t *testing.T, body []byte) { fuzzTraces(t, encJSON, body) })
}

func FuzzDecodeLogsProto(f *testing.F) {
	f.Add(logsProto(f, sampleLogs(3)))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) { fuzzLogs(t, encProto, body) })
}

func FuzzDecodeLogsJSON(f *testing.F) {
	f.Add(logsJSON(f, sampleLogs(3)))
	addJSONSeeds(f, "logs")
	f.Fuzz(func(t *testing.T, body []byte) { fuzzLogs(t, encJSON, body) })
}

func fuzzTraces(t *testing.T, enc encoding, body []byte) {
	td, err := decodeTraces(enc, body)
	if err != nil {
		if want := "decode " + enc.String() + " traces: "; !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("error %q does not start with %q", err, want)
		}
		return
	}
	repairTraces(td)
	if n := repairTraces(td); n != 0 {
		t.Fatalf("a second repair changed %d strings", n)
	}
	req := ptraceotlp.NewExportRequestFromTraces(td)
	var again []byte
	if enc == encJSON {
		again, err = req.MarshalJSON()
	} else {
		again, err = req.MarshalProto()
	}
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	td2, err := decodeTraces(enc, again)
	if err != nil {
		t.Fatalf("decode the re-encoded body: %v", err)
	}
	if td2.SpanCount() != td.SpanCount() {
		t.Fatalf("span count %d after a round trip, want %d", td2.SpanCount(), td.SpanCount())
	}
	if _, err := encodeTracesResponse(enc, Result{Rejected: 1, Message: string(body[:min(len(body), 32)])}); err != nil {
		t.Fatalf("encode response: %v", err)
	}
}

func fuzzLogs(t *testing.T, enc encoding, body []byte) {
	ld, err := decodeLogs(enc, body)
	if err != nil {
		if want := "decode " + enc.String() + " logs: "; !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("error %q does not start with %q", err, want)
		}
		return
	}
	repairLogs(ld)
	if n := repairLogs(ld); n != 0 {
		t.Fatalf("a second repair changed %d strings", n)
	}
	req := plogotlp.NewExportRequestFromLogs(ld)
	var again []byte
	if enc == encJSON {
		again, err = req.MarshalJSON()
	} else {
		again, err = req.MarshalProto()
	}
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	ld2, err := decodeLogs(enc, again)
	if err != nil {
		t.Fatalf("decode the re-encoded body: %v", err)
	}
	if ld2.LogRecordCount() != ld.LogRecordCount() {
		t.Fatalf("log record count %d after a round trip, want %d", ld2.LogRecordCount(), ld.LogRecordCount())
	}
	if _, err := encodeLogsResponse(enc, Result{Rejected: 1, Message: string(body[:min(len(body), 32)])}); err != nil {
		t.Fatalf("encode response: %v", err)
	}
}

// FuzzHTTPTraces drives the whole HTTP handler (content type, optional
// gzip, limit, decode, consume, respond) with arbitrary bodies.
func FuzzHTTPTraces(f *testing.F) {
	f.Add(tracesProto(f, sampleTraces(2, 10)), false, false)
	f.Add(tracesJSON(f, sampleTraces(2, 10)), true, false)
	f.Add(gzipBytes(f, tracesJSON(f, sampleTraces(2, 10))), true, true)
	f.Add([]byte("\x1f\x8b\x08\x00garbage"), false, true)
	r, err := New(Options{Consumer: newMemConsumer(), MaxBodyBytes: 64 << 10}, nil)
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	r.RegisterHTTP(mux)
	f.Fuzz(func(t *testing.T, body []byte, isJSON, gzipped bool) {
		req := httptest.NewRequest(http.MethodPost, PathTraces, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentTypeProto)
		if isJSON {
			req.Header.Set("Content-Type", contentTypeJSON)
		}
		if gzipped {
			req.Header.Set("Content-Encoding", "gzip")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for a POST with an OTLP content type: %q", w.Code, w.Body.String())
		}
	})
}
