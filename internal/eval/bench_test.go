package eval

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/judgetest"
)

// BenchmarkJudgeThroughput measures judge throughput and CPU against a
// judgetest server that answers every request after 300 ms, at
// concurrency 64: the bound is 64 / 0.3 s ≈ 213 requests/s. b.N is the
// number of judge requests; run it with a fixed count, for example
//
//	go test -run '^$' -bench JudgeThroughput -benchtime 2000x ./internal/eval/
//
// multi rates 4 metrics per request (what runs use); single sends one
// request per metric; multi-429 answers 20% of requests with 429 and a
// 50 ms Retry-After and checks that every sample ends judged or as a
// recorded judge error. %bound counts the requests answered with a
// rating (not the 429s). The test server runs in a child process, so
// cpu-s/1000req (user + system time) is the judge's own; the server's is
// reported apart as server-cpu-s/1000req.
func BenchmarkJudgeThroughput(b *testing.B) {
	const (
		concurrency = 64
		latency     = 300 * time.Millisecond
	)
	for _, tc := range []struct {
		name     string
		perReq   int     // metrics per request
		share429 float64 // share of requests answered 429
	}{
		{"multi", 4, 0},
		{"single", 1, 0},
		{"multi-429", 4, 0.2},
	} {
		b.Run(tc.name, func(b *testing.B) {
			baseURL, serverCPU := startJudgeServerProcess(b, latency, tc.share429)
			j, err := New(Options{Type: TypeOpenAI, BaseURL: baseURL, Model: "gpt-4o-mini", MaxConcurrency: concurrency}, nil)
			if err != nil {
				b.Fatal(err)
			}
			res := runThroughput(b, j, b.N*tc.perReq/4, tc.perReq)
			bound := concurrency / latency.Seconds()
			// Requests answered with a rating (429s are answered at once
			// and would flatter the figure).
			answeredPerSec := float64(res.Requests-res.RateLimited) / res.Elapsed.Seconds()
			srvCPU := serverCPU()
			b.ReportMetric(res.RequestsPerSec, "req/s")
			b.ReportMetric(100*answeredPerSec/bound, "%bound")
			b.ReportMetric(res.CPUPer1000, "cpu-s/1000req")
			b.ReportMetric(srvCPU.Seconds()/float64(res.Requests)*1000, "server-cpu-s/1000req")
			b.ReportMetric(0, "ns/op")
			if res.Judged+res.JudgeErrors != res.Expected {
				b.Errorf("%d scores judged and %d judge errors, want %d in all: instances were lost", res.Judged, res.JudgeErrors, res.Expected)
			}
			b.Logf("%s: %d samples, %d requests (%d answered 429) in %.2fs: %.1f req/s, %.1f answered req/s (%.1f%% of %.0f); "+
				"judge %.3f CPU-s per 1000 requests (test server %.3f); %d scores judged, %d judge errors",
				tc.name, res.Samples, res.Requests, res.RateLimited, res.Elapsed.Seconds(), res.RequestsPerSec,
				answeredPerSec, 100*answeredPerSec/bound, bound, res.CPUPer1000, srvCPU.Seconds()/float64(res.Requests)*1000,
				res.Judged, res.JudgeErrors)
		})
	}
}

// judgeServerEnv carries the test server's settings to the child process.
const judgeServerEnv = "FLOWWATCH_BENCH_JUDGE_SERVER"

// TestBenchJudgeServer is the child process of BenchmarkJudgeThroughput:
// a judgetest server that prints its URL and serves until its standard
// input closes.
func TestBenchJudgeServer(t *testing.T) {
	spec := os.Getenv(judgeServerEnv)
	if spec == "" {
		t.Skip("runs only as the test server process BenchmarkJudgeThroughput starts")
	}
	var latency time.Duration
	var share float64
	if _, err := fmt.Sscanf(spec, "%d %g", &latency, &share); err != nil {
		t.Fatalf("%s=%q: %v", judgeServerEnv, spec, err)
	}
	reply := judgetest.Delayed(latency, judgetest.AllScores(4))
	if share > 0 {
		reply = judgetest.RateLimited(share, 50*time.Millisecond, reply)
	}
	srv := judgetest.New(t, judgetest.Options{Reply: reply, DiscardRequests: true})
	fmt.Printf("URL %s\n", srv.BaseURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// startJudgeServerProcess starts the test server in a child process (this
// test binary running TestBenchJudgeServer) and returns its base URL and a
// function that stops it and returns the CPU time it used.
func startJudgeServerProcess(b *testing.B, latency time.Duration, share429 float64) (string, func() time.Duration) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchJudgeServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %g", judgeServerEnv, int64(latency), share429))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	var used time.Duration
	stop := func() time.Duration {
		once.Do(func() {
			_ = stdin.Close()
			_ = cmd.Wait()
			if st := cmd.ProcessState; st != nil {
				used = st.UserTime() + st.SystemTime()
			}
		})
		return used
	}
	b.Cleanup(func() { stop() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if url, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return url, stop
		}
	}
	stop()
	b.Fatalf("the test server process printed no URL: %v", sc.Err())
	return "", nil
}

type throughput struct {
	Samples, Requests   int64
	RateLimited         int64
	Expected            int64 // scores expected
	Judged, JudgeErrors int64
	Elapsed             time.Duration
	RequestsPerSec      float64
	CPUPer1000          float64
}

// runThroughput rates samples × 4 metrics, perReq metrics per request,
// from enough goroutines to keep the judge's concurrency saturated.
func runThroughput(b *testing.B, j *Judge, samples, perReq int) throughput {
	b.Helper()
	samples = max(samples, 1)
	next := atomic.Int64{}
	var judged, errs atomic.Int64
	var wg sync.WaitGroup
	metrics := DefaultLLMMetrics()
	before := j.Stats()
	cpu0 := cpuTime(b)
	start := time.Now()
	b.ResetTimer()
	for w := 0; w < 2*cap(j.sem); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(samples) {
					return
				}
				s := Sample{
					TraceID:  fmt.Sprintf("%032x", i),
					Question: fmt.Sprintf("%s (case %d)", fullSample.Question, i),
					Answer:   fullSample.Answer,
					Context:  fullSample.Context,
				}
				var scores []Score
				var err error
				if perReq == 1 {
					scores, err = j.RateEach(context.Background(), nil, s, metrics)
				} else {
					scores, err = j.Rate(context.Background(), nil, s, metrics)
				}
				if err != nil {
					b.Error(err)
					return
				}
				for _, sc := range scores {
					var je *JudgeError
					switch {
					case sc.Err == nil:
						judged.Add(1)
					case errors.As(sc.Err, &je):
						errs.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	reqs := j.Stats().Requests - before.Requests
	return throughput{
		Samples: int64(samples), Requests: reqs, Expected: int64(samples * len(metrics)),
		Judged: judged.Load(), JudgeErrors: errs.Load(), Elapsed: elapsed,
		RateLimited:    j.Stats().RateLimited - before.RateLimited,
		RequestsPerSec: float64(reqs) / elapsed.Seconds(),
		CPUPer1000:     cpu.Seconds() / float64(reqs) * 1000,
	}
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
