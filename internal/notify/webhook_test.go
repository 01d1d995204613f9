package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
)

const (
	testSecret     = "whsec-test-0123456789"
	testRoutingKey = "R0UT1NGKEY0123456789abcdef012345"
)

// capture is a request a test webhook server received.
type capture struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// hookServer is an httptest server recording requests and answering with
// reply.
type hookServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []capture
}

func startHook(t *testing.T, reply http.HandlerFunc) *hookServer {
	t.Helper()
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		h.mu.Lock()
		h.reqs = append(h.reqs, capture{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		h.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) requests() []capture {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]capture(nil), h.reqs...)
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// verifyAsDocumented checks a signature the way docs/alerts.md tells
// receivers to, written out independently of Sign.
func verifyAsDocumented(t *testing.T, secret string, h http.Header, body []byte) {
	t.Helper()
	ts := h.Get("X-Flowwatch-Timestamp")
	if ts != strconv.FormatInt(testNow.Unix(), 10) {
		t.Errorf("X-Flowwatch-Timestamp %q, want %d", ts, testNow.Unix())
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := h.Get("X-Flowwatch-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("X-Flowwatch-Signature %q, want %q", got, want)
	}
	if err := VerifySignature(secret, h, body, testNow.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("VerifySignature: %v", err)
	}
}

func TestWebhookFlavours(t *testing.T) {
	flavours := []struct {
		typ    string
		status int
	}{
		{TypeWebhook, http.StatusNoContent},
		{TypeSlack, http.StatusOK},
		{TypeTeams, http.StatusAccepted},
		{TypePagerDuty, http.StatusAccepted},
	}
	events := []string{model.EventFiring, model.EventResolved, model.EventReminder, model.EventTest, "no_data"}
	for _, fl := range flavours {
		for _, ev := range events {
			t.Run(fl.typ+"/"+ev, func(t *testing.T) {
				srv := startHook(t, status(fl.status))
				w, err := NewWebhook(WebhookOptions{
					Name: "oncall", Type: fl.typ, URL: srv.URL + "/hooks/T000/B000/XXXX",
					Headers:    map[string]string{"X-Custom": "yes", "Authorization": "Bearer abc"},
					Secret:     testSecret,
					RoutingKey: testRoutingKey,
					Timeout:    10 * time.Second,
					PublicURL:  testPublicURL,
					Now:        func() time.Time { return testNow },
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				n := fixture(ev, "oncall")
				if err := w.Send(t.Context(), n); err != nil {
					t.Fatalf("Send: %v", err)
				}
				reqs := srv.requests()
				want := 1
				if fl.typ == TypePagerDuty {
					// One event per alert.
					want = max(len(n.Message.Alerts), 1)
				}
				if len(reqs) != want {
					t.Fatalf("server got %d requests, want %d", len(reqs), want)
				}
				r := reqs[0]
				if r.Method != http.MethodPost || r.Path != "/hooks/T000/B000/XXXX" {
					t.Errorf("request %s %s", r.Method, r.Path)
				}
				for k, want := range map[string]string{
					"Content-Type":      "application/json",
					"User-Agent":        "flowwatch",
					"Idempotency-Key":   n.DedupKey,
					"X-Flowwatch-Event": n.Event,
					"X-Custom":          "yes",
					"Authorization":     "Bearer abc",
				} {
					if got := r.Header.Get(k); got != want {
						t.Errorf("header %s = %q, want %q", k, got, want)
					}
				}
				var bodies [][]byte
				for _, r := range reqs {
					verifyAsDocumented(t, testSecret, r.Header, r.Body)
					bodies = append(bodies, r.Body)
				}
				sent := r.Body
				if fl.typ == TypePagerDuty {
					sent = []byte("[" + string(bytes.Join(bodies, []byte(","))) + "]")
				}
				checkGolden(t, fl.typ+"_"+ev+".json", indentJSON(t, sent))

				// The body is what RenderPayload gives (for pagerduty:
				// the events sent, as an array).
				body, err := RenderPayload(fl.typ, n, PayloadOptions{PublicURL: testPublicURL, RoutingKey: testRoutingKey, SentAt: testNow})
				if err != nil || string(body) != string(sent) {
					t.Errorf("RenderPayload differs from the body sent (%v)", err)
				}
			})
		}
	}
}

func TestWebhookWithoutSecret(t *testing.T) {
	srv := startHook(t, status(http.StatusOK))
	w, err := NewWebhook(WebhookOptions{Name: "plain", URL: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(t.Context(), fixture(model.EventFiring, "plain")); err != nil {
		t.Fatal(err)
	}
	h := srv.requests()[0].Header
	if h.Get("X-Flowwatch-Signature") != "" || h.Get("X-Flowwatch-Timestamp") != "" {
		t.Errorf("unsigned channel sent signature headers: %v", h)
	}
	var p Payload
	if err := json.Unmarshal(srv.requests()[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != "2" || len(p.Alerts) != 3 || p.Alerts[0].ID != testAlertID || p.Run == nil || p.Run.URL != nil ||
		p.Counts != (PayloadCounts{Firing: 2, Resolved: 1}) {
		t.Errorf("payload %+v: want version 2, the three alerts, a run without URL (no public URL)", p)
	}
}

func TestWebhookFailures(t *testing.T) {
	const secretPath = "/services/SECRET-PATH-TOKEN"
	tests := []struct {
		name      string
		reply     http.HandlerFunc
		permanent bool
		after     time.Duration
		hasAfter  bool
		want      string
	}{
		{name: "500", reply: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "upstream exploded", http.StatusInternalServerError)
		}, want: "status 500 Internal Server Error: upstream exploded"},
		{name: "502", reply: status(http.StatusBadGateway), want: "status 502"},
		{name: "400", reply: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
		}, permanent: true, want: "status 400 Bad Request: invalid_payload"},
		{name: "404", reply: status(http.StatusNotFound), permanent: true, want: "status 404"},
		// Receivers that quote the request (Express: "Cannot POST /path")
		// or its token: the secret parts are replaced.
		{name: "404 quoting the request", reply: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Cannot POST "+r.URL.RequestURI(), http.StatusNotFound)
		}, permanent: true, want: "status 404 Not Found: Cannot POST [REDACTED:url]"},
		{name: "401 quoting the tokens", reply: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"no hook SECRET-PATH-TOKEN for token QUERYSECRET at /services"}`, http.StatusUnauthorized)
		}, permanent: true, want: `no hook [REDACTED:url] for token [REDACTED:url] at /services`},
		{name: "410", reply: status(http.StatusGone), permanent: true, want: "status 410"},
		{name: "redirect", reply: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example/", http.StatusMovedPermanently)
		}, permanent: true, want: "status 301"},
		{name: "408", reply: status(http.StatusRequestTimeout), want: "status 408"},
		{name: "429 with seconds", reply: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		}, after: 7 * time.Second, hasAfter: true, want: "status 429"},
		{name: "503 with date", reply: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", testNow.Add(90*time.Second).Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
		}, after: 90 * time.Second, hasAfter: true, want: "status 503"},
		{name: "429 without retry-after", reply: status(http.StatusTooManyRequests), want: "status 429"},
		{name: "429 with junk retry-after", reply: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "soon")
			w.WriteHeader(http.StatusTooManyRequests)
		}, want: "status 429"},
		{name: "huge error body", reply: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, strings.Repeat("x", 1<<20))
		}, permanent: true, want: "status 400 Bad Request: xxxx"},
		{name: "timeout", reply: func(_ http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // until the client gives up
		}, want: "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHook(t, tt.reply)
			w, err := NewWebhook(WebhookOptions{Name: "hook", Type: TypeSlack, URL: srv.URL + secretPath + "?token=QUERYSECRET",
				Timeout: 200 * time.Millisecond, Now: func() time.Time { return testNow }}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = w.Send(t.Context(), fixture(model.EventFiring, "hook"))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			msg := err.Error()
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", msg, IsPermanent(err), tt.permanent)
			}
			after, ok := RetryAfter(err)
			if ok != tt.hasAfter || after != tt.after {
				t.Errorf("RetryAfter = %v, %v; want %v, %v", after, ok, tt.after, tt.hasAfter)
			}
			host := strings.TrimPrefix(srv.URL, "http://")
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, `slack channel "hook"`) || !strings.Contains(msg, host) {
				t.Errorf("error %q lacks %q, the channel or the host %s", msg, tt.want, host)
			}
			if strings.Contains(msg, "SECRET-PATH") || strings.Contains(msg, "QUERYSECRET") {
				t.Errorf("error %q shows the URL's path or query", msg)
			}
			if len(msg) > 1000 {
				t.Errorf("error is %d bytes long, want it bounded", len(msg))
			}
		})
	}
}

func TestWebhookConnectionRefused(t *testing.T) {
	w, err := NewWebhook(WebhookOptions{Name: "hook", URL: "http://127.0.0.1:" + strconv.Itoa(closedPort(t)) + "/secret-path", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Send(t.Context(), fixture(model.EventFiring, "hook"))
	if err == nil || IsPermanent(err) {
		t.Fatalf("Send to a closed port: %v, want a transient error", err)
	}
	if strings.Contains(err.Error(), "secret-path") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %q shows the path or does not say refused", err)
	}
}

func TestNewWebhookValidation(t *testing.T) {
	tests := []struct {
		name string
		opts WebhookOptions
		want string
	}{
		{name: "ok", opts: WebhookOptions{Name: "h", URL: "https://example.com/hook"}},
		{name: "pagerduty default url", opts: WebhookOptions{Name: "pd", Type: TypePagerDuty, RoutingKey: "k"}},
		{name: "no url", opts: WebhookOptions{Name: "h"}, want: "url is missing"},
		{name: "bad scheme", opts: WebhookOptions{Name: "h", URL: "ftp://example.com/x"}, want: `url scheme "ftp" is not http or https`},
		{name: "relative url", opts: WebhookOptions{Name: "h", URL: "/hook"}, want: "url scheme"},
		{name: "unparsable url", opts: WebhookOptions{Name: "h", URL: "https://exa mple.com/%zz"}, want: "url is not a valid URL"},
		{name: "unknown type", opts: WebhookOptions{Name: "h", Type: "discord", URL: "https://example.com"}, want: `type "discord" is not one of`},
		{name: "pagerduty without key", opts: WebhookOptions{Name: "pd", Type: TypePagerDuty}, want: "routing key is missing"},
		{name: "reserved header", opts: WebhookOptions{Name: "h", URL: "https://example.com", Headers: map[string]string{"content-type": "text/plain"}}, want: "Content-Type is set by flowwatch"},
		{name: "signature header", opts: WebhookOptions{Name: "h", URL: "https://example.com", Headers: map[string]string{"X-Flowwatch-Signature": "x"}}, want: "X-Flowwatch-Signature is set by flowwatch"},
		{name: "header injection", opts: WebhookOptions{Name: "h", URL: "https://example.com", Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, want: "control character"},
		{name: "bad header name", opts: WebhookOptions{Name: "h", URL: "https://example.com", Headers: map[string]string{"X A": "a"}}, want: `"X A" is not a valid header name`},
		{name: "negative timeout", opts: WebhookOptions{Name: "h", URL: "https://example.com", Timeout: -1}, want: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWebhook(tt.opts, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewWebhook: %v", err)
				}
				if tt.opts.Type == TypePagerDuty && w.url.String() != DefaultPagerDutyURL {
					t.Errorf("pagerduty URL %s, want %s", w.url, DefaultPagerDutyURL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewWebhook error %v, want one containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "channel \""+tt.opts.Name+"\"") {
				t.Errorf("error %v does not name the channel", err)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"version":"1"}`)
	signed := func(ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(HeaderSignature, sig)
		return h
	}
	ts := testNow.Unix()
	good := Sign(testSecret, ts, body)
	tests := []struct {
		name string
		h    http.Header
		body []byte
		now  time.Time
		ok   bool
	}{
		{name: "valid", h: signed(ts, good), body: body, now: testNow, ok: true},
		{name: "valid within tolerance", h: signed(ts, good), body: body, now: testNow.Add(4 * time.Minute), ok: true},
		{name: "replayed later", h: signed(ts, good), body: body, now: testNow.Add(6 * time.Minute)},
		{name: "from the future", h: signed(ts, good), body: body, now: testNow.Add(-6 * time.Minute)},
		{name: "body changed", h: signed(ts, good), body: []byte(`{"version":"2"}`), now: testNow},
		{name: "timestamp changed", h: signed(ts+1, good), body: body, now: testNow},
		{name: "wrong secret", h: signed(ts, Sign("other", ts, body)), body: body, now: testNow},
		{name: "no headers", h: http.Header{}, body: body, now: testNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(testSecret, tt.h, tt.body, tt.now, 5*time.Minute)
			if (err == nil) != tt.ok {
				t.Errorf("VerifySignature = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestRenderRobust renders odd notifications in every flavour: empty,
// unknown or non-finite values, huge texts; each body must be JSON within
// the receivers' limits.
func TestRenderRobust(t *testing.T) {
	huge := strings.Repeat("a reason <b>&</b> that never ends ", 1000)
	big := fixture(model.EventFiring, "c")
	big.Message.Monitor = strings.Repeat("m", 500)
	for i := range big.Message.Alerts {
		a := &big.Message.Alerts[i]
		a.Summary = huge
		for j := range a.Worst {
			a.Worst[j].Reason = huge
		}
		a.Worst = append(a.Worst, model.WorstInstance{TraceID: "extra", Score: 1})
	}
	nan := fixture(model.EventFiring, "c")
	nan.Message.Alerts[0].Value = ptr(math.NaN())
	nan.Message.Alerts[0].Worst[0].Score = math.Inf(-1)
	nilValue := fixture(model.EventFiring, "c")
	nilValue.Message.Alerts[0].Value = nil
	// More alerts than a message lists (Slack: 50 blocks at most).
	many := fixture(model.EventFiring, "c")
	for i := range 80 {
		a := many.Message.Alerts[0]
		a.AlertID, a.Subject = fmt.Sprintf("a%02d", i), fmt.Sprintf("metric%02d", i)
		many.Message.Alerts = append(many.Message.Alerts, a)
	}

	cases := map[string]model.Notification{"empty": {}, "huge": big, "nan": nan, "nil value": nilValue, "many": many}
	for name, n := range cases {
		for _, typ := range []string{TypeWebhook, TypeSlack, TypeTeams, TypePagerDuty} {
			t.Run(name+"/"+typ, func(t *testing.T) {
				body, err := RenderPayload(typ, n, PayloadOptions{PublicURL: testPublicURL, RoutingKey: "k", SentAt: testNow})
				if err != nil {
					t.Fatalf("RenderPayload: %v", err)
				}
				var doc any
				if err := json.Unmarshal(body, &doc); err != nil {
					t.Fatalf("body is not JSON: %v", err)
				}
				if len(body) > 64<<10 && typ != TypePagerDuty { // pagerduty: one request per event
					t.Errorf("body is %d bytes", len(body))
				}
				switch typ {
				case TypeSlack:
					checkSlackLimits(t, body)
				case TypePagerDuty:
					var events []pagerDutyEvent
					if err := json.Unmarshal(body, &events); err != nil {
						t.Fatal(err)
					}
					for _, ev := range events {
						if ev.EventAction == "resolve" {
							continue
						}
						if ev.Payload == nil || utf8.RuneCountInString(ev.Payload.Summary) > 1024 || ev.Payload.Summary == "" || ev.DedupKey == "" {
							t.Errorf("pagerduty event %+v: want a summary of 1-1024 characters and a dedup key", ev.Payload)
						}
					}
				case TypeWebhook:
					var p Payload
					if err := json.Unmarshal(body, &p); err != nil {
						t.Fatal(err)
					}
					if (name == "nan" || name == "nil value") && p.Alerts[0].Value != nil {
						t.Errorf("value %v, want null", *p.Alerts[0].Value)
					}
					if len(p.Alerts) > maxGroupAlerts {
						t.Errorf("%d alerts listed, want at most %d", len(p.Alerts), maxGroupAlerts)
					}
					for _, a := range p.Alerts {
						if len(a.Worst) > 3 {
							t.Errorf("%d worst instances, want at most 3", len(a.Worst))
						}
						for _, w := range a.Worst {
							if w.Reason != nil && utf8.RuneCountInString(*w.Reason) > maxReasonRunes {
								t.Errorf("reason of %d characters", utf8.RuneCountInString(*w.Reason))
							}
						}
					}
				}
			})
		}
	}
}

// checkSlackLimits checks Slack's Block Kit limits on a rendered message.
func checkSlackLimits(t *testing.T, body []byte) {
	t.Helper()
	var m slackMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Text == "" {
		t.Error("no fallback text")
	}
	for _, b := range m.Blocks {
		switch b.Type {
		case "header":
			if n := utf8.RuneCountInString(b.Text.Text); n > slackHeaderMax {
				t.Errorf("header of %d characters", n)
			}
		case "section":
			if n := utf8.RuneCountInString(b.Text.Text); n > slackSectionMax {
				t.Errorf("section text of %d characters", n)
			}
			if len(b.Fields) > slackMaxFields {
				t.Errorf("%d fields", len(b.Fields))
			}
			for _, f := range b.Fields {
				if n := utf8.RuneCountInString(f.Text); n > slackFieldMax {
					t.Errorf("field of %d characters", n)
				}
			}
		}
		for _, s := range append(b.Fields, b.Elements...) {
			if strings.Contains(s.Text, "<b>") {
				t.Errorf("unescaped markup in %q", s.Text)
			}
		}
		if b.Text != nil && strings.Contains(b.Text.Text, "<b>") {
			t.Errorf("unescaped markup in %q", b.Text.Text)
		}
	}
}

func TestSlackEscape(t *testing.T) {
	for _, tt := range []struct {
		in    string
		limit int
		want  string
	}{
		{"a <b> & c", 100, "a &lt;b&gt; &amp; c"},
		{"<!channel>", 100, "&lt;!channel&gt;"},
		{"abcdef", 4, "abc…"},
		{"a&b", 4, "a…"},
		{"a&b", 7, "a&amp;b"},
	} {
		if got := slackEscape(tt.in, tt.limit); got != tt.want {
			t.Errorf("slackEscape(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}
