package gateway

import (
	"bytes"
)

// sseEvent is one server-sent event: its event field (often empty) and
// its data lines joined by newlines.
type sseEvent struct {
	name string
	data []byte
}

// eachEvent calls fn with the events of a server-sent-event stream, in
// order, until fn returns false. complete says b is the stream's end:
// when it is not (the head of a truncated recording), the last event,
// which may be cut, is dropped. Lines end with \n, \r\n or \r, as the
// format allows.
func eachEvent(b []byte, complete bool, fn func(sseEvent) bool) {
	var (
		name    string
		data    []byte
		hasData bool
	)
	for len(b) > 0 {
		line, rest, ended := cutLine(b)
		b = rest
		if !ended && !complete {
			// A line the recording cut: the event it belongs to is
			// incomplete.
			return
		}
		if len(line) == 0 {
			if hasData && !fn(sseEvent{name: name, data: data}) {
				return
			}
			name, data, hasData = "", nil, false
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			name = string(value)
		case "data":
			if hasData {
				// Several data lines make one value joined by newlines;
				// a new slice keeps b untouched.
				joined := make([]byte, 0, len(data)+1+len(value))
				data = append(append(append(joined, data...), '\n'), value...)
			} else {
				data, hasData = value, true
			}
		}
	}
	if complete && hasData {
		// A stream that ends without the blank line after its last
		// event: lenient, since that event (the usage chunk, [DONE]) is
		// the one that matters most.
		fn(sseEvent{name: name, data: data})
	}
}

// cutLine splits b after its first line; ended says a line end was found.
func cutLine(b []byte) (line, rest []byte, ended bool) {
	i := bytes.IndexAny(b, "\r\n")
	if i < 0 {
		return b, nil, false
	}
	line, rest = b[:i], b[i+1:]
	if b[i] == '\r' {
		if len(rest) > 0 && rest[0] == '\n' {
			rest = rest[1:]
		} else if len(rest) == 0 {
			// A \r at the very end may be the first half of \r\n: the
			// line ended either way.
			return line, rest, true
		}
	}
	return line, rest, true
}

// tailEvents returns the part of a stream's tail that starts at an event
// boundary. The tail begins wherever the recording's bound fell, usually
// inside an event: what precedes the first blank line is dropped. A tail
// that starts at a line that opens a field (data:, event:) is taken
// whole, since it most likely starts an event; at worst its first event
// loses its name, which the readers also find in the data.
func tailEvents(tail []byte) []byte {
	if bytes.HasPrefix(tail, []byte("data:")) || bytes.HasPrefix(tail, []byte("event:")) {
		return tail
	}
	for len(tail) > 0 {
		line, rest, ended := cutLine(tail)
		if !ended {
			return nil
		}
		tail = rest
		if len(line) == 0 {
			return tail
		}
	}
	return nil
}

// isEventStream says a response is a server-sent-event stream: by its
// Content-Type, or, for an upstream that labels it wrongly, by its first
// bytes when the caller asked for a stream.
func isEventStream(contentType string, head []byte, asked bool) bool {
	if bytes.Contains(bytes.ToLower([]byte(contentType)), []byte("text/event-stream")) {
		return true
	}
	if !asked {
		return false
	}
	head = bytes.TrimLeft(head, " \t\r\n")
	return bytes.HasPrefix(head, []byte("data:")) || bytes.HasPrefix(head, []byte("event:"))
}
