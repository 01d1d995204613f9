package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/otlptest"
)

func do(t *testing.T, a *app.App, method, path, contentType, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+a.HTTPAddr()+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

type runWire struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Sampled *int   `json:"sampled"`
	Metrics map[string]struct {
		Judged       int      `json:"judged"`
		NotEvaluable int      `json:"not_evaluable"`
		Errors       int      `json:"errors"`
		AverageScore *float64 `json:"average_score"`
		PassRate     *float64 `json:"pass_rate"`
		Violation    bool     `json:"violation"`
	} `json:"metrics"`
}

// TestMonitorRunEndToEnd: OTLP traffic in, a monitor applied through the
// API, a manual run judged by a scripted OpenAI-compatible judge, and the
// run's figures read back through the API.
func TestMonitorRunEndToEnd(t *testing.T) {
	ctx := context.Background()
	js := judgetest.New(t, judgetest.Options{Reply: judgetest.FixedScores(map[string]int{"groundedness": 2, "fluency": 5})})
	a := startAppWith(t, t.TempDir(), func(c *config.Config) {
		c.Judges = map[string]config.Judge{"test-judge": {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model"}}
	})
	base := time.Now().UTC().Add(-30 * time.Minute)
	for i := 0; i < 5; i++ {
		r := otlptest.RAG{Service: "rag-app", Deployment: "blue", Question: fmt.Sprintf("How do I reset password %d?", i),
			Answer: "Use the reset link on the sign-in page.", Documents: []string{"Passwords are reset from the sign-in page."},
			Model: "gpt-4o", InputTokens: 100, OutputTokens: 20, Start: base.Add(time.Duration(i) * time.Minute)}
		if err := otlptest.ExportHTTP(ctx, a.HTTPAddr(), r.Spans(), false); err != nil {
			t.Fatal(err)
		}
	}
	monitorYAML := `name: quality
target: {service: rag-app, deployment: blue}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT2H}
judge: test-judge
quality:
  groundedness: {pass_score: 3, min_pass_rate: 0.7}
  fluency: {pass_score: 3, min_pass_rate: 0.7, min_average: 4}
`
	if code := do(t, a, http.MethodPut, "/api/v1/monitors/quality", "application/yaml", monitorYAML, nil); code != http.StatusCreated {
		t.Fatalf("PUT monitor: %d", code)
	}
	var created struct {
		Run runWire `json:"run"`
	}
	if code := do(t, a, http.MethodPost, "/api/v1/monitors/quality/runs", "", "", &created); code != http.StatusAccepted {
		t.Fatalf("POST run: %d", code)
	}
	var run runWire
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code := get(t, a, "/api/v1/runs/"+created.Run.ID, &run); code != http.StatusOK {
			t.Fatalf("GET run: %d", code)
		}
		if run.Status == "succeeded" || run.Status == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if run.Status != "succeeded" {
		t.Fatalf("run ended %q (%s), want succeeded", run.Status, run.Error)
	}
	if run.Sampled == nil || *run.Sampled != 5 {
		t.Errorf("sampled %v, want 5", run.Sampled)
	}
	g, f := run.Metrics["groundedness"], run.Metrics["fluency"]
	if g.Judged != 5 || g.PassRate == nil || *g.PassRate != 0 || !g.Violation {
		t.Errorf("groundedness %+v, want 5 judged, pass rate 0, a violation", g)
	}
	if f.Judged != 5 || f.PassRate == nil || *f.PassRate != 1 || *f.AverageScore != 5 || f.Violation {
		t.Errorf("fluency %+v, want 5 judged, pass rate 1, average 5, no violation", f)
	}
	if n := js.Total(); n != 5 {
		t.Errorf("%d judge requests, want 5 (one per trace for both metrics)", n)
	}
	var inst struct {
		Instances []struct {
			TraceID string `json:"trace_id"`
			Reason  string `json:"reason"`
		} `json:"instances"`
	}
	get(t, a, "/api/v1/runs/"+run.ID+"/instances?metric=groundedness&passed=false", &inst)
	if len(inst.Instances) != 5 || strings.TrimSpace(inst.Instances[0].Reason) == "" {
		t.Errorf("failing groundedness instances %+v, want 5 with reasons", inst.Instances)
	}
}
