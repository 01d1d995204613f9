package judgetest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const body = `{"model": "m", "temperature": 0, "response_format": {"type": "json_object"},
 "messages": [{"role": "system", "content": "Rate it."},
              {"role": "user", "content": [{"type": "text", "text": "<answer>\nHi\n</answer>\n\nMetrics to rate: fluency, coherence."}]}]}`

func post(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestServer(t *testing.T) {
	srv := New(t, Options{Reply: FixedScores(map[string]int{"fluency": 4, "coherence": 2}), APIKey: "k", Deployment: "d", APIVersion: "2024-10-21"})
	tests := []struct {
		name   string
		path   string
		header map[string]string
		status int
	}{
		{"openai", "/v1/chat/completions", map[string]string{"Authorization": "Bearer k"}, 200},
		{"openai without key", "/v1/chat/completions", nil, 401},
		{"openai with the azure header", "/v1/chat/completions", map[string]string{"api-key": "k"}, 401},
		{"azure", "/openai/deployments/d/chat/completions?api-version=2024-10-21", map[string]string{"api-key": "k"}, 200},
		{"azure without api-version", "/openai/deployments/d/chat/completions", map[string]string{"api-key": "k"}, 400},
		{"azure other version", "/openai/deployments/d/chat/completions?api-version=2023-05-15", map[string]string{"api-key": "k"}, 400},
		{"azure other deployment", "/openai/deployments/x/chat/completions?api-version=2024-10-21", map[string]string{"api-key": "k"}, 404},
		{"unknown path", "/v1/completions", map[string]string{"Authorization": "Bearer k"}, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, got := post(t, srv.URL+tc.path, tc.header)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, got)
			}
			if tc.status != 200 {
				return
			}
			var out struct {
				Choices []struct{ Message struct{ Content string } }
				Usage   struct {
					TotalTokens int64 `json:"total_tokens"`
				}
			}
			if err := json.Unmarshal([]byte(got), &out); err != nil {
				t.Fatal(err)
			}
			want := `{"coherence":{"score":2,"reason":"Scripted score for coherence."},"fluency":{"score":4,"reason":"Scripted score for fluency."}}`
			if len(out.Choices) != 1 || out.Choices[0].Message.Content != want || out.Usage.TotalTokens == 0 {
				t.Errorf("reply %s", got)
			}
		})
	}
	if diff := cmp.Diff(map[int]int64{200: 2, 400: 2, 401: 2, 404: 2}, srv.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests kept, want the 2 served", len(reqs))
	}
	r := reqs[1]
	if !r.Azure || r.Deployment != "d" || r.APIVersion != "2024-10-21" || r.Model != "m" ||
		r.ResponseFormat != "json_object" || r.Temperature == nil || *r.Temperature != 0 {
		t.Errorf("parsed %+v", r)
	}
	if diff := cmp.Diff([]string{"fluency", "coherence"}, r.Metrics()); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(r.UserText(), "<answer>") {
		t.Errorf("user text %q", r.UserText())
	}
}

func TestScripts(t *testing.T) {
	var picked []int64
	fn := Share(0.2, func(r Request) Reply { picked = append(picked, r.Seq); return Reply{} }, Content("ok"))
	for seq := int64(1); seq <= 20; seq++ {
		fn(Request{Seq: seq})
	}
	if diff := cmp.Diff([]int64{5, 10, 15, 20}, picked); diff != "" {
		t.Errorf("Share(0.2) picked (-want +got):\n%s", diff)
	}

	seq := Sequence(Status(500, 0), Content("a"), Content("b"))
	var got []string
	for i := int64(1); i <= 4; i++ {
		r := seq(Request{Seq: i})
		got = append(got, r.Content+"/"+http.StatusText(max(r.Status, 200)))
	}
	if diff := cmp.Diff([]string{"/Internal Server Error", "a/OK", "b/OK", "b/OK"}, got); diff != "" {
		t.Errorf("Sequence (-want +got):\n%s", diff)
	}

	single := Request{Messages: []Message{{Role: "user", Content: "Metrics to rate: fluency."}}}
	if c := AllScores(3)(single).Content; c != `{"score":3,"reason":"Scripted score for fluency."}` {
		t.Errorf("single content %s", c)
	}
	if c := FixedScores(map[string]int{"coherence": 1})(single).Content; c != "{}" {
		t.Errorf("a metric without a score is left out: %s", c)
	}

	by := ByText(map[string]ReplyFunc{"refund": Content("r"), "refund policy": Content("rp")}, Content("other"))
	for text, want := range map[string]string{"our refund policy": "rp", "a refund": "r", "hello": "other"} {
		if c := by(Request{Messages: []Message{{Role: "system", Content: "refund"}, {Role: "user", Content: text}}}).Content; c != want {
			t.Errorf("ByText(%q) = %q, want %q", text, c, want)
		}
	}

	if d := Delayed(time.Second, Delayed(time.Second, Content("x")))(Request{}).Delay; d != 2*time.Second {
		t.Errorf("delays add up: %v", d)
	}
}

func TestRetryAfterAndDrop(t *testing.T) {
	srv := New(t, Options{Reply: Sequence(Status(429, 1500*time.Millisecond), Drop())})
	res, _ := post(t, srv.BaseURL()+"/chat/completions", nil)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "2" || res.Header.Get("retry-after-ms") != "1500" {
		t.Errorf("status %d, Retry-After %q, retry-after-ms %q", res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("retry-after-ms"))
	}
	req, _ := http.NewRequest(http.MethodPost, srv.BaseURL()+"/chat/completions", strings.NewReader(body))
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("a dropped connection answered %d", res.StatusCode)
	}
	if srv.Dropped() != 1 || srv.Count(429) != 1 || srv.Total() != 2 {
		t.Errorf("dropped %d, counts %v, total %d", srv.Dropped(), srv.Counts(), srv.Total())
	}
}
