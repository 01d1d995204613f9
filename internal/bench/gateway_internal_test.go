package bench

import (
	"context"
	"testing"
	"time"
)

// The open loop keeps its schedule whatever the latency: requests that
// find every worker busy still all start, late, and are counted so.
func TestOpenLoopCountsLate(t *testing.T) {
	slow := func(context.Context) (time.Duration, error) {
		time.Sleep(20 * time.Millisecond)
		return 20 * time.Millisecond, nil
	}
	m := openLoop(context.Background(), 100, 300*time.Millisecond, 1, slow)
	if m.sent != 30 || m.failed != 0 || len(m.lat) != 30 {
		t.Fatalf("sent %d, failed %d, %d latencies; want 30, 0, 30", m.sent, m.failed, len(m.lat))
	}
	// One worker taking 20 ms for requests due every 10 ms: all but the
	// first start late.
	if m.late < 25 {
		t.Errorf("%d late; want nearly all of 30", m.late)
	}
	m = openLoop(context.Background(), 100, 300*time.Millisecond, 8, slow)
	if m.sent != 30 || m.late > 15 { // a busy machine wakes the schedule late now and then
		t.Errorf("8 workers: sent %d, %d late; want 30 sent, nearly none late", m.sent, m.late)
	}
}

func TestMetricLine(t *testing.T) {
	name, v, ok := metricLine(`flowwatch_gateway_recordings_total{gateway="bench",result="stored"} 12000`)
	if !ok || name != `flowwatch_gateway_recordings_total{gateway="bench",result="stored"}` || v != 12000 {
		t.Errorf("metricLine = %q, %v, %v", name, v, ok)
	}
	for _, line := range []string{"", "# HELP x y", "x notanumber"} {
		if _, _, ok := metricLine(line); ok {
			t.Errorf("metricLine(%q) ok", line)
		}
	}
}
