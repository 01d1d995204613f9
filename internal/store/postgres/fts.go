package postgres

// Full text. The SQLite backend indexes with FTS5's unicode61 tokenizer
// (remove_diacritics 2): words are runs of letters and digits, folded to
// lower case and stripped of Latin diacritics; a query's words must all
// match, the last one also as a prefix. PostgreSQL's parsers split text by
// rules of their own and by the server's locale, so this backend does not
// use them: Go splits and folds the text into lexemes here, the index
// holds them as they are (array_to_tsvector), and a query is a tsquery
// built here from the words folded the same way. Both sides agree by
// construction, whatever the server's configuration, and no extension
// (unaccent) is needed.

import (
	"github.com/flowwatch/flowwatch/internal/textclip"

	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Full-text bounds: as the SQLite backend's query bounds; a lexeme is cut
// at maxLexemeLen bytes on both sides (PostgreSQL refuses lexemes of 2 KB).
const (
	maxQueryTerms = 32
	maxLexemeLen  = 256
)

// ftsWordRune reports whether r belongs in a word (as unicode61 decides:
// letters, digits and private-use characters, less the few characters Go
// calls letters and SQLite's tables do not).
func ftsWordRune(r rune) bool {
	return (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r)) && !tokenizerSeparator(r)
}

func tokenizerSeparator(r rune) bool {
	return (r >= 0x19B0 && r <= 0x19C0) || r == 0x19C8 || r == 0x19C9 || r == 0x1CF2 || r == 0x1CF3
}

// foldText lower-cases text and strips diacritics from Latin letters.
func foldText(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	s = strings.ToValidUTF8(s, " ")
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	latin := false
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			if latin {
				continue
			}
		} else {
			latin = unicode.Is(unicode.Latin, r)
		}
		b.WriteRune(r)
	}
	return strings.ToLower(norm.NFC.String(b.String()))
}

// ftsWords returns the folded words of a text, each cut to maxLexemeLen.
func ftsWords(text string) []string {
	words := strings.FieldsFunc(foldText(text), func(r rune) bool { return !ftsWordRune(r) })
	for i, w := range words {
		if len(w) > maxLexemeLen {
			words[i], _ = textclip.Bytes(w, maxLexemeLen)
		}
	}
	return words
}

// ftsLexemes returns the distinct words of a trace's text, space
// separated (words hold no spaces), for array_to_tsvector.
func ftsLexemes(text string) string {
	if text == "" {
		return ""
	}
	words := ftsWords(text)
	slices.Sort(words)
	return strings.Join(slices.Compact(words), " ")
}

// ftsQuery turns user text into a tsquery that cannot be a syntax error:
// its words, ANDed, the last one a prefix ('w1' & 'w2':*). Text without
// words gives "" (no full-text filter).
func ftsQuery(text string) string {
	words := ftsWords(text)
	if len(words) > maxQueryTerms {
		words = words[:maxQueryTerms]
	}
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteString(" & ")
		}
		b.WriteByte('\'')
		b.WriteString(w) // letters and digits only: nothing to escape
		b.WriteByte('\'')
		if i == len(words)-1 {
			b.WriteString(":*")
		}
	}
	return b.String()
}

func isUTF8(s string) bool { return utf8.ValidString(s) }
