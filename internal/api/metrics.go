package api

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// maxMetricsPoints bounds the entries of one metrics answer over all its
// series (the overall one and each group's), which bounds its size (about
// 400 bytes of JSON an entry) and the memory merging takes (a few hundred
// bytes to a few KiB a bucket and kind). An ungrouped answer always fits
// (rollup.MaxPoints is lower); a grouped one at the automatic step (at
// most 300 buckets) fits 165 groups.
const maxMetricsPoints = 50_000

// operationalMetrics serves GET /api/v1/metrics/operational: requests,
// errors and latency from request rows; tokens and cost from the model-call
// rows of the same buckets and groups.
func (a *API) operationalMetrics(w http.ResponseWriter, r *http.Request) error {
	m, err := a.metrics(r, rollup.Requests)
	if err != nil {
		return err
	}
	out := OperationalMetrics{
		MetricsRange:   m.rng,
		Series:         toPoints(m.series, requestPoint),
		Totals:         requestStats(m.totals),
		Groups:         make([]RequestGroup, 0, len(m.groups)),
		UnpricedModels: m.unpriced,
	}
	for _, g := range m.groups {
		out.Groups = append(out.Groups, RequestGroup{Group: g.name, Series: toPoints(g.series, requestPoint), Totals: requestStats(g.totals)})
	}
	a.writeJSON(w, r, out)
	return nil
}

// llmMetrics serves GET /api/v1/metrics/llm: model calls with their
// errors, latency, tokens and cost, all from model-call rows.
func (a *API) llmMetrics(w http.ResponseWriter, r *http.Request) error {
	m, err := a.metrics(r, rollup.LLMCalls)
	if err != nil {
		return err
	}
	out := LLMMetrics{
		MetricsRange:   m.rng,
		Series:         toPoints(m.series, callPoint),
		Totals:         callStats(m.totals),
		Groups:         make([]CallGroup, 0, len(m.groups)),
		UnpricedModels: m.unpriced,
	}
	for _, g := range m.groups {
		out.Groups = append(out.Groups, CallGroup{Group: g.name, Series: toPoints(g.series, callPoint), Totals: callStats(g.totals)})
	}
	a.writeJSON(w, r, out)
	return nil
}

// metrics answers a metrics request: counts, errors and latency from the
// rows of kind counted, tokens and cost from the model-call rows (read once
// when counted is LLMCalls).
func (a *API) metrics(r *http.Request, counted rollup.Kind) (merged, error) {
	q, err := parseMetricsQuery(r.URL.RawQuery, a.now())
	if err != nil {
		return merged{}, err
	}
	ctx, cancel, err := a.beginRollups(r)
	if err != nil {
		return merged{}, err
	}
	defer cancel()
	var counts, calls []rollup.Row
	var rowSets [][]rollup.Row
	if counted != rollup.LLMCalls {
		// The two kinds are read at once, on two read connections: a
		// week of hour rows is some 18,000 rows, and one read's decoding
		// overlaps the other's query.
		var countsErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			counts, countsErr = a.readRollups(ctx, q, counted)
		}()
		calls, err = a.readRollups(ctx, q, rollup.LLMCalls)
		<-done
		if err = cmp.Or(countsErr, err); err != nil {
			return merged{}, err
		}
		rowSets = append(rowSets, counts, calls)
	} else {
		if calls, err = a.readRollups(ctx, q, rollup.LLMCalls); err != nil {
			return merged{}, err
		}
		counts = calls
		rowSets = append(rowSets, calls)
	}
	if err := checkSize(q, rowSets...); err != nil {
		return merged{}, err
	}
	return buildMetrics(q, counts, calls)
}

// beginRollups is begin for the metrics routes, which read rollups.
func (a *API) beginRollups(r *http.Request) (context.Context, context.CancelFunc, error) {
	if a.rollups == nil {
		return nil, nil, errNoRollups
	}
	return a.start(r)
}

func unixUTC(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// readRollups reads the rows of one kind a query covers.
func (a *API) readRollups(ctx context.Context, q metricsQuery, kind rollup.Kind) ([]rollup.Row, error) {
	rows, err := a.rollups.Rollups(ctx, store.RollupQuery{
		Kind:       kind,
		Resolution: q.Resolution(),
		Start:      q.Start(),
		End:        q.End(),
		Service:    q.Service,
		Deployment: q.Deployment,
		Model:      q.Model,
	})
	if err != nil {
		return nil, fmt.Errorf("read %s rollups: %w", kind, err)
	}
	return rows, nil
}

// checkSize refuses, before anything is merged, a grouped query whose
// answer would hold more than maxMetricsPoints entries.
func checkSize(q metricsQuery, rowSets ...[]rollup.Row) error {
	if q.GroupBy == "" {
		return nil
	}
	groups := map[string]bool{}
	for _, rows := range rowSets {
		for _, r := range rows {
			groups[groupValue(r.Key, q.GroupBy)] = true
		}
	}
	buckets := (q.End() - q.Start()) / q.Step
	if n := int64(len(groups)+1) * buckets; n > maxMetricsPoints {
		return invalidParam("group_by", q.GroupBy, fmt.Sprintf(
			"%d groups of %d buckets each make %d entries, at most %d are allowed: use a larger step, a shorter range or a filter",
			len(groups), buckets, n, maxMetricsPoints))
	}
	return nil
}

// groupValue is the group a row falls into (as rollup.Aggregate groups).
func groupValue(k rollup.Key, by string) string {
	switch by {
	case "service":
		return k.Service
	case "deployment":
		return k.Deployment
	case "model":
		return k.Model
	case "status":
		if k.Status == model.StatusError {
			return string(model.StatusError)
		}
		return string(model.StatusOK)
	}
	return ""
}

// pair is a bucket's (or a range's) figures: counts, errors and latency
// from count, tokens and cost from usage. Either may be nil (nothing).
type pair struct {
	count, usage *rollup.Point
	time         Timestamp
}

// merged is a metrics answer before it takes its wire shape.
type merged struct {
	rng      MetricsRange
	series   []pair
	totals   pair
	groups   []mergedGroup
	unpriced []string
}

type mergedGroup struct {
	name   string
	series []pair
	totals pair
}

// buildMetrics aggregates count rows (requests or calls) and usage rows
// (calls) with the same query and pairs them bucket by bucket and group by
// group. A group present in only one of them gets empty figures from the
// other.
func buildMetrics(q metricsQuery, countRows, usageRows []rollup.Row) (merged, error) {
	all := q.Query
	all.GroupBy = ""
	countAll, err := rollup.Aggregate(all, countRows)
	if err != nil {
		return merged{}, fmt.Errorf("aggregate: %w", err)
	}
	usageAll, err := rollup.Aggregate(all, usageRows)
	if err != nil {
		return merged{}, fmt.Errorf("aggregate: %w", err)
	}
	m := merged{
		rng: MetricsRange{
			StepSeconds: q.Step,
			Since:       Timestamp{unixUTC(q.Start())},
			Until:       Timestamp{unixUTC(q.End())},
			GroupBy:     q.GroupBy,
		},
		series:   pairSeries(q, seriesOf(countAll, ""), seriesOf(usageAll, "")),
		totals:   pair{count: countAll.Totals, usage: usageAll.Totals},
		groups:   []mergedGroup{},
		unpriced: union(countAll.Unpriced, usageAll.Unpriced),
	}
	if q.GroupBy == "" {
		return m, nil
	}
	countBy, err := rollup.Aggregate(q.Query, countRows)
	if err != nil {
		return merged{}, fmt.Errorf("aggregate by %s: %w", q.GroupBy, err)
	}
	usageBy, err := rollup.Aggregate(q.Query, usageRows)
	if err != nil {
		return merged{}, fmt.Errorf("aggregate by %s: %w", q.GroupBy, err)
	}
	var names []string
	for _, res := range []rollup.Result{countBy, usageBy} {
		for _, s := range res.Series {
			names = append(names, s.Group)
		}
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		c, u := seriesOf(countBy, name), seriesOf(usageBy, name)
		g := mergedGroup{name: name, series: pairSeries(q, c, u)}
		if c != nil {
			g.totals.count = c.Totals
		}
		if u != nil {
			g.totals.usage = u.Totals
		}
		m.groups = append(m.groups, g)
	}
	return m, nil
}

// seriesOf returns the series of a group, or nil.
func seriesOf(res rollup.Result, group string) *rollup.Series {
	for i := range res.Series {
		if res.Series[i].Group == group {
			return &res.Series[i]
		}
	}
	return nil
}

// pairSeries pairs two series of the same query bucket by bucket: one
// entry per step of the query's range with q.IncludeEmpty, otherwise one
// per step in which something was counted (a 24-hour range of 5-minute
// steps holds 288 buckets, most of them empty for a quiet service).
func pairSeries(q metricsQuery, count, usage *rollup.Series) []pair {
	start, n := q.Start(), (q.End()-q.Start())/q.Step
	out := make([]pair, 0, n)
	for i := range int(n) {
		p := pair{time: Timestamp{unixUTC(start + int64(i)*q.Step)}}
		if count != nil && i < len(count.Buckets) {
			p.count = count.Buckets[i].Point
		}
		if usage != nil && i < len(usage.Buckets) {
			p.usage = usage.Buckets[i].Point
		}
		if q.IncludeEmpty || !p.empty() {
			out = append(out, p)
		}
	}
	return out
}

// empty reports whether a bucket shows nothing: no request (or call) is
// counted and no tokens, cost or unpriced call are used.
func (p pair) empty() bool {
	if p.count != nil && p.count.Count > 0 {
		return false
	}
	u := p.usage
	return u == nil || (u.TotalTokens == 0 && u.InputTokens == 0 && u.OutputTokens == 0 &&
		u.CachedTokens == 0 && u.CostUSD == 0 && u.Unpriced == 0)
}

func union(a, b []string) []string {
	out := append(append([]string{}, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func toPoints[P any](pairs []pair, conv func(pair) P) []P {
	out := make([]P, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, conv(p))
	}
	return out
}

func requestPoint(p pair) RequestPoint {
	return RequestPoint{Time: p.time, RequestStats: requestStats(p)}
}

func requestStats(p pair) RequestStats {
	n, s := toStats(p)
	return RequestStats{Requests: n, Stats: s}
}

func callPoint(p pair) CallPoint {
	return CallPoint{Time: p.time, CallStats: callStats(p)}
}

func callStats(p pair) CallStats {
	n, s := toStats(p)
	return CallStats{Calls: n, Stats: s}
}

// toStats turns a pair into its count and wire figures.
func toStats(p pair) (int64, Stats) {
	var s Stats
	var count int64
	if c := p.count; c != nil && c.Count > 0 {
		count = c.Count
		s.Errors = c.Errors
		s.ErrorRate = roundRatio(float64(c.Errors) / float64(c.Count))
		s.LatencyMS = latency(c)
	}
	if u := p.usage; u != nil {
		s.InputTokens = u.InputTokens
		s.OutputTokens = u.OutputTokens
		s.TotalTokens = u.TotalTokens
		s.CachedTokens = u.CachedTokens
		s.CostUSD = roundCost(u.CostUSD)
		s.UnpricedCalls = u.Unpriced
	}
	return count, s
}

// latency summarizes a point's latencies, rounded to a tenth of a
// millisecond.
func latency(p *rollup.Point) Latency {
	var l Latency
	for _, f := range []struct {
		q   float64
		dst **float64
	}{{0.50, &l.P50}, {0.90, &l.P90}, {0.95, &l.P95}, {0.99, &l.P99}} {
		if v, ok := p.Quantile(f.q); ok {
			*f.dst = ms(v)
		}
	}
	l.Avg = ms(p.LatencySumMs / float64(p.Count))
	l.Max = ms(p.LatencyMaxMs)
	return l
}

// ms rounds a number of milliseconds to a tenth.
func ms(v float64) *float64 {
	r := roundMS(v)
	return &r
}

// roundTo rounds v to 1/scale, and non-finite values to 0.
func roundTo(v, scale float64) float64 {
	r := math.Round(v*scale) / scale
	if math.IsNaN(r) || math.IsInf(r, 0) {
		// v*scale overflowed or v was not finite: v as it is, if finite.
		return finite(v)
	}
	return r
}
