package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// maxSessions bounds the dashboard sessions kept in memory.
const maxSessions = 10000

// sessions are the dashboard's sign-ins, kept in memory (a restart signs
// everyone out). The cookie holds a random token; the server keeps only
// its SHA-256 and the id of the key signed in with, never the key.
type sessions struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[[sha256.Size]byte]session
}

type session struct {
	keyID   string
	expires time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, m: map[[sha256.Size]byte]session{}}
}

// create starts a session for keyID and returns its token.
func (s *sessions) create(keyID string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
			}
		}
		// Still full: drop arbitrary sessions (their users sign in again)
		// rather than grow without bound.
		for k := range s.m {
			if len(s.m) < maxSessions {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[sha256.Sum256([]byte(token))] = session{keyID: keyID, expires: now.Add(s.ttl)}
	return token
}

// get returns the key id of a live session.
func (s *sessions) get(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	h := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[h]
	if !ok {
		return "", false
	}
	if !s.now().Before(v.expires) {
		delete(s.m, h)
		return "", false
	}
	return v.keyID, true
}

// end forgets a session.
func (s *sessions) end(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(token)))
}
