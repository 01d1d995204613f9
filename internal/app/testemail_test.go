package app_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/cli"
	"github.com/flowwatch/flowwatch/internal/config"
)

// testMailbox is an SMTP backend that keeps the recipients of what it takes.
type testMailbox struct {
	mu   sync.Mutex
	rcpt [][]string
}

func (m *testMailbox) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &testMailSession{m: m}, nil
}

func (m *testMailbox) received() [][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]string(nil), m.rcpt...)
}

type testMailSession struct {
	m  *testMailbox
	to []string
}

func (s *testMailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *testMailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *testMailSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.rcpt = append(s.m.rcpt, s.to)
	s.m.mu.Unlock()
	return nil
}
func (s *testMailSession) Reset()        { s.to = nil }
func (s *testMailSession) Logout() error { return nil }

// TestAlertsTestEmails: with smtp configured and no e-mail channel,
// `flowwatch alerts test emails --to ADDRESS` sends a test e-mail through
// a real SMTP server; without --to, or with a bad address, it says what to
// give.
func TestAlertsTestEmails(t *testing.T) {
	box := &testMailbox{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	p, _ := strconv.Atoi(port)

	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.GRPC.Address = "127.0.0.1:0"
	cfg.SMTP = &config.SMTP{Host: "127.0.0.1", Port: p, TLS: "none", From: "flowwatch@example.com"}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // in stdout
		stderr string // in stderr
		rcpt   []string
	}{
		{name: "to an address", args: []string{"--to", "you@example.com"}, code: cli.ExitOK,
			stdout: "test notification delivered to channel emails", rcpt: []string{"you@example.com"}},
		{name: "two addresses", args: []string{"--to", "a@example.com, b@example.com"}, code: cli.ExitOK,
			stdout: "delivered", rcpt: []string{"a@example.com", "b@example.com"}},
		{name: "without --to", code: cli.ExitUsage, stderr: "give the address to test with ?to=ADDRESS (flowwatch alerts test emails --to ADDRESS)"},
		{name: "bad address", args: []string{"--to", "not-an-address"}, code: cli.ExitUsage, stderr: `"not-an-address" is not an e-mail address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(box.received())
			var stdout, stderr bytes.Buffer
			args := append([]string{"alerts", "test", "emails", "--server", "http://" + a.HTTPAddr()}, tt.args...)
			code := cli.Execute(t.Context(), args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
			got := box.received()[before:]
			switch {
			case tt.rcpt == nil && len(got) > 0:
				t.Errorf("sent %v, want nothing sent", got)
			case tt.rcpt != nil && (len(got) != 1 || strings.Join(got[0], ",") != strings.Join(tt.rcpt, ",")):
				t.Errorf("sent to %v, want one message to %v", got, tt.rcpt)
			}
		})
	}
}
