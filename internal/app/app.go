// Package app is flowwatch's composition root: it builds every component
// from the configuration, starts them in order and shuts them down in the
// reverse order. It is the only package that imports concrete stores.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/auth"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/eval"
	"github.com/flowwatch/flowwatch/internal/gateway"
	"github.com/flowwatch/flowwatch/internal/ingest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/notify"
	"github.com/flowwatch/flowwatch/internal/pipeline"
	"github.com/flowwatch/flowwatch/internal/redact"
	"github.com/flowwatch/flowwatch/internal/retention"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/server"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/ui"
)

// ShutdownTimeout bounds a graceful shutdown.
const ShutdownTimeout = 30 * time.Second

// App is a running flowwatch.
type App struct {
	cfg       config.Config
	log       *slog.Logger
	store     backend
	monitors  *monitor.Limited // the store's monitors, within monitors.max_monitors
	server    *server.Server
	scheduler *monitor.Scheduler
	// stopScheduler ends the scheduler's context; schedulerDone is closed
	// when it has returned.
	stopScheduler context.CancelFunc
	schedulerDone chan struct{}
	// sender delivers the notifications of the outbox; stopSender and
	// senderDone as for the scheduler.
	sender     *notify.Sender
	stopSender context.CancelFunc
	senderDone chan struct{}
	// sweeper deletes data past its retention; stopSweeper and
	// sweeperDone as for the scheduler.
	sweeper     *retention.Sweeper
	stopSweeper context.CancelFunc
	sweeperDone chan struct{}
	// recorder records the gateways' calls (gateways.go); nil without
	// gateways. stopRecorder and recorderDone as for the scheduler.
	recorder     *gateway.Recorder
	stopRecorder context.CancelFunc
	recorderDone chan struct{}
	// monitorFiles are the monitors of monitors_dir, read by New and
	// applied by Start.
	monitorFiles []monitorFile

	mu       sync.Mutex
	ready    bool
	shutdown bool
}

// New builds flowwatch from cfg (which must be valid): it reads and checks
// the monitor files of monitors_dir, opens the store (creating the data
// directory) and wires ingest, the pipeline, the operational metrics, the
// judges, the monitor scheduler, the API and the listeners. Nothing
// listens, no monitor runs and no monitor file is stored until Start.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger) (*App, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	// With http.tls, the default public_url is https (cookies, links).
	cfg.HTTP.PublicURL = cfg.PublicURL()
	// What monitor files and the API are checked against.
	monitorEnv := monitor.Env{
		Judge:   func(name string) bool { _, ok := cfg.Judges[name]; return ok },
		Channel: func(name string) bool { _, ok := cfg.Channels[name]; return ok },
		Emails:  func() bool { return cfg.SMTP != nil },
	}
	// monitors_dir is read (and every file checked) before anything is
	// opened, like the rest of the configuration; Start stores it.
	var monitorFiles []monitorFile
	if cfg.MonitorsDir != "" {
		var err error
		if monitorFiles, err = readMonitorsDir(cfg.MonitorsDir, monitorEnv); err != nil {
			return nil, err
		}
		if err := checkMonitorFileRecipients(cfg, monitorFiles); err != nil {
			return nil, err
		}
	}
	// The listeners' certificates (tls.go) are loaded before anything is
	// opened, like the rest of the configuration.
	httpTLS, grpcTLS, err := listenersTLS(cfg, logger)
	if err != nil {
		return nil, err
	}
	prices, err := cfg.Prices()
	if err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	deriver := normalize.Deriver{Prices: prices, MaxTextBytes: cfg.Ingest.MaxAttributeValueBytes}
	metrics, err := rollup.NewMetrics(rollup.MetricsOptions{}, logger)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg, deriver, func(c store.Commit) {
		metrics.Observe(c.Observations)
		metrics.ObserveWrite(c.Duration, c.Spans)
	}, logger)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: logger.With("component", "app"), store: st, monitorFiles: monitorFiles}
	// Who may do what (auth.go): API keys, checked on every request.
	authn, err := auth.New(auth.Options{Keys: st, Mode: cfg.Auth, Loopback: isLoopback(cfg.HTTP.Address) && isLoopback(cfg.GRPC.Address),
		SecureCookies: secureCookies(cfg)}, logger)
	if err == nil {
		err = checkStartAuth(ctx, cfg, authn)
	}
	if err != nil {
		st.Close()
		return nil, err
	}

	// Quality monitors: one judge per connection (its limits hold across
	// monitors), the run engine and the scheduler.
	judges := make(map[string]*eval.Judge, len(cfg.Judges))
	for name, jc := range cfg.Judges {
		j, err := eval.New(eval.Options{Name: name, Type: jc.Type, Endpoint: jc.Endpoint, Deployment: jc.Deployment,
			APIVersion: jc.APIVersion, BaseURL: jc.BaseURL, Model: jc.Model, APIKeyEnv: jc.APIKeyEnv,
			MaxConcurrency: jc.MaxConcurrency, RequestsPerMinute: jc.RequestsPerMinute, Timeout: time.Duration(jc.Timeout),
			Cost: prices.Cost}, logger)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("judges.%s: %w", name, err)
		}
		judges[name] = j
	}
	engine, err := monitor.NewEngine(monitor.EngineOptions{Store: st, Registry: eval.NewRegistry(),
		Judges: func(name string) (monitor.Judge, bool) {
			j, ok := judges[name]
			return j, ok
		}}, logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.monitors = &monitor.Limited{MonitorStore: st, Max: cfg.Monitors.MaxMonitors}
	a.scheduler, err = monitor.NewScheduler(monitor.SchedulerOptions{Store: st, Execute: engine.Run, Alerts: alertDecider(groupTiming(cfg), logger),
		MaxConcurrent: cfg.Monitors.MaxConcurrentRuns, Lease: time.Duration(cfg.Monitors.RunLease)}, logger)
	if err != nil {
		st.Close()
		return nil, err
	}

	// Redaction rewrites each batch before it is normalized, so that
	// nothing stored, shown or judged holds what it removed.
	var rd *redact.Redactor
	var redactor pipeline.Redactor
	if o := cfg.Redaction.Options(); o.Enabled() {
		if rd, err = redact.New(o, logger); err != nil {
			st.Close()
			return nil, fmt.Errorf("redaction: %w", err)
		}
		redactor = rd
	}
	pl, err := pipeline.New(pipeline.Options{Writer: st, Deriver: deriver, Redactor: redactor,
		Limits: normalize.Limits{MaxValueBytes: cfg.Ingest.MaxAttributeValueBytes}}, logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	// A request takes an admission slot only once its body is in (the
	// receiver reads it first, within body_timeout and body_memory_bytes).
	adm := server.NewAdmission(cfg.Ingest.MaxInFlight, time.Duration(cfg.Ingest.QueueTimeout), time.Second)
	rcv, err := ingest.New(ingest.Options{Consumer: pl, Gate: adm, MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
		BodyTimeout: time.Duration(cfg.Ingest.BodyTimeout), BodyMemoryBytes: cfg.Ingest.BodyMemoryBytes}, logger)
	if err != nil {
		st.Close()
		return nil, err
	}

	health := rollup.NewHealth(rollup.HealthOptions{
		Ingest: func() rollup.IngestStats {
			s := rcv.Stats()
			return rollup.IngestStats{
				SpansAccepted: s.AcceptedSpans, SpansRejected: s.RejectedSpans, SpansRefused: s.RefusedSpans,
				LogRecordsAccepted: s.AcceptedLogRecords, LogRecordsRejected: s.RejectedLogRecords,
				LogRecordsRefused: s.RefusedLogRecords, RepairedStrings: s.RepairedStrings,
				TruncatedValues: pl.Truncated(), BodyMemoryBytes: bodyMemory(rcv),
				RefusedRequests: rollup.RefusedRequests{
					MethodNotAllowed: s.Refused.MethodNotAllowed, UnsupportedMediaType: s.Refused.UnsupportedMediaType,
					TooLarge: s.Refused.TooLarge, BadData: s.Refused.BadData, Timeout: s.Refused.Timeout, Overloaded: s.Refused.Overloaded,
					Unavailable: s.Refused.Unavailable, Internal: s.Refused.Internal,
					AtCapacity: adm.Refused(),
				},
			}
		},
		InFlight: adm.InFlight,
		Screened: pl.Screened,
		Queue:    st.WriteQueue,
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics, health, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	reg.MustRegister(newAlertCollector(st))
	if rd != nil {
		reg.MustRegister(rd.Collector())
	}

	// Alerts: the channels of the configuration and the outbox's sender.
	chans, err := buildChannels(cfg, logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.sender, err = notify.NewSender(notify.SenderOptions{Store: st, Channels: chans.byName, Concurrency: chans.concurrency, Lease: chans.lease(),
		RateLimit: chans.rate, Flush: flushGroups(st), GiveUpAfter: time.Duration(cfg.Notifications.GiveUpAfter), InitialBackoff: time.Duration(cfg.Notifications.InitialBackoff),
		MaxBackoff: time.Duration(cfg.Notifications.MaxBackoff), Registerer: reg}, logger)
	if err != nil {
		st.Close()
		return nil, err
	}

	a.sweeper, err = retention.New(retention.Options{
		Store:      st,
		Policy:     retentionPolicy(cfg.Retention),
		Interval:   time.Duration(cfg.Retention.Interval),
		BatchSize:  cfg.Retention.BatchSize,
		Registerer: reg,
	}, logger)
	if err != nil {
		st.Close()
		return nil, err
	}

	otlp := http.NewServeMux()
	rcv.RegisterHTTP(otlp)
	mux := http.NewServeMux()
	for _, p := range ingest.Prefixes() {
		mux.Handle(p+"/v1/", otlp)
	}
	api.New(api.Options{
		Traces:     st,
		Rollups:    st,
		Monitors:   a.monitors,
		MonitorEnv: monitorEnv,
		Runs:       st,
		Results:    st,
		Summaries:  st,
		RunNow:     a.scheduler.RunNow,
		Alerts:     st,
		Acks:       st,
		Silences:   st,
		Channels:   func() []api.ChannelInfo { return chans.infos },
		TestChannel: func(ctx context.Context, name string) error {
			err := a.sender.Test(ctx, name, nil)
			if errors.Is(err, notify.ErrUnknownChannel) {
				return fmt.Errorf("%w: %w", api.ErrUnknownChannel, err)
			}
			return err
		},
		TestChannelTo: func(ctx context.Context, name string, to []string) error {
			err := a.sender.Test(ctx, name, to)
			if errors.Is(err, notify.ErrUnknownChannel) {
				return fmt.Errorf("%w: %w", api.ErrUnknownChannel, err)
			}
			return err
		},
		Ready:               a.Ready,
		Keys:                st,
		Eraser:              st,
		KeysChanged:         authn.Invalidate,
		CheckRecipients:     recipientCheck(cfg, authn),
		ChannelTestInterval: api.DefaultChannelTestInterval,
	}, logger).RegisterHTTP(mux)
	authn.RegisterHTTP(mux)
	// Gateways record through the same pipeline as OTLP.
	if a.recorder, err = buildGateways(cfg, pl, reg, mux, logger); err != nil {
		st.Close()
		return nil, err
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		EnableOpenMetrics:   true,
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		MaxRequestsInFlight: 2,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		err := a.Ready(r.Context())
		if err == nil {
			// Not ready while the store cannot write (disk full, read-only):
			// exports would fail. Reads still work, so only readiness says so.
			err = a.store.Writable(r.Context())
		}
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if cfg.HTTP.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	dash, err := ui.New(ui.Options{
		Traces:    st,
		Rollups:   st,
		Monitors:  st,
		Runs:      st,
		Results:   st,
		Summaries: st,
		Alerts:    st,
		RunNow:    a.scheduler.RunNow,
		Ready:     a.Ready,
		Gateways:  dashboardGateways(cfg),
	}, logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	dash.RegisterHTTP(mux)

	gopts := append(ingest.GRPCServerOptions(cfg.GRPCMaxRecvBytes()),
		grpc.ChainUnaryInterceptor(authn.UnaryInterceptor(model.ScopeIngest), adm.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(authn.StreamInterceptor(model.ScopeIngest)))
	if grpcTLS != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(grpcTLS)))
	}
	gs := grpc.NewServer(gopts...)
	rcv.RegisterGRPC(gs)

	a.server = server.New(server.Options{
		HTTPAddress: cfg.HTTP.Address,
		GRPCAddress: cfg.GRPC.Address,
		Handler:     guard(cfg, authn, mux),
		HTTPTLS:     httpTLS,
		GRPC:        gs,
	}, logger)
	return a, nil
}

// bodyMemory is the memory held by OTLP/HTTP bodies now.
func bodyMemory(r *ingest.Receiver) int64 {
	used, _ := r.BodyMemory()
	return used
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Start stores the monitors of monitors_dir, then starts listening and
// the scheduler, so that neither the API nor a run sees the store without
// them.
func (a *App) Start(ctx context.Context) error {
	if err := applyMonitorFiles(ctx, a.monitors, a.monitorFiles, a.log); err != nil {
		return err
	}
	// A store this process alone writes (SQLite locks its data
	// directory): a run found running was left by a flowwatch that is
	// gone, and is taken up at once rather than when its lease runs out.
	// A shared store (PostgreSQL) offers no such recovery: the runs found
	// running may be other replicas', and a dead replica's are taken over
	// when their leases end.
	if lr, ok := a.store.(store.LeaseRecovery); ok {
		if n, err := lr.ExpireLeases(ctx); err != nil {
			return err
		} else if n > 0 {
			a.log.Info("runs_taken_over", "runs", n)
		}
	}
	if err := a.server.Start(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	nctx, ncancel := context.WithCancel(context.WithoutCancel(ctx))
	a.mu.Lock()
	a.ready = true
	a.stopScheduler, a.schedulerDone = cancel, make(chan struct{})
	a.stopSender, a.senderDone = ncancel, make(chan struct{})
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stopSweeper, a.sweeperDone = rcancel, make(chan struct{})
	gctx, gcancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stopRecorder, a.recorderDone = gcancel, make(chan struct{})
	a.mu.Unlock()
	go func() {
		defer close(a.schedulerDone)
		_ = a.scheduler.Run(sctx)
	}()
	go func() {
		defer close(a.senderDone)
		_ = a.sender.Run(nctx)
	}()
	go func() {
		defer close(a.sweeperDone)
		_ = a.sweeper.Run(rctx)
	}()
	go func() {
		defer close(a.recorderDone)
		if a.recorder != nil {
			_ = a.recorder.Run(gctx)
		}
	}()
	if s := a.cfg.SMTP; s != nil { // checked in the background: a slow server does not delay the start
		go notify.LogSMTPCheck(nctx, notify.SMTPCheckOptions{Host: s.Host, Port: s.EffectivePort(), TLS: s.TLSMode()}, a.log)
	}
	a.log.Info("started", "http", a.server.HTTPAddr(), "grpc", a.server.GRPCAddr(), "db", storeName(a.cfg))
	return nil
}

// Ready reports whether flowwatch can take traffic.
func (a *App) Ready(ctx context.Context) error {
	a.mu.Lock()
	ready, down := a.ready, a.shutdown
	a.mu.Unlock()
	switch {
	case down:
		return errors.New("shutting down")
	case !ready:
		return errors.New("starting")
	}
	return a.store.Ping(ctx)
}

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() string { return a.server.HTTPAddr() }

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.server.GRPCAddr() }

// Shutdown stops flowwatch in this order: stop accepting connections and
// finish in-flight requests (each of which returns after its write
// committed; a call through a gateway returns once its answer is passed
// on, with its recording queued), flush the gateways' recorder (the
// queued calls go through the pipeline into the store, within ctx), stop
// the monitor scheduler (a run executing stops early and is taken over,
// once, after its lease when flowwatch runs again), the notification
// sender and the retention sweeper, then close the store. It is
// idempotent.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	if a.shutdown {
		a.mu.Unlock()
		return nil
	}
	a.shutdown = true
	a.mu.Unlock()
	start := time.Now()
	var errs []error
	if err := a.server.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	// No request is in flight any more: nothing adds to the recorder's
	// queue, and what is in it is written while the store is open.
	if a.recorder != nil {
		if err := a.recorder.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	a.mu.Lock()
	loops := []struct {
		name string
		stop context.CancelFunc
		done chan struct{}
	}{
		// Runs executing stop early and are given back, to be taken up
		// when flowwatch starts again; the notifications their ends
		// queued are in the outbox.
		{"scheduler", a.stopScheduler, a.schedulerDone},
		// Deliveries in flight finish (each bounded by its channel's
		// timeout) and are recorded; the rest wait in the outbox.
		{"notification sender", a.stopSender, a.senderDone},
		// A batch being deleted commits or rolls back; the rest waits
		// for the next sweep.
		{"retention", a.stopSweeper, a.sweeperDone},
		// Its queue was flushed above: the loop has nothing left to do.
		{"gateway recorder", a.stopRecorder, a.recorderDone},
	}
	a.mu.Unlock()
	for _, l := range loops {
		if l.stop == nil {
			continue
		}
		l.stop()
		select {
		case <-l.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("%s: %w", l.name, ctx.Err()))
		}
	}
	if err := a.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	a.log.Info("stopped", "duration_ms", time.Since(start).Milliseconds())
	return errors.Join(errs...)
}

// Run starts flowwatch, serves until ctx ends or a listener fails, and
// shuts down gracefully. started, if not nil, is called once listening.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger, started func(*App)) error {
	a, err := New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Shutdown(context.Background())
		return err
	}
	if started != nil {
		started(a)
	}
	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting_down", "reason", "signal")
	case runErr = <-a.server.Err():
		a.log.Error("shutting_down", "reason", "listener_failed", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	return errors.Join(runErr, a.Shutdown(sctx))
}

// retentionPolicy is the sweeper's policy from the configuration.
func retentionPolicy(r config.Retention) retention.Policy {
	p := retention.Policy{
		Traces:        time.Duration(r.Traces),
		MinuteRollups: time.Duration(r.MinuteRollups),
		Rollups:       time.Duration(r.Rollups),
		Runs:          time.Duration(r.Runs),
		Services:      make(map[string]time.Duration, len(r.Services)),
	}
	for name, d := range r.Services {
		p.Services[name] = time.Duration(d)
	}
	return p
}
