package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// newTestServer serves the API over reader on a real listener.
func newTestServer(t *testing.T, opts Options, logger *slog.Logger) *httptest.Server {
	t.Helper()
	if opts.Now == nil {
		opts.Now = apitest.Now
	}
	mux := http.NewServeMux()
	New(opts, logger).RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func fixtureServer(t *testing.T) (*httptest.Server, *apitest.Reader) {
	t.Helper()
	r := apitest.NewReader(apitest.Fixture())
	return newTestServer(t, Options{Traces: r, Rollups: apitest.NewRollups(apitest.RollupFixture())}, nil), r
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// checkGolden compares got with testdata/name.golden, or rewrites the file
// with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// indent pretty-prints a JSON body for a readable golden file, failing the
// test if it is not JSON.
func indent(t *testing.T, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	return buf.Bytes()
}

// checkJSONHeaders checks the headers every API response carries.
func checkJSONHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type":           "application/json; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

// okCases are the successful requests whose bodies are golden files; the
// OpenAPI test validates the same bodies against the document.
func okCases() []struct{ name, path string } {
	return []struct{ name, path string }{
		{"traces_default", "/api/v1/traces"},
		{"traces_page1", "/api/v1/traces?limit=2"},
		{"traces_service_deployment", "/api/v1/traces?service=rag-app&deployment=prod"},
		{"traces_status_error", "/api/v1/traces?status=error"},
		{"traces_since_1h", "/api/v1/traces?since=1h"},
		{"traces_since_until", "/api/v1/traces?since=2025-05-29T00:00:00Z&until=2025-06-01T10:00:00%2B00:00"},
		{"traces_q", "/api/v1/traces?q=REFUND"},
		{"traces_model", "/api/v1/traces?model=o3-mini"},
		// A dated snapshot finds the traces of its model.
		{"traces_model_dated", "/api/v1/traces?model=gpt-4o-2024-08-06"},
		{"traces_min_duration", "/api/v1/traces?min_duration_ms=2000.5"},
		{"traces_empty", "/api/v1/traces?service=nope&limit="},
		{"trace_rag", "/api/v1/traces/" + apitest.RAGTraceID},
		{"trace_error", "/api/v1/traces/" + apitest.ErrorTraceID},
		{"trace_batch", "/api/v1/traces/" + strings.ToUpper(apitest.BatchTraceID)},
		{"services", "/api/v1/services"},

		{"metrics_operational_default", "/api/v1/metrics/operational"},
		{"metrics_llm_default", "/api/v1/metrics/llm"},
		{"metrics_operational_step", "/api/v1/metrics/operational?since=3h&step=30m"},
		{"metrics_operational_step_seconds", "/api/v1/metrics/operational?since=2025-06-01T10:07:30Z&until=2025-06-01T11:52:10.5Z&step=900"},
		{"metrics_operational_days", "/api/v1/metrics/operational?since=3d&step=1d"},
		{"metrics_operational_until_only", "/api/v1/metrics/operational?until=2025-06-01T10:30:00Z&step=10m"},
		{"metrics_operational_by_model", "/api/v1/metrics/operational?group_by=model&step=15m"},
		{"metrics_operational_by_service", "/api/v1/metrics/operational?group_by=service&step=15m"},
		{"metrics_operational_by_deployment", "/api/v1/metrics/operational?group_by=deployment&step=30m"},
		{"metrics_operational_by_status", "/api/v1/metrics/operational?group_by=status&since=3h&step=1h"},
		{"metrics_operational_service_deployment", "/api/v1/metrics/operational?service=rag-app&deployment=staging&since=2d&step=12h"},
		// Rows hold model aliases; a dated snapshot asked for is folded.
		{"metrics_operational_model", "/api/v1/metrics/operational?model=gpt-4o-2024-08-06&step=20m"},
		{"metrics_operational_empty", "/api/v1/metrics/operational?service=nope&step=20m"},
		{"metrics_operational_empty_grouped", "/api/v1/metrics/operational?service=nope&step=20m&group_by=model"},
		{"metrics_llm_by_model", "/api/v1/metrics/llm?group_by=model&since=3h&step=1h"},
		{"metrics_llm_by_status", "/api/v1/metrics/llm?group_by=status&step=30m"},
		{"metrics_llm_unpriced", "/api/v1/metrics/llm?service=batch-scorer&step=30m"},
		{"metrics_llm_model", "/api/v1/metrics/llm?model=" + apitest.ReasoningModel + "&since=2d&step=1d"},
	}
}

func TestOK(t *testing.T) {
	srv, _ := fixtureServer(t)
	for _, tc := range okCases() {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, http.MethodGet, srv.URL+tc.path)
			if res.status != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", res.status, res.body)
			}
			checkJSONHeaders(t, res.header)
			checkGolden(t, tc.name, indent(t, res.body))
		})
	}
}

func TestHead(t *testing.T) {
	srv, _ := fixtureServer(t)
	get := do(t, http.MethodGet, srv.URL+"/api/v1/services")
	head := do(t, http.MethodHead, srv.URL+"/api/v1/services")
	if head.status != http.StatusOK || len(head.body) != 0 {
		t.Fatalf("HEAD: status %d, body %q; want 200 and no body", head.status, head.body)
	}
	if got, want := head.header.Get("Content-Length"), fmt.Sprint(len(get.body)); got != want {
		t.Errorf("HEAD Content-Length = %s, want %s (the GET body's)", got, want)
	}
	checkJSONHeaders(t, head.header)
}

// TestPaging follows next_cursor from page to page and checks that the
// pages together are the whole list, newest first, with the filters kept.
func TestPaging(t *testing.T) {
	srv, reader := fixtureServer(t)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		res := do(t, http.MethodGet, srv.URL+"/api/v1/traces?limit=1&service=rag-app&cursor="+cursor)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		var page TraceList
		if err := json.Unmarshal(res.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, tr := range page.Traces {
			got = append(got, tr.TraceID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	want := []string{apitest.RAGTraceID, apitest.ErrorTraceID, apitest.StagingTraceID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trace ids over all pages (-want +got):\n%s", diff)
	}
	for _, q := range reader.Queries() {
		if q.Service != "rag-app" || q.Limit != 1 {
			t.Errorf("store query %+v lost the filters", q)
		}
	}
}

// TestErrors covers every kind of bad request: the status, the exact
// message, the Allow header of 405s and the envelope.
func TestErrors(t *testing.T) {
	srv, _ := fixtureServer(t)
	longQ := strings.Repeat("x", maxTextLen+1)
	allowed := `(allowed: service, deployment, since, until, status, model, q, min_duration_ms, limit, cursor)`
	cases := []struct {
		name   string
		method string
		path   string
		status int
		msg    string
	}{
		{"limit not a number", "GET", "/api/v1/traces?limit=abc", 400, `invalid "limit": must be an integer between 1 and 1000, got "abc"`},
		{"limit zero", "GET", "/api/v1/traces?limit=0", 400, `invalid "limit": must be an integer between 1 and 1000, got "0"`},
		{"limit too big", "GET", "/api/v1/traces?limit=1001", 400, `invalid "limit": must be an integer between 1 and 1000, got "1001"`},
		{"limit negative", "GET", "/api/v1/traces?limit=-1", 400, `invalid "limit": must be an integer between 1 and 1000, got "-1"`},
		{"limit fraction", "GET", "/api/v1/traces?limit=1.5", 400, `invalid "limit": must be an integer between 1 and 1000, got "1.5"`},
		{"status unknown", "GET", "/api/v1/traces?status=warn", 400, `invalid "status": must be "ok" or "error", got "warn"`},
		{"status unset", "GET", "/api/v1/traces?status=unset", 400, `invalid "status": must be "ok" or "error", got "unset"`},
		{"status case", "GET", "/api/v1/traces?status=OK", 400, `invalid "status": must be "ok" or "error", got "OK"`},
		{"min duration negative", "GET", "/api/v1/traces?min_duration_ms=-5", 400, `invalid "min_duration_ms": must be a non-negative number of milliseconds, got "-5"`},
		{"min duration word", "GET", "/api/v1/traces?min_duration_ms=abc", 400, `invalid "min_duration_ms": must be a non-negative number of milliseconds, got "abc"`},
		{"min duration with unit", "GET", "/api/v1/traces?min_duration_ms=500ms", 400, `invalid "min_duration_ms": must be a non-negative number of milliseconds, got "500ms"`},
		{"min duration exponent", "GET", "/api/v1/traces?min_duration_ms=1e3", 400, `invalid "min_duration_ms": must be a non-negative number of milliseconds, got "1e3"`},
		{"min duration NaN", "GET", "/api/v1/traces?min_duration_ms=NaN", 400, `invalid "min_duration_ms": must be a non-negative number of milliseconds, got "NaN"`},
		{"min duration two dots", "GET", "/api/v1/traces?min_duration_ms=1..2", 400, `invalid "min_duration_ms": must be a non-negative number of milliseconds, got "1..2"`},
		{"min duration huge", "GET", "/api/v1/traces?min_duration_ms=99999999999999999999", 400, `invalid "min_duration_ms": must be a non-negative number of milliseconds, got "99999999999999999999"`},
		{"since word", "GET", "/api/v1/traces?since=yesterday", 400, `invalid "since": ` + errBadTime + `, got "yesterday"`},
		{"since negative", "GET", "/api/v1/traces?since=-1h", 400, `invalid "since": ` + errBadTime + `, got "-1h"`},
		{"since zero", "GET", "/api/v1/traces?since=0s", 400, `invalid "since": ` + errBadTime + `, got "0s"`},
		{"since years", "GET", "/api/v1/traces?since=1y", 400, `invalid "since": ` + errBadTime + `, got "1y"`},
		{"since too far", "GET", "/api/v1/traces?since=6000w", 400, `invalid "since": ` + errBadTime + `, got "6000w"`},
		{"since bad date", "GET", "/api/v1/traces?since=2025-02-30", 400, `invalid "since": ` + errBadTime + `, got "2025-02-30"`},
		{"until word", "GET", "/api/v1/traces?until=later", 400, `invalid "until": ` + errBadTime + `, got "later"`},
		{"until before since", "GET", "/api/v1/traces?since=1h&until=2h", 400, `invalid "until": must be later than "since" (2025-06-01T11:00:00Z), got "2h"`},
		{"until equals since", "GET", "/api/v1/traces?since=2025-06-01T10:00:00Z&until=2025-06-01T12:00:00%2B02:00", 400, `invalid "until": must be later than "since" (2025-06-01T10:00:00Z), got "2025-06-01T12:00:00+02:00"`},
		{"cursor not issued", "GET", "/api/v1/traces?cursor=bogus", 400, `invalid "cursor": not a cursor this server issued for this query; start again without it`},
		{"cursor too long", "GET", "/api/v1/traces?cursor=" + strings.Repeat("c", maxCursorLen+1), 400, `invalid "cursor": 1025 bytes long, at most 1024`},
		{"q too long", "GET", "/api/v1/traces?q=" + longQ, 400, `invalid "q": 1025 bytes long, at most 1024`},
		{"service too long", "GET", "/api/v1/traces?service=" + strings.Repeat("s", maxParamLen+1), 400, `invalid "service": 513 bytes long, at most 512`},
		{"query too long", "GET", "/api/v1/traces?q=" + strings.Repeat("q", maxQueryLen), 400, `query string too long: 8194 bytes, at most 8192`},
		{"unknown parameter", "GET", "/api/v1/traces?servce=rag-app", 400, `unknown query parameter "servce" ` + allowed},
		{"unknown parameters", "GET", "/api/v1/traces?b=1&a=2&service=x", 400, `unknown query parameters "a", "b" ` + allowed},
		{"repeated parameter", "GET", "/api/v1/traces?service=a&service=b", 400, `invalid "service": given 2 times, at most once`},
		{"bad escape", "GET", "/api/v1/traces?q=%zz", 400, `invalid query string: invalid URL escape "%zz"`},
		{"semicolon", "GET", "/api/v1/traces?service=a;b", 400, `invalid query string: invalid semicolon separator in query`},
		{"invalid utf8", "GET", "/api/v1/traces?q=%ff", 400, `invalid "q": not valid UTF-8`},
		{"long value echoed clipped", "GET", "/api/v1/traces?limit=" + strings.Repeat("9", 150), 400, `invalid "limit": must be an integer between 1 and 1000, got "` + strings.Repeat("9", 100) + `..."`},

		{"trace id short", "GET", "/api/v1/traces/abc", 400, `invalid trace id "abc": must be 32 hexadecimal digits, got 3 characters`},
		{"trace id long", "GET", "/api/v1/traces/" + apitest.RAGTraceID + "0", 400, `invalid trace id "` + apitest.RAGTraceID + `0": must be 32 hexadecimal digits, got 33 characters`},
		{"trace id not hex", "GET", "/api/v1/traces/zzf92f3577b34da6a3ce929d0e0e4736", 400, `invalid trace id "zzf92f3577b34da6a3ce929d0e0e4736": must be 32 hexadecimal digits`},
		{"trace id zero", "GET", "/api/v1/traces/00000000000000000000000000000000", 400, `invalid trace id "00000000000000000000000000000000": the all-zero id is not a valid trace id`},
		{"trace unknown", "GET", "/api/v1/traces/0123456789abcdef0123456789abcdef", 404, `trace 0123456789abcdef0123456789abcdef not found`},
		{"trace unknown uppercase", "GET", "/api/v1/traces/0123456789ABCDEF0123456789ABCDEF", 404, `trace 0123456789abcdef0123456789abcdef not found`},
		{"trace with parameter", "GET", "/api/v1/traces/" + apitest.RAGTraceID + "?pretty=1", 400, `unknown query parameter "pretty": this endpoint takes no query parameters`},
		{"services with parameter", "GET", "/api/v1/services?service=x", 400, `unknown query parameter "service" (allowed: limit, cursor)`},
		{"services with a bad limit", "GET", "/api/v1/services?limit=0", 400, `invalid "limit": must be an integer between 1 and 1000, got "0"`},
		{"services with a foreign cursor", "GET", "/api/v1/services?cursor=%21%21", 400, `invalid "cursor": not a cursor this server issued for this query; start again without it`},
		{"openapi with parameter", "GET", "/api/v1/openapi.json?v=2", 400, `unknown query parameter "v": this endpoint takes no query parameters`},

		{"unknown endpoint", "GET", "/api/v1/nope", 404, `no such endpoint: /api/v1/nope (the API is described at /api/v1/openapi.json)`},
		{"api root", "GET", "/api/v1/", 404, `no such endpoint: /api/v1/ (the API is described at /api/v1/openapi.json)`},
		{"traces slash", "GET", "/api/v1/traces/", 404, `no such endpoint: /api/v1/traces/ (the API is described at /api/v1/openapi.json)`},
		{"trace subpath", "GET", "/api/v1/traces/" + apitest.RAGTraceID + "/spans", 404, `no such endpoint: /api/v1/traces/` + apitest.RAGTraceID + `/spans (the API is described at /api/v1/openapi.json)`},
		{"unknown endpoint post", "POST", "/api/v1/nope", 404, `no such endpoint: /api/v1/nope (the API is described at /api/v1/openapi.json)`},

		{"post traces", "POST", "/api/v1/traces", 405, `method POST not allowed on /api/v1/traces (allowed: GET, HEAD, DELETE)`},
		{"put trace", "PUT", "/api/v1/traces/" + apitest.RAGTraceID, 405, `method PUT not allowed on /api/v1/traces/` + apitest.RAGTraceID + ` (allowed: GET, HEAD, DELETE)`},
		{"put services", "PUT", "/api/v1/services", 405, `method PUT not allowed on /api/v1/services (allowed: GET, HEAD)`},
		{"post openapi", "POST", "/api/v1/openapi.json", 405, `method POST not allowed on /api/v1/openapi.json (allowed: GET, HEAD)`},
		{"options services", "OPTIONS", "/api/v1/services", 405, `method OPTIONS not allowed on /api/v1/services (allowed: GET, HEAD)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, tc.method, srv.URL+tc.path)
			if res.status != tc.status {
				t.Errorf("status %d, want %d", res.status, tc.status)
			}
			checkJSONHeaders(t, res.header)
			checkErrorBody(t, res.body, tc.msg)
			allow := res.header.Get("Allow")
			if tc.status == http.StatusMethodNotAllowed && !strings.Contains(tc.msg, "(allowed: "+allow+")") {
				t.Errorf("Allow = %q, not what the message says", allow)
			}
			if tc.status != http.StatusMethodNotAllowed && allow != "" {
				t.Errorf("Allow = %q on a %d", allow, tc.status)
			}
		})
	}
}

// checkErrorBody checks that body is exactly {"error": msg}.
func checkErrorBody(t *testing.T, body []byte, msg string) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	if diff := cmp.Diff(map[string]any{"error": msg}, got); diff != "" {
		t.Errorf("error body (-want +got):\n%s", diff)
	}
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (f failingReader) ListTraces(context.Context, store.TraceQuery) (store.TracePage, error) {
	return store.TracePage{}, f.err
}
func (f failingReader) GetTrace(context.Context, string) (model.TraceDetail, error) {
	return model.TraceDetail{}, f.err
}
func (f failingReader) ListServices(context.Context) ([]model.ServiceInfo, error) {
	return nil, f.err
}
func (f failingReader) ServicesPage(context.Context, store.ServiceQuery) (store.ServicePage, error) {
	return store.ServicePage{}, f.err
}

// waitingReader blocks each read until its context ends and returns the
// context's error, to exercise timeouts without timing anything.
type waitingReader struct{}

func (waitingReader) ListTraces(ctx context.Context, _ store.TraceQuery) (store.TracePage, error) {
	<-ctx.Done()
	return store.TracePage{}, fmt.Errorf("query: %w", ctx.Err())
}
func (waitingReader) GetTrace(ctx context.Context, _ string) (model.TraceDetail, error) {
	<-ctx.Done()
	return model.TraceDetail{}, ctx.Err()
}
func (waitingReader) ListServices(ctx context.Context) ([]model.ServiceInfo, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (waitingReader) ServicesPage(ctx context.Context, _ store.ServiceQuery) (store.ServicePage, error) {
	<-ctx.Done()
	return store.ServicePage{}, ctx.Err()
}

// syncBuffer is a log destination safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServerErrors checks the store-error half of the status table, that
// clients see generic messages and that the real error is logged.
func TestServerErrors(t *testing.T) {
	secret := errors.New("disk I/O error at /secret/path/flowwatch.db")
	cases := []struct {
		name       string
		opts       Options
		status     int
		msg        string
		retryAfter string
		logged     string
	}{
		{
			name:   "store failure",
			opts:   Options{Traces: failingReader{fmt.Errorf("select: %w", secret)}},
			status: 500, msg: "internal server error; the server log has the details",
			logged: "disk I/O error at /secret/path/flowwatch.db",
		},
		{
			name:   "store closed",
			opts:   Options{Traces: failingReader{fmt.Errorf("sqlite: %w", store.ErrClosed)}},
			status: 503, msg: "server not ready: the store is closed (shutting down)", retryAfter: "5",
			logged: "store closed",
		},
		{
			name:   "bare not found",
			opts:   Options{Traces: failingReader{fmt.Errorf("x: %w", store.ErrNotFound)}},
			status: 404, msg: "not found",
		},
		{
			name:   "not ready",
			opts:   Options{Traces: apitest.NewReader(nil), Ready: func(context.Context) error { return errors.New("starting") }},
			status: 503, msg: "server not ready: starting", retryAfter: "5",
			logged: "starting",
		},
		{
			name:   "no store",
			opts:   Options{},
			status: 503, msg: "server not ready: no trace store configured", retryAfter: "5",
		},
		{
			name:   "query timeout",
			opts:   Options{Traces: waitingReader{}, QueryTimeout: time.Nanosecond},
			status: 503, msg: "the query took too long; narrow it (since, service, limit) and try again", retryAfter: "5",
			logged: "deadline exceeded",
		},
	}
	paths := []string{"/api/v1/traces", "/api/v1/services"}
	for _, tc := range cases {
		for _, path := range paths {
			t.Run(tc.name+path, func(t *testing.T) {
				var logs syncBuffer
				srv := newTestServer(t, tc.opts, slog.New(slog.NewTextHandler(&logs, nil)))
				res := do(t, http.MethodGet, srv.URL+path)
				if res.status != tc.status {
					t.Errorf("status %d, want %d", res.status, tc.status)
				}
				checkJSONHeaders(t, res.header)
				checkErrorBody(t, res.body, tc.msg)
				if got := res.header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
				}
				if tc.logged != "" && !strings.Contains(logs.String(), tc.logged) {
					t.Errorf("log does not contain %q:\n%s", tc.logged, logs.String())
				}
			})
		}
	}
	t.Run("store failure on get", func(t *testing.T) {
		var logs syncBuffer
		srv := newTestServer(t, Options{Traces: failingReader{secret}}, slog.New(slog.NewJSONHandler(&logs, nil)))
		res := do(t, http.MethodGet, srv.URL+"/api/v1/traces/"+apitest.RAGTraceID)
		if res.status != 500 || strings.Contains(string(res.body), "secret") {
			t.Errorf("status %d body %s: want a 500 without the internal error", res.status, res.body)
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &entry); err != nil {
			t.Fatalf("log: %v: %q", err, logs.String())
		}
		want := map[string]any{
			"msg":       "api_request_failed",
			"component": "api",
			"err":       "get trace " + apitest.RAGTraceID + ": disk I/O error at /secret/path/flowwatch.db",
			"method":    "GET",
			"path":      "/api/v1/traces/" + apitest.RAGTraceID,
			"status":    float64(500),
		}
		delete(entry, "time")
		delete(entry, "level")
		if diff := cmp.Diff(want, entry); diff != "" {
			t.Errorf("log entry (-want +got):\n%s", diff)
		}
	})
}

// TestStatusOfCanceled checks the table entry a client never sees: a
// request canceled by its client.
func TestStatusOfCanceled(t *testing.T) {
	status, msg := statusOf(fmt.Errorf("list traces: %w", context.Canceled))
	if status != statusClientClosedRequest || msg != "request canceled" {
		t.Errorf("statusOf(canceled) = %d %q", status, msg)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/traces", nil)
	rec := httptest.NewRecorder()
	mux := http.NewServeMux()
	New(Options{Traces: waitingReader{}}, nil).RegisterHTTP(mux)
	mux.ServeHTTP(rec, req)
	if rec.Code != statusClientClosedRequest {
		t.Errorf("canceled request: status %d, want %d", rec.Code, statusClientClosedRequest)
	}
}

// TestRelativeTimesUseClock checks that since/until are taken back from
// Options.Now and reach the store in UTC.
func TestRelativeTimesUseClock(t *testing.T) {
	reader := apitest.NewReader(nil)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	srv := newTestServer(t, Options{Traces: reader, Now: func() time.Time { return now }}, nil)
	res := do(t, http.MethodGet, srv.URL+"/api/v1/traces?since=1d&until=30m")
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	checkGolden(t, "traces_none", indent(t, res.body))
	qs := reader.Queries()
	if len(qs) != 1 {
		t.Fatalf("store got %d queries, want 1", len(qs))
	}
	want := store.TraceQuery{
		Since: time.Date(2030, 1, 1, 2, 4, 5, 0, time.UTC),
		Until: time.Date(2030, 1, 2, 1, 34, 5, 0, time.UTC),
		Limit: store.DefaultLimit,
	}
	if diff := cmp.Diff(want, qs[0]); diff != "" {
		t.Errorf("store query (-want +got):\n%s", diff)
	}
}
