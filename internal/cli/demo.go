package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var (
		o          = demo.Options{Traces: demo.DefaultTraces, KeepRunning: true, LiveInterval: demo.DefaultLiveInterval, Seed: 1}
		configPath string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "See flowwatch at work in a minute: a demo RAG app, its traces, a monitor run and an alert",
		Long: `Start flowwatch on a data directory of its own, with a small RAG application
built in that sends it real OpenTelemetry traces, then run a quality monitor
over them and print the dashboard's URLs. No LLM account is needed.

The application is the help assistant of the Nimbus smart thermostat (a
made-up product): a TF-IDF retriever over thirty help center articles and an
answer composer that quotes them. It runs as two deployments of the service
nimbus-assistant, prod (gpt-4o-mini) and canary (gpt-4o), next to a search
service, nimbus-search. Some answers go beyond their context (the canary's
more often), some model calls are rate-limited or time out, and the vector
store had an incident half an hour ago. It reports what it does through the
OpenTelemetry Go SDK as an instrumented application would: OTel GenAI spans
with models, token usage, messages and retrieved documents, exported over
OTLP/HTTP and OTLP/gRPC.

The demo sends --traces requests spread over the last hour, applies the
monitor nimbus-assistant-quality (written to the data directory as YAML; it
uses the built-in evaluators, or the LLM judge when --config names one), runs
it, and prints its figures, the alerts it fired and the URLs of the dashboard
(overview, service, monitor, run, alerts). Then it keeps serving, the
application sending a request every --live-interval and the monitor running
every 5 minutes, until Ctrl-C.

The data directory (default ./flowwatch-demo, kept so that 'flowwatch serve
--data ./flowwatch-demo' can show it again) must be new, empty, or an
earlier demo's: the demo refuses a directory holding anything else, so it
never writes into a real flowwatch's data. It listens on loopback only and
reads no FLOWWATCH_* environment variables. From --config it takes the
judges, pricing and notification settings; the data directory, storage path,
monitors_dir and listen addresses are the demo's own.`,
		Args: noArgs,
		Example: `  flowwatch demo
  flowwatch demo --http 127.0.0.1:0 --grpc 127.0.0.1:0     # free ports
  flowwatch demo --config flowwatch.yaml --judge aoai-connection
  flowwatch demo --keep-running=false --data /tmp/fw-demo  # stop after the run`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default()
			if configPath != "" {
				var err error
				if cfg, err = config.Load(configPath); err != nil {
					return usageError{err}
				}
			}
			o.Config = &cfg
			o.Out = cmd.OutOrStdout()
			if _, err := o.Check(); err != nil {
				return usageError{err}
			}
			err := demo.Run(cmd.Context(), o)
			switch {
			case errors.Is(err, demo.ErrNotDemoDir):
				return usageError{err}
			case err != nil:
				return fmt.Errorf("demo: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data", demo.DefaultDataDir, "data directory of the demo: new, empty, or an earlier demo's")
	f.StringVar(&o.HTTPAddr, "http", demo.DefaultHTTPAddr, "loopback address for OTLP/HTTP, the API and the dashboard (port 0: a free one)")
	f.StringVar(&o.GRPCAddr, "grpc", demo.DefaultGRPCAddr, "loopback address for OTLP/gRPC (port 0: a free one)")
	f.StringVar(&configPath, "config", "", "server config file whose judges, pricing and notification settings the demo uses")
	f.StringVar(&o.Judge, "judge", "", "judge connection of --config for the monitor (default: the only one; without judges, built-in evaluators)")
	f.IntVar(&o.Traces, "traces", demo.DefaultTraces, fmt.Sprintf("requests of the last hour sent at start (1 to %d)", demo.MaxTraces))
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the demo traffic: the same seed sends the same requests")
	f.BoolVar(&o.KeepRunning, "keep-running", true, "keep serving and sending live traffic until Ctrl-C; --keep-running=false stops after the run")
	f.DurationVar(&o.LiveInterval, "live-interval", demo.DefaultLiveInterval, "how often the application sends a live request while the demo keeps running")
	return cmd
}
