package api

import (
	"fmt"
	"strconv"

	"github.com/flowwatch/flowwatch/internal/textclip"
)

// Bounds of a trace detail answer (GET /api/v1/traces/{trace_id}). Ingest
// caps each stored value (ingest.max_attribute_value_bytes), but data
// stored before the cap, or a trace of very many spans, could still make
// an answer of hundreds of megabytes; these keep every answer within a
// few tens of megabytes whatever is stored.
const (
	// maxAnswerValueBytes caps each string of the answer (attribute
	// values, texts, message parts, log bodies); a longer one is cut and
	// ends with "…[truncated N bytes]", and its span (or log record) says
	// "truncated": true.
	maxAnswerValueBytes = 64 << 10
	// maxTraceAnswerBytes bounds the estimated size of the spans and the
	// log records of one answer together; the spans (then log records)
	// beyond it are left out and the answer says "spans_truncated" (or
	// "logs_truncated"): true. span_count still counts them all.
	maxTraceAnswerBytes = 16 << 20
	// maxTraceSpans and maxTraceLogs bound the items of one answer.
	maxTraceSpans = 10000
	maxTraceLogs  = 10000
)

// clipper cuts strings to a size and adds up what it keeps.
type clipper struct {
	limit   int
	size    int  // estimated JSON bytes kept
	clipped bool // something was cut
}

// str cuts s to the limit, the marker included.
func (c *clipper) str(s string) string {
	if len(s) > c.limit {
		const marker = "…[truncated %d bytes]"
		room := len(marker) - len("%d") + len(strconv.Itoa(len(s)))
		keep, _ := textclip.Bytes(s, max(c.limit-room, 0))
		s = keep + fmt.Sprintf(marker, len(s)-len(keep))
		c.clipped = true
	}
	c.size += len(s) + 3
	return s
}

// strs clips each of the strings pointed to.
func (c *clipper) strs(ps ...*string) {
	for _, p := range ps {
		*p = c.str(*p)
	}
}

// value clips the strings inside a JSON value (as jsonValue builds them),
// in place for maps and slices.
func (c *clipper) value(v any) any {
	switch x := v.(type) {
	case string:
		return c.str(x)
	case map[string]any:
		return c.attrs(x)
	case []any:
		for i := range x {
			x[i] = c.value(x[i])
		}
		c.size += 2
		return x
	case []byte: // JSON encodes these as base64
		if len(x) > c.limit {
			x = x[:c.limit]
			c.clipped = true
		}
		c.size += len(x)*4/3 + 3
		return x
	default:
		c.size += 8
		return v
	}
}

// attrs clips a map's keys and values in place.
func (c *clipper) attrs(m map[string]any) map[string]any {
	for k, v := range m {
		if len(k) > c.limit {
			delete(m, k)
			k = c.str(k)
		} else {
			c.size += len(k) + 4
		}
		m[k] = c.value(v)
	}
	c.size += 2
	return m
}

// span clips the strings of one span's answer and reports its estimated
// size.
func (c *clipper) span(s *Span) {
	c.clipped = false
	c.size = 1024 // the fixed fields
	c.strs(&s.Name, &s.StatusMessage, &s.ErrorMessage, &s.Question, &s.Answer, &s.Input, &s.Output,
		&s.SystemPrompt, &s.TraceState)
	s.Attributes = c.attrs(s.Attributes)
	s.Resource = c.attrs(s.Resource)
	s.ModelParams = c.attrs(s.ModelParams)
	c.scope(&s.Scope)
	for _, ms := range [][]Message{s.InputMessages, s.OutputMessages} {
		for i := range ms {
			c.message(&ms[i])
		}
	}
	c.documents(s.Context)
	for i := range s.Events {
		e := &s.Events[i]
		e.Name = c.str(e.Name)
		e.Attributes = c.attrs(e.Attributes)
	}
	for i := range s.Links {
		s.Links[i].Attributes = c.attrs(s.Links[i].Attributes)
	}
	s.Truncated = c.clipped
}

func (c *clipper) message(m *Message) {
	c.strs(&m.Name)
	for i := range m.Parts {
		p := &m.Parts[i]
		c.strs(&p.Content, &p.Name, &p.URI)
		p.Arguments = c.value(p.Arguments)
		p.Response = c.value(p.Response)
	}
}

func (c *clipper) documents(docs []Document) {
	for i := range docs {
		d := &docs[i]
		c.strs(&d.Content, &d.Source, &d.ID)
		d.Metadata = c.value(d.Metadata)
	}
}

func (c *clipper) scope(s *Scope) {
	c.strs(&s.Name, &s.Version)
	s.Attributes = c.attrs(s.Attributes)
}

// log clips a log record's answer like a span's.
func (c *clipper) log(l *LogRecord) {
	c.clipped = false
	c.size = 256
	c.strs(&l.EventName, &l.SeverityText)
	l.Body = c.value(l.Body)
	l.Attributes = c.attrs(l.Attributes)
	l.Resource = c.attrs(l.Resource)
	c.scope(&l.Scope)
	l.Truncated = c.clipped
}

// boundDetail keeps a trace detail answer within the bounds above: every
// string cut to maxAnswerValueBytes, and spans then log records kept in
// their order while the answer's estimated size stays within
// maxTraceAnswerBytes (the first span is always kept).
func boundDetail(d *TraceDetail) {
	c := clipper{limit: maxAnswerValueBytes}
	c.strs(&d.Question, &d.Answer, &d.ErrorMessage, &d.Input, &d.Output, &d.Name)
	c.documents(d.Context)
	total := c.size
	for i := range d.Spans {
		c.span(&d.Spans[i])
		if i > 0 && (total+c.size > maxTraceAnswerBytes || i >= maxTraceSpans) {
			d.Spans = d.Spans[:i]
			d.SpansTruncated = true
			break
		}
		total += c.size
	}
	for i := range d.Logs {
		c.log(&d.Logs[i])
		if total+c.size > maxTraceAnswerBytes || i >= maxTraceLogs {
			d.Logs = d.Logs[:i]
			d.LogsTruncated = true
			break
		}
		total += c.size
	}
}

// boundList keeps a trace list answer (GET /api/v1/traces, up to 1,000
// traces) within about maxTraceAnswerBytes: each question, answer and
// error message is cut to an equal share of it, at most
// maxAnswerValueBytes (64 KiB for pages of up to 85 traces, 5.5 KiB for a
// page of 1,000), ending with "…[truncated N bytes]" when cut. The trace
// detail has them up to 64 KiB.
func boundList(l *TraceList) {
	if len(l.Traces) == 0 {
		return
	}
	share := min(maxAnswerValueBytes, maxTraceAnswerBytes/(3*len(l.Traces)))
	c := clipper{limit: max(share, 1<<10)}
	for i := range l.Traces {
		t := &l.Traces[i]
		c.strs(&t.Question, &t.Answer, &t.ErrorMessage)
	}
}
