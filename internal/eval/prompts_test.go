package eval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var fullSample = Sample{
	TraceID:     "4bf92f3577b34da6a3ce929d0e0e4736",
	Question:    "How long is the warranty on the X200 vacuum?",
	Answer:      "The X200 comes with a two-year warranty covering the motor and battery.",
	Context:     "X200 product sheet: warranty two years, covering motor and battery. Filters are not covered.",
	GroundTruth: "Two years, for the motor and the battery.",
}

func renderPrompt(metrics []string, s Sample) string {
	system, user := buildPrompt(metrics, s)
	return "SYSTEM:\n" + system + "\n\nUSER:\n" + user + "\n"
}

// TestPromptGolden pins the prompt texts. When it fails because a text
// changed on purpose, bump the rubric's version (or frameVersion), then
// regenerate with -update: TestPromptVersions refuses a changed text under
// an old version.
func TestPromptGolden(t *testing.T) {
	cases := map[string][]string{"multi_default": DefaultLLMMetrics(), "multi_all": llmMetricOrder}
	for _, m := range llmMetricOrder {
		cases["single_"+m] = []string{m}
	}
	for name, metrics := range cases {
		t.Run(name, func(t *testing.T) {
			got := renderPrompt(metrics, fullSample)
			path := filepath.Join("testdata", "prompts", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("prompt %s changed (-golden +now); bump its version, then run with -update:\n%s", name, diff)
			}
		})
	}
}

// TestPromptVersions records a hash of each metric's prompt under its
// version and fails when the text changes while the version stays.
func TestPromptVersions(t *testing.T) {
	path := filepath.Join("testdata", "prompts", "versions.json")
	recorded := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &recorded); err != nil {
			t.Fatal(err)
		}
	} else if !*update {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	now := map[string]string{}
	for _, m := range llmMetricOrder {
		sum := sha256.Sum256([]byte(renderPrompt([]string{m}, fullSample)))
		now[m+"@"+PromptVersion(m)] = hex.EncodeToString(sum[:])
	}
	sum := sha256.Sum256([]byte(renderPrompt(llmMetricOrder, fullSample)))
	now[fmt.Sprintf("multi@frame-%d", frameVersion)] = hex.EncodeToString(sum[:])

	changed := false
	for key, h := range now {
		old, ok := recorded[key]
		switch {
		case ok && old != h:
			t.Errorf("the prompt text of %s changed but its version did not: bump the rubric version or frameVersion", key)
		case !ok && !*update:
			t.Errorf("no hash recorded for %s: run with -update", key)
		case !ok:
			recorded[key] = h
			changed = true
		}
	}
	if changed {
		b, _ := json.MarshalIndent(recorded, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPromptContents(t *testing.T) {
	t.Run("same rubric text alone and together", func(t *testing.T) {
		multi, _ := buildPrompt(llmMetricOrder, fullSample)
		for _, m := range llmMetricOrder {
			single, _ := buildPrompt([]string{m}, fullSample)
			start := strings.Index(single, "## ")
			end := strings.Index(single, "\n\nReply with")
			rubric := single[start:end]
			if !strings.Contains(multi, rubric) {
				t.Errorf("the multi-metric prompt does not hold %s's rubric word for word", m)
			}
		}
	})
	t.Run("only the inputs the metrics use", func(t *testing.T) {
		_, user := buildPrompt([]string{"fluency"}, fullSample)
		for _, tag := range []string{"<question>", "<context>", "<ground_truth>"} {
			if strings.Contains(user, tag) {
				t.Errorf("fluency prompt shows %s", tag)
			}
		}
		if !strings.Contains(user, "<answer>\n"+fullSample.Answer+"\n</answer>") {
			t.Errorf("fluency prompt lacks the answer:\n%s", user)
		}
		_, user = buildPrompt([]string{"groundedness"}, fullSample)
		if !strings.Contains(user, "<question>") || !strings.Contains(user, "<context>") || strings.Contains(user, "<ground_truth>") {
			t.Errorf("groundedness prompt inputs:\n%s", user)
		}
	})
	t.Run("asks for JSON", func(t *testing.T) {
		for _, metrics := range [][]string{{"fluency"}, DefaultLLMMetrics()} {
			system, _ := buildPrompt(metrics, fullSample)
			if !strings.Contains(system, "JSON") || !strings.Contains(system, `"score": <integer 1-5>`) {
				t.Errorf("%v: prompt does not ask for the JSON reply", metrics)
			}
		}
	})
}
