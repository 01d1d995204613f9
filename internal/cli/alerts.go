package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/api"
)

// Bounds of the alerts commands.
const (
	// maxAlertLimit is the largest page the server gives.
	maxAlertLimit = 1000
	// channelTestTimeout is how long 'alerts test' waits for the answer
	// unless --timeout says otherwise: the server answers within the
	// channel's timeout, at most 5 minutes, plus its own bound.
	channelTestTimeout = 6*time.Minute + 30*time.Second
)

func newAlertsCmd() *cobra.Command {
	flags := &tracesFlags{}
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List alerts, show their notifications, list and test notification channels",
		Long: `Show the alerts a running flowwatch server's monitors raised and the
notifications sent for them, through its JSON API (/api/v1/alerts), and list
or test its notification channels (/api/v1/channels). An alert fires when a
monitor's run finds a quality metric or an operational signal out of bounds,
no data in its window, or cannot judge; a later run that finds it back within
bounds resolves it.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for \"flowwatch alerts\" (commands: list, get, channels, test)", args[0])}
			}
			return cmd.Help()
		},
	}
	server := os.Getenv("FLOWWATCH_SERVER")
	if server == "" {
		server = defaultServer
	}
	cmd.PersistentFlags().StringVar(&flags.server, "server", server, "URL of the flowwatch server (default from FLOWWATCH_SERVER)")
	cmd.PersistentFlags().DurationVar(&flags.timeout, "timeout", 30*time.Second, "how long to wait for each answer of the server ('alerts test': default 6m30s)")
	cmd.AddCommand(newAlertsListCmd(flags), newAlertsGetCmd(flags), newAlertsChannelsCmd(flags), newAlertsTestCmd(flags))
	return cmd
}

func newAlertsListCmd(flags *tracesFlags) *cobra.Command {
	var (
		output, state, monitor, cursor string
		limit                          int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List alerts, newest fired first",
		Long: `List alerts, newest fired first, optionally only firing or resolved ones,
or only those of one monitor. KEY says what the alert is about within its
monitor (quality:groundedness, operational:error_rate, no_data,
unhealthy:run). When more alerts match than --limit, the command says how to
list the next ones.`,
		Example: `  flowwatch alerts list --state firing
  flowwatch alerts list --monitor rag_quality --limit 10
  flowwatch alerts list -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if state != "" && state != "firing" && state != "resolved" {
				return usageError{fmt.Errorf("invalid --state %q: must be firing or resolved", state)}
			}
			q := url.Values{}
			if cmd.Flags().Changed("limit") {
				if limit < 1 || limit > maxAlertLimit {
					return usageError{fmt.Errorf("invalid --limit %d: must be from 1 to %d", limit, maxAlertLimit)}
				}
				q.Set("limit", strconv.Itoa(limit))
			}
			for name, v := range map[string]string{"state": state, "monitor": monitor, "cursor": cursor} {
				if v != "" {
					q.Set(name, v)
				}
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			body, err := c.get(cmd.Context(), "alerts", q)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeIndented(cmd.OutOrStdout(), body)
			}
			var list api.AlertList
			if err := c.decode(body, "an alert list", &list); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			if len(list.Alerts) == 0 {
				fmt.Fprintln(stderr, "no alerts found")
				return nil
			}
			if err := writeAlertTable(cmd.OutOrStdout(), list.Alerts, localZone()); err != nil {
				return err
			}
			if list.NextCursor != "" {
				fmt.Fprintf(stderr, "more alerts match: rerun with --cursor %s\n", cell(list.NextCursor, 1024))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "", "only alerts in this state: firing or resolved")
	f.StringVar(&monitor, "monitor", "", "only the alerts of this monitor")
	f.IntVar(&limit, "limit", 0, fmt.Sprintf("alerts per page, 1 to %d (default: the server's, 50)", maxAlertLimit))
	f.StringVar(&cursor, "cursor", "", "continue a listing from the cursor a previous page printed")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// writeAlertTable writes one row per alert.
func writeAlertTable(w io.Writer, alerts []api.Alert, loc *time.Location) error {
	tbl := newTable(w)
	tbl.row("ID", "MONITOR", "KEY", "STATE", "FIRED", "RESOLVED", "SUMMARY")
	for _, a := range alerts {
		tbl.row(cell(a.ID, 64), cell(a.Monitor, 60), cell(a.Key, 60), cell(a.State, 20),
			formatTime(&a.FiredAt, loc), formatTime(a.ResolvedAt, loc), cell(a.Summary, 100))
	}
	return tbl.flush()
}

func newAlertsGetCmd(flags *tracesFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show one alert and its notifications",
		Long: `Show one alert (see 'alerts list' for the ids) and the notifications queued
for it, oldest first: the channel ("emails" for the monitor's own addresses),
the event (firing, reminder, resolved), where its delivery is (pending, sent,
or failed: given up), the attempts so far and the last error.`,
		Example: `  flowwatch alerts get 0190a3c4e5f60718293a4b5c6d7e8f90
  flowwatch alerts get 0190a3c4e5f60718293a4b5c6d7e8f90 -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("alerts get takes one alert id, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var d api.AlertDetail
			if done, err := fetch(cmd, flags, output, "alerts/"+url.PathEscape(args[0]), nil, "an alert", &d); done || err != nil {
				return err
			}
			return writeAlertDetail(cmd.OutOrStdout(), &d, localZone())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// writeAlertDetail writes an alert, then its notifications as a table.
func writeAlertDetail(w io.Writer, d *api.AlertDetail, loc *time.Location) error {
	tbl := newTable(w)
	line := func(label, value string) {
		if value != "" {
			tbl.row(label, value)
		}
	}
	line("Alert", cell(d.ID, 64))
	line("Monitor", cell(d.Monitor, 200))
	line("Key", fmt.Sprintf("%s (%s)", cell(d.Key, 200), cell(d.Kind, 20)))
	line("State", cell(d.State, 20))
	line("Summary", cell(d.Summary, 300))
	if d.Value != nil {
		value := formatNumber(*d.Value)
		if d.Threshold != "" {
			value += " (threshold: " + cell(d.Threshold, 100) + ")"
		}
		line("Value", value)
	} else {
		line("Threshold", cell(d.Threshold, 100))
	}
	line("Fired", formatTime(&d.FiredAt, loc)+" by run "+cell(d.FiringRunID, 64))
	if d.LastRunID != "" && d.LastRunID != d.FiringRunID {
		line("Last run", cell(d.LastRunID, 64))
	}
	if d.ResolvedAt != nil {
		line("Resolved", formatTime(d.ResolvedAt, loc)+" by run "+cell(d.ResolvedRunID, 64))
	}
	if d.LastNotifiedAt != nil {
		line("Notified", fmt.Sprintf("%s (%s)", formatTime(d.LastNotifiedAt, loc), plural(d.Reminders, "reminder")))
	}
	if err := tbl.flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	if len(d.Notifications) == 0 {
		_, err := fmt.Fprintln(w, "no notifications")
		return err
	}
	tbl.row("CHANNEL", "EVENT", "STATUS", "ATTEMPTS", "LAST ERROR")
	for _, n := range d.Notifications {
		channel := cell(n.Channel, 60)
		if len(n.Recipients) > 0 {
			channel += " (" + cell(strings.Join(n.Recipients, ", "), 80) + ")"
		}
		lastErr := cell(n.LastError, 200)
		if lastErr == "" {
			lastErr = "-"
		}
		tbl.row(channel, cell(n.Event, 20), describeNotificationStatus(n, loc), strconv.Itoa(n.Attempts), lastErr)
	}
	return tbl.flush()
}

// describeNotificationStatus writes a notification's status with when it
// ended, or when it is tried next.
func describeNotificationStatus(n api.Notification, loc *time.Location) string {
	status := cell(n.Status, 20)
	switch {
	case n.DoneAt != nil:
		return status + " " + formatTime(n.DoneAt, loc)
	case n.NextAttemptAt != nil:
		return status + ", next " + formatTime(n.NextAttemptAt, loc)
	}
	return status
}

func newAlertsChannelsCmd(flags *tracesFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "channels",
		Short: "List the notification channels of the server",
		Long: `List the notification channels of the server configuration, which monitors
name in notify.channels. TARGET is where a channel sends: the scheme and host
of its URL ("from the environment" when the URL is kept in an environment
variable, as it is a secret), or an e-mail channel's recipients. Secrets are
never shown.`,
		Example: `  flowwatch alerts channels
  flowwatch alerts channels -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list api.ChannelList
			if done, err := fetch(cmd, flags, output, "channels", nil, "a channel list", &list); done || err != nil {
				return err
			}
			if len(list.Channels) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no channels; configure them under channels: in the server configuration")
				return nil
			}
			tbl := newTable(cmd.OutOrStdout())
			tbl.row("NAME", "TYPE", "TARGET")
			for _, ch := range list.Channels {
				var target string
				switch {
				case len(ch.Recipients) > 0:
					target = cell(strings.Join(ch.Recipients, ", "), 200)
				case ch.URL != nil:
					target = cell(*ch.URL, 200)
				case ch.Type == "email":
					target = "-"
				default:
					target = "(from the environment)"
				}
				tbl.row(cell(ch.Name, 128), cell(ch.Type, 20), target)
			}
			return tbl.flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func newAlertsTestCmd(flags *tracesFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test CHANNEL",
		Short: "Send a test notification to a channel now",
		Long: `Ask the server to send a test notification to one of its channels now, without
retries, and wait for the outcome. The command exits with status 0 when the
channel took the notification, 1 with what went wrong when it did not (the
SMTP server's or the webhook's answer, a timeout, a refused connection), and 3
when the server has no such channel. Unless --timeout is given it waits up to
6m30s, as a channel's own timeout can be up to 5 minutes.`,
		Example: `  flowwatch alerts test oncall`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("alerts test takes one channel name, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f := *flags
			if !cmd.Flags().Changed("timeout") {
				f.timeout = channelTestTimeout
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			name := args[0]
			path := "channels/" + url.PathEscape(name) + "/test"
			status, answer, err := sendTyped(cmd.Context(), c, http.MethodPost, path, nil, "", nil)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return answerError(c, http.MethodPost, path, status, answer)
			}
			var res api.ChannelTest
			if err := c.decode(answer, "an answer", &res); err != nil {
				return err
			}
			if !res.Delivered {
				return errors.New("the server did not deliver the test notification")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "test notification delivered to channel %s\n", cell(name, 128))
			return nil
		},
	}
	return cmd
}
