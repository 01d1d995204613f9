package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/flowwatch/flowwatch/internal/model"
)

func TestRenderEmailGolden(t *testing.T) {
	for _, name := range []string{model.EventFiring, model.EventReminder, model.EventResolved, model.EventTest, "no_data"} {
		t.Run(name, func(t *testing.T) {
			n := fixture(name, "emails")
			c, err := RenderEmail(n, testPublicURL, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			head := fmt.Sprintf("Subject: %s\nMessage-ID: %s\nThread: %s\n\n", c.Subject, c.MessageID, c.ThreadID)
			checkGolden(t, "email_"+name+".txt", []byte(head+c.Text))
			checkGolden(t, "email_"+name+".html", []byte(c.HTML))
		})
	}
}

func TestRenderEmailThreading(t *testing.T) {
	firing, _ := RenderEmail(fixture(model.EventFiring, "ops"), "", "example.com")
	reminder, _ := RenderEmail(fixture(model.EventReminder, "ops"), "", "example.com")
	resolved, _ := RenderEmail(fixture(model.EventResolved, "ops"), "", "example.com")
	again, _ := RenderEmail(fixture(model.EventReminder, "ops"), "", "example.com")
	other, _ := RenderEmail(fixture(model.EventFiring, "emails"), "", "example.com")

	if firing.ThreadID != "" {
		t.Errorf("firing has thread %q, want none (it starts the thread)", firing.ThreadID)
	}
	for _, c := range []EmailContent{reminder, resolved} {
		if c.ThreadID != firing.MessageID {
			t.Errorf("%q refers to %q, want the firing's %q", c.Subject, c.ThreadID, firing.MessageID)
		}
	}
	ids := map[string]bool{}
	for _, c := range []EmailContent{firing, reminder, resolved, other} {
		if ids[c.MessageID] {
			t.Errorf("Message-ID %q used twice", c.MessageID)
		}
		ids[c.MessageID] = true
		if _, err := mail.ParseAddress("<" + c.MessageID + ">"); err != nil {
			t.Errorf("Message-ID %q is not an addr-spec: %v", c.MessageID, err)
		}
	}
	if again.MessageID != reminder.MessageID {
		t.Errorf("the same notification got Message-IDs %q and %q", reminder.MessageID, again.MessageID)
	}
}

func TestRenderEmailRobust(t *testing.T) {
	huge := strings.Repeat("very long reason ", 2000)
	n := fixture(model.EventFiring, "emails")
	n.Message.Monitor = strings.Repeat("monitor\r\n", 100)
	a := &n.Message.Alerts[0]
	a.Summary = strings.Repeat("summary\r\nwith breaks ", 1000)
	a.Worst = append(a.Worst, model.WorstInstance{TraceID: "x", Score: 1}, model.WorstInstance{TraceID: "y", Score: 1})
	a.Worst[0].Reason = huge
	c, err := RenderEmail(n, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if utf8.RuneCountInString(c.Subject) > maxTitleRunes || strings.ContainsAny(c.Subject, "\r\n") {
		t.Errorf("subject is %d runes or holds a line break: %q", utf8.RuneCountInString(c.Subject), c.Subject)
	}
	if len(c.Text) > 8000 || !strings.Contains(c.Text, ellipsis) {
		t.Errorf("the huge summary and reason are not cut: the text part is %d bytes", len(c.Text))
	}
	if strings.Contains(c.Text, "\n4. ") || strings.Contains(c.Text, "trace x,") {
		t.Errorf("more than 3 instances quoted:\n%s", c.Text)
	}
	if !strings.HasSuffix(c.MessageID, "@flowwatch") {
		t.Errorf("Message-ID %q without a domain does not end in @flowwatch", c.MessageID)
	}

	// An empty notification still renders.
	empty, err := RenderEmail(model.Notification{}, testPublicURL, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if empty.Subject != "[ALERT] alert" {
		t.Errorf("empty notification subject %q", empty.Subject)
	}
}

func TestNewEmailValidation(t *testing.T) {
	ok := EmailOptions{Name: "mail", Host: "smtp.example.com", From: "flowwatch@example.com"}
	tests := []struct {
		name   string
		modify func(*EmailOptions)
		want   string // in the error; "" for no error
	}{
		{name: "ok", modify: func(*EmailOptions) {}},
		{name: "no host", modify: func(o *EmailOptions) { o.Host = "" }, want: "host is missing"},
		{name: "bad tls", modify: func(o *EmailOptions) { o.TLS = "ssl" }, want: `tls "ssl" is not one of`},
		{name: "bad port", modify: func(o *EmailOptions) { o.Port = 70000 }, want: "port 70000 is out of range"},
		{name: "bad from", modify: func(o *EmailOptions) { o.From = "not an address" }, want: "from \"not an address\" is not an e-mail address"},
		{name: "bad to", modify: func(o *EmailOptions) { o.To = []string{"ops@example.com", "nope"} }, want: `"nope" is not an e-mail address`},
		{name: "username without tls", modify: func(o *EmailOptions) { o.TLS, o.Username = TLSNone, "u" }, want: "a username needs tls"},
		{name: "negative timeout", modify: func(o *EmailOptions) { o.Timeout = -time.Second }, want: "timeout -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.modify(&o)
			_, err := NewEmail(o, nil)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("NewEmail: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("NewEmail error %v, want one containing %q", err, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), `email channel "mail"`):
				t.Errorf("error %v does not name the channel", err)
			}
		})
	}
	e, err := NewEmail(EmailOptions{Host: "h", From: "a@b.c", TLS: TLSImplicit}, nil)
	if err != nil || e.opts.Port != 465 {
		t.Errorf("implicit TLS default port %v, %v; want 465", e.opts.Port, err)
	}
}

// parsedMail is a received message taken apart.
type parsedMail struct {
	Header mail.Header
	Text   string
	HTML   string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	p := parsedMail{Header: m.Header}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		ct, ctParams, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if ctParams["charset"] != "UTF-8" && ctParams["charset"] != "utf-8" {
			t.Errorf("part %s has charset %q, want UTF-8", ct, ctParams["charset"])
		}
		switch ct {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		default:
			t.Errorf("unexpected part %s", ct)
		}
	}
	if p.Text == "" || p.HTML == "" {
		t.Fatalf("message lacks a text/plain or text/html part:\n%s", data)
	}
	return p
}

func TestEmailDelivery(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		user     string
		password string
	}{
		{name: "plain", mode: TLSNone},
		{name: "starttls", mode: TLSStartTLS},
		{name: "implicit tls", mode: TLSImplicit},
		{name: "starttls with auth", mode: TLSStartTLS, user: "alerts", password: "s3cret"},
		{name: "implicit tls with auth", mode: TLSImplicit, user: "alerts", password: "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &smtpBackend{Username: tt.user, Password: tt.password}
			srv := startSMTP(t, tt.mode, be)
			e, err := NewEmail(EmailOptions{
				Name: "mail", Host: srv.Host, Port: srv.Port, TLS: tt.mode,
				Username: tt.user, Password: tt.password,
				From: "Flowwatch <flowwatch@example.com>", To: []string{"unused@example.com"},
				Timeout: 10 * time.Second, PublicURL: testPublicURL,
				TLSConfig: &tls.Config{RootCAs: srv.RootCAs},
				Now:       func() time.Time { return testNow },
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := fixture(model.EventFiring, model.EmailsChannel)
			n.Recipients = []string{"oncall@example.com", "Lead <lead@example.com>"}
			if err := e.Send(t.Context(), n); err != nil {
				t.Fatalf("Send: %v", err)
			}

			msgs := be.messages()
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			got := msgs[0]
			if got.From != "flowwatch@example.com" {
				t.Errorf("MAIL FROM %q", got.From)
			}
			if diff := cmpStrings(got.To, []string{"oncall@example.com", "lead@example.com"}); diff != "" {
				t.Errorf("RCPT TO: %s", diff)
			}
			if wantTLS := tt.mode != TLSNone; got.TLS != wantTLS {
				t.Errorf("message came over TLS %v, want %v", got.TLS, wantTLS)
			}
			if got.User != tt.user {
				t.Errorf("authenticated as %q, want %q", got.User, tt.user)
			}

			m := parseMail(t, got.Data)
			checkHeaders(t, m.Header, map[string]string{
				"From":           `"Flowwatch" <flowwatch@example.com>`,
				"Subject":        "[FIRING:2] rag_quality (1 resolved)",
				"Message-Id":     "<group.5d41402abc4b2a76b9719d911017c592.emails@example.com>",
				"User-Agent":     "flowwatch",
				"Auto-Submitted": "auto-generated",
				"Date":           "Sun, 01 Jun 2025 12:00:30 +0000",
			})
			to, err := m.Header.AddressList("To")
			if err != nil || len(to) != 2 || to[0].Address != "oncall@example.com" || to[1].Address != "lead@example.com" {
				t.Errorf("To %v (%v)", to, err)
			}
			for _, want := range []string{
				"4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331b7ad6b7169203331",
				"https://flowwatch.example.com/runs/run-42", "pass rate ≥ 70%", "rag-1234-deployment",
				"<script>alert('x')</script>",
			} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, m.Text)
				}
			}
			for _, want := range []string{
				"4bf92f3577b34da6a3ce929d0e0e4736", `href="https://flowwatch.example.com/runs/run-42"`,
				"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", "the price &amp; the date",
			} {
				if !strings.Contains(m.HTML, want) {
					t.Errorf("HTML part lacks %q:\n%s", want, m.HTML)
				}
			}
			if strings.Contains(m.HTML, "<script>") {
				t.Errorf("HTML part carries a raw <script>:\n%s", m.HTML)
			}
		})
	}
}

func cmpStrings(got, want []string) string {
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Sprintf("got %q, want %q", got, want)
	}
	return ""
}

func checkHeaders(t *testing.T, h mail.Header, want map[string]string) {
	t.Helper()
	dec := new(mime.WordDecoder)
	for k, v := range want {
		got, err := dec.DecodeHeader(h.Get(k))
		if err != nil {
			t.Errorf("header %s: %v", k, err)
		}
		if got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestEmailThreadHeaders(t *testing.T) {
	be := &smtpBackend{}
	srv := startSMTP(t, TLSNone, be)
	e, err := NewEmail(EmailOptions{Name: "ops", Host: srv.Host, Port: srv.Port, TLS: TLSNone,
		From: "flowwatch@alerts.example.com", To: []string{"ops@example.com"}, Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{model.EventFiring, model.EventReminder, model.EventResolved, model.EventReminder} {
		if err := e.Send(t.Context(), fixture(ev, "ops")); err != nil {
			t.Fatalf("Send %s: %v", ev, err)
		}
	}
	msgs := be.messages()
	if len(msgs) != 4 {
		t.Fatalf("received %d messages, want 4", len(msgs))
	}
	var hs []mail.Header
	for _, m := range msgs {
		if cmpStrings(m.To, []string{"ops@example.com"}) != "" {
			t.Errorf("sent to %v, want the channel's recipients", m.To)
		}
		hs = append(hs, parseMail(t, m.Data).Header)
	}
	root := hs[0].Get("Message-Id")
	if root != "<group.5d41402abc4b2a76b9719d911017c592.ops@alerts.example.com>" {
		t.Errorf("firing Message-ID %q", root)
	}
	if hs[0].Get("In-Reply-To") != "" || hs[0].Get("References") != "" {
		t.Errorf("firing refers to another message: %q %q", hs[0].Get("In-Reply-To"), hs[0].Get("References"))
	}
	for i, h := range hs[1:] {
		if h.Get("In-Reply-To") != root || h.Get("References") != root {
			t.Errorf("message %d: In-Reply-To %q, References %q, want %q", i+1, h.Get("In-Reply-To"), h.Get("References"), root)
		}
		if h.Get("Message-Id") == root {
			t.Errorf("message %d reuses the firing's Message-ID", i+1)
		}
	}
	if hs[1].Get("Message-Id") != hs[3].Get("Message-Id") {
		t.Errorf("a repeated notification got a new Message-ID: %q, %q", hs[1].Get("Message-Id"), hs[3].Get("Message-Id"))
	}
	dec := new(mime.WordDecoder)
	if s, _ := dec.DecodeHeader(hs[2].Get("Subject")); s != "[RESOLVED:2] rag_quality" {
		t.Errorf("resolution subject %q", s)
	}
	if s, _ := dec.DecodeHeader(hs[1].Get("Subject")); s != "[FIRING:2] rag_quality (still firing)" {
		t.Errorf("reminder subject %q", s)
	}
}

func TestEmailFailures(t *testing.T) {
	const shortTimeout = 200 * time.Millisecond
	tests := []struct {
		name      string
		backend   *smtpBackend
		mode      string
		user      string
		password  string
		notif     func(model.Notification) model.Notification
		addr      func(t *testing.T) (string, int) // instead of a server
		permanent bool
		untrusted bool   // the client does not trust the server's certificate
		want      string // in the error
	}{
		{name: "rcpt 4xx", backend: &smtpBackend{RcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}},
			want: "temporarily refused with 451"},
		{name: "rcpt 5xx", backend: &smtpBackend{RcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}},
			permanent: true, want: "rejected with 550"},
		{name: "data 4xx", backend: &smtpBackend{DataErr: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "mailbox full"}},
			want: "temporarily refused with 452"},
		{name: "data 5xx", backend: &smtpBackend{DataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}},
			permanent: true, want: "rejected with 554"},
		{name: "mail from 5xx", backend: &smtpBackend{MailErr: &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender not allowed"}},
			permanent: true, want: "rejected with 553"},
		{name: "wrong password", backend: &smtpBackend{Username: "alerts", Password: "right"}, mode: TLSStartTLS,
			user: "alerts", password: "wrong", permanent: true, want: "rejected with 535"},
		{name: "starttls not offered", backend: &smtpBackend{}, permanent: true,
			want: "the server does not offer STARTTLS, which tls: starttls requires (set smtp.tls to none, or to tls"},
		{name: "certificate not trusted", backend: &smtpBackend{}, mode: TLSStartTLS, untrusted: true, permanent: true,
			want: "the server's TLS certificate is not trusted"},
		{name: "bad recipient", backend: &smtpBackend{},
			notif:     func(n model.Notification) model.Notification { n.Recipients = []string{"not an address"}; return n },
			permanent: true, want: `"not an address" is not an e-mail address`},
		{name: "connection refused", addr: func(t *testing.T) (string, int) { return "127.0.0.1", closedPort(t) }, want: "refused"},
		{name: "server never answers", addr: silentServer, want: "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var host string
			var port int
			var roots *x509.CertPool
			if tt.addr != nil {
				host, port = tt.addr(t)
			} else {
				srv := startSMTP(t, firstNonEmpty(tt.mode, TLSNone), tt.backend)
				host, port, roots = srv.Host, srv.Port, srv.RootCAs
			}
			clientTLS := TLSNone
			if tt.mode == TLSStartTLS || tt.name == "starttls not offered" {
				clientTLS = TLSStartTLS
			}
			opts := EmailOptions{Name: "mail", Host: host, Port: port, TLS: clientTLS, Username: tt.user, Password: tt.password,
				From: "flowwatch@example.com", To: []string{"ops@example.com"}, Timeout: shortTimeout}
			if roots != nil && !tt.untrusted {
				opts.TLSConfig = &tls.Config{RootCAs: roots}
			}
			e, err := NewEmail(opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := fixture(model.EventFiring, "mail")
			if tt.notif != nil {
				n = tt.notif(n)
			}
			err = e.Send(t.Context(), n)
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tt.permanent)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `email channel "mail"`) {
				t.Errorf("error %q does not name the channel or contain %q", err, tt.want)
			}
			if tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Errorf("error %q shows the password", err)
			}
			if tt.backend != nil && len(tt.backend.messages()) != 0 {
				t.Errorf("server stored a message despite the failure")
			}
		})
	}
}

func TestEmailContextCanceled(t *testing.T) {
	host, port := silentServer(t)
	e, err := NewEmail(EmailOptions{Name: "mail", Host: host, Port: port, TLS: TLSNone,
		From: "flowwatch@example.com", To: []string{"ops@example.com"}, Timeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = e.Send(ctx, fixture(model.EventFiring, "mail"))
	if err == nil || IsPermanent(err) {
		t.Fatalf("Send with a canceled context: %v, want a transient error", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

// TestRenderSingleAlert: a message about one alert, queued before
// messages were grouped, renders as a group of that alert alone and keeps
// its alert's thread.
func TestRenderSingleAlert(t *testing.T) {
	c, err := RenderEmail(singleFixture("emails"), testPublicURL, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "[FIRING:1] rag_quality" || c.MessageID != "alert."+testAlertID+".emails@example.com" {
		t.Errorf("subject %q, Message-ID %q", c.Subject, c.MessageID)
	}
	for _, want := range []string{"NEW  quality · groundedness: groundedness pass rate 62.5% is below 70%", "Threshold:   pass rate ≥ 70%",
		"Run:         https://flowwatch.example.com/runs/run-42", "trace 4bf92f3577b34da6a3ce929d0e0e4736"} {
		if !strings.Contains(c.Text, want) {
			t.Errorf("text does not say %q:\n%s", want, c.Text)
		}
	}
	body, err := RenderPayload(TypeWebhook, singleFixture("hook"), PayloadOptions{SentAt: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"alerts":[{"id":"`+testAlertID+`","change":"new"`) {
		t.Errorf("payload of a single alert: %s", body)
	}
}
