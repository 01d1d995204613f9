package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store/postgres"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
	"github.com/flowwatch/flowwatch/internal/transfer"
)

func newCopyCmd() *cobra.Command {
	var (
		from, to, schema string
		pageSize         int
	)
	cmd := &cobra.Command{
		Use:   "copy --from sqlite:PATH --to postgres:DSN",
		Short: "Copy an embedded installation (SQLite) to PostgreSQL",
		Long: `Copy everything an embedded flowwatch store holds into a PostgreSQL database:
traces with their spans and log records, the operational rollups, monitors,
their schedule, runs, results and judged instances, cached verdicts, alert
state machines, alerts, delivery groups, the notification outbox, silences
and API keys. Ids, times and states are kept: the copy answers every API
query as the original does.

Stop the server that uses the SQLite file first (the copy refuses a file in
use). The target must be empty (a new database, or a new schema with
--schema); its migrations are applied first.

The copy can be interrupted (Ctrl-C, a lost connection) and run again with
the same arguments: it continues after the last page it committed and
stores nothing twice. Start neither the embedded server nor the replicas
before the copy has ended: the source must not change between runs, and
the target must hold only what the copy put there. At the end the rows of every table are counted on
both sides and compared; the command fails if any count differs. Progress
(records done of the total, rate, time left) goes to stderr.

An empty DSN (--to postgres:) takes it from FLOWWATCH_POSTGRES_DSN, which
keeps a password out of the process list.`,
		Example: `  flowwatch copy --from sqlite:./flowwatch-data/flowwatch.db --to postgres://flowwatch@db:5432/flowwatch
  FLOWWATCH_POSTGRES_DSN=postgres://flowwatch:secret@db/flowwatch flowwatch copy --from sqlite:flowwatch.db --to postgres:`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, ok := strings.CutPrefix(from, "sqlite:")
			if !ok || src == "" {
				return usageError{fmt.Errorf("--from must be sqlite:PATH, got %q", from)}
			}
			dsn, ok := strings.CutPrefix(to, "postgres:")
			if !ok {
				// A URL DSN names its scheme itself.
				if strings.HasPrefix(to, "postgres://") || strings.HasPrefix(to, "postgresql://") {
					dsn, ok = to, true
				}
			}
			if !ok {
				return usageError{fmt.Errorf("--to must be postgres:DSN")}
			}
			if dsn == "" {
				dsn = os.Getenv("FLOWWATCH_POSTGRES_DSN")
				if dsn == "" {
					return usageError{errors.New("--to postgres: without a DSN needs FLOWWATCH_POSTGRES_DSN")}
				}
			}
			return runCopy(cmd.Context(), src, dsn, schema, pageSize, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the store to copy: sqlite:PATH (the database file, flowwatch.db in the data directory)")
	f.StringVar(&to, "to", "", "the store to copy into: postgres:DSN (URL or key=value form)")
	f.StringVar(&schema, "schema", "", "PostgreSQL schema to copy into (as storage.postgres.schema; default: the DSN's search_path)")
	f.IntVar(&pageSize, "page-size", transfer.DefaultPageSize, "records per transaction in the target")
	return cmd
}

func runCopy(ctx context.Context, path, dsn, schema string, pageSize int, stdout, stderr io.Writer) error {
	if _, err := os.Stat(path); err != nil {
		// sqlite.Open would create an empty database.
		return fmt.Errorf("the SQLite store to copy: %w", err)
	}
	// The deriver derives spans for the target's full-text index; the
	// summaries and rollups are copied as stored, with their costs.
	d := normalize.Deriver{}
	src, err := sqlite.Open(ctx, sqlite.Options{Path: path, Deriver: d}, nil)
	if errors.Is(err, sqlite.ErrLocked) {
		return fmt.Errorf("the SQLite store is in use, stop the flowwatch server using it first: %w", err)
	}
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, postgres.Options{DSN: dsn, Schema: schema, Deriver: d, MaxConns: 4}, nil)
	if err != nil {
		return err
	}
	defer dst.Close()

	redraw := false
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			redraw = true
		}
	}
	logger := slog.New(slog.DiscardHandler)
	fmt.Fprintf(stderr, "copying %s to PostgreSQL\n", path)
	rep, err := transfer.Copy(ctx, src, dst, transfer.Options{PageSize: pageSize, Progress: stderr, Redraw: redraw}, logger)
	if len(rep.Tables) > 0 {
		rep.WriteTable(stdout)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("copy interrupted; run the same command again to continue where it stopped")
	case err != nil:
		return err
	}
	var n int64
	for _, k := range rep.Kinds {
		n += k.Copied
	}
	rate := ""
	if s := rep.Elapsed.Seconds(); s > 0 {
		rate = fmt.Sprintf(" (%.0f records/s)", float64(n)/s)
	}
	fmt.Fprintf(stdout, "copied %d records in %s%s; every table's count matches\n", n, rep.Elapsed.Round(time.Millisecond), rate)
	for _, k := range rep.Kinds {
		if k.Before > 0 {
			fmt.Fprintln(stdout, "(the copy continued one that was interrupted: the records count this run's only)")
			break
		}
	}
	return nil
}
