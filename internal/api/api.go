// Package api serves flowwatch's JSON API v1 under /api/v1/: trace search,
// trace detail, the services seen, operational metrics (requests and model
// calls over time), monitor definitions (create, replace, read, delete),
// monitor runs (list, start a manual run, read a run's results and
// evaluated instances), a monitor's quality over time, alerts and their
// notifications, the notification channels (list, send a test), and the
// OpenAPI document describing them (openapi.json, embedded).
//
// Conventions of the API, which are part of the product: field names are
// snake_case; times are RFC 3339 strings in UTC with nine fractional
// digits; durations are numbers of milliseconds in fields ending in _ms;
// lists are paged with opaque cursors; every error is {"error": "..."}
// (plus "problems" for an invalid monitor file) with the status given by
// one table (statusOf). Responses are never cached (Cache-Control:
// no-store).
package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/store"
)

//go:embed openapi.json
var openAPIDoc []byte

// Prefix is the path prefix of every API v1 route.
const Prefix = "/api/v1/"

// DefaultQueryTimeout bounds each request's reads from the store unless
// Options.QueryTimeout says otherwise.
const DefaultQueryTimeout = 30 * time.Second

// Options configures an API.
type Options struct {
	// Traces is where traces are read from. Without it every data request
	// answers 503.
	Traces store.TraceReader
	// Rollups is where the operational metrics are read from. Without it
	// the metrics routes answer 503.
	Rollups store.RollupReader
	// Monitors is where monitor definitions are kept. Without it the
	// monitor routes answer 503.
	Monitors store.MonitorStore
	// MonitorEnv is what monitor files are checked against when applied
	// (the judge connections and notification channels of the server
	// configuration); a nil function skips that check.
	MonitorEnv monitor.Env
	// Runs and Results are where monitor runs and what they found are
	// read from. Without both the run routes answer 503.
	Runs    store.RunStore
	Results store.ResultStore
	// Summaries gives the instances of a run their traces' question and
	// answer; without it they have none.
	Summaries SummaryReader
	// RunNow records a manual run of a monitor over [windowStart,
	// windowEnd) (both nil: the monitor's own window, as of now) for a
	// scheduler to execute (monitor.Scheduler.RunNow). Without it POST
	// .../runs answers 503.
	RunNow func(ctx context.Context, monitor string, windowStart, windowEnd *time.Time) (model.Run, error)
	// Alerts is where alerts and their notifications are read from.
	// Without it the alert routes answer 503.
	Alerts store.AlertStore
	// Acks acknowledges alerts. Without it POST /alerts/{id}/ack answers
	// 503.
	Acks store.AlertAcks
	// Silences records, lists and ends silences. Without it the silence
	// routes answer 503.
	Silences store.Silences
	// Channels lists the notification channels of the server
	// configuration. Without it GET /channels answers 503.
	Channels func() []ChannelInfo
	// TestChannel sends a test notification to the named channel now and
	// returns the delivery's error: ErrUnknownChannel (wrapped) for a
	// channel that is not configured (404), any other error a failed
	// delivery (502, its message shown with URLs cut to scheme and host).
	// Without it POST /channels/{name}/test answers 503.
	TestChannel func(ctx context.Context, name string) error
	// TestChannelTo is TestChannel with the recipients of ?to= (e-mail
	// channels, and the "emails" channel of monitors' inline addresses,
	// which has none of its own). Without it ?to= answers 503.
	TestChannelTo func(ctx context.Context, name string, to []string) error
	// Ready, when set, is called before each request that reads the store;
	// an error answers 503 with Retry-After. It should be cheap.
	Ready func(ctx context.Context) error
	// Keys is where API keys are kept (GET, POST /keys, DELETE
	// /keys/{id}). Without it the key routes answer 503.
	Keys store.APIKeys
	// KeysChanged, when set, is called after a key was created or
	// revoked (so the key checks see it at once).
	KeysChanged func()
	// CheckRecipients, when set, is asked about the e-mail addresses of a
	// monitor's notify.emails (refused: 422) and of a test e-mail's ?to=
	// (refused: 403); its error says which address and why.
	CheckRecipients func(ctx context.Context, addrs []string) error
	// ChannelTestInterval is how often one channel may be tested (with
	// the same ?to= recipients); more often answers 429 with Retry-After.
	// 0 means no limit (flowwatch serve uses DefaultChannelTestInterval).
	ChannelTestInterval time.Duration
	// Eraser deletes traces (DELETE /traces and /traces/{trace_id}).
	// Without it those routes answer 503.
	Eraser TraceEraser
	// Now is the clock relative times (since=1h) are taken from; nil means
	// time.Now.
	Now func() time.Time
	// QueryTimeout bounds each request's reads from the store; 0 means
	// DefaultQueryTimeout.
	QueryTimeout time.Duration
}

// API is the JSON API v1 handler set.
type API struct {
	traces      store.TraceReader
	rollups     store.RollupReader
	monitors    store.MonitorStore
	monitorEnv  monitor.Env
	runs        store.RunStore
	results     store.ResultStore
	summaries   SummaryReader
	runNow      func(ctx context.Context, monitor string, windowStart, windowEnd *time.Time) (model.Run, error)
	alerts      store.AlertStore
	acks        store.AlertAcks
	silences    store.Silences
	channels    func() []ChannelInfo
	testChan    func(ctx context.Context, name string) error
	testChanTo  func(ctx context.Context, name string, to []string) error
	ready       func(ctx context.Context) error
	keys        store.APIKeys
	eraser      TraceEraser
	keysChanged func()
	recipients  func(ctx context.Context, addrs []string) error
	testLimit   *intervalLimit
	now         func() time.Time
	timeout     time.Duration
	log         *slog.Logger
}

// New returns an API; register its routes with RegisterHTTP.
func New(opts Options, logger *slog.Logger) *API {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &API{
		traces:      opts.Traces,
		rollups:     opts.Rollups,
		monitors:    opts.Monitors,
		monitorEnv:  opts.MonitorEnv,
		runs:        opts.Runs,
		results:     opts.Results,
		summaries:   opts.Summaries,
		runNow:      opts.RunNow,
		alerts:      opts.Alerts,
		acks:        opts.Acks,
		silences:    opts.Silences,
		channels:    opts.Channels,
		testChan:    opts.TestChannel,
		testChanTo:  opts.TestChannelTo,
		ready:       opts.Ready,
		keys:        opts.Keys,
		eraser:      opts.Eraser,
		keysChanged: opts.KeysChanged,
		recipients:  opts.CheckRecipients,
		now:         opts.Now,
		timeout:     opts.QueryTimeout,
		log:         logger.With("component", "api"),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.timeout <= 0 {
		a.timeout = DefaultQueryTimeout
	}
	a.testLimit = newIntervalLimit(opts.ChannelTestInterval)
	return a
}

// route is one API endpoint and the methods it answers.
type route struct {
	// pattern is the path as net/http.ServeMux and OpenAPI both write it.
	pattern string
	// methods are the handlers by method, in the order the Allow header
	// lists them; GET also answers HEAD.
	methods []method
}

// method is one HTTP method of a route and its handler.
type method struct {
	name    string
	handler handler
}

// handler serves one request: it writes the answer, or returns the error
// to answer with (in the error envelope, by the one status table).
type handler func(w http.ResponseWriter, r *http.Request) error

// get is a route that answers GET (and HEAD) only.
func get(pattern string, h handler) route {
	return route{pattern: pattern, methods: []method{{http.MethodGet, h}}}
}

// allow is the Allow header of a route: its methods, HEAD after GET.
func (rt route) allow() string {
	var names []string
	for _, m := range rt.methods {
		names = append(names, m.name)
		if m.name == http.MethodGet {
			names = append(names, http.MethodHead)
		}
	}
	return strings.Join(names, ", ")
}

func (a *API) routes() []route {
	return []route{
		{pattern: Prefix + "traces", methods: []method{
			{http.MethodGet, a.listTraces},
			{http.MethodDelete, a.deleteTraces},
		}},
		{pattern: Prefix + "traces/{trace_id}", methods: []method{
			{http.MethodGet, a.getTrace},
			{http.MethodDelete, a.deleteTrace},
		}},
		get(Prefix+"services", a.listServices),
		get(Prefix+"metrics/operational", a.operationalMetrics),
		get(Prefix+"metrics/llm", a.llmMetrics),
		get(Prefix+"monitors", a.listMonitors),
		{pattern: Prefix + "monitors/{name}", methods: []method{
			{http.MethodGet, a.getMonitor},
			{http.MethodPut, a.putMonitor},
			{http.MethodDelete, a.deleteMonitor},
		}},
		{pattern: Prefix + "monitors/{name}/runs", methods: []method{
			{http.MethodGet, a.listRuns},
			{http.MethodPost, a.createRun},
		}},
		get(Prefix+"monitors/{name}/quality", a.monitorQuality),
		get(Prefix+"runs/{id}", a.getRun),
		get(Prefix+"runs/{id}/instances", a.listInstances),
		get(Prefix+"alerts", a.listAlerts),
		get(Prefix+"alerts/{id}", a.getAlert),
		{pattern: Prefix + "alerts/{id}/ack", methods: []method{{http.MethodPost, a.ackAlert}}},
		{pattern: Prefix + "silences", methods: []method{
			{http.MethodGet, a.listSilences},
			{http.MethodPost, a.createSilence},
		}},
		{pattern: Prefix + "silences/{id}", methods: []method{{http.MethodDelete, a.expireSilence}}},
		get(Prefix+"channels", a.listChannels),
		{pattern: Prefix + "channels/{name}/test", methods: []method{{http.MethodPost, a.testChannel}}},
		get(Prefix+"openapi.json", a.openAPI),
		{pattern: Prefix + "keys", methods: []method{
			{http.MethodGet, a.listKeys},
			{http.MethodPost, a.createKey},
		}},
		{pattern: Prefix + "keys/{id}", methods: []method{{http.MethodDelete, a.revokeKey}}},
	}
}

// RegisterHTTP adds the API's routes to mux: each route for its methods
// (GET also answering HEAD), a 405 JSON answer with Allow for other methods
// on the same paths, and a 404 JSON answer for every other path under
// Prefix.
func (a *API) RegisterHTTP(mux *http.ServeMux) {
	for _, rt := range a.routes() {
		for _, m := range rt.methods {
			mux.HandleFunc(m.name+" "+rt.pattern, a.serve(m.handler))
		}
		mux.HandleFunc(rt.pattern, a.methodNotAllowed(rt.allow()))
	}
	mux.HandleFunc(Prefix, a.notFound)
}

// serve answers a request with h, and with the error envelope when h
// fails.
func (a *API) serve(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	}
}

// methodNotAllowed answers 405 with the route's Allow header.
func (a *API) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		a.fail(w, r, &statusError{
			status: http.StatusMethodNotAllowed,
			msg:    fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, clip(r.URL.Path), allow),
		})
	}
}

func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, &statusError{
		status: http.StatusNotFound,
		msg:    fmt.Sprintf("no such endpoint: %s (the API is described at %sopenapi.json)", clip(r.URL.Path), Prefix),
	})
}

// listTraces serves GET /api/v1/traces.
func (a *API) listTraces(w http.ResponseWriter, r *http.Request) error {
	q, err := parseTraceQuery(r.URL.RawQuery, a.now())
	if err != nil {
		return err
	}
	ctx, cancel, err := a.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	page, err := a.traces.ListTraces(ctx, q)
	if err != nil {
		return fmt.Errorf("list traces: %w", err)
	}
	list := toTraceList(page.Traces, page.NextCursor)
	boundList(&list)
	a.writeJSON(w, r, list)
	return nil
}

// getTrace serves GET /api/v1/traces/{trace_id}: the trace as stored,
// with the judge results of monitor runs added as events of its root span
// (see addEvaluations).
func (a *API) getTrace(w http.ResponseWriter, r *http.Request) error {
	id, err := parseTraceID(r.PathValue("trace_id"))
	if err != nil {
		return err
	}
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	ctx, cancel, err := a.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	d, err := a.traces.GetTrace(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("trace %s not found", id)}
	}
	if err != nil {
		return fmt.Errorf("get trace %s: %w", id, err)
	}
	out := toDetail(d)
	// The judge results of monitor runs are shown as events on the root
	// span; without a result store there are none.
	if a.results != nil {
		evals, err := a.results.TraceEvaluations(ctx, id, maxTraceEvaluations)
		if err != nil {
			return fmt.Errorf("evaluations of trace %s: %w", id, err)
		}
		addEvaluations(&out, evals)
	}
	boundDetail(&out)
	a.writeJSON(w, r, out)
	return nil
}

// listServices serves GET /api/v1/services: a page of at most limit
// (default and most store.MaxLimit) services, by service and deployment,
// with a next_cursor while there are more.
func (a *API) listServices(w http.ResponseWriter, r *http.Request) error {
	vals, err := queryValues(r.URL.RawQuery, []string{"limit", "cursor"})
	if err != nil {
		return err
	}
	q := store.ServiceQuery{Limit: store.MaxLimit, Cursor: vals["cursor"]}
	if v, ok := vals["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return invalidParam("limit", v, fmt.Sprintf("must be an integer between 1 and %d", store.MaxLimit))
		}
		q.Limit = n
	}
	ctx, cancel, err := a.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	page, err := a.traces.ServicesPage(ctx, q)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	out := toServices(page.Services)
	out.NextCursor = page.NextCursor
	a.writeJSON(w, r, out)
	return nil
}

// openAPI serves GET /api/v1/openapi.json.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	a.write(w, http.StatusOK, openAPIDoc)
	return nil
}

// begin checks that the API can read traces and returns the context the
// reads run under.
func (a *API) begin(r *http.Request) (context.Context, context.CancelFunc, error) {
	if a.traces == nil {
		return nil, nil, errNoStore
	}
	return a.start(r)
}

// start checks readiness and returns the context a request's reads run
// under, bounded by the query timeout.
func (a *API) start(r *http.Request) (context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	if a.ready != nil {
		if err := a.ready(ctx); err != nil {
			cancel()
			return nil, nil, &notReadyError{err}
		}
	}
	return ctx, cancel, nil
}

// parseTraceID checks a trace id (32 hex digits, not all zero) and returns
// it in lowercase, the form the store keeps.
func parseTraceID(s string) (string, error) {
	bad := func(reason string) error {
		return &requestError{fmt.Sprintf("invalid trace id %q: %s", clip(s), reason)}
	}
	if len(s) != 32 {
		return "", bad(fmt.Sprintf("must be 32 hexadecimal digits, got %d characters", len(s)))
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return "", bad("must be 32 hexadecimal digits")
		}
		if c != '0' {
			zero = false
		}
	}
	if zero {
		return "", bad("the all-zero id is not a valid trace id")
	}
	return strings.ToLower(s), nil
}

// writeJSON writes v as a 200 response. It encodes fully before writing so
// that an encoding failure still gets a clean 500.
func (a *API) writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	a.writeJSONStatus(w, r, http.StatusOK, v)
}

// writeJSONStatus writes v as a response with the given status.
func (a *API) writeJSONStatus(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Text is shown as sent: the body is JSON served with nosniff, so <, >
	// and & need no escaping.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		a.fail(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	a.write(w, status, buf.Bytes())
}

// jsonType is the Content-Type of every JSON response.
const jsonType = "application/json; charset=utf-8"

func (a *API) write(w http.ResponseWriter, status int, body []byte) {
	a.writeTyped(w, status, jsonType, body)
}

// writeTyped writes a response with the headers every API response
// carries.
func (a *API) writeTyped(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fail writes err as the error envelope with the status statusOf gives it.
// Server-side failures are logged with the real error; the client sees a
// generic message.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := statusOf(err)
	switch {
	case status == http.StatusBadGateway:
		// A channel that did not take a test notification: not a failure
		// of this server. msg has the URLs cut, unlike err.
		a.log.Warn("api_upstream_failed", "err", msg, "method", r.Method, "path", clip(r.URL.Path))
	case status >= 500 && status != http.StatusServiceUnavailable:
		a.log.Error("api_request_failed", "err", err, "method", r.Method, "path", clip(r.URL.Path), "status", status)
	case status == http.StatusServiceUnavailable:
		a.log.Warn("api_request_refused", "err", err, "method", r.Method, "path", clip(r.URL.Path))
		w.Header().Set("Retry-After", "5")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Encoding these bodies (strings and integers) cannot fail.
	_ = enc.Encode(errorBody(err, msg))
	a.write(w, status, buf.Bytes())
}

// clip bounds a client-supplied string echoed in messages and logs.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
