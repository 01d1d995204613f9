package cli

import (
	"context"
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
)

func newHealthcheckCmd() *cobra.Command {
	var (
		configPath string
		target     string
		timeout    time.Duration
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
[::]) is asked on loopback.`,
		Args: cobra.NoArgs,
		Example: `  flowwatch healthcheck
  flowwatch healthcheck --url http://127.0.0.1:4318/readyz`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usageError{fmt.Errorf("invalid --timeout %s: must be positive", timeout)}
			}
			if target == "" {
				if configPath == "" {
					configPath = os.Getenv(config.EnvPrefix + "CONFIG")
				}
				addr, err := serveAddress(configPath, os.LookupEnv)
				if err != nil {
					return usageError{err}
				}
				if target, err = readyURL(addr); err != nil {
					return usageError{err}
				}
			}
			msg, err := checkReady(cmd.Context(), target, timeout)
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
	return cmd
}

// serveAddress is the HTTP address 'flowwatch serve' would listen on with
// the same config file and environment (flags aside).
func serveAddress(configPath string, lookup func(string) (string, bool)) (string, error) {
	cfg := config.Default()
	if configPath != "" {
		var err error
		if cfg, err = config.Load(configPath); err != nil {
			return "", err
		}
	}
	if err := config.ApplyEnv(&cfg, lookup); err != nil {
		return "", err
	}
	return cfg.HTTP.Address, nil
}

// readyURL turns a listen address into the /readyz URL to ask: an
// unspecified host (every interface) is asked on loopback.
func readyURL(addr string) (string, error) {
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
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/readyz"}).String(), nil
}

// checkReady asks target and returns a one-line status for 200, or an
// error saying what the answer (or the lack of one) was.
func checkReady(ctx context.Context, target string, timeout time.Duration) (string, error) {
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
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("%s did not answer within %s", target, timeout)
		}
		return "", fmt.Errorf("%s: not reachable: %w", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	var status struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	_ = json.Unmarshal(body, &status)
	if res.StatusCode != http.StatusOK {
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
