package postgres

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// BulkInsertPending inserts one event of type "bulk" and n pending deliveries
// of it to webhookID, due one microsecond apart from base (test only: builds
// large queues in seconds).
func (s *Store) BulkInsertPending(ctx context.Context, workspaceID, webhookID string, n int, base time.Time) error {
	base = trunc(base)
	evtID := hookd.NewIDAt(hookd.PrefixEvent, base)
	b := s.pool
	if _, err := b.Exec(ctx, `INSERT INTO events (`+eventCols+`) VALUES ($1, $2, 'bulk', '{}', '', '', $3)`, evtID, workspaceID, base); err != nil {
		return err
	}
	_, err := b.Exec(ctx, `INSERT INTO deliveries (id, workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created, updated)
		SELECT 'dlv_bulk' || lpad(i::text, 12, '0'), $1, $2, $3, 'bulk', 'pending', t, t, t
		FROM generate_series(0, $4::int - 1) AS i, LATERAL (SELECT $5::timestamptz + i * interval '1 microsecond' AS t) x`,
		workspaceID, webhookID, evtID, n, base)
	return err
}

// PipelinedExec runs stmts as one batch through pipelinedTx (the first
// should be BEGIN), then returns fail (test only).
func (s *Store) PipelinedExec(ctx context.Context, fail error, stmts ...string) error {
	return s.pipelinedTx(ctx, func(q claimQuerier) error {
		b := &pgx.Batch{}
		for _, st := range stmts {
			b.Queue(st)
		}
		if err := q.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return fail
	})
}

// Fingerprint is the fingerprint of the workspace's active webhooks, read
// now (test only).
func (s *Store) Fingerprint(ctx context.Context, workspaceID string) (string, error) {
	h, err := s.hooks.get(ctx, s.pool, workspaceID, true)
	if err != nil {
		return "", err
	}
	return h.fingerprint, nil
}

// PublishBatch runs one batch of the publish batcher over evts (their
// delivery ids set, one per webhook in hooks[i]) expecting fingerprints fps,
// and returns what each publish was told (test only).
func (s *Store) PublishBatch(evts []*hookd.Event, hooks [][]string, fps []string) (inserted []bool, current []string, errs []error) {
	batch := make([]*pubReq, len(evts))
	for i, e := range evts {
		batch[i] = &pubReq{evt: e, hooks: hooks[i], fp: fps[i]}
	}
	s.batch.run(batch)
	for _, r := range batch {
		inserted, current, errs = append(inserted, r.inserted), append(current, r.current), append(errs, r.err)
	}
	return inserted, current, errs
}

// BatchedPublishes counts the publishes committed by multi-event statements
// (test only).
func (s *Store) BatchedPublishes() int64 { return s.batch.batched.Load() }

// WebhookLockClass is the first key of a webhook's advisory claim lock (test
// only: a test holds it to play another node's claim).
const WebhookLockClass = webhookLockClass

// MembersEvery is Members renewing every round, counting nodes renewed
// within ttl (test only).
func (s *Store) MembersEvery(ctx context.Context, node string, m hookd.Member, round, ttl time.Duration) error {
	return s.members(ctx, node, m, round, ttl)
}

// countingQuerier counts Query calls and holds the first until release is
// closed (test only).
type countingQuerier struct {
	dbtx
	queries atomic.Int32
	release chan struct{}
}

func (q *countingQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if q.queries.Add(1) == 1 {
		<-q.release
	}
	return q.dbtx.Query(ctx, sql, args...)
}

// ColdHookGets asks an empty webhook cache for the workspace's active
// webhooks n times at once (the first read held until all n have asked) and
// returns how many reads the database got and the webhooks each get saw
// (test only).
func (s *Store) ColdHookGets(ctx context.Context, workspaceID string, n int) (reads int, seen [][]string, err error) {
	var c hookCache
	q := &countingQuerier{dbtx: s.pool, release: make(chan struct{})}
	var asked atomic.Int32
	type got struct {
		ids []string
		err error
	}
	out := make(chan got, n)
	for range n {
		go func() {
			asked.Add(1)
			h, err := c.get(ctx, q, workspaceID, false)
			var ids []string
			if h != nil {
				for _, wh := range h.list {
					ids = append(ids, wh.ID)
				}
			}
			out <- got{ids, err}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); asked.Load() < int32(n) || q.queries.Load() == 0 || c.flights.Waiting(workspaceID) < n-1; {
		if time.Now().After(deadline) {
			break // the reads counted below tell what happened
		}
		time.Sleep(time.Millisecond)
	}
	close(q.release)
	for range n {
		g := <-out
		if g.err != nil {
			err = g.err
		}
		seen = append(seen, g.ids)
	}
	return int(q.queries.Load()), seen, err
}
