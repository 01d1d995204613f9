package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/tlscert"
)

func newHealthcheckCmd() *cobra.Command {
	var (
		configPath string
		target     string
		timeout    time.Duration
		caFile     string
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local flowwatch server is ready, 1 when it is not",
		Long: `Ask a flowwatch server whether it is ready (GET /readyz) and exit 0 when it
answers 200, 1 otherwise, printing why. It needs no shell, curl or wget, so a
container image holding only the flowwatch binary can use it as its health
check, and so can systemd or a process supervisor.

Without --url it finds the server the way 'flowwatch serve' finds its address:
http.address from the config file (--config or FLOWWATCH_CONFIG), then
FLOWWATCH_HTTP_ADDRESS. A server listening on every interface (0.0.0.0 or
[::]) is asked on loopback. With http.tls it is asked over HTTPS, and its
certificate is verified for the host of http.public_url (the name people
use), whatever address is dialled; a certificate of a private CA needs
--ca-file (or SSL_CERT_FILE).`,
		Args: cobra.NoArgs,
		Example: `  flowwatch healthcheck
  flowwatch healthcheck --url http://127.0.0.1:4318/readyz
  flowwatch healthcheck --config flowwatch.yaml --ca-file /etc/flowwatch/ca.pem`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usageError{fmt.Errorf("invalid --timeout %s: must be positive", timeout)}
			}
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			if caFile != "" {
				// The CA is trusted besides the system's (a server may move
				// from a private CA to a public one).
				pool, err := x509.SystemCertPool()
				if err != nil {
					pool = x509.NewCertPool()
				}
				if err := tlscert.AddToPool(pool, caFile); err != nil {
					return usageError{fmt.Errorf("--ca-file: %w", err)}
				}
				tc.RootCAs = pool
			}
			if target == "" {
				if configPath == "" {
					configPath = os.Getenv(config.EnvPrefix + "CONFIG")
				}
				cfg, err := serveConfig(configPath, os.LookupEnv)
				if err != nil {
					return usageError{err}
				}
				if target, err = readyURL(cfg.HTTP.Address, cfg.HTTP.TLS.Enabled()); err != nil {
					return usageError{err}
				}
				tc.ServerName = tlsName(cfg)
			}
			msg, err := checkReady(cmd.Context(), target, timeout, tc)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), msg)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "the server's YAML config file, to find its HTTP address (default from FLOWWATCH_CONFIG)")
	f.StringVar(&target, "url", "", "the URL to check, e.g. http://127.0.0.1:4318/readyz (default: /readyz at the server's http.address)")
	f.DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	f.StringVar(&caFile, "ca-file", "", "PEM file of the CA that signed the server's certificate, trusted besides the system's (HTTPS only)")
	return cmd
}

// serveConfig is the configuration 'flowwatch serve' would run with the
// same config file and environment (flags aside), for its HTTP address
// and TLS.
func serveConfig(configPath string, lookup func(string) (string, bool)) (config.Config, error) {
	cfg := config.Default()
	if configPath != "" {
		var err error
		if cfg, err = config.Load(configPath); err != nil {
			return cfg, err
		}
	}
	if err := config.ApplyEnv(&cfg, lookup); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// tlsName is the name the server's certificate is verified for: the
// host of its public URL when that is https (the healthcheck dials the
// listen address, often loopback, which the certificate need not name);
// "" (the dialled host) otherwise.
func tlsName(cfg config.Config) string {
	u, err := url.Parse(cfg.PublicURL())
	if err != nil || u.Scheme != "https" || !cfg.HTTP.TLS.Enabled() {
		return ""
	}
	return u.Hostname()
}

// readyURL turns a listen address into the /readyz URL to ask (https
// when the listener serves TLS): an unspecified host (every interface)
// is asked on loopback.
func readyURL(addr string, https bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("http.address %q: %w", addr, err)
	}
	if port == "" || port == "0" {
		return "", fmt.Errorf("http.address %q has no fixed port to check; give --url", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: "/readyz"}).String(), nil
}

// checkReady asks target (over TLS with tc when it is https) and returns
// a one-line status for 200, or an error saying what the answer (or the
// lack of one) was.
func checkReady(ctx context.Context, target string, timeout time.Duration, tc *tls.Config) (string, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageError{fmt.Errorf("invalid --url %q: give an absolute http(s) URL", target)}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", usageError{fmt.Errorf("invalid --url %q: %w", target, err)}
	}
	req.Header.Set("User-Agent", "flowwatch-healthcheck/"+Version)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("%s did not answer within %s", target, timeout)
		}
		hint := certHint(err, "--ca-file ca.pem")
		if hint != "" && tc != nil && tc.ServerName != "" {
			hint += fmt.Sprintf(" (verified for %s, the host of http.public_url)", tc.ServerName)
		}
		return "", fmt.Errorf("%s: not reachable: %w%s", target, err, hint)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	var status struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	_ = json.Unmarshal(body, &status)
	if res.StatusCode != http.StatusOK {
		if plainToTLS(res.StatusCode, body) {
			return "", fmt.Errorf("%s answered %s: the server serves HTTPS (http.tls is set); ask https://", target, res.Status)
		}
		if status.Error == "" {
			return "", fmt.Errorf("%s answered %s", target, res.Status)
		}
		return "", fmt.Errorf("%s answered %s: %s", target, res.Status, status.Error)
	}
	if status.Status == "" {
		status.Status = "ok"
	}
	return fmt.Sprintf("%s: %s", target, status.Status), nil
}
