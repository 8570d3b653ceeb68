package postgres

import (
	"time"

	"github.com/hookd/hookd"
)

// Claiming at publish. A delivery published on a node whose engine has a
// free slot for its webhook is claimed by the publishing transaction itself,
// for that node, and handed straight to its engine: no claim transaction, no
// wake-up sent to the other nodes. Under a steady load that removes the claim
// path from most deliveries — a third of a delivery's round trips on one
// node, and on several nodes the claims every publish's notification started
// on each of them, most of which found the work taken already.
//
// The cluster-wide cap: usually the engine holds to its share of it
// (hookd.Member, members.go) and Reserve gives no slot beyond the share, so
// the publish claims what was reserved (Lease reports 0). With more nodes
// than the cap, the cap holds as it does for claims: the publishing
// transaction takes the webhook's advisory claim lock without waiting (a
// webhook being claimed elsewhere gets no direct claims from this publish:
// its deliveries are left pending for the claim path), then counts the
// webhook's deliveries in processing in a snapshot taken after the lock.

type dispatcherRef struct{ d hookd.Dispatcher }

var _ hookd.DirectClaimer = (*Store)(nil)

// SetDispatcher turns claiming at publish on for publishes made after it
// (nil turns it off).
func (s *Store) SetDispatcher(d hookd.Dispatcher) {
	if d == nil {
		s.batch.disp.Store(nil)
		return
	}
	s.batch.disp.Store(&dispatcherRef{d})
}

// directPlan is one batch's direct claim: the slots reserved per webhook,
// then (after commit) the ids claimed.
type directPlan struct {
	d          hookd.Dispatcher
	hooks, ws  []string
	took       []int32
	before     []int32
	max        int
	owner      string
	leaseUntil time.Time
	locked     []string // webhooks whose claim lock the publish got
	claimed    map[string]bool
}

// reserve asks the engine for a slot per delivery of batch, per webhook; nil
// when claiming at publish is off or no slot was had.
func (b *pubBatcher) reserve(batch []*pubReq) *directPlan {
	ref := b.disp.Load()
	if ref == nil {
		return nil
	}
	want := map[string]int{}
	var order []string
	ws := map[string]string{}
	for _, r := range batch {
		for _, h := range r.hooks {
			if want[h] == 0 {
				order = append(order, h)
				ws[h] = r.evt.WorkspaceID
			}
			want[h]++
		}
	}
	if len(order) == 0 {
		return nil
	}
	owner, lease, maxPer := ref.d.Lease()
	now := b.now()
	p := &directPlan{d: ref.d, max: maxPer, owner: owner, leaseUntil: trunc(now.Add(lease))}
	for _, h := range order {
		if b.contended(h, now) {
			continue
		}
		took, before := ref.d.Reserve(h, want[h])
		if took <= 0 {
			continue
		}
		p.hooks, p.ws = append(p.hooks, h), append(p.ws, ws[h])
		p.took, p.before = append(p.took, int32(took)), append(p.before, int32(before))
	}
	if len(p.hooks) == 0 {
		return nil
	}
	return p
}

// contendedFor is how long a node publishes without claiming for a webhook
// after a publish found the webhook's claim lock held by someone else. Claims
// at publish pay where one node does the work (there the lock is always
// free). Where several nodes share a webhook, its lock is wanted by every
// node's publishes and claims at once, and a publish holds it until its
// commit (WAL flush included): claims of the other nodes, which give up on a
// held lock, would be turned away, and the work they leave goes round the
// slower path. So a node backs off at the first sign of it.
const contendedFor = time.Second

// contended reports whether webhook h's claim lock was found held by another
// transaction less than contendedFor before now.
func (b *pubBatcher) contended(h string, now time.Time) bool {
	b.contMu.Lock()
	defer b.contMu.Unlock()
	until, ok := b.cont[h]
	if ok && !now.Before(until) {
		delete(b.cont, h)
		return false
	}
	return ok
}

// noteContention records the webhooks of p whose lock the publish did not get.
func (b *pubBatcher) noteContention(p *directPlan) {
	if p == nil || len(p.locked) == len(p.hooks) {
		return
	}
	got := map[string]bool{}
	for _, h := range p.locked {
		got[h] = true
	}
	until := b.now().Add(contendedFor)
	b.contMu.Lock()
	defer b.contMu.Unlock()
	if b.cont == nil {
		b.cont = map[string]time.Time{}
	}
	for _, h := range p.hooks {
		if !got[h] {
			b.cont[h] = until
		}
	}
}

// args are insertEventBatchSQL's parameters $13–$19; a nil plan's claim
// nothing (no webhooks).
func (p *directPlan) args() []any {
	if p == nil {
		p = &directPlan{}
	}
	return []any{p.hooks, p.ws, p.took, p.before, int32(p.max), p.owner, p.leaseUntil}
}

// cancel gives every reserved slot back (the batch failed).
func (p *directPlan) cancel() {
	if p == nil {
		return
	}
	for i, h := range p.hooks {
		p.d.Unreserve(h, int(p.took[i]))
	}
}

// dispatch hands the committed claims of batch to the engine, counts them in
// their requests and gives the slots left over back.
func (p *directPlan) dispatch(batch []*pubReq) {
	if p == nil {
		return
	}
	used := map[string]int{}
	var out []hookd.ClaimedDelivery
	for _, r := range batch {
		if !r.inserted {
			continue
		}
		e := r.evt
		for j, h := range r.hooks {
			id := e.DeliveryIDs[j]
			if !p.claimed[id] {
				continue
			}
			created := e.Timestamp
			out = append(out, hookd.ClaimedDelivery{
				Delivery: hookd.Delivery{ID: id, WorkspaceID: e.WorkspaceID, WebhookID: h, EventID: e.ID, EventType: e.Type,
					Status: hookd.DeliveryProcessing, NextAttemptAt: &created, CreatedAt: created, UpdatedAt: created},
				EventData: e.Data, EventTimestamp: created, WebhookUpdatedAt: r.updated[j], LeaseUntil: p.leaseUntil,
			})
			used[h]++
			r.claimed++
		}
	}
	for i, h := range p.hooks {
		if n := int(p.took[i]) - used[h]; n > 0 {
			p.d.Unreserve(h, n)
		}
	}
	if len(out) > 0 {
		p.d.Dispatch(out)
	}
}
