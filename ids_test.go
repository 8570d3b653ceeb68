package hookd

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/ksuid"
)

// TestNewIDAtOrder: ids of one prefix made in one second sort in the order
// they were made (so inserts land at an index's right edge), carry their
// time, and are unique; an older time still gets a valid id.
func TestNewIDAtOrder(t *testing.T) {
	t.Parallel()
	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	const prefix = "tst_"
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = NewIDAt(prefix, at.Add(time.Duration(i)*time.Microsecond))
	}
	if !slices.IsSorted(ids) {
		t.Error("ids of one second are not in the order they were made")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		k, err := ksuid.Parse(strings.TrimPrefix(id, prefix))
		if err != nil || !strings.HasPrefix(id, prefix) || !k.Time().Equal(at) {
			t.Fatalf("id %s: %v, time %v", id, err, k.Time())
		}
	}
	next := NewIDAt(prefix, at.Add(time.Second))
	if next <= ids[len(ids)-1] {
		t.Errorf("an id of the next second %s sorts before the last of the previous", next)
	}
	old := NewIDAt(prefix, at.Add(-time.Hour))
	if k, err := ksuid.Parse(strings.TrimPrefix(old, prefix)); err != nil || !k.Time().Equal(at.Add(-time.Hour)) {
		t.Errorf("id of an older time %s: %v", old, err)
	}
	// Another prefix has its own sequence.
	if a, b := NewIDAt("oth_", at), NewIDAt("oth_", at); a >= b {
		t.Errorf("second prefix: %s then %s", a, b)
	}
}
