package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// SMTPCheckTimeout bounds the start-up check of the SMTP server.
const SMTPCheckTimeout = 5 * time.Second

// SMTPCheckOptions address the SMTP server the start-up check talks to.
type SMTPCheckOptions struct {
	Host string
	Port int
	// TLS is TLSStartTLS (also when empty), TLSImplicit or TLSNone.
	TLS string
	// Timeout bounds the whole check (SMTPCheckTimeout when 0).
	Timeout time.Duration
	// TLSConfig, when set, replaces the default (the system's roots,
	// ServerName Host); tests set it to trust their own server.
	TLSConfig *tls.Config
}

// CheckSMTP connects to the SMTP server, greets it and checks that its
// TLS mode works: with starttls that the server offers STARTTLS and the
// handshake succeeds, with tls that the handshake succeeds. It sends
// nothing and does not log in. The error says what failed and which
// setting to change.
func CheckSMTP(ctx context.Context, o SMTPCheckOptions) error {
	if o.Timeout <= 0 {
		o.Timeout = SMTPCheckTimeout
	}
	if o.TLS == "" {
		o.TLS = TLSStartTLS
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	tlsConfig := &tls.Config{ServerName: o.Host, MinVersion: tls.VersionTLS12}
	if o.TLSConfig != nil {
		tlsConfig = o.TLSConfig.Clone()
		if tlsConfig.ServerName == "" {
			tlsConfig.ServerName = o.Host
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp %s: cannot connect: %w", addr, err)
	}
	defer conn.Close()
	// The deadline bounds every step below; closing the connection when
	// ctx ends stops them early.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	if o.TLS == TLSImplicit {
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("smtp %s: the TLS handshake failed (tls: tls expects TLS from the first byte, usually on port 465; "+
				"if the server starts in plain text, set tls: starttls, often port 587): %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, o.Host)
	if err != nil {
		if o.TLS != TLSImplicit {
			return fmt.Errorf("smtp %s: no SMTP greeting (a server that expects TLS from the first byte, usually on port 465, "+
				"says nothing to a plain connection: then set tls: tls): %w", addr, err)
		}
		return fmt.Errorf("smtp %s: no SMTP greeting: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("smtp %s: EHLO refused: %w", addr, err)
	}
	if o.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp %s does not offer STARTTLS, which tls: starttls requires: set tls: none if the server is a "+
				"trusted relay without encryption, or tls: tls if it expects TLS from the first byte (usually port 465)", addr)
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return fmt.Errorf("smtp %s: the TLS handshake after STARTTLS failed: %w", addr, err)
		}
	}
	_ = c.Quit()
	return nil
}

// tlsProblem says why a delivery failed in TLS, "" when it did not: the
// server offers no STARTTLS, the handshake failed, or its certificate is
// not trusted. Retrying cannot fix these until the server or smtp.tls
// changes, so they are permanent.
func tlsProblem(err error) string {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		alert     tls.AlertError
	)
	switch {
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		return "the server does not offer STARTTLS, which tls: starttls requires (set smtp.tls to none, or to tls for TLS from the first byte)"
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &hostname), errors.As(err, &invalid):
		return "the server's TLS certificate is not trusted"
	case errors.As(err, &record):
		return "the TLS handshake failed: the server did not answer in TLS (check smtp.tls and smtp.port)"
	case errors.As(err, &alert), strings.Contains(err.Error(), "tls: "):
		return "the TLS handshake failed"
	}
	return ""
}

// LogSMTPCheck runs CheckSMTP and logs what it found: a warning when the
// server cannot be used as configured (flowwatch starts all the same: the
// server may come later, and notifications wait in the outbox), an info
// line when it can. Meant to run in the background at start.
func LogSMTPCheck(ctx context.Context, o SMTPCheckOptions, logger *slog.Logger) {
	if logger == nil {
		return
	}
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	if err := CheckSMTP(ctx, o); err != nil {
		if ctx.Err() != nil {
			return
		}
		logger.WarnContext(ctx, "smtp_check_failed", "smtp", addr, "tls", o.TLS, "err", err)
		return
	}
	logger.InfoContext(ctx, "smtp_check_ok", "smtp", addr, "tls", o.TLS)
}
