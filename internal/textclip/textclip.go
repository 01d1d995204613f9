// Package textclip cuts text to a size, on a character boundary, so that
// a long question or answer can be shown in a list, a table cell or a
// message without splitting a UTF-8 sequence.
package textclip

import "unicode/utf8"

// Runes returns the first n runes of s and whether anything was cut. A
// negative n counts as 0. Invalid UTF-8 bytes count as one rune each and
// are kept as they are.
func Runes(s string, n int) (string, bool) {
	if n <= 0 {
		return "", s != ""
	}
	if len(s) <= n {
		// Fewer bytes than n: certainly no more than n runes.
		return s, false
	}
	count := 0
	for i := range s {
		if count == n {
			return s[:i], true
		}
		count++
	}
	return s, false
}

// Bytes returns the longest prefix of s of at most n bytes that does not
// end inside a UTF-8 sequence, and whether anything was cut.
func Bytes(s string, n int) (string, bool) {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}
