// Package pgtest gives tests their own empty PostgreSQL database on the
// server HOOKD_TEST_POSTGRES names (scripts/test.sh starts a throwaway one).
// Only tests import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Fresh creates an empty database named prefix plus 16 random hex digits
// through HOOKD_TEST_POSTGRES, drops it (forcibly) when tb ends, and returns
// its DSN. It skips tb when the variable is not set.
func Fresh(tb testing.TB, prefix string) string {
	tb.Helper()
	admin := os.Getenv("HOOKD_TEST_POSTGRES")
	if admin == "" {
		tb.Skip("HOOKD_TEST_POSTGRES is not set: run scripts/test.sh (or eval \"$(scripts/pg.sh start)\") to test on PostgreSQL too")
	}
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		tb.Fatal("HOOKD_TEST_POSTGRES must be a postgres:// URL")
	}
	ctx := context.Background()
	b := make([]byte, 8)
	rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connect to HOOKD_TEST_POSTGRES (%s): %v", u.Redacted(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
