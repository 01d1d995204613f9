package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

const apiKeyColumns = `id, name, scopes, hash, created_ns, last_used_ns, revoked_ns`

// CreateAPIKey records k with a new ID.
func (s *Store) CreateAPIKey(ctx context.Context, k model.APIKey) (model.APIKey, error) {
	if k.Name == "" || len(k.Hash) == 0 || len(k.Scopes) == 0 {
		return model.APIKey{}, errors.New("sqlite: create api key: name, hash and scopes are required")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	k.ID = hex.EncodeToString(b[:])
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = k.CreatedAt.UTC(), time.Time{}, time.Time{}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM api_keys WHERE name = ? AND revoked_ns = 0`, k.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("an active key is named %q: %w", k.Name, store.ErrConflict)
		}
		_, err := tx.Exec(`INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, 0, 0)`,
			k.ID, k.Name, strings.Join(k.Scopes, ","), k.Hash, nsOf(k.CreatedAt))
		return err
	})
	if err != nil {
		return model.APIKey{}, fmt.Errorf("sqlite: create api key %s: %w", k.Name, err)
	}
	return k, nil
}

// ListAPIKeys returns every key, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]model.APIKey, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_ns, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list api keys: %w", err)
	}
	defer rows.Close()
	var out []model.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list api keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey revokes the active key with that ID or name.
func (s *Store) RevokeAPIKey(ctx context.Context, idOrName string, now time.Time) (model.APIKey, error) {
	var out model.APIKey
	err := s.write(ctx, func(tx *sql.Tx) error {
		k, err := scanAPIKey(tx.QueryRow(`SELECT `+apiKeyColumns+` FROM api_keys
			WHERE revoked_ns = 0 AND (id = ?1 OR name = ?1) ORDER BY id = ?1 DESC LIMIT 1`, idOrName))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		k.RevokedAt = now.UTC()
		if _, err := tx.Exec(`UPDATE api_keys SET revoked_ns = ? WHERE id = ?`, nsOf(k.RevokedAt), k.ID); err != nil {
			return err
		}
		out = k
		return nil
	})
	if err != nil {
		return model.APIKey{}, fmt.Errorf("sqlite: revoke api key %s: %w", idOrName, err)
	}
	return out, nil
}

// TouchAPIKeys records when keys were last used.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for id, at := range used {
			if _, err := tx.Exec(`UPDATE api_keys SET last_used_ns = max(last_used_ns, ?) WHERE id = ?`, nsOf(at), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: record api key use: %w", err)
	}
	return nil
}

func scanAPIKey(row interface{ Scan(...any) error }) (model.APIKey, error) {
	var (
		k                      model.APIKey
		scopes                 string
		created, used, revoked int64
	)
	if err := row.Scan(&k.ID, &k.Name, &scopes, &k.Hash, &created, &used, &revoked); err != nil {
		return model.APIKey{}, err
	}
	if scopes != "" {
		k.Scopes = strings.Split(scopes, ",")
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = timeOf(created), timeOf(used), timeOf(revoked)
	return k, nil
}
