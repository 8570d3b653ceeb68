// Package postgres implements hookd.Store on PostgreSQL (pgx/v5, pgxpool):
// hand-written SQL, goose migrations embedded under migrations/ and applied
// under goose's advisory lock (so that any number of nodes may start at
// once), and a delivery queue claimed with FOR UPDATE SKIP LOCKED so that
// those nodes share the work without handing a delivery to two of them.
//
// Unlike the SQLite store there is no group commit and no in-process cache:
// PostgreSQL runs concurrent transactions itself, and other nodes write the
// same tables, so every call reads what it needs from the database.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/hookd/hookd"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure Open.
type Options struct {
	// Sealer encrypts webhook secrets at rest. Required.
	Sealer hookd.Sealer
	// MaxConns is the size of the connection pool (default: the DSN's
	// pool_max_conns, else defaultMaxConns).
	MaxConns int
	// Now is the clock for methods that take no time argument (created and
	// updated stamps, DeliveriesRelease). Default time.Now.
	Now func() time.Time
}

// defaultMaxConns is the pool size unless Options or the DSN set one.
// Publishes and attempt results are batched (one transaction at a time each),
// but every accepted trigger call and API write is a transaction of its own,
// and PostgreSQL flushes the WAL of all the transactions committing at once
// in one fsync: a pool as large as the concurrent callers lets their commits
// share flushes (pgxpool's default, max(4, GOMAXPROCS), measured a third of
// the ingest rate with 32 publishers on 2 cores before publishes were
// batched). The pool opens connections only as they are wanted, and
// concurrent cache misses share one read (internal/flight), so a node busy
// publishing and delivering uses about five. 24 keeps three nodes (72
// connections, plus one listener each) under PostgreSQL's default
// max_connections of 100.
const defaultMaxConns = 24

// Store is a hookd.Store on PostgreSQL. It is safe for concurrent use, and
// any number of Stores (nodes) may share one database.
type Store struct {
	pool   *pgxpool.Pool
	cfg    *pgx.ConnConfig // for Listen's dedicated connections
	sealer hookd.Sealer
	now    func() time.Time

	notify notifier   // pg_notify of committed work, see wake.go
	hooks  hookCache  // active webhooks per workspace, for publishing
	batch  pubBatcher // publishes committed together, see pubbatch.go

	lastSweep atomic.Int64 // unix seconds of the last rate bucket cleanup
}

var _ hookd.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string), applies pending migrations under goose's session
// advisory lock, and returns the Store. Close releases the pool.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Sealer == nil {
		return nil, errors.New("postgres: open: Options.Sealer is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = int32(opts.MaxConns)
	case !strings.Contains(dsn, "pool_max_conns"):
		cfg.MaxConns = defaultMaxConns
	}
	// hookd's queries are short OLTP statements; JIT compilation only adds
	// latency (and is triggered by the claim's disabled plan types, whose
	// cost penalty crosses jit_above_cost).
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		// Scan timestamptz as UTC (pgx's default is time.Local), so that
		// what comes back equals what the SQLite store returns.
		c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
		return nil
	}
	if err := migrate(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool, cfg: cfg.ConnConfig, sealer: opts.Sealer, now: opts.Now}
	s.notify.start(pool)
	s.batch.now = s.now
	s.batch.start(pool, s.pipelinedTx)
	return s, nil
}

// migrate applies the embedded migrations through goose's Provider on a
// database/sql handle of its own, holding PostgreSQL's session advisory lock
// so that nodes starting together migrate once.
func migrate(ctx context.Context, cc *pgx.ConnConfig) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	db := stdlib.OpenDB(*cc.Copy())
	defer db.Close()
	db.SetMaxOpenConns(2)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.batch.stop()
	s.notify.stop()
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// tx runs fn in a transaction (READ COMMITTED), committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// claimQuerier is what claims need of a connection or a transaction.
type claimQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// pipelinedTx runs fn on one connection of the pool. fn opens its
// transaction by queuing BEGIN in its first batch and may end it by
// queuing COMMIT in its last: each saves a round trip over s.tx, whose
// BEGIN and COMMIT are round trips of their own. A transaction fn leaves
// open is committed when fn returns nil and rolled back otherwise; a
// connection whose state is then unknown is closed, not reused.
func (s *Store) pipelinedTx(ctx context.Context, fn func(q claimQuerier) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	err = fn(c)
	end := "COMMIT"
	if err != nil {
		end = "ROLLBACK"
	}
	pc := c.Conn().PgConn()
	if pc.IsClosed() || pc.TxStatus() == 'I' {
		return err
	}
	if _, eerr := c.Exec(context.WithoutCancel(ctx), end); eerr != nil {
		c.Conn().Close(context.Background())
		if err == nil {
			err = eerr
		}
	} else if err == nil && pc.TxStatus() != 'I' {
		c.Conn().Close(context.Background())
		err = errors.New("transaction still open after COMMIT")
	}
	return err
}

// dbtx is what both the pool and a transaction offer.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// trunc returns t in UTC truncated to the microsecond: what a round trip
// through timestamptz gives back.
func trunc(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func truncPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := trunc(*t)
	return &v
}

// pgCode returns the SQLSTATE of err, "" when it is not a server error.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// SQLSTATEs the store reacts to.
const (
	codeUnique         = "23505"
	codeForeignKey     = "23503"
	codeInvalidText    = "22P02" // invalid input syntax (e.g. not JSON)
	codeInvalidJSON    = "22032" // invalid_json_text
	codeUntranslatable = "22P05"
)

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

// noRows reports whether err says a read found no row.
func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) }

// notFound maps pgx.ErrNoRows to an ENotFound error naming what.
func notFound(err error, what string) error {
	if noRows(err) {
		return hookd.Errorf(hookd.ENotFound, "%s not found", what)
	}
	return err
}

// getResult is the answer of a read of one row: ENotFound ("<what> not
// found") when there was none, the error wrapped as "postgres: <what> get"
// otherwise.
func getResult[T any](v *T, err error, what string) (*T, error) {
	if err == nil {
		return v, nil
	}
	if noRows(err) {
		return nil, notFound(err, what)
	}
	return nil, fmt.Errorf("postgres: %s get: %w", what, err)
}
