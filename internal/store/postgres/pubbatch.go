package postgres

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/gather"
)

// Publishes that arrive together are committed together. Each publish on the
// pool is handed to the batching goroutine (pubWorkers of them), which takes
// whatever publishes are waiting (at most maxBatchEvents events,
// maxBatchDeliveries deliveries) and inserts them in one statement, one
// transaction: one commit and one WAL flush for the lot, and one statement's
// executor set-up instead of one per event. A publish that finds the
// goroutine idle goes alone, in the single-event statement, so a lone
// publish waits for nobody; batches form while a commit is in flight, which
// is when they save the most. One goroutine makes the largest batches: with
// two, each second publish found one idle and went alone.
//
// What each publish gets back is what its own statement would have said: its
// event inserted or not, and the current fingerprint of its workspace's
// active webhooks (an event whose fingerprint is stale is not inserted, see
// EventPublish). A statement error fails the whole batch, which would let
// one bad event fail the others: then every publish of the batch runs its
// own statement instead, and only the bad one fails.
type pubBatcher struct {
	pool *pgxpool.Pool
	// tx runs a batch's transaction (Store.pipelinedTx).
	tx   func(ctx context.Context, fn func(q claimQuerier) error) error
	reqs chan *pubReq
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.RWMutex // held shared while queuing, exclusively by stop
	closed bool

	batched atomic.Int64 // publishes committed by multi-event statements

	// disp, when set (Store.SetDispatcher), claims deliveries at publish
	// for this node's engine: see direct.go.
	disp   atomic.Pointer[dispatcherRef]
	now    func() time.Time
	contMu sync.Mutex
	cont   map[string]time.Time // webhook → no claims at publish until then (direct.go)
}

// pubLinger is how long a batch smaller than the one before waits for
// more publishes. Under a steady load the publishers a commit answered come
// back within a millisecond or two, one by one: without the wait the next
// batch is whoever came back first, and a transaction (the database's
// costliest unit of work here) carries a few events instead of all of them.
// A publish after a lone one (the previous batch of one) never waits.
const pubLinger = 2 * time.Millisecond

const (
	pubWorkers         = 1
	maxBatchEvents     = 256
	maxBatchDeliveries = 4096
)

type pubReq struct {
	evt     *hookd.Event
	hooks   []string
	updated []time.Time // each hook's update stamp (ClaimedDelivery.WebhookUpdatedAt)
	fp      string

	inserted bool
	claimed  int // deliveries claimed for this node's engine (direct.go)
	current  string
	err      error
	done     chan struct{}
}

func (b *pubBatcher) start(pool *pgxpool.Pool, tx func(ctx context.Context, fn func(q claimQuerier) error) error) {
	b.pool, b.tx = pool, tx
	b.reqs = make(chan *pubReq, maxBatchEvents)
	b.done = make(chan struct{})
	for range pubWorkers {
		b.wg.Add(1)
		go b.work()
	}
}

// stop ends the batching goroutines once every publish queued is answered;
// publishes after it run alone.
func (b *pubBatcher) stop() {
	if b.done == nil {
		return
	}
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	close(b.done)
	b.wg.Wait()
}

// insert is insertEventSmall on the pool, through a batch. claimed counts
// the event's deliveries claimed for this node's engine (direct.go).
func (b *pubBatcher) insert(ctx context.Context, evt *hookd.Event, hooks []string, updated []time.Time, fp string) (inserted bool, claimed int, current string, err error) {
	r := &pubReq{evt: evt, hooks: hooks, updated: updated, fp: fp, done: make(chan struct{})}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		inserted, current, err = insertEventSmall(ctx, b.pool, evt, hooks, fp)
		return inserted, 0, current, err
	}
	select {
	case b.reqs <- r:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return false, 0, "", ctx.Err()
	}
	// Once queued the publish is waited for even if ctx ends: the batch
	// may commit it, and the caller must not be told otherwise.
	<-r.done
	return r.inserted, r.claimed, r.current, r.err
}

func (b *pubBatcher) work() {
	defer b.wg.Done()
	batch := make([]*pubReq, 0, maxBatchEvents)
	g := gather.Batches[*pubReq]{Linger: pubLinger}
	prev := 0 // the last batch's size
	for {
		select {
		case r := <-b.reqs:
			batch = append(batch[:0], r)
		case <-b.done:
			// Nothing can be queued any more (stop holds closed): answer
			// what was.
			for {
				select {
				case r := <-b.reqs:
					b.run([]*pubReq{r})
					close(r.done)
				default:
					return
				}
			}
		}
		n, counted := 0, 0 // deliveries in batch[:counted]
		batch, _ = g.Gather(b.reqs, batch, prev, func(batch []*pubReq) bool {
			for ; counted < len(batch); counted++ {
				n += len(batch[counted].hooks)
			}
			return len(batch) < maxBatchEvents && n < maxBatchDeliveries
		})
		prev = len(batch)
		b.run(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// batchTimeout bounds one batch's statement (its publishes' callers wait for
// it whatever their own contexts say).
const batchTimeout = 30 * time.Second

func (b *pubBatcher) run(batch []*pubReq) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	plan := b.reserve(batch)
	if len(batch) > 1 || plan != nil {
		if err := b.tx(ctx, func(q claimQuerier) error { return insertEventBatch(ctx, q, batch, plan) }); err == nil {
			if len(batch) > 1 {
				b.batched.Add(int64(len(batch)))
			}
			b.noteContention(plan)
			plan.dispatch(batch)
			return
		}
	}
	plan.cancel()
	for _, r := range batch {
		r.inserted, r.current, r.err = insertEventSmall(ctx, b.pool, r.evt, r.hooks, r.fp)
	}
}

// insertEventBatchSQL inserts the events ($2–$9, one array element each) whose
// expected fingerprint ($9) is their workspace's current one, and the
// deliveries ($10–$12: id, webhook, event) of the events inserted; it returns
// the ids of the inserted events ('e'), the current fingerprint of each
// workspace ($1, distinct; 'f') and the ids of the deliveries it claimed
// ('c'). An event with an idempotency key already used is not inserted (ON
// CONFLICT DO NOTHING), like a stale one; of two in the batch with one key,
// the first (rows are inserted in the batch's order).
//
// Claiming at publish (direct.go): room has a row for each webhook ($13,
// workspaces $14) with the slots this node reserved ($15). With a
// cluster-wide cap to count ($17 > 0), only webhooks whose advisory claim
// lock the transaction's previous statement took (listed in hookd.direct)
// have a row, and their slots are bounded by the cap less the webhook's
// deliveries in processing on other nodes (counted in this statement's
// snapshot, taken after the lock) and on this one ($16). With $17 = 0 the
// node's share of the cap bounds its slots already (hookd.Member): no lock,
// no count. The first that many deliveries of the webhook in the
// batch are inserted processing under the lease ($18 owner, $19 until), the
// rest pending. With empty $13 it claims nothing.
const insertEventBatchSQL = `WITH fp AS (
		SELECT w.ws, (SELECT ` + fingerprintExpr + ` FROM webhooks WHERE workspace_id = w.ws AND active) AS v
		FROM unnest($1::text[]) AS w (ws)),
	e AS (
		INSERT INTO events (id, workspace_id, type, data, owner_id, idempotency_key, created)
		SELECT x.id, x.ws, x.type, x.data::json, x.owner, x.key, x.created
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[])
			WITH ORDINALITY AS x (id, ws, type, data, owner, key, created, fp, n)
		JOIN fp ON fp.ws = x.ws AND fp.v = x.fp
		ORDER BY x.n
		ON CONFLICT (workspace_id, idempotency_key) WHERE idempotency_key <> '' DO NOTHING
		RETURNING id, workspace_id, type, created),
	room AS MATERIALIZED (
		SELECT w.id, CASE WHEN $17::int = 0 THEN w.took ELSE least(w.took, $17::int - w.before - (SELECT count(*) FROM deliveries d
			WHERE d.workspace_id = w.ws AND d.webhook_id = w.id AND d.status = 'processing'
			  AND d.lease_owner IS DISTINCT FROM $18::text)) END AS n
		FROM unnest($13::text[], $14::text[], $15::int[], $16::int[]) AS w (id, ws, took, before)
		WHERE $17::int = 0 OR w.id = ANY(string_to_array(current_setting('hookd.direct', true), ' '))),
	d AS (
		INSERT INTO deliveries (id, workspace_id, webhook_id, event_id, event_type, status, next_attempt_at,
			lease_until, lease_owner, created, updated)
		SELECT y.id, e.workspace_id, y.wh, e.id, e.type, CASE WHEN y.k <= r.n THEN 'processing' ELSE 'pending' END,
			e.created, CASE WHEN y.k <= r.n THEN $19::timestamptz END, CASE WHEN y.k <= r.n THEN $18::text END,
			e.created, e.created
		FROM (SELECT u.id, u.wh, u.ev, row_number() OVER (PARTITION BY u.wh ORDER BY u.n) AS k
			FROM unnest($10::text[], $11::text[], $12::text[]) WITH ORDINALITY AS u (id, wh, ev, n)) y
		JOIN e ON e.id = y.ev LEFT JOIN room r ON r.id = y.wh
		RETURNING id, status)
	SELECT 'e', id FROM e UNION ALL SELECT 'f', ws || ' ' || v FROM fp
	UNION ALL SELECT 'c', id FROM d WHERE status = 'processing'`

// insertEventBatch runs insertEventBatchSQL for batch in one transaction (a
// pipelinedTx: BEGIN, the statement and COMMIT in one round trip) and fills
// in each request's answer; on error it fills in nothing. With plan it
// claims what plan reserved slots for; when plan has a cluster-wide cap to
// count (plan.max > 0), it first tries the advisory claim lock of each
// webhook (as a claim does, capWebhooks, without waiting) and claims for it
// only what the cap allows. The ids claimed go to plan.claimed.
//
// The statement runs with its generic plan: planning it anew costs more than
// executing it for a dozen events, and its plan does not depend on the
// arrays' contents (it reads only the tiny fp rows and the arrays).
func insertEventBatch(ctx context.Context, q claimQuerier, batch []*pubReq, plan *directPlan) error {
	n, nd := len(batch), 0
	for _, r := range batch {
		nd += len(r.hooks)
	}
	var wsList []string
	seen := map[string]bool{}
	ids, ws, types, data, owners, keys, fps := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created := make([]time.Time, n)
	dids, dhooks, devents := make([]string, 0, nd), make([]string, 0, nd), make([]string, 0, nd)
	for i, r := range batch {
		e := r.evt
		ids[i], ws[i], types[i], data[i], owners[i], keys[i], created[i], fps[i] =
			e.ID, e.WorkspaceID, e.Type, string(e.Data), e.OwnerID, e.IdempotencyKey, e.Timestamp, r.fp
		if !seen[e.WorkspaceID] {
			seen[e.WorkspaceID] = true
			wsList = append(wsList, e.WorkspaceID)
		}
		for j, h := range r.hooks {
			dids = append(dids, e.DeliveryIDs[j])
			dhooks = append(dhooks, h)
			devents = append(devents, e.ID)
		}
	}
	inserted := map[string]bool{}
	current := map[string]string{}
	claimed := map[string]bool{}
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`)
	if plan != nil && plan.max == 0 {
		plan.locked = plan.hooks
	} else if plan != nil {
		b.Queue(`SELECT set_config('hookd.direct', coalesce(string_agg(w.id, ' '), ''), true)
			FROM unnest($1::text[]) AS w (id) WHERE pg_try_advisory_xact_lock($2, hashtext(w.id))`,
			plan.hooks, int32(webhookLockClass)).QueryRow(func(row pgx.Row) error {
			var locked string
			if err := row.Scan(&locked); err != nil {
				return err
			}
			plan.locked = strings.Fields(locked)
			return nil
		})
	}
	args := append([]any{wsList, ids, ws, types, data, owners, keys, created, fps, dids, dhooks, devents}, plan.args()...)
	b.Queue(insertEventBatchSQL, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var kind, v string
			if err := rows.Scan(&kind, &v); err != nil {
				return err
			}
			switch kind {
			case "e":
				inserted[v] = true
			case "c":
				claimed[v] = true
			default:
				if w, f, ok := strings.Cut(v, " "); ok {
					current[w] = f
				}
			}
		}
		return rows.Err()
	})
	b.Queue(`COMMIT`)
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for _, r := range batch {
		r.inserted, r.current, r.err = inserted[r.evt.ID], current[r.evt.WorkspaceID], nil
	}
	if plan != nil {
		plan.claimed = claimed
	}
	return nil
}
