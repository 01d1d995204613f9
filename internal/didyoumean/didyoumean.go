// Package didyoumean finds the word a person probably meant: the known
// key closest to a mistyped one, or the names seen closest to a name that
// was never seen.
package didyoumean

import (
	"cmp"
	"slices"
	"strings"
)

// Closest returns the candidate closest to word when it is close enough
// to be a typo (at most two edits, or a prefix of at least four
// characters either way), or "".
func Closest(word string, candidates []string) string {
	best, bestDist := "", 3
	w := strings.ToLower(word)
	for _, c := range candidates {
		if d := Distance(w, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" && len(w) >= 4 {
		for _, c := range candidates {
			lc := strings.ToLower(c)
			if strings.HasPrefix(lc, w) || strings.HasPrefix(w, lc) {
				return c
			}
		}
	}
	return best
}

// Rank returns the candidates ordered by closeness to word (edit distance,
// then name), without duplicates.
func Rank(word string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	w := strings.ToLower(word)
	seen := make(map[string]bool, len(candidates))
	list := make([]scored, 0, len(candidates))
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		list = append(list, scored{c, Distance(w, strings.ToLower(c))})
	}
	slices.SortFunc(list, func(a, b scored) int { return cmp.Or(cmp.Compare(a.d, b.d), strings.Compare(a.s, b.s)) })
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.s
	}
	return out
}

// maxRunes bounds the words compared: longer ones are "far" from all.
const maxRunes = 256

// Distance is the Levenshtein distance between a and b in runes.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > maxRunes || len(rb) > maxRunes {
		return max(len(ra), len(rb))
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
