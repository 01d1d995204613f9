package tlscert_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/tlscert"
	"github.com/flowwatch/flowwatch/internal/tlscert/tlscerttest"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	ca := tlscerttest.NewCA(t)
	certFile, keyFile := ca.WritePair(t, dir, "server", "localhost")
	_, otherKey := ca.WritePair(t, dir, "other", "localhost")
	garbage := filepath.Join(dir, "garbage.pem")
	tlscerttest.Write(t, garbage, []byte("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"))
	notPEM := filepath.Join(dir, "notpem.txt")
	tlscerttest.Write(t, notPEM, []byte("hello"))
	large := filepath.Join(dir, "large.pem")
	tlscerttest.Write(t, large, bytes.Repeat([]byte("A"), 2<<20))
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cert, key  string
		wantIs     error  // nil: loads
		wantInText string // in the message
	}{
		{name: "good pair", cert: certFile, key: keyFile},
		{name: "missing certificate", cert: filepath.Join(dir, "nope.crt"), key: keyFile, wantIs: tlscert.ErrCertificate, wantInText: "nope.crt: no such file"},
		{name: "missing key", cert: certFile, key: filepath.Join(dir, "nope.key"), wantIs: tlscert.ErrKey, wantInText: "nope.key: no such file"},
		{name: "garbage certificate", cert: garbage, key: keyFile, wantIs: tlscert.ErrCertificate, wantInText: "garbage.pem"},
		{name: "certificate not PEM", cert: notPEM, key: keyFile, wantIs: tlscert.ErrCertificate, wantInText: "no PEM CERTIFICATE block"},
		{name: "key not PEM", cert: certFile, key: notPEM, wantIs: tlscert.ErrKey, wantInText: "notpem.txt: not the private key of"},
		{name: "key of another certificate", cert: certFile, key: otherKey, wantIs: tlscert.ErrKey, wantInText: "does not match"},
		{name: "a directory", cert: dir, key: keyFile, wantIs: tlscert.ErrCertificate, wantInText: "not a regular file"},
		{name: "too large", cert: certFile, key: large, wantIs: tlscert.ErrKey, wantInText: "larger than"},
		{name: "key given as certificate", cert: keyFile, key: keyFile, wantIs: tlscert.ErrCertificate, wantInText: "no PEM CERTIFICATE block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := tlscert.Load(tc.cert, tc.key)
			if tc.wantIs == nil {
				if err != nil || cert == nil || cert.Leaf == nil {
					t.Fatalf("Load = %v, %v; want a certificate with its leaf", cert, err)
				}
				return
			}
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("Load error %v, want one wrapping %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantInText) {
				t.Errorf("error %q does not contain %q", err, tc.wantInText)
			}
			if strings.Contains(err.Error(), string(keyPEM[40:80])) {
				t.Errorf("error quotes the key: %q", err)
			}
		})
	}
}

func TestLoadPool(t *testing.T) {
	dir := t.TempDir()
	ca := tlscerttest.NewCA(t)
	if _, err := tlscert.LoadPool(ca.WriteCA(t, dir)); err != nil {
		t.Errorf("a CA file: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	tlscerttest.Write(t, bad, []byte("nothing"))
	if _, err := tlscert.LoadPool(bad); err == nil || !strings.Contains(err.Error(), "CA file "+bad) {
		t.Errorf("a file without certificates: %v, want an error naming it", err)
	}
}

// clock is a settable clock for the reloader.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects logs written from the handshake goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// replace puts data at file the way renewals do (certbot's symbolic
// links, cert-manager's volume): a new file renamed over the old one.
func replace(t *testing.T, file string, data []byte) {
	t.Helper()
	tmp := file + ".new"
	tlscerttest.Write(t, tmp, data)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// served dials a TLS listener and returns the serial number of the
// certificate it presents, verified against ca.
func served(t *testing.T, addr string, ca *tlscerttest.CA) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// listen serves TLS with the reloader's certificate, completing every
// handshake, until the test ends.
func listen(t *testing.T, r *tlscert.Reloader) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}(c)
		}
	}()
	return ln.Addr().String()
}

func serialOf(t *testing.T, certPEM []byte) string {
	t.Helper()
	certs, err := tlscert.ParseCertificates(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0].SerialNumber.String()
}

// A renewed pair is served from the first handshake after the interval;
// none before it, and the files are not looked at more often.
func TestReloaderServesRenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := tlscerttest.NewCA(t)
	certFile, keyFile := ca.WritePair(t, dir, "server", "localhost")
	first, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	logs := &syncBuffer{}
	r, err := tlscert.New(tlscert.Options{CertFile: certFile, KeyFile: keyFile, Interval: 5 * time.Second, Now: clk.Now},
		slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := listen(t, r)
	if got, want := served(t, addr, ca), serialOf(t, first); got != want {
		t.Fatalf("served serial %s, want the configured certificate's %s", got, want)
	}

	newCert, newKey := ca.Issue(t, "renewed", "localhost")
	replace(t, certFile, newCert)
	replace(t, keyFile, newKey)
	clk.Add(4 * time.Second)
	if got, want := served(t, addr, ca), serialOf(t, first); got != want {
		t.Errorf("within the interval: served %s, want still %s", got, want)
	}
	clk.Add(time.Second)
	if got, want := served(t, addr, ca), serialOf(t, newCert); got != want {
		t.Errorf("after the interval: served %s, want the renewed %s", got, want)
	}
	if n := strings.Count(logs.String(), "tls_certificate_reloaded"); n != 1 {
		t.Errorf("logged tls_certificate_reloaded %d times, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), `subject="CN=renewed"`) {
		t.Errorf("the reload log does not name the new certificate:\n%s", logs)
	}
	// Unchanged files are not loaded again.
	clk.Add(time.Minute)
	if reloaded, err := r.Check(); reloaded || err != nil {
		t.Errorf("Check of unchanged files = %v, %v; want false, nil", reloaded, err)
	}
}

// A broken new pair leaves the old certificate in service, logged once;
// a good pair after it is served.
func TestReloaderKeepsCertificateWhenNewPairFails(t *testing.T) {
	dir := t.TempDir()
	ca := tlscerttest.NewCA(t)
	certFile, keyFile := ca.WritePair(t, dir, "server", "localhost")
	first, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	r, err := tlscert.New(tlscert.Options{CertFile: certFile, KeyFile: keyFile, Now: (&clock{}).Now},
		slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := listen(t, r)

	newCert, newKey := ca.Issue(t, "renewed", "localhost")
	for _, step := range []struct {
		name     string
		write    func()
		reloaded bool
		wantErr  string
		serial   []byte // the certificate then served
	}{
		// certbot writes the certificate first: for a moment it does not
		// match the key.
		{"new certificate, old key", func() { replace(t, certFile, newCert) }, false, "does not match", first},
		{"nothing changed since", func() {}, false, "", first},
		{"garbage key", func() { replace(t, keyFile, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")) }, false, "not the private key", first},
		{"key removed", func() {
			if err := os.Remove(keyFile); err != nil {
				t.Fatal(err)
			}
		}, false, "no such file", first},
		{"the new key arrives", func() { replace(t, keyFile, newKey) }, true, "", newCert},
	} {
		step.write()
		reloaded, err := r.Check()
		if reloaded != step.reloaded || (err == nil) != (step.wantErr == "") || (err != nil && !strings.Contains(err.Error(), step.wantErr)) {
			t.Errorf("%s: Check = %v, %v; want %v, error containing %q", step.name, reloaded, err, step.reloaded, step.wantErr)
		}
		if got, want := served(t, addr, ca), serialOf(t, step.serial); got != want {
			t.Errorf("%s: served %s, want %s", step.name, got, want)
		}
	}
	if n := strings.Count(logs.String(), "tls_certificate_reload_failed"); n != 3 {
		t.Errorf("logged tls_certificate_reload_failed %d times, want once per broken state (3):\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "AAAA") || strings.Contains(logs.String(), string(newKey[30:70])) {
		t.Errorf("the logs quote key material:\n%s", logs)
	}
}

func TestNewNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	ca := tlscerttest.NewCA(t)
	certFile, _ := ca.WritePair(t, dir, "server", "localhost")
	_, err := tlscert.New(tlscert.Options{CertFile: certFile, KeyFile: filepath.Join(dir, "missing.key")}, nil)
	if !errors.Is(err, tlscert.ErrKey) || !strings.Contains(err.Error(), "missing.key") {
		t.Errorf("New with a missing key: %v, want an ErrKey naming the file", err)
	}
}
