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
	cmd.AddCommand(newBenchIngestCmd(), newBenchSearchCmd(), newBenchPagesCmd(), newBenchSoakCmd(), newBenchBackendsCmd(), newBenchGatewayCmd())
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

func newBenchSearchCmd() *cobra.Command {
	o := bench.SearchOptions{}
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Load a SQLite store with RAG traces over 30 days and time every trace search",
		Long: `Load a SQLite store with --spans spans of RAG traces whose start times
spread over the last --days days, written through the store's WriteBatch
with the normalizer's derived fields (the write path ingest uses), from
--writers concurrent writers in batches of --batch-traces traces. Then time
every search the Traces view offers (newest first; by service, deployment,
status, model, minimum duration, full text; combinations; the second page)
--runs times each, and print p50, p95 and max per search with the page size
returned, the load rate, the database's size on disk and peak RSS.

The traces: 4 services with 1 or 2 deployments each, a flow root, a
retrieval span with 3 documents, a chat span (5 models, dated and undated
names), an embedding span in one trace in two and a query-rewrite chat call
with gpt-4o-mini in one in three; 3% fail; durations log-normal around
1.4 s with one in 200 over 20 s; one trace in 200 arrives up to 2 hours
late. Questions and answers are drawn from a 5,000-word vocabulary (Zipf);
"documentation" is in every trace, "zephyrine" in one in 20,000.

Without --data the store lives in a temporary directory, removed afterwards.
With --data DIR it is kept there, and a later run with the same --data
searches it again without loading (loading 10 million spans takes minutes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			fmt.Fprintf(cmd.OutOrStdout(), "load: %d spans over %d days, %d writers, %d traces per batch; each search %d times, pages of %d\n",
				o.Spans, o.Days, o.Writers, o.BatchTraces, o.Runs, o.Limit)
			res, err := bench.Search(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data", "", "directory of the store, kept and reused (default: a temporary one, removed after)")
	f.IntVar(&o.Spans, "spans", 10_000_000, "spans to load (--spans 200000 for a quick run)")
	f.IntVar(&o.Days, "days", 30, "days the traces' start times spread over, up to now")
	f.IntVar(&o.Writers, "writers", 4, "concurrent writers while loading")
	f.IntVar(&o.BatchTraces, "batch-traces", 100, "traces per WriteBatch (about 3.8 spans each)")
	f.IntVar(&o.Runs, "runs", 20, "times each search is timed")
	f.IntVar(&o.Limit, "limit", 50, "page size of each search")
	return cmd
}

func newBenchSoakCmd() *cobra.Command {
	o := bench.SoakOptions{}
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "Ingest steadily far past the retention horizon and show the data directory level off",
		Long: `Write RAG traces (3.8 spans each on average, the traces of bench search)
through the store's write path, one every --step of simulated time, for
--horizons retention periods, while the retention sweeper (the one serve runs,
on the same simulated clock) deletes what is older than --retention every
--sweep-every. Weeks of traffic pass in a minute or two.

Every half retention period it prints the traces written, deleted and stored
and the size of the data directory (database and WAL). Once the first traces
expire the size should stop growing: SQLite reuses the pages deletions free.
At the end it prints the write rate and the write latency, overall and while
a sweep was deleting (retention must never hold ingest up for long).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case o.Retention < time.Minute:
				return usageError{fmt.Errorf("--retention must be at least 1m, got %s", o.Retention)}
			case o.Step <= 0 || o.Step > o.Retention:
				return usageError{fmt.Errorf("--step must be positive and at most --retention, got %s", o.Step)}
			case o.Horizons < 2 || o.Horizons > 100:
				return usageError{fmt.Errorf("--horizons must be between 2 and 100, got %d", o.Horizons)}
			case o.SweepEvery <= 0 || o.SweepEvery > o.Retention:
				return usageError{fmt.Errorf("--sweep-every must be positive and at most --retention, got %s", o.SweepEvery)}
			case o.BatchTraces < 1 || o.BatchTraces > 10000:
				return usageError{fmt.Errorf("--batch-traces must be between 1 and 10000, got %d", o.BatchTraces)}
			}
			o.Progress = cmd.ErrOrStderr()
			res, err := bench.Soak(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data", "", "data directory, empty or absent (default: a temporary one, removed after)")
	f.DurationVar(&o.Retention, "retention", 24*time.Hour, "trace retention, in simulated time")
	f.IntVar(&o.Horizons, "horizons", 4, "how many retention periods to ingest for")
	f.DurationVar(&o.Step, "step", 2*time.Second, "simulated time between two traces (2s: 43,200 traces a day)")
	f.DurationVar(&o.SweepEvery, "sweep-every", time.Hour, "how often the sweeper runs, in simulated time")
	f.IntVar(&o.BatchTraces, "batch-traces", 100, "traces per write batch")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the soak to this file")
	return cmd
}

func newBenchBackendsCmd() *cobra.Command {
	o := bench.BackendsOptions{}
	cmd := &cobra.Command{
		Use:   "backends",
		Short: "Compare SQLite and PostgreSQL side by side: ingest with 1 and 3 replicas, and the API's reads at N spans",
		Long: `Measure both storage backends on this machine in one run and print them
side by side.

Ingest: OTLP/HTTP protobuf load (the requests of bench ingest) from
--concurrency senders in all, through 'serve' subprocesses of this binary,
into an empty store each time: SQLite, PostgreSQL with one replica, and
PostgreSQL with --replicas replicas on the same database (the senders spread
evenly over them). It prints accepted spans/s and request latency (p50, p99).

Queries: a store of --spans spans of RAG traces over --days days on each
backend (the data of bench search, written through each store's
WriteBatch), then the trace list (newest, page 2, filtered), the trace
detail, full-text searches and the 7-day operational view (hourly request
and model-call rollups, all services and one), each --runs times after one
warm-up, p50 and p95 per backend.

PostgreSQL: --postgres DSN, or without it a throwaway server started with
scripts/postgres.sh (Debian's postgresql package; run from the repository)
with production durability settings, stopped and removed at the end.

Loading is slow (10 million spans take about 20 minutes into PostgreSQL):
with --data DIR the loaded stores are kept, SQLite in DIR/sqlite-N and
PostgreSQL in schema flowwatch_bench_N of the --postgres database, and a
later run with the same --data, --postgres and --spans reuses them
(DIR/sqlite-N may also be a link to the --data of bench search, which
loads the same data). Without --data both are removed at the end. A server this benchmark starts is always
thrown away: keep a PostgreSQL running and pass --postgres to reuse its load.`,
		Example: `  flowwatch bench backends --spans 200000 --duration 10s
  flowwatch bench backends --postgres postgres://flowwatch@127.0.0.1:5432/flowwatch --data /var/tmp/fw-bench`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			res, err := bench.Backends(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Postgres, "postgres", "", "DSN of the PostgreSQL to use (default: start a throwaway one with scripts/postgres.sh)")
	f.StringVar(&o.PostgresScript, "postgres-script", "scripts/postgres.sh", "script that starts the throwaway PostgreSQL")
	f.StringVar(&o.DataDir, "data", "", "directory that keeps the loaded stores for later runs (default: remove them)")
	f.DurationVar(&o.Duration, "duration", 30*time.Second, "how long each ingest run measures")
	f.DurationVar(&o.Warmup, "warmup", 3*time.Second, "ingest load before measuring starts")
	f.IntVar(&o.Concurrency, "concurrency", 8, "concurrent ingest senders in all")
	f.IntVar(&o.Replicas, "replicas", 3, "replicas of the scaled-out PostgreSQL ingest run")
	f.IntVar(&o.Shape.Traces, "traces", 100, "traces per ingest request")
	f.IntVar(&o.Shape.TextBytes, "text-bytes", 1000, "size of each text field of the ingest requests")
	f.IntVar(&o.Shape.Services, "services", 4, "distinct service names in the ingest requests")
	f.IntVar(&o.Spans, "spans", 10_000_000, "spans in each query store (--spans 200000 for a quick run)")
	f.IntVar(&o.Days, "days", 30, "days the stored traces spread over, up to now")
	f.IntVar(&o.Writers, "writers", 4, "concurrent writers while loading")
	f.IntVar(&o.BatchTraces, "batch-traces", 100, "traces per WriteBatch while loading")
	f.IntVar(&o.Runs, "runs", 20, "times each query is timed")
	f.IntVar(&o.Limit, "limit", 50, "page size of the trace lists")
	f.BoolVar(&o.SkipIngest, "skip-ingest", false, "time only the queries")
	f.BoolVar(&o.SkipQueries, "skip-queries", false, "measure only ingest")
	return cmd
}

func newBenchGatewayCmd() *cobra.Command {
	o := bench.GatewayOptions{}
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Measure what the recording gateway adds to a call: direct and through the gateway, side by side",
		Long: `Measure the latency the gateway adds, at a fixed request rate, against an
upstream that answers at once, and check that every call is recorded.

The upstream runs in this process on a loopback port: an OpenAI-compatible
chat completions endpoint answering a realistic completion (with usage), or,
when asked to stream, a short event stream ending with a usage chunk. A
'serve' subprocess of this binary (fresh temporary data directory, SQLite)
has a gateway of kind openai pointing at it.

Four phases, each --duration after --warmup of the same load: chat requests
straight to the upstream, the same through the gateway, then streaming
requests both ways. The load is an open loop: --rate requests start every
second on schedule whatever the latency, from a pool of --workers (a request
whose time comes with every worker busy waits and is counted as late).
It prints requests sent, failed (any non-200 answer, error, or answer not
the upstream's whole) and late, latency p50/p90/p99/max (chat: to the end
of the answer; streams: to the first byte) and what the gateway adds; then,
once the recorder is idle, the recordings stored, dropped and failed
(/metrics) and the traces the store holds, and whether each target of the
issue holds (adds under 1 ms at p50 and 5 ms at p99, stream time to first
byte under 1 ms, no failed request, every recording stored).

The load generator, the upstream and the server share this machine's cores:
the figures are for that, not for a gateway on a machine of its own.`,
		Example: `  flowwatch bench gateway
  flowwatch bench gateway --rate 1000 --duration 10s --cpuprofile gateway.pprof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case o.Rate < 1 || o.Rate > 100_000:
				return usageError{fmt.Errorf("--rate must be between 1 and 100000, got %d", o.Rate)}
			case o.Duration <= 0:
				return usageError{fmt.Errorf("--duration must be positive, got %s", o.Duration)}
			case o.Warmup < 0:
				return usageError{fmt.Errorf("--warmup must not be negative, got %s", o.Warmup)}
			case o.Workers < 1 || o.Workers > 100_000:
				return usageError{fmt.Errorf("--workers must be between 1 and 100000, got %d", o.Workers)}
			}
			o.Progress = cmd.ErrOrStderr()
			res, err := bench.Gateway(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Rate, "rate", 500, "requests started per second")
	f.DurationVar(&o.Duration, "duration", 30*time.Second, "how long each of the four phases measures")
	f.DurationVar(&o.Warmup, "warmup", 3*time.Second, "load before each phase's measurement starts")
	f.IntVar(&o.Workers, "workers", 256, "requests in flight at most")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write the server's CPU profile of the measured gateway chat phase to this file")
	return cmd
}
