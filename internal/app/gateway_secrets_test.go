package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/gateway/gatewaytest"
)

// TestGatewayNoSecretLeaks: the credentials a caller sends through a
// gateway (its upstream key as Authorization, as api-key, in the query;
// its flowwatch key in X-Flowwatch-Key; a wrong flowwatch key) appear
// nowhere: not in the database files (while running, and after the
// shutdown's checkpoint), not in the logs at debug level, not in any API
// answer (trace list, detail, a search for the key), not in /metrics.
// The upstream gets the caller's credentials unchanged and never the
// flowwatch key.
func TestGatewayNoSecretLeaks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	ks, err := app.OpenKeyStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ingest := mustCreate(t, ks, "gateway-app", "ingest")
	read := mustCreate(t, ks, "reader", "read")
	ks.Close()

	up := gatewaytest.New(t, gatewaytest.Options{Reply: func(r gatewaytest.Request) gatewaytest.Reply {
		body := string(r.Body)
		switch {
		case strings.Contains(body, "refuse my key"):
			return gatewaytest.Reply{Status: http.StatusUnauthorized} // quotes the key, masked as OpenAI does
		case strings.Contains(body, "rate me"):
			return gatewaytest.Reply{Status: http.StatusTooManyRequests, RetryAfter: time.Second}
		}
		return gatewaytest.Reply{Content: "Reset it from the sign-in page."}
	}})
	a, logs := startLogged(t, func(c *config.Config) {
		c.DataDir, c.Auth = dir, "keys"
		c.Gateways = []config.Gateway{{Name: "locked", Kind: "openai", Upstream: up.URL + "/v1", Service: "secret-app"}}
	})

	upstreamKey := callerKey()
	azureKey := randomToken("azure-key-")
	queryKey := randomToken("query-key-")
	wrongKey := "fw_" + randomToken("")
	chat := func(q string, extra string) string {
		return fmt.Sprintf(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":%q}]%s}`, q, extra)
	}
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		status           int
	}{
		{"chat", "/chat/completions", chat("How do I reset my password?", ""),
			map[string]string{"Authorization": "Bearer " + upstreamKey, "X-Flowwatch-Key": ingest}, 200},
		{"stream", "/chat/completions", chat("And streamed?", `,"stream":true,"stream_options":{"include_usage":true}`),
			map[string]string{"Authorization": "Bearer " + upstreamKey, "X-Flowwatch-Key": ingest}, 200},
		{"upstream refuses the key", "/chat/completions", chat("refuse my key", ""),
			map[string]string{"Authorization": "Bearer " + upstreamKey, "X-Flowwatch-Key": ingest}, 401},
		{"429", "/chat/completions", chat("rate me", ""),
			map[string]string{"Authorization": "Bearer " + upstreamKey, "X-Flowwatch-Key": ingest}, 429},
		{"azure api-key and a key in the query", "/chat/completions?api-version=2024-10-21&api-key=" + queryKey, chat("Azure style", ""),
			map[string]string{"Api-Key": azureKey, "X-Flowwatch-Key": ingest}, 200},
		{"wrong flowwatch key", "/chat/completions", chat("Not let in", ""),
			map[string]string{"Authorization": "Bearer " + upstreamKey, "X-Flowwatch-Key": wrongKey}, 401},
		{"no flowwatch key", "/chat/completions", chat("Not let in either", ""),
			map[string]string{"Authorization": "Bearer " + upstreamKey}, 401},
	} {
		h := map[string]string{"Content-Type": "application/json"}
		for k, v := range tc.header {
			h[k] = v
		}
		if code, _, body := call(t, a, "POST", "/gateway/locked"+tc.path, h, tc.body); code != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, code, body, tc.status)
		}
	}

	// The upstream got what the caller sent for it, and nothing of
	// flowwatch's.
	reqs := up.Requests()
	if len(reqs) != 5 {
		t.Fatalf("the upstream got %d requests, want the 5 let through", len(reqs))
	}
	for i, r := range reqs {
		if _, ok := r.Header["X-Flowwatch-Key"]; ok {
			t.Errorf("upstream request %d has X-Flowwatch-Key", i)
		}
		all := fmt.Sprint(r.Header) + r.RawQuery + string(r.Body)
		if strings.Contains(all, ingest[3:]) {
			t.Errorf("upstream request %d holds the flowwatch key", i)
		}
		if azure := r.Header.Get("Api-Key") != ""; azure {
			if r.Header.Get("Api-Key") != azureKey || !strings.Contains(r.RawQuery, "api-key="+queryKey) {
				t.Errorf("upstream request %d: api-key %q, query %q, want the caller's", i, r.Header.Get("Api-Key"), r.RawQuery)
			}
		} else if r.Header.Get("Authorization") != "Bearer "+upstreamKey {
			t.Errorf("upstream request %d: Authorization %q, want the caller's", i, r.Header.Get("Authorization"))
		}
	}

	// Every API answer is kept for the scan.
	var answers []string
	readAPI := func(path string) string {
		t.Helper()
		code, _, body := call(t, a, "GET", path, bearer(read), "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		answers = append(answers, body) // not the path: the searches name the keys
		return body
	}
	var list traceList
	until(t, "the 5 calls recorded", func() bool {
		list = traceList{}
		return decodeJSON(readAPI("/api/v1/traces?service=secret-app&limit=100"), &list) && len(list.Traces) == 5
	})
	seenContent := false
	for _, tr := range list.Traces {
		d := readAPI("/api/v1/traces/" + tr.TraceID)
		seenContent = seenContent || strings.Contains(d, "How do I reset my password?")
	}
	if !seenContent {
		t.Error("no trace detail holds the question: the scan of the API saw no content")
	}
	for _, q := range []string{upstreamKey, azureKey, queryKey, ingest, "caller-secret"} {
		var found traceList
		if decodeJSON(readAPI("/api/v1/traces?q="+url.QueryEscape(q)), &found); len(found.Traces) != 0 {
			t.Errorf("a search for a key found %d traces", len(found.Traces))
		}
	}
	readAPI("/api/v1/services")
	answers = append(answers, "/metrics\n"+scrapeText(t, a))

	secrets := map[string]string{
		"the caller's upstream key": upstreamKey, "the caller's api-key": azureKey, "the key in the query": queryKey,
		"the flowwatch key": ingest, "the flowwatch key's secret part": ingest[3:], "the wrong flowwatch key": wrongKey,
		"the read key": read,
	}
	scan := func(where, text string) {
		t.Helper()
		for what, s := range secrets {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("%s holds %s: ...%s...", where, what, text[max(0, i-120):min(len(text), i+len(s)+40)])
			}
		}
	}
	scanFiles := func(when string) {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		n := 0
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || fi.IsDir() {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			n++
			scan(when+" "+filepath.Base(f), string(b))
		}
		if n == 0 {
			t.Errorf("%s: no file in the data directory to scan", when)
		}
	}
	for _, s := range answers {
		scan("an API answer", s)
	}
	scanFiles("while running:")
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	scanFiles("after shutdown:")
	logText := logs.String()
	scan("the logs", logText)
	if !strings.Contains(logText, "/gateway/locked/chat/completions") {
		t.Error("the logs never mention the gateway's calls: the scan would see nothing")
	}
}

func decodeJSON(s string, v any) bool {
	return json.Unmarshal([]byte(s), v) == nil
}
