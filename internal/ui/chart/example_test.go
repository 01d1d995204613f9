package chart_test

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/ui/chart"
)

// A monitor page's pass-rate panel: the rate per run window with its 95%
// Wilson interval and the monitor's threshold. A window without judged
// items is a gap, not a zero.
func ExampleRender() {
	start := time.Date(2025, 10, 13, 0, 0, 0, 0, time.UTC)
	runs := []struct{ passed, n int }{{45, 50}, {41, 50}, {0, 0}, {33, 48}}

	var rate, low, high []chart.Point
	for i, r := range runs {
		t := start.Add(time.Duration(i) * 6 * time.Hour)
		if r.n == 0 {
			rate = append(rate, chart.Point{T: t}) // no data: Valid is false
			low, high = append(low, chart.Point{T: t}), append(high, chart.Point{T: t})
			continue
		}
		p := float64(r.passed) / float64(r.n)
		lo, hi := wilson(r.passed, r.n)
		rate = append(rate, chart.Point{T: t, V: p, Valid: true, N: r.n})
		low = append(low, chart.Point{T: t, V: lo, Valid: true})
		high = append(high, chart.Point{T: t, V: hi, Valid: true})
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.UTC
	}
	svg := chart.Render(
		chart.Options{
			Title: "Pass rate: faithfulness", Unit: chart.Ratio, Step: 6 * time.Hour,
			Start: start, End: start.Add(24 * time.Hour), Loc: paris,
		},
		[]chart.Series{{Name: "pass rate", Points: rate}},
		[]chart.Band{{Name: "95% interval", Low: low, High: high}},
		[]chart.Threshold{{Value: 0.8, Label: "min", FailBelow: true}},
	)

	// Render returns template.HTML: the template puts it in as it is.
	page := template.Must(template.New("panel").Parse(
		`<div class="chartbox"><h3>{{.Title}}</h3>{{.Chart}}</div>`))
	var out strings.Builder
	if err := page.Execute(&out, struct {
		Title string
		Chart template.HTML
	}{"Pass rate", svg}); err != nil {
		fmt.Println(err)
	}
	fmt.Println(strings.HasPrefix(out.String(), `<div class="chartbox"><h3>Pass rate</h3><svg xmlns=`))
	fmt.Println(chart.FormatRatio(41.0/50), chart.FormatUSD(0.000123), chart.FormatTokens(1234567))
	// Output:
	// true
	// 82.0% $0.000123 1.23M
}

// wilson is the 95% Wilson score interval of passed out of n.
func wilson(passed, n int) (lo, hi float64) {
	const z = 1.959964
	p, nf := float64(passed)/float64(n), float64(n)
	d := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / d
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / d
	return c - h, c + h
}
