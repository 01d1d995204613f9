package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/store"
)

// maxMonitorBytes bounds the body of PUT /api/v1/monitors/{name}: the
// largest monitor file there is (a real one is a few KiB).
const maxMonitorBytes = monitor.MaxFileSize

// yamlType is the Content-Type of YAML answers.
const yamlType = "application/yaml; charset=utf-8"

// monitorTypes are the media types a monitor file may be sent as; JSON is
// YAML, so all are read the same way.
var monitorTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "application/json"}

// listMonitors serves GET /api/v1/monitors.
func (a *API) listMonitors(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	ctx, cancel, err := a.beginMonitors(r)
	if err != nil {
		return err
	}
	defer cancel()
	list, err := a.monitors.ListMonitors(ctx)
	if err != nil {
		return fmt.Errorf("list monitors: %w", err)
	}
	a.writeJSON(w, r, toMonitorList(list))
	return nil
}

// getMonitor serves GET /api/v1/monitors/{name}: JSON, or the monitor file
// as YAML with ?format=yaml or Accept: application/yaml.
func (a *API) getMonitor(w http.ResponseWriter, r *http.Request) error {
	name, err := parseMonitorName(r.PathValue("name"))
	if err != nil {
		return err
	}
	q, err := queryValues(r.URL.RawQuery, []string{"format"})
	if err != nil {
		return err
	}
	asYAML, err := wantYAML(q["format"], r.Header.Values("Accept"))
	if err != nil {
		return err
	}
	ctx, cancel, err := a.beginMonitors(r)
	if err != nil {
		return err
	}
	defer cancel()
	sm, err := a.monitors.GetMonitor(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return monitorNotFound(name)
	}
	if err != nil {
		return fmt.Errorf("get monitor %s: %w", name, err)
	}
	// The answer depends on Accept unless format says which.
	if q["format"] == "" {
		w.Header().Set("Vary", "Accept")
	}
	if !asYAML {
		w.Header().Set("ETag", etag(sm.Version))
		a.writeJSON(w, r, toMonitor(sm))
		return nil
	}
	body, err := monitor.MarshalYAML(sm.Monitor)
	if err != nil {
		return fmt.Errorf("monitor %s as YAML: %w", name, err)
	}
	w.Header().Set("ETag", etag(sm.Version))
	a.writeTyped(w, http.StatusOK, yamlType, body)
	return nil
}

// putMonitor serves PUT /api/v1/monitors/{name}: the body is a monitor
// file (native or reference form), which is loaded, checked against the
// server's judges and channels, and stored (or, with ?dry_run=true, only
// checked).
func (a *API) putMonitor(w http.ResponseWriter, r *http.Request) error {
	name, err := parseMonitorName(r.PathValue("name"))
	if err != nil {
		return err
	}
	q, err := queryValues(r.URL.RawQuery, []string{"dry_run"})
	if err != nil {
		return err
	}
	dryRun, err := parseBool("dry_run", q["dry_run"])
	if err != nil {
		return err
	}
	ifVersion, err := parseIfMatch(r.Header.Values("If-Match"))
	if err != nil {
		return err
	}
	if err := checkMonitorType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if a.monitors == nil {
		return errNoMonitors
	}
	body, err := readBody(w, r, maxMonitorBytes)
	if err != nil {
		return err
	}
	loaded, err := monitor.Load(body, a.monitorEnv)
	if err != nil {
		return asValidationError(err)
	}
	if a.recipients != nil && len(loaded.Monitor.Notify.Emails) > 0 {
		if err := a.recipients(r.Context(), loaded.Monitor.Notify.Emails); err != nil {
			return &monitor.ValidationError{Problems: []monitor.Problem{{Path: "notify.emails", Message: err.Error()}}}
		}
	}
	if got := loaded.Monitor.Name; got != name {
		return &requestError{fmt.Sprintf("the monitor file is named %q but the path names %q: they must be the same (send it to %smonitors/%s, or change its name)", clip(got), name, Prefix, clip(got))}
	}
	ctx, cancel, err := a.start(r)
	if err != nil {
		return err
	}
	defer cancel()
	if w := a.targetWarning(ctx, loaded.Monitor); w != "" {
		loaded.Warnings = append(loaded.Warnings, w)
	}
	if dryRun {
		sm, err := a.wouldStore(ctx, loaded.Monitor, ifVersion)
		if err != nil {
			return err
		}
		a.writeJSON(w, r, AppliedMonitor{Monitor: toMonitor(sm), Form: loaded.Form, Warnings: strings0(loaded.Warnings)})
		return nil
	}
	sm, created, err := a.monitors.PutMonitor(ctx, loaded.Monitor, ifVersion)
	if errors.Is(err, store.ErrConflict) {
		return a.conflict(ctx, name, ifVersion, err)
	}
	if err != nil {
		return fmt.Errorf("put monitor %s: %w", name, err)
	}
	a.log.Info("monitor_applied", "monitor", name, "version", sm.Version, "created", created, "form", loaded.Form)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", Prefix+"monitors/"+name)
	}
	w.Header().Set("ETag", etag(sm.Version))
	a.writeJSONStatus(w, r, status, AppliedMonitor{Monitor: toMonitor(sm), Form: loaded.Form, Warnings: strings0(loaded.Warnings)})
	return nil
}

// deleteMonitor serves DELETE /api/v1/monitors/{name}.
func (a *API) deleteMonitor(w http.ResponseWriter, r *http.Request) error {
	name, err := parseMonitorName(r.PathValue("name"))
	if err != nil {
		return err
	}
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	if len(r.Header.Values("If-Match")) > 0 {
		// Rejected rather than ignored: a client that sends it expects
		// it to be honoured.
		return &requestError{"If-Match is not supported on DELETE; delete without it"}
	}
	ctx, cancel, err := a.beginMonitors(r)
	if err != nil {
		return err
	}
	defer cancel()
	err = a.monitors.DeleteMonitor(ctx, name, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return monitorNotFound(name)
	}
	if err != nil {
		return fmt.Errorf("delete monitor %s: %w", name, err)
	}
	a.log.Info("monitor_deleted", "monitor", name)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// asValidationError returns the error of monitor.Load as a
// *monitor.ValidationError: a file that is not a YAML mapping at all (a
// *monitor.ParseError) is one problem of the file as a whole.
func asValidationError(err error) error {
	var pe *monitor.ParseError
	if errors.As(err, &pe) {
		return &monitor.ValidationError{Problems: []monitor.Problem{{Line: pe.Line, Column: pe.Column, Message: pe.Message}}}
	}
	var ve *monitor.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	// Load fails in no other way; should it, the file is still at fault.
	return &monitor.ValidationError{Problems: []monitor.Problem{{Message: err.Error()}}}
}

// targetWarning says when no trace of a monitor's target has been
// received (see monitor.TargetWarning); "" when some has, or when the
// services cannot be listed (the monitor is applied all the same).
func (a *API) targetWarning(ctx context.Context, m model.Monitor) string {
	if a.traces == nil {
		return ""
	}
	seen, err := a.traces.ListServices(ctx)
	if err != nil {
		a.log.Warn("monitor_target_check_failed", "monitor", m.Name, "err", err)
		return ""
	}
	return monitor.TargetWarning(m.Target, seen)
}

// beginMonitors checks that the API has a monitor store and returns the
// context the store calls run under.
func (a *API) beginMonitors(r *http.Request) (context.Context, context.CancelFunc, error) {
	if a.monitors == nil {
		return nil, nil, errNoMonitors
	}
	return a.start(r)
}

// wouldStore is what PutMonitor would store, without storing it: the next
// version of the monitor, or version 1 when it is new. It fails like
// PutMonitor when ifVersion does not match.
func (a *API) wouldStore(ctx context.Context, m model.Monitor, ifVersion int64) (model.StoredMonitor, error) {
	now := a.now().UTC()
	cur, err := a.monitors.GetMonitor(ctx, m.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if ifVersion > 0 {
			return model.StoredMonitor{}, conflictError(m.Name, ifVersion, 0)
		}
		return model.StoredMonitor{Monitor: m, Version: 1, CreatedAt: now, UpdatedAt: now}, nil
	case err != nil:
		return model.StoredMonitor{}, fmt.Errorf("get monitor %s: %w", m.Name, err)
	case ifVersion > 0 && cur.Version != ifVersion:
		return model.StoredMonitor{}, conflictError(m.Name, ifVersion, cur.Version)
	}
	return model.StoredMonitor{Monitor: m, Version: cur.Version + 1, CreatedAt: cur.CreatedAt, UpdatedAt: now}, nil
}

// conflict explains a PutMonitor that failed with ErrConflict, reading the
// monitor's current version to say what it is.
func (a *API) conflict(ctx context.Context, name string, ifVersion int64, err error) error {
	cur, gerr := a.monitors.GetMonitor(ctx, name)
	switch {
	case errors.Is(gerr, store.ErrNotFound):
		return conflictError(name, ifVersion, 0)
	case gerr != nil:
		// The message cannot say more; the status is still 409.
		return err
	}
	return conflictError(name, ifVersion, cur.Version)
}

// conflictError is the 409 of an If-Match that does not match; current is
// the monitor's version, 0 when it does not exist.
func conflictError(name string, ifVersion, current int64) error {
	if current == 0 {
		return &statusError{status: http.StatusConflict, msg: fmt.Sprintf(`monitor %q does not exist, so If-Match "%d" cannot match; send the file without If-Match to create it`, name, ifVersion)}
	}
	return &statusError{status: http.StatusConflict, msg: fmt.Sprintf(`monitor %q is at version %d, not %d (If-Match): it was changed meanwhile; get it again, make your change to it and retry`, name, current, ifVersion)}
}

func monitorNotFound(name string) error {
	return &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("monitor %q not found", name)}
}

// etag is the entity tag of a monitor version.
func etag(version int64) string {
	return `"` + strconv.FormatInt(version, 10) + `"`
}

// parseMonitorName checks a monitor name given in a path with the rule the
// monitor package applies to the name in a file.
func parseMonitorName(s string) (string, error) {
	var ve *monitor.ValidationError
	if !errors.As(monitor.Validate(model.Monitor{Name: s}, monitor.Env{}), &ve) {
		return s, nil
	}
	for _, p := range ve.Problems {
		if p.Path == "name" {
			return "", &requestError{fmt.Sprintf("invalid monitor name %q: %s", clip(s), p.Message)}
		}
	}
	return s, nil
}

// parseBool reads a boolean query parameter: true or false, absent meaning
// false.
func parseBool(name, v string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, invalidParam(name, v, `must be "true" or "false"`)
}

// parseIfMatch reads the If-Match header of a PUT: absent, or one strong
// entity tag holding a version ("3") as ETag gives it. It returns 0 when
// absent.
func parseIfMatch(values []string) (int64, error) {
	if len(values) == 0 {
		return 0, nil
	}
	raw := strings.Join(values, ", ")
	bad := &requestError{fmt.Sprintf(`invalid If-Match header %q: must be one monitor version in double quotes, as the ETag header gives it (for example "3")`, clip(raw))}
	v := strings.TrimSpace(raw)
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return 0, bad
	}
	digits := v[1 : len(v)-1]
	if digits[0] == '0' {
		return 0, bad
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, bad
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, bad
	}
	return n, nil
}

// checkMonitorType accepts the media types a monitor file may be sent as,
// in UTF-8.
func checkMonitorType(header string) error {
	accepted := strings.Join(monitorTypes, ", ")
	if strings.TrimSpace(header) == "" {
		return &statusError{status: http.StatusUnsupportedMediaType, msg: "missing Content-Type: send the monitor file as application/yaml (accepted: " + accepted + ")"}
	}
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return &statusError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("invalid Content-Type %q: %v (accepted: %s)", clip(header), err, accepted)}
	}
	known := false
	for _, t := range monitorTypes {
		if mt == t {
			known = true
		}
	}
	if !known {
		return &statusError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("unsupported Content-Type %q: send the monitor file as application/yaml (accepted: %s)", clip(mt), accepted)}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &statusError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("unsupported charset %q: a monitor file must be UTF-8", clip(cs))}
	}
	return nil
}

// readBody reads a request body of at most limit bytes; a larger one is an
// *http.MaxBytesError (413), refused before reading when its length is
// announced.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return nil, err
	case err != nil:
		return nil, &requestError{fmt.Sprintf("could not read the request body: %v", err)}
	}
	return body, nil
}

// wantYAML decides the format of a monitor answer: ?format= when given,
// else the Accept header (YAML when a YAML type is preferred to JSON), else
// JSON.
func wantYAML(format string, accept []string) (bool, error) {
	switch format {
	case "yaml":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, invalidParam("format", format, `must be "yaml" or "json"`)
	}
	best, bestQ := false, 0.0
	for _, header := range accept {
		for _, entry := range strings.Split(header, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(entry))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(s, 64); err != nil {
					continue
				}
			}
			var isYAML bool
			switch mt {
			case "application/yaml", "application/x-yaml", "text/yaml":
				isYAML = true
			case "application/json", "application/*", "*/*":
			default:
				continue
			}
			// The first of the highest quality wins.
			if q > bestQ {
				best, bestQ = isYAML, q
			}
		}
	}
	return best, nil
}
