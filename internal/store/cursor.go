package store

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Service cursors (ServiceQuery.Cursor) are the same for every backend,
// so that a cursor stays valid across a copy from one to another:
// URL-safe base64 (unpadded) of a version byte 's', the last entry's
// service length as a uvarint, its service, then its deployment.
const serviceCursorVersion = 's'

// maxServiceCursorLen bounds what DecodeServiceCursor reads: two names of
// the longest an id may be, encoded.
const maxServiceCursorLen = 4 * 256

// EncodeServiceCursor is the cursor continuing after (service, deployment).
func EncodeServiceCursor(service, deployment string) string {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(service)+len(deployment))
	b = append(b, serviceCursorVersion)
	b = binary.AppendUvarint(b, uint64(len(service)))
	b = append(b, service...)
	b = append(b, deployment...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeServiceCursor reads a cursor of EncodeServiceCursor; any other
// string is ErrInvalidCursor (wrapped).
func DecodeServiceCursor(c string) (service, deployment string, err error) {
	bad := fmt.Errorf("services cursor: %w", ErrInvalidCursor)
	if len(c) > maxServiceCursorLen {
		return "", "", bad
	}
	b, derr := base64.RawURLEncoding.DecodeString(c)
	if derr != nil || len(b) < 2 || b[0] != serviceCursorVersion {
		return "", "", bad
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return "", "", bad
	}
	rest := b[1+k:]
	return string(rest[:n]), string(rest[n:]), nil
}
