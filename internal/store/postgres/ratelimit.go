package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hookd/hookd"
)

var _ hookd.SharedRateLimiter = (*Store)(nil)

// Rate bucket housekeeping: buckets idle this long are full again (any rate
// of at least one per ten minutes refills a bucket in that time) and are
// deleted, at most once per rateSweepEvery per Store.
const (
	rateBucketIdle = 10 * time.Minute
	rateSweepEvery = time.Minute
)

// rateAvailSQL is what bucket b holds at the new take's time: refilled at
// $2 per minute since its last use (a clock behind the last use refills
// nothing), never beyond the capacity $2.
const rateAvailSQL = `LEAST($2::float8, b.tokens + GREATEST(extract(epoch FROM excluded.updated_at - b.updated_at)::float8, 0) * $2::float8 / 60)`

// rateAllowSQL takes one token from bucket $1 (capacity $2) at $3 in one
// statement: a new bucket starts full minus the token taken; an existing one
// gives a token when it holds at least one after its refill. The row lock
// of ON CONFLICT DO UPDATE serialises concurrent takes on one key, on any
// node.
const rateAllowSQL = `INSERT INTO rate_buckets AS b (key, tokens, taken, updated_at) VALUES ($1, $2::float8 - 1, true, $3)
	ON CONFLICT (key) DO UPDATE SET
		tokens = CASE WHEN ` + rateAvailSQL + ` >= 1 THEN ` + rateAvailSQL + ` - 1 ELSE ` + rateAvailSQL + ` END,
		taken = ` + rateAvailSQL + ` >= 1,
		updated_at = GREATEST(b.updated_at, excluded.updated_at)
	RETURNING taken, tokens`

// RateLimitAllow takes one token from the bucket named key (capacity
// perMinute, refilled at perMinute per minute) at now; when none is left it
// reports how long until one is (at least a millisecond; callers round up to
// seconds). The bucket is a row of an UNLOGGED table, so every node shares
// it, and one statement decides. perMinute <= 0 means no limit. Buckets
// idle for ten minutes are deleted now and then (they would be full).
func (s *Store) RateLimitAllow(ctx context.Context, key string, perMinute int, now time.Time) (bool, time.Duration, error) {
	if perMinute <= 0 {
		return true, 0, nil
	}
	now = trunc(now)
	var ok bool
	var tokens float64
	if err := s.pool.QueryRow(ctx, rateAllowSQL, key, float64(perMinute), now).Scan(&ok, &tokens); err != nil {
		return false, 0, fmt.Errorf("postgres: rate limit: %w", err)
	}
	s.sweepBuckets(ctx, now)
	if ok {
		return true, 0, nil
	}
	wait := time.Duration(math.Ceil((1 - tokens) * 60 / float64(perMinute) * float64(time.Second/time.Millisecond)))
	return false, max(wait*time.Millisecond, time.Millisecond), nil
}

// sweepBuckets deletes buckets idle for rateBucketIdle, at most once per
// rateSweepEvery of the callers' clock.
func (s *Store) sweepBuckets(ctx context.Context, now time.Time) {
	last := s.lastSweep.Load()
	if now.Unix()-last < int64(rateSweepEvery/time.Second) || !s.lastSweep.CompareAndSwap(last, now.Unix()) {
		return
	}
	// Best effort: a failed sweep leaves full buckets for the next one.
	_, _ = s.pool.Exec(ctx, `DELETE FROM rate_buckets WHERE updated_at < $1`, now.Add(-rateBucketIdle))
}
