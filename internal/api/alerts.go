package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Bounds of the alert and channel routes.
const (
	// maxAlertIDLen bounds an alert id in a path.
	maxAlertIDLen = 64
	// maxTestBodyBytes bounds what is read of the (empty) body of a test
	// notification.
	maxTestBodyBytes = 1 << 10
	// testChannelTimeout bounds a test notification: a channel's own
	// timeout is at most 5 minutes.
	testChannelTimeout = 6 * time.Minute
)

// ErrUnknownChannel is what Options.TestChannel returns (wrapped) for a
// channel the server configuration does not define; the API answers 404.
var ErrUnknownChannel = errors.New("unknown notification channel")

// ChannelInfo is what the API shows of a configured notification channel.
type ChannelInfo struct {
	Name string
	// Type is the channel's type: webhook, slack, teams, pagerduty or
	// email.
	Type string
	// URL is where the channel posts, or "" to show nothing (a URL from
	// the environment is a secret as a whole). Only its scheme and host
	// are ever shown.
	URL string
	// Recipients are an email channel's addresses.
	Recipients []string
}

// alertListParams are the query parameters of GET /api/v1/alerts, in the
// order messages and the OpenAPI document list them.
func alertListParams() []string { return []string{"state", "monitor", "limit", "cursor"} }

// listAlerts serves GET /api/v1/alerts: alerts, newest fired first,
// filtered by state and monitor, one page at a time.
func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q, err := parseAlertQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	ctx, cancel, err := a.beginAlerts(r)
	if err != nil {
		return err
	}
	defer cancel()
	page, err := a.alerts.ListAlerts(ctx, q)
	if err != nil {
		return fmt.Errorf("list alerts: %w", err)
	}
	out := AlertList{Alerts: make([]Alert, 0, len(page.Alerts)), NextCursor: page.NextCursor}
	for _, al := range page.Alerts {
		out.Alerts = append(out.Alerts, toAlert(al))
	}
	a.writeJSON(w, r, out)
	return nil
}

// getAlert serves GET /api/v1/alerts/{id}: the alert and its
// notifications, oldest first.
func (a *API) getAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := parseAlertID(r.PathValue("id"))
	if err != nil {
		return err
	}
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	ctx, cancel, err := a.beginAlerts(r)
	if err != nil {
		return err
	}
	defer cancel()
	al, err := a.alerts.GetAlert(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("alert %q not found", id)}
	}
	if err != nil {
		return fmt.Errorf("get alert %s: %w", id, err)
	}
	list, err := a.alerts.AlertNotifications(ctx, id)
	if err != nil {
		return fmt.Errorf("notifications of alert %s: %w", id, err)
	}
	out := AlertDetail{Alert: toAlert(al), Notifications: make([]Notification, 0, len(list))}
	for _, n := range list {
		out.Notifications = append(out.Notifications, toNotification(n))
	}
	a.writeJSON(w, r, out)
	return nil
}

// listChannels serves GET /api/v1/channels: the configured notification
// channels by name, without their secrets.
func (a *API) listChannels(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	if a.channels == nil {
		return errNoNotifier
	}
	infos := a.channels()
	out := ChannelList{Channels: make([]Channel, 0, len(infos))}
	for _, c := range infos {
		out.Channels = append(out.Channels, toChannel(c))
	}
	sort.SliceStable(out.Channels, func(i, j int) bool { return out.Channels[i].Name < out.Channels[j].Name })
	a.writeJSON(w, r, out)
	return nil
}

// testChannel serves POST /api/v1/channels/{name}/test: a test
// notification sent now, bypassing the outbox. 200 when the channel took
// it, 502 with what went wrong when it did not. ?to= sends an e-mail test
// to the given addresses: through the SMTP server alone with the channel
// "emails", or instead of an e-mail channel's own recipients.
func (a *API) testChannel(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if msg := checkChannelPathName(name); msg != "" {
		return &requestError{fmt.Sprintf("invalid channel name %q: %s", clip(name), msg)}
	}
	q, err := queryValues(r.URL.RawQuery, []string{"to"})
	if err != nil {
		return err
	}
	to, err := a.testRecipients(name, q)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, maxTestBodyBytes)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		return &requestError{"a test notification takes no request body"}
	}
	if a.testChan == nil || (to != nil && a.testChanTo == nil) {
		return errNoNotifier
	}
	if to != nil && a.recipients != nil {
		if err := a.recipients(r.Context(), to); err != nil {
			return &statusError{status: http.StatusForbidden, msg: err.Error()}
		}
	}
	if wait, ok := a.testLimit.take(name+"?to="+strings.Join(to, ","), a.now()); !ok {
		return tooSoon(w, name, a.testLimit.every, wait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), testChannelTimeout)
	defer cancel()
	if a.ready != nil {
		if err := a.ready(ctx); err != nil {
			return &notReadyError{err}
		}
	}
	send := func() error { return a.testChan(ctx, name) }
	if to != nil {
		send = func() error { return a.testChanTo(ctx, name, to) }
	}
	if err := send(); err != nil {
		if name == model.EmailsChannel && errors.Is(err, ErrUnknownChannel) {
			return &requestError{"the server cannot send e-mail: it has no smtp: section in its configuration (see docs/alerts.md)"}
		}
		if r.Context().Err() != nil {
			// The client went away; nobody reads the answer.
			return r.Context().Err()
		}
		return &deliveryError{channel: name, err: err}
	}
	a.writeJSON(w, r, ChannelTest{Channel: name, Delivered: true})
	return nil
}

// maxTestRecipients bounds the addresses of one test e-mail.
const maxTestRecipients = 10

// testRecipients reads ?to= of a channel test: comma-separated e-mail
// addresses, required for the channel "emails", accepted for e-mail
// channels, refused for others; nil when not given.
func (a *API) testRecipients(name string, q map[string]string) ([]string, error) {
	raw, ok := q["to"]
	if !ok {
		if name == model.EmailsChannel {
			return nil, &requestError{fmt.Sprintf(`the channel %q sends to the addresses a monitor lists in notify.emails and has none of its own: `+
				`give the address to test with ?to=ADDRESS (flowwatch alerts test emails --to ADDRESS)`, model.EmailsChannel)}
		}
		return nil, nil
	}
	if name != model.EmailsChannel && a.channels != nil {
		for _, c := range a.channels() {
			if c.Name == name && c.Type != config.ChannelEmail {
				return nil, invalidParam("to", raw, fmt.Sprintf("the channel %q is of type %s: only e-mail channels take recipients", clip(name), c.Type))
			}
		}
	}
	var to []string
	for _, s := range strings.Split(raw, ",") {
		s = strings.TrimSpace(s)
		addr, err := mail.ParseAddress(s)
		if err != nil || s == "" {
			return nil, invalidParam("to", raw, fmt.Sprintf("%q is not an e-mail address (write e.g. oncall@example.com)", clip(s)))
		}
		to = append(to, addr.Address)
	}
	if len(to) > maxTestRecipients {
		return nil, invalidParam("to", raw, fmt.Sprintf("at most %d addresses, got %d", maxTestRecipients, len(to)))
	}
	return to, nil
}

// beginAlerts checks that the API has an alert store and returns the
// context the store calls run under.
func (a *API) beginAlerts(r *http.Request) (context.Context, context.CancelFunc, error) {
	if a.alerts == nil {
		return nil, nil, errNoAlerts
	}
	return a.start(r)
}

// parseAlertQuery reads the query string of GET /api/v1/alerts.
func parseAlertQuery(raw string) (store.AlertQuery, error) {
	q := store.AlertQuery{Limit: store.DefaultLimit}
	vals, err := queryValues(raw, alertListParams())
	if err != nil {
		return q, err
	}
	switch v := vals["state"]; model.AlertState(v) {
	case "", model.AlertFiring, model.AlertResolved:
		q.State = model.AlertState(v)
	default:
		return q, invalidParam("state", v, `must be "firing" or "resolved"`)
	}
	if v, ok := vals["monitor"]; ok {
		if _, err := parseMonitorName(v); err != nil {
			return q, invalidParam("monitor", v, "must be a monitor name (1 to 128 letters, digits, '_', '.' or '-')")
		}
		q.Monitor = v
	}
	if v, ok := vals["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return q, invalidParam("limit", v, fmt.Sprintf("must be an integer between 1 and %d", store.MaxLimit))
		}
		q.Limit = n
	}
	q.Cursor = vals["cursor"]
	return q, nil
}

// parseAlertID checks an alert id given in a path: 1 to 64 letters,
// digits, '_' or '-'.
func parseAlertID(s string) (string, error) {
	ok := len(s) > 0 && len(s) <= maxAlertIDLen
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
	}
	if !ok {
		return "", &requestError{fmt.Sprintf("invalid alert id %q: must be 1 to %d letters, digits, '_' or '-', as the API gives it", clip(s), maxAlertIDLen)}
	}
	return s, nil
}

// checkChannelPathName says what is wrong with a channel name in a path,
// "" when nothing: channel names are like monitor names.
func checkChannelPathName(s string) string {
	if _, err := parseMonitorName(s); err != nil {
		return "a channel name is 1 to 128 letters, digits, '_', '.' or '-'"
	}
	return ""
}

// deliveryError is a test notification that a channel did not take.
type deliveryError struct {
	channel string
	err     error
}

func (e *deliveryError) Error() string {
	return fmt.Sprintf("test notification to channel %s: %v", e.channel, e.err)
}
func (e *deliveryError) Unwrap() error { return e.err }

// deliveryMessage is what the client is told of a failed test
// notification: the channel's error, with any URL in it cut to scheme and
// host (a webhook URL's path is its secret).
func deliveryMessage(e *deliveryError) string {
	return fmt.Sprintf("test notification to channel %q failed: %s", e.channel, config.RedactURLs(e.err.Error()))
}

func toAlert(al model.Alert) Alert {
	return Alert{
		ID:             al.ID,
		Monitor:        al.Monitor,
		Key:            al.Key,
		Kind:           al.Kind,
		Subject:        al.Subject,
		State:          string(al.State),
		Summary:        al.Summary,
		Value:          finitePtr(al.Value),
		Threshold:      al.Threshold,
		FiredAt:        Timestamp{al.FiredAt},
		ResolvedAt:     timestamp(al.ResolvedAt),
		FiringRunID:    al.FiringRunID,
		LastRunID:      al.LastRunID,
		ResolvedRunID:  al.ResolvedRunID,
		LastNotifiedAt: timestamp(al.LastNotifiedAt),
		Reminders:      al.Reminders,
		AckedAt:        timestamp(al.AckedAt),
		AckComment:     al.AckComment,
	}
}

// maxAckComment bounds an acknowledgement's comment, in characters.
const maxAckComment = 1000

// ackAlert serves POST /api/v1/alerts/{id}/ack: acknowledges a firing
// alert (its groups stop reminding of it until it resolves) and answers
// the alert.
func (a *API) ackAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := parseAlertID(r.PathValue("id"))
	if err != nil {
		return err
	}
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	body, err := readBody(w, r, maxTestBodyBytes+4*maxAckComment)
	if err != nil {
		return err
	}
	var req AckRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || dec.More() {
			return &requestError{`invalid body: send {"comment": "..."}, or nothing`}
		}
	}
	if n := utf8.RuneCountInString(req.Comment); n > maxAckComment || !utf8.ValidString(req.Comment) {
		return &requestError{fmt.Sprintf("invalid \"comment\": at most %d characters of UTF-8, got %d", maxAckComment, n)}
	}
	if a.acks == nil {
		return errNoAlerts
	}
	ctx, cancel, err := a.start(r)
	if err != nil {
		return err
	}
	defer cancel()
	al, err := a.acks.AckAlert(ctx, id, req.Comment, a.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("alert %q not found", id)}
	case errors.Is(err, store.ErrConflict):
		return &statusError{status: http.StatusConflict, msg: fmt.Sprintf("alert %q is resolved: only a firing alert can be acknowledged", id)}
	case err != nil:
		return fmt.Errorf("acknowledge alert %s: %w", id, err)
	}
	a.writeJSON(w, r, toAlert(al))
	return nil
}

func toNotification(n model.Notification) Notification {
	out := Notification{
		ID:         n.ID,
		Channel:    n.Channel,
		Recipients: n.Recipients,
		Event:      n.Event,
		Status:     string(n.Status),
		Attempts:   n.Attempts,
		LastError:  config.RedactURLs(n.LastError),
		DedupKey:   n.DedupKey,
		CreatedAt:  Timestamp{n.CreatedAt},
		DoneAt:     timestamp(n.DoneAt),
		SilenceID:  n.SilenceID,
	}
	if out.Recipients == nil {
		out.Recipients = []string{}
	}
	if n.Status == model.NotificationPending {
		out.NextAttemptAt = timestamp(n.NextAttemptAt)
	}
	return out
}

func toChannel(c ChannelInfo) Channel {
	out := Channel{Name: c.Name, Type: c.Type, Recipients: c.Recipients}
	if u := config.SchemeHost(c.URL); u != "" {
		out.URL = &u
	}
	if out.Recipients == nil {
		out.Recipients = []string{}
	}
	return out
}
