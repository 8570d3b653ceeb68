// Package sqlite implements hookd.Store on one SQLite file (modernc.org/sqlite,
// pure Go): hand-written SQL, embedded goose migrations, WAL with one writer
// connection and a pool of read-only connections, and group commit — every
// write of the process goes through one goroutine that folds whatever
// callers are queued into a single immediate transaction (each caller inside
// its own SAVEPOINT) and one COMMIT, so synchronous=FULL costs one fsync per
// batch rather than per event.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookd/hookd"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Limits of one group commit.
const (
	maxBatchOps   = 256
	maxBatchBytes = 4 << 20
)

// Options configure Open.
type Options struct {
	// Sealer encrypts webhook secrets at rest. Required.
	Sealer hookd.Sealer
	// Synchronous is SQLite's synchronous pragma: "FULL" (default: an
	// acknowledged write is on disk) or "NORMAL" (faster; a power loss may
	// drop the last commits, never corrupt).
	Synchronous string
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// Now is the clock for methods that take no time argument (created and
	// updated stamps, DeliveriesRelease). Default time.Now.
	Now func() time.Time

	// Tests shorten these: the WAL size past which the writer catches up
	// (default walSizeLimit) and the checkpointer's interval (default
	// checkpointInterval).
	walLimit        int64
	checkpointEvery time.Duration
}

// Store is a hookd.Store on SQLite. It is safe for concurrent use. Only one
// Store (one process) may write a given file: the webhook match cache relies
// on seeing every webhook write.
type Store struct {
	wdb   *sql.DB   // one connection, _txlock=immediate
	wconn *sql.Conn // wdb's connection, the writer's from Open to Close
	rdb   *sql.DB   // query_only pool
	cdb   *sql.DB   // one connection for WAL checkpoints

	cpStop, cpDone chan struct{}
	sealer         hookd.Sealer
	now            func() time.Time

	mu     sync.RWMutex // guards closed and sends on ops
	closed bool
	ops    chan *writeOp
	done   chan struct{}

	commits, writes atomic.Int64 // group commit counters, see WriteStats
	savepoints      atomic.Int64 // ops run inside a savepoint (tests)

	walFull   atomic.Bool  // the checkpointer asks the writer to catch up
	catchUps  atomic.Int64 // checkpoints run by the writer (catchUp)
	pageSize  int
	walLimit  int64         // Options.walLimit
	ckptEvery time.Duration // Options.checkpointEvery

	prep prepCache    // statements prepared on wdb (see prepared.go)
	raw  rawStmts     // the same on wconn's driver connection (raw.go)
	busy atomic.Int64 // nanoseconds the writer spent in transactions

	// Owned by the writer goroutine (touched only inside write fns).
	hooks map[string][]*hookd.Webhook // workspace → active webhooks, for fan-out
	trigs map[string]trigState        // trigger id → its job and last use, for CallAccept
	jobs  map[string]*hookd.Job       // job id → its row, for CallAccept's runs started at once
	// rooms: job ids that CallAccept found with room for one more run, in
	// the current transaction, by ops that keep it (writeOp.keepRooms) and
	// since none of them queued or started a run of the job that stays
	// running. Any other op, a new transaction and a rollback empty it: only
	// runs started and ended inline leave a job's room as it was.
	rooms map[string]bool
	stmts stmts

	rstmts rstmts // on the read pool
}

var _ hookd.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, applies migrations
// and starts the writer goroutine. Close releases it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Sealer == nil {
		return nil, errors.New("sqlite: open: Options.Sealer is required")
	}
	sync := "FULL"
	switch opts.Synchronous {
	case "", "FULL", "full":
	case "NORMAL", "normal":
		sync = "NORMAL"
	default:
		return nil, fmt.Errorf("sqlite: open: synchronous must be FULL or NORMAL, got %q", opts.Synchronous)
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.walLimit <= 0 {
		opts.walLimit = walSizeLimit
	}
	if opts.checkpointEvery <= 0 {
		opts.checkpointEvery = checkpointInterval
	}

	common := url.Values{}
	common.Add("_pragma", "busy_timeout(10000)")
	common.Add("_pragma", "foreign_keys(1)")
	common.Add("_pragma", "cache_size(-32000)") // 32 MiB per connection
	common.Add("_pragma", "temp_store(MEMORY)")
	common.Add("_pragma", "synchronous("+sync+")")

	wq := cloneValues(common)
	// A new database gets pages of newPageSize; an existing one keeps its
	// own. The driver runs the _pragma list sorted by name and the
	// _journal_mode key after it, so page_size comes before the switch to
	// WAL that writes the database's first page.
	wq.Add("_pragma", fmt.Sprintf("page_size(%d)", newPageSize))
	wq.Set("_journal_mode", "WAL")
	// Checkpoints run on their own connection (checkpointer), not inside the
	// commits of the writer: a checkpoint copies pages into the database file
	// and syncs it, which would stall every caller of that group commit.
	wq.Add("_pragma", "wal_autocheckpoint(0)")
	// When the WAL starts over (see catchUp), its file is cut back to this.
	wq.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", opts.walLimit))
	wq.Set("_txlock", "immediate")
	if sync == "FULL" {
		// The writer's WAL appends go out a few writes per commit (walbuf.go).
		if err := registerWALBuf(); err != nil {
			return nil, err
		}
		wq.Set("vfs", walBufVFS)
	}
	wdb, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	var pageSize int
	if err := wdb.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	rq := cloneValues(common)
	rq.Add("_pragma", "query_only(1)")
	rdb, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	rdb.SetMaxOpenConns(opts.ReadConns)
	rdb.SetMaxIdleConns(opts.ReadConns)
	cdb, err := sql.Open("sqlite", "file:"+path+"?"+common.Encode())
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	cdb.SetMaxOpenConns(1)
	if err := rdb.PingContext(ctx); err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	s := &Store{
		pageSize:  pageSize,
		walLimit:  opts.walLimit,
		ckptEvery: opts.checkpointEvery,
		wdb:       wdb,
		rdb:       rdb,
		cdb:       cdb,
		cpStop:    make(chan struct{}),
		cpDone:    make(chan struct{}),
		sealer:    opts.Sealer,
		now:       opts.Now,
		ops:       make(chan *writeOp, maxBatchOps),
		done:      make(chan struct{}),
		hooks:     map[string][]*hookd.Webhook{},
		trigs:     map[string]trigState{},
		jobs:      map[string]*hookd.Job{},
		rooms:     map[string]bool{},
	}
	if err := s.stmts.prepare(ctx, wdb); err != nil {
		wdb.Close()
		rdb.Close()
		cdb.Close()
		return nil, err
	}
	if err := s.rstmts.prepare(ctx, rdb); err != nil {
		s.stmts.close()
		wdb.Close()
		rdb.Close()
		cdb.Close()
		return nil, err
	}
	if err := s.prep.prepare(wdb); err != nil {
		s.stmts.close()
		wdb.Close()
		rdb.Close()
		cdb.Close()
		return nil, err
	}
	// From here on the writer holds wdb's one connection: nothing else may
	// use wdb.
	if s.wconn, err = wdb.Conn(ctx); err == nil {
		if err = s.raw.prepare(ctx, s.wconn); err != nil {
			s.wconn.Close()
		}
	}
	if err != nil {
		s.prep.close()
		s.stmts.close()
		wdb.Close()
		rdb.Close()
		cdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	go s.writer()
	go s.checkpointer()
	return s, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// Close waits for queued writes to commit, stops the writer and closes the
// database. Writes after Close fail with EUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.mu.Unlock()
	<-s.done
	close(s.cpStop)
	<-s.cpDone
	s.raw.close()
	s.stmts.close()
	s.rstmts.close()
	// A final checkpoint folds the WAL into the database file.
	_, cerr := s.cdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return errors.Join(cerr, s.wconn.Close(), s.cdb.Close(), s.rdb.Close(), s.wdb.Close())
}

// checkpointInterval is how often the checkpointer copies committed WAL
// frames into the database file. Each checkpoint ends in an fsync of the
// database file, and the commits' WAL fsyncs meanwhile wait behind it on
// the disk: smaller, more frequent checkpoints make shorter stalls. At
// 250 ms accepted trigger calls had a p99 of 31 ms; at 50 ms, 16 ms, at the
// same throughput, and outbound deliveries' p99 halved too
// (docs/BENCHMARKS.md, ninth session). An idle store skips the ticks.
const checkpointInterval = 50 * time.Millisecond

// newPageSize is the page size of a database this package creates. Against
// SQLite's default of 4096, accepted trigger calls' p99 fell from 21 to
// 14 ms (lower in each of six alternated rounds) at the same throughput, and
// outbound deliveries' p99 from 57–61 to 44–49 ms at 2 % more of the ceiling
// (two alternated pairs); 2048 cost more CPU per call and 16384 gained
// nothing more (docs/BENCHMARKS.md, twelfth session).
const newPageSize = 8192

// walSizeLimit is the WAL size (bytes) past which the writer lets a
// checkpoint catch up (catchUp), and to which the file is cut back once the
// WAL starts over.
const walSizeLimit = 64 << 20

// checkpointer runs passive WAL checkpoints beside the writer (the writer's
// own automatic checkpoints are off), so commits never wait for one. After a
// complete checkpoint SQLite starts the WAL over from its beginning, which
// keeps the file from growing. Under a steady stream of commits, though, a
// checkpoint beside the writer never completes: each one copies what was
// committed when it began, the writer has appended more by the time it ends,
// and the WAL grows without bound (1 GiB in 30 s of accepted trigger calls).
// So once the WAL holds more than its limit (walSizeLimit), the checkpointer
// asks the writer to catch up (see catchUp).
func (s *Store) checkpointer() {
	defer close(s.cpDone)
	t := time.NewTicker(s.ckptEvery)
	defer t.Stop()
	last := int64(-1)
	for {
		select {
		case <-s.cpStop:
			return
		case <-t.C:
		}
		if n := s.commits.Load(); n == last {
			continue // nothing new to copy
		} else {
			last = n
		}
		var busy, frames, copied int64
		if err := s.cdb.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
			continue // busy or closing: the next tick tries again
		}
		if frames*int64(s.pageSize) > s.walLimit {
			// Copy what was committed during that checkpoint too, so that
			// the writer's catch-up has little left to copy.
			if _, err := s.cdb.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err == nil {
				s.walFull.Store(true)
			}
		}
	}
}

// catchUp runs on the writer between two groups when the checkpointer found
// the WAL past its limit: a passive checkpoint with no commit beside it
// copies the rest of the WAL (what the checkpointer left is at most one
// interval's commits), so that the next group's transaction starts the WAL
// over from its beginning and cuts the file back to the limit. It stalls
// the writer for that copy, about once per limit's worth of WAL. A reader
// still on an old snapshot can keep it from completing; the checkpointer
// asks again.
func (s *Store) catchUp() {
	if !s.walFull.Swap(false) {
		return
	}
	s.wconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)") // busy: asked again later
	s.catchUps.Add(1)
}

// Ping checks that both the read pool and the writer answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("SELECT 1")
		return err
	})
}

// WriteStats counts the writer's work since Open: Commits transactions
// committed (each one fsync with synchronous=FULL) for Writes calls; their
// ratio is the mean group-commit batch size.
type WriteStats struct {
	Commits int64
	Writes  int64
}

// WriteStats reports the group-commit counters (for metrics).
func (s *Store) WriteStats() WriteStats {
	return WriteStats{Commits: s.commits.Load(), Writes: s.writes.Load()}
}

// writeOp is one caller's share of a group commit.
type writeOp struct {
	ctx  context.Context
	size int
	fn   func(tx *sql.Tx) error
	done chan error
	// rerun: fn may run again after a rolled-back run (see commit). It then
	// starts from the same state: it keeps no effect of the earlier run
	// outside the transaction but what forgetWrites clears (its results are
	// set anew on each run).
	rerun bool
	// keepRooms: fn changes no job's running or queued executions but as
	// startRun and decideCall account for in s.rooms (CallAccept).
	keepRooms bool
}

var errClosed = hookd.Errorf(hookd.EUnavailable, "store closed")

// write runs fn inside the writer's current transaction and returns once that
// transaction committed (or fn failed: its savepoint was rolled back and
// nothing of it persists).
//
// fn runs on the writer goroutine together with other callers' fns: it must
// not use the caller's context for statements (an interrupted statement would
// roll back the whole shared transaction, other callers' work included), must
// not block, and may only touch writer-owned state (s.hooks, s.trigs, s.jobs,
// s.rooms, s.stmts) from inside.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.enqueue(&writeOp{ctx: ctx, fn: fn})
}

// writeSized is write for an op that carries about size bytes (a group
// commit stops gathering at maxBatchBytes).
func (s *Store) writeSized(ctx context.Context, size int, fn func(tx *sql.Tx) error) error {
	return s.enqueue(&writeOp{ctx: ctx, size: size, fn: fn})
}

// writeRerun is writeSized for an fn that may run again after its
// transaction was rolled back (writeOp.rerun), which spares it a savepoint:
// fn must set its results anew on each run and change nothing outside the
// transaction but the writer's caches.
func (s *Store) writeRerun(ctx context.Context, size int, fn func(tx *sql.Tx) error) error {
	return s.enqueue(&writeOp{ctx: ctx, size: size, fn: fn, rerun: true})
}

func (s *Store) enqueue(op *writeOp) error {
	op.done = make(chan error, 1)
	ctx := op.ctx
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.ops <- op:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, wait for the verdict even if ctx ends: the write may commit,
	// and the caller must not be told otherwise.
	return <-op.done
}

// writerClock reads the clock of the writer's busy time (nanoseconds); tests
// swap in the thread's CPU time.
var writerClock = func() int64 { return time.Now().UnixNano() }

// writer is the one goroutine that writes. It takes whatever is queued right
// now (never waiting for more: a lone caller pays no latency) and commits it
// as one transaction.
//
// It keeps an OS thread of its own: every caller waits on it, and when it
// comes back from a system call (the commit's fsync, its writes) it need
// not wait for the scheduler to hand it a thread that the HTTP handlers
// share. Accepted trigger calls, alternated with it unpinned, gained in six
// rounds of six (+1.5 to +11 %, docs/BENCHMARKS.md); tests also read its
// thread's CPU time (cputime_linux_test.go).
func (s *Store) writer() {
	defer close(s.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	batch := make([]*writeOp, 0, maxBatchOps)
	for op := range s.ops {
		batch = append(batch[:0], op)
		size := op.size
	gather:
		for len(batch) < maxBatchOps && size < maxBatchBytes {
			select {
			case next, ok := <-s.ops:
				if !ok {
					break gather
				}
				batch = append(batch, next)
				size += next.size
			default:
				break gather
			}
		}
		start := writerClock()
		s.catchUp()
		s.commit(batch)
		s.busy.Add(writerClock() - start)
		clear(batch)
	}
}

// commit runs one batch: BEGIN IMMEDIATE; the ops; COMMIT; then answers
// every op. With more than one op each must be undone alone when it fails,
// so an op runs inside a SAVEPOINT (RELEASE, or ROLLBACK TO on failure),
// except that the ops that may run twice (writeOp.rerun) first run together
// without savepoints: a savepoint costs two statements and a copy of every
// page the op first touches into SQLite's statement journal, about a seventh
// of an accepted call's writing. If one of them fails, the transaction is
// rolled back and begun again, and they run again, each in a savepoint. The
// other ops always run in savepoints, after those, and so at most once.
func (s *Store) commit(batch []*writeOp) {
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, op := range batch {
			op.done <- err
		}
		s.forgetWrites()
	}
	clear(s.rooms) // they hold for one transaction
	tx, err := s.wconn.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	if len(batch) == 1 {
		// No savepoint needed: a failure rolls back the whole transaction.
		op := batch[0]
		if err := op.ctx.Err(); err != nil {
			tx.Rollback()
			op.done <- err
			return
		}
		if err := s.run(op, tx); err != nil {
			tx.Rollback()
			s.forgetWrites()
			op.done <- err
			return
		}
		if err := tx.Commit(); err != nil {
			fail(fmt.Errorf("sqlite: commit: %w", err))
			return
		}
		s.commits.Add(1)
		s.writes.Add(1)
		op.done <- nil
		return
	}
	if !s.runOptimistic(tx, batch, errs) {
		// One failed: nothing of the batch has run in savepoints yet.
		tx.Rollback()
		s.forgetWrites()
		clear(errs)
		if tx, err = s.wconn.BeginTx(context.Background(), nil); err != nil {
			fail(fmt.Errorf("sqlite: begin: %w", err))
			return
		}
		for i, op := range batch {
			if op.rerun && !s.runSaved(tx, op, &errs[i]) {
				fail(errs[i])
				return
			}
		}
	}
	for i, op := range batch {
		if !op.rerun && !s.runSaved(tx, op, &errs[i]) {
			fail(errs[i])
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	s.commits.Add(1)
	s.writes.Add(int64(len(batch)))
	for i, op := range batch {
		op.done <- errs[i]
	}
}

// runOptimistic runs the batch's rerun ops in tx without savepoints (those
// whose context ended are answered with its error) and reports whether all
// of them succeeded.
func (s *Store) runOptimistic(tx *sql.Tx, batch []*writeOp, errs []error) bool {
	for i, op := range batch {
		if !op.rerun {
			continue
		}
		if err := op.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if err := s.run(op, tx); err != nil {
			return false
		}
	}
	return true
}

// runSaved runs op in tx inside a savepoint, leaving op's own error in
// *opErr (its work rolled back); it returns false, with the error in *opErr,
// when the transaction itself is lost and nobody's work survives.
func (s *Store) runSaved(tx *sql.Tx, op *writeOp, opErr *error) bool {
	if err := op.ctx.Err(); err != nil {
		*opErr = err
		return true
	}
	if _, err := s.prepared(tx).Exec(hqSavepoint); err != nil {
		tx.Rollback()
		*opErr = fmt.Errorf("sqlite: savepoint: %w", err)
		return false
	}
	s.savepoints.Add(1)
	if err := s.run(op, tx); err != nil {
		*opErr = err
		s.forgetWrites()
		if _, rerr := s.prepared(tx).Exec(hqRollbackTo); rerr != nil {
			// The transaction itself is gone (e.g. an I/O error rolled it
			// back): nobody's work survives.
			tx.Rollback()
			*opErr = fmt.Errorf("sqlite: rollback to savepoint: %w (after %v)", rerr, err)
			return false
		}
	}
	if _, err := s.prepared(tx).Exec(hqRelease); err != nil {
		tx.Rollback()
		*opErr = fmt.Errorf("sqlite: release savepoint: %w", err)
		return false
	}
	return true
}

// forgetWrites empties the writer's caches (s.hooks, s.trigs, s.jobs,
// s.rooms) after a rollback: they may hold what the rolled-back writes made,
// which the database no longer does.
func (s *Store) forgetWrites() {
	clear(s.hooks)
	clear(s.trigs)
	clear(s.jobs)
	clear(s.rooms)
}

// The savepoint around each op of a batch, prepared: parsing them anew would
// cost more than running them.
var (
	hqSavepoint  = hot("SAVEPOINT op")
	hqRelease    = hot("RELEASE op")
	hqRollbackTo = hot("ROLLBACK TO op")
)

// run runs op's fn in tx (see call), first forgetting s.rooms unless op
// keeps them.
func (s *Store) run(op *writeOp, tx *sql.Tx) error {
	if !op.keepRooms {
		clear(s.rooms)
	}
	return call(op.fn, tx)
}

// call runs fn, turning a panic into an error so that one bad caller cannot
// stop the writer.
func call(fn func(*sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: write panicked: %v", r)
		}
	}()
	return fn(tx)
}

// us converts a time to stored unix microseconds (UTC, truncated).
func us(t time.Time) int64 { return t.UnixMicro() }

// trunc returns t in UTC truncated to the microsecond: what a round trip
// through the database gives back.
func trunc(t time.Time) time.Time { return time.UnixMicro(t.UnixMicro()).UTC() }

// fromUS converts stored unix microseconds back to a UTC time.
func fromUS(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullUS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromUS(v.Int64)
	return &t
}

func nullUS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return us(*t)
}

func truncPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := trunc(*t)
	return &v
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// placeholders returns "?,?,…" with n marks.
func placeholders(n int) string {
	b := make([]byte, 0, 2*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '?')
	}
	return string(b)
}

// pageArgs normalises a page for LIMIT/OFFSET.
func pageArgs(p hookd.Page) (limit, offset int) {
	limit, offset = p.Limit, p.Offset
	if limit <= 0 {
		limit = 20
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
}

// getResult is the answer of a read of one row: ENotFound ("<what> not
// found") when there was none, the error wrapped as "sqlite: <what> get"
// otherwise.
func getResult[T any](v *T, err error, what string) (*T, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hookd.Errorf(hookd.ENotFound, "%s not found", what)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s get: %w", what, err)
	}
	return v, nil
}

// textOf is b as a string without a copy, to bind as a statement's TEXT
// argument: the driver copies it into SQLite's memory (modernc's bindText)
// during the call, and callers pass bytes that nothing changes meanwhile
// (an execution's input, an event's data). An accepted call's 1 KiB input
// is then copied once on its way in, not twice.
func textOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
