package bench_test

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/bench"
	"github.com/flowwatch/flowwatch/internal/cli"
)

// serveEnv makes this test binary act as the flowwatch binary: the
// gateway benchmark starts `serve` from its own executable, which in a
// test is this one.
const serveEnv = "FLOWWATCH_BENCH_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestGatewayBench runs the gateway benchmark briefly against a real
// server: every request answered whole, both ways, and every call
// recorded and stored. The latency targets are not checked here: a test
// machine's load decides them.
func TestGatewayBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and drives load for a few seconds")
	}
	t.Setenv(serveEnv, "1")
	const rate = 200
	res, err := bench.Gateway(context.Background(), bench.GatewayOptions{
		Rate: rate, Duration: time.Second, Warmup: 250 * time.Millisecond, Workers: 64,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []bench.GatewayPhase{res.Direct, res.Gateway, res.StreamDirect, res.StreamGateway} {
		if p.Sent != rate || p.Failed != 0 || p.P50 <= 0 || p.P50 > p.P99 || p.P99 > p.Max {
			t.Errorf("%s: %+v", p.Name, p)
		}
	}
	if res.Gateway.ServerCPU <= 0 {
		t.Errorf("no server CPU measured: %+v", res.Gateway)
	}
	if want := int64(2 * (rate + rate/4)); res.Proxied != want {
		t.Errorf("%d requests through the gateway, want %d", res.Proxied, want)
	}
	if !res.Idle || res.Stored != res.Proxied || res.Dropped != 0 || res.RecordFailed != 0 {
		t.Errorf("recordings: idle %v, %d stored, %d dropped, %d failed of %d", res.Idle, res.Stored, res.Dropped, res.RecordFailed, res.Proxied)
	}
	if res.Traces != res.Proxied || res.LLMCalls != res.Proxied {
		t.Errorf("the store holds %d traces and %d model calls, want %d of each", res.Traces, res.LLMCalls, res.Proxied)
	}
	out := res.String()
	for _, want := range []string{"chat, via gateway", "stream TTFB, direct", "gateway adds", "every recording stored"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
}
