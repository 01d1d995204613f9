package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/flowwatch/flowwatch/internal/store"
)

// statusClientClosedRequest is the status logged when the client went away
// before the answer was ready (the nginx convention; the client never sees
// it).
const statusClientClosedRequest = 499

// errNoStore is returned when the API was built without a trace reader,
// errNoRollups when it was built without a rollup reader.
var (
	errNoStore   = errors.New("no trace store configured")
	errNoRollups = errors.New("no metrics store configured")
)

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
func statusOf(err error) (int, string) {
	var (
		se *statusError
		re *requestError
		nr *notReadyError
	)
	switch {
	case errors.As(err, &se):
		return se.status, se.msg
	case errors.As(err, &re):
		return http.StatusBadRequest, re.msg
	case errors.Is(err, store.ErrInvalidCursor):
		return http.StatusBadRequest, `invalid "cursor": not a cursor this server issued for this query; start again without it`
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.As(err, &nr):
		return http.StatusServiceUnavailable, nr.Error()
	case errors.Is(err, errNoStore):
		return http.StatusServiceUnavailable, "server not ready: " + errNoStore.Error()
	case errors.Is(err, errNoRollups):
		return http.StatusServiceUnavailable, "server not ready: " + errNoRollups.Error()
	case errors.Is(err, store.ErrClosed):
		return http.StatusServiceUnavailable, "server not ready: the store is closed (shutting down)"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "the query took too long; narrow it (since, service, limit) and try again"
	case errors.Is(err, context.Canceled):
		return statusClientClosedRequest, "request canceled"
	}
	return http.StatusInternalServerError, "internal server error; the server log has the details"
}
