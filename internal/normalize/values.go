package normalize

import (
	"math"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// converter turns pdata values into plain Go values within the limits and
// remembers what it had to change, so that the caller can report it with
// the item's location.
type converter struct {
	maxAttrs int
	maxDepth int
	maxValue int // bytes of one string (clip.go)

	// Per item; reset by the caller.
	overLimit int  // attributes dropped because a map exceeded maxAttrs
	tooDeep   bool // a value was nested deeper than maxDepth
	badUTF8   bool // a string was not valid UTF-8 and was repaired
	truncated int  // values cut to maxValue
}

func (c *converter) reset() {
	c.overLimit, c.tooDeep, c.badUTF8, c.truncated = 0, false, false, 0
}

// text returns s with invalid UTF-8 sequences replaced, so that the value
// survives JSON encoding unchanged.
func (c *converter) text(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	c.badUTF8 = true
	return strings.ToValidUTF8(s, "\uFFFD")
}

// attrs converts an attribute map, keeping at most maxAttrs keys (the first
// ones; a repeated key keeps its first value). It returns the number of
// entries not kept, duplicates included.
func (c *converter) attrs(m pcommon.Map) (map[string]any, int) {
	n := m.Len()
	if n == 0 {
		return nil, 0
	}
	out := make(map[string]any, min(n, c.maxAttrs))
	stopped := false
	m.Range(func(k string, v pcommon.Value) bool {
		if len(out) >= c.maxAttrs {
			stopped = true
			return false
		}
		k = c.str(k)
		if _, dup := out[k]; dup {
			return true
		}
		out[k] = c.value(v, 1)
		return true
	})
	dropped := n - len(out)
	if stopped {
		c.overLimit += dropped
	}
	return out, dropped
}

// value converts one AnyValue. depth is the nesting level of v: containers
// below maxDepth levels are replaced by depthMarker.
func (c *converter) value(v pcommon.Value, depth int) any {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return c.str(v.Str())
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON cannot carry these; keep them readable.
			return formatFloat(f)
		}
		return f
	case pcommon.ValueTypeBool:
		return v.Bool()
	case pcommon.ValueTypeBytes:
		return c.bytesValue(v.Bytes().AsRaw())
	case pcommon.ValueTypeMap:
		if depth > c.maxDepth {
			c.tooDeep = true
			return depthMarker
		}
		m := v.Map()
		out := make(map[string]any, m.Len())
		m.Range(func(k string, e pcommon.Value) bool {
			k = c.str(k)
			if _, dup := out[k]; !dup {
				out[k] = c.value(e, depth+1)
			}
			return true
		})
		return out
	case pcommon.ValueTypeSlice:
		if depth > c.maxDepth {
			c.tooDeep = true
			return depthMarker
		}
		s := v.Slice()
		out := make([]any, s.Len())
		for i := range out {
			out[i] = c.value(s.At(i), depth+1)
		}
		return out
	}
	return nil
}

// timestamp converts unix nanoseconds to UTC, clamping values beyond the
// int64 range.
func timestamp(ts pcommon.Timestamp) int64 {
	if uint64(ts) > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(ts)
}

// addDropped adds n to a dropped counter without overflowing it.
func addDropped(base uint32, n int) uint32 {
	sum := uint64(base) + uint64(max(n, 0))
	if sum > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(sum)
}
