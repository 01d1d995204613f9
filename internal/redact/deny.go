package redact

import (
	"errors"
	"fmt"
	"strings"
)

// MaxDenyPatternLength bounds one deny_attributes entry.
const MaxDenyPatternLength = 256

// denyList matches attribute keys against exact keys and '*' patterns,
// ignoring ASCII case.
type denyList struct {
	exact    map[string]bool
	patterns [][]string // each pattern split at '*'
}

// CheckDenyPattern reports what is wrong with a deny_attributes entry.
func CheckDenyPattern(p string) error {
	switch {
	case strings.TrimSpace(p) == "":
		return errors.New("must not be empty: an attribute key such as user.email, or a pattern such as http.request.header.*")
	case len(p) > MaxDenyPatternLength:
		return fmt.Errorf("is %d bytes long; at most %d", len(p), MaxDenyPatternLength)
	case strings.Trim(p, "*") == "":
		return errors.New("matches every attribute; name the keys to drop")
	}
	return nil
}

func newDenyList(patterns []string) (denyList, error) {
	var d denyList
	var errs []error
	for i, p := range patterns {
		if err := CheckDenyPattern(p); err != nil {
			errs = append(errs, fmt.Errorf("deny_attributes[%d] %q: %w", i, p, err))
			continue
		}
		p = strings.ToLower(p)
		if !strings.Contains(p, "*") {
			if d.exact == nil {
				d.exact = map[string]bool{}
			}
			d.exact[p] = true
			continue
		}
		d.patterns = append(d.patterns, strings.Split(p, "*"))
	}
	return d, errors.Join(errs...)
}

func (d *denyList) empty() bool { return len(d.exact) == 0 && len(d.patterns) == 0 }

// match reports whether key is denied.
func (d *denyList) match(key string) bool {
	if hasUpper(key) {
		key = strings.ToLower(key)
	}
	if d.exact[key] {
		return true
	}
	for _, parts := range d.patterns {
		if globMatch(parts, key) {
			return true
		}
	}
	return false
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

// globMatch matches s against a pattern split at its '*'s: the first part
// is a prefix, the last a suffix, the others appear in order between.
func globMatch(parts []string, s string) bool {
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
