package redact

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// everything is the configuration of the golden tests: every detector, a
// custom rule and a deny list with an exact key and a pattern.
func everything(reg prometheus.Registerer) Options {
	return Options{
		Detectors:      DetectorNames(),
		Rules:          []Rule{{Name: "internal_id", Pattern: `ACME-[0-9]{6}`}},
		DenyAttributes: []string{"user.email", "http.request.header.*", "app.request.customer.email"},
		Registerer:     reg,
	}
}

// secrets are the values testdata carries; none may survive.
var secrets = []string{
	"jane.doe@example.com", "ops-lead@example.com", "x@example.org",
	"4111 1111 1111 1111", "4111111111111111", "5555-5555-5555-4444",
	"+44 20 7946 0958", "(202) 555-0173", "202-555-0173",
	"sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90", "sk-ant-api03-", "AKIAIOSFODNN7EXAMPLE",
	"abc123DEF456ghi789JKL0", "Qm9keS1rZXktMTIzNDU2Nzg5", "ACME-123456", "ACME-654321",
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), buf.String()); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, d)
	}
}

func noSecrets(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s still holds %q", what, s)
		}
	}
}

func TestTracesGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "secrets.traces.json"))
	if err != nil {
		t.Fatal(err)
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(in)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	r, err := New(everything(reg), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Traces(td)
	out, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "secrets.traces.golden.json"), out)
	noSecrets(t, "redacted traces", out)
	// The JSON texts are still JSON.
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	for _, k := range []string{"gen_ai.input.messages", "gen_ai.output.messages"} {
		v, _ := span.Attributes().Get(k)
		if !json.Valid([]byte(v.Str())) {
			t.Errorf("%s is no longer JSON: %s", k, v.Str())
		}
	}
	want := map[string]float64{"email": 4, "card": 2, "phone": 3, "api_key": 3, "internal_id": 1, "deny_attributes": 3}
	for rule, n := range want {
		if got := value(r.countersFor(rule)); got != n {
			t.Errorf("flowwatch_redactions_total{rule=%q} = %v, want %v", rule, got, n)
		}
	}
	// A second pass finds nothing more: markers are not redacted again.
	r.Traces(td)
	for rule, n := range want {
		if got := value(r.countersFor(rule)); got != n {
			t.Errorf("after a second pass, rule %q = %v, want %v", rule, got, n)
		}
	}
}

func TestLogsGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "secrets.logs.json"))
	if err != nil {
		t.Fatal(err)
	}
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(in)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(everything(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Logs(ld)
	out, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "secrets.logs.golden.json"), out)
	noSecrets(t, "redacted logs", out)
}

// countersFor returns the counter of a rule (test helper).
func (r *Redactor) countersFor(name string) prometheus.Counter {
	if name == DenyRule {
		return r.denyCtr
	}
	for _, ru := range r.rules {
		if ru.name == name {
			return ru.counter
		}
	}
	return nil
}

func TestMetricExposition(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	r, err := New(Options{Detectors: []string{"email"}, Rules: []Rule{{Name: "ticket", Pattern: `T-[0-9]+`}}, Registerer: reg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Text("mail a@example.com about T-12 and T-13")
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "flowwatch_redactions_total" || f.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				got[l.GetName()+"="+l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{"rule=email": 1, "rule=ticket": 2}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("flowwatch_redactions_total (-want +got):\n%s", d)
	}
}

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func TestCustomRules(t *testing.T) {
	r, err := New(Options{Rules: []Rule{
		{Name: "internal_id", Pattern: `ACME-[0-9]{6}`},
		{Name: "greedy", Pattern: `secret:[^ ]+`},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "order ACME-123456 shipped", "order [REDACTED:internal_id] shipped"},
		{"two rules", "ACME-000001 secret:xyz", "[REDACTED:internal_id] [REDACTED:greedy]"},
		{"json quotes stop a pattern", `{"a":"secret:xyz","b":"keep"}`, `{"a":"[REDACTED:greedy]","b":"keep"}`},
		{"no match", "nothing here", "nothing here"},
		{"short text", "ACME-1", "ACME-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Text(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOverlapsKeepTheFirstRule(t *testing.T) {
	// The e-mail detector and a custom rule both match: the earlier
	// match (and, at the same place, the built-in) wins, once.
	r, err := New(Options{Detectors: []string{"email"}, Rules: []Rule{{Name: "acme", Pattern: `ACME-[0-9]+`}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Text("ACME-12@example.com"), "[REDACTED:email]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := value(r.countersFor("acme")); got != 0 {
		t.Errorf("acme counted %v overlapping matches, want 0", got)
	}
}

func TestDenyAttributes(t *testing.T) {
	d, err := newDenyList([]string{"user.email", "http.request.header.*", "*.password", "db.*.statement", "Session.ID"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"user.email", true},
		{"User.Email", true},
		{"user.emails", false},
		{"user", false},
		{"http.request.header.authorization", true},
		{"http.request.header.", true},
		{"http.request.headers", false},
		{"http.response.header.set-cookie", false},
		{"db.password", true},
		{"password", false},
		{"db.postgres.statement", true},
		{"db.statement", false},
		{"session.id", true},
	} {
		if got := d.match(tc.key); got != tc.want {
			t.Errorf("match(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want []string // substrings of the error
	}{
		{"unknown detector", Options{Detectors: []string{"emails"}}, []string{`detector "emails": unknown; the detectors are api_key, card, email, phone`}},
		{"twice", Options{Detectors: []string{"card", "card"}}, []string{`detector "card": listed twice`}},
		{"bad name", Options{Rules: []Rule{{Name: "Internal ID", Pattern: "x"}}}, []string{`rule "Internal ID": a rule name is`}},
		{"builtin name", Options{Rules: []Rule{{Name: "email", Pattern: "x"}}}, []string{`rule "email": "email" is the name of a built-in rule`}},
		{"duplicate", Options{Rules: []Rule{{Name: "a", Pattern: "x"}, {Name: "a", Pattern: "y"}}}, []string{`rule "a": the name is used twice`}},
		{"bad pattern", Options{Rules: []Rule{{Name: "a", Pattern: "ACME-[0-9"}}}, []string{`rule "a": pattern is not a valid regular expression (RE2 syntax)`, "missing closing ]"}},
		{"perl only", Options{Rules: []Rule{{Name: "a", Pattern: `(?<=x)y`}}}, []string{`rule "a": pattern is not a valid regular expression`}},
		{"empty match", Options{Rules: []Rule{{Name: "a", Pattern: `[0-9]*`}}}, []string{`rule "a": pattern matches the empty string`}},
		{"empty", Options{Rules: []Rule{{Name: "a"}}}, []string{`rule "a": pattern must not be empty`}},
		{"too long", Options{Rules: []Rule{{Name: "a", Pattern: strings.Repeat("a", MaxPatternLength+1)}}}, []string{`rule "a": pattern is 1025 bytes long; at most 1024`}},
		{"deny all", Options{DenyAttributes: []string{"*"}}, []string{`deny_attributes[0] "*": matches every attribute`}},
		{"deny empty", Options{DenyAttributes: []string{"a", " "}}, []string{`deny_attributes[1] " ": must not be empty`}},
		{"all at once", Options{Detectors: []string{"x"}, Rules: []Rule{{Name: "a", Pattern: "("}}}, []string{`detector "x"`, `rule "a"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts, nil)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMarker(t *testing.T) {
	if got := Marker("email"); got != "[REDACTED:email]" {
		t.Errorf("Marker = %q", got)
	}
	if (Options{}).Enabled() {
		t.Error("empty options enabled")
	}
	if !(Options{DenyAttributes: []string{"a"}}).Enabled() {
		t.Error("deny list not enabled")
	}
}
