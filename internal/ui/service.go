package ui

import (
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// The views of a service page, in tab order; the first is the default.
var serviceViews = []struct{ key, label string }{
	{"tokens", "Token usage"}, {"quality", "Generation quality"}, {"operational", "Operational"}, {"traces", "Traces"},
}

// Tab is one view of a page.
type Tab struct {
	Label, Link string
	Current     bool
}

// ModelRow is one model's calls over the range.
type ModelRow struct {
	Model   string
	Figures Figures
	// Latency of the calls.
	P95  *float64
	Link string
}

type servicePage struct {
	Base
	Service, Deployment string
	// Deployments of this service, for the selector (with links).
	Deployments []Tab
	View        string
	Tabs        []Tab
	Figures     Figures

	// Token usage.
	Model       string
	ModelScopes []Tab
	TokensChart template.HTML
	CostChart   template.HTML
	Models      []ModelRow

	// Operational.
	RequestsChart  template.HTML
	ErrorRateChart template.HTML
	LatencyChart   template.HTML
	CallsChart     template.HTML

	// Generation quality.
	Quality []MonitorQuality

	// Traces.
	Search TraceSearch
}

func (u *UI) service(w http.ResponseWriter, r *http.Request) error {
	if u.o.Traces == nil || u.o.Rollups == nil {
		return errNoStore
	}
	svc := r.PathValue("service")
	view := r.PathValue("view")
	if view == "" {
		view = serviceViews[0].key
	}
	known := false
	for _, v := range serviceViews {
		known = known || v.key == view
	}
	if !known {
		return notFound("A service page has the views tokens, quality, operational and traces; %q is none of them.", view)
	}
	b := u.base(r, "home", svc)
	rg, err := parseRange(b.Query, b.Now, b.Loc)
	if err != nil {
		return err
	}
	b.Range, b.Refresh = rg, view != "traces"
	dep := b.Query.Get("deployment")
	ctx, cancel, err := u.begin(r)
	if err != nil {
		return err
	}
	defer cancel()

	services, err := u.o.Traces.ListServices(ctx)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	p := &servicePage{Base: b, Service: svc, Deployment: dep, View: view}
	seen, depSeen := false, dep == ""
	p.Deployments = append(p.Deployments, Tab{Label: "all deployments", Link: serviceLink(b, svc, "", view), Current: dep == ""})
	for _, s := range services {
		if s.Service != svc {
			continue
		}
		seen = true
		if s.Deployment == "" {
			continue
		}
		depSeen = depSeen || s.Deployment == dep
		p.Deployments = append(p.Deployments, Tab{Label: s.Deployment, Link: serviceLink(b, svc, s.Deployment, view), Current: s.Deployment == dep})
	}
	if !seen {
		return notFound("No traces of a service named %q have arrived.", svc)
	}
	if !depSeen {
		return notFound("Service %q has no deployment named %q.", svc, dep)
	}
	if len(p.Deployments) == 2 && dep == "" {
		p.Deployments = nil // one deployment: nothing to choose
	}
	for _, v := range serviceViews {
		p.Tabs = append(p.Tabs, Tab{Label: v.label, Link: serviceLink(b, svc, dep, v.key), Current: v.key == view})
	}
	// The cards and the models table: totals, read from hour rows where
	// the range allows; the charts read rows at their step.
	sc := scope{Service: svc, Deployment: dep}
	var (
		wg             sync.WaitGroup
		reqTotals      map[scope]*rollup.Point
		llmByModel     map[scope]*rollup.Point
		reqErr, llmErr error
	)
	wg.Go(func() { reqTotals, reqErr = u.totals(ctx, rollup.Requests, rg, sc, nil) })
	wg.Go(func() { llmByModel, llmErr = u.totals(ctx, rollup.LLMCalls, rg, sc, byModelKey) })
	wg.Wait()
	if err := cmp.Or(reqErr, llmErr); err != nil {
		return err
	}
	llmTotal := rollup.NewPoint()
	for _, pt := range llmByModel {
		if err := llmTotal.Merge(pt); err != nil {
			return fmt.Errorf("merge model calls: %w", err)
		}
	}
	p.Figures = figuresOf(reqTotals[scope{}], llmTotal)
	p.Models = modelRows(b, llmByModel)

	switch view {
	case "tokens":
		err = u.tokensView(r, p, rg, sc)
	case "operational":
		err = u.operationalView(r, p, rg, sc)
	case "quality":
		err = u.qualityView(r, p, rg)
	case "traces":
		err = u.tracesView(r, p, rg)
	}
	if err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "service", p)
	return nil
}

// modelRows lists the models of by-model totals, busiest first.
func modelRows(b Base, byModel map[scope]*rollup.Point) []ModelRow {
	var out []ModelRow
	for k, pt := range byModel {
		row := ModelRow{Model: k.Model, Figures: figuresOf(nil, pt), P95: quantile(pt, 0.95)}
		if k.Model != "" {
			row.Link = b.Link("model", k.Model)
		}
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(a, b ModelRow) int {
		if c := cmp.Compare(b.Figures.Calls, a.Figures.Calls); c != 0 {
			return c
		}
		return cmp.Compare(a.Model, b.Model)
	})
	return out
}

func (u *UI) tokensView(r *http.Request, p *servicePage, rg Range, sc scope) error {
	p.Model = normalize.ModelAlias(p.Query.Get("model"))
	p.ModelScopes = append(p.ModelScopes, Tab{Label: "whole application", Link: p.Link("model", ""), Current: p.Model == ""})
	for _, m := range p.Models {
		if m.Model != "" {
			p.ModelScopes = append(p.ModelScopes, Tab{Label: m.Model, Link: p.Link("model", m.Model), Current: m.Model == p.Model})
		}
	}
	sc.Model = p.Model // "" is the whole application
	res, err := u.series(r.Context(), rollup.LLMCalls, rg, sc, "")
	if err != nil {
		return err
	}
	p.TokensChart = tokensChart(rg, p.Loc, res)
	p.CostChart = costChart(rg, p.Loc, res)
	return nil
}

func (u *UI) operationalView(r *http.Request, p *servicePage, rg Range, sc scope) error {
	// The two series read and merge their rows at once, on two of the
	// store's read connections: over 30 days each reads thousands of hour
	// rows.
	var (
		wg             sync.WaitGroup
		req, byModel   rollup.Result
		reqErr, llmErr error
	)
	wg.Go(func() { req, reqErr = u.series(r.Context(), rollup.Requests, rg, sc, "") })
	wg.Go(func() { byModel, llmErr = u.series(r.Context(), rollup.LLMCalls, rg, sc, "model") })
	wg.Wait()
	if err := cmp.Or(reqErr, llmErr); err != nil {
		return err
	}
	p.RequestsChart = requestsChart(rg, p.Loc, req)
	p.ErrorRateChart = errorRateChart(rg, p.Loc, req)
	p.LatencyChart = latencyChart(rg, p.Loc, req)
	p.CallsChart = callsChart(rg, p.Loc, byModel)
	return nil
}

// TraceSearch is the Traces view: its form's values and one page of
// results.
type TraceSearch struct {
	Text, Status, Model, MinMS string
	Traces                     []model.Trace
	Next                       string // the next page's link, "" on the last
	First                      string // back to the first page, "" on it
}

// pageSize is the number of traces a Traces view page lists.
const pageSize = 50

func (u *UI) tracesView(r *http.Request, p *servicePage, rg Range) error {
	q := p.Query
	s := TraceSearch{Text: q.Get("q"), Status: q.Get("status"), Model: q.Get("model"), MinMS: q.Get("min_ms")}
	tq := store.TraceQuery{Service: p.Service, Deployment: p.Deployment, Since: rg.From, Until: rg.To,
		Text: s.Text, Model: normalize.ModelAlias(s.Model), Limit: pageSize, Cursor: q.Get("cursor")}
	switch s.Status {
	case "":
	case "error", "ok":
		tq.Status = model.Status(s.Status)
	default:
		return badRequest("status=%q is not one of error, ok.", s.Status)
	}
	if s.MinMS != "" {
		ms, err := strconv.ParseFloat(s.MinMS, 64)
		if err != nil || ms < 0 || ms > 1e9 {
			return badRequest("min_ms=%q is not a number of milliseconds.", s.MinMS)
		}
		tq.MinDuration = time.Duration(ms * float64(time.Millisecond))
	}
	page, err := u.o.Traces.ListTraces(r.Context(), tq)
	if err != nil {
		if errors.Is(err, store.ErrInvalidCursor) {
			return badRequest("This page link is out of date; start the search again.")
		}
		return fmt.Errorf("search traces: %w", err)
	}
	s.Traces = page.Traces
	if page.NextCursor != "" {
		s.Next = p.Link("cursor", page.NextCursor)
	}
	if tq.Cursor != "" {
		s.First = p.Link("cursor", "")
	}
	p.Search = s
	return nil
}
