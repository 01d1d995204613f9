// Package auth decides who may do what: API keys with scopes (ingest,
// read, admin), checked on every HTTP request and OTLP/gRPC call, and the
// dashboard's cookie sessions signed in with a key.
//
// A key is "fw_" followed by 64 hexadecimal digits (256 random bits). The
// store keeps only its SHA-256; a presented key is hashed and compared, in
// constant time, with the hash of every active key, so a check costs the
// same whether the key exists, was revoked or never did. The active keys
// are read from the store at most every CacheTTL (2 s by default), so a
// key created or revoked by another process is seen within that time.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
)

// KeyPrefix starts every key, so that secret scanners recognise one.
const KeyPrefix = "fw_"

// keyHexLen is the number of hexadecimal digits after the prefix.
const keyHexLen = 64

// NewKey returns a new key and its hash (what the store keeps).
func NewKey() (key string, hash []byte) {
	var b [keyHexLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	key = KeyPrefix + hex.EncodeToString(b[:])
	return key, Hash(key)
}

// Hash is the SHA-256 of a key, as stored.
func Hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// AllScopes are the scopes a key may have.
var AllScopes = []string{model.ScopeIngest, model.ScopeRead, model.ScopeAdmin}

// ParseScopes reads a comma-separated list of scopes ("read,ingest") and
// returns them sorted, without duplicates.
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if !slices.Contains(AllScopes, f) {
			return nil, fmt.Errorf("unknown scope %q: the scopes are ingest, read and admin", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scope given: name one or more of ingest, read and admin")
	}
	slices.Sort(out)
	return out, nil
}

// Grants reports whether a key with scopes may do what need requires.
// admin implies read; nothing implies ingest (keys given to applications
// are kept apart from the keys of people). An empty need is always
// granted.
func Grants(scopes []string, need string) bool {
	if need == "" || slices.Contains(scopes, need) {
		return true
	}
	return need == model.ScopeRead && slices.Contains(scopes, model.ScopeAdmin)
}

// wellFormed reports whether s looks like a key this package made, a
// cheap first check that depends only on the presented text.
func wellFormed(s string) bool {
	if len(s) != len(KeyPrefix)+keyHexLen || !strings.HasPrefix(s, KeyPrefix) {
		return false
	}
	for i := len(KeyPrefix); i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
