package payload

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/flowwatch/flowwatch/internal/model"
)

// logJSON is the decoded form of a log record blob (identity and time are
// columns).
type logJSON struct {
	Event    string         `json:"n,omitempty"`
	Severity string         `json:"sv,omitempty"`
	Body     any            `json:"b,omitempty"`
	Attrs    map[string]any `json:"a,omitempty"`
	Resource map[string]any `json:"r,omitempty"`
	Scope    *scopeJSON     `json:"s,omitempty"`
}

// AppendLog appends the payload of a log record to dst: everything but its
// trace id, span id and time, which are the backend's columns. Object keys
// are written sorted: the payload is the record's identity (LogSeq), so a
// record sent again must encode to the same bytes.
func AppendLog(dst []byte, l *model.LogRecord) ([]byte, error) {
	w := jw{b: dst, sortKeys: true}
	w.b = append(w.b, '{')
	if l.EventName != "" {
		w.key("n")
		w.str(l.EventName)
	}
	if l.SeverityText != "" {
		w.key("sv")
		w.str(l.SeverityText)
	}
	if l.Body != nil {
		w.key("b")
		w.value(l.Body, 0)
	}
	if l.Attributes != nil {
		w.key("a")
		w.attrs(l.Attributes, 0)
	}
	if l.ResourceAttributes != nil {
		w.key("r")
		w.attrs(l.ResourceAttributes, 0)
	}
	if l.Scope.Name != "" || l.Scope.Version != "" || l.Scope.Attributes != nil {
		w.key("s")
		w.scope(l.Scope)
	}
	w.b = append(w.b, '}')
	return w.b, w.err
}

// DecodeLog fills the fields of l kept in a log payload (as AppendLog
// writes it, after Codec.Open).
func DecodeLog(payload []byte, l *model.LogRecord) error {
	var body logJSON
	if err := decodeJSON(payload, &body); err != nil {
		return err
	}
	var err error
	if l.Body, err = typed(body.Body); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if l.Attributes, err = typedAttrs(body.Attrs); err != nil {
		return fmt.Errorf("attributes: %w", err)
	}
	if l.ResourceAttributes, err = typedAttrs(body.Resource); err != nil {
		return fmt.Errorf("resource attributes: %w", err)
	}
	if body.Scope != nil {
		if l.Scope, err = body.Scope.model(); err != nil {
			return err
		}
	}
	l.EventName = body.Event
	l.SeverityText = body.Severity
	return nil
}

// LogSeq is the identity of a log record within its span: a 63-bit FNV-1a
// hash of its time (UnixNano) and its payload (AppendLog's output, before
// sealing). A record sent twice gets the same identity, so a backend stores
// it once; both backends compute it here so that a store copied from one to
// the other knows the same records.
func LogSeq(timeNS int64, payload []byte) int64 {
	h := fnv.New64a()
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(timeNS))
	_, _ = h.Write(t[:])
	_, _ = h.Write(payload)
	return int64(h.Sum64() & math.MaxInt64)
}
