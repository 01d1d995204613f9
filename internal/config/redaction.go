package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flowwatch/flowwatch/internal/redact"
)

// Redaction removes secrets and personal data from what apps send, before
// anything is stored or shown to a judge. Off unless configured.
type Redaction struct {
	// Detectors are the built-in detectors to run: email, phone, card,
	// api_key (redact.DetectorNames).
	Detectors []string `yaml:"detectors"`
	// Rules are custom regular expressions (RE2 syntax), each replaced by
	// [REDACTED:name].
	Rules []RedactionRule `yaml:"rules"`
	// DenyAttributes are attribute keys (or patterns with '*') whose
	// values are replaced entirely, whatever they hold.
	DenyAttributes []string `yaml:"deny_attributes"`
}

// RedactionRule is one custom redaction rule.
type RedactionRule struct {
	// Name appears in the marker ([REDACTED:name]) and in the
	// flowwatch_redactions_total counter.
	Name string `yaml:"name"`
	// Pattern is a Go (RE2) regular expression.
	Pattern string `yaml:"pattern"`
}

// Options returns the redact options of r (without a registerer).
func (r Redaction) Options() redact.Options {
	o := redact.Options{Detectors: r.Detectors, DenyAttributes: r.DenyAttributes}
	for _, ru := range r.Rules {
		o.Rules = append(o.Rules, redact.Rule{Name: ru.Name, Pattern: ru.Pattern})
	}
	return o
}

// validate reports every problem of the redaction section, each naming
// its key path.
func (r Redaction) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	known := redact.DetectorNames()
	for i, d := range r.Detectors {
		key := fmt.Sprintf("redaction.detectors[%d]", i)
		switch {
		case !slices.Contains(known, d):
			add(key, "unknown detector %q; the detectors are %s", d, strings.Join(known, ", "))
		case slices.Index(r.Detectors, d) < i:
			add(key, "%q is listed twice", d)
		}
	}
	for i, ru := range r.Rules {
		key := fmt.Sprintf("redaction.rules[%d]", i)
		if err := redact.CheckRuleName(ru.Name); err != nil {
			add(key+".name", "%q: %v", ru.Name, err)
		} else if slices.IndexFunc(r.Rules[:i], func(o RedactionRule) bool { return o.Name == ru.Name }) >= 0 {
			add(key+".name", "%q is used by an earlier rule", ru.Name)
		}
		if _, err := redact.Compile(ru.Pattern); err != nil {
			add(key+".pattern", "rule %q: the pattern %v", ru.Name, err)
		}
	}
	for i, p := range r.DenyAttributes {
		if err := redact.CheckDenyPattern(p); err != nil {
			add(fmt.Sprintf("redaction.deny_attributes[%d]", i), "%q %v", p, err)
		}
	}
	return errs
}

// setDetectors sets redaction.detectors from a comma-separated list
// (FLOWWATCH_REDACTION_DETECTORS); "none" or "" clears it.
func setDetectors(c *Config, v string) error {
	c.Redaction.Detectors = nil
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d != "" && d != "none" {
			c.Redaction.Detectors = append(c.Redaction.Detectors, d)
		}
	}
	return nil
}
