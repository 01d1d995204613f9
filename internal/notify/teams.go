package notify

import (
	"fmt"
	"slices"

	"github.com/flowwatch/flowwatch/internal/model"
)

// teamsMessage is the body Microsoft Teams incoming webhooks and the
// Workflows "post to a channel when a webhook request is received"
// template take: a message with one Adaptive Card attachment.
type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"`
	Content     teamsCard `json:"content"`
}

// teamsCard is an Adaptive Card, version 1.4.
type teamsCard struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	MSTeams map[string]any `json:"msteams,omitempty"`
	Body    []any          `json:"body"`
	Actions []teamsAction  `json:"actions,omitempty"`
}

type teamsTextBlock struct {
	Type    string `json:"type"` // TextBlock
	Text    string `json:"text"`
	Weight  string `json:"weight,omitempty"`
	Size    string `json:"size,omitempty"`
	Color   string `json:"color,omitempty"`
	Spacing string `json:"spacing,omitempty"`
	Wrap    bool   `json:"wrap"`
}

// teamsRichText holds text that must not be read as Markdown (a
// TextBlock's text is): summaries and judge reasons come from outside.
type teamsRichText struct {
	Type    string         `json:"type"` // RichTextBlock
	Spacing string         `json:"spacing,omitempty"`
	Inlines []teamsTextRun `json:"inlines"`
}

type teamsTextRun struct {
	Type     string `json:"type"` // TextRun
	Text     string `json:"text"`
	Weight   string `json:"weight,omitempty"`
	FontType string `json:"fontType,omitempty"`
}

type teamsFactSet struct {
	Type  string      `json:"type"` // FactSet
	Facts []teamsFact `json:"facts"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type teamsAction struct {
	Type  string `json:"type"` // Action.OpenUrl
	Title string `json:"title"`
	URL   string `json:"url"`
}

// renderTeams renders a Teams message: a card with the event and the
// monitor as its title, the summary, the facts, the lowest-scoring
// instances and a button opening the run.
func renderTeams(n model.Notification, o PayloadOptions) ([]byte, error) {
	v := newView(n, o.PublicURL)
	title := v.Label
	if v.Monitor != "" {
		title += ": " + v.Monitor
	}
	if len(v.Alerts) > 0 {
		title = v.Title
	}
	body := []any{
		teamsTextBlock{Type: "TextBlock", Text: title, Weight: "Bolder", Size: "Large", Color: teamsColor(v.Event), Wrap: true},
		teamsRichText{Type: "RichTextBlock", Inlines: []teamsTextRun{{Type: "TextRun", Text: v.Summary, Weight: "Bolder"}}},
	}
	body = append(body, teamsFacts(v.Facts)...)
	body = append(body, teamsWorst(v.Worst)...)
	// A group message: a part per alert.
	for _, a := range v.Alerts[:min(len(v.Alerts), teamsMaxAlerts)] {
		body = append(body,
			teamsTextBlock{Type: "TextBlock", Text: a.Label, Weight: "Bolder", Color: teamsChangeColor(a.Change), Spacing: "Large", Wrap: true},
			teamsRichText{Type: "RichTextBlock", Spacing: "Small", Inlines: []teamsTextRun{
				{Type: "TextRun", Text: a.What + ": ", Weight: "Bolder"}, {Type: "TextRun", Text: a.Summary}}})
		facts := a.Facts
		if a.RunID != "" {
			facts = append(slices.Clone(facts), fact{"Run", a.RunID})
		}
		body = append(body, teamsFacts(facts)...)
		body = append(body, teamsWorst(a.Worst)...)
	}
	if more := v.Firing + v.Resolved - min(len(v.Alerts), teamsMaxAlerts); more > 0 {
		body = append(body, teamsTextBlock{Type: "TextBlock", Text: fmt.Sprintf("and %d more alerts", more), Spacing: "Medium", Wrap: true})
	}
	card := teamsCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		MSTeams: map[string]any{"width": "Full"},
		Body:    body,
	}
	if v.RunURL != "" {
		card.Actions = []teamsAction{{Type: "Action.OpenUrl", Title: "Open the run in flowwatch", URL: v.RunURL}}
	}
	return marshal(teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content:     card,
		}},
	})
}

// teamsMaxAlerts bounds the alerts a Teams card lists (Teams refuses
// messages over about 28 KB); the rest are counted.
const teamsMaxAlerts = 15

// teamsFacts is a FactSet of facts; nothing when there are none.
func teamsFacts(fs []fact) []any {
	var facts []teamsFact
	for _, f := range fs {
		facts = append(facts, teamsFact{Title: f.Label, Value: f.Value})
	}
	if len(facts) == 0 {
		return nil
	}
	return []any{teamsFactSet{Type: "FactSet", Facts: facts}}
}

// teamsWorst lists the lowest-scoring instances; nothing when there are
// none.
func teamsWorst(ws []worstView) []any {
	if len(ws) == 0 {
		return nil
	}
	out := []any{teamsTextBlock{Type: "TextBlock", Text: "Lowest-scoring instances", Weight: "Bolder", Spacing: "Medium", Wrap: true}}
	for i, w := range ws {
		runs := []teamsTextRun{
			{Type: "TextRun", Text: fmt.Sprintf("%d. ", i+1)},
			{Type: "TextRun", Text: w.TraceID, FontType: "Monospace"},
			{Type: "TextRun", Text: ", score " + w.Score},
		}
		if w.Reason != "" {
			runs = append(runs, teamsTextRun{Type: "TextRun", Text: ": " + w.Reason})
		}
		out = append(out, teamsRichText{Type: "RichTextBlock", Spacing: "Small", Inlines: runs})
	}
	return out
}

// teamsChangeColor is the colour of an alert's change.
func teamsChangeColor(change string) string {
	switch change {
	case model.ChangeResolved:
		return "Good"
	case model.ChangeFiring:
		return "Warning"
	default:
		return "Attention"
	}
}

// teamsColor is the title colour of an event.
func teamsColor(event string) string {
	switch event {
	case model.EventResolved:
		return "Good"
	case model.EventReminder:
		return "Warning"
	case model.EventTest:
		return "Accent"
	default:
		return "Attention"
	}
}
