package chart

import (
	"math"
	"strconv"
	"time"
)

// yAxis is the value scale: its domain, its ticks and their labels.
type yAxis struct {
	lo, hi float64
	ticks  []float64
	label  func(float64) string
}

// baseline says whether the unit's axis starts at zero (amounts and
// durations do; scores and free ranges do not).
func (u Unit) baseline() bool { return u == Count || u == Tokens || u == Millis || u == USD }

// newYAxis chooses the domain and "nice" ticks (1, 2 or 5 times a power of
// ten) for data in [dlo, dhi] (±Inf when there is none) and about
// intervals tick intervals. A fixed end (yMin, yMax; 0–1 for ratios by
// default) is kept exactly unless data falls outside it; a free end is
// rounded out to a tick.
func newYAxis(u Unit, dlo, dhi float64, yMin, yMax *float64, intervals int) yAxis {
	if u == Ratio && yMin == nil && yMax == nil {
		yMin, yMax = ptr(0.0), ptr(1.0)
	}
	if yMin != nil && !finite(*yMin) {
		yMin = nil
	}
	if yMax != nil && !finite(*yMax) {
		yMax = nil
	}
	lo, hi := dlo, dhi
	if lo > hi { // no data
		lo, hi = 0, 0
	}
	if yMin != nil {
		lo = math.Min(lo, *yMin)
		if dlo > dhi {
			lo = *yMin
		}
	} else if u.baseline() {
		lo = math.Min(lo, 0)
	}
	if yMax != nil {
		hi = math.Max(hi, *yMax)
		if dlo > dhi {
			hi = *yMax
		}
	} else if u.baseline() {
		hi = math.Max(hi, 0)
	}
	if hi <= lo {
		switch {
		case yMax == nil && lo == 0:
			hi = 1
		case yMax == nil:
			hi = lo + math.Abs(lo)*0.1
		default:
			lo = hi - math.Max(math.Abs(hi)*0.1, 1)
		}
		if yMin == nil && !u.baseline() && lo != 0 {
			lo -= math.Abs(lo) * 0.1
		}
	}
	step := niceStep((hi - lo) / float64(max(intervals, 1)))
	if (u == Count || u == Tokens) && step < 1 {
		step = 1
	}
	if yMin == nil {
		lo = math.Floor(lo/step+1e-9) * step
	}
	if yMax == nil {
		hi = math.Ceil(hi/step-1e-9) * step
	}
	if hi <= lo {
		hi = lo + step
	}
	a := yAxis{lo: lo, hi: hi}
	first := math.Ceil(lo/step - 1e-9)
	for k := first; k*step <= hi+step*1e-9 && len(a.ticks) < 50; k++ {
		a.ticks = append(a.ticks, k*step)
	}
	a.label = axisLabel(u, step, math.Max(math.Abs(lo), math.Abs(hi)))
	return a
}

// niceStep rounds x > 0 to the nearest 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	switch f := x / p; {
	case f < 1.5:
		return p
	case f < 3:
		return 2 * p
	case f < 7:
		return 5 * p
	}
	return 10 * p
}

// stepDecimals is how many decimals show a tick step exactly.
func stepDecimals(step float64) int {
	return max(0, min(20, int(math.Ceil(-math.Log10(step)-1e-9))))
}

// axisLabel formats tick values: all ticks of an axis in the same scale
// (k/M, ms/s) with the decimals of the step, trailing zeros cut.
func axisLabel(u Unit, step, maxAbs float64) func(float64) string {
	grouped := func(v float64, d int) string { return string(appendGrouped(nil, v, d, true)) }
	switch u {
	case Ratio:
		d := stepDecimals(step * 100)
		return func(v float64) string { return negZero(trimZeros(strconv.FormatFloat(v*100, 'f', d, 64))) + "%" }
	case Millis:
		if maxAbs >= 1000 {
			d := stepDecimals(step / 1000)
			return func(v float64) string { return grouped(v/1000, d) + " s" }
		}
		d := stepDecimals(step)
		return func(v float64) string { return grouped(v, d) + " ms" }
	case USD:
		if maxAbs >= 1e6 {
			return compactLabel(step, maxAbs, "$")
		}
		// Whole dollars, or cents ($0.10, never $0.1), or as many
		// decimals as tiny steps need ($0.000000002).
		d := stepDecimals(step)
		if d == 1 {
			d = 2
		}
		return func(v float64) string {
			s := string(appendGrouped(nil, v, d, d > 2))
			if v == 0 {
				s = "0"
			}
			if s[0] == '-' {
				return "-$" + s[1:]
			}
			return "$" + s
		}
	}
	if maxAbs >= 1e4 {
		return compactLabel(step, maxAbs, "")
	}
	d := stepDecimals(step)
	return func(v float64) string { return grouped(v, d) }
}

// compactLabel writes ticks in thousands, millions… chosen by the largest
// tick: 250k, 1.5M, 2T.
func compactLabel(step, maxAbs float64, prefix string) func(float64) string {
	suffixes := []string{"", "k", "M", "B", "T"}
	t := min(int(math.Floor(math.Log10(maxAbs)/3)), len(suffixes)-1)
	div := math.Pow(1000, float64(t))
	d := stepDecimals(step / div)
	return func(v float64) string {
		s := string(appendGrouped(nil, v/div, d, true))
		if s == "0" {
			return prefix + s
		}
		if s[0] == '-' {
			return "-" + prefix + s[1:] + suffixes[t]
		}
		return prefix + s + suffixes[t]
	}
}

func ptr[T any](v T) *T { return &v }

// xTick is a time-axis tick: its time, its label and, on the first tick
// and where the day (or month, or year) changes, a second line with the
// date.
type xTick struct {
	t      time.Time
	label  string
	second string
}

// tickStep is a candidate spacing of time ticks: a duration, or months.
type tickStep struct {
	d      time.Duration
	months int
}

var tickSteps = [...]tickStep{
	{d: time.Minute}, {d: 2 * time.Minute}, {d: 5 * time.Minute}, {d: 10 * time.Minute},
	{d: 15 * time.Minute}, {d: 30 * time.Minute}, {d: time.Hour}, {d: 2 * time.Hour},
	{d: 3 * time.Hour}, {d: 6 * time.Hour}, {d: 12 * time.Hour}, {d: 24 * time.Hour},
	{d: 48 * time.Hour}, {d: 7 * 24 * time.Hour},
	{months: 1}, {months: 3}, {months: 6}, {months: 12},
}

// timeTicks places at most maxTicks ticks on [start, end] at round times
// of loc: HH:MM within a day, "Mon 12" across days, "Jan" across months.
func timeTicks(start, end time.Time, loc *time.Location, maxTicks int) []xTick {
	span := end.Sub(start)
	maxTicks = max(maxTicks, 2)
	st := tickSteps[len(tickSteps)-1]
	for _, c := range tickSteps {
		n := float64(span) / float64(c.d)
		if c.months > 0 {
			n = float64(span) / float64(time.Duration(c.months)*730*time.Hour)
		}
		if n <= float64(maxTicks) {
			st = c
			break
		}
	}
	if st.months == 12 {
		if years := float64(span) / float64(8766*time.Hour); years > float64(maxTicks) {
			st.months = 12 * int(math.Ceil(years/float64(maxTicks)))
		}
	}
	var ts []time.Time
	s := start.In(loc)
	switch {
	case st.months > 0:
		m := time.Date(s.Year(), s.Month(), 1, 0, 0, 0, 0, loc)
		for i := 0; !m.After(end) && i < 10000; i++ {
			idx := m.Year()*12 + int(m.Month()) - 1
			if !m.Before(start) && idx%st.months == 0 {
				ts = append(ts, m)
			}
			m = time.Date(m.Year(), m.Month()+1, 1, 0, 0, 0, 0, loc)
		}
	case st.d >= 24*time.Hour:
		days := int(st.d / (24 * time.Hour))
		d := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, loc)
		for i := 0; !d.After(end) && i < 10000; i++ {
			ok := !d.Before(start)
			if days == 7 {
				ok = ok && d.Weekday() == time.Monday
			} else if days > 1 {
				ok = ok && civilDay(d)%int64(days) == 0
			}
			if ok {
				ts = append(ts, d)
			}
			d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
		}
	default:
		mins := int(st.d / time.Minute)
		d := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, loc)
		m := (s.Hour()*60 + s.Minute()) / mins * mins
		for i := 0; i < 100000; i++ {
			t := time.Date(d.Year(), d.Month(), d.Day(), 0, m, 0, 0, loc)
			if t.After(end) {
				break
			}
			// Wall times a DST change skips or repeats can come out of
			// order or twice; keep the ticks strictly increasing.
			if !t.Before(start) && (len(ts) == 0 || t.After(ts[len(ts)-1])) {
				ts = append(ts, t)
			}
			m += mins
			if m >= 24*60 {
				m = 0
				d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
			}
		}
	}
	if len(ts) == 0 {
		ts = []time.Time{start}
	}
	out := make([]xTick, len(ts))
	for i, t := range ts {
		t = t.In(loc)
		var prev time.Time
		if i > 0 {
			prev = ts[i-1].In(loc)
		}
		x := xTick{t: t}
		switch {
		case st.months > 0:
			x.label = t.Format("Jan")
			if i == 0 || t.Year() != prev.Year() {
				x.second = t.Format("2006")
			}
		case st.d >= 24*time.Hour:
			x.label = t.Format("Mon 2")
			if i == 0 {
				x.second = t.Format("Jan 2006")
			} else if t.Month() != prev.Month() || t.Year() != prev.Year() {
				x.second = t.Format("Jan")
			}
		default:
			x.label = t.Format("15:04")
			if i == 0 {
				x.second = t.Format("Mon 2 Jan")
			} else if !sameDay(t, prev) {
				x.second = t.Format("Mon 2")
			}
		}
		out[i] = x
	}
	return out
}

// civilDay numbers the calendar day of t (in its location) from the epoch.
func civilDay(t time.Time) int64 {
	return time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, time.UTC).Unix() / 86400
}

func sameDay(a, b time.Time) bool {
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}
