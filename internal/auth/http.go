package auth

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Need is what a request requires.
type Need struct {
	// Scope is model.ScopeIngest, ScopeRead or ScopeAdmin; "" for a
	// request open to everyone (health, sign-in, static files).
	Scope string
	// Page marks a dashboard page: refused with the sign-in page (HTML)
	// instead of a JSON error.
	Page bool
	// KeyHeader, when set, is the only place the key is read from: not
	// Authorization, x-api-key nor the session cookie. A proxy route
	// (the gateway) sets it: there those headers are the caller's
	// credentials for the upstream, passed on untouched, and a cookie
	// must not let a browser page send requests on its visitor's behalf.
	KeyHeader string
}

// Classifier says what a request needs.
type Classifier func(r *http.Request) Need

// Realm is the realm of WWW-Authenticate.
const Realm = "flowwatch"

// maxSignInBody bounds the sign-in form.
const maxSignInBody = 4 << 10

// principalKey carries the Principal in a request's context.
type principalKey struct{}

// FromContext returns the principal a request acts as.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// KeyFromRequest is the key a request presents: Authorization: Bearer
// KEY, or x-api-key: KEY.
func KeyFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(rest)
		}
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

// cookieName is the session cookie's name; with Secure cookies the
// __Host- prefix binds it to this host, path / and HTTPS.
func (a *Authenticator) cookieName() string {
	if a.o.SecureCookies {
		return "__Host-flowwatch_session"
	}
	return "flowwatch_session"
}

// Handler checks every request before next routes it: what it needs
// (classify) against the key it presents, or its dashboard session. The
// check comes first, so a refusal never depends on what exists behind
// the path.
func (a *Authenticator) Handler(classify Classifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := classify(r)
		p, err := a.checkRequest(r, need)
		if err != nil {
			a.refuse(w, r, need, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// checkRequest authenticates r: its key if it presents one, else its
// session cookie; only the key in need.KeyHeader when that is set.
func (a *Authenticator) checkRequest(r *http.Request, n Need) (Principal, error) {
	need := n.Scope
	if need == "" {
		return Principal{}, nil
	}
	ctx := r.Context()
	if n.KeyHeader != "" {
		return a.Check(ctx, strings.TrimSpace(r.Header.Get(n.KeyHeader)), need)
	}
	key := KeyFromRequest(r)
	if key != "" {
		return a.Check(ctx, key, need)
	}
	enforced, err := a.Enforced(ctx)
	if err != nil || !enforced {
		return anyone, err
	}
	if c, err := r.Cookie(a.cookieName()); err == nil {
		if id, ok := a.sessions.get(c.Value); ok {
			p, ok, err := a.byID(ctx, id)
			switch {
			case err != nil:
				return Principal{}, err
			case !ok: // the key was revoked: so is the session
				a.sessions.end(c.Value)
			case !Grants(p.Scopes, need):
				return p, ErrForbidden
			default:
				return p, nil
			}
		}
	}
	return Principal{}, ErrNoKey
}

// refuse answers a request that failed its check: 401 (with
// WWW-Authenticate) without a valid key, 403 with a key that lacks the
// scope, 503 when the keys cannot be read.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, need Need, err error) {
	status, msg := http.StatusServiceUnavailable, "the server cannot check API keys right now; retry shortly"
	switch {
	case errors.Is(err, ErrNoKey) && need.KeyHeader != "":
		status, msg = http.StatusUnauthorized, ErrNoKey.Error()+": send a key with the "+need.Scope+" scope as "+need.KeyHeader+
			": KEY (flowwatch keys create makes one); Authorization and api-key headers are not read here, they go to the upstream unchanged"
	case errors.Is(err, ErrNoKey):
		status, msg = http.StatusUnauthorized, ErrNoKey.Error()+": send it as Authorization: Bearer KEY or x-api-key: KEY (flowwatch keys create makes one)"
	case errors.Is(err, ErrBadKey) && need.KeyHeader != "":
		status, msg = http.StatusUnauthorized, ErrBadKey.Error()+" (the key in "+need.KeyHeader+" is unknown or revoked)"
	case errors.Is(err, ErrBadKey):
		status, msg = http.StatusUnauthorized, ErrBadKey.Error()+" (unknown or revoked)"
	case errors.Is(err, ErrForbidden):
		status, msg = http.StatusForbidden, ErrForbidden.Error()+" ("+need.Scope+")"
	default:
		a.log.Error("auth_check_failed", "err", err, "method", r.Method)
		w.Header().Set("Retry-After", "5")
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="`+Realm+`"`)
	}
	if need.Page && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		a.page(w, status, signInData{Next: r.URL.RequestURI(), Error: pageMessage(status, need.Scope)})
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if need.KeyHeader != "" {
		// A proxy route answers in its clients' shape (the OpenAI error
		// envelope, as the gateway's own errors), so that their SDKs show
		// the message rather than a bare status.
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
			"message": msg, "type": "flowwatch_auth_error", "code": strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func pageMessage(status int, scope string) string {
	switch status {
	case http.StatusUnauthorized:
		return ""
	case http.StatusForbidden:
		return "The key you signed in with does not have the " + scope + " scope this page needs. Sign in with another key."
	}
	return "The server cannot check keys right now; try again shortly."
}

// RegisterHTTP adds the dashboard's sign-in and sign-out pages to mux:
// GET and POST /signin, GET and POST /signout. They need no key (the
// classifier must say so); their POSTs are for the cross-origin
// protection in front to check.
func (a *Authenticator) RegisterHTTP(mux *http.ServeMux) {
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, r *http.Request) {
		a.page(w, http.StatusOK, signInData{Next: safeNext(r.URL.Query().Get("next"))})
	})
	mux.HandleFunc("POST /signin", a.signIn)
	mux.HandleFunc("GET /signout", func(w http.ResponseWriter, r *http.Request) {
		a.page(w, http.StatusOK, signInData{SignOut: true})
	})
	mux.HandleFunc("POST /signout", a.signOut)
}

func (a *Authenticator) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSignInBody)
	if err := r.ParseForm(); err != nil {
		a.page(w, http.StatusBadRequest, signInData{Error: "The form could not be read."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	enforced, err := a.Enforced(r.Context())
	if err != nil {
		a.page(w, http.StatusServiceUnavailable, signInData{Next: next, Error: pageMessage(0, "")})
		return
	}
	if !enforced {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	p, err := a.Check(r.Context(), strings.TrimSpace(r.PostForm.Get("key")), model.ScopeRead)
	switch {
	case errors.Is(err, ErrForbidden):
		a.page(w, http.StatusForbidden, signInData{Next: next, Error: "This key cannot read: the dashboard needs a key with the read (or admin) scope."})
		return
	case errors.Is(err, ErrNoKey), errors.Is(err, ErrBadKey):
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`"`)
		a.page(w, http.StatusUnauthorized, signInData{Next: next, Error: "That key is not valid (unknown or revoked)."})
		return
	case err != nil:
		a.page(w, http.StatusServiceUnavailable, signInData{Next: next, Error: pageMessage(0, "")})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: a.cookieName(), Value: a.sessions.create(p.KeyID), Path: "/",
		MaxAge: int(a.o.SessionTTL.Seconds()), HttpOnly: true, Secure: a.o.SecureCookies, SameSite: http.SameSiteStrictMode})
	a.log.Info("dashboard_signed_in", "key_id", p.KeyID, "key_name", p.Name)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *Authenticator) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(a.cookieName()); err == nil {
		a.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: a.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.o.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// safeNext keeps a redirect target on this server: a path, not
// "//host" or a URL.
func safeNext(s string) string {
	u, err := url.Parse(s)
	if err != nil || s == "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") ||
		u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return s
}

type signInData struct {
	Next    string
	Error   string
	SignOut bool
}

var pageTemplate = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{{if .SignOut}}Sign out{{else}}Sign in{{end}} · flowwatch</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<header class="top"><a class="brand" href="/">flowwatch</a></header>
<main id="main">
{{if .SignOut}}
<h1>Sign out</h1>
<form method="post" action="/signout"><button type="submit">Sign out</button></form>
{{else}}
<h1>Sign in</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<p>This flowwatch server needs an API key with the read scope (create one with <code>flowwatch keys create --name NAME --scope read</code>).</p>
<form method="post" action="/signin">
<input type="hidden" name="next" value="{{.Next}}">
<label>API key <input type="password" name="key" autocomplete="off" required autofocus></label>
<button type="submit">Sign in</button>
</form>
{{end}}
</main>
</body>
</html>
`))

func (a *Authenticator) page(w http.ResponseWriter, status int, d signInData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	if err := pageTemplate.Execute(w, d); err != nil {
		a.log.Warn("signin_page_failed", "err", err)
	}
}
