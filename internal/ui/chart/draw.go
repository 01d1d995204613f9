package chart

import (
	"math"
	"strconv"
	"time"
)

// write draws the whole chart. Element order is paint order: grid and
// shading under the data, thresholds and axes over it, and the invisible
// hover targets on top.
func (c *chart) write(w *svgw) {
	title := oneLine(c.o.Title, 200)
	if title == "" {
		title = "Chart"
	}
	w.raw(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 `)
	w.num(c.w)
	w.raw(" ")
	w.num(c.h)
	w.raw(`" width="`)
	w.num(c.w)
	w.raw(`" height="`)
	w.num(c.h)
	w.raw(`" role="img" aria-label="`)
	w.esc(title)
	w.raw(`"><title>`)
	w.esc(title)
	w.raw("</title><desc>")
	w.esc(c.describe())
	w.raw("</desc>\n")
	w.raw(`<text class="cap" x="`)
	w.num(c.w - 8)
	w.raw(`" y="13">`)
	w.esc(c.caption)
	w.raw("</text>\n")
	if !c.hasData {
		w.raw(`<text class="nodata" x="`)
		w.num(c.w / 2)
		w.raw(`" y="`)
		w.num(c.h / 2)
		w.raw(`">No data in this range</text>`)
		w.raw("\n</svg>")
		return
	}
	c.writeLegend(w)
	c.writeGaps(w)
	c.writeGrid(w)
	c.writeFailZones(w)
	c.writeBands(w)
	if c.o.Kind == Line {
		c.writeLines(w)
	} else {
		c.writeBars(w)
	}
	c.writeThresholds(w)
	c.writeAxes(w)
	c.writeHover(w)
	w.raw("</svg>")
}

func (c *chart) writeLegend(w *svgw) {
	if len(c.legend) == 0 {
		return
	}
	w.raw(`<g class="legend">` + "\n")
	for _, it := range c.legend {
		if it.full != "" {
			w.raw("<g><title>")
			w.esc(it.full)
			w.raw("</title>")
		}
		switch it.swatch {
		case "":
		case "line":
			w.raw(`<path class="line `)
			w.esc(it.class)
			w.raw(`" d="M`)
			w.num(it.x)
			w.raw(" ")
			w.num(it.y - 4)
			w.raw(`h14"/>`)
		default:
			w.raw(`<rect class="`)
			switch it.swatch {
			case "band":
				c.writeBandClass(w, it.class)
			case "gap":
				w.raw("gap")
			default:
				w.raw("sw ")
				w.esc(it.class)
			}
			w.raw(`" x="`)
			w.num(it.x + 2)
			w.raw(`" y="`)
			w.num(it.y - 9)
			w.raw(`" width="10" height="10"/>`)
		}
		w.raw(`<text x="`)
		w.num(it.x + 18)
		w.raw(`" y="`)
		w.num(it.y)
		w.raw(`">`)
		w.esc(it.text)
		w.raw("</text>")
		if it.full != "" {
			w.raw("</g>")
		}
		w.raw("\n")
	}
	w.raw("</g>\n")
}

func (c *chart) writeBandClass(w *svgw, class string) {
	w.raw("band")
	if class != "" {
		w.raw(" tint ")
		w.esc(class)
	}
}

// writeGaps shades the spans without data, so that an absent bar is not
// read as a zero and a broken line is explained.
func (c *chart) writeGaps(w *svgw) {
	if len(c.gaps) == 0 {
		return
	}
	w.raw(`<path class="gap" d="`)
	for _, g := range c.gaps {
		w.raw("M")
		w.num(c.xAt(g[0]))
		w.raw(" ")
		w.num(c.y0)
		w.raw("H")
		w.num(c.xAt(g[1]))
		w.raw("V")
		w.num(c.y1)
		w.raw("H")
		w.num(c.xAt(g[0]))
		w.raw("Z")
	}
	w.raw(`"/>` + "\n")
}

func (c *chart) writeGrid(w *svgw) {
	w.raw(`<path class="grid" d="`)
	for _, t := range c.y.ticks {
		w.raw("M")
		w.num(c.x0)
		w.raw(" ")
		w.num(c.yOf(t))
		w.raw("H")
		w.num(c.x1)
	}
	w.raw(`"/>` + "\n")
}

// writeFailZones shades the failing side of each threshold.
func (c *chart) writeFailZones(w *svgw) {
	for _, t := range c.thr {
		top, bottom := c.y0, c.yOf(t.Value)
		if t.FailBelow {
			top, bottom = bottom, c.y1
		}
		if bottom-top < 0.1 {
			continue
		}
		w.raw(`<rect class="fail" x="`)
		w.num(c.x0)
		w.raw(`" y="`)
		w.num(top)
		w.raw(`" width="`)
		w.num(c.x1 - c.x0)
		w.raw(`" height="`)
		w.num(bottom - top)
		w.raw(`"/>` + "\n")
	}
}

// center is the x of the middle of bucket k, where lines put its value.
func (c *chart) center(k int) float64 { return c.xAt(c.keys[k] + int64(c.step/2)) }

// bucketWidth is the width of one bucket on the x axis.
func (c *chart) bucketWidth() float64 {
	return (c.x1 - c.x0) * float64(c.step) / float64(c.end.Sub(c.start))
}

// writeBands draws each run of adjacent valid buckets as one shape: along
// the upper edge, then back along the lower one. A lone bucket is a small
// box.
func (c *chart) writeBands(w *svgw) {
	half := math.Max(c.bucketWidth()/4, 1)
	for _, b := range c.bands {
		w.raw(`<path class="`)
		c.writeBandClass(w, b.class)
		w.raw(`" d="`)
		for k := 0; k < len(c.keys); {
			if math.IsNaN(b.lo[k]) {
				k++
				continue
			}
			end := k + 1
			for end < len(c.keys) && !math.IsNaN(b.lo[end]) && c.adjacent(end) {
				end++
			}
			if end == k+1 {
				x := c.center(k)
				w.raw("M")
				w.num(x - half)
				w.raw(" ")
				w.num(c.yOf(b.hi[k]))
				w.raw("H")
				w.num(x + half)
				w.raw("V")
				w.num(c.yOf(b.lo[k]))
				w.raw("H")
				w.num(x - half)
				w.raw("Z")
			} else {
				for i := k; i < end; i++ {
					if i == k {
						w.raw("M")
					} else {
						w.raw("L")
					}
					w.num(c.center(i))
					w.raw(" ")
					w.num(c.yOf(b.hi[i]))
				}
				for i := end - 1; i >= k; i-- {
					w.raw("L")
					w.num(c.center(i))
					w.raw(" ")
					w.num(c.yOf(b.lo[i]))
				}
				w.raw("Z")
			}
			k = end
		}
		w.raw(`"/>` + "\n")
	}
}

// pathPen writes path data compactly: an absolute move, then relative
// line-tos in tenths of a unit ("M10 20l1.5-2 1.5 3"), computed from
// rounded absolute positions so that rounding never accumulates.
type pathPen struct {
	b      []byte
	qx, qy int64
	first  bool // next pair is the first after "l"
}

func (p *pathPen) move(x, y float64) {
	p.qx, p.qy = tenths(x), tenths(y)
	p.b = append(p.b, 'M')
	p.b = appendTenths(p.b, p.qx)
	p.b = append(p.b, ' ')
	p.b = appendTenths(p.b, p.qy)
	p.b = append(p.b, 'l')
	p.first = true
}

func (p *pathPen) line(x, y float64) {
	qx, qy := tenths(x), tenths(y)
	dx, dy := qx-p.qx, qy-p.qy
	if !p.first && dx >= 0 {
		p.b = append(p.b, ' ')
	}
	p.b = appendShortTenths(p.b, dx)
	if dy >= 0 {
		p.b = append(p.b, ' ')
	}
	p.b = appendShortTenths(p.b, dy)
	p.qx, p.qy, p.first = qx, qy, false
}

// dot adds a zero-length segment, drawn as a round dot by a round cap.
func (p *pathPen) dot(x, y float64) {
	p.b = append(p.b, 'M')
	p.b = appendTenths(p.b, tenths(x))
	p.b = append(p.b, ' ')
	p.b = appendTenths(p.b, tenths(y))
	p.b = append(p.b, "h0"...)
}

// writeLines draws each series as runs of adjacent valid buckets; a
// missing or invalid bucket ends a run, so no line crosses a gap. A run
// of one bucket is a dot. Breaching values get a dot of the "breach"
// class on top.
func (c *chart) writeLines(w *svgw) {
	var breach pathPen
	for _, s := range c.ser {
		var line, dots pathPen
		mark := len(w.b)
		w.raw(`<path class="line `)
		w.esc(s.class)
		w.raw(`" d="`)
		start := len(w.b)
		line.b = w.b // the line's data is written in place
		run := 0
		for k := range c.keys {
			v := s.v[k]
			if math.IsNaN(v) {
				if run == 1 {
					dots.dot(c.center(k-1), c.yOf(s.v[k-1]))
				}
				run = 0
				continue
			}
			x, y := c.center(k), c.yOf(v)
			switch {
			case run > 0 && c.adjacent(k):
				if run == 1 {
					line.move(c.center(k-1), c.yOf(s.v[k-1]))
				}
				line.line(x, y)
				run++
			default:
				if run == 1 {
					dots.dot(c.center(k-1), c.yOf(s.v[k-1]))
				}
				run = 1
			}
			if c.breaches(v) {
				breach.dot(x, y)
			}
		}
		if run == 1 {
			k := len(c.keys) - 1
			dots.dot(c.center(k), c.yOf(s.v[k]))
		}
		w.b = line.b
		if len(w.b) == start { // no run of two buckets: no line
			w.b = w.b[:mark]
		} else {
			w.raw(`"/>` + "\n")
		}
		if len(dots.b) > 0 {
			w.raw(`<path class="dot `)
			w.esc(s.class)
			w.raw(`" d="`)
			w.b = append(w.b, dots.b...)
			w.raw(`"/>` + "\n")
		}
	}
	if len(breach.b) > 0 {
		w.raw(`<path class="breach" d="`)
		w.b = append(w.b, breach.b...)
		w.raw(`"/>` + "\n")
	}
}

// writeBars draws one path per series (and one for breaching bars).
// Bars sit side by side in their bucket, or stacked: positive values up
// from the baseline and negative ones down, and only valid values.
func (c *chart) writeBars(w *svgw) {
	bw := c.bucketWidth()
	pad := bw * 0.12
	if bw < 3 {
		pad = 0
	}
	base := c.yOf(math.Min(math.Max(0, c.y.lo), c.y.hi))
	paths := make([][]byte, len(c.ser))
	var breach []byte
	rect := func(b []byte, x0, x1, ya, yb float64) []byte {
		qa, qb := tenths(ya), tenths(yb)
		if qa == qb { // a non-zero value stays visible
			qa = qb - 5
			if ya > yb {
				qa = qb + 5
			}
		}
		b = append(b, 'M')
		b = appendTenths(b, tenths(x0))
		b = append(b, ' ')
		b = appendTenths(b, qb)
		b = append(b, 'V')
		b = appendTenths(b, qa)
		b = append(b, 'H')
		b = appendTenths(b, tenths(x1))
		b = append(b, 'V')
		b = appendTenths(b, qb)
		return append(b, 'Z')
	}
	for k, t := range c.keys {
		left := c.xAt(t) + pad
		inner := c.xAt(t+int64(c.step)) - pad - left
		if c.o.Kind == StackedBars {
			pos, neg := 0.0, 0.0
			for i, s := range c.ser {
				v := s.v[k]
				if math.IsNaN(v) || v == 0 {
					continue
				}
				from := &pos
				if v < 0 {
					from = &neg
				}
				paths[i] = rect(paths[i], left, left+inner, c.yOf(*from+v), c.yOf(*from))
				*from += v
			}
			continue
		}
		slot := inner / float64(len(c.ser))
		for i, s := range c.ser {
			v := s.v[k]
			if math.IsNaN(v) || v == 0 && c.y.lo <= 0 {
				continue
			}
			x := left + slot*float64(i)
			if c.breaches(v) {
				breach = rect(breach, x, x+slot, c.yOf(v), base)
			} else {
				paths[i] = rect(paths[i], x, x+slot, c.yOf(v), base)
			}
		}
	}
	for i, s := range c.ser {
		if len(paths[i]) == 0 {
			continue
		}
		w.raw(`<path class="bar `)
		w.esc(s.class)
		w.raw(`" d="`)
		w.b = append(w.b, paths[i]...)
		w.raw(`"/>` + "\n")
	}
	if len(breach) > 0 {
		w.raw(`<path class="bar breach" d="`)
		w.b = append(w.b, breach...)
		w.raw(`"/>` + "\n")
	}
}

// writeThresholds draws each threshold as a dashed line labelled at its
// right end, above the line (below it when too close to the top).
func (c *chart) writeThresholds(w *svgw) {
	for _, t := range c.thr {
		y := c.yOf(t.Value)
		w.raw(`<path class="thr" d="M`)
		w.num(c.x0)
		w.raw(" ")
		w.num(y)
		w.raw("H")
		w.num(c.x1)
		w.raw(`"/><text class="thl" x="`)
		w.num(c.x1 - 2)
		w.raw(`" y="`)
		if y-c.y0 < 14 {
			w.num(y + 12)
		} else {
			w.num(y - 4)
		}
		w.raw(`">`)
		w.esc(c.thresholdText(t))
		w.raw("</text>\n")
	}
}

func (c *chart) thresholdText(t Threshold) string {
	l := oneLine(t.Label, maxNameRunes)
	if l != "" {
		l += " "
	}
	return l + c.o.Unit.Format(t.Value)
}

// writeAxes draws the axis lines, the tick marks and the tick labels.
func (c *chart) writeAxes(w *svgw) {
	w.raw(`<path class="axis" d="M`)
	w.num(c.x0)
	w.raw(" ")
	w.num(c.y0)
	w.raw("V")
	w.num(c.y1)
	w.raw("H")
	w.num(c.x1)
	for _, t := range c.xticks {
		w.raw("M")
		w.num(c.xOf(t.t))
		w.raw(" ")
		w.num(c.y1)
		w.raw("v4")
	}
	w.raw(`"/>` + "\n" + `<g class="yl">`)
	for _, t := range c.y.ticks {
		w.raw(`<text x="`)
		w.num(c.x0 - 6)
		w.raw(`" y="`)
		w.num(c.yOf(t) + 4)
		w.raw(`">`)
		w.esc(c.y.label(t))
		w.raw("</text>")
	}
	w.raw("</g>\n")
	c.writeXLabels(w, "xl", c.y1+15, func(t xTick) string { return t.label })
	c.writeXLabels(w, "xd", c.y1+28, func(t xTick) string { return t.second })
}

// writeXLabels writes one line of time labels centred on their ticks,
// moved inside the chart at its edges and left out where one would
// overlap the one before.
func (c *chart) writeXLabels(w *svgw, class string, y float64, text func(xTick) string) {
	w.raw(`<g class="` + class + `">`)
	prevEnd := math.Inf(-1)
	for _, t := range c.xticks {
		s := text(t)
		if s == "" {
			continue
		}
		half := textWidth(s) / 2
		x := math.Min(math.Max(c.xOf(t.t), 2+half), c.w-2-half)
		if x-half < prevEnd+6 {
			continue
		}
		prevEnd = x + half
		w.raw(`<text x="`)
		w.num(x)
		w.raw(`" y="`)
		w.num(y)
		w.raw(`">`)
		w.esc(s)
		w.raw("</text>")
	}
	w.raw("</g>\n")
}

// hoverGroup is how many consecutive buckets one hover target covers. It
// is one, a read-out per bucket, when the targets are at least hoverWidth
// wide and their read-outs fit in hoverBudget bytes (measured on a few
// buckets). Otherwise (hundreds of buckets of many series) a target
// covers several buckets and all targets' read-outs fit in groupBudget.
func (c *chart) hoverGroup() int {
	nk := len(c.keys)
	byWidth := max(1, int((c.x1-c.x0)/hoverWidth))
	samples, total := min(nk, 8), 0
	var b []byte
	for i := range samples {
		k := i * nk / samples
		b = c.readout(b[:0], k, k)
		total += len(b) + 60 // and the <rect> around it
	}
	est := total / samples
	if nk <= byWidth && nk*est <= hoverBudget {
		return 1
	}
	// A read-out over several buckets gives ranges: about 1.4 times longer.
	n := max(1, min(byWidth, groupBudget*10/(est*14)))
	return (nk + n - 1) / n
}

// writeHover covers the plot with invisible columns, one per bucket (or
// group of buckets), each with a <title>: the browser shows it on hover,
// and the page's CSS highlights the column as a crosshair.
func (c *chart) writeHover(w *svgw) {
	if len(c.keys) == 0 {
		return
	}
	per := c.hoverGroup()
	w.raw(`<svg class="hits" x="`)
	w.num(c.x0)
	w.raw(`" y="`)
	w.num(c.y0)
	w.raw(`" width="`)
	w.num(c.x1 - c.x0)
	w.raw(`" height="`)
	w.num(c.y1 - c.y0)
	w.raw(`">` + "\n")
	for i := 0; i < len(c.keys); i += per {
		j := min(i+per, len(c.keys)) - 1
		x0 := c.xAt(c.keys[i])
		x1 := c.xAt(c.keys[j] + int64(c.step))
		w.raw(`<rect x="`)
		w.num(x0 - c.x0)
		w.raw(`" width="`)
		w.num(math.Max(x1-x0, 0.1))
		w.raw(`" height="100%"><title>`)
		w.b = c.readout(w.b, i, j)
		w.raw("</title></rect>\n")
	}
	w.raw("</svg>\n")
}

// readout appends the hover text of buckets i..j, escaped: their time
// span, then one line per series and band, each value with its unit, its
// n and whether it breaches a threshold. Over several buckets a line
// gives the range of the values and the total n. Only the names need
// escaping (they are escaped once, in xmlName); the rest is this
// package's own text.
func (c *chart) readout(b []byte, i, j int) []byte {
	b = c.appendSpan(b, time.Unix(0, c.keys[i]), time.Unix(0, c.keys[j]+int64(c.step)))
	if j > i {
		b = append(b, " ("...)
		b = strconv.AppendInt(b, int64(j-i+1), 10)
		b = append(b, " buckets)"...)
	}
	u := c.o.Unit
	total, totalOK := 0.0, false
	for _, s := range c.ser {
		lo, hi, n, valid, breaches := math.Inf(1), math.Inf(-1), 0, 0, 0
		for k := i; k <= j; k++ {
			if v := s.v[k]; !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
				n += s.n[k]
				valid++
				total += v
				totalOK = true
				if c.breaches(v) {
					breaches++
				}
			}
		}
		b = append(b, '\n')
		if s.name != "" {
			b = append(b, s.xmlName...)
			b = append(b, ": "...)
		}
		switch {
		case valid == 0:
			b = append(b, "no data"...)
			continue
		case lo == hi:
			b = append(b, u.Format(lo)...)
		default:
			b = append(b, u.formatRange(lo, hi)...)
		}
		if n > 0 {
			b = append(b, " (n="...)
			b = append(b, FormatCount(float64(n))...)
			b = append(b, ')')
		}
		switch {
		case breaches == 1 && j == i:
			b = append(b, " – breach"...)
		case breaches > 0:
			b = append(b, " – "...)
			b = strconv.AppendInt(b, int64(breaches), 10)
			b = append(b, " breaches"...)
		}
	}
	if c.o.Kind == StackedBars && len(c.ser) > 1 && totalOK && j == i {
		b = append(b, "\ntotal: "...)
		b = append(b, u.Format(total)...)
	}
	for _, bd := range c.bands {
		lo, hi := math.Inf(1), math.Inf(-1)
		for k := i; k <= j; k++ {
			if !math.IsNaN(bd.lo[k]) {
				lo, hi = math.Min(lo, bd.lo[k]), math.Max(hi, bd.hi[k])
			}
		}
		b = append(b, '\n')
		if bd.name != "" {
			b = append(b, bd.xmlName...)
			b = append(b, ": "...)
		}
		if lo > hi {
			b = append(b, "no data"...)
		} else {
			b = append(b, u.formatRange(lo, hi)...)
		}
	}
	return b
}

// appendSpan writes a bucket span in the chart's zone: "Mon 12 Oct
// 14:00–15:00", "Mon 12 Oct 00:00–24:00" for a day, or both dates when
// it spans more. Without a known step, only the start.
func (c *chart) appendSpan(b []byte, from, to time.Time) []byte {
	from, to = from.In(c.loc), to.In(c.loc)
	b = from.AppendFormat(b, "Mon 2 Jan 15:04")
	if !c.stepKnown {
		return b
	}
	next := time.Date(from.Year(), from.Month(), from.Day()+1, 0, 0, 0, 0, c.loc)
	switch {
	case sameDay(from, to):
		b = append(b, "–"...)
		return to.AppendFormat(b, "15:04")
	case to.Equal(next):
		return append(b, "–24:00"...)
	}
	b = append(b, " – "...)
	return to.AppendFormat(b, "Mon 2 Jan 15:04")
}

// describe is the accessible description: the page's Desc, then what the
// chart shows in words.
func (c *chart) describe() string {
	b := []byte(oneLine(c.o.Desc, 500))
	if len(b) > 0 {
		b = append(b, ' ')
	}
	b = append(b, c.o.Kind.String()...)
	b = append(b, " of "...)
	b = strconv.AppendInt(b, int64(len(c.ser)), 10)
	b = append(b, " series"...)
	if c.rangeKnown {
		b = append(b, " from "...)
		b = c.start.In(c.loc).AppendFormat(b, "Mon 2 Jan 2006 15:04")
		b = append(b, " to "...)
		b = c.end.In(c.loc).AppendFormat(b, "Mon 2 Jan 2006 15:04")
		b = append(b, " ("...)
		b = append(b, c.caption...)
		b = append(b, ")"...)
	}
	b = append(b, '.')
	if !c.hasData {
		return string(append(b, " No data in this range."...))
	}
	u := c.o.Unit
	for _, s := range c.ser {
		b = append(b, ' ')
		if s.name != "" {
			b = append(b, s.name...)
			b = append(b, ": "...)
		}
		if s.valid == 0 {
			b = append(b, "no data."...)
			continue
		}
		lo, hi, last := math.Inf(1), math.Inf(-1), math.NaN()
		for _, v := range s.v {
			if !math.IsNaN(v) {
				lo, hi, last = math.Min(lo, v), math.Max(hi, v), v
			}
		}
		b = strconv.AppendInt(b, int64(s.valid), 10)
		b = append(b, " of "...)
		b = strconv.AppendInt(b, int64(len(c.keys)), 10)
		b = append(b, " buckets with data, min "...)
		b = append(b, u.Format(lo)...)
		b = append(b, ", max "...)
		b = append(b, u.Format(hi)...)
		b = append(b, ", last "...)
		b = append(b, u.Format(last)...)
		b = append(b, '.')
	}
	for _, t := range c.thr {
		n := 0
		for _, s := range c.ser {
			for _, v := range s.v {
				if c.o.Kind != StackedBars && !math.IsNaN(v) && (t.FailBelow && v < t.Value || !t.FailBelow && v > t.Value) {
					n++
				}
			}
		}
		b = append(b, " Threshold "...)
		b = append(b, c.thresholdText(t)...)
		switch {
		case c.o.Kind == StackedBars:
		case n == 0:
			b = append(b, ", not breached"...)
		default:
			b = append(b, ", breached by "...)
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, " value"...)
			if n > 1 {
				b = append(b, 's')
			}
		}
		b = append(b, '.')
	}
	return string(b)
}
