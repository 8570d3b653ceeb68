package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/flight"
)

// access is what a route demands of the caller.
type access int

const (
	public       access = iota // no key
	read                       // a key with read scope (or more)
	write                      // a key with write scope (or more)
	admin                      // a key with admin scope
	operator                   // an operator key (manages workspaces)
	triggerToken               // no API key: the inbound handler checks a trigger token
)

// keyCacheSize bounds the number of API keys cached.
const keyCacheSize = 4096

// maxKeyLen bounds what is accepted as a bearer token before hashing.
const maxKeyLen = 256

// errUnauthorized is the one answer for a missing, malformed, unknown or
// deleted key, so the answer tells nothing about which.
var errUnauthorized = hookd.Errorf(hookd.EUnauthorized, "missing or invalid API key")

// authenticate returns the API key of the request's bearer token.
func (s *Server) authenticate(r *http.Request) (*hookd.APIKey, error) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok || !strings.HasPrefix(token, "hk_") || len(token) > maxKeyLen {
		return nil, errUnauthorized
	}
	var hash [32]byte
	copy(hash[:], hookd.HashToken(token))
	k, err := s.keys.lookup(r.Context(), hash, func(ctx context.Context) (*hookd.APIKey, error) {
		return s.store.APIKeyGetByHash(ctx, hash[:])
	})
	if hookd.IsNotFound(err) {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// bearerToken extracts the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive).
func bearerToken(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

// authorize checks that key may use a route that demands a.
func authorize(key *hookd.APIKey, a access) error {
	switch a {
	case read:
		if key.HasScope(hookd.ScopeRead) {
			return nil
		}
	case write:
		if key.HasScope(hookd.ScopeWrite) {
			return nil
		}
	case admin:
		if key.HasScope(hookd.ScopeAdmin) {
			return nil
		}
	case operator:
		if key.Operator {
			return nil
		}
		return hookd.Errorf(hookd.EForbidden, "this route needs an operator key")
	}
	return hookd.Errorf(hookd.EForbidden, "this API key lacks the scope this route needs")
}

// keyCache remembers verified API keys by the hash of their secret for a
// short TTL, so a busy publisher does not cost a key lookup per request.
// Entries are read-only once cached. The TTL runs on the monotonic clock, not
// the injectable one: it is a performance device, not domain time.
type keyCache struct {
	ttl time.Duration
	max int

	mu  sync.RWMutex
	gen uint64 // bumped on every invalidation
	m   map[[32]byte]keyEntry

	// flights are the store reads in progress (lookup).
	flights flight.Group[[32]byte, *hookd.APIKey]
}

// lookup returns the key of hash: the cached one, else what load reads,
// cached for the next requests. Concurrent lookups of one uncached key share
// one load: when a busy client's key expires from the cache (or the server
// has just started), its requests in flight would otherwise all read the
// store at once, each holding a database connection (on PostgreSQL, every
// connection the pool opens for such a burst is a server process for as long
// as the pool keeps it). A lookup whose ctx ends while it waits for another's
// load returns ctx's error; the load itself runs under the context of the
// request that started it, detached from its cancellation (flight.Group.Do).
func (c *keyCache) lookup(ctx context.Context, hash [32]byte, load func(context.Context) (*hookd.APIKey, error)) (*hookd.APIKey, error) {
	if k := c.get(hash); k != nil {
		return k, nil
	}
	return c.flights.Do(ctx, hash, func(ctx context.Context) (*hookd.APIKey, error) {
		gen := c.generation()
		lctx, cancel := context.WithTimeout(ctx, keyLoadTimeout)
		defer cancel()
		k, err := load(lctx)
		if err == nil {
			c.put(hash, k, gen)
		}
		return k, err
	})
}

// keyLoadTimeout bounds a shared key lookup, which no one request's
// cancellation ends.
const keyLoadTimeout = 10 * time.Second

type keyEntry struct {
	key   *hookd.APIKey
	until time.Time
}

// newKeyCache returns a cache of at most max keys for ttl; ttl < 0 disables it.
func newKeyCache(ttl time.Duration, max int) *keyCache {
	return &keyCache{ttl: ttl, max: max, m: make(map[[32]byte]keyEntry)}
}

// get returns the cached key of hash, nil when absent or expired.
func (c *keyCache) get(hash [32]byte) *hookd.APIKey {
	if c.ttl < 0 {
		return nil
	}
	c.mu.RLock()
	e, ok := c.m[hash]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.until) {
		return nil
	}
	return e.key
}

// generation returns the invalidation counter; take it before reading the
// store and hand it to put.
func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches k unless an invalidation happened since gen was taken (the key
// read may be one that was just deleted).
func (c *keyCache) put(hash [32]byte, k *hookd.APIKey, gen uint64) {
	if c.ttl < 0 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= c.max {
		for h, e := range c.m {
			if now.After(e.until) {
				delete(c.m, h)
			}
		}
		for h := range c.m { // still full: drop arbitrary entries
			if len(c.m) < c.max {
				break
			}
			delete(c.m, h)
		}
	}
	c.m[hash] = keyEntry{key: k, until: now.Add(c.ttl)}
}

// dropID removes the key with this id, wherever it is cached.
func (c *keyCache) dropID(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for h, e := range c.m {
		if e.key.ID == id {
			delete(c.m, h)
		}
	}
}
