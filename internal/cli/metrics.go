package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/api"
)

type metricsOptions struct {
	// Sent to the server as they are; the server validates them.
	service, deployment, model, since, until, step, groupBy string

	llm    bool
	output string
}

func newMetricsCmd() *cobra.Command {
	flags := &tracesFlags{}
	o := &metricsOptions{}
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Show requests, errors, latency, tokens and cost from a running flowwatch server",
		Long: `Show the operational metrics a running flowwatch server keeps, through its
JSON API (/api/v1/metrics/operational, or /api/v1/metrics/llm with --llm):
requests (traces) with their error rate and latency percentiles, and the
tokens and cost of the model calls made meanwhile.

The table has one row for the whole selection ("all"), or with --group-by one
row per service, deployment, model or status followed by the "all" row. With
--step and without --group-by it has one row per step instead, then "all".
Latency percentiles are within 1% of the exact values. Cost leaves out calls
of models without a price; a note on stderr names them.

Times given to --since and --until are RFC 3339 (2025-06-01T12:00:00Z), a
date (2025-06-01), or a duration before now (30m, 24h, 7d). The range is
rounded out to whole steps.`,
		Example: `  flowwatch metrics
  flowwatch metrics --service rag-app --since 7d --group-by model
  flowwatch metrics --llm --group-by model --since 24h
  flowwatch metrics --since 6h --step 1h
  flowwatch metrics --since 1d --step 5m -o json > metrics.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(o.output); err != nil {
				return err
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for name, v := range map[string]string{
				"service": o.service, "deployment": o.deployment, "model": o.model,
				"since": o.since, "until": o.until, "step": o.step, "group_by": o.groupBy,
			} {
				if v != "" {
					q.Set(name, v)
				}
			}
			if o.step != "" && o.groupBy == "" && o.output != "json" {
				// One table row per step, quiet ones included.
				q.Set("include_empty", "true")
			}
			path := "metrics/operational"
			if o.llm {
				path = "metrics/llm"
			}
			body, err := c.get(cmd.Context(), path, q)
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeIndented(cmd.OutOrStdout(), body)
			}
			v, err := decodeMetrics(body, o.llm)
			if err != nil {
				return fmt.Errorf("the server at %s sent metrics that do not decode: %w", c.base, err)
			}
			return writeMetrics(cmd.OutOrStdout(), cmd.ErrOrStderr(), v, o.step != "", localZone())
		},
	}
	server := os.Getenv("FLOWWATCH_SERVER")
	if server == "" {
		server = defaultServer
	}
	f := cmd.Flags()
	f.StringVar(&flags.server, "server", server, "URL of the flowwatch server (default from FLOWWATCH_SERVER)")
	f.DurationVar(&flags.timeout, "timeout", 30*time.Second, "how long to wait for the server's answer")
	f.StringVar(&o.service, "service", "", "only this service")
	f.StringVar(&o.deployment, "deployment", "", "only this deployment")
	f.StringVar(&o.model, "model", "", "only this model (for requests: the trace's main model)")
	f.StringVar(&o.since, "since", "24h", "start of the range (RFC 3339, date, or duration before now such as 24h)")
	f.StringVar(&o.until, "until", "", "end of the range, exclusive (same forms as --since; default now)")
	f.StringVar(&o.step, "step", "", "bucket width, a whole number of minutes (5m, 1h, 1d or seconds such as 300); default: chosen by the server for at most 300 buckets")
	f.StringVar(&o.groupBy, "group-by", "", "one row per service, deployment, model or status")
	f.BoolVar(&o.llm, "llm", false, "count model calls (llm and embedding spans) instead of requests")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json (the server's answer: the steps in which something happened)")
	return cmd
}

// metricsView is what the table shows of either metrics answer.
type metricsView struct {
	countName string // REQUESTS or CALLS
	groupBy   string
	series    []metricsRow
	groups    []metricsRow
	totals    metricsRow
	unpriced  []string
}

type metricsRow struct {
	label string
	time  time.Time
	count int64
	api.Stats
}

// decodeMetrics decodes the answer of either endpoint into a view.
func decodeMetrics(body []byte, llm bool) (metricsView, error) {
	if llm {
		var m api.LLMMetrics
		if err := json.Unmarshal(body, &m); err != nil {
			return metricsView{}, err
		}
		v := metricsView{countName: "CALLS", groupBy: m.GroupBy, unpriced: m.UnpricedModels,
			totals: metricsRow{count: m.Totals.Calls, Stats: m.Totals.Stats}}
		for _, p := range m.Series {
			v.series = append(v.series, metricsRow{time: p.Time.Time, count: p.Calls, Stats: p.Stats})
		}
		for _, g := range m.Groups {
			v.groups = append(v.groups, metricsRow{label: g.Group, count: g.Totals.Calls, Stats: g.Totals.Stats})
		}
		return v, nil
	}
	var m api.OperationalMetrics
	if err := json.Unmarshal(body, &m); err != nil {
		return metricsView{}, err
	}
	v := metricsView{countName: "REQUESTS", groupBy: m.GroupBy, unpriced: m.UnpricedModels,
		totals: metricsRow{count: m.Totals.Requests, Stats: m.Totals.Stats}}
	for _, p := range m.Series {
		v.series = append(v.series, metricsRow{time: p.Time.Time, count: p.Requests, Stats: p.Stats})
	}
	for _, g := range m.Groups {
		v.groups = append(v.groups, metricsRow{label: g.Group, count: g.Totals.Requests, Stats: g.Totals.Stats})
	}
	return v, nil
}

// writeMetrics writes the table: one row per group, or per step when
// perStep and nothing is grouped, then the "all" row; and on stderr a note
// naming the models without a price.
func writeMetrics(stdout, stderr io.Writer, v metricsView, perStep bool, loc *time.Location) error {
	first := "GROUP"
	var rows []metricsRow
	switch {
	case v.groupBy != "":
		first = strings.ToUpper(cell(v.groupBy, 20))
		for _, g := range v.groups {
			g.label = cell(g.label, 60)
			if g.label == "" {
				g.label = "(none)"
			}
			rows = append(rows, g)
		}
	case perStep:
		first = "TIME"
		for _, p := range v.series {
			p.label = p.time.In(loc).Format("2006-01-02 15:04")
			rows = append(rows, p)
		}
	}
	all := v.totals
	all.label = "all"
	rows = append(rows, all)

	tbl := newTable(stdout)
	tbl.row(first, v.countName, "ERROR RATE", "P50", "P95", "P99", "INPUT TOKENS", "OUTPUT TOKENS", "TOTAL TOKENS", "COST (USD)")
	for _, r := range rows {
		l := r.LatencyMS
		tbl.row(r.label, strconv.FormatInt(r.count, 10), formatRate(r.count, errorRate(r)),
			formatLatency(l.P50), formatLatency(l.P95), formatLatency(l.P99),
			strconv.FormatInt(r.InputTokens, 10), strconv.FormatInt(r.OutputTokens, 10),
			strconv.FormatInt(r.TotalTokens, 10), formatCost(r.CostUSD))
		if tbl.rows%tableBatch == 0 {
			if err := tbl.flush(); err != nil {
				return err
			}
		}
	}
	if err := tbl.flush(); err != nil {
		return err
	}
	if len(v.unpriced) > 0 {
		names := make([]string, len(v.unpriced))
		for i, m := range v.unpriced {
			names[i] = cell(m, 60)
		}
		fmt.Fprintf(stderr, "cost leaves out %s of models without a price: %s (add them to pricing in the server configuration)\n",
			plural(int(v.totals.UnpricedCalls), "call"), strings.Join(names, ", "))
	}
	return nil
}

// errorRate is a row's error rate from its counts, exact where the
// server's error_rate is rounded (to 4 significant digits).
func errorRate(r metricsRow) float64 {
	if r.count == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.count)
}

// formatRate shows an error rate as a percentage, "-" when nothing was
// counted.
func formatRate(count int64, rate float64) string {
	if count == 0 {
		return "-"
	}
	return strconv.FormatFloat(rate*100, 'f', 2, 64) + "%"
}

func formatLatency(ms *float64) string {
	if ms == nil {
		return "-"
	}
	return formatMS(*ms)
}

// formatCost shows US dollars to a hundredth of a cent, and a nonzero
// cost too small for that as "<0.0001".
func formatCost(usd float64) string {
	switch {
	case usd == 0:
		return "0"
	case usd < 0.00005:
		return "<0.0001"
	}
	return strconv.FormatFloat(usd, 'f', 4, 64)
}
