package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestGroupCommitIsolation queues many writes behind a blocked one so that
// they share one transaction, half of them failing after they wrote: the
// failures' rows must vanish (ROLLBACK TO their savepoint), the others' must
// commit, all in one COMMIT.
func TestGroupCommitIsolation(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	ctx := context.Background()
	release := s.HoldWriter()
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
	release(n) // once every write is queued
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

// TestGroupCommitRerun: in one group, the ops that may run again (rerun) run
// first without savepoints; when one of them fails or panics the group starts
// over with every op in a savepoint, so that only the failures' rows vanish,
// and an op that is not rerunnable still runs exactly once. A group whose
// rerunnable ops all succeed runs them without a single savepoint.
func TestGroupCommitRerun(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name       string
		rerun      func(i int) bool
		fails      func(i int) bool // after its insert
		panics     int              // this op panics after its insert (-1: none)
		savepoints func(n int) int64
	}{
		{name: "AllRerunAllSucceed", rerun: func(int) bool { return true }, fails: func(int) bool { return false }, panics: -1,
			savepoints: func(int) int64 { return 0 }},
		{name: "AllRerunSomeFail", rerun: func(int) bool { return true }, fails: func(i int) bool { return i%5 == 3 }, panics: 7,
			savepoints: func(n int) int64 { return int64(n) }},
		{name: "MixedRerunFails", rerun: func(i int) bool { return i%3 != 0 }, fails: func(i int) bool { return i%4 == 1 }, panics: -1,
			savepoints: func(n int) int64 { return int64(n) }},
		{name: "MixedOnlySavedFail", rerun: func(i int) bool { return i%2 == 0 }, fails: func(i int) bool { return i%2 == 1 && i%3 == 0 }, panics: -1,
			savepoints: func(n int) int64 { return int64(n / 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openTestStore(t)
			ctx := context.Background()
			release := s.HoldWriter()
			before, sp := s.WriteStats(), s.savepoints.Load()

			const n = 30
			runs := make([]atomic.Int32, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					errs[i] = s.enqueue(&writeOp{ctx: ctx, rerun: tc.rerun(i), fn: func(tx *sql.Tx) error {
						runs[i].Add(1)
						if _, err := tx.Exec(`INSERT INTO workspaces (id, name, created) VALUES (?, ?, 0)`, fmt.Sprint("ws_", i), fmt.Sprint("name", i)); err != nil {
							return err
						}
						if i == tc.panics {
							panic("fn panicked")
						}
						if tc.fails(i) {
							return errBoom
						}
						return nil
					}})
				})
			}
			release(n)
			wg.Wait()

			rows, err := s.rdb.Query(`SELECT id FROM workspaces`)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for rows.Next() {
				var id string
				rows.Scan(&id)
				got[id] = true
			}
			rows.Close()
			for i := range n {
				failed := tc.fails(i) || i == tc.panics
				if (errs[i] != nil) != failed {
					t.Errorf("write %d: %v, want failed=%v", i, errs[i], failed)
				}
				if got[fmt.Sprint("ws_", i)] == failed {
					t.Errorf("write %d: row present=%v, want %v", i, !failed, failed)
				}
				if r := runs[i].Load(); !tc.rerun(i) && r != 1 {
					t.Errorf("write %d (not rerunnable) ran %d times, want once", i, r)
				}
			}
			if commits := s.WriteStats().Commits - before.Commits; commits != 2 {
				t.Errorf("%d commits, want 2 (one group)", commits)
			}
			if got, want := s.savepoints.Load()-sp, tc.savepoints(n); got != want {
				t.Errorf("%d ops ran in savepoints, want %d", got, want)
			}
		})
	}
}

// openTestStore opens a store in a temporary directory, closed at the
// test's end.
func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), Options{Sealer: walSealer(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
