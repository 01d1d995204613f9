package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Bounds of the run routes.
const (
	// defaultRunLimit and maxRunLimit bound GET /monitors/{name}/runs.
	defaultRunLimit = 20
	maxRunLimit     = 100
	// maxRunBodyBytes bounds the body of POST /monitors/{name}/runs (two
	// times and some white space).
	maxRunBodyBytes = 4 << 10
	// maxRunWindow bounds the window of a manual run.
	maxRunWindow = 366 * 24 * time.Hour
	// maxRunIDLen bounds a run id in a path.
	maxRunIDLen = 64
)

// instanceParams are the query parameters of GET /runs/{id}/instances, in
// the order messages and the OpenAPI document list them.
func instanceParams() []string { return []string{"metric", "status", "passed", "limit", "cursor"} }

// Instance pages: DefaultInstanceLimit instances unless limit says
// otherwise, at most MaxInstanceLimit.
const (
	DefaultInstanceLimit = 1000
	MaxInstanceLimit     = 10000
)

// listRuns serves GET /api/v1/monitors/{name}/runs: the monitor's runs,
// newest first. The runs of a deleted monitor stay readable; 404 only when
// there is neither the monitor nor any run of it.
func (a *API) listRuns(w http.ResponseWriter, r *http.Request) error {
	name, err := parseMonitorName(r.PathValue("name"))
	if err != nil {
		return err
	}
	q, err := queryValues(r.URL.RawQuery, []string{"limit"})
	if err != nil {
		return err
	}
	limit, err := parseRunLimit(q["limit"])
	if err != nil {
		return err
	}
	ctx, cancel, err := a.beginRuns(r)
	if err != nil {
		return err
	}
	defer cancel()
	runs, err := a.runs.ListRuns(ctx, name, limit)
	if err != nil {
		return fmt.Errorf("list runs of monitor %s: %w", name, err)
	}
	if len(runs) == 0 && a.monitors != nil {
		_, err := a.monitors.GetMonitor(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return monitorNotFound(name)
		}
		if err != nil {
			return fmt.Errorf("get monitor %s: %w", name, err)
		}
	}
	out := RunList{Runs: make([]Run, 0, len(runs))}
	for _, run := range runs {
		res, err := a.runResult(ctx, run.ID)
		if err != nil {
			return err
		}
		out.Runs = append(out.Runs, toRun(run, res))
	}
	a.writeJSON(w, r, out)
	return nil
}

// createRun serves POST /api/v1/monitors/{name}/runs: a manual run of the
// monitor, over the window in the body or, without one, over the window
// it would read now. The run is recorded pending and answered 202; a
// scheduler executes it.
func (a *API) createRun(w http.ResponseWriter, r *http.Request) error {
	name, err := parseMonitorName(r.PathValue("name"))
	if err != nil {
		return err
	}
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	body, err := readRunBody(w, r)
	if err != nil {
		return err
	}
	start, end, err := parseRunWindow(body)
	if err != nil {
		return err
	}
	if a.runNow == nil {
		return errNoScheduler
	}
	ctx, cancel, err := a.beginMonitors(r)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := a.monitors.GetMonitor(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return monitorNotFound(name)
		}
		return fmt.Errorf("get monitor %s: %w", name, err)
	}
	run, err := a.runNow(ctx, name, start, end)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted meanwhile.
		return monitorNotFound(name)
	}
	if err != nil {
		return fmt.Errorf("run monitor %s: %w", name, err)
	}
	w.Header().Set("Location", Prefix+"runs/"+run.ID)
	a.writeJSONStatus(w, r, http.StatusAccepted, CreatedRun{Run: toRun(run, nil)})
	return nil
}

// getRun serves GET /api/v1/runs/{id}: the run and, once it has one, its
// result.
func (a *API) getRun(w http.ResponseWriter, r *http.Request) error {
	id, err := parseRunID(r.PathValue("id"))
	if err != nil {
		return err
	}
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	ctx, cancel, err := a.beginRuns(r)
	if err != nil {
		return err
	}
	defer cancel()
	run, err := a.lookupRun(ctx, id)
	if err != nil {
		return err
	}
	res, err := a.runResult(ctx, id)
	if err != nil {
		return err
	}
	a.writeJSON(w, r, toRun(run, res))
	return nil
}

// listInstances serves GET /api/v1/runs/{id}/instances: the evaluations
// of a run, by metric and trace id, filtered by metric, status and (among
// the judged ones) whether they passed.
func (a *API) listInstances(w http.ResponseWriter, r *http.Request) error {
	id, err := parseRunID(r.PathValue("id"))
	if err != nil {
		return err
	}
	q, err := queryValues(r.URL.RawQuery, instanceParams())
	if err != nil {
		return err
	}
	iq, err := parseInstanceQuery(id, q)
	if err != nil {
		return err
	}
	ctx, cancel, err := a.beginRuns(r)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := a.lookupRun(ctx, id); err != nil {
		return err
	}
	limit := iq.Limit
	iq.Limit++ // one more says whether there is a next page
	list, err := a.results.RunInstances(ctx, iq)
	if err != nil {
		return fmt.Errorf("instances of run %s: %w", id, err)
	}
	out := InstanceList{Instances: make([]Instance, 0, min(len(list), limit))}
	if len(list) > limit {
		list = list[:limit]
		last := list[limit-1]
		out.NextCursor = instanceCursor(last.Metric, last.TraceID)
	}
	for _, in := range list {
		out.Instances = append(out.Instances, toInstance(in))
	}
	a.writeJSON(w, r, out)
	return nil
}

// beginRuns checks that the API has the run and result stores and returns
// the context the store calls run under.
func (a *API) beginRuns(r *http.Request) (context.Context, context.CancelFunc, error) {
	if a.runs == nil || a.results == nil {
		return nil, nil, errNoRuns
	}
	return a.start(r)
}

// lookupRun reads a run, answering 404 for an unknown id.
func (a *API) lookupRun(ctx context.Context, id string) (model.Run, error) {
	run, err := a.runs.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return model.Run{}, &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("run %q not found", id)}
	}
	if err != nil {
		return model.Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	return run, nil
}

// runResult reads a run's result; nil when it has none (yet).
func (a *API) runResult(ctx context.Context, id string) (*model.RunResult, error) {
	res, err := a.results.RunResult(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("result of run %s: %w", id, err)
	}
	return &res, nil
}

// parseRunLimit reads limit: 1 to maxRunLimit, defaultRunLimit when absent.
func parseRunLimit(v string) (int, error) {
	if v == "" {
		return defaultRunLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxRunLimit {
		return 0, invalidParam("limit", v, fmt.Sprintf("must be an integer from 1 to %d", maxRunLimit))
	}
	return n, nil
}

// parseRunID checks a run id given in a path: 1 to 64 letters, digits,
// '_' or '-'.
func parseRunID(s string) (string, error) {
	ok := len(s) > 0 && len(s) <= maxRunIDLen
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
	}
	if !ok {
		return "", &requestError{fmt.Sprintf("invalid run id %q: must be 1 to %d letters, digits, '_' or '-', as the API gives it", clip(s), maxRunIDLen)}
	}
	return s, nil
}

// parseInstanceFilter reads status and passed. passed selects among judged
// instances only, so it cannot go with another status.
// parseInstanceQuery reads the parameters of GET /runs/{id}/instances.
func parseInstanceQuery(runID string, q map[string]string) (store.InstanceQuery, error) {
	status, passed, err := parseInstanceFilter(q["status"], q["passed"])
	if err != nil {
		return store.InstanceQuery{}, err
	}
	iq := store.InstanceQuery{RunID: runID, Metric: q["metric"], Status: status, Passed: passed, Limit: DefaultInstanceLimit}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxInstanceLimit {
			return iq, invalidParam("limit", v, fmt.Sprintf("must be an integer between 1 and %d", MaxInstanceLimit))
		}
		iq.Limit = n
	}
	if v, ok := q["cursor"]; ok {
		b, err := base64.RawURLEncoding.Strict().DecodeString(v)
		metric, trace, found := strings.Cut(string(b), "\x00")
		if err != nil || !found || metric == "" || trace == "" {
			return iq, invalidParam("cursor", v, "is not a cursor this server gave (next_cursor of the previous page)")
		}
		iq.AfterMetric, iq.AfterTraceID = metric, trace
	}
	return iq, nil
}

// instanceCursor continues a list of instances after the given one.
func instanceCursor(metric, traceID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(metric + "\x00" + traceID))
}

func parseInstanceFilter(status, passed string) (model.InstanceStatus, *bool, error) {
	var st model.InstanceStatus
	switch s := model.InstanceStatus(status); s {
	case "", model.InstanceJudged, model.InstanceNotEvaluable, model.InstanceError:
		st = s
	default:
		return "", nil, invalidParam("status", status, `must be "judged", "not_evaluable" or "error"`)
	}
	if passed == "" {
		return st, nil, nil
	}
	p, err := parseBool("passed", passed)
	if err != nil {
		return "", nil, err
	}
	if st != "" && st != model.InstanceJudged {
		return "", nil, &requestError{fmt.Sprintf(`invalid "passed" with status %q: only judged instances pass or fail; leave out one of them`, st)}
	}
	return st, &p, nil
}

// readRunBody reads the optional body of a manual run: JSON, at most
// maxRunBodyBytes. An empty body needs no Content-Type.
func readRunBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := readBody(w, r, maxRunBodyBytes)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	header := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(header)
	switch {
	case strings.TrimSpace(header) == "":
		return nil, &statusError{status: http.StatusUnsupportedMediaType, msg: "missing Content-Type: send the run's window as application/json"}
	case err != nil || mt != "application/json":
		return nil, &statusError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("unsupported Content-Type %q: send the run's window as application/json", clip(header))}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, &statusError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("unsupported charset %q: the body must be UTF-8", clip(cs))}
	}
	return body, nil
}

// parseRunWindow reads the window of a manual run: nil, nil for an empty
// body (the monitor's own window, as of now).
func parseRunWindow(body []byte) (start, end *time.Time, err error) {
	if body == nil {
		return nil, nil, nil
	}
	var req RunRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, nil, &requestError{fmt.Sprintf(`invalid body: %v; send {"window_start": "...", "window_end": "..."} (RFC 3339 times), or nothing`, err)}
	}
	if dec.More() {
		return nil, nil, &requestError{"invalid body: more than one JSON value"}
	}
	parse := func(name string, v *string) (*time.Time, error) {
		if v == nil {
			return nil, nil
		}
		t, err := time.Parse(time.RFC3339Nano, *v)
		if err != nil {
			return nil, &requestError{fmt.Sprintf("invalid %q: must be an RFC 3339 time such as 2025-06-01T00:00:00Z, got %q", name, clip(*v))}
		}
		t = t.UTC()
		return &t, nil
	}
	if start, err = parse("window_start", req.WindowStart); err != nil {
		return nil, nil, err
	}
	if end, err = parse("window_end", req.WindowEnd); err != nil {
		return nil, nil, err
	}
	switch {
	case (start == nil) != (end == nil):
		return nil, nil, &requestError{`give both "window_start" and "window_end", or neither (the monitor's own window, as of now)`}
	case start == nil:
		return nil, nil, nil
	case !end.After(*start):
		return nil, nil, &requestError{fmt.Sprintf(`"window_end" (%s) must be after "window_start" (%s)`, end.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))}
	case end.Sub(*start) > maxRunWindow:
		return nil, nil, &requestError{fmt.Sprintf("the window is %s long; at most 366 days", end.Sub(*start).Round(time.Second))}
	}
	return start, end, nil
}
