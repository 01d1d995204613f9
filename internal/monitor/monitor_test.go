package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testEnv knows the judge connections and channels of a server config.
func testEnv() Env {
	return Env{
		Judge:   func(name string) bool { return name == "aoai-connection" || name == "local" || name == "judge-gpt4" },
		Channel: func(name string) bool { return name == "oncall" },
	}
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", path, diff)
	}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"*.yaml", "*.json"} {
		m, err := filepath.Glob(filepath.Join("testdata", dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	slices.Sort(out)
	if len(out) == 0 {
		t.Fatalf("no test files in testdata/%s", dir)
	}
	return out
}

func load(t *testing.T, path string, env Env) (Loaded, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Load(data, env)
}

// TestLoadGood loads every file of testdata/good and compares the result
// (form, warnings, monitor) with its golden file.
func TestLoadGood(t *testing.T) {
	for _, path := range files(t, "good") {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			got, err := load(t, path, testEnv())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			wantForm := FormNative
			if strings.HasPrefix(name, "reference") {
				wantForm = FormReference
			}
			if got.Form != wantForm {
				t.Errorf("form = %q, want %q", got.Form, wantForm)
			}
			out, err := json.MarshalIndent(struct {
				Form     string        `json:"form"`
				Warnings []string      `json:"warnings"`
				Monitor  model.Monitor `json:"monitor"`
			}{got.Form, got.Warnings, got.Monitor}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("good", strings.TrimSuffix(name, filepath.Ext(name))+".golden"), append(out, '\n'))
		})
	}
}

// TestLoadBad loads every file of testdata/bad: each must fail, and the
// whole error text is compared with its golden file.
func TestLoadBad(t *testing.T) {
	for _, path := range files(t, "bad") {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			_, err := load(t, path, testEnv())
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			golden(t, filepath.Join("bad", strings.TrimSuffix(name, filepath.Ext(name))+".golden"), []byte(err.Error()+"\n"))
		})
	}
}

// TestSeedFormsAgree is the "done means" check: the reference platform's
// example and its native translation written by hand load to the same
// monitor.
func TestSeedFormsAgree(t *testing.T) {
	ref, err := load(t, "testdata/good/reference_seed.yaml", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	native, err := load(t, "testdata/good/native_seed.yaml", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if ref.Form != FormReference || native.Form != FormNative {
		t.Errorf("forms = %q, %q; want reference, native", ref.Form, native.Form)
	}
	if diff := cmp.Diff(native.Monitor, ref.Monitor); diff != "" {
		t.Errorf("reference form translates differently from the native file (-native +reference):\n%s", diff)
	}
	if len(native.Warnings) != 0 {
		t.Errorf("native warnings = %q, want none", native.Warnings)
	}
	// Every platform-only key of the example is named in a warning.
	for _, key := range []string{"create_monitor.compute", "monitoring_target.ml_task", "input_data", "aoai_deployment_name", "enable_action_analyzer"} {
		if !slices.ContainsFunc(ref.Warnings, func(w string) bool { return strings.Contains(w, key) && strings.Contains(w, "ignored") }) {
			t.Errorf("no warning says %s is ignored; warnings: %q", key, ref.Warnings)
		}
	}
}

// TestLoadBadMessages checks, for the bad files the issue names, that the
// problem says what is wrong, where (key path and line), and how to fix
// it.
func TestLoadBadMessages(t *testing.T) {
	tests := []struct {
		file string
		path string
		line int
		want string // part of the message
	}{
		{"unknown_keys.yaml", "window.lookbak", 5, `unknown key "lookbak" (did you mean "lookback"?)`},
		{"unknown_keys.yaml", "sampling", 6, `did you mean "sampling_rate"?`},
		{"unknown_keys.yaml", "quality.groundedness.pass", 9, `expected one of: min_average, min_pass_rate, pass_score`},
		{"bad_cron_fields.yaml", "schedule.cron", 4, `has 4 fields; a cron expression has 5`},
		{"bad_cron_range.yaml", "schedule.cron", 4, `the hour field "25" is not valid: 25 is outside 0-23`},
		{"cron_never_fires.yaml", "schedule.cron", 4, `"0 0 30 2 *" never fires: no date within eight years matches it`},
		{"cron_31st_of_short_months.yaml", "schedule.cron", 4, `never fires`},
		{"bad_cron_range.yaml", "schedule.timezone", 5, `unknown time zone "Mars/Olympus_Mons"; use an IANA name`},
		{"window_p1m.yaml", "window.lookback", 5, `P1M: months are not allowed (their length varies); use days, e.g. P30D`},
		{"window_p1m.yaml", "window.offset", 6, `must not be negative`},
		{"window_long.yaml", "window.lookback", 4, `longer than 366 days`},
		{"window_long.yaml", "window.offset", 4, `is not an ISO 8601 duration; write e.g. P7D`},
		{"sampling_zero.yaml", "sampling_rate", 5, `must be greater than 0 and at most 1`},
		{"sampling_above_one.yaml", "sampling_rate", 5, `must be greater than 0 and at most 1 (1 judges every trace of the window, 0.1 one in ten), not 1.5`},
		{"thresholds.yaml", "quality.groundedness.pass_score", 8, `scale is 1 to 5), not 7`},
		{"thresholds.yaml", "quality.fluency.min_pass_rate", 9, `must be between 0 and 1`},
		{"thresholds.yaml", "quality.fluency.min_average", 9, `scale is 1 to 5), not 0`},
		{"thresholds.yaml", "quality.f1_score.pass_score", 10, `scale is 0 to 1), not 3`},
		{"thresholds.yaml", "quality.fluncy", 11, `did you mean "fluency"?`},
		{"thresholds.yaml", "operational.error_rate.max", 13, `between 0 and 1 (0.05 is 5%), not 2`},
		{"thresholds.yaml", "operational.latency_p95_ms", 14, `min (500) is above max (100)`},
		{"thresholds.yaml", "operational.total_tokens", 15, `set max and/or min`},
		{"missing_judge_connection.yaml", "judge", 5, `missing judge connection "no-such-judge": the server config has no judge of that name; add it under judges:`},
		{"no_judge.yaml", "judge", 6, `missing judge connection: groundedness, similarity are judged by an LLM`},
		{"no_judge.yaml", "columns.ground_truth", 7, `required by similarity`},
		{"types.yaml", "name", 1, `may only hold letters, digits`},
		{"types.yaml", "target", 2, `must be a mapping (key: value pairs), not the scalar "rag"`},
		{"types.yaml", "schedule.recurrence.hours[0]", 4, `an hour is 0 to 23, not 25`},
		{"types.yaml", "alerting.repeat_interval", 10, `must be at least 1m`},
		{"types.yaml", "notify.emails[0]", 11, `is not an e-mail address`},
		{"types.yaml", "notify.channels[0]", 11, `unknown channel "pager": add it under channels:`},
		{"missing_everything.yaml", "target.service", 1, `required`},
		{"reference_missing_judge.yaml", "create_monitor.monitoring_signals.gsq-signal.connection_id", 8, `missing judge connection "other-connection"`},
		{"reference_two_signals.yaml", "create_monitor.monitoring_signals.second", 13, `flowwatch monitors have one quality signal; split into several monitors`},
		{"reference_problems.yaml", "trigger.timezone", 2, `did you mean "time_zone"?`},
		{"reference_problems.yaml", "create_monitor.monitoring_signals.gsq-signal.sampling_rate", 9, `not 0`},
		{"reference_problems.yaml", "create_monitor.monitoring_signals.gsq-signal.sampling", 10, `unknown key "sampling"`},
		{"reference_problems.yaml", "create_monitor.monitoring_signals.gsq-signal.production_data[0].data_window.lookback_window_size", 15, `P1M: months are not allowed`},
		{"reference_problems.yaml", "create_monitor.monitoring_signals.gsq-signal.production_data[0].data_window.window_start", 15, `fixed windows are not supported`},
		{"reference_problems.yaml", "create_monitor.monitoring_signals.gsq-signal.metric_thresholds.fluency.aggregated_fluency_pass_rate", 17, `must be between 0 and 1`},
		{"reference_problems.yaml", `create_monitor.monitoring_signals.gsq-signal.properties."azureml.modelmonitor.gsq_thresholds"[0].threshold.value`, 13, `scale is 1 to 5), not 9`},
		{"reference_problems.yaml", "create_monitor.monitoring_signals.gsq-signal.metric_thresholds.toxicity", 18, `unknown metric "toxicity"`},
		{"reference_problems.yaml", "create_monitor.monitoring_signals.mystery.type", 20, `unknown signal type "generation_magic"`},
		{"reference_no_trigger.yaml", "trigger", 1, `required: when the monitor runs, e.g. trigger: {type: cron`},
		{"reference_no_signals.yaml", "create_monitor.monitoring_signals", 5, `nothing to check`},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.path, func(t *testing.T) {
			_, err := load(t, filepath.Join("testdata", "bad", tt.file), testEnv())
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error = %v (%T), want a *ValidationError", err, err)
			}
			for _, p := range ve.Problems {
				if p.Path == tt.path && strings.Contains(p.Message, tt.want) {
					if p.Line != tt.line {
						t.Errorf("line = %d, want %d", p.Line, tt.line)
					}
					if p.Column == 0 {
						t.Errorf("column = 0, want the column")
					}
					return
				}
			}
			t.Errorf("no problem at %s containing %q; got:\n%v", tt.path, tt.want, err)
		})
	}
}

// TestLoadNotMapping checks input that is not a YAML mapping at all: the
// error is a *ParseError with the line, never a panic.
func TestLoadNotMapping(t *testing.T) {
	tests := []struct {
		name, data string
		line       int
		want       string
	}{
		{"empty", "", 1, "the file is empty"},
		{"blank", " \n\t\n", 1, "the file is empty"},
		{"comments", "# nothing\n", 1, "the file is empty"},
		{"list", "- a\n- b\n", 1, "must be a YAML mapping"},
		{"scalar", "just words\n", 1, `not the scalar "just words"`},
		{"null", "~\n", 1, "must be a YAML mapping (name: ..., target: ..., schedule: ...), not null"},
		{"syntax", "name: x\n  bad: [\n", 1, "invalid YAML"},
		{"unquoted cron", "name: x\nschedule:\n  cron: */5 * * * *\n", 3, "quote cron expressions"},
		{"two documents", "name: a\n---\nname: b\n", 3, "holds 2 YAML documents"},
		{"duplicate key", "name: a\nname: b\n", 2, `"name" already defined`},
		{"undefined alias", "name: *nope\n", 1, "alias *nope refers to no anchor"},
		{"self alias", "quality: &q {x: *q}\n", 1, "nested more than"},
		{"deep brackets", "name: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", 1, "brackets nested more than 64 deep"},
		{"complex key", "? [a, b]\n: c\n", 2, "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]byte(tt.data), testEnv())
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v (%T), want a *ParseError", err, err)
			}
			if !strings.Contains(pe.Message, tt.want) {
				t.Errorf("message = %q, want it to contain %q", pe.Message, tt.want)
			}
			if tt.line != 0 && pe.Line != tt.line {
				t.Errorf("line = %d, want %d (%v)", pe.Line, tt.line, err)
			}
		})
	}
}

// TestLoadLimits checks the bounds that keep hostile input cheap.
func TestLoadLimits(t *testing.T) {
	t.Run("too large", func(t *testing.T) {
		data := append([]byte("name: big\n# "), bytes.Repeat([]byte("x"), MaxFileSize)...)
		_, err := Load(data, Env{})
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Message, "at most 1048576 bytes") {
			t.Fatalf("error = %v, want one problem about the size", err)
		}
	})
	t.Run("too many tokens", func(t *testing.T) {
		// Within the size limit, but far more than a monitor has: refused
		// before the parser, whose time grows faster than the input.
		data := strings.Repeat("---\na: 1\n", 100_000)
		_, err := Load([]byte(data), Env{})
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Message, "more than 10000 YAML tokens") || pe.Line != 5001 {
			t.Fatalf("error = %v, want a ParseError about the tokens at line 5001", err)
		}
	})
	t.Run("alias expansion", func(t *testing.T) {
		// Each level doubles the values: 2^30 once expanded.
		var b strings.Builder
		b.WriteString("a0: &a0 [x, x]\n")
		for i := 1; i <= 30; i++ {
			fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d]\n", i, i, i-1, i-1)
		}
		_, err := Load([]byte(b.String()), Env{})
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Message, "expands to more than") {
			t.Fatalf("error = %v, want a ParseError about the expansion", err)
		}
	})
}

// TestOlderSpellings checks the older reference spellings against the
// native keys they set.
func TestOlderSpellings(t *testing.T) {
	got, err := load(t, "testdata/good/reference_older.yaml", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	m := got.Monitor
	if m.Judge != "judge-gpt4" {
		t.Errorf("judge from workspace_connection_id = %q, want judge-gpt4", m.Judge)
	}
	if m.Window.Lookback != "P3D" {
		t.Errorf("window.lookback from data_window_size = %q, want P3D", m.Window.Lookback)
	}
	if ps := m.Quality["groundedness"].PassScore; ps == nil || *ps != 4 {
		t.Errorf("groundedness pass_score from acceptable_groundedness_score_per_instance = %v, want 4", ps)
	}
	if m.Schedule.Timezone != "America/Los_Angeles" {
		t.Errorf("timezone = %q, want America/Los_Angeles", m.Schedule.Timezone)
	}
	if b := m.Operational["total_tokens_per_group"].Max; b == nil || *b != 1e6 {
		t.Errorf("total_tokens_per_group.max = %v, want 1000000", b)
	}
}

// TestMarshalYAMLRoundTrip renders every good monitor in the native form
// and loads it back: the monitor must be the same.
func TestMarshalYAMLRoundTrip(t *testing.T) {
	for _, path := range files(t, "good") {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			first, err := load(t, path, testEnv())
			if err != nil {
				t.Fatal(err)
			}
			out, err := MarshalYAML(first.Monitor)
			if err != nil {
				t.Fatal(err)
			}
			second, err := Load(out, testEnv())
			if err != nil {
				t.Fatalf("the rendered monitor does not load: %v\n%s", err, out)
			}
			if second.Form != FormNative {
				t.Errorf("rendered form = %q, want native", second.Form)
			}
			if diff := cmp.Diff(first.Monitor, second.Monitor); diff != "" {
				t.Errorf("round trip changed the monitor (-before +after):\n%s\n%s", diff, out)
			}
			again, err := MarshalYAML(second.Monitor)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, again) {
				t.Errorf("rendering is not stable:\n%s\n---\n%s", out, again)
			}
		})
	}
}

// TestMarshalYAMLGolden pins the rendering (key order, number format) of
// the fullest example.
func TestMarshalYAMLGolden(t *testing.T) {
	for _, name := range []string{"native_full", "native_recurrence", "reference_older"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "good", name+".yaml")
			got, err := load(t, path, testEnv())
			if err != nil {
				t.Fatal(err)
			}
			out, err := MarshalYAML(got.Monitor)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("marshal", name+".yaml"), out)
		})
	}
}

// TestValidate checks monitors built in code: problems carry the native
// path and no line.
func TestValidate(t *testing.T) {
	good, err := load(t, "testdata/good/native_full.yaml", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(good.Monitor, testEnv()); err != nil {
		t.Errorf("Validate(loaded monitor) = %v, want nil", err)
	}
	if err := Validate(good.Monitor, Env{}); err != nil {
		t.Errorf("Validate offline = %v, want nil", err)
	}

	var ve *ValidationError
	err = Validate(model.Monitor{Name: "bare", Target: model.MonitorTarget{Service: "rag"}}, Env{})
	if !errors.As(err, &ve) {
		t.Fatalf("Validate(bare monitor) = %v, want a *ValidationError", err)
	}
	var paths []string
	for _, p := range ve.Problems {
		if p.Line != 0 || p.Column != 0 {
			t.Errorf("problem %v has a position; Validate knows none", p)
		}
		paths = append(paths, p.Path)
	}
	want := []string{"schedule", "window.lookback", "sampling_rate", "quality", "alerting.for_runs", "alerting.no_data"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("problem paths (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(err.Error(), "schedule: set when the monitor runs") {
		t.Errorf("Error() = %q; want problems without a position to start with their path", err.Error())
	}
}

// TestEnvChecks checks that name checks run only with an Env and that an
// offline load says which it skipped.
func TestEnvChecks(t *testing.T) {
	data, err := os.ReadFile("testdata/good/native_full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	offline, err := Load(data, Env{})
	if err != nil {
		t.Fatalf("offline Load: %v", err)
	}
	want := []string{
		`judge: not checked that the judge connection "aoai-connection" exists (no server configuration at hand)`,
		`notify.channels: not checked that the channels oncall exist (no server configuration at hand)`,
	}
	if diff := cmp.Diff(want, offline.Warnings); diff != "" {
		t.Errorf("offline warnings (-want +got):\n%s", diff)
	}

	none := Env{Judge: func(string) bool { return false }, Channel: func(string) bool { return false }}
	_, err = Load(data, none)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 || ve.Problems[0].Path != "judge" || ve.Problems[1].Path != "notify.channels[0]" {
		t.Fatalf("Load with an empty server config = %v, want problems at judge and notify.channels[0]", err)
	}
	if ve.Problems[0].Line != 8 || ve.Problems[1].Line != 21 {
		t.Errorf("lines = %d, %d; want 8, 21", ve.Problems[0].Line, ve.Problems[1].Line)
	}

	// A server without smtp cannot send the monitor's e-mails.
	all := func(string) bool { return true }
	_, err = Load(data, Env{Judge: all, Channel: all, Emails: func() bool { return false }})
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != "notify.emails" || !strings.Contains(ve.Problems[0].Message, "smtp") {
		t.Fatalf("Load without smtp = %v, want one problem at notify.emails about smtp", err)
	}
	if _, err := Load(data, Env{Judge: all, Channel: all, Emails: func() bool { return true }}); err != nil {
		t.Errorf("Load with everything configured: %v", err)
	}
}

func TestCheckCron(t *testing.T) {
	valid := []string{
		"*/5 * * * *", "0 0 * * *", "15 6 * * MON-FRI", "0 6 * * 1-5", "0,30 9-17 * * *",
		"0 0 1 JAN,jul *", "0 0 L * *", "0 0 15W * *", "0 0 ? * 5L", "0 0 * * 5#2",
		"0 0 * * 7", "5/15 * * * *", "0 8-20/2 * * *", "  0  0  *  *  *  ",
	}
	for _, expr := range valid {
		if msg := checkCron(expr); msg != "" {
			t.Errorf("checkCron(%q) = %q, want valid", expr, msg)
		}
	}
	invalid := map[string]string{
		"":              "has 0 fields",
		"* * * *":       "has 4 fields",
		"0 0 * * * *":   "has 6 fields",
		"@daily":        "shorthands such as @daily are not supported",
		"60 * * * *":    `the minute field "60" is not valid`,
		"0 24 * * *":    `the hour field "24"`,
		"0 0 0 * *":     `the day-of-month field "0"`,
		"0 0 * 13 *":    `the month field "13"`,
		"0 0 * * 8":     `the day-of-week field "8"`,
		"*/0 * * * *":   "the step after / must be",
		"5-1 * * * *":   "runs backwards",
		"a * * * *":     `"A" is not a number`,
		"0,,5 * * * *":  "an empty list item",
		"0 0 * * 1#6":   "the week number after # must be 1 to 5",
		"0 0 ? * FOO":   `the day-of-week field "FOO"`,
		"-1 * * * *":    "not a number",
		"0 0 * JAN-X *": `"X" is not a number`,
	}
	for expr, want := range invalid {
		if msg := checkCron(expr); !strings.Contains(msg, want) {
			t.Errorf("checkCron(%q) = %q, want it to contain %q", expr, msg, want)
		}
	}
}

func TestParseWindow(t *testing.T) {
	valid := map[string]time.Duration{
		"P7D":     7 * 24 * time.Hour,
		"PT6H":    6 * time.Hour,
		"P1W":     7 * 24 * time.Hour,
		"P1DT12H": 36 * time.Hour,
		"PT90M":   90 * time.Minute,
		"P0D":     0,
		"P366D":   366 * 24 * time.Hour,
		"PT0.5H":  30 * time.Minute,
	}
	for s, want := range valid {
		got, msg := parseWindow(s)
		if msg != "" || got != want {
			t.Errorf("parseWindow(%q) = %v, %q; want %v", s, got, msg, want)
		}
	}
	invalid := map[string]string{
		"P1M":                       "P1M: months are not allowed (their length varies); use days, e.g. P30D",
		"P1Y":                       "years are not allowed",
		"-P1D":                      "must not be negative",
		"P367D":                     "longer than 366 days",
		"P53W":                      "longer than 366 days",
		"7d":                        "is not an ISO 8601 duration",
		"P":                         "is not an ISO 8601 duration",
		"PT":                        "is not an ISO 8601 duration",
		"P1H":                       "is not an ISO 8601 duration",
		"P1D2":                      "is not an ISO 8601 duration",
		"P99999999999999999999999D": "longer than 366 days",
	}
	for s, want := range invalid {
		if _, msg := parseWindow(s); !strings.Contains(msg, want) {
			t.Errorf("parseWindow(%q) = %q, want it to contain %q", s, msg, want)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct{ in, service, deployment string }{
		{"azureml:rag-1234-endpoint:rag-1234-deployment", "rag-1234-endpoint", "rag-1234-deployment"},
		{"rag:blue", "rag", "blue"},
		{"azureml:rag", "rag", ""},
		{"rag", "rag", ""},
	}
	for _, tt := range tests {
		s, d, ok := parseEndpoint(tt.in)
		if !ok || s != tt.service || d != tt.deployment {
			t.Errorf("parseEndpoint(%q) = %q, %q, %v; want %q, %q", tt.in, s, d, ok, tt.service, tt.deployment)
		}
	}
	for _, in := range []string{"", "azureml:", "a:b:c", ":b", "a:"} {
		if _, _, ok := parseEndpoint(in); ok {
			t.Errorf("parseEndpoint(%q) ok, want not", in)
		}
	}
}

// FuzzLoad: Load never panics or hangs, always returns a *ParseError or a
// *ValidationError on failure, and a monitor it accepts renders to YAML
// that loads back to the same monitor.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", dir, "*.*"))
		for _, p := range paths {
			if strings.HasSuffix(p, ".golden") {
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("name: &a [*a]"))
	f.Add([]byte("{\"name\": \"x\", \"quality\": {\"fluency\": null}}"))
	env := testEnv()
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Load(data, env)
		if err != nil {
			var pe *ParseError
			var ve *ValidationError
			switch {
			case errors.As(err, &pe):
			case errors.As(err, &ve):
				if len(ve.Problems) == 0 {
					t.Fatal("ValidationError without problems")
				}
			default:
				t.Fatalf("error of type %T: %v", err, err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		out, err := MarshalYAML(got.Monitor)
		if err != nil {
			t.Fatalf("MarshalYAML: %v", err)
		}
		again, err := Load(out, env)
		if err != nil {
			t.Fatalf("rendered monitor does not load: %v\n%s", err, out)
		}
		if diff := cmp.Diff(got.Monitor, again.Monitor); diff != "" {
			t.Fatalf("round trip changed the monitor (-before +after):\n%s\n%s", diff, out)
		}
	})
}
