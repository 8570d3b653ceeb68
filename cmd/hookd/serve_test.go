package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// A server collects at serveGCPercent unless GOGC is set, which then wins.
func TestTuneGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, tc := range []struct {
		gogc string
		want int
	}{{"", serveGCPercent}, {"50", 100}, {"off", 100}} {
		debug.SetGCPercent(100)
		tuneGC(getenvOnly("GOGC", tc.gogc))
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: collector at %d, want %d", tc.gogc, got, tc.want)
		}
	}
}

// A SQLite server runs with one processor more than Go's default unless
// GOMAXPROCS is set, which then wins.
func TestTuneProcs(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(orig)
	for _, tc := range []struct {
		env  string
		want int
	}{{"", orig + 1}, {"1", orig}} {
		runtime.GOMAXPROCS(orig)
		tuneProcs(getenvOnly("GOMAXPROCS", tc.env))
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Errorf("GOMAXPROCS=%q: %d processors, want %d", tc.env, got, tc.want)
		}
	}
}

// getenvOnly is an environment holding name=value alone ("" unsets it).
func getenvOnly(name, value string) func(string) string {
	return func(k string) string {
		if k == name {
			return value
		}
		return ""
	}
}
