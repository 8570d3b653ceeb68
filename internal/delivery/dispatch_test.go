package delivery_test

import (
	"testing"

	"github.com/hookd/hookd/internal/delivery"
)

// TestReserve: slots for claims at publish come out of Workers and
// PerWebhook like claimed deliveries' do, go back with Unreserve, and none
// are given once the engine is stopping (its stop then waits for nothing).
func TestReserve(t *testing.T) {
	e := newEnv(t, func(c *delivery.Config) { c.Workers, c.PerWebhook = 3, 2 })
	steps := []struct {
		op             string
		hook           string
		n              int
		took, inFlight int
	}{
		{"reserve", "a", 5, 2, 0}, // the webhook's cap
		{"reserve", "a", 1, 0, 2}, // a is full
		{"reserve", "b", 5, 1, 0}, // one worker left
		{"unreserve", "a", 2, 0, 0},
		{"reserve", "b", 5, 1, 1}, // b's cap: 2
		{"reserve", "a", 1, 1, 0},
		{"unreserve", "a", 1, 0, 0},
		{"unreserve", "b", 2, 0, 0},
	}
	for i, s := range steps {
		if s.op == "unreserve" {
			e.engine.Unreserve(s.hook, s.n)
			continue
		}
		took, inFlight := e.engine.Reserve(s.hook, s.n)
		if took != s.took || inFlight != s.inFlight {
			t.Fatalf("step %d: Reserve(%s, %d) = %d, %d; want %d, %d", i, s.hook, s.n, took, inFlight, s.took, s.inFlight)
		}
	}
	e.stop() // returns: every slot was given back
	if took, _ := e.engine.Reserve("a", 1); took != 0 {
		t.Fatalf("Reserve after stop took %d, want 0", took)
	}
}
