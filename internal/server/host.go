package server

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// HostCheck refuses, with 421 Misdirected Request, requests whose Host
// header names a host this server does not answer for: the defence
// against DNS rebinding, where a web page on an attacker's name that
// resolves to this server's address reads it as its own origin. Allowed
// are every IP address (a rebinding attack needs a name), localhost and
// names under .localhost, and the names given (the host of
// http.public_url, of the listen addresses, http.allowed_hosts). skip,
// when not nil, exempts requests (OTLP ingest, which browsers cannot read
// back, and health checks).
func HostCheck(names []string, skip func(*http.Request) bool, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, n := range names {
		if h := hostOnly(n); h != "" {
			allowed[h] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (skip == nil || !skip(r)) && !hostAllowed(hostOnly(r.Host), allowed) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusMisdirectedRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "this server does not answer for the host named in the request; " +
				"reach it by IP address, localhost or the host of http.public_url, or add the name to http.allowed_hosts"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// HostOf returns the host of a URL or host:port, for HostCheck's names.
func HostOf(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			return u.Hostname()
		}
		return ""
	}
	return hostOnly(s)
}

func hostAllowed(h string, allowed map[string]bool) bool {
	switch {
	case h == "":
		return false
	case net.ParseIP(h) != nil, h == "localhost", strings.HasSuffix(h, ".localhost"):
		return true
	}
	return allowed[h]
}

// hostOnly is the lowercase host of host[:port], without brackets or a
// trailing dot.
func hostOnly(hp string) string {
	h := hp
	if host, _, err := net.SplitHostPort(hp); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(h, "]"), "["), ".")
	return strings.ToLower(h)
}
