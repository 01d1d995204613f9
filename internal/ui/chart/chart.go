// Package chart draws the dashboard's time-series charts as SVG on the
// server: lines, bars and stacked bars over time buckets, with shaded
// bands (a 95% Wilson interval around a pass rate), dashed threshold
// lines whose breaches are coloured, a legend, and a hover read-out per
// bucket made of SVG <title> elements, so the page needs no JavaScript
// and no inline style to be read. Colours come from CSS classes (see
// CSS), so the page's light and dark themes apply.
//
// Why our own package: no Go charting library we found does this. go-echarts
// emits a JavaScript program (ECharts) rather than an SVG. wcharczuk/go-chart
// draws with inline style attributes (a ClassName drops them but leaves no
// hover titles), has no notion of a missing value (a gap), and has seen no
// release since 2023. gonum/plot's vgsvg writes colours and fonts as
// presentation attributes for print-quality plots, not themable web charts,
// with no gaps, titles or accessible markup. Small SVG libraries
// (ajstarks/svgo) are only element writers. What we need (honest gaps, a
// read-out per bucket, classes, escaping, stable output) is a few hundred
// lines, so it lives here.
//
// Rules the charts keep (the peers' habits the dashboard follows, "Charts"):
//   - A point that is not Valid (no data in its bucket) is a gap: lines
//     break there and bars are absent; nothing is drawn as zero.
//   - Amounts (Count, Tokens, USD) and durations start their axis at 0;
//     ratios show 0–100% unless told otherwise; scores use YMin/YMax.
//   - Times are shown in Options.Loc, which the chart names.
//   - The output is deterministic: the same input gives the same bytes.
package chart

import (
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Point is one time bucket of a series.
type Point struct {
	T time.Time // start of the bucket
	V float64
	// Valid is false when the bucket has no data (a rate or an average
	// over n = 0): the chart shows a gap there, never a zero. NaN and ±Inf
	// values are treated as not valid.
	Valid bool
	// N is the sample size behind V (requests, judged items); when > 0 the
	// read-out shows it ("n=42").
	N int
}

// Series is one line, or one set of bars.
type Series struct {
	Name   string // shown in the legend and the read-out; may be any user text
	Points []Point
	// Class picks the colour through CSS: "s0".."s7" (the default cycles
	// through them in order), "ok", "bad", or a class of the page's own.
	Class string
}

// Band is a shaded interval over time, such as the 95% Wilson interval
// around a pass rate. Low[i] and High[i] are the same bucket; a bucket
// where either is not Valid is a gap in the band.
type Band struct {
	Name      string
	Low, High []Point
	Class     string // colour class; empty for the theme's --band
}

// Threshold is a dashed horizontal line at Value, labelled with Label and
// the value. Points on its failing side (below it when FailBelow, above
// it otherwise) are marked as breaches and that side is lightly shaded.
// On stacked bars the line is drawn but no bar is marked.
type Threshold struct {
	Value     float64
	Label     string // e.g. "min pass rate"; the value is appended
	FailBelow bool
}

// Kind is how the series are drawn.
type Kind int

const (
	Line        Kind = iota // one line per series
	Bars                    // bars side by side in each bucket
	StackedBars             // the series' bars stacked in each bucket (tokens by model)
)

func (k Kind) String() string {
	switch k {
	case Bars:
		return "Bar chart"
	case StackedBars:
		return "Stacked bar chart"
	}
	return "Line chart"
}

// Options describe a chart. The zero value draws a 640×220 line chart of
// counts in UTC over the points' own time range.
type Options struct {
	// Title and Desc are the chart's accessible name and description
	// (<title>, <desc>). The page prints its own heading. A summary of the
	// data is appended to Desc.
	Title, Desc string
	Kind        Kind
	Unit        Unit
	// Width and Height are the viewBox in user units (default 640×220,
	// text is 11 units high). The SVG scales to the width of its
	// container, so they set the aspect ratio and the size of the text
	// relative to the chart.
	Width, Height int
	// YMin and YMax fix the value range (scores 1–5; ratios default to
	// 0–1). A fixed end moves only to show data outside it.
	YMin, YMax *float64
	// Step is the bucket length; when 0 it is the smallest spacing of the
	// points.
	Step time.Duration
	// Events says the points are observations at their own times (a
	// monitor's runs), not buckets: consecutive valid points are joined,
	// the time between them is not "no data", the caption names no step,
	// and a read-out gives the point's time. Step is ignored.
	Events bool
	// Start and End bound the time axis, [Start, End); when zero they come
	// from the points. Points outside are not drawn.
	Start, End time.Time
	// Loc is the time zone of the axis and the read-outs (nil is UTC).
	Loc *time.Location
}

const (
	defaultWidth  = 640
	defaultHeight = 220
	maxNameRunes  = 60 // names in the read-out and the description
	maxLegendName = 32 // names in the legend (the full name is its title)
	rowHeight     = 16 // a legend row
	xTickSpacing  = 64 // minimum distance between time ticks
	yTickSpacing  = 34 // aimed-at distance between value ticks
	hoverWidth    = 3  // minimum width of a hover target
	// hoverBudget bounds the bytes of one-bucket read-outs in a chart;
	// past it, a target covers several buckets and all targets fit in
	// groupBudget (see hoverGroup).
	hoverBudget = 64 << 10
	groupBudget = 16 << 10
	// maxAbs bounds values so that the scale's arithmetic stays finite.
	maxAbs = 1e300
)

// Render draws the chart as an <svg> element to put in a page as is. It
// never fails: with no valid point it draws a "No data" message, and bad
// input (NaN, points outside the range, an unknown kind) is drawn as a gap
// or as the default.
func Render(o Options, series []Series, bands []Band, thresholds []Threshold) template.HTML {
	c := newChart(o, series, bands, thresholds)
	w := &svgw{b: make([]byte, 0, c.sizeHint())}
	c.write(w)
	return template.HTML(w.b)
}

// chart is a chart prepared for drawing: values on a common list of
// buckets, and the layout.
type chart struct {
	o          Options
	loc        *time.Location
	w, h       float64
	step       time.Duration // bucket length used to draw
	stepKnown  bool          // step was given or could be inferred
	start, end time.Time
	// keys are the starts of the buckets that have a point, in order, as
	// Unix nanoseconds (as are t0 and t1, start and end): sorting and
	// searching them is several times faster than with time.Time.
	keys       []int64
	t0, t1     int64
	rangeKnown bool // from Start, End or points (else start is 1970)
	ser        []lane
	bands      []bandLane
	thr        []Threshold
	hasData    bool

	// gaps are the spans of [start, end) where no series or band has a
	// valid value (only when the step is known).
	gaps [][2]int64

	// layout
	legend         []legendItem
	caption        string
	x0, x1, y0, y1 float64 // plot area; y0 is the top
	y              yAxis
	xticks         []xTick
}

// lane is a series' values on the chart's buckets (NaN: no data).
type lane struct {
	name, class string
	xmlName     string // name, escaped for the read-outs
	v           []float64
	n           []int
	valid       int
}

type bandLane struct {
	name, class string
	xmlName     string
	lo, hi      []float64
}

func newChart(o Options, series []Series, bands []Band, thresholds []Threshold) *chart {
	c := &chart{o: o, loc: o.Loc, w: float64(o.Width), h: float64(o.Height)}
	if c.loc == nil {
		c.loc = time.UTC
	}
	if o.Width <= 0 {
		c.w = defaultWidth
	}
	if o.Height <= 0 {
		c.h = defaultHeight
	}
	c.w, c.h = math.Min(math.Max(c.w, 240), 4000), math.Min(math.Max(c.h, 120), 2000)
	if o.Kind < Line || o.Kind > StackedBars {
		c.o.Kind = Line
	}
	if o.Unit < Count || o.Unit > Score {
		c.o.Unit = Count
	}
	for _, t := range thresholds {
		if finite(t.Value) {
			t.Value = clampAbs(t.Value)
			c.thr = append(c.thr, t)
		}
	}
	c.buckets(series, bands)

	for i, s := range series {
		l := lane{name: oneLine(s.Name, maxNameRunes), class: classList(s.Class), v: nans(len(c.keys)), n: make([]int, len(c.keys))}
		l.xmlName = string(appendEscaped(nil, l.name))
		if l.class == "" {
			l.class = "s" + strconv.Itoa(i%8)
		}
		next := 0 // points usually come in order: try the next bucket first
		for _, p := range s.Points {
			k, ok := c.index(p.T, next)
			if !ok || !p.Valid || !finite(p.V) {
				continue
			}
			next = k + 1
			if math.IsNaN(l.v[k]) {
				l.valid++
			}
			l.v[k], l.n[k] = clampAbs(p.V), p.N
		}
		c.hasData = c.hasData || l.valid > 0
		c.ser = append(c.ser, l)
	}
	for _, b := range bands {
		bl := bandLane{name: oneLine(b.Name, maxNameRunes), class: classList(b.Class), lo: nans(len(c.keys)), hi: nans(len(c.keys))}
		bl.xmlName = string(appendEscaped(nil, bl.name))
		next := 0
		for i := range min(len(b.Low), len(b.High)) {
			lo, hi := b.Low[i], b.High[i]
			k, ok := c.index(lo.T, next)
			if !ok || !lo.Valid || !hi.Valid || !finite(lo.V) || !finite(hi.V) {
				continue
			}
			next = k + 1
			bl.lo[k], bl.hi[k] = clampAbs(math.Min(lo.V, hi.V)), clampAbs(math.Max(lo.V, hi.V))
			c.hasData = true
		}
		c.bands = append(c.bands, bl)
	}
	c.layout()
	return c
}

// The times a chart can show, in Unix seconds (1900-01-01 and 2150-01-01
// UTC): within them, Unix nanoseconds and their differences fit in an
// int64.
const (
	minTime = -2208988800
	maxTime = 5680281600
)

// unixNano is t in Unix nanoseconds, when the chart can show it.
func unixNano(t time.Time) (int64, bool) {
	if s := t.Unix(); t.IsZero() || s < minTime || s > maxTime {
		return 0, false
	}
	return t.UnixNano(), true
}

// maxStep bounds the bucket length (its arithmetic must not overflow).
const maxStep = 10 * 366 * 24 * time.Hour

// buckets sets the time range, the step and the list of buckets.
func (c *chart) buckets(series []Series, bands []Band) {
	n := 0
	for _, s := range series {
		n += len(s.Points)
	}
	for _, b := range bands {
		n += len(b.Low)
	}
	ts := make([]int64, 0, n)
	add := func(ps []Point) {
		for _, p := range ps {
			if ns, ok := unixNano(p.T); ok {
				ts = append(ts, ns)
			}
		}
	}
	for _, s := range series {
		add(s.Points)
	}
	for _, b := range bands {
		add(b.Low)
	}
	if !slices.IsSorted(ts) {
		slices.Sort(ts)
	}
	ts = slices.Compact(ts)

	c.step, c.stepKnown = min(c.o.Step, maxStep), c.o.Step > 0
	if c.o.Events {
		// A point is drawn at its time; the step only pads the range.
		c.step, c.stepKnown = time.Second, false
	}
	if !c.stepKnown && !c.o.Events {
		for i := 1; i < len(ts); i++ {
			if d := time.Duration(ts[i] - ts[i-1]); !c.stepKnown || d < c.step {
				c.step, c.stepKnown = min(d, maxStep), true
			}
		}
	}
	if !c.stepKnown && !c.o.Events {
		c.step = time.Minute
	}
	t0, ok0 := unixNano(c.o.Start)
	t1, ok1 := unixNano(c.o.End)
	switch {
	case !ok0 && len(ts) > 0:
		t0 = ts[0]
	case !ok0 && ok1:
		t0 = t1 - int64(c.step)
	}
	c.rangeKnown = ok0 || ok1 || len(ts) > 0
	if !ok1 && len(ts) > 0 {
		t1 = ts[len(ts)-1] + int64(c.step)
	}
	if t1 <= t0 {
		t1 = t0 + int64(c.step)
	}
	c.t0, c.t1 = t0, t1
	c.start, c.end = time.Unix(0, t0).In(c.loc), time.Unix(0, t1).In(c.loc)
	lo, _ := slices.BinarySearch(ts, t0)
	hi, _ := slices.BinarySearch(ts, t1)
	c.keys = ts[lo:hi]
}

// index finds the bucket that starts at t, trying bucket next first.
func (c *chart) index(t time.Time, next int) (int, bool) {
	ns, ok := unixNano(t)
	if !ok {
		return 0, false
	}
	if next < len(c.keys) && c.keys[next] == ns {
		return next, true
	}
	return slices.BinarySearch(c.keys, ns)
}

// adjacent says whether buckets k-1 and k follow each other with no
// bucket missing between them (a line may join them).
func (c *chart) adjacent(k int) bool {
	if c.o.Events {
		return k > 0
	}
	return k > 0 && c.keys[k]-c.keys[k-1] <= int64(c.step+c.step/2)
}

// legendItem is one entry of the legend.
type legendItem struct {
	text, full string // full is set when text was cut
	class      string
	swatch     string // "line", "box", "band"
	x, y       float64
}

// layout places the legend and caption, the plot area and the ticks.
func (c *chart) layout() {
	c.caption = zoneLabel(c.loc, c.start, c.end)
	if c.stepKnown {
		c.caption = "step " + formatStep(c.step) + " · " + c.caption
	}
	if !c.hasData {
		return
	}
	// Legend rows, left to right, the first one leaving room for the
	// caption at its right end.
	// Past maxRows rows, the rest is counted in a last "+N more".
	x, row := 8.0, 0
	limit := c.w - 8 - textWidth(c.caption) - 16
	maxRows := max(1, int((c.h-32-10-60)/rowHeight)) // the plot keeps 60 units
	more := 0
	place := func(it legendItem) {
		wd := 18 + textWidth(it.text) + 14
		if x > 8 && x+wd > limit {
			if row+1 == maxRows {
				more++
				return
			}
			row++
			x, limit = 8, c.w-8
		}
		it.x, it.y = x, float64(13+rowHeight*row)
		x += wd
		c.legend = append(c.legend, it)
	}
	swatch := "line"
	if c.o.Kind != Line {
		swatch = "box"
	}
	for _, s := range c.ser {
		if s.name == "" {
			continue
		}
		it := legendItem{text: oneLine(s.name, maxLegendName), class: s.class, swatch: swatch}
		if it.text != s.name {
			it.full = s.name
		}
		if s.valid == 0 {
			it.text += " (no data)"
		}
		place(it)
	}
	for _, b := range c.bands {
		if b.name == "" {
			continue
		}
		it := legendItem{text: oneLine(b.name, maxLegendName), class: b.class, swatch: "band"}
		if it.text != b.name {
			it.full = b.name
		}
		place(it)
	}
	c.gaps = c.gapSpans()
	if len(c.gaps) > 0 {
		place(legendItem{text: "no data", swatch: "gap"})
	}
	if more > 0 {
		// The note ends the last row, taking the place of entries if need
		// be (they join the count).
		note := func() string { return "+" + strconv.Itoa(more) + " more" }
		for len(c.legend) > 1 && x+textWidth(note()) > c.w-8 {
			last := c.legend[len(c.legend)-1]
			if last.y != float64(13+rowHeight*row) {
				break
			}
			c.legend = c.legend[:len(c.legend)-1]
			x = last.x
			more++
		}
		c.legend = append(c.legend, legendItem{text: note(), x: x - 18, y: float64(13 + rowHeight*row)})
	}
	c.y0 = float64(rowHeight*(row+1) + 10)
	c.y1 = c.h - 32

	lo, hi := c.dataRange()
	c.y = newYAxis(c.o.Unit, lo, hi, c.o.YMin, c.o.YMax, int(math.Round((c.y1-c.y0)/yTickSpacing)))
	labelW := 0.0
	for _, t := range c.y.ticks {
		labelW = math.Max(labelW, textWidth(c.y.label(t)))
	}
	c.x0 = math.Round(labelW + 14)
	c.x1 = c.w - 12
	c.xticks = timeTicks(c.start, c.end, c.loc, int((c.x1-c.x0)/xTickSpacing))
}

// gapSpans finds the spans without any valid value: absent buckets and
// buckets where every series and band is invalid, including before the
// first and after the last bucket with data.
func (c *chart) gapSpans() [][2]int64 {
	if !c.stepKnown {
		return nil
	}
	var out [][2]int64
	from := c.t0
	for k, t := range c.keys {
		data := false
		for _, s := range c.ser {
			data = data || !math.IsNaN(s.v[k])
		}
		for _, b := range c.bands {
			data = data || !math.IsNaN(b.lo[k])
		}
		if !data {
			continue
		}
		if t > from {
			out = append(out, [2]int64{from, t})
		}
		from = t + int64(c.step)
	}
	if c.t1 > from {
		out = append(out, [2]int64{from, c.t1})
	}
	return out
}

// dataRange is the span of what the value axis must show: values (stack
// totals for stacked bars), bands and thresholds. lo > hi when empty.
func (c *chart) dataRange() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	see := func(v float64) {
		if !math.IsNaN(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if c.o.Kind == StackedBars {
		for k := range c.keys {
			pos, neg := 0.0, 0.0
			for _, s := range c.ser {
				if v := s.v[k]; v > 0 {
					pos += v
				} else if v < 0 {
					neg += v
				}
			}
			see(clampAbs(pos))
			see(clampAbs(neg))
		}
	} else {
		for _, s := range c.ser {
			for _, v := range s.v {
				see(v)
			}
		}
	}
	for _, b := range c.bands {
		for k := range c.keys {
			see(b.lo[k])
			see(b.hi[k])
		}
	}
	for _, t := range c.thr {
		see(t.Value)
	}
	return lo, hi
}

// xAt places a time in Unix nanoseconds on the x axis.
func (c *chart) xAt(ns int64) float64 {
	f := float64(ns-c.t0) / float64(c.t1-c.t0)
	return c.x0 + math.Min(math.Max(f, 0), 1)*(c.x1-c.x0)
}

// xOf places a time on the x axis.
func (c *chart) xOf(t time.Time) float64 {
	if t.Before(c.start) {
		return c.x0
	}
	if t.After(c.end) {
		return c.x1
	}
	return c.xAt(t.UnixNano())
}

// yOf places a value on the y axis.
func (c *chart) yOf(v float64) float64 {
	f := (v - c.y.lo) / (c.y.hi - c.y.lo)
	return c.y1 - math.Min(math.Max(f, 0), 1)*(c.y1-c.y0)
}

// breaches says whether v is on the failing side of any threshold.
func (c *chart) breaches(v float64) bool {
	if c.o.Kind == StackedBars || math.IsNaN(v) {
		return false
	}
	for _, t := range c.thr {
		if t.FailBelow && v < t.Value || !t.FailBelow && v > t.Value {
			return true
		}
	}
	return false
}

// sizeHint guesses the output size, to allocate once.
func (c *chart) sizeHint() int {
	return 4096 + len(c.keys)*(len(c.ser)*10+len(c.bands)*24) + groupBudget
}

// classList keeps the words of a class attribute made of letters,
// digits, "-" and "_" (a class comes from code, but a stray quote or
// space must not change what it selects).
func classList(s string) string {
	var b []byte
	for _, w := range strings.Fields(s) {
		ok := true
		for _, r := range w {
			ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}
		if ok {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = append(b, w...)
		}
	}
	return string(b)
}

func nans(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}

func clampAbs(v float64) float64 { return math.Max(-maxAbs, math.Min(maxAbs, v)) }

// zoneLabel names the time zone of the axis: "UTC", or "Europe/Paris,
// UTC+2" with the offset at start, and "UTC-4 → UTC-5" when it changes
// before end (daylight saving time).
func zoneLabel(loc *time.Location, start, end time.Time) string {
	name := loc.String()
	abbr, off := start.In(loc).Zone()
	_, endOff := end.In(loc).Zone()
	if name == "UTC" && off == 0 && endOff == 0 {
		return "UTC"
	}
	if name == "" || name == "Local" {
		name = abbr
	}
	s := name + ", " + utcOffset(off)
	if endOff != off {
		s += " → " + utcOffset(endOff)
	}
	return s
}

// utcOffset writes an offset in seconds as UTC+2, UTC-4, UTC+5:30.
func utcOffset(off int) string {
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	s := "UTC" + sign + strconv.Itoa(off/3600)
	if m := off % 3600 / 60; m != 0 {
		s += ":" + strconv.Itoa(m/10) + strconv.Itoa(m%10)
	}
	return s
}

// formatStep writes a bucket length briefly: 1m, 15m, 6h, 1d, 90s.
func formatStep(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
