package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/internal/store/postgres"
)

// fakeMember records what the membership tells it and answers Resize with
// fits as the test sets it.
type fakeMember struct {
	mu     sync.Mutex
	fits   bool
	n      int
	active bool
	calls  int
	// activeAlone: it was once told it is active and alone.
	activeAlone bool
	// activeCalls counts the Resize calls that let it take work.
	activeCalls int
}

func (f *fakeMember) Resize(n int, active bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.active = n, active
	f.calls++
	if active {
		f.activeCalls++
		if n == 1 {
			f.activeAlone = true
		}
	}
	return f.fits
}

func (f *fakeMember) is(n int, active bool) func() bool {
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.n == n && f.active == active
	}
}

func (f *fakeMember) setFits(fits bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fits = fits
}

func (f *fakeMember) snapshot() (calls, activeCalls int, activeAlone bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.activeCalls, f.activeAlone
}

const memberRound, memberTTL = 50 * time.Millisecond, 500 * time.Millisecond

// runMember runs the membership of node on s until the returned stop is
// called (which waits for it to end).
func runMember(t *testing.T, s *postgres.Store, node string, m *fakeMember) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.MembersEvery(ctx, node, m, memberRound, memberTTL)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestMembers: a node alone takes work at once; a joining node takes its
// share only once every other node counts it and fits its own smaller share;
// a row nobody renews stops counting after the TTL; a node that stops
// removes its row, and the others take its share back.
func TestMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := freshDB(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	a := &fakeMember{fits: true}
	runMember(t, open(t, dsn, postgres.Options{Sealer: sealer(t)}), "a", a)
	waitFor(t, "a alone and active", 10*time.Second, a.is(1, true))

	// b joins while a's deliveries in flight exceed a's share of two.
	a.setFits(false)
	b := &fakeMember{fits: true}
	stopB := runMember(t, open(t, dsn, postgres.Options{Sealer: sealer(t)}), "b", b)
	waitFor(t, "a counting two, still active", 10*time.Second, a.is(2, true))
	waitFor(t, "b told of two nodes, inactive", 10*time.Second, b.is(2, false))
	calls, _, _ := b.snapshot()
	waitFor(t, "b told five more times", 10*time.Second, func() bool { c, _, _ := b.snapshot(); return c >= calls+5 })
	if _, active, _ := b.snapshot(); active > 0 {
		t.Fatalf("b active %d times while a did not fit its share", active)
	}
	a.setFits(true)
	waitFor(t, "b active once a fits", 10*time.Second, b.is(2, true))

	// A row nobody renews counts while it is fresh, then no more (stamped two
	// seconds ahead, so a slow renewal cannot miss it).
	if _, err := conn.Exec(ctx, `INSERT INTO nodes (id, seen_at, nodes, fits) VALUES ('ghost', now() + interval '2 seconds', 3, true)`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a counting the ghost", 10*time.Second, a.is(3, true))
	waitFor(t, "a and b counting two again", 10*time.Second, func() bool { return a.is(2, true)() && b.is(2, true)() })

	// b stops: its row goes, and a is alone again.
	stopB()
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE id = 'b'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("b's row after it stopped: %d, %v", rows, err)
	}
	waitFor(t, "a alone again", 10*time.Second, a.is(1, true))
}

// TestMembersStartTogether: nodes starting at the same moment on an empty
// table never both take work as if alone (renewals take one lock, so the
// second counts the first).
func TestMembersStartTogether(t *testing.T) {
	t.Parallel()
	for round := range 3 {
		dsn := freshDB(t)
		ms := []*fakeMember{{fits: true}, {fits: true}, {fits: true}}
		stores := make([]*postgres.Store, len(ms))
		for i := range ms {
			stores[i] = open(t, dsn, postgres.Options{Sealer: sealer(t)})
		}
		for i, m := range ms {
			runMember(t, stores[i], string(rune('a'+i)), m)
		}
		for _, m := range ms {
			waitFor(t, "every node active, counting three", 10*time.Second, m.is(3, true))
		}
		alone := 0
		for _, m := range ms {
			if _, _, a := m.snapshot(); a {
				alone++
			}
		}
		if alone > 1 {
			t.Fatalf("round %d: %d nodes took work as if alone", round, alone)
		}
	}
}
