package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/api"
)

// defaultInstanceRows is how many instances 'runs instances' shows unless
// --limit says otherwise (a CSV export has every one).
const defaultInstanceRows = 100

func newRunsCmd() *cobra.Command {
	flags := &tracesFlags{}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "Drill into what a monitor run found",
		Long: `Drill into what a monitor run found, through the JSON API
(/api/v1/runs/{id}/instances). 'flowwatch monitor runs NAME' lists a monitor's
runs and their ids; 'flowwatch monitor results NAME' sums one up.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for \"flowwatch runs\" (commands: instances)", args[0])}
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
	cmd.AddCommand(newRunsInstancesCmd(flags))
	return cmd
}

type instancesOptions struct {
	metric, status string
	failed         bool
	limit          int
	output         string
}

func newRunsInstancesCmd(flags *tracesFlags) *cobra.Command {
	o := &instancesOptions{}
	cmd := &cobra.Command{
		Use:   "instances RUN",
		Short: "List a run's evaluated traces: question, answer, score and reason",
		Long: `List the instances of a monitor run: each sampled trace's evaluation for each
metric, with the trace's question, the start of its answer, the score, whether
it passed the metric's pass score (or why there is no score), the judge's
reason and the trace id ('flowwatch traces get ID' shows the whole trace).
Instances are sorted by metric, then trace id.

--failed keeps the judged instances that failed; --status keeps those that
ended judged, not_evaluable or error. The table and JSON show --limit
instances (default 100); -o csv streams every instance that matches (or
--limit of them) as the API's CSV export, with up to 1000 characters of the
question and 300 of the answer (question_truncated and answer_truncated say
when they were cut).`,
		Example: `  flowwatch runs instances 0184c2f6a3b1e5d07f3a9c2b1d4e5f60 --metric groundedness --failed
  flowwatch runs instances 0184c2f6a3b1e5d07f3a9c2b1d4e5f60 --status error
  flowwatch runs instances 0184c2f6a3b1e5d07f3a9c2b1d4e5f60 -o csv > instances.csv`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("runs instances takes one run id (see 'flowwatch monitor runs NAME'), got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := o.query(cmd)
			if err != nil {
				return err
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			path := "runs/" + url.PathEscape(args[0]) + "/instances"
			if o.output == "csv" {
				q.Set("format", "csv")
				return stream(cmd.Context(), c, path, q, cmd.OutOrStdout())
			}
			body, err := c.get(cmd.Context(), path, q)
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeIndented(cmd.OutOrStdout(), body)
			}
			var list api.InstanceList
			if err := c.decode(body, "an instance list", &list); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			if len(list.Instances) == 0 {
				fmt.Fprintf(stderr, "no instances of run %s match\n", cell(args[0], 64))
				return nil
			}
			if err := writeInstanceTable(cmd.OutOrStdout(), list.Instances); err != nil {
				return err
			}
			if list.NextCursor != "" {
				fmt.Fprintf(stderr, "more instances match: raise --limit (at most %d), or export them all with -o csv\n", api.MaxInstanceLimit)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.metric, "metric", "", "only this metric (groundedness, relevance, ...)")
	f.BoolVar(&o.failed, "failed", false, "only judged instances that failed the metric's pass score")
	f.StringVar(&o.status, "status", "", "only instances that ended so: judged, not_evaluable or error")
	f.IntVar(&o.limit, "limit", defaultInstanceRows, fmt.Sprintf("how many instances at most, 1 to %d (-o csv: default every one)", api.MaxInstanceLimit))
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json or csv")
	return cmd
}

// query checks the flags and turns them into the API's parameters.
func (o *instancesOptions) query(cmd *cobra.Command) (url.Values, error) {
	switch o.output {
	case "table", "json", "csv":
	default:
		return nil, usageError{fmt.Errorf("invalid --output %q: must be table, json or csv", o.output)}
	}
	switch o.status {
	case "", "judged", "not_evaluable", "error":
	default:
		return nil, usageError{fmt.Errorf("invalid --status %q: must be judged, not_evaluable or error", o.status)}
	}
	if o.failed && o.status != "" {
		return nil, usageError{errors.New("give --failed or --status, not both (--failed means judged and failed)")}
	}
	limited := o.output != "csv" || cmd.Flags().Changed("limit")
	if limited && (o.limit < 1 || o.limit > api.MaxInstanceLimit) {
		return nil, usageError{fmt.Errorf("invalid --limit %d: must be from 1 to %d", o.limit, api.MaxInstanceLimit)}
	}
	q := url.Values{}
	if o.metric != "" {
		q.Set("metric", o.metric)
	}
	if o.status != "" {
		q.Set("status", o.status)
	}
	if o.failed {
		q.Set("passed", "false")
	}
	if limited {
		q.Set("limit", strconv.Itoa(o.limit))
	}
	return q, nil
}

// writeInstanceTable writes one row per instance: the trace's question
// and answer cut to fit, the metric, the score, the outcome, the reason
// (or why there is no score) and the trace id, whole.
func writeInstanceTable(w io.Writer, list []api.Instance) error {
	tbl := newTable(w)
	tbl.row("QUESTION", "ANSWER", "METRIC", "SCORE", "RESULT", "REASON", "TRACE ID")
	for _, in := range list {
		question, answer := cell(in.Question, 40), cell(in.Answer, 40)
		if question == "" {
			question = "-"
		}
		if answer == "" {
			answer = "-"
		}
		reason := in.Reason
		if in.Status != "judged" {
			reason = in.Error
		}
		if reason == "" {
			reason = "-"
		}
		tbl.row(question, answer, cell(in.Metric, 40), formatJudgeScore(in.Score), describeOutcome(in), cell(reason, 60), cell(in.TraceID, 32))
	}
	return tbl.flush()
}

// formatJudgeScore writes a score as judges give them (3, 4.5), rounded
// to two decimals for a built-in evaluator's fractions; "-" without one.
func formatJudgeScore(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(math.Round(*v*100)/100, 'f', -1, 64)
}

// describeOutcome says how an instance ended: pass or fail when judged,
// else "not evaluable" or "error".
func describeOutcome(in api.Instance) string {
	switch {
	case in.Status == "judged" && in.Passed:
		return "pass"
	case in.Status == "judged":
		return "fail"
	case in.Status == "not_evaluable":
		return "not evaluable"
	}
	return cell(in.Status, 20)
}

// stream copies the body of a 200 answer to an API path to w as it
// arrives (a CSV export of any size, in bounded memory). Other answers
// become errors as for apiClient.get. A transfer the server broke off is
// an error, so a cut file never passes for a whole one.
func stream(ctx context.Context, c *apiClient, path string, query url.Values, w io.Writer) error {
	target := c.base + "/api/v1/" + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("request %s: %w", target, err)
	}
	req.Header.Set("User-Agent", "flowwatch-cli/"+Version)
	res, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if err != nil {
			return fmt.Errorf("read the answer of %s: %w", c.base, c.transportError(ctx, err))
		}
		return answerError(c, http.MethodGet, path, res.StatusCode, body)
	}
	if _, err := io.Copy(w, res.Body); err != nil {
		return fmt.Errorf("the export from %s broke off (what was written is incomplete): %w", c.base, c.transportError(ctx, err))
	}
	return nil
}
