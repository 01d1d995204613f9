package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/tlscert/tlscerttest"
)

// With http.tls, the healthcheck asks the server's address over HTTPS and
// verifies its certificate for the host of http.public_url: a
// certificate that names only that host passes when its CA is trusted
// (--ca-file), and fails, saying how to fix it, when it is not.
func TestHealthcheckTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlscerttest.NewCA(t)
	certFile, keyFile := ca.WritePair(t, dir, "server", "flowwatch.test")
	caFile := ca.WriteCA(t, dir)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"status":"ready"}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLOWWATCH_CONFIG", "")
	t.Setenv("FLOWWATCH_HTTP_ADDRESS", "0.0.0.0:"+port)
	t.Setenv("FLOWWATCH_HTTP_TLS_CERT_FILE", certFile)
	t.Setenv("FLOWWATCH_HTTP_TLS_KEY_FILE", keyFile)
	for _, tc := range []struct {
		name      string
		publicURL string
		args      []string
		wantCode  int
		want      string // in stdout (success) or stderr
	}{
		{"trusted CA, public_url names the certificate", "https://flowwatch.test:" + port, []string{"--ca-file", caFile}, ExitOK,
			"https://127.0.0.1:" + port + "/readyz: ready"},
		{"CA not trusted", "https://flowwatch.test:" + port, nil, ExitError, "give --ca-file ca.pem"},
		{"public_url names another host", "https://elsewhere.test", []string{"--ca-file", caFile}, ExitError, "verified for elsewhere.test, the host of http.public_url"},
		{"default public_url (https://localhost)", "", []string{"--ca-file", caFile}, ExitError, "verified for localhost"},
		{"plain HTTP asked", "", []string{"--url", "http://127.0.0.1:" + port + "/readyz"}, ExitError, "the server serves HTTPS (http.tls is set); ask https://"},
		{"--ca-file not a CA", "", []string{"--ca-file", keyFile}, ExitUsage, "--ca-file: CA file " + keyFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("FLOWWATCH_HTTP_PUBLIC_URL", tc.publicURL)
			if tc.publicURL == "" {
				t.Setenv("FLOWWATCH_HTTP_PUBLIC_URL", "http://localhost:4318")
			}
			var stdout, stderr bytes.Buffer
			code := Execute(context.Background(), append([]string{"healthcheck"}, tc.args...), &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d (stdout %q, stderr %q)", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.want) {
				t.Errorf("output %q, want it to contain %q", out, tc.want)
			}
		})
	}
}
