package trigger

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// burst takes n tokens at now and fails the test if any is refused.
func burst(t *testing.T, l *Limiter, trig, key string, perMinute, n int, now time.Time) {
	t.Helper()
	for i := range n {
		if ok, ra := l.Allow(trig, key, perMinute, now); !ok {
			t.Fatalf("call %d of %d refused (retry after %v)", i+1, n, ra)
		}
	}
}

func TestLimiterBurstAndRefill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		perMinute  int
		retryAfter time.Duration // after the burst
	}{
		{"1PerMinute", 1, 60 * time.Second},
		{"7PerMinute", 7, 9 * time.Second}, // 60/7 = 8.57 s, rounded up
		{"30PerMinute", 30, 2 * time.Second},
		{"60PerMinute", 60, time.Second},
		{"600PerMinute", 600, time.Second}, // 0.1 s, at least 1 s
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewLimiter(0)
			burst(t, l, "trg", "ip", tt.perMinute, tt.perMinute, t0)
			ok, ra := l.Allow("trg", "ip", tt.perMinute, t0)
			if ok || ra != tt.retryAfter {
				t.Fatalf("call %d = (%v, %v), want (false, %v)", tt.perMinute+1, ok, ra, tt.retryAfter)
			}
			// One token per 60/N s: just before it, still refused; at it, one passes.
			interval := time.Minute / time.Duration(tt.perMinute)
			if ok, _ := l.Allow("trg", "ip", tt.perMinute, t0.Add(interval-time.Millisecond)); ok {
				t.Fatalf("allowed %v after the burst, before a token is back", interval-time.Millisecond)
			}
			if ok, ra := l.Allow("trg", "ip", tt.perMinute, t0.Add(tt.retryAfter)); !ok {
				t.Fatalf("refused at retryAfter %v (retry after %v)", tt.retryAfter, ra)
			}
			// A minute of idleness refills the whole bucket.
			burst(t, l, "trg", "ip", tt.perMinute, tt.perMinute, t0.Add(tt.retryAfter+time.Minute))
		})
	}
}

func TestLimiterRetryAfterCountsDown(t *testing.T) {
	t.Parallel()
	l := NewLimiter(0)
	burst(t, l, "trg", "ip", 1, 1, t0)
	for _, tc := range []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, 60 * time.Second},
		{10 * time.Second, 50 * time.Second},
		{59*time.Second + 100*time.Millisecond, time.Second},
		{59 * time.Second, time.Second},
		{58*time.Second + 500*time.Millisecond, 2 * time.Second},
	} {
		if ok, ra := l.Allow("trg", "ip", 1, t0.Add(tc.at)); ok || ra != tc.want {
			t.Errorf("at +%v: (%v, %v), want (false, %v)", tc.at, ok, ra, tc.want)
		}
	}
}

func TestLimiterIndependentKeys(t *testing.T) {
	t.Parallel()
	l := NewLimiter(0)
	burst(t, l, "trg1", "ip1", 2, 2, t0)
	if ok, _ := l.Allow("trg1", "ip1", 2, t0); ok {
		t.Fatal("trg1/ip1 over its limit was allowed")
	}
	burst(t, l, "trg1", "ip2", 2, 2, t0) // another client of the same trigger
	burst(t, l, "trg2", "ip1", 2, 2, t0) // the same client on another trigger
	// No confusion between ("a","bc") and ("ab","c").
	burst(t, l, "a", "bc", 1, 1, t0)
	burst(t, l, "ab", "c", 1, 1, t0)
	if got := l.Len(); got != 5 {
		t.Fatalf("Len = %d, want 5", got)
	}
}

func TestLimiterUnlimited(t *testing.T) {
	t.Parallel()
	l := NewLimiter(0)
	for _, pm := range []int{0, -1} {
		for range 1000 {
			if ok, ra := l.Allow("trg", "ip", pm, t0); !ok || ra != 0 {
				t.Fatalf("perMinute %d: (%v, %v), want (true, 0)", pm, ok, ra)
			}
		}
	}
	if l.Len() != 0 {
		t.Fatalf("unlimited calls kept %d buckets", l.Len())
	}
}

func TestLimiterRateChange(t *testing.T) {
	t.Parallel()
	t.Run("Raise", func(t *testing.T) {
		t.Parallel()
		l := NewLimiter(0)
		burst(t, l, "trg", "ip", 2, 2, t0)
		// Raised to 60: tokens are kept (none), refill is now 1 per second.
		ok, ra := l.Allow("trg", "ip", 60, t0)
		if ok || ra != time.Second {
			t.Fatalf("after raise: (%v, %v), want (false, 1s)", ok, ra)
		}
		burst(t, l, "trg", "ip", 60, 10, t0.Add(10*time.Second))
		burst(t, l, "trg", "ip", 60, 60, t0.Add(10*time.Second+time.Minute))
	})
	t.Run("Lower", func(t *testing.T) {
		t.Parallel()
		l := NewLimiter(0)
		burst(t, l, "trg", "ip", 60, 1, t0) // 59 tokens left
		// Lowered to 3: capacity 3, the surplus is gone.
		burst(t, l, "trg", "ip", 3, 3, t0)
		ok, ra := l.Allow("trg", "ip", 3, t0)
		if ok || ra != 20*time.Second {
			t.Fatalf("after lower: (%v, %v), want (false, 20s)", ok, ra)
		}
	})
}

func TestLimiterClockBackwards(t *testing.T) {
	t.Parallel()
	l := NewLimiter(0)
	burst(t, l, "trg", "ip", 2, 2, t0)
	if ok, _ := l.Allow("trg", "ip", 2, t0.Add(-time.Hour)); ok {
		t.Fatal("a clock stepping back refilled the bucket")
	}
}

func TestLimiterEvictionBound(t *testing.T) {
	t.Parallel()
	const maxKeys = 640
	tests := []struct {
		name string
		step time.Duration // between clients
	}{
		{"IdleBucketsSwept", time.Second}, // most buckets are a minute old
		{"AllActive", 0},                  // a flood inside one instant
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewLimiter(maxKeys)
			now := t0
			for i := range 20*maxKeys + 1 {
				now = now.Add(tt.step)
				if ok, _ := l.Allow("trg", "ip"+strconv.Itoa(i), 5, now); !ok {
					t.Fatalf("new client %d refused", i)
				}
				if i%50 != 0 {
					continue
				}
				if n := l.Len(); n > maxKeys {
					t.Fatalf("after %d clients, %d buckets > %d", i+1, n, maxKeys)
				}
			}
		})
	}
}

func TestLimiterEvictionKeepsLiveBuckets(t *testing.T) {
	t.Parallel()
	// Shards of four buckets overflow often; each sweep must drop the stale
	// clients and keep the one that keeps calling.
	l := NewLimiter(limiterShards * 4)
	now := t0
	for i := range 2000 {
		now = now.Add(2 * time.Minute)
		if ok, _ := l.Allow("trg", "hot", 1, now); !ok {
			t.Fatalf("step %d: hot client refused", i)
		}
		l.Allow("trg", "cold"+strconv.Itoa(i), 1, now)
		if ok, _ := l.Allow("trg", "hot", 1, now.Add(time.Second)); ok {
			t.Fatalf("step %d: the live bucket was evicted and refilled", i)
		}
	}
}

// TestLimiterProperties checks, for random call histories, that no more
// calls pass than the bucket holds plus its refill, and that a refused
// client passes again at retryAfter.
func TestLimiterProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		perMinute := rapid.IntRange(1, 1000).Draw(t, "perMinute")
		l := NewLimiter(0)
		start := t0.Add(time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(t, "start")))
		now, allowed := start, 0
		var lastRefusal time.Time
		var lastRetry time.Duration
		for range rapid.IntRange(1, 300).Draw(t, "calls") {
			now = now.Add(time.Duration(rapid.Int64Range(0, int64(2*time.Second)).Draw(t, "gap")))
			ok, ra := l.Allow("trg", "ip", perMinute, now)
			if ok {
				allowed++
				if ra != 0 {
					t.Fatalf("allowed with retryAfter %v", ra)
				}
				continue
			}
			if ra < time.Second || ra%time.Second != 0 {
				t.Fatalf("retryAfter %v is not whole seconds ≥ 1 s", ra)
			}
			lastRefusal, lastRetry = now, ra
		}
		refill := float64(now.Sub(start)) / float64(time.Minute) * float64(perMinute)
		if float64(allowed) > float64(perMinute)+refill+1e-6 {
			t.Fatalf("%d calls passed in %v at %d/min", allowed, now.Sub(start), perMinute)
		}
		if !lastRefusal.IsZero() && lastRefusal.Equal(now) {
			if ok, ra := l.Allow("trg", "ip", perMinute, now.Add(lastRetry)); !ok {
				t.Fatalf("refused at retryAfter %v (again %v)", lastRetry, ra)
			}
		}
	})
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewLimiter(0)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "198.51.100." + strconv.Itoa(i)
	}
	var ctr atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(ctr.Add(1)) * 7919
		for pb.Next() {
			i++
			l.Allow("trg", keys[i%len(keys)], 600, t0.Add(time.Duration(i)*time.Millisecond))
		}
	})
}
