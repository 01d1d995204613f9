package ingest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"github.com/flowwatch/flowwatch/internal/server"
)

// slowUpload opens a connection to addr and sends an export whose body
// announces size bytes but trickles in one byte per interval, until the
// server answers. It returns the status line and how long that took.
func slowUpload(addr string, size int, interval time.Duration, giveUp time.Duration) (string, time.Duration, error) {
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(start.Add(giveUp))
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		PathTraces, addr, contentTypeProto, size); err != nil {
		return "", 0, err
	}
	answered := make(chan struct{})
	go func() { // trickle until the server answers or closes
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-answered:
				return
			case <-t.C:
				if _, err := conn.Write([]byte{0x0a}); err != nil {
					return
				}
			}
		}
	}()
	line, err := bufio.NewReader(conn).ReadString('\n')
	close(answered)
	return strings.TrimSpace(line), time.Since(start), err
}

// TestSlowUploadsDoNotStarveExports holds 50 slow uploads open against a
// receiver with only 2 admission slots: exports from the OpenTelemetry SDK
// still succeed meanwhile, and each slow upload is answered 408 once the
// body timeout has passed.
func TestSlowUploadsDoNotStarveExports(t *testing.T) {
	const (
		slow        = 50
		bodyTimeout = 500 * time.Millisecond
	)
	adm := server.NewAdmission(2, 0, 0)
	c := newMemConsumer()
	r, srv := startHTTP(t, c, Options{Gate: adm, BodyTimeout: bodyTimeout})
	addr := strings.TrimPrefix(srv.URL, "http://")

	type outcome struct {
		status string
		took   time.Duration
		err    error
	}
	results := make(chan outcome, slow)
	var wg sync.WaitGroup
	for range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, took, err := slowUpload(addr, 4096, 50*time.Millisecond, 10*time.Second)
			results <- outcome{st, took, err}
		}()
	}
	// Once every slow upload is being read (each holds its first chunk,
	// 4097 bytes, of the body budget), real exports go through.
	waitFor(t, func() bool { used, _ := r.BodyMemory(); return used == slow*4097 })
	exp := newHTTPExporter(t, srv.URL, otlptracehttp.WithTimeout(5*time.Second))
	deadline := time.Now().Add(bodyTimeout / 2)
	exports := 0
	for exports == 0 || time.Now().Before(deadline) {
		if err := exp.ExportSpans(context.Background(), sdkSpans().Snapshots()); err != nil {
			t.Fatalf("export %d while %d slow uploads are open: %v", exports, slow, err)
		}
		exports++
	}
	wg.Wait()
	close(results)
	for o := range results {
		if o.err != nil {
			t.Errorf("slow upload: %v", o.err)
			continue
		}
		if !strings.Contains(o.status, " 408 ") {
			t.Errorf("slow upload answered %q, want 408", o.status)
		}
		if o.took > bodyTimeout+3*time.Second {
			t.Errorf("slow upload answered after %s, want about the body timeout of %s", o.took, bodyTimeout)
		}
	}
	st := r.Stats()
	if st.Refused.Timeout != slow {
		t.Errorf("Stats().Refused.Timeout = %d, want %d", st.Refused.Timeout, slow)
	}
	if st.AcceptedSpans != int64(2*exports) {
		t.Errorf("accepted %d spans from %d exports, want %d", st.AcceptedSpans, exports, 2*exports)
	}
	if got := adm.Refused(); got != 0 {
		t.Errorf("admission refused %d requests; slow uploads must not hold slots", got)
	}
	if used, _ := r.BodyMemory(); used != 0 {
		t.Errorf("body memory still held after every request ended: %d bytes", used)
	}
}

// TestBodyMemoryBudget fills the body budget with slow uploads that
// announce large bodies and checks a further export is refused with 429
// and Retry-After, and that the budget is free again once they end.
func TestBodyMemoryBudget(t *testing.T) {
	const budget = 4 * firstChunk
	c := newMemConsumer()
	r, srv := startHTTP(t, c, Options{MaxBodyBytes: firstChunk, BodyMemoryBytes: budget, BodyTimeout: 2 * time.Second})
	addr := strings.TrimPrefix(srv.URL, "http://")

	// Each slow upload reserves its first chunk (the announced size
	// +1, at most firstChunk): four fill the budget.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = slowUpload(addr, firstChunk, 20*time.Millisecond, 10*time.Second)
		}()
	}
	waitFor(t, func() bool { used, _ := r.BodyMemory(); return used >= budget })
	resp, _ := post(t, srv.URL+PathTraces, contentTypeProto, "", strings.NewReader(strings.Repeat("x", 10)))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("export with the budget spent: status %d, Retry-After %q; want 429 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	wg.Wait()
	if used, _ := r.BodyMemory(); used != 0 {
		t.Errorf("body memory still held after every request ended: %d bytes", used)
	}
	if got := r.Stats().Refused.Overloaded; got != 1 {
		t.Errorf("Stats().Refused.Overloaded = %d, want 1", got)
	}
}

// waitFor polls cond (a state another goroutine reaches, not a time).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 5s")
}
