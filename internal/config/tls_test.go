package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/tlscert/tlscerttest"
)

func TestValidateTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlscerttest.NewCA(t)
	certFile, keyFile := ca.WritePair(t, dir, "server", "localhost")
	_, otherKey := ca.WritePair(t, dir, "other", "localhost")
	caFile := ca.WriteCA(t, dir)
	garbage := filepath.Join(dir, "garbage.pem")
	tlscerttest.Write(t, garbage, []byte("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"))
	missing := filepath.Join(dir, "missing.pem")
	unreadable := filepath.Join(dir, "unreadable.key")
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tlscerttest.Write(t, unreadable, key)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		http TLS
		grpc TLS
		want []string // each in the error; none: valid
	}{
		{name: "not set"},
		{name: "both listeners", http: TLS{CertFile: certFile, KeyFile: keyFile}, grpc: TLS{CertFile: certFile, KeyFile: keyFile, MinVersion: "1.3"}},
		{name: "mutual TLS on gRPC", grpc: TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}},
		{name: "missing key_file", http: TLS{CertFile: certFile}, want: []string{"http.tls.key_file: required with http.tls.cert_file"}},
		{name: "missing cert_file", grpc: TLS{KeyFile: keyFile}, want: []string{"grpc.tls.cert_file: required with grpc.tls.key_file"}},
		{name: "certificate file does not exist", http: TLS{CertFile: missing, KeyFile: keyFile},
			want: []string{"http.tls.cert_file: cannot load: certificate file " + missing + ": no such file or directory"}},
		{name: "unreadable key file", grpc: TLS{CertFile: certFile, KeyFile: unreadable},
			want: []string{"grpc.tls.key_file: cannot load: key file " + unreadable + ": permission denied"}},
		{name: "garbage PEM", http: TLS{CertFile: garbage, KeyFile: keyFile}, want: []string{"http.tls.cert_file: cannot load: certificate file " + garbage}},
		{name: "key of another certificate", http: TLS{CertFile: certFile, KeyFile: otherKey},
			want: []string{"http.tls.key_file: cannot load: key file " + otherKey + ": not the private key of " + certFile}},
		{name: "a directory", http: TLS{CertFile: dir, KeyFile: keyFile}, want: []string{"http.tls.cert_file: cannot load: certificate file " + dir + ": not a regular file"}},
		{name: "min_version", http: TLS{CertFile: certFile, KeyFile: keyFile, MinVersion: "1.1"}, want: []string{`http.tls.min_version: must be "1.2" or "1.3", got "1.1"`}},
		{name: "min_version alone (the documented defaults)", http: TLS{MinVersion: "1.2"}, grpc: TLS{MinVersion: "1.2"}},
		{name: "client CA on HTTP", http: TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, want: []string{"http.tls.client_ca_file: mutual TLS is available on grpc.tls only"}},
		{name: "client CA without a certificate", grpc: TLS{ClientCAFile: caFile}, want: []string{"grpc.tls.client_ca_file: needs grpc.tls.cert_file and grpc.tls.key_file"}},
		{name: "client CA garbage", grpc: TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: garbage},
			want: []string{"grpc.tls.client_ca_file: CA file " + garbage}},
		{name: "every problem at once", http: TLS{CertFile: missing, KeyFile: keyFile}, grpc: TLS{CertFile: certFile},
			want: []string{"http.tls.cert_file:", "grpc.tls.key_file:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unreadable key file" && os.Geteuid() == 0 {
				t.Skip("running as root, which reads a file of mode 0000")
			}
			c := Default()
			c.HTTP.TLS, c.GRPC.TLS = tc.http, tc.grpc
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), string(key[40:80])) {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
}

// Relative certificate paths written in a config file are relative to
// its directory (as monitors_dir); a problem names the file and line.
func TestLoadTLS(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o750); err != nil {
		t.Fatal(err)
	}
	ca := tlscerttest.NewCA(t)
	certFile, keyFile := ca.WritePair(t, filepath.Join(dir, "certs"), "server", "localhost")
	p := filepath.Join(dir, "flowwatch.yaml")
	tlscerttest.Write(t, p, []byte("http:\n  tls: {cert_file: certs/server.crt, key_file: certs/server.key}\n"+
		"grpc:\n  tls:\n    cert_file: "+certFile+"\n    key_file: certs/nope.key\n"))
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err = c.Validate(); err == nil {
		t.Fatal("Validate() = nil, want the missing gRPC key")
	}
	want := p + ":6:5: grpc.tls.key_file: cannot load: key file " + filepath.Join(dir, "certs", "nope.key") + ": no such file"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Validate() error:\n%v\nwant it to contain\n%s", err, want)
	}

	tlscerttest.Write(t, p, []byte("http:\n  tls: {cert_file: certs/server.crt, key_file: certs/server.key}\n"))
	c, err = Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.TLS.CertFile != certFile || c.HTTP.TLS.KeyFile != keyFile {
		t.Errorf("paths = %q, %q; want %q, %q", c.HTTP.TLS.CertFile, c.HTTP.TLS.KeyFile, certFile, keyFile)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	if got := c.PublicURL(); got != "https://localhost:4318" {
		t.Errorf("PublicURL() = %q with http.tls and the default public_url, want https://localhost:4318", got)
	}
}

func TestPublicURL(t *testing.T) {
	on := TLS{CertFile: "c", KeyFile: "k"}
	for _, tc := range []struct {
		name string
		url  string
		tls  TLS
		want string
	}{
		{"default without TLS", DefaultPublicURL, TLS{}, "http://localhost:4318"},
		{"default with TLS", DefaultPublicURL, on, "https://localhost:4318"},
		{"set with TLS", "https://flowwatch.example.com", on, "https://flowwatch.example.com"},
		{"set without TLS", "https://flowwatch.example.com", TLS{}, "https://flowwatch.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.HTTP.PublicURL, c.HTTP.TLS = tc.url, tc.tls
			if got := c.PublicURL(); got != tc.want {
				t.Errorf("PublicURL() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestApplyEnvTLS(t *testing.T) {
	env := map[string]string{
		"FLOWWATCH_HTTP_TLS_CERT_FILE":      "/etc/fw/http.crt",
		"FLOWWATCH_HTTP_TLS_KEY_FILE":       "/etc/fw/http.key",
		"FLOWWATCH_GRPC_TLS_CERT_FILE":      "/etc/fw/grpc.crt",
		"FLOWWATCH_GRPC_TLS_KEY_FILE":       "/etc/fw/grpc.key",
		"FLOWWATCH_GRPC_TLS_CLIENT_CA_FILE": "/etc/fw/ca.crt",
	}
	c := Default()
	if err := ApplyEnv(&c, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	want := [2]TLS{{CertFile: "/etc/fw/http.crt", KeyFile: "/etc/fw/http.key"}, {CertFile: "/etc/fw/grpc.crt", KeyFile: "/etc/fw/grpc.key", ClientCAFile: "/etc/fw/ca.crt"}}
	if got := [2]TLS{c.HTTP.TLS, c.GRPC.TLS}; got != want {
		t.Errorf("TLS from the environment = %+v, want %+v", got, want)
	}
}
