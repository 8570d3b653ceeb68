package trigger

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"time"
)

// FloodMaxIPs bounds the clients a FloodGuard tracks (under 100 bytes each,
// so about 12 MiB at most).
const FloodMaxIPs = 1 << 17

const floodShards = 64

// FloodGuard blocks a client whose calls were refused (unknown token, bad
// signature, rate limited…) more than limit times within the last window, the
// first check of DESIGN §3. It is safe for concurrent use.
//
// The window slides as a weighted pair of fixed windows: refusals in the
// current fixed window count fully, those of the previous one in proportion
// to how much of it still overlaps the sliding window, as if they had been
// spread evenly over it. That is exact for a steady stream and for a burst
// inside the current fixed window, and close otherwise (a burst unblocks
// somewhat before a full window has passed). Each client costs two counters, so a
// flood from many addresses stays cheap; the guard tracks at most FloodMaxIPs
// of them, forgetting idle ones first, then ones that are not blocked.
type FloodGuard struct {
	limit    uint64
	window   int64 // ns
	seed     maphash.Seed
	perShard int
	shards   [floodShards]floodShard
}

type floodShard struct {
	mu sync.Mutex
	m  map[string]floodCount
	_  [48]byte // keep neighbouring shards' locks off one cache line
}

// floodCount holds the refusals of fixed window idx (cur) and of idx-1 (prev).
type floodCount struct {
	idx       int64
	prev, cur uint32
}

// NewFloodGuard returns a guard that blocks a client with more than limit
// refusals within window (hookd: 60 per minute). limit < 0 is taken as 0;
// window must be positive (a minute when it is not).
func NewFloodGuard(limit int, window time.Duration) *FloodGuard {
	return newFloodGuard(limit, window, FloodMaxIPs)
}

func newFloodGuard(limit int, window time.Duration, maxIPs int) *FloodGuard {
	if window <= 0 {
		window = time.Minute
	}
	g := &FloodGuard{
		limit:    uint64(max(0, limit)),
		window:   int64(window),
		seed:     maphash.MakeSeed(),
		perShard: max(1, (maxIPs+floodShards-1)/floodShards),
	}
	for i := range g.shards {
		g.shards[i].m = make(map[string]floodCount)
	}
	return g
}

// Refused counts one refused call from ip (the client's RateKey) at now.
// It allocates only for an ip it does not track yet.
func (g *FloodGuard) Refused(ip string, now time.Time) {
	idx, _ := g.at(now)
	s := g.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[ip]
	if !ok {
		if len(s.m) >= g.perShard {
			g.evict(s, now)
		}
		ip = strings.Clone(ip)
	}
	c = c.roll(idx)
	if c.cur < ^uint32(0) {
		c.cur++
	}
	s.m[ip] = c
}

// Blocked reports whether ip (the client's RateKey) had more than limit
// refusals within the window ending at now. When it has, retryAfter is how
// long until it would not be, were no more calls refused: rounded up to whole
// seconds and at least one second, for a Retry-After header. Blocked does not
// count the call itself; the caller reports a blocked call with Refused if it
// should keep the client blocked.
func (g *FloodGuard) Blocked(ip string, now time.Time) (blocked bool, retryAfter time.Duration) {
	idx, off := g.at(now)
	s := g.shard(ip)
	s.mu.Lock()
	c, ok := s.m[ip]
	s.mu.Unlock()
	if !ok {
		return false, 0
	}
	c = c.roll(idx)
	if !g.over(c, off) {
		return false, 0
	}
	w := uint64(g.window)
	var wait int64
	if uint64(c.cur) > g.limit {
		// Not before the next fixed window, where cur becomes prev:
		// first offset e with cur·(W−e) ≤ limit·W.
		e := w - mulDiv(g.limit, w, uint64(c.cur))
		wait = g.window - off + int64(e)
	} else {
		// Within this window: first e with prev·(W−e) ≤ (limit−cur)·W.
		e := w - mulDiv(g.limit-uint64(c.cur), w, uint64(c.prev))
		wait = int64(e) - off
	}
	return true, ceilSeconds(time.Duration(wait))
}

// Len returns the number of clients tracked, for metrics and tests.
func (g *FloodGuard) Len() int {
	n := 0
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// at returns the fixed window of now and now's offset into it, in ns.
func (g *FloodGuard) at(now time.Time) (idx, off int64) {
	ns := now.UnixNano()
	idx, off = ns/g.window, ns%g.window
	if off < 0 {
		idx, off = idx-1, off+g.window
	}
	return idx, off
}

func (g *FloodGuard) shard(ip string) *floodShard {
	return &g.shards[maphash.String(g.seed, ip)%floodShards]
}

// roll moves c to fixed window idx. A clock stepping back keeps counting in
// the newest window seen.
func (c floodCount) roll(idx int64) floodCount {
	switch {
	case idx <= c.idx:
		return c
	case idx == c.idx+1:
		return floodCount{idx: idx, prev: c.cur}
	default:
		return floodCount{idx: idx}
	}
}

// over reports whether prev·(W−off)/W + cur > limit, computed exactly in 128
// bits: prev·(W−off) + cur·W > limit·W.
func (g *FloodGuard) over(c floodCount, off int64) bool {
	w := uint64(g.window)
	ah, al := bits.Mul64(uint64(c.prev), w-uint64(off))
	bh, bl := bits.Mul64(uint64(c.cur), w)
	sl, carry := bits.Add64(al, bl, 0)
	sh, _ := bits.Add64(ah, bh, carry)
	lh, ll := bits.Mul64(g.limit, w)
	return sh > lh || (sh == lh && sl > ll)
}

// mulDiv returns ⌊a·b/c⌋ for a < c (so the quotient fits in 64 bits).
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// evict makes room in a full shard: first clients with no refusal in the
// last two fixed windows, then clients that are not blocked, then any, until
// an eighth of the shard is free, so sweeps stay amortised O(1) per insert.
// Called with s.mu held.
func (g *FloodGuard) evict(s *floodShard, now time.Time) {
	idx, off := g.at(now)
	target := g.perShard - max(1, g.perShard/8)
	for pass := 0; pass < 3 && len(s.m) > target; pass++ {
		for k, c := range s.m {
			if len(s.m) <= target && pass > 0 {
				break
			}
			c = c.roll(idx)
			var drop bool
			switch pass {
			case 0:
				drop = c.prev == 0 && c.cur == 0
			case 1:
				drop = !g.over(c, off)
			default:
				drop = true
			}
			if drop {
				delete(s.m, k)
			}
		}
	}
}
