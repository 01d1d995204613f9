package ui

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// A trace page stays a few hundred kilobytes whatever the trace: at most
// maxWaterfall spans on the time line, and spans shown in full (their
// texts cut at maxTextBytes each) until detailBudget bytes of text; the
// trace's JSON has everything.
const (
	maxWaterfall     = 300
	maxDetailedSpans = 100
	detailBudget     = 100 << 10
)

// maxIndent bounds the indentation of the waterfall.
const maxIndent = 8

// SpanRow is one span of a trace page, in tree order.
type SpanRow struct {
	Span   *model.Span
	Depth  int
	Indent int
	// Offset and Width place the span's bar, in percent of the trace's
	// duration.
	Offset, Width float64
	Error         bool
	DurationMS    float64
	TTFTMS        *float64
	// Attributes is the span's attributes, resource and scope as indented
	// JSON (shown collapsed).
	Attributes string
	Detailed   bool
	// Loc is the viewer's time zone (the row's template has no other way
	// to it).
	Loc *time.Location
}

type tracePage struct {
	Base
	TraceID     string
	Trace       model.Trace
	DurationMS  float64
	Spans       []SpanRow
	Evaluations []store.TraceEvaluation
	Logs        int
	// TooBig says not every span is shown in full; Hidden counts the spans
	// left off the time line.
	TooBig bool
	Hidden int
	// ServiceLink opens the trace's service page.
	ServiceLink string
}

// maxEvaluations bounds the judge verdicts listed on a trace page.
const maxEvaluations = 200

func (u *UI) trace(w http.ResponseWriter, r *http.Request) error {
	if u.o.Traces == nil {
		return errNoStore
	}
	id := strings.ToLower(r.PathValue("id"))
	if !validTraceID(id) {
		return notFound("%q is not a trace id: a trace id is 32 hexadecimal digits, not all zero.", r.PathValue("id"))
	}
	b := u.base(r, "home", "Trace "+id[:8])
	ctx, cancel, err := u.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	d, err := u.o.Traces.GetTrace(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("No trace %s is stored (it may not have arrived yet, or it was before the retention period).", id)
		}
		return fmt.Errorf("read trace %s: %w", id, err)
	}
	p := &tracePage{Base: b, TraceID: id, Trace: d.Trace, Logs: len(d.Logs), DurationMS: millis(d.Trace.Duration)}
	p.ServiceLink = serviceLink(Base{Query: nil}, d.Trace.Service, d.Trace.Deployment, "")
	p.Spans = spanTree(d)
	if len(p.Spans) > maxWaterfall {
		p.Hidden = len(p.Spans) - maxWaterfall
		p.Spans = p.Spans[:maxWaterfall]
	}
	budget := detailBudget
	for i := range p.Spans {
		row := &p.Spans[i]
		row.Loc = b.Loc
		if i >= maxDetailedSpans || budget <= 0 {
			p.TooBig = true
			continue
		}
		row.Detailed = true
		row.Attributes = attributesJSON(row.Span)
		budget -= detailCost(row)
	}
	p.TooBig = p.TooBig || p.Hidden > 0
	if u.o.Results != nil {
		evs, err := u.o.Results.TraceEvaluations(ctx, id, maxEvaluations)
		if err != nil {
			return fmt.Errorf("judge verdicts of trace %s: %w", id, err)
		}
		p.Evaluations = evs
	}
	u.render(w, r, http.StatusOK, "trace", p)
	return nil
}

func validTraceID(s string) bool {
	if len(s) != 32 {
		return false
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		default:
			return false
		}
		zero = zero && c == '0'
	}
	return !zero
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// spanTree orders a trace's spans depth first from its roots (spans whose
// parent is not in the trace), children by start time, and places each
// span's bar on the trace's time line.
func spanTree(d model.TraceDetail) []SpanRow {
	spans := d.Spans
	ids := make(map[string]bool, len(spans))
	var start, end time.Time
	for i := range spans {
		s := &spans[i]
		ids[s.SpanID] = true
		if start.IsZero() || s.StartTime.Before(start) {
			start = s.StartTime
		}
		if s.EndTime.After(end) {
			end = s.EndTime
		}
	}
	total := end.Sub(start)
	children := map[string][]int{}
	var roots []int
	for i := range spans {
		p := spans[i].ParentSpanID
		if p == "" || !ids[p] || p == spans[i].SpanID {
			roots = append(roots, i)
			continue
		}
		children[p] = append(children[p], i)
	}
	byStart := func(a, b int) int {
		if c := spans[a].StartTime.Compare(spans[b].StartTime); c != 0 {
			return c
		}
		return cmp.Compare(spans[a].SpanID, spans[b].SpanID)
	}
	slices.SortFunc(roots, byStart)
	out := make([]SpanRow, 0, len(spans))
	visited := make([]bool, len(spans))
	var walk func(i, depth int)
	walk = func(i, depth int) {
		if visited[i] {
			return // a cycle in the parent links
		}
		visited[i] = true
		s := &spans[i]
		row := SpanRow{Span: s, Depth: depth, Indent: min(depth, maxIndent), DurationMS: millis(s.Duration()),
			Error: s.Derived.Status == model.StatusError}
		if s.Derived.TTFT > 0 {
			v := millis(s.Derived.TTFT)
			row.TTFTMS = &v
		}
		if total > 0 {
			row.Offset = pct(s.StartTime.Sub(start), total)
			row.Width = math.Max(pct(s.Duration(), total), 0.4)
			row.Width = math.Min(row.Width, 100-row.Offset)
		} else {
			row.Width = 100
		}
		out = append(out, row)
		kids := children[s.SpanID]
		slices.SortFunc(kids, byStart)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	// Spans in a parent cycle, never reached from a root.
	for i := range spans {
		if !visited[i] {
			walk(i, 0)
		}
	}
	return out
}

func pct(part, whole time.Duration) float64 {
	return math.Round(float64(part)/float64(whole)*10000) / 100
}

// attributesJSON shows what the app sent on a span, indented.
func attributesJSON(s *model.Span) string {
	v := map[string]any{
		"attributes": jsonSafe(s.Attributes, 0),
		"resource":   jsonSafe(s.ResourceAttributes, 0),
		"scope":      map[string]any{"name": s.Scope.Name, "version": s.Scope.Version, "attributes": jsonSafe(s.Scope.Attributes, 0)},
	}
	if len(s.Events) > 0 {
		evs := make([]any, 0, len(s.Events))
		for _, e := range s.Events {
			evs = append(evs, map[string]any{"time": e.Time.UTC().Format(time.RFC3339Nano), "name": e.Name, "attributes": jsonSafe(e.Attributes, 0)})
		}
		v["events"] = evs
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// jsonSafe turns attribute values into what encoding/json writes without
// error: NaN and infinities as strings, deep nesting cut.
func jsonSafe(v any, depth int) any {
	if depth > 32 {
		return "[nested too deep]"
	}
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonSafe(e, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e, depth+1)
		}
		return out
	case nil, string, bool, int64, int, []byte, json.Number:
		return x
	}
	return fmt.Sprint(v)
}

// detailCost estimates the bytes of text a span's details show.
func detailCost(r *SpanRow) int {
	d := &r.Span.Derived
	n := clipLen(r.Attributes) + clipLen(d.SystemPrompt) + clipLen(d.Question) + clipLen(d.Answer)
	for _, msgs := range [][]model.Message{d.InputMessages, d.OutputMessages} {
		for _, m := range msgs {
			for _, p := range m.Parts {
				n += clipLen(p.Content) + 64
			}
		}
	}
	for _, doc := range d.Context {
		n += clipLen(doc.Content) + 64
	}
	return n + 1024
}

func clipLen(s string) int { return min(len(s), maxTextBytes) }
