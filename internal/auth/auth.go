package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Modes of the auth setting.
const (
	// ModeAuto (the default): keys are required once one has been
	// created (revoking every key does not open the server again), and
	// always when a listener is beyond loopback (where the server refuses
	// to start without an active key).
	ModeAuto = "auto"
	// ModeKeys requires a key on every request, even on loopback and
	// before any key exists.
	ModeKeys = "keys"
	// ModeNone checks no key: for a network every client of which may read
	// and change everything.
	ModeNone = "none"
)

// DefaultCacheTTL is how long the active keys read from the store are
// used before they are read again.
const DefaultCacheTTL = 2 * time.Second

// missReload is how soon after the last read a key that is not in the
// copy makes the keys be read again (so a key just created works at
// once, while wrong keys cost at most this many reads).
const missReload = 250 * time.Millisecond

// touchInterval is how often the last use of keys is written to the
// store.
const touchInterval = 30 * time.Second

// Errors of a check. Both are answered 401; the messages never say
// whether a key exists.
var (
	// ErrNoKey: keys are required and none was presented.
	ErrNoKey = errors.New("an API key is required")
	// ErrBadKey: the key presented is not an active key (unknown,
	// revoked or malformed: the same answer for all three).
	ErrBadKey = errors.New("the API key is not valid")
	// ErrForbidden: the key is valid but lacks the scope.
	ErrForbidden = errors.New("the API key does not have the scope this request needs")
)

// KeyStore is where the keys are read from (store.APIKeys).
type KeyStore interface {
	ListAPIKeys(ctx context.Context) ([]model.APIKey, error)
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}

// Options configures an Authenticator.
type Options struct {
	Keys KeyStore
	// Mode is ModeAuto (also for ""), ModeKeys or ModeNone.
	Mode string
	// Loopback says every listener is on a loopback address; in ModeAuto
	// keys are then optional until one exists.
	Loopback bool
	// CacheTTL: 0 means DefaultCacheTTL.
	CacheTTL time.Duration
	// SecureCookies marks the session cookie Secure (TLS, or an https
	// public_url).
	SecureCookies bool
	// SessionTTL bounds a dashboard session; 0 means 12 hours.
	SessionTTL time.Duration
	// Now: nil means time.Now.
	Now func() time.Time
}

// Principal is who a request acts as.
type Principal struct {
	// KeyID and Name are empty when keys are not enforced (anyone).
	KeyID  string
	Name   string
	Scopes []string
}

// anyone is the principal of requests when keys are not enforced.
var anyone = Principal{Scopes: AllScopes}

// entry is an active key as checked.
type entry struct {
	id, name string
	scopes   []string
	hash     []byte
}

// Authenticator checks keys against the store.
type Authenticator struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	keys     []entry
	ever     bool // a key was ever created (revoked ones count)
	loadedAt time.Time
	loaded   bool
	// reloading says a request is reading the keys again; invalid that
	// Invalidate was called since the copy was read, and gen counts the
	// calls, so that a read it overlapped is not taken as current.
	reloading, invalid bool
	gen                uint64
	used               map[string]time.Time // last use not yet written
	touched            time.Time
	touching           bool

	sessions *sessions
}

// New returns an Authenticator.
func New(opts Options, logger *slog.Logger) (*Authenticator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch opts.Mode {
	case "":
		opts.Mode = ModeAuto
	case ModeAuto, ModeKeys, ModeNone:
	default:
		return nil, fmt.Errorf("auth: unknown mode %q (auto, keys or none)", opts.Mode)
	}
	if opts.Keys == nil && opts.Mode != ModeNone {
		return nil, errors.New("auth: no key store")
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Authenticator{o: opts, log: logger.With("component", "auth"), used: map[string]time.Time{},
		sessions: newSessions(opts.SessionTTL, opts.Now)}, nil
}

// Mode is the effective mode (ModeAuto for "").
func (a *Authenticator) Mode() string { return a.o.Mode }

// active returns the active keys, read again from the store when the
// copy is older than CacheTTL. When the store cannot be read, the last
// copy is used; without one, the error is returned (and requests fail
// closed).
func (a *Authenticator) active(ctx context.Context) ([]entry, error) {
	return a.activeWithin(ctx, a.o.CacheTTL)
}

// activeWithin is active with a copy at most ttl old.
func (a *Authenticator) activeWithin(ctx context.Context, ttl time.Duration) ([]entry, error) {
	if a.o.Mode == ModeNone {
		return nil, nil
	}
	now := a.o.Now()
	a.mu.Lock()
	if a.loaded && now.Sub(a.loadedAt) < ttl && now.Sub(a.loadedAt) >= 0 {
		keys := a.keys
		a.mu.Unlock()
		return keys, nil
	}
	// The copy is old: one request reads the keys again, outside the lock,
	// and the others meanwhile check against the copy they have, so that
	// a slow read (a busy store) never holds every request of the server
	// (OTLP, API, gateway calls) behind it. Not after Invalidate: a key
	// created or revoked here must count at once.
	if a.loaded && a.reloading && !a.invalid {
		keys := a.keys
		a.mu.Unlock()
		return keys, nil
	}
	a.reloading = true
	gen := a.gen
	a.mu.Unlock()
	all, err := a.o.Keys.ListAPIKeys(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reloading = false
	if err != nil {
		if a.loaded {
			a.log.Warn("api_keys_reload_failed", "err", err)
			return a.keys, nil
		}
		return nil, fmt.Errorf("read api keys: %w", err)
	}
	keys := make([]entry, 0, len(all))
	for _, k := range all {
		if k.Active() {
			keys = append(keys, entry{id: k.ID, name: k.Name, scopes: k.Scopes, hash: k.Hash})
		}
	}
	a.keys, a.ever, a.loaded = keys, len(all) > 0, true
	if gen == a.gen {
		// Unless Invalidate came during the read (which may then have
		// missed the change), the copy is current.
		a.loadedAt, a.invalid = now, false
	}
	a.flushUsedLocked(now)
	return keys, nil
}

// flushUsedLocked writes the last use of keys, in the background, at
// most every touchInterval.
func (a *Authenticator) flushUsedLocked(now time.Time) {
	if len(a.used) == 0 || a.touching || now.Sub(a.touched) < touchInterval {
		return
	}
	used := a.used
	a.used, a.touched, a.touching = map[string]time.Time{}, now, true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.o.Keys.TouchAPIKeys(ctx, used); err != nil {
			a.log.Warn("api_keys_touch_failed", "err", err)
		}
		a.mu.Lock()
		a.touching = false
		a.mu.Unlock()
	}()
}

// Invalidate makes the next check read the keys from the store (after
// a key was created or revoked through this server).
func (a *Authenticator) Invalidate() {
	a.mu.Lock()
	a.loadedAt, a.invalid = time.Time{}, true
	a.gen++
	a.mu.Unlock()
}

// Enforced reports whether requests need a key now.
func (a *Authenticator) Enforced(ctx context.Context) (bool, error) {
	switch a.o.Mode {
	case ModeNone:
		return false, nil
	case ModeKeys:
		return true, nil
	}
	if !a.o.Loopback {
		return true, nil
	}
	if _, err := a.active(ctx); err != nil {
		return true, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ever, nil
}

// ActiveKeys is the number of active keys (read through the cache).
func (a *Authenticator) ActiveKeys(ctx context.Context) (int, error) {
	keys, err := a.active(ctx)
	return len(keys), err
}

// Check authenticates a presented key (empty: none) for a request that
// needs scope need ("" for none). When keys are not enforced every
// request acts as anyone.
func (a *Authenticator) Check(ctx context.Context, key, need string) (Principal, error) {
	enforced, err := a.Enforced(ctx)
	if err != nil {
		return Principal{}, err
	}
	if !enforced {
		return anyone, nil
	}
	if key == "" {
		if need == "" {
			return Principal{}, nil
		}
		return Principal{}, ErrNoKey
	}
	p, err := a.lookup(ctx, key)
	if err != nil {
		return Principal{}, err
	}
	if !Grants(p.Scopes, need) {
		return p, ErrForbidden
	}
	return p, nil
}

// lookup finds the active key presented, comparing its hash with every
// active key's in constant time: the cost depends on the number of keys,
// never on which (if any) matches.
func (a *Authenticator) lookup(ctx context.Context, key string) (Principal, error) {
	keys, err := a.active(ctx)
	if err != nil {
		return Principal{}, err
	}
	h := Hash(key)
	found := find(keys, h)
	if found < 0 && wellFormed(key) {
		// Perhaps a key created since the copy was read.
		if keys, err = a.activeWithin(ctx, min(missReload, a.o.CacheTTL)); err != nil {
			return Principal{}, err
		}
		found = find(keys, h)
	}
	if found < 0 || !wellFormed(key) {
		return Principal{}, ErrBadKey
	}
	k := keys[found]
	a.mu.Lock()
	a.used[k.id] = a.o.Now()
	a.mu.Unlock()
	return Principal{KeyID: k.id, Name: k.name, Scopes: k.scopes}, nil
}

// find returns the index of the key with hash h, -1 if none, comparing
// with every key in constant time.
func find(keys []entry, h []byte) int {
	found := -1
	for i, k := range keys {
		if subtle.ConstantTimeCompare(h, k.hash) == 1 {
			found = i
		}
	}
	return found
}

// byID returns the active key with that id (sessions follow their key:
// revoking it ends them).
func (a *Authenticator) byID(ctx context.Context, id string) (Principal, bool, error) {
	keys, err := a.active(ctx)
	if err != nil {
		return Principal{}, false, err
	}
	for _, k := range keys {
		if k.id == id {
			return Principal{KeyID: k.id, Name: k.name, Scopes: k.scopes}, true, nil
		}
	}
	return Principal{}, false, nil
}
