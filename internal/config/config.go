// Package config holds flowwatch's server configuration: its shape, its
// defaults, strict YAML loading, the FLOWWATCH_* environment overlay and
// validation that reports every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/flowwatch/flowwatch/internal/rollup"
)

// Config is the server configuration. Every key is documented in
// docs/configuration.md; the YAML names are a contract with users.
type Config struct {
	// DataDir holds the embedded database and other state.
	DataDir string     `yaml:"data_dir"`
	HTTP    HTTPConfig `yaml:"http"`
	GRPC    GRPCConfig `yaml:"grpc"`
	Storage Storage    `yaml:"storage"`
	Ingest  Ingest     `yaml:"ingest"`
	Log     Log        `yaml:"log"`
	// Pricing adds to and overrides the price table shipped with flowwatch
	// (see rollup.DefaultPrices and docs/configuration.md).
	Pricing []Price `yaml:"pricing"`
	// Judges are the LLM connections monitors name in `judge:`.
	Judges map[string]Judge `yaml:"judges"`
	// MonitorsDir, when set, is a directory of monitor files applied at
	// start (monitors as code). Load resolves a relative path against the
	// directory of the config file; set otherwise (environment, code) it
	// is relative to the working directory.
	MonitorsDir string `yaml:"monitors_dir"`
	// Monitors bounds the monitors and their runs.
	Monitors Monitors `yaml:"monitors"`
	// SMTP is the mail server e-mail notifications go through; nil when
	// not configured (then no e-mail can be sent).
	SMTP *SMTP `yaml:"smtp"`
	// Channels are the notification channels monitors name in
	// notify.channels (see channels.go).
	Channels map[string]Channel `yaml:"channels"`
	// Notifications bounds how long and how often a notification is
	// retried.
	Notifications Notifications `yaml:"notifications"`
	// Redaction removes secrets and personal data at ingest (see
	// redaction.go); off unless configured.
	Redaction Redaction `yaml:"redaction"`
	// Retention says how long data is kept (see retention.go).
	Retention Retention `yaml:"retention"`
	// Gateways are recording reverse proxies served at /gateway/{name}/
	// (see gateways.go).
	Gateways []Gateway `yaml:"gateways"`
	// Auth is auto (default: API keys are required once one has been created, and
	// always beyond loopback), keys (always required) or none (never
	// checked: a trusted network). See docs/security.md.
	Auth string `yaml:"auth"`

	// Source, set by Load, says where each key was written so that
	// Validate's problems name the file, line and column; nil otherwise.
	Source *Source `yaml:"-"`
}

// Judge is a connection to an LLM that rates answers: OpenAI, Azure OpenAI,
// or any server speaking the OpenAI chat completions API (Ollama, vLLM,
// llama.cpp's server) through type openai and base_url.
type Judge struct {
	// Type is openai or azure_openai.
	Type string `yaml:"type"`
	// Endpoint, Deployment and APIVersion address an Azure OpenAI
	// deployment (https://NAME.openai.azure.com).
	Endpoint   string `yaml:"endpoint"`
	Deployment string `yaml:"deployment"`
	APIVersion string `yaml:"api_version"`
	// BaseURL (type openai) defaults to OpenAI's API; Model is required.
	BaseURL string `yaml:"base_url"`
	Model   string `yaml:"model"`
	// APIKeyEnv names the environment variable holding the API key; the key
	// itself is never in the file. Empty for servers that need none.
	APIKeyEnv string `yaml:"api_key_env"`
	// MaxConcurrency bounds requests in flight (default 16);
	// RequestsPerMinute bounds their rate (0: unbounded); Timeout bounds
	// one request (default 60s).
	MaxConcurrency    int      `yaml:"max_concurrency"`
	RequestsPerMinute int      `yaml:"requests_per_minute"`
	Timeout           Duration `yaml:"timeout"`
}

// Price is one entry of the price table, in USD per million tokens.
type Price struct {
	// Model is a case-insensitive pattern in which "*" matches anything.
	Model              string  `yaml:"model"`
	InputPerMTok       float64 `yaml:"input_per_mtok"`
	CachedInputPerMTok float64 `yaml:"cached_input_per_mtok"`
	CacheWritePerMTok  float64 `yaml:"cache_write_per_mtok"`
	OutputPerMTok      float64 `yaml:"output_per_mtok"`
}

// Prices is the price table: the pricing entries over the defaults.
func (c *Config) Prices() (*rollup.Prices, error) {
	given := make([]rollup.Price, len(c.Pricing))
	for i, p := range c.Pricing {
		given[i] = rollup.Price(p)
	}
	return rollup.NewPrices(given, true)
}

// HTTPConfig is the HTTP listener: OTLP/HTTP, the JSON API, health
// endpoints (and later the dashboard) share it.
type HTTPConfig struct {
	Address string `yaml:"address"`
	// PublicURL is how people reach this server (used in links).
	PublicURL string `yaml:"public_url"`
	// MaxBodyBytes bounds one request body, before and after decompression.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Pprof serves Go's profiling endpoints under /debug/pprof/ (off by
	// default: they reveal internals and cost CPU when used).
	Pprof bool `yaml:"pprof"`
	// AllowedHosts are host names, besides IP addresses, localhost and
	// the hosts of public_url and address, that requests may name in
	// their Host header (DNS rebinding defence).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// TLS, when its files are set, makes the listener serve HTTPS only
	// (see tls.go); client_ca_file is not supported here.
	TLS TLS `yaml:"tls"`
}

// GRPCConfig is the OTLP/gRPC listener.
type GRPCConfig struct {
	Address string `yaml:"address"`
	// MaxRecvBytes bounds one gRPC message; defaults to http.max_body_bytes.
	MaxRecvBytes int64 `yaml:"max_recv_bytes"`
	// TLS, when its files are set, makes the listener serve TLS only;
	// independent of http.tls (see tls.go).
	TLS TLS `yaml:"tls"`
}

// Storage selects and configures the store.
type Storage struct {
	SQLite SQLite `yaml:"sqlite"`
	// Postgres, when its DSN is set, selects the shared store instead
	// (see postgres.go).
	Postgres Postgres `yaml:"postgres"`
}

// SQLite configures the embedded store.
type SQLite struct {
	// Path of the database file; relative paths are inside data_dir.
	Path string `yaml:"path"`
	// Synchronous is "normal" (durable against a crash of the process) or
	// "full" (also against power loss, slower).
	Synchronous string `yaml:"synchronous"`
}

// Ingest bounds the write path.
type Ingest struct {
	// MaxInFlight is how many export requests are decoded and written at
	// once; more wait up to QueueTimeout, then get 429.
	MaxInFlight int `yaml:"max_in_flight"`
	// QueueTimeout is how long an export waits for a slot.
	QueueTimeout Duration `yaml:"queue_timeout"`
	// BodyTimeout is how long an OTLP/HTTP body has to arrive once its
	// headers are in; a slower body gets 408. A slot is taken only once
	// the body is in.
	BodyTimeout Duration `yaml:"body_timeout"`
	// BodyMemoryBytes bounds the OTLP/HTTP bodies held in memory at once
	// while they are read and decoded; beyond it exports get 429.
	BodyMemoryBytes int64 `yaml:"body_memory_bytes"`
	// MaxAttributeValueBytes caps each stored string value (attribute
	// values, elements of arrays, log bodies, status messages); longer
	// ones are cut and end with a truncation marker.
	MaxAttributeValueBytes int `yaml:"max_attribute_value_bytes"`
}

// Defaults of the monitors section.
const (
	DefaultMaxMonitors       = 500
	DefaultMaxConcurrentRuns = 4
	DefaultRunLease          = Duration(time.Minute)
)

// Monitors bounds quality monitors.
type Monitors struct {
	// MaxMonitors is how many monitors the server holds at most
	// (default 500); applying one more is refused.
	MaxMonitors int `yaml:"max_monitors"`
	// MaxConcurrentRuns is how many runs execute at once (default 4);
	// more wait in the queue.
	MaxConcurrentRuns int `yaml:"max_concurrent_runs"`
	// RunLease is how long a run claimed by a scheduler stays its without
	// being renewed (default 1m; renewed every 2s, or every third of it
	// when shorter). With replicas on a shared store it is how soon a
	// dead replica's run is taken over by another; shorter leases take
	// over sooner but lose a run whose scheduler stalls for that long.
	RunLease Duration `yaml:"run_lease"`
}

// Log configures flowwatch's own logs.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Duration is a time.Duration written as a Go duration string ("250ms").
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 500ms, 2s, 1m, 30d)", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes a Go duration string.
func (d Duration) MarshalYAML() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		DataDir: "./flowwatch-data",
		HTTP: HTTPConfig{
			Address:      "127.0.0.1:4318",
			PublicURL:    DefaultPublicURL,
			MaxBodyBytes: 16 << 20,
		},
		GRPC:    GRPCConfig{Address: "127.0.0.1:4317"},
		Storage: Storage{SQLite: SQLite{Path: "flowwatch.db", Synchronous: "normal"}},
		Ingest:  Ingest{MaxInFlight: 16, QueueTimeout: Duration(2 * time.Second), BodyTimeout: Duration(10 * time.Second), BodyMemoryBytes: 256 << 20, MaxAttributeValueBytes: 64 << 10},
		Log:     Log{Level: "info", Format: "text"},
		Notifications: Notifications{
			GiveUpAfter:    Duration(DefaultGiveUpAfter),
			InitialBackoff: Duration(DefaultInitialBackoff),
			MaxBackoff:     Duration(DefaultMaxBackoff),
		},
		Monitors:  Monitors{MaxMonitors: DefaultMaxMonitors, MaxConcurrentRuns: DefaultMaxConcurrentRuns, RunLease: DefaultRunLease},
		Retention: defaultRetention(),
	}
}

// Load reads a YAML file over the defaults. It reports every problem of
// the file at once, each as "file:line:column: message": unknown keys
// (with the closest known key), values of the wrong type, and, when the
// file has such problems, what Validate finds in the rest of it too. The
// config it returns remembers where its keys were written (Source), so
// that a later Validate names the line of each problem.
func Load(path string) (Config, error) {
	cfg := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	scanned := Default()
	src, problems := parseSource(path, b, &scanned)
	if len(problems) > 0 {
		errs := make([]error, 0, len(problems))
		for _, p := range problems {
			errs = append(errs, p)
		}
		if !problems[0].syntax {
			// Report what Validate finds in the keys that did decode
			// too, so that one round of fixes is enough.
			scanned.Source = src
			scanned.resolvePaths(path)
			errs = append(errs, scanned.validate()...)
			sortProblems(errs)
		}
		return cfg, errors.Join(errs...)
	}
	if err := Parse(b, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.Source = src
	cfg.resolvePaths(path)
	return cfg, nil
}

// resolvePaths makes the relative paths written in the config file at
// path relative to its directory.
func (c *Config) resolvePaths(path string) {
	// Monitor files usually live next to the config file, in the same
	// repository: a relative monitors_dir is read from there, wherever
	// flowwatch is started.
	if d := c.MonitorsDir; d != "" && !filepath.IsAbs(d) {
		c.MonitorsDir = filepath.Join(filepath.Dir(path), d)
	}
	// So are certificate files written next to it.
	c.HTTP.TLS.resolve(filepath.Dir(path))
	c.GRPC.TLS.resolve(filepath.Dir(path))
}

// Parse decodes YAML into cfg, strictly. A panic of the YAML decoder (it
// has had some on odd tags) becomes an error: a bad file must never crash
// the server.
func Parse(b []byte, cfg *Config) (err error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML decoder failed on this file (%v); check its syntax", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(b), yaml.Strict())
	if err := dec.Decode(cfg); err != nil {
		// The message quotes the lines around the problem: cut the URLs
		// in them to scheme and host (a webhook URL is a secret).
		return errors.New(RedactURLs(yaml.FormatError(err, false, true)))
	}
	return nil
}

// EnvPrefix starts every environment variable flowwatch reads.
const EnvPrefix = "FLOWWATCH_"

// envKeys maps environment variables to the config keys they set.
var envKeys = []struct {
	name string
	key  string // the key path, as problems name it
	set  func(c *Config, v string) error
}{
	{"DATA_DIR", "data_dir", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"HTTP_ADDRESS", "http.address", func(c *Config, v string) error { c.HTTP.Address = v; return nil }},
	{"HTTP_PUBLIC_URL", "http.public_url", func(c *Config, v string) error { c.HTTP.PublicURL = v; return nil }},
	{"HTTP_MAX_BODY_BYTES", "http.max_body_bytes", func(c *Config, v string) error { return setInt64(&c.HTTP.MaxBodyBytes, v) }},
	{"HTTP_PPROF", "http.pprof", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.HTTP.Pprof = b
		return err
	}},
	{"GRPC_ADDRESS", "grpc.address", func(c *Config, v string) error { c.GRPC.Address = v; return nil }},
	{"GRPC_MAX_RECV_BYTES", "grpc.max_recv_bytes", func(c *Config, v string) error { return setInt64(&c.GRPC.MaxRecvBytes, v) }},
	{"HTTP_TLS_CERT_FILE", "http.tls.cert_file", func(c *Config, v string) error { c.HTTP.TLS.CertFile = v; return nil }},
	{"HTTP_TLS_KEY_FILE", "http.tls.key_file", func(c *Config, v string) error { c.HTTP.TLS.KeyFile = v; return nil }},
	{"GRPC_TLS_CERT_FILE", "grpc.tls.cert_file", func(c *Config, v string) error { c.GRPC.TLS.CertFile = v; return nil }},
	{"GRPC_TLS_KEY_FILE", "grpc.tls.key_file", func(c *Config, v string) error { c.GRPC.TLS.KeyFile = v; return nil }},
	{"GRPC_TLS_CLIENT_CA_FILE", "grpc.tls.client_ca_file", func(c *Config, v string) error { c.GRPC.TLS.ClientCAFile = v; return nil }},
	{"SQLITE_PATH", "storage.sqlite.path", func(c *Config, v string) error { c.Storage.SQLite.Path = v; return nil }},
	{"SQLITE_SYNCHRONOUS", "storage.sqlite.synchronous", func(c *Config, v string) error { c.Storage.SQLite.Synchronous = v; return nil }},
	{"POSTGRES_DSN", "storage.postgres.dsn", func(c *Config, v string) error { c.Storage.Postgres.DSN = v; return nil }},
	{"POSTGRES_READ_DSN", "storage.postgres.read_dsn", func(c *Config, v string) error { c.Storage.Postgres.ReadDSN = v; return nil }},
	{"INGEST_MAX_IN_FLIGHT", "ingest.max_in_flight", func(c *Config, v string) error {
		var n int64
		err := setInt64(&n, v)
		c.Ingest.MaxInFlight = int(n)
		return err
	}},
	{"INGEST_QUEUE_TIMEOUT", "ingest.queue_timeout", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		c.Ingest.QueueTimeout = Duration(d)
		return err
	}},
	{"INGEST_BODY_TIMEOUT", "ingest.body_timeout", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		c.Ingest.BodyTimeout = Duration(d)
		return err
	}},
	{"INGEST_BODY_MEMORY_BYTES", "ingest.body_memory_bytes", func(c *Config, v string) error { return setInt64(&c.Ingest.BodyMemoryBytes, v) }},
	{"INGEST_MAX_ATTRIBUTE_VALUE_BYTES", "ingest.max_attribute_value_bytes", func(c *Config, v string) error {
		var n int64
		err := setInt64(&n, v)
		c.Ingest.MaxAttributeValueBytes = int(n)
		return err
	}},
	{"RETENTION_TRACES", "retention.traces", func(c *Config, v string) error {
		d, err := parseDuration(v)
		c.Retention.Traces = Duration(d)
		return err
	}},
	{"LOG_LEVEL", "log.level", func(c *Config, v string) error { c.Log.Level = v; return nil }},
	{"LOG_FORMAT", "log.format", func(c *Config, v string) error { c.Log.Format = v; return nil }},
	{"MONITORS_DIR", "monitors_dir", func(c *Config, v string) error { c.MonitorsDir = v; return nil }},
	{"MONITORS_MAX_MONITORS", "monitors.max_monitors", func(c *Config, v string) error {
		var n int64
		err := setInt64(&n, v)
		c.Monitors.MaxMonitors = int(n)
		return err
	}},
	{"MONITORS_MAX_CONCURRENT_RUNS", "monitors.max_concurrent_runs", func(c *Config, v string) error {
		var n int64
		err := setInt64(&n, v)
		c.Monitors.MaxConcurrentRuns = int(n)
		return err
	}},
	{"MONITORS_RUN_LEASE", "monitors.run_lease", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		c.Monitors.RunLease = Duration(d)
		return err
	}},
	{"REDACTION_DETECTORS", "redaction.detectors", setDetectors},
	{"AUTH", "auth", func(c *Config, v string) error { c.Auth = v; return nil }},
}

// EnvNames lists the environment variables ApplyEnv reads.
func EnvNames() []string {
	names := make([]string, len(envKeys))
	for i, k := range envKeys {
		names[i] = EnvPrefix + k.name
	}
	return names
}

// ApplyEnv overlays FLOWWATCH_* variables (looked up with lookup, usually
// os.LookupEnv) onto cfg.
func ApplyEnv(cfg *Config, lookup func(string) (string, bool)) error {
	var errs []error
	for _, k := range envKeys {
		v, ok := lookup(EnvPrefix + k.name)
		if !ok {
			continue
		}
		if err := k.set(cfg, v); err != nil {
			errs = append(errs, fmt.Errorf("%s%s=%q: %w", EnvPrefix, k.name, v, err))
		}
		// The value no longer comes from the file: a problem with it
		// must not point there.
		cfg.Source.forget(k.key)
	}
	return errors.Join(errs...)
}

func setInt64(dst *int64, v string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return errors.New("not an integer")
	}
	*dst = n
	return nil
}

// Validate reports every problem in cfg at once, each naming its key, and
// the file, line and column where the key was written when cfg came from
// Load.
func (c *Config) Validate() error {
	return errors.Join(c.validate()...)
}

func (c *Config) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir", "must not be empty")
	}
	checkAddr := func(key, addr string) {
		if addr == "" {
			add(key, "must not be empty (host:port)")
			return
		}
		if _, port, err := net.SplitHostPort(addr); err != nil {
			add(key, "%q is not host:port: %v", addr, err)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			add(key, "%q has an invalid port", addr)
		}
	}
	checkAddr("http.address", c.HTTP.Address)
	checkAddr("grpc.address", c.GRPC.Address)
	errs = append(errs, c.HTTP.TLS.validate("http.tls", false)...)
	errs = append(errs, c.GRPC.TLS.validate("grpc.tls", true)...)
	if c.HTTP.Address != "" && c.HTTP.Address == c.GRPC.Address && !strings.HasSuffix(c.HTTP.Address, ":0") {
		add("grpc.address", "must differ from http.address (%s)", c.HTTP.Address)
	}
	if c.HTTP.PublicURL != "" {
		if u, err := url.Parse(c.HTTP.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("http.public_url", "%q is not an absolute http(s) URL", c.HTTP.PublicURL)
		}
	}
	const minBody, maxBody = 1 << 10, 1 << 30
	if c.HTTP.MaxBodyBytes < minBody || c.HTTP.MaxBodyBytes > maxBody {
		add("http.max_body_bytes", "must be between %d and %d, got %d", minBody, maxBody, c.HTTP.MaxBodyBytes)
	}
	if c.GRPC.MaxRecvBytes != 0 && (c.GRPC.MaxRecvBytes < minBody || c.GRPC.MaxRecvBytes > maxBody) {
		add("grpc.max_recv_bytes", "must be between %d and %d, got %d", minBody, maxBody, c.GRPC.MaxRecvBytes)
	}
	if strings.TrimSpace(c.Storage.SQLite.Path) == "" {
		add("storage.sqlite.path", "must not be empty")
	}
	switch c.Storage.SQLite.Synchronous {
	case "normal", "full":
	default:
		add("storage.sqlite.synchronous", "must be normal or full, got %q", c.Storage.SQLite.Synchronous)
	}
	if c.Ingest.MaxInFlight < 1 || c.Ingest.MaxInFlight > 4096 {
		add("ingest.max_in_flight", "must be between 1 and 4096, got %d", c.Ingest.MaxInFlight)
	}
	if q := time.Duration(c.Ingest.QueueTimeout); q < 0 || q > time.Minute {
		add("ingest.queue_timeout", "must be between 0s and 1m, got %s", q)
	}
	if d := time.Duration(c.Ingest.BodyTimeout); d < 100*time.Millisecond || d > 10*time.Minute {
		add("ingest.body_timeout", "must be between 100ms and 10m, got %s", d)
	}
	if n := c.Ingest.BodyMemoryBytes; n < c.HTTP.MaxBodyBytes || n > 64<<30 {
		add("ingest.body_memory_bytes", "must be between http.max_body_bytes (%d) and %d, got %d", c.HTTP.MaxBodyBytes, int64(64<<30), n)
	}
	if n := c.Ingest.MaxAttributeValueBytes; n < 1<<10 || n > 64<<20 {
		add("ingest.max_attribute_value_bytes", "must be between %d and %d, got %d", 1<<10, 64<<20, n)
	}
	if n := c.Monitors.MaxMonitors; n < 1 || n > 100000 {
		add("monitors.max_monitors", "must be between 1 and 100000, got %d", n)
	}
	if n := c.Monitors.MaxConcurrentRuns; n < 1 || n > 256 {
		add("monitors.max_concurrent_runs", "must be between 1 and 256, got %d", n)
	}
	// At least 3s: the lease is renewed every third of it (at most every
	// 2s), and a renewal must have time to reach the store.
	if d := time.Duration(c.Monitors.RunLease); d != 0 && (d < 3*time.Second || d > time.Hour) {
		add("monitors.run_lease", "must be between 3s and 1h, got %s", d)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "must be text or json, got %q", c.Log.Format)
	}
	switch c.Auth {
	case "", "auto", "keys", "none":
	default:
		add("auth", "must be auto, keys or none, got %q", c.Auth)
	}
	for i, h := range c.HTTP.AllowedHosts {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, "/ :@") {
			add(fmt.Sprintf("http.allowed_hosts[%d]", i), "%q is not a host name (no scheme, port or path)", h)
		}
	}
	for i, r := range c.Notifications.AllowedRecipients {
		if !validRecipientRule(r) {
			add(fmt.Sprintf("notifications.allowed_recipients[%d]", i), "%q is neither an e-mail address nor @domain", r)
		}
	}
	errs = append(errs, c.Redaction.validate()...)
	errs = append(errs, c.Retention.validate()...)
	errs = append(errs, c.validateGateways()...)
	errs = append(errs, c.Storage.Postgres.validate(c.inFile("storage.postgres.dsn"), c.inFile("storage.postgres.read_dsn"))...)
	if c.MonitorsDir != "" && strings.TrimSpace(c.MonitorsDir) == "" {
		add("monitors_dir", "must not be blank: a directory of monitor files, or leave it out")
	}
	if _, err := c.Prices(); err != nil {
		errs = append(errs, err)
	}
	names := make([]string, 0, len(c.Judges))
	for name := range c.Judges {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		errs = append(errs, c.Judges[name].validate("judges."+name, name)...)
	}
	errs = append(errs, c.validateNotify(os.LookupEnv)...)
	if c.Source == nil {
		return errs
	}
	errs = c.Source.locate(errs)
	sortProblems(errs)
	return errs
}

var (
	judgeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validate checks one judge connection; key is its path in the file.
func (j Judge) validate(key, name string) []error {
	var errs []error
	add := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", key, k, fmt.Sprintf(format, args...)))
	}
	if !judgeNameRE.MatchString(name) {
		add("", "a judge name is 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit")
	}
	httpURL := func(k, v string) {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(k, "%q is not an absolute http(s) URL", v)
		}
	}
	switch j.Type {
	case "azure_openai":
		if j.Endpoint == "" {
			add(".endpoint", "required for azure_openai (https://NAME.openai.azure.com)")
		} else {
			httpURL(".endpoint", j.Endpoint)
		}
		if j.Deployment == "" {
			add(".deployment", "required for azure_openai: the name of the model deployment")
		}
		if j.APIVersion == "" {
			add(".api_version", "required for azure_openai, e.g. 2024-10-21")
		}
	case "openai":
		if j.Model == "" {
			add(".model", "required for openai: the model to ask, e.g. gpt-4o or llama3.1")
		}
		if j.BaseURL != "" {
			httpURL(".base_url", j.BaseURL)
		}
	case "":
		add(".type", "required: openai (also for OpenAI-compatible servers, with base_url) or azure_openai")
	default:
		add(".type", "must be openai or azure_openai, got %q", j.Type)
	}
	if j.APIKeyEnv != "" {
		if !envNameRE.MatchString(j.APIKeyEnv) {
			add(".api_key_env", "%q is not an environment variable name", j.APIKeyEnv)
		} else if _, ok := os.LookupEnv(j.APIKeyEnv); !ok {
			add(".api_key_env", "environment variable %s is not set; export it with the API key", j.APIKeyEnv)
		}
	}
	if j.MaxConcurrency < 0 || j.MaxConcurrency > 1024 {
		add(".max_concurrency", "must be between 1 and 1024 (0: default 16), got %d", j.MaxConcurrency)
	}
	if j.RequestsPerMinute < 0 {
		add(".requests_per_minute", "must not be negative (0: unbounded), got %d", j.RequestsPerMinute)
	}
	if t := time.Duration(j.Timeout); t < 0 || t > 10*time.Minute {
		add(".timeout", "must be between 0s (default 60s) and 10m, got %s", t)
	}
	return errs
}

// SQLitePath is the database file path, resolved against data_dir.
func (c *Config) SQLitePath() string {
	p := c.Storage.SQLite.Path
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}

// GRPCMaxRecvBytes is the effective gRPC message limit.
func (c *Config) GRPCMaxRecvBytes() int {
	if c.GRPC.MaxRecvBytes > 0 {
		return int(c.GRPC.MaxRecvBytes)
	}
	return int(c.HTTP.MaxBodyBytes)
}
