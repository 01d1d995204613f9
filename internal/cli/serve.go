package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
)

func newServeCmd() *cobra.Command {
	var (
		configPath string
		dataDir    string
		httpAddr   string
		grpcAddr   string
		logLevel   string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the flowwatch server",
		Long: `Run the flowwatch server: OTLP ingest over HTTP and gRPC, the JSON API and
health endpoints, on an embedded SQLite store in the data directory.

Settings come from, in increasing precedence: built-in defaults, the config
file (--config or FLOWWATCH_CONFIG), FLOWWATCH_* environment variables, and
these flags. See docs/configuration.md for every key.

On loopback no API key is needed until one is created; listening on any other
address needs one ('flowwatch keys create', before starting) or auth: none.
See docs/security.md.

Environment variables: ` + strings.Join(config.EnvNames(), ", ") + `.`,
		Args: cobra.NoArgs,
		Example: `  flowwatch serve
  flowwatch serve --data /var/lib/flowwatch --http 0.0.0.0:4318
  flowwatch serve --config flowwatch.yaml`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				configPath = os.Getenv(config.EnvPrefix + "CONFIG")
			}
			cfg := config.Default()
			if configPath != "" {
				var err error
				if cfg, err = config.Load(configPath); err != nil {
					return usageError{err}
				}
			}
			if err := config.ApplyEnv(&cfg, os.LookupEnv); err != nil {
				return usageError{err}
			}
			flags := cmd.Flags()
			if flags.Changed("data") {
				cfg.DataDir = dataDir
				cfg.Source.Forget("data_dir")
			}
			if flags.Changed("http") {
				cfg.HTTP.Address = httpAddr
				cfg.Source.Forget("http.address")
			}
			if flags.Changed("grpc") {
				cfg.GRPC.Address = grpcAddr
				cfg.Source.Forget("grpc.address")
			}
			if flags.Changed("log-level") {
				cfg.Log.Level = logLevel
				cfg.Source.Forget("log.level")
			}
			if err := cfg.Validate(); err != nil {
				return usageError{fmt.Errorf("invalid configuration:\n%w", err)}
			}
			logger := newLogger(cmd.ErrOrStderr(), cfg.Log)
			logger.Info("flowwatch_starting", "version", Version, "data_dir", cfg.DataDir)
			scheme, grpcTLS := "http", ""
			if cfg.HTTP.TLS.Enabled() {
				scheme = "https"
			}
			if cfg.GRPC.TLS.Enabled() {
				grpcTLS = " with TLS"
			}
			err := app.Run(cmd.Context(), cfg, logger, func(a *app.App) {
				fmt.Fprintf(cmd.OutOrStdout(), "flowwatch is listening: %s://%s (OTLP/HTTP, API), %s (OTLP/gRPC%s)\n",
					scheme, a.HTTPAddr(), a.GRPCAddr(), grpcTLS)
			})
			if err != nil && !errors.Is(err, cmd.Context().Err()) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "YAML config file (unknown keys are errors)")
	f.StringVar(&dataDir, "data", "", `data directory (default "./flowwatch-data")`)
	f.StringVar(&httpAddr, "http", "", `HTTP listen address for OTLP/HTTP and the API (default "127.0.0.1:4318")`)
	f.StringVar(&grpcAddr, "grpc", "", `OTLP/gRPC listen address (default "127.0.0.1:4317")`)
	f.StringVar(&logLevel, "log-level", "", `log level: debug, info, warn, error (default "info")`)
	return cmd
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
