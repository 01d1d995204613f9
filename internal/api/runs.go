package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/textclip"
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
func instanceParams() []string {
	return []string{"metric", "status", "passed", "limit", "cursor", "format"}
}

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
// the judged ones) whether they passed, each with its trace's question and
// the start of its answer. With format=csv the instances are streamed as
// CSV instead (see writeInstancesCSV).
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
	asCSV, err := parseInstanceFormat(q["format"])
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
	if asCSV {
		if _, given := q["limit"]; !given {
			iq.Limit = 0
		}
		return a.writeInstancesCSV(w, r, iq)
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
	sums, err := a.instanceSummaries(ctx, list, store.MaxSummaryIDs)
	if err != nil {
		return fmt.Errorf("instances of run %s: %w", id, err)
	}
	for _, in := range list {
		out.Instances = append(out.Instances, withSummary(toInstance(in), sums))
	}
	a.writeJSON(w, r, out)
	return nil
}

// SummaryReader reads the summaries (question, answer) of many traces at
// once; store.SummaryReader is one. Unknown ids are left out of the map.
type SummaryReader interface {
	TraceSummaries(ctx context.Context, ids []string) (map[string]model.Trace, error)
}

// The question and answer an instance carries are cut to these many
// characters: enough to read a page of failures without opening each
// trace (whose whole text GET /traces/{trace_id} gives).
const (
	MaxInstanceQuestionRunes = 1000
	MaxInstanceAnswerRunes   = 300
)

// instanceSummaries reads the summaries of the instances' traces, batch
// ids per call; none without a summary reader. A trace the store no
// longer holds (retention) is left out.
func (a *API) instanceSummaries(ctx context.Context, list []model.Instance, batch int) (map[string]model.Trace, error) {
	out := map[string]model.Trace{}
	if a.summaries == nil || len(list) == 0 {
		return out, nil
	}
	seen := make(map[string]bool, len(list))
	ids := make([]string, 0, min(len(list), batch))
	read := func() error {
		if len(ids) == 0 {
			return nil
		}
		got, err := a.summaries.TraceSummaries(ctx, ids)
		if err != nil {
			return fmt.Errorf("read the questions and answers of %d traces: %w", len(ids), err)
		}
		maps.Copy(out, got)
		ids = ids[:0]
		return nil
	}
	for _, in := range list {
		if seen[in.TraceID] {
			continue
		}
		seen[in.TraceID] = true
		ids = append(ids, in.TraceID)
		if len(ids) == batch {
			if err := read(); err != nil {
				return nil, err
			}
		}
	}
	if err := read(); err != nil {
		return nil, err
	}
	return out, nil
}

// withSummary gives an instance its trace's question and clipped answer.
func withSummary(in Instance, sums map[string]model.Trace) Instance {
	tr, ok := sums[in.TraceID]
	if !ok {
		return in
	}
	in.Question, in.QuestionTruncated = textclip.Runes(tr.Question, MaxInstanceQuestionRunes)
	in.Answer, in.AnswerTruncated = textclip.Runes(tr.Answer, MaxInstanceAnswerRunes)
	return in
}

// parseInstanceFormat reads format: json (the default) or csv.
func parseInstanceFormat(v string) (csv bool, err error) {
	switch v {
	case "", "json":
		return false, nil
	case "csv":
		return true, nil
	}
	return false, invalidParam("format", v, `must be "json" or "csv"`)
}

// csvPageSize is how many instances a CSV export reads at a time: one
// page is all it holds in memory, and one summary call reads its traces.
const csvPageSize = store.MaxSummaryIDs

// instanceCSVHeader is the header row of a CSV export: the fields of
// Instance, in their order.
var instanceCSVHeader = []string{"metric", "trace_id", "status", "score", "passed", "reason", "error", "raw_reply",
	"judge_model", "prompt_version", "question", "question_truncated", "answer", "answer_truncated"}

// csvType is the Content-Type of a CSV export.
const csvType = "text/csv; charset=utf-8"

// writeInstancesCSV streams the instances iq selects as CSV (RFC 4180,
// header row first), csvPageSize at a time, each page read under its own
// query timeout, so that a run of any size is exported in bounded memory.
// iq.Limit bounds the rows (0: every one). A failure before the first row
// is answered as any error; one after the answer began aborts it, so that
// the client sees a broken transfer rather than a file that looks whole.
func (a *API) writeInstancesCSV(w http.ResponseWriter, r *http.Request, iq store.InstanceQuery) error {
	left := iq.Limit // rows still to write when bounded
	page := func() ([]model.Instance, map[string]model.Trace, error) {
		ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
		defer cancel()
		q := iq
		q.Limit = csvPageSize
		if iq.Limit > 0 {
			q.Limit = min(q.Limit, left)
		}
		list, err := a.results.RunInstances(ctx, q)
		if err != nil {
			return nil, nil, fmt.Errorf("instances of run %s: %w", iq.RunID, err)
		}
		sums, err := a.instanceSummaries(ctx, list, csvPageSize)
		if err != nil {
			return nil, nil, fmt.Errorf("instances of run %s: %w", iq.RunID, err)
		}
		return list, sums, nil
	}
	list, sums, err := page()
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", csvType)
	// The run id is letters, digits, '_' and '-' (parseRunID): nothing to
	// quote in a file name.
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="run-%s-instances.csv"`, iq.RunID))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	rc := http.NewResponseController(w)
	cw := csv.NewWriter(w)
	_ = cw.Write(instanceCSVHeader)
	for {
		for _, in := range list {
			_ = cw.Write(instanceCSVRow(withSummary(toInstance(in), sums)))
		}
		cw.Flush()
		if cw.Error() != nil {
			return nil // the client went away: nobody to tell
		}
		_ = rc.Flush()
		left -= len(list)
		if len(list) < csvPageSize || (iq.Limit > 0 && left <= 0) {
			return nil
		}
		last := list[len(list)-1]
		iq.AfterMetric, iq.AfterTraceID = last.Metric, last.TraceID
		if list, sums, err = page(); err != nil {
			if r.Context().Err() == nil {
				a.log.Error("api_export_failed", "err", err, "run", iq.RunID)
			}
			panic(http.ErrAbortHandler)
		}
	}
}

// instanceCSVRow is an instance as a CSV row, in instanceCSVHeader's
// order: a score in its shortest form ("" when null), booleans as true or
// false, text as it is (encoding/csv quotes it).
func instanceCSVRow(in Instance) []string {
	score := ""
	if in.Score != nil {
		score = strconv.FormatFloat(*in.Score, 'f', -1, 64)
	}
	return []string{in.Metric, in.TraceID, in.Status, score, strconv.FormatBool(in.Passed), in.Reason, in.Error, in.RawReply,
		in.JudgeModel, in.PromptVersion, in.Question, strconv.FormatBool(in.QuestionTruncated), in.Answer,
		strconv.FormatBool(in.AnswerTruncated)}
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
		// The decoder skips line breaks: only the form this server gives
		// is a cursor.
		canonical := err == nil && base64.RawURLEncoding.EncodeToString(b) == v
		if !canonical || !found || metric == "" || trace == "" {
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
