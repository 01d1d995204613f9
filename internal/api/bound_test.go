package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// detailReader answers every GetTrace with one fixed trace.
type detailReader struct {
	failingReader
	d model.TraceDetail
}

func (r detailReader) GetTrace(context.Context, string) (model.TraceDetail, error) { return r.d, nil }

// ListTraces answers with as many copies of the trace's summary as asked.
func (r detailReader) ListTraces(_ context.Context, q store.TraceQuery) (store.TracePage, error) {
	p := store.TracePage{}
	for range q.Limit {
		p.Traces = append(p.Traces, r.d.Trace)
	}
	return p, nil
}

const bigTraceID = "0af7651916cd43dd8448eb211c80319c"

// bigTrace is a trace of n spans, each carrying attrs attributes of
// valueBytes bytes (one string shared by all, as the store's decoder would
// not share it: the answer's cost is in the copies the answer makes), a
// question as large, and one log record with a body as large.
func bigTrace(n, attrs, valueBytes int) model.TraceDetail {
	big := strings.Repeat("x", valueBytes)
	start := time.Date(2025, 5, 31, 10, 0, 0, 0, time.UTC)
	d := model.TraceDetail{Trace: model.Trace{TraceID: bigTraceID, Service: "svc", Name: "root", StartTime: start,
		SpanCount: n, Question: big}}
	for i := range n {
		a := make(map[string]any, attrs)
		for j := range attrs {
			a[fmt.Sprintf("attr.%d", j)] = big
		}
		d.Spans = append(d.Spans, model.Span{
			TraceID: bigTraceID, SpanID: fmt.Sprintf("%016x", i+1), Name: "step",
			StartTime: start, EndTime: start.Add(time.Second), Attributes: a,
			Derived: model.Derived{Service: "svc", Question: big},
		})
	}
	d.Logs = []model.LogRecord{{TraceID: bigTraceID, SpanID: fmt.Sprintf("%016x", 1), Time: start, Body: big}}
	return d
}

// TestTraceDetailBounded: whatever a stored trace holds, the answer of GET
// /api/v1/traces/{id} stays under maxTraceAnswerBytes plus the root
// fields, strings are cut with the marker and flagged, and spans beyond
// the bound are left out with spans_truncated.
func TestTraceDetailBounded(t *testing.T) {
	const bound = maxTraceAnswerBytes + 1<<20
	for _, tc := range []struct {
		name               string
		spans, attrs, size int
		wantSpansCut       bool
	}{
		{"26 spans with a 15 MB attribute (issue 12)", 26, 1, 15 << 20, false},
		{"spans of many large attributes", 200, 64, maxAnswerValueBytes, true},
		{"more spans than an answer holds", maxTraceSpans + 500, 1, 10, true},
		{"small trace, nothing cut", 3, 2, 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, Options{Traces: detailReader{failingReader{errors.New("unused")}, bigTrace(tc.spans, tc.attrs, tc.size)}}, nil)
			res := do(t, http.MethodGet, srv.URL+"/api/v1/traces/"+bigTraceID)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body[:min(len(res.body), 200)])
			}
			if len(res.body) > bound {
				t.Errorf("answer of %d bytes, over the bound of %d", len(res.body), bound)
			}
			var d TraceDetail
			if err := json.Unmarshal(res.body, &d); err != nil {
				t.Fatal(err)
			}
			if d.SpansTruncated != tc.wantSpansCut {
				t.Errorf("spans_truncated = %v, want %v (%d of %d spans)", d.SpansTruncated, tc.wantSpansCut, len(d.Spans), tc.spans)
			}
			if d.SpanCount != tc.spans {
				t.Errorf("span_count = %d, want %d (all of them)", d.SpanCount, tc.spans)
			}
			if !tc.wantSpansCut && len(d.Spans) != tc.spans {
				t.Errorf("%d spans in the answer, want all %d", len(d.Spans), tc.spans)
			}
			wantCut := tc.size > maxAnswerValueBytes
			for _, s := range d.Spans[:1] {
				v, _ := s.Attributes["attr.0"].(string)
				if s.Truncated != wantCut || strings.Contains(v, "…[truncated ") != wantCut || len(v) > maxAnswerValueBytes {
					t.Errorf("span truncated = %v, attribute of %d bytes with marker %v; want the cut %v",
						s.Truncated, len(v), strings.Contains(v, "…[truncated "), wantCut)
				}
				if len(s.Question) > maxAnswerValueBytes {
					t.Errorf("question of %d bytes", len(s.Question))
				}
			}
			if len(d.Question) > maxAnswerValueBytes || len(d.Logs) > 0 && d.Logs[0].Truncated != wantCut {
				t.Errorf("trace question of %d bytes, log record truncated %v", len(d.Question), d.Logs[0].Truncated)
			}
		})
	}
}

// TestTraceListBounded: a page of traces whose questions are 15 MB each
// stays within the answer bound, every question cut with the marker.
func TestTraceListBounded(t *testing.T) {
	const bound = maxTraceAnswerBytes + 1<<20
	d := bigTrace(1, 1, 15<<20)
	d.Trace.Answer = d.Trace.Question
	srv := newTestServer(t, Options{Traces: detailReader{failingReader{errors.New("unused")}, d}}, nil)
	for _, limit := range []int{1, 50, 1000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			res := do(t, http.MethodGet, fmt.Sprintf("%s/api/v1/traces?limit=%d", srv.URL, limit))
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body[:min(len(res.body), 200)])
			}
			if len(res.body) > bound {
				t.Errorf("answer of %d bytes, over the bound of %d", len(res.body), bound)
			}
			var l TraceList
			if err := json.Unmarshal(res.body, &l); err != nil {
				t.Fatal(err)
			}
			if len(l.Traces) != limit {
				t.Fatalf("%d traces, want %d", len(l.Traces), limit)
			}
			if q := l.Traces[0].Question; len(q) > maxAnswerValueBytes || !strings.HasSuffix(q, "bytes]") {
				t.Errorf("question of %d bytes, ending %q", len(q), q[max(0, len(q)-30):])
			}
		})
	}
}

// BenchmarkTraceDetail15MB measures the memory one answer for a trace of
// 26 spans carrying a 15 MB attribute (and a 15 MB question) each costs:
// see B/op and answer-bytes. "unbounded" encodes the same detail without
// boundDetail, as the handler did before (issue 12: a 390 MB answer and
// 1.6 GB peak RSS for one attribute per span).
func BenchmarkTraceDetail15MB(b *testing.B) {
	d := bigTrace(26, 1, 15<<20)
	b.Run("bounded", func(b *testing.B) {
		mux := http.NewServeMux()
		New(Options{Traces: detailReader{failingReader{errors.New("unused")}, d}}, nil).RegisterHTTP(mux)
		b.ReportAllocs()
		var size int
		for b.Loop() {
			w := &countingWriter{h: http.Header{}}
			req, _ := http.NewRequest(http.MethodGet, "/api/v1/traces/"+bigTraceID, nil)
			mux.ServeHTTP(w, req)
			size = w.n
		}
		b.ReportMetric(float64(size), "answer-bytes")
	})
	b.Run("unbounded", func(b *testing.B) {
		b.ReportAllocs()
		var size int
		for b.Loop() {
			w := &countingWriter{h: http.Header{}}
			if err := json.NewEncoder(w).Encode(toDetail(d)); err != nil {
				b.Fatal(err)
			}
			size = w.n
		}
		b.ReportMetric(float64(size), "answer-bytes")
	})
}

// countingWriter is a ResponseWriter that only counts the body's bytes.
type countingWriter struct {
	h http.Header
	n int
}

func (w *countingWriter) Header() http.Header         { return w.h }
func (w *countingWriter) WriteHeader(int)             {}
func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
