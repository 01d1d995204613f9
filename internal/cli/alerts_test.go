package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/cli"
	"github.com/flowwatch/flowwatch/internal/model"
)

// pendingAlertID is the alert alertsSetup adds to those of
// apitest.SeedAlerts: a failed run of rag_quality whose notification
// waits for its next attempt.
const pendingAlertID = "a0000000000000000000000000000003"

// alertsSetup serves the real API over in-memory stores holding the runs
// of apitest.SeedRuns, the alerts of apitest.SeedAlerts and
// pendingAlertID, with four channels. A test notification reaches oncall,
// fails on broken with an error quoting its URL, waits on hang until the
// client gives up, and finds no other channel.
func alertsSetup(t *testing.T) *httptest.Server {
	t.Helper()
	runs := apitest.NewRuns()
	apitest.SeedRuns(runs)
	apitest.SeedAlerts(runs)
	fired := apitest.Now().Add(-30 * time.Minute)
	runs.AddAlert(model.Alert{
		ID: pendingAlertID, Monitor: "rag_quality", Key: "unhealthy:run", Kind: model.AlertUnhealthy,
		State: model.AlertFiring, Summary: "run failed: judge aoai-connection: 429 Too Many Requests",
		FiredAt: fired, FiringRunID: apitest.FailedRunID, LastRunID: apitest.FailedRunID, LastNotifiedAt: fired,
	}, model.Notification{
		ID: "n0000000000000000000000000000003", AlertID: pendingAlertID, Monitor: "rag_quality", Channel: "broken",
		Event: model.EventFiring, DedupKey: pendingAlertID + "/firing/broken", Status: model.NotificationPending,
		Attempts: 2, NextAttemptAt: fired.Add(20 * time.Second), CreatedAt: fired,
		LastError: "Post \"https://hooks.example.com/services/T0SECRET\": dial tcp 192.0.2.1:443: connect: connection refused",
	})
	channels := func() []api.ChannelInfo {
		return []api.ChannelInfo{
			{Name: "oncall", Type: "slack"},
			{Name: "broken", Type: "webhook", URL: "https://hooks.example.com/services/T0SECRET"},
			{Name: "team", Type: "email", Recipients: []string{"ml-team@example.com", "lead@example.com"}},
			{Name: "pager", Type: "pagerduty", URL: "https://events.pagerduty.com/v2/enqueue"},
		}
	}
	test := func(ctx context.Context, name string) error {
		switch name {
		case "oncall":
			return nil
		case "broken":
			return fmt.Errorf("notify: webhook channel %q: Post \"https://hooks.example.com/services/T0SECRET\": 500 Internal Server Error", name)
		case "hang":
			<-ctx.Done()
			return ctx.Err()
		}
		return fmt.Errorf("channel %q: %w", name, api.ErrUnknownChannel)
	}
	mux := http.NewServeMux()
	api.New(api.Options{Runs: runs, Results: runs, Alerts: runs, Acks: runs, Silences: apitest.NewSilences(),
		Channels: channels, TestChannel: test, Now: apitest.Now}, nil).RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("FLOWWATCH_SERVER", srv.URL)
	t.Setenv("TZ", "Asia/Kolkata")
	return srv
}

func checkAlertsGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "alerts_"+name+".golden")
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

// TestAlertsSession runs the alerts commands against one server; each
// transcript is a golden file, and none shows a secret.
func TestAlertsSession(t *testing.T) {
	srv := alertsSetup(t)
	steps := []struct {
		name string
		args []string
		code int
	}{
		{"list", []string{"alerts", "list"}, cli.ExitOK},
		{"list_firing_json", []string{"alerts", "list", "--state", "firing", "-o", "json"}, cli.ExitOK},
		{"list_page", []string{"alerts", "list", "--monitor", "rag_quality", "--limit", "1"}, cli.ExitOK},
		{"list_cursor", []string{"alerts", "list", "--monitor", "rag_quality", "--limit", "1", "--cursor", "b2Zmc2V0OjI"}, cli.ExitOK},
		{"list_none", []string{"alerts", "list", "--monitor", "old_monitor"}, cli.ExitOK},
		{"list_bad_state", []string{"alerts", "list", "--state", "open"}, cli.ExitUsage},
		{"list_bad_limit", []string{"alerts", "list", "--limit", "0"}, cli.ExitUsage},
		{"list_bad_monitor", []string{"alerts", "list", "--monitor", "a b"}, cli.ExitUsage},
		{"list_bad_output", []string{"alerts", "list", "-o", "yaml"}, cli.ExitUsage},
		{"list_argument", []string{"alerts", "list", "rag_quality"}, cli.ExitUsage},
		{"get", []string{"alerts", "get", apitest.FiringAlertID}, cli.ExitOK},
		{"get_resolved", []string{"alerts", "get", apitest.ResolvedAlertID}, cli.ExitOK},
		{"get_pending", []string{"alerts", "get", pendingAlertID}, cli.ExitOK},
		{"get_json", []string{"alerts", "get", apitest.ResolvedAlertID, "-o", "json"}, cli.ExitOK},
		{"get_unknown", []string{"alerts", "get", "ffffffffffffffffffffffffffffffff"}, cli.ExitNotFound},
		{"get_bad_id", []string{"alerts", "get", "a.b"}, cli.ExitUsage},
		{"get_no_args", []string{"alerts", "get"}, cli.ExitUsage},
		{"ack", []string{"alerts", "ack", pendingAlertID, "--comment", "judge quota raised"}, cli.ExitOK},
		{"ack_shown", []string{"alerts", "get", pendingAlertID}, cli.ExitOK},
		{"ack_resolved", []string{"alerts", "ack", apitest.ResolvedAlertID}, cli.ExitError},
		{"ack_unknown", []string{"alerts", "ack", "ffffffffffffffffffffffffffffffff"}, cli.ExitNotFound},
		{"ack_no_args", []string{"alerts", "ack"}, cli.ExitUsage},
		{"silence", []string{"alerts", "silence", "rag_quality:quality:groundedness", "--for", "2h", "--comment", "judge upgrade"}, cli.ExitOK},
		{"silence_monitor", []string{"alerts", "silence", "rag_quality", "--for", "30m"}, cli.ExitOK},
		{"silence_no_for", []string{"alerts", "silence", "rag_quality"}, cli.ExitUsage},
		{"silence_bad_key", []string{"alerts", "silence", "rag_quality:groundedness", "--for", "1h"}, cli.ExitUsage},
		{"silence_too_long", []string{"alerts", "silence", "rag_quality", "--for", "1000h"}, cli.ExitUsage},
		{"silences", []string{"alerts", "silences"}, cli.ExitOK},
		{"unsilence", []string{"alerts", "unsilence", "s0000000000000000000000000000002"}, cli.ExitOK},
		{"unsilence_again", []string{"alerts", "unsilence", "s0000000000000000000000000000002"}, cli.ExitError},
		{"unsilence_unknown", []string{"alerts", "unsilence", "s00000000000000000000000000000ff"}, cli.ExitNotFound},
		{"silences_all_json", []string{"alerts", "silences", "--all", "-o", "json"}, cli.ExitOK},
		{"channels", []string{"alerts", "channels"}, cli.ExitOK},
		{"channels_json", []string{"alerts", "channels", "-o", "json"}, cli.ExitOK},
		{"test", []string{"alerts", "test", "oncall"}, cli.ExitOK},
		{"test_failed", []string{"alerts", "test", "broken"}, cli.ExitError},
		{"test_unknown", []string{"alerts", "test", "nope"}, cli.ExitNotFound},
		{"test_timeout", []string{"alerts", "test", "hang", "--timeout", "100ms"}, cli.ExitError},
		{"test_no_args", []string{"alerts", "test"}, cli.ExitUsage},
		{"unknown_subcommand", []string{"alerts", "silence"}, cli.ExitUsage},
		{"bad_server", []string{"alerts", "list", "--server", "ftp://example.com"}, cli.ExitUsage},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			r := run(t, step.args...)
			if r.code != step.code {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, step.code, r.stderr)
			}
			got := r.transcript(step.args, srv.URL, "SERVER")
			checkAlertsGolden(t, step.name, got)
			if strings.Contains(got, "SECRET") {
				t.Errorf("the output shows a secret:\n%s", got)
			}
		})
	}
}

// TestAlertsNoServer checks the message when nothing listens.
func TestAlertsNoServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	r := run(t, "alerts", "channels", "--server", addr)
	if r.code != cli.ExitError || !strings.Contains(r.stderr, "cannot connect to "+addr+" (connection refused)") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
