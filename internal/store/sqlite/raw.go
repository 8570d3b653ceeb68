package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// rawStmts runs the writer's hot statements (hotQueries) that return no
// rows on the driver's own prepared statements, past database/sql: for each
// Exec database/sql binds the statement to the transaction (a new sql.Stmt),
// converts every argument, locks the connection and tracks dependencies,
// together about as much as an accepted call's inserts cost SQLite
// themselves. The writer's connection is pinned (Store.wconn) and used by
// the writer goroutine alone, so its driver connection can run them inside
// the transaction that database/sql began on it: they are statements of the
// same SQLite connection.
type rawStmts struct {
	m    map[string]driver.Stmt
	args []driver.NamedValue // reused: the writer's alone
}

// prepare prepares every hot query on conn's driver connection.
func (r *rawStmts) prepare(ctx context.Context, conn *sql.Conn) error {
	r.m = make(map[string]driver.Stmt, len(hotQueries))
	return conn.Raw(func(dc any) error {
		cp, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("sqlite: the driver cannot prepare statements")
		}
		for _, q := range hotQueries {
			st, err := cp.PrepareContext(ctx, q)
			if err != nil {
				r.close()
				return fmt.Errorf("sqlite: prepare %q: %w", q, err)
			}
			if _, ok := st.(driver.StmtExecContext); !ok {
				st.Close()
				continue
			}
			r.m[q] = st
		}
		return nil
	})
}

// exec runs query on its raw statement with args, when query is hot and
// every argument is a value the driver takes as it is (an int becomes an
// int64, as database/sql would make it); ok is false otherwise, and nothing
// ran.
func (r *rawStmts) exec(query string, args []any) (_ sql.Result, ok bool, err error) {
	st := r.m[query]
	if st == nil {
		return nil, false, nil
	}
	if n := st.NumInput(); n >= 0 && n != len(args) {
		return nil, false, nil // database/sql reports it
	}
	nv := r.args[:0]
	for i, a := range args {
		switch v := a.(type) {
		case nil, string, int64, []byte, bool, float64, time.Time:
		case int:
			a = int64(v)
		default:
			return nil, false, nil
		}
		nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	res, err := st.(driver.StmtExecContext).ExecContext(context.Background(), nv)
	clear(nv) // keep no argument alive
	r.args = nv[:0]
	if err != nil {
		return nil, true, err
	}
	return res, true, nil
}

func (r *rawStmts) close() {
	for _, st := range r.m {
		st.Close()
	}
	r.m = nil
}
