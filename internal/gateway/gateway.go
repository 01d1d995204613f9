// Package gateway is the recording reverse proxy: a client that cannot be
// instrumented sends its requests to /gateway/{name}/... instead of its
// LLM endpoint; the gateway forwards them unchanged, returns the answer
// unchanged (streams chunk by chunk), and records each call as a trace
// through the same pipeline as OTLP traffic, off the request path.
package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// Kinds of gateway.
const (
	// KindOpenAI understands an OpenAI-compatible API (chat completions,
	// Responses, embeddings, legacy completions).
	KindOpenAI = "openai"
	// KindJSON reads any JSON endpoint through a Mapping.
	KindJSON = "json"
)

// KeyHeader is the header that carries a flowwatch API key through a
// gateway (Authorization and api-key belong to the upstream); the gateway
// removes it before forwarding.
const KeyHeader = "X-Flowwatch-Key"

// TailBytes is how much of the end of a truncated response body an
// Exchange keeps (ResponseTail).
const TailBytes = 64 << 10

// Defaults of Options.
const (
	DefaultTimeout        = 10 * time.Minute
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxRecordBytes = 1 << 20
)

// Mapping says where a json gateway finds a call's parts: paths into the
// request body (Question, ChatHistory) and the response body (the rest),
// in the syntax ValidatePath accepts. Empty paths are not read.
type Mapping struct {
	Question, ChatHistory                                          string
	Answer, Context, Model, InputTokens, OutputTokens, TotalTokens string
}

// Options configure one gateway.
type Options struct {
	// Name is the gateway's name: it is served at /gateway/{Name}/.
	Name string
	// Kind is KindOpenAI or KindJSON.
	Kind string
	// Upstream is the base URL requests go to: the path after
	// /gateway/{Name} is appended to its path, the query passed as is.
	Upstream *url.URL
	// Service and Deployment are recorded as service.name and
	// deployment.name.
	Service, Deployment string
	// Provider is recorded as gen_ai.provider.name; "" guesses it from the
	// upstream's host for KindOpenAI (openai, azure.ai.openai, ...).
	Provider string
	// RecordContent false keeps only metrics and token counts: no
	// messages, question, answer or documents are recorded.
	RecordContent bool
	// Timeout bounds a whole exchange (DefaultTimeout when 0),
	// ConnectTimeout the connection to the upstream.
	Timeout, ConnectTimeout time.Duration
	// MaxRecordBytes bounds how much of each body is kept for recording
	// (DefaultMaxRecordBytes when 0); the call itself is never bounded.
	MaxRecordBytes int
	// Mapping is a KindJSON gateway's mapping.
	Mapping Mapping
	// Recorder takes the exchanges; required.
	Recorder *Recorder
	// Transport reaches the upstream; nil builds one from the timeouts.
	Transport http.RoundTripper
}

// Gateway is one gateway: an http.Handler serving /gateway/{Name}/...
type Gateway struct {
	o   Options
	log *slog.Logger
	// prefix is "/gateway/{Name}": what ServeHTTP cuts from the path.
	prefix string
	proxy  *httputil.ReverseProxy
	// src is what the recorder needs to turn this gateway's exchanges into
	// spans, and this gateway's metrics.
	src *source
}

// namePattern is what a gateway name may look like: it is a path segment
// and a metric label.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// New checks o and returns the gateway. The configuration validates the
// same things with its own key paths; New repeats the checks because it is
// a public constructor, naming the Options field at fault.
func New(o Options, log *slog.Logger) (*Gateway, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Service == "" {
		o.Service = o.Name
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.Kind == KindOpenAI && o.Provider == "" {
		o.Provider = guessProvider(o.Upstream)
	}
	var m *mapping
	if o.Kind == KindJSON {
		var err error
		if m, err = compileMapping(o.Mapping); err != nil {
			return nil, fmt.Errorf("gateway %s: Mapping: %w", o.Name, err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "gateway", "gateway", o.Name)
	if o.Transport == nil {
		o.Transport = newTransport(o.ConnectTimeout)
	}
	g := &Gateway{o: o, log: log, prefix: "/gateway/" + o.Name}
	g.src = o.Recorder.source(o, m)
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      o.Transport,
		ModifyResponse: modifyResponse,
		ErrorHandler:   g.proxyError,
		BufferPool:     &bufferPool{},
		// ReverseProxy logs a body copy cut short (the caller gone, the
		// upstream broken); the exchange records it, so debug is enough.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return g, nil
}

// validate checks Options, naming the field at fault.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !namePattern.MatchString(o.Name) {
		bad("Name %q: want lower-case letters, digits, '-' and '_', starting with a letter or digit", o.Name)
	}
	switch o.Kind {
	case KindOpenAI:
		if o.Mapping != (Mapping{}) {
			bad("Mapping: only a %s gateway reads a mapping, this one is %s", KindJSON, KindOpenAI)
		}
	case KindJSON:
		if o.Mapping == (Mapping{}) {
			bad("Mapping: a %s gateway needs at least one path (Question, Answer, ...)", KindJSON)
		}
	default:
		bad("Kind %q: want %s or %s", o.Kind, KindOpenAI, KindJSON)
	}
	switch u := o.Upstream; {
	case u == nil:
		bad("Upstream: missing")
	case u.Scheme != "http" && u.Scheme != "https":
		bad("Upstream %q: want an absolute http:// or https:// URL", u.Redacted())
	case u.Host == "":
		bad("Upstream %q: no host", u.Redacted())
	case u.User != nil:
		bad("Upstream %q: no user or password in the URL (the caller's credentials pass through)", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery:
		bad("Upstream %q: no query string (the caller's query is passed as is)", u.Redacted())
	case u.Fragment != "":
		bad("Upstream %q: no fragment", u.Redacted())
	}
	if o.Timeout < 0 {
		bad("Timeout %v: want a positive duration (0 for the default %v)", o.Timeout, DefaultTimeout)
	}
	if o.ConnectTimeout < 0 {
		bad("ConnectTimeout %v: want a positive duration (0 for the default %v)", o.ConnectTimeout, DefaultConnectTimeout)
	}
	if o.MaxRecordBytes < 0 {
		bad("MaxRecordBytes %d: want a positive size (0 for the default %d)", o.MaxRecordBytes, DefaultMaxRecordBytes)
	}
	if o.Recorder == nil {
		bad("Recorder: missing")
	}
	if err := errors.Join(errs...); err != nil {
		if o.Name != "" {
			return fmt.Errorf("gateway %s: %w", o.Name, err)
		}
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// Name returns the gateway's name.
func (g *Gateway) Name() string { return g.o.Name }

// bufferPool lends ReverseProxy its body copy buffers, which it would
// otherwise allocate, 32 KiB each, for every request.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// newTransport returns the transport to one upstream. Compression is left
// to the two ends (Accept-Encoding and Content-Encoding pass untouched, the
// body is copied as it came), and the idle pool is sized for hundreds of
// requests a second to one host, which is what a gateway sees.
func newTransport(connect time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   connect,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   connect,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
