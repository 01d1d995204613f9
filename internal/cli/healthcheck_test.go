package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestHealthcheckAnswers(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in stderr
	}{
		{
			name: "ready",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Write([]byte(`{"status":"ready"}`))
			},
			wantCode: ExitOK,
			wantOut:  "/readyz: ready",
		},
		{
			name: "not ready says why",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"status":"not ready","error":"store: database is locked"}`))
			},
			wantCode: ExitError,
			wantErr:  "answered 503 Service Unavailable: store: database is locked",
		},
		{
			name: "not a flowwatch answer",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "<html>gateway says no</html>", http.StatusBadGateway)
			},
			wantCode: ExitError,
			wantErr:  "answered 502 Bad Gateway\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				gotPath string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				gotPath = r.URL.Path
				mu.Unlock()
				tt.handler(w, r)
			}))
			defer srv.Close()
			var stdout, stderr bytes.Buffer
			code := Execute(context.Background(), []string{"healthcheck", "--url", srv.URL + "/readyz"}, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			mu.Lock()
			if gotPath != "/readyz" {
				t.Errorf("asked %q, want /readyz", gotPath)
			}
			mu.Unlock()
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout %q, want it to contain %q", stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestHealthcheckNoServer(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), []string{"healthcheck", "--url", "http://" + addr + "/readyz"}, &stdout, &stderr)
	if code != ExitError {
		t.Errorf("exit code %d, want %d", code, ExitError)
	}
	if want := "not reachable"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want it to contain %q", stderr.String(), want)
	}
}

func TestHealthcheckUsage(t *testing.T) {
	for _, args := range [][]string{
		{"healthcheck", "--url", "127.0.0.1:4318/readyz"},
		{"healthcheck", "--url", "ftp://127.0.0.1/readyz"},
		{"healthcheck", "--timeout", "0s"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Execute(context.Background(), args, &stdout, &stderr); code != ExitUsage {
			t.Errorf("%q: exit code %d, want %d (stderr %q)", args, code, ExitUsage, stderr.String())
		}
	}
}

// The URL asked without --url follows the server's own address: the config
// file, then FLOWWATCH_HTTP_ADDRESS, every interface asked on loopback.
func TestHealthcheckFindsServeAddress(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "flowwatch.yaml")
	if err := os.WriteFile(file, []byte("http:\n  address: 0.0.0.0:9418\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		config string
		env    map[string]string
		want   string
	}{
		{name: "defaults", want: "http://127.0.0.1:4318/readyz"},
		{name: "config file", config: file, want: "http://127.0.0.1:9418/readyz"},
		{name: "environment over file", config: file, env: map[string]string{"FLOWWATCH_HTTP_ADDRESS": "0.0.0.0:4318"}, want: "http://127.0.0.1:4318/readyz"},
		{name: "IPv6 any", env: map[string]string{"FLOWWATCH_HTTP_ADDRESS": "[::]:4318"}, want: "http://[::1]:4318/readyz"},
		{name: "empty host", env: map[string]string{"FLOWWATCH_HTTP_ADDRESS": ":5000"}, want: "http://127.0.0.1:5000/readyz"},
		{name: "a given interface", env: map[string]string{"FLOWWATCH_HTTP_ADDRESS": "10.1.2.3:4318"}, want: "http://10.1.2.3:4318/readyz"},
		{name: "http.tls", env: map[string]string{"FLOWWATCH_HTTP_TLS_CERT_FILE": "c.pem", "FLOWWATCH_HTTP_TLS_KEY_FILE": "k.pem"}, want: "https://127.0.0.1:4318/readyz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			cfg, err := serveConfig(tt.config, lookup)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readyURL(cfg.HTTP.Address, cfg.HTTP.TLS.Enabled())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := readyURL("127.0.0.1:0", false); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Errorf("port 0: got %v, want an error pointing to --url", err)
	}
}

// Without --url, the command finds a server started on the address that
// FLOWWATCH_HTTP_ADDRESS gives.
func TestHealthcheckDefaultTarget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"status":"ready"}`))
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLOWWATCH_CONFIG", "")
	t.Setenv("FLOWWATCH_HTTP_ADDRESS", "0.0.0.0:"+port)
	var stdout, stderr bytes.Buffer
	if code := Execute(context.Background(), []string{"healthcheck"}, &stdout, &stderr); code != ExitOK {
		t.Fatalf("exit code %d, want 0 (stderr %q)", code, stderr.String())
	}
	if want := "http://127.0.0.1:" + port + "/readyz: ready\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
}
