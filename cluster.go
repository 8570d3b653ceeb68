package hookd

import (
	"context"
	"time"
)

// Wake-up kinds carried between nodes.
const (
	WakeDeliveries = "deliveries"
	WakeExecutions = "executions"
)

// Waker is implemented by stores shared by several nodes (PostgreSQL
// LISTEN/NOTIFY): work committed on one node wakes the engines of every node
// at once instead of at their next poll.
type Waker interface {
	// Listen calls fn with WakeDeliveries or WakeExecutions whenever any node
	// committed work of that kind, until ctx ends. It reconnects by itself
	// and returns only when ctx ends.
	Listen(ctx context.Context, fn func(kind string)) error
}

// SharedRateLimiter is implemented by stores shared by several nodes: the
// per-trigger, per-IP token buckets live in the database so the limit holds
// whichever node a call lands on.
type SharedRateLimiter interface {
	// RateLimitAllow takes one token from the bucket named key (capacity
	// perMinute, refilled at perMinute per minute) at now; when none is left
	// it reports how long until one is.
	RateLimitAllow(ctx context.Context, key string, perMinute int, now time.Time) (ok bool, retryAfter time.Duration, err error)
}

// Dispatcher is the delivery engine as a DirectClaimer's store sees it: the
// deliveries of an event published on this node can be claimed by the very
// transaction that creates them, for this node, and handed to the engine
// without a claim of their own (no claim round trips, no wake-up of the
// other nodes). The store asks for slots before it writes, marks as many
// rows processing as the slots (and, when Lease says so, the webhook's
// cluster-wide cap) allow, then dispatches those and gives the other slots
// back.
type Dispatcher interface {
	// Reserve takes up to n of this node's free delivery slots for
	// webhookID (none while the engine stops, or for a webhook whose 410
	// is being recorded). inFlight is how many deliveries of the webhook
	// this node had in flight before, for the cluster-wide cap.
	Reserve(webhookID string, n int) (took, inFlight int)
	// Unreserve gives back n slots taken by Reserve and not used.
	Unreserve(webhookID string, n int)
	// Dispatch starts the attempts of deliveries claimed on reserved slots
	// (committed processing under this node's lease). It never blocks.
	Dispatch(claimed []ClaimedDelivery)
	// Lease returns the node's name, the lease a claim takes and the
	// cluster-wide cap the store must count every node's deliveries in
	// processing against, under the webhook's claim lock; 0 when the
	// engine's own share of the cap (Member), which Reserve holds to,
	// bounds them without counting.
	Lease() (owner string, lease time.Duration, maxPerWebhook int)
}

// DirectClaimer is implemented by stores that can claim at publish
// (PostgreSQL): SetDispatcher, called before the first publish, turns it on.
type DirectClaimer interface {
	SetDispatcher(d Dispatcher)
}

// Membership is implemented by stores shared by several nodes: each node
// keeps a row of its own fresh, so every node knows how many nodes share the
// work. A delivery engine that knows that can hold each webhook's
// cluster-wide concurrency cap by taking its share of it (the cap divided by
// the live nodes) without asking the others on every claim.
type Membership interface {
	// Members registers node, renews it every round until ctx ends, then
	// removes it, and tells m after each round how many nodes are live and
	// whether it may use its share (see Member). It returns only when ctx
	// ends.
	Members(ctx context.Context, node string, m Member) error
}

// Member is a node's delivery engine as the cluster membership sees it.
type Member interface {
	// Resize is told the number of live nodes n (this one included) and
	// whether this node may take work (active): a node becomes active once
	// every other live node counts it and fits in its share of n, and
	// stops being active when it cannot renew its membership. It reports
	// whether this node's deliveries in flight fit in its own share of n;
	// the other nodes wait for that before a joining node takes its share.
	Resize(n int, active bool) (fits bool)
}
