package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/redact"
)

// TestRedactionProblemsGolden: every problem of the redaction section at
// once, each naming its key, line and column, the rule and what is wrong
// (testdata/load/redaction.yaml -> redaction.golden).
func TestRedactionProblemsGolden(t *testing.T) {
	path := filepath.Join("testdata", "load", "redaction.yaml")
	cfg, err := Load(path)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		t.Fatal("Load and Validate succeeded, want problems")
	}
	got := filepath.ToSlash(err.Error()) + "\n"
	golden := filepath.Join("testdata", "load", "redaction.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
}

func TestRedactionGood(t *testing.T) {
	cfg := Default()
	if cfg.Redaction.Options().Enabled() {
		t.Fatal("redaction is on by default")
	}
	// The example of docs/configuration.md.
	err := Parse([]byte(`
redaction:
  detectors: [email, phone, card, api_key]
  rules:
    - {name: internal_id, pattern: "ACME-[0-9]{6}"}
    - {name: iban, pattern: '\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b'}
  deny_attributes: [user.email, enduser.id, "http.request.header.*"]
`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := redact.Options{
		Detectors: []string{"email", "phone", "card", "api_key"},
		Rules: []redact.Rule{{Name: "internal_id", Pattern: "ACME-[0-9]{6}"},
			{Name: "iban", Pattern: `\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b`}},
		DenyAttributes: []string{"user.email", "enduser.id", "http.request.header.*"},
	}
	if d := cmp.Diff(want, cfg.Redaction.Options()); d != "" {
		t.Errorf("options (-want +got):\n%s", d)
	}
	r, err := redact.New(cfg.Redaction.Options(), nil)
	if err != nil {
		t.Fatalf("a valid section does not build: %v", err)
	}
	if got, want := r.Text("pay to DE89 3704 0044 0532 0130 00 now"), "pay to [REDACTED:iban] now"; got != want {
		t.Errorf("iban rule: %q, want %q", got, want)
	}
}

func TestRedactionEnv(t *testing.T) {
	for _, tc := range []struct {
		name, v string
		want    []string
	}{
		{"list", "email, card,api_key", []string{"email", "card", "api_key"}},
		{"none", "none", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.Redaction.Detectors = []string{"phone"}
			err := ApplyEnv(&cfg, func(k string) (string, bool) {
				return tc.v, k == EnvPrefix+"REDACTION_DETECTORS"
			})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, cfg.Redaction.Detectors); d != "" {
				t.Errorf("detectors (-want +got):\n%s", d)
			}
		})
	}
}
