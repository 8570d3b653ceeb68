package sqlite

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/segmentio/ksuid"

	"github.com/hookd/hookd"
)

// idGen makes the ids of one hot table: KSUIDs (hookd.NewIDAt's format:
// prefix, time in seconds, 128-bit payload) whose payload starts with a
// sequence number within the newest second seen, the other 96 bits random.
// Ids made in one second then sort in the order they were made, so inserts
// into the table's id index land at its right edge (one or two pages per
// group commit) instead of at random places among that second's ids (one
// page each). The sequence starts at a random point each second, so the ids
// reveal neither how many were made nor, for 96 bits, each other.
type idGen struct {
	prefix string
	mu     sync.Mutex
	sec    int64
	seq    uint32
}

func newIDGen(prefix string) *idGen { return &idGen{prefix: prefix} }

// at returns a new id stamped with t. A time older than the newest second
// seen gets a plain random KSUID.
func (g *idGen) at(t time.Time) string {
	var payload [16]byte
	rand.Read(payload[:])
	sec := t.Unix()
	g.mu.Lock()
	switch {
	case sec > g.sec:
		// Below 2^31, so that a second's sequence never wraps.
		g.sec, g.seq = sec, binary.BigEndian.Uint32(payload[:4])>>1
	case sec == g.sec:
		g.seq++
	default:
		g.mu.Unlock()
		return hookd.NewIDAt(g.prefix, t)
	}
	binary.BigEndian.PutUint32(payload[:4], g.seq)
	g.mu.Unlock()
	id, err := ksuid.FromParts(t, payload[:])
	if err != nil {
		return hookd.NewIDAt(g.prefix, t)
	}
	return g.prefix + id.String()
}
