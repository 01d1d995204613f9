package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/flowwatch/flowwatch/internal/tlscert"
)

// TLS makes a listener serve TLS with a certificate and key read from
// files, and read again when they change (renewals need no restart).
type TLS struct {
	// CertFile is a PEM certificate chain (the server's certificate
	// first); KeyFile its PEM private key. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile (grpc.tls only), when set, requires every client to
	// present a certificate signed by one of its CAs (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
	// MinVersion is the oldest TLS version accepted: "1.2" (default) or
	// "1.3".
	MinVersion string `yaml:"min_version"`
}

// Enabled reports whether the listener serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Version is the tls.VersionTLS1x of MinVersion.
func (t TLS) Version() uint16 {
	if t.MinVersion == "1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// validate checks the section at key (http.tls, grpc.tls): the files are
// read and parsed, as the server will at start. clientCA says whether
// client_ca_file is supported there.
func (t TLS) validate(key string, clientCA bool) []error {
	var errs []error
	add := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, k, fmt.Sprintf(format, args...)))
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		add("min_version", `must be "1.2" or "1.3", got %q`, t.MinVersion)
	}
	if t.ClientCAFile != "" {
		if !clientCA {
			add("client_ca_file", "mutual TLS is available on grpc.tls only (this port also serves health checks and the dashboard); "+
				"terminate mutual TLS in a reverse proxy instead (docs/security.md#tls)")
		} else if !t.Enabled() {
			add("client_ca_file", "needs %s.cert_file and %s.key_file (mutual TLS is TLS first)", key, key)
		} else if _, err := tlscert.LoadPool(t.ClientCAFile); err != nil {
			add("client_ca_file", "%v", err)
		}
	}
	switch {
	case !t.Enabled():
		return errs
	case t.CertFile == "":
		add("cert_file", "required with %s.key_file: the PEM certificate chain", key)
		return errs
	case t.KeyFile == "":
		add("key_file", "required with %s.cert_file: the PEM private key", key)
		return errs
	}
	if _, err := tlscert.Load(t.CertFile, t.KeyFile); err != nil {
		k := "cert_file"
		if errors.Is(err, tlscert.ErrKey) {
			k = "key_file"
		}
		add(k, "cannot load: %v", err)
	}
	return errs
}

// resolve makes the relative paths of the section relative to dir.
func (t *TLS) resolve(dir string) {
	for _, p := range []*string{&t.CertFile, &t.KeyFile, &t.ClientCAFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// DefaultPublicURL is http.public_url's default.
const DefaultPublicURL = "http://localhost:4318"

// PublicURL is how people reach the server: http.public_url, but https
// when the HTTP listener serves TLS and public_url was left at its
// (http) default.
func (c *Config) PublicURL() string {
	if c.HTTP.PublicURL == DefaultPublicURL && c.HTTP.TLS.Enabled() {
		return "https" + DefaultPublicURL[len("http"):]
	}
	return c.HTTP.PublicURL
}
