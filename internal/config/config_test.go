package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	if got, want := c.SQLitePath(), filepath.Join("flowwatch-data", "flowwatch.db"); got != want {
		t.Errorf("SQLitePath() = %q, want %q", got, want)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    func(*Config)
		wantErr []string // substrings of the error
	}{
		{name: "empty keeps defaults", yaml: "", want: func(*Config) {}},
		{
			name: "overrides",
			yaml: "data_dir: /srv/fw\nhttp:\n  address: 0.0.0.0:9000\n  max_body_bytes: 1048576\ningest:\n  queue_timeout: 250ms\nstorage:\n  sqlite:\n    synchronous: full\n",
			want: func(c *Config) {
				c.DataDir = "/srv/fw"
				c.HTTP.Address = "0.0.0.0:9000"
				c.HTTP.MaxBodyBytes = 1 << 20
				c.Ingest.QueueTimeout = Duration(250 * time.Millisecond)
				c.Storage.SQLite.Synchronous = "full"
			},
		},
		{
			name: "pricing",
			yaml: "pricing:\n  - {model: \"gpt-4o*\", input_per_mtok: 2.5, cached_input_per_mtok: 1.25, output_per_mtok: 10}\n  - model: my-model\n    input_per_mtok: 1\n    cache_write_per_mtok: 1.5\n",
			want: func(c *Config) {
				c.Pricing = []Price{
					{Model: "gpt-4o*", InputPerMTok: 2.5, CachedInputPerMTok: 1.25, OutputPerMTok: 10},
					{Model: "my-model", InputPerMTok: 1, CacheWritePerMTok: 1.5},
				}
			},
		},
		{
			name: "judges",
			yaml: "judges:\n  aoai-connection: {type: azure_openai, endpoint: \"https://x.openai.azure.com\", deployment: gpt-4, api_version: 2024-10-21}\n  local: {type: openai, base_url: \"http://localhost:11434/v1\", model: llama3.1, max_concurrency: 4, timeout: 30s}\n",
			want: func(c *Config) {
				c.Judges = map[string]Judge{
					"aoai-connection": {Type: "azure_openai", Endpoint: "https://x.openai.azure.com", Deployment: "gpt-4", APIVersion: "2024-10-21"},
					"local":           {Type: "openai", BaseURL: "http://localhost:11434/v1", Model: "llama3.1", MaxConcurrency: 4, Timeout: Duration(30 * time.Second)},
				}
			},
		},
		{
			name: "monitors_dir is kept as written",
			yaml: "monitors_dir: ./monitors\n",
			want: func(c *Config) { c.MonitorsDir = "./monitors" },
		},
		{name: "unknown judge key", yaml: "judges:\n  j:\n    type: openai\n    modle: x\n", wantErr: []string{"[4:5]", "modle"}},
		{name: "unknown pricing key", yaml: "pricing:\n  - model: x\n    input_per_token: 1\n", wantErr: []string{"[3:5]", "input_per_token"}},
		{name: "unknown top-level key names it and its line", yaml: "data_dir: x\nhttpp:\n  address: a\n", wantErr: []string{"[2:1]", "httpp"}},
		{name: "unknown nested key", yaml: "http:\n  adress: 1.2.3.4:5\n", wantErr: []string{"[2:3]", "adress"}},
		{name: "wrong type", yaml: "http:\n  max_body_bytes: lots\n", wantErr: []string{"max_body_bytes"}},
		{name: "bad duration", yaml: "ingest:\n  queue_timeout: soon\n", wantErr: []string{`invalid duration "soon"`}},
		{name: "syntax error", yaml: "http: [\n", wantErr: []string{"[1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Default()
			err := Parse([]byte(tt.yaml), &got)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Parse() succeeded, want error containing %q", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			want := Default()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.HTTP.Address = "nonsense"
	c.GRPC.Address = "127.0.0.1:99999"
	c.HTTP.MaxBodyBytes = 10
	c.Storage.SQLite.Synchronous = "sometimes"
	c.Ingest.MaxInFlight = 0
	c.Log.Level = "loud"
	c.HTTP.PublicURL = "ftp://x"
	c.Pricing = []Price{{Model: "ok"}, {Model: "bad", OutputPerMTok: -1}}
	c.MonitorsDir = "  "
	c.Judges = map[string]Judge{
		"az":    {Type: "azure_openai"},
		"oa":    {Type: "openai", BaseURL: "ollama", APIKeyEnv: "FLOWWATCH_TEST_UNSET_KEY"},
		"what":  {Type: "claude", Model: "x"},
		"bad/n": {Type: "openai", Model: "m"},
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, key := range []string{"http.address", "grpc.address", "http.max_body_bytes", "storage.sqlite.synchronous",
		"ingest.max_in_flight", "log.level", "http.public_url", "pricing[1] (bad)",
		"judges.az.endpoint", "judges.az.deployment", "judges.az.api_version", "judges.oa.model", "judges.oa.base_url",
		"judges.oa.api_key_env", "judges.what.type", "judges.bad/n", "monitors_dir"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		"FLOWWATCH_DATA_DIR":             "/data",
		"FLOWWATCH_HTTP_ADDRESS":         "127.0.0.1:1",
		"FLOWWATCH_INGEST_MAX_IN_FLIGHT": "4",
		"FLOWWATCH_HTTP_MAX_BODY_BYTES":  "many",
		"FLOWWATCH_MONITORS_DIR":         "monitors",
	}
	c := Default()
	err := ApplyEnv(&c, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "FLOWWATCH_HTTP_MAX_BODY_BYTES") {
		t.Errorf("ApplyEnv() error = %v, want one naming FLOWWATCH_HTTP_MAX_BODY_BYTES", err)
	}
	if c.DataDir != "/data" || c.HTTP.Address != "127.0.0.1:1" || c.Ingest.MaxInFlight != 4 || c.MonitorsDir != "monitors" {
		t.Errorf("env not applied: %+v", c)
	}
}

func TestLoadNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fw.yaml")
	if err := os.WriteFile(p, []byte("bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("Load() error = %v, want one naming the file and the key", err)
	}
}

// TestLoadMonitorsDir: a relative monitors_dir in a config file is read
// from the file's directory, wherever flowwatch is started; an absolute one
// is kept.
func TestLoadMonitorsDir(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(t.TempDir(), "elsewhere")
	tests := []struct {
		name  string
		value string // "" leaves the key out
		want  string
	}{
		{name: "not set", value: "", want: ""},
		{name: "relative", value: "monitors", want: filepath.Join(dir, "monitors")},
		{name: "dot relative", value: "./monitors", want: filepath.Join(dir, "monitors")},
		{name: "parent", value: "../shared/monitors", want: filepath.Join(filepath.Dir(dir), "shared", "monitors")},
		{name: "absolute", value: abs, want: abs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "data_dir: ./data\n"
			if tt.value != "" {
				body += fmt.Sprintf("monitors_dir: %q\n", tt.value)
			}
			p := filepath.Join(dir, "flowwatch.yaml")
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if c.MonitorsDir != tt.want {
				t.Errorf("MonitorsDir = %q, want %q", c.MonitorsDir, tt.want)
			}
			if c.DataDir != "./data" {
				t.Errorf("DataDir = %q, want it as written (relative to the working directory)", c.DataDir)
			}
		})
	}
}
