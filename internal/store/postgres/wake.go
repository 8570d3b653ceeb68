package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd"
)

// wakeChannel is the LISTEN/NOTIFY channel; the payload is the kind
// (hookd.WakeDeliveries or hookd.WakeExecutions).
const wakeChannel = "hookd_wake"

var _ hookd.Waker = (*Store)(nil)

// Wake-up kinds as bits of notifier.pending.
const (
	wakeDeliveries uint32 = 1 << iota
	wakeExecutions
)

// notifier sends pg_notify for work committed by this Store, after the
// commit and coalesced: one goroutine sends whatever kinds were flagged
// since its last send, one statement at a time.
//
// Why not pg_notify inside each writing transaction: a transaction that
// notified takes PostgreSQL's global notify-queue lock while it commits, so
// concurrent publishes would commit one at a time; and a burst of a thousand
// publishes needs one wake-up per listening node, not a thousand. Sending
// after the commit keeps the guarantee listeners need — the work is visible
// when the notification arrives — at the price of a lost wake-up if the
// process dies between commit and send, which the engines' polling covers.
type notifier struct {
	pending atomic.Uint32
	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

// notifyGap is the least time between two sends of one notifier.
const notifyGap = 5 * time.Millisecond

func (n *notifier) start(pool *pgxpool.Pool) {
	n.kick = make(chan struct{}, 1)
	n.done = make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		gap := time.NewTimer(0)
		defer gap.Stop()
		for {
			select {
			case <-n.kick:
			case <-n.done:
				return
			}
			bits := n.pending.Swap(0)
			var kinds []string
			if bits&wakeDeliveries != 0 {
				kinds = append(kinds, hookd.WakeDeliveries)
			}
			if bits&wakeExecutions != 0 {
				kinds = append(kinds, hookd.WakeExecutions)
			}
			if len(kinds) == 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			// Best effort: a failed send only delays the other nodes until
			// their next poll.
			_, _ = pool.Exec(ctx, `SELECT pg_notify('`+wakeChannel+`', k) FROM unnest($1::text[]) AS k`, kinds)
			cancel()
			// At most one send per notifyGap: under load every send wakes
			// every node into a claim, most of them finding the work taken
			// already. This node's own engines are woken in process, so only
			// the other nodes wait, at most this long.
			gap.Reset(notifyGap)
			select {
			case <-gap.C:
			case <-n.done:
				return
			}
		}
	}()
}

func (n *notifier) stop() {
	if n.done == nil {
		return
	}
	close(n.done)
	n.wg.Wait()
}

// wake flags committed work of kind for the notifier.
func (s *Store) wake(kind string) {
	bit := wakeDeliveries
	if kind == hookd.WakeExecutions {
		bit = wakeExecutions
	}
	s.notify.pending.Or(bit)
	select {
	case s.notify.kick <- struct{}{}:
	default:
	}
}

// Listen calls fn with hookd.WakeDeliveries or hookd.WakeExecutions whenever
// any Store on the database (any node, this one included) committed work of
// that kind, until ctx ends; it returns ctx's error then. It holds one
// connection of its own outside the pool (LISTEN is per session), and when
// that connection fails it reconnects with backoff (100 ms doubling to
// 10 s) and, once listening again, calls fn with both kinds, since
// notifications sent meanwhile were lost. fn runs on Listen's goroutine and
// should not block.
func (s *Store) Listen(ctx context.Context, fn func(kind string)) error {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	first := true
	for {
		err := s.listenOnce(ctx, fn, !first)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == errListened {
			backoff = minBackoff
		}
		first = false
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// errListened reports that a session listened successfully before it failed
// (the backoff restarts from its minimum).
var errListened = &listenErr{}

type listenErr struct{}

func (*listenErr) Error() string { return "postgres: listen: connection lost" }

// listenOnce runs one listening session until its connection fails or ctx
// ends.
func (s *Store) listenOnce(ctx context.Context, fn func(string), missed bool) error {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.Copy())
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(cctx)
		cancel()
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+wakeChannel); err != nil {
		return err
	}
	if missed {
		fn(hookd.WakeDeliveries)
		fn(hookd.WakeExecutions)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return errListened
		}
		switch n.Payload {
		case hookd.WakeDeliveries, hookd.WakeExecutions:
			fn(n.Payload)
		}
	}
}
