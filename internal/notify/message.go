package notify

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Bounds on what a message quotes, so that a huge reason or summary never
// makes a message the receiver rejects.
const (
	// maxWorst is how many low-scoring instances a message quotes.
	maxWorst = 3
	// maxSummaryRunes bounds the one-line summary.
	maxSummaryRunes = 1000
	// maxReasonRunes bounds each quoted judge reason.
	maxReasonRunes = 1000
	// maxTitleRunes bounds an e-mail subject or a card title.
	maxTitleRunes = 200
)

// ellipsis ends a text that was cut.
const ellipsis = "…"

// displayTime is how times are written for people: UTC, to the second.
const displayTime = "2006-01-02 15:04:05 UTC"

// view is what every format says about a notification, computed once:
// cleaned, bounded and with the labels people read.
type view struct {
	Event string
	// Label is the event in capitals: FIRING, REMINDER, RESOLVED, TEST.
	Label string
	// Headline is "monitor: summary"; Title is "[LABEL] headline".
	Headline string
	Title    string
	Monitor  string
	Service  string
	// Deployment is "" when the monitor has none.
	Deployment string
	Kind       string
	// KindLabel is the kind for people: "quality", "no data", ...
	KindLabel string
	Subject   string
	// What is the kind and subject together: "quality · groundedness".
	What    string
	Summary string
	// Value is "" when unknown.
	Value     string
	Threshold string
	// Degraded says how the run was degraded ("" when it was not).
	Degraded string
	RunID    string
	// RunURL is the run in the dashboard; "" without a public URL or run.
	RunURL      string
	WindowStart time.Time
	WindowEnd   time.Time
	FiredAt     time.Time
	ResolvedAt  time.Time
	Worst       []worstView
	// Facts are the details shown as label and value, in order, the empty
	// ones left out: service, deployment, alert, value, threshold,
	// window, run, fired at, resolved at.
	Facts    []fact
	Channel  string
	AlertID  string
	DedupKey string
	// Alerts are the alerts of a group message, in the message's order
	// (new firing, still firing, resolved); none for a message about one
	// alert (a test, or one queued before messages were grouped). Firing
	// and Resolved count them.
	Alerts   []alertView
	Firing   int
	Resolved int
}

// alertView is one alert of a group message.
type alertView struct {
	// Change is new, firing or resolved; Label says it for people: NEW,
	// FIRING, RESOLVED.
	Change    string
	Label     string
	AlertID   string
	Kind      string
	KindLabel string
	Subject   string
	What      string
	Summary   string
	Value     string
	Threshold string
	RunID     string
	RunURL    string
	FiredAt   time.Time
	// ResolvedAt is zero while it fires.
	ResolvedAt time.Time
	Worst      []worstView
	// Facts are the value, threshold, fired and resolved times, the empty
	// ones left out.
	Facts []fact
	// Value and Worst's scores as numbers, for the JSON payloads.
	value *float64
	worst []model.WorstInstance
	msg   model.AlertMessage
}

// maxGroupAlerts bounds the alerts a message lists; the rest are counted.
const maxGroupAlerts = 50

// fact is a detail shown as a label and a value.
type fact struct {
	Label string
	Value string
}

// worstView is a quoted low-scoring instance.
type worstView struct {
	TraceID string
	Score   string
	Reason  string
}

// newView builds the view of n; publicURL is the dashboard's base URL.
func newView(n model.Notification, publicURL string) view {
	m := n.Message
	event := firstNonEmpty(m.Event, n.Event)
	v := view{
		Event:       event,
		Label:       eventLabel(event),
		Monitor:     oneLine(firstNonEmpty(m.Monitor, n.Monitor), 200),
		Service:     oneLine(m.Service, 200),
		Deployment:  oneLine(m.Deployment, 200),
		Kind:        m.Kind,
		KindLabel:   kindLabel(m.Kind),
		Subject:     oneLine(m.Subject, 200),
		Threshold:   oneLine(m.Threshold, 200),
		Degraded:    oneLine(m.Degraded, maxSummaryRunes),
		RunID:       oneLine(m.RunID, 200),
		RunURL:      runURL(publicURL, m.RunID),
		WindowStart: m.WindowStart,
		WindowEnd:   m.WindowEnd,
		FiredAt:     m.FiredAt,
		ResolvedAt:  m.ResolvedAt,
		Channel:     n.Channel,
		AlertID:     firstNonEmpty(m.AlertID, n.AlertID),
		DedupKey:    n.DedupKey,
	}
	if m.Value != nil {
		v.Value = formatNumber(*m.Value)
	}
	v.What = v.KindLabel
	if v.Subject != "" {
		if v.What != "" {
			v.What += " · "
		}
		v.What += v.Subject
	}
	v.Summary = oneLine(m.Summary, maxSummaryRunes)
	if v.Summary == "" {
		v.Summary = defaultSummary(event, m.Kind, v.Subject)
	}
	v.Headline = v.Summary
	if v.Monitor != "" {
		v.Headline = v.Monitor + ": " + v.Summary
	}
	v.Title = truncate("["+v.Label+"] "+v.Headline, maxTitleRunes)
	for _, f := range []fact{
		{"Service", v.Service},
		{"Deployment", v.Deployment},
		{"Alert", v.What},
		{"Value", v.Value},
		{"Threshold", v.Threshold},
		{"Window", window(v)},
		{"Run", v.RunID},
		{"Degraded", v.Degraded},
		{"Fired at", formatTime(v.FiredAt)},
		{"Resolved at", formatTime(v.ResolvedAt)},
	} {
		if f.Value != "" {
			v.Facts = append(v.Facts, f)
		}
	}
	v.Worst = worstViews(m.Worst)
	if m = asGroup(n); len(m.Alerts) > 0 {
		groupView(&v, m, publicURL)
	}
	return v
}

// asGroup is the message of n as a group message: as it is, or, for a
// message about one alert (queued before messages were grouped), a group
// of that alert alone. A test message stays as it is.
func asGroup(n model.Notification) model.AlertMessage {
	m := n.Message
	event := firstNonEmpty(m.Event, n.Event)
	if len(m.Alerts) > 0 || event == model.EventTest || firstNonEmpty(m.AlertID, n.AlertID) == "" {
		return m
	}
	item := m
	item.AlertID = firstNonEmpty(m.AlertID, n.AlertID)
	switch event {
	case model.EventResolved:
		item.Change = model.ChangeResolved
	case model.EventReminder:
		item.Change = model.ChangeFiring
	default:
		item.Change = model.ChangeNew
	}
	m.Alerts = []model.AlertMessage{item}
	m.AlertID, m.Kind, m.Subject, m.Value, m.Threshold, m.Worst = "", "", "", nil, "", nil
	return m
}

func worstViews(ws []model.WorstInstance) []worstView {
	var out []worstView
	for _, w := range ws[:min(len(ws), maxWorst)] {
		out = append(out, worstView{
			TraceID: oneLine(w.TraceID, 64),
			Score:   formatNumber(w.Score),
			Reason:  truncate(cleanText(w.Reason), maxReasonRunes),
		})
	}
	return out
}

// groupView fills in what a group message says: its alerts, the counts,
// a title such as "[FIRING:3] rag_quality (2 resolved)", and the facts of
// the group (service, deployment, the latest run and its window).
func groupView(v *view, m model.AlertMessage, publicURL string) {
	fresh := 0
	for _, a := range m.Alerts {
		switch {
		case a.State == model.AlertResolved || a.Change == model.ChangeResolved:
			v.Resolved++
		case a.Change == model.ChangeNew:
			fresh++
			v.Firing++
		default:
			v.Firing++
		}
	}
	for _, a := range m.Alerts[:min(len(m.Alerts), maxGroupAlerts)] {
		av := alertView{
			Change:     a.Change,
			Label:      changeLabel(a.Change),
			AlertID:    oneLine(a.AlertID, 200),
			Kind:       a.Kind,
			KindLabel:  kindLabel(a.Kind),
			Subject:    oneLine(a.Subject, 200),
			Summary:    oneLine(a.Summary, maxSummaryRunes),
			Threshold:  oneLine(a.Threshold, 200),
			RunID:      oneLine(a.RunID, 200),
			RunURL:     runURL(publicURL, a.RunID),
			FiredAt:    a.FiredAt,
			ResolvedAt: a.ResolvedAt,
			Worst:      worstViews(a.Worst),
			value:      a.Value,
			worst:      a.Worst[:min(len(a.Worst), maxWorst)],
			msg:        a,
		}
		if a.Value != nil {
			av.Value = formatNumber(*a.Value)
		}
		av.What = av.KindLabel
		if av.Subject != "" {
			av.What += " · " + av.Subject
		}
		if av.Summary == "" {
			av.Summary = defaultSummary(a.Event, a.Kind, av.Subject)
		}
		for _, f := range []fact{
			{"Value", av.Value},
			{"Threshold", av.Threshold},
			{"Fired at", formatTime(av.FiredAt)},
			{"Resolved at", formatTime(av.ResolvedAt)},
		} {
			if f.Value != "" {
				av.Facts = append(av.Facts, f)
			}
		}
		v.Alerts = append(v.Alerts, av)
	}
	var title string
	switch {
	case v.Firing == 0:
		title = "[RESOLVED:" + strconv.Itoa(v.Resolved) + "] " + v.Monitor
	default:
		title = "[FIRING:" + strconv.Itoa(v.Firing) + "] " + v.Monitor
		if v.Resolved > 0 {
			title += " (" + strconv.Itoa(v.Resolved) + " resolved)"
		}
		if v.Event == model.EventReminder {
			title += " (still firing)"
		}
	}
	v.Title = truncate(title, maxTitleRunes)
	v.Headline = v.Title
	var counts []string
	if v.Firing > 0 {
		c := fmt.Sprintf("%d firing", v.Firing)
		if fresh > 0 && fresh < v.Firing {
			c += fmt.Sprintf(" (%d new)", fresh)
		}
		counts = append(counts, c)
	}
	if v.Resolved > 0 {
		counts = append(counts, fmt.Sprintf("%d resolved", v.Resolved))
	}
	v.Summary = strings.Join(counts, ", ")
	v.Facts = nil
	for _, f := range []fact{
		{"Service", v.Service},
		{"Deployment", v.Deployment},
		{"Window", window(*v)},
		{"Run", v.RunID},
		{"Degraded", v.Degraded},
	} {
		if f.Value != "" {
			v.Facts = append(v.Facts, f)
		}
	}
	v.Worst = nil
}

// changeLabel is an alert's change in a group message, for people.
func changeLabel(change string) string {
	switch change {
	case model.ChangeNew:
		return "NEW"
	case model.ChangeResolved:
		return "RESOLVED"
	case model.ChangeFiring:
		return "FIRING"
	default:
		return strings.ToUpper(oneLine(change, 20))
	}
}

// More counts the alerts of a group message that it does not list.
func (v view) More() int {
	return v.Firing + v.Resolved - len(v.Alerts)
}

// eventLabel is an event in capitals, for subjects and headers.
func eventLabel(event string) string {
	if event == "" {
		return "ALERT"
	}
	return strings.ToUpper(oneLine(event, 20))
}

// kindLabel is an alert kind for people.
func kindLabel(kind string) string {
	switch kind {
	case model.AlertNoData:
		return "no data"
	case model.AlertUnhealthy:
		return "monitor unhealthy"
	default:
		return oneLine(kind, 40)
	}
}

// defaultSummary says what a message is about when it has no summary.
func defaultSummary(event, kind, subject string) string {
	if event == model.EventTest {
		return "test notification"
	}
	switch kind {
	case model.AlertNoData:
		return "no traces in the window"
	case model.AlertUnhealthy:
		if subject != "" {
			return subject + " could not be judged"
		}
		return "the monitor could not run"
	}
	if subject != "" {
		return subject + " is out of its threshold"
	}
	return "alert"
}

// runURL links a run in the dashboard: publicURL/runs/id.
func runURL(publicURL, runID string) string {
	if publicURL == "" || runID == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + "/runs/" + url.PathEscape(runID)
}

// formatNumber writes a value with at most six significant digits, in
// plain notation for ordinary magnitudes.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 0):
		if f > 0 {
			return "+Inf"
		}
		return "-Inf"
	}
	a := math.Abs(f)
	if a != 0 && (a >= 1e15 || a < 1e-6) {
		return strconv.FormatFloat(f, 'g', 6, 64)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 6, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// formatTime writes t for people; "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(displayTime)
}

// oneLine makes s one line of printable text (control characters and line
// breaks become spaces, runs of spaces one), at most n runes.
func oneLine(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	return truncate(s, n)
}

// cleanText keeps line breaks but drops other control characters and
// trims the text.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// truncate cuts s to at most n runes, ending a cut text with an ellipsis.
func truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	keep := n - 1
	i := 0
	for k := 0; k < keep; k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return strings.TrimRightFunc(s[:i], unicode.IsSpace) + ellipsis
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
