package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
)

// DefaultPagerDutyURL is PagerDuty's Events API v2 endpoint, the URL of a
// pagerduty channel without one.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// DefaultWebhookTimeout bounds one request when WebhookOptions.Timeout
// is 0.
const DefaultWebhookTimeout = 10 * time.Second

// Headers of every webhook request.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with
	// the channel's secret, of the timestamp header's value, ".", and the
	// body; only with a secret.
	HeaderSignature = "X-Flowwatch-Signature"
	// HeaderTimestamp is when the request was signed, in Unix seconds;
	// only with a secret.
	HeaderTimestamp = "X-Flowwatch-Timestamp"
	// HeaderEvent is the notification's event (firing, reminder,
	// resolved, test).
	HeaderEvent = "X-Flowwatch-Event"
	// HeaderIdempotencyKey is the notification's dedup key: the same for
	// every attempt of one notification, so receivers can drop repeats.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Bounds on reading a receiver's answer.
const (
	// maxErrorBody is how much of a failed response's body is read.
	maxErrorBody = 4 << 10
	// maxErrorSnippet is how much of it an error quotes.
	maxErrorSnippet = 512
	// maxDrain is how much of a response is read to reuse the connection.
	maxDrain = 64 << 10
)

// reservedHeaders are set by the channel itself and cannot be configured.
var reservedHeaders = []string{
	"Host", "Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding", "Connection",
	"Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade",
	"User-Agent", HeaderIdempotencyKey, HeaderSignature, HeaderTimestamp, HeaderEvent,
}

// WebhookOptions configure a webhook channel of any flavour.
type WebhookOptions struct {
	// Name is the channel's name, for errors and logs.
	Name string
	// Type is the flavour: TypeWebhook (the generic JSON payload; the
	// default when empty), TypeSlack, TypeTeams or TypePagerDuty.
	Type string
	// URL is where to POST (http or https). Only its host ever appears
	// in errors and logs: webhook URLs often carry a secret in their
	// path. Default for pagerduty: DefaultPagerDutyURL.
	URL string
	// Headers are added to every request (e.g. Authorization). The
	// headers the channel sets itself cannot be overridden.
	Headers map[string]string
	// Secret, when set, signs every request (HeaderSignature,
	// HeaderTimestamp). Resolved by the caller; never logged.
	Secret string
	// RoutingKey is the PagerDuty integration key (pagerduty only,
	// required). Resolved by the caller; never logged.
	RoutingKey string
	// Timeout bounds one request, connecting to reading the answer
	// (default 10s).
	Timeout time.Duration
	// PublicURL is the dashboard's base URL, for the link to the run.
	PublicURL string
	// Now is the clock for sent_at, the signature's timestamp and
	// Retry-After dates (default time.Now).
	Now func() time.Time
}

// Webhook delivers notifications by HTTP POST in one of the flavours. It
// is safe for concurrent use.
type Webhook struct {
	opts   WebhookOptions
	url    *url.URL
	client *http.Client
	render renderFunc
	// bodies renders the requests of one notification: one, except for
	// pagerduty (one event per alert).
	bodies func(n model.Notification, o PayloadOptions) ([][]byte, error)
	// secrets are the parts of the URL, headers and keys that a
	// receiver's error answer must not carry into errors (see scrub).
	secrets []string
	logger  *slog.Logger
}

var _ Channel = (*Webhook)(nil)

// renderFunc renders a flavour's request body.
type renderFunc func(n model.Notification, o PayloadOptions) ([]byte, error)

// renderers are the webhook flavours.
func renderer(typ string) (renderFunc, bool) {
	switch typ {
	case TypeWebhook:
		return renderGeneric, true
	case TypeSlack:
		return renderSlack, true
	case TypeTeams:
		return renderTeams, true
	case TypePagerDuty:
		return renderPagerDuty, true
	}
	return nil, false
}

// NewWebhook checks opts and returns the channel.
func NewWebhook(opts WebhookOptions, logger *slog.Logger) (*Webhook, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Type == "" {
		opts.Type = TypeWebhook
	}
	var errs []error
	render, ok := renderer(opts.Type)
	if !ok {
		errs = append(errs, fmt.Errorf("type %q is not one of %s, %s, %s, %s", opts.Type, TypeWebhook, TypeSlack, TypeTeams, TypePagerDuty))
	}
	if opts.URL == "" && opts.Type == TypePagerDuty {
		opts.URL = DefaultPagerDutyURL
	}
	u, err := checkURL(opts.URL)
	if err != nil {
		errs = append(errs, err)
	}
	if opts.Type == TypePagerDuty && opts.RoutingKey == "" {
		errs = append(errs, errors.New("routing key is missing (pagerduty needs the integration key)"))
	}
	for name, value := range opts.Headers {
		if err := checkHeader(name, value); err != nil {
			errs = append(errs, err)
		}
	}
	if opts.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", opts.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, channelError(firstNonEmpty(opts.Type, TypeWebhook), opts.Name, err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultWebhookTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 4
	client := &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		// A redirect is answered as it is: the configured URL should be
		// the final one, and a redirect must not carry the payload to
		// another host or over plain HTTP.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	w := &Webhook{opts: opts, url: u, client: client, render: render, secrets: secretParts(u, opts), logger: logger}
	w.bodies = func(n model.Notification, o PayloadOptions) ([][]byte, error) {
		b, err := render(n, o)
		return [][]byte{b}, err
	}
	if opts.Type == TypePagerDuty {
		w.bodies = renderPagerDutyEvents
	}
	return w, nil
}

// checkURL accepts an absolute http or https URL; errors never quote its
// path or query.
func checkURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is missing")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("url has no host")
	}
	return u, nil
}

// checkHeader accepts a custom header: a valid name the channel does not
// set itself, and a value of one line.
func checkHeader(name, value string) error {
	if name == "" {
		return errors.New("headers: empty header name")
	}
	for _, r := range name {
		if r > '~' || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return fmt.Errorf("headers: %q is not a valid header name", name)
		}
	}
	canon := textproto.CanonicalMIMEHeaderKey(name)
	for _, h := range reservedHeaders {
		if canon == textproto.CanonicalMIMEHeaderKey(h) {
			return fmt.Errorf("headers: %s is set by flowwatch and cannot be configured", canon)
		}
	}
	for _, r := range value {
		if r == '\r' || r == '\n' || r == 0 || (r < ' ' && r != '\t') || r == 0x7f {
			return fmt.Errorf("headers: the value of %s holds a control character", canon)
		}
	}
	return nil
}

// Send POSTs n to the channel's URL in its flavour.
func (w *Webhook) Send(ctx context.Context, n model.Notification) error {
	if err := w.send(ctx, n); err != nil {
		return channelError(w.opts.Type, w.opts.Name, err)
	}
	return nil
}

func (w *Webhook) send(ctx context.Context, n model.Notification) error {
	now := w.opts.Now()
	bodies, err := w.bodies(n, PayloadOptions{PublicURL: w.opts.PublicURL, RoutingKey: w.opts.RoutingKey, SentAt: now})
	if err != nil {
		return Permanent(fmt.Errorf("notification %s: render: %w", n.ID, err))
	}
	// Several bodies (pagerduty's events) go one after the other; a
	// failure stops there, and the retry sends them all again (the
	// receiver folds repeats by their dedup keys).
	for _, body := range bodies {
		if err := w.post(ctx, n, body, now); err != nil {
			return err
		}
	}
	return nil
}

// post POSTs one body of n.
func (w *Webhook) post(ctx context.Context, n model.Notification, body []byte, now time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("POST %s: %w", w.url.Host, stripURL(err)))
	}
	for name, value := range w.opts.Headers {
		req.Header.Set(name, value)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if n.DedupKey != "" {
		req.Header.Set(HeaderIdempotencyKey, oneLine(n.DedupKey, 1000))
	}
	req.Header.Set(HeaderEvent, oneLine(firstNonEmpty(n.Message.Event, n.Event), 40))
	if w.opts.Secret != "" {
		ts := now.Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, Sign(w.opts.Secret, ts, body))
	}

	res, err := w.client.Do(req)
	if err != nil {
		err = stripURL(err)
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("POST %s: no answer within %s: %w", w.url.Host, w.opts.Timeout, err)
		}
		return fmt.Errorf("POST %s: %w", w.url.Host, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
		w.logger.DebugContext(ctx, "webhook_sent", "channel", w.opts.Name, "type", w.opts.Type,
			"notification", n.ID, "dedup_key", n.DedupKey, "status", res.StatusCode)
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
	return classifyStatus(&StatusError{Host: w.url.Host, Status: res.StatusCode, Body: snippet(w.scrub(head))}, res.Header, now)
}

// scrub replaces in a receiver's answer the secret parts of the channel's
// URL, headers and keys with a marker. Receivers often quote the request
// in an error ("Cannot POST /hooks/T0KEN?token=..."), and the answer goes
// into the notification's last_error, the logs, the API and the
// dashboard, while the URL itself is a secret (url_env) that never
// appears there.
func (w *Webhook) scrub(b []byte) []byte {
	for _, s := range w.secrets {
		b = bytes.ReplaceAll(b, []byte(s), []byte("[REDACTED:url]"))
	}
	return b
}

// secretParts are what scrub replaces, longest first: the URL and its
// path and query as sent and decoded, each path segment and query value
// that could be a token (8 bytes or more, not one short lowercase word
// such as "services"), header values, the signing and routing keys.
func secretParts(u *url.URL, o WebhookOptions) []string {
	var out []string
	add := func(s string) {
		if len(s) >= 8 && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	maybeToken := func(s string) {
		word := len(s) < 16
		for i := 0; i < len(s) && word; i++ {
			word = s[i] >= 'a' && s[i] <= 'z' || s[i] == '-' || s[i] == '_'
		}
		if !word {
			add(s)
		}
	}
	add(u.String())
	add(u.RequestURI())
	add(u.EscapedPath())
	add(u.Path)
	add(u.RawQuery)
	if q, err := url.QueryUnescape(u.RawQuery); err == nil {
		add(q)
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		maybeToken(seg)
		if d, err := url.PathUnescape(seg); err == nil {
			maybeToken(d)
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			maybeToken(v)
			maybeToken(url.QueryEscape(v))
		}
	}
	if u.User != nil {
		add(u.User.String())
		if p, ok := u.User.Password(); ok {
			maybeToken(p)
		}
	}
	for _, v := range o.Headers {
		add(v)
		if _, cred, ok := strings.Cut(v, " "); ok { // "Bearer TOKEN"
			maybeToken(cred)
		}
	}
	add(o.Secret)
	add(o.RoutingKey)
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// StatusError is a receiver's answer other than 2xx.
type StatusError struct {
	// Host is the URL's host (never its path: it may hold a secret).
	Host   string
	Status int
	// Body is the start of the response body, on one line.
	Body string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("POST %s: status %d %s", e.Host, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// classifyStatus marks a non-2xx answer: 408, 429 and 5xx are transient
// (429 and 503 with the Retry-After they carry), the other 4xx and the
// redirects permanent.
func classifyStatus(se *StatusError, h http.Header, now time.Time) error {
	switch s := se.Status; {
	case s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable:
		if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
			return WithRetryAfter(se, d)
		}
		return se
	case s == http.StatusRequestTimeout || s >= 500:
		return se
	default:
		return Permanent(se)
	}
}

// parseRetryAfter reads a Retry-After value: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// snippet is the start of a response body on one line, for an error.
func snippet(b []byte) string {
	if !utf8.Valid(b) {
		// The read may have cut a character in two.
		b = bytes.ToValidUTF8(b, nil)
	}
	return oneLine(string(b), maxErrorSnippet)
}

// stripURL drops the *url.Error layer of an HTTP client error, which
// quotes the whole URL (and so a secret in its path).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Sign computes the signature header value of a request: "sha256=" and
// the hex HMAC-SHA256, keyed with secret, of the decimal timestamp, ".",
// and the body.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a signed request as a receiver should: the
// timestamp is within tolerance of now (to refuse replays), and the
// signature matches the body (compared in constant time).
func VerifySignature(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("%s is missing or not a number", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%s is %s away from now, more than %s", HeaderTimestamp, d.Abs().Round(time.Second), tolerance)
	}
	want := Sign(secret, ts, body)
	if !hmac.Equal([]byte(want), []byte(h.Get(HeaderSignature))) {
		return fmt.Errorf("%s does not match the body", HeaderSignature)
	}
	return nil
}
