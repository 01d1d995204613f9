// Package demo is `flowwatch demo`: a flowwatch on a data directory of its
// own, a small RAG application that sends it real OTLP traces through the
// OpenTelemetry Go SDK, and a monitor run over that traffic that finds a
// violation and fires an alert, so that a newcomer sees every part of
// flowwatch at work within a minute, without an LLM account.
//
// The application answers questions about the Nimbus smart thermostat (a
// made-up product) from a help center of thirty articles: a TF-IDF
// retriever finds the articles, an extractive composer builds the answer
// from their sentences. Its canary deployment sometimes answers beyond
// its context, some model calls are rate-limited or time out, and the
// vector store had an incident half an hour ago. Everything it does is
// drawn from a seeded random source, so a seed gives the same traffic.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
)

// Defaults of the options.
const (
	DefaultDataDir      = "./flowwatch-demo"
	DefaultHTTPAddr     = "127.0.0.1:4318"
	DefaultGRPCAddr     = "127.0.0.1:4317"
	DefaultTraces       = 600
	DefaultLiveInterval = 3 * time.Second
	// MaxTraces bounds Options.Traces.
	MaxTraces = 20000
)

// backfillSpan is how far back the traffic sent at start goes.
const backfillSpan = time.Hour

// MarkerFile is the file that marks a directory as the demo's: the demo
// writes only into a directory that is new, empty, or has it.
const MarkerFile = ".flowwatch-demo"

// ErrNotDemoDir is returned (wrapped) for a data directory that holds
// something else than an earlier demo's data.
var ErrNotDemoDir = errors.New("not a demo data directory")

// Options configure a demo.
type Options struct {
	// DataDir is the demo's data directory (default ./flowwatch-demo). It
	// must be new, empty, or an earlier demo's.
	DataDir string
	// Config is the server configuration to start from (judges, pricing,
	// notifications), nil for the defaults; its data directory, storage
	// path, monitors_dir and listen addresses are the demo's own.
	Config *config.Config
	// HTTPAddr and GRPCAddr are where flowwatch listens; loopback only
	// (defaults 127.0.0.1:4318 and 127.0.0.1:4317; port 0 picks a free
	// one).
	HTTPAddr, GRPCAddr string
	// Judge names the judge connection of Config the monitor uses: "" uses
	// the only one, or the built-in evaluators when there is none.
	Judge string
	// Traces is how many requests of the last hour are sent at start
	// (default 240).
	Traces int
	// Seed makes the traffic reproducible (0 is a seed like any other).
	Seed uint64
	// KeepRunning keeps flowwatch serving, and the application sending a
	// request every LiveInterval (default 3s), until ctx ends; otherwise
	// Run returns once the run is reported.
	KeepRunning  bool
	LiveInterval time.Duration
	// Out receives the progress and the summary.
	Out io.Writer
	// Ready, when set, is called once the dashboard is ready, while
	// flowwatch still serves.
	Ready func(Result)
}

// Result is what the demo found, as Ready is told.
type Result struct {
	// BaseURL is flowwatch's HTTP address, http://host:port.
	BaseURL string
	DataDir string
	// Monitor names the monitor applied, and MonitorFile is where its
	// YAML was written.
	Monitor, MonitorFile string
	// Judge is the judge connection the monitor uses, "" for the
	// built-in evaluators.
	Judge string
	// Requests counts the requests sent at start and Spans their spans.
	Requests, Spans int
	// Run is the monitor run, as the API answered it, and Alerts the
	// monitor's firing alerts after it.
	Run    api.Run
	Alerts []api.Alert
	// Links are the URLs printed, in order.
	Links []Link
	// ReadyAfter is how long the demo took to get there.
	ReadyAfter time.Duration
}

// Link is a URL the demo prints, with what it shows.
type Link struct {
	Name, URL string
}

// Dashboard paths the demo links to.
const (
	pathOverview = "/"
	pathService  = "/services/"
	pathMonitor  = "/monitors/"
	pathRun      = "/runs/"
	pathAlerts   = "/alerts"
)

// Check reports the first problem of the options, in the words of the
// command's flags; every problem it reports is a usage error. It returns
// the judge connection the monitor will use ("" for none).
func (o *Options) Check() (judge string, err error) {
	if o.Traces < 1 || o.Traces > MaxTraces {
		return "", fmt.Errorf("invalid --traces %d: must be from 1 to %d", o.Traces, MaxTraces)
	}
	if o.KeepRunning && o.LiveInterval < 100*time.Millisecond {
		return "", fmt.Errorf("invalid --live-interval %s: must be at least 100ms", o.LiveInterval)
	}
	for _, a := range []struct{ flag, addr string }{{"--http", o.httpAddr()}, {"--grpc", o.grpcAddr()}} {
		if err := checkLoopback(a.addr); err != nil {
			return "", fmt.Errorf("invalid %s %q: %w", a.flag, a.addr, err)
		}
	}
	var judges map[string]config.Judge
	if o.Config != nil {
		judges = o.Config.Judges
	}
	names := make([]string, 0, len(judges))
	for n := range judges {
		names = append(names, n)
	}
	slices.Sort(names)
	switch {
	case o.Judge != "":
		if _, ok := judges[o.Judge]; !ok {
			if len(names) == 0 {
				return "", fmt.Errorf("invalid --judge %q: the configuration has no judges (give --config a file with a judges: section)", o.Judge)
			}
			return "", fmt.Errorf("invalid --judge %q: the configuration's judges are %s", o.Judge, strings.Join(names, ", "))
		}
		return o.Judge, nil
	case len(names) == 1:
		return names[0], nil
	case len(names) > 1:
		return "", fmt.Errorf("the configuration has several judges (%s): choose one with --judge", strings.Join(names, ", "))
	}
	return "", nil
}

func (o *Options) dataDir() string  { return cmpOr(o.DataDir, DefaultDataDir) }
func (o *Options) httpAddr() string { return cmpOr(o.HTTPAddr, DefaultHTTPAddr) }
func (o *Options) grpcAddr() string { return cmpOr(o.GRPCAddr, DefaultGRPCAddr) }

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkLoopback accepts host:port addresses on a loopback interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %w", err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("the demo listens on loopback only (127.0.0.1, ::1 or localhost)")
}

// Run runs the demo: it starts flowwatch on the demo's data directory,
// sends the application's traffic of the last hour, applies the monitor,
// runs it, prints what it found and the dashboard's URLs and, with
// KeepRunning, serves and sends live traffic until ctx ends. It returns
// nil when ctx ends (Ctrl-C), and shuts everything down in order: the
// application's exporters first, so that their last spans arrive, then
// flowwatch.
func Run(ctx context.Context, o Options) error {
	judge, err := o.Check()
	if err != nil {
		return err
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.LiveInterval <= 0 {
		o.LiveInterval = DefaultLiveInterval
	}
	p := &progress{w: o.Out, start: time.Now()}
	dir := o.dataDir()

	reused, err := prepareDataDir(dir)
	if err != nil {
		return err
	}
	if reused {
		p.say("data directory %s (an earlier demo's: its data stays; remove the directory to start afresh)", dir)
	} else {
		p.say("data directory %s (new)", dir)
	}
	logPath := filepath.Join(dir, "flowwatch.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open the server log: %w", err)
	}
	defer logFile.Close()

	cfg := config.Default()
	if o.Config != nil {
		cfg = *o.Config
	}
	cfg.DataDir = dir
	cfg.Storage.SQLite.Path = "flowwatch.db"
	cfg.MonitorsDir = ""
	cfg.HTTP.Address, cfg.GRPC.Address = o.httpAddr(), o.grpcAddr()
	// The demo's own server, on loopback, is spoken to in plain HTTP and
	// gRPC by the demo's senders and client.
	cfg.HTTP.TLS, cfg.GRPC.TLS = config.TLS{}, config.TLS{}
	if _, port, _ := net.SplitHostPort(cfg.HTTP.Address); port != "0" {
		cfg.HTTP.PublicURL = "http://" + cfg.HTTP.Address
	}
	logger := newLogger(logFile, cfg.Log)

	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Shutdown(context.Background())
		return fmt.Errorf("%w (is another flowwatch, or another demo, listening there? --http 127.0.0.1:0 --grpc 127.0.0.1:0 picks free ports)", err)
	}
	base := "http://" + a.HTTPAddr()
	p.say("flowwatch is listening on %s (OTLP/HTTP, API, dashboard) and %s (OTLP/gRPC); its log: %s", base, a.GRPCAddr(), logPath)

	sender, err := NewSender(ctx, SenderOptions{HTTPEndpoint: a.HTTPAddr(), GRPCEndpoint: a.GRPCAddr()}, Profiles())
	if err != nil {
		_ = a.Shutdown(context.Background())
		return err
	}
	d := &demo{o: o, p: p, app: a, sender: sender, client: newClient(base), judge: judge, dir: dir}
	err = d.run(ctx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil // stopped by the user
	}
	return errors.Join(err, d.shutdown())
}

// demo is one demo run.
type demo struct {
	o       Options
	p       *progress
	app     *app.App
	sender  *Sender
	client  *client
	traffic *Traffic
	judge   string
	dir     string
}

func (d *demo) run(ctx context.Context) error {
	now := time.Now()
	d.traffic = NewTraffic(TrafficOptions{Seed: d.o.Seed, Incident: Incident{
		Start: now.Add(-38 * time.Minute), End: now.Add(-30 * time.Minute), Rate: 0.5,
	}})

	// The traffic of the last hour.
	d.p.say("the Nimbus help assistant sends %d requests of the last hour through the OpenTelemetry Go SDK (%s: prod, canary over OTLP/HTTP; %s over OTLP/gRPC)",
		d.o.Traces, ServiceAssistant, ServiceSearch)
	reqs := d.traffic.Backfill(d.o.Traces, now, backfillSpan)
	for _, r := range reqs {
		if err := d.sender.Send(ctx, r); err != nil {
			return err
		}
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := d.sender.Flush(fctx)
	cancel()
	if err != nil {
		return fmt.Errorf("send the demo traffic to flowwatch: %w", err)
	}
	spans, _ := d.sender.Exported()
	d.p.say("%d traces (%d spans) stored: %s", len(reqs), spans, describeTraffic(reqs))

	// The monitor.
	yaml := MonitorYAML(d.judge)
	file := filepath.Join(d.dir, MonitorName+".yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o640); err != nil {
		return fmt.Errorf("write the monitor file: %w", err)
	}
	if err := d.client.putMonitor(ctx, MonitorName, yaml); err != nil {
		return fmt.Errorf("apply monitor %s: %w", MonitorName, err)
	}
	how := "built-in evaluators, no LLM"
	if d.judge != "" {
		how = "the LLM judge " + d.judge + " and built-in evaluators"
	}
	d.p.say("monitor %s applied (%s); its file: %s", MonitorName, how, file)

	// Earlier runs over successive windows of the hour the traffic covers,
	// oldest first, so that the dashboard shows quality over time (a
	// judge's verdicts are cached: the main run pays for none of them
	// again).
	if err := d.history(ctx); err != nil {
		return err
	}

	// The run.
	run, err := d.client.createRun(ctx, MonitorName)
	if err != nil {
		return fmt.Errorf("run monitor %s: %w", MonitorName, err)
	}
	d.p.say("run %s started over the last 2 hours", run.ID)
	limit := 2 * time.Minute
	if d.judge != "" {
		limit = 10 * time.Minute
	}
	run, err = d.waitRun(ctx, run.ID, limit)
	if err != nil {
		return err
	}
	if run.Status != "succeeded" {
		return fmt.Errorf("run %s of monitor %s %s: %s (the server log %s may say more)", run.ID, MonitorName, run.Status, run.Error, filepath.Join(d.dir, "flowwatch.log"))
	}
	d.p.say("run %s succeeded: %s", run.ID, describeSampled(run))
	printRun(d.p.w, run)

	alerts, err := d.client.firingAlerts(ctx, MonitorName)
	if err != nil {
		return fmt.Errorf("list the alerts of %s: %w", MonitorName, err)
	}
	if len(alerts) == 0 {
		d.p.say("no alert fires: the run found nothing out of bounds")
	} else {
		d.p.say("%d %s firing (recorded even without notification targets; add notify: to the monitor to be told):", len(alerts), plural(len(alerts), "alert", "alerts"))
		for _, al := range alerts {
			fmt.Fprintf(d.p.w, "           %-34s %s\n", al.Key, al.Summary)
		}
	}

	// Where to look.
	res := Result{BaseURL: d.client.base, DataDir: d.dir, Monitor: MonitorName, MonitorFile: file, Judge: d.judge,
		Requests: len(reqs), Spans: int(spans), Run: run, Alerts: alerts}
	res.Links = []Link{
		{"overview", d.client.base + pathOverview + "?range=1h"},
		{"service", d.client.base + pathService + ServiceAssistant + "?range=1h"},
		{"monitor", d.client.base + pathMonitor + MonitorName},
		{"run", d.client.base + pathRun + run.ID},
		{"alerts", d.client.base + pathAlerts},
	}
	res.ReadyAfter = time.Since(d.p.start)
	fmt.Fprintf(d.p.w, "\nDashboard ready after %.1fs:\n", res.ReadyAfter.Seconds())
	for _, l := range res.Links {
		fmt.Fprintf(d.p.w, "  %-9s %s\n", l.Name, l.URL)
	}
	server := ""
	if d.client.base != "http://"+DefaultHTTPAddr {
		server = " --server " + d.client.base
	}
	fmt.Fprintf(d.p.w, "\nThe same from the command line and the API:\n")
	fmt.Fprintf(d.p.w, "  flowwatch traces list%s --service %s --since 1h\n", server, ServiceAssistant)
	fmt.Fprintf(d.p.w, "  flowwatch metrics%s --service %s --group-by deployment\n", server, ServiceAssistant)
	fmt.Fprintf(d.p.w, "  flowwatch monitor results%s %s\n", server, MonitorName)
	fmt.Fprintf(d.p.w, "  flowwatch monitor quality%s %s\n", server, MonitorName)
	fmt.Fprintf(d.p.w, "  flowwatch runs instances%s %s --failed\n", server, run.ID)
	fmt.Fprintf(d.p.w, "  flowwatch alerts list%s --state firing\n", server)
	fmt.Fprintf(d.p.w, "  curl %s/api/v1/runs/%s\n", d.client.base, run.ID)
	if d.o.Ready != nil {
		d.o.Ready(res)
	}
	if !d.o.KeepRunning {
		return nil
	}
	fmt.Fprintf(d.p.w, "\nThe assistant keeps sending a request every %s and the monitor runs every 5 minutes; press Ctrl-C to stop.\n"+
		"The data stays in %s: 'flowwatch serve --data %s' shows it again, 'flowwatch demo' adds to it.\n\n",
		d.o.LiveInterval, d.dir, d.dir)
	return d.live(ctx, run.ID)
}

// historyRuns and historyWindow shape the earlier runs: six 10-minute
// windows ending now.
const (
	historyRuns   = 6
	historyWindow = 10 * time.Minute
)

// history runs the monitor over the windows before now. The runs go at
// once; whatever order they end in, the alert state follows the windows
// (a run over a window older than one already applied changes nothing).
func (d *demo) history(ctx context.Context) error {
	end := time.Now().UTC().Truncate(time.Minute)
	limit := 2 * time.Minute
	if d.judge != "" {
		limit = 10 * time.Minute
	}
	var ids []string
	for i := historyRuns; i >= 1; i-- {
		ws := end.Add(-time.Duration(i) * historyWindow)
		run, err := d.client.createRunOver(ctx, MonitorName, ws, ws.Add(historyWindow))
		if err != nil {
			return fmt.Errorf("run monitor %s over %s: %w", MonitorName, ws.Format(time.TimeOnly), err)
		}
		ids = append(ids, run.ID)
	}
	for _, id := range ids {
		run, err := d.waitRun(ctx, id, limit)
		if err != nil {
			return err
		}
		if run.Status != "succeeded" {
			return fmt.Errorf("run %s of monitor %s %s: %s", run.ID, MonitorName, run.Status, run.Error)
		}
	}
	d.p.say("%d earlier runs over %s windows of the last hour, for the quality over time", historyRuns, fmtMinutes(historyWindow))
	return nil
}

func fmtMinutes(d time.Duration) string { return fmt.Sprintf("%d-minute", int(d.Minutes())) }

// waitRun follows a run until it ends or limit passes.
func (d *demo) waitRun(ctx context.Context, id string, limit time.Duration) (api.Run, error) {
	deadline := time.Now().Add(limit)
	lastReport := time.Now()
	for {
		run, err := d.client.getRun(ctx, id)
		if err != nil {
			return api.Run{}, fmt.Errorf("follow run %s: %w", id, err)
		}
		switch run.Status {
		case "succeeded", "failed":
			return run, nil
		}
		if time.Now().After(deadline) {
			return api.Run{}, fmt.Errorf("run %s of monitor %s has not ended after %s (it is %s)", id, MonitorName, limit, run.Status)
		}
		if time.Since(lastReport) >= 5*time.Second && run.Progress != nil {
			d.p.say("run %s: %d of %d sampled traces evaluated", id, run.Progress.Done, run.Progress.Total)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return api.Run{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// live sends a request every LiveInterval until ctx ends, and says once
// a minute what was sent and what scheduled runs found.
func (d *demo) live(ctx context.Context, lastRun string) error {
	tick := time.NewTicker(d.o.LiveInterval)
	defer tick.Stop()
	report := time.NewTicker(time.Minute)
	defer report.Stop()
	var sent, failed int
	for {
		select {
		case <-ctx.Done():
			d.p.say("stopping")
			return nil
		case now := <-tick.C:
			r := d.traffic.Next(now)
			r.Start = now.Add(-r.Duration()) // a request is exported when it ends
			if err := d.sender.Send(ctx, r); err != nil {
				return err
			}
			sent++
			if r.Failed() {
				failed++
			}
		case <-report.C:
			msg := fmt.Sprintf("live: %d requests in the last minute (%d failed)", sent, failed)
			if err := d.sender.Flush(ctx); err != nil && ctx.Err() == nil {
				msg += "; export failed: " + err.Error()
			}
			sent, failed = 0, 0
			if runs, err := d.client.latestRuns(ctx, MonitorName); err == nil && len(runs) > 0 && runs[0].ID != lastRun && runs[0].Status == "succeeded" {
				lastRun = runs[0].ID
				msg += fmt.Sprintf("; scheduled run %s: %s", runs[0].ID, describeViolations(runs[0]))
			}
			d.p.say("%s", msg)
		}
	}
}

// shutdown stops the application's exporters (sending what they hold),
// then flowwatch.
func (d *demo) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := d.sender.Shutdown(ctx)
	cancel()
	if err != nil {
		err = fmt.Errorf("stop the demo application's exporters: %w", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), app.ShutdownTimeout)
	defer cancel()
	if serr := d.app.Shutdown(ctx); serr != nil {
		err = errors.Join(err, fmt.Errorf("stop flowwatch: %w", serr))
	}
	d.p.say("stopped")
	return err
}

// prepareDataDir makes sure dir is the demo's: it creates a missing or
// empty directory and marks it, accepts one an earlier demo marked, and
// refuses anything else (ErrNotDemoDir). reused says whether it was an
// earlier demo's.
func prepareDataDir(dir string) (reused bool, err error) {
	marker := filepath.Join(dir, MarkerFile)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return false, fmt.Errorf("create the data directory: %w", err)
		}
	case err != nil:
		return false, fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return false, fmt.Errorf("%w: %s is a file, not a directory; choose another --data", ErrNotDemoDir, dir)
	default:
		if _, err := os.Stat(marker); err == nil {
			return true, nil
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return false, fmt.Errorf("data directory: %w", err)
		}
		if len(entries) > 0 {
			return false, fmt.Errorf("%w: %s already holds files (such as %s) and was not made by 'flowwatch demo' (it has no %s file); "+
				"the demo writes only into a directory of its own: choose another --data, or an empty directory", ErrNotDemoDir, dir, entries[0].Name(), MarkerFile)
		}
	}
	const text = "This directory holds the data of 'flowwatch demo' (a flowwatch database, its log and the demo's monitor).\n" +
		"'flowwatch serve --data DIR' shows it again; delete the directory when you are done with it.\n"
	if err := os.WriteFile(marker, []byte(text), 0o640); err != nil {
		return false, fmt.Errorf("mark the data directory: %w", err)
	}
	return false, nil
}

// newLogger writes flowwatch's log in the configured format and level.
func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// progress prints lines with the time since the demo started.
type progress struct {
	w     io.Writer
	start time.Time
}

func (p *progress) say(format string, args ...any) {
	fmt.Fprintf(p.w, "%6.1fs  %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}
