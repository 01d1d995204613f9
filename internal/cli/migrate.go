package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/store/postgres"
)

func newMigrateCmd() *cobra.Command {
	var (
		configPath string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the store's schema migrations (PostgreSQL), or list them with --dry-run",
		Long: `Apply the schema migrations this flowwatch needs to the PostgreSQL database
of storage.postgres.dsn (FLOWWATCH_POSTGRES_DSN), under the same advisory lock
that replicas take when they start, so it is safe while they run. With
--dry-run it only lists the migrations the database still needs.

flowwatch serve migrates at start too; run this first to migrate as a
separate, visible step of a deployment (before rolling out new replicas).
The embedded SQLite store migrates itself when it is opened.`,
		Example: `  FLOWWATCH_POSTGRES_DSN=postgres://flowwatch@db:5432/flowwatch flowwatch migrate --dry-run
  flowwatch migrate --config flowwatch.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				configPath = os.Getenv("FLOWWATCH_CONFIG")
			}
			cfg, err := serveConfig(configPath, os.LookupEnv)
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !cfg.UsePostgres() {
				fmt.Fprintf(out, "the embedded store (%s) migrates itself when flowwatch opens it: nothing to do\n", cfg.SQLitePath())
				return nil
			}
			p := cfg.Storage.Postgres
			if dryRun {
				pending, err := postgres.Pending(cmd.Context(), p.DSN, p.Schema)
				if err != nil {
					return err
				}
				if len(pending) == 0 {
					fmt.Fprintln(out, "the database is up to date")
					return nil
				}
				for _, m := range pending {
					fmt.Fprintf(out, "pending  %s\n", m.Name)
				}
				return nil
			}
			applied, err := postgres.Migrate(cmd.Context(), p.DSN, p.Schema)
			for _, name := range applied {
				fmt.Fprintf(out, "applied  %s\n", name)
			}
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(out, "the database is up to date")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "server config file (default from FLOWWATCH_CONFIG)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only list the migrations the database needs")
	return cmd
}
