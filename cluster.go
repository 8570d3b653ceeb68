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
