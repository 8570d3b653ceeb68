package api

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookd/hookd"
)

func TestAPIKeys(t *testing.T) { onBackends(t, testAPIKeys) }

func testAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.do("POST", "/v1/api-keys", e.admin, map[string]any{"name": "ci", "scopes": []string{"write", "read", "write"}}).want(t, 201).obj(t)
	secret, _ := created["key"].(string)
	if !strings.HasPrefix(secret, "hk_") || len(secret) != 3+43 || created["prefix"] != secret[:keyPrefixLen] {
		t.Fatalf("created %v", created)
	}
	if cmp.Diff([]any{"read", "write"}, created["scopes"]) != "" || created["operator"] != false || created["workspace_id"] != e.ws.ID {
		t.Errorf("created %v", created)
	}
	// The new key works with its scopes.
	e.do("POST", "/v1/events", secret, map[string]any{"type": "a"}).want(t, 202)
	e.do("GET", "/v1/api-keys", secret, nil).wantProblem(t, http.StatusForbidden)

	list := e.do("GET", "/v1/api-keys", e.admin, nil).want(t, 200)
	if strings.Contains(string(list.body), secret) || strings.Contains(string(list.body), `"key"`) || strings.Contains(string(list.body), `"hash"`) {
		t.Errorf("list shows key material: %s", list.body)
	}
	var l listResponse[map[string]any]
	list.json(t, &l)
	if l.Total != 5 || l.Data[0]["id"] != created["id"] { // four made by newEnv in this workspace, newest first
		t.Errorf("list total %d first %v", l.Total, l.Data[0]["id"])
	}

	invalid := []struct {
		name, field string
		body        map[string]any
	}{
		{"NoScopes", "scopes", map[string]any{"name": "x"}},
		{"EmptyScopes", "scopes", map[string]any{"scopes": []string{}}},
		{"UnknownScope", "scopes", map[string]any{"scopes": []string{"read", "root"}}},
		{"NameTooLong", "name", map[string]any{"scopes": []string{"read"}, "name": strings.Repeat("n", 101)}},
		{"Operator", "operator", map[string]any{"scopes": []string{"read"}, "operator": true}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e.do("POST", "/v1/api-keys", e.admin, tt.body).wantProblem(t, 400, tt.field)
		})
	}
}

// TestAPIKeyDeleteInvalidatesCache: a deleted key stops working at once
// although it was cached a moment before.
func TestAPIKeyDeleteInvalidatesCache(t *testing.T) { onBackends(t, testAPIKeyDeleteInvalidatesCache) }

func testAPIKeyDeleteInvalidatesCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.KeyCacheTTL = time.Hour })
	k := e.do("POST", "/v1/api-keys", e.admin, map[string]any{"scopes": []string{"read"}}).want(t, 201).obj(t)
	secret := k["key"].(string)
	e.do("GET", "/v1/webhooks", secret, nil).want(t, 200) // now cached
	e.do("DELETE", "/v1/api-keys/"+k["id"].(string), e.admin, nil).want(t, 204)
	e.do("GET", "/v1/webhooks", secret, nil).wantProblem(t, http.StatusUnauthorized)
	e.do("DELETE", "/v1/api-keys/"+k["id"].(string), e.admin, nil).wantProblem(t, http.StatusNotFound)
}

// TestKeyCache: keys are served from the cache within the TTL (a key
// deleted behind the server's back still works), not after it, and the
// cache stays bounded.
func TestKeyCache(t *testing.T) { onBackends(t, testKeyCache) }

func testKeyCache(t *testing.T) {
	t.Parallel()
	// The cache TTL is wall-clock by design: the test reads the clock around
	// the requests instead of assuming how long they take (under -race on a
	// loaded machine one took longer than a 200 ms TTL).
	const ttl = time.Second
	e := newEnv(t, func(c *Config) { c.KeyCacheTTL = ttl })
	k, secret := newAPIKey(e.ws.ID, "x", []string{hookd.ScopeRead}, e.now())
	if err := e.store.APIKeyCreate(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	asked := time.Now()
	e.do("GET", "/v1/webhooks", secret, nil).want(t, 200)
	cached := time.Now() // the entry was put between asked and cached
	if err := e.store.APIKeyDelete(context.Background(), e.ws.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/webhooks", secret, nil)
	if time.Since(asked) < ttl { // still within the entry's TTL
		r.want(t, 200)
	}
	time.Sleep(time.Until(cached.Add(ttl + 10*time.Millisecond)))
	e.do("GET", "/v1/webhooks", secret, nil).wantProblem(t, http.StatusUnauthorized)

	c := newKeyCache(time.Hour, 3)
	for i := 0; i < 10; i++ {
		c.put([32]byte{byte(i)}, &hookd.APIKey{ID: "k"}, c.generation())
	}
	if len(c.m) > 3 {
		t.Errorf("cache holds %d keys, max 3", len(c.m))
	}
	// A lookup that raced with an invalidation is not cached.
	gen := c.generation()
	c.dropID("other")
	c.put([32]byte{99}, &hookd.APIKey{ID: "stale"}, gen)
	if c.get([32]byte{99}) != nil {
		t.Error("a stale lookup was cached after an invalidation")
	}
	off := newKeyCache(-1, 3)
	off.put([32]byte{1}, &hookd.APIKey{}, off.generation())
	if off.get([32]byte{1}) != nil {
		t.Error("disabled cache returned a key")
	}
}

func TestWorkspaces(t *testing.T) { onBackends(t, testWorkspaces) }

func testWorkspaces(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/v1/workspaces", e.operator, map[string]any{"name": "team-b"}).want(t, 201).obj(t)
	key, _ := r["api_key"].(string)
	if !strings.HasPrefix(r["id"].(string), hookd.PrefixWorkspace) || r["name"] != "team-b" || !strings.HasPrefix(key, "hk_") {
		t.Fatalf("created %v", r)
	}
	// The new key is an admin (not operator) key of the new workspace.
	keys := e.do("GET", "/v1/api-keys", key, nil).want(t, 200).obj(t)
	k0 := keys["data"].([]any)[0].(map[string]any)
	if k0["workspace_id"] != r["id"] || k0["operator"] != false || cmp.Diff([]any{"admin"}, k0["scopes"]) != "" {
		t.Errorf("new workspace key %v", k0)
	}
	e.do("GET", "/v1/workspaces", key, nil).wantProblem(t, http.StatusForbidden)
	wh := e.webhook(key, nil)
	e.do("GET", "/v1/webhooks/"+wh["id"].(string), e.admin, nil).wantProblem(t, http.StatusNotFound)

	e.do("POST", "/v1/workspaces", e.operator, map[string]any{"name": "team-b"}).wantProblem(t, http.StatusConflict)
	for _, name := range []string{"", " x", strings.Repeat("w", 101), "a\tb"} {
		e.do("POST", "/v1/workspaces", e.operator, map[string]any{"name": name}).wantProblem(t, 400, "name")
	}
	var l listResponse[hookd.Workspace]
	e.do("GET", "/v1/workspaces", e.operator, nil).want(t, 200).json(t, &l)
	if l.Total != 3 || l.Data[0].Name != "team-b" {
		t.Errorf("workspaces %+v", l)
	}
}

func TestDeliveryRetry(t *testing.T) { onBackends(t, testDeliveryRetry) }

func testDeliveryRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture()
	wakes := e.wakes.Load()
	d := e.do("POST", "/v1/deliveries/"+f.delivery+"/retry", e.writer, nil).want(t, 202).obj(t)
	if d["id"] != f.delivery || d["status"] != "pending" || e.wakes.Load() != wakes+1 {
		t.Errorf("retried %v, wakes %d", d, e.wakes.Load()-wakes)
	}
	e.do("POST", "/v1/deliveries/"+f.delivery+"/retry", e.writer, map[string]any{"now": true}).wantProblem(t, 400, "now")
	e.do("POST", "/v1/deliveries/dlv_nope/retry", e.writer, nil).wantProblem(t, 404)
	// The webhook is gone: the store refuses with 409, passed through.
	e.do("DELETE", "/v1/webhooks/"+f.webhook, e.writer, nil).want(t, 204)
	e.do("POST", "/v1/deliveries/"+f.delivery+"/retry", e.writer, nil).wantProblem(t, http.StatusConflict)
	got := e.do("GET", "/v1/deliveries/"+f.delivery, e.read, nil).want(t, 200).obj(t)
	if got["status"] != "dead" {
		t.Errorf("delivery of a deleted webhook: %v", got["status"])
	}
}

// TestKeyLookupShared: concurrent lookups of one uncached key read the store
// once and all get its answer, which is cached; an error is not cached.
// (internal/flight's test covers waiters that give up and loads that panic.)
func TestKeyLookupShared(t *testing.T) {
	c := newKeyCache(time.Hour, 16)
	hash := [32]byte{7}
	var loads atomic.Int32
	release := make(chan struct{})
	load := func(ctx context.Context) (*hookd.APIKey, error) {
		loads.Add(1)
		<-release
		return &hookd.APIKey{ID: "key_1"}, nil
	}
	const n = 20
	var asked atomic.Int32
	got := make(chan *hookd.APIKey, n)
	for range n {
		go func() {
			asked.Add(1)
			k, err := c.lookup(context.Background(), hash, load)
			if err != nil {
				t.Error(err)
			}
			got <- k
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); asked.Load() < n || c.flights.Waiting(hash) < n-1; {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("%d of %d lookups wait for the first one's load (%d loads)", c.flights.Waiting(hash), n-1, loads.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range n {
		if k := <-got; k == nil || k.ID != "key_1" {
			t.Fatalf("lookup = %+v", k)
		}
	}
	if l := loads.Load(); l != 1 {
		t.Errorf("%d concurrent lookups read the store %d times, want once", n, l)
	}
	if k, _ := c.lookup(context.Background(), hash, load); k == nil || loads.Load() != 1 {
		t.Errorf("a cached key was read again (%d reads)", loads.Load())
	}
	var fails atomic.Int32
	notFound := func(context.Context) (*hookd.APIKey, error) {
		fails.Add(1)
		return nil, hookd.Errorf(hookd.ENotFound, "no such key")
	}
	for range 2 {
		if _, err := c.lookup(context.Background(), [32]byte{8}, notFound); !hookd.IsNotFound(err) {
			t.Errorf("err = %v, want not found", err)
		}
	}
	if fails.Load() != 2 {
		t.Errorf("an error was cached: %d reads for 2 lookups", fails.Load())
	}
}
