package rollup_test

import (
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
)

// Small bucket sets keep the expected scrapes readable.
var (
	testRequestBuckets = []float64{0.5, 1, 5}
	testWriteBuckets   = []float64{0.01, 0.1}
)

// series maps a sample, written name{label="value",...} with labels
// sorted by name, to its value. Histograms appear as their _bucket
// (without +Inf), _count and _sum samples.
type series map[string]float64

func TestMetricsScrape(t *testing.T) {
	req := func(svc, dep string, st model.Status, d time.Duration) rollup.Observation {
		return rollup.Observation{Kind: rollup.Requests, Time: time.Unix(1_700_000_000, 0), Service: svc, Deployment: dep, Status: st, Duration: d}
	}
	llm := func(svc, dep, mdl string, st model.Status, u model.Usage) rollup.Observation {
		return rollup.Observation{Kind: rollup.LLMCalls, Time: time.Unix(1_700_000_000, 0), Service: svc, Deployment: dep, Model: mdl,
			Status: st, Duration: time.Second, Usage: u, Priced: u.CostKnown}
	}
	priced := func(in, out, cached int64, cost float64) model.Usage {
		return model.Usage{Known: true, InputTokens: in, OutputTokens: out, TotalTokens: in + out, CacheReadTokens: cached, CostUSD: cost, CostKnown: true}
	}
	ok, failed, unset := model.StatusOK, model.StatusError, model.StatusUnset

	tests := []struct {
		name   string
		opts   rollup.MetricsOptions
		health rollup.HealthOptions
		feed   func(m *rollup.Metrics)
		want   series
	}{
		{
			name: "nothing observed",
			feed: func(*rollup.Metrics) {},
			want: base(),
		},
		{
			name: "requests by service, deployment and status",
			feed: func(m *rollup.Metrics) {
				m.Observe([]rollup.Observation{
					req("chat", "prod", ok, 250*time.Millisecond),
					req("chat", "prod", failed, 750*time.Millisecond),
					req("chat", "prod", unset, 2*time.Second),
					req("search", "", ok, 8*time.Second),
				})
			},
			want: merge(base(),
				requests("chat", "prod", 2, 1, [3]float64{1, 2, 3}, 3),
				requests("search", "", 1, 0, [3]float64{0, 0, 0}, 8),
			),
		},
		{
			name: "model calls, tokens and cost",
			feed: func(m *rollup.Metrics) {
				m.Observe([]rollup.Observation{
					llm("chat", "prod", "gpt-4o", ok, priced(100, 20, 40, 0.5)),
					llm("chat", "prod", "gpt-4o", failed, priced(10, 0, 0, 0.25)),
					llm("chat", "prod", "my-model", ok, model.Usage{Known: true, InputTokens: 7, OutputTokens: 3}),
					llm("chat", "prod", "", unset, model.Usage{}),
				})
				m.Observe([]rollup.Observation{llm("chat", "prod", "gpt-4o", ok, priced(1, 1, 0, 0.125))})
			},
			want: merge(base(),
				calls("chat", "prod", "gpt-4o", 2, 1, 111, 21, 40, 0.875, 0),
				calls("chat", "prod", "my-model", 1, 0, 7, 3, 0, 0, 1),
				calls("chat", "prod", "", 1, 0, 0, 0, 0, 0, 0),
			),
		},
		{
			name: "observing the same slice again adds again",
			feed: func(m *rollup.Metrics) {
				obs := []rollup.Observation{
					req("chat", "prod", ok, 250*time.Millisecond),
					llm("chat", "prod", "gpt-4o", ok, priced(100, 20, 0, 0.5)),
				}
				m.Observe(obs)
				m.Observe(obs)
			},
			want: merge(base(),
				requests("chat", "prod", 2, 0, [3]float64{2, 2, 2}, 0.5),
				calls("chat", "prod", "gpt-4o", 2, 0, 200, 40, 0, 1, 0),
			),
		},
		{
			name: "store writes",
			feed: func(m *rollup.Metrics) {
				m.ObserveWrite(7812500*time.Nanosecond, 10) // 2^-7 s
				m.ObserveWrite(62500*time.Microsecond, 0)   // 2^-4 s
				m.ObserveWrite(time.Second, 3)
				m.ObserveWrite(-time.Second, -5) // counted as 0 s and no spans
			},
			want: merge(base(), series{
				`flowwatch_store_write_duration_seconds_bucket{le="0.01"}`: 2,
				`flowwatch_store_write_duration_seconds_bucket{le="0.1"}`:  3,
				`flowwatch_store_write_duration_seconds_count`:             4,
				`flowwatch_store_write_duration_seconds_sum`:               1.0703125,
				`flowwatch_store_written_spans_total`:                      13,
			}),
		},
		{
			name: "label sets past the cap fold into other",
			opts: rollup.MetricsOptions{MaxSeries: 2},
			feed: func(m *rollup.Metrics) {
				m.Observe([]rollup.Observation{
					req("a", "p", ok, 250*time.Millisecond),
					req("b", "p", ok, 250*time.Millisecond),
					req("c", "p", ok, 250*time.Millisecond), // folded
					req("d", "p", failed, time.Second),      // folded
					req("a", "p", ok, 250*time.Millisecond), // known: not folded
					llm("a", "p", "m1", ok, priced(1, 1, 0, 0.5)),
					llm("a", "p", "m2", ok, priced(1, 1, 0, 0.5)),
					llm("a", "p", "m3", ok, priced(2, 2, 0, 0.5)),   // folded
					llm("b", "p", "m1", failed, priced(3, 3, 0, 1)), // folded
				})
				// A folded label set stays folded.
				m.Observe([]rollup.Observation{req("c", "p", ok, 250*time.Millisecond)})
			},
			want: merge(base(),
				requests("a", "p", 2, 0, [3]float64{2, 2, 2}, 0.5),
				requests("b", "p", 1, 0, [3]float64{1, 1, 1}, 0.25),
				requests("other", "other", 2, 1, [3]float64{2, 3, 3}, 1.5),
				calls("a", "p", "m1", 1, 0, 1, 1, 0, 0.5, 0),
				calls("a", "p", "m2", 1, 0, 1, 1, 0, 0.5, 0),
				calls("other", "other", "other", 1, 1, 5, 5, 0, 1.5, 0),
				series{
					`flowwatch_metrics_series_folded_total{kind="request"}`: 3,
					`flowwatch_metrics_series_folded_total{kind="llm"}`:     2,
				},
			),
		},
		{
			name: "label values are made valid UTF-8 and cut to 256 bytes",
			feed: func(m *rollup.Metrics) {
				m.Observe([]rollup.Observation{req("bad\xff", strings.Repeat("é", 200), ok, time.Second)})
			},
			want: merge(base(), requests("bad\uFFFD", strings.Repeat("é", 128), 1, 0, [3]float64{0, 1, 1}, 1)),
		},
		{
			name: "ingest and queue health",
			health: rollup.HealthOptions{
				Ingest: func() rollup.IngestStats {
					return rollup.IngestStats{
						SpansAccepted: 100, SpansRejected: 3, SpansRefused: 20,
						LogRecordsAccepted: 7, LogRecordsRejected: 1, LogRecordsRefused: 0,
						RepairedStrings: 4, TruncatedValues: 9, BodyMemoryBytes: 65536,
						RefusedRequests: rollup.RefusedRequests{
							MethodNotAllowed: 1, UnsupportedMediaType: 2, TooLarge: 3, BadData: 4,
							Overloaded: 5, AtCapacity: 6, Unavailable: 7, Internal: 8, Timeout: 10,
						},
					}
				},
				InFlight: func() int64 { return 3 },
				Queue:    func() (int, int) { return 5, 64 },
			},
			feed: func(*rollup.Metrics) {},
			want: merge(base(), series{
				`flowwatch_ingest_spans_received_total`:                                    123,
				`flowwatch_ingest_spans_rejected_total{reason="invalid"}`:                  3,
				`flowwatch_ingest_spans_rejected_total{reason="refused"}`:                  20,
				`flowwatch_ingest_log_records_received_total`:                              8,
				`flowwatch_ingest_log_records_rejected_total{reason="invalid"}`:            1,
				`flowwatch_ingest_log_records_rejected_total{reason="refused"}`:            0,
				`flowwatch_ingest_requests_refused_total{reason="method_not_allowed"}`:     1,
				`flowwatch_ingest_requests_refused_total{reason="unsupported_media_type"}`: 2,
				`flowwatch_ingest_requests_refused_total{reason="too_large"}`:              3,
				`flowwatch_ingest_requests_refused_total{reason="bad_data"}`:               4,
				`flowwatch_ingest_requests_refused_total{reason="overloaded"}`:             5,
				`flowwatch_ingest_requests_refused_total{reason="at_capacity"}`:            6,
				`flowwatch_ingest_requests_refused_total{reason="unavailable"}`:            7,
				`flowwatch_ingest_requests_refused_total{reason="internal"}`:               8,
				`flowwatch_ingest_requests_refused_total{reason="timeout"}`:                10,
				`flowwatch_ingest_repaired_strings_total`:                                  4,
				`flowwatch_ingest_truncated_values_total`:                                  9,
				`flowwatch_ingest_body_memory_bytes`:                                       65536,
				`flowwatch_ingest_requests_in_flight`:                                      3,
				`flowwatch_store_queue_depth`:                                              5,
				`flowwatch_store_queue_capacity`:                                           64,
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.RequestBuckets, opts.WriteBuckets = testRequestBuckets, testWriteBuckets
			m, err := rollup.NewMetrics(opts, nil)
			if err != nil {
				t.Fatalf("NewMetrics: %v", err)
			}
			tt.feed(m)
			url := serve(t, m, rollup.NewHealth(tt.health))
			got := scrapeText(t, url)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scrape (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMetricsOpenMetrics checks content negotiation: the same samples in
// the Prometheus text format (the default) and in OpenMetrics.
func TestMetricsOpenMetrics(t *testing.T) {
	m, err := rollup.NewMetrics(rollup.MetricsOptions{RequestBuckets: testRequestBuckets, WriteBuckets: testWriteBuckets}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe([]rollup.Observation{
		{Kind: rollup.Requests, Service: "chat", Deployment: "prod", Status: model.StatusError, Duration: 750 * time.Millisecond},
		{Kind: rollup.LLMCalls, Service: "chat", Deployment: "prod", Model: "gpt-4o", Status: model.StatusOK,
			Usage: model.Usage{Known: true, InputTokens: 10, OutputTokens: 5, CostUSD: 0.25, CostKnown: true}, Priced: true},
	})
	m.ObserveWrite(time.Millisecond, 2)
	url := serve(t, m, rollup.NewHealth(rollup.HealthOptions{Queue: func() (int, int) { return 1, 64 }}))

	tests := []struct {
		name      string
		accept    string
		mediaType string
		version   string
	}{
		{name: "no accept header", accept: "", mediaType: "text/plain", version: "0.0.4"},
		{name: "text format", accept: "text/plain;version=0.0.4", mediaType: "text/plain", version: "0.0.4"},
		{name: "openmetrics 1.0.0", accept: "application/openmetrics-text;version=1.0.0", mediaType: "application/openmetrics-text", version: "1.0.0"},
		{name: "openmetrics preferred like Prometheus asks",
			accept:    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
			mediaType: "application/openmetrics-text", version: "1.0.0"},
	}
	want := scrapeText(t, url)
	if want[`flowwatch_requests_total{deployment="prod",service="chat",status="error"}`] != 1 {
		t.Fatalf("text scrape lacks the observed request: %v", want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, url, tt.accept)
			mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if err != nil {
				t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
			}
			if mt != tt.mediaType || params["version"] != tt.version {
				t.Fatalf("Content-Type = %q, want %s version %s", resp.Header.Get("Content-Type"), tt.mediaType, tt.version)
			}
			if mt == "application/openmetrics-text" && !strings.HasSuffix(body, "# EOF\n") {
				t.Errorf("OpenMetrics body does not end with # EOF:\n%s", body)
			}
			got := decode(t, expfmt.ResponseFormat(resp.Header), body)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("samples differ from the text format (-text +this):\n%s", diff)
			}
		})
	}
}

func TestNewMetricsRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts rollup.MetricsOptions
		want string
	}{
		{"negative cap", rollup.MetricsOptions{MaxSeries: -1}, "MaxSeries must not be negative"},
		{"empty buckets", rollup.MetricsOptions{RequestBuckets: []float64{}}, "RequestBuckets is empty"},
		{"unsorted buckets", rollup.MetricsOptions{RequestBuckets: []float64{1, 0.5}}, "RequestBuckets must be strictly increasing"},
		{"repeated bucket", rollup.MetricsOptions{WriteBuckets: []float64{0.1, 0.1}}, "WriteBuckets must be strictly increasing"},
		{"infinite bucket", rollup.MetricsOptions{WriteBuckets: []float64{0.1, posInf()}}, "WriteBuckets[1] must be a finite number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rollup.NewMetrics(tt.opts, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewMetrics error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMetricsDefaults(t *testing.T) {
	m, err := rollup.NewMetrics(rollup.MetricsOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe([]rollup.Observation{{Kind: rollup.Requests, Service: "chat", Duration: 90 * time.Second}})
	got := scrapeText(t, serve(t, m))
	var les []float64
	for k := range got {
		if strings.HasPrefix(k, "flowwatch_request_duration_seconds_bucket{") {
			i := strings.Index(k, `le="`)
			v, err := strconv.ParseFloat(k[i+4:strings.IndexByte(k[i+4:], '"')+i+4], 64)
			if err != nil {
				t.Fatal(err)
			}
			les = append(les, v)
		}
	}
	slices.Sort(les)
	if diff := cmp.Diff(rollup.DefaultRequestBuckets(), les); diff != "" {
		t.Errorf("request duration buckets (-want +got):\n%s", diff)
	}
	// A cap of DefaultMaxSeries: one more label set than that is folded.
	for i := range rollup.DefaultMaxSeries + 1 {
		m.Observe([]rollup.Observation{{Kind: rollup.LLMCalls, Service: "chat", Model: fmt.Sprintf("m%d", i)}})
	}
	got = scrapeText(t, serve(t, m))
	if n := got[`flowwatch_metrics_series_folded_total{kind="llm"}`]; n != 1 {
		t.Errorf("folded llm observations = %v, want 1", n)
	}
}

// TestMetricsConcurrent feeds and scrapes at once; run with -race. The
// final figures must be exact.
func TestMetricsConcurrent(t *testing.T) {
	m, err := rollup.NewMetrics(rollup.MetricsOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	const writers, rounds = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				m.Observe([]rollup.Observation{
					{Kind: rollup.Requests, Service: fmt.Sprintf("s%d", w), Status: model.StatusOK, Duration: time.Second},
					{Kind: rollup.LLMCalls, Service: "shared", Model: "gpt-4o", Usage: model.Usage{Known: true, InputTokens: 1}},
				})
				m.ObserveWrite(time.Millisecond, i%2)
			}
		})
	}
	wg.Go(func() {
		for range rounds {
			if _, err := reg.Gather(); err != nil {
				t.Errorf("Gather: %v", err)
				return
			}
		}
	})
	wg.Wait()
	got := scrapeText(t, serve(t, m))
	want := series{
		`flowwatch_llm_tokens_total{deployment="",model="gpt-4o",service="shared",type="input"}`: writers * rounds,
		`flowwatch_store_written_spans_total`:                                                    writers * rounds / 2,
		`flowwatch_store_write_duration_seconds_count`:                                           writers * rounds,
	}
	for w := range writers {
		want[fmt.Sprintf(`flowwatch_requests_total{deployment="",service="s%d",status="ok"}`, w)] = rounds
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestHealthWithoutSources(t *testing.T) {
	got := scrapeText(t, serve(t, rollup.NewHealth(rollup.HealthOptions{})))
	if len(got) != 0 {
		t.Errorf("a Health without sources exposed %v", got)
	}
}

// base is what an empty Metrics exposes with the test buckets.
func base() series {
	return series{
		`flowwatch_store_write_duration_seconds_bucket{le="0.01"}`: 0,
		`flowwatch_store_write_duration_seconds_bucket{le="0.1"}`:  0,
		`flowwatch_store_write_duration_seconds_count`:             0,
		`flowwatch_store_write_duration_seconds_sum`:               0,
		`flowwatch_store_written_spans_total`:                      0,
		`flowwatch_metrics_series_folded_total{kind="request"}`:    0,
		`flowwatch_metrics_series_folded_total{kind="llm"}`:        0,
		`flowwatch_metrics_series_evicted_total{kind="request"}`:   0,
		`flowwatch_metrics_series_evicted_total{kind="llm"}`:       0,
	}
}

// requests is what a (service, deployment) of requests exposes; le holds
// the cumulative bucket counts of testRequestBuckets.
func requests(svc, dep string, ok, errs float64, le [3]float64, sum float64) series {
	l := fmt.Sprintf(`deployment=%q,service=%q`, dep, svc)
	s := series{
		`flowwatch_requests_total{` + l + `,status="ok"}`:     ok,
		`flowwatch_requests_total{` + l + `,status="error"}`:  errs,
		`flowwatch_request_duration_seconds_count{` + l + `}`: ok + errs,
		`flowwatch_request_duration_seconds_sum{` + l + `}`:   sum,
	}
	for i, b := range testRequestBuckets {
		s[fmt.Sprintf(`flowwatch_request_duration_seconds_bucket{deployment=%q,le="%s",service=%q}`, dep, strconv.FormatFloat(b, 'g', -1, 64), svc)] = le[i]
	}
	return s
}

// calls is what a (service, deployment, model) of model calls exposes.
func calls(svc, dep, mdl string, ok, errs, in, out, cached, cost, unpriced float64) series {
	l := fmt.Sprintf(`deployment=%q,model=%q,service=%q`, dep, mdl, svc)
	return series{
		`flowwatch_llm_calls_total{` + l + `,status="ok"}`:    ok,
		`flowwatch_llm_calls_total{` + l + `,status="error"}`: errs,
		`flowwatch_llm_tokens_total{` + l + `,type="input"}`:  in,
		`flowwatch_llm_tokens_total{` + l + `,type="output"}`: out,
		`flowwatch_llm_tokens_total{` + l + `,type="cached"}`: cached,
		`flowwatch_llm_cost_usd_total{` + l + `}`:             cost,
		`flowwatch_llm_unpriced_calls_total{` + l + `}`:       unpriced,
	}
}

func merge(parts ...series) series {
	out := series{}
	for _, p := range parts {
		maps.Copy(out, p)
	}
	return out
}

// serve registers the collectors in a pedantic registry (which checks
// every metric against its description) and serves it as the app does.
func serve(t *testing.T, cs ...prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.HTTPErrorOnError,
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

func get(t *testing.T, url, accept string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return resp, string(body)
}

// scrapeText scrapes url in the Prometheus text format and parses it with
// the Prometheus text parser.
func scrapeText(t *testing.T, url string) series {
	t.Helper()
	resp, body := get(t, url, "text/plain;version=0.0.4")
	if f := expfmt.ResponseFormat(resp.Header); f.FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("Content-Type %q is not the text format", resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return flatten(t, slices.Collect(maps.Values(fams)))
}

// decode parses a scrape in the format its response names.
func decode(t *testing.T, f expfmt.Format, body string) series {
	t.Helper()
	dec := expfmt.NewDecoder(strings.NewReader(body), f)
	var fams []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("decode %s: %v\n%s", f, err, body)
		}
		fams = append(fams, mf)
	}
	return flatten(t, fams)
}

func flatten(t *testing.T, fams []*dto.MetricFamily) series {
	t.Helper()
	out := series{}
	set := func(name string, labels []string, v float64) {
		slices.Sort(labels)
		k := name
		if len(labels) > 0 {
			k += "{" + strings.Join(labels, ",") + "}"
		}
		if _, dup := out[k]; dup {
			t.Errorf("sample %s appears twice", k)
		}
		out[k] = v
	}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "flowwatch_") {
			t.Errorf("family %s is not in the flowwatch_ namespace", f.GetName())
		}
		if f.GetHelp() == "" {
			t.Errorf("family %s has no help", f.GetName())
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				set(f.GetName(), labels, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				set(f.GetName(), labels, m.GetGauge().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					if b.GetUpperBound() == posInf() {
						if b.GetCumulativeCount() != h.GetSampleCount() {
							t.Errorf("%s: +Inf bucket %d != count %d", f.GetName(), b.GetCumulativeCount(), h.GetSampleCount())
						}
						continue
					}
					le := fmt.Sprintf("le=%q", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
					set(f.GetName()+"_bucket", append(slices.Clone(labels), le), float64(b.GetCumulativeCount()))
				}
				set(f.GetName()+"_count", slices.Clone(labels), float64(h.GetSampleCount()))
				set(f.GetName()+"_sum", slices.Clone(labels), h.GetSampleSum())
			default:
				t.Errorf("family %s has unexpected type %s", f.GetName(), f.GetType())
			}
		}
	}
	return out
}

func posInf() float64 { return math.Inf(1) }

// TestMetricsEvictIdle: at the cap, a new label set takes the place of
// the least recently active one if it has been idle for IdleAfter, so a
// service first seen after the cap was reached gets a series of its own;
// while every label set is active, new ones fold into "other".
func TestMetricsEvictIdle(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	m, err := rollup.NewMetrics(rollup.MetricsOptions{MaxSeries: 2, IdleAfter: 15 * time.Minute, Now: func() time.Time { return now },
		RequestBuckets: testRequestBuckets, WriteBuckets: testWriteBuckets}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := func(svc string) rollup.Observation {
		return rollup.Observation{Kind: rollup.Requests, Time: now, Service: svc, Deployment: "p", Status: model.StatusOK, Duration: 250 * time.Millisecond}
	}
	llm := func(svc string) rollup.Observation {
		return rollup.Observation{Kind: rollup.LLMCalls, Time: now, Service: svc, Deployment: "p", Model: "m", Status: model.StatusOK,
			Duration: time.Second, Usage: model.Usage{Known: true, InputTokens: 1, OutputTokens: 1, TotalTokens: 2}}
	}
	steps := []struct {
		after    time.Duration
		services []string
	}{
		{0, []string{"idle", "busy"}},
		{10 * time.Minute, []string{"busy"}},
		{14 * time.Minute, []string{"early"}}, // idle is 14 minutes idle: folded
		{20 * time.Minute, []string{"busy", "new"}},
		{21 * time.Minute, []string{"late"}}, // busy and new are active: folded
	}
	for _, st := range steps {
		now = t0.Add(st.after)
		var obs []rollup.Observation
		for _, s := range st.services {
			obs = append(obs, req(s), llm(s))
		}
		m.Observe(obs)
	}
	got := scrapeText(t, serve(t, m))
	want := merge(base(),
		requests("busy", "p", 3, 0, [3]float64{3, 3, 3}, 0.75),
		requests("new", "p", 1, 0, [3]float64{1, 1, 1}, 0.25),
		requests("other", "other", 2, 0, [3]float64{2, 2, 2}, 0.5),
		calls("busy", "p", "m", 3, 0, 3, 3, 0, 0, 3),
		calls("new", "p", "m", 1, 0, 1, 1, 0, 0, 1),
		calls("other", "other", "other", 2, 0, 2, 2, 0, 0, 2),
		series{
			`flowwatch_metrics_series_folded_total{kind="request"}`:  2,
			`flowwatch_metrics_series_folded_total{kind="llm"}`:      2,
			`flowwatch_metrics_series_evicted_total{kind="request"}`: 1,
			`flowwatch_metrics_series_evicted_total{kind="llm"}`:     1,
		},
	)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scrape (-want +got):\n%s", diff)
	}
}

// TestHealthScreened: the spans screened on ingest are exported by
// reason.
func TestHealthScreened(t *testing.T) {
	h := rollup.NewHealth(rollup.HealthOptions{Screened: func() map[string]int64 {
		return map[string]int64{"duplicate_span_id": 2, "start_time_missing": 1, "name_too_long": 0}
	}})
	got := scrapeText(t, serve(t, h))
	want := series{
		`flowwatch_ingest_spans_screened_total{reason="duplicate_span_id"}`:  2,
		`flowwatch_ingest_spans_screened_total{reason="name_too_long"}`:      0,
		`flowwatch_ingest_spans_screened_total{reason="start_time_missing"}`: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scrape (-want +got):\n%s", diff)
	}
}
