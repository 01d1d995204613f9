package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/auth"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/gateway"
	"github.com/flowwatch/flowwatch/internal/ingest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/server"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// isLoopback reports whether a listen address (host:port) accepts
// connections from this machine only: a loopback IP or localhost. An
// empty host (every interface) is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secureCookies reports whether the dashboard's cookie must be Secure:
// people reach the server over HTTPS (public_url says so).
func secureCookies(cfg config.Config) bool {
	u, err := url.Parse(cfg.HTTP.PublicURL)
	return err == nil && u.Scheme == "https"
}

// checkStartAuth refuses to start beyond loopback without a key (unless
// auth is none), saying how to create one.
func checkStartAuth(ctx context.Context, cfg config.Config, authn *auth.Authenticator) error {
	if authn.Mode() != auth.ModeAuto {
		return nil
	}
	var open []string
	for _, l := range []struct{ key, addr string }{{"http.address", cfg.HTTP.Address}, {"grpc.address", cfg.GRPC.Address}} {
		if !isLoopback(l.addr) {
			open = append(open, fmt.Sprintf("%s %s", l.key, l.addr))
		}
	}
	if len(open) == 0 {
		return nil
	}
	n, err := authn.ActiveKeys(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return fmt.Errorf("refusing to start: %s listens beyond loopback and no API key exists, so anyone who can reach it could read every trace and change monitors.\n"+
		"Create a key first (it is shown once), with the same --config/--data as serve:\n"+
		"  flowwatch keys create --name admin --scope admin,ingest\n"+
		"then send it as Authorization: Bearer KEY (OTLP: OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%%20KEY; CLI: FLOWWATCH_API_KEY).\n"+
		"On a network where every client may read and change everything, set auth: none (FLOWWATCH_AUTH=none) instead. See docs/security.md",
		strings.Join(open, " and "))
}

// otlpPath reports whether p is an OTLP/HTTP path (/v1/traces, /v1/logs
// under each of ingest.Prefixes).
func otlpPath(p string) bool {
	for _, pre := range ingest.Prefixes() {
		if strings.HasPrefix(p, pre+"/v1/") {
			return true
		}
	}
	return false
}

// openPath reports whether p needs no key and no Host check: health.
func healthPath(p string) bool { return p == "/healthz" || p == "/readyz" }

// gatewayNeed is what a request to a gateway needs: an ingest key in
// X-Flowwatch-Key only (Authorization, api-key and cookies are the
// caller's, for the upstream), or nothing for a gateway of
// require_key: false. A name that is no gateway needs the key too: only
// the open gateways answer a caller without one.
func gatewayNeed(p string, open map[string]bool) auth.Need {
	name, _, _ := strings.Cut(strings.TrimPrefix(p, gatewayPrefix), "/")
	if open[name] {
		return auth.Need{}
	}
	return auth.Need{Scope: model.ScopeIngest, KeyHeader: gateway.KeyHeader}
}

// openGateways are the names of the gateways of require_key: false.
func openGateways(cfg config.Config) map[string]bool {
	open := map[string]bool{}
	for _, g := range cfg.Gateways {
		if !g.RequiresKey() {
			open[g.Name] = true
		}
	}
	return open
}

// classifier says what each request needs, from its path and method alone
// (before routing, so a refusal never depends on whether what the path
// names exists): OTLP needs ingest, and gateways an ingest key in their
// own header unless open (the names of require_key: false); reads of the
// API, /metrics and the dashboard's pages need read; everything that
// changes state, and the keys, need admin; health, sign-in and static
// files nothing.
func classifier(open map[string]bool) auth.Classifier {
	return func(r *http.Request) auth.Need { return classify(r, open) }
}

func classify(r *http.Request, open map[string]bool) auth.Need {
	p := path.Clean("/" + r.URL.Path)
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case healthPath(p):
		return auth.Need{}
	case otlpPath(p + "/"):
		return auth.Need{Scope: model.ScopeIngest}
	case strings.HasPrefix(p+"/", gatewayPrefix):
		return gatewayNeed(p, open)
	case p == "/signin" || p == "/signout" || strings.HasPrefix(p, "/static/") || p == "/favicon.ico":
		return auth.Need{}
	case p+"/" == api.Prefix+"keys/" || strings.HasPrefix(p, api.Prefix+"keys/"), strings.HasPrefix(p, "/debug/"):
		return auth.Need{Scope: model.ScopeAdmin}
	case strings.HasPrefix(p+"/", api.Prefix), p == "/metrics":
		if read {
			return auth.Need{Scope: model.ScopeRead}
		}
		return auth.Need{Scope: model.ScopeAdmin}
	}
	if read {
		return auth.Need{Scope: model.ScopeRead, Page: true}
	}
	return auth.Need{Scope: model.ScopeAdmin, Page: true}
}

// guard puts the checks every HTTP request passes before routing, in
// this order: the Host header (DNS rebinding), cross-site refusal of
// state-changing requests (Origin, Sec-Fetch-Site), the API key or
// dashboard session with the scope the route needs.
func guard(cfg config.Config, authn *auth.Authenticator, next http.Handler) http.Handler {
	names := append([]string{server.HostOf(cfg.HTTP.PublicURL), server.HostOf(cfg.HTTP.Address)}, cfg.HTTP.AllowedHosts...)
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(cfg.HTTP.PublicURL); err == nil && u.Host != "" {
		// Behind a proxy that rewrites Host, browsers still send the
		// public origin.
		_ = cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	checked := authn.Handler(classifier(openGateways(cfg)), next)
	crossSite := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if otlpPath(path.Clean("/"+r.URL.Path) + "/") {
			checked.ServeHTTP(w, r)
			return
		}
		if err := cop.Check(r); err != nil {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":"cross-site request refused: a state-changing request must come from this server's own pages or from a client that is not a browser"}` + "\n"))
			return
		}
		checked.ServeHTTP(w, r)
	})
	return server.HostCheck(names, func(r *http.Request) bool {
		p := path.Clean("/" + r.URL.Path)
		return healthPath(p) || otlpPath(p+"/")
	}, crossSite)
}

// recipientCheck is what e-mail addresses monitors and test e-mails may
// name: those notifications.allowed_recipients lists when it is set;
// when it is not, any address while keys are not enforced (the API is
// open to this machine only, or auth is none), none while they are.
func recipientCheck(cfg config.Config, authn *auth.Authenticator) func(ctx context.Context, addrs []string) error {
	n := cfg.Notifications
	return func(ctx context.Context, addrs []string) error {
		if n.RecipientsSet() {
			for _, a := range addrs {
				if !n.RecipientAllowed(a) {
					return fmt.Errorf("e-mail to %q is not allowed: add the address (or its @domain) to notifications.allowed_recipients in the server configuration", a)
				}
			}
			return nil
		}
		enforced, err := authn.Enforced(ctx)
		if err != nil {
			return err
		}
		if enforced && len(addrs) > 0 {
			return fmt.Errorf("e-mail to %q is not allowed: while API keys are required, monitors and tests sent through the API may e-mail only the addresses and @domains listed in notifications.allowed_recipients of the server configuration, which is not set", addrs[0])
		}
		return nil
	}
}

// checkMonitorFileRecipients checks the monitors of monitors_dir against
// notifications.allowed_recipients, when it is set (when it is not, the
// files, written by whoever writes the configuration, may name anyone).
func checkMonitorFileRecipients(cfg config.Config, files []monitorFile) error {
	n := cfg.Notifications
	if !n.RecipientsSet() {
		return nil
	}
	var errs []error
	for _, f := range files {
		for _, a := range f.loaded.Monitor.Notify.Emails {
			if !n.RecipientAllowed(a) {
				errs = append(errs, fmt.Errorf("%s: notify.emails: e-mail to %q is not allowed: add the address (or its @domain) to notifications.allowed_recipients", f.path, a))
			}
		}
	}
	return errors.Join(errs...)
}

// ErrDataDirInUse is returned by OpenKeyStore when a running server holds
// the data directory.
var ErrDataDirInUse = errors.New("the data directory is in use by a running flowwatch server")

// KeyStore is the store opened for managing API keys without a server
// (flowwatch keys).
type KeyStore interface {
	store.APIKeys
	Close() error
}

// OpenKeyStore opens the store of cfg for flowwatch keys (creating the
// data directory of the embedded store); ErrDataDirInUse (wrapped) when a
// server has the embedded store open. With PostgreSQL the keys are
// managed while servers run: they see a new key within a few seconds.
func OpenKeyStore(ctx context.Context, cfg config.Config, logger *slog.Logger) (KeyStore, error) {
	st, err := openStore(ctx, cfg, normalize.Deriver{}, nil, logger)
	if errors.Is(err, sqlite.ErrLocked) {
		return nil, fmt.Errorf("%w: %w", ErrDataDirInUse, err)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}
