package ui

import (
	"html/template"
	"time"

	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/ui/chart"
)

// The pages' charts, built from rollup results and run results. Counts and
// sums are drawn for every bucket (an empty bucket is a true zero); rates,
// latencies and scores only where there is data (an empty bucket is a gap).

const (
	chartWidth  = 640
	chartHeight = 220
)

func chartOptions(rg Range, loc *time.Location, title string, kind chart.Kind, unit chart.Unit) chart.Options {
	return chart.Options{Title: title, Kind: kind, Unit: unit, Width: chartWidth, Height: chartHeight,
		Step: rg.Step, Start: rg.From, End: rg.To, Loc: loc}
}

// bucketSeries maps each bucket of a rollup series to a point; ok false
// leaves a gap.
func bucketSeries(name, class string, s rollup.Series, f func(p *rollup.Point) (float64, bool)) chart.Series {
	out := chart.Series{Name: name, Class: class, Points: make([]chart.Point, len(s.Buckets))}
	for i, b := range s.Buckets {
		v, ok := f(b.Point)
		out.Points[i] = chart.Point{T: b.Time, V: v, Valid: ok}
	}
	return out
}

// only returns the one series of an ungrouped result (an empty one when
// there is none).
func only(res rollup.Result) rollup.Series {
	if len(res.Series) == 0 {
		return rollup.Series{}
	}
	return res.Series[0]
}

// withN sets each point's sample size to its bucket's count.
func withN(cs chart.Series, s rollup.Series) chart.Series {
	for i := range cs.Points {
		cs.Points[i].N = int(s.Buckets[i].Point.Count)
	}
	return cs
}

func tokensChart(rg Range, loc *time.Location, res rollup.Result) template.HTML {
	s := only(res)
	o := chartOptions(rg, loc, "Prompt and completion tokens", chart.StackedBars, chart.Tokens)
	return chart.Render(o, []chart.Series{
		bucketSeries("Prompt", "s0", s, func(p *rollup.Point) (float64, bool) { return float64(p.InputTokens), true }),
		bucketSeries("Completion", "s1", s, func(p *rollup.Point) (float64, bool) { return float64(p.OutputTokens), true }),
	}, nil, nil)
}

func costChart(rg Range, loc *time.Location, res rollup.Result) template.HTML {
	s := only(res)
	o := chartOptions(rg, loc, "Cost", chart.Bars, chart.USD)
	return chart.Render(o, []chart.Series{
		bucketSeries("Cost", "s2", s, func(p *rollup.Point) (float64, bool) { return p.CostUSD, true }),
	}, nil, nil)
}

func requestsChart(rg Range, loc *time.Location, res rollup.Result) template.HTML {
	s := only(res)
	o := chartOptions(rg, loc, "Requests and errors", chart.StackedBars, chart.Count)
	return chart.Render(o, []chart.Series{
		bucketSeries("Succeeded", "s0", s, func(p *rollup.Point) (float64, bool) { return float64(p.Count - p.Errors), true }),
		bucketSeries("Failed", "bad", s, func(p *rollup.Point) (float64, bool) { return float64(p.Errors), true }),
	}, nil, nil)
}

func errorRateChart(rg Range, loc *time.Location, res rollup.Result) template.HTML {
	s := only(res)
	o := chartOptions(rg, loc, "Error rate", chart.Line, chart.Ratio)
	return chart.Render(o, []chart.Series{
		withN(bucketSeries("Error rate", "bad", s, func(p *rollup.Point) (float64, bool) {
			if p.Count == 0 {
				return 0, false
			}
			return float64(p.Errors) / float64(p.Count), true
		}), s),
	}, nil, nil)
}

func latencyChart(rg Range, loc *time.Location, res rollup.Result) template.HTML {
	s := only(res)
	o := chartOptions(rg, loc, "Latency", chart.Line, chart.Millis)
	q := func(x float64) func(p *rollup.Point) (float64, bool) {
		return func(p *rollup.Point) (float64, bool) { return p.Quantile(x) }
	}
	return chart.Render(o, []chart.Series{
		withN(bucketSeries("p50", "s0", s, q(0.5)), s),
		withN(bucketSeries("p95", "s1", s, q(0.95)), s),
		withN(bucketSeries("p99", "s3", s, q(0.99)), s),
	}, nil, nil)
}

func callsChart(rg Range, loc *time.Location, byModel rollup.Result) template.HTML {
	o := chartOptions(rg, loc, "LLM calls by model", chart.StackedBars, chart.Count)
	var series []chart.Series
	for i, s := range byModel.Series {
		name := s.Group
		if name == "" {
			name = "(no model)"
		}
		series = append(series, bucketSeries(name, seriesClass(i), s, func(p *rollup.Point) (float64, bool) { return float64(p.Count), true }))
	}
	return chart.Render(o, series, nil, nil)
}

// seriesClass cycles through the palette.
func seriesClass(i int) string {
	return [...]string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"}[i%8]
}

// runChartOptions are those of a per-run quality chart: one point per run
// at its window's end, joined to the next.
func runChartOptions(rg Range, loc *time.Location, title string, unit chart.Unit) chart.Options {
	o := chartOptions(rg, loc, title, chart.Line, unit)
	o.Events = true
	return o
}

func passRateChart(rg Range, loc *time.Location, metric string, pts []runPoint, minPass *float64) template.HTML {
	o := runChartOptions(rg, loc, metric+" pass rate per run", chart.Ratio)
	zero, one := 0.0, 1.0
	o.YMin, o.YMax = &zero, &one
	s := chart.Series{Name: "Pass rate", Class: "s0"}
	band := chart.Band{Name: "95% interval", Class: "band"}
	for _, p := range pts {
		t := p.run.WindowEnd
		s.Points = append(s.Points, chart.Point{T: t, V: deref(p.v), Valid: p.v != nil, N: p.n})
		lo, hi := chart.Point{T: t}, chart.Point{T: t}
		if p.ci != nil {
			lo.V, lo.Valid, hi.V, hi.Valid = p.ci[0], true, p.ci[1], true
		}
		band.Low, band.High = append(band.Low, lo), append(band.High, hi)
	}
	var th []chart.Threshold
	if minPass != nil {
		th = append(th, chart.Threshold{Value: *minPass, Label: "min pass rate", FailBelow: true})
	}
	return chart.Render(o, []chart.Series{s}, []chart.Band{band}, th)
}

func scoreChart(rg Range, loc *time.Location, metric string, pts []runPoint, minAvg *float64) template.HTML {
	o := runChartOptions(rg, loc, metric+" average score per run", chart.Score)
	zero := 0.0
	o.YMin = &zero
	s := chart.Series{Name: "Average score", Class: "s2"}
	for _, p := range pts {
		s.Points = append(s.Points, chart.Point{T: p.run.WindowEnd, V: deref(p.v), Valid: p.v != nil, N: p.n})
	}
	var th []chart.Threshold
	if minAvg != nil {
		th = append(th, chart.Threshold{Value: *minAvg, Label: "min average", FailBelow: true})
	}
	return chart.Render(o, []chart.Series{s}, nil, th)
}
