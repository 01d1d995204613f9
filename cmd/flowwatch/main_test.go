package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/otlptest"
)

// TestMain lets the tests start this test binary as the real flowwatch
// process (FLOWWATCH_TEST_MAIN=1), so they can kill it with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("FLOWWATCH_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

var listening = regexp.MustCompile(`listening: http://(\S+) \(OTLP/HTTP, API\), (\S+) \(OTLP/gRPC\)`)

type proc struct {
	cmd        *exec.Cmd
	http, grpc string
	exited     chan struct{} // closed when the process has exited
}

// startServer runs `flowwatch serve` on dataDir in a child process, with
// extra arguments after the others.
func startServer(t *testing.T, dataDir string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--data", dataDir, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FLOWWATCH_TEST_MAIN=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1:]
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	select {
	case a := <-addrs:
		p.http, p.grpc = a[0], a[1]
	case <-p.exited:
		t.Fatalf("server exited before listening: %v", waitErr)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not listen within 60s")
	}
	return p
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", url, err)
		}
	}
	return resp.StatusCode
}

// TestKillAfterAckLosesNothing acknowledges spans with 200, kills the server
// with SIGKILL while more exports are in flight, restarts it on the same
// data, and checks that every acknowledged span is there.
func TestKillAfterAckLosesNothing(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, dir)
	ctx := context.Background()

	const enough = 150
	var mu sync.Mutex
	acked := map[string]int{} // trace id -> span count
	reached := make(chan struct{})
	record := func(id string, spans int) {
		mu.Lock()
		defer mu.Unlock()
		acked[id] = spans
		if len(acked) == enough {
			close(reached)
		}
	}
	// Exports in flight from four senders, over both protocols.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := otlptest.RAG{Service: "crash-test", Question: fmt.Sprintf("question %d/%d", w, i), Answer: "answer",
					Documents: []string{"doc"}, Model: "gpt-4o", InputTokens: 10, OutputTokens: 5}
				spans := r.Spans()
				id := spans[0].SpanContext.TraceID().String()
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				var err error
				if w%2 == 0 {
					err = otlptest.ExportHTTP(cctx, p.http, spans, w == 2)
				} else {
					err = otlptest.ExportGRPC(cctx, p.grpc, spans)
				}
				cancel()
				if err == nil {
					record(id, len(spans))
				}
			}
		}()
	}
	// Let some exports be acknowledged, then kill without warning.
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Log("fewer exports acknowledged than hoped within 60s; killing anyway")
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no export was acknowledged before the kill")
	}
	p2 := startServer(t, dir)
	for id, n := range acked {
		var tr struct {
			TraceID string            `json:"trace_id"`
			Spans   []json.RawMessage `json:"spans"`
		}
		if code := getJSON(t, "http://"+p2.http+"/api/v1/traces/"+id, &tr); code != http.StatusOK {
			t.Errorf("acknowledged trace %s: GET returned %d after restart", id, code)
			continue
		}
		if len(tr.Spans) != n {
			t.Errorf("acknowledged trace %s: %d spans after restart, want %d", id, len(tr.Spans), n)
		}
	}
	t.Logf("%d acknowledged traces all present after SIGKILL and restart", len(acked))
}
