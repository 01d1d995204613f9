package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// deleteAnswer is the API's answer to a deletion.
type deleteAnswer struct {
	Deleted struct {
		Traces      int64 `json:"traces"`
		Spans       int64 `json:"spans"`
		LogRecords  int64 `json:"log_records"`
		Evaluations int64 `json:"evaluations"`
	} `json:"deleted"`
	More bool `json:"more"`
}

// deleteRequestLimit is how many traces one request of traces delete asks
// the server to delete: a few seconds of work, so that progress shows.
const deleteRequestLimit = 5000

func newTracesDeleteCmd(flags *tracesFlags) *cobra.Command {
	var (
		service, deployment, userID, since, until string
		yes                                       bool
	)
	cmd := &cobra.Command{
		Use:   "delete [TRACE_ID...]",
		Short: "Delete traces: by id, or every trace of a user, a service or a time range",
		Long: `Delete traces from a running flowwatch server: with their spans, log records,
full-text entries and the evaluations monitors made of them. They vanish from
searches and the dashboard at once; the operational metrics (request counts,
latency, tokens, cost) they fed stay, as they hold no content.

Give trace ids, or a filter: --user-id (a data-subject request: every trace of
one end user), --service (with --deployment), --since and --until (times as
in traces list: 2025-06-01, an RFC 3339 time, or a duration before now such as
90d). Filters combine; a filter deletion asks for --yes. It runs in requests
of 5000 traces and shows its progress; interrupted, it can simply be run again.
Needs an admin key (FLOWWATCH_API_KEY) when the server checks keys.`,
		Example: `  flowwatch traces delete 4bf92f3577b34da6a3ce929d0e0e4736
  flowwatch traces delete --user-id user-8841 --yes
  flowwatch traces delete --service chat-app --until 90d --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter := service != "" || deployment != "" || userID != "" || since != "" || until != ""
			switch {
			case len(args) > 0 && filter:
				return usageError{fmt.Errorf("give trace ids or a filter (--user-id, --service, --since, --until), not both")}
			case len(args) == 0 && !filter:
				return usageError{fmt.Errorf("nothing to delete: give trace ids, or --user-id, --service, --since or --until")}
			case filter && !yes:
				return usageError{fmt.Errorf("this deletes every trace that %s; add --yes to go ahead", describeFilter(service, deployment, userID, since, until))}
			}
			// A request deletes up to thousands of traces: give it time.
			c, err := newAPIClient(flags.server, max(flags.timeout, 5*time.Minute))
			if err != nil {
				return err
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if len(args) > 0 {
				for _, id := range args {
					path := "traces/" + url.PathEscape(id)
					status, body, err := send(cmd.Context(), c, http.MethodDelete, path, nil, nil)
					if err != nil {
						return err
					}
					if status != http.StatusOK {
						return answerError(c, http.MethodDelete, path, status, body)
					}
					var a deleteAnswer
					if err := c.decode(body, "a deletion", &a); err != nil {
						return err
					}
					fmt.Fprintf(out, "trace %s deleted (%s, %s, %s)\n", cell(id, 64), plural(int(a.Deleted.Spans), "span"),
						plural(int(a.Deleted.LogRecords), "log record"), plural(int(a.Deleted.Evaluations), "evaluation"))
				}
				return nil
			}
			q := url.Values{"limit": {strconv.Itoa(deleteRequestLimit)}}
			for name, v := range map[string]string{"service": service, "deployment": deployment, "user_id": userID, "since": since, "until": until} {
				if v != "" {
					q.Set(name, v)
				}
			}
			var total deleteAnswer
			for {
				status, body, err := send(cmd.Context(), c, http.MethodDelete, "traces", q, nil)
				if err != nil {
					return err
				}
				if status != http.StatusOK {
					return answerError(c, http.MethodDelete, "traces", status, body)
				}
				var a deleteAnswer
				if err := json.Unmarshal(body, &a); err != nil {
					return fmt.Errorf("the server at %s sent a deletion that does not decode: %w", c.base, err)
				}
				total.Deleted.Traces += a.Deleted.Traces
				total.Deleted.Spans += a.Deleted.Spans
				total.Deleted.LogRecords += a.Deleted.LogRecords
				total.Deleted.Evaluations += a.Deleted.Evaluations
				if !a.More || a.Deleted.Traces == 0 {
					break
				}
				fmt.Fprintf(errOut, "deleted %s so far, going on...\n", plural(int(total.Deleted.Traces), "trace"))
			}
			fmt.Fprintf(out, "%s deleted (%s, %s, %s)\n", plural(int(total.Deleted.Traces), "trace"),
				plural(int(total.Deleted.Spans), "span"), plural(int(total.Deleted.LogRecords), "log record"),
				plural(int(total.Deleted.Evaluations), "evaluation"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&userID, "user-id", "", "delete every trace of this end user (the trace's user_id)")
	f.StringVar(&service, "service", "", "delete the traces of this service")
	f.StringVar(&deployment, "deployment", "", "only those of this deployment of --service")
	f.StringVar(&since, "since", "", "only traces that started at or after this time (2025-06-01, RFC 3339, or 7d before now)")
	f.StringVar(&until, "until", "", "only traces that started before this time (same forms)")
	f.BoolVar(&yes, "yes", false, "confirm a deletion by filter")
	return cmd
}

// describeFilter says in words what a deletion filter selects.
func describeFilter(service, deployment, userID, since, until string) string {
	var parts []string
	if userID != "" {
		parts = append(parts, fmt.Sprintf("belongs to user %q", userID))
	}
	if service != "" {
		s := fmt.Sprintf("comes from service %q", service)
		if deployment != "" {
			s += fmt.Sprintf(" (deployment %q)", deployment)
		}
		parts = append(parts, s)
	}
	if since != "" {
		parts = append(parts, "started at or after "+since)
	}
	if until != "" {
		parts = append(parts, "started before "+until)
	}
	if len(parts) == 0 { // --deployment alone: the server says what is missing
		return fmt.Sprintf("is of deployment %q", deployment)
	}
	return strings.Join(parts, " and ")
}
