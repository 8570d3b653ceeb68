package sqlite

import (
	"math/big"
	"strings"
	"testing"

	"github.com/segmentio/ksuid"
)

// TestFoldPair: every base62 digit pairs with its neighbour, the pairing is
// its own inverse, and the paired id of a KSUID is a KSUID one away.
func TestFoldPair(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"evt_x0", "evt_x1"}, {"evt_x1", "evt_x0"}, {"evt_x9", "evt_x8"}, {"evt_xA", "evt_xB"},
		{"evt_xZ", "evt_xY"}, {"evt_xa", "evt_xb"}, {"evt_xz", "evt_xy"},
		{"", ""}, {"evt_x-", "evt_x-"}, // not base62: unchanged
	} {
		if got := foldPair(tc.in); got != tc.want {
			t.Errorf("foldPair(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	seen := map[byte]bool{}
	for i := range len(base62) {
		p := foldPair("x" + base62[i:i+1])
		if foldPair(p) != "x"+base62[i:i+1] || p[1] == base62[i] || seen[p[1]] {
			t.Errorf("digit %c pairs with %c: not an involution without fixed points", base62[i], p[1])
		}
		seen[p[1]] = true
	}
	for range 200 {
		k := ksuid.New()
		exe := "exe_" + k.String()
		out := foldedOutcomeID(exe)
		if ev := foldedEventID(exe); ev != "evt_"+k.String() || foldPair(out) != ev {
			t.Fatalf("%s: event %s, outcome %s", exe, ev, out)
		}
		p, err := ksuid.Parse(strings.TrimPrefix(out, "evt_"))
		if err != nil {
			t.Fatalf("outcome id %s: %v", out, err)
		}
		a, b := new(big.Int).SetBytes(k.Bytes()), new(big.Int).SetBytes(p.Bytes())
		if d := new(big.Int).Sub(a, b); d.CmpAbs(big.NewInt(1)) != 0 {
			t.Fatalf("%s and %s are %v apart, want 1", k, p, d)
		}
	}
}

// FuzzFoldPair: any id pairs without panicking, the pairing is its own
// inverse, and it changes at most the last byte.
func FuzzFoldPair(f *testing.F) {
	for _, s := range []string{"", "evt_", "evt_3N9ms3yO1exv441zSa7nJEYLhb2", "x\xff", "évt_z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		p := foldPair(id)
		if foldPair(p) != id || len(p) != len(id) || (len(id) > 0 && p[:len(p)-1] != id[:len(id)-1]) {
			t.Fatalf("foldPair(%q) = %q, back %q", id, p, foldPair(p))
		}
	})
}
