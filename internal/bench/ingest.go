package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// IngestOptions configures an ingest benchmark.
type IngestOptions struct {
	// Target is the base URL of a running server; empty starts one (the
	// same binary, `serve`, on a fresh data directory and free ports).
	Target string
	// ServerPID is read for peak RSS when Target is given (0: unknown).
	ServerPID int
	// Binary is the flowwatch executable to start when Target is empty.
	Binary string
	// DataDir for the started server; empty means a temporary directory
	// that is removed afterwards.
	DataDir     string
	Duration    time.Duration
	Warmup      time.Duration
	Concurrency int
	Shape       Shape
	// Progress receives a line per second while the load runs (may be nil).
	Progress io.Writer
}

// IngestResult is what the benchmark measured.
type IngestResult struct {
	Requests      int64
	Failed        int64
	Refused       int64 // 429 / 503
	SpansAccepted int64
	SpansRejected int64
	Elapsed       time.Duration
	SpansPerSec   float64
	P50, P99, Max time.Duration
	PeakRSSBytes  int64 // 0 when unknown
	BodyBytes     int
}

// String formats the result as the README shows it.
func (r IngestResult) String() string {
	rss := "unknown"
	if r.PeakRSSBytes > 0 {
		rss = fmt.Sprintf("%.0f MB", float64(r.PeakRSSBytes)/1e6)
	}
	return fmt.Sprintf(`requests        %d (%d failed, %d refused with 429/503)
request body    %.2f MB protobuf
spans accepted  %d (%d rejected) in %s
throughput      %.0f spans/s
latency         p50 %s  p99 %s  max %s
server peak RSS %s`,
		r.Requests, r.Failed, r.Refused, float64(r.BodyBytes)/1e6, r.SpansAccepted, r.SpansRejected,
		r.Elapsed.Round(time.Millisecond), r.SpansPerSec,
		r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond), rss)
}

// Ingest runs the benchmark.
func Ingest(ctx context.Context, o IngestOptions) (IngestResult, error) {
	var res IngestResult
	if o.Concurrency < 1 || o.Duration <= 0 || o.Shape.Traces < 1 || o.Shape.TextBytes < 10 {
		return res, errors.New("bench: concurrency, duration, traces and text size must be positive")
	}
	if o.Shape.Services < 1 {
		o.Shape.Services = 1
	}
	tp, err := newTemplate(o.Shape)
	if err != nil {
		return res, err
	}
	res.BodyBytes = len(tp.body)

	target, pid := o.Target, o.ServerPID
	if target == "" {
		srv, err := startServer(ctx, o)
		if err != nil {
			return res, err
		}
		defer srv.stop()
		target, pid = srv.url, srv.cmd.Process.Pid
	}
	url := strings.TrimRight(target, "/") + "/v1/traces"
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency, MaxConnsPerHost: o.Concurrency},
	}

	if o.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Warmup)
		_ = drive(wctx, client, []string{url}, tp, o.Concurrency, nil)
		cancel()
	}

	rctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var stats driveStats
	var progress sync.WaitGroup
	if o.Progress != nil {
		progress.Add(1)
		go func() {
			defer progress.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			start := time.Now()
			for {
				select {
				case <-rctx.Done():
					return
				case <-t.C:
					el := time.Since(start)
					fmt.Fprintf(o.Progress, "\r%4.0fs  %8d spans  %7.0f spans/s", el.Seconds(), stats.accepted.Load(),
						float64(stats.accepted.Load())/el.Seconds())
				}
			}
		}()
	}
	start := time.Now()
	lat := drive(rctx, client, []string{url}, tp, o.Concurrency, &stats)
	res.Elapsed = time.Since(start)
	progress.Wait()
	if o.Progress != nil {
		fmt.Fprintln(o.Progress)
	}

	res.Requests = stats.requests.Load()
	res.Failed = stats.failed.Load()
	res.Refused = stats.refused.Load()
	res.SpansAccepted = stats.accepted.Load()
	res.SpansRejected = stats.rejected.Load()
	res.SpansPerSec = float64(res.SpansAccepted) / res.Elapsed.Seconds()
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = lat[len(lat)/2]
		res.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		res.Max = lat[len(lat)-1]
	}
	if pid > 0 {
		res.PeakRSSBytes = peakRSS(pid)
	}
	if res.Failed > 0 && stats.firstErr.Load() != nil {
		return res, fmt.Errorf("bench: %d requests failed, first: %v", res.Failed, *stats.firstErr.Load())
	}
	return res, nil
}

type driveStats struct {
	requests, failed, refused, accepted, rejected atomic.Int64
	firstErr                                      atomic.Pointer[error]
}

// drive sends requests from n senders until ctx ends and returns the
// latencies of the requests that completed within it. Sender i sends to
// urls[i%len(urls)]: several servers share the load evenly.
func drive(ctx context.Context, client *http.Client, urls []string, tp *template, n int, st *driveStats) []time.Duration {
	spans := int64(len(tp.spanIDAt))
	if st == nil {
		st = &driveStats{}
	}
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		url := urls[i%len(urls)]
		go func() {
			defer wg.Done()
			r := newRand()
			var buf []byte
			var lat []time.Duration
			for ctx.Err() == nil {
				buf = tp.fill(buf, r, time.Now())
				t0 := time.Now()
				accepted, rejected, code, err := send(ctx, client, url, buf, spans)
				d := time.Since(t0)
				if ctx.Err() != nil {
					break
				}
				st.requests.Add(1)
				switch {
				case err != nil:
					st.failed.Add(1)
					st.firstErr.CompareAndSwap(nil, &err)
				case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
					st.refused.Add(1)
				default:
					st.accepted.Add(accepted)
					st.rejected.Add(rejected)
					lat = append(lat, d)
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

func send(ctx context.Context, client *http.Client, url string, body []byte, spans int64) (accepted, rejected int64, code int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, 0, resp.StatusCode, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return 0, 0, resp.StatusCode, nil
	default:
		return 0, 0, resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(rb))
	}
	er := ptraceotlp.NewExportResponse()
	if err := er.UnmarshalProto(rb); err != nil {
		return 0, 0, resp.StatusCode, fmt.Errorf("decode export response: %w", err)
	}
	rej := er.PartialSuccess().RejectedSpans()
	return spans - rej, rej, resp.StatusCode, nil
}

type runningServer struct {
	cmd     *exec.Cmd
	url     string
	tmpDir  string
	waitErr chan error
}

var listenLine = regexp.MustCompile(`listening: http://(\S+) `)

func startServer(ctx context.Context, o IngestOptions) (*runningServer, error) {
	dir, tmpDir := o.DataDir, ""
	if dir == "" {
		tmp, err := os.MkdirTemp("", "flowwatch-bench-")
		if err != nil {
			return nil, err
		}
		tmpDir, dir = tmp, filepath.Join(tmp, "data")
	}
	s, err := startServe(ctx, o.Binary, dir, nil)
	if err != nil {
		if tmpDir != "" {
			_ = os.RemoveAll(tmpDir)
		}
		return nil, err
	}
	s.tmpDir = tmpDir
	return s, nil
}

// startServe starts `serve` (the executable bin, this one when empty) on
// data directory dir and free loopback ports, with env added to this
// process's environment, and returns once it listens.
func startServe(ctx context.Context, bin, dir string, env []string) (*runningServer, error) {
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	s := &runningServer{waitErr: make(chan error, 1)}
	s.cmd = exec.Command(bin, "serve", "--data", dir, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--log-level", "warn")
	if len(env) > 0 {
		s.cmd.Env = append(os.Environ(), env...)
	}
	s.cmd.Stderr = os.Stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	go func() { s.waitErr <- s.cmd.Wait() }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				lines <- m[1]
			}
		}
	}()
	select {
	case addr := <-lines:
		s.url = "http://" + addr
		return s, nil
	case err := <-s.waitErr:
		return nil, fmt.Errorf("server exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, errors.New("server did not start listening within 30s")
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

func (s *runningServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.waitErr:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.waitErr
	}
	s.cleanup()
}

func (s *runningServer) cleanup() {
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}

// peakRSS reads VmHWM (the resident set's high-water mark) of a process.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
