package ingest

import (
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// OTLP strings must be UTF-8, but the pdata decoders do not check, so an
// exporter's broken bytes would travel into the store, the API and the
// full-text index. The edge repairs them instead of refusing the export:
// each run of invalid bytes in every string (names, attribute keys and
// values at any depth, status messages, trace states, log bodies) becomes
// U+FFFD, the item is kept, and Stats.RepairedStrings counts the repairs.

// maxRepairDepth bounds the walk through nested attribute values. The
// decoders already refuse deeper nesting (see maxJSONDepth and the protobuf
// decoder's recursion limit); this is a second guard, not a policy.
const maxRepairDepth = 256

// validUTF8 returns s with invalid UTF-8 replaced by U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// repairer counts repaired strings.
type repairer struct{ fixed int }

// str returns s repaired, counting a repair.
func (p *repairer) str(s string) (string, bool) {
	if utf8.ValidString(s) {
		return s, false
	}
	p.fixed++
	return strings.ToValidUTF8(s, "\uFFFD"), true
}

// set repairs the string behind get/set.
func (p *repairer) set(get func() string, set func(string)) {
	if s, ok := p.str(get()); ok {
		set(s)
	}
}

func (p *repairer) resource(r pcommon.Resource) { p.attrs(r.Attributes(), 0) }

func (p *repairer) scope(s pcommon.InstrumentationScope) {
	p.set(s.Name, s.SetName)
	p.set(s.Version, s.SetVersion)
	p.attrs(s.Attributes(), 0)
}

func (p *repairer) traceState(ts pcommon.TraceState) {
	if s, ok := p.str(ts.AsRaw()); ok {
		ts.FromRaw(s)
	}
}

// attrs repairs keys and values of m. A map with a broken key is rebuilt
// in order with repaired keys (a later duplicate key wins).
func (p *repairer) attrs(m pcommon.Map, depth int) {
	if depth > maxRepairDepth {
		return
	}
	badKey := false
	for k, v := range m.All() {
		if !utf8.ValidString(k) {
			badKey = true
		}
		p.value(v, depth)
	}
	if !badKey {
		return
	}
	fixed := pcommon.NewMap()
	fixed.EnsureCapacity(m.Len())
	for k, v := range m.All() {
		k, _ = p.str(k)
		v.CopyTo(fixed.PutEmpty(k))
	}
	fixed.MoveTo(m)
}

func (p *repairer) value(v pcommon.Value, depth int) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		p.set(v.Str, v.SetStr)
	case pcommon.ValueTypeMap:
		p.attrs(v.Map(), depth+1)
	case pcommon.ValueTypeSlice:
		if depth >= maxRepairDepth {
			return
		}
		s := v.Slice()
		for i := range s.Len() {
			p.value(s.At(i), depth+1)
		}
	}
}

// repairTraces repairs every string in td and returns how many it changed.
func repairTraces(td ptrace.Traces) int {
	var p repairer
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		p.resource(rs.Resource())
		p.set(rs.SchemaUrl, rs.SetSchemaUrl)
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			ss := sss.At(j)
			p.scope(ss.Scope())
			p.set(ss.SchemaUrl, ss.SetSchemaUrl)
			spans := ss.Spans()
			for k := range spans.Len() {
				p.span(spans.At(k))
			}
		}
	}
	return p.fixed
}

func (p *repairer) span(sp ptrace.Span) {
	p.set(sp.Name, sp.SetName)
	p.traceState(sp.TraceState())
	st := sp.Status()
	p.set(st.Message, st.SetMessage)
	p.attrs(sp.Attributes(), 0)
	events := sp.Events()
	for i := range events.Len() {
		ev := events.At(i)
		p.set(ev.Name, ev.SetName)
		p.attrs(ev.Attributes(), 0)
	}
	links := sp.Links()
	for i := range links.Len() {
		l := links.At(i)
		p.traceState(l.TraceState())
		p.attrs(l.Attributes(), 0)
	}
}

// repairLogs repairs every string in ld and returns how many it changed.
func repairLogs(ld plog.Logs) int {
	var p repairer
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		p.resource(rl.Resource())
		p.set(rl.SchemaUrl, rl.SetSchemaUrl)
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			p.scope(sl.Scope())
			p.set(sl.SchemaUrl, sl.SetSchemaUrl)
			recs := sl.LogRecords()
			for k := range recs.Len() {
				lr := recs.At(k)
				p.set(lr.SeverityText, lr.SetSeverityText)
				p.set(lr.EventName, lr.SetEventName)
				p.value(lr.Body(), 0)
				p.attrs(lr.Attributes(), 0)
			}
		}
	}
	return p.fixed
}
