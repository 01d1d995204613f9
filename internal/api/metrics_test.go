package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// TestMetricsErrors covers the bad requests of both metrics endpoints: the
// status and the exact message, which names the parameter at fault.
func TestMetricsErrors(t *testing.T) {
	srv, _ := fixtureServer(t)
	const badTime = errBadTime
	cases := []struct {
		name string
		path string
		msg  string
	}{
		{"unknown group_by", "?group_by=region", `invalid "group_by": must be one of service, deployment, model, status, got "region"`},
		{"group_by case", "?group_by=Model", `invalid "group_by": must be one of service, deployment, model, status, got "Model"`},
		{"until before since", "?since=1h&until=2h", `invalid "until": must be later than "since" (2025-06-01T11:00:00Z), got "2h"`},
		{"until equals since", "?since=2025-06-01T10:00:00Z&until=2025-06-01T10:00:00Z", `invalid "until": must be later than "since" (2025-06-01T10:00:00Z), got "2025-06-01T10:00:00Z"`},
		{"since after now", "?since=2030-01-01", `invalid "since": must be earlier than "until" (now, 2025-06-01T12:00:00Z), got "2030-01-01"`},
		{"since word", "?since=yesterday", `invalid "since": ` + badTime + `, got "yesterday"`},
		{"until word", "?until=later", `invalid "until": ` + badTime + `, got "later"`},
		{"step 0", "?step=0", `invalid "step": must be positive, got "0"`},
		{"step 0s", "?step=0s", `invalid "step": must be positive, got "0s"`},
		{"step negative", "?step=-5m", `invalid "step": must be positive, got "-5m"`},
		{"step 1s", "?step=1s", `invalid "step": must be a whole number of minutes (60, 5m, 1h, 1d), got "1s"`},
		{"step 90 seconds", "?step=90", `invalid "step": must be a whole number of minutes (60, 5m, 1h, 1d), got "90"`},
		{"step 1.5m", "?step=1.5m", `invalid "step": must be a whole number of minutes (60, 5m, 1h, 1d), got "1.5m"`},
		{"step 500ms", "?step=500ms", `invalid "step": must be a whole number of minutes (60, 5m, 1h, 1d), got "500ms"`},
		{"step 32d", "?step=32d", `invalid "step": must be at most 31d (2678400 seconds), got "32d"`},
		{"step 5w", "?step=5w", `invalid "step": must be at most 31d (2678400 seconds), got "5w"`},
		{"step huge seconds", "?step=99999999999999999999", `invalid "step": must be at most 31d (2678400 seconds), got "99999999999999999999"`},
		{"step huge duration", "?step=9999999999999999999999h", `invalid "step": must be at most 31d (2678400 seconds), got "9999999999999999999999h"`},
		{"step word", "?step=fast", `invalid "step": must be a duration such as 5m, 1h or 1d, or a whole number of seconds such as 300, got "fast"`},
		{"step unit unknown", "?step=5x", `invalid "step": must be a duration such as 5m, 1h or 1d, or a whole number of seconds such as 300, got "5x"`},
		{"step exponent", "?step=1e3", `invalid "step": must be a duration such as 5m, 1h or 1d, or a whole number of seconds such as 300, got "1e3"`},
		{"step no number", "?step=m", `invalid "step": must be a duration such as 5m, 1h or 1d, or a whole number of seconds such as 300, got "m"`},
		{"step sign only", "?step=-", `invalid "step": must be a duration such as 5m, 1h or 1d, or a whole number of seconds such as 300, got "-"`},
		{"step with space", "?step=5%20m", `invalid "step": must be a duration such as 5m, 1h or 1d, or a whole number of seconds such as 300, got "5 m"`},
		{"too many buckets", "?since=30d&step=1m", `invalid "step": gives 43200 buckets from since to until, at most 11000 are allowed: use a larger step or a shorter range, got "1m"`},
		{"range too long", "?since=1000-01-01", `invalid "since": the range from since to until is too long: even the largest automatic step (1w) gives 53505 buckets, at most 11000 are allowed, got "1000-01-01"`},
		{"unknown parameter", "?limit=5", `unknown query parameter "limit" (allowed: service, deployment, model, since, until, step, group_by, include_empty)`},
		{"status is no filter", "?status=error", `unknown query parameter "status" (allowed: service, deployment, model, since, until, step, group_by, include_empty)`},
		{"repeated", "?step=1m&step=5m", `invalid "step": given 2 times, at most once`},
		{"service too long", "?service=" + strings.Repeat("s", maxParamLen+1), `invalid "service": 513 bytes long, at most 512`},
	}
	for _, endpoint := range []string{"operational", "llm"} {
		for _, tc := range cases {
			t.Run(endpoint+"/"+tc.name, func(t *testing.T) {
				res := do(t, http.MethodGet, srv.URL+"/api/v1/metrics/"+endpoint+tc.path)
				if res.status != http.StatusBadRequest {
					t.Errorf("status %d, want 400", res.status)
				}
				checkJSONHeaders(t, res.header)
				checkErrorBody(t, res.body, tc.msg)
			})
		}
	}
	t.Run("post", func(t *testing.T) {
		res := do(t, http.MethodPost, srv.URL+"/api/v1/metrics/llm")
		if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("status %d Allow %q, want 405 with Allow: GET, HEAD", res.status, res.header.Get("Allow"))
		}
		checkErrorBody(t, res.body, `method POST not allowed on /api/v1/metrics/llm (allowed: GET, HEAD)`)
	})
	t.Run("metrics root", func(t *testing.T) {
		res := do(t, http.MethodGet, srv.URL+"/api/v1/metrics")
		if res.status != http.StatusNotFound {
			t.Errorf("status %d, want 404", res.status)
		}
	})
}

// TestMetricsTooManyGroups checks that a grouped answer too large to send
// is refused before anything is merged, naming group_by.
func TestMetricsTooManyGroups(t *testing.T) {
	var obs []rollup.Observation
	for i := range 25 {
		obs = append(obs, rollup.Observation{
			Kind: rollup.LLMCalls, Time: apitest.Now().Add(-time.Minute), Service: "s",
			Model: fmt.Sprintf("model-%02d", i), Status: model.StatusOK, Duration: time.Second,
		})
	}
	rollups := apitest.NewRollups(obs)
	srv := newTestServer(t, Options{Rollups: rollups}, nil)
	res := do(t, http.MethodGet, srv.URL+"/api/v1/metrics/llm?since=7d&step=1m&group_by=model")
	if res.status != http.StatusBadRequest {
		t.Errorf("status %d, want 400", res.status)
	}
	checkErrorBody(t, res.body, `invalid "group_by": 25 groups of 10080 buckets each make 262080 entries, at most 50000 are allowed: use a larger step, a shorter range or a filter, got "model"`)
	// The same range ungrouped, or grouped with a larger step, is fine.
	for _, path := range []string{"?since=7d&step=1m", "?since=7d&step=15m&group_by=model", "?since=7d&step=1m&group_by=service"} {
		if res := do(t, http.MethodGet, srv.URL+"/api/v1/metrics/llm"+path); res.status != http.StatusOK {
			t.Errorf("%s: status %d: %s", path, res.status, res.body)
		}
	}
}

// TestMetricsStoreQueries checks what the store is asked: both kinds for
// the operational view and only model calls for the LLM view, the
// resolution that fits the step, the range rounded out to whole steps, and
// the filters as given.
func TestMetricsStoreQueries(t *testing.T) {
	hour := func(h int) int64 { return apitest.Now().Add(time.Duration(h) * time.Hour).Unix() }
	cases := []struct {
		path string
		want []store.RollupQuery
	}{
		{"/api/v1/metrics/operational", []store.RollupQuery{
			{Kind: rollup.Requests, Resolution: rollup.Minute, Start: hour(-1), End: hour(0)},
			{Kind: rollup.LLMCalls, Resolution: rollup.Minute, Start: hour(-1), End: hour(0)},
		}},
		{"/api/v1/metrics/llm?service=rag-app&deployment=prod&model=m&since=2025-06-01T09:10:00Z&until=2025-06-01T11:59:59.5Z&step=2h", []store.RollupQuery{
			{Kind: rollup.LLMCalls, Resolution: rollup.Hour, Start: hour(-4), End: hour(0), Service: "rag-app", Deployment: "prod", Model: "m"},
		}},
		{"/api/v1/metrics/operational?since=1d&step=90m&group_by=status", []store.RollupQuery{
			{Kind: rollup.Requests, Resolution: rollup.Minute, Start: hour(-24), End: hour(0)},
			{Kind: rollup.LLMCalls, Resolution: rollup.Minute, Start: hour(-24), End: hour(0)},
		}},
		{"/api/v1/metrics/llm?since=7d", []store.RollupQuery{
			{Kind: rollup.LLMCalls, Resolution: rollup.Hour, Start: hour(-7 * 24), End: hour(0)},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			rollups := apitest.NewRollups(apitest.RollupFixture())
			srv := newTestServer(t, Options{Rollups: rollups}, nil)
			res := do(t, http.MethodGet, srv.URL+tc.path)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			// The kinds of one request are read at once: in either order.
			byKind := cmpopts.SortSlices(func(a, b store.RollupQuery) bool { return a.Kind < b.Kind })
			if diff := cmp.Diff(tc.want, rollups.Queries(), byKind); diff != "" {
				t.Errorf("store queries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMetricsConsistent checks, over many queries of the fixture, what
// must hold whatever the data: one entry per step from since to until with
// include_empty, the same without the empty ones by default, series and
// groups adding up to the totals, error rates matching their counts (to
// their rounding), percentiles in order, and the same totals whatever the
// grouping.
func TestMetricsConsistent(t *testing.T) {
	srv, _ := fixtureServer(t)
	var want *LLMMetrics
	for _, q := range []string{"since=3h&step=5m", "since=3h&step=1h", "since=3h&step=2m&group_by=model",
		"since=3h&step=1h&group_by=service", "since=3h&step=3h&group_by=deployment", "since=3h&step=10m&group_by=status"} {
		t.Run(q, func(t *testing.T) {
			var op OperationalMetrics
			getJSON(t, srv.URL+"/api/v1/metrics/operational?"+q, &op)
			var llm LLMMetrics
			getJSON(t, srv.URL+"/api/v1/metrics/llm?"+q, &llm)
			var opAll OperationalMetrics
			getJSON(t, srv.URL+"/api/v1/metrics/operational?include_empty=true&"+q, &opAll)
			var llmAll LLMMetrics
			getJSON(t, srv.URL+"/api/v1/metrics/llm?include_empty=true&"+q, &llmAll)
			checkRange(t, opAll.MetricsRange, len(opAll.Series))
			checkRange(t, llmAll.MetricsRange, len(llmAll.Series))
			checkOmitted(t, "operational", opAll.Series, op.Series, func(p RequestPoint) bool { return p.Requests == 0 && p.TotalTokens == 0 })
			checkOmitted(t, "llm", llmAll.Series, llm.Series, func(p CallPoint) bool { return p.Calls == 0 && p.TotalTokens == 0 })
			opStats := func(s RequestStats) (int64, Stats) { return s.Requests, s.Stats }
			callStats := func(s CallStats) (int64, Stats) { return s.Calls, s.Stats }
			checkSeries(t, "operational", op.Series, op.Totals, func(p RequestPoint) RequestStats { return p.RequestStats }, opStats)
			checkSeries(t, "llm", llm.Series, llm.Totals, func(p CallPoint) CallStats { return p.CallStats }, callStats)
			var opSum, llmSum []RequestStats
			for _, g := range op.Groups {
				checkSeries(t, "operational group "+g.Group, g.Series, g.Totals, func(p RequestPoint) RequestStats { return p.RequestStats }, opStats)
				opSum = append(opSum, g.Totals)
			}
			for _, g := range llm.Groups {
				checkSeries(t, "llm group "+g.Group, g.Series, g.Totals, func(p CallPoint) CallStats { return p.CallStats }, callStats)
				llmSum = append(llmSum, RequestStats{Requests: g.Totals.Calls, Stats: g.Totals.Stats})
			}
			if op.GroupBy != "" {
				checkSum(t, "operational groups", opSum, op.Totals)
				checkSum(t, "llm groups", llmSum, RequestStats{Requests: llm.Totals.Calls, Stats: llm.Totals.Stats})
			}
			// Tokens and cost of the operational view are those of the
			// model calls.
			if op.Totals.TotalTokens != llm.Totals.TotalTokens || op.Totals.CostUSD != llm.Totals.CostUSD {
				t.Errorf("operational tokens %d cost %v, llm tokens %d cost %v", op.Totals.TotalTokens, op.Totals.CostUSD, llm.Totals.TotalTokens, llm.Totals.CostUSD)
			}
			if want == nil {
				want = &llm
			} else if diff := cmp.Diff(want.Totals, llm.Totals); diff != "" {
				t.Errorf("llm totals differ from the first query's (-first +this):\n%s", diff)
			}
		})
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res := do(t, http.MethodGet, url)
	if res.status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", url, res.status, res.body)
	}
	if err := json.Unmarshal(res.body, v); err != nil {
		t.Fatal(err)
	}
}

// checkOmitted checks that a default series is the full one (of
// include_empty=true) without its empty entries, and that some were left
// out.
func checkOmitted[P any](t *testing.T, what string, all, got []P, empty func(P) bool) {
	t.Helper()
	var want []P
	for _, p := range all {
		if !empty(p) {
			want = append(want, p)
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s: the default series is not the full one without empty buckets (-want +got):\n%s", what, diff)
	}
}

// checkSteps checks the times of a series without its empty entries: at
// most one entry a step, in order, each at a whole step from since and
// before until.
func checkSteps(t *testing.T, r MetricsRange, times []Timestamp) {
	t.Helper()
	step := time.Duration(r.StepSeconds) * time.Second
	for i, ts := range times {
		d := ts.Sub(r.Since.Time)
		switch {
		case step <= 0 || d < 0 || d%step != 0 || !ts.Before(r.Until.Time):
			t.Fatalf("entry %d at %v is not a step from %v to %v (step %v)", i, ts, r.Since, r.Until, step)
		case i > 0 && !times[i-1].Before(ts.Time):
			t.Fatalf("entry %d at %v is not after entry %d at %v", i, ts, i-1, times[i-1])
		}
	}
}

func checkRange(t *testing.T, r MetricsRange, n int) {
	t.Helper()
	if got := r.Until.Sub(r.Since.Time); got != time.Duration(int64(n)*r.StepSeconds)*time.Second {
		t.Errorf("since %v until %v step %ds: %d entries", r.Since, r.Until, r.StepSeconds, n)
	}
}

func checkSeries[P, S any](t *testing.T, what string, series []P, totals S, stats func(P) S, parts func(S) (int64, Stats)) {
	t.Helper()
	var sum []RequestStats
	for _, p := range series {
		n, s := parts(stats(p))
		sum = append(sum, RequestStats{Requests: n, Stats: s})
		checkStats(t, what, n, s)
	}
	n, s := parts(totals)
	checkStats(t, what+" totals", n, s)
	checkSum(t, what, sum, RequestStats{Requests: n, Stats: s})
}

func checkStats(t *testing.T, what string, n int64, s Stats) {
	t.Helper()
	l := s.LatencyMS
	if n == 0 {
		if s.Errors != 0 || s.ErrorRate != 0 || l != (Latency{}) {
			t.Errorf("%s: empty entry with errors %d rate %v latency %+v", what, s.Errors, s.ErrorRate, l)
		}
		return
	}
	if want := float64(s.Errors) / float64(n); math.Abs(s.ErrorRate-want) > want*5e-4 {
		t.Errorf("%s: error rate %v for %d errors of %d", what, s.ErrorRate, s.Errors, n)
	}
	if l.P50 == nil || l.P90 == nil || l.P95 == nil || l.P99 == nil || l.Avg == nil || l.Max == nil {
		t.Fatalf("%s: %d counted but latency %+v", what, n, l)
	}
	if !(*l.P50 <= *l.P90 && *l.P90 <= *l.P95 && *l.P95 <= *l.P99 && *l.P99 <= *l.Max && *l.Avg <= *l.Max) {
		t.Errorf("%s: latency out of order: p50 %v p90 %v p95 %v p99 %v avg %v max %v", what, *l.P50, *l.P90, *l.P95, *l.P99, *l.Avg, *l.Max)
	}
}

// checkSum checks that the counts, tokens and cost of parts add up to
// total (cost within rounding).
func checkSum(t *testing.T, what string, parts []RequestStats, total RequestStats) {
	t.Helper()
	var sum RequestStats
	var maxLatency float64
	for _, p := range parts {
		sum.Requests += p.Requests
		sum.Errors += p.Errors
		sum.InputTokens += p.InputTokens
		sum.OutputTokens += p.OutputTokens
		sum.TotalTokens += p.TotalTokens
		sum.CachedTokens += p.CachedTokens
		sum.UnpricedCalls += p.UnpricedCalls
		sum.CostUSD += p.CostUSD
		if p.LatencyMS.Max != nil {
			maxLatency = max(maxLatency, *p.LatencyMS.Max)
		}
	}
	// Each figure is rounded to a millionth of a dollar.
	if d, tol := math.Abs(sum.CostUSD-total.CostUSD), 5e-7*float64(len(parts)+1)+1e-12; d > tol {
		t.Errorf("%s: cost adds up to %v, total %v", what, sum.CostUSD, total.CostUSD)
	}
	sum.CostUSD = total.CostUSD
	got := [...]int64{sum.Requests, sum.Errors, sum.InputTokens, sum.OutputTokens, sum.TotalTokens, sum.CachedTokens, sum.UnpricedCalls}
	want := [...]int64{total.Requests, total.Errors, total.InputTokens, total.OutputTokens, total.TotalTokens, total.CachedTokens, total.UnpricedCalls}
	if got != want {
		t.Errorf("%s: parts add up to %v, totals are %v (count, errors, input, output, total, cached, unpriced)", what, got, want)
	}
	if total.LatencyMS.Max != nil && *total.LatencyMS.Max != maxLatency {
		t.Errorf("%s: max latency of parts %v, of total %v", what, maxLatency, *total.LatencyMS.Max)
	}
}

// failingRollups fails every read with err.
type failingRollups struct{ err error }

func (f failingRollups) Rollups(context.Context, store.RollupQuery) ([]rollup.Row, error) {
	return nil, f.err
}

// waitingRollups blocks each read until its context ends.
type waitingRollups struct{}

func (waitingRollups) Rollups(ctx context.Context, _ store.RollupQuery) ([]rollup.Row, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestMetricsServerErrors checks the store-error half of the status table
// for the metrics routes.
func TestMetricsServerErrors(t *testing.T) {
	secret := errors.New("disk I/O error at /secret/path/flowwatch.db")
	cases := []struct {
		name       string
		opts       Options
		status     int
		msg        string
		retryAfter string
		logged     string
	}{
		{
			name:   "store failure",
			opts:   Options{Rollups: failingRollups{fmt.Errorf("select: %w", secret)}},
			status: 500, msg: "internal server error; the server log has the details",
			logged: "rollups: select: disk I/O error",
		},
		{
			name:   "store closed",
			opts:   Options{Rollups: failingRollups{fmt.Errorf("sqlite: %w", store.ErrClosed)}},
			status: 503, msg: "server not ready: the store is closed (shutting down)", retryAfter: "5",
		},
		{
			name:   "not ready",
			opts:   Options{Rollups: apitest.NewRollups(nil), Ready: func(context.Context) error { return errors.New("starting") }},
			status: 503, msg: "server not ready: starting", retryAfter: "5",
		},
		{
			name:   "no rollups",
			opts:   Options{Traces: apitest.NewReader(nil)},
			status: 503, msg: "server not ready: no metrics store configured", retryAfter: "5",
		},
		{
			name:   "query timeout",
			opts:   Options{Rollups: waitingRollups{}, QueryTimeout: time.Nanosecond},
			status: 503, msg: "the query took too long; narrow it (since, service, limit) and try again", retryAfter: "5",
		},
	}
	for _, tc := range cases {
		for _, path := range []string{"/api/v1/metrics/operational", "/api/v1/metrics/llm"} {
			t.Run(tc.name+path, func(t *testing.T) {
				var logs syncBuffer
				srv := newTestServer(t, tc.opts, slog.New(slog.NewTextHandler(&logs, nil)))
				res := do(t, http.MethodGet, srv.URL+path)
				if res.status != tc.status {
					t.Errorf("status %d, want %d", res.status, tc.status)
				}
				checkErrorBody(t, res.body, tc.msg)
				if got := res.header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
				}
				if tc.logged != "" && !strings.Contains(logs.String(), tc.logged) {
					t.Errorf("log does not contain %q:\n%s", tc.logged, logs.String())
				}
			})
		}
	}
	// A bad parameter is reported even when no store is configured.
	srv := newTestServer(t, Options{}, nil)
	res := do(t, http.MethodGet, srv.URL+"/api/v1/metrics/llm?step=0")
	if res.status != http.StatusBadRequest {
		t.Errorf("bad step without a store: status %d, want 400", res.status)
	}
}

func TestParseStep(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  string
	}{
		{"60", 60, ""},
		{"300", 300, ""},
		{"0060", 60, ""},
		{"1m", 60, ""},
		{"5m", 300, ""},
		{"90m", 5400, ""},
		{"1h30m", 5400, ""},
		{"1.5h", 5400, ""},
		{"0.1h", 360, ""},
		{"2h", 7200, ""},
		{"1d", 86400, ""},
		{"1w", 604800, ""},
		{"31d", 2678400, ""},
		{"+5m", 300, ""},
		{"60000ms", 60, ""},
		{"60000000us", 60, ""},
		{"60000000µs", 60, ""},
		{"60000000000ns", 60, ""},
		{"1h0m0s", 3600, ""},
		{"0", 0, "must be positive"},
		{"0m", 0, "must be positive"},
		{"-1h", 0, "must be positive"},
		{"-0", 0, "must be a duration"},
		{"30s", 0, "whole number of minutes"},
		{"61", 0, "whole number of minutes"},
		{"1m1ns", 0, "whole number of minutes"},
		{"31d1m", 0, "at most 31d"},
		{"2678460", 0, "at most 31d"},
		{"1000000000000", 0, "at most 31d"},
		{"", 0, "must be a duration"},
		{"1", 0, "whole number of minutes"},
		{"m5", 0, "must be a duration"},
		{"5M", 0, "must be a duration"},
		{"1..5h", 0, "must be a duration"},
		{"5m ", 0, "must be a duration"},
		{"0x3c", 0, "must be a duration"},
		{"PT5M", 0, "must be a duration"},
		{"1y", 0, "must be a duration"},
	}
	for _, tc := range cases {
		got, err := parseStep(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("parseStep(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseStep(%q) = %d, %v; want an error containing %q", tc.in, got, err, tc.err)
		}
	}
}

func TestFormatStep(t *testing.T) {
	for secs, want := range map[int64]string{
		60: "1m", 300: "5m", 5400: "90m", 3600: "1h", 7200: "2h", 86400: "1d", 604800: "1w", 1209600: "2w",
		2678400: "31d", 90: "90s", 1: "1s",
	} {
		if got := formatStep(secs); got != want {
			t.Errorf("formatStep(%d) = %q, want %q", secs, got, want)
		}
	}
}

// FuzzMetricsParams feeds arbitrary query strings to both metrics
// endpoints: the answer is always 200 with a series of whole steps or 400 with a
// message naming a parameter, never a panic or another status.
func FuzzMetricsParams(f *testing.F) {
	for _, seed := range []string{
		"", "step=5m", "step=0", "step=1s", "step=99999999999999999999", "step=-1h", "group_by=model",
		"group_by=x", "since=1h&until=2h", "since=3d&step=1d&group_by=status", "since=30d&step=1m",
		"service=rag-app&deployment=prod&model=o3-mini", "since=1000-01-01", "step=1.5h", "step=1e9h",
		"until=2025-06-01T10:30:00Z", "since=2030-01-01", "step=%ff",
	} {
		f.Add(seed)
	}
	mux := http.NewServeMux()
	New(Options{Rollups: apitest.NewRollups(apitest.RollupFixture()), Now: apitest.Now}, nil).RegisterHTTP(mux)
	f.Fuzz(func(t *testing.T, raw string) {
		for _, path := range []string{"/api/v1/metrics/operational", "/api/v1/metrics/llm"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = raw
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
				var m LLMMetrics
				if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.Series == nil || m.Groups == nil {
					t.Fatalf("200 with body %.200q (%v)", rec.Body, err)
				}
				times := make([]Timestamp, len(m.Series))
				for i, p := range m.Series {
					times[i] = p.Time
				}
				checkSteps(t, m.MetricsRange, times)
			case http.StatusBadRequest:
				var e ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("400 with body %q (%v)", rec.Body, err)
				}
				if !strings.Contains(e.Error, "query") && !strings.HasPrefix(e.Error, "invalid \"") {
					t.Fatalf("400 message %q names no parameter", e.Error)
				}
			default:
				t.Fatalf("query %q: status %d: %s", raw, rec.Code, rec.Body)
			}
		}
	})
}

// TestMetricsAnswerSize: a 24-hour range without a step gets 5-minute
// steps (288 of them) and, by default, only the steps in which something
// happened, so that a quiet day is a small answer; include_empty=true
// brings every step back.
func TestMetricsAnswerSize(t *testing.T) {
	srv, _ := fixtureServer(t)
	tests := []struct {
		name     string
		query    string
		entries  int // -1: fewer than with every step
		maxBytes int
		wantStep int64
	}{
		{name: "default omits empty steps", query: "since=24h", entries: -1, maxBytes: 16 << 10, wantStep: 300},
		{name: "include_empty", query: "since=24h&include_empty=true", entries: 288, wantStep: 300},
		{name: "a week", query: "since=7d", entries: -1, maxBytes: 16 << 10, wantStep: 3600},
		{name: "an hour", query: "since=1h&include_empty=1", entries: 60, wantStep: 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, http.MethodGet, srv.URL+"/api/v1/metrics/operational?"+tt.query)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			var m OperationalMetrics
			if err := json.Unmarshal(res.body, &m); err != nil {
				t.Fatal(err)
			}
			if m.StepSeconds != tt.wantStep {
				t.Errorf("step = %ds, want %ds", m.StepSeconds, tt.wantStep)
			}
			all := int(m.Until.Sub(m.Since.Time) / (time.Duration(m.StepSeconds) * time.Second))
			switch {
			case tt.entries >= 0 && len(m.Series) != tt.entries:
				t.Errorf("%d entries, want %d", len(m.Series), tt.entries)
			case tt.entries < 0 && (len(m.Series) == 0 || len(m.Series) >= all):
				t.Errorf("%d entries of %d steps, want some but fewer", len(m.Series), all)
			}
			if tt.maxBytes > 0 && len(res.body) > tt.maxBytes {
				t.Errorf("answer of %d bytes, want at most %d", len(res.body), tt.maxBytes)
			}
			t.Logf("%s: %d entries, %d bytes", tt.query, len(m.Series), len(res.body))
		})
	}
}
