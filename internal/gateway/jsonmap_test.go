package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidatePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want string // the gjson path, or the error's text after the path
		bad  bool
	}{
		{path: "answer", want: "answer"},
		{path: "outputs.answer", want: "outputs.answer"},
		{path: "$.outputs.answer", want: "outputs.answer"},
		{path: "$.choices[0].message.content", want: "choices.0.message.content"},
		{path: "choices.0.message.content", want: "choices.0.message.content"},
		{path: "$[0].text", want: "0.text"},
		{path: "docs.#.text", want: "docs.#.text"},
		{path: "docs.#", want: "docs"},
		{path: "a[2][3]", want: "a.2.3"},
		{path: "data-set.my_field2", want: "data-set.my_field2"},
		{path: "$", want: "@this"},
		{path: "#", want: "@this"},
		{path: "", bad: true, want: "path is empty"},
		{path: "a..b", bad: true, want: `character 3: empty name`},
		{path: ".a", bad: true, want: `character 1: empty name`},
		{path: "a.", bad: true, want: `character 3: the path ends with a dot`},
		{path: "a.b*", bad: true, want: `character 4: '*' is not allowed`},
		{path: "a b", bad: true, want: `character 2: ' ' is not allowed`},
		{path: "$.a[x]", bad: true, want: `character 5: an index in [ ] must be a number (use # for every element)`},
		{path: "a[*]", bad: true, want: `character 3: an index in [ ] must be a number`},
		{path: "a[1", bad: true, want: `character 2: [ is not closed by ]`},
		{path: "a#", bad: true, want: `character 2: '#' is not allowed`},
		{path: "#a", bad: true, want: `character 2: # must be a whole name`},
		{path: "$a", bad: true, want: `character 2: expected . or [ after $`},
		{path: "a.@reverse", bad: true, want: `character 3: '@' is not allowed`},
		{path: "a|b", bad: true, want: `character 2: '|' is not allowed`},
		{path: "é.a", bad: true, want: `character 1: 'é' is not allowed`},
		{path: "a.é.b*", bad: true, want: `character 3: 'é' is not allowed`},
		{path: "a.#.b.#.c.#.d.#", bad: true, want: `more than 3 #`},
		{path: strings.Repeat("a", 300), bad: true, want: "longer than 256 bytes"},
	} {
		got, err := compilePath(tc.path)
		if verr := ValidatePath(tc.path); (verr == nil) != (err == nil) {
			t.Errorf("ValidatePath(%q) = %v, compilePath says %v", tc.path, verr, err)
		}
		switch {
		case tc.bad && err == nil:
			t.Errorf("ValidatePath(%q) accepted it as %q", tc.path, got)
		case tc.bad && !strings.Contains(err.Error(), tc.want):
			t.Errorf("ValidatePath(%q) = %q, want it to say %q", tc.path, err, tc.want)
		case !tc.bad && err != nil:
			t.Errorf("ValidatePath(%q) = %v", tc.path, err)
		case !tc.bad && got != tc.want:
			t.Errorf("compilePath(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestCompileMappingNamesTheField(t *testing.T) {
	_, err := compileMapping(Mapping{Answer: "outputs.answer", Context: "outputs..context"})
	if err == nil || !strings.HasPrefix(err.Error(), "mapping context: ") {
		t.Errorf("err = %v, want one naming the context path", err)
	}
	if _, err := compileMapping(Mapping{}); err != nil {
		t.Errorf("an empty mapping: %v", err)
	}
}

// TestMappingExtract covers the shapes a mapping reads, apart from the
// golden files: histories, documents and tokens as JSON endpoints write
// them.
func TestMappingExtract(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name      string
		m         Mapping
		req, resp string
		want      Call
	}{
		{
			name: "openai-style history",
			m:    Mapping{Question: "q", ChatHistory: "h"},
			req:  `{"q":"and now?","h":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"hello"}]},{"role":"human","content":"x"}]}`,
			want: Call{Question: "and now?", Input: []Message{
				{Role: "user", Parts: textParts("hi")}, {Role: "assistant", Parts: textParts("hello")},
				{Role: "user", Parts: textParts("x")}, {Role: "user", Parts: textParts("and now?")},
			}},
		},
		{
			name: "promptflow pairs with odd names and pairs as lists",
			m:    Mapping{ChatHistory: "inputs.chat_history"},
			req:  `{"inputs":{"chat_history":[{"inputs":{"n":3,"chat_input":"q1"},"outputs":{"chat_output":"a1"}},{"inputs":"q2","outputs":{}},["q3","a3"]]}}`,
			want: Call{Input: []Message{
				{Role: "user", Parts: textParts("q1")}, {Role: "assistant", Parts: textParts("a1")},
				{Role: "user", Parts: textParts("q2")},
				{Role: "user", Parts: textParts("q3")}, {Role: "assistant", Parts: textParts("a3")},
			}},
		},
		{
			name: "question and answer as JSON",
			m:    Mapping{Question: "inputs", Answer: "$"},
			req:  `{"inputs": {"city": "Paris", "days": 3}}`,
			resp: `["day 1", "day 2"]`,
			want: Call{
				Question: `{"city":"Paris","days":3}`, Answer: `["day 1","day 2"]`,
				Input:  []Message{{Role: "user", Parts: textParts(`{"city":"Paris","days":3}`)}},
				Output: []Message{{Role: "assistant", Parts: textParts(`["day 1","day 2"]`)}},
			},
		},
		{
			name: "context as one string",
			m:    Mapping{Context: "context"},
			resp: `{"context":"All tents ship free."}`,
			want: Call{Documents: []Document{{Content: "All tents ship free."}}},
		},
		{
			name: "context as strings",
			m:    Mapping{Context: "context"},
			resp: `{"context":["one","","two"]}`,
			want: Call{Documents: []Document{{Content: "one"}, {Content: "two"}}},
		},
		{
			name: "context as an object with documents",
			m:    Mapping{Context: "retrieval"},
			resp: `{"retrieval":{"documents":[{"text":"t1","source":"a.md","score":0.5},{"content":{"k":"v"},"doc_id":"d2"},{"title":"no content"}]}}`,
			want: Call{Documents: []Document{{ID: "a.md", Content: "t1", Score: f(0.5)}, {ID: "d2", Content: `{"k":"v"}`}}},
		},
		{
			name: "context serialized in a string",
			m:    Mapping{Context: "context"},
			resp: `{"context":"[{\"content\":\"c1\",\"id\":7}]"}`,
			want: Call{Documents: []Document{{ID: "7", Content: "c1"}}},
		},
		{
			name: "context through # over lists of lists",
			m:    Mapping{Context: "hits.#.docs"},
			resp: `{"hits":[{"docs":["a","b"]},{"docs":[{"chunk":"c","score":"x"}]}]}`,
			want: Call{Documents: []Document{{Content: "a"}, {Content: "b"}, {Content: "c"}}},
		},
		{
			name: "tokens as numbers and strings, model",
			m:    Mapping{Model: "m", InputTokens: "u.in", OutputTokens: "u.out", TotalTokens: "u.total"},
			resp: `{"m":"phi-4","u":{"in":"12","out":3.0,"total":-1}}`,
			want: Call{Operation: "chat", ResponseModel: "phi-4", Usage: Usage{InputTokens: i64(12), OutputTokens: i64(3)}},
		},
		{
			name: "not JSON",
			m:    Mapping{Question: "q", Answer: "a", Context: "c", InputTokens: "t"},
			req:  `question=hi`,
			resp: `<html>oops</html>`,
			want: Call{},
		},
		{
			name: "cut JSON",
			m:    Mapping{Answer: "answer", Context: "context"},
			resp: `{"answer":"It is 42.","context":[{"content":"c1"},{"content":"c2 is cu`,
			want: Call{Answer: "It is 42.", Output: []Message{{Role: "assistant", Parts: textParts("It is 42.")}}, Documents: []Document{{Content: "c1"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := compileMapping(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			x := &Exchange{Method: "POST", Path: "/score", Status: 200, RequestBody: []byte(tc.req),
				ResponseBody: []byte(tc.resp), ResponseHeader: http.Header{}}
			got := m.extract(x)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("the call does not marshal: %v", err)
			}
		})
	}
}
