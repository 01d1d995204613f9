package normalize

import (
	"cmp"
	"slices"
	"strings"
)

// Flattened lists (OpenInference, OpenLLMetry) arrive as prefix.N.field
// keys with zero-based N, nested lists as further numeric segments
// (llm.output_messages.0.message.tool_calls.1.tool_call.function.name).
// They are reassembled into []any of map[string]any whose keys are the
// dotted field names between numeric segments ("message.role"), with nested
// lists under their dotted prefix ("message.tool_calls"). getPath reads
// these maps and nested AnyValue maps alike.

// flatEntry is one flattened key below a list prefix.
type flatEntry struct {
	index int
	rest  string // the key after the index, "" when the element is the value itself
	value any
}

// maxFlatIndex bounds the index digits accepted, so that an absurd index
// neither overflows nor allocates: elements are kept in index order, never
// at their index.
const maxFlatIndexDigits = 9

// flatIndex groups a span's flattened keys by known prefix. It is built
// with one pass over the attributes.
type flatIndex map[string][]flatEntry

func buildFlatIndex(attrs map[string]any) flatIndex {
	var idx flatIndex
	for k, v := range attrs {
		if len(k) < 4 || !flattenedFirstBytes(k[0]) {
			continue
		}
		for _, p := range flattenedPrefixes {
			if len(k) <= len(p)+1 || k[len(p)] != '.' || !strings.HasPrefix(k, p) {
				continue
			}
			i, rest, ok := splitIndex(k[len(p)+1:])
			if !ok {
				continue
			}
			if idx == nil {
				idx = flatIndex{}
			}
			idx[p] = append(idx[p], flatEntry{index: i, rest: rest, value: v})
			break
		}
	}
	return idx
}

// flattenedFirstBytes is a quick filter: the first bytes of the known
// flattened prefixes.
func flattenedFirstBytes(c byte) bool {
	for _, p := range flattenedPrefixes {
		if p[0] == c {
			return true
		}
	}
	return false
}

// splitIndex parses "N" or "N.rest".
func splitIndex(s string) (int, string, bool) {
	end := strings.IndexByte(s, '.')
	seg, rest := s, ""
	if end >= 0 {
		seg, rest = s[:end], s[end+1:]
	}
	n, ok := parseIndex(seg)
	return n, rest, ok
}

func parseIndex(seg string) (int, bool) {
	if seg == "" || len(seg) > maxFlatIndexDigits {
		return 0, false
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// assembleList rebuilds a list from its entries, in index order. depth
// bounds nested lists.
func assembleList(entries []flatEntry, depth int) []any {
	if len(entries) == 0 {
		return nil
	}
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b flatEntry) int {
		if c := cmp.Compare(a.index, b.index); c != 0 {
			return c
		}
		return strings.Compare(a.rest, b.rest)
	})
	var out []any
	for start := 0; start < len(sorted); {
		end := start + 1
		for end < len(sorted) && sorted[end].index == sorted[start].index {
			end++
		}
		out = append(out, assembleElement(sorted[start:end], depth))
		start = end
	}
	return out
}

// assembleElement rebuilds one list element from its entries (all with the
// same index).
func assembleElement(entries []flatEntry, depth int) any {
	if entries[0].rest == "" {
		// prefix.N itself holds the value (sorted first).
		return entries[0].value
	}
	m := make(map[string]any, len(entries))
	var nested map[string][]flatEntry
	for _, e := range entries {
		key, idx, rest, ok := splitNested(e.rest)
		if !ok || depth <= 0 {
			m[e.rest] = e.value
			continue
		}
		if nested == nil {
			nested = map[string][]flatEntry{}
		}
		nested[key] = append(nested[key], flatEntry{index: idx, rest: rest, value: e.value})
	}
	for k, es := range nested {
		m[k] = assembleList(es, depth-1)
	}
	return m
}

// splitNested finds the first numeric segment after the first one:
// "message.tool_calls.0.tool_call.id" -> "message.tool_calls", 0,
// "tool_call.id".
func splitNested(s string) (string, int, string, bool) {
	start := 0
	for start < len(s) {
		end := strings.IndexByte(s[start:], '.')
		seg := s[start:]
		if end >= 0 {
			seg = s[start : start+end]
		}
		if start > 0 {
			if n, ok := parseIndex(seg); ok {
				rest := ""
				if end >= 0 {
					rest = s[start+end+1:]
				}
				return s[:start-1], n, rest, true
			}
		}
		if end < 0 {
			break
		}
		start += end + 1
	}
	return "", 0, "", false
}
