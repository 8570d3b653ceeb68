package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
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

// freshPostgres creates an empty database with a random name through
// HOOKD_TEST_POSTGRES, drops it (forcibly) when t ends, and returns its DSN.
func freshPostgres(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("HOOKD_TEST_POSTGRES")
	if admin == "" {
		t.Skip("HOOKD_TEST_POSTGRES is not set")
	}
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		t.Fatal("HOOKD_TEST_POSTGRES must be a postgres:// URL")
	}
	ctx := context.Background()
	b := make([]byte, 8)
	rand.Read(b)
	name := "hookd_api_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to HOOKD_TEST_POSTGRES (%s): %v", u.Redacted(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

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
