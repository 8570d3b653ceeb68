package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
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

// freshDatabase creates an empty database with a random name through
// HOOKD_TEST_POSTGRES, drops it (forcibly, after the servers started later
// in t are gone) when t ends, and returns its DSN.
func freshDatabase(t *testing.T) string {
	t.Helper()
	needPostgres(t)
	admin := os.Getenv("HOOKD_TEST_POSTGRES")
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		t.Fatal("HOOKD_TEST_POSTGRES must be a postgres:// URL")
	}
	ctx := context.Background()
	b := make([]byte, 8)
	rand.Read(b)
	name := "hookd_e2e_" + hex.EncodeToString(b)
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

// shortLease returns flags that make a killed node's claimed deliveries
// return within seconds on PostgreSQL (nil on SQLite, where a restart takes
// them back at once).
func shortLease(t *testing.T) []string {
	if backendOf(t) == backendPostgres {
		return []string{"--lease", "8s", "--delivery-timeout", "3s"}
	}
	return nil
}
