package notify

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Slack's limits on Block Kit text, in characters.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackMaxFields  = 10
)

// slackMessage is the body of a Slack incoming webhook: blocks, and text
// as the fallback for notifications and clients without blocks.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type  string `json:"type"` // plain_text or mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// renderSlack renders a Slack message: a header with the event and the
// monitor, a section with the summary and the facts as fields, a section
// quoting the lowest-scoring instances, and a context line linking the
// run. Text from outside (summaries, reasons) is escaped, so it can
// neither link nor mention.
func renderSlack(n model.Notification, o PayloadOptions) ([]byte, error) {
	v := newView(n, o.PublicURL)
	if len(v.Alerts) > 0 {
		return marshal(slackGroup(v))
	}
	header := eventEmoji(v.Event) + " " + v.Label
	if v.Monitor != "" {
		header += ": " + v.Monitor
	}
	msg := slackMessage{
		Text: slackEscape(v.Title, slackSectionMax),
		Blocks: []slackBlock{
			{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(header, slackHeaderMax), Emoji: true}},
		},
	}

	summary := slackText{Type: "mrkdwn", Text: "*" + slackEscape(v.Summary, slackSectionMax-2) + "*"}
	var fields []slackText
	for _, f := range v.Facts[:min(len(v.Facts), slackMaxFields)] {
		label := "*" + f.Label + "*\n"
		fields = append(fields, slackText{Type: "mrkdwn", Text: label + slackEscape(f.Value, slackFieldMax-utf8.RuneCountInString(label))})
	}
	msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &summary, Fields: fields})

	if len(v.Worst) > 0 {
		const title = "*Lowest-scoring instances*"
		// Each instance gets an equal share of the section's limit.
		share := (slackSectionMax - len(title)) / len(v.Worst)
		var b strings.Builder
		b.WriteString(title)
		for i, w := range v.Worst {
			line := fmt.Sprintf("\n%d. `%s` score %s", i+1, slackEscape(w.TraceID, 64), w.Score)
			if w.Reason != "" {
				line += ": " + slackEscape(strings.ReplaceAll(w.Reason, "\n", " "), share-utf8.RuneCountInString(line)-2)
			}
			b.WriteString(line)
		}
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: b.String()}})
	}

	var context []slackText
	if v.RunURL != "" {
		context = append(context, slackText{Type: "mrkdwn", Text: "<" + slackURL(v.RunURL) + "|Open the run in flowwatch>"})
	}
	if v.AlertID != "" {
		context = append(context, slackText{Type: "mrkdwn", Text: "Alert " + slackEscape(v.AlertID, 200)})
	}
	if len(context) > 0 {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "context", Elements: context})
	}
	return marshal(msg)
}

// slackMaxAlerts bounds the alerts a Slack message lists (a message
// holds at most 50 blocks); the rest are counted.
const slackMaxAlerts = 20

// slackGroup renders a group message: a header with the title, the
// group's facts, a section per alert (what changed, the summary, value
// and threshold, the run, the lowest-scoring instances) and a context
// line linking the latest run.
func slackGroup(v view) slackMessage {
	msg := slackMessage{
		Text: slackEscape(v.Title+": "+v.Summary, slackSectionMax),
		Blocks: []slackBlock{
			{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(eventEmoji(v.Event)+" "+v.Title, slackHeaderMax), Emoji: true}},
		},
	}
	summary := slackText{Type: "mrkdwn", Text: "*" + slackEscape(v.Summary, slackSectionMax-2) + "*"}
	var fields []slackText
	for _, f := range v.Facts[:min(len(v.Facts), slackMaxFields)] {
		label := "*" + f.Label + "*\n"
		fields = append(fields, slackText{Type: "mrkdwn", Text: label + slackEscape(f.Value, slackFieldMax-utf8.RuneCountInString(label))})
	}
	msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &summary, Fields: fields}, slackBlock{Type: "divider"})
	for _, a := range v.Alerts[:min(len(v.Alerts), slackMaxAlerts)] {
		var b strings.Builder
		b.WriteString("*" + a.Label + "* " + slackEscape(a.What, 300) + "\n" + slackEscape(a.Summary, maxSummaryRunes))
		var facts []string
		for _, f := range a.Facts {
			facts = append(facts, f.Label+" "+slackEscape(f.Value, 200))
		}
		if a.RunURL != "" {
			facts = append(facts, "<"+slackURL(a.RunURL)+"|run "+slackEscape(a.RunID, 200)+">")
		} else if a.RunID != "" {
			facts = append(facts, "run "+slackEscape(a.RunID, 200))
		}
		if len(facts) > 0 {
			b.WriteString("\n" + strings.Join(facts, " · "))
		}
		text := b.String()
		if len(a.Worst) > 0 {
			// The instances share what is left of the section's limit.
			share := (slackSectionMax - utf8.RuneCountInString(text) - 40) / len(a.Worst)
			for i, w := range a.Worst {
				line := fmt.Sprintf("\n%d. `%s` score %s", i+1, slackEscape(w.TraceID, 64), w.Score)
				if w.Reason != "" && share-utf8.RuneCountInString(line)-2 > 1 {
					line += ": " + slackEscape(strings.ReplaceAll(w.Reason, "\n", " "), share-utf8.RuneCountInString(line)-2)
				}
				text += line
			}
		}
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(text, slackSectionMax)}})
	}
	var context []slackText
	if more := v.Firing + v.Resolved - min(len(v.Alerts), slackMaxAlerts); more > 0 {
		context = append(context, slackText{Type: "mrkdwn", Text: fmt.Sprintf("and %d more alerts", more)})
	}
	if v.RunURL != "" {
		context = append(context, slackText{Type: "mrkdwn", Text: "<" + slackURL(v.RunURL) + "|Open the run in flowwatch>"})
	}
	if len(context) > 0 {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "context", Elements: context})
	}
	return msg
}

// slackEscape escapes the three characters Slack reads as markup (&, <,
// >) and keeps the escaped text within limit characters, cutting it with
// an ellipsis when it is longer.
func slackEscape(s string, limit int) string {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	if utf8.RuneCountInString(esc) <= limit {
		return esc
	}
	var b strings.Builder
	count := 0
	for _, r := range s {
		piece := string(r)
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		}
		size := utf8.RuneCountInString(piece)
		if count+size > limit-1 {
			break
		}
		b.WriteString(piece)
		count += size
	}
	return strings.TrimRightFunc(b.String(), unicode.IsSpace) + ellipsis
}

// slackURL makes a URL safe inside Slack's <url|text> link syntax.
func slackURL(u string) string {
	return strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C").Replace(u)
}

// window writes a run's window for people.
func window(v view) string {
	if v.WindowStart.IsZero() && v.WindowEnd.IsZero() {
		return ""
	}
	return formatTime(v.WindowStart) + " to " + formatTime(v.WindowEnd)
}

// eventEmoji marks an event in chat messages.
func eventEmoji(event string) string {
	switch event {
	case model.EventResolved:
		return "✅"
	case model.EventReminder:
		return "🔁"
	case model.EventTest:
		return "🧪"
	default:
		return "🔴"
	}
}
