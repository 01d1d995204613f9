package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// Fuzz targets for every reader of recorded bodies: whatever a caller or
// an upstream sends (and however the recording cut it), reading it must
// not panic, must produce a Call that marshals (the spans are JSON), and
// must cost memory in proportion to the input.

// bounded checks that a call read from n bytes of identity bodies is not
// out of proportion with them: JSON escaping may grow text six times,
// and the question and answer of a mapping appear twice.
func bounded(t *testing.T, c Call, n int) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("the call does not marshal: %v", err)
	}
	if len(b) > 16*n+64<<10 {
		t.Fatalf("%d bytes of input made a %d-byte call", n, len(b))
	}
}

// seedCases adds the golden cases' bodies to a corpus.
func seedCases(f *testing.F, add func(tc *extractCase, x *Exchange)) {
	for _, tc := range extractCases(f) {
		add(tc, tc.exchange(f))
	}
}

func FuzzExtractOpenAI(f *testing.F) {
	seedCases(f, func(tc *extractCase, x *Exchange) {
		f.Add(x.Method, x.Path, x.ResponseHeader.Get("Content-Type"), x.ResponseHeader.Get("Content-Encoding"),
			x.Status, x.RequestBody, x.ResponseBody, x.ResponseTail, x.ResponseTruncated)
	})
	f.Add("POST", "/v1/chat/completions", "text/event-stream", "", 200, []byte(`{"stream":true}`),
		[]byte("data: {\"choices\":[{\"index\":99999999999,\"delta\":{\"tool_calls\":[{\"index\":-5}]}}]}\n\n"), []byte("x\n\ndata: {\"usage\":{\"prompt_tokens\":1e400}}"), true)
	f.Add("POST", "/v1/responses", "text/event-stream", "gzip", 200, []byte(`{"input":[{"type":"function_call"}]}`),
		[]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), []byte(`"usage":{"input_tokens":"7"}}`), true)
	f.Fuzz(func(t *testing.T, method, path, contentType, encoding string, status int, req, resp, tail []byte, truncated bool) {
		x := &Exchange{
			Method: method, Path: path, Status: status,
			RequestBody: req, RequestEncoding: encoding, RequestTruncated: truncated,
			ResponseHeader:    http.Header{"Content-Type": {contentType}, "Content-Encoding": {encoding}},
			ResponseBody:      resp,
			ResponseTruncated: truncated, ResponseTail: tail,
		}
		c := extractOpenAI(x, "openai")
		n := len(req) + len(resp) + len(tail)
		if identity(encoding) {
			bounded(t, c, n)
		} else if _, err := json.Marshal(c); err != nil {
			t.Fatalf("the call does not marshal: %v", err)
		}
	})
}

func FuzzMapping(f *testing.F) {
	seedCases(f, func(tc *extractCase, x *Exchange) {
		if tc.Kind != KindJSON {
			return
		}
		for _, p := range []string{tc.Mapping.Question, tc.Mapping.ChatHistory, tc.Mapping.Answer, tc.Mapping.Context, tc.Mapping.InputTokens} {
			if p != "" {
				f.Add(p, x.RequestBody, x.ResponseBody)
			}
		}
	})
	f.Add("$[0].a.#.b[12]", []byte(`[{"a":[{"b":[1]}]}]`), []byte(`"context"`))
	f.Add("a..b", []byte(`{}`), []byte(`{"a":{"b":"c"}}`))
	f.Add("#.#.#", []byte(`[[[1,2],[3]],[[4]]]`), []byte(`[[["a"],[{"text":"b"}]]]`))
	f.Fuzz(func(t *testing.T, path string, req, resp []byte) {
		g, err := compilePath(path)
		if verr := ValidatePath(path); (verr == nil) != (err == nil) {
			t.Fatalf("ValidatePath and compilePath disagree on %q: %v, %v", path, verr, err)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error that says nothing")
			}
			return
		}
		if g == "" {
			t.Fatalf("%q compiled to nothing", path)
		}
		m, err := compileMapping(Mapping{
			Question: path, ChatHistory: path, Answer: path, Context: path,
			Model: path, InputTokens: path, OutputTokens: path, TotalTokens: path,
		})
		if err != nil {
			t.Fatalf("ValidatePath accepts %q but compileMapping refuses it: %v", path, err)
		}
		c := m.extract(&Exchange{Status: 200, RequestBody: req, ResponseBody: resp, ResponseHeader: http.Header{}})
		// The path may be read four times over a list, each copy quoted.
		bounded(t, c, 4*(len(req)+len(resp)))
	})
}

func FuzzSSE(f *testing.F) {
	seedCases(f, func(tc *extractCase, x *Exchange) {
		if bytes.Contains(x.ResponseBody, []byte("data:")) {
			f.Add(x.ResponseBody, x.ResponseTruncated)
		}
	})
	f.Add([]byte("data: a\r\n\r\ndata: b\rdata: c\n\n\r"), false)
	f.Fuzz(func(t *testing.T, b []byte, complete bool) {
		total := 0
		eachEvent(b, complete, func(e sseEvent) bool {
			total += len(e.data)
			return true
		})
		if total > len(b) {
			t.Fatalf("%d bytes of data from %d bytes of stream", total, len(b))
		}
		if tail := tailEvents(b); len(tail) > len(b) || !bytes.HasSuffix(b, tail) {
			t.Fatalf("tailEvents(%q) = %q, not a suffix", b, tail)
		}
	})
}

func FuzzDecodeBody(f *testing.F) {
	for _, enc := range []string{"gzip", "deflate", "identity", "br"} {
		f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x4a\x4c\x4a\x06\x04\x00\x00\xff\xff"), enc)
	}
	f.Fuzz(func(t *testing.T, raw []byte, enc string) {
		const limit = 1 << 16
		out, _, ok := decodeBody(raw, enc, limit)
		if len(out) > limit && !identity(enc) {
			t.Fatalf("decoded %d bytes past the limit %d", len(out), limit)
		}
		if !ok && out != nil {
			t.Fatal("an unknown encoding decoded to something")
		}
	})
}
