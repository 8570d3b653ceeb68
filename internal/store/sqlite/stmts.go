package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// stmts are the hot paths' statements, prepared once on the writer connection
// (the only one it has) so that tx.Stmt reuses them without re-preparing.
type stmts struct {
	eventByKey       *sql.Stmt
	activeHooks      *sql.Stmt
	insertDeliveries []*sql.Stmt // index k inserts 1<<k rows
	insertAttempts   []*sql.Stmt // index k inserts 1<<k rows
	completeUpdate   *sql.Stmt
	all              []*sql.Stmt
}

func (st *stmts) prepare(ctx context.Context, db *sql.DB) error {
	p := func(dst **sql.Stmt, query string) error {
		s, err := db.PrepareContext(ctx, query)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", query, err)
		}
		*dst = s
		st.all = append(st.all, s)
		return nil
	}
	list := []struct {
		dst   **sql.Stmt
		query string
	}{
		{&st.eventByKey, `SELECT ` + eventCols + ` FROM events WHERE workspace_id = ? AND idempotency_key = ?`},
		{&st.activeHooks, `SELECT ` + webhookCols + ` FROM webhooks WHERE workspace_id = ? AND active = 1 ORDER BY created, id`},
		{&st.completeUpdate, completeUpdateSQL},
	}
	for _, l := range list {
		if err := p(l.dst, l.query); err != nil {
			st.close()
			return err
		}
	}
	for k := 0; k <= 5; k++ {
		var s *sql.Stmt
		if err := p(&s, insertDeliveriesSQL(1<<k)); err != nil {
			st.close()
			return err
		}
		st.insertDeliveries = append(st.insertDeliveries, s)
		if err := p(&s, insertAttemptsSQL(1<<k)); err != nil {
			st.close()
			return err
		}
		st.insertAttempts = append(st.insertAttempts, s)
	}
	return nil
}

func (st *stmts) close() {
	for _, s := range st.all {
		s.Close()
	}
	st.all = nil
}

// rstmts are statements prepared on the read pool (database/sql prepares
// them on each read connection once, on first use there).
type rstmts struct {
	claimScan *sql.Stmt
}

func (st *rstmts) prepare(ctx context.Context, db *sql.DB) error {
	var err error
	if st.claimScan, err = db.PrepareContext(ctx, claimScanSQL); err != nil {
		return fmt.Errorf("sqlite: prepare %q: %w", claimScanSQL, err)
	}
	return nil
}

func (st *rstmts) close() {
	if st.claimScan != nil {
		st.claimScan.Close()
	}
}
