package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

// secretPath is in the literal webhook URLs and the secret values of the
// tests: no message may ever contain it.
const secretPath = "T0SECRET/B0SECRET/xoxSECRET"

// notifyEnv sets the environment variables the notify tests name.
func notifyEnv(t *testing.T) {
	t.Helper()
	for k, v := range map[string]string{
		"FW_TEST_SMTP_PASSWORD": "pw-" + secretPath,
		"FW_TEST_SLACK_URL":     "https://hooks.slack.com/services/" + secretPath,
		"FW_TEST_FTP_URL":       "ftp://files.example.com/" + secretPath,
		"FW_TEST_SECRET":        "key-" + secretPath,
		"FW_TEST_AUTH":          "Bearer " + secretPath,
		"FW_TEST_BAD_HEADER":    "x\r\nInjected: " + secretPath,
		"FW_TEST_ROUTING_KEY":   "rk-" + secretPath,
		"FW_TEST_EMPTY":         "",
	} {
		t.Setenv(k, v)
	}
	os.Unsetenv("FW_TEST_UNSET")
}

func TestParseNotify(t *testing.T) {
	yml := `
smtp:
  host: smtp.example.com
  port: 2525
  tls: tls
  username: alerts
  password_env: FW_TEST_SMTP_PASSWORD
  from: "flowwatch <flowwatch@example.com>"
  timeout: 20s
channels:
  oncall:
    type: slack
    url_env: FW_TEST_SLACK_URL
    max_concurrency: 2
    timeout: 5s
  hook:
    type: webhook
    url: https://hooks.example.com/flowwatch
    secret_env: FW_TEST_SECRET
    headers: {X-Team: ml}
    header_envs: {Authorization: FW_TEST_AUTH}
  pd:
    type: pagerduty
    routing_key_env: FW_TEST_ROUTING_KEY
  team:
    type: email
    to: [oncall@example.com, "Lead <lead@example.com>"]
notifications:
  give_up_after: 2h
  initial_backoff: 1s
  max_backoff: 1m
`
	got := Default()
	if err := Parse([]byte(yml), &got); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.SMTP = &SMTP{Host: "smtp.example.com", Port: 2525, TLS: "tls", Username: "alerts", PasswordEnv: "FW_TEST_SMTP_PASSWORD",
		From: "flowwatch <flowwatch@example.com>", Timeout: Duration(20 * time.Second)}
	want.Channels = map[string]Channel{
		"oncall": {Type: "slack", URLEnv: "FW_TEST_SLACK_URL", MaxConcurrency: 2, Timeout: Duration(5 * time.Second)},
		"hook": {Type: "webhook", URL: "https://hooks.example.com/flowwatch", SecretEnv: "FW_TEST_SECRET",
			Headers: map[string]string{"X-Team": "ml"}, HeaderEnvs: map[string]string{"Authorization": "FW_TEST_AUTH"}},
		"pd":   {Type: "pagerduty", RoutingKeyEnv: "FW_TEST_ROUTING_KEY"},
		"team": {Type: "email", To: []string{"oncall@example.com", "Lead <lead@example.com>"}},
	}
	want.Notifications = Notifications{GiveUpAfter: Duration(2 * time.Hour), InitialBackoff: Duration(time.Second), MaxBackoff: Duration(time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	notifyEnv(t)
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

// TestParseNotifyErrors: unknown keys are rejected with their line, and
// a parse error quoting the file cuts the URLs in it to scheme and host.
func TestParseNotifyErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{
			name: "unknown channel key",
			yaml: "channels:\n  oncall:\n    type: slack\n    url: https://hooks.slack.com/services/" + secretPath + "\n    urll: x\n",
			want: []string{"[5:5]", `unknown field "urll"`, "https://hooks.slack.com/…"},
		},
		{
			name: "unknown smtp key",
			yaml: "smtp:\n  host: smtp.example.com\n  password: hunter2\n",
			want: []string{"[3:3]", `unknown field "password"`},
		},
		{
			name: "unknown notifications key",
			yaml: "notifications:\n  retries: 3\n",
			want: []string{"[2:3]", `unknown field "retries"`},
		},
		{
			name: "credentials in a URL",
			yaml: "http:\n  public_url: https://user:" + secretPath + "@example.com/x\n  bogus: 1\n",
			want: []string{"[3:3]", "https://example.com/…"},
		},
		{
			name: "to is a list",
			yaml: "channels:\n  team:\n    type: email\n    to: {a: b}\n",
			want: []string{"[4:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			err := Parse([]byte(tt.yaml), &c)
			if err == nil {
				t.Fatal("Parse() succeeded")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not contain %q:\n%v", s, err)
				}
			}
			if strings.Contains(err.Error(), secretPath) {
				t.Errorf("error quotes a secret:\n%v", err)
			}
		})
	}
}

func TestValidateNotify(t *testing.T) {
	okSMTP := "smtp: {host: smtp.example.com, from: flowwatch@example.com}\n"
	tests := []struct {
		name string
		yaml string
		// want are the lines of the error, in order; none for a valid
		// configuration.
		want []string
	}{
		{name: "nothing set", yaml: ""},
		{name: "smtp minimal", yaml: okSMTP},
		{name: "smtp with auth", yaml: "smtp: {host: 10.0.0.5, port: 465, tls: tls, username: u, password_env: FW_TEST_SMTP_PASSWORD, from: a@example.com}\n"},
		{
			name: "smtp empty",
			yaml: "smtp: {port: 0}\n",
			want: []string{
				"smtp.host: required: the mail server's name, e.g. smtp.example.com",
				"smtp.from: required: the sender address, e.g. flowwatch@example.com",
			},
		},
		{
			name: "smtp bad values",
			yaml: "smtp: {host: \"smtp.example.com:587\", port: 70000, tls: ssl, username: u, from: not-an-address, timeout: 1h}\n",
			want: []string{
				`smtp.host: "smtp.example.com:587" includes a port: give the name alone and the port in smtp.port (587)`,
				"smtp.port: must be between 1 and 65535 (0: the default of smtp.tls), got 70000",
				`smtp.tls: must be starttls (STARTTLS required), tls (implicit TLS) or none, got "ssl"`,
				"smtp.password_env: required with smtp.username: the environment variable holding the password",
				`smtp.from: "not-an-address" is not an e-mail address (write e.g. oncall@example.com)`,
				"smtp.timeout: must be between 0s (default 30s) and 5m0s, got 1h0m0s",
			},
		},
		{
			name: "smtp host with scheme",
			yaml: "smtp: {host: \"smtp://mail.example.com\", from: a@example.com}\n",
			want: []string{`smtp.host: "smtp://mail.example.com" is not a host name: give only the name or address, e.g. smtp.example.com`},
		},
		{
			name: "smtp password env unset",
			yaml: "smtp: {host: h, username: u, password_env: FW_TEST_UNSET, from: a@example.com}\n",
			want: []string{"smtp.password_env: environment variable FW_TEST_UNSET is not set; export it with the SMTP password"},
		},
		{
			name: "smtp password env empty",
			yaml: "smtp: {host: h, username: u, password_env: FW_TEST_EMPTY, from: a@example.com}\n",
			want: []string{"smtp.password_env: environment variable FW_TEST_EMPTY is empty; export it with the SMTP password"},
		},
		{
			name: "smtp password without user",
			yaml: "smtp: {host: h, password_env: FW_TEST_SMTP_PASSWORD, from: a@example.com}\n",
			want: []string{"smtp.username: required with smtp.password_env: the user to log in as (leave both out for no AUTH)"},
		},
		{
			name: "group timing and rate limit",
			yaml: okSMTP + "channels:\n  ok: {type: slack, url: https://hooks.example.com/x, group_wait: 30s, group_interval: 5m, repeat_interval: 4h, rate_limit: 0.5}\n",
		},
		{
			name: "group timing and rate limit out of bounds",
			yaml: "smtp: {host: h, from: a@example.com, group_wait: 2h, repeat_interval: 30s}\n" +
				"channels:\n  c: {type: webhook, url: https://hooks.example.com/x, group_wait: -1s, group_interval: 48h, rate_limit: -1}\n" +
				"  d: {type: teams, url: https://hooks.example.com/x, group_interval: 2h, repeat_interval: 1h, rate_limit: 1000}\n",
			want: []string{
				"smtp.group_wait: must be between 0s (the default: no wait) and 1h0m0s, got 2h0m0s",
				"smtp.repeat_interval: must be 0s (the default: the monitor's alerting.repeat_interval) or between 1m0s and 720h0m0s, got 30s",
				"channels.c.group_wait: must be between 0s (the default: no wait) and 1h0m0s, got -1s",
				"channels.c.group_interval: must be between 0s (the default: a message per run that changed something) and 24h0m0s, got 48h0m0s",
				"channels.c.rate_limit: must be between 0 (no limit) and 100 messages per second, got -1",
				"channels.d.repeat_interval: must not be below channels.d.group_interval (2h0m0s), got 1h0m0s",
				"channels.d.rate_limit: must be between 0 (no limit) and 100 messages per second, got 1000",
			},
		},
		{
			name: "every channel type",
			yaml: okSMTP + `channels:
  a: {type: webhook, url: "https://hooks.example.com/x?token=` + secretPath + `", secret_env: FW_TEST_SECRET}
  b: {type: slack, url_env: FW_TEST_SLACK_URL}
  c: {type: teams, url: "http://teams.example.com/hook"}
  d: {type: pagerduty, routing_key_env: FW_TEST_ROUTING_KEY}
  e: {type: pagerduty, routing_key_env: FW_TEST_ROUTING_KEY, url: "https://events.eu.pagerduty.com/v2/enqueue"}
  f: {type: email, to: [a@example.com]}
  g.h-i_9: {type: webhook, url: "https://x.example.com", headers: {X-Team: ml}, header_envs: {Authorization: FW_TEST_AUTH}, max_concurrency: 256, timeout: 5m}
`,
		},
		{
			name: "unknown and missing type",
			yaml: "channels:\n  a: {type: discord, url: https://x.example.com}\n  b: {url: https://x.example.com}\n",
			want: []string{
				`channels.a.type: unknown type "discord": must be one of webhook, slack, teams, pagerduty, email`,
				"channels.b.type: required: one of webhook, slack, teams, pagerduty, email",
			},
		},
		{
			name: "bad channel names",
			yaml: "channels:\n  emails: {type: email, to: [a@example.com]}\n  \"a b\": {type: slack, url: https://x.example.com}\n  \"..\": {type: slack, url: https://x.example.com}\n",
			want: []string{
				`channels...: ".." is not a usable channel name; use letters, digits, '_', '.' or '-'`,
				`channels.a b: a channel name may only hold letters, digits, '_', '.' and '-'; ' ' is not allowed`,
				`channels.emails: the name "emails" is reserved for the e-mail addresses a monitor lists in notify.emails; choose another`,
				"channels.emails: an email channel needs the smtp section (at least smtp.host and smtp.from)",
			},
		},
		{
			name: "urls",
			yaml: `channels:
  both: {type: slack, url: "https://hooks.slack.com/services/` + secretPath + `", url_env: FW_TEST_SLACK_URL}
  neither: {type: teams}
  ftp: {type: webhook, url: "ftp://files.example.com/` + secretPath + `"}
  relative: {type: webhook, url: "/hooks/` + secretPath + `"}
  nohost: {type: webhook, url: "https:///` + secretPath + `"}
  junk: {type: webhook, url: "http://[::1` + secretPath + `"}
  envftp: {type: slack, url_env: FW_TEST_FTP_URL}
  envunset: {type: slack, url_env: FW_TEST_UNSET}
  envbadname: {type: slack, url_env: "1-not-a-name"}
`,
			want: []string{
				"channels.both: give url or url_env, not both",
				`channels.envbadname.url_env: "1-not-a-name" is not an environment variable name`,
				`channels.envftp.url_env: the value of environment variable FW_TEST_FTP_URL has scheme "ftp"; must be http or https; it must be an absolute http(s) URL`,
				"channels.envunset.url_env: environment variable FW_TEST_UNSET is not set; export it with the URL to post to",
				`channels.ftp.url: has scheme "ftp"; must be http or https; give the absolute http(s) URL to post to`,
				"channels.junk.url: is not a URL; give the absolute http(s) URL to post to",
				"channels.neither: give url (or url_env, the environment variable holding it): where to post",
				"channels.nohost.url: has no host; give the absolute http(s) URL to post to",
				"channels.relative.url: is not an absolute URL (write https://...); give the absolute http(s) URL to post to",
			},
		},
		{
			name: "pagerduty",
			yaml: "channels:\n  pd: {type: pagerduty}\n  pd2: {type: pagerduty, routing_key_env: FW_TEST_UNSET}\n",
			want: []string{
				"channels.pd.routing_key_env: required for pagerduty: the environment variable holding the integration's routing key",
				"channels.pd2.routing_key_env: environment variable FW_TEST_UNSET is not set; export it with the PagerDuty routing key",
			},
		},
		{
			name: "email",
			yaml: okSMTP + "channels:\n  none: {type: email}\n  bad: {type: email, to: [ok@example.com, \"not an address\"], url: https://x.example.com, headers: {X-A: b}, routing_key_env: FW_TEST_ROUTING_KEY}\n",
			want: []string{
				"channels.bad.url: not used by a channel of type email; remove it",
				"channels.bad.headers: not used by a channel of type email; remove it",
				"channels.bad.routing_key_env: not used by a channel of type email; remove it",
				`channels.bad.to[1]: "not an address" is not an e-mail address (write e.g. oncall@example.com)`,
				"channels.none.to: required for email: the recipients' addresses, e.g. [oncall@example.com]",
			},
		},
		{
			name: "email without smtp",
			yaml: "channels:\n  team: {type: email, to: [a@example.com]}\n",
			want: []string{"channels.team: an email channel needs the smtp section (at least smtp.host and smtp.from)"},
		},
		{
			name: "keys of other types",
			yaml: "channels:\n  s: {type: slack, url: https://x.example.com, to: [a@example.com], routing_key_env: FW_TEST_ROUTING_KEY}\n",
			want: []string{
				"channels.s.routing_key_env: not used by a channel of type slack; remove it",
				"channels.s.to: not used by a channel of type slack; remove it",
			},
		},
		{
			name: "secrets and headers",
			yaml: `channels:
  h:
    type: webhook
    url: https://x.example.com
    secret_env: FW_TEST_UNSET
    headers: {"Bad Name": x, Content-Type: text/plain, X-Dup: a, X-Value: "a` + "\\r\\n" + `b"}
    header_envs: {x-dup: FW_TEST_AUTH, X-Env: FW_TEST_BAD_HEADER, X-Unset: FW_TEST_UNSET}
`,
			want: []string{
				"channels.h.secret_env: environment variable FW_TEST_UNSET is not set; export it with the signing key",
				`channels.h.headers.Bad Name: "Bad Name" is not a valid header name (letters, digits and !#$%&'*+-.^_` + "`" + `|~)`,
				"channels.h.headers.Content-Type: flowwatch sets Content-Type itself; it cannot be a custom header",
				"channels.h.headers.X-Value: the value holds a line break or another control character",
				"channels.h.header_envs.X-Env: the value of environment variable FW_TEST_BAD_HEADER holds a line break or another control character",
				"channels.h.header_envs.X-Unset: environment variable FW_TEST_UNSET is not set; export it with the header's value",
				"channels.h.header_envs.x-dup: header X-Dup is already set by channels.h.headers.X-Dup",
			},
		},
		{
			name: "headers flowwatch signs and sends",
			yaml: "channels:\n  h: {type: webhook, url: https://x.example.com, headers: {User-Agent: x, X-Flowwatch-Signature: y}}\n",
			want: []string{
				"channels.h.headers.User-Agent: flowwatch sets User-Agent itself; it cannot be a custom header",
				"channels.h.headers.X-Flowwatch-Signature: flowwatch sets X-Flowwatch-Signature itself; it cannot be a custom header",
			},
		},
		{
			name: "password in clear",
			yaml: "smtp: {host: smtp.example.com, tls: none, username: alerts, password_env: FW_TEST_SMTP_PASSWORD, from: a@example.com}\n",
			want: []string{"smtp.username: would send the password in clear over tls: none; use tls: starttls or tls, or leave username out"},
		},
		{
			name: "limits",
			yaml: "channels:\n  a: {type: slack, url: https://x.example.com, max_concurrency: 257, timeout: 6m}\n  b: {type: slack, url: https://x.example.com, max_concurrency: -1, timeout: -1s}\n",
			want: []string{
				"channels.a.max_concurrency: must be between 1 and 256 (0: default 4), got 257",
				"channels.a.timeout: must be between 0s (default 10s) and 5m0s, got 6m0s",
				"channels.b.max_concurrency: must be between 1 and 256 (0: default 4), got -1",
				"channels.b.timeout: must be between 0s (default 10s) and 5m0s, got -1s",
			},
		},
		{
			name: "notifications",
			yaml: "notifications: {give_up_after: 30s, initial_backoff: 10ms, max_backoff: 48h}\n",
			want: []string{
				"notifications.give_up_after: must be between 1m0s and 720h0m0s, got 30s",
				"notifications.initial_backoff: must be between 100ms and 1h0m0s, got 10ms",
				"notifications.max_backoff: must be at most 24h0m0s, got 48h0m0s",
			},
		},
		{
			name: "max backoff below initial",
			yaml: "notifications: {initial_backoff: 1m, max_backoff: 30s}\n",
			want: []string{"notifications.max_backoff: must not be below notifications.initial_backoff (1m0s), got 30s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notifyEnv(t)
			c := Default()
			if err := Parse([]byte(tt.yaml), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() lines (-want +got):\n%s", diff)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("an error quotes a secret:\n%v", err)
			}
		})
	}
}

func TestNotifyDefaults(t *testing.T) {
	c := Default()
	if n := c.Notifications; n.GiveUpAfter != Duration(24*time.Hour) || n.InitialBackoff != Duration(5*time.Second) || n.MaxBackoff != Duration(10*time.Minute) {
		t.Errorf("default notifications = %+v", n)
	}
	ports := []struct {
		tls  string
		port int
		want string
	}{
		{"", 0, "smtp.example.com:587"},
		{"starttls", 0, "smtp.example.com:587"},
		{"tls", 0, "smtp.example.com:465"},
		{"none", 0, "smtp.example.com:25"},
		{"tls", 2465, "smtp.example.com:2465"},
	}
	for _, p := range ports {
		s := SMTP{Host: "smtp.example.com", TLS: p.tls, Port: p.port}
		if got := s.Address(); got != p.want {
			t.Errorf("tls %q port %d: Address() = %q, want %q", p.tls, p.port, got, p.want)
		}
	}
	if got := (SMTP{}).TLSMode(); got != SMTPStartTLS {
		t.Errorf("TLSMode() = %q, want starttls", got)
	}
	if got := (SMTP{}).SendTimeout(); got != 30*time.Second {
		t.Errorf("SendTimeout() = %s", got)
	}
	if got := (SMTP{Timeout: Duration(time.Second)}).SendTimeout(); got != time.Second {
		t.Errorf("SendTimeout() = %s", got)
	}
	ch := Channel{}
	if ch.Concurrency() != 4 || ch.DeliveryTimeout() != 10*time.Second {
		t.Errorf("channel defaults: %d, %s", ch.Concurrency(), ch.DeliveryTimeout())
	}
	for typ, want := range map[string]float64{ChannelSlack: 1, ChannelTeams: 1, ChannelWebhook: 0, ChannelPagerDuty: 0, ChannelEmail: 0} {
		if got := (Channel{Type: typ}).Rate(); got != want {
			t.Errorf("default rate limit of %s = %g, want %g", typ, got, want)
		}
	}
	zero := 0.0
	if got := (Channel{Type: ChannelSlack, RateLimit: &zero}).Rate(); got != 0 {
		t.Errorf("slack with rate_limit 0: Rate() = %g, want 0 (no limit)", got)
	}
	if got := ch.Timing(); got != (model.GroupTiming{}) {
		t.Errorf("default timing %+v, want all zero", got)
	}
	ch = Channel{MaxConcurrency: 7, Timeout: Duration(time.Minute)}
	if ch.Concurrency() != 7 || ch.DeliveryTimeout() != time.Minute {
		t.Errorf("channel settings: %d, %s", ch.Concurrency(), ch.DeliveryTimeout())
	}
}

// TestChannelSecrets checks the helpers that read secrets from the
// environment, and that what may be shown of a channel shows none.
func TestChannelSecrets(t *testing.T) {
	notifyEnv(t)
	lookup := LookupFunc(os.LookupEnv)
	tests := []struct {
		name       string
		ch         Channel
		endpoint   string
		display    string
		str        string
		signingKey string
		routingKey string
		header     http.Header
		err        string
	}{
		{
			name:     "literal url",
			ch:       Channel{Type: ChannelSlack, URL: "https://hooks.slack.com/services/" + secretPath},
			endpoint: "https://hooks.slack.com/services/" + secretPath, display: "https://hooks.slack.com",
			str: "slack https://hooks.slack.com", header: http.Header{},
		},
		{
			name:     "url from env",
			ch:       Channel{Type: ChannelTeams, URLEnv: "FW_TEST_SLACK_URL", SecretEnv: "FW_TEST_SECRET"},
			endpoint: "https://hooks.slack.com/services/" + secretPath, display: "",
			str: "teams $FW_TEST_SLACK_URL", signingKey: "key-" + secretPath, header: http.Header{},
		},
		{
			name:     "pagerduty default",
			ch:       Channel{Type: ChannelPagerDuty, RoutingKeyEnv: "FW_TEST_ROUTING_KEY"},
			endpoint: PagerDutyEventsURL, display: "https://events.pagerduty.com",
			str: "pagerduty https://events.pagerduty.com", routingKey: "rk-" + secretPath, header: http.Header{},
		},
		{
			name: "headers",
			ch: Channel{Type: ChannelWebhook, URL: "http://u:pwSECRET@hooks.example.com:8080/x",
				Headers: map[string]string{"x-team": "ml"}, HeaderEnvs: map[string]string{"Authorization": "FW_TEST_AUTH"}},
			endpoint: "http://u:pwSECRET@hooks.example.com:8080/x", display: "http://hooks.example.com:8080",
			str:    "webhook http://hooks.example.com:8080",
			header: http.Header{"X-Team": {"ml"}, "Authorization": {"Bearer " + secretPath}},
		},
		{
			name:   "email",
			ch:     Channel{Type: ChannelEmail, To: []string{"a@example.com", "b@example.com"}},
			str:    "email to a@example.com, b@example.com",
			header: http.Header{},
		},
		{
			name: "unset variables",
			ch:   Channel{Type: ChannelWebhook, URLEnv: "FW_TEST_UNSET", HeaderEnvs: map[string]string{"X-A": "FW_TEST_EMPTY"}},
			str:  "webhook $FW_TEST_UNSET",
			err:  "url_env: environment variable FW_TEST_UNSET is not set",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint, err := tt.ch.Endpoint(lookup)
			switch {
			case tt.err != "":
				if err == nil || err.Error() != tt.err {
					t.Errorf("Endpoint() error = %v, want %q", err, tt.err)
				}
				if _, err := tt.ch.Header(lookup); err == nil || err.Error() != "header_envs.X-A: environment variable FW_TEST_EMPTY is empty" {
					t.Errorf("Header() error = %v", err)
				}
			case err != nil:
				t.Fatal(err)
			case endpoint != tt.endpoint:
				t.Errorf("Endpoint() = %q, want %q", endpoint, tt.endpoint)
			}
			if got := tt.ch.DisplayURL(); got != tt.display {
				t.Errorf("DisplayURL() = %q, want %q", got, tt.display)
			}
			if tt.err == "" {
				key, err := tt.ch.SigningKey(lookup)
				if err != nil || key != tt.signingKey {
					t.Errorf("SigningKey() = %q, %v, want %q", key, err, tt.signingKey)
				}
				rk, err := tt.ch.RoutingKey(lookup)
				if err != nil || rk != tt.routingKey {
					t.Errorf("RoutingKey() = %q, %v, want %q", rk, err, tt.routingKey)
				}
				h, err := tt.ch.Header(lookup)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.header, h); diff != "" {
					t.Errorf("Header() (-want +got):\n%s", diff)
				}
			}
			// Every printed form of the channel, and of a configuration
			// holding it, hides the secrets.
			if got := tt.ch.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			c := Default()
			c.Channels = map[string]Channel{"x": tt.ch}
			var logs bytes.Buffer
			slog.New(slog.NewTextHandler(&logs, nil)).Info("channel", "channel", tt.ch)
			for _, s := range []string{fmt.Sprint(tt.ch), fmt.Sprintf("%+v", tt.ch), fmt.Sprintf("%#v", tt.ch), fmt.Sprintf("%+v", c), fmt.Sprintf("%v", &c), logs.String()} {
				if strings.Contains(s, "SECRET") {
					t.Errorf("printed channel shows a secret: %s", s)
				}
			}
		})
	}
	s := SMTP{Username: "u", PasswordEnv: "FW_TEST_SMTP_PASSWORD"}
	if pw, err := s.Password(lookup); err != nil || pw != "pw-"+secretPath {
		t.Errorf("Password() = %q, %v", pw, err)
	}
	if pw, err := (SMTP{}).Password(lookup); err != nil || pw != "" {
		t.Errorf("Password() without AUTH = %q, %v", pw, err)
	}
	if _, err := (SMTP{Username: "u", PasswordEnv: "FW_TEST_UNSET"}).Password(lookup); err == nil || err.Error() != "smtp.password_env: environment variable FW_TEST_UNSET is not set" {
		t.Errorf("Password() error = %v", err)
	}
}

func TestRedactURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no url here", "no url here"},
		{"https://example.com", "https://example.com"},
		{"  4 | url: https://hooks.slack.com/services/A/B/C", "  4 | url: https://hooks.slack.com/…"},
		{"x http://user:pw@host:8080/p?q=1#f y", "x http://host:8080/… y"},
		{"http://user:pw/with/slash@host/p", "http://host/…"},
		{"http://user:pw/with/slash", "http://user/…"},
		{"http://[::1]:8080/x", "http://[::1]:8080/…"},
		{"http://example.com/", "http://example.com/"},
		{`"https://h.example.com?token=abc"`, `"https://h.example.com/…"`},
		{"a https://x/1 and https://y/2", "a https://x/… and https://y/…"},
	}
	for _, tt := range tests {
		if got := RedactURLs(tt.in); got != tt.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
