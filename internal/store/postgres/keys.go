package postgres

// API keys (schema: migrations/0005_alerts.sql): only their hashes are
// stored. Reads go to the primary: a key revoked through one replica must
// stop working on every replica as soon as their caches refresh, not when
// a read replica catches up.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

const apiKeyColumns = `id, name, scopes, hash, created_ns, last_used_ns, revoked_ns`

// CreateAPIKey records k with a new ID; ErrConflict when an active key
// has its name. The unique index on the active keys' names decides, so
// two replicas creating one name at once cannot both succeed.
func (s *Store) CreateAPIKey(ctx context.Context, k model.APIKey) (model.APIKey, error) {
	if k.Name == "" || len(k.Hash) == 0 || len(k.Scopes) == 0 {
		return model.APIKey{}, errors.New("postgres: create api key: name, hash and scopes are required")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	k.ID = hex.EncodeToString(b[:])
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = k.CreatedAt.UTC(), time.Time{}, time.Time{}
	if s.closed.Load() {
		return model.APIKey{}, store.ErrClosed
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, 0, 0)`,
		k.ID, k.Name, k.Scopes, k.Hash, epochNS(k.CreatedAt))
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "api_keys_active_name":
		return model.APIKey{}, fmt.Errorf("postgres: create api key %s: an active key has that name: %w", k.Name, store.ErrConflict)
	case err != nil:
		return model.APIKey{}, fmt.Errorf("postgres: create api key %s: %w", k.Name, s.mapErr(err))
	}
	return k, nil
}

// ListAPIKeys returns every key, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]model.APIKey, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_ns, id`)
	if err != nil {
		return nil, s.alertErr("list api keys", err)
	}
	out, err := collectAlertRows(rows, scanAPIKey)
	if err != nil {
		return nil, s.alertErr("list api keys", err)
	}
	return out, nil
}

// RevokeAPIKey revokes the active key with that ID or name (the ID wins
// when one key's ID is another's name).
func (s *Store) RevokeAPIKey(ctx context.Context, idOrName string, now time.Time) (model.APIKey, error) {
	var out model.APIKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		k, err := scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
			WHERE revoked_ns = 0 AND (id = $1 OR name = $1) ORDER BY id = $1 DESC LIMIT 1 FOR UPDATE`, idOrName))
		if notFound(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		k.RevokedAt = now.UTC()
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_ns = $1 WHERE id = $2`, epochNS(k.RevokedAt), k.ID); err != nil {
			return err
		}
		out = k
		return nil
	})
	if err != nil {
		return model.APIKey{}, fmt.Errorf("postgres: revoke api key %s: %w", idOrName, err)
	}
	return out, nil
}

// TouchAPIKeys records when keys were last used, in one transaction of
// one round trip. The rows are locked in id order first, so that two
// replicas recording the same keys at once wait for each other instead of
// deadlocking.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]string, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ns := make([]int64, len(ids))
	for i, id := range ids {
		ns[i] = epochNS(used[id])
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var b pgx.Batch
		b.Queue(`SELECT id FROM api_keys WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		b.Queue(`UPDATE api_keys k SET last_used_ns = GREATEST(k.last_used_ns, u.ns)
			FROM unnest($1::text[], $2::bigint[]) AS u(id, ns) WHERE k.id = u.id`, ids, ns)
		return sendBatch(ctx, tx, &b, []string{"lock", "update"})
	})
	if err != nil {
		return fmt.Errorf("postgres: record api key use: %w", err)
	}
	return nil
}

func scanAPIKey(row pgx.Row) (model.APIKey, error) {
	var (
		k                      model.APIKey
		created, used, revoked int64
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Scopes, &k.Hash, &created, &used, &revoked); err != nil {
		return model.APIKey{}, err
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = epochTime(created), epochTime(used), epochTime(revoked)
	return k, nil
}
