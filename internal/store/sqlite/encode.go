package sqlite

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Blob encoding.
//
// Everything that is not a query column (a span's raw fields and derived
// content, a trace summary's text, a log record) is stored as one blob:
//
//	marker byte | payload
//
// with marker 'j' for a plain JSON payload, 's' for an S2 block (klauspost
// compress/s2) holding the JSON and 'z' for a zstd frame holding it.
// Payloads of at least compressThreshold bytes are compressed with the
// store's codec (Options.Compression); every store reads all three. An
// unknown marker is a decoding error, never a guess.
//
// S2 is the default because ingest speed matters more than size: on the
// benchmark load's span bodies (about 5 KB of JSON) S2 compresses about six
// times faster than zstd's fastest level (2 µs against 11 µs per span) and
// stores about 40% more (ratio 2.3 against 3.3).
//
// Attribute values (span, resource, scope, event, link and log attributes,
// log bodies) use a typed JSON form so that every OTLP value type comes back
// as it went in:
//
//	string  -> JSON string ({"$u": base64} if it is not valid UTF-8)
//	bool    -> true / false
//	int64   -> JSON integer (no '.', no exponent)
//	float64 -> JSON number that always has a '.' or an exponent
//	           ({"$f": "NaN" | "+Inf" | "-Inf"} for the values JSON lacks)
//	[]byte  -> {"$b": base64}
//	[]any   -> JSON array
//	map     -> JSON object; a map whose only key starts with '$' is wrapped
//	           as {"$m": map} so it cannot be mistaken for a tag
//
// Decoding uses json.Decoder.UseNumber and turns integers back into int64
// and the other numbers into float64. Trace summaries are plain JSON (see
// derived.go); the free-form values inside them (document metadata) come
// back with numbers as json.Number.
const (
	markerJSON = 'j'
	markerS2   = 's'
	markerZstd = 'z'

	// compressThreshold is the payload size from which blobs are
	// compressed: below it compression buys next to nothing.
	compressThreshold = 512

	// maxValueDepth bounds the nesting of attribute values.
	maxValueDepth = 64

	// maxDecodedBlob bounds what one blob may decompress to.
	maxDecodedBlob = 256 << 20
)

// errTooDeep is returned for attribute values nested beyond maxValueDepth.
var errTooDeep = errors.New("attribute value nested too deeply")

// codec compresses and decompresses blobs. It is safe for concurrent use.
type codec struct {
	zstd bool // compress with zstd instead of S2
	enc  *zstd.Encoder
	dec  *zstd.Decoder
}

func newCodec(useZstd bool, concurrency int) (*codec, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(concurrency),
		zstd.WithDecoderMaxMemory(maxDecodedBlob),
	)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &codec{zstd: useZstd, enc: enc, dec: dec}, nil
}

func (c *codec) close() {
	c.enc.Close()
	c.dec.Close()
}

// seal turns a JSON payload into a stored blob (a new slice).
func (c *codec) seal(payload []byte) []byte {
	switch {
	case len(payload) < compressThreshold:
		out := make([]byte, 0, len(payload)+1)
		out = append(out, markerJSON)
		return append(out, payload...)
	case c.zstd:
		out := make([]byte, 1, len(payload)/2+16)
		out[0] = markerZstd
		return c.enc.EncodeAll(payload, out)
	default:
		out := make([]byte, 1+s2.MaxEncodedLen(len(payload)))
		out[0] = markerS2
		n := len(s2.Encode(out[1:], payload))
		return out[: 1+n : 1+n]
	}
}

// open returns the JSON payload of a stored blob.
func (c *codec) open(blob []byte) ([]byte, error) {
	if len(blob) == 0 {
		return nil, errors.New("empty blob")
	}
	switch blob[0] {
	case markerJSON:
		return blob[1:], nil
	case markerS2:
		n, err := s2.DecodedLen(blob[1:])
		if err != nil {
			return nil, fmt.Errorf("decompress blob: %w", err)
		}
		if n > maxDecodedBlob {
			return nil, fmt.Errorf("decompress blob: %d bytes is over the limit", n)
		}
		out, err := s2.Decode(make([]byte, n), blob[1:])
		if err != nil {
			return nil, fmt.Errorf("decompress blob: %w", err)
		}
		return out, nil
	case markerZstd:
		out, err := c.dec.DecodeAll(blob[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("decompress blob: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown blob encoding %#x", blob[0])
	}
}

// ---- typed JSON writer -------------------------------------------------

// jw appends JSON to a byte slice.
type jw struct {
	b   []byte
	err error
}

func (w *jw) raw(s string) { w.b = append(w.b, s...) }

// str appends s as a JSON string. Invalid UTF-8 is replaced by U+FFFD; use
// value for lossless strings.
func (w *jw) str(s string) {
	w.b = append(w.b, '"')
	start := 0
	i := 0
	for i < len(s) {
		// Skip eight plain bytes at a time: no control character, quote or
		// backslash, nothing beyond ASCII.
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			w.b = append(w.b, s[start:i]...)
			switch c {
			case '"':
				w.b = append(w.b, '\\', '"')
			case '\\':
				w.b = append(w.b, '\\', '\\')
			case '\n':
				w.b = append(w.b, '\\', 'n')
			case '\r':
				w.b = append(w.b, '\\', 'r')
			case '\t':
				w.b = append(w.b, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				w.b = append(w.b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.b = append(w.b, s[start:i]...)
			w.b = append(w.b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	w.b = append(w.b, s[start:]...)
	w.b = append(w.b, '"')
}

// plain8 reports whether 8 bytes need no JSON escaping and are ASCII.
func plain8(s string) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	// A byte below 0x20, a '"' (0x22), a '\\' (0x5c) or a byte >= 0x80.
	low := (x - 0x20*ones) & ^x
	quote := x ^ ('"' * ones)
	quote = (quote - ones) & ^quote
	bslash := x ^ ('\\' * ones)
	bslash = (bslash - ones) & ^bslash
	return (low|quote|bslash|x)&highs == 0
}

func (w *jw) key(k string) {
	if len(w.b) > 0 {
		if last := w.b[len(w.b)-1]; last != '{' && last != '[' {
			w.b = append(w.b, ',')
		}
	}
	w.str(k)
	w.b = append(w.b, ':')
}

func (w *jw) int(n int64) { w.b = strconv.AppendInt(w.b, n, 10) }

func (w *jw) float(f float64) {
	switch {
	case math.IsNaN(f):
		w.raw(`{"$f":"NaN"}`)
		return
	case math.IsInf(f, 1):
		w.raw(`{"$f":"+Inf"}`)
		return
	case math.IsInf(f, -1):
		w.raw(`{"$f":"-Inf"}`)
		return
	}
	start := len(w.b)
	w.b = strconv.AppendFloat(w.b, f, 'g', -1, 64)
	if bytes.IndexAny(w.b[start:], ".eE") < 0 {
		w.b = append(w.b, '.', '0')
	}
}

func (w *jw) bytesValue(p []byte) {
	w.raw(`{"$b":"`)
	w.b = base64.StdEncoding.AppendEncode(w.b, p)
	w.raw(`"}`)
}

// value appends an attribute value in the typed form described above.
func (w *jw) value(v any, depth int) {
	if depth > maxValueDepth {
		if w.err == nil {
			w.err = errTooDeep
		}
		w.raw("null")
		return
	}
	switch x := v.(type) {
	case nil:
		w.raw("null")
	case string:
		if utf8.ValidString(x) {
			w.str(x)
		} else {
			w.raw(`{"$u":"`)
			w.b = base64.StdEncoding.AppendEncode(w.b, []byte(x))
			w.raw(`"}`)
		}
	case bool:
		if x {
			w.raw("true")
		} else {
			w.raw("false")
		}
	case int64:
		w.int(x)
	case int:
		w.int(int64(x))
	case int32:
		w.int(int64(x))
	case uint32:
		w.int(int64(x))
	case uint64:
		w.b = strconv.AppendUint(w.b, x, 10)
	case float64:
		w.float(x)
	case float32:
		w.float(float64(x))
	case json.Number:
		w.jsonNumber(x)
	case []byte:
		w.bytesValue(x)
	case []any:
		w.b = append(w.b, '[')
		for i, e := range x {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(e, depth+1)
		}
		w.b = append(w.b, ']')
	case []string:
		w.b = append(w.b, '[')
		for i, e := range x {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(e, depth+1)
		}
		w.b = append(w.b, ']')
	case map[string]any:
		w.mapValue(x, depth)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		w.mapValue(m, depth)
	default:
		// Not an OTLP value type: keep what encoding/json makes of it.
		b, err := json.Marshal(x)
		if err != nil {
			w.str(fmt.Sprint(x))
			return
		}
		w.b = append(w.b, b...)
	}
}

func (w *jw) jsonNumber(n json.Number) {
	if i, err := n.Int64(); err == nil {
		w.int(i)
		return
	}
	if f, err := n.Float64(); err == nil {
		w.float(f)
		return
	}
	w.str(string(n))
}

func (w *jw) mapValue(m map[string]any, depth int) {
	wrap := false
	if len(m) == 1 {
		for k := range m {
			wrap = len(k) > 0 && k[0] == '$'
		}
	}
	if wrap {
		w.raw(`{"$m":`)
	}
	w.attrs(m, depth+1)
	if wrap {
		w.b = append(w.b, '}')
	}
}

// attrs appends a map as a JSON object of typed values (keys unsorted:
// attribute maps are unordered).
func (w *jw) attrs(m map[string]any, depth int) {
	w.b = append(w.b, '{')
	first := true
	for k, v := range m {
		if !first {
			w.b = append(w.b, ',')
		}
		first = false
		w.str(k)
		w.b = append(w.b, ':')
		w.value(v, depth)
	}
	w.b = append(w.b, '}')
}

// ---- typed JSON reader -------------------------------------------------

// decodeJSON decodes a payload with json.Number for numbers.
func decodeJSON(payload []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return err
	}
	return nil
}

// typed converts a value decoded with UseNumber from the typed form back to
// attribute value types.
func typed(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return typedNumber(x)
	case []any:
		for i, e := range x {
			t, err := typed(e)
			if err != nil {
				return nil, err
			}
			x[i] = t
		}
		return x, nil
	case map[string]any:
		if len(x) == 1 {
			for k, inner := range x {
				if len(k) == 0 || k[0] != '$' {
					break
				}
				return typedTag(k, inner)
			}
		}
		return typedMap(x)
	default:
		return v, nil
	}
}

func typedMap(m map[string]any) (map[string]any, error) {
	for k, e := range m {
		t, err := typed(e)
		if err != nil {
			return nil, err
		}
		m[k] = t
	}
	return m, nil
}

func typedNumber(n json.Number) (any, error) {
	s := string(n)
	if !bytes.ContainsAny([]byte(s), ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return float64(u), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("number %q: %w", s, err)
	}
	return f, nil
}

func typedTag(tag string, inner any) (any, error) {
	switch tag {
	case "$b", "$u":
		s, ok := inner.(string)
		if !ok {
			return nil, fmt.Errorf("%s tag holds %T, want string", tag, inner)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s tag: %w", tag, err)
		}
		if tag == "$u" {
			return string(b), nil
		}
		return b, nil
	case "$f":
		switch inner {
		case "NaN":
			return math.NaN(), nil
		case "+Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		}
		return nil, fmt.Errorf("$f tag holds %v", inner)
	case "$m":
		m, ok := inner.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$m tag holds %T, want object", inner)
		}
		return typedMap(m)
	default:
		// Never written by this encoder; keep it as the plain map it is.
		return typedMap(map[string]any{tag: inner})
	}
}

// typedAttrs converts a decoded attribute map in place.
func typedAttrs(m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	return typedMap(m)
}

// ---- span body ---------------------------------------------------------

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

// unixNano returns t as nanoseconds since the epoch, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the inverse of unixNano; times come back in UTC.
func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// appendSpanBody appends the JSON payload of a span: its raw fields in the
// typed form. Derived fields are not stored: nearly all their text repeats
// the raw attributes (inputs, outputs, messages, documents), and storing it
// twice doubled what ingest writes. Readers derive spans again from the raw
// fields and their log records (Store.derive), which costs a few
// microseconds a span.
func appendSpanBody(dst []byte, s *model.Span) ([]byte, error) {
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
			w.int(unixNano(e.Time))
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

// decodeSpanBody fills the raw fields of s from a span payload; callers
// derive the span again with Store.derive.
func decodeSpanBody(payload []byte, s *model.Span) error {
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
			s.Events[i] = model.Event{Time: fromUnixNano(e.TimeNS), Name: e.Name, Attributes: attrs}
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

// ---- log records -------------------------------------------------------

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

// appendLogBody appends the JSON payload of a log record (everything but
// its trace id, span id and time, which are columns).
func appendLogBody(dst []byte, l *model.LogRecord) ([]byte, error) {
	w := jw{b: dst}
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

// decodeLogBody fills the fields of l kept in a log payload.
func decodeLogBody(payload []byte, l *model.LogRecord) error {
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

// ---- trace summaries ---------------------------------------------------

// decodeTrace decodes a trace summary payload (model.Trace as encoding/json
// writes it).
func decodeTrace(payload []byte, t *model.Trace) error {
	return decodeJSON(payload, t)
}
