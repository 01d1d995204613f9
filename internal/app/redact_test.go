package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/otlptest"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// The secrets an app leaks into its traces in TestRedactionEndToEnd.
const (
	leakEmail = "jane.doe@example.com"
	leakCard  = "4111 1111 1111 1111"
	leakKey   = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90"
	leakPhone = "+44 20 7946 0958"
	leakID    = "ACME-123456"
	leakUser  = "user-email-attr@example.org"
)

var leaks = []string{leakEmail, leakCard, "4111111111111111", leakKey, leakPhone, leakID, leakUser}

func noLeak(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range leaks {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q", where, s)
		}
	}
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestRedactionEndToEnd: an app sends, through the OpenTelemetry SDK's
// OTLP/HTTP and OTLP/gRPC exporters and as OTLP logs, a question holding
// an e-mail address, a card number, an API key, a phone number and an
// internal id, and an answer repeating the address. With redaction
// configured, none of them reaches the trace API, the dashboard, the
// store, a judge's requests, /metrics or the logs: each is a marker, and
// /metrics counts them per rule.
func TestRedactionEndToEnd(t *testing.T) {
	ctx := context.Background()
	js := judgetest.New(t, judgetest.Options{Reply: judgetest.FixedScores(map[string]int{"relevance": 4})})
	dataDir := t.TempDir()
	a, logs := startLogged(t, func(c *config.Config) {
		c.DataDir = dataDir
		c.Judges = map[string]config.Judge{"test-judge": {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model"}}
		c.Redaction = config.Redaction{
			Detectors:      []string{"email", "phone", "card", "api_key"},
			Rules:          []config.RedactionRule{{Name: "internal_id", Pattern: `ACME-[0-9]{6}`}},
			DenyAttributes: []string{"user.email"},
		}
	})
	question := fmt.Sprintf("I am %s, card %s, phone %s, order %s. My key is %s, why does it fail?",
		leakEmail, leakCard, leakPhone, leakID, leakKey)
	answer := fmt.Sprintf("I wrote to %s: never share a key.", leakEmail)
	var traceIDs []string
	for i := 0; i < 3; i++ {
		r := otlptest.RAG{Service: "leaky-app", Deployment: "blue", Question: question, Answer: answer,
			Documents: []string{"Support: call " + leakPhone + " or write to " + leakEmail + "."},
			Model:     "gpt-4o", InputTokens: 100, OutputTokens: 20, Start: time.Now().Add(-time.Duration(i+1) * time.Minute)}
		spans := r.Spans()
		spans[0].Attributes = append(spans[0].Attributes, attribute.String("user.email", leakUser))
		traceIDs = append(traceIDs, spans[0].SpanContext.TraceID().String())
		var err error
		if i == 2 {
			err = otlptest.ExportGRPC(ctx, a.GRPCAddr(), spans)
		} else {
			err = otlptest.ExportHTTP(ctx, a.HTTPAddr(), spans, i == 1)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// The chat span's events as OTLP log records (the GenAI
			// events form).
			llm := spans[2].SpanContext
			postJSON(t, a, "/v1/logs", fmt.Sprintf(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"leaky-app"}}]},
			 "scopeLogs":[{"logRecords":[
			  {"timeUnixNano":"%d","traceId":%q,"spanId":%q,"eventName":"gen_ai.user.message",
			   "attributes":[{"key":"user.email","value":{"stringValue":%q}}],
			   "body":{"kvlistValue":{"values":[{"key":"content","value":{"stringValue":%q}}]}}}]}]}]}`,
				time.Now().UnixNano(), llm.TraceID().String(), llm.SpanID().String(), leakUser, question))
		}
	}

	// The trace API: list and detail.
	list := fetch(t, "http://"+a.HTTPAddr()+"/api/v1/traces?service=leaky-app")
	noLeak(t, "GET /api/v1/traces", list)
	var tl traceList
	if err := json.Unmarshal([]byte(list), &tl); err != nil {
		t.Fatal(err)
	}
	if len(tl.Traces) != 3 {
		t.Fatalf("%d traces listed, want 3", len(tl.Traces))
	}
	wantQ := "I am [REDACTED:email], card [REDACTED:card], phone [REDACTED:phone], order [REDACTED:internal_id]. My key is [REDACTED:api_key], why does it fail?"
	for _, tr := range tl.Traces {
		if tr.Question != wantQ || tr.Answer != "I wrote to [REDACTED:email]: never share a key." {
			t.Errorf("trace %s: question %q answer %q, want the markers", tr.TraceID, tr.Question, tr.Answer)
		}
	}
	for _, id := range traceIDs {
		detail := fetch(t, "http://"+a.HTTPAddr()+"/api/v1/traces/"+id)
		noLeak(t, "GET /api/v1/traces/"+id, detail)
		if !strings.Contains(detail, "[REDACTED:deny_attributes]") {
			t.Errorf("trace %s: user.email is not replaced by [REDACTED:deny_attributes]", id)
		}
		page := fetch(t, "http://"+a.HTTPAddr()+"/traces/"+id)
		noLeak(t, "the dashboard page of trace "+id, page)
		if !strings.Contains(page, "[REDACTED:email]") {
			t.Errorf("the dashboard page of trace %s shows no marker", id)
		}
	}

	// A monitor run: the judge sees markers only.
	monitorYAML := `name: quality
target: {service: leaky-app, deployment: blue}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT2H}
judge: test-judge
quality:
  relevance: {pass_score: 3, min_pass_rate: 0.7}
`
	if code := do(t, a, http.MethodPut, "/api/v1/monitors/quality", "application/yaml", monitorYAML, nil); code != http.StatusCreated {
		t.Fatalf("PUT monitor: %d", code)
	}
	waitRunSucceeded(t, a, startRun(t, a))
	reqs := js.Requests()
	if len(reqs) == 0 {
		t.Fatal("the judge got no request")
	}
	for i, r := range reqs {
		noLeak(t, fmt.Sprintf("judge request %d", i), string(r.Body))
		if !strings.Contains(r.Text(), "[REDACTED:email]") {
			t.Errorf("judge request %d has no marker: %s", i, r.Text())
		}
	}

	// /metrics counts per rule, and holds no value.
	metrics := fetch(t, "http://"+a.HTTPAddr()+"/metrics")
	noLeak(t, "/metrics", metrics)
	for _, rule := range []string{"email", "card", "phone", "api_key", "internal_id", "deny_attributes"} {
		line := fmt.Sprintf("flowwatch_redactions_total{rule=%q} ", rule)
		if !strings.Contains(metrics, line) || strings.Contains(metrics, line+"0\n") {
			t.Errorf("/metrics does not count redactions of %s", rule)
		}
	}

	// The store, read back after a stop.
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	noLeak(t, "the logs", logs.String())
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dataDir, "flowwatch.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range traceIDs {
		d, err := st.GetTrace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		noLeak(t, "the stored trace "+id, string(b))
		if !strings.Contains(string(b), "[REDACTED:api_key]") {
			t.Errorf("the stored trace %s holds no marker", id)
		}
	}
	// And the database files as bytes (text that is stored uncompressed).
	files, _ := filepath.Glob(filepath.Join(dataDir, "flowwatch.db*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		noLeak(t, filepath.Base(f), string(b))
	}
}

// TestRedactionConfigRefused: a bad rule stops the start, naming the
// rule and the key.
func TestRedactionConfigRefused(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Redaction.Rules = []config.RedactionRule{{Name: "ticket", Pattern: "T-[0-9"}}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `redaction.rules[0].pattern: rule "ticket": the pattern is not a valid regular expression`) {
		t.Errorf("Validate = %v, want the rule named", err)
	}
}
