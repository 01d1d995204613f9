package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/gateway"
)

// fullGateways is the documented example (docs/gateway.md): every key.
const fullGateways = `gateways:
  - name: openai
    kind: openai
    upstream: https://api.openai.com
    service: chat-app
    deployment: prod
    provider: openai
    record_content: true
    timeout: 10m
    connect_timeout: 10s
    max_record_bytes: 1048576
    require_key: true
  - name: score
    kind: json
    upstream: http://localhost:8080/base
    record_content: false
    require_key: false
    mapping:
      request:  {question: inputs.question, chat_history: inputs.chat_history}
      response: {answer: outputs.answer, context: outputs.context, model: outputs.model,
                 input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens, total_tokens: usage.total_tokens}
`

func TestParseGateways(t *testing.T) {
	yes, no := true, false
	got := Default()
	if err := Parse([]byte(fullGateways), &got); err != nil {
		t.Fatal(err)
	}
	want := []Gateway{
		{Name: "openai", Kind: "openai", Upstream: "https://api.openai.com", Service: "chat-app", Deployment: "prod", Provider: "openai",
			RecordContent: &yes, Timeout: Duration(10 * time.Minute), ConnectTimeout: Duration(10 * time.Second), MaxRecordBytes: 1 << 20, RequireKey: &yes},
		{Name: "score", Kind: "json", Upstream: "http://localhost:8080/base", RecordContent: &no, RequireKey: &no,
			Mapping: &GatewayMapping{
				Request: GatewayRequestMapping{Question: "inputs.question", ChatHistory: "inputs.chat_history"},
				Response: GatewayResponseMapping{Answer: "outputs.answer", Context: "outputs.context", Model: "outputs.model",
					InputTokens: "usage.prompt_tokens", OutputTokens: "usage.completion_tokens", TotalTokens: "usage.total_tokens"},
			}},
	}
	if diff := cmp.Diff(want, got.Gateways); diff != "" {
		t.Errorf("gateways (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the documented example is invalid: %v", err)
	}
	if m := got.Gateways[1].Mapping.Mapping(); m != (gateway.Mapping{Question: "inputs.question", ChatHistory: "inputs.chat_history",
		Answer: "outputs.answer", Context: "outputs.context", Model: "outputs.model",
		InputTokens: "usage.prompt_tokens", OutputTokens: "usage.completion_tokens", TotalTokens: "usage.total_tokens"}) {
		t.Errorf("Mapping() = %+v", m)
	}

	// The same file through Load: the scan that names lines decodes the
	// same values (pointers to booleans included).
	p := filepath.Join(t.TempDir(), "fw.yaml")
	if err := os.WriteFile(p, []byte(fullGateways), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, loaded.Gateways); diff != "" {
		t.Errorf("Load: gateways (-want +got):\n%s", diff)
	}
}

func TestGatewayDefaults(t *testing.T) {
	c := Default()
	if err := Parse([]byte("gateways:\n  - {name: local, kind: openai, upstream: \"http://localhost:11434/v1\"}\n"), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	g := c.Gateways[0]
	if !g.RecordsContent() || !g.RequiresKey() {
		t.Errorf("RecordsContent() = %v, RequiresKey() = %v; both default to true", g.RecordsContent(), g.RequiresKey())
	}
	r := g.Resolved()
	yes := true
	want := Gateway{Name: "local", Kind: "openai", Upstream: "http://localhost:11434/v1", Service: "local",
		RecordContent: &yes, RequireKey: &yes, Timeout: Duration(gateway.DefaultTimeout),
		ConnectTimeout: Duration(gateway.DefaultConnectTimeout), MaxRecordBytes: gateway.DefaultMaxRecordBytes}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Resolved() (-want +got):\n%s", diff)
	}
	// Set values are kept.
	no := false
	set := Gateway{Name: "x", Service: "svc", RecordContent: &no, RequireKey: &no, Timeout: Duration(time.Minute),
		ConnectTimeout: Duration(time.Second), MaxRecordBytes: 4096}.Resolved()
	if set.Service != "svc" || *set.RecordContent || *set.RequireKey || set.Timeout != Duration(time.Minute) ||
		set.ConnectTimeout != Duration(time.Second) || set.MaxRecordBytes != 4096 {
		t.Errorf("Resolved() changed set values: %+v", set)
	}
}

func TestParseGatewaysRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key in an item", "gateways:\n  - name: a\n    kind: openai\n    upstrem: http://x\n", []string{"upstrem"}},
		{"unknown key in the mapping", "gateways:\n  - name: a\n    kind: json\n    mapping:\n      request: {questoin: q}\n", []string{"questoin"}},
		{"not a list", "gateways:\n  name: a\n", []string{"gateways"}},
		{"record_content not a boolean", "gateways:\n  - name: a\n    record_content: maybe\n", []string{"record_content"}},
		{"bad duration", "gateways:\n  - name: a\n    timeout: soon\n", []string{`invalid duration "soon"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := Parse([]byte(tc.yaml), &c)
			if err == nil {
				t.Fatalf("Parse() = nil, want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse() = %v\nwant it to contain %q", err, w)
				}
			}
			// Load names the line, and the known key for a typo.
			p := filepath.Join(t.TempDir(), "fw.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p+":") {
				t.Errorf("Load() = %v, want a problem naming the file and line", err)
			}
		})
	}
}

// TestLoadGatewaysNamesKeys: the scan names the closest known key in a
// list item, and Validate's problems name the line of their key.
func TestLoadGatewaysNamesKeys(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fw.yaml")
	body := "gateways:\n" +
		"  - name: ok\n" +
		"    kind: openai\n" +
		"    upstream: https://api.openai.com\n" +
		"  - name: bad\n" +
		"    kind: opneai\n" +
		"    upstream: ftp://example.com\n" +
		"    timout: 5s\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil {
		t.Fatal("Load() = nil, want problems")
	}
	for _, w := range []string{
		p + `:6:5: gateways[1].kind: must be openai or json, got "opneai" (did you mean "openai"?)`,
		p + `:7:5: gateways[1].upstream: "ftp://example.com" is not an absolute http(s) URL`,
		p + `:8:5: unknown key "timout" in gateways[1] (did you mean "timeout"?)`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Load() = %v\nwant it to contain %q", err, w)
		}
	}
}

func TestValidateGateways(t *testing.T) {
	ok := func(mod func(*Gateway)) Gateway {
		g := Gateway{Name: "gw", Kind: "openai", Upstream: "https://api.openai.com/v1"}
		if mod != nil {
			mod(&g)
		}
		return g
	}
	jsonGW := func(m *GatewayMapping) Gateway {
		return Gateway{Name: "score", Kind: "json", Upstream: "http://10.0.0.5:8080", Mapping: m}
	}
	answer := &GatewayMapping{Response: GatewayResponseMapping{Answer: "outputs.answer"}}
	yes := true
	for _, tc := range []struct {
		name     string
		gateways []Gateway
		http     string // http.address; "" keeps the default
		public   string // http.public_url; "" keeps the default
		want     []string
	}{
		{name: "none"},
		{name: "minimal openai", gateways: []Gateway{ok(nil)}},
		{name: "json with a question only", gateways: []Gateway{jsonGW(&GatewayMapping{Request: GatewayRequestMapping{Question: "inputs.question"}})}},
		{name: "json with an answer only", gateways: []Gateway{jsonGW(answer)}},
		{name: "several", gateways: []Gateway{ok(nil), ok(func(g *Gateway) { g.Name = "local_1-b"; g.Upstream = "http://127.0.0.1:11434" }), jsonGW(answer)}},
		{name: "bounds inclusive", gateways: []Gateway{ok(func(g *Gateway) {
			g.Timeout, g.ConnectTimeout, g.MaxRecordBytes, g.RecordContent = Duration(24*time.Hour), Duration(100*time.Millisecond), 64<<20, &yes
		}), ok(func(g *Gateway) {
			g.Name, g.Timeout, g.ConnectTimeout, g.MaxRecordBytes = "g2", Duration(time.Second), Duration(5*time.Minute), 1<<10
		})}},

		{name: "no name", gateways: []Gateway{ok(func(g *Gateway) { g.Name = "" })}, want: []string{"gateways[0].name: required"}},
		{name: "upper case name", gateways: []Gateway{ok(func(g *Gateway) { g.Name = "OpenAI" })}, want: []string{`gateways[0].name: "OpenAI" is not a gateway name`}},
		{name: "slash in name", gateways: []Gateway{ok(func(g *Gateway) { g.Name = "a/b" })}, want: []string{`gateways[0].name: "a/b" is not a gateway name`}},
		{name: "name starting with a dash", gateways: []Gateway{ok(func(g *Gateway) { g.Name = "-a" })}, want: []string{`gateways[0].name: "-a" is not`}},
		{name: "long name", gateways: []Gateway{ok(func(g *Gateway) { g.Name = strings.Repeat("a", 65) })}, want: []string{"gateways[0].name:", "1-64"}},
		{name: "duplicate names", gateways: []Gateway{ok(nil), ok(func(g *Gateway) { g.Upstream = "http://localhost:11434" })},
			want: []string{`gateways[1].name: "gw" is already the name of gateways[0]`}},
		{name: "no kind", gateways: []Gateway{ok(func(g *Gateway) { g.Kind = "" })}, want: []string{"gateways[0].kind: required: openai"}},
		{name: "unknown kind", gateways: []Gateway{ok(func(g *Gateway) { g.Kind = "jsno" })}, want: []string{`gateways[0].kind: must be openai or json, got "jsno" (did you mean "json"?)`}},
		{name: "unrelated kind", gateways: []Gateway{ok(func(g *Gateway) { g.Kind = "anthropic" })}, want: []string{`gateways[0].kind: must be openai or json, got "anthropic"`}},

		{name: "no upstream", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "" })}, want: []string{"gateways[0].upstream: required"}},
		{name: "relative upstream", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "api.openai.com/v1" })}, want: []string{"gateways[0].upstream:", "not an absolute http(s) URL"}},
		{name: "upstream of another scheme", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "grpc://x:1" })}, want: []string{"gateways[0].upstream:", "not an absolute http(s) URL"}},
		{name: "upstream with credentials", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "https://me:s3cret@api.openai.com" })},
			want: []string{"gateways[0].upstream: must not hold user:password: credentials in a URL end up in logs; the caller's own Authorization header passes through the gateway"}},
		{name: "upstream with a query", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "https://x.openai.azure.com/openai?api-version=2024-10-21" })},
			want: []string{"gateways[0].upstream:", "must not have a query"}},
		{name: "upstream with an empty query", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "https://api.openai.com/?" })}, want: []string{"must not have a query"}},
		{name: "upstream with a fragment", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "https://api.openai.com/#x" })}, want: []string{"gateways[0].upstream: must not have a fragment"}},
		{name: "upstream with a bad port", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "http://localhost:99999" })}, want: []string{"gateways[0].upstream:", "invalid port"}},
		{name: "upstream is flowwatch", http: "127.0.0.1:4318", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "http://localhost:4318/v1" })},
			want: []string{"gateways[0].upstream: localhost:4318 is flowwatch's own HTTP address"}},
		{name: "upstream is flowwatch on every interface", http: "0.0.0.0:9000", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "http://127.0.0.1:9000" })},
			want: []string{"gateways[0].upstream: 127.0.0.1:9000 is flowwatch's own HTTP address"}},
		{name: "upstream is flowwatch's public URL", public: "https://fw.example.com", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "https://FW.example.com/gateway/x" })},
			want: []string{"gateways[0].upstream: FW.example.com is flowwatch's own HTTP address"}},
		{name: "another port on this machine is fine", http: "127.0.0.1:4318", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "http://localhost:11434" })}},
		{name: "the same port elsewhere is fine", http: "127.0.0.1:4318", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "http://10.1.2.3:4318" })}},
		{name: "a free port (tests) is never a loop", http: "127.0.0.1:0", gateways: []Gateway{ok(func(g *Gateway) { g.Upstream = "http://127.0.0.1:80" })}},

		{name: "blank service", gateways: []Gateway{ok(func(g *Gateway) { g.Service = " " })}, want: []string{"gateways[0].service: must not be blank"}},
		{name: "blank deployment", gateways: []Gateway{ok(func(g *Gateway) { g.Deployment = " " })}, want: []string{"gateways[0].deployment: must not be blank"}},
		{name: "blank provider", gateways: []Gateway{ok(func(g *Gateway) { g.Provider = "\t" })}, want: []string{"gateways[0].provider: must not be blank"}},
		{name: "timeout too short", gateways: []Gateway{ok(func(g *Gateway) { g.Timeout = Duration(500 * time.Millisecond) })},
			want: []string{"gateways[0].timeout: must be between 1s and 24h0m0s (0: default 10m0s), got 500ms"}},
		{name: "timeout too long", gateways: []Gateway{ok(func(g *Gateway) { g.Timeout = Duration(25 * time.Hour) })}, want: []string{"gateways[0].timeout: must be between"}},
		{name: "negative timeout", gateways: []Gateway{ok(func(g *Gateway) { g.Timeout = Duration(-time.Second) })}, want: []string{"gateways[0].timeout: must be between"}},
		{name: "connect_timeout too short", gateways: []Gateway{ok(func(g *Gateway) { g.ConnectTimeout = Duration(10 * time.Millisecond) })},
			want: []string{"gateways[0].connect_timeout: must be between 100ms and 5m0s (0: default 10s), got 10ms"}},
		{name: "connect_timeout too long", gateways: []Gateway{ok(func(g *Gateway) { g.ConnectTimeout = Duration(6 * time.Minute) })}, want: []string{"gateways[0].connect_timeout: must be between"}},
		{name: "max_record_bytes too small", gateways: []Gateway{ok(func(g *Gateway) { g.MaxRecordBytes = 100 })},
			want: []string{"gateways[0].max_record_bytes: must be between 1024 and 67108864 (0: default 1048576), got 100"}},
		{name: "max_record_bytes too large", gateways: []Gateway{ok(func(g *Gateway) { g.MaxRecordBytes = 65<<20 + 1 })}, want: []string{"gateways[0].max_record_bytes: must be between"}},
		{name: "negative max_record_bytes", gateways: []Gateway{ok(func(g *Gateway) { g.MaxRecordBytes = -1 })}, want: []string{"gateways[0].max_record_bytes: must be between"}},

		{name: "json without a mapping", gateways: []Gateway{jsonGW(nil)}, want: []string{"gateways[0].mapping: required for kind json"}},
		{name: "openai with a mapping", gateways: []Gateway{ok(func(g *Gateway) { g.Mapping = answer })}, want: []string{"gateways[0].mapping: only for kind json"}},
		{name: "mapping with neither question nor answer", gateways: []Gateway{jsonGW(&GatewayMapping{Response: GatewayResponseMapping{Model: "model"}})},
			want: []string{"gateways[0].mapping: maps neither request.question nor response.answer"}},

		{name: "every problem at once", gateways: []Gateway{ok(nil), {Name: "gw", Kind: "x", Upstream: "https://u:p@h"}, jsonGW(nil)},
			want: []string{"gateways[1].name:", "gateways[1].kind:", "gateways[1].upstream:", "gateways[2].mapping:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Gateways = tc.gateways
			if tc.http != "" {
				c.HTTP.Address = tc.http
			}
			if tc.public != "" {
				c.HTTP.PublicURL = tc.public
			}
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "u:p@") {
				t.Errorf("the error quotes the upstream's credentials: %v", err)
			}
		})
	}
}

// TestValidateGatewayMappingPaths: a path the gateway cannot read is
// refused with its key and gateway.ValidatePath's reason.
func TestValidateGatewayMappingPaths(t *testing.T) {
	const bad = "outputs..answer"
	perr := gateway.ValidatePath(bad)
	if perr == nil {
		t.Fatalf("gateway.ValidatePath(%q) = nil, want it refused", bad)
	}
	c := Default()
	c.Gateways = []Gateway{{Name: "score", Kind: "json", Upstream: "http://localhost:8080", Mapping: &GatewayMapping{
		Request:  GatewayRequestMapping{Question: "inputs.question", ChatHistory: bad},
		Response: GatewayResponseMapping{Answer: "outputs.answer", Context: bad, TotalTokens: bad},
	}}}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want the bad paths refused")
	}
	for _, k := range []string{"request.chat_history", "response.context", "response.total_tokens"} {
		if w := "gateways[0].mapping." + k + ": " + perr.Error(); !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
		}
	}
	for _, k := range []string{"request.question", "response.answer"} {
		if strings.Contains(err.Error(), "mapping."+k) {
			t.Errorf("Validate() refuses the good path %s: %v", k, err)
		}
	}
}

// TestGatewayDocExamples: every configuration example of docs/gateway.md
// (the fenced YAML blocks that start a gateways list) loads and
// validates, so the user guide cannot drift from what the server accepts.
func TestGatewayDocExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "gateway.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, block := range strings.Split(string(doc), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.Contains(block, "\ngateways:\n") && !strings.HasPrefix(block, "gateways:\n") {
			continue // a fragment
		}
		n++
		p := filepath.Join(t.TempDir(), "flowwatch.yaml")
		if err := os.WriteFile(p, []byte(block), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p)
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			t.Errorf("example %d of docs/gateway.md:\n%s\n%v", i+1, block, err)
		}
	}
	if n < 5 {
		t.Errorf("found %d examples in docs/gateway.md, want at least 5 (quickstart, OpenAI, Azure, Ollama/vLLM, promptflow)", n)
	}
}
