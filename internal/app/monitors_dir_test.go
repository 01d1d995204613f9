package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
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

// appliedLine is what the log says of one monitor file applied at start.
type appliedLine struct {
	File, Monitor, Result string
	Version               int64
}

// applied reads the monitor_file_applied lines of a JSON log, with file
// names relative to their directory.
func applied(t *testing.T, log string) []appliedLine {
	t.Helper()
	var out []appliedLine
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var l struct {
			Msg     string `json:"msg"`
			File    string `json:"file"`
			Monitor string `json:"monitor"`
			Result  string `json:"result"`
			Version int64  `json:"version"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if l.Msg == "monitor_file_applied" {
			out = append(out, appliedLine{File: filepath.Base(l.File), Monitor: l.Monitor, Result: l.Result, Version: l.Version})
		}
	}
	return out
}

// newWithMonitorsDir builds and starts flowwatch on dataDir with
// monitors_dir set, and a judge connection named as the test monitors
// name it. The caller shuts it down.
func newWithMonitorsDir(dataDir, monitorsDir string, logger *slog.Logger) (*app.App, error) {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.GRPC.Address = "127.0.0.1:0"
	cfg.MonitorsDir = monitorsDir
	// Never asked: no monitor runs over traces in these tests.
	cfg.Judges = map[string]config.Judge{"aoai-connection": {Type: "openai", BaseURL: "http://127.0.0.1:9/v1", Model: "judge-model"}}
	// Never connected to: the monitors' e-mail addresses need a server
	// that can send e-mail.
	cfg.SMTP = &config.SMTP{Host: "127.0.0.1", Port: 9, TLS: "none", From: "flowwatch@example.com"}
	a, err := app.New(context.Background(), cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := a.Start(context.Background()); err != nil {
		_ = a.Shutdown(context.Background())
		return nil, err
	}
	return a, nil
}

// copyFile copies a file of testdata/monitors into dir as name.
func copyFile(t *testing.T, dir, name, from string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "monitors", from))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, name, string(b))
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// monitorVersions lists the monitors through the API: name -> version.
func monitorVersions(t *testing.T, a *app.App) map[string]int64 {
	t.Helper()
	var list struct {
		Monitors []struct {
			Monitor struct {
				Name string `json:"name"`
			} `json:"monitor"`
			Version int64 `json:"version"`
		} `json:"monitors"`
	}
	if code := get(t, a, "/api/v1/monitors", &list); code != http.StatusOK {
		t.Fatalf("GET /api/v1/monitors: status %d", code)
	}
	out := map[string]int64{}
	for _, m := range list.Monitors {
		out[m.Monitor.Name] = m.Version
	}
	return out
}

// TestMonitorsDir starts flowwatch with a monitors_dir holding a native
// and a reference-form monitor: both are listed by the API; a restart
// leaves their versions as they are; a changed file makes a new version of
// its monitor only; a monitor applied through the API and not in the
// directory stays.
func TestMonitorsDir(t *testing.T) {
	dataDir, monDir := t.TempDir(), t.TempDir()
	copyFile(t, monDir, "10-native.yaml", "native.yaml")
	copyFile(t, monDir, "20-reference.yml", "reference.yaml")
	// Not read: other extensions, hidden files, subdirectories.
	writeFile(t, monDir, "README.md", "monitors of the RAG app\n")
	writeFile(t, monDir, ".draft.yaml", "not: [a monitor\n")
	copyFile(t, monDir, filepath.Join("old", "invalid.yaml"), "invalid.yaml")

	start := func(t *testing.T) (*app.App, *syncBuffer) {
		t.Helper()
		var logs syncBuffer
		a, err := newWithMonitorsDir(dataDir, monDir, slog.New(slog.NewJSONHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
		return a, &logs
	}
	stop := func(t *testing.T, a *app.App) {
		t.Helper()
		if err := a.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	const native, reference = "rag_quality", "gen_ai_monitor_generation_quality"

	steps := []struct {
		name   string
		before func(t *testing.T)
		during func(t *testing.T, a *app.App) // after the checks
		want   map[string]int64
		logged []appliedLine
	}{
		{
			name: "first start creates both",
			want: map[string]int64{native: 1, reference: 1},
			logged: []appliedLine{
				{File: "10-native.yaml", Monitor: native, Result: "created", Version: 1},
				{File: "20-reference.yml", Monitor: reference, Result: "created", Version: 1},
			},
			during: func(t *testing.T, a *app.App) {
				body := "name: api_only\ntarget: {service: rag-app}\nschedule: {cron: \"0 0 1 1 *\"}\nwindow: {lookback: P1D}\nquality:\n  answer_length: {}\n"
				if code := do(t, a, http.MethodPut, "/api/v1/monitors/api_only", "application/yaml", body, nil); code != http.StatusCreated {
					t.Fatalf("PUT api_only: status %d", code)
				}
			},
		},
		{
			name: "restart leaves the versions",
			want: map[string]int64{native: 1, reference: 1, "api_only": 1},
			logged: []appliedLine{
				{File: "10-native.yaml", Monitor: native, Result: "unchanged", Version: 1},
				{File: "20-reference.yml", Monitor: reference, Result: "unchanged", Version: 1},
			},
		},
		{
			name:   "a changed file updates its monitor",
			before: func(t *testing.T) { copyFile(t, monDir, "10-native.yaml", "native_v2.yaml") },
			want:   map[string]int64{native: 2, reference: 1, "api_only": 1},
			logged: []appliedLine{
				{File: "10-native.yaml", Monitor: native, Result: "updated", Version: 2},
				{File: "20-reference.yml", Monitor: reference, Result: "unchanged", Version: 1},
			},
			during: func(t *testing.T, a *app.App) {
				var got struct {
					Monitor struct {
						Quality map[string]struct {
							PassScore float64 `json:"pass_score"`
						} `json:"quality"`
					} `json:"monitor"`
				}
				get(t, a, "/api/v1/monitors/"+native, &got)
				if ps := got.Monitor.Quality["relevance"].PassScore; ps != 4 {
					t.Errorf("relevance pass_score %v after the update, want 4 (native_v2.yaml)", ps)
				}
			},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before(t)
			}
			a, logs := start(t)
			if diff := cmp.Diff(st.want, monitorVersions(t, a)); diff != "" {
				t.Errorf("monitors (name: version) (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(st.logged, applied(t, logs.String())); diff != "" {
				t.Errorf("logged monitor_file_applied lines (-want +got):\n%s", diff)
			}
			if st.during != nil {
				st.during(t, a)
			}
			stop(t, a)
		})
	}
}

// TestMonitorsDirRefused: a monitors_dir with bad files, or none at all,
// fails the start with every problem, each naming its file (and line),
// before anything is stored.
func TestMonitorsDirRefused(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // name -> testdata file, or "=" and the content
		dir   string            // monitors_dir inside the temporary directory; default "."
		want  []string          // substrings of the error, with {dir} for the directory
	}{
		{
			name:  "invalid files",
			files: map[string]string{"a.yaml": "native.yaml", "b-invalid.yaml": "invalid.yaml", "c-broken.yml": "=name: [x\n"},
			want: []string{
				"{dir}/b-invalid.yaml:4:18: schedule.cron:",
				"{dir}/b-invalid.yaml:5:20: window.lookback: P1M: months are not allowed",
				"{dir}/b-invalid.yaml:6:16: sampling_rate:",
				"{dir}/b-invalid.yaml:9:30: quality.groundedness.pass_score:",
				"{dir}/b-invalid.yaml:10:1: colums: unknown key",
				"{dir}/c-broken.yml:1:",
			},
		},
		{
			name:  "unknown judge connection",
			files: map[string]string{"judge.yaml": "=name: m\ntarget: {service: s}\nschedule: {cron: \"0 0 * * *\"}\nwindow: {lookback: P1D}\njudge: nope\nquality:\n  fluency: {}\n"},
			want:  []string{"{dir}/judge.yaml:5:8: judge: missing judge connection \"nope\""},
		},
		{
			name:  "same monitor in two files",
			files: map[string]string{"a.yaml": "native.yaml", "b.yaml": "native_v2.yaml"},
			want:  []string{`{dir}/b.yaml: monitor "rag_quality" is already defined in {dir}/a.yaml`},
		},
		{
			name: "missing directory",
			dir:  "no-such-dir",
			want: []string{"monitors_dir: open {dir}: no such file or directory (create the directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			for name, src := range tt.files {
				if content, ok := strings.CutPrefix(src, "="); ok {
					writeFile(t, tmp, name, content)
				} else {
					copyFile(t, tmp, name, src)
				}
			}
			dir := tmp
			if tt.dir != "" {
				dir = filepath.Join(tmp, tt.dir)
			}
			dataDir := filepath.Join(t.TempDir(), "data")
			a, err := newWithMonitorsDir(dataDir, dir, nil)
			if err == nil {
				_ = a.Shutdown(context.Background())
				t.Fatal("started, want an error")
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "{dir}", dir); !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			// Refused before the store was opened: nothing was written.
			if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("data directory: %v, want it not created", err)
			}
		})
	}
}

// warnings reads the monitor_file_warning lines of a JSON log.
func warnings(t *testing.T, log string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var l struct {
			Msg     string `json:"msg"`
			Warning string `json:"warning"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if l.Msg == "monitor_file_warning" {
			out = append(out, l.Warning)
		}
	}
	return out
}

// TestMonitorsDirTargetWarning: a monitor file whose target has sent no
// trace is applied at start with a warning in the log naming the services
// seen; once its service has sent traces, the warning is gone.
func TestMonitorsDirTargetWarning(t *testing.T) {
	dataDir, monDir := t.TempDir(), t.TempDir()
	writeFile(t, monDir, "m.yaml", "name: m\ntarget: {service: rag-app}\nschedule: {cron: \"0 * * * *\"}\n"+
		"window: {lookback: P1D}\noperational:\n  error_rate: {max: 0.1}\n")
	sent := 0
	trace := func(service string) string {
		sent++
		now := time.Now()
		return fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":%q}}]},
		 "scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc6%02x","spanId":"eee19b7ec3c1b174","name":"chat",
		 "startTimeUnixNano":"%d","endTimeUnixNano":"%d","status":{"code":1}}]}]}]}`, service, sent, now.UnixNano(), now.Add(time.Second).UnixNano())
	}
	tests := []struct {
		name    string
		service string // the service of a trace sent before the restart; "" sends none
		want    []string
	}{
		{name: "nothing received", want: []string{`no trace has been received yet from any service: the monitor will find no data until service "rag-app" sends traces`}},
		{name: "another service", service: "rag-ap", want: []string{`no trace of service "rag-app" has been received yet: the monitor will find no data until one arrives; services seen: "rag-ap" (did you mean "rag-ap"?)`}},
		{name: "its service", service: "rag-app", want: nil},
	}
	var prev *app.App
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if prev != nil {
				if tt.service != "" {
					postJSON(t, prev, "/v1/traces", trace(tt.service))
				}
				if err := prev.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			var logs syncBuffer
			a, err := newWithMonitorsDir(dataDir, monDir, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			prev = a
			if diff := cmp.Diff(tt.want, warnings(t, logs.String())); diff != "" {
				t.Errorf("monitor_file_warning lines (-want +got):\n%s", diff)
			}
		})
	}
	t.Cleanup(func() {
		if prev != nil {
			_ = prev.Shutdown(context.Background())
		}
	})
}
