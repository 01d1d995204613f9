package payload

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Trace summaries are written by a hand-written encoder (encoding/json's
// reflection was a tenth of the ingest CPU) and read back with
// encoding/json. The encoder writes the JSON encoding/json would write,
// minus zero-valued fields (decoding leaves those zero anyway), so the two
// stay interchangeable. TestTraceEncoderCoversModel fails when a field is
// added to model.Trace and not here.

// AppendTrace appends the payload of a trace summary to dst: t as JSON.
func AppendTrace(dst []byte, t *model.Trace) ([]byte, error) {
	w := jw{b: dst}
	w.b = append(w.b, '{')
	w.optStr("TraceID", t.TraceID)
	w.optStr("Service", t.Service)
	w.optStr("Deployment", t.Deployment)
	w.optStr("Name", t.Name)
	w.optStr("RootSpanID", t.RootSpanID)
	w.optTime("StartTime", t.StartTime)
	w.optInt("Duration", int64(t.Duration))
	w.optStr("Status", string(t.Status))
	w.optStr("ErrorType", t.ErrorType)
	w.optStr("ErrorMessage", t.ErrorMessage)
	w.optStr("Model", t.Model)
	if len(t.Models) > 0 {
		w.key("Models")
		w.strings(t.Models)
	}
	w.usage(t.Usage)
	w.optStr("Question", t.Question)
	w.optStr("Answer", t.Answer)
	w.optStr("Input", t.Input)
	w.optStr("Output", t.Output)
	if len(t.Context) > 0 {
		w.key("Context")
		w.documents(t.Context)
	}
	w.optStr("SessionID", t.SessionID)
	w.optStr("UserID", t.UserID)
	w.optInt("SpanCount", int64(t.SpanCount))
	w.optInt("LLMCallCount", int64(t.LLMCallCount))
	w.optInt("ErrorCount", int64(t.ErrorCount))
	w.b = append(w.b, '}')
	return w.b, w.err
}

func (w *jw) optStr(k, v string) {
	if v != "" {
		w.key(k)
		w.str(v)
	}
}

func (w *jw) optInt(k string, v int64) {
	if v != 0 {
		w.key(k)
		w.int(v)
	}
}

func (w *jw) optFloat(k string, v float64) {
	if v != 0 {
		w.key(k)
		w.stdFloat(v)
	}
}

// optTime writes a time as encoding/json does (RFC 3339 with nanoseconds);
// times it cannot represent are left out.
func (w *jw) optTime(k string, t time.Time) {
	if t.IsZero() || t.Year() < 0 || t.Year() > 9999 {
		return
	}
	w.key(k)
	w.b = append(w.b, '"')
	w.b = t.AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

// stdFloat writes a float as encoding/json does.
func (w *jw) stdFloat(f float64) {
	b, err := json.Marshal(f)
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		w.raw("0")
		return
	}
	w.b = append(w.b, b...)
}

func (w *jw) usage(u model.Usage) {
	if u == (model.Usage{}) {
		return
	}
	w.key("Usage")
	w.b = append(w.b, '{')
	if u.Known {
		w.key("Known")
		w.raw("true")
	}
	w.optInt("InputTokens", u.InputTokens)
	w.optInt("OutputTokens", u.OutputTokens)
	w.optInt("TotalTokens", u.TotalTokens)
	w.optInt("CacheReadTokens", u.CacheReadTokens)
	w.optInt("CacheWriteTokens", u.CacheWriteTokens)
	w.optInt("ReasoningTokens", u.ReasoningTokens)
	w.optFloat("CostUSD", u.CostUSD)
	if u.CostKnown {
		w.key("CostKnown")
		w.raw("true")
	}
	w.b = append(w.b, '}')
}

func (w *jw) strings(ss []string) {
	w.b = append(w.b, '[')
	for i, s := range ss {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(s)
	}
	w.b = append(w.b, ']')
}

func (w *jw) documents(ds []model.Document) {
	w.b = append(w.b, '[')
	for i := range ds {
		d := &ds[i]
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = append(w.b, '{')
		w.optStr("id", d.ID)
		w.key("content")
		w.str(d.Content)
		w.optStr("source", d.Source)
		if d.Score != nil {
			w.key("score")
			w.stdFloat(*d.Score)
		}
		w.optAny("metadata", d.Metadata)
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ']')
}

// optAny writes a free-form value with encoding/json (it is rare and small).
func (w *jw) optAny(k string, v any) {
	if v == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("%s: %w", k, err)
		}
		return
	}
	w.key(k)
	w.b = append(w.b, b...)
}

// DecodeTrace decodes a trace summary payload (as AppendTrace or
// encoding/json writes model.Trace, after Codec.Open).
func DecodeTrace(payload []byte, t *model.Trace) error {
	return decodeJSON(payload, t)
}
