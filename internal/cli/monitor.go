package cli

import (
	"bytes"
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
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
)

// maxMonitorFile bounds a monitor file read by the CLI; the server takes
// no more either.
const maxMonitorFile = monitor.MaxFileSize

// stdinName is how a monitor file read from standard input is named in
// messages.
const stdinName = "<stdin>"

func newMonitorCmd() *cobra.Command {
	flags := &tracesFlags{}
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Manage quality monitors, run them and show their results",
		Long: `Manage the generation quality monitors of a running flowwatch server, through
its JSON API (/api/v1/monitors). A monitor is a YAML file: flowwatch's native
form, or the reference platform's schedule form (create_monitor,
monitoring_signals), which is detected and translated to the native form.

'monitor validate' checks a file without a server. 'monitor runs' lists a
monitor's runs, 'monitor results' shows what the latest one found,
'monitor quality' shows the quality over time, and 'monitor run' starts one
now. 'flowwatch runs instances RUN' lists what a run judged, trace by trace.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for \"flowwatch monitor\" (commands: apply, list, get, delete, validate, run, runs, results, quality)", args[0])}
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
	cmd.AddCommand(newMonitorApplyCmd(flags), newMonitorListCmd(flags), newMonitorGetCmd(flags),
		newMonitorDeleteCmd(flags), newMonitorValidateCmd(flags), newMonitorRunCmd(flags), newMonitorRunsCmd(flags),
		newMonitorResultsCmd(flags), newMonitorQualityCmd(flags))
	return cmd
}

func newMonitorApplyCmd(flags *tracesFlags) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or replace a monitor from its file",
		Long: `Create or replace the monitor a file defines (native or reference form). The
file is checked here first, then by the server, which also checks that its
judge connection and notification channels exist. Every problem is printed as
FILE:LINE:COLUMN: key: message, and the command exits with status 1.

A monitor whose target service (or deployment) has not sent any trace yet is
applied, with a warning on stderr naming the services that have, closest first
("did you mean"): the monitor would otherwise find no data.`,
		Example: `  flowwatch monitor apply -f monitors/rag-quality.yaml
  cat monitor.yaml | flowwatch monitor apply -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, display, err := readMonitorFile(cmd, file)
			if err != nil {
				return err
			}
			loaded, err := monitor.Load(data, monitor.Env{})
			if err != nil {
				return invalidFile(cmd.ErrOrStderr(), display, err)
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			applied, status, err := putMonitor(cmd.Context(), c, loaded.Monitor.Name, data, false)
			if err != nil {
				return fileError(cmd.ErrOrStderr(), display, err)
			}
			verb := "configured"
			if status == http.StatusCreated {
				verb = "created"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "monitor %s %s (version %d)\n", cell(applied.Monitor.Monitor.Name, 200), verb, applied.Version)
			printWarnings(cmd.ErrOrStderr(), display, applied.Warnings)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the monitor file, or - for standard input (required)")
	return cmd
}

func newMonitorListCmd(flags *tracesFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the monitors",
		Example: `  flowwatch monitor list
  flowwatch monitor list -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list api.MonitorList
			if done, err := fetch(cmd, flags, output, "monitors", nil, "a monitor list", &list); done || err != nil {
				return err
			}
			if len(list.Monitors) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no monitors; create one with 'flowwatch monitor apply -f FILE'")
				return nil
			}
			return writeMonitorTable(cmd.OutOrStdout(), list.Monitors, localZone())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// writeMonitorTable writes one row per monitor.
func writeMonitorTable(w io.Writer, monitors []api.Monitor, loc *time.Location) error {
	tbl := newTable(w)
	tbl.row("NAME", "TARGET", "SCHEDULE", "METRICS", "JUDGE", "VERSION", "UPDATED")
	for _, m := range monitors {
		d := m.Monitor
		name := cell(d.Name, 80)
		if d.Disabled {
			name += " (disabled)"
		}
		target := d.Target.Service
		if d.Target.Deployment != "" {
			target += "/" + d.Target.Deployment
		}
		judge := cell(d.Judge, 40)
		if judge == "" {
			judge = "-"
		}
		tbl.row(name, cell(target, 60), cell(describeSchedule(d.Schedule), 60), cell(metricNames(d), 60),
			judge, strconv.FormatInt(m.Version, 10), m.UpdatedAt.In(loc).Format("2006-01-02 15:04"))
		if tbl.rows%tableBatch == 0 {
			if err := tbl.flush(); err != nil {
				return err
			}
		}
	}
	return tbl.flush()
}

// describeSchedule is a schedule in a few words: the cron expression, or
// "every 2 days at 10:15", with the time zone when it is not UTC.
func describeSchedule(s model.Schedule) string {
	var out string
	switch r := s.Recurrence; {
	case s.Cron != "":
		out = s.Cron
	case r != nil:
		unit := r.Frequency
		if r.Interval > 1 {
			out = fmt.Sprintf("every %d %ss", r.Interval, unit)
		} else {
			out = "every " + unit
		}
		if len(r.WeekDays) > 0 {
			out += " on " + strings.Join(r.WeekDays, ",")
		}
		var times []string
		for _, h := range r.Hours {
			for _, m := range r.Minutes {
				times = append(times, fmt.Sprintf("%02d:%02d", h, m))
			}
		}
		switch {
		case len(times) > 0:
			out += " at " + strings.Join(times, ",")
		case len(r.Minutes) > 0:
			var mins []string
			for _, m := range r.Minutes {
				mins = append(mins, fmt.Sprintf(":%02d", m))
			}
			out += " at " + strings.Join(mins, ",")
		}
	default:
		out = "-"
	}
	if s.Timezone != "" && s.Timezone != "UTC" {
		out += " (" + s.Timezone + ")"
	}
	return out
}

// metricNames lists the quality metrics, then the operational signals, of
// a monitor.
func metricNames(m model.Monitor) string {
	var names []string
	names = append(names, slices.Sorted(maps.Keys(m.Quality))...)
	names = append(names, slices.Sorted(maps.Keys(m.Operational))...)
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ",")
}

func newMonitorGetCmd(flags *tracesFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a monitor as its YAML file (or as JSON)",
		Long: `Show a monitor. As YAML (the default) it is the monitor file in flowwatch's
native form, with the defaults applied; it can be applied back unchanged. As
JSON it also has the monitor's version and times.`,
		Example: `  flowwatch monitor get rag_quality
  flowwatch monitor get rag_quality -o json
  flowwatch monitor get gen_ai_monitor_generation_quality > monitor.yaml`,
		Args: oneName("get"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "yaml" && output != "json" {
				return usageError{fmt.Errorf("invalid --output %q: must be yaml or json", output)}
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			q := url.Values{"format": {output}}
			body, err := c.get(cmd.Context(), "monitors/"+url.PathEscape(args[0]), q)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeIndented(cmd.OutOrStdout(), body)
			}
			if len(body) > 0 && body[len(body)-1] != '\n' {
				body = append(body, '\n')
			}
			_, err = cmd.OutOrStdout().Write(body)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	return cmd
}

func newMonitorDeleteCmd(flags *tracesFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a monitor",
		Example: `  flowwatch monitor delete rag_quality`,
		Args:    oneName("delete"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			path := "monitors/" + url.PathEscape(args[0])
			status, body, err := send(cmd.Context(), c, http.MethodDelete, path, nil, nil)
			if err != nil {
				return err
			}
			if status != http.StatusNoContent {
				return answerError(c, http.MethodDelete, path, status, body)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "monitor %s deleted\n", cell(args[0], 200))
			return nil
		},
	}
}

func newMonitorValidateCmd(flags *tracesFlags) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a monitor file without applying it",
		Long: `Check a monitor file (native or reference form) here, without a server, and
print every problem as FILE:LINE:COLUMN: key: message (exit status 1 when
there is one). Whether the judge connection and notification channels it names
exist depends on a server's configuration: with --server given on the command
line, the file is also sent to that server to be checked without being
stored.`,
		Example: `  flowwatch monitor validate -f monitors/rag-quality.yaml
  flowwatch monitor validate -f monitor.yaml --server http://flowwatch.internal:4318`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, display, err := readMonitorFile(cmd, file)
			if err != nil {
				return err
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			loaded, err := monitor.Load(data, monitor.Env{})
			if err != nil {
				return invalidFile(stderr, display, err)
			}
			m := loaded.Monitor
			named := m.Judge != "" || len(m.Notify.Channels) > 0
			if !cmd.Flags().Changed("server") {
				fmt.Fprintf(stdout, "%s: monitor %s is valid (%s form)\n", display, cell(m.Name, 200), loaded.Form)
				// The warnings say which names were not checked.
				printWarnings(stderr, display, loaded.Warnings)
				if named {
					fmt.Fprintln(stderr, "note: to check the judge connection and channels against a server's configuration, add --server URL")
				}
				return nil
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			applied, _, err := putMonitor(cmd.Context(), c, m.Name, data, true)
			if err != nil {
				return fileError(stderr, display, err)
			}
			fmt.Fprintf(stdout, "%s: monitor %s is valid (%s form), also for the server at %s\n", display, cell(m.Name, 200), applied.Form, c.base)
			printWarnings(stderr, display, applied.Warnings)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the monitor file, or - for standard input (required)")
	return cmd
}

// oneName checks that a command got exactly one monitor name.
func oneName(verb string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError{fmt.Errorf("monitor %s takes one monitor name, got %d arguments", verb, len(args))}
		}
		return nil
	}
}

// readMonitorFile reads the file -f names ("-" for standard input) and the
// name to give it in messages.
func readMonitorFile(cmd *cobra.Command, path string) ([]byte, string, error) {
	if path == "" {
		return nil, "", usageError{errors.New("give the monitor file with -f FILE (or -f - for standard input)")}
	}
	display := path
	var r io.Reader
	if path == "-" {
		display = stdinName
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", fmt.Errorf("read the monitor file: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxMonitorFile+1))
	if err != nil {
		return nil, "", fmt.Errorf("read the monitor file %s: %w", display, err)
	}
	if len(data) > maxMonitorFile {
		return nil, "", fmt.Errorf("%s is larger than %d MiB, the most a monitor file may be", display, maxMonitorFile>>20)
	}
	return data, display, nil
}

// problemsError is the error of a file with problems; they have been
// printed already.
type problemsError struct {
	file string
	n    int
}

func (e *problemsError) Error() string {
	return fmt.Sprintf("%s is not a valid monitor (%s)", e.file, plural(e.n, "problem"))
}

// invalidFile prints the problems of a file monitor.Load refused, one a
// line as FILE:LINE:COLUMN: key: message, and returns the error that ends
// the command with ExitError.
func invalidFile(w io.Writer, file string, err error) error {
	var (
		pe *monitor.ParseError
		ve *monitor.ValidationError
	)
	switch {
	case errors.As(err, &pe):
		ve = &monitor.ValidationError{Problems: []monitor.Problem{{Line: pe.Line, Column: pe.Column, Message: pe.Message}}}
	case !errors.As(err, &ve):
		return exitError{code: ExitError, err: fmt.Errorf("%s: %w", file, err)}
	}
	problems := make([]api.Problem, 0, len(ve.Problems))
	for _, p := range ve.Problems {
		problems = append(problems, api.Problem{Path: p.Path, Line: p.Line, Column: p.Column, Message: p.Message})
	}
	return printProblems(w, file, problems)
}

func printProblems(w io.Writer, file string, problems []api.Problem) error {
	var b strings.Builder
	for _, p := range problems {
		b.WriteString(file)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Column > 0 {
				fmt.Fprintf(&b, ":%d", p.Column)
			}
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(p.Path + ": ")
		}
		b.WriteString(p.Message)
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(w, b.String())
	return exitError{code: ExitError, err: &problemsError{file: file, n: len(problems)}}
}

// fileError prints the problems of a file the server refused (422), or
// passes any other error on.
func fileError(w io.Writer, file string, err error) error {
	var inv *invalidAnswer
	if errors.As(err, &inv) {
		return printProblems(w, file, inv.body.Problems)
	}
	return err
}

// invalidAnswer is a 422 answer to a monitor file.
type invalidAnswer struct{ body api.InvalidMonitorBody }

func (e *invalidAnswer) Error() string { return e.body.Error }

func printWarnings(w io.Writer, file string, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintf(w, "warning: %s: %s\n", file, s)
	}
}

// putMonitor sends a monitor file to PUT /api/v1/monitors/{name} (with
// ?dry_run=true when dryRun) and returns the answer and its status (200
// or 201). A 422 is an *invalidAnswer.
func putMonitor(ctx context.Context, c *apiClient, name string, data []byte, dryRun bool) (api.AppliedMonitor, int, error) {
	path := "monitors/" + url.PathEscape(name)
	var query url.Values
	if dryRun {
		query = url.Values{"dry_run": {"true"}}
	}
	status, body, err := send(ctx, c, http.MethodPut, path, query, data)
	if err != nil {
		return api.AppliedMonitor{}, 0, err
	}
	switch status {
	case http.StatusOK, http.StatusCreated:
		var applied api.AppliedMonitor
		if err := c.decode(body, "an answer", &applied); err != nil {
			return api.AppliedMonitor{}, 0, err
		}
		return applied, status, nil
	case http.StatusUnprocessableEntity:
		var inv api.InvalidMonitorBody
		if err := json.Unmarshal(body, &inv); err == nil && inv.Problems != nil {
			return api.AppliedMonitor{}, 0, &invalidAnswer{inv}
		}
	}
	return api.AppliedMonitor{}, 0, answerError(c, http.MethodPut, path, status, body)
}

// send makes a request to an API path (relative to /api/v1/), with body
// as a YAML monitor file when not nil, and returns the status and body of
// the answer.
func send(ctx context.Context, c *apiClient, method, path string, query url.Values, body []byte) (int, []byte, error) {
	return sendTyped(ctx, c, method, path, query, "application/yaml", body)
}

// sendTyped is send with a body of the given media type.
func sendTyped(ctx context.Context, c *apiClient, method, path string, query url.Values, contentType string, body []byte) (int, []byte, error) {
	target := c.base + "/api/v1/" + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return 0, nil, fmt.Errorf("request %s: %w", target, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "flowwatch-cli/"+Version)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, c.transportError(ctx, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("read the answer of %s: %w", c.base, c.transportError(ctx, err))
	}
	if len(answer) > maxResponseBytes {
		return 0, nil, fmt.Errorf("the answer of %s to %s is larger than %d MiB", c.base, path, maxResponseBytes>>20)
	}
	return res.StatusCode, answer, nil
}

// answerError turns an error answer into an error carrying the server's
// message, with the exit codes of apiClient.get: 404 ExitNotFound, 400
// ExitUsage, anything else ExitError.
func answerError(c *apiClient, method, path string, status int, body []byte) error {
	var e struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil {
		if plainToTLS(status, body) {
			return c.plainToTLSError()
		}
		return fmt.Errorf("the server at %s answered %d %s to %s /api/v1/%s; is it a flowwatch server?", c.base, status, http.StatusText(status), method, path)
	}
	msg := errors.New(*e.Error + keyHint(status))
	switch status {
	case http.StatusNotFound:
		return exitError{code: ExitNotFound, err: msg}
	case http.StatusBadRequest:
		return usageError{msg}
	}
	return msg
}
