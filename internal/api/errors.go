package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/store"
)

// statusClientClosedRequest is the status logged when the client went away
// before the answer was ready (the nginx convention; the client never sees
// it).
const statusClientClosedRequest = 499

// errNoStore is returned when the API was built without a trace reader,
// errNoRollups when it was built without a rollup reader, errNoMonitors
// when it was built without a monitor store, errNoRuns when it was built
// without the run and result stores, errNoScheduler when it has no way to
// start a run, errNoAlerts when it was built without an alert store,
// errNoNotifier when it cannot list or test notification channels.
var (
	errNoStore     = errors.New("no trace store configured")
	errNoRollups   = errors.New("no metrics store configured")
	errNoMonitors  = errors.New("no monitor store configured")
	errNoRuns      = errors.New("no run store configured")
	errNoScheduler = errors.New("the scheduler is not running")
	errNoAlerts    = errors.New("no alert store configured")
	errNoNotifier  = errors.New("the notifier is not running")
)

// maxProblems bounds the problems of an invalid monitor file listed in one
// answer.
const maxProblems = 100

// statusError is an error that carries its status and client message.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// notReadyError wraps the error of Options.Ready.
type notReadyError struct{ err error }

func (e *notReadyError) Error() string { return "server not ready: " + e.err.Error() }
func (e *notReadyError) Unwrap() error { return e.err }

// statusOf is the one table from errors to HTTP status and the message the
// client sees. Anything it does not know is a 500 with a generic message
// (the real error is logged by fail).
//
// Monitor files: a file that is not a valid monitor (its YAML does not
// parse, a key is unknown, a value is out of range, a judge connection is
// missing) is 422 with the problems listed (errorBody); a request that is
// wrong in itself (a bad name in the path, a name in the file that is not
// the one in the path, a malformed If-Match, an unknown parameter) is 400;
// a body of another media type 415; a body over the limit 413; a stale
// If-Match 409.
//
// A monitor that would go beyond monitors.max_monitors is 409, saying so.
//
// Test notifications: a channel that is not configured is 404; one that
// did not take the notification 502, with its error (URLs cut to scheme
// and host).
func statusOf(err error) (int, string) {
	var (
		se *statusError
		de *deliveryError
		re *requestError
		nr *notReadyError
		ve *monitor.ValidationError
		mb *http.MaxBytesError
		le *monitor.LimitError
	)
	switch {
	case errors.As(err, &se):
		return se.status, se.msg
	case errors.As(err, &de) && errors.Is(de.err, ErrUnknownChannel):
		return http.StatusNotFound, fmt.Sprintf("channel %q not found: the server configuration has no such channel (see %schannels)", de.channel, Prefix)
	case errors.As(err, &de):
		return http.StatusBadGateway, deliveryMessage(de)
	case errors.Is(err, ErrUnknownChannel):
		return http.StatusNotFound, "unknown notification channel"
	case errors.As(err, &re):
		return http.StatusBadRequest, re.msg
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, invalidMonitorMessage(ve)
	case errors.As(err, &le):
		return http.StatusConflict, le.Error()
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: at most %s", byteSize(mb.Limit))
	case errors.Is(err, store.ErrInvalidCursor):
		return http.StatusBadRequest, `invalid "cursor": not a cursor this server issued for this query; start again without it`
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "conflict: the resource changed meanwhile; read it again and retry"
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, store.ErrUnwritable):
		return http.StatusServiceUnavailable, "the store cannot write now (disk full, I/O error or read-only); retry later"
	case errors.As(err, &nr):
		return http.StatusServiceUnavailable, nr.Error()
	case errors.Is(err, errNoStore):
		return http.StatusServiceUnavailable, "server not ready: " + errNoStore.Error()
	case errors.Is(err, errNoRollups):
		return http.StatusServiceUnavailable, "server not ready: " + errNoRollups.Error()
	case errors.Is(err, errNoMonitors):
		return http.StatusServiceUnavailable, "server not ready: " + errNoMonitors.Error()
	case errors.Is(err, errNoRuns):
		return http.StatusServiceUnavailable, "server not ready: " + errNoRuns.Error()
	case errors.Is(err, errNoScheduler):
		return http.StatusServiceUnavailable, errNoScheduler.Error()
	case errors.Is(err, errNoAlerts):
		return http.StatusServiceUnavailable, "server not ready: " + errNoAlerts.Error()
	case errors.Is(err, errNoNotifier):
		return http.StatusServiceUnavailable, errNoNotifier.Error()
	case errors.Is(err, errNoKeys):
		return http.StatusServiceUnavailable, "server not ready: " + errNoKeys.Error()
	case errors.Is(err, store.ErrClosed):
		return http.StatusServiceUnavailable, "server not ready: the store is closed (shutting down)"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "the query took too long; narrow it (since, service, limit) and try again"
	case errors.Is(err, context.Canceled):
		return statusClientClosedRequest, "request canceled"
	}
	return http.StatusInternalServerError, "internal server error; the server log has the details"
}

// errorBody is the body of an error answer: {"error": msg}, plus the
// problems when err is an invalid monitor file.
func errorBody(err error, msg string) any {
	var ve *monitor.ValidationError
	if !errors.As(err, &ve) {
		return ErrorBody{Error: msg}
	}
	body := InvalidMonitorBody{Error: msg, Problems: make([]Problem, 0, min(len(ve.Problems), maxProblems))}
	for _, p := range ve.Problems[:min(len(ve.Problems), maxProblems)] {
		body.Problems = append(body.Problems, Problem{Path: p.Path, Line: p.Line, Column: p.Column, Message: p.Message})
	}
	return body
}

// invalidMonitorMessage is the message of an invalid monitor file: every
// problem (up to maxProblems), one a line.
func invalidMonitorMessage(ve *monitor.ValidationError) string {
	n := len(ve.Problems)
	lines := make([]string, 0, min(n, maxProblems))
	for _, p := range ve.Problems[:min(n, maxProblems)] {
		lines = append(lines, problemText(p))
	}
	switch {
	case n == 0:
		return "invalid monitor file"
	case n == 1:
		return "invalid monitor file: " + lines[0]
	case n > maxProblems:
		return fmt.Sprintf("invalid monitor file, %d problems (the first %d listed):\n%s", n, maxProblems, strings.Join(lines, "\n"))
	}
	return fmt.Sprintf("invalid monitor file, %d problems:\n%s", n, strings.Join(lines, "\n"))
}

// byteSize writes a size in bytes, in KiB or MiB when it is a whole number
// of them.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// problemText writes a problem as "line 7, column 3: window.lookback:
// message", leaving out what is unknown.
func problemText(p monitor.Problem) string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ", column %d", p.Column)
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}
