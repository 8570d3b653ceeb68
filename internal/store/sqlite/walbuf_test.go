package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/seal"
)

// openWALBuf opens path through walBufVFS (WAL, synchronous=FULL) on one
// connection, with a page cache of cachePages pages.
func openWALBuf(t testing.TB, path string, cachePages int) *sql.DB {
	t.Helper()
	if err := registerWALBuf(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", fmt.Sprintf("file:%s?vfs=%s&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(%d)&_pragma=wal_autocheckpoint(0)",
		path, walBufVFS, cachePages))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func walSealer(t *testing.T) *seal.AESGCM {
	s, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A commit of many pages reaches the WAL in a few writes, not two per page;
// commits whose frames cross multiples of 128 KiB (where SQLite's own write
// gives up, see walWriteMax), transactions that spill pages into the WAL
// before they commit and read them back, and rolled-back ones leave a
// database that checks clean and holds exactly what was committed, read
// through the plain unix VFS by another connection.
func TestWALBufFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	db := openWALBuf(t, path, 16) // a tiny cache: big transactions spill
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	want := map[int]int{} // group → rows committed
	id := 0
	insert := func(grp, rows int, commit bool) {
		t.Helper()
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range rows {
			id++
			if _, err := tx.Exec(`INSERT INTO t VALUES (?, ?, ?)`, id, grp, strings.Repeat(strconv.Itoa(id%10), 900)); err != nil {
				t.Fatal(err)
			}
		}
		if !commit {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := tx.Commit(); err != nil {
			t.Fatalf("group %d (%d rows): %v", grp, rows, err)
		}
		want[grp] = rows
	}
	calls, writes := walCalls.Load(), walWrites.Load()
	insert(1, 120, true) // about 30 pages of rows: one commit of ~128 KiB of frames
	if c, w := walCalls.Load()-calls, walWrites.Load()-writes; c < 10*w || w == 0 {
		t.Errorf("a commit of ~30 pages: %d WAL writes from SQLite became %d pwrites, want gathered", c, w)
	}
	for grp, rows := range []int{124, 128, 132, 136, 250, 520, 1} {
		insert(10+grp, rows, true)
	}
	insert(2, 400, false) // spills, then rolls back
	insert(3, 300, true)  // reuses the rolled-back transaction's WAL space

	// Another connection, through the unix VFS, sees every committed row.
	plain, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	checkRows(t, plain, want)
	// And after the WAL is copied back into the database file.
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	checkRows(t, plain, want)
}

// checkRows checks integrity and the row count of every group.
func checkRows(t *testing.T, db *sql.DB, want map[int]int) {
	t.Helper()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q (%v)", ok, err)
	}
	rows, err := db.Query(`SELECT grp, count(*) FROM t GROUP BY grp`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]int{}
	for rows.Next() {
		var g, n int
		if err := rows.Scan(&g, &n); err != nil {
			t.Fatal(err)
		}
		got[g] = n
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows per group %v, want %v", got, want)
	}
}

// With synchronous=NORMAL no commit syncs the WAL, so frames could not wait
// for an xSync: the store then opens its writer without walBufVFS.
func TestWALBufOnlyWithFull(t *testing.T) {
	for _, tc := range []struct {
		sync     string
		buffered bool
	}{{"FULL", true}, {"NORMAL", false}} {
		t.Run(tc.sync, func(t *testing.T) {
			s, err := Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), Options{Sealer: walSealer(t), Synchronous: tc.sync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			calls := walCalls.Load()
			if err := s.WorkspaceCreate(context.Background(), &hookd.Workspace{Name: "w"}); err != nil {
				t.Fatal(err)
			}
			if got := walCalls.Load() > calls; got != tc.buffered {
				t.Errorf("synchronous=%s: the writer's WAL written through walBufVFS: %v, want %v", tc.sync, got, tc.buffered)
			}
		})
	}
}

// Every commit acknowledged before a kill -9 is in the database afterwards:
// a child process commits numbered rows through walBufVFS and prints each
// number once its commit returned; the parent kills it mid-stream.
func TestWALBufSurvivesKill(t *testing.T) {
	if p := os.Getenv("HOOKD_WALBUF_CHILD"); p != "" {
		walBufChild(t, p)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "k.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestWALBufSurvivesKill$", "-test.v")
	cmd.Env = append(os.Environ(), "HOOKD_WALBUF_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 300 {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "acked ")); err == nil && strings.HasPrefix(sc.Text(), "acked ") {
			acked[n] = true
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged %d commits before it stopped", len(acked))
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check after kill: %q (%v)", ok, err)
	}
	for n := range acked {
		var c int
		if err := db.QueryRow(`SELECT count(*) FROM t WHERE id = ?`, n).Scan(&c); err != nil || c != 1 {
			t.Fatalf("acknowledged row %d: %d rows (%v)", n, c, err)
		}
	}
}

// walBufChild commits rows 1, 2, … (each with a few pages of filler) until
// it is killed, printing "acked N" after each commit.
func walBufChild(t *testing.T, path string) {
	db := openWALBuf(t, path, 64)
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(time.Minute)
	for n := 1; time.Now().Before(deadline); n++ {
		if _, err := db.Exec(`INSERT INTO t VALUES (?, ?)`, n, strings.Repeat("x", 3000*(1+n%5))); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "acked %d\n", n)
		w.Flush()
	}
}
