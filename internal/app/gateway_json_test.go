package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/gateway/gatewaytest"
	"github.com/flowwatch/flowwatch/internal/judgetest"
)

// scoreUpstream is a promptflow-style /score endpoint: it takes the
// flow's inputs and answers with its outputs, quoting the question in the
// answer and in a context document so that a test can tell the calls
// apart wherever they end up.
func scoreUpstream(t *testing.T) *gatewaytest.Server {
	return gatewaytest.New(t, gatewaytest.Options{Reply: func(r gatewaytest.Request) gatewaytest.Reply {
		var in struct {
			Question    string            `json:"question"`
			ChatHistory []json.RawMessage `json:"chat_history"`
		}
		if r.Path != "/score" || json.Unmarshal(r.Body, &in) != nil || in.Question == "" {
			return gatewaytest.Reply{Status: http.StatusBadRequest, Body: []byte(`{"error":"bad input"}`)}
		}
		out, _ := json.Marshal(map[string]any{
			"answer": "To " + strings.TrimSuffix(in.Question, "?") + ", use the account page.",
			"context": []map[string]string{
				{"content": "The account page answers: " + in.Question, "source": "kb/12"},
				{"content": "Support is open 9 to 5.", "source": "kb/40"},
			},
		})
		return gatewaytest.Reply{Body: out}
	}})
}

// TestGatewayJSONMonitor: a promptflow-style /score endpoint behind a
// json gateway with a mapping; each call becomes a trace with its
// question, answer and context documents, and a monitor run over the
// gateway's service judges those traces and stores its results, as for
// OTLP traffic.
func TestGatewayJSONMonitor(t *testing.T) {
	up := scoreUpstream(t)
	js := judgetest.New(t, judgetest.Options{Reply: judgetest.FixedScores(map[string]int{"groundedness": 2, "relevance": 5})})
	a := startAppWith(t, t.TempDir(), func(c *config.Config) {
		c.Judges = map[string]config.Judge{"test-judge": {Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model"}}
		c.Gateways = []config.Gateway{{Name: "rag", Kind: "json", Upstream: up.URL, Service: "rag-flow", Deployment: "blue",
			Mapping: &config.GatewayMapping{
				Request:  config.GatewayRequestMapping{Question: "question", ChatHistory: "chat_history"},
				Response: config.GatewayResponseMapping{Answer: "answer", Context: "context"},
			}}}
	})
	const calls = 4
	questions := map[string]bool{}
	for i := range calls {
		q := fmt.Sprintf("change my plan %d?", i)
		questions[q] = true
		body := fmt.Sprintf(`{"question": %q, "chat_history": [{"inputs": {"question": "hi"}, "outputs": {"answer": "hello"}}]}`, q)
		code, _, answer := call(t, a, "POST", "/gateway/rag/score", map[string]string{"Content-Type": "application/json"}, body)
		if code != http.StatusOK || !strings.Contains(answer, `"answer":"To change my plan`) {
			t.Fatalf("call %d: %d %s", i, code, answer)
		}
	}
	var list traceList
	until(t, "the calls recorded", func() bool {
		list = traceList{}
		get(t, a, "/api/v1/traces?service=rag-flow", &list)
		return len(list.Traces) == calls
	})
	for _, tr := range list.Traces {
		d := waitTrace(t, a, tr.TraceID)
		if !questions[d.Question] || d.Answer != "To "+strings.TrimSuffix(d.Question, "?")+", use the account page." ||
			d.Deployment != "blue" || d.Status == "error" {
			t.Errorf("trace %s: question %q, answer %q, deployment %q, status %q", d.TraceID, d.Question, d.Answer, d.Deployment, d.Status)
		}
		if len(d.Context) != 2 || d.Context[0].Content != "The account page answers: "+d.Question ||
			(d.Context[0].ID != "kb/12" && d.Context[0].Source != "kb/12") {
			t.Errorf("trace %s: context %+v, want the two documents of the answer", d.TraceID, d.Context)
		}
		spanOfKind(t, d, "retriever")
	}

	monitor := `name: rag-quality
target: {service: rag-flow, deployment: blue}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT2H}
judge: test-judge
quality:
  groundedness: {pass_score: 3, min_pass_rate: 0.7}
  relevance: {pass_score: 3, min_pass_rate: 0.7}
`
	if code := do(t, a, http.MethodPut, "/api/v1/monitors/rag-quality", "application/yaml", monitor, nil); code != http.StatusCreated {
		t.Fatalf("PUT monitor: %d", code)
	}
	var created struct {
		Run runWire `json:"run"`
	}
	if code := do(t, a, http.MethodPost, "/api/v1/monitors/rag-quality/runs", "", "", &created); code != http.StatusAccepted {
		t.Fatalf("POST run: %d", code)
	}
	var run runWire
	until(t, "the run finished", func() bool {
		run = runWire{}
		get(t, a, "/api/v1/runs/"+created.Run.ID, &run)
		return run.Status == "succeeded" || run.Status == "failed"
	})
	if run.Status != "succeeded" {
		t.Fatalf("run ended %q (%s), want succeeded", run.Status, run.Error)
	}
	g, r := run.Metrics["groundedness"], run.Metrics["relevance"]
	if run.Sampled == nil || *run.Sampled != calls || g.Judged != calls || g.PassRate == nil || *g.PassRate != 0 || !g.Violation ||
		r.Judged != calls || r.PassRate == nil || *r.PassRate != 1 || r.Violation {
		t.Errorf("run: sampled %v, groundedness %+v, relevance %+v; want %d judged each, groundedness failing, relevance passing",
			run.Sampled, g, r, calls)
	}
	// The judge read the gateway's traffic: the question, the answer and
	// the context documents of each call.
	judged := 0
	for _, req := range js.Requests() {
		text := req.Text()
		for q := range questions {
			if strings.Contains(text, q) && strings.Contains(text, "use the account page") && strings.Contains(text, "The account page answers: "+q) {
				judged++
			}
		}
	}
	if judged < calls {
		t.Errorf("%d judge requests hold a call's question, answer and context, want at least %d", judged, calls)
	}
	var inst struct {
		Instances []struct {
			TraceID string `json:"trace_id"`
		} `json:"instances"`
	}
	get(t, a, "/api/v1/runs/"+run.ID+"/instances?metric=groundedness", &inst)
	if len(inst.Instances) != calls {
		t.Errorf("%d stored groundedness results, want %d", len(inst.Instances), calls)
	}
}
