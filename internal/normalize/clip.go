package normalize

import (
	"fmt"
	"strconv"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/textclip"
)

// DefaultMaxValueBytes is the default cap on one stored string value (see
// Limits.MaxValueBytes). OpenTelemetry SDKs have the same kind of limit
// (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT), unset by default.
const DefaultMaxValueBytes = 64 << 10

// minValueBytes is the smallest cap: room for some text and the marker.
const minValueBytes = 256

// truncationMarker ends a value that was cut; %d is the number of bytes
// cut off.
const truncationMarker = "…[truncated %d bytes]"

// clipValue cuts s to at most limit bytes, the marker included, on a UTF-8
// boundary, and reports whether it did. The marker says how many bytes
// were cut, so that a reader knows the value is not whole.
func clipValue(s string, limit int) (string, bool) {
	if len(s) <= limit {
		return s, false
	}
	// The marker's number has at most as many digits as len(s).
	room := len(truncationMarker) - len("%d") + len(strconv.Itoa(len(s)))
	keep, _ := textclip.Bytes(s, max(limit-room, 0))
	return keep + fmt.Sprintf(truncationMarker, len(s)-len(keep)), true
}

// str converts a string of the batch: cut to the value cap, then repaired
// if it is not valid UTF-8 (only the kept part is checked).
func (c *converter) str(s string) string {
	if len(s) > c.maxValue {
		s, _ = clipValue(s, c.maxValue)
		c.truncated++
	}
	return c.text(s)
}

// bytesValue copies a bytes value, cut to the value cap (no marker: the
// bytes are opaque).
func (c *converter) bytesValue(b []byte) []byte {
	if len(b) > c.maxValue {
		c.truncated++
		b = b[:c.maxValue]
	}
	return append([]byte(nil), b...)
}

// clipDerived bounds the derived texts that can be put together from
// several values (a message's text parts): each is cut to limit bytes.
func clipDerived(d *model.Derived, limit int) {
	for _, p := range []*string{&d.Question, &d.Answer, &d.Input, &d.Output, &d.SystemPrompt, &d.ErrorMessage} {
		if len(*p) > limit {
			*p, _ = clipValue(*p, limit)
		}
	}
}
