package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/auth"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "flowwatch.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func createKey(t *testing.T, st *sqlite.Store, name string, scopes ...string) (string, model.APIKey) {
	t.Helper()
	secret, hash := auth.NewKey()
	k, err := st.CreateAPIKey(context.Background(), model.APIKey{Name: name, Scopes: scopes, Hash: hash, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return secret, k
}

func TestParseScopesAndGrants(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"read", "read", false},
		{"read, ingest,read", "ingest,read", false},
		{"ADMIN", "admin", false},
		{"", "", true},
		{"write", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := auth.ParseScopes(tc.in)
			if (err != nil) != tc.wantErr || strings.Join(got, ",") != tc.want {
				t.Errorf("ParseScopes(%q) = %v, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
	for _, tc := range []struct {
		scopes []string
		need   string
		want   bool
	}{
		{[]string{"admin"}, "read", true},
		{[]string{"admin"}, "admin", true},
		{[]string{"admin"}, "ingest", false},
		{[]string{"read"}, "admin", false},
		{[]string{"ingest"}, "read", false},
		{[]string{"ingest"}, "ingest", true},
		{nil, "", true},
	} {
		if got := auth.Grants(tc.scopes, tc.need); got != tc.want {
			t.Errorf("Grants(%v, %q) = %v, want %v", tc.scopes, tc.need, got, tc.want)
		}
	}
	key, hash := auth.NewKey()
	if !strings.HasPrefix(key, auth.KeyPrefix) || len(key) != 67 || string(hash) != string(auth.Hash(key)) {
		t.Errorf("NewKey = %q", key)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		mode     string
		loopback bool
		keys     bool // a key exists
		key      string
		need     string
		want     error
	}{
		{"loopback without keys is open", auth.ModeAuto, true, false, "", model.ScopeAdmin, nil},
		{"beyond loopback without keys is closed", auth.ModeAuto, false, false, "", model.ScopeRead, auth.ErrNoKey},
		{"mode keys without keys is closed", auth.ModeKeys, true, false, "", model.ScopeRead, auth.ErrNoKey},
		{"mode none is open", auth.ModeNone, false, false, "", model.ScopeAdmin, nil},
		{"a key makes loopback closed", auth.ModeAuto, true, true, "", model.ScopeRead, auth.ErrNoKey},
		{"wrong key", auth.ModeAuto, true, true, "fw_" + strings.Repeat("0", 64), model.ScopeRead, auth.ErrBadKey},
		{"malformed key", auth.ModeAuto, true, true, "hello", model.ScopeRead, auth.ErrBadKey},
		{"read key", auth.ModeAuto, true, true, "READ", model.ScopeRead, nil},
		{"read key on admin", auth.ModeAuto, true, true, "READ", model.ScopeAdmin, auth.ErrForbidden},
		{"read key on ingest", auth.ModeAuto, true, true, "READ", model.ScopeIngest, auth.ErrForbidden},
		{"admin key reads", auth.ModeAuto, true, true, "ADMIN", model.ScopeRead, nil},
		{"ingest key on read", auth.ModeAuto, true, true, "INGEST", model.ScopeRead, auth.ErrForbidden},
		{"open route", auth.ModeAuto, true, true, "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			keys := map[string]string{}
			if tc.keys {
				keys["READ"], _ = createKey(t, st, "reader", model.ScopeRead)
				keys["ADMIN"], _ = createKey(t, st, "admin", model.ScopeAdmin)
				keys["INGEST"], _ = createKey(t, st, "app", model.ScopeIngest)
			}
			a, err := auth.New(auth.Options{Keys: st, Mode: tc.mode, Loopback: tc.loopback}, nil)
			if err != nil {
				t.Fatal(err)
			}
			key := tc.key
			if k, ok := keys[key]; ok {
				key = k
			}
			if _, err := a.Check(ctx, key, tc.need); !errors.Is(err, tc.want) {
				t.Errorf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRevocationSeenWithinTTL: a key revoked (by anyone with the store)
// is refused once the cache has expired, a key created is accepted.
func TestRevocationSeenWithinTTL(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	a, err := auth.New(auth.Options{Keys: st, Loopback: true, CacheTTL: 2 * time.Second, Now: clk.now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check(ctx, "", model.ScopeRead); err != nil {
		t.Fatalf("no keys: %v", err)
	}
	secret, k := createKey(t, st, "ops", model.ScopeRead)
	clk.add(2 * time.Second)
	if _, err := a.Check(ctx, "", model.ScopeRead); !errors.Is(err, auth.ErrNoKey) {
		t.Fatalf("after a key was created: %v, want ErrNoKey", err)
	}
	if p, err := a.Check(ctx, secret, model.ScopeRead); err != nil || p.KeyID != k.ID {
		t.Fatalf("Check(new key) = %+v, %v", p, err)
	}
	if _, err := st.RevokeAPIKey(ctx, "ops", clk.now()); err != nil {
		t.Fatal(err)
	}
	clk.add(2 * time.Second)
	if _, err := a.Check(ctx, secret, model.ScopeRead); !errors.Is(err, auth.ErrBadKey) {
		t.Fatalf("revoked key: %v, want ErrBadKey", err)
	}
}

// TestSignIn walks the dashboard's sign-in: the form takes a read key and
// sets an HttpOnly, SameSite=Strict session cookie that is not the key;
// the session ends with sign-out and with the key's revocation.
func TestSignIn(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	read, _ := createKey(t, st, "reader", model.ScopeRead)
	ingest, _ := createKey(t, st, "app", model.ScopeIngest)
	clk := &clock{t: time.Now()}
	a, err := auth.New(auth.Options{Keys: st, Loopback: true, SecureCookies: true, Now: clk.now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.RegisterHTTP(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("dashboard")) })
	h := a.Handler(func(r *http.Request) auth.Need {
		if strings.HasPrefix(r.URL.Path, "/sign") {
			return auth.Need{}
		}
		return auth.Need{Scope: model.ScopeRead, Page: true}
	}, mux)
	do := func(method, path string, form url.Values, cookie *http.Cookie) *httptest.ResponseRecorder {
		var r *http.Request
		if form != nil {
			r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r = httptest.NewRequest(method, path, nil)
		}
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("GET", "/monitors", nil, nil); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `action="/signin"`) {
		t.Fatalf("page without a session: %d %s", w.Code, w.Body)
	}
	if w := do("POST", "/signin", url.Values{"key": {ingest}, "next": {"/monitors"}}, nil); w.Code != http.StatusForbidden {
		t.Errorf("sign in with an ingest key: %d", w.Code)
	}
	if w := do("POST", "/signin", url.Values{"key": {"fw_nope"}}, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("sign in with a wrong key: %d", w.Code)
	}
	w := do("POST", "/signin", url.Values{"key": {read}, "next": {"//evil.example/x"}}, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("sign in: %d, Location %q (an off-site next must become /)", w.Code, w.Header().Get("Location"))
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || !strings.HasPrefix(c.Name, "__Host-") || strings.Contains(c.Value, read) {
		t.Errorf("session cookie = %+v", c)
	}
	if w := do("GET", "/monitors", nil, c); w.Code != http.StatusOK {
		t.Errorf("page with a session: %d", w.Code)
	}
	if w := do("POST", "/signout", nil, c); w.Code != http.StatusSeeOther {
		t.Errorf("sign out: %d", w.Code)
	}
	if w := do("GET", "/monitors", nil, c); w.Code != http.StatusUnauthorized {
		t.Errorf("page after sign-out: %d", w.Code)
	}
	// A new session ends when its key is revoked.
	w = do("POST", "/signin", url.Values{"key": {read}}, nil)
	c = w.Result().Cookies()[0]
	if _, err := st.RevokeAPIKey(ctx, "reader", time.Now()); err != nil {
		t.Fatal(err)
	}
	clk.add(auth.DefaultCacheTTL)
	if w := do("GET", "/monitors", nil, c); w.Code != http.StatusUnauthorized {
		t.Errorf("page after the key was revoked: %d", w.Code)
	}
}

// TestKeyHeader: a route whose Need names a KeyHeader reads the key from
// that header only. Authorization and x-api-key (the caller's credentials
// for someone else) and a dashboard session count for nothing there, and
// the refusal says which header to use; when keys are not enforced nothing
// is needed.
func TestKeyHeader(t *testing.T) {
	const header = "X-Flowwatch-Key"
	st := openStore(t)
	ingest, _ := createKey(t, st, "app", model.ScopeIngest)
	read, _ := createKey(t, st, "reader", model.ScopeRead)
	a, err := auth.New(auth.Options{Keys: st, Mode: auth.ModeKeys}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.RegisterHTTP(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("proxied")) })
	classify := func(r *http.Request) auth.Need {
		if strings.HasPrefix(r.URL.Path, "/proxy/") {
			return auth.Need{Scope: model.ScopeIngest, KeyHeader: header}
		}
		if strings.HasPrefix(r.URL.Path, "/sign") {
			return auth.Need{}
		}
		return auth.Need{Scope: model.ScopeRead, Page: true}
	}
	h := a.Handler(classify, mux)
	// A dashboard session of a key with every scope a proxy route could
	// need still does not open it.
	form := url.Values{"key": {read}}
	r := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if len(w.Result().Cookies()) != 1 {
		t.Fatalf("sign in: %d, no cookie", w.Code)
	}
	session := w.Result().Cookies()[0]

	for _, tc := range []struct {
		name    string
		headers map[string]string
		cookie  bool
		code    int
		body    string // in the answer
	}{
		{name: "no key", code: 401, body: "send a key with the ingest scope as X-Flowwatch-Key: KEY"},
		{name: "key in the header", headers: map[string]string{header: ingest}, code: 200, body: "proxied"},
		{name: "key in the header beside an upstream credential", headers: map[string]string{header: ingest, "Authorization": "Bearer sk-upstream"}, code: 200},
		{name: "key as Authorization", headers: map[string]string{"Authorization": "Bearer " + ingest}, code: 401, body: "go to the upstream unchanged"},
		{name: "key as x-api-key", headers: map[string]string{"X-Api-Key": ingest}, code: 401},
		{name: "session cookie", cookie: true, code: 401},
		{name: "wrong key", headers: map[string]string{header: "fw_" + strings.Repeat("1", 64)}, code: 401, body: "the key in X-Flowwatch-Key is unknown or revoked"},
		{name: "key without the scope", headers: map[string]string{header: read}, code: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/proxy/v1/chat/completions", strings.NewReader("{}"))
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if tc.cookie {
				r.AddCookie(session)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if tc.code != http.StatusOK {
				// The refusal is in the OpenAI error envelope, which the
				// route's clients (their SDKs) show.
				var e struct {
					Error struct{ Message, Type, Code string }
				}
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Message == "" || e.Error.Type != "flowwatch_auth_error" {
					t.Errorf("refusal %s: not an OpenAI error envelope (%v)", w.Body, err)
				}
			}
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("%d %s, want %d and %q", w.Code, w.Body, tc.code, tc.body)
			}
		})
	}

	// Not enforced: the route needs nothing, whatever the headers hold.
	open, err := auth.New(auth.Options{Keys: st, Mode: auth.ModeNone}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r = httptest.NewRequest("POST", "/proxy/x", nil)
	r.Header.Set("Authorization", "Bearer sk-upstream")
	w = httptest.NewRecorder()
	open.Handler(classify, mux).ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("auth none: %d %s", w.Code, w.Body)
	}
}

// BenchmarkCheck times a check with an active key, a revoked one and one
// that never existed: the three should cost the same (compare the
// figures; the suite asserts no timing).
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "flowwatch.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var active, revoked string
	for i := range 20 {
		secret, hash := auth.NewKey()
		if _, err := st.CreateAPIKey(ctx, model.APIKey{Name: fmt.Sprintf("k%d", i), Scopes: []string{"read"}, Hash: hash, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		switch i {
		case 10:
			active = secret
		case 11:
			revoked = secret
			if _, err := st.RevokeAPIKey(ctx, "k11", time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	}
	unknown, _ := auth.NewKey()
	clk := &clock{t: time.Now()}
	a, err := auth.New(auth.Options{Keys: st, Loopback: true, Now: clk.now}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, key string }{{"active", active}, {"revoked", revoked}, {"unknown", unknown}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_, _ = a.Check(ctx, bc.key, model.ScopeRead)
			}
		})
	}
}

// slowKeys is the real key store with a gate on ListAPIKeys: while hold
// is set, a read waits until release is closed.
type slowKeys struct {
	*sqlite.Store
	mu      sync.Mutex
	hold    bool
	release chan struct{}
	waiting chan struct{} // one value each time a read starts waiting
}

func (s *slowKeys) ListAPIKeys(ctx context.Context) ([]model.APIKey, error) {
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold {
		s.waiting <- struct{}{}
		<-s.release
	}
	return s.Store.ListAPIKeys(ctx)
}

// TestSlowReloadServesCopy: when the cached keys are old and reading them
// again is slow (a busy store), one check waits for the read and every
// other check meanwhile answers from the copy, instead of all of them
// queueing behind the read. After Invalidate (a key revoked here) no check
// answers from the copy.
func TestSlowReloadServesCopy(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	secret, _ := createKey(t, st, "app", model.ScopeIngest)
	keys := &slowKeys{Store: st, release: make(chan struct{}), waiting: make(chan struct{}, 4)}
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	a, err := auth.New(auth.Options{Keys: keys, Mode: auth.ModeKeys, CacheTTL: 2 * time.Second, Now: clk.now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check(ctx, secret, model.ScopeIngest); err != nil {
		t.Fatal(err)
	}
	clk.add(3 * time.Second) // the copy is old now
	keys.mu.Lock()
	keys.hold = true
	keys.mu.Unlock()
	first := make(chan error, 1)
	go func() {
		_, err := a.Check(ctx, secret, model.ScopeIngest)
		first <- err
	}()
	<-keys.waiting // the first check is reading the keys again
	others := make(chan error, 1)
	go func() {
		for i := range 20 {
			if _, err := a.Check(ctx, secret, model.ScopeIngest); err != nil {
				others <- fmt.Errorf("check %d during the slow read: %w", i, err)
				return
			}
		}
		others <- nil
	}()
	select {
	case err := <-others:
		if err != nil {
			close(keys.release)
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(keys.release)
		t.Fatal("checks wait for the slow read of the keys instead of answering from the copy")
	}
	close(keys.release)
	if err := <-first; err != nil {
		t.Fatalf("the check that read the keys: %v", err)
	}

	// Revoked here: Invalidate. The next check must read the keys, not
	// take the copy that still holds the key.
	if _, err := st.RevokeAPIKey(ctx, "app", clk.now()); err != nil {
		t.Fatal(err)
	}
	a.Invalidate()
	keys.mu.Lock()
	keys.hold = false
	keys.mu.Unlock()
	if _, err := a.Check(ctx, secret, model.ScopeIngest); !errors.Is(err, auth.ErrBadKey) {
		t.Fatalf("the revoked key right after Invalidate: %v, want ErrBadKey", err)
	}
}
