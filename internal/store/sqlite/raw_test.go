package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"testing"
)

// TestRawExec: a hot statement runs on the writer's driver connection
// inside the writer's transaction (kept on commit, gone on rollback), with
// an int taken as an int64; a statement that is not hot or an argument the
// driver does not take as it is leave it to database/sql; too few arguments
// fail as they would through database/sql.
func TestRawExec(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	for _, q := range []string{hqInsertEvent, hqCall13, hqCall14, hqCall15, hqSavepoint} {
		if s.raw.m[q] == nil {
			t.Errorf("hot statement not prepared raw: %.60s", q)
		}
	}
	insert := func(id string, fail bool) error {
		return s.write(ctx, func(tx *sql.Tx) error {
			res, ok, err := s.raw.exec(hqInsertEvent, []any{id, "ws_1", "t", "{}", "", "", 1700000000000000, "[]", nil})
			if !ok || err != nil {
				t.Fatalf("raw exec: ok %v, err %v", ok, err)
			}
			if n, err := res.RowsAffected(); n != 1 || err != nil {
				t.Fatalf("rows affected %d, %v", n, err)
			}
			if fail {
				return errors.New("undo")
			}
			return nil
		})
	}
	if err := insert("evt_kept", false); err != nil {
		t.Fatal(err)
	}
	if err := insert("evt_undone", true); err == nil {
		t.Fatal("the failing write succeeded")
	}
	rows, err := s.rdb.Query(`SELECT id, created FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id string
		var created int64
		if err := rows.Scan(&id, &created); err != nil {
			t.Fatal(err)
		}
		if created != 1700000000000000 {
			t.Errorf("created %d", created)
		}
		got = append(got, id)
	}
	if len(got) != 1 || got[0] != "evt_kept" {
		t.Errorf("events %v, want [evt_kept]", got)
	}

	type custom string
	for name, c := range map[string]struct {
		query string
		args  []any
	}{
		"not hot":     {"INSERT INTO events (id) VALUES (?)", []any{"x"}},
		"custom type": {hqInsertEvent, []any{custom("x"), "ws_1", "t", "{}", "", "", int64(1), "[]", nil}},
		"uint64":      {hqInsertEvent, []any{"x", "ws_1", "t", "{}", "", "", uint64(1), "[]", nil}},
	} {
		if _, ok, _ := s.raw.exec(c.query, c.args); ok {
			t.Errorf("%s: ran raw", name)
		}
	}
	// Too few arguments: the driver refuses them, as through database/sql.
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, ok, err := s.raw.exec(hqInsertEvent, []any{"x"})
		if !ok {
			t.Error("too few args: not run raw")
		}
		return err
	})
	if err == nil {
		t.Error("too few args: no error")
	}
}
