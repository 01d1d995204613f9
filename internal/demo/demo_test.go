package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/demo"
	"github.com/flowwatch/flowwatch/internal/judgetest"
)

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// runDemo runs the demo on free loopback ports until its run is
// reported, calling check while flowwatch still serves.
func runDemo(t *testing.T, o demo.Options, check func(demo.Result)) (string, demo.Result) {
	t.Helper()
	var out bytes.Buffer
	var res demo.Result
	called := false
	o.HTTPAddr, o.GRPCAddr, o.Out = "127.0.0.1:0", "127.0.0.1:0", &out
	if o.Traces == 0 {
		o.Traces = 120
	}
	o.Ready = func(r demo.Result) {
		called, res = true, r
		check(r)
	}
	if err := demo.Run(t.Context(), o); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if !called {
		t.Fatalf("the demo never got ready:\n%s", out.String())
	}
	return out.String(), res
}

// TestDemoEndToEnd runs the demo with the built-in evaluators and checks,
// through the API of the flowwatch it started, that the traces are
// stored, that the run found a violation and that alerts fire, then that
// it printed the dashboard's URLs and left its monitor file.
func TestDemoEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	out, res := runDemo(t, demo.Options{DataDir: dir}, func(r demo.Result) {
		var services api.ServiceList
		getJSON(t, r.BaseURL+"/api/v1/services", &services)
		var total int64
		deployments := map[string]bool{}
		for _, s := range services.Services {
			total += s.TraceCount
			deployments[s.Service+"/"+s.Deployment] = true
		}
		if total != int64(r.Requests) || r.Requests != 120 {
			t.Errorf("%d traces stored, %d requests sent, want 120 of each", total, r.Requests)
		}
		for _, d := range []string{"nimbus-assistant/prod", "nimbus-assistant/canary", "nimbus-search/prod"} {
			if !deployments[d] {
				t.Errorf("no traces of %s; services: %+v", d, services.Services)
			}
		}

		// A trace as the application described it.
		var list api.TraceList
		getJSON(t, r.BaseURL+"/api/v1/traces?service=nimbus-assistant&deployment=prod&status=ok&limit=1", &list)
		if len(list.Traces) != 1 {
			t.Fatalf("no successful trace of nimbus-assistant/prod")
		}
		var tr api.TraceDetail
		getJSON(t, r.BaseURL+"/api/v1/traces/"+list.Traces[0].TraceID, &tr)
		if tr.Question == "" || tr.Answer == "" || len(tr.Context) == 0 || tr.Model != "gpt-4o-mini" ||
			tr.InputTokens == nil || *tr.InputTokens == 0 || tr.CostUSD <= 0 || len(tr.Spans) != 4 {
			t.Errorf("trace %s: question %q, answer %q, %d documents, model %q, cost %g, %d spans; want all of them",
				tr.TraceID, tr.Question, tr.Answer, len(tr.Context), tr.Model, tr.CostUSD, len(tr.Spans))
		}
		for _, s := range tr.Spans {
			if s.Kind == "llm" && (s.RequestModel != "gpt-4o-mini" || s.ResponseModel != "gpt-4o-mini-2024-07-18" ||
				s.Provider != "openai" || len(s.InputMessages) == 0 || len(s.OutputMessages) == 0) {
				t.Errorf("chat span %+v: want gpt-4o-mini answered by gpt-4o-mini-2024-07-18, openai, with messages", s)
			}
		}
		var failed api.TraceList
		getJSON(t, r.BaseURL+"/api/v1/traces?service=nimbus-assistant&status=error&limit=1", &failed)
		if len(failed.Traces) == 0 || failed.Traces[0].ErrorMessage == "" {
			t.Errorf("failed traces %+v, want one with its error", failed.Traces)
		}

		// The run, read back.
		var run api.Run
		getJSON(t, r.BaseURL+"/api/v1/runs/"+r.Run.ID, &run)
		lg := run.Metrics["lexical_groundedness"]
		if run.Status != "succeeded" || !lg.Violation || lg.Judged < 50 || run.Summary == nil || run.Summary.Violations == 0 {
			t.Errorf("run %+v, lexical_groundedness %+v: want succeeded with lexical_groundedness violated", run, lg)
		}
		for _, m := range []string{"refusal", "pii", "answer_length"} {
			if mo, ok := run.Metrics[m]; !ok || mo.Violation || mo.Judged == 0 {
				t.Errorf("%s: %+v, want judged and not violated", m, mo)
			}
		}
		var errRate bool
		for _, op := range run.Operational {
			errRate = errRate || (op.Name == "error_rate" && op.Violation)
		}
		if !errRate {
			t.Errorf("operational %+v: want error_rate violated", run.Operational)
		}
		// The demo's monitor runs on the wall clock too (*/5): a test
		// that spans a tick finds a scheduled run besides the demo's own
		// (manual) ones, which may be the latest to judge the alerts.
		var runs api.RunList
		getJSON(t, r.BaseURL+"/api/v1/monitors/"+demo.MonitorName+"/runs", &runs)
		manual, latest := 0, map[string]bool{r.Run.ID: true}
		for _, run := range runs.Runs {
			switch run.Trigger {
			case "manual":
				manual++
			case "schedule":
				latest[run.ID] = true
			}
		}
		if manual != 7 {
			t.Errorf("%d manual runs, want the main run and 6 over the hour's 10-minute windows", manual)
		}
		var alerts api.AlertList
		getJSON(t, r.BaseURL+"/api/v1/alerts?state=firing", &alerts)
		// The alerts may have fired in an earlier run over a part of the
		// hour; the main run (or a scheduled one after it) is the latest
		// to find them violated.
		keys := map[string]bool{}
		for _, a := range alerts.Alerts {
			keys[a.Key] = a.Monitor == demo.MonitorName && latest[a.LastRunID]
		}
		if !keys["quality:lexical_groundedness"] || !keys["operational:error_rate"] {
			t.Errorf("firing alerts %+v: want lexical_groundedness and error_rate, still violated in run %s", alerts.Alerts, r.Run.ID)
		}
		if len(r.Alerts) != len(alerts.Alerts) {
			t.Errorf("the demo saw %d firing alerts, the API lists %d", len(r.Alerts), len(alerts.Alerts))
		}

		// The dashboard answers at the first URL printed.
		res, err := http.Get(r.Links[0].URL)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", r.Links[0].URL, res.Status)
		}
	})

	for _, want := range []string{
		"Dashboard ready after",
		res.BaseURL + "/?range=1h",
		res.BaseURL + "/services/nimbus-assistant?range=1h",
		res.BaseURL + "/monitors/nimbus-assistant-quality",
		res.BaseURL + "/runs/" + res.Run.ID,
		res.BaseURL + "/alerts",
		"lexical_groundedness",
		"VIOLATED",
		"quality:lexical_groundedness",
		"operational:error_rate",
		"stopped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if res.Spans == 0 || res.ReadyAfter <= 0 || res.Judge != "" {
		t.Errorf("result %+v: want spans, a time and no judge", res)
	}
	b, err := os.ReadFile(res.MonitorFile)
	if err != nil || string(b) != demo.MonitorYAML("") {
		t.Errorf("monitor file %s: %v, want the monitor's YAML", res.MonitorFile, err)
	}
	if _, err := os.Stat(filepath.Join(dir, demo.MarkerFile)); err != nil {
		t.Errorf("data directory not marked: %v", err)
	}

	// A second demo on the same directory adds to it.
	out, res2 := runDemo(t, demo.Options{DataDir: dir, Traces: 10}, func(r demo.Result) {
		var services api.ServiceList
		getJSON(t, r.BaseURL+"/api/v1/services", &services)
		var total int64
		for _, s := range services.Services {
			total += s.TraceCount
		}
		if total != 130 {
			t.Errorf("%d traces after a second demo, want 120 + 10", total)
		}
	})
	if !strings.Contains(out, "an earlier demo's") || res2.Run.ID == res.Run.ID {
		t.Errorf("second demo: run %s, output:\n%s", res2.Run.ID, out)
	}
}

// TestDemoWithJudge: with a judge connection in the configuration, the
// monitor has the judge rate the answers (here an OpenAI-compatible test
// server that finds every answer poorly grounded).
func TestDemoWithJudge(t *testing.T) {
	js := judgetest.New(t, judgetest.Options{Reply: judgetest.FixedScores(map[string]int{
		"groundedness": 2, "relevance": 4, "coherence": 5, "fluency": 5,
	})})
	cfg := config.Default()
	cfg.Judges = map[string]config.Judge{"test-judge": {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model"}}
	out, res := runDemo(t, demo.Options{DataDir: t.TempDir(), Config: &cfg}, func(demo.Result) {})
	g := res.Run.Metrics["groundedness"]
	if res.Judge != "test-judge" || g.Judged == 0 || !g.Violation || res.Run.Metrics["fluency"].Violation {
		t.Errorf("judge %q, groundedness %+v, fluency %+v: want test-judge, groundedness judged and violated, fluency not",
			res.Judge, g, res.Run.Metrics["fluency"])
	}
	if js.Total() == 0 || js.Total() > int64(*res.Run.Sampled) {
		t.Errorf("%d judge requests for %d sampled traces", js.Total(), *res.Run.Sampled)
	}
	if !strings.Contains(out, "the LLM judge test-judge") {
		t.Errorf("output does not name the judge:\n%s", out)
	}
}

// TestDemoRefusesOtherData: a directory with other files is not written
// to, and the demo stops before starting anything.
func TestDemoRefusesOtherData(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flowwatch.db"), []byte("real data"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := demo.Run(context.Background(), demo.Options{DataDir: dir, Traces: 10, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"})
	if !errors.Is(err, demo.ErrNotDemoDir) {
		t.Fatalf("error %v, want ErrNotDemoDir", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the demo wrote into the directory: %v", entries)
	}
	file := filepath.Join(dir, "flowwatch.db")
	if err := demo.Run(context.Background(), demo.Options{DataDir: file, Traces: 10, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"}); !errors.Is(err, demo.ErrNotDemoDir) {
		t.Errorf("a file as data directory: error %v, want ErrNotDemoDir", err)
	}
}

func TestOptionsCheck(t *testing.T) {
	judges := map[string]config.Judge{"a": {}, "b": {}}
	tests := []struct {
		name      string
		o         demo.Options
		wantJudge string
		wantErr   string
	}{
		{"defaults", demo.Options{Traces: 10}, "", ""},
		{"no traces", demo.Options{Traces: 0}, "", "invalid --traces 0"},
		{"too many traces", demo.Options{Traces: demo.MaxTraces + 1}, "", "invalid --traces"},
		{"live too often", demo.Options{Traces: 10, KeepRunning: true, LiveInterval: 10}, "", "invalid --live-interval"},
		{"not loopback", demo.Options{Traces: 10, HTTPAddr: "0.0.0.0:4318"}, "", `invalid --http "0.0.0.0:4318": the demo listens on loopback only`},
		{"grpc not loopback", demo.Options{Traces: 10, GRPCAddr: "192.0.2.1:4317"}, "", "invalid --grpc"},
		{"no port", demo.Options{Traces: 10, HTTPAddr: "localhost"}, "", "not host:port"},
		{"ipv6 loopback", demo.Options{Traces: 10, HTTPAddr: "[::1]:0"}, "", ""},
		{"judge without judges", demo.Options{Traces: 10, Judge: "a"}, "", "the configuration has no judges"},
		{"unknown judge", demo.Options{Traces: 10, Judge: "c", Config: &config.Config{Judges: judges}}, "", "the configuration's judges are a, b"},
		{"several judges", demo.Options{Traces: 10, Config: &config.Config{Judges: judges}}, "", "choose one with --judge"},
		{"chosen judge", demo.Options{Traces: 10, Judge: "b", Config: &config.Config{Judges: judges}}, "b", ""},
		{"only judge", demo.Options{Traces: 10, Config: &config.Config{Judges: map[string]config.Judge{"j": {}}}}, "j", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			judge, err := tt.o.Check()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if judge != tt.wantJudge {
				t.Errorf("judge %q, want %q", judge, tt.wantJudge)
			}
		})
	}
}
