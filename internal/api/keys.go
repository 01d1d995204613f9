package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/flowwatch/flowwatch/internal/auth"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// errNoKeys is returned when the API was built without a key store.
var errNoKeys = errors.New("no key store configured")

// maxKeyBodyBytes bounds the body of POST /keys.
const maxKeyBodyBytes = 4 << 10

// keyNameRE is what a key may be named: it starts with a letter, so that
// a name is never taken for an id.
var keyNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// CheckKeyName returns why name cannot name a key ("" when it can).
func CheckKeyName(name string) string {
	if !keyNameRE.MatchString(name) {
		return "a key name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter"
	}
	return ""
}

// APIKey is a key as listed: never its secret.
type APIKey struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	// CreatedAt, LastUsedAt (null: not used yet; recorded about every
	// 30 s) and RevokedAt (null: active).
	CreatedAt  Timestamp  `json:"created_at"`
	LastUsedAt *Timestamp `json:"last_used_at"`
	RevokedAt  *Timestamp `json:"revoked_at"`
}

// APIKeyList is the body of GET /api/v1/keys.
type APIKeyList struct {
	Keys []APIKey `json:"keys"`
}

// APIKeyRequest is the body of POST /api/v1/keys.
type APIKeyRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// CreatedAPIKey is the answer of POST /api/v1/keys: the key, shown this
// once.
type CreatedAPIKey struct {
	APIKey
	Key string `json:"key"`
}

// ToAPIKey is the wire form of a stored key.
func ToAPIKey(k model.APIKey) APIKey {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return APIKey{ID: k.ID, Name: k.Name, Scopes: scopes, CreatedAt: Timestamp{k.CreatedAt}, LastUsedAt: timestamp(k.LastUsedAt), RevokedAt: timestamp(k.RevokedAt)}
}

// listKeys serves GET /api/v1/keys.
func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	if a.keys == nil {
		return errNoKeys
	}
	ctx, cancel, err := a.start(r)
	if err != nil {
		return err
	}
	defer cancel()
	keys, err := a.keys.ListAPIKeys(ctx)
	if err != nil {
		return fmt.Errorf("list api keys: %w", err)
	}
	out := APIKeyList{Keys: make([]APIKey, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, ToAPIKey(k))
	}
	a.writeJSON(w, r, out)
	return nil
}

// createKey serves POST /api/v1/keys: 201 with the key, shown once.
func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	body, err := readBody(w, r, maxKeyBodyBytes)
	if err != nil {
		return err
	}
	var req APIKeyRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return &requestError{`invalid body: send {"name": "NAME", "scopes": ["ingest", "read", "admin"]}`}
	}
	if msg := CheckKeyName(req.Name); msg != "" {
		return &requestError{fmt.Sprintf("invalid \"name\" %q: %s", clip(req.Name), msg)}
	}
	scopes, err := auth.ParseScopes(strings.Join(req.Scopes, ","))
	if err != nil {
		return &requestError{fmt.Sprintf("invalid \"scopes\": %v", err)}
	}
	if a.keys == nil {
		return errNoKeys
	}
	ctx, cancel, err := a.start(r)
	if err != nil {
		return err
	}
	defer cancel()
	secret, hash := auth.NewKey()
	k, err := a.keys.CreateAPIKey(ctx, model.APIKey{Name: req.Name, Scopes: scopes, Hash: hash, CreatedAt: a.now()})
	if errors.Is(err, store.ErrConflict) {
		return &statusError{status: http.StatusConflict, msg: fmt.Sprintf("an active key is named %q already: revoke it first or choose another name", req.Name)}
	}
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	a.changedKeys()
	a.log.Info("api_key_created", "key_id", k.ID, "key_name", k.Name, "scopes", strings.Join(k.Scopes, ","))
	a.writeJSONStatus(w, r, http.StatusCreated, CreatedAPIKey{APIKey: ToAPIKey(k), Key: secret})
	return nil
}

// revokeKey serves DELETE /api/v1/keys/{id}: the id or the name of an
// active key.
func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := queryValues(r.URL.RawQuery, nil); err != nil {
		return err
	}
	if len(id) == 0 || len(id) > 64 {
		return &requestError{"invalid key id or name: 1 to 64 characters"}
	}
	if a.keys == nil {
		return errNoKeys
	}
	ctx, cancel, err := a.start(r)
	if err != nil {
		return err
	}
	defer cancel()
	k, err := a.keys.RevokeAPIKey(ctx, id, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("no active key has the id or name %q", clip(id))}
	}
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	a.changedKeys()
	a.log.Info("api_key_revoked", "key_id", k.ID, "key_name", k.Name)
	a.writeJSON(w, r, ToAPIKey(k))
	return nil
}

func (a *API) changedKeys() {
	if a.keysChanged != nil {
		a.keysChanged()
	}
}
