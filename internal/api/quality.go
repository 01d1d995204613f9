package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Bounds of GET /monitors/{name}/quality.
const (
	// maxQualityRuns bounds the runs of one answer (about 1 KiB of JSON
	// each with a handful of metrics); the newest are kept.
	maxQualityRuns = 1000
	// defaultQualityRange is the range read without since: the 30 days
	// before until.
	defaultQualityRange = 30 * 24 * time.Hour
)

// qualityParams are the query parameters of GET /monitors/{name}/quality,
// in the order messages and the OpenAPI document list them.
func qualityParams() []string { return []string{"since", "until"} }

// monitorQuality serves GET /api/v1/monitors/{name}/quality: the quality
// time series of a monitor, one entry per succeeded run whose window ended
// in [since, until), oldest first. A run is placed at the end of the
// window it read (not when it finished), so a re-run over an old window
// lands where that window's traffic is. Like the run list, it serves the
// runs of a deleted monitor; 404 only when there is neither the monitor
// nor any run of it.
func (a *API) monitorQuality(w http.ResponseWriter, r *http.Request) error {
	name, err := parseMonitorName(r.PathValue("name"))
	if err != nil {
		return err
	}
	vals, err := queryValues(r.URL.RawQuery, qualityParams())
	if err != nil {
		return err
	}
	since, until, err := parseRange(vals, a.now(), defaultQualityRange)
	if err != nil {
		return err
	}
	ctx, cancel, err := a.beginRuns(r)
	if err != nil {
		return err
	}
	defer cancel()
	list, err := a.results.RunResults(ctx, name, since, until, maxQualityRuns+1)
	if err != nil {
		return fmt.Errorf("results of monitor %s: %w", name, err)
	}
	if len(list) == 0 && a.monitors != nil {
		_, err := a.monitors.GetMonitor(ctx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Deleted, or never was: known only if some run of it remains.
			runs, err := a.runs.ListRuns(ctx, name, 1)
			if err != nil {
				return fmt.Errorf("list runs of monitor %s: %w", name, err)
			}
			if len(runs) == 0 {
				return monitorNotFound(name)
			}
		case err != nil:
			return fmt.Errorf("get monitor %s: %w", name, err)
		}
	}
	truncated := len(list) > maxQualityRuns
	if truncated {
		list = list[:maxQualityRuns]
	}
	a.writeJSON(w, r, toQualitySeries(name, since, until, truncated, list))
	return nil
}

// toQualitySeries builds the series from runs listed newest first.
func toQualitySeries(name string, since, until time.Time, truncated bool, runs []store.RunWithResult) QualitySeries {
	out := QualitySeries{
		Monitor:   name,
		Since:     Timestamp{since},
		Until:     Timestamp{until},
		Truncated: truncated,
		Metrics:   map[string]QualitySummary{},
		Runs:      make([]QualityRun, 0, len(runs)),
	}
	var all []model.MetricResult
	byMetric := map[string][]model.MetricResult{}
	for i := len(runs) - 1; i >= 0; i-- {
		run, res := runs[i].Run, runs[i].Result
		wr := toRun(run, &res)
		q := QualityRun{
			RunID:          run.ID,
			Trigger:        run.Trigger,
			MonitorVersion: run.MonitorVersion,
			WindowStart:    Timestamp{run.WindowStart},
			WindowEnd:      Timestamp{run.WindowEnd},
			FinishedAt:     Timestamp{run.FinishedAt},
			Sampled:        res.Sampled,
			Summary:        *wr.Summary,
			Metrics:        make(map[string]QualityPoint, len(wr.Metrics)),
			Operational:    wr.Operational,
		}
		for metric, m := range wr.Metrics {
			q.Metrics[metric] = QualityPoint{
				Judged:            m.Judged,
				AverageScore:      m.AverageScore,
				PassRate:          m.PassRate,
				MinPassRate:       m.MinPassRate,
				MinAverage:        m.MinAverage,
				NoData:            m.NoData,
				Violation:         m.Violation,
				PassRateViolation: m.PassRateViolation,
				AverageViolation:  m.AverageViolation,
			}
		}
		out.Summary.OperationalViolations += q.Summary.OperationalViolations
		all = append(all, res.Metrics...)
		for _, m := range res.Metrics {
			byMetric[m.Metric] = append(byMetric[m.Metric], m)
		}
		out.Runs = append(out.Runs, q)
	}
	summed := monitor.Summarize(all)
	total := toQualitySummary(summed)
	out.Summary.Metrics, out.Summary.NoData, out.Summary.Checks = total.Metrics, total.NoData, total.Checks
	out.Summary.Violations, out.Summary.ViolatedMetrics, out.Summary.ViolationRate = total.Violations, total.ViolatedMetrics, total.ViolationRate
	out.Summary.Unchecked, out.Summary.Unhealthy = summed.Unchecked, summed.Unhealthy
	for metric, results := range byMetric {
		out.Metrics[metric] = toQualitySummary(monitor.Summarize(results))
	}
	return out
}

func toQualitySummary(q model.QualitySummary) QualitySummary {
	return QualitySummary{
		Metrics:         q.Metrics,
		NoData:          q.NoData,
		Checks:          q.Checks,
		Violations:      q.Violations,
		ViolatedMetrics: q.ViolatedMetrics,
		ViolationRate:   roundPtr(q.ViolationRate, roundRatio),
	}
}
