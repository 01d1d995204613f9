package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/otlptest"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// TestSecondServerRefused starts a second flowwatch on the data directory
// of a running one: it is refused, naming the first's process; once the
// first has stopped, it starts.
func TestSecondServerRefused(t *testing.T) {
	dir := t.TempDir()
	a := startApp(t, dir)
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Address, cfg.GRPC.Address = "127.0.0.1:0", "127.0.0.1:0"
	b, err := app.New(context.Background(), cfg, nil)
	if err == nil {
		b.Shutdown(context.Background())
		t.Fatal("a second server started on a data directory in use")
	}
	want := fmt.Sprintf("is in use by flowwatch pid %d (started ", os.Getpid())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	startApp(t, dir)
}

// TestMonitorBoundsThroughAPI applies monitors through the API with
// monitors.max_monitors at 3: the fourth is refused with 409 naming the
// setting, a new version of an existing one is not; a cron that never
// fires is refused with 422 naming schedule.cron.
func TestMonitorBoundsThroughAPI(t *testing.T) {
	a := startAppWith(t, t.TempDir(), func(c *config.Config) { c.Monitors.MaxMonitors = 3 })
	file := func(name, cron string) string {
		return fmt.Sprintf("name: %s\ntarget: {service: rag-app}\nschedule: {cron: %q}\nwindow: {lookback: PT1H}\noperational: {error_rate: {max: 0.05}}\n", name, cron)
	}
	steps := []struct {
		name, cron string
		want       int
		says       string
	}{
		{"m1", "* * * * *", http.StatusCreated, ""},
		{"m2", "* * * * *", http.StatusCreated, ""},
		{"m3", "* * * * *", http.StatusCreated, ""},
		{"m4", "* * * * *", http.StatusConflict, "the server holds 3 monitors, the most monitors.max_monitors allows"},
		{"m1", "*/5 * * * *", http.StatusOK, ""},
		{"feb30", "0 0 30 2 *", http.StatusUnprocessableEntity, `schedule.cron: "0 0 30 2 *" never fires`},
	}
	for _, st := range steps {
		var body struct {
			Error string `json:"error"`
		}
		code := do(t, a, http.MethodPut, "/api/v1/monitors/"+st.name, "application/yaml", file(st.name, st.cron), &body)
		if code != st.want || !strings.Contains(body.Error, st.says) {
			t.Errorf("PUT %s (%s): %d %q, want %d saying %q", st.name, st.cron, code, body.Error, st.want, st.says)
		}
	}
}

// TestServicesPagedThroughAPI sends traces of 5 services, one with a
// 100,000-character name, and reads /api/v1/services two at a time: every
// service once, the long name cut to 256 bytes.
func TestServicesPagedThroughAPI(t *testing.T) {
	ctx := context.Background()
	a := startApp(t, t.TempDir())
	long := strings.Repeat("x", 100_000)
	names := []string{"svc-a", "svc-b", "svc-c", "svc-d", long}
	var spans tracetest.SpanStubs
	for i, n := range names {
		r := otlptest.RAG{Service: n, Question: "q?", Answer: "a", Model: "gpt-4o", Start: time.Now().Add(-time.Duration(i+1) * time.Minute)}
		spans = append(spans, r.Spans()...)
	}
	// The exporter is told the name was cut (a partial success rejecting
	// nothing).
	if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), spans, false); err == nil || !strings.Contains(err.Error(), "longer than 256 bytes cut") {
		t.Fatalf("export: %v, want a partial success saying the name was cut", err)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > len(names) {
			t.Fatal("the pages do not end")
		}
		var page struct {
			Services []struct {
				Service string `json:"service"`
			} `json:"services"`
			NextCursor string `json:"next_cursor"`
		}
		if code := get(t, a, "/api/v1/services?limit=2&cursor="+cursor, &page); code != http.StatusOK {
			t.Fatalf("GET services: %d", code)
		}
		if len(page.Services) > 2 {
			t.Fatalf("a page of %d services, limit 2", len(page.Services))
		}
		for _, s := range page.Services {
			got = append(got, s.Service)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	want := []string{"svc-a", "svc-b", "svc-c", "svc-d", strings.Repeat("x", 256)}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("services %d: %.60q..., want %d", len(got), got, len(want))
	}
}

// TestRestartTakesOverDeadRun leaves in the data directory what kill -9
// leaves: a run held, with an hour of lease to go, by a process that is
// gone. flowwatch starts on it and executes the run at once rather than
// after the lease: the lock on the data directory says nobody else holds
// it.
func TestRestartTakesOverDeadRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	st, err := sqlite.Open(ctx, sqlite.Options{Path: cfg.SQLitePath(), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mon := model.Monitor{Name: "ops", Target: model.MonitorTarget{Service: "rag-app"}, SamplingRate: 1,
		Schedule: model.Schedule{Cron: "0 0 1 1 *"}, Window: model.Window{Lookback: "PT1H"},
		Operational: map[string]model.Bound{"error_rate": {Max: ptr(0.05)}}}
	if _, _, err := st.PutMonitor(ctx, mon, 0); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	run, err := st.CreateRun(ctx, model.Run{Monitor: "ops", MonitorVersion: 1, ScheduledAt: now,
		WindowStart: now.Add(-time.Hour), WindowEnd: now, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.ClaimRun(ctx, "dead-process", now, time.Hour); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	a := startApp(t, dir)
	var got restartRunWire
	waitRun(t, a, run.ID, &got, func() bool { return got.Status == "succeeded" || got.Status == "failed" })
	if got.Status != "succeeded" || got.Attempts != 2 {
		t.Errorf("run after the restart: %s in %d attempts (%s); want succeeded in 2", got.Status, got.Attempts, got.Error)
	}
}

func ptr[T any](v T) *T { return &v }
