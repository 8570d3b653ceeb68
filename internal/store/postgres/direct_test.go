package postgres_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/delivery"
	"github.com/hookd/hookd/internal/store/postgres"
	"github.com/hookd/hookd/signature"
)

// recDispatcher is a hookd.Dispatcher that gives the slots a test sets and
// records what the store did with them.
type recDispatcher struct {
	mu         sync.Mutex
	free       map[string]int // slots Reserve gives per webhook
	inFlight   map[string]int // what Reserve reports as in flight here
	asked      map[string]int // Reserve calls per webhook
	reserved   int
	unreserved int
	dispatched []hookd.ClaimedDelivery
	max        int
}

func newRecDispatcher(max int) *recDispatcher {
	return &recDispatcher{free: map[string]int{}, inFlight: map[string]int{}, asked: map[string]int{}, max: max}
}

func (d *recDispatcher) Reserve(wh string, n int) (int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked[wh]++
	took := min(n, d.free[wh])
	d.free[wh] -= took
	d.reserved += took
	return took, d.inFlight[wh]
}

func (d *recDispatcher) Unreserve(wh string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.free[wh] += n
	d.unreserved += n
}

func (d *recDispatcher) Dispatch(c []hookd.ClaimedDelivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dispatched = append(d.dispatched, c...)
}

func (d *recDispatcher) Lease() (string, time.Duration, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return "node-a", time.Minute, d.max
}

func (d *recDispatcher) setMax(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.max = n
}

// balanced fails t unless every slot reserved was dispatched or given back.
func (d *recDispatcher) balanced(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reserved != len(d.dispatched)+d.unreserved {
		t.Errorf("%d slots reserved, %d dispatched + %d given back", d.reserved, len(d.dispatched), d.unreserved)
	}
}

// TestClaimAtPublish: with a dispatcher set, a publish claims its deliveries
// for this node as it commits them, as far as the engine's slots, the
// webhook's cluster-wide cap (other nodes' rows counted in the database,
// this node's as the dispatcher says) and the webhook's claim lock allow;
// the rest stay pending for the claim path, and no slot is leaked.
func TestClaimAtPublish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The store's clock runs an hour behind, plus offset. Behind, not
	// ahead: ids stamped with a time ahead of the others would move the
	// process's id generators (hookd.NewIDAt) into the next second, and the
	// ids the parallel tests make then no longer sort in the order they
	// were made (TestPublishBatch relies on it).
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load()) - time.Hour) }
	dsn, key := freshDB(t), sealer(t)
	s := open(t, dsn, postgres.Options{Sealer: key, Now: clock})
	other := open(t, dsn, postgres.Options{Sealer: key})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	hook := func(typ string) *hookd.Webhook {
		wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://" + typ, Active: true, Secret: "s", Events: []string{typ}}
		if err := s.WebhookCreate(ctx, wh); err != nil {
			t.Fatal(err)
		}
		return wh
	}
	const maxPer = 3
	d := newRecDispatcher(maxPer)
	s.SetDispatcher(d)
	publish := func(typ string) *hookd.Event {
		t.Helper()
		evt, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: typ, Data: json.RawMessage(`{"n":1}`), Now: clock()})
		if err != nil {
			t.Fatal(err)
		}
		return evt
	}
	type row struct{ status, owner string }
	rows := func(evt *hookd.Event) map[string]row {
		t.Helper()
		out := map[string]row{}
		rs, _ := conn.Query(ctx, `SELECT webhook_id, status, coalesce(lease_owner, '') FROM deliveries WHERE event_id = $1`, evt.ID)
		var wh string
		var r row
		if _, err := pgx.ForEachRow(rs, []any{&wh, &r.status, &r.owner}, func() error { out[wh] = r; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("room", func(t *testing.T) {
		a, b := hook("both"), hook("both")
		d.free[a.ID] = 5 // b gets no slot
		start := clock()
		evt := publish("both")
		if evt.Claimed != 1 || len(evt.DeliveryIDs) != 2 {
			t.Fatalf("claimed %d of %d deliveries, want 1 of 2", evt.Claimed, len(evt.DeliveryIDs))
		}
		got := rows(evt)
		if got[a.ID] != (row{hookd.DeliveryProcessing, "node-a"}) || got[b.ID] != (row{hookd.DeliveryPending, ""}) {
			t.Fatalf("rows %v: want a's processing under node-a, b's pending", got)
		}
		if len(d.dispatched) != 1 {
			t.Fatalf("dispatched %d, want 1", len(d.dispatched))
		}
		c := d.dispatched[0]
		a2, err := s.WebhookGet(ctx, ws.ID, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.WebhookID != a.ID || c.EventID != evt.ID || c.EventType != "both" || string(c.EventData) != `{"n":1}` ||
			!c.WebhookUpdatedAt.Equal(a2.UpdatedAt) || !c.EventTimestamp.Equal(evt.Timestamp) || c.Attempts != 0 || c.Manual {
			t.Fatalf("dispatched %+v", c)
		}
		if c.LeaseUntil.Before(start.Add(time.Minute-time.Second)) || c.LeaseUntil.After(clock().Add(time.Minute)) {
			t.Fatalf("lease until %v, want a minute from %v", c.LeaseUntil, start)
		}
		// Another node's claim finds only b's: a's is held under node-a's lease.
		claimed, err := other.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now().Add(time.Hour), Limit: 10, Lease: time.Minute, Owner: "other"})
		if err != nil || len(claimed) != 1 || claimed[0].WebhookID != b.ID {
			t.Fatalf("other node's claim: %v, %v; want b's delivery only", claimed, err)
		}
		// The claimed delivery's attempt is recorded as a claimed one's is.
		if err := s.DeliveriesComplete(ctx, []hookd.AttemptResult{{DeliveryID: c.ID, WebhookID: a.ID,
			Attempt: hookd.Attempt{ID: hookd.NewID(hookd.PrefixAttempt), StatusCode: 200, StartedAt: clock()}, Outcome: hookd.OutcomeDelivered, Now: clock()}}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.DeliveryGet(ctx, ws.ID, c.ID); err != nil || got.Status != hookd.DeliveryDelivered || len(got.AttemptList) != 1 {
			t.Fatalf("after its attempt: %+v, %v", got, err)
		}
		d.balanced(t)
	})

	t.Run("cap", func(t *testing.T) {
		wh := hook("capped")
		// Two of its deliveries in flight on another node.
		for range 2 {
			publish("capped")
		}
		if held, err := other.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now().Add(time.Hour), Limit: 10, Lease: time.Minute,
			Owner: "other", MaxPerWebhook: maxPer}); err != nil || len(held) != 2 {
			t.Fatalf("other node's claim: %d, %v; want 2", len(held), err)
		}
		d.free[wh.ID] = 5
		if evt := publish("capped"); evt.Claimed != 1 {
			t.Fatalf("with 2 of %d in flight elsewhere: claimed %d, want 1", maxPer, evt.Claimed)
		}
		// Now this node has one in flight (as its engine says) and the
		// other node two: the cap is reached.
		d.inFlight[wh.ID] = 1
		evt := publish("capped")
		if evt.Claimed != 0 || rows(evt)[wh.ID].status != hookd.DeliveryPending {
			t.Fatalf("at the cap: claimed %d, rows %v; want the delivery pending", evt.Claimed, rows(evt))
		}
		d.balanced(t)
	})

	t.Run("lock held elsewhere", func(t *testing.T) {
		wh := hook("locked")
		d.free[wh.ID] = 5
		// Another node claiming the webhook right now holds its lock.
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, int32(postgres.WebhookLockClass), wh.ID); err != nil {
			t.Fatal(err)
		}
		if evt := publish("locked"); evt.Claimed != 0 || rows(evt)[wh.ID].status != hookd.DeliveryPending {
			t.Fatalf("lock held: claimed %d, rows %v; want pending", evt.Claimed, rows(evt))
		}
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
			t.Fatal(err)
		}
		// Contention seen: no claims at publish for the webhook for a
		// second of the store's clock, not even a Reserve.
		asked := d.asked[wh.ID]
		if evt := publish("locked"); evt.Claimed != 0 || d.asked[wh.ID] != asked {
			t.Fatalf("right after contention: claimed %d, Reserve asked %d more times; want neither", evt.Claimed, d.asked[wh.ID]-asked)
		}
		offset.Add(int64(time.Second))
		if evt := publish("locked"); evt.Claimed != 1 {
			t.Fatalf("a second later: claimed %d, want 1", evt.Claimed)
		}
		d.balanced(t)
	})

	t.Run("share", func(t *testing.T) {
		// The engine holds to its share of the cap (Lease says 0): the
		// publish claims every slot reserved, without the webhook's lock
		// (held elsewhere here) and without counting the other nodes' rows
		// (beyond the cap here).
		wh := hook("share")
		for range maxPer + 1 {
			publish("share")
		}
		if _, err := other.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now().Add(time.Hour), Limit: 100, Lease: time.Minute,
			Owner: "other"}); err != nil {
			t.Fatal(err)
		}
		var held int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE webhook_id = $1 AND status = 'processing' AND lease_owner = 'other'`,
			wh.ID).Scan(&held); err != nil || held != maxPer+1 {
			t.Fatalf("in flight on the other node: %d, %v; want %d", held, err, maxPer+1)
		}
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, int32(postgres.WebhookLockClass), wh.ID); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
		d.setMax(0)
		defer d.setMax(maxPer)
		d.free[wh.ID] = 2
		for i := range 3 {
			evt := publish("share")
			want, status := 1, hookd.DeliveryProcessing
			if i == 2 {
				want, status = 0, hookd.DeliveryPending // the slots are gone
			}
			if evt.Claimed != want || rows(evt)[wh.ID].status != status {
				t.Fatalf("publish %d: claimed %d, rows %v; want %d, %s", i, evt.Claimed, rows(evt), want, status)
			}
		}
		d.balanced(t)
	})

	t.Run("no slot", func(t *testing.T) {
		wh := hook("noslot")
		if evt := publish("noslot"); evt.Claimed != 0 || rows(evt)[wh.ID].status != hookd.DeliveryPending {
			t.Fatalf("no slot: claimed %d, rows %v; want pending", evt.Claimed, rows(evt))
		}
		d.balanced(t)
	})

	t.Run("off", func(t *testing.T) {
		wh := hook("off")
		d.free[wh.ID] = 5
		s.SetDispatcher(nil)
		defer s.SetDispatcher(d)
		if evt := publish("off"); evt.Claimed != 0 || rows(evt)[wh.ID].status != hookd.DeliveryPending || d.asked[wh.ID] != 0 {
			t.Fatalf("dispatcher off: claimed %d, rows %v, asked %d; want pending, never asked", evt.Claimed, rows(evt), d.asked[wh.ID])
		}
	})
}

// countingClaims is the store with its claims counted (the deliveries they
// took), so a test can tell deliveries claimed at publish from claimed ones.
type countingClaims struct {
	*postgres.Store
	took atomic.Int64
}

func (c *countingClaims) DeliveriesClaim(ctx context.Context, p hookd.ClaimParams) ([]hookd.ClaimedDelivery, error) {
	out, err := c.Store.DeliveriesClaim(ctx, p)
	c.took.Add(int64(len(out)))
	return out, err
}

// TestEngineClaimsAtPublish: the delivery engine as the store's dispatcher.
// Events published while it has room are sent without a claim; one published
// with the webhook's slots all taken stays pending, and is claimed and sent
// once a slot is freed (Reserve's refusal makes releases wake the claim
// loop). Each is sent once, and every delivery ends delivered.
func TestEngineClaimsAtPublish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 1)
	s, ws := cl.nodes[0], cl.ws
	release := make(chan struct{})
	var mu sync.Mutex
	sent := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent[r.Header.Get("webhook-id")]++
		mu.Unlock()
		<-release
	}))
	defer recv.Close()
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: recv.URL, Active: true, Secret: signature.NewSecret(), Events: []string{"t"}, MaxAttempts: 3}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	st := &countingClaims{Store: s}
	engine := delivery.New(delivery.Config{
		Store:      st,
		Client:     &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		PerWebhook: 2,
		Node:       "node-a",
	})
	s.SetDispatcher(engine)
	ectx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); engine.Run(ectx) }()
	defer func() { cancel(); <-done }()

	var evts []*hookd.Event
	for i := range 3 {
		evt, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if i == 2 {
			want = 0 // both slots taken
		}
		if evt.Claimed != want {
			t.Fatalf("publish %d: claimed %d, want %d (cap 2)", i, evt.Claimed, want)
		}
		evts = append(evts, evt)
	}
	engine.Wake() // as the API does for a publish that left deliveries pending
	waitFor(t, "the two claimed at publish sent", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) == 2 })
	if n := st.took.Load(); n != 0 {
		t.Fatalf("%d deliveries claimed while both slots were held by claims at publish", n)
	}
	close(release)
	waitFor(t, "every delivery delivered", 10*time.Second, func() bool {
		for _, e := range evts {
			d, err := s.DeliveryGet(ctx, ws.ID, e.DeliveryIDs[0])
			if err != nil || d.Status != hookd.DeliveryDelivered {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for _, e := range evts {
		if sent[e.ID] != 1 {
			t.Errorf("event %s sent %d times, want once", e.ID, sent[e.ID])
		}
	}
	if n := st.took.Load(); n != 1 {
		t.Errorf("%d deliveries went through a claim, want 1 (the one published at the cap)", n)
	}
}

// waitFor polls cond until it holds, failing t when it does not within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
