// Package flight shares one call among the concurrent callers that ask for
// the same thing: the first caller for a key runs the call, the others wait
// for its result. hookd uses it where a cold or expired cache would send
// every request in flight to the database at once (on PostgreSQL each of
// them holds a connection, and every connection the pool opens for such a
// burst is a server process for as long as the pool keeps it).
package flight

import (
	"context"
	"errors"
	"sync"
)

// ErrPanicked is what the waiters of a call that panicked get (the panic
// goes on in the caller that ran it).
var ErrPanicked = errors.New("flight: the shared call panicked")

// Group runs at most one call per key at a time. The zero Group is ready.
type Group[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*call[V]
}

type call[V any] struct {
	done    chan struct{}
	v       V
	err     error
	waiters int // callers waiting for it (under Group.mu)
}

// Do returns fn's result. When a call for key is in progress, Do waits for
// it and returns its result instead of calling fn, or ctx's error if ctx
// ends first (the call goes on for the others). fn runs in the first
// caller's goroutine with that caller's ctx detached from its cancellation
// (its values kept): the others share the result, so one caller giving up
// must not fail the call for them all. fn bounds its own time.
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func(context.Context) (V, error)) (V, error) {
	g.mu.Lock()
	c, waiting := g.m[key]
	if waiting {
		c.waiters++
	} else {
		c = &call[V]{done: make(chan struct{})}
		if g.m == nil {
			g.m = map[K]*call[V]{}
		}
		g.m[key] = c
	}
	g.mu.Unlock()
	if waiting {
		defer func() {
			g.mu.Lock()
			c.waiters--
			g.mu.Unlock()
		}()
		select {
		case <-c.done:
			return c.v, c.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	finished := false
	defer func() {
		if !finished {
			c.err = ErrPanicked
		}
		g.mu.Lock()
		delete(g.m, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.v, c.err = fn(context.WithoutCancel(ctx))
	finished = true
	return c.v, c.err
}

// Waiting returns how many callers wait for the call for key in progress (0
// when there is none).
func (g *Group[K, V]) Waiting(key K) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.m[key]; c != nil {
		return c.waiters
	}
	return 0
}
