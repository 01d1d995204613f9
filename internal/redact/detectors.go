package redact

import (
	"math/bits"
	"strings"
)

// The built-in detectors are hand-written scanners rather than regular
// expressions: they run over every string of every span, and a scanner
// that jumps to a cheap anchor ('@', '+', a digit, the start of a word)
// costs a fraction of a regular expression without a literal prefix.
// Each one is conservative: it prefers missing an odd format to
// replacing timestamps, ids and plain numbers.

// match is a byte range [start, end) of a text found by a rule.
type match struct {
	start, end int
	rule       int // index into Redactor.rules
}

// detector appends the ranges of s it finds to out.
type detector func(s string, rule int, out []match) []match

// Detector names, as the configuration writes them.
const (
	DetectorEmail  = "email"
	DetectorPhone  = "phone"
	DetectorCard   = "card"
	DetectorAPIKey = "api_key"
)

// builtins lists the detectors in the order they take precedence when two
// find overlapping text.
var builtins = []struct {
	name string
	find detector
}{
	{DetectorAPIKey, findAPIKeys},
	{DetectorCard, findCards},
	{DetectorEmail, findEmails},
	{DetectorPhone, findPhones},
}

// DetectorNames lists the built-in detectors.
func DetectorNames() []string {
	names := make([]string, len(builtins))
	for i, b := range builtins {
		names[i] = b.name
	}
	return names
}

// Byte classes, looked up in one table: the scanners spend their time
// walking text, one byte at a time between anchors.
const (
	clDigit  = 1 << iota // 0-9
	clAlpha              // A-Z a-z
	clWord               // continues a word: letters, digits, '_', bytes of multi-byte UTF-8
	clToken              // a key byte: letters, digits, '_', '-'
	clLocal              // an e-mail local part byte: letters, digits, . _ % + -
	clSecret             // a byte of a value after "token:": key bytes and . ~ + / =
)

var classes = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		digit := b >= '0' && b <= '9'
		alpha := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
		if digit {
			t[c] |= clDigit
		}
		if alpha {
			t[c] |= clAlpha
		}
		if digit || alpha || b == '_' || b >= 0x80 {
			t[c] |= clWord
		}
		if digit || alpha || b == '_' || b == '-' {
			t[c] |= clToken | clSecret
		}
		if digit || alpha || strings.IndexByte("._%+-", b) >= 0 {
			t[c] |= clLocal
		}
		if strings.IndexByte(".~+/=", b) >= 0 {
			t[c] |= clSecret
		}
	}
	return t
}()

func isDigit(c byte) bool { return classes[c]&clDigit != 0 }
func isAlpha(c byte) bool { return classes[c]&clAlpha != 0 }
func isAlnum(c byte) bool { return classes[c]&(clDigit|clAlpha) != 0 }

// isWord reports bytes that continue a word or an identifier; a match must
// not start or end next to one. Bytes of multi-byte UTF-8 sequences count
// as word bytes (letters of other scripts).
func isWord(c byte) bool { return classes[c]&clWord != 0 }

// nextDigit returns the index of the first digit of s at or after i, or
// len(s). It tests eight bytes at a time: prose has few digits.
func nextDigit(s string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte is a digit when it is below 0x80, above 0x2f and
		// below 0x3a; the lowest marked byte is the first digit.
		low := x &^ highs
		above := (low + ones*(0x7f-0x2f)) & highs
		below := (ones*(0x7f+0x3a) - low) & highs
		if m := above & below &^ x; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if isDigit(s[i]) {
			return i
		}
	}
	return len(s)
}

// boundaryBefore reports whether a match may start at i.
func boundaryBefore(s string, i int) bool { return i == 0 || !isWord(s[i-1]) }

// boundaryAfter reports whether a match may end at i.
func boundaryAfter(s string, i int) bool { return i >= len(s) || !isWord(s[i]) }

// ---- e-mail addresses ----

// isLocal reports the bytes of an address's local part this detector
// accepts (the common ones; quoted local parts are not recognised).
func isLocal(c byte) bool { return classes[c]&clLocal != 0 }

// fileSuffixes end names like icon@2x.png, which look like addresses.
var fileSuffixes = []string{"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "pdf"}

// findEmails finds local@domain.tld, where the domain has at least two
// labels and its last label is 2-63 letters.
func findEmails(s string, rule int, out []match) []match {
	from := 0
	for {
		k := strings.IndexByte(s[from:], '@')
		if k < 0 {
			return out
		}
		at := from + k
		from = at + 1
		start := at
		for start > 0 && at-start < 64 && isLocal(s[start-1]) {
			start--
		}
		if start > 0 && (isLocal(s[start-1]) || isWord(s[start-1])) {
			continue // too long, or inside a word of another script
		}
		for start < at && s[start] == '.' {
			start++
		}
		if start == at {
			continue
		}
		// The domain: labels of letters, digits and '-', joined by dots.
		end, labels, last := at+1, 0, at+1
		for end < len(s) && end-at < 254 {
			i := end
			for i < len(s) && (isAlnum(s[i]) || s[i] == '-') {
				i++
			}
			if i == end {
				break
			}
			labels++
			last = end
			end = i
			if end+1 < len(s) && s[end] == '.' && isAlnum(s[end+1]) {
				end++
				continue
			}
			break
		}
		if labels < 2 || !boundaryAfter(s, end) {
			continue
		}
		tld := s[last:end]
		if len(tld) < 2 || len(tld) > 63 || !allAlpha(tld) || isFileSuffix(tld) {
			continue
		}
		out = append(out, match{start, end, rule})
		from = end
	}
}

func allAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) {
			return false
		}
	}
	return true
}

func isFileSuffix(tld string) bool {
	for _, f := range fileSuffixes {
		if strings.EqualFold(tld, f) {
			return true
		}
	}
	return false
}

// ---- payment card numbers ----

// findCards finds 13-19 digit numbers that pass the Luhn check and start
// like a card of a major network, written either as one run of digits or
// in groups (the first of four digits, the others of 3-6) joined by one
// kind of separator (a space or a dash).
func findCards(s string, rule int, out []match) []match {
	for i := nextDigit(s, 0); i < len(s); i = nextDigit(s, i+1) {
		start := i
		end, digits, ok := cardShape(s, start)
		i = max(end, start+1) - 1
		if !ok || !boundaryBefore(s, start) || !boundaryAfter(s, end) {
			// Skip the rest of this run of digits and separators.
			for i+1 < len(s) && (isDigit(s[i+1]) || isAlnum(s[i+1])) {
				i++
			}
			continue
		}
		if digits < 13 || digits > 19 || !cardPrefix(s[start:end]) || !luhn(s[start:end]) {
			continue
		}
		// Part of a decimal number (0.4111...): not a card.
		if start > 1 && s[start-1] == '.' && isDigit(s[start-2]) || end+1 < len(s) && s[end] == '.' && isDigit(s[end+1]) {
			continue
		}
		out = append(out, match{start, end, rule})
	}
	return out
}

// cardShape reads digits and groups from start; it returns where the
// number ends, how many digits it has and whether its grouping is one a
// card is written in.
func cardShape(s string, start int) (end, digits int, ok bool) {
	var sep byte
	i := start
	group, groups := 0, 0
	for i < len(s) {
		c := s[i]
		if isDigit(c) {
			digits++
			group++
			i++
			if digits > 19 {
				return i, digits, false
			}
			continue
		}
		if (c == ' ' || c == '-') && i+1 < len(s) && isDigit(s[i+1]) && (sep == 0 || sep == c) {
			if groups == 0 && group != 4 || groups > 0 && (group < 3 || group > 6) {
				return i, digits, false
			}
			sep = c
			groups++
			group = 0
			i++
			continue
		}
		break
	}
	if groups > 0 && (group < 3 || group > 6) {
		return i, digits, false
	}
	return i, digits, true
}

// cardPrefix reports whether the number starts like a card of a major
// network (Visa, Mastercard, American Express, Discover, Diners, JCB,
// UnionPay, Maestro); ids and timestamps starting with 1, 7, 8, 9 or 0 are
// not cards.
func cardPrefix(num string) bool {
	var d [4]int
	n := 0
	for i := 0; i < len(num) && n < 4; i++ {
		if isDigit(num[i]) {
			d[n] = int(num[i] - '0')
			n++
		}
	}
	two := d[0]*10 + d[1]
	four := two*100 + d[2]*10 + d[3]
	switch d[0] {
	case 4, 5, 6:
		return true
	case 3:
		return two == 30 || two == 34 || two == 35 || two == 36 || two == 37 || two == 38 || two == 39
	case 2:
		return four >= 2221 && four <= 2720
	}
	return false
}

// luhn reports whether the digits of num pass the Luhn check; other bytes
// (separators) are skipped.
func luhn(num string) bool {
	sum, double := 0, false
	for i := len(num) - 1; i >= 0; i-- {
		c := num[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// ---- phone numbers ----

// findPhones finds international numbers written with a leading '+'
// (+44 20 7946 0958, +1-202-555-0173, +49 (0)30 1234567, +4915112345678:
// 8-15 digits in groups joined by one space, '-' or '.', with an optional
// group in parentheses) and North American numbers written with
// separators ((202) 555-0173, 202-555-0173, 202.555.0173). Plain runs of
// digits, dates, times and version numbers are not phone numbers here.
func findPhones(s string, rule int, out []match) []match {
	for i := nextDigit(s, 0); i < len(s); i = nextDigit(s, i+1) {
		start := i
		var prev byte
		if i > 0 {
			prev = s[i-1]
		}
		switch {
		case prev == '+':
			if i < 2 || !isWord(s[i-2]) && s[i-2] != '+' {
				if end, ok := intlPhone(s, i); ok {
					out = append(out, match{i - 1, end, rule})
					i = end - 1
					continue
				}
			}
		case prev == '(':
			start = i - 1
			fallthrough
		case prev == 0 || !isWord(prev) && strings.IndexByte("-./", prev) < 0:
			if end, ok := nanpPhone(s, start); ok {
				out = append(out, match{start, end, rule})
				i = end - 1
				continue
			}
		}
		// Skip the rest of this word or number.
		for i+1 < len(s) && isAlnum(s[i+1]) {
			i++
		}
	}
	return out
}

// intlPhone reads the digits after a '+'.
func intlPhone(s string, i int) (int, bool) {
	if i >= len(s) || !isDigit(s[i]) {
		return 0, false
	}
	digits, parens, seps := 0, 0, 0
	end := i
	for i < len(s) {
		c := s[i]
		switch {
		case isDigit(c):
			digits++
			i++
			end = i
			continue
		case c == '(' && parens == 0 && i+1 < len(s) && isDigit(s[i+1]):
			j := i + 1
			for j < len(s) && isDigit(s[j]) && j-i <= 4 {
				j++
			}
			if j < len(s) && s[j] == ')' {
				digits += j - i - 1
				parens++
				seps++
				i = j + 1
				end = i
				continue
			}
		case (c == ' ' || c == '-' || c == '.') && i+1 < len(s) && (isDigit(s[i+1]) || s[i+1] == '(' && parens == 0):
			seps++
			i++
			continue
		}
		break
	}
	// Without separators only a full number (10 digits or more) counts.
	if digits < 8 || digits > 15 || seps == 0 && digits < 10 || !boundaryAfter(s, end) {
		return 0, false
	}
	// "+1.5" and the like continue as a number: not a phone.
	if end+1 < len(s) && (s[end] == '.' || s[end] == '-') && isDigit(s[end+1]) {
		return 0, false
	}
	return end, true
}

// nanpPhone reads (ddd) ddd-dddd, ddd-ddd-dddd or ddd.ddd.dddd at i.
func nanpPhone(s string, i int) (int, bool) {
	digitsAt := func(j, n int) bool {
		if j+n > len(s) {
			return false
		}
		for k := j; k < j+n; k++ {
			if !isDigit(s[k]) {
				return false
			}
		}
		return true
	}
	var end int
	if s[i] == '(' {
		if !digitsAt(i+1, 3) || i+4 >= len(s) || s[i+4] != ')' {
			return 0, false
		}
		j := i + 5
		if j < len(s) && s[j] == ' ' {
			j++
		}
		if !digitsAt(j, 3) || j+3 >= len(s) || (s[j+3] != '-' && s[j+3] != '.' && s[j+3] != ' ') || !digitsAt(j+4, 4) {
			return 0, false
		}
		end = j + 8
	} else {
		if !digitsAt(i, 3) || i+3 >= len(s) {
			return 0, false
		}
		sep := s[i+3]
		if sep != '-' && sep != '.' {
			return 0, false
		}
		if !digitsAt(i+4, 3) || i+7 >= len(s) || s[i+7] != sep || !digitsAt(i+8, 4) {
			return 0, false
		}
		end = i + 12
	}
	if !boundaryAfter(s, end) {
		return 0, false
	}
	if end+1 < len(s) && strings.IndexByte("-./:", s[end]) >= 0 && isDigit(s[end+1]) {
		return 0, false
	}
	return end, true
}

// ---- API keys and other credentials ----

// isToken reports the bytes of a key: letters, digits, '_' and '-'.
func isToken(c byte) bool { return classes[c]&clToken != 0 }

// isSecretByte reports the bytes of a value after "token:" or "Bearer ":
// base64 (both alphabets), hex, JWTs.
func isSecretByte(c byte) bool { return classes[c]&clSecret != 0 }

// keyPrefix is a provider's key format: a literal prefix, then at least
// min key bytes (exactly when exact), all letters and digits when alnum.
type keyPrefix struct {
	prefix  string
	min     int
	exact   bool
	alnum   bool
	upper   bool // only upper-case letters and digits after the prefix
	randomy bool // the body must look random (see random)
}

// keyPrefixes, grouped by first byte for the scanner.
var keyPrefixes = map[byte][]keyPrefix{
	's': {{prefix: "sk-", min: 20, randomy: true}, {prefix: "sk_live_", min: 16}, {prefix: "sk_test_", min: 16}},
	'r': {{prefix: "rk_live_", min: 16}},
	'A': {{prefix: "AKIA", min: 16, exact: true, upper: true}, {prefix: "ASIA", min: 16, exact: true, upper: true}, {prefix: "AIza", min: 35, exact: true}},
	'g': {{prefix: "ghp_", min: 30, alnum: true}, {prefix: "gho_", min: 30, alnum: true}, {prefix: "ghu_", min: 30, alnum: true},
		{prefix: "ghs_", min: 30, alnum: true}, {prefix: "ghr_", min: 30, alnum: true}, {prefix: "github_pat_", min: 40},
		{prefix: "glpat-", min: 20}},
	'x': {{prefix: "xoxb-", min: 10}, {prefix: "xoxp-", min: 10}, {prefix: "xoxa-", min: 10},
		{prefix: "xoxr-", min: 10}, {prefix: "xoxs-", min: 10}},
	'h': {{prefix: "hf_", min: 30, alnum: true}},
}

// contextWords announce a secret value: "api_key: ...", "token=...",
// "client_secret": "...", "password=...".
var contextWords = []string{"key", "token", "secret", "password", "passwd", "credential", "credentials"}

// minKeyRun is the shortest run of key bytes a provider key or a JWT's
// first part can be.
const minKeyRun = 14

// findAPIKeys finds provider key formats (sk-..., sk-ant-..., AKIA...,
// ghp_..., xoxb-..., AIza..., glpat-..., hf_...), JSON web tokens, the
// token after "Bearer", and a long random-looking value after a word
// ending in key, token, secret or password and ':' or '='.
//
// It looks in three ways, each skipping most of a text: runs of at least
// minKeyRun key bytes (probing every minKeyRun bytes), the words before
// each ':' and '=', and each "bearer".
func findAPIKeys(s string, rule int, out []match) []match {
	// Long runs: provider keys and JWTs.
	for i := 0; i+minKeyRun <= len(s); {
		p := i + minKeyRun - 1
		q := p
		for q >= i && isToken(s[q]) {
			q--
		}
		if q >= i {
			i = q + 1 // no run of minKeyRun bytes includes s[q]
			continue
		}
		// s[i:p+1] are key bytes, and s[i-1] is not one.
		end := p + 1
		for end < len(s) && isToken(s[end]) {
			end++
		}
		if boundaryBefore(s, i) {
			if e, ok := prefixedKey(s, i, end); ok {
				out = append(out, match{i, e, rule})
			} else if strings.HasPrefix(s[i:end], "eyJ") {
				if e, ok := jwt(s, i); ok {
					out = append(out, match{i, e, rule})
					end = e
				}
			}
		}
		i = end + 1
	}
	// "api_key": "...", token=..., password: ...
	for _, sep := range []byte{':', '='} {
		for from := 0; from < len(s); {
			k := strings.IndexByte(s[from:], sep)
			if k < 0 {
				break
			}
			at := from + k
			from = at + 1
			// Back over quotes and spaces to the word.
			e := at
			for e > 0 && at-e < 6 && strings.IndexByte(" \t\"'\\", s[e-1]) >= 0 {
				e--
			}
			b := e
			for b > 0 && e-b <= 40 && isToken(s[b-1]) {
				b--
			}
			if e-b < 3 || e-b > 40 || !boundaryBefore(s, b) || !endsWithContextWord(s[b:e]) {
				continue
			}
			if vs, ve, ok := secretValue(s, e, false); ok {
				out = append(out, match{vs, ve, rule})
				from = ve
			}
		}
	}
	// Bearer tokens.
	// (Searching for a word that starts with a rare letter is fast.)
	for _, word := range []string{"Bearer", "bearer", "BEARER"} {
		for from := 0; from < len(s); {
			k := strings.Index(s[from:], word)
			if k < 0 {
				break
			}
			at := from + k
			from = at + len(word)
			if !boundaryBefore(s, at) {
				continue
			}
			if vs, ve, ok := secretValue(s, from, true); ok {
				out = append(out, match{vs, ve, rule})
				from = ve
			}
		}
	}
	return out
}

func prefixedKey(s string, start, end int) (int, bool) {
	for _, p := range keyPrefixes[s[start]] {
		if !strings.HasPrefix(s[start:end], p.prefix) {
			continue
		}
		body := s[start+len(p.prefix) : end]
		if p.exact && len(body) != p.min || len(body) < p.min {
			continue
		}
		if p.alnum || p.upper {
			ok := true
			for i := 0; i < len(body); i++ {
				c := body[i]
				if !isAlnum(c) || p.upper && c >= 'a' && c <= 'z' {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
		}
		if p.randomy && !random(body) {
			continue
		}
		return end, true
	}
	return 0, false
}

// random reports whether a key body looks random rather than like words
// joined by dashes ("sk-2024-annual-report-final"): it has a digit and a
// letter, and its parts between '-' and '_' average eight bytes or more.
func random(body string) bool {
	digits, letters, parts, n := 0, 0, 1, 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case isDigit(c):
			digits++
			n++
		case isAlpha(c):
			letters++
			n++
		case c == '-' || c == '_' || c == '.':
			parts++
		default:
			n++
		}
	}
	return digits > 0 && letters > 0 && n >= 8*parts
}

// jwt reads header.payload.signature of base64url parts from start.
func jwt(s string, start int) (int, bool) {
	i, dots := start, 0
	for i < len(s) && (isToken(s[i]) || s[i] == '.') {
		if s[i] == '.' {
			dots++
		}
		i++
	}
	for i > start && s[i-1] == '.' {
		i--
		dots--
	}
	if dots != 2 || i-start < 30 || !boundaryAfter(s, i) {
		return 0, false
	}
	return i, true
}

func endsWithContextWord(word string) bool {
	switch word[len(word)-1] | 0x20 {
	case 'y', 'n', 't', 'd', 'l', 's':
	default:
		return false
	}
	for _, w := range contextWords {
		if len(word) >= len(w) && strings.EqualFold(word[len(word)-len(w):], w) {
			// "monkey", "turkey": the word must be the context word or
			// end in a separator before it.
			if len(word) == len(w) {
				return true
			}
			c := word[len(word)-len(w)-1]
			if c == '_' || c == '-' || isAlpha(c) && isUpperCamel(word[len(word)-len(w)]) {
				return true
			}
		}
	}
	return false
}

// isUpperCamel reports an upper-case letter starting a camelCase part
// ("apiKey", "accessToken").
func isUpperCamel(c byte) bool { return c >= 'A' && c <= 'Z' }

// secretValue finds the value after a context word that ends at i:
// optional quotes and spaces, then ':' or '=' (after "Bearer", only
// spaces), more quotes and spaces, then 16 or more random-looking bytes.
func secretValue(s string, i int, bearer bool) (int, int, bool) {
	j := i
	sep := false
	for j < len(s) && j-i < 10 {
		c := s[j]
		switch {
		case c == ' ' || c == '\t':
		case (c == '"' || c == '\'' || c == '\\') && !bearer: // quotes, also escaped ones
		case (c == ':' || c == '=') && !bearer && !sep:
			sep = true
		default:
			goto value
		}
		j++
	}
value:
	if !sep && !bearer || bearer && j == i {
		return 0, 0, false
	}
	start := j
	for j < len(s) && isSecretByte(s[j]) {
		j++
	}
	// A trailing '.' or ',' ends a sentence, not the secret.
	for j > start && (s[j-1] == '.' || s[j-1] == ',') {
		j--
	}
	v := s[start:j]
	if len(v) < 16 || !boundaryAfter(s, j) || !random(v) {
		return 0, 0, false
	}
	return start, j, true
}
