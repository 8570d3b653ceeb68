package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
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
			s := openGroupStore(t)
			ctx := context.Background()
			release := holdWriter(s)
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

// TestGroupCommitRooms: calls accepted in one group start runs up to the
// job's concurrency and queue the rest, whether their runs stay running (the
// room found for one call must not serve the next) or end inline (then every
// call starts one, the job's room unchanged by them).
func TestGroupCommitRooms(t *testing.T) {
	for _, tc := range []struct {
		name        string
		inline      bool
		wantStarted int
	}{{"Running", false, 3}, {"Inline", true, 12}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openGroupStore(t)
			ctx := context.Background()
			ws := &hookd.Workspace{Name: "w"}
			if err := s.WorkspaceCreate(ctx, ws); err != nil {
				t.Fatal(err)
			}
			j := &hookd.Job{WorkspaceID: ws.ID, Name: "j", Kind: hookd.JobEvent, Config: json.RawMessage(`{"type":"t"}`), Concurrency: 3}
			if err := s.JobCreate(ctx, j); err != nil {
				t.Fatal(err)
			}
			tr := &hookd.Trigger{WorkspaceID: ws.ID, JobID: j.ID, TokenHash: hookd.HashToken("wht_x"), IsActive: true, Mode: hookd.ModeAsync}
			if err := s.TriggerCreate(ctx, tr); err != nil {
				t.Fatal(err)
			}
			start := &hookd.ExecStart{Owner: "n", Lease: time.Minute}
			if tc.inline {
				start.Inline = func(c *hookd.ClaimedExecution) *hookd.ExecFinishParams {
					return &hookd.ExecFinishParams{Status: hookd.ExecSucceeded, Now: *c.StartedAt}
				}
			}
			release := holdWriter(s)
			before := s.WriteStats()
			const n = 12
			results := make([]*hookd.CallAcceptResult, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					res, err := s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: tr, Call: hookd.Call{IP: "127.0.0.1", Method: "POST"},
						Input: json.RawMessage(`{}`), Now: time.Now(), Start: start})
					if err != nil {
						t.Error(err)
					}
					results[i] = res
				})
			}
			release(n)
			wg.Wait()
			if commits := s.WriteStats().Commits - before.Commits; commits != 2 {
				t.Errorf("%d commits, want 2 (one group)", commits)
			}
			started := 0
			for _, r := range results {
				if r != nil && r.Started != nil {
					started++
				}
			}
			if started != tc.wantStarted {
				t.Errorf("%d of %d calls started their run, want %d", started, n, tc.wantStarted)
			}
		})
	}
}

// openGroupStore opens a store in a temporary directory, closed at the
// test's end.
func openGroupStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), Options{Sealer: walSealer(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// holdWriter keeps the writer inside a transaction of its own until the
// returned release(n) finds n more writes queued behind it; they then make
// one group.
func holdWriter(s *Store) (release func(n int)) {
	held, blocked := make(chan struct{}), make(chan struct{})
	go s.write(context.Background(), func(tx *sql.Tx) error { close(blocked); <-held; return nil })
	<-blocked
	return func(n int) {
		for len(s.ops) < n {
			runtime.Gosched()
		}
		close(held)
	}
}
