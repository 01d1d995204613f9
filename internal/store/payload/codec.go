// Package payload is the stored form of what the storage backends keep as
// opaque bodies: a span's raw fields, a log record, a trace summary. Both
// backends (SQLite and PostgreSQL) store the same bytes, so a body written
// by one reads back through the other and the format is defined once.
//
// A stored body is a blob:
//
//	marker byte | payload
//
// with marker 'j' for a plain JSON payload, 's' for an S2 block (klauspost
// compress/s2) holding the JSON and 'z' for a zstd frame holding it.
// Payloads of at least 512 bytes (compressThreshold) are compressed with the
// codec's compression (Options.Compression of the backend); every codec
// reads all three. An unknown marker is a decoding error, never a guess.
//
// S2 is the default because ingest speed matters more than size: on the
// benchmark load's span bodies (about 5 KB of JSON) S2 compresses about six
// times faster than zstd's fastest level (2 µs against 11 µs per span) and
// stores about 40% more (ratio 2.3 against 3.3).
//
// Attribute values (span, resource, scope, event, link and log attributes,
// log bodies) use a typed JSON form so that every OTLP value type comes back
// as it went in:
//
//	string  -> JSON string ({"$u": base64} if it is not valid UTF-8)
//	bool    -> true / false
//	int64   -> JSON integer (no '.', no exponent)
//	float64 -> JSON number that always has a '.' or an exponent
//	           ({"$f": "NaN" | "+Inf" | "-Inf"} for the values JSON lacks)
//	[]byte  -> {"$b": base64}
//	[]any   -> JSON array
//	map     -> JSON object; a map whose only key starts with '$' is wrapped
//	           as {"$m": map} so it cannot be mistaken for a tag
//
// Decoding uses json.Decoder.UseNumber and turns integers back into int64
// and the other numbers into float64. Trace summaries are plain JSON (see
// trace.go); the free-form values inside them (document metadata) come
// back with numbers as json.Number.
//
// The bytes are pinned by testdata/golden (TestGolden): databases written
// by earlier versions must keep reading back.
package payload

import (
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

const (
	markerJSON = 'j'
	markerS2   = 's'
	markerZstd = 'z'

	// compressThreshold is the payload size from which blobs are
	// compressed: below it compression buys next to nothing.
	compressThreshold = 512

	// maxDecodedBlob bounds what one blob may decompress to.
	maxDecodedBlob = 256 << 20
)

// Codec seals payloads into stored blobs and opens them again. It is safe
// for concurrent use.
type Codec struct {
	zstd bool // compress with zstd instead of S2
	enc  *zstd.Encoder
	dec  *zstd.Decoder
}

// NewCodec returns a codec that compresses large payloads with compression,
// "s2" (the default, also for "") or "zstd"; it opens blobs of either.
// concurrency bounds the zstd encoders and decoders working at once (the
// backends pass GOMAXPROCS). Close releases it.
func NewCodec(compression string, concurrency int) (*Codec, error) {
	var useZstd bool
	switch compression {
	case "", "s2":
	case "zstd":
		useZstd = true
	default:
		return nil, fmt.Errorf("payload: compression must be s2 or zstd, got %q", compression)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(concurrency),
		zstd.WithDecoderMaxMemory(maxDecodedBlob),
	)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &Codec{zstd: useZstd, enc: enc, dec: dec}, nil
}

// Close releases the codec's zstd encoders and decoders.
func (c *Codec) Close() {
	c.enc.Close()
	c.dec.Close()
}

// Seal turns a payload (what the Append functions write) into a stored
// blob: a new slice, so the payload's buffer can be reused at once.
func (c *Codec) Seal(payload []byte) []byte {
	switch {
	case len(payload) < compressThreshold:
		out := make([]byte, 0, len(payload)+1)
		out = append(out, markerJSON)
		return append(out, payload...)
	case c.zstd:
		out := make([]byte, 1, len(payload)/2+16)
		out[0] = markerZstd
		return c.enc.EncodeAll(payload, out)
	default:
		out := make([]byte, 1+s2.MaxEncodedLen(len(payload)))
		out[0] = markerS2
		n := len(s2.Encode(out[1:], payload))
		return out[: 1+n : 1+n]
	}
}

// Open returns the payload of a stored blob, for the Decode functions. For
// an uncompressed blob it is a subslice of blob.
func (c *Codec) Open(blob []byte) ([]byte, error) {
	if len(blob) == 0 {
		return nil, errors.New("empty blob")
	}
	switch blob[0] {
	case markerJSON:
		return blob[1:], nil
	case markerS2:
		n, err := s2.DecodedLen(blob[1:])
		if err != nil {
			return nil, fmt.Errorf("decompress blob: %w", err)
		}
		if n > maxDecodedBlob {
			return nil, fmt.Errorf("decompress blob: %d bytes is over the limit", n)
		}
		out, err := s2.Decode(make([]byte, n), blob[1:])
		if err != nil {
			return nil, fmt.Errorf("decompress blob: %w", err)
		}
		return out, nil
	case markerZstd:
		out, err := c.dec.DecodeAll(blob[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("decompress blob: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown blob encoding %#x", blob[0])
	}
}
