package ui

import (
	"context"
	"fmt"
	"time"

	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Figures are the operational overview of a range: requests and their
// outcome and latency, and the tokens and cost of the model calls.
type Figures struct {
	Requests, Errors int64
	// ErrorRate and the latencies are nil without requests.
	ErrorRate     *float64
	P50, P95, P99 *float64
	Calls         int64
	CallErrors    int64
	InputTokens   int64
	OutputTokens  int64
	TotalTokens   int64
	CostUSD       float64
	// Unpriced counts model calls whose cost is unknown.
	Unpriced int64
}

// figuresOf condenses a requests point and a model-calls point.
func figuresOf(req, llm *rollup.Point) Figures {
	var f Figures
	if req != nil {
		f.Requests, f.Errors = req.Count, req.Errors
		if req.Count > 0 {
			r := float64(req.Errors) / float64(req.Count)
			f.ErrorRate = &r
			f.P50, f.P95, f.P99 = quantile(req, 0.5), quantile(req, 0.95), quantile(req, 0.99)
		}
	}
	if llm != nil {
		f.Calls, f.CallErrors = llm.Count, llm.Errors
		f.InputTokens, f.OutputTokens, f.TotalTokens = llm.InputTokens, llm.OutputTokens, llm.TotalTokens
		f.CostUSD, f.Unpriced = llm.CostUSD, llm.Unpriced
	}
	return f
}

func quantile(p *rollup.Point, q float64) *float64 {
	v, ok := p.Quantile(q)
	if !ok {
		return nil
	}
	return &v
}

// scope narrows the rollups read.
type scope struct {
	Service, Deployment, Model string
}

// series reads the rollups of one kind over a range and merges them by
// step (and by group when groupBy is set).
func (u *UI) series(ctx context.Context, kind rollup.Kind, rg Range, sc scope, groupBy string) (rollup.Result, error) {
	if u.o.Rollups == nil {
		return rollup.Result{}, errNoStore
	}
	q := rollup.Query{Since: rg.From, Until: rg.To, Step: int64(rg.Step / time.Second), GroupBy: groupBy}
	if err := q.Validate(); err != nil {
		return rollup.Result{}, badRequest("%s", err.Error())
	}
	rows, err := u.o.Rollups.Rollups(ctx, store.RollupQuery{
		Kind: kind, Resolution: q.Resolution(), Start: q.Start(), End: q.End(),
		Service: sc.Service, Deployment: sc.Deployment, Model: sc.Model,
	})
	if err != nil {
		return rollup.Result{}, fmt.Errorf("read %s rollups: %w", kind, err)
	}
	return rollup.Aggregate(q, rows)
}

// rowsOver reads the rollup rows of one kind covering [from, to) rounded
// out to whole minutes (as the charts' buckets are rounded out), coarse
// rows inside and minute rows at the edges (rollup.Cover).
func (u *UI) rowsOver(ctx context.Context, kind rollup.Kind, from, to time.Time, sc scope) ([]rollup.Row, error) {
	if u.o.Rollups == nil {
		return nil, errNoStore
	}
	var rows []rollup.Row
	start := from.Truncate(time.Minute).Unix()
	for _, pt := range rollup.Cover(start, to.Unix()) {
		r, err := u.o.Rollups.Rollups(ctx, store.RollupQuery{Kind: kind, Resolution: pt.Resolution, Start: pt.Start, End: pt.End,
			Service: sc.Service, Deployment: sc.Deployment, Model: sc.Model})
		if err != nil {
			return nil, fmt.Errorf("read %s rollups: %w", kind, err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// totals merges the rollups of one kind over a range by key (nil key: one
// total).
func (u *UI) totals(ctx context.Context, kind rollup.Kind, rg Range, sc scope, key func(rollup.Key) scope) (map[scope]*rollup.Point, error) {
	rows, err := u.rowsOver(ctx, kind, rg.From, rg.To, sc)
	if err != nil {
		return nil, err
	}
	out := map[scope]*rollup.Point{}
	for _, r := range rows {
		var k scope
		if key != nil {
			k = key(r.Key)
		}
		p, ok := out[k]
		if !ok {
			p = rollup.NewPoint()
			out[k] = p
		}
		if err := p.Merge(r.Point); err != nil {
			return nil, fmt.Errorf("merge %s rollups: %w", kind, err)
		}
	}
	return out, nil
}

// byDeploymentKey and byModelKey group rollup totals.
func byDeploymentKey(k rollup.Key) scope { return scope{Service: k.Service, Deployment: k.Deployment} }
func byModelKey(k rollup.Key) scope      { return scope{Model: k.Model} }
