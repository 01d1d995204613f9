package payload

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current encoder")

// goldenCase is one stored payload pinned in testdata/golden: the bytes the
// encoder wrote when the format was fixed, so that a change to the encoder
// that would leave existing databases unreadable (or written differently)
// fails here. Every map holds at most one key, because attribute maps are
// written in map order and a golden file needs one order.
type goldenCase struct {
	name  string
	span  *model.Span
	log   *model.LogRecord
	trace *model.Trace
}

func goldenCases() []goldenCase {
	score := 0.5
	long := strings.Repeat("the model answered from the retrieved context, citing it twice. ", 20)
	return []goldenCase{
		{name: "span_empty", span: &model.Span{}},
		{name: "span_values", span: &model.Span{
			OTelKind: "client", StatusMessage: "rate \"limited\"\n", TraceState: "vendor=x", Flags: 257,
			Attributes: map[string]any{"v": []any{
				"text ✓ 日本語", "bad \xff utf8", true, false, int64(-1 << 62), uint64(1 << 63), 2.5, 3.0, -0.0, 1e300,
				math.NaN(), math.Inf(1), math.Inf(-1), []byte{0, 1, 0xff}, []byte{}, nil, []any{},
				map[string]any{"$tag": "wrapped"}, map[string]any{}, map[string]any{"k": map[string]any{"deep": int64(7)}},
				"\x00\x1f\u2028<html>&",
			}},
			ResourceAttributes: map[string]any{"service.name": "svc"},
			Scope:              model.Scope{Name: "scope", Version: "1.0", Attributes: map[string]any{"s": true}},
			Events: []model.Event{
				{Time: time.Unix(1700000000, 123456789).UTC(), Name: "exception", Attributes: map[string]any{"exception.message": "boom"}},
				{},
			},
			Links: []model.Link{
				{TraceID: "0102030405060708090a0b0c0d0e0f10", SpanID: "0102030405060708", TraceState: "a=b", Attributes: map[string]any{"n": int64(3)}},
				{},
			},
			DroppedAttributes: 1, DroppedEvents: 2, DroppedLinks: 3,
		}},
		{name: "span_large", span: &model.Span{OTelKind: "internal",
			Attributes: map[string]any{"output": long}, ResourceAttributes: map[string]any{"service.name": "rag"}}},
		{name: "log_empty", log: &model.LogRecord{}},
		{name: "log_values", log: &model.LogRecord{
			EventName: "gen_ai.choice", SeverityText: "INFO",
			Body:               map[string]any{"content": "hi"},
			Attributes:         map[string]any{"index": int64(0)},
			ResourceAttributes: map[string]any{"service.name": "svc"},
			Scope:              model.Scope{Name: "opentelemetry.instrumentation.openai"},
		}},
		{name: "log_bytes_body", log: &model.LogRecord{Body: []byte("raw")}},
		{name: "log_large", log: &model.LogRecord{Body: long}},
		{name: "trace_empty", trace: &model.Trace{}},
		{name: "trace_values", trace: &model.Trace{
			TraceID: "0102030405060708090a0b0c0d0e0f10", Service: "svc", Deployment: "blue", Name: "flow",
			RootSpanID: "0102030405060708", StartTime: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
			Duration: 1500 * time.Millisecond, Status: model.StatusError, ErrorType: "RateLimitError", ErrorMessage: "429",
			Model: "gpt-4o", Models: []string{"gpt-4o", "text-embedding-3"},
			Usage:    model.Usage{Known: true, InputTokens: 812, OutputTokens: 245, TotalTokens: 1057, CacheReadTokens: 1, CacheWriteTokens: 2, ReasoningTokens: 3, CostUSD: 0.0123, CostKnown: true},
			Question: "why?", Answer: "because", Input: `{"question":"why?"}`, Output: `{"answer":"because"}`,
			Context:   []model.Document{{ID: "d1", Content: "doc", Source: "kb", Score: &score, Metadata: map[string]any{"page": json.Number("3")}}, {Content: ""}},
			SessionID: "s", UserID: "u", SpanCount: 3, LLMCallCount: 1, ErrorCount: 1,
		}},
		{name: "trace_large", trace: &model.Trace{TraceID: "t", Answer: long, StartTime: time.Unix(0, 1).UTC()}},
	}
}

// TestGolden checks that the encoder writes, byte for byte, the payloads
// and sealed blobs in testdata/golden (written by the SQLite backend's
// encoder before it moved here), and that those decode to the values they
// were written from.
func TestGolden(t *testing.T) {
	codecs := map[string]*Codec{}
	for _, comp := range []string{"s2", "zstd"} {
		c, err := NewCodec(comp, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		codecs[comp] = c
	}
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			var p []byte
			var err error
			switch {
			case gc.span != nil:
				p, err = AppendSpan(nil, gc.span)
			case gc.log != nil:
				p, err = AppendLog(nil, gc.log)
			default:
				p, err = AppendTrace(nil, gc.trace)
			}
			if err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{".json": p}
			for comp, c := range codecs {
				files["."+comp] = c.Seal(p)
			}
			for ext, got := range files {
				path := filepath.Join("testdata", "golden", gc.name+ext)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				// What is stored reads back, whatever this encoder writes.
				opened := want
				if ext != ".json" {
					if opened, err = codecs["s2"].Open(want); err != nil {
						t.Fatalf("%s: open: %v", path, err)
					}
					if !bytes.Equal(opened, files[".json"]) {
						t.Errorf("%s opens to\n%s\nwant the payload\n%s", path, opened, files[".json"])
					}
				}
				if !bytes.Equal(got, want) {
					hint := ""
					if ext != ".json" {
						hint = " (if only klauspost/compress changed, and the old blob still opens, run -update)"
					}
					t.Errorf("%s: encoder wrote\n%q\nwant\n%q%s", path, got, want, hint)
				}
				checkDecodes(t, path, opened, gc)
			}
		})
	}
}

// checkDecodes decodes payload as gc's kind and compares it with gc.
func checkDecodes(t *testing.T, path string, payload []byte, gc goldenCase) {
	t.Helper()
	opts := cmp.Options{cmp.Comparer(func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
	})}
	var diff string
	switch {
	case gc.span != nil:
		var got model.Span
		if err := DecodeSpan(payload, &got); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		want := *gc.span
		// Invalid UTF-8 is kept through the $u tag; uint64 comes back as
		// float64 (OTLP has no unsigned integers).
		if v, ok := want.Attributes["v"].([]any); ok {
			w := append([]any(nil), v...)
			for i, e := range w {
				if u, ok := e.(uint64); ok {
					w[i] = float64(u)
				}
			}
			want.Attributes = map[string]any{"v": w}
		}
		diff = cmp.Diff(want, got, opts)
	case gc.log != nil:
		var got model.LogRecord
		if err := DecodeLog(payload, &got); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		diff = cmp.Diff(*gc.log, got, opts)
	default:
		var got model.Trace
		if err := DecodeTrace(payload, &got); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		diff = cmp.Diff(*gc.trace, got, opts)
	}
	if diff != "" {
		t.Errorf("%s decodes to (-want +got):\n%s", path, diff)
	}
}

// TestLogSeqGolden pins the identity of a log record: stored databases hold
// it in a key column, and a record sent again must get the same one.
func TestLogSeqGolden(t *testing.T) {
	p, err := os.ReadFile(filepath.Join("testdata", "golden", "log_values.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		timeNS  int64
		payload []byte
		want    int64
	}{
		{1700000000123456789, p, 6004964224069662645},
		{0, nil, 2938590176187398597},
	} {
		if got := LogSeq(tc.timeNS, tc.payload); got != tc.want {
			t.Errorf("LogSeq(%d, %d bytes) = %d, want %d", tc.timeNS, len(tc.payload), got, tc.want)
		}
	}
}
