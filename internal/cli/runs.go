package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/api"
)

// pollInterval is how often 'monitor run --wait' asks how the run is.
const pollInterval = time.Second

// maxResultRuns is how many of a monitor's latest runs 'monitor results'
// looks through for one with results.
const maxResultRuns = 100

func newMonitorRunsCmd(flags *tracesFlags) *cobra.Command {
	var (
		output string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "runs NAME",
		Short: "List a monitor's runs, newest first",
		Long: `List a monitor's runs, newest first: scheduled and manual, pending, running,
succeeded or failed. VIOLATIONS counts the quality thresholds violated out of
those checked (a metric below both its pass rate and its average counts twice),
plus the operational signals violated ("op"), and "degraded" when the judge
failed for some instances. The runs of a deleted monitor can still be listed.`,
		Example: `  flowwatch monitor runs rag_quality
  flowwatch monitor runs rag_quality --limit 5 -o json`,
		Args: oneName("runs"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if limit < 1 || limit > maxResultRuns {
				return usageError{fmt.Errorf("invalid --limit %d: must be from 1 to %d", limit, maxResultRuns)}
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			body, err := c.get(cmd.Context(), "monitors/"+url.PathEscape(args[0])+"/runs", url.Values{"limit": {strconv.Itoa(limit)}})
			if err != nil {
				return err
			}
			if output == "json" {
				return writeIndented(cmd.OutOrStdout(), body)
			}
			var list api.RunList
			if err := c.decode(body, "a run list", &list); err != nil {
				return err
			}
			if len(list.Runs) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "monitor %s has no runs yet; start one with 'flowwatch monitor run %s'\n", cell(args[0], 200), cell(args[0], 200))
				return nil
			}
			return writeRunTable(cmd.OutOrStdout(), list.Runs, localZone())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().IntVar(&limit, "limit", 20, fmt.Sprintf("how many runs at most (1 to %d)", maxResultRuns))
	return cmd
}

// writeRunTable writes one row per run.
func writeRunTable(w io.Writer, runs []api.Run, loc *time.Location) error {
	tbl := newTable(w)
	tbl.row("RUN", "STATUS", "TRIGGER", "WINDOW", "SAMPLED", "VIOLATIONS", "FINISHED")
	for _, r := range runs {
		sampled := "-"
		if r.Sampled != nil {
			sampled = strconv.Itoa(*r.Sampled)
		}
		violations := describeViolations(r.Summary)
		if r.Degraded {
			violations += " degraded"
		}
		tbl.row(cell(r.ID, 64), cell(r.Status, 20), cell(r.Trigger, 20), describeWindow(r, loc), sampled,
			violations, formatTime(r.FinishedAt, loc))
	}
	return tbl.flush()
}

// describeWindow writes a run's window as "START – END" in loc.
func describeWindow(r api.Run, loc *time.Location) string {
	return formatTime(r.WindowStart, loc) + " – " + formatTime(r.WindowEnd, loc)
}

func formatTime(t *api.Timestamp, loc *time.Location) string {
	if t == nil {
		return "-"
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

// describeViolations writes a run's violations: "2/6" (quality thresholds
// violated / checked), "+1 op" for operational signals, "-" without a
// result.
func describeViolations(s *api.RunSummary) string {
	if s == nil {
		return "-"
	}
	out := fmt.Sprintf("%d/%d", s.Violations, s.Checks)
	if s.OperationalViolations > 0 {
		out += fmt.Sprintf(" +%d op", s.OperationalViolations)
	}
	return out
}

func newMonitorResultsCmd(flags *tracesFlags) *cobra.Command {
	var output, runID string
	cmd := &cobra.Command{
		Use:   "results NAME",
		Short: "Show the results of a monitor's latest run (or of one run)",
		Long: `Show what a monitor's latest run with results found (or, with --run, what that
run found): per quality metric the instances judged, not evaluable and in
error, the average score, the pass rate with its 95% confidence interval, the
thresholds and which were violated; then the operational signals. A degraded
run (the judge failed for some or all instances) shows a DEGRADED line with the
count and the first error, and a run that called its judge the tokens and cost
of the judge's replies; checks of metrics that judged nothing are counted as
not made, never as violated. With -o json it prints the run as the API gives it
(GET /api/v1/runs/{id}).`,
		Example: `  flowwatch monitor results rag_quality
  flowwatch monitor results rag_quality --run 0184c2f6a3b1e5d07f3a9c2b1d4e5f60
  flowwatch monitor results rag_quality -o json`,
		Args: oneName("results"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			name := args[0]
			var body []byte
			if runID != "" {
				body, err = c.get(cmd.Context(), "runs/"+url.PathEscape(runID), nil)
			} else {
				body, err = latestResults(cmd.Context(), c, name, cmd.ErrOrStderr())
			}
			if err != nil {
				return err
			}
			var run api.Run
			if err := c.decode(body, "a run", &run); err != nil {
				return err
			}
			if run.Monitor != name {
				return usageError{fmt.Errorf("run %s is a run of monitor %s, not of %s", cell(run.ID, 64), cell(run.Monitor, 200), cell(name, 200))}
			}
			if output == "json" {
				return writeIndented(cmd.OutOrStdout(), body)
			}
			return writeResults(cmd.OutOrStdout(), run, localZone())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().StringVar(&runID, "run", "", "the id of the run to show (see 'monitor runs'); default the latest with results")
	return cmd
}

// latestResults returns the latest run of a monitor that has results, as
// the API wrote it, noting on w when a newer run failed.
func latestResults(ctx context.Context, c *apiClient, name string, w io.Writer) ([]byte, error) {
	body, err := c.get(ctx, "monitors/"+url.PathEscape(name)+"/runs", url.Values{"limit": {strconv.Itoa(maxResultRuns)}})
	if err != nil {
		return nil, err
	}
	var list struct {
		Runs []json.RawMessage `json:"runs"`
	}
	if err := c.decode(body, "a run list", &list); err != nil {
		return nil, err
	}
	noted := false
	for _, raw := range list.Runs {
		var r api.Run
		if err := c.decode(raw, "a run", &r); err != nil {
			return nil, err
		}
		if r.Summary != nil {
			return raw, nil
		}
		if r.Status == "failed" && !noted {
			fmt.Fprintf(w, "note: a later run, %s, failed: %s\n", cell(r.ID, 64), cell(r.Error, 300))
			noted = true
		}
	}
	if len(list.Runs) == 0 {
		return nil, exitError{code: ExitNotFound, err: fmt.Errorf("monitor %s has no runs yet; start one with 'flowwatch monitor run %s'", cell(name, 200), cell(name, 200))}
	}
	return nil, exitError{code: ExitNotFound, err: fmt.Errorf("monitor %s has no run with results among its latest %s (see 'flowwatch monitor runs %s')", cell(name, 200), plural(len(list.Runs), "run"), cell(name, 200))}
}

// writeResults writes what a run found: a header, the quality metrics,
// the operational signals and a summary.
func writeResults(w io.Writer, r api.Run, loc *time.Location) error {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s of monitor %s (%s, %s)\n", cell(r.ID, 64), cell(r.Monitor, 200), cell(r.Trigger, 20), cell(r.Status, 20))
	fmt.Fprintf(&b, "window %s (%s)", describeWindow(r, loc), loc)
	if r.Sampled != nil {
		fmt.Fprintf(&b, ", %s sampled", plural(*r.Sampled, "trace"))
	}
	if r.FinishedAt != nil {
		fmt.Fprintf(&b, ", finished %s", formatTime(r.FinishedAt, loc))
	}
	b.WriteString("\n")
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", cell(r.Error, 500))
	}
	if r.Degraded {
		fmt.Fprintf(&b, "DEGRADED: the judge failed for %s; first error: %s\n", plural(r.JudgeErrors, "instance"), cell(r.JudgeError, 500))
	}
	if u := r.JudgeUsage; u != nil {
		fmt.Fprintf(&b, "judge usage: %d input and %d output tokens, %s\n", u.InputTokens, u.OutputTokens, describeCost(u.CostUSD))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if r.Summary == nil {
		_, err := fmt.Fprintln(w, "no results: the run is "+cell(r.Status, 20))
		return err
	}
	if len(r.Metrics) > 0 {
		fmt.Fprintln(w)
		tbl := newTable(w)
		tbl.row("METRIC", "JUDGED", "NOT EVAL.", "ERRORS", "AVERAGE", "PASS RATE", "THRESHOLDS", "VIOLATION")
		for _, name := range slices.Sorted(maps.Keys(r.Metrics)) {
			m := r.Metrics[name]
			tbl.row(cell(name, 60), strconv.Itoa(m.Judged), strconv.Itoa(m.NotEvaluable), strconv.Itoa(m.Errors),
				formatScore(m.AverageScore), formatPassRate(m), describeThresholds(m), describeViolation(m))
		}
		if err := tbl.flush(); err != nil {
			return err
		}
	}
	if len(r.Operational) > 0 {
		fmt.Fprintln(w)
		tbl := newTable(w)
		tbl.row("SIGNAL", "VALUE", "BOUND", "VIOLATION")
		for _, o := range r.Operational {
			name := cell(o.Name, 60)
			if o.Group != "" {
				name += " (" + cell(o.Group, 60) + ")"
			}
			value, violation := "-", "-"
			if o.Value != nil {
				value = formatNumber(*o.Value)
			}
			switch {
			case o.NoData:
				violation = "no data"
			case o.Violation:
				violation = "yes"
			}
			tbl.row(name, value, describeBound(o.Bound), violation)
		}
		if err := tbl.flush(); err != nil {
			return err
		}
	}
	s := r.Summary
	line := fmt.Sprintf("\n%d of %s violated", s.Violations, plural(s.Checks, "quality check"))
	if s.ViolationRate != nil {
		line += fmt.Sprintf(" (%s)", formatPercent(*s.ViolationRate))
	}
	if s.NoData > 0 {
		line += fmt.Sprintf("; %s judged nothing", plural(s.NoData, "metric"))
		if s.Unhealthy > 0 {
			line += fmt.Sprintf(" (%d because the judge or evaluator failed)", s.Unhealthy)
		}
		if s.Unchecked > 0 {
			line += fmt.Sprintf(", so %s not made", plural(s.Unchecked, "check"))
		}
	}
	line += fmt.Sprintf("; %s violated\n", plural(s.OperationalViolations, "operational signal"))
	_, err := io.WriteString(w, line)
	return err
}

// describeCost writes a judge cost in dollars, "cost unknown" without a
// price.
func describeCost(v *float64) string {
	if v == nil {
		return "cost unknown (no price for the judge's model)"
	}
	return "$" + strconv.FormatFloat(*v, 'f', 4, 64)
}

func formatScore(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64)
}

// formatNumber writes a value in the shortest form that reads back the
// same.
func formatNumber(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func formatPercent(v float64) string {
	return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
}

// formatPassRate writes "62.5% (30.6–86.3%)": the pass rate and its 95%
// interval.
func formatPassRate(m api.MetricOutcome) string {
	if m.PassRate == nil {
		return "-"
	}
	out := formatPercent(*m.PassRate)
	if ci := m.PassRateCI; ci != nil {
		out += fmt.Sprintf(" (%s–%s)", strconv.FormatFloat(ci[0]*100, 'f', 1, 64), formatPercent(ci[1]))
	}
	return out
}

// describeThresholds writes "pass ≥3, rate ≥70%, avg ≥4".
func describeThresholds(m api.MetricOutcome) string {
	parts := []string{"pass ≥" + formatNumber(m.PassScore)}
	if m.MinPassRate != nil {
		parts = append(parts, "rate ≥"+strings.Replace(formatPercent(*m.MinPassRate), ".0%", "%", 1))
	}
	if m.MinAverage != nil {
		parts = append(parts, "avg ≥"+formatNumber(*m.MinAverage))
	}
	return strings.Join(parts, ", ")
}

func describeViolation(m api.MetricOutcome) string {
	switch {
	case m.NoData:
		return "no data"
	case m.PassRateViolation && m.AverageViolation:
		return "pass rate, average"
	case m.PassRateViolation:
		return "pass rate"
	case m.AverageViolation:
		return "average"
	}
	return "-"
}

func describeBound(b api.BoundValues) string {
	var parts []string
	if b.Min != nil {
		parts = append(parts, "≥"+formatNumber(*b.Min))
	}
	if b.Max != nil {
		parts = append(parts, "≤"+formatNumber(*b.Max))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func newMonitorRunCmd(flags *tracesFlags) *cobra.Command {
	var (
		wait       bool
		output     string
		start, end string
	)
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Start a manual run of a monitor",
		Long: `Start a manual run of a monitor, over the window it would read now or over the
one given with --window-start and --window-end (RFC 3339 times, both or
neither). The server's scheduler executes it within about a second.

With --wait the command follows the run until it ends, showing its status and
the time elapsed (on one line that updates itself when standard error is a
terminal), then prints its results as 'monitor results' does; it exits with
status 1 when the run failed. Interrupting it does not stop the run.`,
		Example: `  flowwatch monitor run rag_quality --wait
  flowwatch monitor run rag_quality --window-start 2025-06-01T00:00:00Z --window-end 2025-06-02T00:00:00Z`,
		Args: oneName("run"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if (start == "") != (end == "") {
				return usageError{errors.New("give both --window-start and --window-end, or neither")}
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			var body []byte
			if start != "" {
				if body, err = json.Marshal(api.RunRequest{WindowStart: &start, WindowEnd: &end}); err != nil {
					return err
				}
			}
			name := args[0]
			path := "monitors/" + url.PathEscape(name) + "/runs"
			status, answer, err := sendTyped(cmd.Context(), c, http.MethodPost, path, nil, "application/json", body)
			if err != nil {
				return err
			}
			if status != http.StatusAccepted {
				return answerError(c, http.MethodPost, path, status, answer)
			}
			var created api.CreatedRun
			if err := c.decode(answer, "an answer", &created); err != nil {
				return err
			}
			id := created.Run.ID
			stderr := cmd.ErrOrStderr()
			if !wait {
				fmt.Fprintf(cmd.OutOrStdout(), "run %s of monitor %s started\n", cell(id, 64), cell(name, 200))
				fmt.Fprintf(stderr, "follow it with 'flowwatch monitor results %s --run %s'\n", cell(name, 200), cell(id, 64))
				return nil
			}
			fmt.Fprintf(stderr, "run %s of monitor %s started\n", cell(id, 64), cell(name, 200))
			run, raw, err := waitForRun(cmd.Context(), c, id, newProgress(stderr))
			if err != nil {
				return err
			}
			if run.Status == "failed" {
				return fmt.Errorf("run %s of monitor %s failed: %s", cell(id, 64), cell(name, 200), cell(run.Error, 500))
			}
			if output == "json" {
				return writeIndented(cmd.OutOrStdout(), raw)
			}
			return writeResults(cmd.OutOrStdout(), run, localZone())
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the run until it ends, then print its results")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format of the results with --wait: table or json")
	cmd.Flags().StringVar(&start, "window-start", "", "start of the window to read (RFC 3339, inclusive)")
	cmd.Flags().StringVar(&end, "window-end", "", "end of the window to read (RFC 3339, exclusive)")
	return cmd
}

// waitForRun asks how a run is every pollInterval until it has ended, and
// returns it as decoded and as sent.
func waitForRun(ctx context.Context, c *apiClient, id string, p *progress) (api.Run, []byte, error) {
	began := time.Now()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		body, err := c.get(ctx, "runs/"+url.PathEscape(id), nil)
		if err != nil {
			p.done()
			return api.Run{}, nil, err
		}
		var run api.Run
		if err := json.Unmarshal(body, &run); err != nil {
			p.done()
			return api.Run{}, nil, fmt.Errorf("the server at %s sent a run that does not decode: %w", c.base, err)
		}
		if run.Status == "succeeded" || run.Status == "failed" {
			p.done()
			p.ended(run)
			return run, body, nil
		}
		p.update(run, time.Since(began))
		select {
		case <-ctx.Done():
			p.done()
			return api.Run{}, nil, fmt.Errorf("stopped waiting for run %s (it goes on): %w", id, ctx.Err())
		case <-t.C:
		}
	}
}

// progress shows how a run is: on a terminal, one line rewritten in place
// with the status, a bar of the traces evaluated once the run has sampled
// them, and the time elapsed (and left); otherwise a line each time the
// status changes or another tenth of the traces is done.
type progress struct {
	w        io.Writer
	terminal bool
	last     string
	tenth    int // tenths of the traces reported, off a terminal
	drawn    bool
	// seen is when progress was first seen moving, and from which count:
	// the rate since then estimates the time left.
	seenAt   time.Duration
	seenDone int
	seen     bool
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, terminal: isTerminal(w), tenth: -1}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// spinner turns a quarter each second while a run is followed.
const spinner = `|/-\`

// barWidth is the width of the progress bar, in characters.
const barWidth = 24

func (p *progress) update(r api.Run, elapsed time.Duration) {
	if p.terminal {
		secs := int(elapsed / time.Second)
		line := fmt.Sprintf("%s run %s: %s", spinner[secs%len(spinner):][:1], cell(r.ID, 64), cell(r.Status, 20))
		if pr := r.Progress; pr != nil && pr.Total > 0 {
			line += " " + progressBar(pr.Done, pr.Total, barWidth) + " " + describeProgress(*pr)
		}
		line += ", " + elapsed.Truncate(time.Second).String() + " elapsed"
		if left, ok := p.timeLeft(r, elapsed); ok {
			line += ", about " + left.String() + " left"
		}
		fmt.Fprint(p.w, "\r\033[K"+line)
		p.drawn = true
		return
	}
	if r.Status != p.last {
		fmt.Fprintf(p.w, "run %s: %s\n", cell(r.ID, 64), cell(r.Status, 20))
		p.last = r.Status
	}
	if pr := r.Progress; pr != nil && pr.Total > 0 {
		if tenth := min(pr.Done, pr.Total) * 10 / pr.Total; tenth > p.tenth {
			fmt.Fprintf(p.w, "run %s: %s\n", cell(r.ID, 64), describeProgress(*pr))
			p.tenth = tenth
		}
	}
}

// progressBar draws done out of total as a bar of width characters.
func progressBar(done, total, width int) string {
	filled := 0
	if total > 0 {
		filled = min(done, total) * width / total
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

// describeProgress says how many of a run's traces are evaluated.
func describeProgress(p api.RunProgress) string {
	pct := 0.0
	if p.Total > 0 {
		pct = 100 * float64(min(p.Done, p.Total)) / float64(p.Total)
	}
	return fmt.Sprintf("%d/%d traces evaluated (%.0f%%)", p.Done, p.Total, pct)
}

// timeLeft estimates the time a running run still needs from the rate
// its progress has moved at since it was first seen.
func (p *progress) timeLeft(r api.Run, elapsed time.Duration) (time.Duration, bool) {
	pr := r.Progress
	if pr == nil || pr.Total <= 0 || pr.Done >= pr.Total {
		return 0, false
	}
	if !p.seen {
		p.seen, p.seenAt, p.seenDone = true, elapsed, pr.Done
		return 0, false
	}
	moved, took := pr.Done-p.seenDone, elapsed-p.seenAt
	if moved <= 0 || took <= 0 {
		return 0, false
	}
	return (took * time.Duration(pr.Total-pr.Done) / time.Duration(moved)).Round(time.Second), true
}

// done clears the line drawn on a terminal.
func (p *progress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// ended says how a run ended and how long it took (by the server's clock).
func (p *progress) ended(r api.Run) {
	took := ""
	if r.StartedAt != nil && r.FinishedAt != nil {
		took = " in " + r.FinishedAt.Sub(r.StartedAt.Time).Round(time.Millisecond).String()
	}
	fmt.Fprintf(p.w, "run %s: %s%s\n", cell(r.ID, 64), cell(r.Status, 20), took)
}
