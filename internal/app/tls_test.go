package app_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/credentials"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/otlptest"
	"github.com/flowwatch/flowwatch/internal/tlscert/tlscerttest"
)

// exportHTTPS sends spans with the SDK's OTLP/HTTP exporter over TLS
// (tc nil: plain HTTP).
func exportHTTPS(ctx context.Context, endpoint string, tc *tls.Config, spans tracetest.SpanStubs, headers map[string]string) error {
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithHeaders(headers),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}
	if tc == nil {
		opts = append(opts, otlptracehttp.WithInsecure())
	} else {
		opts = append(opts, otlptracehttp.WithTLSClientConfig(tc))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	return exp.ExportSpans(ctx, spans.Snapshots())
}

// exportGRPCTLS sends spans with the SDK's OTLP/gRPC exporter over TLS
// (tc nil: plaintext).
func exportGRPCTLS(ctx context.Context, endpoint string, tc *tls.Config, spans tracetest.SpanStubs, headers map[string]string) error {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithHeaders(headers),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false})}
	if tc == nil {
		opts = append(opts, otlptracegrpc.WithInsecure())
	} else {
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tc)))
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	return exp.ExportSpans(ctx, spans.Snapshots())
}

// tlsFiles makes a CA and a server certificate for loopback in dir.
func tlsFiles(t *testing.T, dir string) (*tlscerttest.CA, config.TLS) {
	t.Helper()
	ca := tlscerttest.NewCA(t)
	certFile, keyFile := ca.WritePair(t, dir, "server", "127.0.0.1", "localhost")
	return ca, config.TLS{CertFile: certFile, KeyFile: keyFile}
}

// With http.tls and grpc.tls, the OpenTelemetry SDK's exporters send over
// HTTPS and gRPC with TLS; plaintext and untrusted clients are refused;
// the API answers over HTTPS and the dashboard's cookie is Secure (the
// default public_url became https).
func TestTLSListeners(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, files := tlsFiles(t, t.TempDir())
	cfg := config.Default()
	cfg.DataDir = dir
	ks, err := app.OpenKeyStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ingest := mustCreate(t, ks, "app", "ingest")
	read := mustCreate(t, ks, "reader", "read")
	ks.Close()
	a, logs := startLogged(t, func(c *config.Config) {
		c.DataDir = dir
		c.Auth = "keys"
		c.HTTP.TLS = files
		c.GRPC.TLS = files
		c.GRPC.TLS.MinVersion = "1.3"
	})
	trusted := &tls.Config{RootCAs: ca.Pool()}
	untrusted := &tls.Config{RootCAs: tlscerttest.NewCA(t).Pool()}
	tls12 := &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12}
	key := map[string]string{"Authorization": "Bearer " + ingest}
	var stored []string
	for _, tc := range []struct {
		name   string
		grpc   bool
		client *tls.Config
		ok     bool
	}{
		{"HTTPS", false, trusted, true},
		{"HTTPS with TLS 1.2", false, tls12, true},
		{"plain HTTP", false, nil, false},
		{"HTTPS without trusting the CA", false, untrusted, false},
		{"gRPC with TLS", true, trusted, true},
		{"gRPC plaintext", true, nil, false},
		{"gRPC without trusting the CA", true, untrusted, false},
		{"gRPC below grpc.tls.min_version", true, tls12, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := otlptest.RAG{Service: "shop", Question: "q", Answer: "a", Model: "gpt-4o"}.Spans()
			var err error
			if tc.grpc {
				err = exportGRPCTLS(ctx, a.GRPCAddr(), tc.client, spans, key)
			} else {
				err = exportHTTPS(ctx, a.HTTPAddr(), tc.client, spans, key)
			}
			if (err == nil) != tc.ok {
				t.Fatalf("export: %v, want success %v", err, tc.ok)
			}
			if tc.ok {
				stored = append(stored, spans[0].SpanContext.TraceID().String())
			}
		})
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: trusted}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, body string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+a.HTTPAddr()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	if len(stored) != 3 {
		t.Fatalf("%d exports stored, want 3", len(stored))
	}
	for _, id := range stored {
		if res, body := do("GET", "/api/v1/traces/"+id, "", bearer(read)); res.StatusCode != 200 {
			t.Errorf("GET trace %s over HTTPS: %d %s", id, res.StatusCode, body)
		}
	}
	if res, body := do("GET", "/readyz", "", nil); res.StatusCode != 200 {
		t.Errorf("/readyz over HTTPS: %d %s", res.StatusCode, body)
	}
	res, _ := do("POST", "/signin", "key="+read, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if c := res.Cookies(); res.StatusCode != http.StatusSeeOther || len(c) != 1 || !c[0].Secure || c[0].Name != "__Host-flowwatch_session" {
		t.Errorf("sign-in over HTTPS: %d, cookies %v; want a Secure __Host- session cookie", res.StatusCode, c)
	}

	keyPEM, err := os.ReadFile(files.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), string(keyPEM[40:80])) {
		t.Error("the logs quote the TLS key")
	}
	if !strings.Contains(logs.String(), "http_tls=true") {
		t.Errorf("the listening log does not say the HTTP listener serves TLS:\n%s", logs)
	}
}

// grpc.tls.client_ca_file requires a client certificate signed by that CA.
func TestTLSMutualGRPC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, files := tlsFiles(t, dir)
	files.ClientCAFile = ca.WriteCA(t, dir)
	a, _ := startLogged(t, func(c *config.Config) { c.GRPC.TLS = files })

	clientCert := func(ca *tlscerttest.CA) []tls.Certificate {
		c, k := ca.Issue(t, "app")
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{pair}
	}
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"a certificate of the client CA", clientCert(ca), true},
		{"no client certificate", nil, false},
		{"a certificate of another CA", clientCert(tlscerttest.NewCA(t)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := otlptest.RAG{Service: "shop", Question: "q", Answer: "a", Model: "gpt-4o"}.Spans()
			err := exportGRPCTLS(ctx, a.GRPCAddr(), &tls.Config{RootCAs: ca.Pool(), Certificates: tc.certs}, spans, nil)
			if (err == nil) != tc.ok {
				t.Errorf("export: %v, want success %v", err, tc.ok)
			}
		})
	}
	// The HTTP listener, without http.tls, stays plain HTTP.
	if code, _, body := call(t, a, "GET", "/readyz", nil, ""); code != 200 {
		t.Errorf("/readyz over plain HTTP: %d %s", code, body)
	}
}

// A certificate that does not load stops the start, naming the key.
func TestTLSRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	_, files := tlsFiles(t, dir)
	files.KeyFile = filepath.Join(dir, "missing.key")
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Address, cfg.GRPC.Address = "127.0.0.1:0", "127.0.0.1:0"
	cfg.HTTP.TLS = files
	_, err := app.New(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "http.tls.key_file: cannot load: key file "+files.KeyFile) {
		t.Errorf("New with a missing key file: %v", err)
	}
}

// http.tls does not turn on grpc.tls; a plaintext gRPC listener beyond
// loopback next to an HTTPS one is warned about (not on loopback). The
// dashboard's first page tells exporters to use https.
func TestTLSWarnsPlaintextGRPC(t *testing.T) {
	ca, files := tlsFiles(t, t.TempDir())
	for _, tc := range []struct {
		name, grpcAddr string
		warn           bool
	}{
		{"beyond loopback", "0.0.0.0:0", true},
		{"on loopback", "127.0.0.1:0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, logs := startLogged(t, func(c *config.Config) {
				c.HTTP.TLS = files
				c.GRPC.Address = tc.grpcAddr
				c.Auth = "none"
			})
			if got := strings.Contains(logs.String(), "grpc_listener_without_tls"); got != tc.warn {
				t.Errorf("warned %v, want %v:\n%s", got, tc.warn, logs)
			}
			_, port, err := net.SplitHostPort(a.GRPCAddr())
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
			res, err := client.Get("https://" + a.HTTPAddr() + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if want := "OTEL_EXPORTER_OTLP_ENDPOINT=https://" + a.HTTPAddr(); !strings.Contains(string(body), want) {
				t.Errorf("the first page (%d) does not say %q", res.StatusCode, want)
			}
			spans := otlptest.RAG{Service: "shop", Question: "q", Answer: "a", Model: "gpt-4o"}.Spans()
			if err := exportGRPCTLS(context.Background(), "127.0.0.1:"+port, nil, spans, nil); err != nil {
				t.Errorf("plaintext gRPC export: %v", err)
			}
		})
	}
}
