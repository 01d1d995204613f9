package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/bench"
)

func newBenchPagesCmd() *cobra.Command {
	o := bench.PagesOptions{}
	cmd := &cobra.Command{
		Use:   "pages",
		Short: "Time every dashboard page over a store loaded by bench search",
		Long: `Serve the store in --data (one that flowwatch bench search --data DIR
loaded) with the whole flowwatch server on loopback, apply and run a
monitor over the busiest deployment's last 7 days with the built-in
evaluators (sampling about --sample traces), then fetch every dashboard
page and view, and every trace-search filter of the Traces view, --runs
times each after one warm-up, and print p50, p95 and max per page with its
size. The times are whole requests on loopback: server rendering, the
store's reads and reading the body.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			res, err := bench.Pages(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data", "", "directory of a store loaded by flowwatch bench search --data DIR (required)")
	f.IntVar(&o.Runs, "runs", 20, "times each page is fetched")
	f.StringVar(&o.Only, "only", "", "time only the pages whose name contains this (\"30d\", \"overview\")")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed requests to this file")
	f.IntVar(&o.Sample, "sample", 2000, "about how many traces the benchmark's monitor run judges")
	return cmd
}
