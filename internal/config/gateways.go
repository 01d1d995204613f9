package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/didyoumean"
	"github.com/flowwatch/flowwatch/internal/gateway"
)

// This file holds the gateways: recording reverse proxies that a client
// which cannot be instrumented points at instead of its LLM endpoint
// (internal/gateway, docs/gateway.md). The upstream's credentials are
// never in the file: the caller's own Authorization (or api-key) header
// passes through the gateway.

// Gateway is one gateway, served at /gateway/{name}/ on the HTTP port.
type Gateway struct {
	// Name is [a-z0-9][a-z0-9_-]*, unique: the path it is served at.
	Name string `yaml:"name"`
	// Kind is openai (an OpenAI-compatible API) or json (any JSON
	// endpoint, read through Mapping).
	Kind string `yaml:"kind"`
	// Upstream is the absolute http(s) base URL requests go to; it may
	// have a base path, no query and no user:password.
	Upstream string `yaml:"upstream"`
	// Service is recorded as service.name (default: Name); Deployment, when
	// set, as deployment.name.
	Service    string `yaml:"service"`
	Deployment string `yaml:"deployment"`
	// Provider is recorded as gen_ai.provider.name; kind openai guesses it
	// from the upstream's host when it is not set.
	Provider string `yaml:"provider"`
	// RecordContent false keeps only metrics and token counts (default
	// true). A pointer, so that a key left out means the default.
	RecordContent *bool `yaml:"record_content"`
	// Timeout bounds a whole exchange, streams included (default 10m);
	// ConnectTimeout the connection to the upstream (default 10s).
	Timeout        Duration `yaml:"timeout"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// MaxRecordBytes bounds each body kept for recording (default 1 MiB);
	// the call itself is never cut.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// RequireKey false lets callers through without a flowwatch key even
	// when keys are enforced (default true: an ingest key in
	// X-Flowwatch-Key).
	RequireKey *bool `yaml:"require_key"`
	// Mapping is where a json gateway finds a call's parts; required for
	// kind json, refused for kind openai.
	Mapping *GatewayMapping `yaml:"mapping"`
}

// GatewayMapping is a json gateway's mapping: paths into the request and
// the response bodies (gateway.ValidatePath's syntax).
type GatewayMapping struct {
	Request  GatewayRequestMapping  `yaml:"request"`
	Response GatewayResponseMapping `yaml:"response"`
}

// GatewayRequestMapping reads the question (and the chat history) out of
// a request body.
type GatewayRequestMapping struct {
	Question    string `yaml:"question"`
	ChatHistory string `yaml:"chat_history"`
}

// GatewayResponseMapping reads the answer, the context documents, the
// model and the token counts out of a response body.
type GatewayResponseMapping struct {
	Answer       string `yaml:"answer"`
	Context      string `yaml:"context"`
	Model        string `yaml:"model"`
	InputTokens  string `yaml:"input_tokens"`
	OutputTokens string `yaml:"output_tokens"`
	TotalTokens  string `yaml:"total_tokens"`
}

// Mapping is the gateway.Mapping m describes (empty paths are not read).
func (m *GatewayMapping) Mapping() gateway.Mapping {
	if m == nil {
		return gateway.Mapping{}
	}
	return gateway.Mapping{
		Question: m.Request.Question, ChatHistory: m.Request.ChatHistory,
		Answer: m.Response.Answer, Context: m.Response.Context, Model: m.Response.Model,
		InputTokens: m.Response.InputTokens, OutputTokens: m.Response.OutputTokens, TotalTokens: m.Response.TotalTokens,
	}
}

// RecordsContent reports whether the gateway records messages, questions,
// answers and documents (record_content, default true).
func (g Gateway) RecordsContent() bool { return g.RecordContent == nil || *g.RecordContent }

// RequiresKey reports whether callers need a flowwatch key while keys are
// enforced (require_key, default true).
func (g Gateway) RequiresKey() bool { return g.RequireKey == nil || *g.RequireKey }

// Resolved is g with its defaults filled in: the service, the timeouts,
// max_record_bytes and both switches.
func (g Gateway) Resolved() Gateway {
	if g.Service == "" {
		g.Service = g.Name
	}
	if g.Timeout == 0 {
		g.Timeout = Duration(gateway.DefaultTimeout)
	}
	if g.ConnectTimeout == 0 {
		g.ConnectTimeout = Duration(gateway.DefaultConnectTimeout)
	}
	if g.MaxRecordBytes == 0 {
		g.MaxRecordBytes = gateway.DefaultMaxRecordBytes
	}
	rc, rk := g.RecordsContent(), g.RequiresKey()
	g.RecordContent, g.RequireKey = &rc, &rk
	return g
}

// Bounds of a gateway's settings.
const (
	maxGateways          = 256
	maxGatewayNameLen    = 64
	minGatewayTimeout    = time.Second
	maxGatewayTimeout    = 24 * time.Hour
	minGatewayConnect    = 100 * time.Millisecond
	maxGatewayConnect    = 5 * time.Minute
	minGatewayRecordSize = 1 << 10
	maxGatewayRecordSize = 64 << 20
)

// gatewayNameRE is what a gateway name may be: one path segment that needs
// no escaping, in one case (so /gateway/OpenAI is not a second spelling).
var gatewayNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// gatewayKinds lists the kinds, in the order messages list them.
var gatewayKinds = []string{gateway.KindOpenAI, gateway.KindJSON}

// validateGateways checks the gateways section: every problem, each
// naming its key path (gateways[1].upstream).
func (c *Config) validateGateways() []error {
	var errs []error
	if len(c.Gateways) > maxGateways {
		errs = append(errs, fmt.Errorf("gateways: at most %d gateways, got %d", maxGateways, len(c.Gateways)))
	}
	first := map[string]int{}
	for i, g := range c.Gateways {
		key := fmt.Sprintf("gateways[%d]", i)
		errs = append(errs, g.validate(key, c.HTTP.Address, c.HTTP.PublicURL)...)
		if g.Name == "" {
			continue
		}
		if j, dup := first[g.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is already the name of gateways[%d]; each gateway needs its own name (it is its path, /gateway/NAME/)", key, g.Name, j))
			continue
		}
		first[g.Name] = i
	}
	return errs
}

// validate checks one gateway at key; httpAddr and publicURL are
// flowwatch's own, which its upstream must not be.
func (g Gateway) validate(key, httpAddr, publicURL string) []error {
	var errs []error
	add := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, k, fmt.Sprintf(format, args...)))
	}
	switch {
	case g.Name == "":
		add("name", "required: the gateway is served at /gateway/NAME/ (lower-case letters, digits, '_' and '-')")
	case len(g.Name) > maxGatewayNameLen || !gatewayNameRE.MatchString(g.Name):
		add("name", "%q is not a gateway name: 1-%d lower-case letters, digits, '_' or '-', starting with a letter or digit (it is a path segment, /gateway/NAME/)",
			clipText(g.Name, 100), maxGatewayNameLen)
	}
	switch g.Kind {
	case gateway.KindOpenAI, gateway.KindJSON:
	case "":
		add("kind", "required: openai (an OpenAI-compatible API: OpenAI, Azure OpenAI, Ollama, vLLM...) or json (any JSON endpoint, with a mapping)")
	default:
		msg := fmt.Sprintf("must be openai or json, got %q", clipText(g.Kind, 100))
		if m := didyoumean.Closest(g.Kind, gatewayKinds); m != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", m)
		}
		add("kind", "%s", msg)
	}
	errs = append(errs, validateUpstream(key+".upstream", g.Upstream, httpAddr, publicURL)...)
	if g.Service != "" && strings.TrimSpace(g.Service) == "" {
		add("service", "must not be blank: the service.name to record, or leave it out (default: the gateway's name)")
	}
	if g.Deployment != "" && strings.TrimSpace(g.Deployment) == "" {
		add("deployment", "must not be blank: the deployment.name to record, or leave it out")
	}
	if g.Provider != "" && strings.TrimSpace(g.Provider) == "" {
		add("provider", "must not be blank: the gen_ai.provider.name to record (openai, azure.ai.openai, ...), or leave it out")
	}
	if t := time.Duration(g.Timeout); t != 0 && (t < minGatewayTimeout || t > maxGatewayTimeout) {
		add("timeout", "must be between %s and %s (0: default %s), got %s", minGatewayTimeout, maxGatewayTimeout, gateway.DefaultTimeout, t)
	}
	if t := time.Duration(g.ConnectTimeout); t != 0 && (t < minGatewayConnect || t > maxGatewayConnect) {
		add("connect_timeout", "must be between %s and %s (0: default %s), got %s", minGatewayConnect, maxGatewayConnect, gateway.DefaultConnectTimeout, t)
	}
	if n := g.MaxRecordBytes; n != 0 && (n < minGatewayRecordSize || n > maxGatewayRecordSize) {
		add("max_record_bytes", "must be between %d and %d (0: default %d), got %d", minGatewayRecordSize, maxGatewayRecordSize, gateway.DefaultMaxRecordBytes, n)
	}
	switch {
	case g.Kind == gateway.KindJSON && g.Mapping == nil:
		add("mapping", "required for kind json: where the question is in the request and the answer in the response, e.g. "+
			"{request: {question: inputs.question}, response: {answer: outputs.answer}}")
	case g.Kind == gateway.KindOpenAI && g.Mapping != nil:
		add("mapping", "only for kind json: kind openai reads the OpenAI API itself; remove the mapping, or set kind: json")
	case g.Mapping != nil:
		errs = append(errs, g.Mapping.validate(key+".mapping")...)
	}
	return errs
}

// validate checks a mapping's paths at key.
func (m *GatewayMapping) validate(key string) []error {
	var errs []error
	for _, p := range []struct{ k, v string }{
		{"request.question", m.Request.Question},
		{"request.chat_history", m.Request.ChatHistory},
		{"response.answer", m.Response.Answer},
		{"response.context", m.Response.Context},
		{"response.model", m.Response.Model},
		{"response.input_tokens", m.Response.InputTokens},
		{"response.output_tokens", m.Response.OutputTokens},
		{"response.total_tokens", m.Response.TotalTokens},
	} {
		if p.v == "" {
			continue
		}
		if err := gateway.ValidatePath(p.v); err != nil {
			// The reason quotes the path.
			errs = append(errs, fmt.Errorf("%s.%s: %w", key, p.k, err))
		}
	}
	if m.Request.Question == "" && m.Response.Answer == "" {
		errs = append(errs, fmt.Errorf("%s: maps neither request.question nor response.answer: set at least one "+
			"(e.g. request: {question: inputs.question}), or a trace records neither what was asked nor what was answered", key))
	}
	return errs
}

// validateUpstream checks a gateway's upstream URL at key.
func validateUpstream(key, v, httpAddr, publicURL string) []error {
	fail := func(format string, args ...any) []error {
		return []error{fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))}
	}
	if strings.TrimSpace(v) == "" {
		return fail("required: the base URL requests go to, e.g. https://api.openai.com or http://localhost:11434")
	}
	// The URL is quoted cut to scheme and host: it may hold credentials.
	shown := RedactURLs(v)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fail("%q is not an absolute http(s) URL (e.g. https://api.openai.com or http://localhost:11434)", clipText(shown, 200))
	}
	if u.User != nil {
		return fail("must not hold user:password: credentials in a URL end up in logs; the caller's own Authorization header passes through the gateway")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return fail("%q must not have a query: the caller's query is passed to the upstream as is (Azure OpenAI's api-version comes from the caller's request)", clipText(shown, 200))
	}
	if u.Fragment != "" || strings.Contains(v, "#") {
		return fail("must not have a fragment (#...)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fail("%q has an invalid port", clipText(shown, 200))
		}
	}
	if loopsBack(u, httpAddr, publicURL) {
		return fail("%s is flowwatch's own HTTP address: requests would come back through the gateway; set the model server's URL", u.Host)
	}
	return nil
}

// loopsBack reports whether u addresses this flowwatch: its HTTP listener
// (httpAddr) or, when set to something else than the default, its
// public_url.
func loopsBack(u *url.URL, httpAddr, publicURL string) bool {
	host, port := strings.ToLower(u.Hostname()), portOf(u)
	if lh, lp, err := net.SplitHostPort(httpAddr); err == nil && lp != "0" && lp == port {
		lh = strings.ToLower(lh)
		if host == lh || (isLocalHost(host) && (isLocalHost(lh) || isAnyHost(lh))) {
			return true
		}
	}
	if publicURL != "" && publicURL != DefaultPublicURL {
		if pu, err := url.Parse(publicURL); err == nil && pu.Host != "" {
			if strings.EqualFold(pu.Hostname(), host) && portOf(pu) == port {
				return true
			}
		}
	}
	return false
}

// portOf is u's port, or its scheme's.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// isLocalHost reports whether h names this machine's loopback.
func isLocalHost(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// isAnyHost reports whether a listen host is every interface.
func isAnyHost(h string) bool {
	if h == "" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsUnspecified()
}
