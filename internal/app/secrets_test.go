package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/otlptest"
)

// authMailbox is a mailbox that takes mail only from a client logged in
// with AUTH PLAIN as user with password; while refuse is set every login
// fails (535), as with a password changed on the server.
type authMailbox struct {
	*mailbox
	user, password string
	refuse         atomic.Bool
	logins, failed atomic.Int32
}

func (b *authMailbox) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &authMailSession{mailSession: mailSession{b: b.mailbox}, box: b}, nil
}

type authMailSession struct {
	mailSession
	box    *authMailbox
	authed bool
}

func (s *authMailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authMailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if s.box.refuse.Load() || user != s.box.user || password != s.box.password {
			s.box.failed.Add(1)
			return smtp.ErrAuthFailed
		}
		s.box.logins.Add(1)
		s.authed = true
		return nil
	}), nil
}

func (s *authMailSession) Mail(from string, o *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return s.mailSession.Mail(from, o)
}

// testCA is a self-signed certificate for 127.0.0.1 and localhost, made
// once per process: the system roots it joins through SSL_CERT_FILE are
// read once per process too (see trustedCert), so every run of a test in
// this process must present the same one.
var testCA = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowwatch secrets test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, err
})

// trustedCert returns a server TLS configuration with testCA and makes
// this process trust it (SSL_CERT_FILE, for the rest of the test), so
// that flowwatch's SMTP client, which uses the system's roots, accepts
// the test server's STARTTLS. The system roots are read once per
// process: if something read them before without SSL_CERT_FILE, the test
// says so.
func trustedCert(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", file)
	roots, err := x509.SystemCertPool()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Fatalf("the system roots were read before SSL_CERT_FILE was set (another test verified a certificate first?): %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// randomToken is a secret no text holds by chance.
func randomToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// recorder is a webhook receiver that keeps each request's URI and raw
// body before next answers it.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	uris []string
	body []string
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.uris = append(rc.uris, r.URL.RequestURI())
	rc.body = append(rc.body, string(b))
	rc.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	rc.next.ServeHTTP(w, r)
}

func (rc *recorder) requests() (uris, bodies []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.uris...), append([]string(nil), rc.body...)
}

// TestNoSecretLeaks runs a flowwatch with every kind of secret it holds
// (API keys, an SMTP password, a judge's API key, webhook URLs that are
// secrets themselves, a signing key, a dashboard session) and an app
// whose traces hold personal data and credentials that redaction removes;
// it drives ingest (OTLP/HTTP and gRPC, good, wrong and revoked keys), the
// dashboard's sign-in, a judged monitor run whose alert goes out by
// e-mail and webhooks, channel tests, and failing deliveries (a refused
// SMTP login, a receiver that echoes its URL in a 404, a receiver that is
// down, a judge that quotes the key it refuses, bad OTLP data around the
// secrets). Then no log line (at debug level), API answer (every GET
// route of the OpenAPI document, refusals included), /metrics, dashboard
// page, e-mail, webhook body or judge prompt holds any of the secrets or
// redacted values; and each of these was seen, so the scan is not empty.
func TestNoSecretLeaks(t *testing.T) {
	ctx := context.Background()

	// The secrets of the configuration, from the environment.
	smtpPassword := randomToken("smtp-pw-")
	judgeKey := randomToken("sk-judge-")
	signingKey := randomToken("sign-")
	hookPath, hookQuery := randomToken("hookpath"), randomToken("hookquery")
	deadPath, deadQuery := randomToken("deadpath"), randomToken("deadquery")
	downPath := randomToken("downpath")

	box := &authMailbox{mailbox: &mailbox{}, user: "alerts", password: smtpPassword}
	smtpPort := serveSMTP(t, box, trustedCert(t))

	js := judgetest.New(t, judgetest.Options{APIKey: judgeKey, Reply: judgetest.FixedScores(map[string]int{"relevance": 1})})
	// A judge server that refuses its key and quotes it back, as some
	// OpenAI-compatible proxies do.
	echoKey := randomToken("sk-echo-")
	echo := judgetest.New(t, judgetest.Options{Reply: func(r judgetest.Request) judgetest.Reply {
		return judgetest.Reply{Status: http.StatusUnauthorized, Content: "Incorrect API key provided: " + r.Header.Get("Authorization")}
	}})

	// A receiver that verifies signatures; one that answers 404 quoting
	// the path and query it was sent to (as Express and many frameworks
	// do); one that is down.
	h := &hook{}
	good := &recorder{next: h}
	goodSrv := httptest.NewServer(good)
	t.Cleanup(goodSrv.Close)
	dead := &recorder{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Cannot POST "+r.URL.RequestURI(), http.StatusNotFound)
	})}
	deadSrv := httptest.NewServer(dead)
	t.Cleanup(deadSrv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := l.Addr().String()
	l.Close()

	t.Setenv("FW_LEAK_SMTP_PASSWORD", smtpPassword)
	t.Setenv("FW_LEAK_JUDGE_KEY", judgeKey)
	t.Setenv("FW_LEAK_ECHO_KEY", echoKey)
	t.Setenv("FW_LEAK_HOOK_SECRET", "s3cret") // the key hook verifies with
	t.Setenv("FW_LEAK_HOOK_URL", goodSrv.URL+"/in/"+hookPath+"?token="+hookQuery)
	t.Setenv("FW_LEAK_DEAD_URL", deadSrv.URL+"/in/"+deadPath+"?token="+deadQuery)
	t.Setenv("FW_LEAK_DOWN_URL", "http://"+downAddr+"/in/"+downPath)
	t.Setenv("FW_LEAK_SIGNING_KEY", signingKey)

	dataDir := t.TempDir()
	a, logs := startLogged(t, func(c *config.Config) {
		c.DataDir = dataDir
		c.Log.Level = "debug"
		c.HTTP.PublicURL = "https://flowwatch.example.com"
		c.Judges = map[string]config.Judge{
			"j":    {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model", APIKeyEnv: "FW_LEAK_JUDGE_KEY"},
			"echo": {Type: "openai", BaseURL: echo.BaseURL(), Model: "echo-model", APIKeyEnv: "FW_LEAK_ECHO_KEY"},
		}
		c.SMTP = &config.SMTP{Host: "127.0.0.1", Port: smtpPort, TLS: "starttls", Username: "alerts", PasswordEnv: "FW_LEAK_SMTP_PASSWORD",
			From: "flowwatch@example.com", Timeout: config.Duration(5 * time.Second)}
		c.Channels = map[string]config.Channel{
			"hooks":    {Type: "webhook", URLEnv: "FW_LEAK_HOOK_URL", SecretEnv: "FW_LEAK_HOOK_SECRET"},
			"deadhook": {Type: "webhook", URLEnv: "FW_LEAK_DEAD_URL", SecretEnv: "FW_LEAK_SIGNING_KEY"},
			"downhook": {Type: "webhook", URLEnv: "FW_LEAK_DOWN_URL", Timeout: config.Duration(2 * time.Second)},
		}
		c.Notifications.AllowedRecipients = []string{"@example.com"}
		c.Notifications.InitialBackoff = config.Duration(100 * time.Millisecond)
		c.Notifications.MaxBackoff = config.Duration(200 * time.Millisecond)
		c.Redaction = config.Redaction{
			Detectors:      []string{"email", "phone", "card", "api_key"},
			Rules:          []config.RedactionRule{{Name: "internal_id", Pattern: `ACME-[0-9]{6}`}},
			DenyAttributes: []string{"user.email"},
		}
	})

	// Everything fetched is kept for the scan.
	type seen struct{ where, text string }
	var answers []seen
	fetchAs := func(method, path string, header map[string]string, body string) (int, http.Header, string) {
		t.Helper()
		code, hdr, text := call(t, a, method, path, header, body)
		answers = append(answers, seen{fmt.Sprintf("%s %s (%d)", method, path, code), text})
		for k, vs := range hdr {
			if k == "Set-Cookie" && path == "/signin" {
				continue // the session is handed over here, and only here
			}
			answers = append(answers, seen{fmt.Sprintf("%s %s header %s", method, path, k), strings.Join(vs, "\n")})
		}
		return code, hdr, text
	}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	// Keys: the first through the open loopback server, then required.
	admin := createKey(t, a, "", "ops", "admin")
	until(t, "keys required once one exists", func() bool {
		code, _, _ := call(t, a, "GET", "/api/v1/services", nil, "")
		return code == http.StatusUnauthorized
	})
	read := createKey(t, a, admin, "dashboard", "read")
	ingest := createKey(t, a, admin, "app", "ingest")
	revoked := createKey(t, a, admin, "old", "admin,read,ingest")
	if code, _, body := fetchAs("DELETE", "/api/v1/keys/old", bearer(admin), ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	wrong := "fw_" + randomToken("") + randomToken("")
	until(t, "the revoked key refused", func() bool {
		code, _, _ := call(t, a, "GET", "/api/v1/services", bearer(revoked), "")
		return code == http.StatusUnauthorized
	})

	// The app's traffic: personal data and credentials in questions,
	// answers, documents, attributes, a status message, an event and a
	// log body, sent with the ingest key every way it can be sent.
	ghToken := "ghp_" + strings.Repeat("x7Q2", 9)
	awsKey := "AKIAIOSFODNN7EXAMPL3"
	bearerToken := "Zq8" + randomToken("")
	extra := []string{ghToken, awsKey, bearerToken}
	question := fmt.Sprintf("I am %s, card %s, phone %s, order %s. My key is %s, why does it fail?", leakEmail, leakCard, leakPhone, leakID, leakKey)
	answer := fmt.Sprintf("I wrote to %s: never share a key like %s.", leakEmail, ghToken)
	exports := []struct {
		name    string
		grpc    bool
		headers map[string]string
		ok      bool
	}{
		{"HTTP Bearer ingest key", false, bearer(ingest), true},
		{"HTTP x-api-key ingest key", false, map[string]string{"x-api-key": ingest}, true},
		{"gRPC authorization metadata", true, bearer(ingest), true},
		{"gRPC x-api-key metadata", true, map[string]string{"x-api-key": ingest}, true},
		{"HTTP wrong key", false, bearer(wrong), false},
		{"HTTP revoked key", false, map[string]string{"x-api-key": revoked}, false},
		{"gRPC wrong key", true, map[string]string{"x-api-key": wrong}, false},
		{"gRPC revoked key", true, bearer(revoked), false},
		{"HTTP read key", false, bearer(read), false},
	}
	var traceIDs []string
	var exportErrs []seen
	for i, e := range exports {
		r := otlptest.RAG{Service: "leaky-app", Deployment: "blue", Question: question, Answer: answer,
			Documents: []string{"Support: call " + leakPhone + " or write to " + leakEmail + "."},
			Model:     "gpt-4o", InputTokens: 100, OutputTokens: 20, Start: time.Now().Add(-time.Duration(i+1) * time.Minute)}
		spans := r.Spans()
		spans[0].Attributes = append(spans[0].Attributes,
			attribute.String("user.email", leakUser),
			attribute.String("http.request.header.authorization", "Bearer "+bearerToken),
			attribute.String("cloud.credentials", "aws "+awsKey))
		spans[2].Status = sdktrace.Status{Code: codes.Error, Description: "card " + leakCard + " declined for " + leakEmail}
		spans[2].Events = []sdktrace.Event{{Name: "exception", Time: r.Start, Attributes: []attribute.KeyValue{
			attribute.String("exception.type", "PaymentError"),
			attribute.String("exception.message", "customer "+leakEmail+" order "+leakID)}}}
		if e.grpc {
			err = exportGRPC(ctx, a.GRPCAddr(), spans, e.headers)
		} else {
			err = exportHTTP(ctx, a.HTTPAddr(), spans, e.headers)
		}
		if (err == nil) != e.ok {
			t.Fatalf("export with %s: %v, want success %v", e.name, err, e.ok)
		}
		if err != nil {
			exportErrs = append(exportErrs, seen{"the exporter's error with " + e.name, err.Error()})
		}
		if e.ok {
			traceIDs = append(traceIDs, spans[0].SpanContext.TraceID().String())
		}
		if i == 0 {
			llm := spans[2].SpanContext
			code, _, body := fetchAs("POST", "/v1/logs", with(bearer(ingest), "Content-Type", "application/json"),
				fmt.Sprintf(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"leaky-app"}}]},
			 "scopeLogs":[{"logRecords":[
			  {"timeUnixNano":"%d","traceId":%q,"spanId":%q,"eventName":"gen_ai.user.message",
			   "attributes":[{"key":"user.email","value":{"stringValue":%q}}],
			   "body":{"kvlistValue":{"values":[{"key":"content","value":{"stringValue":%q}}]}}}]}]}]}`,
					time.Now().UnixNano(), llm.TraceID().String(), llm.SpanID().String(), leakUser, question))
			if code != 200 {
				t.Fatalf("POST /v1/logs: %d %s", code, body)
			}
		}
	}
	for _, h := range []map[string]string{nil, bearer(wrong), bearer(revoked), bearer(read)} {
		fetchAs("POST", "/v1/traces", with(h, "Content-Type", "application/x-protobuf"), "")
	}
	// Bad data around the secrets: refused (or rejected in a partial
	// success) without the secrets reaching the logs. The 400 answers
	// are not scanned: the OTLP/JSON decoder quotes the client's own
	// bytes back to it around the error, which tells that client
	// nothing it did not send.
	jsonCT := with(bearer(ingest), "Content-Type", "application/json")
	for _, body := range []string{
		fmt.Sprintf(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":%q,"spanId":"0102030405060708","name":"x",
		  "attributes":[{"key":"q","value":{"stringValue":%q}}]}]}]}]}`, leakEmail, question),
		fmt.Sprintf(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"x",
		  "startTimeUnixNano":%q,"attributes":[{"key":"q","value":{"stringValue":%q}}]}]}]}]}`, leakCard, question),
		fmt.Sprintf(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"spanId":%q,"body":{"stringValue":%q}}]}]}]}`, leakPhone, question),
		fmt.Sprintf(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00000000000000000000000000000000","spanId":"0102030405060708","name":"x",
		  "attributes":[{"key":"q","value":{"stringValue":%q}}]}]}]}]}`, question),
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"` + leakKey + `", "attributes": [` + question,
	} {
		path := "/v1/traces"
		if strings.Contains(body, "resourceLogs") {
			path = "/v1/logs"
		}
		if code, _, answer := call(t, a, "POST", path, jsonCT, body); code != 400 && !(code == 200 && strings.Contains(answer, "rejectedSpans")) {
			t.Errorf("POST %s with bad data: %d %.300s, want 400 or a partial success", path, code, answer)
		}
	}

	// Refusals, on API routes and pages, with every kind of wrong key.
	for _, h := range []map[string]string{nil, bearer(wrong), {"x-api-key": revoked}, bearer(ingest), bearer(read + "x"), {"Authorization": "Basic " + admin}} {
		for _, rt := range []apiRoute{{"GET", "/api/v1/traces"}, {"GET", "/api/v1/keys"}, {"GET", "/traces/" + traceIDs[0]},
			{"POST", "/api/v1/monitors/quality/runs"}} {
			if code, _, body := fetchAs(rt.method, rt.path, h, ""); code != 401 && code != 403 {
				t.Errorf("%s %s with %v: %d %.200s, want a refusal", rt.method, rt.path, h, code, body)
			}
		}
	}
	if code, _, _ := fetchAs("GET", "/api/v1/keys", bearer(read), ""); code != 403 {
		t.Errorf("GET /api/v1/keys with a read key: %d, want 403", code)
	}

	// The dashboard: sign-in with a wrong, a revoked, an ingest and a
	// read key; the session cookie is a secret too.
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://" + a.HTTPAddr()}
	for _, k := range []string{wrong, revoked, ingest} {
		if code, _, _ := fetchAs("POST", "/signin", form, "key="+url.QueryEscape(k)+"&next=/monitors"); code != 401 && code != 403 {
			t.Errorf("sign-in with a bad key: %d", code)
		}
	}
	code, hdr, _ := fetchAs("POST", "/signin", form, "key="+url.QueryEscape(read)+"&next=/")
	if code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", code)
	}
	session := strings.SplitN(hdr.Get("Set-Cookie"), ";", 2)[0]
	_, sessionValue, _ := strings.Cut(session, "=")
	if len(sessionValue) < 16 {
		t.Fatalf("session cookie %q", session)
	}

	// A monitor that judges the traces and fails its threshold, and one
	// whose judge refuses its key, applied and run through the API with
	// the admin key.
	monitorYAML := `name: %s
target: {service: leaky-app, deployment: blue}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT2H}
judge: %s
quality:
  relevance: {pass_score: 3, min_pass_rate: 0.7}
%s`
	for _, m := range []struct{ name, judge, notify string }{
		{"quality", "j", "notify: {emails: [oncall@example.com], channels: [hooks, deadhook, downhook]}\n"},
		{"echoing", "echo", ""},
	} {
		if code, _, body := fetchAs("PUT", "/api/v1/monitors/"+m.name, with(bearer(admin), "Content-Type", "application/yaml"),
			fmt.Sprintf(monitorYAML, m.name, m.judge, m.notify)); code != http.StatusCreated {
			t.Fatalf("PUT monitor %s: %d %s", m.name, code, body)
		}
	}

	// Channel tests first: a refused SMTP login, a receiver that quotes
	// its URL, one that is down, and one that works.
	box.refuse.Store(true)
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/v1/channels/emails/test?to=oncall@example.com", http.StatusBadGateway},
		{"/api/v1/channels/deadhook/test", http.StatusBadGateway},
		{"/api/v1/channels/downhook/test", http.StatusBadGateway},
		{"/api/v1/channels/hooks/test", http.StatusOK},
	} {
		if code, _, body := fetchAs("POST", tc.path, bearer(admin), ""); code != tc.want {
			t.Errorf("POST %s: %d %s, want %d", tc.path, code, body, tc.want)
		}
	}
	box.refuse.Store(false)
	if box.failed.Load() == 0 {
		t.Error("the SMTP server saw no refused login")
	}

	// runMonitor runs a monitor now and waits for the run to end.
	type runResult struct {
		runWire
		Degraded   bool   `json:"degraded"`
		JudgeError string `json:"judge_error"`
	}
	runMonitor := func(name string) (string, runResult) {
		t.Helper()
		code, _, body := fetchAs("POST", "/api/v1/monitors/"+name+"/runs", bearer(admin), "")
		var created struct {
			Run struct {
				ID string `json:"id"`
			} `json:"run"`
		}
		if code != http.StatusAccepted || json.Unmarshal([]byte(body), &created) != nil {
			t.Fatalf("POST run of %s: %d %s", name, code, body)
		}
		var run runResult
		until(t, "the run of "+name+" ends", func() bool {
			_, _, body := call(t, a, "GET", "/api/v1/runs/"+created.Run.ID, bearer(read), "")
			return json.Unmarshal([]byte(body), &run) == nil && (run.Status == "succeeded" || run.Status == "failed")
		})
		return created.Run.ID, run
	}
	runID, run := runMonitor("quality")
	if run.Status != "succeeded" || !run.Metrics["relevance"].Violation {
		t.Fatalf("run %s: %+v, want succeeded with relevance violated", run.Status, run)
	}
	echoRunID, echoRun := runMonitor("echoing")
	if !echoRun.Degraded || !strings.Contains(echoRun.JudgeError, "Incorrect API key") || echo.Count(http.StatusUnauthorized) == 0 {
		t.Errorf("run of echoing: %+v, want degraded by the judge's refusal", echoRun)
	}

	// The alert goes out: e-mail (after an authenticated STARTTLS
	// session), the signed webhook; the receiver that quotes its URL
	// refuses it for good.
	var alertID string
	until(t, "the alert delivered, and refused by deadhook", func() bool {
		if len(box.messages()) == 0 || box.logins.Load() == 0 {
			return false
		}
		if uris, _ := good.requests(); len(uris) < 2 {
			return false
		}
		_, _, body := call(t, a, "GET", "/api/v1/alerts?monitor=quality", bearer(read), "")
		var alerts struct {
			Alerts []struct {
				ID string `json:"id"`
			} `json:"alerts"`
		}
		if json.Unmarshal([]byte(body), &alerts) != nil || len(alerts.Alerts) == 0 {
			return false
		}
		alertID = alerts.Alerts[0].ID
		_, _, body = call(t, a, "GET", "/api/v1/alerts/"+alertID, bearer(read), "")
		var one struct {
			Notifications []struct {
				Channel, Status string
				Attempts        int
			} `json:"notifications"`
		}
		if json.Unmarshal([]byte(body), &one) != nil {
			return false
		}
		st := map[string]string{}
		attempts := map[string]int{}
		for _, n := range one.Notifications {
			st[n.Channel], attempts[n.Channel] = n.Status, n.Attempts
		}
		return st["hooks"] == "sent" && st["emails"] == "sent" && st["deadhook"] == "failed" && attempts["downhook"] >= 2
	})
	uris, hookBodies := good.requests()
	for _, u := range uris {
		if u != "/in/"+hookPath+"?token="+hookQuery {
			t.Errorf("the webhook was sent to %q, not its secret URL", u)
		}
	}
	h.mu.Lock()
	bad := h.bad
	h.mu.Unlock()
	if len(bad) > 0 || len(h.received()) < 2 {
		t.Errorf("hooks verified %d bodies, refused %v; want the test and the alert", len(h.received()), bad)
	}
	if _, deadBodies := dead.requests(); len(deadBodies) < 2 {
		t.Errorf("deadhook got %d requests, want the test and the alert", len(deadBodies))
	}

	// The judge got the key, and was asked.
	reqs := js.Requests()
	if js.Count(http.StatusOK) == 0 {
		t.Fatalf("the judge answered no request with 200: %v", js.Counts())
	}
	for i, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer "+judgeKey {
			t.Errorf("judge request %d without the key", i)
		}
	}

	// Every GET route of the API, with every id that exists.
	var alertIDs struct {
		Alerts []struct {
			ID string `json:"id"`
		} `json:"alerts"`
	}
	if _, _, body := call(t, a, "GET", "/api/v1/alerts", bearer(read), ""); json.Unmarshal([]byte(body), &alertIDs) != nil || len(alertIDs.Alerts) < 2 {
		t.Fatalf("alerts: %s, want the firing one and the echoing monitor's", body)
	}
	idsOf := func(path string) []string {
		switch {
		case strings.Contains(path, "{trace_id}"):
			return traceIDs
		case strings.Contains(path, "{name}"):
			return []string{"quality", "echoing"}
		case strings.HasPrefix(path, "/api/v1/runs/{id}"):
			return []string{runID, echoRunID}
		case strings.HasPrefix(path, "/api/v1/alerts/{id}"):
			var out []string
			for _, al := range alertIDs.Alerts {
				out = append(out, al.ID)
			}
			return out
		}
		return []string{""}
	}
	routes := 0
	for _, rt := range documentedRoutes(t, a, read) {
		if rt.method != "GET" {
			continue
		}
		key := read
		if strings.HasPrefix(rt.path, "/api/v1/keys") {
			key = admin
		}
		for _, id := range idsOf(rt.path) {
			p := fill(rt.path, map[string]string{"id": id, "name": id, "trace_id": id})
			if strings.HasPrefix(p, "/api/v1/metrics/") {
				p += "?service=leaky-app"
			}
			if code, _, body := fetchAs("GET", p, bearer(key), ""); code != 200 {
				t.Errorf("GET %s: %d %s", p, code, body)
			}
		}
		routes++
	}
	for _, id := range traceIDs {
		detail := ""
		if _, _, detail = fetchAs("GET", "/api/v1/traces/"+id, map[string]string{"x-api-key": read}, ""); !strings.Contains(detail, "[REDACTED:") {
			t.Errorf("trace %s holds no redaction marker: %.300s", id, detail)
		}
	}
	fetchAs("GET", "/api/v1/traces?q=doe", bearer(read), "")
	fetchAs("GET", "/api/v1/channels", bearer(admin), "")
	fetchAs("GET", "/api/v1/keys", bearer(admin), "")
	fetchAs("GET", "/readyz", nil, "")

	// The dashboard's pages with the session.
	cookie := map[string]string{"Cookie": session}
	var pages []string
	for _, p := range []string{"/", "/services/leaky-app", "/services/leaky-app/quality", "/services/leaky-app/operational",
		"/services/leaky-app/traces", "/services/leaky-app/traces?q=doe", "/traces/" + traceIDs[0], "/traces/" + traceIDs[3],
		"/monitors", "/monitors/quality", "/monitors/echoing", "/runs/" + runID, "/runs/" + echoRunID, "/alerts"} {
		pages = append(pages, p)
	}
	for _, al := range alertIDs.Alerts {
		pages = append(pages, "/alerts/"+al.ID)
	}
	for _, p := range pages {
		if code, _, body := fetchAs("GET", p, cookie, ""); code != 200 {
			t.Errorf("page %s: %d %.200s", p, code, body)
		}
	}
	if code, _, _ := fetchAs("GET", "/metrics", bearer(read), ""); code != 200 {
		t.Errorf("/metrics: %d", code)
	}

	// Stop, so that every log line is written, then scan.
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"the admin key": admin, "the read key": read, "the ingest key": ingest, "the revoked key": revoked, "the wrong key": wrong,
		"the admin key's secret part": admin[3:], "the read key's secret part": read[3:], "the ingest key's secret part": ingest[3:],
		"the revoked key's secret part": revoked[3:],
		"the session cookie":            sessionValue,
		"the SMTP password":             smtpPassword,
		"the judge's API key":           judgeKey,
		"the echoing judge's API key":   echoKey,
		"deadhook's signing key":        signingKey, "the hooks signing key": "s3cret",
		"the webhook URL's path token": hookPath, "the webhook URL's query token": hookQuery,
		"deadhook's path token": deadPath, "deadhook's query token": deadQuery, "downhook's path token": downPath,
	}
	for i, s := range append(append([]string(nil), leaks...), extra...) {
		secrets[fmt.Sprintf("redacted value %d (%.6s...)", i, s)] = s
	}
	scan := func(where, text string) {
		t.Helper()
		for what, s := range secrets {
			if strings.Contains(text, s) {
				i := strings.Index(text, s)
				t.Errorf("%s holds %s: ...%s...", where, what, text[max(0, i-120):min(len(text), i+len(s)+40)])
			}
		}
	}

	logText := logs.String()
	scan("the logs", logText)
	// The failures were logged (with the secrets replaced).
	for _, want := range []string{"level=DEBUG", "http_request", "email_sent", "webhook_sent", "Authentication failed",
		"Cannot POST [REDACTED:url]", "connection refused", "Incorrect API key provided: Bearer [REDACTED:api_key]"} {
		if !strings.Contains(logText, want) {
			t.Errorf("the logs never mention %q: the scan would see nothing", want)
		}
	}
	if routes < 10 {
		t.Errorf("only %d GET routes fetched", routes)
	}
	for _, s := range append(answers, exportErrs...) {
		scan(s.where, s.text)
	}
	msgs := box.messages()
	if len(msgs) == 0 {
		t.Fatal("no e-mail arrived")
	}
	for i, m := range msgs {
		scan(fmt.Sprintf("e-mail %d", i), string(m))
	}
	if subject, _ := mailText(t, msgs[0]); !strings.Contains(subject, "quality") {
		t.Errorf("the e-mail is %q, want the alert of quality", subject)
	}
	for i, b := range hookBodies {
		scan(fmt.Sprintf("webhook body %d", i), b)
	}
	_, deadBodies := dead.requests()
	for i, b := range deadBodies {
		scan(fmt.Sprintf("deadhook body %d", i), b)
	}
	// The database, as bytes (keys are stored hashed; text stored
	// uncompressed, such as delivery errors, is seen here).
	files, _ := filepath.Glob(filepath.Join(dataDir, "flowwatch.db*"))
	if len(files) == 0 {
		t.Error("no database file to scan")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scan(filepath.Base(f), string(b))
	}
	for i, r := range append(reqs, echo.Requests()...) {
		scan(fmt.Sprintf("judge request %d", i), string(r.Body))
		if !strings.Contains(r.Text(), "[REDACTED:email]") {
			t.Errorf("judge request %d has no marker: the redaction scan saw no judged text", i)
		}
	}
}
