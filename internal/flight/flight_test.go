package flight_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/flight"
)

// waitFor polls cond until it holds (the calls below block until released,
// so nothing here depends on how fast goroutines run).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDo: concurrent callers of one key share one call and its result or
// error; other keys run their own; a waiter whose context ends returns at
// once while the call goes on; the next call after one ends runs again; a
// call that panics leaves its waiters ErrPanicked; the call's context is
// not canceled with its caller's.
func TestDo(t *testing.T) {
	var g flight.Group[string, int]
	var calls atomic.Int32
	release := make(chan struct{})
	slow := func(context.Context) (int, error) {
		calls.Add(1)
		<-release
		return 42, nil
	}
	const n = 20
	results := make(chan int, n)
	go func() { v, _ := g.Do(context.Background(), "a", slow); results <- v }()
	waitFor(t, "the first call", func() bool { return calls.Load() == 1 })
	for range n - 1 {
		go func() {
			v, err := g.Do(context.Background(), "a", func(context.Context) (int, error) { t.Error("a waiter ran its own call"); return 0, nil })
			if err != nil {
				t.Error(err)
			}
			results <- v
		}()
	}
	// Another key is not held up by the first.
	if v, err := g.Do(context.Background(), "b", func(context.Context) (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Errorf("other key: %d, %v", v, err)
	}
	// A waiter whose context ends returns at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Do(ctx, "a", slow); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled waiter: %v", err)
	}
	waitFor(t, "the waiters", func() bool { return g.Waiting("a") == n-1 })
	close(release)
	for range n {
		if v := <-results; v != 42 {
			t.Errorf("result %d, want 42", v)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("%d calls for %d concurrent callers, want 1", c, n)
	}
	// Once a call has ended the next one runs; an error is returned, not kept.
	boom := errors.New("boom")
	if _, err := g.Do(context.Background(), "a", func(context.Context) (int, error) { return 0, boom }); err != boom {
		t.Errorf("err = %v, want boom", err)
	}
	if v, err := g.Do(context.Background(), "a", func(context.Context) (int, error) { return 1, nil }); v != 1 || err != nil {
		t.Errorf("after an error: %d, %v", v, err)
	}

	// A call that panics: the panic goes on in its caller, its waiters get
	// ErrPanicked, and the key is free again.
	started, panicNow := make(chan struct{}), make(chan struct{})
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		_, _ = g.Do(context.Background(), "p", func(context.Context) (int, error) {
			close(started)
			<-panicNow
			panic("store exploded")
		})
	}()
	<-started
	waiter := make(chan error, 1)
	go func() {
		_, err := g.Do(context.Background(), "p", func(context.Context) (int, error) { t.Error("late waiter ran its own call"); return 0, nil })
		waiter <- err
	}()
	waitFor(t, "the waiter", func() bool { return g.Waiting("p") == 1 })
	close(panicNow)
	if r := <-recovered; r != "store exploded" {
		t.Errorf("recovered %v", r)
	}
	if err := <-waiter; !errors.Is(err, flight.ErrPanicked) {
		t.Errorf("waiter of a panicked call: %v", err)
	}
	if v, err := g.Do(context.Background(), "p", func(context.Context) (int, error) { return 3, nil }); v != 3 || err != nil {
		t.Errorf("after a panic: %d, %v", v, err)
	}
	// The call does not end with its caller's context: the others share it.
	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := g.Do(done, "c", func(ctx context.Context) (int, error) { return 0, ctx.Err() }); err != nil {
		t.Errorf("the call's context of a canceled caller: %v, want it not canceled", err)
	}
	if w := g.Waiting("a") + g.Waiting("p"); w != 0 {
		t.Errorf("%d callers still counted as waiting", w)
	}
}
