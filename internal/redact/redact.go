// Package redact removes secrets and personal data from OTLP batches as
// they arrive, before anything is normalized, stored or sent to a judge.
//
// A Redactor applies, in this order: the attribute deny list (the whole
// value of a matching attribute key is replaced), then the built-in
// detectors (e-mail addresses, phone numbers, payment card numbers, API
// keys) and the custom regular expressions of the configuration to every
// string value: attribute values at any depth (resource, scope, span,
// span event, span link and log record attributes), span status messages
// and log record bodies. Each redacted text is replaced by a marker naming
// its rule, [REDACTED:email], and counted per rule; the values themselves
// are never logged or counted.
package redact

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// DenyRule is the rule name of the attribute deny list, in markers and
// in the counter.
const DenyRule = "deny_attributes"

// MaxPatternLength bounds a custom rule's regular expression.
const MaxPatternLength = 1024

// maxDepth bounds the walk through nested attribute values (the OTLP
// decoders refuse deeper nesting; this is a second guard).
const maxDepth = 256

// Rule is a custom rule: a name (used in the marker) and an RE2 regular
// expression (Go's regexp syntax).
type Rule struct {
	Name    string
	Pattern string
}

// Options configure a Redactor.
type Options struct {
	// Detectors names the built-in detectors to run (DetectorNames).
	Detectors []string
	// Rules are the custom regular expressions, applied after the
	// detectors in order.
	Rules []Rule
	// DenyAttributes are attribute keys whose values are replaced
	// entirely, whatever their type; '*' matches any run of characters
	// ("http.request.header.*"). Matching ignores ASCII case. Keys inside
	// map values are matched by their dotted path (a map attribute
	// "user" with a key "email" is "user.email").
	DenyAttributes []string
	// Registerer, when set, receives flowwatch_redactions_total.
	Registerer prometheus.Registerer
}

// Enabled reports whether o redacts anything.
func (o Options) Enabled() bool {
	return len(o.Detectors) > 0 || len(o.Rules) > 0 || len(o.DenyAttributes) > 0
}

// rule is one compiled rule.
type rule struct {
	name    string
	marker  string
	find    detector       // built-in
	re      *regexp.Regexp // custom
	counter prometheus.Counter
}

// Redactor redacts batches in place. It is safe for concurrent use.
type Redactor struct {
	counts  *prometheus.CounterVec
	rules   []rule // detectors then custom rules
	custom  bool   // some rules are regular expressions
	deny    denyList
	denyCtr prometheus.Counter
	denyMrk string
	log     *slog.Logger
}

var ruleNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// CheckRuleName reports what is wrong with a custom rule's name.
func CheckRuleName(name string) error {
	if !ruleNameRE.MatchString(name) {
		return errors.New("a rule name is 1-64 lower-case letters, digits or '_', starting with a letter")
	}
	if slices.Contains(DetectorNames(), name) || name == DenyRule {
		return fmt.Errorf("%q is the name of a built-in rule; choose another", name)
	}
	return nil
}

// Compile compiles a custom rule's pattern, refusing patterns that are
// too long or that match the empty string (which would put a marker
// between every two characters).
func Compile(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, errors.New("must not be empty")
	}
	if len(pattern) > MaxPatternLength {
		return nil, fmt.Errorf("is %d bytes long; at most %d", len(pattern), MaxPatternLength)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("is not a valid regular expression (RE2 syntax): %w", err)
	}
	if re.MatchString("") {
		return nil, errors.New("matches the empty string; it must match at least one character")
	}
	return re, nil
}

// Marker is what replaces a value redacted by the rule named name.
func Marker(name string) string { return "[REDACTED:" + name + "]" }

// New compiles opts. Every problem is reported, each naming its rule.
func New(opts Options, logger *slog.Logger) (*Redactor, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Redactor{log: logger.With("component", "redact")}
	var errs []error
	seen := map[string]bool{}
	for _, name := range opts.Detectors {
		i := slices.IndexFunc(builtins, func(b struct {
			name string
			find detector
		}) bool {
			return b.name == name
		})
		switch {
		case i < 0:
			errs = append(errs, fmt.Errorf("detector %q: unknown; the detectors are %s", name, strings.Join(DetectorNames(), ", ")))
		case seen[name]:
			errs = append(errs, fmt.Errorf("detector %q: listed twice", name))
		default:
			seen[name] = true
		}
	}
	// Detectors run in their fixed order of precedence, whatever the
	// order of the configuration.
	for _, b := range builtins {
		if seen[b.name] {
			r.rules = append(r.rules, rule{name: b.name, marker: Marker(b.name), find: b.find})
		}
	}
	for _, c := range opts.Rules {
		if err := CheckRuleName(c.Name); err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", c.Name, err))
			continue
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("rule %q: the name is used twice", c.Name))
			continue
		}
		seen[c.Name] = true
		re, err := Compile(c.Pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q: pattern %w", c.Name, err))
			continue
		}
		r.rules = append(r.rules, rule{name: c.Name, marker: Marker(c.Name), re: re})
		r.custom = true
	}
	deny, err := newDenyList(opts.DenyAttributes)
	if err != nil {
		errs = append(errs, err)
	}
	r.deny = deny
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	counts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flowwatch_redactions_total",
		Help: "Texts and attribute values replaced at ingest, by the rule that matched (a built-in detector, a custom rule or deny_attributes).",
	}, []string{"rule"})
	r.counts = counts
	for i := range r.rules {
		r.rules[i].counter = counts.WithLabelValues(r.rules[i].name)
	}
	r.denyMrk = Marker(DenyRule)
	if !r.deny.empty() {
		r.denyCtr = counts.WithLabelValues(DenyRule)
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(counts); err != nil {
			return nil, fmt.Errorf("redact: register metrics: %w", err)
		}
	}
	names := make([]string, len(r.rules))
	for i, ru := range r.rules {
		names[i] = ru.name
	}
	r.log.Info("redaction_enabled", "rules", strings.Join(names, ","), "deny_attributes", len(opts.DenyAttributes))
	return r, nil
}

// Collector is flowwatch_redactions_total, for a registry other than
// Options.Registerer.
func (r *Redactor) Collector() prometheus.Collector { return r.counts }

// Traces redacts td in place. A nil Redactor does nothing.
func (r *Redactor) Traces(td ptrace.Traces) {
	if r == nil {
		return
	}
	w := r.walker()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		w.attrs(rs.Resource().Attributes(), "", 0)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			w.attrs(ss.Scope().Attributes(), "", 0)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				w.attrs(sp.Attributes(), "", 0)
				if m := sp.Status().Message(); m != "" {
					if out, ok := w.text(m); ok {
						sp.Status().SetMessage(out)
					}
				}
				evs := sp.Events()
				for e := 0; e < evs.Len(); e++ {
					w.attrs(evs.At(e).Attributes(), "", 0)
				}
				links := sp.Links()
				for l := 0; l < links.Len(); l++ {
					w.attrs(links.At(l).Attributes(), "", 0)
				}
			}
		}
	}
	w.flush()
}

// Logs redacts ld in place: attributes and bodies. A nil Redactor does
// nothing.
func (r *Redactor) Logs(ld plog.Logs) {
	if r == nil {
		return
	}
	w := r.walker()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		w.attrs(rl.Resource().Attributes(), "", 0)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			w.attrs(sl.Scope().Attributes(), "", 0)
			recs := sl.LogRecords()
			for k := 0; k < recs.Len(); k++ {
				lr := recs.At(k)
				w.attrs(lr.Attributes(), "", 0)
				w.value(lr.Body(), "", 0)
			}
		}
	}
	w.flush()
}

// Text redacts one text, as the walk does every string value, and
// counts what it replaced.
func (r *Redactor) Text(s string) string {
	w := r.walker()
	out, _ := w.text(s)
	w.flush()
	return out
}

// walker is one walk over a batch; it counts locally and adds the counts
// to the counters once.
type walker struct {
	r      *Redactor
	counts []int
	denied int
	buf    []match
}

func (r *Redactor) walker() *walker {
	return &walker{r: r, counts: make([]int, len(r.rules))}
}

func (w *walker) flush() {
	for i, n := range w.counts {
		if n > 0 {
			w.r.rules[i].counter.Add(float64(n))
		}
	}
	if w.denied > 0 {
		w.r.denyCtr.Add(float64(w.denied))
	}
}

// attrs redacts the values of m; path is the dotted path of m inside an
// attribute value ("" at the top).
func (w *walker) attrs(m pcommon.Map, path string, depth int) {
	if m.Len() == 0 {
		return
	}
	deny := !w.r.deny.empty()
	for k, v := range m.All() {
		key := k
		if deny && path != "" {
			key = path + "." + k
		}
		if deny && w.r.deny.match(key) {
			if v.Type() != pcommon.ValueTypeStr || v.Str() != w.r.denyMrk {
				v.SetStr(w.r.denyMrk)
				w.denied++
			}
			continue
		}
		w.value(v, key, depth)
	}
}

func (w *walker) value(v pcommon.Value, path string, depth int) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if out, ok := w.text(v.Str()); ok {
			v.SetStr(out)
		}
	case pcommon.ValueTypeMap:
		if depth >= maxDepth {
			v.SetStr(Marker("too_deep"))
			return
		}
		w.attrs(v.Map(), path, depth+1)
	case pcommon.ValueTypeSlice:
		if depth >= maxDepth {
			v.SetStr(Marker("too_deep"))
			return
		}
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			w.value(sl.At(i), path, depth+1)
		}
	}
}
