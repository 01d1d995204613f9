package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Monitor states, as the pages show them.
const (
	stateOK        = "ok"
	stateViolating = "violating"
	stateUnhealthy = "unhealthy"
	stateNoData    = "nodata"
	stateRunning   = "running"
	stateDisabled  = "disabled"
)

// MonitorRow is a monitor with its state as of its latest run.
type MonitorRow struct {
	Monitor model.Monitor
	State   string
	// LastRun is the latest run (nil: never run); Result its result when
	// it succeeded.
	LastRun *model.Run
	Result  *model.RunResult
	// Violated counts the metrics and signals the latest result violated.
	Violated int
	Firing   int
}

// monitorRows reads every monitor with its latest run and firing alerts.
func (u *UI) monitorRows(ctx context.Context) ([]MonitorRow, error) {
	if u.o.Monitors == nil || u.o.Runs == nil || u.o.Results == nil {
		return nil, nil
	}
	ms, err := u.o.Monitors.ListMonitors(ctx)
	if err != nil {
		return nil, fmt.Errorf("list monitors: %w", err)
	}
	firing := map[string]int{}
	if u.o.Alerts != nil {
		page, err := u.o.Alerts.ListAlerts(ctx, store.AlertQuery{State: model.AlertFiring, Limit: store.MaxLimit})
		if err != nil {
			return nil, fmt.Errorf("list firing alerts: %w", err)
		}
		for _, a := range page.Alerts {
			firing[a.Monitor]++
		}
	}
	out := make([]MonitorRow, 0, len(ms))
	for _, sm := range ms {
		runs, err := u.o.Runs.ListRuns(ctx, sm.Monitor.Name, 1)
		if err != nil {
			return nil, fmt.Errorf("runs of monitor %s: %w", sm.Monitor.Name, err)
		}
		row, err := u.monitorRow(ctx, sm.Monitor, runs)
		if err != nil {
			return nil, err
		}
		row.Firing = firing[sm.Monitor.Name]
		out = append(out, row)
	}
	return out, nil
}

// monitorRow is a monitor with its state after the first of runs (its
// runs, newest first).
func (u *UI) monitorRow(ctx context.Context, m model.Monitor, runs []model.Run) (MonitorRow, error) {
	row := MonitorRow{Monitor: m}
	if len(runs) > 0 {
		row.LastRun = &runs[0]
		if runs[0].Status == model.RunSucceeded {
			res, err := u.o.Results.RunResult(ctx, runs[0].ID)
			switch {
			case err == nil:
				row.Result = &res
			case !errors.Is(err, store.ErrNotFound):
				return row, fmt.Errorf("result of run %s: %w", runs[0].ID, err)
			}
		}
	}
	row.State, row.Violated = monitorState(m, row.LastRun, row.Result)
	return row, nil
}

// monitorState says how a monitor stands after its latest run: violating
// when a metric or signal broke its threshold, unhealthy when the run
// failed or a metric got no score because its evaluator failed, no data
// when nothing was judged, ok otherwise.
func monitorState(m model.Monitor, last *model.Run, res *model.RunResult) (string, int) {
	switch {
	case m.Disabled:
		return stateDisabled, 0
	case last == nil:
		return stateNoData, 0
	case last.Status == model.RunFailed:
		return stateUnhealthy, 0
	case last.Status != model.RunSucceeded:
		return stateRunning, 0
	case res == nil:
		return stateNoData, 0
	}
	violated, unhealthy, withData := 0, false, 0
	for _, mr := range res.Metrics {
		if mr.Violation {
			violated++
		}
		if mr.NoData && mr.Errors > 0 {
			unhealthy = true
		}
		if !mr.NoData {
			withData++
		}
	}
	for _, o := range res.Operational {
		if o.Violation {
			violated++
		}
		if !o.NoData {
			withData++
		}
	}
	switch {
	case violated > 0:
		return stateViolating, violated
	case unhealthy:
		return stateUnhealthy, 0
	case withData == 0:
		return stateNoData, 0
	}
	return stateOK, 0
}

// ServiceOverview is one service and deployment on the home page.
type ServiceOverview struct {
	Service, Deployment string
	Info                model.ServiceInfo
	Figures             Figures
	// Link opens the service page with the same range.
	Link     string
	Monitors []MonitorRow
}

type homePage struct {
	Base
	Services []ServiceOverview
	// Quiet are the services and deployments with no traffic in the
	// range and no monitor: listed by name only.
	Quiet []ServiceOverview
	// Orphans are monitors whose target has sent nothing yet.
	Orphans []MonitorRow
	Firing  []model.Alert
	// Empty is set when the store holds no trace at all.
	Empty bool
	// OTLPURL is where to point exporters (this server's address).
	OTLPURL string
	// Gateways are the configured gateways (the way in without
	// instrumenting).
	Gateways []Gateway
}

func (u *UI) home(w http.ResponseWriter, r *http.Request) error {
	if u.o.Traces == nil {
		return errNoStore
	}
	b := u.base(r, "home", "Overview")
	rg, err := parseRange(b.Query, b.Now, b.Loc)
	if err != nil {
		return err
	}
	b.Range, b.Refresh = rg, true
	ctx, cancel, err := u.begin(r)
	if err != nil {
		return err
	}
	defer cancel()

	services, err := u.o.Traces.ListServices(ctx)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	req, err := u.totals(ctx, rollup.Requests, rg, scope{}, byDeploymentKey)
	if err != nil {
		return err
	}
	llm, err := u.totals(ctx, rollup.LLMCalls, rg, scope{}, byDeploymentKey)
	if err != nil {
		return err
	}
	monitors, err := u.monitorRows(ctx)
	if err != nil {
		return err
	}
	scheme := "http"
	if r.TLS != nil { // http.tls: exporters must use https too
		scheme = "https"
	}
	p := &homePage{Base: b, Empty: len(services) == 0, OTLPURL: scheme + "://" + r.Host, Gateways: u.o.Gateways}
	placed := make([]bool, len(monitors))
	for _, s := range services {
		k := scope{Service: s.Service, Deployment: s.Deployment}
		ov := ServiceOverview{Service: s.Service, Deployment: s.Deployment, Info: s, Figures: figuresOf(req[k], llm[k]),
			Link: serviceLink(b, s.Service, s.Deployment, "")}
		for i, m := range monitors {
			t := m.Monitor.Target
			if t.Service == s.Service && (t.Deployment == "" || t.Deployment == s.Deployment) {
				ov.Monitors = append(ov.Monitors, m)
				placed[i] = true
			}
		}
		if ov.Figures.Requests == 0 && ov.Figures.Calls == 0 && len(ov.Monitors) == 0 {
			p.Quiet = append(p.Quiet, ov)
			continue
		}
		p.Services = append(p.Services, ov)
	}
	for i, m := range monitors {
		if !placed[i] {
			p.Orphans = append(p.Orphans, m)
		}
	}
	// Services with trouble first: firing or violating monitors, then
	// errors, then by name.
	slices.SortStableFunc(p.Services, func(a, b ServiceOverview) int {
		if c := cmp.Compare(trouble(b), trouble(a)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return cmp.Compare(a.Deployment, b.Deployment)
	})
	if u.o.Alerts != nil {
		page, err := u.o.Alerts.ListAlerts(ctx, store.AlertQuery{State: model.AlertFiring, Limit: 20})
		if err != nil {
			return fmt.Errorf("list firing alerts: %w", err)
		}
		p.Firing = page.Alerts
	}
	u.render(w, r, http.StatusOK, "home", p)
	return nil
}

// trouble ranks a service overview: firing alerts and violated monitors
// count most, then any failed request.
func trouble(s ServiceOverview) int {
	t := 0
	for _, m := range s.Monitors {
		t += 100 * m.Firing
		if m.State == stateViolating || m.State == stateUnhealthy {
			t += 10
		}
	}
	if s.Figures.Errors > 0 {
		t++
	}
	return t
}

// serviceLink is the URL of a service page view, keeping the range.
func serviceLink(b Base, service, deployment, view string) string {
	path := "/services/" + pathEscape(service)
	if view != "" {
		path += "/" + view
	}
	q := url.Values{}
	for _, k := range []string{"range", "from", "to"} {
		if v := b.Query.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	if deployment != "" {
		q.Set("deployment", deployment)
	}
	return link(path, q)
}
