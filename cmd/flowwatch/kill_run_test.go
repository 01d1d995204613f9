package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	_ "modernc.org/sqlite"

	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/otlptest"
)

// TestKillDuringRunJudgesOnce kills flowwatch with SIGKILL in the middle
// of a monitor run, after the judge has answered 15 of 40 traces: those
// verdicts are in the evaluation cache within about a second of their
// replies, a second server on the same data directory is refused while
// the first lives, and the server started after the kill takes the run
// over at once (not after its one-minute lease) and judges each trace
// exactly once in all.
func TestKillDuringRunJudgesOnce(t *testing.T) {
	ctx := context.Background()
	const traces, before = 40, 15
	var (
		mu       sync.Mutex
		answered = map[string]int{}
		hold     = true
	)
	scores := judgetest.FixedScores(map[string]int{"groundedness": 4})
	js := judgetest.New(t, judgetest.Options{Reply: func(r judgetest.Request) judgetest.Reply {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range answered {
			n += c
		}
		if hold && n >= before {
			return judgetest.Reply{Delay: time.Hour}
		}
		answered[r.UserText()]++
		return scores(r)
	}})
	dir := t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "flowwatch.yaml")
	cfg := fmt.Sprintf("judges:\n  j: {type: openai, base_url: %q, model: judge-model, max_concurrency: 4}\n", js.BaseURL())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, dir, "--config", cfgPath)

	base := time.Now().UTC().Add(-time.Hour)
	var spans tracetest.SpanStubs
	for i := range traces {
		r := otlptest.RAG{Service: "rag-app", Question: fmt.Sprintf("question number %d?", i), Answer: "an answer",
			Documents: []string{"a document"}, Model: "gpt-4o", Start: base.Add(time.Duration(i) * time.Second)}
		spans = append(spans, r.Spans()...)
	}
	if err := otlptest.ExportHTTP(ctx, p.http, spans, false); err != nil {
		t.Fatal(err)
	}
	monitor := "name: quality\ntarget: {service: rag-app}\nschedule: {cron: \"0 0 1 1 *\"}\nwindow: {lookback: PT2H}\njudge: j\n" +
		"quality:\n  groundedness: {pass_score: 3, min_pass_rate: 0.7}\n"
	if code, body := send(t, http.MethodPut, "http://"+p.http+"/api/v1/monitors/quality", monitor); code != http.StatusCreated {
		t.Fatalf("PUT monitor: %d %s", code, body)
	}
	code, body := send(t, http.MethodPost, "http://"+p.http+"/api/v1/monitors/quality/runs", "")
	if code != http.StatusAccepted {
		t.Fatalf("POST run: %d %s", code, body)
	}
	id := between(body, `"id":"`, `"`)

	// The 15 verdicts reach the database while the run still waits for
	// the rest.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "flowwatch.db")+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM eval_cache`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d verdicts in the cache after 30 s, want %d", n, before)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A second server on the same data directory is refused, naming the
	// first's process.
	second := exec.Command(os.Args[0], "serve", "--data", dir, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0")
	second.Env = append(os.Environ(), "FLOWWATCH_TEST_MAIN=1")
	var out bytes.Buffer
	second.Stdout, second.Stderr = &out, &out
	if err := second.Run(); err == nil {
		t.Fatalf("a second server started on a data directory in use:\n%s", out.String())
	}
	if want := fmt.Sprintf("is in use by flowwatch pid %d (started ", p.cmd.Process.Pid); !strings.Contains(out.String(), want) {
		t.Errorf("second server said %q, want it to say %q", out.String(), want)
	}

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	mu.Lock()
	hold = false
	mu.Unlock()

	p2 := startServer(t, dir, "--config", cfgPath)
	var run struct {
		Status   string `json:"status"`
		Error    string `json:"error"`
		Attempts int    `json:"attempts"`
	}
	deadline = time.Now().Add(30 * time.Second) // half the lease: only a takeover at start finishes in time
	for run.Status != "succeeded" && run.Status != "failed" {
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s 30 s after the restart", id, run.Status)
		}
		time.Sleep(50 * time.Millisecond)
		getJSON(t, "http://"+p2.http+"/api/v1/runs/"+id, &run)
	}
	if run.Status != "succeeded" || run.Attempts != 2 {
		t.Errorf("run after the kill: %s in %d attempts (%s), want succeeded in 2", run.Status, run.Attempts, run.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(answered) != traces {
		t.Errorf("the judge answered %d traces, want %d", len(answered), traces)
	}
	for q, n := range answered {
		if n != 1 {
			t.Errorf("the judge answered %q %d times, want once", q, n)
		}
	}
}

// send makes a request with a YAML body and returns the status and body.
func send(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// between returns the text of s between the first from and the next to.
func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}
