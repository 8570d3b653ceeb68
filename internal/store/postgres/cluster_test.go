package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/store/postgres"
)

// TestWaker: work committed through one Store wakes a listener on another
// Store (another node) of the same database, for each kind.
func TestWaker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 2)
	a, b, ws := cl.nodes[0], cl.nodes[1], cl.ws
	if err := a.WebhookCreate(ctx, &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	j := &hookd.Job{WorkspaceID: ws.ID, Name: "j", Kind: hookd.JobHTTP}
	if err := a.JobCreate(ctx, j); err != nil {
		t.Fatal(err)
	}

	lctx, cancel := context.WithCancel(ctx)
	woken := make(chan string, 1000)
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		var once sync.Once
		done <- b.Listen(lctx, func(kind string) { once.Do(func() { close(ready) }); woken <- kind })
	}()
	// The listener is up when a notification of ours reaches it.
	deadline := time.After(5 * time.Second)
	for up := false; !up; {
		if err := a.ExecutionCreate(ctx, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: hookd.SourceAPI}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ready:
			up = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("listener never woken")
		}
	}
	drain := func() {
		for {
			select {
			case <-woken:
			case <-time.After(100 * time.Millisecond):
				return
			}
		}
	}
	expect := func(what, kind string, act func()) {
		t.Helper()
		drain()
		start := time.Now()
		act()
		// Generous for a loaded CI machine: nothing but the notification
		// can wake the listener (no poll is involved), and the latency is
		// logged.
		timeout := time.After(5 * time.Second)
		for {
			select {
			case k := <-woken:
				if k == kind {
					t.Logf("%s: woken after %v", what, time.Since(start))
					return
				}
			case <-timeout:
				t.Fatalf("%s: no %s wake-up within 5 s", what, kind)
			}
		}
	}
	expect("EventPublish", hookd.WakeDeliveries, func() {
		if _, _, err := a.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	})
	expect("ExecutionCreate", hookd.WakeExecutions, func() {
		if err := a.ExecutionCreate(ctx, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: hookd.SourceAPI}); err != nil {
			t.Fatal(err)
		}
	})
	cs, err := a.ExecutionsClaim(ctx, hookd.ExecClaimParams{Now: time.Now(), Limit: 1, Lease: time.Minute, Owner: "a"})
	if err != nil || len(cs) != 1 {
		t.Fatalf("claim: %v, %v", cs, err)
	}
	expect("ExecutionFinish", hookd.WakeExecutions, func() {
		if _, err := a.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: cs[0].ID, Status: hookd.ExecSucceeded, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	})

	// A burst of publishes sends at most one notification per gap (5 ms),
	// not one per publish.
	drain()
	const burst = 200
	start := time.Now()
	for range burst {
		if _, _, err := a.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	time.Sleep(50 * time.Millisecond) // the last send
	got := 0
	for len(woken) > 0 {
		<-woken
		got++
	}
	if limit := int(elapsed/(5*time.Millisecond)) + 3; got < 1 || got > limit {
		t.Errorf("%d publishes in %v woke the other node %d times, want 1 to %d", burst, elapsed, got, limit)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Listen did not return after its context ended")
	}
}

// TestWakerReconnects: the listening connection is killed; Listen
// reconnects by itself, reports both kinds (wake-ups may have been lost),
// and hears later notifications.
func TestWakerReconnects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 2)
	a, b, ws := cl.nodes[0], cl.nodes[1], cl.ws
	if err := a.WebhookCreate(ctx, &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var n atomic.Int64
	go b.Listen(lctx, func(string) { n.Add(1) })
	publish := func() {
		if _, _, err := a.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "first wake-up", 5*time.Second, func() bool { publish(); return n.Load() > 0 })
	conn, err := pgx.Connect(ctx, cl.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners, %v", killed, err)
	}
	before := n.Load()
	waitFor(t, "wake-ups after the reconnect", 5*time.Second, func() bool { return n.Load() >= before+2 })
	before = n.Load()
	waitFor(t, "a later notification", 5*time.Second, func() bool { publish(); return n.Load() > before })
}

// TestRateLimit: a bucket of N allows a burst of N, then refuses with the
// time until the next token; it refills at N per minute up to N; two
// Stores (nodes) share it.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	allow := func(s *postgres.Store, k string, per int, at time.Time) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := s.RateLimitAllow(ctx, k, per, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok, wait
	}
	// Burst of 30 across two nodes, alternating.
	for i := range 30 {
		s := a
		if i%2 == 1 {
			s = b
		}
		if ok, _ := allow(s, "trg_1|203.0.113.7", 30, t0); !ok {
			t.Fatalf("call %d of the burst refused", i+1)
		}
	}
	ok, wait := allow(b, "trg_1|203.0.113.7", 30, t0)
	if ok || wait != 2*time.Second {
		t.Errorf("31st call: ok=%v, retry after %v; want refused, 2s (30/min)", ok, wait)
	}
	if ok, _ := allow(a, "trg_1|198.51.100.1", 30, t0); !ok {
		t.Error("another key shares the bucket")
	}
	// One token per 2 s.
	if ok, wait := allow(a, "trg_1|203.0.113.7", 30, t0.Add(time.Second)); ok || wait != time.Second {
		t.Errorf("after 1 s: ok=%v, retry after %v; want refused, 1s", ok, wait)
	}
	if ok, _ := allow(a, "trg_1|203.0.113.7", 30, t0.Add(2*time.Second)); !ok {
		t.Error("after 2 s: refused, want one token refilled")
	}
	if ok, _ := allow(b, "trg_1|203.0.113.7", 30, t0.Add(2*time.Second)); ok {
		t.Error("after 2 s, second call: allowed, want refused")
	}
	// A clock behind the last use refills nothing.
	if ok, _ := allow(b, "trg_1|203.0.113.7", 30, t0); ok {
		t.Error("a clock running behind refilled the bucket")
	}
	// Long idle: full again, never more than the capacity.
	later := t0.Add(time.Hour)
	for i := range 30 {
		if ok, _ := allow(a, "trg_1|203.0.113.7", 30, later); !ok {
			t.Fatalf("after an hour, call %d refused", i+1)
		}
	}
	if ok, _ := allow(a, "trg_1|203.0.113.7", 30, later); ok {
		t.Error("after an hour: more than the capacity allowed")
	}
	if ok, _ := allow(a, "unlimited", 0, later); !ok {
		t.Error("perMinute 0 refused")
	}

	// Concurrent takes on both nodes: exactly the capacity is allowed.
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			if ok, _ := allow(s, "burst", 20, t0); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 20 {
		t.Errorf("%d of 100 concurrent calls allowed, want 20", allowed.Load())
	}

	// Idle buckets are swept.
	conn, err := pgx.Connect(ctx, cl.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	c := open(t, cl.dsn, postgres.Options{Sealer: cl.key}) // its first call sweeps
	allow(c, "fresh", 10, later.Add(11*time.Minute))
	var keys []string
	rows, _ := conn.Query(ctx, `SELECT key FROM rate_buckets ORDER BY key`)
	keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[fresh]" {
		t.Errorf("buckets after the sweep: %v, want only the fresh one", keys)
	}
}

// TestClaimMaxPerWebhook: nodes claiming one webhook's deliveries at once
// never hold more than MaxPerWebhook of them in processing together, as
// sampled from the database throughout, and still deliver everything.
func TestClaimMaxPerWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 1)
	s, ws := cl.nodes[0], cl.ws
	hot := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://hot", Active: true, Secret: "s", Events: []string{"t"}}
	cold := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://cold", Active: true, Secret: "s", Events: []string{"cold"}}
	for _, wh := range []*hookd.Webhook{hot, cold} {
		if err := s.WebhookCreate(ctx, wh); err != nil {
			t.Fatal(err)
		}
	}
	const n, maxPer, nodes = 400, 5, 4
	if err := s.BulkInsertPending(ctx, ws.ID, hot.ID, n, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, cl.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	stop := make(chan struct{})
	var peak, samples atomic.Int64
	sampler := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				sampler <- nil
				return
			default:
			}
			var c int64
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE webhook_id = $1 AND status = 'processing'`, hot.ID).Scan(&c); err != nil {
				sampler <- err
				return
			}
			samples.Add(1)
			if c > peak.Load() {
				peak.Store(c)
			}
		}
	}()

	var delivered atomic.Int64
	var wg sync.WaitGroup
	for i := range nodes {
		node := open(t, cl.dsn, postgres.Options{Sealer: cl.key, MaxConns: 2})
		wg.Go(func() {
			// Until everything is delivered: a node finds the cap held by
			// the others most of the time, so no count of empty claims
			// means the work is done (a budget of 50 in all ran out on a
			// busy CI machine with three quarters of the work pending).
			for deadline := time.Now().Add(time.Minute); delivered.Load() < n && time.Now().Before(deadline); {
				got, err := node.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now(), Limit: 10, Lease: time.Minute,
					Owner: fmt.Sprint("node-", i), MaxPerWebhook: maxPer})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				if len(got) > maxPer {
					t.Errorf("one claim took %d deliveries of a webhook capped at %d", len(got), maxPer)
				}
				time.Sleep(2 * time.Millisecond) // the attempts
				rs := make([]hookd.AttemptResult, len(got))
				for i, c := range got {
					rs[i] = hookd.AttemptResult{DeliveryID: c.ID, WebhookID: c.WebhookID, Attempt: hookd.Attempt{StatusCode: 200},
						Outcome: hookd.OutcomeDelivered, Now: time.Now()}
				}
				if err := node.DeliveriesComplete(ctx, rs); err != nil {
					t.Error(err)
					return
				}
				delivered.Add(int64(len(got)))
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-sampler; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d deliveries over %d nodes; peak in processing %d (cap %d) over %d samples", delivered.Load(), nodes, peak.Load(), maxPer, samples.Load())
	if delivered.Load() != n {
		t.Errorf("delivered %d, want %d", delivered.Load(), n)
	}
	if peak.Load() > maxPer {
		t.Errorf("peak of %d deliveries in processing for one webhook, cap %d", peak.Load(), maxPer)
	}

	// The cap counts deliveries in flight on other nodes: with maxPer held
	// elsewhere, a webhook gets nothing, another webhook is unaffected.
	for range 2 * maxPer {
		if _, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Now: time.Now().Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "cold", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	other := open(t, cl.dsn, postgres.Options{Sealer: cl.key})
	held, err := other.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now(), Limit: 100, Lease: time.Minute, Owner: "other", MaxPerWebhook: maxPer})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, c := range held {
		count[c.WebhookID]++
	}
	if count[hot.ID] != maxPer || count[cold.ID] != 1 {
		t.Fatalf("first claim: %v, want %d of the hot webhook and the cold one", count, maxPer)
	}
	got, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now(), Limit: 100, Lease: time.Minute, Owner: "s", MaxPerWebhook: maxPer})
	if err != nil || len(got) != 0 {
		t.Fatalf("claim with the cap held elsewhere: %d deliveries, %v; want none", len(got), err)
	}
	got, err = s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now(), Limit: 100, Lease: time.Minute, Owner: "s"})
	if err != nil || len(got) != maxPer {
		t.Fatalf("claim without MaxPerWebhook: %d deliveries, %v; want the other %d", len(got), err, maxPer)
	}
}

// TestExecClaimAcrossNodes: nodes claiming one job's runs at once never run
// more than its concurrency together (sampled from the database), start
// every run exactly once, and start them in queue order per job.
func TestExecClaimAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 1)
	s, ws := cl.nodes[0], cl.ws
	const runs, conc, nodes = 60, 2, 4
	j := &hookd.Job{WorkspaceID: ws.ID, Name: "j", Kind: hookd.JobHTTP, Concurrency: conc}
	if err := s.JobCreate(ctx, j); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	for i := range runs {
		if err := s.ExecutionCreate(ctx, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: hookd.SourceAPI,
			CreatedAt: base, RunAt: base.Add(time.Duration(i) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, cl.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	stop := make(chan struct{})
	var peak atomic.Int64
	sampler := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				sampler <- nil
				return
			default:
			}
			var c int64
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM executions WHERE job_id = $1 AND status = 'running'`, j.ID).Scan(&c); err != nil {
				sampler <- err
				return
			}
			if c > peak.Load() {
				peak.Store(c)
			}
		}
	}()
	var mu sync.Mutex
	seen := map[string]int{}
	var started []time.Time // run_at of each start, in start order
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range nodes {
		node := open(t, cl.dsn, postgres.Options{Sealer: cl.key, MaxConns: 2})
		wg.Go(func() {
			// Until every run is done (as in TestClaimMaxPerWebhook: a
			// node finds the job at its concurrency most of the time).
			for deadline := time.Now().Add(time.Minute); done.Load() < runs && time.Now().Before(deadline); {
				got, err := node.ExecutionsClaim(ctx, hookd.ExecClaimParams{Now: time.Now(), Limit: 5, Lease: time.Minute, Owner: fmt.Sprint("node-", i)})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				for _, c := range got {
					seen[c.ID]++
					started = append(started, c.RunAt)
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
				for _, c := range got {
					if _, err := node.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: c.ID, Status: hookd.ExecSucceeded, Now: time.Now()}); err != nil {
						t.Error(err)
						return
					}
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-sampler; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d runs over %d nodes, peak running %d (concurrency %d)", done.Load(), nodes, peak.Load(), conc)
	if len(seen) != runs {
		t.Errorf("%d runs started, want %d", len(seen), runs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s started %d times", id, n)
		}
	}
	if peak.Load() > conc {
		t.Errorf("peak of %d running, concurrency %d", peak.Load(), conc)
	}
	// Starts are recorded after each claim returns, so two claims may
	// interleave their records; but a run never starts before one queued
	// ahead of it by more than the concurrency.
	for i, at := range started {
		for _, later := range started[i+1:] {
			if later.Before(at.Add(-time.Duration(conc) * time.Millisecond)) {
				t.Fatalf("run due %v started after run due %v", later.Sub(base), at.Sub(base))
			}
		}
	}
}

// TestCallAcceptAcrossNodes: concurrent calls to a cooldown trigger landing
// on two nodes fold into one leading and one trailing run; a dedup key sent
// to both nodes at once makes one run.
func TestCallAcceptAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 2)
	a, b, ws := cl.nodes[0], cl.nodes[1], cl.ws
	j := &hookd.Job{WorkspaceID: ws.ID, Name: "j", Kind: hookd.JobHTTP}
	if err := a.JobCreate(ctx, j); err != nil {
		t.Fatal(err)
	}
	mk := func(cooldown int) *hookd.Trigger {
		tr := &hookd.Trigger{WorkspaceID: ws.ID, JobID: j.ID, IsActive: true, TokenHash: hookd.HashToken(hookd.NewID("wht_")),
			CooldownSeconds: cooldown, CooldownMode: hookd.CooldownCoalesce}
		if err := a.TriggerCreate(ctx, tr); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	now := time.Now()
	run := func(tr *hookd.Trigger, n int, dedup string) map[string]int {
		var mu sync.Mutex
		disp := map[string]int{}
		var wg sync.WaitGroup
		for i := range n {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				r, err := s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: tr, DedupKey: dedup, Now: now,
					Input: []byte(fmt.Sprintf(`{"i":%d}`, i))})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				disp[r.Disposition]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return disp
	}
	count := func(tr *hookd.Trigger) int {
		_, total, err := a.ExecutionList(ctx, hookd.ExecutionFilter{WorkspaceID: ws.ID, TriggerID: tr.ID, Page: hookd.Page{Limit: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return total
	}
	cool := mk(60)
	if d := run(cool, 40, ""); d[hookd.DispositionAccepted] != 1 || d[hookd.DispositionCoalesced] != 39 || count(cool) != 2 {
		t.Errorf("cooldown across nodes: %v over %d executions; want 1 accepted, 39 coalesced, 2 executions", d, count(cool))
	}
	plain := mk(0)
	if d := run(plain, 20, "msg_1"); d[hookd.DispositionAccepted] != 1 || d[hookd.DispositionDuplicate] != 19 || count(plain) != 1 {
		t.Errorf("dedup across nodes: %v over %d executions; want 1 accepted, 19 duplicates, 1 execution", d, count(plain))
	}
}

// TestSchedulePeriodAcrossNodes: nodes creating the same period's run at
// once make one run; the others get EConflict.
func TestSchedulePeriodAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 1)
	s, ws := cl.nodes[0], cl.ws
	j := &hookd.Job{WorkspaceID: ws.ID, Name: "j", Kind: hookd.JobHTTP, Schedule: &hookd.Schedule{Every: "1h"}}
	if err := s.JobCreate(ctx, j); err != nil {
		t.Fatal(err)
	}
	period := time.Now().Truncate(time.Hour)
	var ok, conflict atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		node := open(t, cl.dsn, postgres.Options{Sealer: cl.key, MaxConns: 2})
		wg.Go(func() {
			err := node.ExecutionCreate(ctx, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: hookd.SourceSchedule, Period: &period})
			switch hookd.ErrorCode(err) {
			case "":
				ok.Add(1)
			case hookd.EConflict:
				conflict.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != 7 {
		t.Errorf("%d created, %d conflicts; want 1 and 7", ok.Load(), conflict.Load())
	}
}

// TestClaimMaxPerWebhookInFlight: with ClaimParams.InFlight the cap counts
// the claiming owner's own processing rows as InFlight says (answered
// deliveries whose results are being recorded hold no slot), while other
// owners' processing rows still count in full.
func TestClaimMaxPerWebhookInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 1)
	s, ws := cl.nodes[0], cl.ws
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://hot", Active: true, Secret: "s"}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	const maxPer = 4
	if err := s.BulkInsertPending(ctx, ws.ID, wh.ID, 5*maxPer, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	claim := func(owner string, inFlight int) int {
		t.Helper()
		got, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now(), Limit: 100, Lease: time.Minute, Owner: owner,
			MaxPerWebhook: maxPer, InFlight: func(string) int { return inFlight }})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	if n := claim("a", 0); n != maxPer {
		t.Fatalf("first claim took %d, want %d", n, maxPer)
	}
	// a's receiver answered them all; their results are not recorded yet.
	if n := claim("a", 0); n != maxPer {
		t.Errorf("claim with the owner's rows answered took %d, want %d more", n, maxPer)
	}
	if n := claim("a", maxPer-1); n != 1 {
		t.Errorf("claim with %d of the owner's in flight took %d, want 1", maxPer-1, n)
	}
	// Another owner sees a's 2×maxPer+1 processing rows: no room.
	if n := claim("b", 0); n != 0 {
		t.Errorf("another owner's claim took %d, want 0 (the cap is held by a's rows)", n)
	}
}

// TestPublishSeesOtherNodesWebhooks: a node publishing to a workspace fans
// out to exactly the webhooks active when the event is committed, though it
// keeps a copy of them between publishes and they are created, changed,
// deactivated and deleted through another node.
func TestPublishSeesOtherNodesWebhooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 2)
	a, b, ws := cl.nodes[0], cl.nodes[1], cl.ws
	targets := func() []string {
		t.Helper()
		evt, _, err := a.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "order.paid", Data: []byte(`{}`), Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		var hooks []string
		for _, id := range evt.DeliveryIDs {
			d, err := a.DeliveryGet(ctx, ws.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			hooks = append(hooks, d.WebhookID)
		}
		slices.Sort(hooks)
		return hooks
	}
	if got := targets(); len(got) != 0 {
		t.Fatalf("no webhooks: deliveries to %v", got)
	}
	w1 := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://one", Active: true, Secret: "s", Events: []string{"order.*"}}
	w2 := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://two", Active: true, Secret: "s", Events: []string{"order.*"}}
	for _, wh := range []*hookd.Webhook{w1, w2} {
		if err := b.WebhookCreate(ctx, wh); err != nil {
			t.Fatal(err)
		}
	}
	both := []string{w1.ID, w2.ID}
	slices.Sort(both)
	if got := targets(); !slices.Equal(got, both) {
		t.Fatalf("after creating two webhooks on the other node: deliveries to %v, want %v", got, both)
	}
	w1.Events = []string{"user.*"}
	if err := b.WebhookUpdate(ctx, w1); err != nil {
		t.Fatal(err)
	}
	if got := targets(); !slices.Equal(got, []string{w2.ID}) {
		t.Fatalf("after narrowing w1's events: deliveries to %v, want only w2", got)
	}
	w1.Events, w2.Active = []string{"order.*"}, false
	for _, wh := range []*hookd.Webhook{w1, w2} {
		if err := b.WebhookUpdate(ctx, wh); err != nil {
			t.Fatal(err)
		}
	}
	if got := targets(); !slices.Equal(got, []string{w1.ID}) {
		t.Fatalf("after widening w1 and deactivating w2: deliveries to %v, want only w1", got)
	}
	if err := b.WebhookDelete(ctx, ws.ID, w1.ID); err != nil {
		t.Fatal(err)
	}
	if got := targets(); len(got) != 0 {
		t.Fatalf("after deleting w1: deliveries to %v, want none", got)
	}
}

// TestHookCacheColdShared: publishes that find a workspace's webhooks not yet
// cached (a node just started under load) read them once between them, not
// once each (each read would hold a connection of the pool).
func TestHookCacheColdShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 1)
	s, ws := cl.nodes[0], cl.ws
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://one", Active: true, Secret: "s", Events: []string{"*"}}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	reads, seen, err := s.ColdHookGets(ctx, ws.ID, 16)
	if err != nil {
		t.Fatal(err)
	}
	if reads != 1 {
		t.Errorf("16 gets of a cold cache read the webhooks %d times, want once", reads)
	}
	for _, ids := range seen {
		if !slices.Equal(ids, []string{wh.ID}) {
			t.Errorf("a get saw %v, want [%s]", ids, wh.ID)
		}
	}
}
