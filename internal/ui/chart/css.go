package chart

// CSS is the stylesheet the charts need; put it in the page's stylesheet
// (it holds no selector outside svg.chart). Colours are the page's CSS
// variables, so its light and dark themes apply: --fg, --muted, --grid,
// --band (a translucent fill), --ok, --bad, --nodata-bg (spans without
// data), --panel (the background behind the chart, for label halos) and
// the series colours --s0 to --s7. Each has a fallback for a page that
// lacks it.
//
// On a narrow screen a chart keeps 560px of width so that its text stays
// readable: give its container overflow-x:auto to scroll it sideways.
//
// The classes: a series' Class (default s0..s7) sets its colour; lines,
// dots, bars and legend swatches paint with it. "breach" marks values on
// the failing side of a threshold and "fail" shades that side; "thr" and
// "thl" are a threshold's line and label; "band" is a shaded interval
// ("band tint" when the band has a class of its own); "hits" holds the
// hover columns; "gap" shades spans without data; "nodata" is the
// message of a chart without data.
const CSS = `svg.chart{display:block;width:100%;height:auto;font-size:11px;font-variant-numeric:tabular-nums;overflow:visible}
svg.chart text{fill:var(--muted,#5c6570)}
svg.chart .legend text,svg.chart .xd text,svg.chart .thl{fill:var(--fg,#1b1f24)}
svg.chart .cap,svg.chart .yl,svg.chart .thl{text-anchor:end}
svg.chart .xl,svg.chart .xd,svg.chart .nodata{text-anchor:middle}
svg.chart .nodata{font-size:13px}
svg.chart .grid{fill:none;stroke:var(--grid,#e9ecef);stroke-width:1}
svg.chart .axis{fill:none;stroke:var(--muted,#5c6570);stroke-width:1}
svg.chart .line{fill:none;stroke:currentColor;stroke-width:1.75;stroke-linejoin:round;stroke-linecap:round}
svg.chart .dot{fill:none;stroke:currentColor;stroke-width:5;stroke-linecap:round}
svg.chart .bar,svg.chart .sw{fill:currentColor;stroke:none}
svg.chart .band{fill:var(--band,rgba(37,87,214,.14));stroke:none}
svg.chart .band.tint{fill:currentColor;fill-opacity:.18}
svg.chart .fail{fill:var(--bad,#c4291c);fill-opacity:.06;stroke:none}
svg.chart .gap{fill:var(--nodata-bg,#eceff2);fill-opacity:.7;stroke:none}
svg.chart .thl{paint-order:stroke;stroke:var(--panel,#fff);stroke-width:3px;stroke-linejoin:round}
svg.chart .thr{fill:none;stroke:var(--fg,#1b1f24);stroke-width:1;stroke-dasharray:5 4;stroke-opacity:.75}
svg.chart .breach{fill:none;stroke:var(--bad,#c4291c);stroke-width:6;stroke-linecap:round}
svg.chart .bar.breach{fill:var(--bad,#c4291c);stroke:none}
svg.chart .hits rect{fill:var(--fg,#1b1f24);fill-opacity:0}
svg.chart .hits rect:hover{fill-opacity:.07}
@media (max-width:640px){svg.chart{min-width:560px}}
svg.chart .s0{color:var(--s0,#2557d6)}
svg.chart .s1{color:var(--s1,#e8590c)}
svg.chart .s2{color:var(--s2,#2f9e44)}
svg.chart .s3{color:var(--s3,#ae3ec9)}
svg.chart .s4{color:var(--s4,#0c8599)}
svg.chart .s5{color:var(--s5,#c2255c)}
svg.chart .s6{color:var(--s6,#5c940d)}
svg.chart .s7{color:var(--s7,#7048e8)}
svg.chart .ok{color:var(--ok,#1a7f37)}
svg.chart .bad{color:var(--bad,#c4291c)}
`
