package gather_test

import (
	"testing"
	"time"

	"github.com/hookd/hookd/internal/gather"
)

func fill(ch chan int, n int) {
	for i := range n {
		ch <- i
	}
}

func upTo(n int) func([]int) bool { return func(b []int) bool { return len(b) < n } }

func TestGather(t *testing.T) {
	t.Parallel()
	t.Run("takes what is queued, up to the room", func(t *testing.T) {
		ch := make(chan int, 10)
		fill(ch, 5)
		g := gather.Batches[int]{Linger: time.Hour}
		out, closed := g.Gather(ch, []int{-1}, 0, upTo(4))
		if len(out) != 4 || closed || len(ch) != 2 {
			t.Fatalf("batch %v (closed %v), %d left; want 4 items, 2 left", out, closed, len(ch))
		}
	})
	t.Run("no wait when as large as wanted", func(t *testing.T) {
		ch := make(chan int, 10)
		fill(ch, 2)
		g := gather.Batches[int]{Linger: time.Hour}
		out, _ := g.Gather(ch, []int{-1}, 3, upTo(100))
		if len(out) != 3 {
			t.Fatalf("batch %v, want 3 items at once", out)
		}
	})
	t.Run("the zero value never waits", func(t *testing.T) {
		var g gather.Batches[int]
		out, _ := g.Gather(make(chan int), []int{-1}, 100, upTo(100))
		if len(out) != 1 {
			t.Fatalf("batch %v", out)
		}
	})
	t.Run("waits for more while smaller than wanted", func(t *testing.T) {
		ch := make(chan int)
		go func() {
			for i := range 2 {
				time.Sleep(5 * time.Millisecond) // arrivals one by one, after Gather found the queue empty
				ch <- i
			}
		}()
		g := gather.Batches[int]{Linger: time.Hour}
		out, closed := g.Gather(ch, []int{-1}, 3, upTo(100))
		if len(out) != 3 || closed {
			t.Fatalf("batch %v (closed %v), want the two late items", out, closed)
		}
	})
	t.Run("waits at most Linger in all", func(t *testing.T) {
		ch := make(chan int)
		g := gather.Batches[int]{Linger: 20 * time.Millisecond}
		for range 2 { // the second call reuses the timer
			start := time.Now()
			out, _ := g.Gather(ch, []int{-1}, 3, upTo(100))
			if len(out) != 1 || time.Since(start) < 20*time.Millisecond {
				t.Fatalf("batch %v after %v, want 1 item after the linger", out, time.Since(start))
			}
		}
	})
	t.Run("closed channel", func(t *testing.T) {
		ch := make(chan int, 2)
		fill(ch, 1)
		close(ch)
		g := gather.Batches[int]{Linger: time.Hour}
		out, closed := g.Gather(ch, []int{-1}, 10, upTo(100))
		if len(out) != 2 || !closed {
			t.Fatalf("batch %v (closed %v), want 2 items and closed", out, closed)
		}
	})
}
