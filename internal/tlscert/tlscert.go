// Package tlscert loads the certificate and key files flowwatch serves TLS
// with, and reloads them when they change on disk (a certbot or
// cert-manager renewal) without a restart: Reloader.GetCertificate looks
// at the files at most once per interval, during a handshake, and keeps
// serving the certificate it has when the new pair does not load.
package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of Load, telling which file a problem is in.
var (
	ErrCertificate = errors.New("certificate file")
	ErrKey         = errors.New("key file")
)

// maxFileBytes bounds a certificate, key or CA file: a path pointing at
// something that is not a PEM file (a device, a huge file) is refused
// rather than read without end.
const maxFileBytes = 1 << 20

// Load reads a PEM certificate chain and its private key. Its errors wrap
// ErrCertificate or ErrKey and name the file; they never quote the key.
func Load(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := readFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCertificate, certFile, err)
	}
	keyPEM, err := readFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrKey, keyFile, err)
	}
	// The chain is parsed first, so that a problem of the certificate is
	// reported as one, not as a key that does not match it.
	if _, err := ParseCertificates(certPEM); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCertificate, certFile, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w %s: not the private key of %s: %w", ErrKey, keyFile, certFile, err)
	}
	return &pair, nil
}

// ParseCertificates parses every CERTIFICATE block of PEM data; there
// must be at least one.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

// LoadPool reads a PEM file of CA certificates into a new pool, for
// verifying the other side (client certificates, a private CA).
func LoadPool(file string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if err := AddToPool(pool, file); err != nil {
		return nil, err
	}
	return pool, nil
}

// AddToPool adds the CA certificates of a PEM file to pool.
func AddToPool(pool *x509.CertPool, file string) error {
	data, err := readFile(file)
	if err != nil {
		return fmt.Errorf("CA file %s: %w", file, err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return fmt.Errorf("CA file %s: %w", file, err)
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return nil
}

// readFile reads a regular file of at most maxFileBytes. It looks before
// opening: opening a named pipe would wait for a writer.
func readFile(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, pathless(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, pathless(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, pathless(err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes: not a PEM file", maxFileBytes)
	}
	return b, nil
}

// pathless drops the path of an fs error: the messages name the file
// themselves.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// DefaultInterval is how often, at most, a Reloader looks at its files.
const DefaultInterval = 5 * time.Second

// Options configures a Reloader.
type Options struct {
	CertFile, KeyFile string
	// Interval is how often, at most, the files are looked at (a stat of
	// each) during handshakes; 0 means DefaultInterval.
	Interval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Reloader holds the certificate a TLS listener serves and loads it again
// when its files change (their size, modification time or identity: a
// renewal that swaps a symbolic link counts). A new pair that fails to
// load leaves the old one in service; the failure is logged once for
// each state of the files.
type Reloader struct {
	opts Options
	log  *slog.Logger

	cert atomic.Pointer[tls.Certificate]
	// next is when (Unix nanoseconds) a handshake should look at the
	// files again; the handshake that moves it does the looking.
	next atomic.Int64

	mu   sync.Mutex // one check at a time
	seen fileState  // the files as last loaded, or last failed to load
}

// fileState is what is compared to tell that the files changed.
type fileState struct {
	cert, key fs.FileInfo
}

func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func (s fileState) equal(o fileState) bool { return sameFile(s.cert, o.cert) && sameFile(s.key, o.key) }

// New loads the pair (an error names the file at fault) and returns a
// Reloader serving it.
func New(opts Options, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Reloader{opts: opts, log: logger.With("component", "tls", "cert_file", opts.CertFile)}
	state := r.stat()
	cert, err := Load(opts.CertFile, opts.KeyFile)
	if err != nil {
		return nil, err
	}
	r.cert.Store(cert)
	r.seen = state
	r.next.Store(opts.Now().Add(opts.Interval).UnixNano())
	r.warnExpiry(cert)
	return r, nil
}

// GetCertificate is tls.Config.GetCertificate: the current certificate,
// after looking at the files when the interval has passed.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := r.opts.Now()
	if next := r.next.Load(); now.UnixNano() >= next && r.next.CompareAndSwap(next, now.Add(r.opts.Interval).UnixNano()) {
		r.Check()
	}
	return r.cert.Load(), nil
}

// Certificate is the certificate served now.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

// Check looks at the files and, when they changed since the last load
// (or failed load), loads them. It reports whether a new certificate is
// now served, and the error of a failed load (the old certificate stays).
func (r *Reloader) Check() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	state := r.stat()
	if state.equal(r.seen) {
		return false, nil
	}
	r.seen = state
	cert, err := Load(r.opts.CertFile, r.opts.KeyFile)
	if err != nil {
		r.log.Warn("tls_certificate_reload_failed", "key_file", r.opts.KeyFile, "err", err)
		return false, err
	}
	r.cert.Store(cert)
	attrs := []any{"key_file", r.opts.KeyFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "serial", cert.Leaf.SerialNumber.String(), "not_after", cert.Leaf.NotAfter.UTC())
	}
	r.log.Info("tls_certificate_reloaded", attrs...)
	r.warnExpiry(cert)
	return true, nil
}

// stat is the state of the files now; a file that cannot be looked at
// counts as nil (a change, once it is back).
func (r *Reloader) stat() fileState {
	var s fileState
	s.cert, _ = os.Stat(r.opts.CertFile)
	s.key, _ = os.Stat(r.opts.KeyFile)
	return s
}

// warnExpiry logs a certificate served past its validity, which clients
// will refuse.
func (r *Reloader) warnExpiry(cert *tls.Certificate) {
	if cert.Leaf != nil && r.opts.Now().After(cert.Leaf.NotAfter) {
		r.log.Warn("tls_certificate_expired", "not_after", cert.Leaf.NotAfter.UTC())
	}
}
