package trigger

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultLimiterKeys is the bucket bound NewLimiter uses for maxKeys ≤ 0.
const DefaultLimiterKeys = 100_000

// limiterShards spreads buckets over this many locks.
const limiterShards = 64

// fillTime is how long an idle bucket takes to be full again: a bucket holds
// perMinute tokens and gains perMinute tokens a minute, whatever perMinute is.
const fillTime = time.Minute

// Limiter is the per-trigger, per-client token bucket (DESIGN §3): each
// (trigger, key) pair holds up to perMinute tokens and regains perMinute
// tokens a minute, so a client may burst perMinute calls and then sustain one
// call every 60/perMinute seconds. It is safe for concurrent use.
//
// Memory is bounded by maxKeys buckets. A bucket idle for a minute is full
// again and forgetting it loses nothing; such buckets are swept when a shard
// outgrows its share. Only when more than maxKeys clients are all active
// within one minute are live buckets forgotten, which errs toward allowing
// (the flood guard still stands in front).
type Limiter struct {
	seed     maphash.Seed
	perShard int
	shards   [limiterShards]limiterShard
}

type limiterShard struct {
	mu sync.Mutex
	m  map[limiterKey]*bucket
	_  [48]byte // keep neighbouring shards' locks off one cache line
}

type limiterKey struct{ trigger, key string }

type bucket struct {
	lim       *rate.Limiter
	perMinute int
	last      time.Time // latest call seen
}

// NewLimiter returns a Limiter that keeps about maxKeys buckets at most
// (DefaultLimiterKeys when maxKeys ≤ 0).
func NewLimiter(maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultLimiterKeys
	}
	l := &Limiter{seed: maphash.MakeSeed(), perShard: max(1, (maxKeys+limiterShards-1)/limiterShards)}
	for i := range l.shards {
		l.shards[i].m = make(map[limiterKey]*bucket)
	}
	return l
}

// Allow takes one token from the bucket of (triggerID, key) at now, where key
// is the client's RateKey. perMinute is the trigger's current
// rate_limit_per_minute; ≤ 0 means unlimited (always ok). When perMinute
// differs from the bucket's, the bucket adopts it, keeping its tokens (capped
// at the new capacity).
//
// When refused, retryAfter is how long until one token is back, rounded up to
// whole seconds and at least one second, ready for a Retry-After header; it is
// 0 when ok.
func (l *Limiter) Allow(triggerID, key string, perMinute int, now time.Time) (ok bool, retryAfter time.Duration) {
	if perMinute <= 0 {
		return true, 0
	}
	k := limiterKey{triggerID, key}
	s := &l.shards[l.shardOf(triggerID, key)]
	s.mu.Lock()
	defer s.mu.Unlock()

	b := s.m[k]
	switch {
	case b == nil:
		if len(s.m) >= l.perShard {
			s.evict(now, l.perShard)
		}
		b = &bucket{lim: rate.NewLimiter(perMinuteLimit(perMinute), perMinute), perMinute: perMinute}
		s.m[limiterKey{strings.Clone(triggerID), strings.Clone(key)}] = b
	case b.perMinute != perMinute:
		b.lim.SetLimitAt(now, perMinuteLimit(perMinute))
		b.lim.SetBurstAt(now, perMinute)
		b.perMinute = perMinute
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	wait := time.Duration(missing * float64(time.Minute) / float64(perMinute))
	return false, ceilSeconds(wait)
}

// Len returns the number of buckets held, for metrics and tests.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (l *Limiter) shardOf(triggerID, key string) int {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(triggerID)
	h.WriteByte(0)
	h.WriteString(key)
	return int(h.Sum64() % limiterShards)
}

// evict makes room in a full shard: first every bucket idle long enough to be
// full again; if that frees less than an eighth, then arbitrary buckets (map
// order), so sweeps stay amortised O(1) per insert. Called with s.mu held.
func (s *limiterShard) evict(now time.Time, limit int) {
	for k, b := range s.m {
		if now.Sub(b.last) >= fillTime {
			delete(s.m, k)
		}
	}
	target := limit - max(1, limit/8)
	for k := range s.m {
		if len(s.m) <= target {
			break
		}
		delete(s.m, k)
	}
}

func perMinuteLimit(perMinute int) rate.Limit {
	return rate.Limit(float64(perMinute) / 60)
}

// ceilSeconds rounds d up to whole seconds, at least one.
func ceilSeconds(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}
