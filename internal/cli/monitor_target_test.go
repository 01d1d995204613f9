package cli_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/cli"
)

// TestMonitorApplyTargetWarning: `monitor apply` of a monitor whose
// target has sent no trace succeeds and prints the server's warning, with
// the services seen, to stderr; a target that has sent traces gets none.
func TestMonitorApplyTargetWarning(t *testing.T) {
	clock := apitest.Ticking()
	mux := http.NewServeMux()
	api.New(api.Options{Monitors: apitest.NewMonitors(clock), Traces: apitest.NewReader(apitest.Fixture()), Now: clock}, nil).RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("FLOWWATCH_SERVER", srv.URL)
	tests := []struct {
		name, target string
		stderr       string // "" for nothing on stderr
	}{
		{name: "seen", target: "{service: rag-app, deployment: prod}"},
		{name: "typo", target: "{service: rag-ap, deployment: prod}",
			stderr: `warning: m.yaml: no trace of service "rag-ap" has been received yet: the monitor will find no data until one arrives; services seen: "rag-app", "batch-scorer" (did you mean "rag-app"?)` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.yaml")
			body := "name: " + tt.name + "\ntarget: " + tt.target + "\nschedule: {cron: \"0 * * * *\"}\nwindow: {lookback: P1D}\noperational:\n  error_rate: {max: 0.1}\n"
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr strings.Builder
			code := cli.Execute(t.Context(), []string{"monitor", "apply", "-f", path}, &stdout, &stderr)
			if code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if got := strings.ReplaceAll(stderr.String(), path, "m.yaml"); got != tt.stderr {
				t.Errorf("stderr = %q, want %q", got, tt.stderr)
			}
			if !strings.Contains(stdout.String(), "monitor "+tt.name+" created") {
				t.Errorf("stdout = %q, want the monitor created", stdout.String())
			}
		})
	}
}
