package cli

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// TestClientTransportErrors: the CLI pointed at something that is not
// flowwatch's HTTP port says what it met, in words, instead of the Go
// transport's internals.
func TestClientTransportErrors(t *testing.T) {
	grpcAddr := serveGRPC(t)
	garbage := serveBytes(t, "SSH-2.0-OpenSSH_9.6\r\n")
	closed := closedPort(t)
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	// A server with a certificate of its own CA, as flowwatch with
	// http.tls.
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	tests := []struct {
		name   string
		server string
		want   string
	}{
		{
			name:   "gRPC port",
			server: "http://" + grpcAddr,
			want:   "http://" + grpcAddr + " did not answer as HTTP/1.1: is this flowwatch's gRPC port? The CLI talks to the HTTP port (default 127.0.0.1:4318)",
		},
		{
			name:   "something else that is not HTTP",
			server: "http://" + garbage,
			want:   "http://" + garbage + " did not answer as HTTP/1.1",
		},
		{
			name:   "nothing listening",
			server: "http://" + closed,
			want:   "connection refused",
		},
		{
			name:   "https to a plain HTTP server",
			server: strings.Replace(plain.URL, "http://", "https://", 1),
			want:   "answered in plain HTTP, not HTTPS: use http://",
		},
		{
			name:   "http to an HTTPS server",
			server: strings.Replace(tlsSrv.URL, "https://", "http://", 1),
			want:   "serves HTTPS (http.tls is set): use https:// in --server or FLOWWATCH_SERVER",
		},
		{
			name:   "https with a certificate of a CA not trusted",
			server: tlsSrv.URL,
			want:   "for a private or self-signed CA give SSL_CERT_FILE=ca.pem",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newAPIClient(tt.server, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.get(context.Background(), "traces", nil)
			if err == nil {
				t.Fatal("get succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "readLoopPeekFailLocked") || strings.Contains(err.Error(), "%!") {
				t.Errorf("error shows the transport's internals: %q", err)
			}
		})
	}
}

// serveGRPC starts a real gRPC server (no services) on loopback.
func serveGRPC(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

// serveBytes answers every connection with b and hangs up.
func serveBytes(t *testing.T, b string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte(b))
			conn.Close()
		}
	}()
	return l.Addr().String()
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
