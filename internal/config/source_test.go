package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestLoadProblemsGolden: a bad config file gets every problem at once,
// each with the file, line and column, and a "did you mean" for a
// mistyped key (testdata/load/NAME.yaml -> NAME.golden).
func TestLoadProblemsGolden(t *testing.T) {
	tests := []struct {
		name string
	}{
		{name: "unknown_keys"},
		{name: "types"},
		{name: "validate"},
		{name: "mixed"},
		{name: "syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", "load", tt.name+".yaml")
			cfg, err := Load(path)
			if err == nil {
				// Problems only Validate finds come from a file
				// that decodes.
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatalf("Load and Validate of %s succeeded, want problems", path)
			}
			got := filepath.ToSlash(err.Error()) + "\n"
			golden := filepath.Join("testdata", "load", tt.name+".golden")
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
		})
	}
}

// TestLoadGood: a valid file decodes as the strict YAML decoder does, and
// remembers where its keys are.
func TestLoadGood(t *testing.T) {
	path := filepath.Join("testdata", "load", "good.yaml")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if err := Parse(b, &want); err != nil {
		t.Fatal(err)
	}
	scanned := Default()
	if _, problems := parseSource(path, b, &scanned); len(problems) > 0 {
		t.Fatalf("parseSource problems: %v", problems)
	}
	if diff := cmp.Diff(want, scanned); diff != "" {
		t.Errorf("the scan decodes differently from the YAML decoder (-decoder +scan):\n%s", diff)
	}
	if got := cfg.Judges["local"].Timeout; got != Duration(30*time.Second) {
		t.Errorf("judge timeout = %v, want 30s", got)
	}
	for key, want := range map[string]Position{
		"smtp.tls":              {Line: 7, Column: 3},
		"channels.hook.headers": {Line: 13, Column: 5},
		"judges.local":          {Line: 15, Column: 3},
		"pricing[0]":            {Line: 17, Column: 5},
	} {
		if got := cfg.Source.Keys[key]; got != want {
			t.Errorf("position of %s = %v, want %v", key, got, want)
		}
	}
}

// TestValidateLocates: a problem Validate finds in a loaded file names the
// line of its key, or of the nearest key above it that was written.
func TestValidateLocates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flowwatch.yaml")
	body := "data_dir: ./data\nlog:\n  level: loud\njudges:\n  az:\n    type: azure_openai\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want problems")
	}
	tests := []struct {
		name, want string
	}{
		{name: "key written", want: path + `:3:3: log.level: must be debug, info, warn or error, got "loud"`},
		{name: "key missing: its parent", want: path + ":5:3: judges.az.endpoint: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() =\n%v\nwant a line containing %q", err, tt.want)
			}
		})
	}
	// Set after loading (flags, environment): no position to give.
	cfg.Log.Level = "info"
	cfg.HTTP.Address = "nonsense"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "\nhttp.address: ") && !strings.HasPrefix(err.Error(), "http.address: ") {
		t.Errorf("Validate() = %v, want http.address without a position", err)
	}
	// Overridden by the environment: a key of the file (log.level) no
	// longer points there, not even to its section.
	env := map[string]string{"FLOWWATCH_LOG_LEVEL": "shouty"}
	if err := ApplyEnv(&cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "\nlog.level: ") && !strings.HasPrefix(err.Error(), "log.level: ") {
		t.Errorf("Validate() = %v, want log.level without a position", err)
	}
}
