package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/cli"
	"github.com/flowwatch/flowwatch/internal/config"
)

func runKeys(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Execute(context.Background(), args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// TestKeysDataDir: keys are made, listed and revoked in the data
// directory before any server runs; the secret is printed once and never
// listed.
func TestKeysDataDir(t *testing.T) {
	t.Setenv("FLOWWATCH_SERVER", "")
	t.Setenv("FLOWWATCH_CONFIG", "")
	dir := t.TempDir()
	created := runKeys(t, "keys", "create", "--data", dir, "--name", "ci", "--scope", "ingest,read")
	key := strings.TrimSpace(created.stdout)
	if created.code != cli.ExitOK || !strings.HasPrefix(key, "fw_") || !strings.Contains(created.stderr, "shown only this once") {
		t.Fatalf("create: %+v", created)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"list", []string{"keys", "list", "--data", dir}, cli.ExitOK, []string{"NAME", "ci", "ingest,read"}, ""},
		{"same name", []string{"keys", "create", "--data", dir, "--name", "ci", "--scope", "read"}, cli.ExitError, nil, "already"},
		{"bad scope", []string{"keys", "create", "--data", dir, "--name", "x", "--scope", "write"}, cli.ExitUsage, nil, "unknown scope"},
		{"bad name", []string{"keys", "create", "--data", dir, "--name", "1x", "--scope", "read"}, cli.ExitUsage, nil, "starting with a letter"},
		{"no scope", []string{"keys", "create", "--data", dir, "--name", "x"}, cli.ExitUsage, nil, "scope"},
		{"revoke", []string{"keys", "revoke", "--data", dir, "ci"}, cli.ExitOK, []string{"revoked key ci"}, ""},
		{"revoke again", []string{"keys", "revoke", "--data", dir, "ci"}, cli.ExitNotFound, nil, "no active key"},
		{"list revoked", []string{"keys", "list", "--data", dir}, cli.ExitOK, []string{"ci"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runKeys(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("%+v; want exit %d, stderr with %q", r, tc.code, tc.stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout %q lacks %q", r.stdout, s)
				}
			}
			if strings.Contains(r.stdout+r.stderr, key) || strings.Contains(r.stdout+r.stderr, key[3:]) {
				t.Errorf("the key is shown again")
			}
		})
	}
}

// TestKeysThroughServer: while a server holds the data directory, the
// keys commands say to go through it, and do with --server and an admin
// key in FLOWWATCH_API_KEY; other commands send FLOWWATCH_API_KEY too.
func TestKeysThroughServer(t *testing.T) {
	t.Setenv("FLOWWATCH_SERVER", "")
	t.Setenv("FLOWWATCH_CONFIG", "")
	dir := t.TempDir()
	admin := strings.TrimSpace(runKeys(t, "keys", "create", "--data", dir, "--name", "ops", "--scope", "admin").stdout)
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Address, cfg.GRPC.Address = "127.0.0.1:0", "127.0.0.1:0"
	a, err := app.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	server := "http://" + a.HTTPAddr()

	if r := runKeys(t, "keys", "list", "--data", dir); r.code != cli.ExitError || !strings.Contains(r.stderr, "--server") {
		t.Errorf("keys list on a served data directory: %+v", r)
	}
	t.Setenv("FLOWWATCH_API_KEY", "")
	if r := runKeys(t, "traces", "list", "--server", server); r.code != cli.ExitError || !strings.Contains(r.stderr, "FLOWWATCH_API_KEY") {
		t.Errorf("traces list without a key: %+v", r)
	}
	t.Setenv("FLOWWATCH_API_KEY", admin)
	created := runKeys(t, "keys", "create", "--server", server, "--name", "reader", "--scope", "read")
	reader := strings.TrimSpace(created.stdout)
	if created.code != cli.ExitOK || !strings.HasPrefix(reader, "fw_") {
		t.Fatalf("create through the server: %+v", created)
	}
	if r := runKeys(t, "keys", "list", "--server", server); r.code != cli.ExitOK || !strings.Contains(r.stdout, "reader") || strings.Contains(r.stdout, reader) {
		t.Errorf("list through the server: %+v", r)
	}
	t.Setenv("FLOWWATCH_API_KEY", reader)
	if r := runKeys(t, "traces", "list", "--server", server); r.code != cli.ExitOK {
		t.Errorf("traces list with a read key: %+v", r)
	}
	if r := runKeys(t, "keys", "list", "--server", server); r.code != cli.ExitError || !strings.Contains(r.stderr, "scope") {
		t.Errorf("keys list with a read key: %+v", r)
	}
	t.Setenv("FLOWWATCH_API_KEY", admin)
	if r := runKeys(t, "keys", "revoke", "--server", server, "reader"); r.code != cli.ExitOK {
		t.Errorf("revoke through the server: %+v", r)
	}
	t.Setenv("FLOWWATCH_API_KEY", reader)
	if r := runKeys(t, "traces", "list", "--server", server); r.code != cli.ExitError || !strings.Contains(r.stderr, "not valid") {
		t.Errorf("traces list with a revoked key: %+v", r)
	}
}
