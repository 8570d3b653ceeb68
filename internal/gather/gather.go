// Package gather gathers work queued on a channel into batches for one
// transaction each: whatever is queued goes at once, and a batch smaller
// than wanted may wait a little for more.
package gather

import "time"

// Batches fills batches from a channel. The zero value never waits.
// A Batches is used by one goroutine.
type Batches[T any] struct {
	// Linger is the longest one Gather waits for more items while its batch
	// is smaller than wanted and nothing is queued.
	Linger time.Duration
	timer  *time.Timer
}

// Gather appends to batch whatever ch holds, while room(batch) says there
// is room. When nothing is queued and the batch holds fewer than want
// items, it waits for more, at most g.Linger in all. closed reports that ch
// was closed (what was received before is in out).
func (g *Batches[T]) Gather(ch <-chan T, batch []T, want int, room func([]T) bool) (out []T, closed bool) {
	lingering := false
	defer func() {
		if lingering {
			g.timer.Stop()
		}
	}()
	for room(batch) {
		select {
		case v, ok := <-ch:
			if !ok {
				return batch, true
			}
			batch = append(batch, v)
			continue
		default:
		}
		if len(batch) >= want || g.Linger <= 0 {
			return batch, false
		}
		if !lingering {
			lingering = true
			if g.timer == nil {
				g.timer = time.NewTimer(g.Linger)
			} else {
				g.timer.Reset(g.Linger) // Go 1.23 timers: no stale tick to drain
			}
		}
		select {
		case v, ok := <-ch:
			if !ok {
				return batch, true
			}
			batch = append(batch, v)
		case <-g.timer.C:
			return batch, false
		}
	}
	return batch, false
}
