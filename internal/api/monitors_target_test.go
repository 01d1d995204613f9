package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
)

// TestMonitorTargetWarning: a monitor whose target has sent no trace is
// applied (and passes a dry run), with a warning that names the services
// seen, closest first; a target that has sent traces gets none.
func TestMonitorTargetWarning(t *testing.T) {
	clock := apitest.Ticking()
	srv := newTestServer(t, Options{
		Monitors:   apitest.NewMonitors(clock),
		MonitorEnv: testEnv(),
		Traces:     apitest.NewReader(apitest.Fixture()),
		Now:        clock,
	}, nil)
	c := &monitorsClient{t: t, base: srv.URL}
	monitorFile := func(name, target string) string {
		return "name: " + name + "\ntarget: " + target + "\nschedule: {cron: \"0 * * * *\"}\nwindow: {lookback: P1D}\n" +
			"operational:\n  error_rate: {max: 0.1}\n"
	}
	tests := []struct {
		name, target, query string
		status              int
		want                []string
	}{
		{name: "seen", target: "{service: rag-app, deployment: prod}", status: http.StatusCreated, want: []string{}},
		{name: "seen-service", target: "{service: batch-scorer}", status: http.StatusCreated, want: []string{}},
		{
			name: "typo", target: "{service: rag-ap, deployment: prod}", status: http.StatusCreated,
			want: []string{`no trace of service "rag-ap" has been received yet: the monitor will find no data until one arrives; services seen: "rag-app", "batch-scorer" (did you mean "rag-app"?)`},
		},
		{
			name: "deployment", target: "{service: rag-app, deployment: blue}", status: http.StatusCreated,
			want: []string{`no trace of service "rag-app" has been received with deployment "blue": the monitor will find no data until one arrives; deployments seen: "prod", "staging"`},
		},
		{
			name: "dry-run", target: "{service: rag-1234-endpoint}", query: "?dry_run=true", status: http.StatusOK,
			want: []string{`no trace of service "rag-1234-endpoint" has been received yet: the monitor will find no data until one arrives; services seen: "rag-app", "batch-scorer"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.do(request{
				method: http.MethodPut, path: Prefix + "monitors/" + tt.name + tt.query,
				header: map[string]string{"Content-Type": "application/yaml"},
				body:   monitorFile(tt.name, tt.target),
			})
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			var got AppliedMonitor
			if err := json.Unmarshal(res.body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if !strings.Contains(string(res.body), `"warnings"`) {
				t.Errorf("the answer has no warnings array: %s", res.body)
			}
		})
	}
}
