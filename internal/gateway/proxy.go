package gateway

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The request path: ServeHTTP starts an Exchange, the ReverseProxy's hooks
// (rewrite, modifyResponse, proxyError) fill it as the exchange goes, and
// finish hands it to the recorder when the handler ends, however it ends.
// Nothing here parses a body: the bodies are copied as they stream past,
// up to MaxRecordBytes, and read later on the recorder's goroutine.

// flightKey is the context key under which ServeHTTP leaves the exchange
// in flight for the proxy's hooks, which see only the request.
type flightKey struct{}

// flight is one exchange in flight.
type flight struct {
	x Exchange
	// caller is the caller's request context: done when the caller went
	// away. ctx is caller bounded by the gateway's timeout.
	caller, ctx context.Context
	// rawPath is the escaped form of x.Path when it differs from the
	// default encoding (the caller sent %2F, say).
	rawPath string
	// traced says the caller sent a valid traceparent; flags are its
	// trace flags, forwarded as they came.
	traced bool
	flags  trace.TraceFlags
	// max is the gateway's MaxRecordBytes; budget the recorder's bound
	// on what all exchanges in flight capture.
	max    int
	budget *captureBudget
	req    *requestCapture
	resp   *responseCapture
	// answered says the gateway answered the caller itself (502, 504).
	answered bool
	// writeErr is the first failed write to the caller.
	writeErr error
	// preset are the headers the server had set before the gateway ran
	// (its X-Request-Id), kept for the gateway's own answers.
	preset http.Header
}

// ServeHTTP proxies one request to the upstream and records the exchange.
// r.URL.Path is the full path, /gateway/{Name}/rest.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rest, ok := strings.CutPrefix(r.URL.Path, g.prefix)
	if !ok || rest == "" || rest[0] != '/' {
		writeError(w, http.StatusNotFound, "not_found", "flowwatch gateway: no such path on gateway "+g.o.Name)
		return
	}
	f := &flight{caller: r.Context(), max: g.o.MaxRecordBytes, budget: g.o.Recorder.capture}
	f.x = Exchange{
		Gateway:            g.o.Name,
		Method:             r.Method,
		Path:               rest,
		RequestContentType: r.Header.Get("Content-Type"),
		RequestEncoding:    r.Header.Get("Content-Encoding"),
		Start:              start,
	}
	if r.URL.RawPath != "" {
		f.rawPath, _ = strings.CutPrefix(r.URL.RawPath, g.prefix)
	}
	traceContext(f, r.Header)
	f.x.credentials = credentials(r.Header, r.URL.RawQuery)

	// A whole exchange, streams included, is bounded by the timeout. The
	// server's own read timeout is shorter (it protects the other routes
	// from slow clients), and when it passes the server cancels the
	// request: a long stream would be cut. The gateway's timeout takes its
	// place for this request; the server sets its deadline again for the
	// connection's next request.
	ctx, cancel := context.WithTimeout(r.Context(), g.o.Timeout)
	defer cancel()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(start.Add(g.o.Timeout))
	// The transport reads the caller's body on a goroutine of its own and,
	// having sent Content-Length bytes, reads once more to check there are
	// no more. An HTTP/1 server drains and closes the request body when
	// the answer's headers are written, which the upstream's answer may
	// beat that last read to: it then fails, and the transport closes the
	// upstream connection under the answer being copied (golang/go#40747;
	// 3 streams in 1,000 cut at 500 requests/s in bench gateway). Full
	// duplex leaves the body to the transport while the answer is written.
	// HTTP/2 is full duplex already and says so with an error.
	_ = rc.EnableFullDuplex()
	f.ctx = ctx
	out := r.WithContext(context.WithValue(ctx, flightKey{}, f))
	if r.Body != nil && r.Body != http.NoBody {
		f.req = &requestCapture{rc: r.Body}
		f.req.c.init(f.max, 0, r.ContentLength, f.budget)
		out.Body = f.req
	}
	// ReverseProxy adds the upstream's headers to those already set: the
	// server's own X-Request-Id would go out next to the upstream's, and a
	// client reading the first would take flowwatch's id for OpenAI's.
	// The caller gets the upstream's headers alone; the gateway's own
	// answers (502, 504) get the server's back.
	f.preset = w.Header().Clone()
	clear(w.Header())
	rw := &responseWriter{ResponseWriter: w, f: f}
	completed := false
	// finish runs however the handler ends, also when ReverseProxy
	// aborts a response cut short with panic(http.ErrAbortHandler), which
	// goes on to the server once the exchange is recorded.
	defer func() { g.finish(f, completed) }()
	g.proxy.ServeHTTP(rw, out)
	completed = true
}

// traceContext reads the caller's W3C trace context into f, or starts a
// new trace, and draws the gateway's two span ids.
func traceContext(f *flight, h http.Header) {
	if len(h["Traceparent"]) > 0 {
		ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h))
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			f.traced, f.flags = true, sc.TraceFlags()
			f.x.TraceID, f.x.ParentSpanID = sc.TraceID(), sc.SpanID()
			f.x.TraceState = sc.TraceState().String()
		}
	}
	if !f.traced {
		for f.x.TraceID == ([16]byte{}) {
			binary.LittleEndian.PutUint64(f.x.TraceID[:8], rand.Uint64())
			binary.LittleEndian.PutUint64(f.x.TraceID[8:], rand.Uint64())
		}
	}
	f.x.ServerSpanID = newSpanID()
	f.x.ClientSpanID = newSpanID()
	for f.x.ClientSpanID == f.x.ServerSpanID {
		f.x.ClientSpanID = newSpanID()
	}
}

// newSpanID draws a span id. Span ids need to be unique, not secret:
// math/rand's generator is enough and far cheaper than crypto/rand.
func newSpanID() (id [8]byte) {
	for id == ([8]byte{}) {
		binary.LittleEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// rewrite makes the outbound request: the upstream's base path joined
// with the rest of the path, the query as is, the caller's headers but the
// flowwatch key, and the caller's trace continued under the gateway's
// client span. ReverseProxy has already removed the hop-by-hop and
// X-Forwarded-* headers, and adds none of its own with Rewrite.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	f, _ := pr.In.Context().Value(flightKey{}).(*flight)
	if f == nil {
		return // not through ServeHTTP: proxyError answers
	}
	pr.Out.URL.Path, pr.Out.URL.RawPath = f.x.Path, f.rawPath
	pr.SetURL(g.o.Upstream)
	h := pr.Out.Header
	h.Del(KeyHeader)
	narrowAcceptEncoding(h)
	if f.traced {
		h.Set("Traceparent", traceparent(f.x.TraceID, f.x.ClientSpanID, f.flags))
	}
}

// traceparent formats a version 00 traceparent header.
func traceparent(tid [16]byte, sid [8]byte, flags trace.TraceFlags) string {
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(flags)})
	return string(b[:])
}

// readableEncodings are the content codings the recorder can decode. A
// caller that accepts others too (br, zstd) is offered only these, so that
// what is recorded can be read; the caller still gets an encoding it
// asked for.
var readableEncodings = map[string]bool{"gzip": true, "x-gzip": true, "deflate": true, "identity": true}

// narrowAcceptEncoding removes from Accept-Encoding the codings the
// recorder cannot read, leaving identity when none is left.
func narrowAcceptEncoding(h http.Header) {
	vs := h["Accept-Encoding"]
	if len(vs) == 0 {
		return
	}
	narrow := false
	for _, v := range vs {
		for e := range strings.SplitSeq(v, ",") {
			if !readableCoding(e) {
				narrow = true
			}
		}
	}
	if !narrow {
		return
	}
	var keep []string
	for _, v := range vs {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" && readableCoding(e) {
				keep = append(keep, e)
			}
		}
	}
	if len(keep) == 0 {
		h.Set("Accept-Encoding", "identity")
		return
	}
	h.Set("Accept-Encoding", strings.Join(keep, ", "))
}

// readableCoding says whether an Accept-Encoding element ("gzip;q=0.8")
// names a coding the recorder can read; an empty element is harmless.
func readableCoding(e string) bool {
	coding, _, _ := strings.Cut(e, ";")
	coding = strings.ToLower(strings.TrimSpace(coding))
	return coding == "" || readableEncodings[coding]
}

// modifyResponse notes the upstream's answer and starts copying its body
// as it streams to the caller.
func modifyResponse(res *http.Response) error {
	if res.Request == nil {
		return nil
	}
	f, _ := res.Request.Context().Value(flightKey{}).(*flight)
	if f == nil {
		return nil
	}
	f.x.Status = res.StatusCode
	f.x.ResponseHeader = res.Header.Clone()
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The upgraded connection's body must stay the transport's
		// read-write one; what flows over it is not recorded.
		return nil
	}
	f.resp = &responseCapture{rc: res.Body}
	f.resp.c.init(f.max, TailBytes, res.ContentLength, f.budget)
	res.Body = f.resp
	return nil
}

// proxyError answers when no response came from the upstream: the caller
// gone (nothing to answer), the caller's body unreadable, the timeout
// passed (504) or the upstream unreachable (502).
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	f, _ := r.Context().Value(flightKey{}).(*flight)
	if f == nil {
		g.log.Error("proxy_error_outside_exchange", "err", err)
		writeError(w, http.StatusBadGateway, "gateway_error", "flowwatch gateway: internal error")
		return
	}
	// A url.Error names the URL, whose query may carry a key; its cause
	// says all that matters.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	x := &f.x
	var mbe *http.MaxBytesError
	switch {
	case f.caller.Err() != nil:
		x.Err, x.ErrorType = fmt.Errorf("caller went away before the upstream answered: %w", err), "canceled"
		return
	case f.req != nil && f.req.readErr() != nil && errors.As(f.req.readErr(), &mbe):
		x.Err, x.ErrorType = fmt.Errorf("request body: %w", f.req.readErr()), "canceled"
		g.answer(w, f, http.StatusRequestEntityTooLarge, "request_too_large",
			fmt.Sprintf("flowwatch gateway: request body larger than %d bytes", mbe.Limit))
	case f.req != nil && f.req.readErr() != nil:
		x.Err, x.ErrorType = fmt.Errorf("request body: %w", f.req.readErr()), "canceled"
		g.answer(w, f, http.StatusBadRequest, "request_body_unreadable",
			"flowwatch gateway: could not read the request body")
	case errors.Is(f.ctx.Err(), context.DeadlineExceeded):
		x.Err, x.ErrorType = fmt.Errorf("no answer within %v: %w", g.o.Timeout, err), "timeout"
		g.answer(w, f, http.StatusGatewayTimeout, "upstream_timeout",
			fmt.Sprintf("flowwatch gateway: upstream %s did not answer within %v", g.o.Upstream.Host, g.o.Timeout))
	default:
		x.Err, x.ErrorType = fmt.Errorf("upstream: %w", err), "upstream_unreachable"
		g.answer(w, f, http.StatusBadGateway, "upstream_unreachable",
			fmt.Sprintf("flowwatch gateway: cannot reach upstream %s: %v", g.o.Upstream.Host, err))
	}
}

// answer writes the gateway's own error reply and records it as what the
// caller got.
func (g *Gateway) answer(w http.ResponseWriter, f *flight, status int, code, msg string) {
	for k, v := range f.preset {
		w.Header()[k] = v
	}
	body := writeError(w, status, code, msg)
	f.answered = true
	f.x.Status = status
	f.x.ResponseHeader = w.Header().Clone()
	f.x.ResponseBody = body
}

// writeError writes an error in the OpenAI error envelope, which OpenAI
// clients know how to show, and returns the body written.
func writeError(w http.ResponseWriter, status int, code, msg string) []byte {
	type detail struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	}
	body, _ := json.Marshal(struct {
		Error detail `json:"error"`
	}{detail{msg, "gateway_error", code}})
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return body
}

// finish completes the exchange and hands it to the recorder. completed
// says ReverseProxy returned normally rather than aborting.
func (g *Gateway) finish(f *flight, completed bool) {
	x := &f.x
	x.End = time.Now()
	if f.req != nil {
		x.RequestBody, x.RequestTruncated = f.req.freeze()
		f.req.c.release()
	}
	if f.resp != nil {
		x.ResponseBody, x.ResponseTruncated, x.ResponseTail = f.resp.c.result()
		f.resp.c.release()
	}
	if x.Err == nil {
		switch {
		case f.writeErr != nil:
			x.Err, x.ErrorType = fmt.Errorf("caller went away during the answer: %w", f.writeErr), "canceled"
		case f.resp != nil && f.resp.err != nil:
			g.cut(f, f.resp.err)
		case !completed:
			g.cut(f, errors.New("response copy aborted"))
		}
	}
	g.src.observe(x, f.answered)
	g.o.Recorder.Record(g, x)
}

// cut classifies an answer that broke off after it began.
func (g *Gateway) cut(f *flight, err error) {
	x := &f.x
	switch {
	case f.caller.Err() != nil:
		x.Err, x.ErrorType = fmt.Errorf("caller went away during the answer: %w", err), "canceled"
	case errors.Is(f.ctx.Err(), context.DeadlineExceeded):
		x.Err, x.ErrorType = fmt.Errorf("answer not complete within %v: %w", g.o.Timeout, err), "timeout"
	default:
		x.Err, x.ErrorType = fmt.Errorf("upstream answer cut short: %w", err), "stream_broken"
	}
}

// responseWriter notes when the answer's first byte goes out and whether
// writing to the caller failed. Flushes reach the server's writer through
// Unwrap (http.ResponseController), so streams stay unbuffered.
type responseWriter struct {
	http.ResponseWriter
	f *flight
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if len(p) > 0 && w.f.x.FirstByte.IsZero() {
		w.f.x.FirstByte = time.Now()
	}
	n, err := w.ResponseWriter.Write(p)
	if err != nil && w.f.writeErr == nil {
		w.f.writeErr = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// FlushError flushes what was written to the caller (ReverseProxy does
// after every write of a stream).
func (w *responseWriter) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush is there for callers that look for http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// responseCapture copies the upstream's body as ReverseProxy reads it and
// keeps the read error that cut it short. Only the handler's goroutine
// reads it.
type responseCapture struct {
	rc  io.ReadCloser
	c   capture
	err error
}

func (b *responseCapture) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.c.write(p[:n])
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *responseCapture) Close() error { return b.rc.Close() }

// requestCapture copies the caller's body as the transport reads it. The
// transport reads on a goroutine of its own, which may outlive the
// handler, hence the lock and freeze.
type requestCapture struct {
	rc     io.ReadCloser
	mu     sync.Mutex
	c      capture
	err    error
	frozen bool
}

func (b *requestCapture) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	if !b.frozen {
		b.c.write(p[:n])
		if err != nil && err != io.EOF && b.err == nil {
			b.err = err
		}
	}
	b.mu.Unlock()
	return n, err
}

func (b *requestCapture) Close() error { return b.rc.Close() }

func (b *requestCapture) readErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// freeze stops the copy and returns it; reads still in flight pass
// through uncopied, so the bytes returned are never written again.
func (b *requestCapture) freeze() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.frozen = true
	head, truncated, _ := b.c.result()
	return head, truncated
}

// capture keeps a bounded copy of a body: its first max bytes and, past
// those, its last tail bytes in a ring.
type capture struct {
	max, tail int
	head      []byte
	ring      []byte
	pos       int  // next write in ring once it is full
	full      bool // the ring has wrapped
	more      bool // bytes went past head
	// budget is the memory all exchanges in flight may capture; held is
	// what this capture took of it, given back by release. A capture
	// the budget cannot grow stops (and says it was truncated): the call
	// goes on unchanged.
	budget *captureBudget
	held   int
}

// init sets the bounds; size, when known (Content-Length), saves the
// head's reallocations when the budget has room for it.
func (c *capture) init(max, tail int, size int64, budget *captureBudget) {
	c.max, c.tail, c.budget = max, tail, budget
	if n := int(min(size, int64(max))); n > 0 && c.budget.take(n) {
		c.head, c.held = make([]byte, 0, n), n
	}
}

// allow takes from the budget what keeping n more bytes needs beyond
// what the capture holds, and returns how many of the n it may keep.
func (c *capture) allow(n int) int {
	need := len(c.head) + len(c.ring) + n - c.held
	if need <= 0 {
		return n
	}
	got := c.budget.takeUpTo(need)
	c.held += got
	return n - (need - got)
}

// release gives what the capture took back to the budget: its bytes are
// the Exchange's now, counted by the recorder's queue.
func (c *capture) release() {
	c.budget.give(c.held)
	c.held = 0
}

func (c *capture) write(p []byte) {
	if len(p) == 0 {
		return
	}
	if room := c.max - len(c.head); room > 0 {
		want := min(room, len(p))
		n := c.allow(want)
		c.head = append(c.head, p[:n]...)
		if n < want {
			// Over the budget: what is kept stays as it is, and the
			// budget is not asked again.
			c.more, c.max, c.tail = true, len(c.head), 0
			return
		}
		p = p[n:]
		if len(p) == 0 {
			return
		}
	}
	c.more = true
	if c.tail == 0 {
		return
	}
	if want := min(c.tail-len(c.ring), len(p)); want > 0 && c.allow(want) < want {
		c.tail, c.ring, c.pos, c.full = 0, nil, 0, false // over the budget: no tail
		return
	}
	if len(p) >= c.tail {
		// The write alone fills the ring: keep its end.
		c.ring = append(c.ring[:0], p[len(p)-c.tail:]...)
		c.pos, c.full = 0, true
		return
	}
	if !c.full {
		if room := c.tail - len(c.ring); room > 0 {
			n := min(room, len(p))
			c.ring = append(c.ring, p[:n]...)
			p = p[n:]
			if len(c.ring) == c.tail {
				c.full = true
			}
		}
	}
	for len(p) > 0 {
		n := copy(c.ring[c.pos:], p)
		p = p[n:]
		c.pos = (c.pos + n) % c.tail
	}
}

// result returns the head, whether bytes went past it, and the tail in
// order.
func (c *capture) result() (head []byte, truncated bool, tail []byte) {
	if !c.more {
		return c.head, false, nil
	}
	if !c.full || c.pos == 0 {
		return c.head, true, c.ring
	}
	tail = make([]byte, 0, len(c.ring))
	tail = append(tail, c.ring[c.pos:]...)
	tail = append(tail, c.ring[:c.pos]...)
	return c.head, true, tail
}

// captureBudget bounds the memory the bodies of all exchanges in flight
// may take for recording (up to max_record_bytes each, and a tail): a
// thousand streams at once must not take gigabytes. Past it an exchange
// keeps what it has and is recorded as truncated; no call is refused or
// slowed for it. A nil budget is unbounded.
type captureBudget struct{ left atomic.Int64 }

func newCaptureBudget(n int64) *captureBudget {
	b := &captureBudget{}
	b.left.Store(n)
	return b
}

// takeUpTo takes up to n bytes and returns how many it took.
func (b *captureBudget) takeUpTo(n int) int {
	if b == nil {
		return n
	}
	for {
		left := b.left.Load()
		if left <= 0 {
			return 0
		}
		got := min(left, int64(n))
		if b.left.CompareAndSwap(left, left-got) {
			return int(got)
		}
	}
}

// take takes n bytes if the budget has them.
func (b *captureBudget) take(n int) bool {
	if b == nil {
		return true
	}
	if b.left.Add(-int64(n)) >= 0 {
		return true
	}
	b.left.Add(int64(n))
	return false
}

// give returns n bytes.
func (b *captureBudget) give(n int) {
	if b != nil && n > 0 {
		b.left.Add(int64(n))
	}
}
