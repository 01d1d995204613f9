package cli

import (
	"encoding/json"
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
		Short: "List alerts and their notifications, acknowledge and silence them, list and test channels",
		Long: `Show the alerts a running flowwatch server's monitors raised and the
notifications sent for them, through its JSON API (/api/v1/alerts), and list
or test its notification channels (/api/v1/channels). An alert fires when a
monitor's run finds a quality metric or an operational signal out of bounds,
no data in its window, or cannot judge; a later run that finds it back within
bounds resolves it. Each run sends one message per monitor and channel
listing its alerts; 'ack' stops an alert's reminders, 'silence' mutes a
monitor's alerts for a while (/api/v1/silences).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for \"flowwatch alerts\" (commands: list, get, ack, silence, silences, unsilence, channels, test)", args[0])}
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
	cmd.AddCommand(newAlertsListCmd(flags), newAlertsGetCmd(flags), newAlertsAckCmd(flags), newAlertsSilenceCmd(flags),
		newAlertsSilencesCmd(flags), newAlertsUnsilenceCmd(flags), newAlertsChannelsCmd(flags), newAlertsTestCmd(flags))
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

func newAlertsAckCmd(flags *tracesFlags) *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use:   "ack ALERT_ID [--comment TEXT]",
		Short: "Acknowledge a firing alert: no more reminders of it",
		Long: `Acknowledge a firing alert (see 'alerts list --state firing' for the ids):
its monitor's messages stop reminding of it (repeat_interval) until it
resolves, and 'alerts get' shows when it was acknowledged and the comment.
Its resolution is still told, and a later violation is a new alert. The
command exits with status 3 for an unknown alert, 1 for one that is already
resolved.`,
		Example: `  flowwatch alerts ack 0190a3c4e5f60718293a4b5c6d7e8f90
  flowwatch alerts ack 0190a3c4e5f60718293a4b5c6d7e8f90 --comment "judge quota raised, watching"`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("alerts ack takes one alert id, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			body, err := json.Marshal(api.AckRequest{Comment: comment})
			if err != nil {
				return err
			}
			path := "alerts/" + url.PathEscape(args[0]) + "/ack"
			status, answer, err := sendTyped(cmd.Context(), c, http.MethodPost, path, nil, "application/json", body)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return answerError(c, http.MethodPost, path, status, answer)
			}
			var a api.Alert
			if err := c.decode(answer, "an alert", &a); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "alert %s (%s, %s) acknowledged at %s\n", cell(a.ID, 64), cell(a.Monitor, 200),
				cell(a.Key, 200), formatTime(a.AckedAt, localZone()))
			return nil
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why, or who looks into it (at most 1000 characters)")
	return cmd
}

func newAlertsSilenceCmd(flags *tracesFlags) *cobra.Command {
	var (
		comment string
		dur     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "silence MONITOR[:KEY] --for DURATION [--comment TEXT]",
		Short: "Mute a monitor's alerts, or one key's, for a while",
		Long: `Mute the alerts of a monitor, or of one of its alert keys (as 'alerts list'
shows them: quality:groundedness, operational:error_rate, no_data,
unhealthy:run...), from now for --for (1m to 720h). Muted alerts still fire,
resolve and are recorded; the messages that would tell of them are recorded
as suppressed, with the silence's id, and not sent. Alerts of the monitor
that are not muted still go out. 'alerts silences' lists the silences and
'alerts unsilence ID' ends one early.`,
		Example: `  flowwatch alerts silence rag_quality --for 2h --comment "judge upgrade"
  flowwatch alerts silence rag_quality:quality:groundedness --for 30m`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("alerts silence takes one MONITOR or MONITOR:KEY, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if dur <= 0 {
				return usageError{errors.New("give how long with --for, e.g. --for 2h")}
			}
			monitor, key, _ := strings.Cut(args[0], ":")
			c, err := flags.client()
			if err != nil {
				return err
			}
			body, err := json.Marshal(api.SilenceRequest{Monitor: monitor, Key: key, DurationMS: dur.Milliseconds(), Comment: comment})
			if err != nil {
				return err
			}
			status, answer, err := sendTyped(cmd.Context(), c, http.MethodPost, "silences", nil, "application/json", body)
			if err != nil {
				return err
			}
			if status != http.StatusCreated {
				return answerError(c, http.MethodPost, "silences", status, answer)
			}
			var s api.Silence
			if err := c.decode(answer, "a silence", &s); err != nil {
				return err
			}
			what := "every alert of " + cell(s.Monitor, 200)
			if s.Key != "" {
				what = cell(s.Key, 200) + " of " + cell(s.Monitor, 200)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "silence %s mutes %s until %s\n", cell(s.ID, 64), what, formatTime(&s.EndsAt, localZone()))
			return nil
		},
	}
	cmd.Flags().DurationVar(&dur, "for", 0, "how long to mute, e.g. 30m or 2h (required; 1m to 720h)")
	cmd.Flags().StringVar(&comment, "comment", "", "why (at most 1000 characters)")
	return cmd
}

func newAlertsSilencesCmd(flags *tracesFlags) *cobra.Command {
	var (
		output, monitor string
		all             bool
	)
	cmd := &cobra.Command{
		Use:   "silences",
		Short: "List the silences in force (--all: ended ones too)",
		Example: `  flowwatch alerts silences
  flowwatch alerts silences --all --monitor rag_quality -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usageError{fmt.Errorf("alerts silences takes no arguments, got %d", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if all {
				q.Set("state", "all")
			}
			if monitor != "" {
				q.Set("monitor", monitor)
			}
			var list api.SilenceList
			if done, err := fetch(cmd, flags, output, "silences", q, "silences", &list); done || err != nil {
				return err
			}
			if len(list.Silences) == 0 {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "no silences")
				return err
			}
			loc := localZone()
			tbl := newTable(cmd.OutOrStdout())
			tbl.row("ID", "MONITOR", "KEY", "STATE", "CREATED", "ENDS", "COMMENT")
			for _, s := range list.Silences {
				key := s.Key
				if key == "" {
					key = "(all)"
				}
				tbl.row(cell(s.ID, 64), cell(s.Monitor, 60), cell(key, 60), cell(s.State, 10), formatTime(&s.CreatedAt, loc),
					formatTime(&s.EndsAt, loc), cell(s.Comment, 100))
			}
			return tbl.flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also the silences that have ended")
	cmd.Flags().StringVar(&monitor, "monitor", "", "only the silences of this monitor")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func newAlertsUnsilenceCmd(flags *tracesFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "unsilence ID",
		Short:   "End a silence now",
		Long:    "End a silence early (see 'alerts silences' for the ids): from now its alerts' messages are sent again.",
		Example: "  flowwatch alerts unsilence s0190a3c4e5f60718293a4b5c6d7e8f9",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("alerts unsilence takes one silence id, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			path := "silences/" + url.PathEscape(args[0])
			status, answer, err := sendTyped(cmd.Context(), c, http.MethodDelete, path, nil, "", nil)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return answerError(c, http.MethodDelete, path, status, answer)
			}
			var s api.Silence
			if err := c.decode(answer, "a silence", &s); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "silence %s ended at %s\n", cell(s.ID, 64), formatTime(&s.EndsAt, localZone()))
			return nil
		},
	}
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
	if d.AckedAt != nil {
		acked := formatTime(d.AckedAt, loc)
		if d.AckComment != "" {
			acked += ": " + cell(d.AckComment, 300)
		}
		line("Acknowledged", acked)
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
	case n.SilenceID != "":
		return status + " by silence " + cell(n.SilenceID, 64)
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
	var to string
	cmd := &cobra.Command{
		Use:   "test CHANNEL [--to ADDRESS]",
		Short: "Send a test notification to a channel now",
		Long: `Ask the server to send a test notification to one of its channels now, without
retries, and wait for the outcome. The command exits with status 0 when the
channel took the notification, 1 with what went wrong when it did not (the
SMTP server's or the webhook's answer, a timeout, a refused connection), and 3
when the server has no such channel. Unless --timeout is given it waits up to
6m30s, as a channel's own timeout can be up to 5 minutes.

The channel "emails" sends through the server's SMTP server (smtp: in its
configuration) without an e-mail channel being defined: give the address to
send to with --to. --to also replaces an e-mail channel's own recipients.`,
		Example: `  flowwatch alerts test oncall
  flowwatch alerts test emails --to you@example.com`,
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
			var query url.Values
			if to != "" {
				query = url.Values{"to": {to}}
			}
			status, answer, err := sendTyped(cmd.Context(), c, http.MethodPost, path, query, "", nil)
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
	cmd.Flags().StringVar(&to, "to", "", `e-mail address(es) to send the test to, comma-separated (required for the channel "emails")`)
	return cmd
}
