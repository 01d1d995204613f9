package ingest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestEncodingOf(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		want        encoding
		ok          bool
	}{
		{"application/x-protobuf", encProto, true},
		{"application/json", encJSON, true},
		{"application/json; charset=utf-8", encJSON, true},
		{"Application/JSON", encJSON, true},
		{"application/x-protobuf; proto=opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest", encProto, true},
		{"application/protobuf", 0, false},
		{"text/plain", 0, false},
		{"", 0, false},
		{"application/json; charset", 0, false},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			got, ok := encodingOf(tc.contentType)
			if ok != tc.ok || got != tc.want {
				t.Errorf("encodingOf(%q) = %v, %v; want %v, %v", tc.contentType, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCheckJSONDepth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		limit   int
		wantErr string
	}{
		{"flat", `{"a":1}`, 1, ""},
		{"at the limit", `{"a":[{}]}`, 3, ""},
		{"over the limit", `{"a":[{}]}`, 2, "JSON nested deeper than 2 levels at byte offset 6"},
		{"brackets inside strings", `{"a":"[[[[{{{{"}`, 1, ""},
		{"escaped quote inside a string", `{"a":"\"[[[["}`, 1, ""},
		{"escaped backslash before the closing quote", `{"a":"\\"}`, 1, ""},
		{"escaped backslash then brackets", `{"a":"\\",[[]]}`, 2, "deeper than 2 levels"},
		{"unterminated string", `{"a":"[[[`, 1, ""},
		{"trailing backslash", `{"a":"\`, 1, ""},
		{"closing brackets only", `]]]]}}}`, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkJSONDepth([]byte(tc.in), tc.limit)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestReadAtMost(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10_000) // 100,000 bytes
	for _, tc := range []struct {
		name    string
		src     io.Reader
		limit   int64
		hint    int64
		budget  int64 // 0: no budget
		wantLen int
		wantErr error
	}{
		{"exact hint", bytes.NewReader(data), 1 << 20, int64(len(data)), 0, len(data), nil},
		{"no hint", bytes.NewReader(data), 1 << 20, 0, 0, len(data), nil},
		{"wrong hint", bytes.NewReader(data), 1 << 20, 10, 0, len(data), nil},
		{"one byte reads", iotest.OneByteReader(bytes.NewReader(data[:5000])), 1 << 20, 0, 0, 5000, nil},
		{"exactly the limit", bytes.NewReader(data), int64(len(data)), 0, 0, len(data), nil},
		{"one over the limit", bytes.NewReader(data), int64(len(data)) - 1, 0, 0, 0, errTooLarge},
		{"hint over the limit", bytes.NewReader(data), 1000, int64(len(data)), 0, 0, errTooLarge},
		{"empty", bytes.NewReader(nil), 1000, 0, 0, 0, nil},
		{"read error", iotest.ErrReader(io.ErrUnexpectedEOF), 1000, 0, 0, 0, io.ErrUnexpectedEOF},
		{"timeout", iotest.ErrReader(os.ErrDeadlineExceeded), 1000, 0, 0, 0, errBodyTimeout},
		{"within the budget", bytes.NewReader(data), 1 << 20, int64(len(data)), int64(len(data)) + 1, len(data), nil},
		{"budget spent at the first chunk", bytes.NewReader(data), 1 << 20, int64(len(data)), 1000, 0, errBudget},
		{"budget spent growing", bytes.NewReader(data), 1 << 20, int64(len(data)), firstChunk + 10, 0, errBudget},
		{"large announced size, little sent", bytes.NewReader(data[:100]), 1 << 20, 1 << 20, firstChunk, 100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res *reservation
			b := &bodyBudget{limit: tc.budget}
			if tc.budget > 0 {
				res = &reservation{budget: b}
			}
			got, err := readAtMost(tc.src, tc.limit, tc.hint, res)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if len(got) != tc.wantLen || (err == nil && !bytes.Equal(got, data[:len(got)])) {
				t.Errorf("read %d bytes, want %d of the input", len(got), tc.wantLen)
			}
			if int64(cap(got)) > tc.limit+1 {
				t.Errorf("buffer capacity %d exceeds limit+1 = %d", cap(got), tc.limit+1)
			}
			if res != nil {
				if err == nil && res.held != int64(cap(got)) {
					t.Errorf("reserved %d bytes for a buffer of %d", res.held, cap(got))
				}
				if b.Used() > tc.budget {
					t.Errorf("budget used %d, over its limit %d", b.Used(), tc.budget)
				}
				res.release()
				if b.Used() != 0 {
					t.Errorf("after release the budget still holds %d bytes", b.Used())
				}
			}
		})
	}
}

func TestRepairLogs(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("https://example.com/\xc0")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetVersion("1.\xff")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetSeverityText("INF\xffO")
	lr.SetEventName("ok")
	body := lr.Body().SetEmptySlice()
	body.AppendEmpty().SetStr("fine")
	body.AppendEmpty().SetEmptyMap().PutStr("k\xfe", "v\xfe")
	body.AppendEmpty().SetEmptyBytes().FromRaw([]byte{0xff}) // bytes are not text: untouched
	lr.Attributes().PutStr("dup\xff", "first")
	lr.Attributes().PutStr("dup\uFFFD", "second")

	if n := repairLogs(ld); n != 6 {
		t.Errorf("repaired %d strings, want 6", n)
	}
	got := flattenLogs(ld)[0]
	want := flatLog{
		Resource: map[string]any{}, Severity: "Unspecified", SevText: "INF\uFFFDO", EventName: "ok",
		Body:       []any{"fine", map[string]any{"k\uFFFD": "v\uFFFD"}, []byte{0xff}},
		Attributes: map[string]any{"dup\uFFFD": "second"}, // repaired keys that collide: the later one wins
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("repaired log (-want +got):\n%s", diff)
	}
	if rl.SchemaUrl() != "https://example.com/\uFFFD" || sl.Scope().Version() != "1.\uFFFD" {
		t.Errorf("schema url %q, scope version %q not repaired", rl.SchemaUrl(), sl.Scope().Version())
	}
	if n := repairLogs(ld); n != 0 {
		t.Errorf("second repair changed %d strings", n)
	}
}

// TestRepairTracesDeepValue checks that the walk is bounded: a value nested
// beyond maxRepairDepth is left alone instead of recursing without end.
func TestRepairTracesDeepValue(t *testing.T) {
	td := sampleTraces(1, 1)
	m := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	cur := m
	for range maxRepairDepth + 10 {
		cur = cur.PutEmptyMap("n")
	}
	cur.PutStr("deep", "\xff")
	m.PutStr("shallow", "\xff")
	if n := repairTraces(td); n != 1 {
		t.Errorf("repaired %d strings, want 1 (only the shallow one)", n)
	}
	if v, _ := m.Get("shallow"); v.Str() != "\uFFFD" {
		t.Errorf("shallow = %q", v.Str())
	}
}
