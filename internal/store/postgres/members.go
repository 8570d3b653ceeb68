package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// Cluster membership. Every node keeps a row in nodes fresh (renewed every
// memberRound, by the database's clock); a row renewed within memberTTL is a
// live node. Each node divides every webhook's concurrency cap by the live
// nodes and holds to its share on its own: no claim, and no claim at
// publish, has to count the other nodes' deliveries in flight under a
// webhook's lock, which is what made several nodes slower than one.
//
// The shares only add up to the cap if no node uses a share larger than the
// live nodes allow. So a node joins in two steps: its first renewal makes it
// counted, and it takes work only once every other live node has renewed
// since, reporting that it counts as many nodes and that its deliveries in
// flight fit in its (now smaller) share. A node leaving removes its row after
// its last attempt; a node that dies stops renewing, and after memberTTL the
// others take its share back (its requests died with it). A node that cannot
// renew for half of memberTTL stops taking work before the others can count
// it gone, and joins again like a new one. Renewals take one advisory lock,
// so two nodes starting together cannot both count themselves alone.

// memberLockClass is the first key of the advisory lock renewals take: "hkdn".
const memberLockClass = 0x686b646e

const (
	memberRound = time.Second
	memberTTL   = 5 * time.Second
)

var _ hookd.Membership = (*Store)(nil)

// Members is hookd.Membership: it renews node's row every memberRound and
// tells m the live nodes after each renewal, until ctx ends; then it
// removes the row.
func (s *Store) Members(ctx context.Context, node string, m hookd.Member) error {
	return s.members(ctx, node, m, memberRound, memberTTL)
}

func (s *Store) members(ctx context.Context, node string, m hookd.Member, round, ttl time.Duration) error {
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = s.pool.Exec(dctx, `DELETE FROM nodes WHERE id = $1`, node)
	}()
	var (
		counted = 0    // the live nodes reported in the row
		fits    = true // and whether this node's deliveries fit their share
		active  = false
		lastOK  = time.Now()
		swept   time.Time
	)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		t.Reset(round)
		sweep := time.Since(swept) > time.Minute
		rctx, cancel := context.WithTimeout(ctx, ttl/2)
		live, agreed, err := s.renew(rctx, node, counted, fits, ttl, sweep)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		stale := time.Since(lastOK) > ttl/2
		if err != nil {
			if active && stale {
				// The others may soon count this node gone and take its
				// share: stop taking work, and join again later.
				active = false
				fits = m.Resize(max(counted, 1), false)
			}
			continue
		}
		lastOK = time.Now()
		if sweep {
			swept = lastOK
		}
		switch {
		case stale:
			active = false // the others may have counted this node gone: join again
		case agreed:
			active = true
		}
		counted = live
		fits = m.Resize(live, active)
	}
}

// renew writes node's row (what it counted last time, and whether its
// deliveries fit that share) and returns the live nodes and whether every
// other live node counts that many and fits its share. sweep also deletes
// rows dead for an hour.
func (s *Store) renew(ctx context.Context, node string, counted int, fits bool, ttl time.Duration, sweep bool) (live int, agreed bool, err error) {
	err = s.pipelinedTx(ctx, func(q claimQuerier) error {
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		// Renewals one at a time: the count below (its own snapshot, taken
		// after the lock) sees every node registered before.
		b.Queue(`SELECT pg_advisory_xact_lock($1, 0)`, int32(memberLockClass))
		b.Queue(`INSERT INTO nodes (id, seen_at, nodes, fits) VALUES ($1, now(), $2, $3)
			ON CONFLICT (id) DO UPDATE SET seen_at = now(), nodes = $2, fits = $3`, node, int32(counted), fits)
		b.Queue(`WITH l AS (SELECT id, nodes, fits FROM nodes WHERE seen_at > now() - $2::interval)
			SELECT (SELECT count(*) FROM l),
				coalesce((SELECT bool_and(fits AND nodes = (SELECT count(*) FROM l)) FROM l WHERE id <> $1), true)`,
			node, ttl).QueryRow(func(row pgx.Row) error {
			var n int64
			if err := row.Scan(&n, &agreed); err != nil {
				return err
			}
			live = int(n)
			return nil
		})
		if sweep {
			b.Queue(`DELETE FROM nodes WHERE seen_at < now() - interval '1 hour'`)
		}
		b.Queue(`COMMIT`)
		return q.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, false, fmt.Errorf("postgres: renew membership: %w", err)
	}
	return live, agreed, nil
}
