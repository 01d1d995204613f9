// Package bench drives load at a flowwatch server from a separate process
// and measures what it sustains: the figures the README reports.
package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Shape is the load of one export request.
type Shape struct {
	// Traces per request; each trace has 3 spans: a flow root, a retrieval
	// span and an LLM span with GenAI attributes.
	Traces int
	// TextBytes is the size of each text field (question, answer, document,
	// messages).
	TextBytes int
	// Services spreads the traces over this many service names.
	Services int
}

// SpansPerTrace is fixed by the load shape.
const SpansPerTrace = 3

// template is one encoded export request with the byte offsets of every
// trace and span id, so fresh ids can be written into a copy without
// re-encoding: generating load must cost the client far less than
// ingesting it costs the server.
type template struct {
	body      []byte
	traceIDAt [][]int // per trace: offsets of its 16-byte trace id
	spanIDAt  [][]int // per span (trace*3+i): offsets of its 8-byte id (as id and as parent)
	// timeAt holds the offsets of every span start and end time (8-byte
	// little-endian nanoseconds) and base the time they were built around:
	// fill moves them all to the time of sending, as a live app's exports
	// are, so that time-ordered indexes see time-ordered inserts.
	timeAt []int
	base   time.Time
}

// words is the vocabulary the text fields are drawn from.
var words = strings.Fields(`the retrieval augmented generation pipeline answers questions about
invoices shipping returns warranty accounts passwords billing refunds orders delivery tracking
customer support policy product manual battery screen charger warranty claim replacement store
hours payment card subscription cancel upgrade downgrade plan pricing discount coupon gift`)

func text(r *mrand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.String()[:n]
}

// marker ids are distinctive byte patterns found again in the encoding.
func markerTraceID(t int) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], 0xF10BA7C0DEC0FFEE)
	binary.BigEndian.PutUint64(id[8:], uint64(t)+0xA5A5000000000000)
	return id
}

func markerSpanID(t, i int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], 0x5A5A000000000000|uint64(t)<<8|uint64(i))
	return id
}

func newTemplate(s Shape) (*template, error) {
	r := mrand.New(mrand.NewPCG(1, 2))
	td := ptrace.NewTraces()
	now := time.Now()
	var times []pcommon.Timestamp
	stamp := func(t time.Time) pcommon.Timestamp {
		ts := pcommon.NewTimestampFromTime(t)
		times = append(times, ts)
		return ts
	}
	for svc := 0; svc < s.Services; svc++ {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("rag-bench-%d", svc))
		rs.Resource().Attributes().PutStr("deployment.name", "blue")
		rs.Resource().Attributes().PutStr("telemetry.sdk.language", "python")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("flowwatch.bench")
		for t := svc; t < s.Traces; t += s.Services {
			question, answer, doc := text(r, s.TextBytes), text(r, s.TextBytes), text(r, s.TextBytes)
			start := now.Add(-time.Duration(r.IntN(1000)) * time.Millisecond)
			tid := markerTraceID(t)

			root := ss.Spans().AppendEmpty()
			root.SetTraceID(tid)
			root.SetSpanID(markerSpanID(t, 0))
			root.SetName("flow")
			root.SetKind(ptrace.SpanKindServer)
			root.SetStartTimestamp(stamp(start))
			root.SetEndTimestamp(stamp(start.Add(1200 * time.Millisecond)))
			root.Status().SetCode(ptrace.StatusCodeOk)
			ra := root.Attributes()
			ra.PutStr("span_type", "Flow")
			ra.PutStr("framework", "promptflow")
			ra.PutStr("inputs", fmt.Sprintf(`{"question":%q}`, question))
			ra.PutStr("output", fmt.Sprintf(`{"answer":%q}`, answer))
			ra.PutStr("session.id", fmt.Sprintf("session-%d", t%50))

			ret := ss.Spans().AppendEmpty()
			ret.SetTraceID(tid)
			ret.SetSpanID(markerSpanID(t, 1))
			ret.SetParentSpanID(markerSpanID(t, 0))
			ret.SetName("retrieve")
			ret.SetStartTimestamp(stamp(start.Add(10 * time.Millisecond)))
			ret.SetEndTimestamp(stamp(start.Add(150 * time.Millisecond)))
			ta := ret.Attributes()
			ta.PutStr("openinference.span.kind", "RETRIEVER")
			ta.PutStr("input.value", question[:min(len(question), 200)])
			for d := 0; d < 3; d++ {
				p := fmt.Sprintf("retrieval.documents.%d.document.", d)
				ta.PutStr(p+"id", fmt.Sprintf("doc-%d", d))
				ta.PutStr(p+"content", doc[:s.TextBytes/3])
				ta.PutDouble(p+"score", 0.9-float64(d)/10)
			}

			llm := ss.Spans().AppendEmpty()
			llm.SetTraceID(tid)
			llm.SetSpanID(markerSpanID(t, 2))
			llm.SetParentSpanID(markerSpanID(t, 0))
			llm.SetName("chat gpt-4o")
			llm.SetKind(ptrace.SpanKindClient)
			llm.SetStartTimestamp(stamp(start.Add(160 * time.Millisecond)))
			llm.SetEndTimestamp(stamp(start.Add(1150 * time.Millisecond)))
			la := llm.Attributes()
			la.PutStr("gen_ai.operation.name", "chat")
			la.PutStr("gen_ai.provider.name", "openai")
			la.PutStr("gen_ai.request.model", "gpt-4o")
			la.PutStr("gen_ai.response.model", "gpt-4o-2024-08-06")
			la.PutInt("gen_ai.usage.input_tokens", int64(800+r.IntN(400)))
			la.PutInt("gen_ai.usage.output_tokens", int64(100+r.IntN(200)))
			la.PutStr("gen_ai.input.messages", fmt.Sprintf(`[{"role":"user","parts":[{"type":"text","content":%q}]}]`, question))
			la.PutStr("gen_ai.output.messages", fmt.Sprintf(`[{"role":"assistant","parts":[{"type":"text","content":%q}],"finish_reason":"stop"}]`, answer))
		}
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return nil, err
	}
	tp := &template{body: body, traceIDAt: make([][]int, s.Traces), spanIDAt: make([][]int, s.Traces*SpansPerTrace), base: now}
	seen := make(map[pcommon.Timestamp]bool)
	for _, ts := range times {
		if seen[ts] {
			continue
		}
		seen[ts] = true
		var enc [8]byte
		binary.LittleEndian.PutUint64(enc[:], uint64(ts))
		tp.timeAt = append(tp.timeAt, offsets(body, enc[:])...)
	}
	if len(tp.timeAt) != 2*SpansPerTrace*s.Traces {
		return nil, fmt.Errorf("bench template: found %d span times, want %d", len(tp.timeAt), 2*SpansPerTrace*s.Traces)
	}
	for t := 0; t < s.Traces; t++ {
		id := markerTraceID(t)
		tp.traceIDAt[t] = offsets(body, id[:])
		for i := 0; i < SpansPerTrace; i++ {
			sid := markerSpanID(t, i)
			tp.spanIDAt[t*SpansPerTrace+i] = offsets(body, sid[:])
		}
		if len(tp.traceIDAt[t]) != SpansPerTrace {
			return nil, fmt.Errorf("bench template: trace %d id found %d times, want %d", t, len(tp.traceIDAt[t]), SpansPerTrace)
		}
	}
	return tp, nil
}

func offsets(b, pat []byte) []int {
	var out []int
	for i := 0; ; {
		j := bytes.Index(b[i:], pat)
		if j < 0 {
			return out
		}
		out = append(out, i+j)
		i += j + len(pat)
	}
}

// fill writes a request body with fresh random ids and span times moved
// to now into dst.
func (tp *template) fill(dst []byte, r *mrand.Rand, now time.Time) []byte {
	dst = append(dst[:0], tp.body...)
	shift := uint64(now.Sub(tp.base))
	for _, o := range tp.timeAt {
		binary.LittleEndian.PutUint64(dst[o:], binary.LittleEndian.Uint64(dst[o:])+shift)
	}
	var id [16]byte
	for t, offs := range tp.traceIDAt {
		binary.LittleEndian.PutUint64(id[:8], r.Uint64())
		binary.LittleEndian.PutUint64(id[8:], r.Uint64()|1)
		for _, o := range offs {
			copy(dst[o:], id[:])
		}
		for i := 0; i < SpansPerTrace; i++ {
			sid := r.Uint64() | 1
			for _, o := range tp.spanIDAt[t*SpansPerTrace+i] {
				binary.LittleEndian.PutUint64(dst[o:], sid)
			}
		}
	}
	return dst
}

func newRand() *mrand.Rand {
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	return mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
}
