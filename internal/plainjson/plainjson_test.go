package plainjson_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/hookd/hookd/internal/plainjson"
)

// check fails t unless Append writes json.Marshal's bytes for s whenever it
// writes anything, and declines (b unchanged) only where json.Marshal
// escapes something or s is not printable ASCII.
func check(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := plainjson.Append([]byte("x"), s)
	if ok != plainjson.Is(s) {
		t.Fatalf("Append(%q) ok = %v, Is = %v", s, ok, plainjson.Is(s))
	}
	if !ok {
		if string(got) != "x" {
			t.Fatalf("Append(%q) declined but wrote %q", s, got[1:])
		}
		return
	}
	if !bytes.Equal(got[1:], want) {
		t.Fatalf("Append(%q) = %s, json.Marshal %s", s, got[1:], want)
	}
}

// TestAppend: every byte alone between two letters, and the characters
// json.Marshal escapes, each declined.
func TestAppend(t *testing.T) {
	for c := range 256 {
		check(t, "a"+string([]byte{byte(c)})+"b")
	}
	for _, s := range []string{"", "job_2qLsZ0D1b4zUqgQmQ4Iy3ZqM6dE", "queued", `"`, `\`, "<", ">", "&", "\u2028", "ü"} {
		check(t, s)
	}
	for _, s := range []string{`"`, `\`, "<", ">", "&", "\x00", "\x1f", "\x80", "\u2028"} {
		if plainjson.Is("a" + s) {
			t.Errorf("Is(%q) = true", "a"+s)
		}
	}
}

// FuzzAppend: whatever s, what Append writes is json.Marshal's bytes.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"plain", `a"b`, "<&>", "\xff", "\u2029"} {
		f.Add(s)
	}
	f.Fuzz(check)
}
