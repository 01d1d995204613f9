package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestCheckSMTP runs the start-up check against a real SMTP server in
// each TLS mode, configured right and wrong.
func TestCheckSMTP(t *testing.T) {
	tests := []struct {
		name      string
		server    string // none, starttls or tls
		client    string
		untrusted bool   // the client does not trust the server's certificate
		want      string // in the error; "" for none
	}{
		{name: "starttls offered", server: TLSStartTLS, client: TLSStartTLS},
		{name: "implicit tls", server: TLSImplicit, client: TLSImplicit},
		{name: "plain", server: TLSNone, client: TLSNone},
		{name: "plain server offers starttls", server: TLSStartTLS, client: TLSNone},
		{
			name: "starttls not offered", server: TLSNone, client: TLSStartTLS,
			want: "does not offer STARTTLS, which tls: starttls requires: set tls: none if the server is a trusted relay without encryption, or tls: tls",
		},
		{
			name: "starttls with an untrusted certificate", server: TLSStartTLS, client: TLSStartTLS, untrusted: true,
			want: "the TLS handshake after STARTTLS failed: tls: failed to verify certificate",
		},
		{
			name: "implicit tls to a plain server", server: TLSNone, client: TLSImplicit,
			want: "the TLS handshake failed (tls: tls expects TLS from the first byte",
		},
		{
			name: "plain client to an implicit tls server", server: TLSImplicit, client: TLSStartTLS,
			want: "no SMTP greeting (a server that expects TLS from the first byte",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, tt.server, &smtpBackend{})
			o := SMTPCheckOptions{Host: srv.Host, Port: srv.Port, TLS: tt.client, Timeout: 2 * time.Second}
			if !tt.untrusted {
				o.TLSConfig = &tls.Config{RootCAs: srv.RootCAs}
			}
			err := CheckSMTP(t.Context(), o)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckSMTP: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("CheckSMTP succeeded, want an error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("CheckSMTP error\n%v\nwant it to contain\n%s", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), srv.Host) {
				t.Errorf("error %q does not name the server", err)
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		err := CheckSMTP(t.Context(), SMTPCheckOptions{Host: "127.0.0.1", Port: closedPort(t), TLS: TLSNone})
		if err == nil || !strings.Contains(err.Error(), "cannot connect") {
			t.Errorf("CheckSMTP error %v, want cannot connect", err)
		}
	})
	t.Run("silent server times out", func(t *testing.T) {
		host, port := silentServer(t)
		err := CheckSMTP(t.Context(), SMTPCheckOptions{Host: host, Port: port, TLS: TLSStartTLS, Timeout: 100 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "no SMTP greeting") {
			t.Errorf("CheckSMTP error %v, want no SMTP greeting", err)
		}
	})
}

// TestLogSMTPCheck: the start-up check logs a warning naming the problem,
// or an info line when the server works as configured.
func TestLogSMTPCheck(t *testing.T) {
	tests := []struct {
		name, server, client string
		want                 []string // in the log
	}{
		{name: "ok", server: TLSStartTLS, client: TLSStartTLS, want: []string{"level=INFO", "msg=smtp_check_ok", "tls=starttls"}},
		{name: "no starttls", server: TLSNone, client: TLSStartTLS, want: []string{"level=WARN", "msg=smtp_check_failed", "does not offer STARTTLS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, tt.server, &smtpBackend{})
			var buf bytes.Buffer
			LogSMTPCheck(context.Background(), SMTPCheckOptions{Host: srv.Host, Port: srv.Port, TLS: tt.client,
				TLSConfig: &tls.Config{RootCAs: srv.RootCAs}}, slog.New(slog.NewTextHandler(&buf, nil)))
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("log %q does not contain %q", buf.String(), w)
				}
			}
		})
	}
}
