package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/api"
)

// tracesFlags are the flags every traces command shares.
type tracesFlags struct {
	server  string
	timeout time.Duration
}

func (f *tracesFlags) client() (*apiClient, error) {
	return newAPIClient(f.server, f.timeout)
}

func newTracesCmd() *cobra.Command {
	flags := &tracesFlags{}
	cmd := &cobra.Command{
		Use:   "traces",
		Short: "List, show and delete the traces a running flowwatch server stored",
		Long: `List and show the traces a running flowwatch server stored, through its
JSON API (/api/v1/traces). Each trace is one request your application served.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for \"flowwatch traces\" (commands: list, get, delete)", args[0])}
			}
			return cmd.Help()
		},
	}
	server := os.Getenv("FLOWWATCH_SERVER")
	if server == "" {
		server = defaultServer
	}
	cmd.PersistentFlags().StringVar(&flags.server, "server", server, "URL of the flowwatch server (default from FLOWWATCH_SERVER)")
	cmd.PersistentFlags().DurationVar(&flags.timeout, "timeout", 30*time.Second, "how long to wait for each answer of the server")
	cmd.AddCommand(newTracesListCmd(flags), newTracesGetCmd(flags), newTracesDeleteCmd(flags))
	return cmd
}

// checkOutput validates an -o value.
func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usageError{fmt.Errorf("invalid --output %q: must be table or json", o)}
	}
	return nil
}

type listOptions struct {
	// Filters, sent to the server as they are.
	since, until, service, deployment, model, text, status string

	minDuration time.Duration
	limit       int
	cursor      string
	all         bool
	output      string
}

func newTracesListCmd(flags *tracesFlags) *cobra.Command {
	o := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List traces, newest first",
		Long: `List traces, newest first, optionally filtered. Times given to --since and
--until are RFC 3339 (2025-06-01T12:00:00Z), a date (2025-06-01), or a duration
before now (30m, 1h, 7d).`,
		Example: `  flowwatch traces list --since 1h
  flowwatch traces list --service rag-app --status error --since 7d
  flowwatch traces list --q "refund policy" -o json
  flowwatch traces list --since 1d --all -o json > traces.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(o.output); err != nil {
				return err
			}
			if o.minDuration < 0 {
				return usageError{fmt.Errorf("invalid --min-duration %s: must not be negative", o.minDuration)}
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for name, v := range map[string]string{
				"since": o.since, "until": o.until, "service": o.service, "deployment": o.deployment,
				"model": o.model, "q": o.text, "status": o.status,
			} {
				if v != "" {
					q.Set(name, v)
				}
			}
			if o.minDuration > 0 {
				q.Set("min_duration_ms", strconv.FormatFloat(float64(o.minDuration)/float64(time.Millisecond), 'f', -1, 64))
			}
			if cmd.Flags().Changed("limit") {
				q.Set("limit", strconv.Itoa(o.limit))
			}
			return listTraces(cmd, c, q, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.since, "since", "", "only traces that started at or after this time (RFC 3339, date, or duration before now such as 1h)")
	f.StringVar(&o.until, "until", "", "only traces that started before this time (same forms as --since)")
	f.StringVar(&o.service, "service", "", "only traces of this service")
	f.StringVar(&o.deployment, "deployment", "", "only traces of this deployment")
	f.StringVar(&o.model, "model", "", "only traces that called this model")
	f.StringVar(&o.text, "q", "", "full-text search over questions, answers and span inputs and outputs")
	f.StringVar(&o.status, "status", "", "only traces with this status: ok or error")
	f.DurationVar(&o.minDuration, "min-duration", 0, "only traces that took at least this long (e.g. 500ms, 2s)")
	f.IntVar(&o.limit, "limit", 0, "traces per page, 1 to 1000 (default: the server's, 50)")
	f.StringVar(&o.cursor, "cursor", "", "continue a listing from the cursor a previous page printed")
	f.BoolVar(&o.all, "all", false, "follow the cursors and list every matching trace")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

// tracePage is the part of a list answer the CLI reads, with the traces
// kept as the server sent them for JSON output.
type tracePage struct {
	Traces     []json.RawMessage `json:"traces"`
	NextCursor string            `json:"next_cursor"`
}

func listTraces(cmd *cobra.Command, c *apiClient, q url.Values, o *listOptions) error {
	ctx := cmd.Context()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	loc := localZone()
	tbl := newTable(stdout)
	cursor := o.cursor
	seen := map[string]bool{}
	total := 0
	for page := 0; ; page++ {
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		body, err := c.get(ctx, "traces", q)
		if err != nil {
			return err
		}
		var p tracePage
		if err := c.decode(body, "a trace list", &p); err != nil {
			return err
		}
		total += len(p.Traces)
		switch {
		case o.output == "json" && !o.all:
			if err := writeIndented(stdout, body); err != nil {
				return err
			}
		case o.output == "json":
			if err := writeJSONPage(stdout, p.Traces, page == 0, p.NextCursor == ""); err != nil {
				return err
			}
		default:
			if err := addTraceRows(tbl, p.Traces, loc); err != nil {
				return err
			}
		}
		if p.NextCursor == "" {
			break
		}
		if !o.all {
			if err := tbl.flush(); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "more traces match: rerun with --all, or with --cursor %s\n", p.NextCursor)
			break
		}
		if seen[p.NextCursor] {
			return fmt.Errorf("the server at %s returned cursor %q twice; stopping", c.base, p.NextCursor)
		}
		seen[p.NextCursor] = true
		cursor = p.NextCursor
	}
	if o.output != "table" {
		return nil
	}
	if total == 0 {
		fmt.Fprintln(stderr, "no traces found")
		return nil
	}
	return tbl.flush()
}

// writeIndented writes a JSON body indented by two spaces.
func writeIndented(w io.Writer, body []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
		return fmt.Errorf("the server sent invalid JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeJSONPage streams one page of an --all listing as part of a single
// document {"traces": [...], "next_cursor": ""}, so memory stays bounded
// by a page however many traces match.
func writeJSONPage(w io.Writer, traces []json.RawMessage, first, last bool) error {
	var buf bytes.Buffer
	if first {
		buf.WriteString("{\n  \"traces\": [")
	}
	for i, raw := range traces {
		if !first || i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n    ")
		if err := json.Indent(&buf, raw, "    ", "  "); err != nil {
			return fmt.Errorf("the server sent invalid JSON: %w", err)
		}
		first = false
	}
	if last {
		// first is still true only when no page had any trace.
		if !first {
			buf.WriteString("\n  ")
		}
		buf.WriteString("],\n  \"next_cursor\": \"\"\n}\n")
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// addTraceRows adds a page of traces to the list table.
func addTraceRows(tbl *table, raws []json.RawMessage, loc *time.Location) error {
	for _, raw := range raws {
		var t api.TraceSummary
		if err := json.Unmarshal(raw, &t); err != nil {
			return fmt.Errorf("the server sent a trace that does not decode: %w", err)
		}
		if tbl.rows == 0 {
			tbl.row("TIME", "TRACE ID", "SERVICE", "STATUS", "DURATION", "MODEL", "TOKENS", "QUESTION")
		}
		tbl.row(t.StartTime.In(loc).Format("2006-01-02 15:04:05"),
			cell(t.TraceID, 32), cell(t.Service, 40), cell(t.Status, 10),
			formatMS(t.DurationMS), cell(t.Model, 40), formatTokens(t.TotalTokens),
			cell(t.Question, 60))
		if tbl.rows%tableBatch == 0 {
			// Bound memory on long --all listings; columns may widen
			// from one batch to the next.
			if err := tbl.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// tableBatch is how many rows a table aligns (and holds) at most at once.
const tableBatch = 1000

// table aligns rows of cells in columns two spaces apart, without
// trailing blanks.
type table struct {
	out  io.Writer
	buf  bytes.Buffer
	tw   *tabwriter.Writer
	rows int
}

func newTable(out io.Writer) *table {
	t := &table{out: out}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

// row adds a row; cells must not hold tabs or newlines (cell ensures it).
func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
	t.rows++
}

// flush writes the rows added so far.
func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var out bytes.Buffer
	for line := range strings.Lines(t.buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	t.buf.Reset()
	_, err := t.out.Write(out.Bytes())
	return err
}

func newTracesGetCmd(flags *tracesFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get TRACE_ID",
		Short: "Show one trace, the judges' verdicts on it and its spans",
		Long: `Show one trace: its summary (service, timing, model, tokens, cost, question and
answer), then the verdicts quality monitors gave it (when, monitor, run,
metric, score, pass or fail, judge model and reason; oldest run first), then
its spans as a tree. With -o json it prints the API's answer, where the
verdicts are gen_ai.evaluation.result events of the root span.`,
		Example: `  flowwatch traces get 4bf92f3577b34da6a3ce929d0e0e4736
  flowwatch traces get 4bf92f3577b34da6a3ce929d0e0e4736 -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("traces get takes one trace id, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var d api.TraceDetail
			if done, err := fetch(cmd, flags, output, "traces/"+url.PathEscape(args[0]), nil, "a trace", &d); done || err != nil {
				return err
			}
			return writeTraceDetail(cmd.OutOrStdout(), &d, localZone())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])}
	}
	return nil
}

// writeTraceDetail writes a readable summary of a trace, then its spans as
// a tree.
func writeTraceDetail(w io.Writer, d *api.TraceDetail, loc *time.Location) error {
	tbl := newTable(w)
	line := func(label, value string) {
		if value != "" {
			tbl.row(label, value)
		}
	}
	service := cell(d.Service, 200)
	if d.Deployment != "" {
		service += " (deployment " + cell(d.Deployment, 200) + ")"
	}
	line("Trace", cell(d.TraceID, 64))
	line("Service", service)
	line("Name", cell(d.Name, 200))
	line("Started", d.StartTime.In(loc).Format("2006-01-02 15:04:05.000 -07:00"))
	line("Duration", formatMS(d.DurationMS))
	line("Status", cell(d.Status, 20))
	if d.ErrorType != "" || d.ErrorMessage != "" {
		line("Error", cell(strings.TrimPrefix(d.ErrorType+": "+d.ErrorMessage, ": "), 300))
	}
	models := cell(d.Model, 200)
	if len(d.Models) > 1 {
		models += " (all: " + cell(strings.Join(d.Models, ", "), 200) + ")"
	}
	line("Model", models)
	if d.TotalTokens != nil {
		tok := fmt.Sprintf("%s in, %s out, %s total", formatTokens(d.InputTokens), formatTokens(d.OutputTokens), formatTokens(d.TotalTokens))
		if d.CachedTokens != nil && *d.CachedTokens > 0 {
			tok += fmt.Sprintf(", %d cached", *d.CachedTokens)
		}
		if d.ReasoningTokens != nil && *d.ReasoningTokens > 0 {
			tok += fmt.Sprintf(", %d reasoning", *d.ReasoningTokens)
		}
		line("Tokens", tok)
	}
	if d.CostUSD > 0 {
		line("Cost", "$"+strconv.FormatFloat(d.CostUSD, 'f', -1, 64))
	}
	line("Session", cell(d.SessionID, 200))
	line("User", cell(d.UserID, 200))
	line("Question", cell(d.Question, 300))
	line("Answer", cell(d.Answer, 300))
	if n := len(d.Context); n > 0 {
		line("Context", plural(n, "document"))
	}
	line("Spans", fmt.Sprintf("%s, %s, %s", plural(d.SpanCount, "span"), plural(d.LLMCallCount, "model call"), plural(d.ErrorCount, "error")))
	if n := len(d.Logs); n > 0 {
		line("Logs", plural(n, "log record"))
	}
	if err := tbl.flush(); err != nil {
		return err
	}
	if err := writeVerdicts(w, d.Spans, loc); err != nil {
		return err
	}
	if len(d.Spans) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	tbl.row("SPAN", "KIND", "DURATION", "STATUS", "MODEL", "TOKENS")
	for _, n := range spanTree(d.Spans) {
		s := &d.Spans[n.index]
		name := strings.Repeat("  ", min(n.depth, maxTreeIndent)) + cell(s.Name, 60)
		tbl.row(name, cell(s.Kind, 20), formatMS(s.DurationMS), cell(s.Status, 10), cell(s.Model, 40), formatTokens(s.TotalTokens))
	}
	return tbl.flush()
}

// The event a judge's verdict on a trace is shown as (GET
// /api/v1/traces/{id} puts one on the root span per judged instance), and
// its attributes.
const (
	evaluationEvent    = "gen_ai.evaluation.result"
	attrEvaluationName = "gen_ai.evaluation.name"
	attrScoreValue     = "gen_ai.evaluation.score.value"
	attrScoreLabel     = "gen_ai.evaluation.score.label"
	attrExplanation    = "gen_ai.evaluation.explanation"
	attrMonitor        = "flowwatch.monitor"
	attrRunID          = "flowwatch.run_id"
	attrJudgeModel     = "flowwatch.judge_model"
)

// writeVerdicts writes the evaluation results of a trace, one row each in
// the order the server gave them (oldest run first): nothing when it has
// none. An evaluation the application sent itself has no monitor or run.
func writeVerdicts(w io.Writer, spans []api.Span, loc *time.Location) error {
	tbl := newTable(w)
	for _, s := range spans {
		for _, e := range s.Events {
			if e.Name != evaluationEvent {
				continue
			}
			if tbl.rows == 0 {
				if _, err := fmt.Fprintln(w); err != nil {
					return err
				}
				tbl.row("EVALUATED", "MONITOR", "RUN", "METRIC", "SCORE", "RESULT", "JUDGE", "REASON")
			}
			attr := func(name string, max int) string {
				v, _ := e.Attributes[name].(string)
				if v = cell(v, max); v == "" {
					return "-"
				}
				return v
			}
			score := "-"
			if v, ok := e.Attributes[attrScoreValue].(float64); ok {
				score = formatJudgeScore(&v)
			}
			tbl.row(e.Time.In(loc).Format("2006-01-02 15:04"), attr(attrMonitor, 40), attr(attrRunID, 64),
				attr(attrEvaluationName, 40), score, attr(attrScoreLabel, 20), attr(attrJudgeModel, 40), attr(attrExplanation, 80))
		}
	}
	if tbl.rows == 0 {
		return nil
	}
	return tbl.flush()
}

// maxTreeIndent bounds the indentation of deep span trees.
const maxTreeIndent = 16

type treeNode struct{ index, depth int }

// spanTree orders spans depth first under their parents, keeping the
// server's order (start time) among siblings. Spans whose parent is not in
// the trace start a tree of their own; spans caught in a parent cycle are
// listed last at depth 0. It never recurses, so depth is unbounded safely.
func spanTree(spans []api.Span) []treeNode {
	ids := make(map[string]bool, len(spans))
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	children := map[string][]int{}
	var roots []int
	for i, s := range spans {
		if s.ParentSpanID == "" || !ids[s.ParentSpanID] || s.ParentSpanID == s.SpanID {
			roots = append(roots, i)
			continue
		}
		children[s.ParentSpanID] = append(children[s.ParentSpanID], i)
	}
	out := make([]treeNode, 0, len(spans))
	visited := make([]bool, len(spans))
	walk := func(root int) {
		stack := []treeNode{{root, 0}}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if visited[n.index] {
				continue
			}
			visited[n.index] = true
			out = append(out, n)
			kids := children[spans[n.index].SpanID]
			for k := len(kids) - 1; k >= 0; k-- {
				stack = append(stack, treeNode{kids[k], n.depth + 1})
			}
		}
	}
	for _, r := range roots {
		walk(r)
	}
	for i := range spans {
		if !visited[i] {
			walk(i)
		}
	}
	return out
}

// localZone is the time zone times are shown in: TZ when set (so it can be
// chosen per command), else the system's.
func localZone() *time.Location {
	if tz, ok := os.LookupEnv("TZ"); ok {
		if loc, err := time.LoadLocation(strings.TrimPrefix(tz, ":")); err == nil {
			return loc
		}
	}
	return time.Local
}

// cell makes server text safe and short for one table cell: control and
// bidirectional-override characters (which could drive the terminal or
// reorder the line) become spaces, runs of white space collapse to one,
// and the result is cut to max runes, ending in "…" when cut.
func cell(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) || isBidiControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() > 4*max+4 {
			break // certainly more than max runes: stop reading
		}
	}
	out := b.String()
	if utf8.RuneCountInString(out) <= max {
		return out
	}
	return strings.TrimRight(truncateRunes(out, max-1), " ") + "…"
}

func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// truncateRunes returns the first n runes of s.
func truncateRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// formatMS shows a duration in milliseconds in a short human form.
func formatMS(ms float64) string {
	switch {
	case ms < 0:
		return "-"
	case ms < 1:
		return fmt.Sprintf("%.0fµs", ms*1000)
	case ms < 10:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	case ms < 60_000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms < 1e12:
		return (time.Duration(ms/1000+0.5) * time.Second).String()
	}
	return fmt.Sprintf("%.0fh", ms/3.6e6)
}

func formatTokens(n *int64) string {
	if n == nil {
		return "-"
	}
	return strconv.FormatInt(*n, 10)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
