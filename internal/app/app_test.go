package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/otlptest"
)

func startApp(t *testing.T, dataDir string) *app.App {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.GRPC.Address = "127.0.0.1:0"
	a, err := app.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	return a
}

func get(t *testing.T, a *app.App, path string, v any) int {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

type traceSummary struct {
	TraceID      string  `json:"trace_id"`
	Service      string  `json:"service"`
	Deployment   string  `json:"deployment"`
	Status       string  `json:"status"`
	Model        string  `json:"model"`
	Question     string  `json:"question"`
	Answer       string  `json:"answer"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	TotalTokens  int64   `json:"total_tokens"`
	DurationMS   float64 `json:"duration_ms"`
}

type traceList struct {
	Traces     []traceSummary `json:"traces"`
	NextCursor string         `json:"next_cursor"`
}

type traceDetail struct {
	traceSummary
	Context []struct {
		Content string `json:"content"`
	} `json:"context"`
	Spans []struct {
		SpanID string `json:"span_id"`
		Kind   string `json:"kind"`
		Model  string `json:"model"`
	} `json:"spans"`
}

// TestEndToEnd sends traces through the real OTel SDK exporters and raw
// OTLP/JSON to a running flowwatch, and reads them back through the API,
// before and after a restart.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := startApp(t, dir)

	base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	ok := otlptest.RAG{Service: "rag-app", Deployment: "blue", Question: "How do I reset my password?",
		Answer: "Use the reset link on the sign-in page.", Documents: []string{"Passwords are reset from the sign-in page.", "Accounts lock after 5 attempts."},
		Model: "gpt-4o", InputTokens: 120, OutputTokens: 30, Start: base, Duration: 900 * time.Millisecond}
	okSpans := ok.Spans()
	if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), okSpans, true); err != nil {
		t.Fatalf("export over OTLP/HTTP: %v", err)
	}
	failed := otlptest.RAG{Service: "rag-app", Deployment: "blue", Question: "Where is my invoice?", Answer: "",
		Model: "gpt-4o-mini", InputTokens: 50, OutputTokens: 0, Start: base.Add(time.Minute), Failed: true}
	failedSpans := failed.Spans()
	if err := otlptest.ExportGRPC(ctx, a.GRPCAddr(), failedSpans); err != nil {
		t.Fatalf("export over OTLP/gRPC: %v", err)
	}

	// A chat span whose content arrives only as log records, over OTLP/JSON.
	logTrace, logSpan := "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
	start := base.Add(2 * time.Minute)
	postJSON(t, a, "/v1/traces", fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"chat-app"}}]},
	 "scopeSpans":[{"spans":[{"traceId":%q,"spanId":%q,"name":"chat gpt-4o","kind":3,
	 "startTimeUnixNano":"%d","endTimeUnixNano":"%d","status":{"code":1},
	 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
	  {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
	  {"key":"gen_ai.usage.input_tokens","value":{"intValue":"11"}},
	  {"key":"gen_ai.usage.output_tokens","value":{"intValue":"7"}}]}]}]}]}`,
		logTrace, logSpan, start.UnixNano(), start.Add(time.Second).UnixNano()))
	postJSON(t, a, "/v1/logs", fmt.Sprintf(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"chat-app"}}]},
	 "scopeLogs":[{"logRecords":[
	  {"timeUnixNano":"%d","traceId":%q,"spanId":%q,"eventName":"gen_ai.user.message",
	   "body":{"kvlistValue":{"values":[{"key":"content","value":{"stringValue":"What does flowwatch monitor?"}}]}}},
	  {"timeUnixNano":"%d","traceId":%q,"spanId":%q,"eventName":"gen_ai.choice",
	   "body":{"kvlistValue":{"values":[{"key":"index","value":{"intValue":"0"}},{"key":"finish_reason","value":{"stringValue":"stop"}},
	     {"key":"message","value":{"kvlistValue":{"values":[{"key":"role","value":{"stringValue":"assistant"}},{"key":"content","value":{"stringValue":"LLM and RAG applications."}}]}}}]}}}
	 ]}]}]}`, start.UnixNano(), logTrace, logSpan, start.Add(time.Second).UnixNano(), logTrace, logSpan))

	okID := okSpans[0].SpanContext.TraceID().String()
	failedID := failedSpans[0].SpanContext.TraceID().String()

	check := func(t *testing.T, a *app.App) {
		var list traceList
		if code := get(t, a, "/api/v1/traces?service=rag-app", &list); code != http.StatusOK {
			t.Fatalf("list: status %d", code)
		}
		if len(list.Traces) != 2 || list.Traces[0].TraceID != failedID || list.Traces[1].TraceID != okID {
			t.Fatalf("list newest first = %+v, want [%s %s]", list.Traces, failedID, okID)
		}
		got := list.Traces[1]
		want := traceSummary{TraceID: okID, Service: "rag-app", Deployment: "blue", Status: "ok", Model: "gpt-4o",
			Question: ok.Question, Answer: ok.Answer, InputTokens: 120, OutputTokens: 30, TotalTokens: 150, DurationMS: 900}
		if got != want {
			t.Errorf("summary:\n got %+v\nwant %+v", got, want)
		}
		if s := list.Traces[0].Status; s != "error" {
			t.Errorf("failed trace status = %q, want error", s)
		}

		var errs traceList
		get(t, a, "/api/v1/traces?status=error", &errs)
		if len(errs.Traces) != 1 || errs.Traces[0].TraceID != failedID {
			t.Errorf("status=error returned %+v", errs.Traces)
		}
		var search traceList
		get(t, a, "/api/v1/traces?q="+url.QueryEscape("password"), &search)
		if len(search.Traces) != 1 || search.Traces[0].TraceID != okID {
			t.Errorf("q=password returned %+v", search.Traces)
		}

		var d traceDetail
		if code := get(t, a, "/api/v1/traces/"+okID, &d); code != http.StatusOK {
			t.Fatalf("get trace: status %d", code)
		}
		if len(d.Spans) != 3 || len(d.Context) != 2 || d.Context[0].Content != ok.Documents[0] || d.TotalTokens != 150 {
			t.Errorf("detail: %d spans, context %+v, total tokens %d", len(d.Spans), d.Context, d.TotalTokens)
		}

		var lt traceDetail
		get(t, a, "/api/v1/traces/"+logTrace, &lt)
		if lt.Question != "What does flowwatch monitor?" || lt.Answer != "LLM and RAG applications." || lt.TotalTokens != 18 {
			t.Errorf("content from log records: question %q, answer %q, total tokens %d", lt.Question, lt.Answer, lt.TotalTokens)
		}

		if code := get(t, a, "/api/v1/traces/"+strings.Repeat("0", 31)+"1", nil); code != http.StatusNotFound {
			t.Errorf("unknown trace: status %d, want 404", code)
		}
		var svcs struct {
			Services []struct {
				Service    string `json:"service"`
				Deployment string `json:"deployment"`
				TraceCount int64  `json:"trace_count"`
			} `json:"services"`
		}
		get(t, a, "/api/v1/services", &svcs)
		if len(svcs.Services) != 2 || svcs.Services[1].Service != "rag-app" || svcs.Services[1].TraceCount != 2 {
			t.Errorf("services = %+v", svcs.Services)
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			if code := get(t, a, p, nil); code != http.StatusOK {
				t.Errorf("%s: status %d", p, code)
			}
		}
	}
	t.Run("live", func(t *testing.T) { check(t, a) })

	if err := a.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	t.Run("after restart", func(t *testing.T) { check(t, startApp(t, dir)) })
}

func postJSON(t *testing.T, a *app.App, path, body string) {
	t.Helper()
	resp, err := http.Post("http://"+a.HTTPAddr()+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK || out["partialSuccess"] != nil {
		t.Fatalf("POST %s: status %d, body %v", path, resp.StatusCode, out)
	}
}

// TestStartFailsClearly checks that a port in use is reported, not hung on.
func TestStartFailsClearly(t *testing.T) {
	a := startApp(t, t.TempDir())
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Address = a.HTTPAddr()
	cfg.GRPC.Address = "127.0.0.1:0"
	b, err := app.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	err = b.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listen http on "+a.HTTPAddr()) {
		t.Errorf("Start() on a used port = %v, want an error naming the address", err)
	}
}

// TestMillionAttributes sends one span carrying 10^6 attributes: it is
// stored with the first 4096 and the rest counted as dropped, and the
// exporter is told so in partial_success, rather than the server running
// out of memory or refusing the whole export.
func TestMillionAttributes(t *testing.T) {
	a := startApp(t, t.TempDir())
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "huge")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{0x11, 0x22})
	sp.SetSpanID(pcommon.SpanID{0x33})
	sp.SetName("many attributes")
	now := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	raw := make(map[string]any, 1_000_000)
	for i := 0; i < 1_000_000; i++ {
		raw["k"+strconv.Itoa(i)] = nil // Map.Put* is linear per call; FromRaw is not
	}
	if err := sp.Attributes().FromRaw(raw); err != nil {
		t.Fatal(err)
	}
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
	if ps := er.PartialSuccess(); ps.RejectedSpans() != 0 || !strings.Contains(ps.ErrorMessage(), "attributes") {
		t.Errorf("partial success = %d rejected, %q; want 0 rejected and a message about attributes", ps.RejectedSpans(), ps.ErrorMessage())
	}
	var d struct {
		Spans []struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"spans"`
	}
	if code := get(t, a, "/api/v1/traces/"+pcommon.TraceID{0x11, 0x22}.String(), &d); code != http.StatusOK {
		t.Fatalf("get: status %d", code)
	}
	if len(d.Spans) != 1 || len(d.Spans[0].Attributes) != 4096 {
		t.Errorf("stored %d spans, first with %d attributes; want 1 with 4096", len(d.Spans), len(d.Spans[0].Attributes))
	}
}
