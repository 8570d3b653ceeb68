package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
)

// synced is a committed batch whose callers wait for the WAL's sync.
type synced struct {
	ops  []*writeOp
	errs []error
}

// walSyncQueue bounds the committed batches waiting for a sync: past it the
// writer waits too.
const walSyncQueue = 64

// syncer makes the writer's commits durable (synchronous=FULL) without the
// writer waiting for the disk. The writer connection runs with
// synchronous=NORMAL, so a COMMIT writes its WAL frames and returns; this
// goroutine then fsyncs the WAL file, once for every batch committed since
// its last fsync, and only then answers their callers. The writer meanwhile
// runs the next batch: the CPU work of one group commit overlaps the flush
// of the one before instead of taking turns with it.
//
// Nothing is acknowledged before it is on disk: an fsync covers every frame
// written to the file before it, and SQLite's WAL stays recoverable after a
// crash at any point (frames past the last valid commit are ignored; NORMAL
// is consistent, it only may lose the latest commits, which here are
// unanswered ones). Checkpoints run on their own connection with FULL, which
// syncs the WAL before copying it into the database file. What differs from
// SQLite's own FULL is visibility: readers may see a commit up to one fsync
// before its callers are answered, and a crash in that window loses it.
// Anything acted upon goes through the writer, whose answers come after the
// fsync that covers what it read.
func (s *Store) syncer() {
	defer close(s.syncDone)
	for first := range s.walSync {
		pending := []synced{first}
	drain:
		for {
			select {
			case b, ok := <-s.walSync:
				if !ok {
					break drain
				}
				pending = append(pending, b)
			default:
				break drain
			}
		}
		err := s.syncWAL()
		for _, b := range pending {
			for i, op := range b.ops {
				verdict := b.errs[i]
				if verdict == nil {
					verdict = err
				}
				op.done <- verdict
			}
		}
	}
	if s.wal != nil {
		s.wal.Close()
	}
}

// syncWAL fsyncs the WAL file, (re)opening it when the handle is not the
// file now at walPath (SQLite removes the WAL when its last connection
// closes and makes a new one later).
func (s *Store) syncWAL() error {
	if s.beforeWALSync != nil {
		s.beforeWALSync()
	}
	if s.wal != nil {
		held, err1 := s.wal.Stat()
		now, err2 := os.Stat(s.walPath)
		if err1 != nil || err2 != nil || !os.SameFile(held, now) {
			s.wal.Close()
			s.wal = nil
		}
	}
	if s.wal == nil {
		f, err := os.OpenFile(s.walPath, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("sqlite: open the WAL to sync it: %w", err)
		}
		s.wal = f
		// The new file's directory entry must survive a crash too.
		if d, err := os.Open(filepath.Dir(s.walPath)); err == nil {
			err = d.Sync()
			d.Close()
			if err != nil {
				return fmt.Errorf("sqlite: sync the database directory: %w", err)
			}
		}
	}
	if err := s.wal.Sync(); err != nil {
		return fmt.Errorf("sqlite: sync the WAL: %w", err)
	}
	return nil
}
