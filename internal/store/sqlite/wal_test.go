package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hookd "github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/seal"
)

// TestWALBounded: under a steady stream of commits the WAL stays near its
// limit. A checkpoint beside the writer never completes then, so without the
// writer's catch-up (catchUp) the file grows with every byte written: here
// it would pass 16 MiB, against a limit of 256 KiB.
func TestWALBounded(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hookd.db")
	const limit = 256 << 10
	sl, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path, Options{Sealer: sl, Synchronous: "NORMAL",
		walLimit: limit, checkpointEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`CREATE TABLE fill (b BLOB)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	const target = 16 << 20 // bytes of rows written
	var written atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(60 * time.Second)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for written.Load() < target && time.Now().Before(deadline) {
				if err := s.write(ctx, func(tx *sql.Tx) error {
					_, err := tx.Exec(`INSERT INTO fill (b) VALUES (randomblob(4000))`)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
				written.Add(4000)
			}
		}()
	}
	var most int64
	for done := false; !done; {
		done = written.Load() >= target || time.Now().After(deadline)
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > most {
			most = fi.Size()
		}
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	if n := written.Load(); n < target {
		t.Fatalf("wrote %d bytes in a minute, want %d", n, target)
	}
	// The limit, plus what the writer commits between the checkpointer
	// noticing and its catch-up.
	if most > 6<<20 {
		t.Errorf("WAL reached %d bytes while %d were written (limit %d)", most, written.Load(), limit)
	}
	if s.catchUps.Load() == 0 {
		t.Error("the writer never caught up")
	}
}

// TestPageSize: a database Open creates has pages of newPageSize and is in
// WAL mode; one created earlier with other pages keeps them and opens as
// before (page_size cannot change a database that exists).
func TestPageSize(t *testing.T) {
	t.Parallel()
	sl, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	settings := func(path string) (pageSize int, mode string) {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		return pageSize, mode
	}
	for _, tc := range []struct {
		name     string
		existing int // page size of a database made before Open; 0: none
		want     int
	}{
		{"new", 0, newPageSize},
		{"existing 4096", 4096, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hookd.db")
			if tc.existing != 0 {
				db, err := sql.Open("sqlite", "file:"+path)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range []string{fmt.Sprintf("PRAGMA page_size=%d", tc.existing), "CREATE TABLE before (x)"} {
					if _, err := db.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
				db.Close()
			}
			s, err := Open(ctx, path, Options{Sealer: sl})
			if err != nil {
				t.Fatal(err)
			}
			if s.pageSize != tc.want {
				t.Errorf("store's page size %d, want %d", s.pageSize, tc.want)
			}
			if err := s.WorkspaceCreate(ctx, &hookd.Workspace{Name: "w"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if ps, mode := settings(path); ps != tc.want || mode != "wal" {
				t.Errorf("database: page_size %d, journal_mode %q; want %d, wal", ps, mode, tc.want)
			}
		})
	}
}
