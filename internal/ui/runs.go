package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/store"
)

// runPageSize is the number of instances a run page lists at a time.
const runPageSize = 100

type runPage struct {
	Base
	Run    model.Run
	Result *model.RunResult
	// Monitor is the run's monitor as stored now (nil when deleted).
	Monitor *model.Monitor
	State   string
	Summary model.QualitySummary
	// Instances is one page of the run's instances as Filter selects
	// (failures, lowest score first, by default).
	Filter    string
	Filters   []Tab
	Metric    string
	Metrics   []Tab
	Instances []InstanceRow
	Next      string
	First     string
	// Progress in percent while the run goes.
	Progress int
}

func (u *UI) run(w http.ResponseWriter, r *http.Request) error {
	if u.o.Runs == nil || u.o.Results == nil {
		return errNoStore
	}
	id := r.PathValue("id")
	b := u.base(r, "monitors", "Run "+id)
	ctx, cancel, err := u.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	run, err := u.o.Runs.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("There is no run %q.", id)
	}
	if err != nil {
		return fmt.Errorf("read run %s: %w", id, err)
	}
	b.Title = "Run of " + run.Monitor
	b.Refresh = run.Status == model.RunPending || run.Status == model.RunRunning
	p := &runPage{Base: b, Run: run}
	if run.Progress.Total > 0 {
		p.Progress = run.Progress.Done * 100 / run.Progress.Total
	}
	if u.o.Monitors != nil {
		if sm, err := u.o.Monitors.GetMonitor(ctx, run.Monitor); err == nil {
			p.Monitor = &sm.Monitor
		}
	}
	if run.Status == model.RunSucceeded {
		res, err := u.o.Results.RunResult(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("read the result of run %s: %w", id, err)
		}
		if err == nil {
			p.Result = &res
			p.Summary = monitor.Summarize(res.Metrics)
		}
	}
	var m model.Monitor
	if p.Monitor != nil {
		m = *p.Monitor
	}
	p.State, _ = monitorState(m, &run, p.Result)

	p.Filter = b.Query.Get("show")
	if p.Filter == "" {
		p.Filter = instanceFilters[0].key
	}
	iq, err := instanceQuery(id, p.Filter)
	if err != nil {
		return err
	}
	for _, f := range instanceFilters {
		p.Filters = append(p.Filters, Tab{Label: f.label, Link: b.Link("show", f.key, "after", ""), Current: f.key == p.Filter})
	}
	p.Metric = b.Query.Get("metric")
	iq.Metric = p.Metric
	if p.Result != nil && len(p.Result.Metrics) > 1 {
		p.Metrics = append(p.Metrics, Tab{Label: "all metrics", Link: b.Link("metric", "", "after", ""), Current: p.Metric == ""})
		for _, mr := range p.Result.Metrics {
			p.Metrics = append(p.Metrics, Tab{Label: mr.Metric, Link: b.Link("metric", mr.Metric, "after", ""), Current: mr.Metric == p.Metric})
		}
	}
	if after := b.Query.Get("after"); after != "" {
		metric, trace, ok := strings.Cut(after, "/")
		if !ok || metric == "" || !validTraceID(trace) {
			return badRequest("after=%q is not a position in this run's instances; start again from the first page.", after)
		}
		iq.AfterMetric, iq.AfterTraceID = metric, trace
		p.First = b.Link("after", "")
	}
	iq.Limit = runPageSize + 1
	insts, err := u.o.Results.RunInstances(ctx, iq)
	if err != nil {
		return fmt.Errorf("instances of run %s: %w", id, err)
	}
	if len(insts) > runPageSize {
		insts = insts[:runPageSize]
		last := insts[len(insts)-1]
		p.Next = b.Link("after", last.Metric+"/"+last.TraceID)
	}
	sortInstances(insts) // within the page: lowest scores first
	if p.Instances, err = u.instanceRows(ctx, insts); err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "run", p)
	return nil
}
