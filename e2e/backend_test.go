package e2e

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hookd/hookd/internal/pgtest"
)

// Backends the end-to-end tests run the binary on.
const (
	backendSQLite   = "sqlite"
	backendPostgres = "postgres"
)

// databases maps a data directory to the database its server ran on, so a
// restart on the same data directory finds the same database.
var databases sync.Map

// onBackends runs test as the subtests "sqlite" and "postgres"; start called
// inside a subtest runs the binary on that subtest's backend. The PostgreSQL
// variant needs HOOKD_TEST_POSTGRES (an admin DSN; scripts/test.sh starts a
// throwaway server and sets it) and skips, saying so, without it.
func onBackends(t *testing.T, test func(t *testing.T)) {
	t.Helper()
	t.Parallel()
	t.Run(backendSQLite, test)
	t.Run(backendPostgres, func(t *testing.T) {
		needPostgres(t)
		test(t)
	})
}

// needPostgres skips t without HOOKD_TEST_POSTGRES.
func needPostgres(t *testing.T) {
	t.Helper()
	if os.Getenv("HOOKD_TEST_POSTGRES") == "" {
		t.Skip("HOOKD_TEST_POSTGRES is not set: run scripts/test.sh (or eval \"$(scripts/pg.sh start)\") to test on PostgreSQL too")
	}
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

// freshDatabase is an empty database of its own for t (pgtest.Fresh).
func freshDatabase(t *testing.T) string { return pgtest.Fresh(t, "hookd_e2e_") }

// shortLease returns flags that make a killed node's claimed deliveries
// return within seconds on PostgreSQL (nil on SQLite, where a restart takes
// them back at once).
func shortLease(t *testing.T) []string {
	if backendOf(t) == backendPostgres {
		return []string{"--lease", "8s", "--delivery-timeout", "3s"}
	}
	return nil
}
