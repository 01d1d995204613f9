package app_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/notify"
	"github.com/flowwatch/flowwatch/internal/otlptest"
)

// mailbox is a real SMTP server (go-smtp) that keeps what it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{b: b}, nil }

func (b *mailbox) messages() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.msgs...)
}

type mailSession struct{ b *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, data)
	s.b.mu.Unlock()
	return nil
}

// startMailbox starts an SMTP server on a free loopback port.
func startMailbox(t *testing.T) (*mailbox, int) {
	t.Helper()
	b := &mailbox{}
	return b, serveSMTP(t, b, nil)
}

// serveSMTP serves be on a free loopback port until the test ends and
// returns the port. With tlsConfig the server offers STARTTLS and takes
// AUTH only on an encrypted connection; without, it speaks plain text.
func serveSMTP(t *testing.T, be smtp.Backend, tlsConfig *tls.Config) int {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.TLSConfig = tlsConfig
	srv.AllowInsecureAuth = tlsConfig == nil
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // in case Serve had not taken it yet
	})
	return l.Addr().(*net.TCPAddr).Port
}

// hook is a webhook receiver that verifies signatures and keeps the
// payloads.
type hook struct {
	mu       sync.Mutex
	payloads []map[string]any
	bad      []string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notify.VerifySignature("s3cret", r.Header, body, time.Now(), 5*time.Minute); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		h.bad = append(h.bad, err.Error())
	}
	h.payloads = append(h.payloads, p)
}

func (h *hook) received() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.payloads...)
}

// mailText is the text/plain part and the subject of a message.
func mailText(t *testing.T, raw []byte) (subject, text string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("received message does not parse: %v", err)
	}
	dec := new(mime.WordDecoder)
	subject, err = dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	var find func(r *multipart.Reader) string
	find = func(r *multipart.Reader) string {
		for {
			p, err := r.NextPart()
			if err != nil {
				return ""
			}
			ct, ps, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			switch {
			case strings.HasPrefix(ct, "multipart/"):
				if s := find(multipart.NewReader(p, ps["boundary"])); s != "" {
					return s
				}
			case ct == "text/plain":
				b, _ := io.ReadAll(p) // multipart decodes quoted-printable
				return string(b)
			}
		}
	}
	return subject, find(multipart.NewReader(msg.Body, params["boundary"]))
}

// TestAlertsEndToEnd: OTLP traffic in; a monitor run whose judge finds
// the answers ungrounded fires an alert, and an e-mail arrives at a real
// SMTP server and a signed webhook at a real HTTP server; a later run
// finds them grounded, and both say it is resolved.
func TestAlertsEndToEnd(t *testing.T) {
	ctx := context.Background()
	box, port := startMailbox(t)
	h := &hook{}
	hooks := httptest.NewServer(h)
	t.Cleanup(hooks.Close)
	t.Setenv("FW_TEST_HOOK_SECRET", "s3cret")

	var grounded atomic.Int32
	grounded.Store(2)
	js := judgetest.New(t, judgetest.Options{Reply: func(r judgetest.Request) judgetest.Reply {
		g := int(grounded.Load())
		return judgetest.FixedScores(map[string]int{"groundedness": g, "relevance": g})(r)
	}})
	a := startAppWith(t, t.TempDir(), func(c *config.Config) {
		c.HTTP.PublicURL = "https://flowwatch.example.com"
		c.Judges = map[string]config.Judge{"j": {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model"}}
		c.SMTP = &config.SMTP{Host: "127.0.0.1", Port: port, TLS: "none", From: "flowwatch@example.com"}
		c.Channels = map[string]config.Channel{"hooks": {Type: "webhook", URL: hooks.URL, SecretEnv: "FW_TEST_HOOK_SECRET"}}
	})

	base := time.Now().UTC().Add(-20 * time.Minute)
	var spans tracetest.SpanStubs
	for i := range 4 {
		r := otlptest.RAG{Service: "rag-app", Question: fmt.Sprintf("Where is my order %d?", i), Answer: "It ships tomorrow.",
			Documents: []string{"Orders ship within two days."}, Model: "gpt-4o", Start: base.Add(time.Duration(i) * time.Minute)}
		spans = append(spans, r.Spans()...)
	}
	if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), spans, false); err != nil {
		t.Fatal(err)
	}
	monitorYAML := `name: grounding
target: {service: rag-app}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT1H}
judge: j
quality:
  groundedness: {pass_score: 3, min_pass_rate: 0.7}
  relevance: {pass_score: 3, min_pass_rate: 0.7}
notify: {emails: [oncall@example.com], channels: [hooks]}
`
	if code := do(t, a, http.MethodPut, "/api/v1/monitors/grounding", "application/yaml", monitorYAML, nil); code != http.StatusCreated {
		t.Fatalf("PUT monitor: %d", code)
	}
	// runOnce runs the monitor over its window now, or over the window
	// body gives, and returns the end of the window it read.
	runOnce := func(body string) string {
		t.Helper()
		var created struct {
			Run runWire `json:"run"`
		}
		ct := ""
		if body != "" {
			ct = "application/json"
		}
		if code := do(t, a, http.MethodPost, "/api/v1/monitors/grounding/runs", ct, body, &created); code != http.StatusAccepted {
			t.Fatalf("POST run: %d", code)
		}
		var run struct {
			restartRunWire
			WindowEnd string `json:"window_end"`
		}
		waitRun(t, a, created.Run.ID, &run, func() bool { return run.Status == "succeeded" || run.Status == "failed" })
		if run.Status != "succeeded" {
			t.Fatalf("run %s: %s", run.Status, run.Error)
		}
		return run.WindowEnd
	}
	// until waits for the sender (it looks every second).
	until := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never happened (mail %d, webhooks %d, bad %v)", what, len(box.messages()), len(h.received()), h.bad)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Both metrics fail in the first run: one message per target lists
	// both (not one per metric).
	firstEnd := runOnce("")
	until("the firing notifications", func() bool { return len(box.messages()) == 1 && len(h.received()) == 1 })
	subject, text := mailText(t, box.messages()[0])
	if subject != "[FIRING:2] grounding" {
		t.Errorf("firing subject %q, want [FIRING:2] grounding", subject)
	}
	for _, want := range []string{"grounding", "rag-app", "https://flowwatch.example.com/runs/",
		"groundedness pass rate 0.0% is below 70.0%", "relevance pass rate 0.0% is below 70.0%"} {
		if !strings.Contains(text, want) {
			t.Errorf("firing e-mail does not say %q:\n%s", want, text)
		}
	}
	if p := h.received()[0]; p["event"] != "firing" || p["version"] != "2" || len(p["alerts"].([]any)) != 2 {
		t.Errorf("firing webhook %v, want version 2 listing 2 alerts", p)
	}
	if g := find(t, scrape(t, a), "flowwatch_alerts_firing", map[string]string{"monitor": "grounding"}); g.GetGauge().GetValue() != 2 {
		t.Errorf("flowwatch_alerts_firing{monitor=grounding} = %v, want 2", g.GetGauge().GetValue())
	}

	// New traffic, judged grounded, in a window after the first one (the
	// first window's traces keep their cached verdicts).
	grounded.Store(5)
	start, err := time.Parse(time.RFC3339Nano, firstEnd)
	if err != nil {
		t.Fatal(err)
	}
	spans = nil
	for i := range 4 {
		r := otlptest.RAG{Service: "rag-app", Question: fmt.Sprintf("Can I return item %d?", i), Answer: "Yes, within 30 days.",
			Documents: []string{"Returns are accepted within 30 days."}, Model: "gpt-4o", Start: start.Add(time.Duration(i+1) * time.Millisecond)}
		spans = append(spans, r.Spans()...)
	}
	if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), spans, false); err != nil {
		t.Fatal(err)
	}
	runOnce(fmt.Sprintf(`{"window_start": %q, "window_end": %q}`, firstEnd, start.Add(time.Minute).Format(time.RFC3339Nano)))
	until("the resolved notifications", func() bool { return len(box.messages()) == 2 && len(h.received()) == 2 })
	if subject, _ := mailText(t, box.messages()[1]); subject != "[RESOLVED:2] grounding" {
		t.Errorf("resolved subject %q", subject)
	}
	if p := h.received()[1]; p["event"] != "resolved" {
		t.Errorf("resolved webhook %v", p)
	}
	if len(h.bad) > 0 {
		t.Errorf("webhooks that did not verify: %v", h.bad)
	}
	if f, ok := scrape(t, a)["flowwatch_alerts_firing"]; ok && len(f.GetMetric()) > 0 {
		t.Errorf("flowwatch_alerts_firing after the resolution: %v", f.GetMetric())
	}

	// Each alert's history: resolved, with the four messages that told of
	// it sent (firing and resolved, to each target).
	var alerts struct {
		Alerts []struct {
			ID    string `json:"id"`
			Key   string `json:"key"`
			State string `json:"state"`
		} `json:"alerts"`
	}
	get(t, a, "/api/v1/alerts?monitor=grounding", &alerts)
	if len(alerts.Alerts) != 2 || alerts.Alerts[0].State != "resolved" || alerts.Alerts[1].State != "resolved" {
		t.Fatalf("alerts %+v, want two resolved alerts", alerts.Alerts)
	}
	var one struct {
		Notifications []struct {
			Channel string `json:"channel"`
			Event   string `json:"event"`
			Status  string `json:"status"`
		} `json:"notifications"`
	}
	get(t, a, "/api/v1/alerts/"+alerts.Alerts[0].ID, &one)
	var got []string
	for _, n := range one.Notifications {
		got = append(got, n.Channel+" "+n.Event+" "+n.Status)
	}
	if len(got) != 4 || strings.Count(strings.Join(got, ","), "sent") != 4 {
		t.Errorf("notifications %v, want 4 sent", got)
	}
}

// TestNotificationSurvivesRestart: a webhook is down when an alert
// fires; flowwatch is stopped while the notification waits to be tried
// again, and started again once the receiver is back: the notification is
// delivered, exactly once, and its history shows the failed attempts. A
// test notification goes out at once.
func TestNotificationSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	var down atomic.Bool
	down.Store(true)
	var refused atomic.Int32
	h := &hook{}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			refused.Add(1)
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hooks.Close)
	t.Setenv("FW_TEST_HOOK_SECRET", "s3cret")
	js := judgetest.New(t, judgetest.Options{Reply: judgetest.FixedScores(map[string]int{"groundedness": 1})})
	cfg := func(c *config.Config) {
		c.Judges = map[string]config.Judge{"j": {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model"}}
		c.Channels = map[string]config.Channel{"hooks": {Type: "webhook", URL: hooks.URL, SecretEnv: "FW_TEST_HOOK_SECRET"}}
		c.Notifications.InitialBackoff = config.Duration(100 * time.Millisecond)
		c.Notifications.MaxBackoff = config.Duration(200 * time.Millisecond)
	}
	dir := t.TempDir()
	a := startAppWith(t, dir, cfg)
	r := otlptest.RAG{Service: "rag-app", Question: "Is it in stock?", Answer: "Yes.", Documents: []string{"Out of stock."},
		Model: "gpt-4o", Start: time.Now().UTC().Add(-10 * time.Minute)}
	if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), r.Spans(), false); err != nil {
		t.Fatal(err)
	}
	monitorYAML := `name: grounding
target: {service: rag-app}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT1H}
judge: j
quality:
  groundedness: {pass_score: 3, min_pass_rate: 0.7}
notify: {channels: [hooks]}
`
	if code := do(t, a, http.MethodPut, "/api/v1/monitors/grounding", "application/yaml", monitorYAML, nil); code != http.StatusCreated {
		t.Fatalf("PUT monitor: %d", code)
	}
	var created struct {
		Run runWire `json:"run"`
	}
	if code := do(t, a, http.MethodPost, "/api/v1/monitors/grounding/runs", "", "", &created); code != http.StatusAccepted {
		t.Fatalf("POST run: %d", code)
	}
	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never happened", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("two refused attempts", func() bool { return refused.Load() >= 2 })
	if g := find(t, scrape(t, a), "flowwatch_notifications_queued", map[string]string{"channel": "hooks"}); g.GetGauge().GetValue() != 1 {
		t.Errorf("flowwatch_notifications_queued{channel=hooks} = %v, want 1", g.GetGauge().GetValue())
	}
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	attemptsBefore := refused.Load()

	down.Store(false)
	b := startAppWith(t, dir, cfg)
	waitUntil("the delivery after the restart", func() bool { return len(h.received()) > 0 })
	var alerts struct {
		Alerts []struct {
			ID string `json:"id"`
		} `json:"alerts"`
	}
	get(t, b, "/api/v1/alerts", &alerts)
	if len(alerts.Alerts) != 1 {
		t.Fatalf("alerts after the restart: %+v", alerts.Alerts)
	}
	var one struct {
		Notifications []struct {
			Status    string `json:"status"`
			Attempts  int    `json:"attempts"`
			LastError string `json:"last_error"`
		} `json:"notifications"`
	}
	waitUntil("the delivery recorded", func() bool {
		get(t, b, "/api/v1/alerts/"+alerts.Alerts[0].ID, &one)
		return len(one.Notifications) == 1 && one.Notifications[0].Status == "sent"
	})
	if n := one.Notifications[0]; n.Attempts != int(attemptsBefore)+1 || !strings.Contains(n.LastError, "503") {
		t.Errorf("notification %+v, want sent on attempt %d with the last 503 kept", n, attemptsBefore+1)
	}
	if got := h.received(); len(got) != 1 || got[0]["event"] != "firing" {
		t.Errorf("the receiver got %d notifications, want the firing once", len(got))
	}

	// A test notification is sent at once, not queued.
	var tested struct {
		Delivered bool `json:"delivered"`
	}
	if code := do(t, b, http.MethodPost, "/api/v1/channels/hooks/test", "", "", &tested); code != http.StatusOK || !tested.Delivered {
		t.Fatalf("POST test: %d %+v", code, tested)
	}
	if got := h.received(); len(got) != 2 || got[1]["event"] != "test" {
		t.Errorf("after the test: %d notifications, the last %v", len(got), got[len(got)-1]["event"])
	}
}

// TestJudgeOutageEndToEnd: the judge refuses every request (a revoked
// key). The run still succeeds but is degraded, with the judge's error;
// the monitor's unhealthy alerts go out as one e-mail for the run that
// says the run was degraded, not as one e-mail per metric.
func TestJudgeOutageEndToEnd(t *testing.T) {
	ctx := context.Background()
	box, port := startMailbox(t)
	js := judgetest.New(t, judgetest.Options{Reply: func(judgetest.Request) judgetest.Reply {
		return judgetest.Reply{Status: http.StatusUnauthorized, Content: "Incorrect API key provided"}
	}})
	a := startAppWith(t, t.TempDir(), func(c *config.Config) {
		c.Judges = map[string]config.Judge{"j": {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model"}}
		c.SMTP = &config.SMTP{Host: "127.0.0.1", Port: port, TLS: "none", From: "flowwatch@example.com"}
	})
	base := time.Now().UTC().Add(-20 * time.Minute)
	var spans tracetest.SpanStubs
	for i := range 6 {
		r := otlptest.RAG{Service: "rag-app", Question: fmt.Sprintf("Where is my order %d?", i), Answer: "It ships tomorrow.",
			Documents: []string{"Orders ship within two days."}, Model: "gpt-4o", Start: base.Add(time.Duration(i) * time.Minute)}
		spans = append(spans, r.Spans()...)
	}
	if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), spans, false); err != nil {
		t.Fatal(err)
	}
	monitorYAML := `name: outage
target: {service: rag-app}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT1H}
judge: j
quality:
  groundedness: {pass_score: 3, min_pass_rate: 0.7}
  relevance: {pass_score: 3, min_pass_rate: 0.7}
  coherence: {pass_score: 3, min_pass_rate: 0.7}
notify: {emails: [oncall@example.com]}
`
	if code := do(t, a, http.MethodPut, "/api/v1/monitors/outage", "application/yaml", monitorYAML, nil); code != http.StatusCreated {
		t.Fatalf("PUT monitor: %d", code)
	}
	var created struct {
		Run runWire `json:"run"`
	}
	if code := do(t, a, http.MethodPost, "/api/v1/monitors/outage/runs", "", "", &created); code != http.StatusAccepted {
		t.Fatalf("POST run: %d", code)
	}
	var run struct {
		restartRunWire
		Degraded    bool   `json:"degraded"`
		JudgeErrors int    `json:"judge_errors"`
		JudgeError  string `json:"judge_error"`
	}
	waitRun(t, a, created.Run.ID, &run, func() bool { return run.Status == "succeeded" || run.Status == "failed" })
	if run.Status != "succeeded" {
		t.Fatalf("run %s: %s", run.Status, run.Error)
	}
	if !run.Degraded || run.JudgeErrors != 18 || !strings.Contains(run.JudgeError, "Incorrect API key") {
		t.Errorf("run degraded=%v judge_errors=%d judge_error=%q; want degraded, 18 errors (6 traces x 3 metrics), the judge's message",
			run.Degraded, run.JudgeErrors, run.JudgeError)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(box.messages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no e-mail about the outage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	subject, text := mailText(t, box.messages()[0])
	if !strings.HasPrefix(subject, "[FIRING:") || !strings.Contains(subject, "outage") {
		t.Errorf("subject %q, want a FIRING group message about monitor outage", subject)
	}
	if !strings.Contains(text, "Degraded:") || !strings.Contains(text, "the judge failed for 18 instances") {
		t.Errorf("e-mail does not say the run was degraded:\n%s", text)
	}
	// One message for the run, however many metrics it could not judge:
	// every alert of the monitor links to the same notification.
	var alerts struct {
		Alerts []struct {
			ID string `json:"id"`
		} `json:"alerts"`
	}
	get(t, a, "/api/v1/alerts?monitor=outage", &alerts)
	if len(alerts.Alerts) == 0 {
		t.Fatal("no alert for the outage")
	}
	ids := map[string]bool{}
	for _, al := range alerts.Alerts {
		var one struct {
			Notifications []struct {
				ID string `json:"id"`
			} `json:"notifications"`
		}
		get(t, a, "/api/v1/alerts/"+al.ID, &one)
		for _, n := range one.Notifications {
			ids[n.ID] = true
		}
	}
	if len(ids) != 1 {
		t.Errorf("%d alerts told of in %d notifications, want 1", len(alerts.Alerts), len(ids))
	}
}
