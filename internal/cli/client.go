package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// defaultServer is the API address commands talk to unless --server or
// FLOWWATCH_SERVER says otherwise (flowwatch serve's default).
const defaultServer = "http://127.0.0.1:4318"

// maxResponseBytes bounds what the client reads from one API response.
const maxResponseBytes = 256 << 20

// apiClient talks to a running flowwatch server's JSON API.
type apiClient struct {
	// base is scheme://host[:port][/path], without a trailing slash.
	base string
	http *http.Client
}

// newAPIClient checks the server URL (a scheme-less host:port means http)
// and returns a client whose requests time out after timeout.
func newAPIClient(server string, timeout time.Duration) (*apiClient, error) {
	if timeout <= 0 {
		return nil, usageError{fmt.Errorf("invalid --timeout %s: must be positive", timeout)}
	}
	s := strings.TrimSpace(server)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, usageError{fmt.Errorf("invalid --server %q: %w", server, err)}
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, usageError{fmt.Errorf("invalid --server %q: the scheme must be http or https", server)}
	case u.Host == "":
		return nil, usageError{fmt.Errorf("invalid --server %q: no host", server)}
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, usageError{fmt.Errorf("invalid --server %q: give only scheme, host, port and path", server)}
	}
	return &apiClient{
		base: strings.TrimRight(u.String(), "/"),
		http: &http.Client{Timeout: timeout, Transport: keyTransport{
			key: strings.TrimSpace(os.Getenv(apiKeyEnv)), host: u.Host, next: http.DefaultTransport}},
	}, nil
}

// apiKeyEnv holds the API key the commands send (flowwatch keys create).
const apiKeyEnv = "FLOWWATCH_API_KEY"

// keyTransport adds the API key to requests to the server's own host
// (never to another host a redirect may lead to).
type keyTransport struct {
	key, host string
	next      http.RoundTripper
}

func (t keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.key == "" || r.URL.Host != t.host || r.Header.Get("Authorization") != "" {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.key)
	return t.next.RoundTrip(r)
}

// keyHint explains a refusal for want of a key (401) or scope (403).
func keyHint(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return " (set " + apiKeyEnv + " to a key of this server: flowwatch keys create)"
	case http.StatusForbidden:
		return " (" + apiKeyEnv + " holds a key without the scope this needs)"
	}
	return ""
}

// get fetches an API path (relative to /api/v1/) and returns the body of a
// 200 answer. Other answers become errors carrying the server's message:
// 404 exits with ExitNotFound, 400 with ExitUsage.
func (c *apiClient) get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	target := c.base + "/api/v1/" + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", target, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "flowwatch-cli/"+Version)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s: %w", c.base, c.transportError(ctx, err))
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("the answer of %s to %s is larger than %d MiB", c.base, path, maxResponseBytes>>20)
	}
	if res.StatusCode == http.StatusOK {
		return body, nil
	}
	var e struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil {
		if plainToTLS(res.StatusCode, body) {
			return nil, c.plainToTLSError()
		}
		return nil, fmt.Errorf("the server at %s answered %s to GET /api/v1/%s; is it a flowwatch server?", c.base, res.Status, path)
	}
	msg := errors.New(*e.Error + keyHint(res.StatusCode))
	switch res.StatusCode {
	case http.StatusNotFound:
		return nil, exitError{code: ExitNotFound, err: msg}
	case http.StatusBadRequest:
		return nil, usageError{msg}
	}
	return nil, msg
}

// transportError explains a failure to talk to the server.
// decode reads an answer of the server into v; what names the answer in
// the error ("a run list").
func (c *apiClient) decode(body []byte, what string, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("the server at %s sent %s that does not decode: %w", c.base, what, err)
	}
	return nil
}

func (c *apiClient) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot connect to %s (connection refused): is `flowwatch serve` running at %s? Set --server or FLOWWATCH_SERVER to reach another address", c.base, c.base)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("the server at %s did not answer within %s (see --timeout)", c.base, c.http.Timeout)
	case notHTTP(err):
		return fmt.Errorf("%s did not answer as HTTP/1.1: is this flowwatch's gRPC port? The CLI talks to the HTTP port (default %s)",
			c.base, strings.TrimPrefix(defaultServer, "http://"))
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%s answered in plain HTTP, not HTTPS: use http:// in --server or FLOWWATCH_SERVER", c.base)
	case certHint(err, "SSL_CERT_FILE=ca.pem") != "":
		return fmt.Errorf("cannot reach the flowwatch server at %s: %w%s", c.base, err, certHint(err, "SSL_CERT_FILE=ca.pem"))
	}
	return fmt.Errorf("cannot reach the flowwatch server at %s: %w", c.base, err)
}

// certHint explains a server certificate the client refused; trust says
// how to trust a private CA. "" for other errors.
func certHint(err error, trust string) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
	)
	switch {
	case errors.As(err, &unknown):
		return " (the certificate is signed by a CA this machine does not trust; for a private or self-signed CA give " + trust + ")"
	case errors.As(err, &hostname):
		return " (the certificate is not for the name asked: ask by a name it holds)"
	}
	return ""
}

// plainToTLS reports whether an answer is that of a Go HTTPS server to a
// plain HTTP request (flowwatch with http.tls, asked at http://).
func plainToTLS(status int, body []byte) bool {
	return status == http.StatusBadRequest && strings.Contains(string(body), "Client sent an HTTP request to an HTTPS server")
}

func (c *apiClient) plainToTLSError() error {
	return usageError{fmt.Errorf("the server at %s serves HTTPS (http.tls is set): use https:// in --server or FLOWWATCH_SERVER "+
		"(a certificate of a private CA: SSL_CERT_FILE=ca.pem, see docs/security.md#tls)", c.base)}
}

// notHTTP reports whether a request failed because the server answered
// with bytes that are not HTTP/1.x, as an HTTP/2-only server does (the
// gRPC port answers a request with an HTTP/2 SETTINGS frame, and Go's
// transport reports it as a malformed response or, when the server hangs
// up first, as a failed peek of the read loop). net/http exports no error
// values for these, so their text is matched.
func notHTTP(err error) bool {
	msg := err.Error()
	for _, s := range []string{"malformed HTTP response", "malformed HTTP status code", "readLoopPeekFailLocked", "HTTP/1.x transport connection broken"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// fetch gets path from the server for a command that prints its answer
// with -o output: with json it writes the answer as sent and reports done;
// otherwise it decodes the answer into v (what names it in errors).
func fetch(cmd *cobra.Command, flags *tracesFlags, output, path string, query url.Values, what string, v any) (done bool, err error) {
	if err := checkOutput(output); err != nil {
		return false, err
	}
	c, err := flags.client()
	if err != nil {
		return false, err
	}
	body, err := c.get(cmd.Context(), path, query)
	if err != nil {
		return false, err
	}
	if output == "json" {
		return true, writeIndented(cmd.OutOrStdout(), body)
	}
	return false, c.decode(body, what, v)
}
