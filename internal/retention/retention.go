// Package retention deletes what flowwatch has kept long enough: traces
// (by service), operational rollups (minute rows sooner than hour and day
// rows) and finished monitor runs. A Sweeper runs in the background and
// deletes a bounded batch per transaction, resting between batches, so
// that ingest never waits long behind it; its progress is in /metrics.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Store is what the sweeper needs of the store.
type Store interface {
	ServicesPage(ctx context.Context, q store.ServiceQuery) (store.ServicePage, error)
	DeleteTraces(ctx context.Context, q store.TraceDeletion) (store.Deleted, error)
	DeleteRollups(ctx context.Context, resolution int64, before time.Time, limit int) (int64, error)
	DeleteRuns(ctx context.Context, before time.Time, limit int) (int64, error)
}

// PartitionDropper is a store that keeps spans in time partitions it can
// drop whole (PostgreSQL): far cheaper than deleting their rows.
type PartitionDropper interface {
	DropPartitionsBefore(ctx context.Context, before time.Time) (int, error)
}

// Policy says how long each kind of data is kept; 0 keeps it for ever.
type Policy struct {
	// Traces is the default for every service; Services overrides it.
	Traces   time.Duration
	Services map[string]time.Duration
	// MinuteRollups applies to minute rows, Rollups to hour and day rows.
	MinuteRollups, Rollups time.Duration
	Runs                   time.Duration
}

// longestTraces is the longest trace retention of any service, and false
// when some service keeps its traces for ever: before now minus it, every
// trace of every service has expired.
func (p Policy) longestTraces() (time.Duration, bool) {
	longest := p.Traces
	if longest <= 0 {
		return 0, false
	}
	for _, d := range p.Services {
		if d <= 0 {
			return 0, false
		}
		longest = max(longest, d)
	}
	return longest, true
}

func (p Policy) tracesFor(service string) time.Duration {
	if d, ok := p.Services[service]; ok {
		return d
	}
	return p.Traces
}

// Options configures a Sweeper.
type Options struct {
	Store  Store
	Policy Policy
	// Interval is the time between the start of one sweep and the next
	// (default 10m).
	Interval time.Duration
	// BatchSize bounds what one transaction deletes (default 500).
	BatchSize int
	// Rest is how long the sweeper waits after each batch, as a multiple
	// of the batch's duration (default 1: it holds the writer at most
	// half of the time while it has work).
	Rest float64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Registerer receives the sweeper's metrics (nil: none).
	Registerer prometheus.Registerer
}

// Sweeper deletes expired data.
type Sweeper struct {
	opts Options
	log  *slog.Logger

	deleted  *prometheus.CounterVec
	sweeps   *prometheus.CounterVec
	running  prometheus.Gauge
	last     prometheus.Gauge
	duration prometheus.Gauge
}

// Report is what one sweep deleted.
type Report struct {
	store.Deleted
	Rollups int64
	Runs    int64
	// Partitions counts the time partitions dropped whole (PostgreSQL).
	Partitions int
}

// New returns a Sweeper; it does nothing until Run or Sweep.
func New(opts Options, logger *slog.Logger) (*Sweeper, error) {
	if opts.Store == nil {
		return nil, errors.New("retention: no store")
	}
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Minute
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.Rest <= 0 {
		opts.Rest = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Sweeper{
		opts: opts,
		log:  logger.With("component", "retention"),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowwatch_retention_deleted_total",
			Help: "Rows deleted for being older than their retention, by kind (traces, spans, log_records, evaluations, rollups, runs; partitions: time partitions of spans and logs dropped whole).",
		}, []string{"kind"}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowwatch_retention_sweeps_total",
			Help: "Retention sweeps finished, by result (ok, error).",
		}, []string{"result"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowwatch_retention_sweep_running",
			Help: "1 while a retention sweep is deleting, 0 otherwise.",
		}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowwatch_retention_last_sweep_timestamp_seconds",
			Help: "When the last retention sweep that reached the end of its work finished (Unix time).",
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowwatch_retention_last_sweep_duration_seconds",
			Help: "How long the last finished retention sweep took, rests included.",
		}),
	}
	kinds := []string{"traces", "spans", "log_records", "evaluations", "rollups", "runs"}
	if _, ok := opts.Store.(PartitionDropper); ok {
		kinds = append(kinds, "partitions")
	}
	for _, k := range kinds {
		s.deleted.WithLabelValues(k)
	}
	for _, r := range []string{"ok", "error"} {
		s.sweeps.WithLabelValues(r)
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{s.deleted, s.sweeps, s.running, s.last, s.duration} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("retention: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Run sweeps at once and then every Interval until ctx ends. A failed
// sweep is logged and tried again at the next interval.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		rep, err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Error("retention_sweep_failed", "err", err)
		case rep.Traces > 0 || rep.Rollups > 0 || rep.Runs > 0:
			s.log.Info("retention_swept", "traces", rep.Traces, "spans", rep.Spans, "rollups", rep.Rollups,
				"runs", rep.Runs, "duration_ms", time.Since(start).Milliseconds())
		}
		t.Reset(max(0, s.opts.Interval-time.Since(start)))
	}
}

// Sweep deletes everything past its retention now, a batch at a time, and
// returns what it deleted. It goes on after a failure with the next kind
// of data and returns the failures joined.
func (s *Sweeper) Sweep(ctx context.Context) (Report, error) {
	start := time.Now()
	s.running.Set(1)
	defer s.running.Set(0)
	now := s.opts.Now()
	var rep Report
	var errs []error
	if pd, ok := s.opts.Store.(PartitionDropper); ok {
		if longest, ok := s.opts.Policy.longestTraces(); ok {
			n, err := pd.DropPartitionsBefore(ctx, now.Add(-longest))
			rep.Partitions += n
			s.deleted.WithLabelValues("partitions").Add(float64(n))
			if err != nil {
				errs = append(errs, fmt.Errorf("drop partitions: %w", err))
			}
		}
	}
	errs = append(errs, s.sweepTraces(ctx, now, &rep))
	p := s.opts.Policy
	for _, r := range []struct {
		res    int64
		period time.Duration
	}{{rollup.Minute, p.MinuteRollups}, {rollup.Hour, p.Rollups}, {rollup.Day, p.Rollups}} {
		if r.period <= 0 {
			continue
		}
		before := now.Add(-r.period)
		errs = append(errs, s.batches(ctx, func(ctx context.Context) (bool, error) {
			n, err := s.opts.Store.DeleteRollups(ctx, r.res, before, s.opts.BatchSize)
			rep.Rollups += n
			s.deleted.WithLabelValues("rollups").Add(float64(n))
			return n == int64(s.opts.BatchSize), err
		}))
	}
	if p.Runs > 0 {
		before := now.Add(-p.Runs)
		errs = append(errs, s.batches(ctx, func(ctx context.Context) (bool, error) {
			n, err := s.opts.Store.DeleteRuns(ctx, before, s.opts.BatchSize)
			rep.Runs += n
			s.deleted.WithLabelValues("runs").Add(float64(n))
			return n == int64(s.opts.BatchSize), err
		}))
	}
	if err := errors.Join(errs...); err != nil {
		s.sweeps.WithLabelValues("error").Inc()
		return rep, err
	}
	s.sweeps.WithLabelValues("ok").Inc()
	s.last.Set(float64(time.Now().UnixNano()) / 1e9)
	s.duration.Set(time.Since(start).Seconds())
	return rep, nil
}

// sweepTraces deletes, service by service, the traces older than their
// service's retention. It reads each service through its own index, so a
// service kept longer than the default costs nothing to skip.
func (s *Sweeper) sweepTraces(ctx context.Context, now time.Time, rep *Report) error {
	var errs []error
	seen := make(map[string]bool)
	q := store.ServiceQuery{}
	for {
		page, err := s.opts.Store.ServicesPage(ctx, q)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("list services: %w", err))...)
		}
		for _, si := range page.Services {
			if seen[si.Service] {
				continue
			}
			seen[si.Service] = true
			period := s.opts.Policy.tracesFor(si.Service)
			if period <= 0 || !si.FirstSeen.Before(now.Add(-period)) {
				continue // kept for ever, or nothing old enough
			}
			del := store.TraceDeletion{Service: si.Service, End: now.Add(-period), Limit: s.opts.BatchSize}
			err := s.batches(ctx, func(ctx context.Context) (bool, error) {
				d, err := s.opts.Store.DeleteTraces(ctx, del)
				rep.Add(d)
				s.deleted.WithLabelValues("traces").Add(float64(d.Traces))
				s.deleted.WithLabelValues("spans").Add(float64(d.Spans))
				s.deleted.WithLabelValues("log_records").Add(float64(d.LogRecords))
				s.deleted.WithLabelValues("evaluations").Add(float64(d.Evaluations))
				return d.More, err
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", si.Service, err))
			}
			if ctx.Err() != nil {
				return errors.Join(errs...)
			}
		}
		if page.NextCursor == "" {
			return errors.Join(errs...)
		}
		q.Cursor = page.NextCursor
	}
}

// batches calls one until it reports no more work, fails or ctx ends,
// resting after each call in proportion to its duration.
func (s *Sweeper) batches(ctx context.Context, one func(context.Context) (bool, error)) error {
	for {
		start := time.Now()
		more, err := one(ctx)
		if err != nil || !more {
			return err
		}
		rest := time.NewTimer(time.Duration(float64(time.Since(start)) * s.opts.Rest))
		select {
		case <-ctx.Done():
			rest.Stop()
			return ctx.Err()
		case <-rest.C:
		}
	}
}
