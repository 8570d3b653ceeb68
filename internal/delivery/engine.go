// Package delivery is hookd's outbound engine: it claims due deliveries from
// the store in batches, sends each as a signed Standard Webhooks POST (no
// redirects, a per-attempt timeout, through the SSRF-guarded client it is
// given), decides the verdict (delivered, retry with backoff, failed, dead),
// and records attempts in batches. A per-webhook concurrency cap keeps a slow
// or failing endpoint from holding up the others.
package delivery

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/flight"
	"github.com/hookd/hookd/internal/gather"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/signature"
)

// Config configures an Engine. Zero values take the documented defaults.
type Config struct {
	Store  hookd.Store
	Client *http.Client // must not follow redirects; guarded against SSRF
	Logger *slog.Logger
	// Metrics may be nil.
	Metrics *metrics.Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RetrySchedule holds the delays after the 1st, 2nd, … failed attempt;
	// past its end the last delay repeats.
	RetrySchedule []time.Duration
	// Jitter is the ± fraction applied to each delay (default 0.2).
	Jitter float64
	// Rand returns a float in [0,1) (default math/rand/v2).
	Rand func() float64
	// Timeout bounds one attempt (default 15 s).
	Timeout time.Duration
	// Workers bounds concurrent attempts in this process (default 512).
	Workers int
	// PerWebhook bounds concurrent attempts per webhook (default 64); on a
	// store shared by several nodes it bounds them across all nodes (see
	// Shared).
	PerWebhook int
	// Shared says the store is shared by several nodes and tells the
	// engine, through Resize (hookd.Member), how many are live: each node
	// then holds to its share of PerWebhook (PerWebhook divided by the live
	// nodes), and claims nothing until the first Resize that lets it. When
	// there are more nodes than PerWebhook, shares would be empty: the
	// store's claims count every node's deliveries in flight instead
	// (ClaimParams.MaxPerWebhook).
	Shared bool
	// ClaimBatch bounds one claim (default 512).
	ClaimBatch int
	// Lease is how long a claim holds a delivery before another node may
	// take it back (default 2 min).
	Lease time.Duration
	// Node names this process in leases.
	Node string
	// ReclaimOnStart returns every processing delivery to pending at start:
	// right when this process is the only one using the database (SQLite).
	ReclaimOnStart bool
	// PollInterval is the longest the engine sleeps without a wake-up (default 1 s).
	PollInterval time.Duration
	// RecordDelay is how long attempt results wait for more before a batch
	// smaller than recordBatchMin is written (default 0: at once). Where
	// each transaction costs the database more than its rows (PostgreSQL),
	// a wait makes batches several times larger. The slot is
	// freed when the receiver answers, not when the result is written, so
	// the wait holds up no delivery; the delivery reads processing that much
	// longer, and a crash meanwhile means one more attempt (at least once).
	RecordDelay time.Duration
	// SaturatedPause is how long the claim loop ignores wake-ups after
	// claims that found only deliveries they could not take (default 20 ms).
	SaturatedPause time.Duration
}

// MaxRetryAfter caps how long a receiver's Retry-After may postpone a retry.
const MaxRetryAfter = time.Hour

// Engine delivers events. Create with New, start with Run.
type Engine struct {
	cfg   Config
	store hookd.Store
	log   *slog.Logger

	wake    chan struct{}
	freed   chan struct{}
	results chan hookd.AttemptResult

	mu         sync.Mutex
	inflight   int
	freedSince int  // slots freed since the last claim
	lastShort  bool // the last claim got fewer than it asked for (claim loop only)
	// idle: the last claim took everything due it saw, and no slot was
	// refused since (Reserve): a freed slot cannot make anything more
	// claimable, so releases do not wake the claim loop.
	idle    bool
	closed  bool // Run is waiting for the attempts: no more Reserve
	perHook map[string]int
	gone    map[string]int // webhooks whose 410 verdict is not yet recorded
	// nodes is the number of live nodes the engine takes its share for
	// (Config.Shared; 0 while it may take no work); epoch counts its
	// changes, claimEpoch is the epoch a claim in flight started in (-1:
	// none).
	nodes      int
	epoch      int
	claimEpoch int
	hooks      map[string]*hookState
	hookLoads  flight.Group[string, *hookState] // reads of webhooks, shared (hook)

	attempts sync.WaitGroup
	stopping chan struct{}
}

// hookState caches what sending to one webhook needs.
type hookState struct {
	wh        *hookd.Webhook
	updatedAt time.Time
	signer    *signature.Signer
	signUntil time.Time // the signer must be rebuilt then (rotation grace ends)
	limiter   *rate.Limiter
	headers   http.Header
}

// New returns an Engine; it does nothing until Run.
func New(cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.RetrySchedule) == 0 {
		cfg.RetrySchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = 0.2
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 512
	}
	if cfg.PerWebhook <= 0 {
		cfg.PerWebhook = 64
	}
	if cfg.ClaimBatch <= 0 {
		cfg.ClaimBatch = 512
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.SaturatedPause <= 0 {
		cfg.SaturatedPause = saturatedPause
	}
	if cfg.Node == "" {
		cfg.Node = hookd.NewID("node_")
	}
	nodes := 1
	if cfg.Shared {
		nodes = 0 // until Resize lets it take work
	}
	if cfg.Metrics != nil {
		cfg.Metrics.ClusterNodes.Set(float64(nodes))
	}
	return &Engine{
		cfg:        cfg,
		store:      cfg.Store,
		log:        cfg.Logger,
		wake:       make(chan struct{}, 1),
		freed:      make(chan struct{}, 1),
		results:    make(chan hookd.AttemptResult, 4096),
		perHook:    map[string]int{},
		gone:       map[string]int{},
		hooks:      map[string]*hookState{},
		stopping:   make(chan struct{}),
		nodes:      nodes,
		claimEpoch: -1,
	}
}

// Resize is hookd.Member: the cluster has n live nodes, and this one may
// take work when active. It reports whether this node's deliveries in flight
// fit in its share of n: once it does, a joining node may take its share.
func (e *Engine) Resize(n int, active bool) (fits bool) {
	e.mu.Lock()
	want := n
	if !active || n < 1 {
		want = 0
	}
	grew := want > 0 && (e.nodes == 0 || want < e.nodes)
	was := e.nodes
	if want != e.nodes {
		e.nodes = want
		e.epoch++
		e.idle = false
	}
	fits = e.claimEpoch < 0 || e.claimEpoch == e.epoch
	if share, counted := e.capFor(max(n, 1)); counted == 0 {
		for _, c := range e.perHook {
			if c > share {
				fits = false
			}
		}
	}
	e.mu.Unlock()
	if want != was {
		if e.cfg.Metrics != nil {
			e.cfg.Metrics.ClusterNodes.Set(float64(want))
		}
		switch {
		case was == 0:
			e.log.Info("taking a share of each webhook's cap", "nodes", want, "node", e.cfg.Node)
		case want == 0:
			e.log.Warn("taking no work: cluster membership not renewed", "node", e.cfg.Node)
		default:
			e.log.Info("cluster size changed", "nodes", want, "node", e.cfg.Node)
		}
	}
	if grew {
		e.Wake()
	}
	return fits
}

// mayClaim reports whether the engine may take work (see Config.Shared).
func (e *Engine) mayClaim() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	local, _ := e.capLocked()
	return local > 0
}

// capLocked is capFor the live nodes the engine takes its share for. e.mu
// is held.
func (e *Engine) capLocked() (local, counted int) { return e.capFor(e.nodes) }

// capFor returns how many deliveries of one webhook this node may have in
// flight among nodes live nodes (0: it may take no work), and the
// cluster-wide cap its claims must have the store count
// (ClaimParams.MaxPerWebhook; 0: its share bounds it alone).
func (e *Engine) capFor(nodes int) (local, counted int) {
	switch {
	case !e.cfg.Shared:
		return e.cfg.PerWebhook, e.cfg.PerWebhook
	case nodes == 0:
		return 0, 0
	case e.cfg.PerWebhook/nodes >= 1:
		return e.cfg.PerWebhook / nodes, 0
	default:
		return e.cfg.PerWebhook, e.cfg.PerWebhook
	}
}

// Wake tells the engine that deliveries may have become due. It never blocks.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run claims and delivers until ctx ends, then stops claiming, waits for the
// attempts in flight (each bounded by the attempt timeout), records them and
// returns. Nothing is left in processing by a clean stop.
func (e *Engine) Run(ctx context.Context) error {
	if e.cfg.ReclaimOnStart {
		// Far-future "now": every lease counts as expired.
		if n, err := e.store.DeliveriesReap(context.WithoutCancel(ctx), e.cfg.Now().Add(100*365*24*time.Hour)); err != nil {
			return err
		} else if n > 0 {
			e.log.Info("returned interrupted deliveries to the queue", "count", n)
		}
	}
	recDone := make(chan struct{})
	go func() { defer close(recDone); e.recordLoop() }()

	reap := time.NewTicker(10 * time.Second)
	defer reap.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	onlyFreed := false // woken only because slots were freed
	emptyDue := false  // the last claim took nothing while deliveries were due
	for {
		took, full, blocked, err := e.claimOnce(ctx, onlyFreed)
		if err != nil && ctx.Err() == nil {
			e.log.Error("claim deliveries", "err", err)
		}
		if ctx.Err() != nil {
			break
		}
		if took > 0 {
			emptyDue = false
		}
		if full {
			continue // more may be due right away
		}
		wait := e.cfg.PollInterval
		wake := e.wake
		// A claim that took some will free slots, and the claim after that
		// reads the next due time; one that took none reads it now. (While
		// every attempt of the claim hangs, a retry falling due meanwhile
		// waits for the poll: at most PollInterval late.)
		switch {
		case took == 0 && !e.mayClaim():
			// A shared engine the membership does not let take work yet:
			// Resize wakes it when it does.
		case err == nil && took == 0 && blocked:
			// The claim read due deliveries it could not take: their
			// webhooks are saturated (here, or on other nodes, or being
			// claimed by one). Wake-ups from new publishes would bring us
			// straight back to them; a freed slot of ours, or a short
			// pause, does.
			wake = nil
			wait = min(wait, e.cfg.SaturatedPause)
		case err == nil && took == 0:
			due, ok, err := e.store.DeliveriesNextDue(ctx)
			d := due.Sub(e.cfg.Now())
			switch {
			case err != nil || !ok || d > 0:
				emptyDue = false
				if err == nil && ok && d < wait {
					wait = d
				}
			case !emptyDue:
				// Due now, though the claim took nothing: they may have
				// been committed after the claim read the queue. Claim
				// once more before taking them for saturated webhooks'.
				emptyDue, onlyFreed = true, false
				continue
			default:
				// Due deliveries two claims in a row could not take
				// without reporting Blocked (rows the claim's read did not
				// see, as another claimer's locks hide them from a SKIP
				// LOCKED scan): as above.
				wake = nil
				wait = min(wait, e.cfg.SaturatedPause)
			}
		}
		timer.Reset(wait) // drops a tick not received (Go 1.23 timers): no drain needed
		onlyFreed = false
		select {
		case <-ctx.Done():
		case <-wake:
		case <-e.freed:
			onlyFreed = true
		case <-timer.C:
		case <-reap.C:
			if n, err := e.store.DeliveriesReap(ctx, e.cfg.Now()); err != nil {
				e.log.Error("reap expired leases", "err", err)
			} else if n > 0 {
				e.log.Warn("took back deliveries whose lease expired", "count", n)
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(e.stopping)
	e.mu.Lock()
	e.closed = true // after this, no attempts.Add but from attempts (Reserve refuses)
	e.mu.Unlock()
	e.attempts.Wait()
	close(e.results)
	<-recDone
	return nil
}

// saturatedPause is how long the claim loop ignores wake-ups after a claim
// that found only deliveries it could not take (their webhooks saturated).
// A delivery to another webhook published meanwhile starts at most this late.
const saturatedPause = 20 * time.Millisecond

// claimOnce claims as many due deliveries as there are free workers and starts
// them (took); full reports that the claim was limited by the batch size, not by
// what was due. afterShort says the previous claim took everything it could
// and only slots were freed since: then only the webhooks that freed them can
// yield more, at most as many as were freed, and the claim asks for no more
// (a claim's cost grows with its limit).
func (e *Engine) claimOnce(ctx context.Context, afterShort bool) (took int, full, blocked bool, err error) {
	e.mu.Lock()
	free := e.cfg.Workers - e.inflight
	freed := e.freedSince
	e.freedSince = 0
	perCap, maxPer := e.capLocked()
	var exclude []string
	for id, n := range e.perHook {
		if n >= perCap {
			exclude = append(exclude, id)
		}
	}
	for id := range e.gone {
		exclude = append(exclude, id)
	}
	if free <= 0 || perCap == 0 {
		e.mu.Unlock()
		return 0, false, false, nil
	}
	// Resize reports this node fits its share only once no claim that
	// started under another share is in flight.
	e.claimEpoch = e.epoch
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.claimEpoch = -1
		e.mu.Unlock()
	}()
	limit := min(free, e.cfg.ClaimBatch)
	if afterShort && e.lastShort {
		if freed == 0 {
			return 0, false, false, nil
		}
		limit = min(limit, freed)
	}
	// The room the store is given for a webhook is held (counted in
	// perHook) until the claim returns: a claim at publish (Reserve) made
	// meanwhile cannot take the same slots. Without the hold, a publish
	// between the claim's read of the room and its return took them too,
	// and one node sent more than its cap.
	held := map[string]int{}
	defer func() {
		e.mu.Lock()
		for id, n := range held {
			e.unhold(id, n)
		}
		e.mu.Unlock()
	}()
	perHook := func(id string) int {
		e.mu.Lock()
		defer e.mu.Unlock()
		n := perCap - e.perHook[id]
		if n > 0 {
			held[id] += n
			e.perHook[id] += n
		}
		return n
	}
	// The cap bounds requests to an endpoint (the slot is freed when the
	// receiver answers, see attempt): this node's answered deliveries whose
	// results are still being recorded hold no slot, and the room held for
	// this claim is not in flight.
	inFlight := func(id string) int {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.perHook[id] - held[id]
	}
	claimed, err := e.store.DeliveriesClaim(ctx, hookd.ClaimParams{
		Now: e.cfg.Now(), Limit: limit, Lease: e.cfg.Lease, Owner: e.cfg.Node,
		Exclude: exclude, PerWebhook: perHook, MaxPerWebhook: maxPer, InFlight: inFlight,
		Blocked: &blocked,
	})
	if err != nil {
		return 0, false, false, err
	}
	e.lastShort = len(claimed) < limit
	e.mu.Lock()
	e.idle = e.lastShort && !blocked
	e.mu.Unlock()
	for i := range claimed {
		c := &claimed[i]
		e.mu.Lock()
		e.inflight++
		e.perHook[c.WebhookID]++
		e.mu.Unlock()
		e.attempts.Add(1)
		go e.attempt(c)
	}
	return len(claimed), len(claimed) == limit, blocked, nil
}

func (e *Engine) release(webhookID string) {
	e.mu.Lock()
	idle := e.idle
	e.free(webhookID, 1)
	e.freedSince++
	e.mu.Unlock()
	if idle {
		return
	}
	select {
	case e.freed <- struct{}{}:
	default:
	}
}

// free returns n slots of webhookID; e.mu is held.
func (e *Engine) free(webhookID string, n int) {
	e.inflight -= n
	e.unhold(webhookID, n)
}

// unhold takes n off webhookID's count in perHook; e.mu is held.
func (e *Engine) unhold(webhookID string, n int) {
	if left := e.perHook[webhookID] - n; left > 0 {
		e.perHook[webhookID] = left
	} else {
		delete(e.perHook, webhookID)
	}
}

var _ hookd.Dispatcher = (*Engine)(nil)

// Reserve takes up to n free slots for webhookID for deliveries its store
// claims as it publishes them (hookd.Dispatcher): within Workers and
// PerWebhook, none while stopping or while a 410 of the webhook is being
// recorded. Slots it could not give mean deliveries left pending, which only
// a freed slot may let a claim take: releases wake the claim loop again.
func (e *Engine) Reserve(webhookID string, n int) (took, inFlight int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inFlight = e.perHook[webhookID]
	if perCap, _ := e.capLocked(); !e.closed && e.gone[webhookID] == 0 {
		took = max(min(n, e.cfg.Workers-e.inflight, perCap-inFlight), 0)
	}
	if took < n {
		e.idle = false
	}
	if took > 0 {
		e.inflight += took
		e.perHook[webhookID] += took
		e.attempts.Add(took)
	}
	return took, inFlight
}

// Unreserve gives back n slots of Reserve that carried no delivery.
func (e *Engine) Unreserve(webhookID string, n int) {
	e.mu.Lock()
	e.free(webhookID, n)
	e.mu.Unlock()
	e.attempts.Add(-n)
}

// Dispatch starts the attempts of deliveries claimed on reserved slots.
func (e *Engine) Dispatch(claimed []hookd.ClaimedDelivery) {
	for i := range claimed {
		go e.attempt(&claimed[i])
	}
}

// Lease returns what a claim at publish needs: this node's name, the lease
// and the cluster-wide cap per webhook the store must count every node's
// deliveries in flight against (0 when this node's share, which Reserve
// holds to, bounds them).
func (e *Engine) Lease() (owner string, lease time.Duration, maxPerWebhook int) {
	e.mu.Lock()
	_, maxPer := e.capLocked()
	e.mu.Unlock()
	return e.cfg.Node, e.cfg.Lease, maxPer
}

// recordBatchMin is the batch size past which the recorder stops waiting
// (Config.RecordDelay).
const recordBatchMin = 256

// recordLoop writes attempt results in batches: whatever has queued up while
// the previous batch was being committed goes into the next transaction, and
// with RecordDelay a small batch waits that long for more.
func (e *Engine) recordLoop() {
	batch := make([]hookd.AttemptResult, 0, 1024)
	g := gather.Batches[hookd.AttemptResult]{Linger: e.cfg.RecordDelay}
	for r := range e.results {
		batch, _ = g.Gather(e.results, append(batch[:0], r), recordBatchMin, func(b []hookd.AttemptResult) bool { return len(b) < cap(b) })
		e.complete(batch)
		retry := false
		e.mu.Lock()
		for i := range batch {
			switch batch[i].Outcome {
			case hookd.OutcomeDead:
				if n := e.gone[batch[i].WebhookID] - 1; n > 0 {
					e.gone[batch[i].WebhookID] = n
				} else {
					delete(e.gone, batch[i].WebhookID)
				}
			case hookd.OutcomeRetry:
				retry = true
			}
		}
		e.mu.Unlock()
		if retry {
			// The claim loop learns the next due time from a claim that
			// takes nothing; an idle loop would only poll for it.
			e.Wake()
		}
	}
}

func (e *Engine) complete(batch []hookd.AttemptResult) {
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := e.store.DeliveriesComplete(ctx, batch)
		cancel()
		if err == nil {
			break
		}
		if try == 4 {
			// The deliveries stay processing; their leases expire and they are
			// attempted again: at-least-once holds.
			e.log.Error("record attempts: giving up, leases will expire", "count", len(batch), "err", err)
			break
		}
		e.log.Error("record attempts", "count", len(batch), "err", err)
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	if m := e.cfg.Metrics; m != nil {
		for i := range batch {
			m.DeliveryOutcomes.WithLabelValues(batch[i].Outcome).Inc()
		}
	}
}
