package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPostgresConfig(t *testing.T) {
	cases := []struct {
		name string
		file string
		env  map[string]string
		want string // a problem's text, "" for none
	}{
		{"url without password", "storage: {postgres: {dsn: 'postgres://fw@db:5432/flowwatch'}}", nil, ""},
		{"key=value without password", "storage: {postgres: {dsn: 'host=db user=fw dbname=flowwatch'}}", nil, ""},
		{"password in the file", "storage: {postgres: {dsn: 'postgres://fw:s3cret@db/flowwatch'}}", nil,
			"storage.postgres.dsn: holds a password, which must not be written in the config file"},
		{"password key in the file", "storage: {postgres: {dsn: 'host=db password=s3cret'}}", nil, "holds a password"},
		{"password in the environment", "", map[string]string{"FLOWWATCH_POSTGRES_DSN": "postgres://fw:s3cret@db/flowwatch"}, ""},
		{"environment over a file with a password", "storage: {postgres: {dsn: 'postgres://fw:s3cret@db/x'}}",
			map[string]string{"FLOWWATCH_POSTGRES_DSN": "postgres://fw:other@db/flowwatch"}, ""},
		{"read replica alone", "storage: {postgres: {read_dsn: 'postgres://fw@replica/flowwatch'}}", nil,
			"storage.postgres.read_dsn: needs storage.postgres.dsn"},
		{"not a DSN", "storage: {postgres: {dsn: 'db.example.com'}}", nil, "storage.postgres.dsn: not a connection string"},
		{"bad schema", "storage: {postgres: {dsn: 'postgres://fw@db/x', schema: 'fw; drop'}}", nil, "storage.postgres.schema"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flowwatch.yaml")
			if err := os.WriteFile(path, []byte(tc.file+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err == nil {
				err = ApplyEnv(&cfg, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			}
			if err == nil {
				err = cfg.Validate()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected problem: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("problems %v, want one with %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("a problem quotes the password: %v", err)
			}
			if tc.want == "" && !cfg.UsePostgres() {
				t.Error("PostgreSQL not selected")
			}
		})
	}
}
