package delivery_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/delivery"
	"github.com/hookd/hookd/internal/metrics"
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

// TestShares: a shared engine (Config.Shared) takes no work until Resize
// lets it, then holds each webhook to its share of PerWebhook (the cap over
// the live nodes) with no cluster-wide count asked of the store; it reports
// that it fits a smaller share only once its deliveries in flight do; with
// more nodes than the cap it falls back to the store's count; and it stops
// taking work when Resize says it may not.
func TestShares(t *testing.T) {
	m := metrics.New()
	e := newEnv(t, func(c *delivery.Config) { c.Workers, c.PerWebhook, c.Shared, c.Metrics = 100, 8, true, m })
	maxPer := func() int { _, _, m := e.engine.Lease(); return m }
	gauge := func(want float64) {
		t.Helper()
		mfs, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "hookd_cluster_nodes" {
				if got := mf.GetMetric()[0].GetGauge().GetValue(); got != want {
					t.Fatalf("hookd_cluster_nodes %v, want %v", got, want)
				}
				return
			}
		}
		t.Fatal("no hookd_cluster_nodes")
	}
	// Slots reserved are given back however the test ends: the engine's
	// stop waits for them.
	held := map[string]int{}
	reserve := func(h string, n int) int {
		took, _ := e.engine.Reserve(h, n)
		held[h] += took
		return took
	}
	unreserve := func(h string, n int) {
		e.engine.Unreserve(h, n)
		held[h] -= n
	}
	t.Cleanup(func() {
		for h, n := range held {
			e.engine.Unreserve(h, n)
		}
	})
	// fits: Resize(n, true) reports the node fits its share. A claim of
	// the engine's own loop that started under the previous share makes it
	// say no for that claim's few milliseconds: ask again meanwhile.
	fits := func(n int) bool {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			if ok := e.engine.Resize(n, true); ok || time.Now().After(deadline) {
				return ok
			}
		}
	}
	gauge(0)
	if took := reserve("a", 5); took != 0 {
		t.Fatalf("before any Resize: Reserve took %d, want 0", took)
	}
	if !fits(2) {
		t.Fatal("nothing in flight: does not fit")
	}
	gauge(2)
	if took := reserve("a", 10); took != 4 || maxPer() != 0 {
		t.Fatalf("two nodes: Reserve took %d, cap to count %d; want 4 (8/2), 0", took, maxPer())
	}
	// A third node: the share is 2, and this node has 4 in flight.
	if fits := e.engine.Resize(3, true); fits {
		t.Fatal("4 in flight fit a share of 2")
	}
	if took := reserve("a", 1); took != 0 {
		t.Fatalf("above the share: Reserve took %d", took)
	}
	unreserve("a", 2)
	if !fits(3) {
		t.Fatal("2 in flight do not fit a share of 2")
	}
	if took := reserve("b", 10); took != 2 {
		t.Fatalf("webhook b, three nodes: Reserve took %d, want 2", took)
	}
	// More nodes than the cap: the whole cap, counted by the store.
	if !fits(9) {
		t.Fatal("more nodes than the cap: does not fit")
	}
	if took := reserve("b", 10); took != 6 || maxPer() != 8 {
		t.Fatalf("nine nodes: Reserve took %d, cap to count %d; want 6, 8", took, maxPer())
	}
	// Not active (it lost its membership): nothing more.
	e.engine.Resize(9, false)
	if took := reserve("c", 1); took != 0 {
		t.Fatalf("inactive: Reserve took %d", took)
	}
	gauge(0)
}

// completeCounter is a store whose DeliveriesComplete calls are counted with
// the results each carried.
type completeCounter struct {
	hookd.Store
	mu    sync.Mutex
	sizes []int
}

func (c *completeCounter) DeliveriesComplete(ctx context.Context, results []hookd.AttemptResult) error {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(results))
	c.mu.Unlock()
	return c.Store.DeliveriesComplete(ctx, results)
}

// TestRecordDelay: with RecordDelay, results answered one after another wait
// for each other and are written in one batch; stopping the engine writes
// what waits at once (every delivery ends delivered).
func TestRecordDelay(t *testing.T) {
	t.Parallel()
	counter := &completeCounter{}
	e := newEnv(t, func(c *delivery.Config) {
		counter.Store = c.Store
		c.Store, c.RecordDelay = counter, time.Hour
	})
	rc := newReceiver(t, nil)
	e.webhook(rc.URL, nil)
	var ids []string
	for i := range 3 {
		ids = append(ids, e.publish("a", `{}`).DeliveryIDs...)
		for rc.hits.Load() < int64(i+1) {
			time.Sleep(time.Millisecond)
		}
	}
	e.stop()
	counter.mu.Lock()
	sizes := counter.sizes
	counter.mu.Unlock()
	if len(sizes) != 1 || sizes[0] != 3 {
		t.Fatalf("results written in batches of %v, want one of 3", sizes)
	}
	for _, id := range ids {
		if d, err := e.store.DeliveryGet(context.Background(), e.ws.ID, id); err != nil || d.Status != hookd.DeliveryDelivered {
			t.Fatalf("delivery %s after stop: %+v, %v", id, d, err)
		}
	}
}

// TestSharedWaitsForResize: a shared engine claims nothing, however due,
// until the membership lets it (Resize with active), and claims at once
// when it does.
func TestSharedWaitsForResize(t *testing.T) {
	t.Parallel()
	counter := &nextDueCounter{}
	e := newEnv(t, func(c *delivery.Config) {
		counter.Store = c.Store
		c.Store, c.Shared = counter, true
	})
	rc := newReceiver(t, nil)
	e.webhook(rc.URL, nil)
	evt := e.publish("a", `{}`)
	time.Sleep(200 * time.Millisecond) // ten poll intervals of the test engine
	if n := rc.hits.Load(); n != 0 {
		t.Fatalf("inactive engine delivered %d", n)
	}
	if n := counter.n.Load(); n > 2 {
		t.Fatalf("inactive engine asked the store for the next due time %d times", n)
	}
	e.engine.Resize(1, true)
	e.waitStatus(evt.DeliveryIDs[0], hookd.DeliveryDelivered, 1)
}

// roomProbe is a store whose first claim asks for a webhook's room, then
// sees what a claim at publish (Reserve) and the cap's in-flight count would
// get while the claim is still running.
type roomProbe struct {
	hookd.Store
	engine *delivery.Engine
	ready  chan struct{} // closed once engine is set
	once   sync.Once
	got    chan [3]int // room, Reserve during the claim, InFlight during the claim
}

func (p *roomProbe) DeliveriesClaim(ctx context.Context, cp hookd.ClaimParams) ([]hookd.ClaimedDelivery, error) {
	p.once.Do(func() {
		<-p.ready
		room := cp.PerWebhook("wh_x")
		took, _ := p.engine.Reserve("wh_x", 5)
		p.got <- [3]int{room, took, cp.InFlight("wh_x")}
	})
	return nil, nil
}

// TestClaimHoldsRoom: the room a claim is given for a webhook is not also
// given to a claim at publish while the claim runs (one node would send
// more than its cap), does not count as in flight, and is given back when
// the claim returns.
func TestClaimHoldsRoom(t *testing.T) {
	t.Parallel()
	probe := &roomProbe{got: make(chan [3]int, 1), ready: make(chan struct{})}
	e := newEnv(t, func(c *delivery.Config) {
		probe.Store = c.Store
		c.Store, c.PerWebhook = probe, 3
	})
	probe.engine = e.engine
	close(probe.ready)
	got := <-probe.got
	e.engine.Unreserve("wh_x", got[1]) // the engine's stop waits for reserved slots
	if got != [3]int{3, 0, 0} {
		t.Fatalf("room %d, Reserve during the claim took %d, in flight %d; want 3, 0, 0", got[0], got[1], got[2])
	}
	var took int
	for deadline := time.Now().Add(5 * time.Second); took == 0 && time.Now().Before(deadline); {
		took, _ = e.engine.Reserve("wh_x", 5)
		time.Sleep(time.Millisecond)
	}
	if took != 3 {
		t.Fatalf("Reserve after the claim took %d, want 3", took)
	}
	e.engine.Unreserve("wh_x", took)
}

// hookGetGate is a store whose first webhook read waits for release, counting
// the reads.
type hookGetGate struct {
	hookd.Store
	reads   atomic.Int32
	release chan struct{}
}

func (s *hookGetGate) WebhookGetByID(ctx context.Context, id string) (*hookd.Webhook, error) {
	if s.reads.Add(1) == 1 {
		<-s.release
	}
	return s.Store.WebhookGetByID(ctx, id)
}

// TestHookLoadShared: the first attempts to a webhook, started together,
// read it once between them (each read would hold a database connection).
func TestHookLoadShared(t *testing.T) {
	t.Parallel()
	gate := &hookGetGate{release: make(chan struct{})}
	e := newEnv(t, func(c *delivery.Config) {
		gate.Store = c.Store
		c.Store = gate
	})
	rc := newReceiver(t, nil)
	wh := e.webhook(rc.URL, nil)
	var ids []string
	for range 8 {
		ids = append(ids, e.publish("a", `{}`).DeliveryIDs...)
	}
	// At least one more attempt waits for the first one's read.
	for deadline := time.Now().Add(10 * time.Second); gate.reads.Load() == 0 || e.engine.HookReadsWaiting(wh.ID) == 0; {
		if time.Now().After(deadline) {
			close(gate.release)
			t.Fatalf("no attempt waits for the first read of the webhook (%d reads)", gate.reads.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(gate.release)
	for _, id := range ids {
		e.waitStatus(id, hookd.DeliveryDelivered, 1)
	}
	if n := gate.reads.Load(); n != 1 {
		t.Errorf("8 first attempts read the webhook %d times, want once", n)
	}
}
