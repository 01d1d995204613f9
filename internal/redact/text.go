package redact

import (
	"slices"
	"strings"
)

// minText is the shortest text a detector can find something in
// ("a@b.cd"); custom rules look at every text.
const minText = 6

// text returns s with every match of the rules replaced by its rule's
// marker, and whether anything was replaced.
//
// Texts holding JSON (gen_ai.input.messages, input.value, ...) are
// scanned as written, with two precautions: escape sequences (\n, \",
// \u00e9) are seen as spaces, so that a match never starts or ends inside
// one and leaves a broken escape behind; and a match outside the JSON's
// strings (a card number written as a JSON number) is replaced by the
// marker in quotes, so that the JSON stays valid. For custom rules the
// match ends at the first quote of the JSON, so that a pattern cannot run
// from one string into the next.
func (w *walker) text(s string) (string, bool) {
	r := w.r
	if len(r.rules) == 0 || len(s) < minText && !r.custom {
		return s, false
	}
	view := s
	isJSON := looksLikeJSON(s)
	if isJSON && wordEscapes(s) {
		view = maskJSON(s)
	}
	ms := w.buf[:0]
	for i := range r.rules {
		ru := &r.rules[i]
		if ru.find != nil {
			ms = ru.find(view, i, ms)
			continue
		}
		for _, loc := range ru.re.FindAllStringIndex(view, -1) {
			start, end := loc[0], loc[1]
			if isJSON {
				// A pattern may not run from one JSON string into the
				// next: the match ends at a quote.
				if q := strings.IndexByte(view[start:end], '"'); q >= 0 {
					end = start + q
				}
			}
			if end > start {
				ms = append(ms, match{start, end, i})
			}
		}
	}
	w.buf = ms
	if len(ms) == 0 {
		return s, false
	}
	if len(ms) > 1 {
		slices.SortFunc(ms, func(a, b match) int {
			if a.start != b.start {
				return a.start - b.start
			}
			return a.rule - b.rule
		})
	}
	var b strings.Builder
	b.Grow(len(s) + 16*len(ms))
	last := 0
	// For JSON: whether position pos is inside a string literal.
	inString, pos := false, 0
	for _, m := range ms {
		if m.start < last {
			continue // overlaps a match already replaced
		}
		b.WriteString(s[last:m.start])
		marker := r.rules[m.rule].marker
		if isJSON {
			for ; pos < m.start; pos++ {
				switch s[pos] {
				case '\\':
					pos++
				case '"':
					inString = !inString
				}
			}
			if !inString {
				marker = `"` + marker + `"`
			}
		}
		b.WriteString(marker)
		last = m.end
		w.counts[m.rule]++
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// looksLikeJSON reports texts that start like a JSON object or array:
// '{' followed by '"' or '}', or '[' followed by the start of a value.
// "[INFO] ..." and "{user}" are not JSON.
func looksLikeJSON(s string) bool {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' && s[i] != '[' {
		return false
	}
	open := s[i]
	j := skipSpace(s, i+1)
	if j >= len(s) {
		return false
	}
	c := s[j]
	if open == '{' {
		return c == '"' || c == '}'
	}
	return c == '{' || c == '[' || c == '"' || c == ']' || c == '-' || isDigit(c) ||
		strings.HasPrefix(s[j:], "true") || strings.HasPrefix(s[j:], "false") || strings.HasPrefix(s[j:], "null")
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i++
	}
	return i
}

// maskJSON returns a copy of s of the same length in which escape
// sequences are spaces.
func maskJSON(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' {
			n := 2
			if i+1 < len(b) && b[i+1] == 'u' && i+6 <= len(b) && isHex4(s[i+2:i+6]) {
				n = 6
			}
			for k := i; k < i+n && k < len(b); k++ {
				b[k] = ' '
			}
			i += n - 1
		}
	}
	return string(b)
}

func isHex4(s string) bool {
	for i := 0; i < 4; i++ {
		c := s[i]
		if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'f') {
			return false
		}
	}
	return true
}

// wordEscapes reports whether s has an escape sequence whose escaped byte
// is a letter (\n, \t, \u00e9): the only ones a detector could read as
// part of a word. \" \\ and \/ are separators as they stand.
func wordEscapes(s string) bool {
	for i := strings.IndexByte(s, '\\'); i >= 0 && i+1 < len(s); {
		if isAlpha(s[i+1]) {
			return true
		}
		next := strings.IndexByte(s[i+2:], '\\')
		if next < 0 {
			return false
		}
		i += 2 + next
	}
	return false
}
