package gateway

import (
	"net/http"
	"net/url"
	"strings"
)

// The caller's credentials are never recorded: no request header is
// copied into an Exchange, and the query string is not either. An
// upstream can still quote a credential back (an error message echoing
// the key it refused, a debug endpoint returning the request); so the
// values of the caller's credentials travel with the exchange to the
// recorder, which removes them from everything read out of the bodies
// before anything is stored, then forgets them. They live in memory for
// as long as the exchange is queued, like the bodies themselves.

// credentialHeaders are the request headers that carry a caller's
// credential for the upstream.
var credentialHeaders = []string{"Authorization", "Api-Key", "X-Api-Key", "Proxy-Authorization", "Ocp-Apim-Subscription-Key", "X-Goog-Api-Key"}

// credentialParams are query parameters that carry one (Gemini's key=,
// some proxies' api_key=).
var credentialParams = []string{"key", "api-key", "api_key", "apikey", "access_token", "token", "code", "sig"}

// minCredential is the shortest value treated as a credential: shorter
// ones ("Bearer", a 3-letter test key) would scrub ordinary words.
const minCredential = 8

// redacted replaces a credential found in recorded text.
const redacted = "[REDACTED]"

// credentials returns the credential values a request carries: each
// header's whole value and, for "Scheme value" forms, the value alone.
func credentials(h http.Header, rawQuery string) []string {
	var out []string
	add := func(v string) {
		if v = strings.TrimSpace(v); len(v) >= minCredential {
			out = append(out, v)
		}
	}
	for _, name := range credentialHeaders {
		for _, v := range h.Values(name) {
			add(v)
			if _, rest, ok := strings.Cut(v, " "); ok {
				add(rest)
			}
		}
	}
	if rawQuery != "" {
		if q, err := url.ParseQuery(rawQuery); err == nil {
			for _, name := range credentialParams {
				for _, v := range q[name] {
					add(v)
				}
			}
		}
	}
	return out
}

// scrub removes the credentials from every text of a call read out of an
// exchange's bodies.
func (c *Call) scrub(secrets []string) {
	if len(secrets) == 0 {
		return
	}
	clean := func(s *string) {
		for _, v := range secrets {
			if strings.Contains(*s, v) {
				*s = strings.ReplaceAll(*s, v, redacted)
			}
		}
	}
	cleanAny := func(v *any) {
		if s, ok := (*v).(string); ok {
			clean(&s)
			*v = s
		}
	}
	parts := func(ps []Part) {
		for i := range ps {
			p := &ps[i]
			clean(&p.Content)
			clean(&p.URI)
			cleanAny(&p.Arguments)
			cleanAny(&p.Response)
		}
	}
	for _, s := range []*string{&c.Question, &c.Answer, &c.ErrorMessage, &c.ResponseID} {
		clean(s)
	}
	parts(c.System)
	for i := range c.Input {
		parts(c.Input[i].Parts)
	}
	for i := range c.Output {
		parts(c.Output[i].Parts)
	}
	for i := range c.Documents {
		clean(&c.Documents[i].Content)
		clean(&c.Documents[i].ID)
	}
}
