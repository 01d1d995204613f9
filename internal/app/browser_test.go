package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/otlptest"
	"github.com/flowwatch/flowwatch/internal/ui/chart"
)

// chromiumPath finds the browser the dashboard tests drive. Without one
// the tests are skipped, unless FLOWWATCH_REQUIRE_BROWSER is set (CI sets
// it after installing Debian's chromium), when they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FLOWWATCH_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium on PATH, and FLOWWATCH_REQUIRE_BROWSER is set: install it (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH: the dashboard's browser tests need it (apt-get install chromium); CI installs it")
	return ""
}

// artifactsDir is where the browser tests leave their screenshots:
// FLOWWATCH_ARTIFACTS, or a directory under the system's temporary one.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FLOWWATCH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "flowwatch-ui-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is a headless Chromium that records every uncaught JavaScript
// exception, console error and browser log error (a Content-Security-
// Policy violation is one) of the pages it opens.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errs = append(b.errs, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs actions, failing the test on an error or on anything the page
// reported as an error meanwhile.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b.checkErrors(t, what)
}

func (b *browser) checkErrors(t *testing.T, what string) {
	t.Helper()
	// Console messages arrive asynchronously; give them a moment.
	time.Sleep(50 * time.Millisecond)
	b.mu.Lock()
	errs := b.errs
	b.errs = nil
	b.mu.Unlock()
	for _, e := range errs {
		t.Errorf("%s: the page reported %s", what, e)
	}
}

// value runs one action that returns a value.
func value[T any](t *testing.T, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return strings.TrimSpace(value(t, b, "text of "+sel, chromedp.Text(chromedp.CSS(sel))))
}

func (b *browser) location(t *testing.T) string {
	t.Helper()
	return value(t, b, "location", chromedp.Location())
}

// screenshot saves the whole page as a PNG under the artifacts.
func (b *browser) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	png := value(t, b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardInBrowser loads flowwatch through OTLP, runs a monitor with
// a scripted judge, and walks the dashboard in a real browser: every page
// and view, the figures against the API's, a judged request followed from
// the Generation quality view to its trace, a range change, and Run now.
func TestDashboardInBrowser(t *testing.T) {
	b := newBrowser(t)
	shots := artifactsDir(t)
	ctx := context.Background()
	js := judgetest.New(t, judgetest.Options{Reply: judgetest.FixedScores(map[string]int{"groundedness": 2, "fluency": 5})})
	a := startAppWith(t, t.TempDir(), func(c *config.Config) {
		c.Judges = map[string]config.Judge{"test-judge": {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model"}}
	})
	base := time.Now().UTC().Add(-40 * time.Minute)
	for i := 0; i < 12; i++ {
		r := otlptest.RAG{Service: "rag-app", Deployment: "blue", Question: fmt.Sprintf("How do I reset password %d?", i),
			Answer: "Use the reset link on the sign-in page.", Documents: []string{"Passwords are reset from the sign-in page."},
			Model: "gpt-4o-mini", InputTokens: 100 + int64(i), OutputTokens: 20, Start: base.Add(time.Duration(i) * 3 * time.Minute),
			Failed: i%4 == 3}
		if i == 0 {
			r.Question = `<script>alert("x")</script> hostile question`
		}
		if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), r.Spans(), false); err != nil {
			t.Fatal(err)
		}
	}
	monitorYAML := `name: quality
target: {service: rag-app, deployment: blue}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT2H}
judge: test-judge
quality:
  groundedness: {pass_score: 3, min_pass_rate: 0.7}
  fluency: {pass_score: 3, min_pass_rate: 0.7, min_average: 4}
operational:
  error_rate: {max: 0.05}
`
	if code := do(t, a, http.MethodPut, "/api/v1/monitors/quality", "application/yaml", monitorYAML, nil); code != http.StatusCreated {
		t.Fatalf("PUT monitor: %d", code)
	}
	runID := startRun(t, a)
	waitRunSucceeded(t, a, runID)
	site := "http://" + a.HTTPAddr()

	// The figures on the home page are the API's.
	var m struct {
		Totals struct {
			Requests  int64   `json:"requests"`
			ErrorRate float64 `json:"error_rate"`
		} `json:"totals"`
	}
	get(t, a, "/api/v1/metrics/operational?service=rag-app&deployment=blue&since=24h", &m)
	var llm struct {
		Totals struct {
			TotalTokens int64   `json:"total_tokens"`
			CostUSD     float64 `json:"cost_usd"`
		} `json:"totals"`
	}
	get(t, a, "/api/v1/metrics/llm?service=rag-app&deployment=blue&since=24h", &llm)
	b.do(t, "home", chromedp.Navigate(site+"/"), chromedp.WaitVisible(chromedp.CSS("main")))
	requests, errRate := b.text(t, `[data-figure="requests"]`), b.text(t, `[data-figure="error_rate"]`)
	tokens, cost := b.text(t, `[data-figure="total_tokens"]`), b.text(t, `[data-figure="cost"]`)
	for _, c := range []struct{ what, shown, want string }{
		{"requests", requests, chart.FormatCount(float64(m.Totals.Requests))},
		{"error rate", errRate, chart.FormatRatio(m.Totals.ErrorRate)},
		{"total tokens", tokens, chart.FormatTokens(float64(llm.Totals.TotalTokens))},
		{"cost", cost, chart.FormatUSD(llm.Totals.CostUSD)},
	} {
		if strings.TrimSpace(c.shown) != c.want {
			t.Errorf("home page shows %s %q, the API says %q", c.what, c.shown, c.want)
		}
	}
	if m.Totals.Requests != 12 {
		t.Errorf("API requests %d, want 12", m.Totals.Requests)
	}
	b.screenshot(t, shots, "home")

	// Every view of the service page.
	for _, view := range []string{"tokens", "quality", "operational", "traces"} {
		b.do(t, "service "+view, chromedp.Navigate(site+"/services/rag-app/"+view+"?deployment=blue"), chromedp.WaitVisible(chromedp.CSS("main")))
		b.screenshot(t, shots, "service-"+view)
		if heading := b.text(t, `.tabs a[aria-current="page"]`); heading == "" {
			t.Errorf("service view %s: no current tab", view)
		}
	}

	// From a judged request in the Generation quality view to its trace.
	b.do(t, "follow a judged request",
		chromedp.Navigate(site+"/services/rag-app/quality?deployment=blue"), chromedp.WaitVisible(chromedp.CSS("table.verdicts")),
		chromedp.Click(chromedp.CSS(`table.verdicts tbody tr td a`)),
		chromedp.WaitVisible(chromedp.CSS(`.cards`)))
	traceURL, verdicts := b.location(t), b.text(t, "main")
	if !strings.Contains(traceURL, "/traces/") || !strings.Contains(verdicts, "Judge verdicts") || !strings.Contains(verdicts, "groundedness") {
		t.Errorf("following a judged request led to %s without its verdicts", traceURL)
	}
	b.screenshot(t, shots, "trace")

	// The hostile question is shown as text.
	b.do(t, "traces view", chromedp.Navigate(site+"/services/rag-app/traces?deployment=blue&q=hostile"), chromedp.WaitVisible(chromedp.CSS("main")))
	search := b.text(t, "main table")
	if !strings.Contains(search, `<script>alert("x")</script> hostile question`) {
		t.Errorf("the hostile question is not shown as text: %q", search)
	}

	// Changing the range.
	b.do(t, "change the range", chromedp.Navigate(site+"/services/rag-app/operational?deployment=blue"), chromedp.WaitVisible(chromedp.CSS(".presets")),
		chromedp.Click(chromedp.CSS(`.presets a:nth-child(4)`)), chromedp.WaitVisible(chromedp.CSS(`.presets a[aria-current]`)))
	loc, current := b.location(t), b.text(t, `.presets a[aria-current]`)
	if u, err := url.Parse(loc); err != nil || u.Query().Get("range") != "7d" || current != "7d" {
		t.Errorf("after choosing 7d: at %s with %q current", loc, current)
	}

	// Monitors, the run, alerts.
	for _, p := range []struct{ name, path string }{
		{"monitors", "/monitors"}, {"run", "/runs/" + runID}, {"alerts", "/alerts"},
	} {
		b.do(t, p.name, chromedp.Navigate(site+p.path), chromedp.WaitVisible(chromedp.CSS("main")))
		b.screenshot(t, shots, p.name)
	}
	b.do(t, "alerts list", chromedp.Navigate(site+"/alerts"), chromedp.WaitVisible(chromedp.CSS("main")))
	alertLink := value(t, b, "an alert", chromedp.AttributeValue(chromedp.CSS(`main table tbody tr td:nth-child(3) a`), "href"))
	if !alertLink.Exists {
		t.Fatal("no alert listed: the groundedness violation should have fired one")
	}
	b.do(t, "alert page", chromedp.Navigate(site+alertLink.Value), chromedp.WaitVisible(chromedp.CSS("main")))
	b.screenshot(t, shots, "alert")

	// Run now starts a run, and the monitor page lists it.
	b.do(t, "run now", chromedp.Navigate(site+"/monitors/quality"), chromedp.WaitVisible(chromedp.CSS(`form[action="/monitors/quality/run"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/monitors/quality/run"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.head`)))
	started := b.location(t)
	u, err := url.Parse(started)
	if err != nil || u.Query().Get("started") == "" {
		t.Fatalf("Run now led to %s, want the monitor page naming the new run", started)
	}
	newRun := u.Query().Get("started")
	waitRunSucceeded(t, a, newRun)
	b.do(t, "monitor after run now", chromedp.Navigate(site+"/monitors/quality"), chromedp.WaitVisible(chromedp.CSS("main")))
	rows := value(t, b, "count runs", chromedp.Evaluate[int](`new Set([...document.querySelectorAll('a[href^="/runs/"]')].map(a => a.getAttribute('href'))).size`))
	if rows < 2 {
		t.Errorf("the monitor page lists %d run links after Run now, want both runs", rows)
	}
	b.screenshot(t, shots, "monitor")

	// A phone's width.
	b.do(t, "phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(site+"/services/rag-app/quality?deployment=blue"),
		chromedp.WaitVisible(chromedp.CSS("main")))
	b.screenshot(t, shots, "service-quality-phone")
	t.Logf("screenshots in %s", shots)
}

// startRun starts a manual run through the API and returns its id.
func startRun(t *testing.T, a *app.App) string {
	t.Helper()
	var created struct {
		Run runWire `json:"run"`
	}
	if code := do(t, a, http.MethodPost, "/api/v1/monitors/quality/runs", "", "", &created); code != http.StatusAccepted {
		t.Fatalf("POST run: %d", code)
	}
	return created.Run.ID
}

// waitRunSucceeded waits for a run to succeed.
func waitRunSucceeded(t *testing.T, a *app.App, id string) {
	t.Helper()
	var run runWire
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code := get(t, a, "/api/v1/runs/"+id, &run); code != http.StatusOK {
			t.Fatalf("GET run: %d", code)
		}
		if run.Status == "succeeded" || run.Status == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after a minute", id, run.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if run.Status != "succeeded" {
		t.Fatalf("run %s ended %s: %s", id, run.Status, run.Error)
	}
}
