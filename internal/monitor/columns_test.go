package monitor

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

var defaultColumns = model.Columns{Prompt: "question", Completion: "answer", Context: "context"}

func TestExtract(t *testing.T) {
	// normalized is what normalize made of the trace; the records, when
	// they have the keys, take precedence over it.
	normalized := model.Trace{
		Question: "normalized question",
		Answer:   "normalized answer",
		Context:  []model.Document{{Content: "doc one"}, {Content: " "}, {Content: "doc two"}},
	}
	with := func(input, output string) model.Trace {
		tr := normalized
		tr.Input, tr.Output = input, output
		return tr
	}
	in := func(key string) Origin { return Origin{Source: SourceInput, Key: key} }
	out := func(key string) Origin { return Origin{Source: SourceOutput, Key: key} }
	trace := Origin{Source: SourceTrace}
	fallback := Inputs{
		Question: "normalized question",
		Answer:   "normalized answer",
		Context:  "doc one\n\ndoc two",
		From:     Origins{Question: trace, Answer: trace, Context: trace},
	}
	// missing is what records that are JSON objects without the prompt and
	// completion keys give: both missing, with notes naming the keys, and
	// the context from the retrieved documents.
	missing := func(promptKey, completionKey string) Inputs {
		return Inputs{
			Context: "doc one\n\ndoc two",
			From:    Origins{Context: trace},
			Notes: []string{
				`the root span's input record has no value for the key "` + promptKey + `"`,
				`the root span's output record has no value for the key "` + completionKey + `"`,
			},
		}
	}

	tests := []struct {
		name string
		tr   model.Trace
		cols model.Columns
		want Inputs
	}{
		{
			name: "promptflow inputs and output objects",
			tr: with(
				`{"question": "What is the return policy?", "chat_history": []}`,
				`{"answer": "30 days.", "context": [{"id": "d1", "content": "Returns within 30 days."}, {"id": "d2", "content": "Receipt required."}]}`,
			),
			cols: defaultColumns,
			want: Inputs{
				Question: "What is the return policy?",
				Answer:   "30 days.",
				Context:  "Returns within 30 days.\n\nReceipt required.",
				From:     Origins{Question: in("question"), Answer: out("answer"), Context: out("context")},
			},
		},
		{
			name: "OpenInference plain-text input.value falls back",
			tr:   with("What is the return policy?", "30 days."),
			cols: defaultColumns,
			want: fallback,
		},
		{
			name: "records without the keys: prompt and completion missing, never guessed",
			tr:   with(`{"query": "q"}`, `{"sources": "sources are no answer"}`),
			cols: defaultColumns,
			want: missing("question", "answer"),
		},
		{
			name: "no records at all",
			tr:   normalized,
			cols: defaultColumns,
			want: fallback,
		},
		{
			name: "nothing anywhere is missing",
			tr:   model.Trace{Input: `{}`, Output: `{}`},
			cols: model.Columns{Prompt: "question", Completion: "answer", Context: "context", GroundTruth: "truth"},
			want: Inputs{Notes: missing("question", "answer").Notes},
		},
		{
			name: "prompt is never taken from the output, completion never from the input",
			tr:   with(`{"answer": "from input"}`, `{"question": "from output"}`),
			cols: defaultColumns,
			want: missing("question", "answer"),
		},
		{
			name: "nested paths through objects and lists",
			tr: with(
				`{"req": {"user": {"text": "nested question"}}}`,
				`{"result": {"answer": "nested answer", "docs": [{"content": "first"}, {"content": "second"}]}}`,
			),
			cols: model.Columns{Prompt: "req.user.text", Completion: "result.answer", Context: "result.docs.1.content"},
			want: Inputs{
				Question: "nested question",
				Answer:   "nested answer",
				Context:  "second",
				From:     Origins{Question: in("req.user.text"), Answer: out("result.answer"), Context: out("result.docs.1.content")},
			},
		},
		{
			name: "a literal dotted key wins over the path",
			tr:   with(``, `{"result.answer": "literal", "result": {"answer": "path"}}`),
			cols: model.Columns{Completion: "result.answer"},
			want: Inputs{
				Question: "normalized question", Answer: "literal", Context: "doc one\n\ndoc two",
				From: Origins{Question: trace, Answer: out("result.answer"), Context: trace},
			},
		},
		{
			name: "paths that lead nowhere are missing",
			tr:   with(`{"q": "text", "l": [1]}`, `{"result": {"answer": null}, "n": 5}`),
			cols: model.Columns{Prompt: "q.deeper", Completion: "result.answer", Context: "l.1", GroundTruth: "n.x"},
			want: missing("q.deeper", "result.answer"),
		},
		{
			name: "bad list indexes are missing",
			tr:   with(`{"l": ["a", "b"]}`, `{"l": ["a"]}`),
			cols: model.Columns{Prompt: "l.-1", Completion: "l.x", Context: "l.2"},
			want: missing("l.-1", "l.x"),
		},
		{
			name: "lists of documents in their usual shapes",
			tr: with(
				`{"question": ["part one", "part two"], "context": [{"page_content": "lc one", "metadata": {}}, {"page_content": "lc two"}]}`,
				`{"answer": [{"text": "t one", "score": 0.9}, {"text": ""}, {"text": "t two"}]}`,
			),
			cols: defaultColumns,
			want: Inputs{
				Question: "part one\n\npart two",
				Answer:   "t one\n\nt two",
				Context:  "lc one\n\nlc two",
				From:     Origins{Question: in("question"), Answer: out("answer"), Context: in("context")},
			},
		},
		{
			name: "lists that are not documents are compact JSON, in the order sent",
			tr: with(
				`{"question": [1, "two", {"z": 1, "a": 2}], "context": [{"title": "no text field"}]}`,
				`{"answer": {"z": "last", "a": [1, 2]}}`,
			),
			cols: defaultColumns,
			want: Inputs{
				Question: `[1,"two",{"z":1,"a":2}]`,
				Answer:   `{"z":"last","a":[1,2]}`,
				Context:  `[{"title":"no text field"}]`,
				From:     Origins{Question: in("question"), Answer: out("answer"), Context: in("context")},
			},
		},
		{
			name: "numbers and booleans as written",
			tr:   with(`{"question": 3.50, "truth": true}`, `{"answer": -1e3}`),
			cols: model.Columns{Prompt: "question", Completion: "answer", Context: "context", GroundTruth: "truth"},
			want: Inputs{
				Question: "3.50", Answer: "-1e3", Context: "doc one\n\ndoc two", GroundTruth: "true",
				From: Origins{Question: in("question"), Answer: out("answer"), Context: trace, GroundTruth: in("truth")},
			},
		},
		{
			name: "null, empty, blank, [] and {} count as not found",
			tr: with(
				`{"question": null, "context": [], "truth": {}}`,
				`{"answer": "  \n", "context": "", "truth": [{"content": " "}]}`,
			),
			cols: model.Columns{Prompt: "question", Completion: "answer", Context: "context", GroundTruth: "truth"},
			want: missing("question", "answer"),
		},
		{
			name: "context and ground truth: input first, then output",
			tr: with(
				`{"question": "q", "context": "input context"}`,
				`{"answer": "a", "context": "output context", "ground_truth": "output truth"}`,
			),
			cols: model.Columns{Prompt: "question", Completion: "answer", Context: "context", GroundTruth: "ground_truth"},
			want: Inputs{
				Question: "q", Answer: "a", Context: "input context", GroundTruth: "output truth",
				From: Origins{Question: in("question"), Answer: out("answer"), Context: in("context"), GroundTruth: out("ground_truth")},
			},
		},
		{
			name: "escapes and non-ASCII text decoded",
			tr:   with(`{"question": "Gr\u00fc\u00dfe \"quoted\"\nline"}`, `{"answer": "日本語"}`),
			cols: defaultColumns,
			want: Inputs{
				Question: "Grüße \"quoted\"\nline", Answer: "日本語", Context: "doc one\n\ndoc two",
				From: Origins{Question: in("question"), Answer: out("answer"), Context: trace},
			},
		},
		{
			name: "empty column keys go straight to the fallback",
			tr:   with(`{"question": "q", "ground_truth": "t"}`, `{"answer": "a"}`),
			cols: model.Columns{},
			want: fallback,
		},
		{
			name: "invalid JSON objects are noted and fall back",
			tr:   with(`{"question": "unterminated`, `{"answer": 1,}`),
			cols: defaultColumns,
			want: Inputs{
				Question: "normalized question", Answer: "normalized answer", Context: "doc one\n\ndoc two",
				From: Origins{Question: trace, Answer: trace, Context: trace},
				Notes: []string{
					"the root span's input looks like a JSON object but is not valid JSON (unexpected end of JSON input); only the normalized fields were used",
					"the root span's output looks like a JSON object but is not valid JSON (invalid character '}' looking for beginning of object key string); only the normalized fields were used",
				},
			},
		},
		{
			name: "JSON that is not an object is no record",
			tr:   with(`["question", "x"]`, `"just a string"`),
			cols: defaultColumns,
			want: fallback,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extract(tt.tr, tt.cols)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Extract (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtractBounds(t *testing.T) {
	// "é" is 2 bytes: at an odd offset, MaxColumnBytes falls inside one.
	long := "x" + strings.Repeat("é", MaxColumnBytes)
	longJSON := `"` + long + `"`
	docs := make([]model.Document, 0, 100)
	for range 100 {
		docs = append(docs, model.Document{Content: strings.Repeat("d", 1000)})
	}
	tests := []struct {
		name     string
		tr       model.Trace
		cols     model.Columns
		get      func(Inputs) (string, Origin)
		wantLen  int
		wantFrom Source
	}{
		{
			name:     "record string cut at a character boundary",
			tr:       model.Trace{Input: `{"question": ` + longJSON + `}`},
			cols:     defaultColumns,
			get:      func(in Inputs) (string, Origin) { return in.Question, in.From.Question },
			wantLen:  MaxColumnBytes - 1, // 1 + 2k bytes: the last whole "é" ends one byte short
			wantFrom: SourceInput,
		},
		{
			name:     "fallback answer cut",
			tr:       model.Trace{Answer: long},
			cols:     defaultColumns,
			get:      func(in Inputs) (string, Origin) { return in.Answer, in.From.Answer },
			wantLen:  MaxColumnBytes - 1,
			wantFrom: SourceTrace,
		},
		{
			name:     "many documents cut",
			tr:       model.Trace{Context: docs},
			cols:     defaultColumns,
			get:      func(in Inputs) (string, Origin) { return in.Context, in.From.Context },
			wantLen:  MaxColumnBytes,
			wantFrom: SourceTrace,
		},
		{
			name:     "a list of documents in the output cut",
			tr:       model.Trace{Output: `{"context": [` + longJSON + `, "more"]}`},
			cols:     defaultColumns,
			get:      func(in Inputs) (string, Origin) { return in.Context, in.From.Context },
			wantLen:  MaxColumnBytes - 1,
			wantFrom: SourceOutput,
		},
		{
			name:     "compact JSON cut",
			tr:       model.Trace{Output: `{"answer": {"k": ` + longJSON + `}}`},
			cols:     defaultColumns,
			get:      func(in Inputs) (string, Origin) { return in.Answer, in.From.Answer },
			wantLen:  MaxColumnBytes - 1, // `{"k":"x` is 7 bytes, then 2-byte "é"s: the last whole one ends one byte short
			wantFrom: SourceOutput,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extract(tt.tr, tt.cols)
			if err != nil {
				t.Fatal(err)
			}
			text, from := tt.get(got)
			if len(text) != tt.wantLen {
				t.Errorf("length %d, want %d", len(text), tt.wantLen)
			}
			if !utf8.ValidString(text) {
				t.Error("text cut inside a character")
			}
			if from.Source != tt.wantFrom || !from.Truncated {
				t.Errorf("origin %+v, want source %q and truncated", from, tt.wantFrom)
			}
		})
	}

	t.Run("blank within the bound is not found", func(t *testing.T) {
		blank := strings.Repeat(" ", MaxColumnBytes) + "late text"
		got, err := Extract(model.Trace{Output: `{"answer": "` + blank + `"}`, Answer: blank}, defaultColumns)
		if err != nil {
			t.Fatal(err)
		}
		if got.Answer != "" || got.From.Answer != (Origin{}) {
			t.Errorf("answer of %d bytes from %+v, want none", len(got.Answer), got.From.Answer)
		}
	})

	t.Run("exactly at the bound is not cut", func(t *testing.T) {
		got, err := Extract(model.Trace{Answer: strings.Repeat("a", MaxColumnBytes)}, defaultColumns)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Answer) != MaxColumnBytes || got.From.Answer.Truncated {
			t.Errorf("length %d, truncated %v; want %d, false", len(got.Answer), got.From.Answer.Truncated, MaxColumnBytes)
		}
	})
}

func TestExtractBadKeys(t *testing.T) {
	tests := []struct {
		cols model.Columns
		want string
	}{
		{model.Columns{Prompt: "a..b"}, `columns.prompt: column key "a..b" has an empty path segment`},
		{model.Columns{Completion: ".answer"}, `columns.completion: column key ".answer" has an empty path segment`},
		{model.Columns{Context: "context."}, `columns.context: column key "context." has an empty path segment`},
		{model.Columns{GroundTruth: "  "}, `columns.ground_truth: column key "  " is blank`},
	}
	for _, tt := range tests {
		_, err := Extract(model.Trace{}, tt.cols)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Extract(%+v) error = %v, want it to start with %q", tt.cols, err, tt.want)
		}
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(`{"question": "q", "context": [{"content": "c"}]}`, `{"answer": {"text": "a"}}`, "question", "answer", "context.0.content")
	f.Add("plain text", `{"result": [1, 2, {"a": null}]}`, "q", "result.2.a", "result")
	f.Add(`{"a": {"b": [`, `[]`, "a.b.0", "", "x")
	f.Fuzz(func(t *testing.T, input, output, k1, k2, k3 string) {
		tr := model.Trace{Input: input, Output: output, Question: input, Answer: output}
		got, err := Extract(tr, model.Columns{Prompt: k1, Completion: k2, Context: k3, GroundTruth: k1})
		if err != nil {
			if CheckColumnKey(k1) == nil && CheckColumnKey(k2) == nil && CheckColumnKey(k3) == nil {
				t.Fatalf("error for good keys: %v", err)
			}
			return
		}
		for _, c := range []struct {
			text string
			from Origin
		}{
			{got.Question, got.From.Question}, {got.Answer, got.From.Answer},
			{got.Context, got.From.Context}, {got.GroundTruth, got.From.GroundTruth},
		} {
			if len(c.text) > MaxColumnBytes {
				t.Fatalf("text of %d bytes", len(c.text))
			}
			if (strings.TrimSpace(c.text) == "") != (c.from.Source == SourceNone) {
				t.Fatalf("text %q with origin %+v", c.text, c.from)
			}
		}
	})
}
