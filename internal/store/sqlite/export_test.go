package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/hookd/hookd"
)

// Pragmas reports the writer connection's journal mode, synchronous level and
// foreign key enforcement (test only).
func (s *Store) Pragmas(ctx context.Context) (journal string, sync int, fk bool, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil {
			return err
		}
		if err := tx.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
			return err
		}
		return tx.QueryRow(`PRAGMA foreign_keys`).Scan(&fk)
	})
	if err != nil {
		return "", 0, false, err
	}
	// The read pool must agree on durability.
	var rsync int
	if err := s.rdb.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&rsync); err != nil {
		return "", 0, false, err
	}
	if rsync != sync {
		sync = -rsync
	}
	return journal, sync, fk, nil
}

// BulkInsertPending inserts one event of type "bulk" and n pending deliveries
// of it to webhookID, due one microsecond apart from base (test only: builds
// large queues in seconds).
func (s *Store) BulkInsertPending(ctx context.Context, workspaceID, webhookID string, n int, base time.Time) error {
	evtID := hookd.NewIDAt(hookd.PrefixEvent, base)
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO events (`+eventRowCols+`) VALUES (?, ?, 'bulk', '{}', '', '', ?, '[]')`, evtID, workspaceID, us(base)); err != nil {
			return err
		}
		_, err := tx.Exec(`WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?)
			INSERT INTO deliveries (id, workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created, updated)
			SELECT 'dlv_bulk' || printf('%012d', i), ?, ?, ?, 'bulk', 'pending', ? + i, ? + i, ? + i FROM seq`,
			n, workspaceID, webhookID, evtID, us(base), us(base), us(base))
		return err
	})
}

// HoldWriter keeps the writer inside a transaction of its own until the
// returned release(n) finds n more writes queued behind it; they then make
// one group (test only).
func (s *Store) HoldWriter() (release func(n int)) {
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

// WriterBusy is how long the writer goroutine has spent running transactions
// since Open: its thread's CPU time on Linux (see cputime_linux_test.go),
// wall time elsewhere (test only).
func (s *Store) WriterBusy() time.Duration { return time.Duration(s.busy.Load()) }

// QueryPlan returns EXPLAIN QUERY PLAN's details of query, joined (test only).
func (s *Store) QueryPlan(ctx context.Context, query string) (string, error) {
	rows, err := s.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		out = append(out, detail)
	}
	return strings.Join(out, "; "), rows.Err()
}

// CallListQuery is CallList's page query for a disposition filter, its
// arguments written in (for EXPLAIN QUERY PLAN).
func CallListQuery(disposition string) string {
	_, list, args := callListSQL(hookd.CallFilter{WorkspaceID: "w", TriggerID: "t", Disposition: disposition})
	for _, a := range append(args, 10, 0) {
		lit := fmt.Sprint(a)
		if s, ok := a.(string); ok {
			lit = "'" + s + "'"
		}
		list = strings.Replace(list, "?", lit, 1)
	}
	return list
}

// MigrateDownTo migrates the database at path down to version (the store
// must be closed); Open migrates it up again.
func MigrateDownTo(ctx context.Context, path string, version int64) error {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// FoldedOutcomeID is foldedOutcomeID for the tests.
var FoldedOutcomeID = foldedOutcomeID
