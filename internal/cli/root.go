// Package cli holds flowwatch's commands (cobra) and their exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitError    = 1 // the command failed
	ExitUsage    = 2 // bad flags or arguments
	ExitNotFound = 3 // the thing asked for does not exist
)

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "error:", err)
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitError
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "flowwatch",
		Short: "Monitor deployed LLM and RAG applications",
		Long: `flowwatch receives OpenTelemetry traces from LLM and RAG applications,
keeps them searchable, and turns them into operational and quality monitoring.

Start the server with 'flowwatch serve', then point your app's OTLP exporter at
http://127.0.0.1:4318 (HTTP) or 127.0.0.1:4317 (gRPC).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCmd(), newServeCmd(), newTracesCmd(), newMetricsCmd(), newMonitorCmd(), newAlertsCmd(), newBenchCmd(), newDemoCmd())
	root.AddCommand(newHealthcheckCmd())
	root.AddCommand(newRunsCmd())
	root.AddCommand(newKeysCmd())
	root.AddCommand(newMigrateCmd())
	root.AddCommand(newCopyCmd())
	return root
}
