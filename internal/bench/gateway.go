package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// The gateway benchmark measures what the recording gateway adds to a
// call: the same requests at the same fixed rate, first straight to an
// upstream that answers at once, then through a `serve` subprocess's
// gateway to it. An upstream that answers at once leaves nothing but the
// gateway's own cost in the difference; a real model takes hundreds of
// milliseconds, against which the difference vanishes.

// GatewayOptions configures the gateway benchmark.
type GatewayOptions struct {
	// Binary is the flowwatch executable `serve` is run from (empty: this
	// one).
	Binary string
	// Rate is the requests started per second, whatever the latency (open
	// loop); Duration how long each of the four phases measures, after
	// Warmup of the same load.
	Rate             int
	Duration, Warmup time.Duration
	// Workers bounds the requests in flight: a request whose time comes
	// with every worker busy waits for one (and is counted as late).
	Workers int
	// CPUProfile, when set, is where the server's CPU profile of the
	// measured non-streaming gateway phase is written (the server is
	// started with http.pprof).
	CPUProfile string
	// Progress receives a line per phase (may be nil).
	Progress io.Writer
}

// GatewayPhase is one phase's figures. For streams the latency is the
// time to the first byte of the body (the first event); for the others the
// time to the end of the body.
type GatewayPhase struct {
	Name               string
	Sent, Failed, Late int64
	P50, P90, P99, Max time.Duration
	// ServerCPU is the CPU time the server process used during the phase
	// (0 when unknown, and for the direct phases, which it takes no part
	// in).
	ServerCPU time.Duration
	// FirstError describes the first failed request.
	FirstError string
}

// GatewayResult is what the gateway benchmark measured.
type GatewayResult struct {
	Rate             int
	Duration, Warmup time.Duration
	Workers          int
	// Direct and Gateway are the non-streaming phases, StreamDirect and
	// StreamGateway the streaming ones.
	Direct, Gateway, StreamDirect, StreamGateway GatewayPhase
	// Proxied is the requests sent through the gateway, warm-ups included:
	// each should be one stored recording.
	Proxied int64
	// Stored, Dropped and Failed are the gateway's
	// flowwatch_gateway_recordings_total once the recorder was idle.
	Stored, Dropped, RecordFailed int64
	// Idle says the recorder caught up (queue empty, every exchange
	// counted) within the wait; when false the counts are those at the end
	// of the wait.
	Idle     bool
	IdleWait time.Duration
	// Traces is the requests the store holds for the gateway's service
	// (its operational rollups: one a root span), LLMCalls its model calls.
	Traces, LLMCalls int64
	// PeakRSSBytes is the server's resident set high-water mark (0:
	// unknown).
	PeakRSSBytes int64
	// CompletionBytes and StreamBytes are the sizes of the upstream's two
	// answers, RequestBytes of the chat request.
	CompletionBytes, StreamBytes, RequestBytes int
}

// Gateway targets, the issue's.
const (
	gatewayTargetP50    = time.Millisecond
	gatewayTargetP99    = 5 * time.Millisecond
	gatewayTargetStream = time.Millisecond
)

// GatewayTarget is one target and whether the run met it.
type GatewayTarget struct {
	Name, Measured string
	Holds          bool
}

// Targets checks the run against the targets.
func (r GatewayResult) Targets() []GatewayTarget {
	added := func(d time.Duration) string { return fmt.Sprintf("%+.2f ms", ms(d)) }
	failed := r.Direct.Failed + r.Gateway.Failed + r.StreamDirect.Failed + r.StreamGateway.Failed
	return []GatewayTarget{
		{fmt.Sprintf("gateway adds < %.0f ms at p50", ms(gatewayTargetP50)), added(r.Gateway.P50 - r.Direct.P50), r.Gateway.P50-r.Direct.P50 < gatewayTargetP50},
		{fmt.Sprintf("gateway adds < %.0f ms at p99", ms(gatewayTargetP99)), added(r.Gateway.P99 - r.Direct.P99), r.Gateway.P99-r.Direct.P99 < gatewayTargetP99},
		{fmt.Sprintf("stream TTFB adds < %.0f ms (p50)", ms(gatewayTargetStream)), added(r.StreamGateway.P50 - r.StreamDirect.P50), r.StreamGateway.P50-r.StreamDirect.P50 < gatewayTargetStream},
		{"zero failed requests", strconv.FormatInt(failed, 10), failed == 0},
		{"every recording stored", fmt.Sprintf("%d of %d (store: %d traces)", r.Stored, r.Proxied, r.Traces),
			r.Idle && r.Stored == r.Proxied && r.Traces == r.Proxied && r.Dropped == 0 && r.RecordFailed == 0},
	}
}

// String formats the result as the README shows it.
func (r GatewayResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "load: %d requests/s open loop (up to %d in flight), %s per phase after %s warm-up\n",
		r.Rate, r.Workers, r.Duration, r.Warmup)
	fmt.Fprintf(&b, "upstream: in this process, answers at once (chat completion %d bytes; stream of %d bytes with a usage chunk); request %d bytes\n",
		r.CompletionBytes, r.StreamBytes, r.RequestBytes)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tsent\tfailed\tlate\tp50 ms\tp90 ms\tp99 ms\tmax ms\tserver CPU\t")
	row := func(p GatewayPhase) {
		cpu := ""
		if p.ServerCPU > 0 && p.Sent > 0 {
			cpu = fmt.Sprintf("%.0f µs/req", float64(p.ServerCPU.Microseconds())/float64(p.Sent))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n", p.Name, p.Sent, p.Failed, p.Late,
			ms(p.P50), ms(p.P90), ms(p.P99), ms(p.Max), cpu)
	}
	diff := func(d, g GatewayPhase) {
		fmt.Fprintf(tw, "  gateway adds\t\t\t\t%+.2f\t%+.2f\t%+.2f\t\t\t\n", ms(g.P50-d.P50), ms(g.P90-d.P90), ms(g.P99-d.P99))
	}
	row(r.Direct)
	row(r.Gateway)
	diff(r.Direct, r.Gateway)
	row(r.StreamDirect)
	row(r.StreamGateway)
	diff(r.StreamDirect, r.StreamGateway)
	_ = tw.Flush()
	fmt.Fprintln(&b, "(chat: time to the end of the answer; stream: time to its first byte; late: started over 1 ms after its time)")
	rss := "unknown"
	if r.PeakRSSBytes > 0 {
		rss = fmt.Sprintf("%.0f MB", float64(r.PeakRSSBytes)/1e6)
	}
	idle := fmt.Sprintf("recorder idle %s after the load", r.IdleWait.Round(10*time.Millisecond))
	if !r.Idle {
		idle = fmt.Sprintf("recorder NOT idle %s after the load", r.IdleWait.Round(time.Second))
	}
	fmt.Fprintf(&b, "recordings: %d requests through the gateway (warm-ups included): %d stored, %d dropped, %d failed; the store holds %d traces, %d model calls (%s); server peak RSS %s\n",
		r.Proxied, r.Stored, r.Dropped, r.RecordFailed, r.Traces, r.LLMCalls, idle, rss)
	for _, p := range []GatewayPhase{r.Direct, r.Gateway, r.StreamDirect, r.StreamGateway} {
		if p.FirstError != "" {
			fmt.Fprintf(&b, "first failure, %s: %s\n", p.Name, p.FirstError)
		}
	}
	fmt.Fprintln(&b, "targets:")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets() {
		verdict := "holds"
		if !t.Holds {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Name, t.Measured, verdict)
	}
	_ = tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

// benchGateway is the gateway's name in the server the benchmark starts,
// benchService the service it records.
const (
	benchGateway = "bench"
	benchService = "bench-gateway"
)

// Gateway runs the benchmark.
func Gateway(ctx context.Context, o GatewayOptions) (GatewayResult, error) {
	res := GatewayResult{Rate: o.Rate, Duration: o.Duration, Warmup: o.Warmup, Workers: o.Workers}
	if o.Rate < 1 || o.Duration <= 0 || o.Warmup < 0 || o.Workers < 1 {
		return res, errors.New("bench: rate, duration and workers must be positive")
	}
	up := newFakeOpenAI()
	res.CompletionBytes, res.StreamBytes, res.RequestBytes = len(up.completion), up.streamBytes(), len(up.chatRequest)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("bench: upstream: %w", err)
	}
	upSrv := &http.Server{Handler: up, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = upSrv.Serve(ln) }()
	defer upSrv.Close()
	upstream := "http://" + ln.Addr().String()

	tmp, err := os.MkdirTemp("", "flowwatch-bench-gateway-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	cfg := fmt.Sprintf("gateways:\n  - name: %s\n    kind: openai\n    upstream: %s/v1\n    service: %s\n    provider: openai\n",
		benchGateway, upstream, benchService)
	if o.CPUProfile != "" {
		cfg = "http:\n  pprof: true\n" + cfg
	}
	cfgPath := filepath.Join(tmp, "flowwatch.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return res, err
	}
	// The environment decides the store and the configuration: clear what
	// this shell may hold.
	env := []string{"FLOWWATCH_CONFIG=" + cfgPath, "FLOWWATCH_POSTGRES_DSN=", "FLOWWATCH_POSTGRES_READ_DSN=", "FLOWWATCH_AUTH=auto"}
	srv, err := startServe(ctx, o.Binary, filepath.Join(tmp, "data"), env)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid

	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        2 * o.Workers,
			MaxIdleConnsPerHost: o.Workers,
			IdleConnTimeout:     90 * time.Second,
			// What the upstream sends is what the client reads: no
			// transparent gzip on either path.
			DisableCompression: true,
		},
	}
	defer client.CloseIdleConnections()
	direct := upstream + "/v1/chat/completions"
	viaGateway := srv.url + "/gateway/" + benchGateway + "/chat/completions"
	began := time.Now()

	phases := []struct {
		name   string
		url    string
		stream bool
		out    *GatewayPhase
		proxy  bool
	}{
		{"chat, direct", direct, false, &res.Direct, false},
		{"chat, via gateway", viaGateway, false, &res.Gateway, true},
		{"stream TTFB, direct", direct, true, &res.StreamDirect, false},
		{"stream TTFB, via gateway", viaGateway, true, &res.StreamGateway, true},
	}
	for _, ph := range phases {
		call := up.chatCall
		if ph.stream {
			call = up.streamCall
		}
		do := func(ctx context.Context) (time.Duration, error) { return call(ctx, client, ph.url) }
		logf(o.Progress, "%s: ", ph.name)
		if o.Warmup > 0 {
			w := openLoop(ctx, o.Rate, o.Warmup, o.Workers, do)
			if ph.proxy {
				res.Proxied += w.sent
			}
			if w.failed > 0 {
				return res, fmt.Errorf("bench: %s: %d of %d warm-up requests failed, first: %s", ph.name, w.failed, w.sent, w.firstErr)
			}
		}
		var profile chan error
		if o.CPUProfile != "" && ph.proxy && !ph.stream {
			profile = make(chan error, 1)
			go func() { profile <- fetchProfile(ctx, srv.url, o.Duration, o.CPUProfile) }()
		}
		cpu0 := processCPU(pid)
		m := openLoop(ctx, o.Rate, o.Duration, o.Workers, do)
		if err := ctx.Err(); err != nil {
			return res, err
		}
		*ph.out = m.phase(ph.name)
		if ph.proxy {
			res.Proxied += m.sent
			if cpu0 > 0 {
				ph.out.ServerCPU = processCPU(pid) - cpu0
			}
		}
		if profile != nil {
			if err := <-profile; err != nil {
				logf(o.Progress, "(cpu profile: %v) ", err)
			}
		}
		logf(o.Progress, "%d sent, %d failed, %d late, p50 %.2f ms, p99 %.2f ms\n", m.sent, m.failed, m.late, ms(ph.out.P50), ms(ph.out.P99))
	}

	// Every exchange the gateway saw is stored, dropped or failed once the
	// recorder has caught up; then the store is asked what it holds.
	mc := &http.Client{Timeout: 10 * time.Second}
	t0 := time.Now()
	for {
		st, err := recorderState(ctx, mc, srv.url)
		if err != nil {
			return res, err
		}
		res.Stored, res.Dropped, res.RecordFailed = st.stored, st.dropped, st.failed
		res.IdleWait = time.Since(t0)
		if st.queueBytes == 0 && st.stored+st.dropped+st.failed >= res.Proxied {
			res.Idle = true
			break
		}
		if res.IdleWait > time.Minute {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	since, until := began.Add(-time.Minute), time.Now().Add(time.Minute)
	if res.Traces, err = storedCount(ctx, mc, srv.url, "operational", since, until); err != nil {
		return res, err
	}
	if res.LLMCalls, err = storedCount(ctx, mc, srv.url, "llm", since, until); err != nil {
		return res, err
	}
	res.PeakRSSBytes = peakRSS(pid)
	return res, nil
}

// loadRun is what one open-loop run measured.
type loadRun struct {
	sent, failed, late int64
	lat                []time.Duration
	firstErr           string
}

func (m loadRun) phase(name string) GatewayPhase {
	p := GatewayPhase{Name: name, Sent: m.sent, Failed: m.failed, Late: m.late, FirstError: m.firstErr}
	if n := len(m.lat); n > 0 {
		slices.Sort(m.lat)
		p.P50, p.P90, p.P99, p.Max = m.lat[n/2], m.lat[n*90/100], m.lat[min(n-1, n*99/100)], m.lat[n-1]
	}
	return p
}

// lateAfter is how long after its time a request may start and still
// count as on time.
const lateAfter = time.Millisecond

// openLoop starts do rate times a second for d, on schedule whatever the
// latency: a request is not held back because an earlier one is slow, as
// in a closed loop, which would hide the very delays being measured. The
// schedule hands each request to one of workers goroutines; a request
// that starts more than lateAfter after its time (every worker busy, or
// this process not given a core in time) counts as late. do returns the
// latency to record, or an error for a failed request.
func openLoop(ctx context.Context, rate int, d time.Duration, workers int, do func(context.Context) (time.Duration, error)) loadRun {
	var (
		res      loadRun
		sent     atomic.Int64
		failed   atomic.Int64
		late     atomic.Int64
		firstErr atomic.Pointer[string]
		mu       sync.Mutex
		wg       sync.WaitGroup
		ready    sync.WaitGroup
		jobs     = make(chan time.Time)
		interval = time.Second / time.Duration(rate)
	)
	for range workers {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			ready.Done()
			for at := range jobs {
				if time.Since(at) > lateAfter {
					late.Add(1)
				}
				sent.Add(1)
				l, err := do(ctx)
				if err != nil {
					failed.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					continue
				}
				lat = append(lat, l)
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}()
	}
	ready.Wait()
	// Each request's time is computed from the start rather than by a
	// ticker, so that a late wake-up is caught up on at once and the rate
	// holds over the run.
	start := time.Now()
schedule:
	for i := range int(d / interval) {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			select {
			case <-ctx.Done():
				break schedule
			case <-time.After(wait):
			}
		}
		select {
		case jobs <- at:
		case <-ctx.Done():
			break schedule
		}
	}
	close(jobs)
	wg.Wait()
	res.sent, res.failed, res.late = sent.Load(), failed.Load(), late.Load()
	if p := firstErr.Load(); p != nil {
		res.firstErr = *p
	}
	return res
}

// fakeOpenAI is an OpenAI-compatible upstream that answers at once: a
// chat completion of a realistic size, or, when the request asks for a
// stream, a short event stream ending with a usage chunk.
type fakeOpenAI struct {
	chatRequest, streamRequest []byte
	completion                 []byte
	events                     [][]byte
}

func newFakeOpenAI() *fakeOpenAI {
	const model = "gpt-4o-mini"
	system := "You are the support assistant of an online electronics store. Answer from the context only; if the context does not hold the answer, say so and offer to open a ticket. Keep answers short and cite the document ids you used."
	docs := strings.Repeat("[doc-1042] Returns: items can be returned within 30 days of delivery in their original packaging; refunds go to the original payment method within 5 business days. ", 6)
	question := "I bought headphones three weeks ago and one side stopped working. Can I still return them, and how long does the refund take?"
	answer := strings.Repeat("Yes: you bought them three weeks ago, which is within the 30-day return window [doc-1042]. Send them back in their original packaging and the refund reaches your original payment method within 5 business days. ", 3)
	req := func(stream bool) []byte {
		r := map[string]any{
			"model": model,
			"messages": []map[string]string{
				{"role": "system", "content": system},
				{"role": "user", "content": "Context:\n" + docs + "\n\nQuestion: " + question},
			},
			"temperature": 0.2,
			"max_tokens":  400,
		}
		if stream {
			r["stream"] = true
			r["stream_options"] = map[string]bool{"include_usage": true}
		}
		b, _ := json.Marshal(r)
		return b
	}
	usage := map[string]any{
		"prompt_tokens": 412, "completion_tokens": 118, "total_tokens": 530,
		"prompt_tokens_details":     map[string]int{"cached_tokens": 0, "audio_tokens": 0},
		"completion_tokens_details": map[string]int{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
	const id, created, fingerprint = "chatcmpl-BenchGateway0123456789abcdef", 1767225600, "fp_0ba0d124f1"
	completion, _ := json.Marshal(map[string]any{
		"id": id, "object": "chat.completion", "created": created, "model": model + "-2024-07-18",
		"choices": []map[string]any{{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": answer, "refusal": nil, "annotations": []any{}},
			"logprobs":      nil,
			"finish_reason": "stop",
		}},
		"usage": usage, "service_tier": "default", "system_fingerprint": fingerprint,
	})
	chunk := func(delta map[string]any, finish any, u any) []byte {
		c := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model + "-2024-07-18",
			"service_tier": "default", "system_fingerprint": fingerprint, "choices": []map[string]any{},
		}
		if delta != nil {
			c["choices"] = []map[string]any{{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}
		}
		c["usage"] = u
		b, _ := json.Marshal(c)
		return append(append([]byte("data: "), b...), "\n\n"...)
	}
	u := &fakeOpenAI{chatRequest: req(false), streamRequest: req(true), completion: completion}
	u.events = append(u.events, chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil, nil))
	words := strings.SplitAfter(answer, " ")
	for i := 0; i < len(words); i += len(words)/8 + 1 {
		u.events = append(u.events, chunk(map[string]any{"content": strings.Join(words[i:min(len(words), i+len(words)/8+1)], "")}, nil, nil))
	}
	u.events = append(u.events, chunk(map[string]any{}, "stop", nil), chunk(nil, nil, usage), []byte("data: [DONE]\n\n"))
	return u
}

func (u *fakeOpenAI) streamBytes() int {
	n := 0
	for _, e := range u.events {
		n += len(e)
	}
	return n
}

func (u *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("X-Request-Id", "req_bench0123456789")
	h.Set("Openai-Processing-Ms", "0")
	h.Set("Openai-Version", "2020-10-01")
	if !bytes.Contains(body, []byte(`"stream":true`)) {
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(u.completion)))
		_, _ = w.Write(u.completion)
		return
	}
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for _, e := range u.events {
		if _, err := w.Write(e); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// newChatRequest is a chat completion request as an OpenAI SDK sends it.
func newChatRequest(ctx context.Context, target string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer sk-bench-not-a-real-key")
	req.Header.Set("User-Agent", "flowwatch-bench-gateway")
	return req, nil
}

// chatCall sends the chat request and returns the time to the end of the
// answer, which must be the upstream's, whole.
func (u *fakeOpenAI) chatCall(ctx context.Context, client *http.Client, target string) (time.Duration, error) {
	req, err := newChatRequest(ctx, target, u.chatRequest)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	d := time.Since(t0)
	switch {
	case err != nil:
		return 0, fmt.Errorf("read answer: %w", err)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	case len(b) != len(u.completion):
		return 0, fmt.Errorf("answer of %d bytes, want %d", len(b), len(u.completion))
	}
	return d, nil
}

// streamCall sends the streaming request and returns the time to the
// first byte of the body (the first event, what a caller shows first);
// the stream is read to its end, which must be the upstream's.
func (u *fakeOpenAI) streamCall(ctx context.Context, client *http.Client, target string) (time.Duration, error) {
	req, err := newChatRequest(ctx, target, u.streamRequest)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/event-stream")
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var buf [512]byte
	n, err := resp.Body.Read(buf[:])
	for n == 0 && err == nil {
		n, err = resp.Body.Read(buf[:])
	}
	ttfb := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d: %.200s", resp.StatusCode, buf[:n])
	}
	total := n
	if err == nil {
		var rest int64
		rest, err = io.Copy(io.Discard, resp.Body)
		total += int(rest)
	}
	if err != nil && err != io.EOF {
		return 0, fmt.Errorf("read stream: %w", err)
	}
	if want := u.streamBytes(); total != want {
		return 0, fmt.Errorf("stream of %d bytes, want %d", total, want)
	}
	return ttfb, nil
}

// recorder is what /metrics says of the benchmark gateway's recordings.
type recorder struct {
	stored, dropped, failed int64
	queueBytes              float64
}

func recorderState(ctx context.Context, client *http.Client, base string) (recorder, error) {
	var st recorder
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return st, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, fmt.Errorf("bench: read /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("bench: read /metrics: status %d, %v", resp.StatusCode, err)
	}
	found := false
	for line := range strings.SplitSeq(string(b), "\n") {
		name, value, ok := metricLine(line)
		if !ok {
			continue
		}
		switch {
		case name == "flowwatch_gateway_queue_bytes":
			st.queueBytes, found = value, true
		case strings.HasPrefix(name, "flowwatch_gateway_recordings_total{") && strings.Contains(name, `gateway="`+benchGateway+`"`):
			switch {
			case strings.Contains(name, `result="stored"`):
				st.stored = int64(value)
			case strings.Contains(name, `result="dropped"`):
				st.dropped = int64(value)
			case strings.Contains(name, `result="failed"`):
				st.failed = int64(value)
			}
		}
	}
	if !found {
		return st, errors.New("bench: /metrics has no flowwatch_gateway_queue_bytes: is the gateway configured?")
	}
	return st, nil
}

// metricLine splits a sample line of the Prometheus text format into its
// name with labels and its value.
func metricLine(line string) (string, float64, bool) {
	if line == "" || line[0] == '#' {
		return "", 0, false
	}
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(line[i+1:], 64)
	if err != nil {
		return "", 0, false
	}
	return line[:i], v, true
}

// storedCount asks the store, through the API, how many requests (kind
// operational: root spans) or model calls (kind llm) it holds for the
// benchmark's service in [since, until).
func storedCount(ctx context.Context, client *http.Client, base, kind string, since, until time.Time) (int64, error) {
	q := url.Values{"service": {benchService}, "since": {since.UTC().Format(time.RFC3339)}, "until": {until.UTC().Format(time.RFC3339)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/metrics/"+kind+"?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bench: %s metrics: %w", kind, err)
	}
	defer resp.Body.Close()
	var out struct {
		Totals struct {
			Requests int64 `json:"requests"`
			Calls    int64 `json:"calls"`
		} `json:"totals"`
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: %s metrics: status %d: %.200s", kind, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, fmt.Errorf("bench: %s metrics: %w", kind, err)
	}
	return out.Totals.Requests + out.Totals.Calls, nil
}

// fetchProfile writes the server's CPU profile of the next d to path.
func fetchProfile(ctx context.Context, base string, d time.Duration, path string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// processCPU is the user and system CPU time a process has used (0 when
// unknown: not Linux). /proc counts in clock ticks, which Linux fixes at
// 100 a second for user space.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// the fields are counted from after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
