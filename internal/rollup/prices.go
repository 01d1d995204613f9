package rollup

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	// Model is a case-insensitive pattern of model names in which "*"
	// matches any run of characters: "gpt-4o", "gpt-4o-2024-*",
	// "*claude-3-5-sonnet*".
	Model string
	// InputPerMTok prices input tokens that were not cache reads.
	InputPerMTok float64
	// CachedInputPerMTok prices cache-read input tokens (0: same as input).
	CachedInputPerMTok float64
	// CacheWritePerMTok prices input tokens written to a prompt cache
	// (0: same as input).
	CacheWritePerMTok float64
	// OutputPerMTok prices output tokens (reasoning tokens included).
	OutputPerMTok float64
}

// Cost is the cost of a usage at this price. Input tokens include cache
// reads and writes (the OpenTelemetry meaning), which are priced apart.
func (p Price) Cost(u model.Usage) float64 {
	cached := min(max(u.CacheReadTokens, 0), max(u.InputTokens, 0))
	written := min(max(u.CacheWriteTokens, 0), max(u.InputTokens, 0)-cached)
	plain := max(u.InputTokens, 0) - cached - written
	cachedPrice := p.CachedInputPerMTok
	if cachedPrice == 0 {
		cachedPrice = p.InputPerMTok
	}
	writePrice := p.CacheWritePerMTok
	if writePrice == 0 {
		writePrice = p.InputPerMTok
	}
	return (float64(plain)*p.InputPerMTok + float64(cached)*cachedPrice +
		float64(written)*writePrice + float64(max(u.OutputTokens, 0))*p.OutputPerMTok) / 1e6
}

// Prices is a price table: the entries given (from the configuration) and
// the defaults shipped with flowwatch. A model takes the price of the most
// specific matching pattern (the one with the most characters besides
// "*"); between equally specific patterns a given entry wins over a
// default, and an earlier entry over a later one. So "gpt-4o*" in the
// configuration reprices gpt-4o and its snapshots, while gpt-4o-mini keeps
// the default "gpt-4o-mini*" unless that is given too. It is safe for
// concurrent use.
type Prices struct {
	given, defaults []Price
}

// NewPrices returns a price table of the given entries over the defaults.
// It rejects an entry without a model pattern or with a negative or
// non-finite price, naming the entry.
func NewPrices(given []Price, withDefaults bool) (*Prices, error) {
	var errs []error
	for i, p := range given {
		if strings.TrimSpace(p.Model) == "" {
			errs = append(errs, fmt.Errorf("pricing[%d]: model pattern is empty", i))
		}
		for _, f := range []struct {
			name string
			v    float64
		}{{"input_per_mtok", p.InputPerMTok}, {"cached_input_per_mtok", p.CachedInputPerMTok},
			{"cache_write_per_mtok", p.CacheWritePerMTok}, {"output_per_mtok", p.OutputPerMTok}} {
			if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
				errs = append(errs, fmt.Errorf("pricing[%d] (%s): %s must be a non-negative number, got %v", i, p.Model, f.name, f.v))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ps := &Prices{given: append([]Price(nil), given...)}
	if withDefaults {
		ps.defaults = DefaultPrices()
	}
	return ps, nil
}

// Lookup returns the price of a model.
func (ps *Prices) Lookup(modelName string) (Price, bool) {
	if ps == nil || modelName == "" {
		return Price{}, false
	}
	name := strings.ToLower(strings.TrimSpace(modelName))
	var best Price
	bestLen := -1
	for _, list := range [][]Price{ps.given, ps.defaults} {
		for _, p := range list {
			pat := strings.ToLower(p.Model)
			if !match(pat, name) && !match(pat, baseName(name)) {
				continue
			}
			if l := len(pat) - strings.Count(pat, "*"); l > bestLen {
				best, bestLen = p, l
			}
		}
	}
	return best, bestLen >= 0
}

// Cost returns the cost of a usage of a model, and false when the model
// has no price.
func (ps *Prices) Cost(modelName string, u model.Usage) (float64, bool) {
	p, ok := ps.Lookup(modelName)
	if !ok {
		return 0, false
	}
	return p.Cost(u), true
}

// baseName drops a provider prefix: "openai/gpt-4o" and
// "models/gemini-1.5-pro" become "gpt-4o" and "gemini-1.5-pro".
func baseName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// match reports whether name matches pattern, in which "*" matches any run
// of characters (and nothing else is special).
func match(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(name, part)
		if i < 0 {
			return false
		}
		name = name[i+len(part):]
	}
	return strings.HasSuffix(name, last) && len(name) >= len(last)
}
