package config

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// This file holds the notification settings: the SMTP server, the
// channels monitors name in notify.channels, and the retry bounds of
// the outbox. Secrets are never in the file: it names the environment
// variables that hold them (password_env, url_env, secret_env,
// header_envs, routing_key_env), and neither validation messages nor the
// String and LogValue forms of these types ever contain their values or a
// literal URL's path and query (a Slack or Teams webhook URL is itself a
// secret).

// Channel types.
const (
	ChannelWebhook   = "webhook"
	ChannelSlack     = "slack"
	ChannelTeams     = "teams"
	ChannelPagerDuty = "pagerduty"
	ChannelEmail     = "email"
)

// ChannelTypes lists the channel types, in the order messages list them.
func ChannelTypes() []string {
	return []string{ChannelWebhook, ChannelSlack, ChannelTeams, ChannelPagerDuty, ChannelEmail}
}

// SMTP TLS modes.
const (
	// SMTPStartTLS connects in plain text and requires the server to
	// upgrade the connection with STARTTLS (the default).
	SMTPStartTLS = "starttls"
	// SMTPTLS speaks TLS from the first byte (implicit TLS, "SMTPS").
	SMTPTLS = "tls"
	// SMTPNone sends in plain text.
	SMTPNone = "none"
)

// PagerDutyEventsURL is where a pagerduty channel without url or url_env
// sends its events (PagerDuty Events API v2).
const PagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

// Defaults of the notification settings.
const (
	DefaultSMTPTimeout        = 30 * time.Second
	DefaultChannelConcurrency = 4
	DefaultChannelTimeout     = 10 * time.Second
	DefaultGiveUpAfter        = 24 * time.Hour
	DefaultInitialBackoff     = 5 * time.Second
	DefaultMaxBackoff         = 10 * time.Minute
)

// Bounds of the notification settings.
const (
	maxChannelConcurrency = 256
	maxDeliveryTimeout    = 5 * time.Minute
	maxRecipients         = 100
	minGiveUpAfter        = time.Minute
	maxGiveUpAfter        = 30 * 24 * time.Hour
	minInitialBackoff     = 100 * time.Millisecond
	maxInitialBackoff     = time.Hour
	maxMaxBackoff         = 24 * time.Hour
	maxChannelNameLen     = 128
)

// SMTP is the mail server that e-mail notifications (email channels and
// monitors' notify.emails) are sent through.
type SMTP struct {
	// Host is the server's name or address, without a port.
	Host string `yaml:"host"`
	// Port defaults by TLS mode: 587 for starttls, 465 for tls, 25 for
	// none (see Address).
	Port int `yaml:"port"`
	// TLS is starttls (default), tls or none (see TLSMode).
	TLS string `yaml:"tls"`
	// Username, when set, turns on SMTP AUTH with the password held by
	// the environment variable PasswordEnv.
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	// From is the sender address, e.g. "flowwatch <alerts@example.com>".
	From string `yaml:"from"`
	// Timeout bounds one message's delivery, connection included
	// (default 30s; see SendTimeout).
	Timeout Duration `yaml:"timeout"`
	// GroupWait, GroupInterval and RepeatInterval time the messages to
	// monitors' notify.emails, as for a channel (see Channel.Timing).
	GroupWait      Duration `yaml:"group_wait"`
	GroupInterval  Duration `yaml:"group_interval"`
	RepeatInterval Duration `yaml:"repeat_interval"`
}

// Timing is when messages to monitors' notify.emails go.
func (s SMTP) Timing() model.GroupTiming {
	return model.GroupTiming{Wait: time.Duration(s.GroupWait), Interval: time.Duration(s.GroupInterval), Repeat: time.Duration(s.RepeatInterval)}
}

// TLSMode is the TLS mode, SMTPStartTLS when not set.
func (s SMTP) TLSMode() string {
	if s.TLS == "" {
		return SMTPStartTLS
	}
	return s.TLS
}

// EffectivePort is the port, or the default of the TLS mode when not set.
func (s SMTP) EffectivePort() int {
	if s.Port != 0 {
		return s.Port
	}
	switch s.TLSMode() {
	case SMTPTLS:
		return 465
	case SMTPNone:
		return 25
	}
	return 587
}

// Address is host:port of the server.
func (s SMTP) Address() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.EffectivePort()))
}

// SendTimeout is the timeout of one message, the default when not set.
func (s SMTP) SendTimeout() time.Duration {
	if s.Timeout > 0 {
		return time.Duration(s.Timeout)
	}
	return DefaultSMTPTimeout
}

// Password reads the password from the environment variable PasswordEnv;
// "" when no username is set. The error names the variable, never its
// value.
func (s SMTP) Password(lookup LookupFunc) (string, error) {
	if s.Username == "" && s.PasswordEnv == "" {
		return "", nil
	}
	return secretFromEnv(lookup, "smtp.password_env", s.PasswordEnv)
}

// Channel is a notification channel: a webhook flavour (generic JSON,
// Slack, Microsoft Teams, PagerDuty Events v2) or a list of e-mail
// recipients.
type Channel struct {
	// Type is one of ChannelTypes.
	Type string `yaml:"type"`
	// URL or URLEnv (the environment variable holding the URL, for URLs
	// that are secrets themselves) is where a webhook, slack or teams
	// channel posts; exactly one of them. A pagerduty channel may leave
	// both out for PagerDutyEventsURL. Read it with Endpoint.
	URL    string `yaml:"url"`
	URLEnv string `yaml:"url_env"`
	// SecretEnv, when set, names the environment variable holding the key
	// that signs each body (HMAC-SHA256).
	SecretEnv string `yaml:"secret_env"`
	// Headers are sent with every delivery as written; HeaderEnvs are
	// headers whose values come from environment variables (by header
	// name). Read both with Header.
	Headers    map[string]string `yaml:"headers"`
	HeaderEnvs map[string]string `yaml:"header_envs"`
	// RoutingKeyEnv (pagerduty, required) names the environment variable
	// holding the integration's routing key.
	RoutingKeyEnv string `yaml:"routing_key_env"`
	// To (email, required) are the recipients' addresses.
	To []string `yaml:"to"`
	// MaxConcurrency bounds this channel's deliveries at once (default 4);
	// Timeout bounds one delivery (default 10s).
	MaxConcurrency int      `yaml:"max_concurrency"`
	Timeout        Duration `yaml:"timeout"`
	// GroupWait is how long a monitor's first message to this channel
	// waits for more alerts to join it (default 0s); GroupInterval the
	// least time between two messages about a monitor whose alerts
	// changed (default 0s: one per run that changed something);
	// RepeatInterval how long after its latest message a monitor whose
	// alerts still fire, unchanged, is told again (default 0s: the
	// monitor's alerting.repeat_interval). Read them with Timing.
	GroupWait      Duration `yaml:"group_wait"`
	GroupInterval  Duration `yaml:"group_interval"`
	RepeatInterval Duration `yaml:"repeat_interval"`
	// RateLimit bounds the messages per second this channel is sent
	// (default 1 for slack and teams, none for the others; 0: none).
	// Read it with Rate.
	RateLimit *float64 `yaml:"rate_limit"`
}

// DefaultChatRateLimit is the rate limit of slack and teams channels,
// in messages per second: Slack accepts about one a second.
const DefaultChatRateLimit = 1.0

// Timing is when the channel's messages go.
func (ch Channel) Timing() model.GroupTiming {
	return model.GroupTiming{Wait: time.Duration(ch.GroupWait), Interval: time.Duration(ch.GroupInterval), Repeat: time.Duration(ch.RepeatInterval)}
}

// Rate is RateLimit, or its default when not set: messages per second,
// 0 for no limit.
func (ch Channel) Rate() float64 {
	switch {
	case ch.RateLimit != nil:
		return *ch.RateLimit
	case ch.Type == ChannelSlack || ch.Type == ChannelTeams:
		return DefaultChatRateLimit
	}
	return 0
}

// Concurrency is MaxConcurrency, or its default when not set.
func (ch Channel) Concurrency() int {
	if ch.MaxConcurrency > 0 {
		return ch.MaxConcurrency
	}
	return DefaultChannelConcurrency
}

// DeliveryTimeout is Timeout, or its default when not set.
func (ch Channel) DeliveryTimeout() time.Duration {
	if ch.Timeout > 0 {
		return time.Duration(ch.Timeout)
	}
	return DefaultChannelTimeout
}

// Endpoint is the URL the channel posts to: url as written, the value of
// url_env, or PagerDutyEventsURL for a pagerduty channel without either;
// "" for an email channel. The error names the variable, never a value.
func (ch Channel) Endpoint(lookup LookupFunc) (string, error) {
	switch {
	case ch.URL != "":
		return ch.URL, nil
	case ch.URLEnv != "":
		return secretFromEnv(lookup, "url_env", ch.URLEnv)
	case ch.Type == ChannelPagerDuty:
		return PagerDutyEventsURL, nil
	}
	return "", nil
}

// DisplayURL is what may be shown of the channel's URL: the scheme and
// host of url, or of PagerDutyEventsURL for a pagerduty channel without a
// URL; "" for a URL from url_env (it is a secret as a whole) and for
// email channels.
func (ch Channel) DisplayURL() string {
	switch {
	case ch.URL != "":
		return SchemeHost(ch.URL)
	case ch.URLEnv == "" && ch.Type == ChannelPagerDuty:
		return SchemeHost(PagerDutyEventsURL)
	}
	return ""
}

// SigningKey reads the HMAC-SHA256 signing key from SecretEnv; "" when
// the channel signs nothing.
func (ch Channel) SigningKey(lookup LookupFunc) (string, error) {
	if ch.SecretEnv == "" {
		return "", nil
	}
	return secretFromEnv(lookup, "secret_env", ch.SecretEnv)
}

// RoutingKey reads a pagerduty channel's routing key from RoutingKeyEnv.
func (ch Channel) RoutingKey(lookup LookupFunc) (string, error) {
	if ch.RoutingKeyEnv == "" {
		return "", nil
	}
	return secretFromEnv(lookup, "routing_key_env", ch.RoutingKeyEnv)
}

// Header is the custom headers to send: Headers as written and
// HeaderEnvs resolved. The error names the variable, never a value.
func (ch Channel) Header(lookup LookupFunc) (http.Header, error) {
	h := make(http.Header, len(ch.Headers)+len(ch.HeaderEnvs))
	for name, v := range ch.Headers {
		h.Set(name, v)
	}
	for name, env := range ch.HeaderEnvs {
		v, err := secretFromEnv(lookup, "header_envs."+name, env)
		if err != nil {
			return nil, err
		}
		h.Set(name, v)
	}
	return h, nil
}

// String describes the channel without anything secret: its type and
// DisplayURL, or its recipients.
func (ch Channel) String() string {
	if ch.Type == ChannelEmail {
		return fmt.Sprintf("%s to %s", ch.Type, strings.Join(ch.To, ", "))
	}
	u := ch.DisplayURL()
	if u == "" && ch.URLEnv != "" {
		u = "$" + ch.URLEnv
	}
	return fmt.Sprintf("%s %s", ch.Type, u)
}

// GoString is String, so that %#v does not print a literal URL either.
func (ch Channel) GoString() string { return "config.Channel{" + ch.String() + "}" }

// LogValue logs the channel as String does.
func (ch Channel) LogValue() slog.Value { return slog.StringValue(ch.String()) }

// Notifications are the retry bounds of the notification outbox.
type Notifications struct {
	// GiveUpAfter is how long after it was queued a notification that
	// could not be delivered is given up (recorded as failed).
	GiveUpAfter Duration `yaml:"give_up_after"`
	// InitialBackoff is the delay before the first retry; each retry
	// doubles it (with jitter) up to MaxBackoff.
	InitialBackoff Duration `yaml:"initial_backoff"`
	MaxBackoff     Duration `yaml:"max_backoff"`
	// AllowedRecipients are the e-mail addresses ("ops@example.com") and
	// domains ("@example.com") that monitors' notify.emails and test
	// e-mails may name (recipients.go).
	AllowedRecipients []string `yaml:"allowed_recipients"`
}

// LookupFunc reads an environment variable (os.LookupEnv).
type LookupFunc func(string) (string, bool)

// secretFromEnv reads the environment variable env, which key names; an
// unset or empty variable is an error that names it (never a value).
func secretFromEnv(lookup LookupFunc, key, env string) (string, error) {
	v, ok := lookup(env)
	switch {
	case !ok:
		return "", fmt.Errorf("%s: environment variable %s is not set", key, env)
	case v == "":
		return "", fmt.Errorf("%s: environment variable %s is empty", key, env)
	}
	return v, nil
}

// SchemeHost is scheme://host of an absolute URL, without user
// information, path or query; "" when raw is not one.
func SchemeHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// checkChannelName says what is wrong with a channel name: "" when it is
// valid. Channel names follow monitor names: 1 to 128 letters, digits,
// '_', '.' or '-'.
func checkChannelName(name string) string {
	switch {
	case name == "":
		return "a channel name is 1 to 128 letters, digits, '_', '.' or '-'"
	case len(name) > maxChannelNameLen:
		return fmt.Sprintf("a channel name is at most %d characters long, this one %d", maxChannelNameLen, len(name))
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a usable channel name; use letters, digits, '_', '.' or '-'", name)
	case name == model.EmailsChannel:
		return fmt.Sprintf("the name %q is reserved for the e-mail addresses a monitor lists in notify.emails; choose another", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return fmt.Sprintf("a channel name may only hold letters, digits, '_', '.' and '-'; %q is not allowed", r)
		}
	}
	return ""
}

// reservedHeaders are headers a channel may not set: flowwatch sets them,
// or they belong to the connection rather than the message.
var reservedHeaders = []string{
	"Connection", "Content-Encoding", "Content-Length", "Content-Type", "Host", "Idempotency-Key", "Keep-Alive",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent",
	"X-Flowwatch-Event", "X-Flowwatch-Signature", "X-Flowwatch-Timestamp",
}

// isToken reports whether s is an HTTP header name (an RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// httpURLProblem says what keeps raw from being an absolute http(s) URL,
// "" when it is one. The message never quotes raw beyond its scheme.
func httpURLProblem(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case raw == "":
		return "is empty"
	case err != nil:
		return "is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		if u.Scheme == "" {
			return "is not an absolute URL (write https://...)"
		}
		return fmt.Sprintf("has scheme %q; must be http or https", clipText(u.Scheme, 20))
	case u.Host == "":
		return "has no host"
	case strings.TrimSpace(raw) != raw:
		return "has leading or trailing white space"
	}
	return ""
}

// clipText bounds a value quoted in a message.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// validateNotify checks smtp, channels and notifications, reading the
// environment variables they name with lookup.
func (c *Config) validateNotify(lookup LookupFunc) []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	// env checks an environment variable named at key: a valid name, set
	// and not empty. It returns the value, never put in a message.
	env := func(key, name, what string) (string, bool) {
		switch v, ok := lookup(name); {
		case !envNameRE.MatchString(name):
			add(key, "%q is not an environment variable name", clipText(name, 100))
		case !ok:
			add(key, "environment variable %s is not set; export it with %s", name, what)
		case v == "":
			add(key, "environment variable %s is empty; export it with %s", name, what)
		default:
			return v, true
		}
		return "", false
	}
	address := func(key, a string) {
		if _, err := mail.ParseAddress(a); err != nil {
			add(key, "%q is not an e-mail address (write e.g. oncall@example.com)", clipText(a, 200))
		}
	}

	if s := c.SMTP; s != nil {
		switch h := s.Host; {
		case strings.TrimSpace(h) == "":
			add("smtp.host", "required: the mail server's name, e.g. smtp.example.com")
		case strings.Contains(h, "://") || strings.ContainsAny(h, "/ \t@"):
			add("smtp.host", "%q is not a host name: give only the name or address, e.g. smtp.example.com", clipText(h, 200))
		default:
			if _, port, err := net.SplitHostPort(h); err == nil {
				add("smtp.host", "%q includes a port: give the name alone and the port in smtp.port (%s)", clipText(h, 200), port)
			}
		}
		if s.Port < 0 || s.Port > 65535 {
			add("smtp.port", "must be between 1 and 65535 (0: the default of smtp.tls), got %d", s.Port)
		}
		switch s.TLS {
		case "", SMTPStartTLS, SMTPTLS, SMTPNone:
		default:
			add("smtp.tls", "must be starttls (STARTTLS required), tls (implicit TLS) or none, got %q", clipText(s.TLS, 40))
		}
		switch {
		case s.Username != "" && s.PasswordEnv == "":
			add("smtp.password_env", "required with smtp.username: the environment variable holding the password")
		case s.Username == "" && s.PasswordEnv != "":
			add("smtp.username", "required with smtp.password_env: the user to log in as (leave both out for no AUTH)")
		case s.PasswordEnv != "":
			env("smtp.password_env", s.PasswordEnv, "the SMTP password")
		}
		if s.Username != "" && s.TLS == SMTPNone {
			add("smtp.username", "would send the password in clear over tls: none; use tls: starttls or tls, or leave username out")
		}
		if s.From == "" {
			add("smtp.from", "required: the sender address, e.g. flowwatch@example.com")
		} else {
			address("smtp.from", s.From)
		}
		if t := time.Duration(s.Timeout); t < 0 || t > maxDeliveryTimeout {
			add("smtp.timeout", "must be between 0s (default %s) and %s, got %s", DefaultSMTPTimeout, maxDeliveryTimeout, t)
		}
		checkTiming("smtp", s.Timing(), add)
	}

	for _, name := range sortedKeys(c.Channels) {
		ch := c.Channels[name]
		key := "channels." + name
		if msg := checkChannelName(name); msg != "" {
			add(key, "%s", msg)
		}
		isHTTP := false
		switch ch.Type {
		case ChannelWebhook, ChannelSlack, ChannelTeams, ChannelPagerDuty:
			isHTTP = true
		case ChannelEmail:
		case "":
			add(key+".type", "required: one of %s", strings.Join(ChannelTypes(), ", "))
		default:
			add(key+".type", "unknown type %q: must be one of %s", clipText(ch.Type, 40), strings.Join(ChannelTypes(), ", "))
		}
		notFor := func(k string) {
			add(key+"."+k, "not used by a channel of type %s; remove it", ch.Type)
		}
		if isHTTP {
			switch {
			case ch.URL != "" && ch.URLEnv != "":
				add(key, "give url or url_env, not both")
			case ch.URL != "":
				if p := httpURLProblem(ch.URL); p != "" {
					add(key+".url", "%s; give the absolute http(s) URL to post to", p)
				}
			case ch.URLEnv != "":
				if v, ok := env(key+".url_env", ch.URLEnv, "the URL to post to"); ok {
					if p := httpURLProblem(v); p != "" {
						add(key+".url_env", "the value of environment variable %s %s; it must be an absolute http(s) URL", ch.URLEnv, p)
					}
				}
			case ch.Type != ChannelPagerDuty:
				add(key, "give url (or url_env, the environment variable holding it): where to post")
			}
			if ch.SecretEnv != "" {
				env(key+".secret_env", ch.SecretEnv, "the signing key")
			}
			checkHeaders(key, ch, add, env)
			if ch.Type == ChannelPagerDuty {
				if ch.RoutingKeyEnv == "" {
					add(key+".routing_key_env", "required for pagerduty: the environment variable holding the integration's routing key")
				} else {
					env(key+".routing_key_env", ch.RoutingKeyEnv, "the PagerDuty routing key")
				}
			} else if ch.RoutingKeyEnv != "" {
				notFor("routing_key_env")
			}
			if len(ch.To) > 0 {
				notFor("to")
			}
		}
		if ch.Type == ChannelEmail {
			for _, k := range []struct {
				name string
				set  bool
			}{
				{"url", ch.URL != ""}, {"url_env", ch.URLEnv != ""}, {"secret_env", ch.SecretEnv != ""},
				{"headers", len(ch.Headers) > 0}, {"header_envs", len(ch.HeaderEnvs) > 0}, {"routing_key_env", ch.RoutingKeyEnv != ""},
			} {
				if k.set {
					notFor(k.name)
				}
			}
			switch {
			case len(ch.To) == 0:
				add(key+".to", "required for email: the recipients' addresses, e.g. [oncall@example.com]")
			case len(ch.To) > maxRecipients:
				add(key+".to", "at most %d recipients, got %d", maxRecipients, len(ch.To))
			}
			for i, a := range ch.To {
				address(fmt.Sprintf("%s.to[%d]", key, i), a)
			}
			if c.SMTP == nil {
				add(key, "an email channel needs the smtp section (at least smtp.host and smtp.from)")
			}
		}
		if ch.MaxConcurrency < 0 || ch.MaxConcurrency > maxChannelConcurrency {
			add(key+".max_concurrency", "must be between 1 and %d (0: default %d), got %d", maxChannelConcurrency, DefaultChannelConcurrency, ch.MaxConcurrency)
		}
		if t := time.Duration(ch.Timeout); t < 0 || t > maxDeliveryTimeout {
			add(key+".timeout", "must be between 0s (default %s) and %s, got %s", DefaultChannelTimeout, maxDeliveryTimeout, t)
		}
		checkTiming(key, ch.Timing(), add)
		if r := ch.RateLimit; r != nil && (*r < 0 || *r > maxRateLimit || math.IsNaN(*r)) {
			add(key+".rate_limit", "must be between 0 (no limit) and %g messages per second, got %g", maxRateLimit, *r)
		}
	}

	n := c.Notifications
	give, initial, maxB := time.Duration(n.GiveUpAfter), time.Duration(n.InitialBackoff), time.Duration(n.MaxBackoff)
	if give < minGiveUpAfter || give > maxGiveUpAfter {
		add("notifications.give_up_after", "must be between %s and %s, got %s", minGiveUpAfter, maxGiveUpAfter, give)
	}
	if initial < minInitialBackoff || initial > maxInitialBackoff {
		add("notifications.initial_backoff", "must be between %s and %s, got %s", minInitialBackoff, maxInitialBackoff, initial)
	}
	switch {
	case maxB > maxMaxBackoff:
		add("notifications.max_backoff", "must be at most %s, got %s", maxMaxBackoff, maxB)
	case maxB < initial:
		add("notifications.max_backoff", "must not be below notifications.initial_backoff (%s), got %s", initial, maxB)
	}
	return errs
}

// Bounds of the group timing keys.
const (
	maxGroupWait      = time.Hour
	maxGroupInterval  = 24 * time.Hour
	minRepeatInterval = time.Minute
	maxRepeatInterval = 30 * 24 * time.Hour
	// maxRateLimit is the highest rate_limit, in messages per second.
	maxRateLimit = 100.0
)

// checkTiming checks the group_wait, group_interval and repeat_interval
// under key, reporting with add.
func checkTiming(key string, t model.GroupTiming, add func(k, format string, args ...any)) {
	if t.Wait < 0 || t.Wait > maxGroupWait {
		add(key+".group_wait", "must be between 0s (the default: no wait) and %s, got %s", maxGroupWait, t.Wait)
	}
	if t.Interval < 0 || t.Interval > maxGroupInterval {
		add(key+".group_interval", "must be between 0s (the default: a message per run that changed something) and %s, got %s", maxGroupInterval, t.Interval)
	}
	switch r := t.Repeat; {
	case r == 0:
	case r < minRepeatInterval || r > maxRepeatInterval:
		add(key+".repeat_interval", "must be 0s (the default: the monitor's alerting.repeat_interval) or between %s and %s, got %s", minRepeatInterval, maxRepeatInterval, r)
	case r < t.Interval:
		add(key+".repeat_interval", "must not be below %s.group_interval (%s), got %s", key, t.Interval, r)
	}
}

// checkHeaders checks a channel's headers and header_envs (header names,
// values a header can carry, no header given twice, none that flowwatch
// sets itself), reporting with add.
func checkHeaders(key string, ch Channel, add func(k, format string, args ...any), env func(key, name, what string) (string, bool)) {
	seen := map[string]string{} // canonical name -> key that set it
	check := func(k, name string) bool {
		switch canon := http.CanonicalHeaderKey(name); {
		case !isToken(name):
			add(k, "%q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~)", clipText(name, 100))
		case slices.Contains(reservedHeaders, canon):
			add(k, "flowwatch sets %s itself; it cannot be a custom header", canon)
		case seen[canon] != "":
			add(k, "header %s is already set by %s", canon, seen[canon])
		default:
			seen[canon] = k
			return true
		}
		return false
	}
	for _, name := range sortedKeys(ch.Headers) {
		k := key + ".headers." + name
		if check(k, name) && !validHeaderValue(ch.Headers[name]) {
			add(k, "the value holds a line break or another control character")
		}
	}
	for _, name := range sortedKeys(ch.HeaderEnvs) {
		k := key + ".header_envs." + name
		if !check(k, name) {
			continue
		}
		if v, ok := env(k, ch.HeaderEnvs[name], "the header's value"); ok && !validHeaderValue(v) {
			add(k, "the value of environment variable %s holds a line break or another control character", ch.HeaderEnvs[name])
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// urlInText matches URLs in text, to cut them to scheme://host.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]*`)

// RedactURLs cuts every URL in s to its scheme and host, so that a text
// that quotes one (a parse error quoting lines of the file, a delivery
// error) does not quote a webhook URL's path (its secret) or credentials
// in it. It errs on the side of
// cutting: everything up to the last '@' is taken for credentials, and a
// port that is not a number for part of them.
func RedactURLs(s string) string {
	return urlInText.ReplaceAllStringFunc(s, func(m string) string {
		scheme, rest, _ := strings.Cut(m, "://")
		cut := false
		if i := strings.LastIndexByte(rest, '@'); i >= 0 {
			rest, cut = rest[i+1:], true
		}
		host := rest
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			host, cut = rest[:i], cut || i < len(rest)-1 || rest[i] != '/'
		}
		if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ']') < i {
			if _, err := strconv.Atoi(host[i+1:]); err != nil && host[i+1:] != "" {
				host, cut = host[:i], true
			}
		}
		if !cut {
			return m
		}
		return scheme + "://" + host + "/…"
	})
}
