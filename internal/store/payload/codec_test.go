package payload

import (
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/model"
)

func TestCodec(t *testing.T) {
	large := []byte(strings.Repeat(`{"text":"the same words again and again"}`, 100))
	small := []byte(`{"a":1}`)
	for _, tc := range []struct {
		compression string
		marker      byte
	}{{"s2", markerS2}, {"zstd", markerZstd}, {"", markerS2}} {
		c, err := NewCodec(tc.compression, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, p := range [][]byte{small, large} {
			blob := c.Seal(p)
			want := byte(markerJSON)
			if len(p) >= compressThreshold {
				want = tc.marker
				if len(blob) > len(p)/4 {
					t.Errorf("%c: %d bytes compressed to %d", tc.marker, len(p), len(blob))
				}
			}
			if blob[0] != want {
				t.Errorf("%d bytes sealed with marker %q, want %q", len(p), blob[0], want)
			}
			got, err := c.Open(blob)
			if err != nil || string(got) != string(p) {
				t.Errorf("%c: round trip of %d bytes: %v", tc.marker, len(p), err)
			}
			if len(blob) > 8 {
				if _, err := c.Open(blob[:len(blob)/2]); err == nil && blob[0] != markerJSON {
					t.Errorf("%c: truncated blob opened without error", blob[0])
				}
			}
		}
	}
	if _, err := NewCodec("gzip", 1); err == nil {
		t.Error("NewCodec(gzip) succeeded")
	}
	c, _ := NewCodec("s2", 1)
	defer c.Close()
	for _, bad := range [][]byte{nil, {}, {'x', 1, 2}, {markerS2, 0xff, 0xff, 0xff, 0xff, 0x0f}, {markerZstd, 1, 2, 3}} {
		if _, err := c.Open(bad); err == nil {
			t.Errorf("open(%q) succeeded", bad)
		}
	}
}

// FuzzDecodeBlob feeds arbitrary blobs to the decoders used on stored data:
// they may fail, never panic.
func FuzzDecodeBlob(f *testing.F) {
	c, err := NewCodec("s2", 1)
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	zc, err := NewCodec("zstd", 1)
	if err != nil {
		f.Fatal(err)
	}
	defer zc.Close()
	sp := model.Span{TraceID: "t", SpanID: "s", Attributes: map[string]any{"x": strings.Repeat("abc ", 300), "b": []byte{1}},
		Events: []model.Event{{Name: "e"}}}
	payload, _ := AppendSpan(nil, &sp)
	f.Add(c.Seal(payload))
	f.Add(zc.Seal(payload))
	f.Add(append([]byte{markerJSON}, `{"r":{"a":{"x":{"$b":"AAE="},"y":{"$f":"NaN"},"z":{"$m":{"$q":1}}}},"d":{}}`...))
	f.Add(append([]byte{markerJSON}, `{"b":{"$u":"/w=="},"a":{"n":1e400}}`...))
	f.Add([]byte{markerS2, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, blob []byte) {
		p, err := c.Open(blob)
		if err != nil {
			return
		}
		var s model.Span
		_ = DecodeSpan(p, &s)
		var l model.LogRecord
		_ = DecodeLog(p, &l)
		var tr model.Trace
		_ = DecodeTrace(p, &tr)
	})
}
