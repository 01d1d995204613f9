// Package normalize converts OTLP data (pdata traces and logs) into
// flowwatch's model types and derives the canonical GenAI fields (kind,
// model, usage, question, answer, context, ...) by the convention tables of
// the conventions reference (OpenTelemetry GenAI old and new, OpenInference,
// OpenLLMetry, promptflow, Langfuse). It is pure: no I/O, no state.
//
// The attribute names live in conventions.go, as ordered source lists per
// canonical field.
package normalize

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Default limits.
const (
	DefaultMaxAttributes = 4096
	DefaultMaxDepth      = 32
)

// Limits bound what one span may carry. Zero fields take defaults.
type Limits struct {
	// MaxAttributes bounds the attributes kept per span, log record, event,
	// link, resource and scope (default 4096). The rest are dropped and
	// counted in the span's DroppedAttributes.
	MaxAttributes int
	// MaxDepth bounds the nesting of AnyValue maps and lists (default 32).
	// Deeper values are replaced by a marker string.
	MaxDepth int
	// MaxValueBytes caps every string of the batch that is stored
	// (attribute keys and values, each element of an array, each value
	// of a map, log bodies, span and event names, status messages;
	// default DefaultMaxValueBytes). A longer string is cut to the cap,
	// ending with "…[truncated N bytes]"; bytes values are cut without a
	// marker. Each cut is counted in Report.Truncated.
	MaxValueBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxAttributes <= 0 {
		l.MaxAttributes = DefaultMaxAttributes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = DefaultMaxValueBytes
	}
	l.MaxValueBytes = max(l.MaxValueBytes, minValueBytes)
	return l
}

// maxProblems bounds Report.Problems.
const maxProblems = 10

// Report says what was rejected or trimmed in a batch, for OTLP
// partial_success.
type Report struct {
	// Rejected counts spans or log records that were not accepted.
	Rejected int64
	// Problems are distinct descriptions of what was rejected or trimmed,
	// each naming where (e.g. "resource 0, scope 1, span 3: trace_id is
	// empty"); at most 10 are kept.
	Problems []string
	// Omitted counts problems found beyond the kept ones.
	Omitted int
	// Truncated counts values cut to Limits.MaxValueBytes.
	Truncated int64
}

func (r *Report) add(problem string) {
	for _, p := range r.Problems {
		if p == problem {
			return
		}
	}
	if len(r.Problems) >= maxProblems {
		r.Omitted++
		return
	}
	r.Problems = append(r.Problems, problem)
}

// Message returns the problems as one line for an exporter ("" when there
// is nothing to say), saying how many more were left out.
func (r Report) Message() string {
	if len(r.Problems) == 0 {
		if r.Rejected > 0 {
			return fmt.Sprintf("%d items rejected", r.Rejected)
		}
		return ""
	}
	msg := strings.Join(r.Problems, "; ")
	if r.Omitted > 0 {
		msg += fmt.Sprintf("; and %d more problems", r.Omitted)
	}
	return msg
}

// Problem texts.
const (
	problemTraceID   = "trace_id is empty or all zeros"
	problemSpanID    = "span_id is empty or all zeros"
	problemLogNoSpan = "log record without trace_id/span_id: flowwatch stores only records attached to spans"
)

// location names an item in a batch for problem messages; it is only
// formatted when there is a problem.
type location struct {
	resource, scope, item int
	itemName              string // "span", "log record"; "" for the scope or resource itself
	level                 int    // 0 resource, 1 scope, 2 item
}

func (l location) String() string {
	switch l.level {
	case 0:
		return fmt.Sprintf("resource %d", l.resource)
	case 1:
		return fmt.Sprintf("resource %d, scope %d", l.resource, l.scope)
	}
	return fmt.Sprintf("resource %d, scope %d, %s %d", l.resource, l.scope, l.itemName, l.item)
}

// note reports what the converter had to change in the item at loc, then
// resets it.
func (c *converter) note(r *Report, loc location, what string) {
	if c.overLimit > 0 {
		r.add(fmt.Sprintf("%s: %d %s attributes over the limit of %d dropped", loc, c.overLimit, what, c.maxAttrs))
	}
	if c.tooDeep {
		r.add(fmt.Sprintf("%s: %s attribute values nested deeper than %d levels replaced by a marker", loc, what, c.maxDepth))
	}
	if c.badUTF8 {
		r.add(fmt.Sprintf("%s: invalid UTF-8 in %s replaced", loc, what))
	}
	if c.truncated > 0 {
		r.Truncated += int64(c.truncated)
		r.add(fmt.Sprintf("%s: %d %s values longer than %d bytes truncated", loc, c.truncated, what, c.maxValue))
	}
	c.reset()
}

// Traces converts an OTLP traces batch into spans with their raw fields
// filled and Derived computed (without log records). Spans with an invalid
// trace or span id are rejected and reported; trimmed attributes are
// reported without rejecting the span. Spans of one resource share its
// ResourceAttributes map and spans of one scope its Scope attributes: treat
// them as read-only. Costs are not priced; see Deriver.Traces.
func Traces(td ptrace.Traces, lim Limits) ([]model.Span, Report) {
	return Deriver{}.Traces(td, lim)
}

// Traces is the package's Traces, deriving with d (and so pricing model
// calls with d.Prices).
func (d Deriver) Traces(td ptrace.Traces, lim Limits) ([]model.Span, Report) {
	lim = lim.withDefaults()
	var rep Report
	c := converter{maxAttrs: lim.MaxAttributes, maxDepth: lim.MaxDepth, maxValue: lim.MaxValueBytes}
	spans := make([]model.Span, 0, td.SpanCount())
	var ids idCache

	rss := td.ResourceSpans()
	for ri := 0; ri < rss.Len(); ri++ {
		rs := rss.At(ri)
		resAttrs, _ := c.attrs(rs.Resource().Attributes())
		c.note(&rep, location{resource: ri, level: 0}, "resource")

		sss := rs.ScopeSpans()
		for si := 0; si < sss.Len(); si++ {
			ss := sss.At(si)
			scope := c.scope(ss.Scope())
			c.note(&rep, location{resource: ri, scope: si, level: 1}, "scope")

			ps := ss.Spans()
			for pi := 0; pi < ps.Len(); pi++ {
				loc := location{resource: ri, scope: si, item: pi, itemName: "span", level: 2}
				p := ps.At(pi)
				if p.TraceID().IsEmpty() {
					rep.Rejected++
					rep.add(fmt.Sprintf("%s: %s", loc, problemTraceID))
					continue
				}
				if p.SpanID().IsEmpty() {
					rep.Rejected++
					rep.add(fmt.Sprintf("%s: %s", loc, problemSpanID))
					continue
				}
				spans = append(spans, model.Span{})
				s := &spans[len(spans)-1]
				c.span(p, s, &ids)
				s.ResourceAttributes = resAttrs
				s.Scope = scope
				c.note(&rep, loc, "span and event")
				d.DeriveSpan(s, nil)
			}
		}
	}
	return spans, rep
}

// scope converts an instrumentation scope.
func (c *converter) scope(sc pcommon.InstrumentationScope) model.Scope {
	attrs, _ := c.attrs(sc.Attributes())
	return model.Scope{Name: c.text(sc.Name()), Version: c.text(sc.Version()), Attributes: attrs}
}

// idCache reuses the hex form of the previous span's trace id: spans of a
// trace usually arrive together.
type idCache struct {
	id  pcommon.TraceID
	hex string
}

func (c *idCache) traceID(id pcommon.TraceID) string {
	if c.hex == "" || id != c.id {
		c.id, c.hex = id, traceIDHex(id)
	}
	return c.hex
}

// span fills the raw fields of s from p.
func (c *converter) span(p ptrace.Span, s *model.Span, ids *idCache) {
	s.TraceID = ids.traceID(p.TraceID())
	s.SpanID = spanIDHex(p.SpanID())
	if !p.ParentSpanID().IsEmpty() {
		s.ParentSpanID = spanIDHex(p.ParentSpanID())
	}
	s.Name = c.str(p.Name())
	s.OTelKind = otelKind(p.Kind())
	s.StartTime = time.Unix(0, timestamp(p.StartTimestamp())).UTC()
	s.EndTime = time.Unix(0, timestamp(p.EndTimestamp())).UTC()
	switch p.Status().Code() {
	case ptrace.StatusCodeError:
		s.StatusCode = model.StatusError
	case ptrace.StatusCodeOk:
		s.StatusCode = model.StatusOK
	default:
		s.StatusCode = model.StatusUnset
	}
	s.StatusMessage = c.str(p.Status().Message())
	s.TraceState = c.text(p.TraceState().AsRaw())
	s.Flags = p.Flags()

	var dropped int
	s.Attributes, dropped = c.attrs(p.Attributes())
	s.DroppedAttributes = addDropped(p.DroppedAttributesCount(), dropped)
	s.DroppedEvents = p.DroppedEventsCount()
	s.DroppedLinks = p.DroppedLinksCount()

	if evs := p.Events(); evs.Len() > 0 {
		s.Events = make([]model.Event, evs.Len())
		for i := range s.Events {
			e := evs.At(i)
			attrs, _ := c.attrs(e.Attributes())
			s.Events[i] = model.Event{
				Time:       time.Unix(0, timestamp(e.Timestamp())).UTC(),
				Name:       c.str(e.Name()),
				Attributes: attrs,
			}
		}
	}
	if links := p.Links(); links.Len() > 0 {
		s.Links = make([]model.Link, links.Len())
		for i := range s.Links {
			l := links.At(i)
			attrs, _ := c.attrs(l.Attributes())
			s.Links[i] = model.Link{
				TraceID:    optionalTraceID(l.TraceID()),
				SpanID:     optionalSpanID(l.SpanID()),
				TraceState: c.text(l.TraceState().AsRaw()),
				Attributes: attrs,
			}
		}
	}
}

// Logs converts an OTLP logs batch into log records. Only records with a
// valid trace_id and span_id are kept; the others are rejected and
// reported, since flowwatch stores only records attached to spans.
func Logs(ld plog.Logs, lim Limits) ([]model.LogRecord, Report) {
	lim = lim.withDefaults()
	var rep Report
	c := converter{maxAttrs: lim.MaxAttributes, maxDepth: lim.MaxDepth, maxValue: lim.MaxValueBytes}
	records := make([]model.LogRecord, 0, ld.LogRecordCount())

	rls := ld.ResourceLogs()
	for ri := 0; ri < rls.Len(); ri++ {
		rl := rls.At(ri)
		resAttrs, _ := c.attrs(rl.Resource().Attributes())
		c.note(&rep, location{resource: ri, level: 0}, "resource")

		sls := rl.ScopeLogs()
		for si := 0; si < sls.Len(); si++ {
			sl := sls.At(si)
			scope := c.scope(sl.Scope())
			c.note(&rep, location{resource: ri, scope: si, level: 1}, "scope")

			lrs := sl.LogRecords()
			for li := 0; li < lrs.Len(); li++ {
				loc := location{resource: ri, scope: si, item: li, itemName: "log record", level: 2}
				lr := lrs.At(li)
				if lr.TraceID().IsEmpty() || lr.SpanID().IsEmpty() {
					rep.Rejected++
					rep.add(fmt.Sprintf("%s: %s", loc, problemLogNoSpan))
					continue
				}
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				attrs, _ := c.attrs(lr.Attributes())
				rec := model.LogRecord{
					TraceID:            traceIDHex(lr.TraceID()),
					SpanID:             spanIDHex(lr.SpanID()),
					Time:               time.Unix(0, timestamp(ts)).UTC(),
					EventName:          c.str(lr.EventName()),
					SeverityText:       c.text(lr.SeverityText()),
					Body:               c.value(lr.Body(), 1),
					Attributes:         attrs,
					ResourceAttributes: resAttrs,
					Scope:              scope,
				}
				if rec.EventName == "" {
					rec.EventName = str(attrs["event.name"])
				}
				c.note(&rep, loc, "log record")
				records = append(records, rec)
			}
		}
	}
	return records, rep
}

func traceIDHex(id pcommon.TraceID) string { return hex.EncodeToString(id[:]) }
func spanIDHex(id pcommon.SpanID) string   { return hex.EncodeToString(id[:]) }

func optionalTraceID(id pcommon.TraceID) string {
	if id.IsEmpty() {
		return ""
	}
	return traceIDHex(id)
}

func optionalSpanID(id pcommon.SpanID) string {
	if id.IsEmpty() {
		return ""
	}
	return spanIDHex(id)
}

// otelKind is the lower-case word for an OTLP span kind.
func otelKind(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindInternal:
		return "internal"
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	}
	return "unspecified"
}
