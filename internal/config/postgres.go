package config

import (
	"fmt"
	"net/url"
	"strings"
)

// Postgres configures the shared store: several flowwatch replicas on one
// PostgreSQL. Set, SQLite is not opened.
type Postgres struct {
	// DSN is the connection string (postgres://user@host:5432/db or
	// key=value pairs). A password must not be written in the file: put
	// the whole DSN in FLOWWATCH_POSTGRES_DSN, or the password in
	// PGPASSWORD or a .pgpass file, as libpq does.
	DSN string `yaml:"dsn"`
	// ReadDSN, when set, is a read replica the API and dashboard read
	// from (FLOWWATCH_POSTGRES_READ_DSN).
	ReadDSN string `yaml:"read_dsn"`
	// Schema is the schema flowwatch's tables live in (default: the
	// connection's search_path, usually public).
	Schema string `yaml:"schema"`
	// MaxConns bounds each replica's connections (default 16).
	MaxConns int `yaml:"max_conns"`
}

// UsePostgres reports whether the shared store is selected.
func (c *Config) UsePostgres() bool { return c.Storage.Postgres.DSN != "" }

// validate checks the postgres keys; fromFile says whether the DSNs came
// from the config file (where a password must not be written).
func (p Postgres) validate(fileDSN, fileReadDSN bool) []error {
	var errs []error
	for _, d := range []struct {
		key, dsn string
		file     bool
	}{{"storage.postgres.dsn", p.DSN, fileDSN}, {"storage.postgres.read_dsn", p.ReadDSN, fileReadDSN}} {
		if d.dsn == "" {
			continue
		}
		hasPassword, err := dsnHasPassword(d.dsn)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", d.key, err))
			continue
		}
		if hasPassword && d.file {
			errs = append(errs, fmt.Errorf("%s: holds a password, which must not be written in the config file: set FLOWWATCH_POSTGRES_DSN (or PGPASSWORD, or a .pgpass file) instead", d.key))
		}
	}
	if p.ReadDSN != "" && p.DSN == "" {
		errs = append(errs, fmt.Errorf("storage.postgres.read_dsn: needs storage.postgres.dsn (the primary every write goes to)"))
	}
	if n := p.MaxConns; n < 0 || n > 1000 {
		errs = append(errs, fmt.Errorf("storage.postgres.max_conns: must be between 1 and 1000 (0: the default 16), got %d", n))
	}
	if s := p.Schema; s != "" && !validIdentifier(s) {
		errs = append(errs, fmt.Errorf("storage.postgres.schema: %q is not a plain identifier (letters, digits, _; not starting with a digit)", s))
	}
	return errs
}

// dsnHasPassword reads a DSN in either form and reports whether it holds
// a password; its error never quotes the DSN.
func dsnHasPassword(dsn string) (bool, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return false, fmt.Errorf("not a valid postgres:// URL")
		}
		_, has := u.User.Password()
		return has || u.Query().Has("password"), nil
	}
	if !strings.Contains(dsn, "=") {
		return false, fmt.Errorf("not a connection string: use postgres://user@host:5432/dbname or key=value pairs")
	}
	for _, f := range strings.Fields(dsn) {
		if k, _, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == "password" {
			return true, nil
		}
	}
	return false, nil
}

func validIdentifier(s string) bool {
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != "" && len(s) <= 63
}

// inFile reports whether a key's value was written in the config file (and
// not overridden from the environment since).
func (c *Config) inFile(key string) bool {
	if c.Source == nil {
		return false
	}
	p, ok := c.Source.Keys[key]
	return ok && p.Line > 0
}
