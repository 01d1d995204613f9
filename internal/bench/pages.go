package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
)

// PagesOptions configures the dashboard benchmark.
type PagesOptions struct {
	// DataDir holds a store to serve, such as one `flowwatch bench search
	// --data DIR` loaded. Required.
	DataDir string
	// Runs is how many times each page is timed.
	Runs int
	// Sample is about how many traces the benchmark's monitor run judges
	// (with the built-in evaluators), so the quality pages have runs.
	Sample int
	// Only, when set, times only the pages whose name contains it.
	Only string
	// CPUProfile, when set, is a file that receives a CPU profile of the
	// whole process while the pages are timed (go tool pprof reads it).
	CPUProfile string
	// Progress receives progress lines (may be nil).
	Progress io.Writer
}

// PagesResult is what the dashboard benchmark measured.
type PagesResult struct {
	Pages []PageTiming
}

// PageTiming is the timing of one page: the whole request on loopback,
// server rendering and reading the body included.
type PageTiming struct {
	Name, Path    string
	Runs          int
	P50, P95, Max time.Duration
	Bytes         int
	Status        int
}

// String formats the result as the README shows it.
func (r PagesResult) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "page\tp50 ms\tp95 ms\tmax ms\tKB\t")
	for _, p := range r.Pages {
		name := p.Name
		if p.Status != http.StatusOK {
			name += fmt.Sprintf(" (status %d)", p.Status)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.0f\t\n", name, ms(p.P50), ms(p.P95), ms(p.Max), float64(p.Bytes)/1024)
	}
	_ = tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

// benchMonitor is the monitor the benchmark applies and runs.
const benchMonitor = "bench-quality"

// Pages serves a store with the whole flowwatch server (on loopback), runs
// a monitor over it so that the quality pages have something to show,
// then times every dashboard page and view and every trace-search filter
// the Traces view offers.
func Pages(ctx context.Context, o PagesOptions) (PagesResult, error) {
	var res PagesResult
	if o.DataDir == "" {
		return res, fmt.Errorf("bench pages needs --data: a store loaded by flowwatch bench search --data DIR")
	}
	if o.Runs <= 0 {
		o.Runs = 20
	}
	if o.Sample <= 0 {
		o.Sample = 2000
	}
	say := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	cfg := config.Default()
	cfg.DataDir = o.DataDir
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.GRPC.Address = "127.0.0.1:0"
	// The bench store is built once and measured many times: retention
	// must not eat it (nor its deleting weigh on the figures).
	cfg.Retention = config.Retention{Interval: cfg.Retention.Interval, BatchSize: cfg.Retention.BatchSize}
	a, err := app.New(ctx, cfg, nil)
	if err != nil {
		return res, err
	}
	if err := a.Start(ctx); err != nil {
		return res, err
	}
	defer func() { _ = a.Shutdown(context.Background()) }()
	c := &pageClient{base: "http://" + a.HTTPAddr(), http: &http.Client{Timeout: 5 * time.Minute}}

	// The busiest service and deployment, and a trace of it.
	type serviceRow struct {
		Service    string `json:"service"`
		Deployment string `json:"deployment"`
		TraceCount int64  `json:"trace_count"`
	}
	var services struct {
		Services []serviceRow `json:"services"`
	}
	if err := c.getJSON(ctx, "/api/v1/services", &services); err != nil {
		return res, err
	}
	if len(services.Services) == 0 {
		return res, fmt.Errorf("the store in %s holds no trace", o.DataDir)
	}
	slices.SortFunc(services.Services, func(x, y serviceRow) int { return cmp.Compare(y.TraceCount, x.TraceCount) })
	svc, dep, count := services.Services[0].Service, services.Services[0].Deployment, services.Services[0].TraceCount
	var traces struct {
		Traces []struct {
			TraceID string `json:"trace_id"`
		} `json:"traces"`
	}
	if err := c.getJSON(ctx, "/api/v1/traces?limit=1&service="+url.QueryEscape(svc), &traces); err != nil {
		return res, err
	}
	if len(traces.Traces) == 0 {
		return res, fmt.Errorf("no trace of service %s", svc)
	}
	traceID := traces.Traces[0].TraceID

	// A monitor over the last week of that deployment, sampling about
	// o.Sample traces, run once.
	rate := min(1, float64(o.Sample)/(float64(count)*7/30+1))
	yaml := fmt.Sprintf(`name: %s
target: {service: %q, deployment: %q}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: P7D}
sampling_rate: %.6f
columns: {prompt: question, completion: answer, context: context}
quality:
  lexical_groundedness: {pass_score: 0.5, min_pass_rate: 0.9}
  answer_length: {}
operational:
  error_rate: {max: 0.02}
`, benchMonitor, svc, dep, max(rate, 0.000001))
	if err := c.do(ctx, http.MethodPut, "/api/v1/monitors/"+benchMonitor, "application/yaml", yaml, nil); err != nil {
		return res, fmt.Errorf("apply the benchmark's monitor: %w", err)
	}
	var created struct {
		Run struct {
			ID string `json:"id"`
		} `json:"run"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/monitors/"+benchMonitor+"/runs", "", "", &created); err != nil {
		return res, fmt.Errorf("run the benchmark's monitor: %w", err)
	}
	say("monitor %s: a run over the last 7 days of %s/%s, sampling %.4f%% of its traces", benchMonitor, svc, dep, rate*100)
	start := time.Now()
	for {
		var run struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := c.getJSON(ctx, "/api/v1/runs/"+created.Run.ID, &run); err != nil {
			return res, err
		}
		if run.Status == "succeeded" {
			break
		}
		if run.Status == "failed" {
			return res, fmt.Errorf("the benchmark's run failed: %s", run.Error)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	say("run %s succeeded in %s", created.Run.ID, time.Since(start).Round(time.Millisecond))

	s := "/services/" + url.PathEscape(svc)
	d := "deployment=" + url.QueryEscape(dep)
	pages := []struct{ name, path string }{
		{"overview 24h", "/"},
		{"overview 7d", "/?range=7d"},
		{"overview 30d", "/?range=30d"},
		{"token usage 24h", s + "?" + d},
		{"token usage 30d", s + "?range=30d&" + d},
		{"token usage 30d, one model", s + "/tokens?range=30d&model=gpt-4o-mini&" + d},
		{"operational 24h", s + "/operational?" + d},
		{"operational 30d", s + "/operational?range=30d&" + d},
		{"generation quality 7d", s + "/quality?range=7d&" + d},
		{"traces 24h", s + "/traces?" + d},
		{"traces 30d", s + "/traces?range=30d&" + d},
		{"traces 30d, failed", s + "/traces?range=30d&status=error&" + d},
		{"traces 30d, model", s + "/traces?range=30d&model=gpt-4o-mini&" + d},
		{"traces 30d, absent model", s + "/traces?range=30d&model=no-such-model&" + d},
		{"traces 30d, min 20 s", s + "/traces?range=30d&min_ms=20000&" + d},
		{"traces 30d, min 1000 s", s + "/traces?range=30d&min_ms=1000000&" + d},
		{"traces 30d, common word", s + "/traces?range=30d&q=documentation&" + d},
		{"traces 30d, rare word", s + "/traces?range=30d&q=zephyrine&" + d},
		{"traces 30d, absent word", s + "/traces?range=30d&q=qwxzvb&" + d},
		{"trace", "/traces/" + traceID},
		{"monitors", "/monitors"},
		{"monitor 7d", "/monitors/" + benchMonitor + "?range=7d"},
		{"run", "/runs/" + created.Run.ID},
		{"alerts", "/alerts"},
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return res, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	for _, p := range pages {
		if !strings.Contains(p.name, o.Only) {
			continue
		}
		t, err := c.time(ctx, p.path, o.Runs)
		if err != nil {
			return res, fmt.Errorf("%s: %w", p.name, err)
		}
		t.Name = p.name
		res.Pages = append(res.Pages, t)
		say("%-32s p95 %6.1f ms", p.name, ms(t.P95))
	}
	return res, nil
}

// pageClient times requests to the server under test.
type pageClient struct {
	base string
	http *http.Client
}

func (c *pageClient) getJSON(ctx context.Context, path string, v any) error {
	return c.do(ctx, http.MethodGet, path, "", "", v)
}

func (c *pageClient) do(ctx context.Context, method, path, contentType, body string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if v != nil {
		return json.Unmarshal(b, v)
	}
	return nil
}

// time fetches a page n times (after one untimed fetch) and sums up.
func (c *pageClient) time(ctx context.Context, path string, n int) (PageTiming, error) {
	t := PageTiming{Path: path, Runs: n}
	var took []time.Duration
	for i := 0; i <= n; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
		if err != nil {
			return t, err
		}
		began := time.Now()
		resp, err := c.http.Do(req)
		if err != nil {
			return t, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return t, err
		}
		if i == 0 {
			t.Status, t.Bytes = resp.StatusCode, len(b)
			continue // warm-up
		}
		took = append(took, time.Since(began))
	}
	slices.Sort(took)
	t.P50 = took[len(took)/2]
	t.P95 = took[min(len(took)-1, len(took)*95/100)]
	t.Max = took[len(took)-1]
	return t, nil
}
