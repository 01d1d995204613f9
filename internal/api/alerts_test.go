package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// hookSecret is the secret part of the webhook URLs of the alert tests:
// no answer or log line may contain it.
const hookSecret = "T0SECRET/B0SECRET/xoxSECRET"

// pendingAlertID is the alert alertServer adds to those of
// apitest.SeedAlerts: rag_quality's failed run, with a notification still
// waiting for its next attempt.
const pendingAlertID = "a0000000000000000000000000000003"

// testChannels are the channels alertServer's configuration has, as the
// server would describe them: a URL with a secret path (only its scheme
// and host may be shown), one from the environment (nothing shown), an
// e-mail channel and PagerDuty's default endpoint.
func testChannels() []ChannelInfo {
	return []ChannelInfo{
		{Name: "oncall", Type: "slack"},
		{Name: "broken", Type: "webhook", URL: "https://hooks.example.com/services/" + hookSecret + "?token=x"},
		{Name: "team", Type: "email", Recipients: []string{"ml-team@example.com", "Lead <lead@example.com>"}},
		{Name: "pager", Type: "pagerduty", URL: "https://events.pagerduty.com/v2/enqueue"},
	}
}

// channelTester records the test notifications asked for and answers as
// a notifier would: oncall takes it, broken fails with an error quoting its
// URL, slow times out, anything else is not configured.
type channelTester struct {
	mu    sync.Mutex
	asked []string
}

func (c *channelTester) test(ctx context.Context, name string) error {
	c.mu.Lock()
	c.asked = append(c.asked, name)
	c.mu.Unlock()
	switch name {
	case "oncall":
		return nil
	case "broken":
		return fmt.Errorf("notify: webhook channel %q: Post \"https://hooks.example.com/services/%s\": 500 Internal Server Error", name, hookSecret)
	case "slow":
		return fmt.Errorf("notify: webhook channel %q: %w", name, context.DeadlineExceeded)
	}
	return fmt.Errorf("channel %q: %w", name, ErrUnknownChannel)
}

// alertServer serves the API over in-memory stores holding the runs of
// apitest.SeedRuns, the alerts of apitest.SeedAlerts and pendingAlertID,
// with testChannels and a channelTester.
func alertServer(t *testing.T, logger *slog.Logger) (*monitorsClient, *channelTester) {
	t.Helper()
	runs := apitest.NewRuns()
	apitest.SeedRuns(runs)
	apitest.SeedAlerts(runs)
	fired := apitest.Now().Add(-30 * time.Minute)
	runs.AddAlert(model.Alert{
		ID: pendingAlertID, Monitor: "rag_quality", Key: "unhealthy:run", Kind: model.AlertUnhealthy,
		State: model.AlertFiring, Summary: "run failed: judge aoai-connection: 429 Too Many Requests",
		FiredAt: fired, FiringRunID: apitest.FailedRunID, LastRunID: apitest.FailedRunID, LastNotifiedAt: fired,
	}, model.Notification{
		ID: "n0000000000000000000000000000003", AlertID: pendingAlertID, Monitor: "rag_quality", Channel: "broken",
		Event: model.EventFiring, DedupKey: pendingAlertID + "/firing/broken", Status: model.NotificationPending,
		Attempts: 2, NextAttemptAt: fired.Add(20 * time.Second), CreatedAt: fired,
		LastError: "Post \"https://hooks.example.com/services/" + hookSecret + "\": dial tcp 192.0.2.1:443: connect: connection refused",
	})
	tester := &channelTester{}
	srv := newTestServer(t, Options{Runs: runs, Results: runs, Alerts: runs, Acks: runs, Silences: apitest.NewSilences(),
		Channels: testChannels, TestChannel: tester.test}, logger)
	return &monitorsClient{t: t, base: srv.URL}, tester
}

// alertDocPath is the OpenAPI path of a request path.
func alertDocPath(path string) string {
	path = strings.SplitN(path, "?", 2)[0]
	rest := strings.TrimPrefix(path, Prefix)
	switch {
	case strings.HasPrefix(rest, "silences/"):
		return Prefix + "silences/{id}"
	case strings.HasPrefix(rest, "alerts/") && strings.HasSuffix(rest, "/ack"):
		return Prefix + "alerts/{id}/ack"
	case strings.HasPrefix(rest, "alerts/"):
		return Prefix + "alerts/{id}"
	case strings.HasPrefix(rest, "channels/"):
		return Prefix + "channels/{name}/test"
	}
	return path
}

func alertSteps() []struct {
	name   string
	req    request
	status int
} {
	alerts := Prefix + "alerts"
	alert := func(id string) string { return Prefix + "alerts/" + id }
	test := func(name string) string { return Prefix + "channels/" + name + "/test" }
	silences := Prefix + "silences"
	json := map[string]string{"Content-Type": "application/json"}
	return []struct {
		name   string
		req    request
		status int
	}{
		{"list", request{method: "GET", path: alerts}, 200},
		{"list_firing", request{method: "GET", path: alerts + "?state=firing"}, 200},
		{"list_resolved_monitor", request{method: "GET", path: alerts + "?state=resolved&monitor=rag_quality"}, 200},
		{"list_other_monitor", request{method: "GET", path: alerts + "?monitor=old_monitor"}, 200},
		{"list_page", request{method: "GET", path: alerts + "?limit=2"}, 200},
		{"list_cursor", request{method: "GET", path: alerts + "?limit=2&cursor=b2Zmc2V0OjI"}, 200},
		{"list_bad_state", request{method: "GET", path: alerts + "?state=open"}, 400},
		{"list_bad_limit", request{method: "GET", path: alerts + "?limit=1001"}, 400},
		{"list_bad_monitor", request{method: "GET", path: alerts + "?monitor=a%20b"}, 400},
		{"list_bad_cursor", request{method: "GET", path: alerts + "?cursor=nope"}, 400},
		{"list_unknown_param", request{method: "GET", path: alerts + "?status=firing"}, 400},
		{"post_alerts", request{method: "POST", path: alerts}, 405},

		{"get_firing", request{method: "GET", path: alert(apitest.FiringAlertID)}, 200},
		{"get_resolved", request{method: "GET", path: alert(apitest.ResolvedAlertID)}, 200},
		{"get_pending", request{method: "GET", path: alert(pendingAlertID)}, 200},
		{"get_unknown", request{method: "GET", path: alert("ffffffffffffffffffffffffffffffff")}, 404},
		{"get_bad_id", request{method: "GET", path: alert("a.b")}, 400},
		{"get_param", request{method: "GET", path: alert(apitest.FiringAlertID) + "?state=firing"}, 400},

		{"ack", request{method: "POST", path: alert(pendingAlertID) + "/ack", header: map[string]string{"Content-Type": "application/json"},
			body: `{"comment": "judge quota raised"}`}, 200},
		{"ack_no_body", request{method: "POST", path: alert(apitest.FiringAlertID) + "/ack"}, 200},
		{"ack_shown", request{method: "GET", path: alert(pendingAlertID)}, 200},
		{"ack_resolved", request{method: "POST", path: alert(apitest.ResolvedAlertID) + "/ack"}, 409},
		{"ack_unknown", request{method: "POST", path: alert("ffffffffffffffffffffffffffffffff") + "/ack"}, 404},
		{"ack_bad_body", request{method: "POST", path: alert(pendingAlertID) + "/ack", header: map[string]string{"Content-Type": "application/json"},
			body: `{"note": "x"}`}, 400},
		{"ack_long_comment", request{method: "POST", path: alert(pendingAlertID) + "/ack", header: map[string]string{"Content-Type": "application/json"},
			body: `{"comment": "` + strings.Repeat("x", 1001) + `"}`}, 400},
		{"ack_get", request{method: "GET", path: alert(pendingAlertID) + "/ack"}, 405},

		{"silence", request{method: "POST", path: silences, header: json,
			body: `{"monitor": "rag_quality", "key": "quality:groundedness", "duration_ms": 7200000, "comment": "judge upgrade"}`}, 201},
		{"silence_monitor", request{method: "POST", path: silences, header: json, body: `{"monitor": "rag_quality", "duration_ms": 60000}`}, 201},
		{"silence_bad_key", request{method: "POST", path: silences, header: json, body: `{"monitor": "rag_quality", "key": "groundedness", "duration_ms": 60000}`}, 400},
		{"silence_bad_duration", request{method: "POST", path: silences, header: json, body: `{"monitor": "rag_quality", "duration_ms": 1000}`}, 400},
		{"silence_bad_monitor", request{method: "POST", path: silences, header: json, body: `{"monitor": "a b", "duration_ms": 60000}`}, 400},
		{"silence_unknown_field", request{method: "POST", path: silences, header: json, body: `{"monitor": "rag_quality", "for": "2h"}`}, 400},
		{"silences", request{method: "GET", path: silences}, 200},
		{"silence_expire", request{method: "DELETE", path: silences + "/s0000000000000000000000000000002"}, 200},
		{"silence_expire_again", request{method: "DELETE", path: silences + "/s0000000000000000000000000000002"}, 409},
		{"silence_expire_unknown", request{method: "DELETE", path: silences + "/s00000000000000000000000000000ff"}, 404},
		{"silences_active", request{method: "GET", path: silences + "?monitor=rag_quality"}, 200},
		{"silences_all", request{method: "GET", path: silences + "?state=all"}, 200},
		{"silences_bad_state", request{method: "GET", path: silences + "?state=old"}, 400},

		{"channels", request{method: "GET", path: Prefix + "channels"}, 200},
		{"channels_param", request{method: "GET", path: Prefix + "channels?type=slack"}, 400},
		{"test", request{method: "POST", path: test("oncall")}, 200},
		{"test_failed", request{method: "POST", path: test("broken")}, 502},
		{"test_timeout", request{method: "POST", path: test("slow")}, 502},
		{"test_unknown", request{method: "POST", path: test("nope")}, 404},
		{"test_bad_name", request{method: "POST", path: test("a%20b")}, 400},
		{"test_body", request{method: "POST", path: test("oncall"), header: map[string]string{"Content-Type": "application/json"}, body: `{"message": "hi"}`}, 400},
		{"test_param", request{method: "POST", path: test("oncall") + "?dry_run=true"}, 400},
		{"test_get", request{method: "GET", path: test("oncall")}, 405},
	}
}

// TestAlerts runs the requests of alertSteps in order against one server;
// each answer is a golden file (testdata/alerts_NAME.golden) and is
// validated against the OpenAPI document. No answer shows a secret.
func TestAlerts(t *testing.T) {
	doc := loadOpenAPI(t)
	var logs syncBuffer
	c, tester := alertServer(t, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, step := range alertSteps() {
		t.Run(step.name, func(t *testing.T) {
			c.t = t
			res := c.do(step.req)
			if res.status != step.status {
				t.Errorf("status %d, want %d; body %s", res.status, step.status, res.body)
			}
			checkJSONHeaders(t, res.header)
			got := transcript(t, step.req, res)
			if step.req.body != "" {
				line, rest, _ := strings.Cut(string(got), "\n")
				got = []byte(line + "\n(body: " + step.req.body + ")\n" + rest)
			}
			checkGolden(t, "alerts_"+step.name, got)
			checkDocumentedAt(t, doc, alertDocPath(step.req.path), step.req.method, res)
			if strings.Contains(string(res.body), "SECRET") {
				t.Errorf("the answer shows a secret: %s", res.body)
			}
		})
	}
	if diff := cmp.Diff([]string{"oncall", "broken", "slow", "nope"}, tester.asked); diff != "" {
		t.Errorf("channels tested (-want +got):\n%s", diff)
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Errorf("the log shows a secret:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "api_upstream_failed") {
		t.Errorf("a failed test notification is not logged:\n%s", logs.String())
	}
}

// TestAlertsPaging follows next_cursor with filters and gets every alert
// once, newest fired first.
func TestAlertsPaging(t *testing.T) {
	c, _ := alertServer(t, nil)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		res := c.do(request{method: "GET", path: Prefix + "alerts?limit=1&monitor=rag_quality&cursor=" + cursor})
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		var page AlertList
		if err := json.Unmarshal(res.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Alerts {
			got = append(got, a.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	want := []string{pendingAlertID, apitest.FiringAlertID, apitest.ResolvedAlertID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alert ids over all pages (-want +got):\n%s", diff)
	}
}

// TestParseAlertQuery checks what a list request asks of the store.
func TestParseAlertQuery(t *testing.T) {
	tests := []struct {
		raw  string
		want store.AlertQuery
		err  string
	}{
		{raw: "", want: store.AlertQuery{Limit: store.DefaultLimit}},
		{raw: "state=firing&monitor=rag_quality&limit=7&cursor=abc", want: store.AlertQuery{State: model.AlertFiring, Monitor: "rag_quality", Limit: 7, Cursor: "abc"}},
		{raw: "state=resolved&limit=1000", want: store.AlertQuery{State: model.AlertResolved, Limit: 1000}},
		{raw: "state=", want: store.AlertQuery{Limit: store.DefaultLimit}},
		{raw: "state=FIRING", err: `invalid "state": must be "firing" or "resolved", got "FIRING"`},
		{raw: "limit=0", err: `invalid "limit": must be an integer between 1 and 1000, got "0"`},
		{raw: "limit=x", err: `invalid "limit": must be an integer between 1 and 1000, got "x"`},
		{raw: "monitor=..", err: `invalid "monitor": must be a monitor name (1 to 128 letters, digits, '_', '.' or '-'), got ".."`},
		{raw: "state=firing&state=resolved", err: `invalid "state": given 2 times, at most once`},
		{raw: "since=1h", err: `unknown query parameter "since" (allowed: state, monitor, limit, cursor)`},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := parseAlertQuery(tt.raw)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

// failingAlerts fails every call with err.
type failingAlerts struct{ err error }

func (f failingAlerts) ListAlerts(context.Context, store.AlertQuery) (store.AlertPage, error) {
	return store.AlertPage{}, f.err
}
func (f failingAlerts) GetAlert(context.Context, string) (model.Alert, error) {
	return model.Alert{}, f.err
}
func (f failingAlerts) AlertNotifications(context.Context, string) ([]model.Notification, error) {
	return nil, f.err
}

// notesFailing reads alerts but fails to read their notifications.
type notesFailing struct {
	*apitest.Runs
	err error
}

func (f notesFailing) AlertNotifications(context.Context, string) ([]model.Notification, error) {
	return nil, f.err
}

// TestAlertsServerErrors checks the server side of the status table on the
// alert and channel routes.
func TestAlertsServerErrors(t *testing.T) {
	secret := errors.New("disk I/O error at /secret/path/flowwatch.db")
	runs := apitest.NewRuns()
	apitest.SeedRuns(runs)
	apitest.SeedAlerts(runs)
	reads := []request{
		{method: "GET", path: Prefix + "alerts"},
		{method: "GET", path: Prefix + "alerts/" + apitest.FiringAlertID},
	}
	testReq := request{method: "POST", path: Prefix + "channels/oncall/test"}
	cases := []struct {
		name       string
		opts       Options
		requests   []request
		status     int
		msg        string
		retryAfter string
		logged     string
	}{
		{
			name: "store failure", opts: Options{Alerts: failingAlerts{fmt.Errorf("select: %w", secret)}},
			requests: reads, status: 500, msg: "internal server error; the server log has the details", logged: "disk I/O error at /secret/path/flowwatch.db",
		},
		{
			name: "notifications failure", opts: Options{Alerts: notesFailing{runs, fmt.Errorf("select: %w", secret)}},
			requests: reads[1:], status: 500, msg: "internal server error; the server log has the details", logged: "notifications of alert " + apitest.FiringAlertID,
		},
		{
			name: "store closed", opts: Options{Alerts: failingAlerts{fmt.Errorf("sqlite: %w", store.ErrClosed)}},
			requests: reads, status: 503, msg: "server not ready: the store is closed (shutting down)", retryAfter: "5",
		},
		{
			name: "no alert store", opts: Options{Runs: runs, Results: runs},
			requests: reads, status: 503, msg: "server not ready: no alert store configured", retryAfter: "5",
		},
		{
			name: "not ready", opts: Options{Alerts: runs, TestChannel: func(context.Context, string) error { return nil }, Ready: func(context.Context) error { return errors.New("starting") }},
			requests: append(reads, testReq), status: 503, msg: "server not ready: starting", retryAfter: "5",
		},
		{
			name: "no channels", opts: Options{Alerts: runs},
			requests: []request{{method: "GET", path: Prefix + "channels"}}, status: 503, msg: "the notifier is not running", retryAfter: "5",
		},
		{
			name: "no tester", opts: Options{Alerts: runs, Channels: testChannels},
			requests: []request{testReq}, status: 503, msg: "the notifier is not running", retryAfter: "5",
		},
		{
			name: "unknown channel, unwrapped", opts: Options{TestChannel: func(context.Context, string) error { return ErrUnknownChannel }},
			requests: []request{testReq}, status: 404, msg: `channel "oncall" not found: the server configuration has no such channel (see /api/v1/channels)`,
		},
	}
	for _, tc := range cases {
		for _, rq := range tc.requests {
			t.Run(tc.name+" "+rq.method+" "+rq.path, func(t *testing.T) {
				var logs syncBuffer
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

// TestChannelTestContext checks the context a test notification runs
// under: bounded, and canceled when the client goes away (which answers
// nothing the client could read, and is not logged as a failure).
func TestChannelTestContext(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	var deadline time.Time
	opts := Options{TestChannel: func(ctx context.Context, _ string) error {
		deadline, _ = ctx.Deadline()
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return fmt.Errorf("notify: %w", ctx.Err())
	}}
	var logs syncBuffer
	srv := newTestServer(t, opts, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+Prefix+"channels/oncall/test", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-started
		cancel()
	}()
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.Canceled) {
		t.Errorf("request error = %v, want canceled", err)
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the test notification's context ended with %v, want canceled", err)
	}
	if left := time.Until(deadline); left <= 0 || left > testChannelTimeout {
		t.Errorf("the test notification's deadline is %s away, want within %s", left, testChannelTimeout)
	}
	srv.Close() // waits for the handler
	if strings.Contains(logs.String(), "api_upstream_failed") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a canceled test is logged as a failure:\n%s", logs.String())
	}
}

// TestToChannel checks that a channel's URL is shown as scheme and host
// only, whatever the server was given.
func TestToChannel(t *testing.T) {
	tests := []struct {
		url  string
		want *string
	}{
		{"", nil},
		{"not a url", nil},
		{"/relative/path", nil},
		{"https://hooks.slack.com/services/" + hookSecret, ptr("https://hooks.slack.com")},
		{"http://user:pw@hooks.example.com:8080/x?token=1", ptr("http://hooks.example.com:8080")},
		{"https://events.pagerduty.com", ptr("https://events.pagerduty.com")},
	}
	for _, tt := range tests {
		got := toChannel(ChannelInfo{Name: "x", Type: "webhook", URL: tt.url})
		if diff := cmp.Diff(tt.want, got.URL); diff != "" {
			t.Errorf("URL %q shown as (-want +got):\n%s", tt.url, diff)
		}
		if got.Recipients == nil {
			t.Errorf("recipients of %q are null, want []", tt.url)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestOpenAPIAlertParams checks the documented parameters of the alert and
// channel operations against those the handlers read.
func TestOpenAPIAlertParams(t *testing.T) {
	doc := loadOpenAPI(t)
	cases := []struct {
		path, method string
		names        []string
	}{
		{Prefix + "alerts", "get", alertListParams()},
		{Prefix + "alerts/{id}", "get", []string{"id"}},
		{Prefix + "channels", "get", nil},
		{Prefix + "channels/{name}/test", "post", []string{"name", "to"}},
	}
	for _, tc := range cases {
		names, _ := opParams(t, doc, tc.path, tc.method)
		if diff := cmp.Diff(tc.names, names); diff != "" {
			t.Errorf("%s %s parameters (-accepted +documented):\n%s", tc.method, tc.path, diff)
		}
	}
}
