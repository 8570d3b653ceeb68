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
}

const (
	pubWorkers         = 1
	maxBatchEvents     = 256
	maxBatchDeliveries = 4096
)

type pubReq struct {
	evt   *hookd.Event
	hooks []string
	fp    string

	inserted bool
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

// insert is insertEventSmall on the pool, through a batch.
func (b *pubBatcher) insert(ctx context.Context, evt *hookd.Event, hooks []string, fp string) (bool, string, error) {
	r := &pubReq{evt: evt, hooks: hooks, fp: fp, done: make(chan struct{})}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return insertEventSmall(ctx, b.pool, evt, hooks, fp)
	}
	select {
	case b.reqs <- r:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return false, "", ctx.Err()
	}
	// Once queued the publish is waited for even if ctx ends: the batch
	// may commit it, and the caller must not be told otherwise.
	<-r.done
	return r.inserted, r.current, r.err
}

func (b *pubBatcher) work() {
	defer b.wg.Done()
	batch := make([]*pubReq, 0, maxBatchEvents)
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
		n := len(batch[0].hooks)
	more:
		for len(batch) < maxBatchEvents && n < maxBatchDeliveries {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
				n += len(r.hooks)
			default:
				break more
			}
		}
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
	if len(batch) > 1 {
		if err := b.tx(ctx, func(q claimQuerier) error { return insertEventBatch(ctx, q, batch) }); err == nil {
			b.batched.Add(int64(len(batch)))
			return
		}
	}
	for _, r := range batch {
		r.inserted, r.current, r.err = insertEventSmall(ctx, b.pool, r.evt, r.hooks, r.fp)
	}
}

// insertEventBatchSQL inserts the events ($2–$9, one array element each) whose
// expected fingerprint ($9) is their workspace's current one, and the
// deliveries ($10–$12: id, webhook, event) of the events inserted; it returns
// the ids of the inserted events and the current fingerprint of each
// workspace ($1, distinct). An event with an idempotency key already used is
// not inserted (ON CONFLICT DO NOTHING), like a stale one; of two in the
// batch with one key, the first (rows are inserted in the batch's order).
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
	d AS (
		INSERT INTO deliveries (id, workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created, updated)
		SELECT y.id, e.workspace_id, y.wh, e.id, e.type, 'pending', e.created, e.created, e.created
		FROM unnest($10::text[], $11::text[], $12::text[]) AS y (id, wh, ev) JOIN e ON e.id = y.ev)
	SELECT true, id FROM e UNION ALL SELECT false, ws || ' ' || v FROM fp`

// insertEventBatch runs insertEventBatchSQL for batch in one transaction (a
// pipelinedTx: BEGIN, the statement and COMMIT in one round trip) and fills
// in each request's answer; on error it fills in nothing.
//
// The statement runs with its generic plan: planning it anew costs more than
// executing it for a dozen events, and its plan does not depend on the
// arrays' contents (it reads only the tiny fp rows and the arrays).
func insertEventBatch(ctx context.Context, q claimQuerier, batch []*pubReq) error {
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
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`)
	b.Queue(insertEventBatchSQL, wsList, ids, ws, types, data, owners, keys, created, fps, dids, dhooks, devents).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var isEvent bool
			var v string
			if err := rows.Scan(&isEvent, &v); err != nil {
				return err
			}
			if isEvent {
				inserted[v] = true
			} else if w, f, ok := strings.Cut(v, " "); ok {
				current[w] = f
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
	return nil
}
