package app_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/otlptest"
	"github.com/flowwatch/flowwatch/internal/rollup"
)

func startAppWith(t *testing.T, dataDir string, mod func(*config.Config)) *app.App {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.GRPC.Address = "127.0.0.1:0"
	mod(&cfg)
	a, err := app.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	return a
}

// wire types of the metrics API, as far as this test reads them.
type latencyWire struct {
	P50, P90, P95, P99, Avg, Max *float64
}

type statsWire struct {
	Requests      int64       `json:"requests"`
	Calls         int64       `json:"calls"`
	Errors        int64       `json:"errors"`
	ErrorRate     float64     `json:"error_rate"`
	Latency       latencyWire `json:"latency_ms"`
	InputTokens   int64       `json:"input_tokens"`
	OutputTokens  int64       `json:"output_tokens"`
	TotalTokens   int64       `json:"total_tokens"`
	CostUSD       float64     `json:"cost_usd"`
	UnpricedCalls int64       `json:"unpriced_calls"`
}

type metricsWire struct {
	StepSeconds int64       `json:"step_seconds"`
	Series      []statsWire `json:"series"`
	Totals      statsWire   `json:"totals"`
	Groups      []struct {
		Group  string      `json:"group"`
		Totals statsWire   `json:"totals"`
		Series []statsWire `json:"series"`
	} `json:"groups"`
	Unpriced []string `json:"unpriced_models"`
}

// TestOperationalMetrics sends requests with known latencies, failures and
// tokens through the real OTLP endpoints and checks the exact counts, error
// rates, token sums and costs (percentiles within the sketch's 1%) the
// metrics API and /metrics report; then that sending everything again and
// restarting change nothing.
func TestOperationalMetrics(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	withPrices := func(c *config.Config) {
		// Overrides the built-in gpt-4o price; "mystery-model" has none.
		c.Pricing = []config.Price{{Model: "gpt-4o", InputPerMTok: 2, OutputPerMTok: 8}}
	}
	a := startAppWith(t, dir, withPrices)

	// Ten requests in one hour, two hours ago: durations 100..1000 ms,
	// requests 3 and 7 fail, 1-6 call gpt-4o and 7-10 an unpriced model.
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	var batches []tracetest.SpanStubs
	var rootMs, llmMs []float64
	for i := 1; i <= 10; i++ {
		m := "gpt-4o"
		if i > 6 {
			m = "mystery-model"
		}
		r := otlptest.RAG{Service: "shop", Deployment: "blue", Question: fmt.Sprintf("question %d", i),
			Answer: "answer", Model: m, InputTokens: int64(1000 * i), OutputTokens: int64(100 * i),
			Start: base.Add(time.Duration(i) * time.Minute), Duration: time.Duration(i) * 100 * time.Millisecond,
			Failed: i == 3 || i == 7}
		batches = append(batches, r.Spans())
		rootMs = append(rootMs, float64(i)*100)
		llmMs = append(llmMs, float64(i)*100*0.65) // the LLM span runs from 1/4 to 9/10 of the request
	}
	send := func(a *app.App) {
		for i, b := range batches {
			var err error
			if i%2 == 0 {
				err = otlptest.ExportHTTP(ctx, a.HTTPAddr(), b, true)
			} else {
				err = otlptest.ExportGRPC(ctx, a.GRPCAddr(), b)
			}
			if err != nil {
				t.Fatalf("export %d: %v", i, err)
			}
		}
	}
	send(a)

	// gpt-4o: 21,000 input tokens at $2/M and 2,100 output at $8/M.
	const wantCost = 21000*2.0/1e6 + 2100*8.0/1e6
	q := url.Values{"since": {base.Format(time.RFC3339)}, "until": {base.Add(time.Hour).Format(time.RFC3339)}}
	check := func(t *testing.T, a *app.App) {
		t.Helper()
		var op metricsWire
		if code := get(t, a, "/api/v1/metrics/operational?"+q.Encode()+"&step=1h", &op); code != http.StatusOK {
			t.Fatalf("operational: status %d", code)
		}
		if op.StepSeconds != 3600 || len(op.Series) != 1 {
			t.Fatalf("operational: step %d, %d buckets; want 3600 and 1", op.StepSeconds, len(op.Series))
		}
		tot := op.Totals
		if tot.Requests != 10 || tot.Errors != 2 || tot.ErrorRate != 0.2 {
			t.Errorf("requests %d, errors %d, error rate %v; want 10, 2, 0.2", tot.Requests, tot.Errors, tot.ErrorRate)
		}
		if tot.InputTokens != 55000 || tot.OutputTokens != 5500 || tot.TotalTokens != 60500 {
			t.Errorf("tokens in %d out %d total %d; want 55000, 5500, 60500", tot.InputTokens, tot.OutputTokens, tot.TotalTokens)
		}
		if math.Abs(tot.CostUSD-wantCost) > 1e-9 || tot.UnpricedCalls != 4 {
			t.Errorf("cost %v with %d unpriced calls; want %v and 4", tot.CostUSD, tot.UnpricedCalls, wantCost)
		}
		if !slices.Equal(op.Unpriced, []string{"mystery-model"}) {
			t.Errorf("unpriced models %v, want [mystery-model]", op.Unpriced)
		}
		checkLatency(t, "requests", tot.Latency, rootMs)
		if b := op.Series[0]; b.Requests != tot.Requests || b.InputTokens != tot.InputTokens || *b.Latency.P99 != *tot.Latency.P99 {
			t.Errorf("the one bucket %+v differs from the totals %+v", b, tot)
		}

		var byModel metricsWire
		get(t, a, "/api/v1/metrics/operational?"+q.Encode()+"&group_by=model", &byModel)
		got := map[string]int64{}
		for _, g := range byModel.Groups {
			got[g.Group] = g.Totals.Requests
		}
		if got["gpt-4o"] != 6 || got["mystery-model"] != 4 || len(got) != 2 {
			t.Errorf("requests by model %v, want gpt-4o 6, mystery-model 4", got)
		}
		if byModel.StepSeconds != 60 {
			t.Errorf("automatic step over an hour: %ds, want 60", byModel.StepSeconds)
		}

		var llm metricsWire
		get(t, a, "/api/v1/metrics/llm?"+q.Encode()+"&step=1h&group_by=model", &llm)
		if llm.Totals.Calls != 10 || llm.Totals.Errors != 0 || llm.Totals.InputTokens != 55000 {
			t.Errorf("LLM calls %d, errors %d, input tokens %d; want 10, 0, 55000", llm.Totals.Calls, llm.Totals.Errors, llm.Totals.InputTokens)
		}
		checkLatency(t, "LLM calls", llm.Totals.Latency, llmMs)
		for _, g := range llm.Groups {
			if g.Group == "gpt-4o" && (g.Totals.Calls != 6 || math.Abs(g.Totals.CostUSD-wantCost) > 1e-9) {
				t.Errorf("gpt-4o calls %d cost %v, want 6 and %v", g.Totals.Calls, g.Totals.CostUSD, wantCost)
			}
		}

		// A trace's own cost is its LLM call's.
		var page struct {
			Traces []struct {
				Model   string  `json:"model"`
				CostUSD float64 `json:"cost_usd"`
			} `json:"traces"`
		}
		get(t, a, "/api/v1/traces?"+q.Encode()+"&model=gpt-4o&limit=100", &page)
		var sum float64
		for _, tr := range page.Traces {
			sum += tr.CostUSD
		}
		if len(page.Traces) != 6 || math.Abs(sum-wantCost) > 1e-9 {
			t.Errorf("%d gpt-4o traces costing %v in all, want 6 costing %v", len(page.Traces), sum, wantCost)
		}
	}
	t.Run("first time", func(t *testing.T) { check(t, a) })

	families := scrape(t, a)
	checkSample(t, families, "flowwatch_requests_total", map[string]string{"service": "shop", "deployment": "blue", "status": "error"}, 2)
	checkSample(t, families, "flowwatch_requests_total", map[string]string{"service": "shop", "deployment": "blue", "status": "ok"}, 8)
	checkSample(t, families, "flowwatch_llm_calls_total", map[string]string{"service": "shop", "deployment": "blue", "model": "mystery-model", "status": "ok"}, 4)
	checkSample(t, families, "flowwatch_llm_tokens_total", map[string]string{"service": "shop", "deployment": "blue", "model": "gpt-4o", "type": "input"}, 21000)
	checkSample(t, families, "flowwatch_llm_tokens_total", map[string]string{"service": "shop", "deployment": "blue", "model": "mystery-model", "type": "output"}, 3400)
	checkSample(t, families, "flowwatch_llm_cost_usd_total", map[string]string{"service": "shop", "deployment": "blue", "model": "gpt-4o"}, wantCost)
	checkSample(t, families, "flowwatch_llm_unpriced_calls_total", map[string]string{"service": "shop", "deployment": "blue", "model": "mystery-model"}, 4)
	checkSample(t, families, "flowwatch_store_written_spans_total", nil, 30)
	checkSample(t, families, "flowwatch_ingest_spans_received_total", nil, 30)
	checkHistogramCount(t, families, "flowwatch_request_duration_seconds", map[string]string{"service": "shop", "deployment": "blue"}, 10)

	// Everything again: duplicates change no number, in the API or /metrics.
	send(a)
	t.Run("after re-sending", func(t *testing.T) { check(t, a) })
	families = scrape(t, a)
	checkSample(t, families, "flowwatch_requests_total", map[string]string{"service": "shop", "deployment": "blue", "status": "ok"}, 8)
	checkSample(t, families, "flowwatch_store_written_spans_total", nil, 30)
	checkSample(t, families, "flowwatch_ingest_spans_received_total", nil, 60)

	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("after a restart", func(t *testing.T) { check(t, startAppWith(t, dir, withPrices)) })
}

// checkLatency compares reported latencies with the exact ones: average
// and maximum exactly, percentiles within the sketch's relative accuracy
// of the exact value at the rank below or above.
func checkLatency(t *testing.T, what string, got latencyWire, exact []float64) {
	t.Helper()
	sort.Float64s(exact)
	var sum float64
	for _, v := range exact {
		sum += v
	}
	if got.Avg == nil || math.Abs(*got.Avg-sum/float64(len(exact))) > 1e-3 {
		t.Errorf("%s: avg %v, want %v", what, deref(got.Avg), sum/float64(len(exact)))
	}
	if got.Max == nil || math.Abs(*got.Max-exact[len(exact)-1]) > 1e-3 {
		t.Errorf("%s: max %v, want %v", what, deref(got.Max), exact[len(exact)-1])
	}
	for _, p := range []struct {
		q   float64
		got *float64
	}{{0.5, got.P50}, {0.9, got.P90}, {0.95, got.P95}, {0.99, got.P99}} {
		rank := p.q * float64(len(exact)-1)
		lo, hi := exact[int(math.Floor(rank))], exact[int(math.Ceil(rank))]
		acc := rollup.RelativeAccuracy
		if p.got == nil || *p.got < lo*(1-acc)-1e-6 || *p.got > hi*(1+acc)+1e-6 {
			t.Errorf("%s: p%v = %v, want within 1%% of [%v, %v]", what, p.q*100, deref(p.got), lo, hi)
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// scrape reads /metrics in the Prometheus text format and parses it with
// Prometheus' own parser.
func scrape(t *testing.T, a *app.App) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// find returns the metric of a family with exactly these labels.
func find(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) == len(labels) && func() bool {
			for k, v := range labels {
				if got[k] != v {
					return false
				}
			}
			return true
		}() {
			return m
		}
	}
	t.Fatalf("/metrics has no %s%v", name, labels)
	return nil
}

func checkSample(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	m := find(t, families, name, labels)
	var got float64
	switch {
	case m.GetCounter() != nil:
		got = m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		got = m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		got = m.GetUntyped().GetValue()
	}
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func checkHistogramCount(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string, want uint64) {
	t.Helper()
	h := find(t, families, name, labels).GetHistogram()
	if h.GetSampleCount() != want {
		t.Errorf("%s%v count = %d, want %d", name, labels, h.GetSampleCount(), want)
	}
}
