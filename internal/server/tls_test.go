package server

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/tlscert"
	"github.com/flowwatch/flowwatch/internal/tlscert/tlscerttest"
)

// The HTTP listener serves HTTPS (HTTP/2 and HTTP/1.1) with the
// reloader's certificate, a renewed certificate from the next handshake
// after a check, and refuses plain HTTP.
func TestServeHTTPS(t *testing.T) {
	dir := t.TempDir()
	ca := tlscerttest.NewCA(t)
	certFile, keyFile := ca.WritePair(t, dir, "server", "127.0.0.1", "localhost")
	r, err := tlscert.New(tlscert.Options{CertFile: certFile, KeyFile: keyFile, Now: func() time.Time { return time.Time{} }}, discard())
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{
		HTTPAddress: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			_, _ = io.WriteString(w, req.Proto)
		}),
		HTTPTLS: &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12},
	}, discard())
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })

	// get asks over a new connection and returns the protocol the server
	// saw and the common name of the certificate it presented.
	get := func(h2 bool) (proto, cn string) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: h2, DisableKeepAlives: true}
		if !h2 {
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		defer tr.CloseIdleConnections()
		res, err := (&http.Client{Transport: tr}).Get("https://" + s.HTTPAddr() + "/")
		if err != nil {
			t.Fatalf("GET over HTTPS: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), res.TLS.PeerCertificates[0].Subject.CommonName
	}
	for _, tc := range []struct {
		h2    bool
		proto string
	}{{true, "HTTP/2.0"}, {false, "HTTP/1.1"}} {
		if proto, cn := get(tc.h2); proto != tc.proto || cn != "server" {
			t.Errorf("GET: %s with certificate %q, want %s with %q", proto, cn, tc.proto, "server")
		}
	}

	res, err := http.Get("http://" + s.HTTPAddr() + "/")
	if err != nil {
		t.Fatalf("plain HTTP: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS port: %d, want 400", res.StatusCode)
	}

	// Renewal: new files, a check (here driven directly), and the next
	// handshake presents the new certificate.
	c, k := ca.Issue(t, "renewed", "127.0.0.1")
	for file, data := range map[string][]byte{certFile: c, keyFile: k} {
		tlscerttest.Write(t, file+".new", data)
		if err := os.Rename(file+".new", file); err != nil {
			t.Fatal(err)
		}
	}
	if reloaded, err := r.Check(); !reloaded || err != nil {
		t.Fatalf("Check after renewal = %v, %v", reloaded, err)
	}
	if _, cn := get(true); cn != "renewed" {
		t.Errorf("after renewal the server presents %q, want %q", cn, "renewed")
	}
}
