package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/flowwatch/flowwatch/internal/model"
)

// TLS policies of an e-mail channel.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS,
	// failing when the server does not offer it (port 587 by default).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465 by default).
	TLSImplicit = "tls"
	// TLSNone never encrypts (port 25 by default); only for a relay on a
	// trusted network, and never with a username.
	TLSNone = "none"
)

// DefaultEmailTimeout bounds one delivery when EmailOptions.Timeout is 0.
const DefaultEmailTimeout = 30 * time.Second

// EmailOptions configure an e-mail channel.
type EmailOptions struct {
	// Name is the channel's name, for errors and logs.
	Name string
	// Host and Port address the SMTP server; Port 0 means the TLS
	// policy's usual port.
	Host string
	Port int
	// TLS is TLSStartTLS (the default when empty), TLSImplicit or
	// TLSNone.
	TLS string
	// Username and Password authenticate (SMTP AUTH, the strongest
	// mechanism the server offers) when Username is set; the password is
	// already resolved by the caller and never logged.
	Username string
	Password string
	// From is the sender address ("flowwatch@example.com" or
	// "Flowwatch <flowwatch@example.com>"); its domain also ends the
	// Message-IDs.
	From string
	// To are the recipients of a notification that names none itself
	// (a channel of type email). A notification's own Recipients (the
	// monitor's notify.emails) take their place when present.
	To []string
	// Timeout bounds one delivery: connecting and each SMTP command
	// (default 30s).
	Timeout time.Duration
	// PublicURL is the dashboard's base URL, for the link to the run.
	PublicURL string
	// TLSConfig, when set, is used for STARTTLS and implicit TLS instead
	// of the system's defaults (e.g. RootCAs trusting a private CA; a
	// test server's certificate). Its ServerName defaults to Host.
	TLSConfig *tls.Config
	// Now is the clock for the Date header (default time.Now).
	Now func() time.Time
}

// Email delivers notifications as e-mail over SMTP, one connection per
// notification. It is safe for concurrent use.
type Email struct {
	opts   EmailOptions
	from   *mail.Address
	to     []string
	logger *slog.Logger
}

var _ Channel = (*Email)(nil)

// NewEmail checks opts and returns the channel; it does not connect.
func NewEmail(opts EmailOptions, logger *slog.Logger) (*Email, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if strings.TrimSpace(opts.Host) == "" {
		errs = append(errs, errors.New("host is missing"))
	}
	switch opts.TLS {
	case "":
		opts.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("tls %q is not one of %s, %s, %s", opts.TLS, TLSStartTLS, TLSImplicit, TLSNone))
	}
	if opts.Port == 0 {
		switch opts.TLS {
		case TLSImplicit:
			opts.Port = 465
		case TLSNone:
			opts.Port = 25
		default:
			opts.Port = 587
		}
	}
	if opts.Port < 1 || opts.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is out of range 1-65535", opts.Port))
	}
	if opts.Username != "" && opts.TLS == TLSNone {
		errs = append(errs, errors.New("a username needs tls starttls or tls: with none the password would cross the network in clear"))
	}
	if opts.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", opts.Timeout))
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultEmailTimeout
	}
	from, err := mail.ParseAddress(opts.From)
	if err != nil {
		errs = append(errs, fmt.Errorf("from %q is not an e-mail address: %w", opts.From, err))
	}
	to, err := parseRecipients(opts.To)
	if err != nil {
		errs = append(errs, fmt.Errorf("to: %w", err))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := errors.Join(errs...); err != nil {
		return nil, channelError(TypeEmail, opts.Name, err)
	}
	if opts.TLSConfig != nil {
		opts.TLSConfig = opts.TLSConfig.Clone()
		if opts.TLSConfig.ServerName == "" {
			opts.TLSConfig.ServerName = opts.Host
		}
	}
	return &Email{opts: opts, from: from, to: to, logger: logger}, nil
}

// parseRecipients checks addresses and returns them as bare addresses.
func parseRecipients(list []string) ([]string, error) {
	var out []string
	var errs []error
	for _, s := range list {
		a, err := mail.ParseAddress(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is not an e-mail address: %w", s, err))
			continue
		}
		out = append(out, a.Address)
	}
	return out, errors.Join(errs...)
}

// Send delivers n by e-mail to its own recipients, or to the channel's.
func (e *Email) Send(ctx context.Context, n model.Notification) error {
	if err := e.send(ctx, n); err != nil {
		return channelError(TypeEmail, e.opts.Name, err)
	}
	return nil
}

func (e *Email) send(ctx context.Context, n model.Notification) error {
	rcpts := e.to
	if len(n.Recipients) > 0 {
		var err error
		if rcpts, err = parseRecipients(n.Recipients); err != nil {
			return Permanent(fmt.Errorf("notification %s: recipients: %w", n.ID, err))
		}
	}
	if len(rcpts) == 0 {
		return Permanent(fmt.Errorf("notification %s: no recipients", n.ID))
	}
	msg, err := e.message(n, rcpts)
	if err != nil {
		return Permanent(fmt.Errorf("notification %s: %w", n.ID, err))
	}

	timeout := e.opts.Timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout <= 0 {
		return fmt.Errorf("smtp %s: %w", e.addr(), context.DeadlineExceeded)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := e.client(timeout)
	if err != nil {
		return Permanent(err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if !msg.IsDelivered() {
			return classifySMTP(e.addr(), timeout, err)
		}
		// The server took the message and only ending the session
		// failed: a retry would deliver it twice.
		e.logger.WarnContext(ctx, "email_quit_failed", "channel", e.opts.Name, "notification", n.ID, "err", err)
	}
	e.logger.DebugContext(ctx, "email_sent", "channel", e.opts.Name, "notification", n.ID, "dedup_key", n.DedupKey, "recipients", len(rcpts))
	return nil
}

func (e *Email) addr() string {
	return net.JoinHostPort(e.opts.Host, strconv.Itoa(e.opts.Port))
}

// client builds the SMTP client of one delivery (its timeout depends on
// the caller's deadline).
func (e *Email) client(timeout time.Duration) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(e.opts.Port),
		gomail.WithTimeout(timeout),
	}
	switch e.opts.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if e.opts.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(e.opts.TLSConfig.Clone()))
	}
	if e.opts.Username != "" {
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(e.opts.Username),
			gomail.WithPassword(e.opts.Password))
	}
	c, err := gomail.NewClient(e.opts.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp %s: %w", e.addr(), err)
	}
	return c, nil
}

// message builds the MIME message of n.
func (e *Email) message(n model.Notification, rcpts []string) (*gomail.Msg, error) {
	_, domain, _ := strings.Cut(e.from.Address, "@")
	c, err := RenderEmail(n, e.opts.PublicURL, domain)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(e.from)
	if err := m.To(rcpts...); err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	m.Subject(c.Subject)
	m.SetDateWithValue(e.opts.Now())
	if c.MessageID != "" {
		m.SetMessageIDWithValue(c.MessageID)
	}
	if c.ThreadID != "" {
		m.SetGenHeaderPreformatted(gomail.HeaderInReplyTo, "<"+c.ThreadID+">")
		m.SetGenHeaderPreformatted(gomail.HeaderReferences, "<"+c.ThreadID+">")
	}
	m.SetUserAgent(userAgent)
	// RFC 3834: tells auto-responders (out of office) not to reply.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader("X-Flowwatch-Event", firstNonEmpty(n.Message.Event, n.Event))
	if n.Monitor != "" {
		m.SetGenHeader("X-Flowwatch-Monitor", oneLine(n.Monitor, 200))
	}
	m.SetBodyString(gomail.TypeTextPlain, c.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, c.HTML)
	return m, nil
}

// classifySMTP turns a failed delivery into our error: the server's
// 5xx replies (rejected sender, recipient or message; failed
// authentication) and TLS failures (no STARTTLS offered, a failed
// handshake, a certificate not trusted) are permanent, everything else
// (4xx replies, network failures, timeouts) is transient.
func classifySMTP(addr string, timeout time.Duration, err error) error {
	code := smtpCode(err)
	var ne net.Error
	switch {
	case code >= 500 && code < 600:
		return Permanent(fmt.Errorf("smtp %s: rejected with %d: %w", addr, code, err))
	case code >= 400 && code < 500:
		return fmt.Errorf("smtp %s: temporarily refused with %d: %w", addr, code, err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("smtp %s: no answer within %s: %w", addr, timeout, err)
	case tlsProblem(err) != "":
		return Permanent(fmt.Errorf("smtp %s: %s: %w", addr, tlsProblem(err), err))
	default:
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
}

// smtpCode is the SMTP reply code of a failed delivery, 0 when the
// server gave none (e.g. the connection failed).
func smtpCode(err error) int {
	var se *gomail.SendError
	if errors.As(err, &se) {
		if c := se.ErrorCode(); c != 0 {
			return c
		}
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
