package config

import (
	"regexp"
	"testing"
)

// urlPath finds the seeds' secret in the path of a URL: after a scheme,
// a host and a slash.
var urlPath = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s"'<>]+/[^\s"'<>]*SECRETPATH`)

// FuzzParse: any bytes as a configuration file are decoded or refused with
// an error, never a panic, and a decoded configuration validates (or
// not) without one; a webhook URL's secret path never shows in an error.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"data_dir: ./x\nhttp: {address: 127.0.0.1:4318}\n",
		"smtp: {host: smtp.example.com, port: 587, tls: starttls, from: a@example.com}\n",
		"channels:\n  oncall: {type: slack, url: https://hooks.slack.com/services/T0/B0/SECRETPATH}\n",
		"channels:\n  p: {type: pagerduty, routing_key_env: X}\n  h: {type: webhook, url: https://x.example.com/SECRETPATH, headers: {X-A: b}}\n",
		"notifications: {give_up_after: 1h, initial_backoff: 1s, max_backoff: 1m}\n",
		"judges:\n  j: {type: openai, base_url: http://localhost:11434/v1, model: m}\n",
		"pricing: [{model: 'gpt-4o*', input_per_mtok: 2.5}]\nmonitors_dir: ./m\n",
		"channels: {a: {type: slack, url: 'https://hooks.slack.com/services/SECRETPATH'}, b: [1, 2]}\n",
		"gateways:\n  - {name: openai, kind: openai, upstream: 'https://api.openai.com/v1', record_content: false, timeout: 1m}\n",
		"gateways:\n  - name: rag\n    kind: json\n    upstream: http://localhost:8080\n    require_key: false\n    mapping:\n      request: {question: $.inputs[0].q}\n      response: {answer: outputs.answer, context: docs.#.text}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The scan Load runs first: problems, never a panic, and no
		// URL path in them either.
		scanned := Default()
		src, problems := parseSource("fw.yaml", data, &scanned)
		for _, p := range problems {
			if urlPath.MatchString(p.Error()) {
				t.Fatalf("a problem shows a URL's path: %v", p)
			}
		}
		scanned.Source = src
		_ = scanned.Validate()
		cfg := Default()
		err := Parse(data, &cfg)
		if err != nil {
			if urlPath.MatchString(err.Error()) {
				t.Fatalf("the error shows a URL's path: %v", err)
			}
			return
		}
		_ = cfg.Validate()
	})
}
