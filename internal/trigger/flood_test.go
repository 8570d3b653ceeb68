package trigger

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func refuse(g *FloodGuard, ip string, n int, now time.Time) {
	for range n {
		g.Refused(ip, now)
	}
}

func TestFloodGuard(t *testing.T) {
	t.Parallel()
	at := t0.Add(10 * time.Second) // 10 s into a fixed minute
	type check struct {
		after      time.Duration // since at
		blocked    bool
		retryAfter time.Duration
	}
	tests := []struct {
		name    string
		refuse  int
		spread  time.Duration // refusals spread evenly over this, from at
		checks  []check
		another string // an IP that must stay unblocked
	}{
		{name: "60NotBlocked", refuse: 60, checks: []check{{0, false, 0}, {30 * time.Second, false, 0}}},
		{name: "61Blocked", refuse: 61, another: "198.51.100.2", checks: []check{
			// 61·(60 s − e)/60 s ≤ 60 from e = 0.98 s into the next minute:
			// 50 s left in this one, so 50.98 s, rounded up.
			{0, true, 51 * time.Second},
			{20 * time.Second, true, 31 * time.Second},
			{50 * time.Second, true, time.Second},
			{51 * time.Second, false, 0},
		}},
		{name: "120Blocked", refuse: 120, checks: []check{
			{0, true, 80 * time.Second}, // 50 s + half of the next minute
			{79 * time.Second, true, time.Second},
			{80 * time.Second, false, 0},
		}},
		{name: "SteadyStream", refuse: 240, spread: 2 * time.Minute, checks: []check{
			// Two refusals a second for two minutes: 120 in the last minute,
			// 60 of them leave it in the next 30 s, as in a true sliding window.
			{2 * time.Minute, true, 30 * time.Second},
			{2*time.Minute + 29*time.Second, true, time.Second},
			{2*time.Minute + 30*time.Second, false, 0},
		}},
		{name: "LongGone", refuse: 1000, checks: []check{
			{2 * time.Minute, false, 0},
			{time.Hour, false, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := NewFloodGuard(60, time.Minute)
			for i := range tt.refuse {
				g.Refused("198.51.100.1", at.Add(tt.spread*time.Duration(i)/time.Duration(tt.refuse)))
			}
			for _, c := range tt.checks {
				blocked, ra := g.Blocked("198.51.100.1", at.Add(c.after))
				if blocked != c.blocked || ra != c.retryAfter {
					t.Errorf("Blocked at +%v = (%v, %v), want (%v, %v)", c.after, blocked, ra, c.blocked, c.retryAfter)
				}
				if tt.another != "" {
					if blocked, _ := g.Blocked(tt.another, at.Add(c.after)); blocked {
						t.Errorf("an IP without refusals is blocked")
					}
				}
			}
		})
	}
}

func TestFloodGuardStaysBlockedWhileRefused(t *testing.T) {
	t.Parallel()
	g := NewFloodGuard(60, time.Minute)
	now := t0
	refuse(g, "ip", 61, now)
	// A client that keeps calling while blocked, each call refused, stays blocked.
	for range 600 {
		now = now.Add(time.Second)
		blocked, _ := g.Blocked("ip", now)
		if !blocked {
			t.Fatalf("unblocked at +%v while refused every second", now.Sub(t0))
		}
		refuse(g, "ip", 2, now)
	}
}

func TestFloodGuardZeroLimit(t *testing.T) {
	t.Parallel()
	g := NewFloodGuard(0, time.Minute)
	if blocked, _ := g.Blocked("ip", t0); blocked {
		t.Fatal("blocked without refusals")
	}
	g.Refused("ip", t0)
	// Refused at the start of a fixed window, it weighs on the next one too.
	if blocked, ra := g.Blocked("ip", t0); !blocked || ra != 2*time.Minute {
		t.Fatalf("after 1 refusal = (%v, %v), want (true, 2m)", blocked, ra)
	}
}

func TestFloodGuardBounded(t *testing.T) {
	t.Parallel()
	const maxIPs = 640
	g := newFloodGuard(60, time.Minute, maxIPs)
	blockedIPs := []string{"b1", "b2", "b3", "b4", "b5"}
	for _, ip := range blockedIPs {
		refuse(g, ip, 100, t0)
	}
	for i := range 20*maxIPs + 1 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		g.Refused("10."+strconv.Itoa(i), now)
		if i%50 != 0 {
			continue
		}
		if n := g.Len(); n > maxIPs {
			t.Fatalf("after %d IPs, %d tracked > %d", i+1, n, maxIPs)
		}
	}
	// Blocked clients are the last to be forgotten.
	for _, ip := range blockedIPs {
		if blocked, _ := g.Blocked(ip, t0.Add(10*time.Second)); !blocked {
			t.Errorf("%s was forgotten under a flood of new IPs", ip)
		}
	}
}

func TestFloodGuardNoAlloc(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process.
	g := NewFloodGuard(60, time.Minute)
	ip := string([]byte("198.51.100.1"))
	g.Refused(ip, t0)
	n := testing.AllocsPerRun(100, func() {
		g.Refused(ip, t0)
		g.Blocked(ip, t0)
	})
	if n != 0 {
		t.Fatalf("Refused+Blocked for a known IP allocate %v times", n)
	}
}

// TestFloodGuardProperties checks, for random refusal histories, that a
// burst over the limit blocks, that too few refusals never block, and that
// retryAfter is exact to the second.
func TestFloodGuardProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		limit := rapid.IntRange(0, 100).Draw(t, "limit")
		window := time.Duration(rapid.IntRange(1, 600).Draw(t, "windowSeconds")) * time.Second
		g := NewFloodGuard(limit, window)
		now := t0.Add(time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(t, "start")))
		var times []time.Time
		for range rapid.IntRange(0, 300).Draw(t, "refusals") {
			now = now.Add(time.Duration(rapid.Int64Range(0, int64(window)/10).Draw(t, "gap")))
			g.Refused("ip", now)
			times = append(times, now)
		}
		check := now.Add(time.Duration(rapid.Int64Range(0, 3*int64(window)).Draw(t, "checkAfter")))
		blocked, ra := g.Blocked("ip", check)

		// Count refusals in the two fixed windows a check can see.
		// Fixed windows count from the Unix epoch (time.Truncate counts from year 1).
		ns := check.UnixNano()
		curStart := time.Unix(0, ns-ns%int64(window))
		inCur, inTwo := 0, 0
		for _, ts := range times {
			if !ts.Before(curStart) {
				inCur++
			}
			if !ts.Before(curStart.Add(-window)) {
				inTwo++
			}
		}
		if inCur > limit && !blocked {
			t.Fatalf("%d refusals in the current window, limit %d, not blocked", inCur, limit)
		}
		if inTwo <= limit && blocked {
			t.Fatalf("%d refusals in two windows, limit %d, blocked", inTwo, limit)
		}
		if !blocked {
			if ra != 0 {
				t.Fatalf("not blocked but retryAfter %v", ra)
			}
			return
		}
		if ra < time.Second || ra%time.Second != 0 {
			t.Fatalf("retryAfter %v is not whole seconds ≥ 1 s", ra)
		}
		if b, _ := g.Blocked("ip", check.Add(ra)); b {
			t.Fatalf("still blocked after retryAfter %v", ra)
		}
		if ra > time.Second {
			if b, _ := g.Blocked("ip", check.Add(ra-time.Second)); !b {
				t.Fatalf("unblocked a second before retryAfter %v", ra)
			}
		}
	})
}

func BenchmarkFloodGuard(b *testing.B) {
	g := NewFloodGuard(60, time.Minute)
	ips := make([]string, 4096)
	for i := range ips {
		ips[i] = "203.0.113." + strconv.Itoa(i)
	}
	var ctr atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(ctr.Add(1)) * 7919
		for pb.Next() {
			i++
			now := t0.Add(time.Duration(i) * time.Millisecond)
			ip := ips[i%len(ips)]
			if blocked, _ := g.Blocked(ip, now); !blocked {
				g.Refused(ip, now)
			}
		}
	})
}
