package notify

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"

	"github.com/flowwatch/flowwatch/internal/model"
)

//go:embed templates/email.txt.tmpl templates/email.html.tmpl
var templateFS embed.FS

// The e-mail templates: parsed once, read-only afterwards.
var (
	textTemplate = texttemplate.Must(texttemplate.New("email.txt.tmpl").Funcs(texttemplate.FuncMap{
		"time":   formatTime,
		"inc":    func(i int) int { return i + 1 },
		"indent": indent,
	}).ParseFS(templateFS, "templates/email.txt.tmpl"))
	htmlTemplate = htmltemplate.Must(htmltemplate.New("email.html.tmpl").Funcs(htmltemplate.FuncMap{
		"time":        formatTime,
		"color":       eventColor,
		"changeColor": changeColor,
	}).ParseFS(templateFS, "templates/email.html.tmpl"))
)

// EmailContent is a rendered e-mail notification.
type EmailContent struct {
	Subject string
	// Text and HTML are the two alternative bodies.
	Text string
	HTML string
	// MessageID is the message's Message-ID, without angle brackets:
	// stable for a notification, so a repeated delivery is recognisable.
	MessageID string
	// ThreadID is the Message-ID of the alert's firing message on the
	// same channel, which reminders and the resolution refer to
	// (In-Reply-To, References) so mail clients show them as one thread;
	// "" for a firing or test message.
	ThreadID string
}

// RenderEmail renders the e-mail of n. publicURL is the dashboard's base
// URL (the run is linked at publicURL/runs/<run id>; no link when empty);
// domain is the right-hand side of the Message-ID (the sender's domain).
// It is pure: the same arguments give the same bytes.
func RenderEmail(n model.Notification, publicURL, domain string) (EmailContent, error) {
	v := newView(n, publicURL)
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, v); err != nil {
		return EmailContent{}, err
	}
	if err := htmlTemplate.Execute(&html, v); err != nil {
		return EmailContent{}, err
	}
	c := EmailContent{Subject: v.Title, Text: text.String(), HTML: html.String()}
	c.MessageID, c.ThreadID = messageIDs(n, v.AlertID, domain)
	return c, nil
}

// messageIDs derives a notification's Message-ID and its thread's root.
//
// A group message (dedup key group/<group id>/<sequence>) threads under
// its group's first message, whose Message-ID is
// group.<group id>.<channel>@domain: every message about one monitor to
// one channel is one thread. The later ones have n.<hash of the dedup
// key>@domain. Messages queued before grouping follow the alert:
//
// The firing message of an alert on a channel starts the thread: its
// Message-ID is alert.<alert id>.<channel>@domain, which every later
// message of that alert on that channel (reminders, the resolution) names
// in In-Reply-To and References. Those later messages, and test messages,
// have n.<hash of the dedup key>@domain. Either way a notification sent
// twice carries the same Message-ID.
func messageIDs(n model.Notification, alertID, domain string) (id, thread string) {
	domain = messageIDDomain(domain)
	if group, seq, ok := groupSeq(n.DedupKey); ok {
		thread = "group." + idToken(group) + "." + idToken(n.Channel) + "@" + domain
		if seq == 1 {
			return thread, ""
		}
		return "n." + hashToken(n.DedupKey) + "@" + domain, thread
	}
	if alertID != "" {
		thread = "alert." + idToken(alertID) + "." + idToken(n.Channel) + "@" + domain
	}
	event := firstNonEmpty(n.Message.Event, n.Event)
	if event == model.EventFiring && thread != "" {
		return thread, ""
	}
	key := firstNonEmpty(n.DedupKey, n.ID)
	if key != "" {
		id = "n." + hashToken(key) + "@" + domain
	}
	return id, thread
}

// idToken is s when it is a short run of letters, digits, '-' and '_'
// (safe in a Message-ID), else a hash of it.
func idToken(s string) string {
	if s == "" || len(s) > 64 {
		return hashToken(s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return hashToken(s)
		}
	}
	return s
}

// hashToken is the first 128 bits of s's SHA-256, in hex.
func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// messageIDDomain keeps domain when it is a plain host name, else
// "flowwatch".
func messageIDDomain(domain string) string {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" || len(domain) > 253 || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "flowwatch"
	}
	for _, r := range domain {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return "flowwatch"
		}
	}
	return domain
}

// indent prefixes every line of s with n spaces.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// eventColor is the colour of an event's badge.
func eventColor(event string) string {
	switch event {
	case model.EventResolved:
		return "#1a7f37"
	case model.EventReminder:
		return "#9a6700"
	case model.EventTest:
		return "#656d76"
	default:
		return "#cf222e"
	}
}

// changeColor is the colour of an alert's change in a group message.
func changeColor(change string) string {
	switch change {
	case model.ChangeResolved:
		return "#1a7f37"
	case model.ChangeFiring:
		return "#bc4c00"
	default:
		return "#cf222e"
	}
}

// groupSeq splits a group message's dedup key, group/<id>/<seq>.
func groupSeq(key string) (group string, seq int, ok bool) {
	rest, found := strings.CutPrefix(key, "group/")
	if !found {
		return "", 0, false
	}
	group, num, found := strings.Cut(rest, "/")
	if !found || group == "" {
		return "", 0, false
	}
	seq, err := strconv.Atoi(num)
	if err != nil || seq < 1 {
		return "", 0, false
	}
	return group, seq, true
}
