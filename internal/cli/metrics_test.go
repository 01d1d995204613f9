package cli_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/cli"
)

func checkMetricsGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "metrics_"+name+".golden")
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// cannedServer answers every metrics request with the file of testdata
// named by its path (operational or llm) and records the requests.
type cannedServer struct {
	*httptest.Server
	files map[string]string // API path -> testdata file

	mu       sync.Mutex
	requests []string
}

func newCannedServer(t *testing.T, files map[string]string) *cannedServer {
	t.Helper()
	c := &cannedServer{files: files}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.requests = append(c.requests, r.URL.Path+"?"+r.URL.RawQuery)
		c.mu.Unlock()
		name, ok := c.files[r.URL.Path]
		if !ok {
			http.Error(w, `{"error": "no such endpoint"}`, http.StatusNotFound)
			return
		}
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *cannedServer) sent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.requests...)
}

// TestMetricsCanned checks the table against canned answers that hold
// what the fixture does not: huge and tiny figures, empty groups and
// buckets, and names with control characters. It also checks what each
// flag sends.
func TestMetricsCanned(t *testing.T) {
	t.Setenv("TZ", "Asia/Kolkata")
	srv := newCannedServer(t, map[string]string{
		"/api/v1/metrics/operational": "metrics_canned_operational.json",
		"/api/v1/metrics/llm":         "metrics_canned_by_model.json",
	})
	t.Setenv("FLOWWATCH_SERVER", srv.URL)
	cases := []struct {
		name string
		args []string
		sent string
	}{
		{"canned_table", []string{"metrics"}, "/api/v1/metrics/operational?since=24h"},
		{"canned_per_step", []string{"metrics", "--since", "3h", "--step", "1h"}, "/api/v1/metrics/operational?include_empty=true&since=3h&step=1h"},
		{"canned_grouped", []string{"metrics", "--llm", "--group-by", "model", "--service", "rag app", "--deployment", "prod",
			"--model", "gpt-4o", "--since", "2025-05-31", "--until", "2025-06-01T12:00:00+02:00", "--step", "1d"},
			"/api/v1/metrics/llm?deployment=prod&group_by=model&model=gpt-4o&service=rag+app&since=2025-05-31&step=1d&until=2025-06-01T12%3A00%3A00%2B02%3A00"},
		{"canned_json", []string{"metrics", "--llm", "-o", "json", "--since", ""}, "/api/v1/metrics/llm?"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.sent())
			r := run(t, tc.args...)
			if r.code != cli.ExitOK {
				t.Errorf("exit code %d; stderr: %s", r.code, r.stderr)
			}
			checkMetricsGolden(t, tc.name, r.transcript(tc.args, srv.URL, "SERVER"))
			sent := srv.sent()[before:]
			if diff := cmp.Diff([]string{tc.sent}, sent); diff != "" {
				t.Errorf("requests sent (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMetricsGolden runs the command against the real API over the
// apitest fixture, so the table follows the real answer's shape, and
// covers the errors the server reports.
func TestMetricsGolden(t *testing.T) {
	mux := http.NewServeMux()
	api.New(api.Options{
		Traces:  apitest.NewReader(apitest.Fixture()),
		Rollups: apitest.NewRollups(apitest.RollupFixture()),
		Now:     apitest.Now,
	}, nil).RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("FLOWWATCH_SERVER", srv.URL)
	t.Setenv("TZ", "Asia/Kolkata")
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"default", []string{"metrics"}, cli.ExitOK},
		{"group_by_model", []string{"metrics", "--since", "3h", "--group-by", "model"}, cli.ExitOK},
		{"group_by_service", []string{"metrics", "--group-by", "service"}, cli.ExitOK},
		{"group_by_deployment_filtered", []string{"metrics", "--service", "rag-app", "--group-by", "deployment", "--since", "2d"}, cli.ExitOK},
		{"group_by_status", []string{"metrics", "--group-by", "status", "--since", "1h"}, cli.ExitOK},
		{"llm_group_by_model", []string{"metrics", "--llm", "--group-by", "model", "--since", "3h"}, cli.ExitOK},
		{"llm_unpriced_per_step", []string{"metrics", "--llm", "--service", "batch-scorer", "--since", "1h", "--step", "15m"}, cli.ExitOK},
		{"until", []string{"metrics", "--since", "2025-06-01T10:00:00Z", "--until", "2025-06-01T10:30:00Z", "--step", "10m", "--model", apitest.MiniModel}, cli.ExitOK},
		{"empty", []string{"metrics", "--service", "nope"}, cli.ExitOK},
		{"json", []string{"metrics", "--llm", "--model", apitest.ReasoningModel, "--since", "2d", "--step", "1d", "-o", "json"}, cli.ExitOK},
		{"explicit_server", []string{"metrics", "--server", strings.TrimPrefix(srv.URL, "http://"), "--since", "1h", "--service", "docs-indexer"}, cli.ExitOK},

		{"bad_group_by", []string{"metrics", "--group-by", "region"}, cli.ExitUsage},
		{"bad_step_zero", []string{"metrics", "--step", "0"}, cli.ExitUsage},
		{"bad_step_seconds", []string{"metrics", "--step", "1s"}, cli.ExitUsage},
		{"bad_step_huge", []string{"metrics", "--step", "60d"}, cli.ExitUsage},
		{"too_many_buckets", []string{"metrics", "--since", "30d", "--step", "1m"}, cli.ExitUsage},
		{"until_before_since", []string{"metrics", "--since", "1h", "--until", "2h"}, cli.ExitUsage},
		{"bad_since", []string{"metrics", "--since", "yesterday"}, cli.ExitUsage},
		{"bad_output", []string{"metrics", "-o", "yaml"}, cli.ExitUsage},
		{"argument", []string{"metrics", "extra"}, cli.ExitUsage},
		{"bad_flag", []string{"metrics", "--limit", "5"}, cli.ExitUsage},
		{"bad_server", []string{"metrics", "--server", "ftp://example.com"}, cli.ExitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			checkMetricsGolden(t, tc.name, r.transcript(tc.args, srv.URL, "SERVER", strings.TrimPrefix(srv.URL, "http://"), "SERVER"))
		})
	}
}

// TestMetricsServerTrouble covers a server without metrics (an older
// flowwatch) and one that sends something else than metrics.
func TestMetricsServerTrouble(t *testing.T) {
	mux := http.NewServeMux()
	api.New(api.Options{Traces: apitest.NewReader(nil), Now: apitest.Now}, nil).RegisterHTTP(mux)
	noRollups := httptest.NewServer(mux)
	t.Cleanup(noRollups.Close)
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"series": "not a list"}`))
	}))
	t.Cleanup(garbage.Close)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"no_rollups", []string{"metrics", "--server", noRollups.URL}, cli.ExitError},
		{"bad_answer", []string{"metrics", "--server", garbage.URL}, cli.ExitError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			checkMetricsGolden(t, tc.name, r.transcript(tc.args, noRollups.URL, "NOROLLUPS", garbage.URL, "GARBAGE"))
		})
	}
}
