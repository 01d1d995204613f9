package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/flowwatch/flowwatch/internal/store"
)

// TraceEraser deletes traces (store.Eraser's DeleteTraces).
type TraceEraser interface {
	DeleteTraces(ctx context.Context, q store.TraceDeletion) (store.Deleted, error)
}

// Deletion bounds. One request deletes at most maxDeleteLimit traces, in
// transactions of deleteBatch, so that it answers in seconds and ingest is
// never held up for long; a client deleting more calls again while the
// answer says "more".
const (
	defaultDeleteLimit = 10000
	maxDeleteLimit     = 100000
	deleteBatch        = 1000
)

// deletion is the answer of both delete routes.
type deletion struct {
	Deleted deletedCounts `json:"deleted"`
	More    bool          `json:"more"`
}

type deletedCounts struct {
	Traces      int64 `json:"traces"`
	Spans       int64 `json:"spans"`
	LogRecords  int64 `json:"log_records"`
	Evaluations int64 `json:"evaluations"`
}

func toDeletion(d store.Deleted) deletion {
	return deletion{
		Deleted: deletedCounts{Traces: d.Traces, Spans: d.Spans, LogRecords: d.LogRecords, Evaluations: d.Evaluations},
		More:    d.More,
	}
}

// deleteTrace serves DELETE /api/v1/traces/{trace_id}: the trace, its
// spans, log records and evaluations are deleted (404 when there is no
// such trace). The operational metrics it fed stay.
func (a *API) deleteTrace(w http.ResponseWriter, r *http.Request) error {
	id, err := parseTraceID(r.PathValue("trace_id"))
	if err != nil {
		return err
	}
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	if a.eraser == nil {
		return errNoStore
	}
	ctx, cancel, err := a.start(r)
	if err != nil {
		return err
	}
	defer cancel()
	d, err := a.eraser.DeleteTraces(ctx, store.TraceDeletion{TraceIDs: []string{id}})
	if err != nil {
		return fmt.Errorf("delete trace %s: %w", id, err)
	}
	if d.Traces == 0 {
		return &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("trace %s not found", id)}
	}
	a.log.Info("traces_deleted", "traces", d.Traces, "by", "id")
	a.writeJSON(w, r, toDeletion(d))
	return nil
}

// deleteTraces serves DELETE /api/v1/traces: the traces of a service
// (and deployment), of a user id and/or started in [since, until), oldest
// first, at most limit of them; "more" says whether traces are left to
// delete. A request without service, user_id, since or until is refused:
// deleting everything is not an accident this route allows.
func (a *API) deleteTraces(w http.ResponseWriter, r *http.Request) error {
	vals, err := queryValues(r.URL.RawQuery, []string{"service", "deployment", "user_id", "since", "until", "limit"})
	if err != nil {
		return err
	}
	q := store.TraceDeletion{Service: vals["service"], Deployment: vals["deployment"], UserID: vals["user_id"]}
	for _, name := range []string{"since", "until"} {
		v, ok := vals[name]
		if !ok {
			continue
		}
		t, err := parseTime(v, a.now())
		if err != nil {
			return invalidParam(name, v, err.Error())
		}
		if name == "since" {
			q.Start = t
		} else {
			q.End = t
		}
	}
	if !q.Start.IsZero() && !q.End.IsZero() && !q.End.After(q.Start) {
		return invalidParam("until", vals["until"], fmt.Sprintf(`must be later than "since" (%s)`, q.Start.Format(time.RFC3339Nano)))
	}
	if q.Deployment != "" && q.Service == "" {
		return invalidParam("deployment", q.Deployment, `needs "service"`)
	}
	if q.Service == "" && q.UserID == "" && q.Start.IsZero() && q.End.IsZero() {
		return &requestError{`nothing selected: give at least one of "service", "user_id", "since" and "until" (to delete one trace, DELETE ` + Prefix + `traces/{trace_id})`}
	}
	limit := defaultDeleteLimit
	if v, ok := vals["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDeleteLimit {
			return invalidParam("limit", v, fmt.Sprintf("must be an integer between 1 and %d", maxDeleteLimit))
		}
		limit = n
	}
	if a.eraser == nil {
		return errNoStore
	}
	if a.ready != nil {
		if err := a.ready(r.Context()); err != nil {
			return &notReadyError{err}
		}
	}
	// Batches run under the request's context (not the query timeout): a
	// client that gives up stops the deletion after the batch in hand,
	// and what was deleted stays deleted.
	var total store.Deleted
	for {
		q.Limit = min(deleteBatch, limit-int(total.Traces))
		d, err := a.eraser.DeleteTraces(r.Context(), q)
		total.Add(d)
		if err != nil {
			if total.Traces > 0 {
				a.log.Info("traces_deleted", "traces", total.Traces, "by", "filter")
			}
			return fmt.Errorf("delete traces (after %d deleted): %w", total.Traces, err)
		}
		total.More = d.More
		if !d.More || int(total.Traces) >= limit {
			break
		}
	}
	a.log.Info("traces_deleted", "traces", total.Traces, "by", "filter", "more", total.More)
	a.writeJSON(w, r, toDeletion(total))
	return nil
}
