package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Retention says how long stored data is kept; a background job deletes
// what is older, a bounded batch at a time. A period of 0 keeps that data
// for ever.
type Retention struct {
	// Traces is how long a trace is kept after it started, with its spans,
	// log records, full-text entry and evaluations (default 30d).
	Traces Duration `yaml:"traces"`
	// Services overrides Traces for some services (by service.name).
	Services map[string]Duration `yaml:"services"`
	// Rollups is how long the hour and day rows of the operational
	// metrics are kept (default 400d); MinuteRollups the minute rows
	// (default 35d, at most Rollups). Ranges older than MinuteRollups are
	// answered from hour rows: their totals start on a whole hour.
	Rollups       Duration `yaml:"rollups"`
	MinuteRollups Duration `yaml:"minute_rollups"`
	// Runs is how long finished monitor runs and their results are kept
	// (default 400d). A run's judged instances go earlier, with their
	// traces.
	Runs Duration `yaml:"runs"`
	// Interval is how often the job looks for expired data (default 10m).
	Interval Duration `yaml:"interval"`
	// BatchSize is how many traces (or rollup rows, or runs) one
	// transaction deletes (default 500): small enough that ingest never
	// waits long behind it.
	BatchSize int `yaml:"batch_size"`
}

// Retention defaults.
const (
	DefaultTraceRetention        = 30 * 24 * time.Hour
	DefaultRollupRetention       = 400 * 24 * time.Hour
	DefaultMinuteRollupRetention = 35 * 24 * time.Hour
	DefaultRunRetention          = 400 * 24 * time.Hour
	DefaultRetentionInterval     = 10 * time.Minute
	DefaultRetentionBatch        = 500
)

func defaultRetention() Retention {
	return Retention{
		Traces:        Duration(DefaultTraceRetention),
		Rollups:       Duration(DefaultRollupRetention),
		MinuteRollups: Duration(DefaultMinuteRollupRetention),
		Runs:          Duration(DefaultRunRetention),
		Interval:      Duration(DefaultRetentionInterval),
		BatchSize:     DefaultRetentionBatch,
	}
}

// TracesFor is the trace retention of a service (0: for ever).
func (r Retention) TracesFor(service string) time.Duration {
	if d, ok := r.Services[service]; ok {
		return time.Duration(d)
	}
	return time.Duration(r.Traces)
}

// minRetention is the shortest period accepted: anything shorter is more
// likely a unit mistake (30s for 30d) than a wish.
const minRetention = time.Hour

func (r Retention) validate() []error {
	var errs []error
	period := func(key string, d Duration) {
		if v := time.Duration(d); v != 0 && v < minRetention {
			errs = append(errs, fmt.Errorf("%s: must be 0 (keep for ever) or at least %s, got %s (days are written 30d)", key, minRetention, v))
		}
	}
	period("retention.traces", r.Traces)
	period("retention.rollups", r.Rollups)
	period("retention.minute_rollups", r.MinuteRollups)
	period("retention.runs", r.Runs)
	names := make([]string, 0, len(r.Services))
	for name := range r.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, fmt.Errorf("retention.services: a service name must not be empty"))
			continue
		}
		period("retention.services."+name, r.Services[name])
	}
	if m, h := time.Duration(r.MinuteRollups), time.Duration(r.Rollups); h != 0 && (m == 0 || m > h) {
		errs = append(errs, fmt.Errorf("retention.minute_rollups: must not outlast retention.rollups (%s), got %s", h, durationOrForever(m)))
	}
	if v := time.Duration(r.Interval); v < time.Second || v > 24*time.Hour {
		errs = append(errs, fmt.Errorf("retention.interval: must be between 1s and 24h, got %s", v))
	}
	if n := r.BatchSize; n < 1 || n > 5000 {
		errs = append(errs, fmt.Errorf("retention.batch_size: must be between 1 and 5000, got %d", n))
	}
	return errs
}

func durationOrForever(d time.Duration) string {
	if d == 0 {
		return "0 (for ever)"
	}
	return d.String()
}

// parseDuration reads a Go duration ("90m", "12h") or a whole number of
// days ("30d"), which Go's durations lack and retention periods need.
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && !strings.ContainsAny(n, "hmsuµn.") {
		var days int64
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && fmt.Sprint(days) == n && days >= 0 && days <= 100*365 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(s)
}
