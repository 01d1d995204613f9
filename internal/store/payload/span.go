package payload

import (
	"fmt"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// spanRaw is the decoded form of a span's raw fields. The field names are
// short because they are repeated in every span.
type spanRaw struct {
	Kind     string         `json:"k,omitempty"`
	StatusM  string         `json:"sm,omitempty"`
	TState   string         `json:"ts,omitempty"`
	Flags    uint32         `json:"f,omitempty"`
	Attrs    map[string]any `json:"a,omitempty"`
	Resource map[string]any `json:"r,omitempty"`
	Scope    *scopeJSON     `json:"s,omitempty"`
	Events   []eventJSON    `json:"e,omitempty"`
	Links    []linkJSON     `json:"l,omitempty"`
	DropA    uint32         `json:"da,omitempty"`
	DropE    uint32         `json:"de,omitempty"`
	DropL    uint32         `json:"dl,omitempty"`
}

type scopeJSON struct {
	Name    string         `json:"n,omitempty"`
	Version string         `json:"v,omitempty"`
	Attrs   map[string]any `json:"a,omitempty"`
}

type eventJSON struct {
	TimeNS int64          `json:"t"`
	Name   string         `json:"n,omitempty"`
	Attrs  map[string]any `json:"a,omitempty"`
}

type linkJSON struct {
	TraceID string         `json:"t,omitempty"`
	SpanID  string         `json:"s,omitempty"`
	TState  string         `json:"ts,omitempty"`
	Attrs   map[string]any `json:"a,omitempty"`
}

// spanBody is the decoded form of a span blob.
type spanBody struct {
	Raw spanRaw `json:"r"`
}

// UnixNano returns t as nanoseconds since the epoch, 0 for the zero time:
// how event times are stored in span payloads, and how the backends store
// time columns that must round-trip exactly.
func UnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromUnixNano is the inverse of UnixNano; times come back in UTC.
func FromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// AppendSpan appends the payload of a span to dst: its raw fields in the
// typed form (identity, times, status and the other query fields are the
// backend's columns and are not written). Derived fields are not stored:
// nearly all their text repeats the raw attributes (inputs, outputs,
// messages, documents), and storing it twice doubled what ingest writes.
// Readers derive spans again from the raw fields and their log records (the
// SQLite backend's Store.derive), which costs a few microseconds a span.
func AppendSpan(dst []byte, s *model.Span) ([]byte, error) {
	w := jw{b: dst}
	w.raw(`{"r":{`)
	if s.OTelKind != "" {
		w.key("k")
		w.str(s.OTelKind)
	}
	if s.StatusMessage != "" {
		w.key("sm")
		w.str(s.StatusMessage)
	}
	if s.TraceState != "" {
		w.key("ts")
		w.str(s.TraceState)
	}
	if s.Flags != 0 {
		w.key("f")
		w.int(int64(s.Flags))
	}
	if s.Attributes != nil {
		w.key("a")
		w.attrs(s.Attributes, 0)
	}
	if s.ResourceAttributes != nil {
		w.key("r")
		w.attrs(s.ResourceAttributes, 0)
	}
	if s.Scope.Name != "" || s.Scope.Version != "" || s.Scope.Attributes != nil {
		w.key("s")
		w.scope(s.Scope)
	}
	if s.Events != nil {
		w.key("e")
		w.b = append(w.b, '[')
		for i, e := range s.Events {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.raw(`{"t":`)
			w.int(UnixNano(e.Time))
			if e.Name != "" {
				w.key("n")
				w.str(e.Name)
			}
			if e.Attributes != nil {
				w.key("a")
				w.attrs(e.Attributes, 0)
			}
			w.b = append(w.b, '}')
		}
		w.b = append(w.b, ']')
	}
	if s.Links != nil {
		w.key("l")
		w.b = append(w.b, '[')
		for i, l := range s.Links {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, '{')
			w.key("t")
			w.str(l.TraceID)
			w.key("s")
			w.str(l.SpanID)
			if l.TraceState != "" {
				w.key("ts")
				w.str(l.TraceState)
			}
			if l.Attributes != nil {
				w.key("a")
				w.attrs(l.Attributes, 0)
			}
			w.b = append(w.b, '}')
		}
		w.b = append(w.b, ']')
	}
	if s.DroppedAttributes != 0 {
		w.key("da")
		w.int(int64(s.DroppedAttributes))
	}
	if s.DroppedEvents != 0 {
		w.key("de")
		w.int(int64(s.DroppedEvents))
	}
	if s.DroppedLinks != 0 {
		w.key("dl")
		w.int(int64(s.DroppedLinks))
	}
	w.raw(`}}`)
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

func (w *jw) scope(sc model.Scope) {
	w.b = append(w.b, '{')
	if sc.Name != "" {
		w.key("n")
		w.str(sc.Name)
	}
	if sc.Version != "" {
		w.key("v")
		w.str(sc.Version)
	}
	if sc.Attributes != nil {
		w.key("a")
		w.attrs(sc.Attributes, 0)
	}
	w.b = append(w.b, '}')
}

// DecodeSpan fills the raw fields of s from a span payload (as AppendSpan
// writes it, after Codec.Open); callers set the column fields and derive
// the span again.
func DecodeSpan(payload []byte, s *model.Span) error {
	var body spanBody
	if err := decodeJSON(payload, &body); err != nil {
		return err
	}
	r := &body.Raw
	var err error
	if s.Attributes, err = typedAttrs(r.Attrs); err != nil {
		return fmt.Errorf("attributes: %w", err)
	}
	if s.ResourceAttributes, err = typedAttrs(r.Resource); err != nil {
		return fmt.Errorf("resource attributes: %w", err)
	}
	if r.Scope != nil {
		if s.Scope, err = r.Scope.model(); err != nil {
			return err
		}
	}
	if r.Events != nil {
		s.Events = make([]model.Event, len(r.Events))
		for i, e := range r.Events {
			attrs, err := typedAttrs(e.Attrs)
			if err != nil {
				return fmt.Errorf("event %d attributes: %w", i, err)
			}
			s.Events[i] = model.Event{Time: FromUnixNano(e.TimeNS), Name: e.Name, Attributes: attrs}
		}
	}
	if r.Links != nil {
		s.Links = make([]model.Link, len(r.Links))
		for i, l := range r.Links {
			attrs, err := typedAttrs(l.Attrs)
			if err != nil {
				return fmt.Errorf("link %d attributes: %w", i, err)
			}
			s.Links[i] = model.Link{TraceID: l.TraceID, SpanID: l.SpanID, TraceState: l.TState, Attributes: attrs}
		}
	}
	s.OTelKind = r.Kind
	s.StatusMessage = r.StatusM
	s.TraceState = r.TState
	s.Flags = r.Flags
	s.DroppedAttributes = r.DropA
	s.DroppedEvents = r.DropE
	s.DroppedLinks = r.DropL
	return nil
}

func (sc *scopeJSON) model() (model.Scope, error) {
	attrs, err := typedAttrs(sc.Attrs)
	if err != nil {
		return model.Scope{}, fmt.Errorf("scope attributes: %w", err)
	}
	return model.Scope{Name: sc.Name, Version: sc.Version, Attributes: attrs}, nil
}
