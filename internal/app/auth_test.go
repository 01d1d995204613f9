package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/auth"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/otlptest"
)

// startLogged starts flowwatch with cfg changed by mod, logging at debug
// level into the returned buffer.
func startLogged(t *testing.T, mod func(*config.Config)) (*app.App, *syncBuffer) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.GRPC.Address = "127.0.0.1:0"
	if mod != nil {
		mod(&cfg)
	}
	logs := &syncBuffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	return a, logs
}

// call is one HTTP request with headers; it returns the status, the
// headers and the body.
func call(t *testing.T, a *app.App, method, path string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+a.HTTPAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func bearer(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }

// createKey makes a key through the API with the admin key given ("" while
// none is needed).
func createKey(t *testing.T, a *app.App, admin, name, scopes string) string {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if admin != "" {
		h["Authorization"] = "Bearer " + admin
	}
	sc, _ := json.Marshal(strings.Split(scopes, ","))
	code, _, body := call(t, a, "POST", "/api/v1/keys", h, fmt.Sprintf(`{"name": %q, "scopes": %s}`, name, sc))
	if code != http.StatusCreated {
		t.Fatalf("create key %s: %d %s", name, code, body)
	}
	var out struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || !strings.HasPrefix(out.Key, "fw_") {
		t.Fatalf("create key %s: %s", name, body)
	}
	return out.Key
}

// until polls ok (the server reads keys again every 2 s) up to a deadline.
func until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiRoute is one method of one path of the OpenAPI document.
type apiRoute struct{ method, path string }

// documentedRoutes walks the API's OpenAPI document, so that a route added
// there is covered here without listing it.
func documentedRoutes(t *testing.T, a *app.App, key string) []apiRoute {
	t.Helper()
	code, _, body := call(t, a, "GET", "/api/v1/openapi.json", bearer(key), "")
	if code != 200 {
		t.Fatalf("openapi.json: %d", code)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	var out []apiRoute
	for p, methods := range doc.Paths {
		for m := range methods {
			switch m {
			case "get", "put", "post", "delete", "patch":
				out = append(out, apiRoute{strings.ToUpper(m), p})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	if len(out) < 20 {
		t.Fatalf("only %d routes in the OpenAPI document", len(out))
	}
	return out
}

// fill puts ids into a path's parameters.
func fill(path string, ids map[string]string) string {
	for k, v := range ids {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}

// TestAuthEveryRoute calls every API route (from the OpenAPI document) and
// every dashboard page with no key, a wrong key, a revoked key, an ingest
// key where read is needed and a read key where admin is: every one is
// refused (401 or 403), and the answer is the same whether the ids in the
// path exist or not. Keys never appear in the logs or /metrics.
func TestAuthEveryRoute(t *testing.T) {
	ctx := context.Background()
	a, logs := startLogged(t, nil)

	// On loopback with no key, the server is open: the first admin key
	// is made through the API itself.
	admin := createKey(t, a, "", "ops", "admin")
	until(t, "keys required once one exists", func() bool {
		code, _, _ := call(t, a, "GET", "/api/v1/services", nil, "")
		return code == http.StatusUnauthorized
	})
	read := createKey(t, a, admin, "dashboard", "read")
	ingest := createKey(t, a, admin, "app", "ingest")
	revoked := createKey(t, a, admin, "old", "admin,read,ingest")
	if code, _, body := call(t, a, "DELETE", "/api/v1/keys/old", bearer(admin), ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	secrets := []string{admin, read, ingest, revoked}

	// Things that exist: a trace, a monitor, a run, a silence.
	spans := otlptest.RAG{Service: "shop", Question: "q", Answer: "a", Model: "gpt-4o"}.Spans()
	if err := exportHTTP(ctx, a.HTTPAddr(), spans, map[string]string{"x-api-key": ingest}); err != nil {
		t.Fatalf("export with an ingest key: %v", err)
	}
	traceID := spans[0].SpanContext.TraceID().String()
	monitorYAML := "name: quality\ntarget: {service: shop}\nschedule: {cron: \"0 0 1 1 *\"}\nwindow: {lookback: PT1H}\nquality:\n  lexical_groundedness: {min_pass_rate: 0.5}\n"
	if code, _, body := call(t, a, "PUT", "/api/v1/monitors/quality", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/yaml"}, monitorYAML); code != 201 {
		t.Fatalf("PUT monitor: %d %s", code, body)
	}
	code, _, body := call(t, a, "POST", "/api/v1/monitors/quality/runs", bearer(admin), "")
	var created struct {
		Run struct {
			ID string `json:"id"`
		} `json:"run"`
	}
	if code != 202 || json.Unmarshal([]byte(body), &created) != nil {
		t.Fatalf("POST run: %d %s", code, body)
	}
	code, _, body = call(t, a, "POST", "/api/v1/silences", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"},
		`{"monitor": "quality", "duration_ms": 3600000}`)
	var silence struct {
		ID string `json:"id"`
	}
	if code != 201 && code != 200 || json.Unmarshal([]byte(body), &silence) != nil {
		t.Fatalf("POST silence: %d %s", code, body)
	}
	existing := map[string]string{"trace_id": traceID, "name": "quality", "id": created.Run.ID}
	unknown := map[string]string{"trace_id": strings.Repeat("ab", 16), "name": "nothing-here", "id": "0000000000000000ffffffffffffffff"}

	// The revoked key is refused once the server has read the keys again.
	until(t, "revoked key refused", func() bool {
		code, _, _ := call(t, a, "GET", "/api/v1/services", bearer(revoked), "")
		return code == http.StatusUnauthorized
	})

	type caller struct {
		name   string
		header map[string]string
		// refused says whether a route needing scope is refused, and
		// with what.
		status func(scope string) int
	}
	callers := []caller{
		{"no key", nil, func(string) int { return 401 }},
		{"wrong key", bearer("fw_" + strings.Repeat("7", 64)), func(string) int { return 401 }},
		{"malformed key", map[string]string{"x-api-key": "let-me-in"}, func(string) int { return 401 }},
		{"revoked key", bearer(revoked), func(string) int { return 401 }},
		{"ingest key", bearer(ingest), func(string) int { return 403 }},
		{"read key", map[string]string{"x-api-key": read}, func(scope string) int {
			if scope == "admin" {
				return 403
			}
			return 0 // allowed: not checked here
		}},
	}
	scopeOf := func(method, path string) string {
		if method != "GET" || strings.HasPrefix(path, "/api/v1/keys") {
			return "admin"
		}
		return "read"
	}
	routes := documentedRoutes(t, a, read)
	pages := []apiRoute{{"GET", "/"}, {"GET", "/services/{name}"}, {"GET", "/services/{name}/llm"}, {"GET", "/traces/{trace_id}"},
		{"GET", "/monitors"}, {"GET", "/monitors/{name}"}, {"GET", "/runs/{id}"}, {"GET", "/alerts"}, {"GET", "/alerts/{id}"},
		{"POST", "/monitors/{name}/run"}, {"GET", "/metrics"}}
	for _, c := range callers {
		for _, rt := range append(routes, pages...) {
			want := c.status(scopeOf(rt.method, rt.path))
			if want == 0 {
				continue
			}
			t.Run(c.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				var bodies []string
				for _, ids := range []map[string]string{existing, unknown} {
					h := map[string]string{"Content-Type": "application/json"}
					for k, v := range c.header {
						h[k] = v
					}
					p := fill(rt.path, ids)
					code, hdr, body := call(t, a, rt.method, p, h, "")
					if code != want {
						t.Fatalf("%s %s: %d %s, want %d", rt.method, p, code, body, want)
					}
					if want == 401 && !strings.Contains(hdr.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("401 without WWW-Authenticate: %v", hdr)
					}
					// A page's sign-in form names the page to go back to:
					// take the ids out before comparing.
					for _, v := range ids {
						body = strings.ReplaceAll(body, v, "ID")
					}
					bodies = append(bodies, body)
				}
				if bodies[0] != bodies[1] {
					t.Errorf("the answers differ between an existing and an unknown id:\n%s\n%s", bodies[0], bodies[1])
				}
			})
		}
	}

	// What stays open, and what the right keys reach.
	for _, tc := range []struct {
		method, path string
		header       map[string]string
		want         int
	}{
		{"GET", "/healthz", nil, 200},
		{"GET", "/readyz", bearer("fw_garbage"), 200},
		{"GET", "/signin", nil, 200},
		{"GET", "/static/app.css", nil, 200},
		{"GET", "/api/v1/traces/" + traceID, bearer(read), 200},
		{"GET", "/api/v1/traces/" + traceID, bearer(admin), 200},
		{"GET", "/metrics", bearer(read), 200},
		{"GET", "/monitors", bearer(read), 200},
		{"GET", "/api/v1/keys", bearer(admin), 200},
		{"DELETE", "/api/v1/silences/" + silence.ID, bearer(admin), 200},
	} {
		if code, _, body := call(t, a, tc.method, tc.path, tc.header, ""); code != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
		}
	}

	// The dashboard signs in with a read key into a cookie session.
	code, hdr, _ := call(t, a, "POST", "/signin", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://" + a.HTTPAddr()},
		"key="+read+"&next=/monitors")
	if code != http.StatusSeeOther || hdr.Get("Location") != "/monitors" {
		t.Fatalf("sign in: %d %v", code, hdr)
	}
	cookie := hdr.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || strings.Contains(cookie, read) {
		t.Errorf("session cookie %q", cookie)
	}
	session := strings.SplitN(cookie, ";", 2)[0]
	if code, _, _ := call(t, a, "GET", "/monitors/quality", map[string]string{"Cookie": session}, ""); code != 200 {
		t.Errorf("a page with the session: %d", code)
	}
	if code, _, _ := call(t, a, "POST", "/api/v1/monitors/quality/runs", map[string]string{"Cookie": session}, ""); code != 403 {
		t.Errorf("an admin route with a read session: %d, want 403", code)
	}

	// No key ever reaches the logs or /metrics.
	_, _, metrics := call(t, a, "GET", "/metrics", bearer(read), "")
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) || strings.Contains(logs.String(), s[3:]) {
			t.Errorf("a key appears in the logs")
		}
		if strings.Contains(metrics, s) {
			t.Errorf("a key appears in /metrics")
		}
	}
	if !strings.Contains(logs.String(), "api_key_created") {
		t.Errorf("the log scan saw no log at all: %.200s", logs.String())
	}
}

func exportHTTP(ctx context.Context, endpoint string, spans tracetest.SpanStubs, headers map[string]string) error {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(headers), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	return exp.ExportSpans(ctx, spans.Snapshots())
}

func exportGRPC(ctx context.Context, endpoint string, spans tracetest.SpanStubs, headers map[string]string) error {
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithHeaders(headers), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	return exp.ExportSpans(ctx, spans.Snapshots())
}

// TestAuthOTLP sends traces with the OTel SDK's exporters over HTTP (on
// every path prefix) and gRPC, with and without keys.
func TestAuthOTLP(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	ks, err := app.OpenKeyStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := mustCreate(t, ks, "ops", "admin")
	ingest := mustCreate(t, ks, "app", "ingest")
	read := mustCreate(t, ks, "reader", "read")
	ks.Close()
	a, _ := startLogged(t, func(c *config.Config) { c.DataDir = dir; c.Auth = "keys" })
	for _, tc := range []struct {
		name    string
		headers map[string]string
		ok      bool
	}{
		{"no key", nil, false},
		{"bearer ingest key", map[string]string{"Authorization": "Bearer " + ingest}, true},
		{"x-api-key ingest key", map[string]string{"x-api-key": ingest}, true},
		{"read key", map[string]string{"Authorization": "Bearer " + read}, false},
		{"admin key", map[string]string{"Authorization": "Bearer " + admin}, false},
		{"wrong key", map[string]string{"x-api-key": "fw_" + strings.Repeat("1", 64)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := otlptest.RAG{Service: "svc", Question: "q", Answer: "a", Model: "m"}.Spans()
			errHTTP := exportHTTP(ctx, a.HTTPAddr(), spans, tc.headers)
			errGRPC := exportGRPC(ctx, a.GRPCAddr(), spans, tc.headers)
			if (errHTTP == nil) != tc.ok || (errGRPC == nil) != tc.ok {
				t.Errorf("HTTP: %v; gRPC: %v; want success %v", errHTTP, errGRPC, tc.ok)
			}
			if !tc.ok && errGRPC != nil && !strings.Contains(errGRPC.Error(), "Unauthenticated") && !strings.Contains(errGRPC.Error(), "PermissionDenied") {
				t.Errorf("gRPC refusal: %v", errGRPC)
			}
		})
	}
	// Every OTLP/HTTP prefix needs the key.
	for _, p := range []string{"/v1/traces", "/api/public/otel/v1/traces", "/api/v1/private/otel/v1/logs"} {
		code, _, _ := call(t, a, "POST", p, map[string]string{"Content-Type": "application/x-protobuf"}, "")
		if code != 401 {
			t.Errorf("POST %s without a key: %d, want 401", p, code)
		}
	}
}

// mustCreate makes a key in a store opened as `flowwatch keys create`
// does.
func mustCreate(t *testing.T, ks app.KeyStore, name, scopes string) string {
	t.Helper()
	secret, hash := auth.NewKey()
	if _, err := ks.CreateAPIKey(context.Background(), model.APIKey{Name: name, Scopes: strings.Split(scopes, ","), Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestStartRefusedBeyondLoopback: listening on every interface without a
// key refuses to start with a message saying how to make one; with a key
// (made in the data directory, as `flowwatch keys create` does) or auth:
// none it starts.
func TestStartRefusedBeyondLoopback(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Address = "0.0.0.0:0"
	cfg.GRPC.Address = "127.0.0.1:0"
	_, err := app.New(ctx, cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "flowwatch keys create") || !strings.Contains(err.Error(), "auth: none") {
		t.Fatalf("New on 0.0.0.0 without keys = %v, want a refusal saying how to create a key", err)
	}

	none := cfg
	none.Auth = "none"
	b, err := app.New(ctx, none, nil)
	if err != nil {
		t.Fatalf("auth: none: %v", err)
	}
	_ = b.Shutdown(ctx)

	ks, err := app.OpenKeyStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := mustCreate(t, ks, "ops", "read")
	ks.Close()
	c, err := app.New(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("with a key: %v", err)
	}
	defer c.Shutdown(ctx)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := call(t, c, "GET", "/api/v1/services", nil, ""); code != 401 {
		t.Errorf("no key: %d, want 401", code)
	}
	if code, _, _ := call(t, c, "GET", "/api/v1/services", bearer(key), ""); code != 200 {
		t.Errorf("with the key: %d, want 200", code)
	}
	// While the server holds the data directory, the keys command is told
	// to go through it.
	if _, err := app.OpenKeyStore(ctx, cfg, nil); !errors.Is(err, app.ErrDataDirInUse) {
		t.Errorf("OpenKeyStore while serving = %v, want ErrDataDirInUse", err)
	}
}

// TestBrowserSafety: the Host header is checked (DNS rebinding) and
// state-changing requests from other sites are refused, on an open
// loopback server (no keys) too.
func TestBrowserSafety(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(hook.Close)
	a, _ := startLogged(t, func(c *config.Config) {
		c.HTTP.PublicURL = "https://flowwatch.example.com"
		c.HTTP.AllowedHosts = []string{"flowwatch"}
		c.Channels = map[string]config.Channel{"hooks": {Type: "webhook", URL: hook.URL}}
	})
	for _, tc := range []struct {
		name         string
		method, path string
		header       map[string]string
		want         int
	}{
		{"rebinding name", "GET", "/api/v1/traces", map[string]string{"Host": "attacker.example:4318"}, 421},
		{"rebinding name on a page", "GET", "/", map[string]string{"Host": "attacker.example"}, 421},
		{"localhost", "GET", "/api/v1/traces", map[string]string{"Host": "localhost:4318"}, 200},
		{"public_url host", "GET", "/api/v1/traces", map[string]string{"Host": "flowwatch.example.com"}, 200},
		{"allowed_hosts", "GET", "/api/v1/traces", map[string]string{"Host": "flowwatch:4318"}, 200},
		{"IP address", "GET", "/api/v1/traces", map[string]string{"Host": "10.1.2.3:4318"}, 200},
		{"health with any host", "GET", "/healthz", map[string]string{"Host": "attacker.example"}, 200},
		{"cross-site text/plain channel test", "POST", "/api/v1/channels/hooks/test",
			map[string]string{"Content-Type": "text/plain", "Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-origin without Sec-Fetch-Site", "POST", "/api/v1/channels/hooks/test",
			map[string]string{"Content-Type": "text/plain", "Origin": "https://attacker.example"}, 403},
		{"cross-site monitor delete", "DELETE", "/api/v1/monitors/x", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site dashboard run", "POST", "/monitors/x/run", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site read is fine", "GET", "/api/v1/traces", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
		{"same-origin channel test", "POST", "/api/v1/channels/hooks/test", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"a client that is not a browser, again within 10 s", "POST", "/api/v1/channels/hooks/test", nil, 429},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := call(t, a, tc.method, tc.path, tc.header, "")
			if code != tc.want {
				t.Fatalf("%d %s, want %d", code, body, tc.want)
			}
			if code == 429 && hdr.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
		})
	}
}

// TestAllowedRecipients: monitors applied through the API and monitors_dir
// may e-mail only what notifications.allowed_recipients allows; without
// it, anyone while keys are not required, no one once they are.
func TestAllowedRecipients(t *testing.T) {
	box, port := startMailbox(t)
	_ = box
	smtpCfg := &config.SMTP{Host: "127.0.0.1", Port: port, TLS: "none", From: "flowwatch@example.com"}
	monitorFor := func(email string) string {
		return "name: q\ntarget: {service: shop}\nschedule: {cron: \"0 0 1 1 *\"}\nwindow: {lookback: PT1H}\nquality:\n  lexical_groundedness: {min_pass_rate: 0.5}\nnotify: {emails: [" + email + "]}\n"
	}
	put := func(a *app.App, key, email string) (int, string) {
		h := map[string]string{"Content-Type": "application/yaml"}
		if key != "" {
			h["Authorization"] = "Bearer " + key
		}
		code, _, body := call(t, a, "PUT", "/api/v1/monitors/q", h, monitorFor(email))
		return code, body
	}

	a, _ := startLogged(t, func(c *config.Config) {
		c.SMTP = smtpCfg
		c.Notifications.AllowedRecipients = []string{"@example.com", "boss@partner.org"}
	})
	for _, tc := range []struct {
		email string
		want  int
	}{
		{"oncall@example.com", 201},
		{"boss@partner.org", 200},
		{"someone@partner.org", 422},
		{"victim@elsewhere.net", 422},
		{"x@sub.example.com", 422},
	} {
		code, body := put(a, "", tc.email)
		if code != tc.want {
			t.Errorf("notify.emails [%s]: %d %s, want %d", tc.email, code, body, tc.want)
		}
		if code == 422 && (!strings.Contains(body, tc.email) || !strings.Contains(body, "notifications.allowed_recipients")) {
			t.Errorf("refusal does not name the address and the key: %s", body)
		}
	}
	if code, _, body := call(t, a, "POST", "/api/v1/channels/emails/test?to=victim@elsewhere.net", nil, ""); code != 403 || !strings.Contains(body, "allowed_recipients") {
		t.Errorf("test e-mail to a foreign address: %d %s", code, body)
	}

	// Unset: anyone while the loopback server is open, no one once a key
	// exists.
	b, _ := startLogged(t, func(c *config.Config) { c.SMTP = smtpCfg })
	if code, body := put(b, "", "anyone@elsewhere.net"); code != 201 {
		t.Errorf("open server, no allowed_recipients: %d %s", code, body)
	}
	admin := createKey(t, b, "", "ops", "admin")
	until(t, "keys required", func() bool { code, _ := put(b, "", "x@y.org"); return code == 401 })
	if code, body := put(b, admin, "anyone@elsewhere.net"); code != 422 || !strings.Contains(body, "allowed_recipients") {
		t.Errorf("keys required, no allowed_recipients: %d %s", code, body)
	}

	// monitors_dir is checked against the list when it is set.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "q.yaml"), []byte(monitorFor("victim@elsewhere.net")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Address, cfg.GRPC.Address = "127.0.0.1:0", "127.0.0.1:0"
	cfg.SMTP = smtpCfg
	cfg.MonitorsDir = dir
	cfg.Notifications.AllowedRecipients = []string{"@example.com"}
	if _, err := app.New(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "victim@elsewhere.net") {
		t.Errorf("monitors_dir with a foreign address: %v", err)
	}
}
