package cli

import (
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/api"
)

// violationMark follows a metric's figures in a run that violated one of
// its thresholds.
const violationMark = "✗"

func newMonitorQualityCmd(flags *tracesFlags) *cobra.Command {
	var output, since, until string
	cmd := &cobra.Command{
		Use:   "quality NAME",
		Short: "Show a monitor's quality over time, one row per run",
		Long: `Show a monitor's quality over time: one row per succeeded run whose window
ended in the range, oldest first, placed at the end of the window it read. For
each quality metric the row shows the pass rate and the average score, marked
` + violationMark + ` when the run violated one of the metric's thresholds ("no data" when
nothing was judged; the average alone for a metric without thresholds); then
the run's violations as 'monitor runs' counts them.
A footer says how often each metric was violated over the range.

--since and --until take an RFC 3339 time, a date or a duration before now
(7d, 12h); the range is the 30 days before --until (default now) unless
--since says otherwise. At most 1000 runs are shown, the newest. With -o json it
prints the API's answer (GET /api/v1/monitors/{name}/quality).`,
		Example: `  flowwatch monitor quality rag_quality
  flowwatch monitor quality rag_quality --since 7d
  flowwatch monitor quality rag_quality --since 2025-06-01 --until 2025-06-08 -o json`,
		Args: oneName("quality"),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if since != "" {
				q.Set("since", since)
			}
			if until != "" {
				q.Set("until", until)
			}
			name := args[0]
			var series api.QualitySeries
			if done, err := fetch(cmd, flags, output, "monitors/"+url.PathEscape(name)+"/quality", q, "a quality series", &series); done || err != nil {
				return err
			}
			loc := localZone()
			stderr := cmd.ErrOrStderr()
			if len(series.Runs) == 0 {
				fmt.Fprintf(stderr, "monitor %s has no succeeded run whose window ended between %s and %s\n",
					cell(name, 200), formatTime(&series.Since, loc), formatTime(&series.Until, loc))
				return nil
			}
			if series.Truncated {
				fmt.Fprintf(stderr, "note: the range holds more runs than one answer carries; the newest %d are shown (narrow it with --since and --until)\n", len(series.Runs))
			}
			return writeQualityTable(cmd.OutOrStdout(), series, loc)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "start of the range, on the runs' window ends (RFC 3339, date, or duration before now such as 7d); default 30 days before --until")
	cmd.Flags().StringVar(&until, "until", "", "end of the range (same forms as --since); default now")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// writeQualityTable writes one row per run, a column per quality metric,
// and a footer with each metric's violations over the range.
func writeQualityTable(w io.Writer, s api.QualitySeries, loc *time.Location) error {
	metrics := slices.Sorted(maps.Keys(s.Metrics))
	tbl := newTable(w)
	header := []string{"WINDOW END", "RUN"}
	for _, m := range metrics {
		header = append(header, strings.ToUpper(cell(m, 40)))
	}
	tbl.row(append(header, "VIOLATIONS")...)
	for _, r := range s.Runs {
		row := []string{formatTime(&r.WindowEnd, loc), cell(r.RunID, 64)}
		for _, m := range metrics {
			p, ok := r.Metrics[m]
			row = append(row, describePoint(p, ok))
		}
		sum := r.Summary
		tbl.row(append(row, describeViolations(&sum))...)
	}
	if err := tbl.flush(); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s from %s to %s (%s); each metric: pass rate, average score, %s violated\n",
		plural(len(s.Runs), "run"), formatTime(&s.Runs[0].WindowEnd, loc), formatTime(&s.Runs[len(s.Runs)-1].WindowEnd, loc), loc, violationMark)
	for _, m := range metrics {
		q := s.Metrics[m]
		if q.Checks == 0 && q.NoData < q.Metrics {
			fmt.Fprintf(&b, "%s: measured only (no threshold): the average score\n", cell(m, 60))
			continue
		}
		fmt.Fprintf(&b, "%s: violated in %d of %s", cell(m, 60), q.ViolatedMetrics, plural(q.Metrics, "run"))
		if q.NoData > 0 {
			fmt.Fprintf(&b, ", no data in %d", q.NoData)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describePoint writes a metric's figures in one run: "62.5% 3.25 ✗" (pass
// rate, average, violated), the average alone for a metric measured
// without a threshold, "no data", or "-" when the run did not evaluate
// the metric.
func describePoint(p api.QualityPoint, ok bool) string {
	switch {
	case !ok:
		return "-"
	case p.NoData:
		return "no data"
	}
	if p.MinPassRate == nil && p.MinAverage == nil {
		// Measured only: no threshold makes a pass rate worth showing.
		return formatScore(p.AverageScore)
	}
	rate := "-"
	if p.PassRate != nil {
		rate = formatPercent(*p.PassRate)
	}
	out := rate + " " + formatScore(p.AverageScore)
	if p.Violation {
		out += " " + violationMark
	}
	return out
}
