package api

import (
	"net/url"
	"testing"
)

// FuzzAlertQuery: any query string of GET /alerts is read or refused
// with an error, never a panic, and what is read is within bounds.
func FuzzAlertQuery(f *testing.F) {
	for _, seed := range []string{"", "state=firing&monitor=rag_quality&limit=10", "limit=0", "state=ok", "cursor=%ff&x=1", "monitor=a%2Fb"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseAlertQuery(raw)
		if err != nil {
			return
		}
		if q.Limit < 1 || q.Limit > 1000 {
			t.Fatalf("limit %d out of bounds for %q", q.Limit, raw)
		}
	})
}

// FuzzInstanceQuery: the parameters of GET /runs/{id}/instances are read
// or refused, never a panic; a cursor read is one instanceCursor makes.
func FuzzInstanceQuery(f *testing.F) {
	f.Add("", "", "", "", "")
	f.Add("groundedness", "judged", "true", "10", instanceCursor("groundedness", "0000000000000000000000000000a002"))
	f.Add("", "error", "false", "0", "!!")
	f.Fuzz(func(t *testing.T, metric, status, passed, limit, cursor string) {
		q := map[string]string{"metric": metric}
		for k, v := range map[string]string{"status": status, "passed": passed, "limit": limit, "cursor": cursor} {
			if v != "" {
				q[k] = v
			}
		}
		iq, err := parseInstanceQuery("r1", q)
		if err != nil {
			return
		}
		if iq.Limit < 1 || iq.Limit > MaxInstanceLimit {
			t.Fatalf("limit %d out of bounds for %q", iq.Limit, url.QueryEscape(limit))
		}
		if cursor != "" && instanceCursor(iq.AfterMetric, iq.AfterTraceID) != cursor {
			t.Fatalf("cursor %q read as (%q, %q), which makes another cursor", cursor, iq.AfterMetric, iq.AfterTraceID)
		}
	})
}
