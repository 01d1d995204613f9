package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Bounds of the silence routes.
const (
	// minSilence and maxSilence bound how long a silence lasts.
	minSilence = time.Minute
	maxSilence = 30 * 24 * time.Hour
	// maxSilenceKeyLen bounds an alert key.
	maxSilenceKeyLen = 300
	// maxSilenceBodyBytes bounds a silence's request body.
	maxSilenceBodyBytes = 8 << 10
)

// silenceKeyPrefixes are how alert keys begin ("no_data" and
// "unhealthy:run" are whole keys).
var silenceKeyPrefixes = []string{"quality:", "operational:", "unhealthy:"}

// createSilence serves POST /api/v1/silences: mutes a monitor's alerts,
// or one key's, for a while, and answers 201 with the silence.
func (a *API) createSilence(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	body, err := readBody(w, r, maxSilenceBodyBytes)
	if err != nil {
		return err
	}
	var req SilenceRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return &requestError{`invalid body: send {"monitor": "NAME", "key": "KEY" (optional), "duration_ms": N, "comment": "..."}`}
	}
	if _, err := parseMonitorName(req.Monitor); err != nil {
		return &requestError{fmt.Sprintf("invalid \"monitor\" %q: must be a monitor name (1 to 128 letters, digits, '_', '.' or '-')", clip(req.Monitor))}
	}
	if msg := checkSilenceKey(req.Key); msg != "" {
		return &requestError{fmt.Sprintf("invalid \"key\" %q: %s", clip(req.Key), msg)}
	}
	d := time.Duration(req.DurationMS) * time.Millisecond
	if req.DurationMS <= 0 || d < minSilence || d > maxSilence {
		return &requestError{fmt.Sprintf("invalid \"duration_ms\": must be between %d (%s) and %d (%s), got %d",
			minSilence.Milliseconds(), minSilence, maxSilence.Milliseconds(), maxSilence, req.DurationMS)}
	}
	if n := utf8.RuneCountInString(req.Comment); n > maxAckComment || !utf8.ValidString(req.Comment) {
		return &requestError{fmt.Sprintf("invalid \"comment\": at most %d characters of UTF-8, got %d", maxAckComment, n)}
	}
	if a.silences == nil {
		return errNoAlerts
	}
	ctx, cancel, err := a.start(r)
	if err != nil {
		return err
	}
	defer cancel()
	if a.monitors != nil {
		if _, err := a.monitors.GetMonitor(ctx, req.Monitor); errors.Is(err, store.ErrNotFound) {
			return &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("monitor %q not found: only a monitor's alerts can be silenced", req.Monitor)}
		} else if err != nil {
			return fmt.Errorf("get monitor %s: %w", req.Monitor, err)
		}
	}
	now := a.now().UTC()
	s, err := a.silences.CreateSilence(ctx, model.Silence{Monitor: req.Monitor, Key: req.Key, Comment: req.Comment,
		CreatedAt: now, EndsAt: now.Add(d)})
	if err != nil {
		return fmt.Errorf("create silence of %s: %w", req.Monitor, err)
	}
	w.Header().Set("Location", Prefix+"silences/"+s.ID)
	a.writeJSONStatus(w, r, http.StatusCreated, toSilence(s, now))
	return nil
}

// listSilences serves GET /api/v1/silences: the silences in force
// (state=active, the default) or all of them (state=all), newest first.
func (a *API) listSilences(w http.ResponseWriter, r *http.Request) error {
	vals, err := queryValues(r.URL.RawQuery, []string{"state", "monitor"})
	if err != nil {
		return err
	}
	if a.silences == nil {
		return errNoAlerts
	}
	now := a.now().UTC()
	q := store.SilenceQuery{ActiveAt: now}
	switch v := vals["state"]; v {
	case "", "active":
	case "all":
		q.ActiveAt = time.Time{}
	default:
		return invalidParam("state", v, `must be "active" or "all"`)
	}
	if v, ok := vals["monitor"]; ok {
		if _, err := parseMonitorName(v); err != nil {
			return invalidParam("monitor", v, "must be a monitor name (1 to 128 letters, digits, '_', '.' or '-')")
		}
		q.Monitor = v
	}
	ctx, cancel, err := a.start(r)
	if err != nil {
		return err
	}
	defer cancel()
	list, err := a.silences.ListSilences(ctx, q)
	if err != nil {
		return fmt.Errorf("list silences: %w", err)
	}
	out := SilenceList{Silences: make([]Silence, 0, len(list))}
	for _, s := range list {
		out.Silences = append(out.Silences, toSilence(s, now))
	}
	a.writeJSON(w, r, out)
	return nil
}

// expireSilence serves DELETE /api/v1/silences/{id}: ends a silence now
// and answers it.
func (a *API) expireSilence(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := parseAlertID(id); err != nil {
		return &requestError{fmt.Sprintf("invalid silence id %q: must be 1 to %d letters, digits, '_' or '-', as the API gives it", clip(id), maxAlertIDLen)}
	}
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	if a.silences == nil {
		return errNoAlerts
	}
	ctx, cancel, err := a.start(r)
	if err != nil {
		return err
	}
	defer cancel()
	now := a.now().UTC()
	s, err := a.silences.ExpireSilence(ctx, id, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("silence %q not found", id)}
	case errors.Is(err, store.ErrConflict):
		return &statusError{status: http.StatusConflict, msg: fmt.Sprintf("silence %q has ended already", id)}
	case err != nil:
		return fmt.Errorf("expire silence %s: %w", id, err)
	}
	a.writeJSON(w, r, toSilence(s, now))
	return nil
}

// checkSilenceKey says what is wrong with an alert key to silence; ""
// when it is fine ("" mutes every key).
func checkSilenceKey(key string) string {
	switch {
	case key == "", key == "no_data", key == "unhealthy:run":
		return ""
	case len(key) > maxSilenceKeyLen:
		return fmt.Sprintf("at most %d bytes", maxSilenceKeyLen)
	case strings.IndexFunc(key, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
		return "must not hold spaces or control characters"
	}
	for _, p := range silenceKeyPrefixes {
		if rest, ok := strings.CutPrefix(key, p); ok && rest != "" {
			return ""
		}
	}
	return "an alert key is quality:METRIC, operational:SIGNAL, unhealthy:METRIC, unhealthy:run or no_data (see 'flowwatch alerts list')"
}

func toSilence(s model.Silence, now time.Time) Silence {
	out := Silence{ID: s.ID, Monitor: s.Monitor, Key: s.Key, Comment: s.Comment, CreatedAt: Timestamp{s.CreatedAt},
		EndsAt: Timestamp{s.EndsAt}, ExpiredAt: timestamp(s.ExpiredAt), State: "expired"}
	if !now.Before(s.CreatedAt) && now.Before(s.EndsAt) {
		out.State = "active"
	}
	return out
}
