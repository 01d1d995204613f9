package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

// Middleware wraps h with panic recovery, a request id and an access log
// at debug level.
func Middleware(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if id == "" || len(id) > 128 {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		rw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("handler_panic", "request_id", id, "method", r.Method, "path", r.URL.Path,
					"panic", p, "stack", string(debug.Stack()))
				if !rw.wrote {
					rw.Header().Set("Content-Type", "application/json; charset=utf-8")
					rw.WriteHeader(http.StatusInternalServerError)
					_, _ = rw.Write([]byte(`{"error":"internal error"}` + "\n"))
				}
			}
			log.Debug("http_request", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", rw.status(), "bytes", rw.bytes, "duration_ms", time.Since(start).Milliseconds())
		}()
		h.ServeHTTP(rw, r)
	})
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) status() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// LongRequest lets each request of h take up to d, from when its headers
// are in, to arrive and to be answered, instead of the server's
// ReadTimeout (and no write deadline): for proxied calls, whose own
// timeout governs. A large upload to a slow link (an audio file sent
// through the gateway) can take longer than ReadTimeout, and a streamed
// answer to a client that stopped reading must not hold its connection
// for ever.
func LongRequest(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(d)
		// Not supported (a test recorder): the server's limits stay.
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline)
		// Both are the server's again for the connection's next request:
		// net/http sets them anew once this one is answered.
		h.ServeHTTP(w, r)
	})
}
