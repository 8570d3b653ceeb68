//go:build race

package sqlite_test

// raceEnabled shrinks the largest test queues: the race detector slows
// SQLite (transpiled Go) by an order of magnitude.
const raceEnabled = true
