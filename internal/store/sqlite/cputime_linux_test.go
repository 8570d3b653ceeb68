package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

// In tests the writer's busy time is the CPU time of its thread (the writer
// keeps one of its own), so that benchmarks measure the writer's work rather
// than the machine's load.
func init() {
	writerClock = func() int64 {
		var ts syscall.Timespec
		const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
		syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
		return ts.Nano()
	}
}

// The writer runs every transaction on one OS thread, its own, though each
// commit blocks in fsync (which hands the scheduler's slot to another thread)
// and other goroutines keep the machine's threads busy meanwhile.
func TestWriterKeepsItsThread(t *testing.T) {
	s := openTestStore(t)
	stop := make(chan struct{})
	defer close(stop)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
					runtime.Gosched()
				}
			}
		}()
	}
	tids := map[int]bool{}
	for i := range 200 {
		var tid int
		if err := s.write(context.Background(), func(tx *sql.Tx) error {
			tid = syscall.Gettid()
			_, err := tx.Exec(`INSERT INTO workspaces (id, name, created) VALUES (?, ?, 0)`, fmt.Sprint("ws_", i), fmt.Sprint("n", i))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		tids[tid] = true
	}
	if len(tids) != 1 {
		t.Fatalf("the writer ran on %d threads, want 1", len(tids))
	}
}
