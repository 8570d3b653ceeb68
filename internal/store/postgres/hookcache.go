package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/flight"
)

// fingerprintExpr identifies a set of webhook rows (id, updated) in one
// string: every change to a webhook moves its updated stamp (strictly, see
// WebhookUpdate), creating or deleting one changes the ids, so two equal
// fingerprints of a workspace's active webhooks mean the same webhooks in
// the same state.
const fingerprintExpr = `md5(coalesce(string_agg(id || '@' || (extract(epoch FROM updated) * 1000000)::bigint, ',' ORDER BY id), ''))`

// hooksFingerprintCTE is the CTE fp: the fingerprint (v) of the active
// webhooks of the workspace $2.
const hooksFingerprintCTE = `fp AS (SELECT ` + fingerprintExpr + ` AS v FROM webhooks WHERE workspace_id = $2 AND active)`

// maxCachedWorkspaces bounds hookCache; past it the cache starts again empty.
const maxCachedWorkspaces = 4096

// hookCache keeps, per workspace, what fan-out needs of its active webhooks
// and their fingerprint, so that a publish need not read them first: the
// publish statement compares the fingerprint in its own snapshot and inserts
// nothing when the copy is stale (see EventPublish). Another node's changes
// are caught the same way, so nothing has to invalidate the cache.
type hookCache struct {
	mu sync.Mutex
	m  map[string]*activeHooks

	// flights are the first reads of a workspace's webhooks in progress:
	// the publishes that find its cache empty (at start) share one.
	flights flight.Group[string, *activeHooks]
}

// hookLoadTimeout bounds a shared first read, which no one publish's
// cancellation ends.
const hookLoadTimeout = 10 * time.Second

// activeHooks is one workspace's active webhooks as of one snapshot.
type activeHooks struct {
	fingerprint string
	list        []hookd.Webhook
}

// get returns the cached active webhooks of the workspace, reading them
// (through q) when absent or when reload is set. Concurrent gets of a
// workspace not yet cached share one read.
func (c *hookCache) get(ctx context.Context, q dbtx, workspaceID string, reload bool) (*activeHooks, error) {
	c.mu.Lock()
	h := c.m[workspaceID]
	c.mu.Unlock()
	if h != nil && !reload {
		return h, nil
	}
	if reload {
		return c.load(ctx, q, workspaceID)
	}
	return c.flights.Do(ctx, workspaceID, func(ctx context.Context) (*activeHooks, error) {
		c.mu.Lock()
		h := c.m[workspaceID]
		c.mu.Unlock()
		if h != nil { // read by a flight that ended meanwhile
			return h, nil
		}
		lctx, cancel := context.WithTimeout(ctx, hookLoadTimeout)
		defer cancel()
		return c.load(lctx, q, workspaceID)
	})
}

// load reads a workspace's active webhooks (through q) into the cache.
func (c *hookCache) load(ctx context.Context, q dbtx, workspaceID string) (*activeHooks, error) {
	h, err := activeWebhooks(ctx, q, workspaceID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedWorkspaces {
		c.m = map[string]*activeHooks{}
	}
	c.m[workspaceID] = h
	c.mu.Unlock()
	return h, nil
}

// activeWebhooks reads what fan-out needs of a workspace's active webhooks
// and their fingerprint, in one statement (one snapshot).
func activeWebhooks(ctx context.Context, q dbtx, workspaceID string) (*activeHooks, error) {
	rows, _ := q.Query(ctx, `WITH a AS MATERIALIZED (
			SELECT id, events, filters, owner_id, created, updated FROM webhooks WHERE workspace_id = $1 AND active),
		fp AS (SELECT `+fingerprintExpr+` AS v FROM a)
		SELECT fp.v, a.id, a.events, a.filters, a.owner_id, a.updated FROM fp LEFT JOIN a ON true ORDER BY a.created, a.id`, workspaceID)
	defer rows.Close()
	h := &activeHooks{}
	for rows.Next() {
		var id, owner *string
		var events, filters []byte
		var updated *time.Time // ClaimedDelivery.WebhookUpdatedAt of claims at publish
		if err := rows.Scan(&h.fingerprint, &id, &events, &filters, &owner, &updated); err != nil {
			return nil, err
		}
		if id == nil {
			continue // no active webhook: only the fingerprint
		}
		wh := hookd.Webhook{ID: *id, WorkspaceID: workspaceID, OwnerID: *owner, Active: true, UpdatedAt: *updated}
		if err := json.Unmarshal(events, &wh.Events); err != nil {
			return nil, fmt.Errorf("webhook %s events: %w", wh.ID, err)
		}
		if err := json.Unmarshal(filters, &wh.Filters); err != nil {
			return nil, fmt.Errorf("webhook %s filters: %w", wh.ID, err)
		}
		h.list = append(h.list, wh)
	}
	return h, rows.Err()
}
