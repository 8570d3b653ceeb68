package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/hookd/hookd/internal/seal"
)

// TestGroupCommitIsolation queues many writes behind a blocked one so that
// they share one transaction, half of them failing after they wrote: the
// failures' rows must vanish (ROLLBACK TO their savepoint), the others' must
// commit, all in one COMMIT.
func TestGroupCommitIsolation(t *testing.T) {
	t.Parallel()
	key := make([]byte, seal.KeySize)
	rand.Read(key)
	sl, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), Options{Sealer: sl})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	release := make(chan struct{})
	blocked := make(chan struct{})
	go s.write(ctx, func(tx *sql.Tx) error { close(blocked); <-release; return nil })
	<-blocked
	before := s.WriteStats()

	const n = 40
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.write(ctx, func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO workspaces (id, name, created) VALUES (?, ?, 0)`, fmt.Sprint("ws_", i), fmt.Sprint("name", i)); err != nil {
					return err
				}
				if i%2 == 1 {
					return errBoom
				}
				if i == 10 {
					panic("fn panicked")
				}
				return nil
			})
		}()
	}
	// Wait until every write is queued, then let the writer go.
	for len(s.ops) < n {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	for i, err := range errs {
		switch {
		case i%2 == 1 && !errors.Is(err, errBoom):
			t.Errorf("write %d: %v, want boom", i, err)
		case i == 10 && err == nil:
			t.Errorf("write %d: panic not reported", i)
		case i%2 == 0 && i != 10 && err != nil:
			t.Errorf("write %d: %v", i, err)
		}
	}
	rows, err := s.rdb.Query(`SELECT id FROM workspaces ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		got[id] = true
	}
	for i := range n {
		want := i%2 == 0 && i != 10
		if got[fmt.Sprint("ws_", i)] != want {
			t.Errorf("workspace %d present=%v, want %v", i, !want, want)
		}
	}
	after := s.WriteStats()
	// The blocked write's commit, then the queued ones in one transaction.
	if commits := after.Commits - before.Commits; commits != 2 {
		t.Errorf("%d commits for %d queued writes, want 2 (one group)", commits, n)
	}
}
