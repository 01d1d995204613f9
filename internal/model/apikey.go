package model

import "time"

// Scopes of an API key: what its holder may do.
const (
	// ScopeIngest sends telemetry (OTLP over HTTP and gRPC, the gateway).
	ScopeIngest = "ingest"
	// ScopeRead reads everything: the API's GET routes, the dashboard,
	// /metrics.
	ScopeRead = "read"
	// ScopeAdmin changes what the server does: monitors, runs, channel
	// tests, silences, acknowledgements, keys. It implies read (not
	// ingest).
	ScopeAdmin = "admin"
)

// APIKey is a stored API key. The secret itself is never stored: Hash is
// the SHA-256 of the key as given to its holder.
type APIKey struct {
	// ID is assigned by the store (a short random text).
	ID   string
	Name string
	// Scopes are ScopeIngest, ScopeRead and ScopeAdmin, sorted, without
	// duplicates.
	Scopes []string
	Hash   []byte
	// CreatedAt is when the key was made; LastUsedAt when it last
	// passed a check (zero: never, or not recorded yet); RevokedAt when
	// it was revoked (zero: active).
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

// Active reports whether the key has not been revoked.
func (k APIKey) Active() bool { return k.RevokedAt.IsZero() }
