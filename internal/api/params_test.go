package api

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

func TestParseTraceQuery(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		raw  string
		want store.TraceQuery
	}{
		{"", store.TraceQuery{Limit: 50}},
		{"service=a%20b&deployment=prod&model=gpt-4o&q=refund+policy&status=error&limit=1000&cursor=abc",
			store.TraceQuery{Service: "a b", Deployment: "prod", Model: "gpt-4o", Text: "refund policy", Status: model.StatusError, Limit: 1000, Cursor: "abc"}},
		{"status=ok&limit=1", store.TraceQuery{Status: model.StatusOK, Limit: 1}},
		{"service=&status=&limit=&since=", store.TraceQuery{Limit: 50}},
		{"min_duration_ms=0", store.TraceQuery{Limit: 50}},
		{"min_duration_ms=1.5", store.TraceQuery{MinDuration: 1500 * time.Microsecond, Limit: 50}},
		{"min_duration_ms=.5", store.TraceQuery{MinDuration: 500 * time.Microsecond, Limit: 50}},
		{"min_duration_ms=250", store.TraceQuery{MinDuration: 250 * time.Millisecond, Limit: 50}},
		{"since=1h", store.TraceQuery{Since: now.Add(-time.Hour), Limit: 50}},
		{"since=90s", store.TraceQuery{Since: now.Add(-90 * time.Second), Limit: 50}},
		{"since=1h30m", store.TraceQuery{Since: now.Add(-90 * time.Minute), Limit: 50}},
		{"since=1.5h", store.TraceQuery{Since: now.Add(-90 * time.Minute), Limit: 50}},
		{"since=7d", store.TraceQuery{Since: now.Add(-7 * 24 * time.Hour), Limit: 50}},
		{"since=2w", store.TraceQuery{Since: now.Add(-14 * 24 * time.Hour), Limit: 50}},
		{"since=500ms", store.TraceQuery{Since: now.Add(-500 * time.Millisecond), Limit: 50}},
		{"since=2025-05-01", store.TraceQuery{Since: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), Limit: 50}},
		{"since=2025-05-01T10:00:00.123456789%2B02:00", store.TraceQuery{Since: time.Date(2025, 5, 1, 8, 0, 0, 123456789, time.UTC), Limit: 50}},
		// An unencoded '+' arrives as a space.
		{"since=2025-05-01T10:00:00+02:00", store.TraceQuery{Since: time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC), Limit: 50}},
		{"since=2d&until=1d", store.TraceQuery{Since: now.Add(-48 * time.Hour), Until: now.Add(-24 * time.Hour), Limit: 50}},
		{"until=2025-06-01T00:00:00Z", store.TraceQuery{Until: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Limit: 50}},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := parseTraceQuery(tc.raw, now)
			if err != nil {
				t.Fatalf("parseTraceQuery(%q): %v", tc.raw, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			for _, tm := range []time.Time{got.Since, got.Until} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("time %v not in UTC", tm)
				}
			}
		})
	}
}

func TestParseRelative(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1h", time.Hour, true},
		{"30m", 30 * time.Minute, true},
		{"1d12h", 36 * time.Hour, true},
		{"1w1d", 8 * 24 * time.Hour, true},
		{"100ms", 100 * time.Millisecond, true},
		{"5200w", 5200 * 7 * 24 * time.Hour, true},
		{"", 0, false},
		{"h", 0, false},
		{"1", 0, false},
		{"1x", 0, false},
		{"1H", 0, false},
		{"1us", 0, false},
		{"0h", 0, false},
		{"-1h", 0, false},
		{"1h-1m", 0, false},
		{"1..5h", 0, false},
		{"1 h", 0, false},
		{"5300w", 0, false},
		{"99999999999999999999999999h", 0, false},
	}
	for _, tc := range cases {
		got, ok := parseRelative(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRelative(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestJSONValue(t *testing.T) {
	deep := any("bottom")
	for range maxValueDepth + 5 {
		deep = []any{deep}
	}
	in := map[string]any{
		"s":     "text",
		"i":     int64(-3),
		"u":     uint32(7),
		"f":     1.5,
		"f32":   float32(0.5),
		"nan":   math.NaN(),
		"inf":   math.Inf(1),
		"ninf":  math.Inf(-1),
		"b":     true,
		"bytes": []byte("hi"),
		"nilb":  []byte(nil),
		"num":   json.Number("-1.5e+10"),
		"badn":  json.Number("12 "),
		"hexn":  json.Number("0x10"),
		"arr":   []any{int64(1), "two", nil},
		"map":   map[string]any{"k": []byte{0}},
		"nil":   nil,
		"other": time.Duration(1500) * time.Millisecond,
		"deep":  deep,
	}
	body, err := json.Marshal(jsonMap(in, 0))
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	// Walk down the deep value to its end.
	d := got["deep"]
	depth := 0
	for {
		arr, ok := d.([]any)
		if !ok {
			break
		}
		d = arr[0]
		depth++
	}
	if d != "[nested too deep]" || depth > maxValueDepth+1 {
		t.Errorf("deep value ends in %v after %d levels", d, depth)
	}
	delete(got, "deep")
	want := map[string]any{
		"s": "text", "i": float64(-3), "u": float64(7), "f": 1.5, "f32": 0.5,
		"nan": "NaN", "inf": "+Inf", "ninf": "-Inf", "b": true,
		"bytes": "aGk=", "nilb": "", "num": -1.5e10, "badn": "12 ", "hexn": "0x10",
		"arr": []any{float64(1), "two", nil}, "map": map[string]any{"k": "AA=="},
		"nil": nil, "other": "1.5s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("converted values (-want +got):\n%s", diff)
	}
}

func TestIsJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "12": true, "1.5": true, "1e3": true, "1E+3": true, "-2.5e-3": true,
		"12345678901234567890": true,
		"":                     false, "-": false, "01": false, "1.": false, ".5": false, "1e": false, "+1": false,
		"12 ": false, " 1": false, "NaN": false, "0x10": false, "1_000": false,
	} {
		if got := isJSONNumber(s); got != want {
			t.Errorf("isJSONNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzTraceListParams feeds arbitrary query strings to GET /api/v1/traces:
// the answer is always 200 with a trace list or 400 with an error message,
// never a panic or another status.
func FuzzTraceListParams(f *testing.F) {
	for _, seed := range []string{
		"", "limit=10", "limit=abc", "since=1h&until=30m", "since=2025-06-01T00:00:00Z",
		"status=error&service=rag-app&deployment=prod", "q=refund", "min_duration_ms=2.5",
		"cursor=b2Zmc2V0OjE", "cursor=bogus", "servce=x", "a=1&a=2", "q=%ff", "%zz", ";", "since=1d12h",
		"since=99999999999999999999h", "min_duration_ms=.", "until=2025-02-30",
	} {
		f.Add(seed)
	}
	mux := http.NewServeMux()
	New(Options{Traces: apitest.NewReader(apitest.Fixture()), Now: apitest.Now}, nil).RegisterHTTP(mux)
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/traces", nil)
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var list TraceList
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || list.Traces == nil {
				t.Fatalf("200 with body %q (%v)", rec.Body, err)
			}
		case http.StatusBadRequest:
			var e ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("400 with body %q (%v)", rec.Body, err)
			}
			if !strings.Contains(e.Error, "query") && !strings.HasPrefix(e.Error, "invalid \"") {
				t.Fatalf("400 message %q names no parameter", e.Error)
			}
		default:
			t.Fatalf("query %q: status %d: %s", raw, rec.Code, rec.Body)
		}
	})
}
