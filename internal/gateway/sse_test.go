package gateway

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSSEEvents(t *testing.T) {
	type ev struct{ Name, Data string }
	read := func(b string, complete bool) []ev {
		var out []ev
		eachEvent([]byte(b), complete, func(e sseEvent) bool {
			out = append(out, ev{e.name, string(e.data)})
			return true
		})
		return out
	}
	for _, tc := range []struct {
		name     string
		in       string
		complete bool
		want     []ev
	}{
		{"chat chunks", "data: {\"a\":1}\n\ndata: [DONE]\n\n", true, []ev{{"", `{"a":1}`}, {"", "[DONE]"}}},
		{"named events, CRLF", "event: response.created\r\ndata: {}\r\n\r\n: keep-alive\r\n\r\nevent: x\r\ndata:1\r\n\r\n", true, []ev{{"response.created", "{}"}, {"x", "1"}}},
		{"CR only", "data: a\r\rdata: b\r\r", true, []ev{{"", "a"}, {"", "b"}}},
		{"multi-line data", "data: a\ndata: b\nid: 3\nretry: 10\n\n", true, []ev{{"", "a\nb"}}},
		{"no final blank line", "data: a\n\ndata: b\n", true, []ev{{"", "a"}, {"", "b"}}},
		{"cut: last event dropped", "data: a\n\ndata: {\"b\":", false, []ev{{"", "a"}}},
		{"cut after a whole line: last event still dropped", "data: a\n\nevent: e\ndata: b\n", false, []ev{{"", "a"}}},
		{"no data, no event", "event: ping\n\n:comment\n\n", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, read(tc.in, tc.complete)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestTailEvents(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`ent":"x"}]}` + "\n\ndata: {\"u\":1}\n\n", "data: {\"u\":1}\n\n"},
		{"data: {\"u\":1}\n\n", "data: {\"u\":1}\n\n"},
		{"event: response.completed\ndata: {}\n\n", "event: response.completed\ndata: {}\n\n"},
		{"\n\ndata: x\n\n", "\ndata: x\n\n"},
		{"no boundary at all", ""},
		{"", ""},
	} {
		if got := string(tailEvents([]byte(tc.in))); got != tc.want {
			t.Errorf("tailEvents(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecodeBody(t *testing.T) {
	text := []byte(strings.Repeat(`{"choices":[{"message":{"content":"hello"}}]}`, 50))
	compress := func(w io.WriteCloser, b *bytes.Buffer) []byte {
		if _, err := w.Write(text); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	var gz, zl, fl bytes.Buffer
	gzipped := compress(gzip.NewWriter(&gz), &gz)
	zlibbed := compress(zlib.NewWriter(&zl), &zl)
	fw, _ := flate.NewWriter(&fl, flate.BestSpeed)
	deflated := compress(fw, &fl)

	for _, tc := range []struct {
		name, enc string
		in        []byte
		want      []byte
		cut, ok   bool
	}{
		{"identity", "", text, text, false, true},
		{"identity named", "Identity", text, text, false, true},
		{"gzip", "gzip", gzipped, text, false, true},
		{"x-gzip, and identity", "x-gzip, identity", gzipped, text, false, true},
		{"deflate (zlib)", "deflate", zlibbed, text, false, true},
		{"deflate (raw)", "deflate", deflated, text, false, true},
		{"gzip cut: read as far as it goes", "gzip", gzipped[:len(gzipped)/2], nil, true, true},
		{"not gzip at all", "gzip", text, nil, true, true},
		{"br", "br", text, nil, false, false},
		{"zstd after gzip", "gzip, zstd", gzipped, nil, false, false},
		{"too many codings", "identity, identity, identity, identity", text, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut, ok := decodeBody(tc.in, tc.enc, 1<<20)
			if ok != tc.ok || cut != tc.cut {
				t.Fatalf("cut, ok = %v, %v; want %v, %v", cut, ok, tc.cut, tc.ok)
			}
			if tc.want != nil && !bytes.Equal(got, tc.want) {
				t.Errorf("decoded %d bytes, want %d", len(got), len(tc.want))
			}
			if tc.cut && tc.want == nil && !bytes.HasPrefix(text, got) {
				t.Errorf("a cut body decoded to %q, not a prefix of the text", got)
			}
		})
	}
}

// TestDecodeBodyBomb: 1 GiB of zeros gzips to about 1 MiB; it must cost
// the limit, not a gigabyte.
func TestDecodeBodyBomb(t *testing.T) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range 64 { // 64 MiB is enough to pass every limit here, quickly
		if _, err := zw.Write(zero); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	limit := decodedLimit(b.Len())
	got, cut, ok := decodeBody(b.Bytes(), "gzip", limit)
	if !ok || !cut || len(got) != limit {
		t.Errorf("decoded %d bytes (cut %v, ok %v), want the limit %d, cut", len(got), cut, ok, limit)
	}
	if limit > 4*DefaultMaxRecordBytes {
		t.Errorf("limit %d for a %d-byte body", limit, b.Len())
	}
}
