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
// rows processing as the slots and the webhook's cluster-wide cap allow,
// then dispatches those and gives the other slots back.
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
	// cluster-wide cap on a webhook's deliveries in processing.
	Lease() (owner string, lease time.Duration, maxPerWebhook int)
}

// DirectClaimer is implemented by stores that can claim at publish
// (PostgreSQL): SetDispatcher, called before the first publish, turns it on.
type DirectClaimer interface {
	SetDispatcher(d Dispatcher)
}
