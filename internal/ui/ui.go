// Package ui serves flowwatch's dashboard: server-rendered HTML pages on
// the main HTTP port, each at its own bookmarkable URL (the time range,
// filters and view are in the URL), with charts drawn as SVG on the server
// (package chart). The pages read the same store as the JSON API. They
// work without JavaScript; a little of our own (static/app.js) adds the
// viewer's time zone, auto-refresh and the custom range picker.
//
// Security: every value from traces is escaped by html/template; pages are
// sent with a Content-Security-Policy that allows no inline script or
// style; the state-changing buttons (Run now) are POSTs that refuse
// cross-site requests.
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/ui/chart"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// DefaultQueryTimeout bounds each page's reads from the store.
const DefaultQueryTimeout = 30 * time.Second

// Options configures the dashboard. A page whose store is nil answers 503.
type Options struct {
	Traces   store.TraceReader
	Rollups  store.RollupReader
	Monitors store.MonitorStore
	Runs     store.RunStore
	Results  store.ResultStore
	// Summaries gives the lists of judged requests their questions and
	// answers (without it they show trace ids only).
	Summaries store.SummaryReader
	Alerts    store.AlertStore
	// RunNow records a manual run of a monitor over its own window as of
	// now (monitor.Scheduler.RunNow). Without it the Run now button is
	// not shown.
	RunNow func(ctx context.Context, monitor string, windowStart, windowEnd *time.Time) (model.Run, error)
	// Ready, when set, is called before each page that reads the store; an
	// error answers 503.
	Ready func(ctx context.Context) error
	// Now is the clock of relative ranges; nil means time.Now.
	Now func() time.Time
	// QueryTimeout bounds each page's reads; 0 means DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Gateways are the configured gateways, shown on the empty overview
	// as the way in without instrumenting.
	Gateways []Gateway
}

// Gateway is a configured gateway as the dashboard names it.
type Gateway struct {
	// Name is served at /gateway/{Name}/; Kind is openai or json.
	Name, Kind string
}

// UI is the dashboard's handler set.
type UI struct {
	o     Options
	pages map[string]*template.Template
	log   *slog.Logger
}

// New parses the embedded templates and returns the dashboard; register
// its routes with RegisterHTTP.
func New(opts Options, logger *slog.Logger) (*UI, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &UI{o: opts, pages: pages, log: logger.With("component", "ui")}, nil
}

// parsePages parses every page template with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "partials" {
			continue
		}
		t, err := template.New(base).Funcs(funcs()).ParseFS(templateFiles, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// RegisterHTTP adds the dashboard's routes to mux. "/" takes every path no
// other route claims and answers an HTML 404.
func (u *UI) RegisterHTTP(mux *http.ServeMux) {
	page := func(pattern string, h handler) {
		mux.Handle("GET "+pattern, u.serve(h))
	}
	page("/{$}", u.home)
	page("/services/{service}", u.service)
	page("/services/{service}/{view}", u.service)
	page("/traces/{id}", u.trace)
	page("/monitors", u.monitors)
	page("/monitors/{name}", u.monitor)
	page("/runs/{id}", u.run)
	page("/alerts", u.alerts)
	page("/alerts/{id}", u.alert)
	// Run now: a POST that refuses cross-site requests (Origin and
	// Sec-Fetch-Site are checked by net/http's CrossOriginProtection).
	mux.Handle("POST /monitors/{name}/run", http.NewCrossOriginProtection().Handler(u.serve(u.runNow)))
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	mux.HandleFunc("GET /static/chart.css", func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, chart.CSS)
		}
	})
	mux.Handle("/", u.serve(func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return &pageError{status: http.StatusMethodNotAllowed, msg: "This address only answers GET."}
		}
		return &pageError{status: http.StatusNotFound, msg: "There is no page at " + r.URL.Path + "."}
	}))
}

// handler renders one page or returns the error to show instead.
type handler func(w http.ResponseWriter, r *http.Request) error

// pageError is an error shown to the viewer with its status.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &pageError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &pageError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// errNoStore answers the pages whose store is not configured.
var errNoStore = &pageError{status: http.StatusServiceUnavailable, msg: "This page's data is not available on this server."}

// securityHeaders are sent with every page: no inline script or style, no
// framing, no content sniffing, no referrer to other sites.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

// serve runs h and renders its error as a page.
func (u *UI) serve(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		err := h(w, r)
		if err == nil {
			return
		}
		var pe *pageError
		switch {
		case errors.As(err, &pe):
		case errors.Is(err, store.ErrNotFound):
			pe = &pageError{status: http.StatusNotFound, msg: "Not found."}
		case errors.Is(err, context.DeadlineExceeded):
			pe = &pageError{status: http.StatusServiceUnavailable, msg: "The store took too long to answer; try a shorter range."}
		default:
			u.log.Error("page_failed", "path", r.URL.Path, "err", err)
			pe = &pageError{status: http.StatusInternalServerError, msg: "Something went wrong while reading the data; the server log says what."}
		}
		if pe.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		u.render(w, r, pe.status, "error", &errorPage{Base: u.base(r, "", pe.msg), Status: pe.status, Message: pe.msg})
	})
}

// begin bounds a page's reads and checks readiness.
func (u *UI) begin(r *http.Request) (context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(r.Context(), u.o.QueryTimeout)
	if u.o.Ready != nil {
		if err := u.o.Ready(ctx); err != nil {
			cancel()
			return nil, nil, &pageError{status: http.StatusServiceUnavailable, msg: "flowwatch is not ready: " + err.Error()}
		}
	}
	return ctx, cancel, nil
}

// render executes a page template into a buffer first, so that a template
// error answers 500 rather than half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t, ok := u.pages[name]
	if !ok {
		u.log.Error("page_template_missing", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		u.log.Error("page_render_failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(b.String()))
	}
}

// Base is what every page's layout needs.
type Base struct {
	Title string
	// Nav is the highlighted top-level section.
	Nav string
	// Path and Query rebuild the page's URL with other parameters.
	Path  string
	Query url.Values
	Range Range
	Loc   *time.Location
	// Refresh says whether auto-refresh is offered on this page.
	Refresh bool
	Now     time.Time
}

// base fills the common fields from a request.
func (u *UI) base(r *http.Request, nav, title string) Base {
	return Base{Title: title, Nav: nav, Path: r.URL.Path, Query: r.URL.Query(), Loc: viewerLocation(r), Now: u.o.Now()}
}

// Link returns the page's URL with some parameters replaced (pairs of
// name and value; an empty value removes the parameter).
func (b Base) Link(kv ...string) string {
	return link(b.Path, b.Query, kv...)
}

// LinkTo returns path with the page's range parameters kept.
func (b Base) LinkTo(path string) string {
	q := url.Values{}
	for _, k := range []string{"range", "from", "to"} {
		if v := b.Query.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	return link(path, q)
}

func link(path string, q url.Values, kv ...string) string {
	c := url.Values{}
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			c.Del(kv[i])
		} else {
			c.Set(kv[i], kv[i+1])
		}
	}
	if s := c.Encode(); s != "" {
		return path + "?" + s
	}
	return path
}

type errorPage struct {
	Base
	Status  int
	Message string
}

// staticHandler serves the embedded stylesheet and script, cacheable for
// a short while (they change with the binary).
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// pathEscape escapes a value for one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }
