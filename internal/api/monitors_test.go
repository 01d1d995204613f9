package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/store"
)

// testEnv is the server configuration monitor files are checked against:
// one judge connection and one channel.
func testEnv() monitor.Env {
	return monitor.Env{
		Judge:   func(name string) bool { return name == "aoai-connection" },
		Channel: func(name string) bool { return name == "oncall" },
	}
}

// monitorServer serves the API over an empty in-memory monitor store whose
// clock moves a minute at each write.
func monitorServer(t *testing.T, logger *slog.Logger) (*monitorsClient, *apitest.Monitors) {
	t.Helper()
	clock := apitest.Ticking()
	st := apitest.NewMonitors(clock)
	srv := newTestServer(t, Options{Monitors: st, MonitorEnv: testEnv(), Now: clock}, logger)
	return &monitorsClient{t: t, base: srv.URL}, st
}

type monitorsClient struct {
	t    *testing.T
	base string
}

// request is one request of a test.
type request struct {
	method, path string
	header       map[string]string
	// body is sent as it is; file, when set, names a file of
	// testdata/monitors to send instead.
	body string
	file string
	// chunked sends the body without a Content-Length.
	chunked bool
}

func (c *monitorsClient) do(rq request) response {
	t := c.t
	t.Helper()
	body := []byte(rq.body)
	if rq.file != "" {
		var err error
		if body, err = os.ReadFile(filepath.Join("testdata", "monitors", rq.file)); err != nil {
			t.Fatal(err)
		}
	}
	var r io.Reader = bytes.NewReader(body)
	if rq.chunked {
		r = struct{ io.Reader }{r} // hides the length
	}
	if rq.method == http.MethodGet || rq.method == http.MethodHead || rq.method == http.MethodDelete {
		r = nil
	}
	req, err := http.NewRequestWithContext(t.Context(), rq.method, c.base+rq.path, r)
	if err != nil {
		t.Fatal(err)
	}
	if rq.method == http.MethodPut {
		req.Header.Set("Content-Type", "application/yaml")
	}
	for k, v := range rq.header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: got}
}

// transcript is the golden form of an exchange: the request line, the
// status, the headers that matter and the body (JSON indented).
func transcript(t *testing.T, rq request, res response) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n", rq.method, rq.path)
	for _, k := range slices.Sorted(maps.Keys(rq.header)) {
		fmt.Fprintf(&b, "%s: %s\n", k, rq.header[k])
	}
	if rq.file != "" {
		fmt.Fprintf(&b, "(body: testdata/monitors/%s)\n", rq.file)
	}
	fmt.Fprintf(&b, "\nstatus: %d\n", res.status)
	for _, k := range []string{"Content-Type", "ETag", "Location", "Allow", "Vary", "Retry-After"} {
		if v := res.header.Get(k); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteByte('\n')
	switch {
	case len(res.body) == 0:
	case strings.HasPrefix(res.header.Get("Content-Type"), "application/json"):
		b.Write(indent(t, res.body))
	default:
		b.Write(res.body)
	}
	return b.Bytes()
}

// monitorSteps is a session against one server, in order: each step's
// answer is a golden file (testdata/monitors_NAME.golden) and is validated
// against the OpenAPI document.
func monitorSteps() []struct {
	name   string
	req    request
	status int
} {
	mon := Prefix + "monitors/rag_quality"
	ref := Prefix + "monitors/gen_ai_monitor_generation_quality"
	return []struct {
		name   string
		req    request
		status int
	}{
		{"list_empty", request{method: "GET", path: Prefix + "monitors"}, 200},
		{"get_unknown", request{method: "GET", path: mon}, 404},
		{"delete_unknown", request{method: "DELETE", path: mon}, 404},
		{"dry_run_new", request{method: "PUT", path: mon + "?dry_run=true", file: "native.yaml"}, 200},
		{"dry_run_left_nothing", request{method: "GET", path: mon}, 404},
		{"create", request{method: "PUT", path: mon, file: "native.yaml"}, 201},
		{"replace", request{method: "PUT", path: mon, file: "native_v2.yaml", header: map[string]string{"If-Match": `"1"`}}, 200},
		{"replace_stale", request{method: "PUT", path: mon, file: "native.yaml", header: map[string]string{"If-Match": `"1"`}}, 409},
		{"replace_missing", request{method: "PUT", path: ref, file: "reference.yaml", header: map[string]string{"If-Match": `"1"`}}, 409},
		{"dry_run_existing", request{method: "PUT", path: mon + "?dry_run=true", file: "native.yaml", header: map[string]string{"If-Match": `"2"`}}, 200},
		{"dry_run_stale", request{method: "PUT", path: mon + "?dry_run=true", file: "native.yaml", header: map[string]string{"If-Match": `"7"`}}, 409},
		{"create_reference", request{method: "PUT", path: ref, file: "reference.yaml"}, 201},
		{"create_json", request{method: "PUT", path: Prefix + "monitors/batch_checks", file: "native.json", header: map[string]string{"Content-Type": "application/json"}}, 201},
		{"get_json", request{method: "GET", path: mon}, 200},
		{"get_yaml_format", request{method: "GET", path: mon + "?format=yaml"}, 200},
		{"get_yaml_accept", request{method: "GET", path: ref, header: map[string]string{"Accept": "application/yaml"}}, 200},
		{"get_json_preferred", request{method: "GET", path: mon, header: map[string]string{"Accept": "application/yaml;q=0.5, application/json"}}, 200},
		{"get_format_over_accept", request{method: "GET", path: mon + "?format=json", header: map[string]string{"Accept": "text/yaml"}}, 200},
		{"list", request{method: "GET", path: Prefix + "monitors"}, 200},

		{"invalid", request{method: "PUT", path: mon, file: "invalid.yaml"}, 422},
		{"unknown_judge", request{method: "PUT", path: mon, file: "unknown_judge.yaml"}, 422},
		{"not_a_mapping", request{method: "PUT", path: mon, file: "not_a_mapping.yaml"}, 422},
		{"empty_body", request{method: "PUT", path: mon}, 422},
		{"name_mismatch", request{method: "PUT", path: Prefix + "monitors/other", file: "native.yaml"}, 400},
		{"bad_name", request{method: "PUT", path: Prefix + "monitors/Bad%20Name!", file: "native.yaml"}, 400},
		{"bad_name_get", request{method: "GET", path: Prefix + "monitors/" + strings.Repeat("n", 300)}, 400},
		{"bad_name_delete", request{method: "DELETE", path: Prefix + "monitors/a%2Fb"}, 400},
		{"content_type_text", request{method: "PUT", path: mon, file: "native.yaml", header: map[string]string{"Content-Type": "text/plain"}}, 415},
		{"content_type_missing", request{method: "PUT", path: mon, file: "native.yaml", header: map[string]string{"Content-Type": ""}}, 415},
		{"content_type_charset", request{method: "PUT", path: mon, file: "native.yaml", header: map[string]string{"Content-Type": "application/yaml; charset=latin1"}}, 415},
		{"too_large", request{method: "PUT", path: mon, body: "# " + strings.Repeat("x", maxMonitorBytes)}, 413},
		{"too_large_chunked", request{method: "PUT", path: mon, body: "# " + strings.Repeat("x", maxMonitorBytes), chunked: true}, 413},
		{"if_match_unquoted", request{method: "PUT", path: mon, file: "native.yaml", header: map[string]string{"If-Match": "2"}}, 400},
		{"if_match_weak", request{method: "PUT", path: mon, file: "native.yaml", header: map[string]string{"If-Match": `W/"2"`}}, 400},
		{"if_match_star", request{method: "PUT", path: mon, file: "native.yaml", header: map[string]string{"If-Match": "*"}}, 400},
		{"if_match_zero", request{method: "PUT", path: mon, file: "native.yaml", header: map[string]string{"If-Match": `"0"`}}, 400},
		{"bad_dry_run", request{method: "PUT", path: mon + "?dry_run=yes", file: "native.yaml"}, 400},
		{"unknown_put_param", request{method: "PUT", path: mon + "?force=true", file: "native.yaml"}, 400},
		{"bad_format", request{method: "GET", path: mon + "?format=xml"}, 400},
		{"list_param", request{method: "GET", path: Prefix + "monitors?name=x"}, 400},
		{"delete_if_match", request{method: "DELETE", path: mon, header: map[string]string{"If-Match": `"2"`}}, 400},
		{"post", request{method: "POST", path: mon, file: "native.yaml"}, 405},
		{"put_list", request{method: "PUT", path: Prefix + "monitors", file: "native.yaml"}, 405},

		{"delete", request{method: "DELETE", path: mon}, 204},
		{"delete_again", request{method: "DELETE", path: mon}, 404},
		{"list_after_delete", request{method: "GET", path: Prefix + "monitors"}, 200},
		{"recreate", request{method: "PUT", path: mon, file: "native.yaml"}, 201},
	}
}

func TestMonitors(t *testing.T) {
	doc := loadOpenAPI(t)
	c, _ := monitorServer(t, nil)
	for _, step := range monitorSteps() {
		// Steps depend on the ones before: stop at the first failure.
		ok := t.Run(step.name, func(t *testing.T) {
			c.t = t
			res := c.do(step.req)
			if res.status != step.status {
				t.Errorf("status %d, want %d; body %s", res.status, step.status, res.body)
			}
			if res.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", res.header.Get("Cache-Control"))
			}
			checkGolden(t, "monitors_"+step.name, transcript(t, step.req, res))
			checkDocumented(t, doc, step.req, res)
		})
		if !ok {
			break
		}
	}
}

// checkDocumented validates an answer against the OpenAPI document: its
// status is documented for the operation, and a JSON body has the schema
// documented for that status.
func checkDocumented(t *testing.T, doc map[string]any, rq request, res response) {
	t.Helper()
	path := strings.SplitN(rq.path, "?", 2)[0]
	docPath := path
	if path != Prefix+"monitors" {
		docPath = Prefix + "monitors/{name}"
	}
	op := obj(obj(obj(doc["paths"])[docPath])[strings.ToLower(rq.method)])
	if op == nil {
		// 405s: the method is not an operation; the body is an Error.
		op = obj(obj(obj(doc["paths"])[docPath])["get"])
	}
	r := obj(obj(op["responses"])[fmt.Sprint(res.status)])
	if r == nil {
		t.Fatalf("status %d of %s %s is not documented", res.status, rq.method, docPath)
	}
	if ref, ok := r["$ref"].(string); ok {
		resolved, err := resolve(doc, ref)
		if err != nil {
			t.Fatal(err)
		}
		r = resolved
	}
	if res.status == http.StatusNoContent {
		if len(res.body) != 0 || r["content"] != nil {
			t.Errorf("204 with a body %q or a documented content", res.body)
		}
		return
	}
	mediaType := strings.SplitN(res.header.Get("Content-Type"), ";", 2)[0]
	content := obj(obj(r["content"])[mediaType])
	if content == nil {
		t.Fatalf("%s answer of %d is not documented", mediaType, res.status)
	}
	if mediaType != "application/json" {
		return
	}
	var body any
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatal(err)
	}
	v := validator{doc: doc}
	v.check("$", obj(content["schema"]), body, true)
	for _, p := range v.problems {
		t.Error(p)
	}
	for name, h := range obj(r["headers"]) {
		hdr := obj(h)
		if ref, ok := hdr["$ref"].(string); ok {
			hdr, _ = resolve(doc, ref)
		}
		if hdr["required"] == true && res.header.Get(name) == "" {
			t.Errorf("required header %s missing", name)
		}
	}
}

// TestMonitorsHead checks that HEAD answers like GET without a body.
func TestMonitorsHead(t *testing.T) {
	c, _ := monitorServer(t, nil)
	mon := Prefix + "monitors/rag_quality"
	if res := c.do(request{method: "PUT", path: mon, file: "native.yaml"}); res.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", res.status, res.body)
	}
	for _, path := range []string{mon, mon + "?format=yaml", Prefix + "monitors"} {
		get := c.do(request{method: "GET", path: path})
		head := c.do(request{method: "HEAD", path: path})
		if head.status != http.StatusOK || len(head.body) != 0 {
			t.Errorf("HEAD %s: status %d, body %q; want 200 and no body", path, head.status, head.body)
		}
		for _, k := range []string{"Content-Length", "Content-Type", "ETag"} {
			if head.header.Get(k) != get.header.Get(k) {
				t.Errorf("HEAD %s: %s = %q, GET has %q", path, k, head.header.Get(k), get.header.Get(k))
			}
		}
	}
}

// TestMonitorsStored checks what reaches the store: the monitor as loaded
// (defaults applied), nothing on a dry run or a refused request, and the
// YAML answer loads back to the stored monitor.
func TestMonitorsStored(t *testing.T) {
	c, st := monitorServer(t, nil)
	mon := Prefix + "monitors/rag_quality"
	data, err := os.ReadFile(filepath.Join("testdata", "monitors", "native.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := monitor.Load(data, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	for _, rq := range []request{
		{method: "PUT", path: mon + "?dry_run=true", file: "native.yaml"},
		{method: "PUT", path: mon, file: "invalid.yaml"},
		{method: "PUT", path: mon, file: "native.yaml", header: map[string]string{"If-Match": `"1"`}},
	} {
		c.do(rq)
	}
	if list, _ := st.ListMonitors(t.Context()); len(list) != 0 {
		t.Fatalf("store holds %d monitors after requests that store nothing", len(list))
	}
	if res := c.do(request{method: "PUT", path: mon, file: "native.yaml"}); res.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", res.status, res.body)
	}
	got, err := st.GetMonitor(t.Context(), "rag_quality")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Monitor, got.Monitor); diff != "" {
		t.Errorf("stored monitor (-loaded +stored):\n%s", diff)
	}
	res := c.do(request{method: "GET", path: mon + "?format=yaml"})
	back, err := monitor.Load(res.body, testEnv())
	if err != nil {
		t.Fatalf("the YAML answer does not load: %v\n%s", err, res.body)
	}
	if diff := cmp.Diff(got.Monitor, back.Monitor); diff != "" {
		t.Errorf("YAML answer loaded back (-stored +loaded):\n%s", diff)
	}
	// The JSON answer's monitor, sent back as a file, is the same monitor.
	res = c.do(request{method: "GET", path: mon})
	var m Monitor
	if err := json.Unmarshal(res.body, &m); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(m.Monitor)
	if err != nil {
		t.Fatal(err)
	}
	res = c.do(request{method: "PUT", path: mon, body: string(js), header: map[string]string{"Content-Type": "application/json", "If-Match": `"1"`}})
	if res.status != http.StatusOK {
		t.Fatalf("PUT of the JSON answer: %d %s", res.status, res.body)
	}
	again, _ := st.GetMonitor(t.Context(), "rag_quality")
	if diff := cmp.Diff(got.Monitor, again.Monitor); diff != "" || again.Version != 2 || !again.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("after sending the JSON back: version %d, created %v (was %v); monitor (-before +after):\n%s", again.Version, again.CreatedAt, got.CreatedAt, diff)
	}
}

// failingMonitors fails every call with err.
type failingMonitors struct{ err error }

func (f failingMonitors) PutMonitor(context.Context, model.Monitor, int64) (model.StoredMonitor, bool, error) {
	return model.StoredMonitor{}, false, f.err
}
func (f failingMonitors) GetMonitor(context.Context, string) (model.StoredMonitor, error) {
	return model.StoredMonitor{}, f.err
}
func (f failingMonitors) ListMonitors(context.Context) ([]model.StoredMonitor, error) {
	return nil, f.err
}
func (f failingMonitors) DeleteMonitor(context.Context, string, time.Time) error { return f.err }

// TestMonitorsServerErrors checks the server side of the status table on
// every monitor route.
func TestMonitorsServerErrors(t *testing.T) {
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
			opts:   Options{Monitors: failingMonitors{fmt.Errorf("select: %w", secret)}},
			status: 500, msg: "internal server error; the server log has the details",
			logged: "disk I/O error at /secret/path/flowwatch.db",
		},
		{
			name:   "store closed",
			opts:   Options{Monitors: failingMonitors{fmt.Errorf("sqlite: %w", store.ErrClosed)}},
			status: 503, msg: "server not ready: the store is closed (shutting down)", retryAfter: "5",
		},
		{
			name:   "not ready",
			opts:   Options{Monitors: apitest.NewMonitors(nil), Ready: func(context.Context) error { return errors.New("starting") }},
			status: 503, msg: "server not ready: starting", retryAfter: "5",
		},
		{
			name:   "no store",
			opts:   Options{},
			status: 503, msg: "server not ready: no monitor store configured", retryAfter: "5",
		},
	}
	requests := []request{
		{method: "GET", path: Prefix + "monitors"},
		{method: "GET", path: Prefix + "monitors/rag_quality"},
		{method: "DELETE", path: Prefix + "monitors/rag_quality"},
		{method: "PUT", path: Prefix + "monitors/rag_quality", file: "native.yaml"},
	}
	for _, tc := range cases {
		for _, rq := range requests {
			t.Run(tc.name+" "+rq.method+" "+rq.path, func(t *testing.T) {
				var logs syncBuffer
				tc.opts.MonitorEnv = testEnv()
				srv := newTestServer(t, tc.opts, slog.New(slog.NewTextHandler(&logs, nil)))
				c := &monitorsClient{t: t, base: srv.URL}
				res := c.do(rq)
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
}

// TestMonitorsLogged checks that changes are logged once each, with the
// monitor's name.
func TestMonitorsLogged(t *testing.T) {
	var logs syncBuffer
	c, _ := monitorServer(t, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: dropTime})))
	mon := Prefix + "monitors/rag_quality"
	c.do(request{method: "PUT", path: mon, file: "native.yaml"})
	c.do(request{method: "PUT", path: mon + "?dry_run=true", file: "native.yaml"})
	c.do(request{method: "PUT", path: mon, file: "invalid.yaml"})
	c.do(request{method: "PUT", path: mon, file: "native_v2.yaml"})
	c.do(request{method: "DELETE", path: mon})
	want := `level=INFO msg=monitor_applied component=api monitor=rag_quality version=1 created=true form=native
level=INFO msg=monitor_applied component=api monitor=rag_quality version=2 created=false form=native
level=INFO msg=monitor_deleted component=api monitor=rag_quality
`
	if diff := cmp.Diff(want, logs.String()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// TestInvalidMonitorMessage checks the message of 422 answers, including
// the bound on the problems listed.
func TestInvalidMonitorMessage(t *testing.T) {
	many := &monitor.ValidationError{}
	for i := range maxProblems + 5 {
		many.Problems = append(many.Problems, monitor.Problem{Path: fmt.Sprintf("quality.m%d", i), Line: i + 1, Column: 3, Message: "unknown metric"})
	}
	cases := []struct {
		name string
		err  *monitor.ValidationError
		want string
	}{
		{"none", &monitor.ValidationError{}, "invalid monitor file"},
		{"one", &monitor.ValidationError{Problems: []monitor.Problem{{Path: "window.lookback", Line: 7, Column: 13, Message: "months are not allowed"}}},
			"invalid monitor file: line 7, column 13: window.lookback: months are not allowed"},
		{"no column", &monitor.ValidationError{Problems: []monitor.Problem{{Path: "name", Line: 2, Message: "required"}, {Message: "not a mapping"}}},
			"invalid monitor file, 2 problems:\nline 2: name: required\nnot a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := statusOf(fmt.Errorf("load: %w", tc.err))
			if status != http.StatusUnprocessableEntity || msg != tc.want {
				t.Errorf("statusOf = %d %q, want 422 %q", status, msg, tc.want)
			}
		})
	}
	status, msg := statusOf(many)
	lines := strings.Split(msg, "\n")
	if status != http.StatusUnprocessableEntity || lines[0] != "invalid monitor file, 105 problems (the first 100 listed):" || len(lines) != maxProblems+1 {
		t.Errorf("statusOf(105 problems) = %d, %d lines, first %q", status, len(lines), lines[0])
	}
	body, ok := errorBody(many, msg).(InvalidMonitorBody)
	if !ok || len(body.Problems) != maxProblems || body.Problems[99].Path != "quality.m99" {
		t.Errorf("errorBody(105 problems) = %T with %d problems", errorBody(many, msg), len(body.Problems))
	}
}

// TestWantYAML checks the choice between JSON and YAML answers.
func TestWantYAML(t *testing.T) {
	cases := []struct {
		format string
		accept []string
		want   bool
	}{
		{"", nil, false},
		{"yaml", nil, true},
		{"json", []string{"application/yaml"}, false},
		{"", []string{"application/yaml"}, true},
		{"", []string{"application/x-yaml"}, true},
		{"", []string{"text/yaml; charset=utf-8"}, true},
		{"", []string{"application/json"}, false},
		{"", []string{"*/*"}, false},
		{"", []string{"text/html"}, false},
		{"", []string{"application/json, application/yaml"}, false},
		{"", []string{"application/yaml, application/json"}, true},
		{"", []string{"application/json;q=0.9, application/yaml"}, true},
		{"", []string{"application/yaml;q=0.1, */*;q=0.2"}, false},
		{"", []string{"application/yaml;q=0"}, false},
		{"", []string{"application/yaml;q=bad, text/yaml;q=0.3"}, true},
		{"", []string{"text/html", "application/yaml"}, true},
		{"", []string{";;;, application/yaml"}, true},
	}
	for _, tc := range cases {
		got, err := wantYAML(tc.format, tc.accept)
		if err != nil || got != tc.want {
			t.Errorf("wantYAML(%q, %q) = %v, %v; want %v", tc.format, tc.accept, got, err, tc.want)
		}
	}
	if _, err := wantYAML("xml", nil); err == nil {
		t.Error("wantYAML(xml) accepted")
	}
}

// FuzzParseIfMatch checks that any If-Match either fails or names a
// positive version whose ETag is the header itself.
func FuzzParseIfMatch(f *testing.F) {
	for _, s := range []string{`"1"`, `"42"`, `W/"1"`, `*`, `"0"`, `"01"`, `""`, `"`, `"9223372036854775808"`, ` "3" `, `"1", "2"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseIfMatch([]string{s})
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a requestError", err)
			}
			return
		}
		if n <= 0 || etag(n) != strings.TrimSpace(s) {
			t.Fatalf("parseIfMatch(%q) = %d", s, n)
		}
	})
}

// FuzzWantYAML checks that no Accept header makes the choice fail.
func FuzzWantYAML(f *testing.F) {
	for _, s := range []string{"application/yaml", "application/json;q=0.5, text/yaml", "*/*;q=", ";", "a/b;q=1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := wantYAML("", []string{s}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOpenAPIMonitorParams checks the documented parameters of the monitor
// operations against those the handlers read.
func TestOpenAPIMonitorParams(t *testing.T) {
	doc := loadOpenAPI(t)
	item := Prefix + "monitors/{name}"
	cases := []struct {
		path, method string
		names, in    []string
	}{
		{Prefix + "monitors", "get", nil, nil},
		{item, "get", []string{"name", "format"}, []string{"path", "query"}},
		{item, "put", []string{"name", "dry_run", "If-Match"}, []string{"path", "query", "header"}},
		{item, "delete", []string{"name"}, []string{"path"}},
	}
	for _, tc := range cases {
		names, in := opParams(t, doc, tc.path, tc.method)
		if diff := cmp.Diff(tc.names, names); diff != "" {
			t.Errorf("%s %s parameters (-accepted +documented):\n%s", tc.method, tc.path, diff)
		}
		if diff := cmp.Diff(tc.in, in); diff != "" {
			t.Errorf("%s %s parameter places (-want +documented):\n%s", tc.method, tc.path, diff)
		}
	}
	var types []string
	for mt := range obj(obj(obj(obj(obj(doc["paths"])[item])["put"])["requestBody"])["content"]) {
		types = append(types, mt)
	}
	if diff := cmp.Diff(slices.Sorted(slices.Values(monitorTypes)), slices.Sorted(slices.Values(types))); diff != "" {
		t.Errorf("documented body types (-accepted +documented):\n%s", diff)
	}
}
