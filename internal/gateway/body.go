package gateway

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"strings"
)

// body is a recorded body as the readers see it: decoded, with what is
// known of its end.
type body struct {
	// head is the body's first bytes, decoded.
	head []byte
	// tail is the last bytes of a truncated body that was not compressed
	// (a compressed stream cannot be decoded from its middle): the end of
	// an event stream, where usage is reported.
	tail []byte
	// cut says head is not the whole body: the recording was truncated,
	// the body was cut on its way, or it inflated past the bound.
	cut bool
}

// maxContentCodings bounds the Content-Encoding list a body may carry;
// real answers carry one.
const maxContentCodings = 3

// decodedLimit is how far a compressed body of n bytes may inflate: a few
// times the recording bound, so that a decompression bomb costs a few
// megabytes of the recorder's memory and nothing more. (The body is at
// most max_record_bytes, so this is 4 x max_record_bytes for the default
// and larger settings, and 4 MiB for smaller ones.)
func decodedLimit(n int) int { return 4 * max(n, DefaultMaxRecordBytes) }

// readBody decodes a recorded body. An encoding the gateway cannot read
// (br, zstd: the proxy narrows Accept-Encoding, but a request body may
// still come compressed) yields an empty body: nothing is read from it
// rather than garbage.
func readBody(raw []byte, encoding string, truncated bool, tail []byte) body {
	out, cut, ok := decodeBody(raw, encoding, decodedLimit(len(raw)))
	if !ok {
		return body{cut: true}
	}
	b := body{head: out, cut: cut || truncated}
	if truncated && identity(encoding) {
		// The tail is the same bytes' end, readable on its own.
		b.tail = tail
	}
	return b
}

// identity says a Content-Encoding leaves the bytes as they are.
func identity(encoding string) bool {
	for c := range strings.SplitSeq(encoding, ",") {
		if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
			return false
		}
	}
	return true
}

// decodeBody undoes a Content-Encoding, keeping at most limit bytes. cut
// says the decoded body stops early (a truncated compressed stream, or one
// that inflated past limit); ok false says an encoding is not understood.
// Codings apply in the order listed, so they are undone from the last.
func decodeBody(raw []byte, encoding string, limit int) (out []byte, cut, ok bool) {
	out = raw
	if strings.TrimSpace(encoding) == "" {
		return out, false, true
	}
	codings := strings.Split(encoding, ",")
	if len(codings) > maxContentCodings {
		return nil, false, false
	}
	for i := len(codings) - 1; i >= 0; i-- {
		var c bool
		switch strings.ToLower(strings.TrimSpace(codings[i])) {
		case "", "identity":
			continue
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(bytes.NewReader(out))
			if err != nil {
				return nil, true, true
			}
			out, c = inflate(zr, limit)
		case "deflate":
			// HTTP's deflate is zlib-wrapped, but some servers send bare
			// deflate data: try the one, then the other.
			if zr, err := zlib.NewReader(bytes.NewReader(out)); err == nil {
				out, c = inflate(zr, limit)
			} else {
				out, c = inflate(flate.NewReader(bytes.NewReader(out)), limit)
			}
		default:
			return nil, false, false
		}
		cut = cut || c
	}
	return out, cut, true
}

// inflate reads r up to limit bytes. A stream that ends early (a
// truncated recording) or breaks keeps what was read before: a cut body
// is read as far as it goes.
func inflate(r io.Reader, limit int) ([]byte, bool) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(out) > limit {
		return out[:limit], true
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return out, true
	}
	return out, false
}
