package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/bench"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure flowwatch's performance",
	}
	cmd.AddCommand(newBenchIngestCmd())
	return cmd
}

func newBenchIngestCmd() *cobra.Command {
	o := bench.IngestOptions{}
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Drive OTLP/HTTP protobuf load at a server and report spans/s, latency and peak RSS",
		Long: `Drive OTLP/HTTP protobuf export requests at a flowwatch server from this
process and report accepted spans per second, request latency (p50, p99, max)
and the server's peak resident memory.

Without --target it starts a server itself (this binary, 'serve', on a fresh
temporary data directory and free loopback ports) and stops it afterwards.
Each request carries --traces traces of 3 spans (a promptflow flow root, an
OpenInference retrieval span with 3 documents, an OTel GenAI chat span) with
text fields of --text-bytes bytes; every request has fresh trace and span ids.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Target != "" && o.DataDir != "" {
				return usageError{fmt.Errorf("--data applies only when bench starts the server (no --target)")}
			}
			o.Progress = cmd.ErrOrStderr()
			fmt.Fprintf(cmd.OutOrStdout(), "load: %d senders, %d traces x %d spans per request, %d-byte texts, %s (after %s warm-up)\n",
				o.Concurrency, o.Shape.Traces, bench.SpansPerTrace, o.Shape.TextBytes, o.Duration, o.Warmup)
			res, err := bench.Ingest(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Target, "target", "", "base URL of a running server (default: start one)")
	f.IntVar(&o.ServerPID, "pid", 0, "process id of the --target server, to report its peak RSS")
	f.StringVar(&o.DataDir, "data", "", "data directory for the started server (default: a temporary one, removed after)")
	f.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to measure")
	f.DurationVar(&o.Warmup, "warmup", 3*time.Second, "load before measuring starts")
	f.IntVar(&o.Concurrency, "concurrency", 8, "concurrent senders")
	f.IntVar(&o.Shape.Traces, "traces", 100, "traces per request")
	f.IntVar(&o.Shape.TextBytes, "text-bytes", 1000, "size of each text field")
	f.IntVar(&o.Shape.Services, "services", 4, "distinct service names")
	return cmd
}
