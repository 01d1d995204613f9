package chart

import (
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the time-zone case must not depend on the machine's zoneinfo

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// monday is 00:00 UTC on Monday 13 October 2025.
var monday = time.Date(2025, 10, 13, 0, 0, 0, 0, time.UTC)

// points makes n buckets of length step from start; f gives each value
// and whether it is valid.
func points(start time.Time, step time.Duration, n int, f func(i int) (float64, bool)) []Point {
	ps := make([]Point, n)
	for i := range ps {
		v, ok := f(i)
		ps[i] = Point{T: start.Add(time.Duration(i) * step), V: v, Valid: ok}
	}
	return ps
}

// wave is a deterministic, irregular signal around base.
func wave(base, amp float64) func(i int) (float64, bool) {
	return func(i int) (float64, bool) {
		x := float64(i)
		return base + amp*(math.Sin(x*0.45)+0.5*math.Sin(x*1.7+1)), true
	}
}

func fp(v float64) *float64 { return &v }

type goldenCase struct {
	name   string
	opts   Options
	series []Series
	bands  []Band
	thr    []Threshold
	check  func(t *testing.T, svg string, doc *node)
}

func goldenCases(t *testing.T) []goldenCase {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	gaps := points(monday, time.Hour, 12, func(i int) (float64, bool) {
		return 100 + 10*float64(i%5), i != 4 && i != 5
	})
	gaps = slices.Delete(gaps, 9, 10) // bucket 9 is absent altogether

	pass := points(monday, 6*time.Hour, 16, func(i int) (float64, bool) {
		return 0.78 + 0.15*math.Sin(float64(i)), i != 7
	})
	low, high := make([]Point, len(pass)), make([]Point, len(pass))
	for i, p := range pass {
		pass[i].N = 20 + i*3
		lo, hi := wilson(p.V, pass[i].N)
		low[i] = Point{T: p.T, V: lo, Valid: p.Valid}
		high[i] = Point{T: p.T, V: hi, Valid: p.Valid}
	}

	return []goldenCase{
		{
			name: "empty",
			opts: Options{Title: "Latency p95", Unit: Millis, Step: time.Hour, Start: monday, End: monday.Add(24 * time.Hour)},
			series: []Series{{Name: "p95", Points: points(monday, time.Hour, 24, func(int) (float64, bool) {
				return 0, false
			})}},
			thr: []Threshold{{Value: 800, Label: "max"}},
			check: func(t *testing.T, svg string, doc *node) {
				if got := doc.find(class("nodata")); len(got) != 1 || got[0].text != "No data in this range" {
					t.Errorf("no-data message: got %v", got)
				}
				for _, c := range []string{"axis", "line", "grid", "thr", "hits"} {
					if n := doc.find(class(c)); len(n) > 0 {
						t.Errorf("a chart without data has a %q element", c)
					}
				}
			},
		},
		{
			name: "no_series",
			opts: Options{Title: "Nothing"},
			check: func(t *testing.T, svg string, doc *node) {
				if len(doc.find(class("nodata"))) != 1 {
					t.Error("no no-data message")
				}
			},
		},
		{
			name:   "one_point",
			opts:   Options{Title: "Requests", Unit: Count},
			series: []Series{{Name: "requests", Points: []Point{{T: monday.Add(9 * time.Hour), V: 42, Valid: true, N: 42}}}},
			check: func(t *testing.T, svg string, doc *node) {
				if n := doc.find(class("line")); len(n) != 1 || n[0].name != "path" || n[0].attr["d"] != "M8 9h14" {
					t.Errorf("want only the legend's line swatch, got %v", n)
				}
				dots := doc.find(class("dot"))
				if len(dots) != 1 || strings.Count(dots[0].attr["d"], "h0") != 1 {
					t.Errorf("want one dot, got %v", dots)
				}
				if ro := readouts(doc); len(ro) != 1 || !strings.Contains(ro[0], "requests: 42 (n=42)") {
					t.Errorf("read-outs: %q", ro)
				}
			},
		},
		{
			name:   "gaps",
			opts:   Options{Title: "Latency", Unit: Millis, Step: time.Hour},
			series: []Series{{Name: "p50", Points: gaps}},
			check: func(t *testing.T, svg string, doc *node) {
				line := seriesPath(t, doc, "line", "s0")
				// Buckets 0-3, 6-8 and 10-11: three runs, never joined.
				if got := strings.Count(line, "M"); got != 3 {
					t.Errorf("line has %d runs, want 3: %s", got, line)
				}
				ro := readouts(doc)
				if len(ro) != 11 {
					t.Fatalf("%d read-outs, want one per bucket present (11)", len(ro))
				}
				if !strings.Contains(ro[4], "p50: no data") || strings.Contains(ro[4], "0 ms") {
					t.Errorf("an invalid bucket must read 'no data': %q", ro[4])
				}
				// Buckets 4-5 and 9 are shaded as without data.
				if got := strings.Count(seriesPath(t, doc, "gap", ""), "Z"); got != 2 {
					t.Errorf("%d shaded gaps, want 2", got)
				}
				if l := labels(doc, "legend"); !slices.Contains(l, "no data") {
					t.Errorf("legend %q lacks the no-data entry", l)
				}
			},
		},
		{
			// A monitor's runs at irregular times, one without data: the
			// valid ones are joined, nothing is shaded as missing, and no
			// step is claimed.
			name: "events",
			opts: Options{Title: "Pass rate per run", Unit: Ratio, Events: true, Step: time.Minute,
				Start: monday, End: monday.Add(6 * time.Hour)},
			series: []Series{{Name: "pass rate", Points: []Point{
				{T: monday.Add(10 * time.Minute), V: 0.9, Valid: true, N: 40},
				{T: monday.Add(70 * time.Minute), V: 0.7, Valid: true, N: 38},
				{T: monday.Add(75 * time.Minute), Valid: false},
				{T: monday.Add(4 * time.Hour), V: 0.85, Valid: true, N: 41},
			}}},
			thr: []Threshold{{Value: 0.8, Label: "min", FailBelow: true}},
			check: func(t *testing.T, svg string, doc *node) {
				line := seriesPath(t, doc, "line", "s0")
				// The first two runs are joined an hour apart; the run
				// without data breaks the line, and the last run, alone,
				// is a dot.
				if got := strings.Count(line, "M"); got != 1 || !strings.Contains(line, "l") {
					t.Errorf("line %q: want the first two runs joined by one segment", line)
				}
				if strings.Contains(svg, `class="gap"`) || strings.Contains(svg, "step ") {
					t.Error("an events chart shades no gap and claims no step")
				}
			},
		},
		{
			name: "threshold_breach",
			opts: Options{Title: "Latency p95", Unit: Millis, Step: 15 * time.Minute},
			series: []Series{{Name: "p95", Points: points(monday.Add(8*time.Hour), 15*time.Minute, 24, func(i int) (float64, bool) {
				return 600 + 350*math.Sin(float64(i)*0.6), true
			})}},
			thr: []Threshold{{Value: 800, Label: "max p95"}},
			check: func(t *testing.T, svg string, doc *node) {
				want := 0
				for i := range 24 {
					if 600+350*math.Sin(float64(i)*0.6) > 800 {
						want++
					}
				}
				b := seriesPath(t, doc, "breach", "")
				if got := strings.Count(b, "h0"); got != want || want == 0 {
					t.Errorf("%d breach marks, want %d", got, want)
				}
				if got := strings.Count(strings.Join(readouts(doc), "\n"), "– breach"); got != want {
					t.Errorf("%d read-outs say breach, want %d", got, want)
				}
				if l := doc.find(class("thl")); len(l) != 1 || l[0].text != "max p95 800 ms" {
					t.Errorf("threshold label: %v", l)
				}
				// FailBelow is false: the shaded side is above the line.
				fail := doc.find(class("fail"))
				thr := doc.find(class("thr"))
				if len(fail) != 1 || len(thr) != 1 {
					t.Fatalf("want one fail zone and one threshold line")
				}
				// The zone runs from the plot's top (where the y axis starts)
				// down to the threshold line.
				var top, thrY, y, h float64
				fmt.Sscanf(doc.find(class("axis"))[0].attr["d"], "M%f %f", new(float64), &top)
				fmt.Sscanf(thr[0].attr["d"], "M%f %f", new(float64), &thrY)
				fmt.Sscan(fail[0].attr["y"], &y)
				fmt.Sscan(fail[0].attr["height"], &h)
				if y != top || math.Abs(y+h-thrY) > 0.11 {
					t.Errorf("fail zone %v+%v, want from %v to %v", y, h, top, thrY)
				}
			},
		},
		{
			name:   "wilson_band",
			opts:   Options{Title: "Pass rate: faithfulness", Unit: Ratio, Step: 6 * time.Hour},
			series: []Series{{Name: "pass rate", Points: pass}},
			bands:  []Band{{Name: "95% interval", Low: low, High: high}},
			thr:    []Threshold{{Value: 0.8, Label: "min", FailBelow: true}},
			check: func(t *testing.T, svg string, doc *node) {
				band := seriesPath(t, doc, "band", "")
				if got := strings.Count(band, "Z"); got != 2 { // bucket 7 splits it
					t.Errorf("band has %d shapes, want 2: %s", got, band)
				}
				ro := readouts(doc)
				if !strings.Contains(ro[0], "pass rate: 78.0% (n=20) – breach") || !strings.Contains(ro[0], "95% interval: ") {
					t.Errorf("read-out 0: %q", ro[0])
				}
				if got := yLabels(doc); !slices.Equal(got, []string{"0%", "20%", "40%", "60%", "80%", "100%"}) {
					t.Errorf("ratio axis: %q", got)
				}
			},
		},
		{
			name: "huge_values",
			opts: Options{Title: "Tokens", Unit: Tokens, Step: time.Hour},
			series: []Series{{Name: "total", Points: points(monday, time.Hour, 6, func(i int) (float64, bool) {
				return float64(i+1) * 2e11, true
			})}},
			check: func(t *testing.T, svg string, doc *node) {
				if got := yLabels(doc); !slices.Equal(got, []string{"0", "0.5T", "1T"}) && !slices.Equal(got, []string{"0", "0.2T", "0.4T", "0.6T", "0.8T", "1T", "1.2T"}) {
					t.Errorf("y labels: %q", got)
				}
				if ro := readouts(doc); !strings.Contains(ro[5], "total: 1.2T tokens") {
					t.Errorf("read-out: %q", ro[5])
				}
			},
		},
		{
			name: "tiny_usd",
			opts: Options{Title: "Cost", Unit: USD, Step: time.Hour},
			series: []Series{{Name: "cost", Points: points(monday, time.Hour, 6, func(i int) (float64, bool) {
				return float64(i) * 1e-9, true
			})}},
			check: func(t *testing.T, svg string, doc *node) {
				labels := yLabels(doc)
				if labels[0] != "$0" && labels[0] != "$0.0000000000" {
					t.Errorf("first y label %q", labels[0])
				}
				if last := labels[len(labels)-1]; last != "$0.000000005" && last != "$0.000000006" {
					t.Errorf("last y label %q", last)
				}
				if ro := readouts(doc); !strings.Contains(ro[1], "cost: $0.000000001") || !strings.Contains(ro[0], "cost: $0\n") && !strings.HasSuffix(ro[0], "cost: $0") {
					t.Errorf("read-outs: %q", ro[:2])
				}
			},
		},
		{
			name: "count_axis_zero",
			opts: Options{Title: "Requests", Unit: Count, Step: 5 * time.Minute},
			series: []Series{{Name: "requests", Points: points(monday.Add(14*time.Hour), 5*time.Minute, 36, func(i int) (float64, bool) {
				return float64(1200 + (i*37)%300), true
			})}},
			check: func(t *testing.T, svg string, doc *node) {
				got := yLabels(doc)
				if got[0] != "0" {
					t.Errorf("a count axis starts at 0, got %q", got)
				}
				for _, l := range got {
					if strings.HasPrefix(l, "-") {
						t.Errorf("negative label %q", l)
					}
				}
			},
		},
		{
			name:   "many_series",
			opts:   Options{Title: "Latency by deployment", Unit: Millis, Step: time.Hour},
			series: manySeries(10, 24),
			check: func(t *testing.T, svg string, doc *node) {
				var classes []string
				for _, n := range doc.find(func(n *node) bool { return n.name == "path" && hasClass(n, "line") && !hasClass(n.parent, "legend") }) {
					classes = append(classes, n.attr["class"])
				}
				want := []string{"line s0", "line s1", "line s2", "line s3", "line s4", "line s5", "line s6", "line s7", "line s0", "line s1"}
				if diff := cmp.Diff(want, classes); diff != "" {
					t.Errorf("series classes (-want +got):\n%s", diff)
				}
				legend := doc.find(class("legend"))[0].find(func(n *node) bool { return n.name == "text" })
				if len(legend) != 10 {
					t.Errorf("%d legend entries, want 10", len(legend))
				}
			},
		},
		{
			name: "stacked_bars",
			opts: Options{Title: "Tokens by model", Kind: StackedBars, Unit: Tokens, Step: 6 * time.Hour},
			series: []Series{
				{Name: "gpt-4o prompt", Points: points(monday, 6*time.Hour, 8, func(i int) (float64, bool) { return 12000 + float64(i)*900, true })},
				{Name: "gpt-4o completion", Points: points(monday, 6*time.Hour, 8, func(i int) (float64, bool) { return 3000 + float64(i)*200, i != 2 })},
				{Name: "claude prompt", Points: points(monday, 6*time.Hour, 8, func(i int) (float64, bool) { return 8000, i >= 4 })},
			},
			check: func(t *testing.T, svg string, doc *node) {
				for i, want := range []int{8, 7, 4} {
					d := seriesPath(t, doc, "bar", fmt.Sprintf("s%d", i))
					if got := strings.Count(d, "Z"); got != want {
						t.Errorf("series %d: %d bars, want %d (only valid values stack)", i, got, want)
					}
				}
				ro := readouts(doc)
				if !strings.Contains(ro[2], "gpt-4o completion: no data") || !strings.Contains(ro[2], "total: 13.8k tokens") {
					t.Errorf("read-out of bucket 2: %q", ro[2])
				}
			},
		},
		{
			name: "bars_breach",
			opts: Options{Title: "Violations", Kind: Bars, Unit: Count, Step: 24 * time.Hour},
			series: []Series{{Name: "violations", Points: points(monday, 24*time.Hour, 7, func(i int) (float64, bool) {
				return float64((i * 7) % 12), i != 3
			})}},
			thr: []Threshold{{Value: 8, Label: "max"}},
			check: func(t *testing.T, svg string, doc *node) {
				// Values 0 7 2 9 4 11 6; 9 is not valid, so only 11 breaches.
				if got := strings.Count(seriesPath(t, doc, "breach", ""), "Z"); got != 1 {
					t.Errorf("%d breaching bars, want 1", got)
				}
				// The zero of bucket 0 is data; bucket 3 is a shaded gap.
				if got := strings.Count(seriesPath(t, doc, "gap", ""), "Z"); got != 1 {
					t.Errorf("%d shaded gaps, want 1", got)
				}
			},
		},
		{
			name: "escaping",
			opts: Options{
				Title: `"Quotes" & <b>bold</b>`, Desc: "</desc><script>alert(2)</script>",
				Unit: Count, Step: time.Hour,
			},
			series: []Series{{Name: "<script>alert(1)</script>", Class: `s1" onload="alert(3)`, Points: points(monday, time.Hour, 3, wave(10, 2))}},
			thr:    []Threshold{{Value: 11, Label: "<img src=x onerror=alert(4)>"}},
			check: func(t *testing.T, svg string, doc *node) {
				for _, bad := range []string{"<script", "<b>", "<img", `" onload`} {
					if strings.Contains(svg, bad) {
						t.Errorf("output holds unescaped %q", bad)
					}
				}
				if got := doc.kids[0]; got.name != "title" || got.text != `"Quotes" & <b>bold</b>` {
					t.Errorf("title round trip: %q", got.text)
				}
				if ro := readouts(doc); !strings.Contains(ro[0], "<script>alert(1)</script>: ") {
					t.Errorf("name round trip: %q", ro[0])
				}
				if n := doc.find(func(n *node) bool { _, ok := n.attr["onload"]; return ok }); len(n) > 0 {
					t.Errorf("an attribute was injected: %v", n[0].attr)
				}
				// The bad class words are dropped and the default applies.
				if d := seriesPath(t, doc, "line", "s0"); d == "" {
					t.Error("no line of the default class")
				}
			},
		},
		{
			name: "score_fixed_range",
			opts: Options{Title: "Average score", Unit: Score, YMin: fp(1), YMax: fp(5), Step: time.Hour},
			series: []Series{{Name: "relevance", Points: points(monday, time.Hour, 12, func(i int) (float64, bool) {
				return 3.6 + 0.4*math.Sin(float64(i)), true
			})}},
			thr: []Threshold{{Value: 3.5, Label: "min", FailBelow: true}},
			check: func(t *testing.T, svg string, doc *node) {
				if got := yLabels(doc); !slices.Equal(got, []string{"1", "2", "3", "4", "5"}) {
					t.Errorf("score axis: %q", got)
				}
			},
		},
		{
			name: "across_days",
			opts: Options{Title: "Requests", Unit: Count, Step: time.Hour, Start: monday, End: monday.Add(7 * 24 * time.Hour)},
			series: []Series{{Name: "requests", Points: points(monday, time.Hour, 7*24, func(i int) (float64, bool) {
				return float64(500 + (i*131)%400), true
			})}},
			check: func(t *testing.T, svg string, doc *node) {
				xl, xd := xLabels(doc, "xl"), xLabels(doc, "xd")
				if len(xl) < 3 || xl[0] != "Mon 13" || xl[1] != "Tue 14" {
					t.Errorf("day ticks: %q", xl)
				}
				if len(xd) == 0 || xd[0] != "Oct 2025" {
					t.Errorf("the first tick carries the date: %q", xd)
				}
			},
		},
		{
			name: "within_day",
			opts: Options{Title: "Requests", Unit: Count, Step: 15 * time.Minute, Start: monday.Add(-6 * time.Hour), End: monday.Add(18 * time.Hour)},
			series: []Series{{Name: "requests", Points: points(monday.Add(-6*time.Hour), 15*time.Minute, 96, func(i int) (float64, bool) {
				return float64(20 + (i*17)%40), true
			})}},
			check: func(t *testing.T, svg string, doc *node) {
				xl, xd := xLabels(doc, "xl"), xLabels(doc, "xd")
				for _, l := range xl {
					if len(l) != 5 || l[2] != ':' {
						t.Errorf("tick %q is not HH:MM", l)
					}
				}
				if xl[0] != "18:00" {
					t.Errorf("first tick %q", xl[0])
				}
				// The first tick carries the date, and midnight the new day.
				if !slices.Equal(xd, []string{"Sun 12 Oct", "Mon 13"}) {
					t.Errorf("date line: %q", xd)
				}
			},
		},
		{
			name: "time_zone",
			// 24 hours across the end of daylight saving time in New York
			// (02:00 EDT on 2 November 2025 becomes 01:00 EST).
			opts: Options{Title: "Requests", Unit: Count, Step: time.Hour, Loc: newYork},
			series: []Series{{Name: "requests", Points: points(time.Date(2025, 11, 1, 16, 0, 0, 0, time.UTC), time.Hour, 24, func(i int) (float64, bool) {
				return float64(10 + i), true
			})}},
			check: func(t *testing.T, svg string, doc *node) {
				if got := doc.find(class("cap"))[0].text; got != "step 1h · America/New_York, UTC-4 → UTC-5" {
					t.Errorf("caption %q", got)
				}
				xl := xLabels(doc, "xl")
				if xl[0] != "12:00" {
					t.Errorf("first tick %q, want 12:00 (16:00 UTC in EDT)", xl[0])
				}
				ro := readouts(doc)
				if !strings.HasPrefix(ro[0], "Sat 1 Nov 12:00–13:00") {
					t.Errorf("first read-out %q", ro[0])
				}
				// 05:00 and 06:00 UTC on 2 November are 01:00 EDT and 01:00 EST.
				if !strings.HasPrefix(ro[13], "Sun 2 Nov 01:00–01:00") || !strings.HasPrefix(ro[14], "Sun 2 Nov 01:00–02:00") {
					t.Errorf("read-outs across the change: %q, %q", ro[13], ro[14])
				}
			},
		},
	}
}

// wilson is the 95% Wilson score interval of a proportion p over n.
func wilson(p float64, n int) (lo, hi float64) {
	const z = 1.959964
	nf := float64(n)
	d := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / d
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / d
	return c - h, c + h
}

func manySeries(ns, np int) []Series {
	out := make([]Series, ns)
	for s := range out {
		out[s] = Series{
			Name:   fmt.Sprintf("deployment-%02d", s),
			Points: points(monday, time.Hour, np, wave(100*float64(s+1), 15+float64(s))),
		}
	}
	return out
}

func TestRender(t *testing.T) {
	var preview strings.Builder
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			svg := string(Render(tc.opts, tc.series, tc.bands, tc.thr))
			doc := parseSVG(t, svg)
			if again := string(Render(tc.opts, tc.series, tc.bands, tc.thr)); again != svg {
				t.Error("two renders of the same chart differ")
			}
			checkAccessible(t, doc)
			if tc.check != nil {
				tc.check(t, svg, doc)
			}
			golden(t, filepath.Join("testdata", tc.name+".svg"), svg)
			fmt.Fprintf(&preview, "<section><h3>%s</h3>\n%s\n</section>\n", tc.name, svg)
		})
	}
	if *update {
		page := "<!doctype html><meta charset=utf-8><title>chart goldens</title>\n<style>" + previewTheme + CSS +
			"</style>\n<!-- generated by go test -update; open in a browser to look at the goldens -->\n" + preview.String()
		if err := os.WriteFile(filepath.Join("testdata", "preview.html"), []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// previewTheme mirrors the dashboard's theme variables for preview.html.
const previewTheme = `:root{--fg:#1b1f24;--muted:#5c6570;--grid:#e9ecef;--ok:#1a7f37;--bad:#c4291c;--band:rgba(37,87,214,.14);
--s0:#2557d6;--s1:#e8590c;--s2:#2f9e44;--s3:#ae3ec9;--s4:#0c8599;--s5:#c2255c;--s6:#5c940d;--s7:#7048e8;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ed;--muted:#9aa4ae;--grid:#232930;--ok:#4cc26a;--bad:#ff7b6b;--band:rgba(122,162,255,.18);
--s0:#7aa2ff;--s1:#ff922b;--s2:#69db7c;--s3:#da77f2;--s4:#3bc9db;--s5:#f783ac;--s6:#a9e34b;--s7:#9775fa}body{background:#171b21;color:#e6e9ed}}
body{font-family:system-ui,sans-serif;max-width:980px;margin:1rem auto;padding:0 1rem}section{margin-bottom:1.5rem}
`

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// checkAccessible checks what every chart has: role, name, title and
// description first, a viewBox to scale by.
func checkAccessible(t *testing.T, doc *node) {
	t.Helper()
	if doc.name != "svg" || doc.attr["role"] != "img" || doc.attr["aria-label"] == "" || doc.attr["viewBox"] == "" {
		t.Errorf("root: %s %v", doc.name, doc.attr)
	}
	if len(doc.kids) < 2 || doc.kids[0].name != "title" || doc.kids[1].name != "desc" || doc.kids[1].text == "" {
		t.Error("the chart must start with <title> and <desc>")
	}
	if doc.kids[0].text != doc.attr["aria-label"] {
		t.Errorf("aria-label %q and title %q differ", doc.attr["aria-label"], doc.kids[0].text)
	}
	for _, n := range doc.find(func(n *node) bool { _, ok := n.attr["style"]; return ok }) {
		t.Errorf("inline style on <%s>", n.name)
	}
}

func TestDenseChart(t *testing.T) {
	// 30 days of hourly buckets, 8 series: the largest chart a page draws.
	series := manySeries(8, 720)
	for s := range series {
		for i := range series[s].Points {
			series[s].Points[i].N = 10 + i%7
			series[s].Points[i].Valid = (i+s)%97 != 5
		}
	}
	svg := string(Render(Options{Title: "Latency", Unit: Millis, Step: time.Hour}, series, nil, []Threshold{{Value: 800}}))
	doc := parseSVG(t, svg)
	if len(svg) > 80<<10 {
		t.Errorf("a 8×720 chart is %d bytes, more than 80 KiB", len(svg))
	}
	ro := readouts(doc)
	if len(ro) < 20 || len(ro) > 720 {
		t.Errorf("%d hover targets", len(ro))
	}
	if len(ro) < 720 && !strings.Contains(ro[0], " buckets)") {
		t.Errorf("a grouped read-out must say it covers several buckets: %q", ro[0])
	}
	// Every bucket is covered by exactly one target, in order.
	var prev float64 = -1
	for _, r := range doc.find(func(n *node) bool { return n.name == "rect" && n.parent != nil && hasClass(n.parent, "hits") }) {
		var x float64
		fmt.Sscan(r.attr["x"], &x)
		if x <= prev {
			t.Fatalf("hover targets out of order at x=%v", x)
		}
		prev = x
	}
}

// FuzzRender checks that any name, class, title and value gives
// well-formed SVG whose text round-trips through an XML parser.
func FuzzRender(f *testing.F) {
	f.Add("<script>alert(1)</script>", `s0"`, "title & co", 1.5, 2.5, true)
	f.Add("\x00\xff\ufffe", "", "\n", math.NaN(), math.Inf(1), false)
	f.Add("é – ok", "bad", "", -1e300, 1e-300, true)
	f.Fuzz(func(t *testing.T, name, class, title string, a, b float64, bars bool) {
		o := Options{Title: title, Desc: name, Step: time.Minute, Unit: Unit(len(name) % 6)}
		if bars {
			o.Kind = StackedBars
		}
		s := []Series{{Name: name, Class: class, Points: []Point{
			{T: monday, V: a, Valid: true, N: 3}, {T: monday.Add(time.Minute), V: b, Valid: true},
			{T: monday.Add(3 * time.Minute), V: a, Valid: true},
		}}}
		band := []Band{{Name: name, Low: s[0].Points, High: s[0].Points}}
		svg := string(Render(o, s, band, []Threshold{{Value: b, Label: name}}))
		parseSVG(t, svg)
	})
}

// node is a parsed XML element.
type node struct {
	name   string
	attr   map[string]string
	text   string // its own character data
	kids   []*node
	parent *node
}

// parseSVG parses the output strictly as XML (it must be well-formed) into
// a tree.
func parseSVG(t testing.TB, s string) *node {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	var root *node
	var stack []*node
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attr: map[string]string{}}
			for _, a := range tok.Attr {
				n.attr[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				n.parent = stack[len(stack)-1]
				n.parent.kids = append(n.parent.kids, n)
			} else if root != nil {
				t.Fatal("more than one root element")
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			} else if strings.TrimSpace(string(tok)) != "" {
				t.Fatalf("text outside the root: %q", tok)
			}
		}
	}
	if root == nil {
		t.Fatal("no element")
	}
	return root
}

// find returns the elements under n (n included) that match, in order.
func (n *node) find(match func(*node) bool) []*node {
	var out []*node
	if match(n) {
		out = append(out, n)
	}
	for _, k := range n.kids {
		out = append(out, k.find(match)...)
	}
	return out
}

func hasClass(n *node, c string) bool { return slices.Contains(strings.Fields(n.attr["class"]), c) }

func class(c string) func(*node) bool { return func(n *node) bool { return hasClass(n, c) } }

// seriesPath is the d of the only path with both classes (c2 optional).
func seriesPath(t *testing.T, doc *node, c1, c2 string) string {
	t.Helper()
	ps := doc.find(func(n *node) bool {
		return n.name == "path" && hasClass(n, c1) && (c2 == "" || hasClass(n, c2)) && !hasClass(n.parent, "legend") && n.parent.name != "g"
	})
	if len(ps) != 1 {
		t.Fatalf("%d paths of class %q %q, want 1", len(ps), c1, c2)
	}
	return ps[0].attr["d"]
}

// readouts are the hover texts, in order.
func readouts(doc *node) []string {
	var out []string
	for _, h := range doc.find(class("hits")) {
		for _, r := range h.kids {
			out = append(out, r.kids[0].text)
		}
	}
	return out
}

func yLabels(doc *node) []string { return labels(doc, "yl") }

func xLabels(doc *node, c string) []string { return labels(doc, c) }

// labels are the texts of the <text> elements under the elements of
// class c, in order.
func labels(doc *node, c string) []string {
	var out []string
	for _, g := range doc.find(class(c)) {
		for _, k := range g.find(func(n *node) bool { return n.name == "text" }) {
			out = append(out, k.text)
		}
	}
	return out
}

func BenchmarkRender(b *testing.B) {
	series := manySeries(8, 720)
	thr := []Threshold{{Value: 800, Label: "max"}}
	o := Options{Title: "Latency", Unit: Millis, Step: time.Hour}
	var size int
	for b.Loop() {
		size = len(Render(o, series, nil, thr))
	}
	b.ReportMetric(float64(size), "bytes/chart")
}

func BenchmarkRenderStacked(b *testing.B) {
	series := manySeries(8, 120)
	o := Options{Title: "Tokens", Kind: StackedBars, Unit: Tokens, Step: 6 * time.Hour}
	var size int
	for b.Loop() {
		size = len(Render(o, series, nil, nil))
	}
	b.ReportMetric(float64(size), "bytes/chart")
}

func TestLegendOverflow(t *testing.T) {
	series := manySeries(40, 6)
	for i := range series {
		series[i].Name = fmt.Sprintf("a rather long deployment name number %02d", i)
	}
	svg := string(Render(Options{Title: "Many", Height: 160, Step: time.Hour}, series, nil, nil))
	doc := parseSVG(t, svg)
	legend := labels(doc, "legend")
	last := legend[len(legend)-1]
	var more int
	if _, err := fmt.Sscanf(last, "+%d more", &more); err != nil {
		t.Fatalf("last legend entry %q is not a count of the rest", last)
	}
	if shown := len(legend) - 1; shown+more != 40 {
		t.Errorf("%d shown and %d more, want 40 in all", shown, more)
	}
	// The plot keeps most of the height.
	var top, bottom float64
	fmt.Sscanf(doc.find(class("axis"))[0].attr["d"], "M%f %fV%f", new(float64), &top, &bottom)
	if bottom-top < 60 {
		t.Errorf("plot is %v units high", bottom-top)
	}
}
