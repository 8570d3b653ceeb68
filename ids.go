package hookd

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/segmentio/ksuid"
)

// NewIDAt returns prefix plus a KSUID stamped with t (see idGen): ids of one
// prefix made by this process in one second sort in the order they were
// made.
func NewIDAt(prefix string, t time.Time) string {
	g, ok := idGens.Load(prefix)
	if !ok {
		g, _ = idGens.LoadOrStore(prefix, &idGen{prefix: prefix})
	}
	return g.(*idGen).at(t)
}

// idGens holds one generator per prefix.
var idGens sync.Map

// idGen makes the ids of one prefix: KSUIDs (prefix, time in seconds,
// 128-bit payload) whose payload starts with a
// sequence number within the newest second seen, the other 96 bits random.
// Ids made in one second then sort in the order they were made, so inserts
// into a table's id index land at its right edge (one or two pages per
// commit) instead of at random places among that second's ids (one page
// each, which the databases then write whole). The sequence starts at a random point each second, so the ids
// reveal neither how many were made nor, for 96 bits, each other.
type idGen struct {
	prefix string
	mu     sync.Mutex
	sec    int64
	seq    uint32
}

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
		return g.random(t)
	}
	binary.BigEndian.PutUint32(payload[:4], g.seq)
	g.mu.Unlock()
	id, err := ksuid.FromParts(t, payload[:])
	if err != nil {
		return g.random(t)
	}
	return g.prefix + id.String()
}

// random returns a KSUID with a random payload stamped with t (a time out of
// KSUID's range gets the current time).
func (g *idGen) random(t time.Time) string {
	id, err := ksuid.NewRandomWithTime(t)
	if err != nil {
		id = ksuid.New()
	}
	return g.prefix + id.String()
}
