package ui

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// maxQualityRuns bounds the runs a quality chart reads.
const maxQualityRuns = 500

// MonitorQuality is one monitor's quality over a range.
type MonitorQuality struct {
	Monitor model.Monitor
	// Runs are the succeeded runs whose window ended in the range, newest
	// first; Latest is the first.
	Runs    []store.RunWithResult
	Latest  *store.RunWithResult
	Metrics []MetricQuality
	// Instances are the judged requests of the latest run (failures
	// first), at most instancePreview.
	Instances []InstanceRow
	// Filter selects which instances are listed (failed, not_evaluable,
	// error, all) and Filters links to the others.
	Filter  string
	Filters []Tab
	// Cut says there are more instances than listed.
	Cut bool
}

// MetricQuality is one metric of a monitor over a range.
type MetricQuality struct {
	Metric string
	// Latest is the metric's result in the latest run that has it.
	Latest *model.MetricResult
	// Violations counts the runs in which it was violated, Checked those
	// in which it had data; ViolationRate is their ratio (nil: none
	// checked).
	Violations, Checked int
	ViolationRate       *float64
	PassChart           template.HTML
	ScoreChart          template.HTML
}

// instancePreview is how many judged requests the quality view lists.
const instancePreview = 50

// instanceFilters are the instance filters offered, the default first.
var instanceFilters = []struct{ key, label string }{
	{"failed", "Failed"}, {"not_evaluable", "Not evaluable"}, {"error", "Errors"}, {"all", "All"},
}

// instanceQuery turns a filter into a store query.
func instanceQuery(runID, filter string) (store.InstanceQuery, error) {
	q := store.InstanceQuery{RunID: runID}
	switch filter {
	case "failed":
		f := false
		q.Status, q.Passed = model.InstanceJudged, &f
	case "not_evaluable":
		q.Status = model.InstanceNotEvaluable
	case "error":
		q.Status = model.InstanceError
	case "all":
	default:
		return q, badRequest("show=%q is not one of failed, not_evaluable, error, all.", filter)
	}
	return q, nil
}

func (u *UI) qualityView(r *http.Request, p *servicePage, rg Range) error {
	if u.o.Monitors == nil || u.o.Results == nil {
		return errNoStore
	}
	ms, err := u.o.Monitors.ListMonitors(r.Context())
	if err != nil {
		return fmt.Errorf("list monitors: %w", err)
	}
	filter := p.Query.Get("show")
	if filter == "" {
		filter = instanceFilters[0].key
	}
	for _, sm := range ms {
		t := sm.Monitor.Target
		if t.Service != p.Service || (p.Deployment != "" && t.Deployment != "" && t.Deployment != p.Deployment) {
			continue
		}
		mq, err := u.monitorQuality(r.Context(), p.Base, rg, sm.Monitor, filter)
		if err != nil {
			return err
		}
		p.Quality = append(p.Quality, mq)
	}
	return nil
}

// monitorQuality reads a monitor's runs over a range and its latest run's
// judged requests.
func (u *UI) monitorQuality(ctx context.Context, b Base, rg Range, m model.Monitor, filter string) (MonitorQuality, error) {
	mq := MonitorQuality{Monitor: m, Filter: filter}
	runs, err := u.o.Results.RunResults(ctx, m.Name, rg.From, rg.To, maxQualityRuns)
	if err != nil {
		return mq, fmt.Errorf("runs of monitor %s: %w", m.Name, err)
	}
	mq.Runs = runs
	if len(runs) > 0 {
		mq.Latest = &runs[0]
	}
	// Metrics in the order of the latest run, then any older ones.
	var names []string
	for _, rr := range runs {
		for _, mr := range rr.Result.Metrics {
			if !slices.Contains(names, mr.Metric) {
				names = append(names, mr.Metric)
			}
		}
	}
	// Violated metrics first, then those with a threshold, then those only
	// measured; by name within each.
	if len(runs) > 0 {
		rank := func(name string) int {
			for _, mr := range runs[0].Result.Metrics {
				if mr.Metric == name {
					switch {
					case mr.Violation:
						return 0
					case mr.MinPassRate != nil || mr.MinAverage != nil:
						return 1
					}
					return 2
				}
			}
			return 3
		}
		slices.SortStableFunc(names, func(a, b string) int {
			if c := cmp.Compare(rank(a), rank(b)); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
	}
	for _, name := range names {
		q := MetricQuality{Metric: name}
		var pass, score []runPoint
		for i := len(runs) - 1; i >= 0; i-- { // oldest first
			for _, mr := range runs[i].Result.Metrics {
				if mr.Metric != name {
					continue
				}
				if !mr.NoData {
					q.Checked++
					if mr.Violation {
						q.Violations++
					}
				}
				pass = append(pass, runPoint{run: runs[i].Run, v: mr.PassRate, ci: mr.PassRateCI, n: mr.Judged})
				score = append(score, runPoint{run: runs[i].Run, v: mr.AverageScore, n: mr.Judged})
			}
		}
		// The latest result is that of the newest run having the metric.
		for _, rr := range runs {
			if i := slices.IndexFunc(rr.Result.Metrics, func(x model.MetricResult) bool { return x.Metric == name }); i >= 0 {
				q.Latest = &rr.Result.Metrics[i]
				break
			}
		}
		if q.Checked > 0 {
			v := float64(q.Violations) / float64(q.Checked)
			q.ViolationRate = &v
		}
		var minPass, minAvg *float64
		if q.Latest != nil {
			minPass, minAvg = q.Latest.MinPassRate, q.Latest.MinAverage
		}
		q.PassChart = passRateChart(rg, b.Loc, name, pass, minPass)
		q.ScoreChart = scoreChart(rg, b.Loc, name, score, minAvg)
		mq.Metrics = append(mq.Metrics, q)
	}
	for _, f := range instanceFilters {
		mq.Filters = append(mq.Filters, Tab{Label: f.label, Link: b.Link("show", f.key), Current: f.key == filter})
	}
	if mq.Latest != nil {
		iq, err := instanceQuery(mq.Latest.Run.ID, filter)
		if err != nil {
			return mq, err
		}
		iq.Limit = instancePreview + 1
		insts, err := u.o.Results.RunInstances(ctx, iq)
		if err != nil {
			return mq, fmt.Errorf("instances of run %s: %w", mq.Latest.Run.ID, err)
		}
		if len(insts) > instancePreview {
			insts, mq.Cut = insts[:instancePreview], true
		}
		sortInstances(insts)
		if mq.Instances, err = u.instanceRows(ctx, insts); err != nil {
			return mq, err
		}
	}
	return mq, nil
}

// InstanceRow is a judged request as the tables list it: the verdict, and
// the question and answer of its trace when the store still holds it.
type InstanceRow struct {
	model.Instance
	Question, Answer string
}

// instanceRows reads the questions and answers of the instances' traces.
func (u *UI) instanceRows(ctx context.Context, insts []model.Instance) ([]InstanceRow, error) {
	rows := make([]InstanceRow, len(insts))
	ids := make([]string, 0, len(insts))
	for i, in := range insts {
		rows[i].Instance = in
		if !slices.Contains(ids, in.TraceID) {
			ids = append(ids, in.TraceID)
		}
	}
	if u.o.Summaries == nil || len(ids) == 0 {
		return rows, nil
	}
	sums, err := u.o.Summaries.TraceSummaries(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read the judged traces: %w", err)
	}
	for i := range rows {
		if tr, ok := sums[rows[i].TraceID]; ok {
			rows[i].Question, rows[i].Answer = tr.Question, tr.Answer
		}
	}
	return rows, nil
}

// sortInstances puts the lowest scores first, then by metric and trace.
func sortInstances(insts []model.Instance) {
	slices.SortStableFunc(insts, func(a, b model.Instance) int {
		as, bs := scoreOr(a), scoreOr(b)
		if c := cmp.Compare(as, bs); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Metric, b.Metric); c != 0 {
			return c
		}
		return cmp.Compare(a.TraceID, b.TraceID)
	})
}

func scoreOr(i model.Instance) float64 {
	if i.Score == nil {
		return -1
	}
	return *i.Score
}

// runPoint is one run's value of a metric, for the quality charts.
type runPoint struct {
	run model.Run
	v   *float64
	ci  *[2]float64
	n   int
}
