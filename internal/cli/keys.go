package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/auth"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// keysFlags say where the keys are: a data directory (--config, --data,
// as for serve) or a running server (--server, FLOWWATCH_SERVER).
type keysFlags struct {
	configPath string
	dataDir    string
	server     string
	timeout    time.Duration
}

func newKeysCmd() *cobra.Command {
	var f keysFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys",
		Long: `Create, list and revoke the API keys a flowwatch server accepts.

A key has one or more scopes: ingest (send OTLP traces and logs), read (the
API's reads, the dashboard, /metrics) and admin (monitors, runs, channel
tests, silences, acknowledgements, keys; admin implies read, not ingest).
Clients send a key as "Authorization: Bearer KEY" or "x-api-key: KEY"; the
CLI reads it from FLOWWATCH_API_KEY.

Without --server these commands work on the data directory itself (found
as 'flowwatch serve' finds it: --config or FLOWWATCH_CONFIG, FLOWWATCH_*
variables, --data), so the first key can be made before the server starts;
a running server sees new and revoked keys within 2 seconds. While a server
holds the data directory, give --server (or FLOWWATCH_SERVER) to go through
its API, with FLOWWATCH_API_KEY set to an admin key once keys exist.

Once a key exists, every request needs one, on loopback too; a server that
listens beyond loopback refuses to start without one (unless auth: none).
See docs/security.md.`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.configPath, "config", "", "server config file, to find the data directory (default from FLOWWATCH_CONFIG)")
	pf.StringVar(&f.dataDir, "data", "", `data directory (default "./flowwatch-data")`)
	pf.StringVar(&f.server, "server", os.Getenv("FLOWWATCH_SERVER"), "URL of a running flowwatch server to go through instead of the data directory (default from FLOWWATCH_SERVER)")
	pf.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the server (with --server)")
	cmd.AddCommand(newKeysCreateCmd(&f), newKeysListCmd(&f), newKeysRevokeCmd(&f))
	return cmd
}

func newKeysCreateCmd(f *keysFlags) *cobra.Command {
	var name, scopes string
	cmd := &cobra.Command{
		Use:   "create --name NAME --scope SCOPE[,SCOPE...]",
		Short: "Create an API key and print it (shown this once)",
		Long: `Create an API key and print it on standard output. Only its hash is stored:
copy it now, it cannot be shown again (revoke it and create another if lost).`,
		Args: cobra.NoArgs,
		Example: `  flowwatch keys create --name checkout-app --scope ingest
  flowwatch keys create --name oncall --scope admin --data /var/lib/flowwatch
  export FLOWWATCH_API_KEY=$(flowwatch keys create --name me --scope read)`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || scopes == "" {
				return usageError{errors.New("--name and --scope are required, e.g. --name checkout-app --scope ingest")}
			}
			if msg := api.CheckKeyName(name); msg != "" {
				return usageError{fmt.Errorf("invalid --name %q: %s", name, msg)}
			}
			sc, err := auth.ParseScopes(scopes)
			if err != nil {
				return usageError{fmt.Errorf("invalid --scope: %w", err)}
			}
			var created api.CreatedAPIKey
			if f.server != "" {
				body, _ := json.Marshal(api.APIKeyRequest{Name: name, Scopes: sc})
				if err := keysCall(cmd.Context(), f, http.MethodPost, "keys", body, http.StatusCreated, &created); err != nil {
					return err
				}
			} else {
				err := withKeyStore(cmd.Context(), f, func(ctx context.Context, s app.KeyStore) error {
					secret, hash := auth.NewKey()
					k, err := s.CreateAPIKey(ctx, model.APIKey{Name: name, Scopes: sc, Hash: hash, CreatedAt: time.Now()})
					if errors.Is(err, store.ErrConflict) {
						return fmt.Errorf("an active key is named %q already: revoke it first or choose another name", name)
					}
					created = api.CreatedAPIKey{APIKey: api.ToAPIKey(k), Key: secret}
					return err
				})
				if err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), created.Key)
			fmt.Fprintf(cmd.ErrOrStderr(), "created key %s (id %s, scopes %s); it is shown only this once\n",
				created.Name, created.ID, strings.Join(created.Scopes, ","))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the key: who or what uses it (required)")
	cmd.Flags().StringVar(&scopes, "scope", "", "comma-separated scopes: ingest, read, admin (required)")
	return cmd
}

func newKeysListCmd(f *keysFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list api.APIKeyList
			if f.server != "" {
				if err := keysCall(cmd.Context(), f, http.MethodGet, "keys", nil, http.StatusOK, &list); err != nil {
					return err
				}
			} else {
				err := withKeyStore(cmd.Context(), f, func(ctx context.Context, s app.KeyStore) error {
					keys, err := s.ListAPIKeys(ctx)
					for _, k := range keys {
						list.Keys = append(list.Keys, api.ToAPIKey(k))
					}
					return err
				})
				if err != nil {
					return err
				}
			}
			writeKeys(cmd.OutOrStdout(), list.Keys)
			if len(list.Keys) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no keys: without one, the server is open on loopback only (flowwatch keys create --help)")
			}
			return nil
		},
	}
}

func writeKeys(w io.Writer, keys []api.APIKey) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tREVOKED")
	opt := func(t *api.Timestamp) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Scopes, ","),
			k.CreatedAt.UTC().Format(time.RFC3339), opt(k.LastUsedAt), opt(k.RevokedAt))
	}
	_ = tw.Flush()
}

func newKeysRevokeCmd(f *keysFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME|ID",
		Short: "Revoke an API key (a running server refuses it within 2 seconds)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var k api.APIKey
			if f.server != "" {
				if err := keysCall(cmd.Context(), f, http.MethodDelete, "keys/"+url.PathEscape(args[0]), nil, http.StatusOK, &k); err != nil {
					return err
				}
			} else {
				err := withKeyStore(cmd.Context(), f, func(ctx context.Context, s app.KeyStore) error {
					r, err := s.RevokeAPIKey(ctx, args[0], time.Now())
					if errors.Is(err, store.ErrNotFound) {
						return exitError{code: ExitNotFound, err: fmt.Errorf("no active key has the id or name %q", args[0])}
					}
					k = api.ToAPIKey(r)
					return err
				})
				if err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked key %s (id %s)\n", k.Name, k.ID)
			return nil
		},
	}
}

// withKeyStore runs fn on the store of the data directory.
func withKeyStore(ctx context.Context, f *keysFlags, fn func(context.Context, app.KeyStore) error) error {
	cfg := config.Default()
	path := f.configPath
	if path == "" {
		path = os.Getenv(config.EnvPrefix + "CONFIG")
	}
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return usageError{err}
		}
	}
	if err := config.ApplyEnv(&cfg, os.LookupEnv); err != nil {
		return usageError{err}
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	s, err := app.OpenKeyStore(ctx, cfg, nil)
	if errors.Is(err, app.ErrDataDirInUse) {
		return fmt.Errorf("%w\nmanage keys through it instead: add --server http://HOST:PORT (with FLOWWATCH_API_KEY set to an admin key once keys exist)", err)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

// keysCall sends a request to the server's key routes and decodes an
// answer with status want into out.
func keysCall(ctx context.Context, f *keysFlags, method, path string, body []byte, want int, out any) error {
	c, err := newAPIClient(f.server, f.timeout)
	if err != nil {
		return err
	}
	status, answer, err := sendTyped(ctx, c, method, path, nil, "application/json", body)
	if err != nil {
		return err
	}
	if status != want {
		return answerError(c, method, path, status, answer)
	}
	return c.decode(answer, "a key", out)
}
