// Package monitor owns flowwatch's monitor definitions: monitors as code.
//
// A monitor file is YAML (or JSON, which is YAML) in one of two forms:
//
//   - the native form, whose keys are those of model.Monitor
//     (docs/monitors.md lists them all);
//   - the reference form: the monitor schedule YAML of the cloud ML platform
//     flowwatch re-creates (create_monitor, monitoring_signals with a
//     generation_safety_quality and a generation_token_statistics signal),
//     recognised by its top-level create_monitor key and translated into
//     the native form, so a file written for that platform applies
//     unchanged.
//
// Load parses either form strictly, applies the defaults and validates the
// result, reporting every problem at once with the key path and the line
// it is on. Validate checks a monitor that is already built (one stored
// earlier). MarshalYAML writes a monitor back in the native form.
package monitor

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Env is what validation checks names against; nil funcs skip that check
// (offline validation) and Load's warnings say which checks were skipped.
type Env struct {
	Judge   func(name string) bool // a judge connection of the server config exists
	Channel func(name string) bool // a notification channel exists
	Emails  func() bool            // the server can send e-mail (smtp is configured)
}

// Form of a monitor file.
const (
	FormNative    = "native"
	FormReference = "reference" // the platform's create_monitor/monitoring_signals schedule YAML
)

// Loaded is a parsed, translated and validated monitor.
type Loaded struct {
	Monitor  model.Monitor // defaults applied
	Form     string
	Warnings []string // e.g. "compute: ignored: flowwatch runs monitors itself"
}

// Problem is one thing wrong with a monitor file.
type Problem struct {
	// Path is the key path, e.g. "window.lookback",
	// "quality.fluency.min_pass_rate", or in the reference form that file's
	// own path, e.g.
	// "create_monitor.monitoring_signals.gsq-signal.sampling_rate".
	Path    string
	Line    int // 1-based, 0 when unknown
	Column  int
	Message string // what is wrong and how to fix it
}

// String formats the problem as "line 7, column 3: window.lookback: ...".
func (p Problem) String() string {
	s := locate(p.Line, p.Column)
	if p.Path != "" {
		s += p.Path + ": "
	}
	return s + p.Message
}

// ValidationError lists the problems of a monitor file.
type ValidationError struct{ Problems []Problem }

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load parses data (YAML, or JSON which is YAML), detects its form,
// translates the reference form, applies defaults and validates. Its error
// is a *ValidationError listing every problem, or a *ParseError for input
// that is not a YAML mapping at all (also with the line). With a
// *ValidationError, the returned Loaded still holds the form, the warnings
// and the monitor as far as it could be read.
func Load(data []byte, env Env) (Loaded, error) {
	if len(data) > MaxFileSize {
		return Loaded{}, &ValidationError{Problems: []Problem{{Message: fmt.Sprintf(
			"the file is %d bytes; a monitor file may be at most %d bytes (1 MiB)", len(data), MaxFileSize)}}}
	}
	root, err := parseRoot(data)
	if err != nil {
		return Loaded{}, err
	}
	d := newDecoder()
	out := Loaded{Form: FormNative}
	if root.lookup("create_monitor") != nil {
		out.Form = FormReference
		out.Monitor = translate(root, d)
	} else {
		out.Monitor = decodeNative(root, d)
	}
	finish(&out.Monitor)

	problems := d.problems
	for _, is := range validate(out.Monitor, env) {
		if d.suppressed(is.path) {
			continue
		}
		shown, p, exact := d.locate(is.path, out.Form == FormReference)
		if !exact && is.near != "" {
			// A missing key: point at the keys that need it.
			if _, np, _ := d.locate(is.near, false); np.line > p.line {
				p = np
			}
		}
		problems = append(problems, Problem{Path: shown, Line: p.line, Column: p.col, Message: is.msg})
	}
	out.Warnings = append(d.warnings, skipped(out.Monitor, env)...)
	if len(problems) > 0 {
		sortProblems(problems)
		return out, &ValidationError{Problems: problems}
	}
	return out, nil
}

// sortProblems orders problems as they appear in the file; problems with
// no line come last.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// skipped says which name checks an offline load could not make.
func skipped(m model.Monitor, env Env) []string {
	var out []string
	if env.Judge == nil && m.Judge != "" {
		out = append(out, fmt.Sprintf("judge: not checked that the judge connection %q exists (no server configuration at hand)", m.Judge))
	}
	if env.Channel == nil && len(m.Notify.Channels) > 0 {
		out = append(out, fmt.Sprintf("notify.channels: not checked that the channels %s exist (no server configuration at hand)", strings.Join(m.Notify.Channels, ", ")))
	}
	return out
}

// Defaults of the native form; docs/monitors.md lists them.
const (
	defaultTimezone     = "UTC"
	defaultOffset       = "P0D"
	defaultSamplingRate = 1.0
	defaultForRuns      = 1
	defaultNoData       = NoDataAlert
	defaultPrompt       = "question"
	defaultCompletion   = "answer"
	defaultContext      = "context"
)

// What a run with no data in its window does.
const (
	NoDataAlert  = "alert"
	NoDataIgnore = "ignore"
)

// defaults returns a monitor holding the defaults of the keys whose Go
// zero value is a meaningful (and invalid) setting; decoding overwrites
// them with what the file says.
func defaults() model.Monitor {
	return model.Monitor{
		SamplingRate: defaultSamplingRate,
		Alerting:     model.Alerting{ForRuns: defaultForRuns},
	}
}

// finish fills in the defaults of keys that are absent or empty.
func finish(m *model.Monitor) {
	if m.Schedule.Timezone == "" {
		m.Schedule.Timezone = defaultTimezone
	}
	if m.Window.Offset == "" {
		m.Window.Offset = defaultOffset
	}
	if m.Alerting.NoData == "" {
		m.Alerting.NoData = defaultNoData
	}
	if m.Columns.Prompt == "" {
		m.Columns.Prompt = defaultPrompt
	}
	if m.Columns.Completion == "" {
		m.Columns.Completion = defaultCompletion
	}
	if m.Columns.Context == "" {
		m.Columns.Context = defaultContext
	}
	for name, t := range m.Quality {
		if t.PassScore != nil {
			continue
		}
		if info, ok := metricInfo(name); ok {
			v := info.defaultPass
			t.PassScore = &v
			m.Quality[name] = t
		}
	}
}
