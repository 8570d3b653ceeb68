package sqlite

import (
	"database/sql"
	"fmt"
	"sync"
)

// writeTx is what statement helpers need of a transaction: *sql.Tx, or a
// prepTx that runs the hot statements through prepared ones.
type writeTx interface {
	Exec(query string, args ...any) (sql.Result, error)
	Query(query string, args ...any) (*sql.Rows, error)
	QueryRow(query string, args ...any) *sql.Row
}

// hotQueries are prepared on the writer connection when the store opens.
// Parsing and planning a statement costs more than running a small one
// (modernc's SQLite is C translated to Go), and the inbound paths run the same
// few statements thousands of times a second. They cannot be prepared lazily:
// the writer's only connection is busy inside the transaction then.
var hotQueries []string

// hot registers query as hot and returns it unchanged (for package-level vars).
func hot(query string) string {
	hotQueries = append(hotQueries, query)
	return query
}

// prepCache holds the prepared hot statements, by query text.
type prepCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *prepCache) prepare(db *sql.DB) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = make(map[string]*sql.Stmt, len(hotQueries))
	for _, q := range hotQueries {
		st, err := db.Prepare(q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		c.m[q] = st
	}
	return nil
}

func (c *prepCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

func (c *prepCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// prepTx runs the statements of one write transaction through the prepared
// hot statements (others as given).
type prepTx struct {
	*sql.Tx
	s *Store
}

// prepared wraps the writer's transaction, and only that one: the hot
// statements that return no rows run on the writer's own connection
// (rawStmts, raw.go).
func (s *Store) prepared(tx *sql.Tx) prepTx { return prepTx{Tx: tx, s: s} }

func (p prepTx) Exec(query string, args ...any) (sql.Result, error) {
	if res, ok, err := p.s.raw.exec(query, args); ok {
		return res, err
	}
	if st := p.s.prep.get(query); st != nil {
		return p.Tx.Stmt(st).Exec(args...)
	}
	return p.Tx.Exec(query, args...)
}

func (p prepTx) Query(query string, args ...any) (*sql.Rows, error) {
	if st := p.s.prep.get(query); st != nil {
		return p.Tx.Stmt(st).Query(args...)
	}
	return p.Tx.Query(query, args...)
}

func (p prepTx) QueryRow(query string, args ...any) *sql.Row {
	if st := p.s.prep.get(query); st != nil {
		return p.Tx.Stmt(st).QueryRow(args...)
	}
	return p.Tx.QueryRow(query, args...)
}
