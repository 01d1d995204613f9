package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

func testAPIKeys(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if keys, err := s.ListAPIKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("ListAPIKeys of an empty store = %v, %v", keys, err)
	}
	ci, err := s.CreateAPIKey(ctx, model.APIKey{Name: "ci", Scopes: []string{"ingest"}, Hash: []byte("hash-ci"), CreatedAt: t0})
	if err != nil || ci.ID == "" {
		t.Fatalf("CreateAPIKey = %+v, %v", ci, err)
	}
	ops, err := s.CreateAPIKey(ctx, model.APIKey{Name: "ops", Scopes: []string{"admin", "read"}, Hash: []byte("hash-ops"), CreatedAt: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIKey(ctx, model.APIKey{Name: "ci", Scopes: []string{"read"}, Hash: []byte("hash-ci-2"), CreatedAt: t0}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second active key named ci: err = %v, want ErrConflict", err)
	}
	keys, err := s.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.APIKey{ci, ops}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("ListAPIKeys (-want +got):\n%s", diff)
	}

	// Last use: recorded, never moved back, unknown ids ignored.
	used := t0.Add(time.Hour)
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{ci.ID: used, "unknown": used}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{ci.ID: t0}); err != nil {
		t.Fatal(err)
	}

	// Revoke by name, then by id; a revoked key cannot be revoked again
	// and frees its name.
	r, err := s.RevokeAPIKey(ctx, "ci", t0.Add(2*time.Hour))
	if err != nil || r.ID != ci.ID || !r.RevokedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("RevokeAPIKey(ci) = %+v, %v", r, err)
	}
	if _, err := s.RevokeAPIKey(ctx, ci.ID, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking a revoked key: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeAPIKey(ctx, "nobody", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking an unknown key: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeAPIKey(ctx, ops.ID, t0.Add(3*time.Hour)); err != nil {
		t.Errorf("RevokeAPIKey by id: %v", err)
	}
	again, err := s.CreateAPIKey(ctx, model.APIKey{Name: "ci", Scopes: []string{"ingest"}, Hash: []byte("hash-ci-3"), CreatedAt: t0.Add(4 * time.Hour)})
	if err != nil {
		t.Fatalf("a new key with a revoked key's name: %v", err)
	}
	keys, err = s.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("ListAPIKeys = %d keys, want 3 (revoked ones stay)", len(keys))
	}
	if k := keys[0]; k.Active() || !k.LastUsedAt.Equal(used) {
		t.Errorf("revoked ci = %+v: want revoked, last used %s", k, used)
	}
	if k := keys[1]; k.Active() || !k.RevokedAt.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("revoked ops = %+v", k)
	}
	if k := keys[2]; k.ID != again.ID || !k.Active() {
		t.Errorf("new ci = %+v, want %+v", k, again)
	}
}
