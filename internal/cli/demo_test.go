package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/cli"
)

// syncBuffer is a bytes.Buffer safe to read while the command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var overviewLine = regexp.MustCompile(`(?m)^  overview +(http://127\.0\.0\.1:\d+)/\?range=1h$`)

// TestDemoCommand runs 'flowwatch demo' as a user would: it prints the
// dashboard's URLs, keeps serving while the application sends live
// traffic, and stops cleanly on Ctrl-C (the context ending) with exit
// code 0.
func TestDemoCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(t.TempDir(), "demo")
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Execute(ctx, []string{"demo", "--data", dir, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0",
			"--traces", "60", "--live-interval", "200ms"}, &stdout, &stderr)
	}()

	var base string
	for deadline := time.Now().Add(60 * time.Second); base == ""; {
		if m := overviewLine.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("demo ended with %d before the dashboard was ready:\n%s\n%s", code, stdout.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dashboard URL after 60s:\n%s", stdout.String())
		}
	}
	for _, want := range []string{"/services/nimbus-assistant?range=1h", "/monitors/nimbus-assistant-quality", "/runs/", "/alerts",
		"VIOLATED", "press Ctrl-C to stop"} {
		if !strings.Contains(stdout.String(), base+want) && !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}

	// Live traffic arrives while the demo keeps running.
	count := func() int64 {
		res, err := http.Get(base + "/api/v1/services")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var list api.ServiceList
		if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, s := range list.Services {
			n += s.TraceCount
		}
		return n
	}
	for deadline := time.Now().Add(20 * time.Second); count() <= 60; {
		if time.Now().After(deadline) {
			t.Fatalf("no live traffic stored after 20s (%d traces)", count())
		}
		time.Sleep(100 * time.Millisecond)
	}

	cancel()
	select {
	case code := <-done:
		if code != cli.ExitOK {
			t.Errorf("exit %d after Ctrl-C, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the demo did not stop within 40s of Ctrl-C")
	}
	if out := stdout.String(); !strings.Contains(out, "stopping") || !strings.HasSuffix(out, "stopped\n") {
		t.Errorf("output does not end with the stop:\n%s", out)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("flowwatch still answers after the demo stopped")
	}
}

// TestDemoUsage: what the demo refuses, with exit code 2 and a message
// that says what to do; nothing is started or written.
func TestDemoUsage(t *testing.T) {
	tmp := t.TempDir()
	other := filepath.Join(tmp, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "flowwatch.db"), []byte("not the demo's"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(tmp, "fresh")
	free := []string{"--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"}
	steps := []struct {
		name string
		args []string
	}{
		{"no_traces", []string{"demo", "--traces", "0"}},
		{"not_loopback", []string{"demo", "--http", "0.0.0.0:4318"}},
		{"judge_without_config", []string{"demo", "--judge", "aoai-connection"}},
		{"missing_config", []string{"demo", "--config", filepath.Join(tmp, "missing.yaml")}},
		{"argument", []string{"demo", "now"}},
		{"bad_flag", []string{"demo", "--tracez", "5"}},
		{"live_interval", []string{"demo", "--live-interval", "1ms"}},
		{"other_data", append([]string{"demo", "--data", other}, free...)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			args := append([]string(nil), s.args...)
			if !strings.Contains(strings.Join(args, " "), "--data") {
				args = append(args, "--data", fresh)
			}
			r := run(t, args...)
			if r.code != cli.ExitUsage {
				t.Errorf("exit %d, want %d", r.code, cli.ExitUsage)
			}
			checkDemoGolden(t, s.name, r.transcript(args, tmp, "TMP"))
		})
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("a refused demo created its data directory")
	}
	if entries, _ := os.ReadDir(other); len(entries) != 1 {
		t.Errorf("the demo wrote into another directory: %v", entries)
	}
}

func checkDemoGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "demo_"+name+".golden")
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s mismatch:\n--- want\n%s--- got\n%s", path, want, got)
	}
}
