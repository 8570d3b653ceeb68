package api

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/pgtest"
	"github.com/hookd/hookd/internal/seal"
	"github.com/hookd/hookd/internal/store/postgres"
	"github.com/hookd/hookd/internal/store/sqlite"
)

// testStore is what the API tests need of a store: the whole contract.
type testStore interface {
	hookd.Store
	hookd.InboundStore
}

// Backends the API tests run on; each test runs as one subtest per backend.
const (
	backendSQLite   = "sqlite"
	backendPostgres = "postgres"
)

// onBackends runs test as the subtests "sqlite" and "postgres"; newEnv called
// anywhere inside a subtest opens a store of that subtest's backend. The
// PostgreSQL variant needs HOOKD_TEST_POSTGRES (an admin DSN; scripts/test.sh
// starts a throwaway server and sets it) and skips, saying so, without it.
func onBackends(t *testing.T, test func(t *testing.T)) {
	t.Helper()
	t.Parallel()
	t.Run(backendSQLite, test)
	t.Run(backendPostgres, func(t *testing.T) {
		if os.Getenv("HOOKD_TEST_POSTGRES") == "" {
			t.Skip("HOOKD_TEST_POSTGRES is not set: run scripts/test.sh (or eval \"$(scripts/pg.sh start)\") to test on PostgreSQL too")
		}
		test(t)
	})
}

// backendOf returns the backend of the onBackends subtest t belongs to
// (SQLite for a test that does not run through onBackends).
func backendOf(t *testing.T) string {
	parts := strings.Split(t.Name(), "/")
	if len(parts) > 1 && parts[1] == backendPostgres {
		return backendPostgres
	}
	return backendSQLite
}

// openStore opens a fresh, empty store of t's backend, closed (and, on
// PostgreSQL, dropped) when t ends.
func openStore(t *testing.T) testStore {
	t.Helper()
	ctx := context.Background()
	sealer, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	switch backendOf(t) {
	case backendPostgres:
		st, err := postgres.Open(ctx, freshPostgres(t), postgres.Options{Sealer: sealer, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		full, ok := any(st).(testStore)
		if !ok {
			t.Fatal("the PostgreSQL store does not implement hookd.InboundStore")
		}
		return full
	default:
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{Sealer: sealer})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}

// freshPostgres is an empty database of its own for t (pgtest.Fresh).
func freshPostgres(t *testing.T) string { return pgtest.Fresh(t, "hookd_api_") }

// TestEveryEnvTestOnBothBackends keeps new tests from running on SQLite only:
// a Test function that opens an env itself (rather than through a test body
// handed to onBackends) fails here.
func TestEveryEnvTestOnBothBackends(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "Test") {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if id, ok := call.Fun.(*ast.Ident); ok && (id.Name == "newEnv" || id.Name == "openStore") {
						t.Errorf("%s: %s calls %s directly: run its body through onBackends (see backend_test.go)",
							fset.Position(call.Pos()), fn.Name.Name, id.Name)
					}
				}
				return true
			})
		}
	}
}
