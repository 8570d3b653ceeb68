package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hookd/hookd"
)

// noSeqScan keeps the rest of a transaction off sequential scans of the
// queue. A prepared statement's generic plan is built from the statistics of
// the moment and kept until they change: on a young table (a new database
// taking its first burst, before autovacuum's first ANALYZE) that would be a
// sequential scan, and every lookup of a batch of ids by primary key would
// then read the whole table, for a minute or more. The claim and the result
// batch, which look rows up by id, rule it out; their plans stay cached
// (planning them anew each time costs more than running them).
const noSeqScan = `set_config('enable_seqscan', 'off', true)`

// claimScanSQL locks the next page of due, claimable deliveries in the
// queue's order (keyset after $2, $3), skipping rows other claimers hold: the
// MATERIALIZED CTE makes PostgreSQL lock exactly the rows the LIMIT admits
// (DESIGN §7; the IN (SELECT … SKIP LOCKED) form over-claims).
const claimScanSQL = `WITH next AS MATERIALIZED (
		SELECT id, webhook_id, next_attempt_at, workspace_id FROM deliveries
		WHERE status = 'pending' AND NOT paused AND next_attempt_at <= $1
		  AND (next_attempt_at, id) > ($2, $3)
		ORDER BY next_attempt_at, id
		LIMIT $4
		FOR UPDATE SKIP LOCKED)
	SELECT id, webhook_id, next_attempt_at, workspace_id FROM next ORDER BY next_attempt_at, id`

// claimReadSQL reads the next page of due, claimable deliveries in the
// queue's order (keyset after $2, $3) without locking them: the capped
// claim's scan (see claimCapped).
const claimReadSQL = `SELECT id, webhook_id, next_attempt_at, workspace_id FROM deliveries
	WHERE status = 'pending' AND NOT paused AND next_attempt_at <= $1
	  AND (next_attempt_at, id) > ($2, $3)
	ORDER BY next_attempt_at, id
	LIMIT $4`

// claimFallbackSQL finds the oldest due rows of each listed webhook (ids $1,
// workspaces $2, at most $3 rows each), one probe of deliveries_state per
// webhook, locking them.
const claimFallbackSQL = `SELECT d.id, d.webhook_id, d.next_attempt_at
	FROM unnest($1::text[], $2::text[], $3::int[]) AS w (id, ws, lim)
	CROSS JOIN LATERAL (
		SELECT id, webhook_id, next_attempt_at FROM deliveries
		WHERE workspace_id = w.ws AND webhook_id = w.id AND status = 'pending' AND NOT paused AND next_attempt_at <= $4
		ORDER BY next_attempt_at, id
		LIMIT w.lim
		FOR UPDATE SKIP LOCKED) d`

// claimUpdateSQL marks the chosen rows processing and returns them with what
// sending needs.
const claimUpdateSQL = `WITH d AS (
		UPDATE deliveries SET status = 'processing', lease_until = $2, lease_owner = $3, updated = $4
		WHERE id = ANY($1) RETURNING *)
	SELECT ` + deliveryCols + `, d.manual, e.data, e.created, w.updated
	FROM d JOIN events e ON e.id = d.event_id LEFT JOIN webhooks w ON w.id = d.webhook_id`

// claimLockUpdateSQL is claimUpdateSQL for rows chosen from an unlocked read:
// it locks those still claimable ($4 is also the due bound), skipping rows
// someone else holds, and marks them processing. No LIMIT, so nothing can be
// over-claimed: every row that passes was chosen. Each id is one probe of the
// primary key (a subquery with FOR UPDATE is never flattened): with
// "id = ANY($1)" beside the due bound, a generic plan may walk deliveries_due
// instead and filter the whole due backlog on every claim.
const claimLockUpdateSQL = `WITH l AS MATERIALIZED (
		SELECT p.id FROM unnest($1::text[]) AS c (id), LATERAL (
			SELECT id FROM deliveries
			WHERE id = c.id AND status = 'pending' AND NOT paused AND next_attempt_at <= $4
			FOR UPDATE SKIP LOCKED) p),
	d AS (
		UPDATE deliveries SET status = 'processing', lease_until = $2, lease_owner = $3, updated = $4
		WHERE id = ANY(ARRAY(SELECT id FROM l)) RETURNING *)
	SELECT ` + deliveryCols + `, d.manual, e.data, e.created, w.updated
	FROM d JOIN events e ON e.id = d.event_id LEFT JOIN webhooks w ON w.id = d.webhook_id`

// Claim scan bounds: rows locked from the due index per claim before falling
// back to per-webhook probes. They keep a claim cheap when the head of the
// queue belongs to excluded or saturated webhooks (say a million rows of one
// dead endpoint).
const (
	claimPageMin = 64
	claimPageMax = 1024
	claimScanMin = 1024
)

type candidate struct {
	id        string
	webhookID string
	due       time.Time
	ws        string
}

// webhookLockClass is the first key of the transaction-scoped advisory locks
// a claim with MaxPerWebhook takes per webhook (the second is the hash of
// the webhook's id): "hkdw".
const webhookLockClass = 0x686b6477

// capWebhooks bounds the room of each listed webhook not met before in this
// claim by max minus its deliveries in processing in the database (every
// node's; with inFlight, the owner's own rows count as inFlight says, see
// ClaimParams.InFlight). To count without racing another node's claim of the same webhook,
// it first takes the webhook's advisory lock for the rest of the
// transaction, without waiting: a webhook another node is claiming right now
// gets no room in this claim (that node fills it). The count is a second
// statement of the same pipeline, so its snapshot sees every claim committed
// before the lock was granted.
func capWebhooks(ctx context.Context, tx claimQuerier, p hookd.ClaimParams, ids, ws []string, roomFor func(string) int, room map[string]int) error {
	var newIDs, newWS []string
	for i, id := range ids {
		// roomFor records the webhook in room: later rows of it are seen.
		if _, seen := room[id]; !seen && roomFor(id) > 0 {
			newIDs, newWS = append(newIDs, id), append(newWS, ws[i])
		}
	}
	if len(newIDs) == 0 {
		return nil
	}
	locked := make(map[string]bool, len(newIDs))
	busy := map[string]int{}
	b := &pgx.Batch{}
	b.Queue(`SELECT w.id, pg_try_advisory_xact_lock($2, hashtext(w.id)) FROM unnest($1::text[]) AS w (id)`,
		newIDs, int32(webhookLockClass)).Query(func(rows pgx.Rows) error {
		var id string
		var ok bool
		_, err := pgx.ForEachRow(rows, []any{&id, &ok}, func() error {
			locked[id] = ok
			return nil
		})
		return err
	})
	b.Queue(`SELECT d.webhook_id, count(*), count(*) FILTER (WHERE d.lease_owner = $3)
		FROM unnest($1::text[], $2::text[]) AS w (id, ws)
		JOIN deliveries d ON d.workspace_id = w.ws AND d.webhook_id = w.id AND d.status = 'processing'
		GROUP BY d.webhook_id`, newIDs, newWS, p.Owner).Query(func(rows pgx.Rows) error {
		var id string
		var all, own int
		_, err := pgx.ForEachRow(rows, []any{&id, &all, &own}, func() error {
			busy[id] = all
			if p.InFlight != nil {
				busy[id] = all - own
			}
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for _, id := range newIDs {
		if !locked[id] {
			room[id] = 0
		} else {
			n := busy[id]
			if p.InFlight != nil {
				n += p.InFlight(id)
			}
			room[id] = max(min(room[id], p.MaxPerWebhook-n), 0)
		}
	}
	return nil
}

// DeliveriesClaim marks up to p.Limit due pending deliveries of active
// webhooks as processing under a lease until p.Now+p.Lease, oldest due first
// (ties by id), taking at most p.PerWebhook(webhookID) of each webhook (asked
// once per webhook per claim) and none of p.Exclude. Rows other nodes are
// claiming at the same moment are skipped, never waited for or taken twice.
//
// How (one transaction): pages of the global due index are read in the
// queue's order and filtered in Go against Exclude and the per-webhook room;
// then only the chosen ids are marked processing. Without MaxPerWebhook the
// pages are locked as they are read (claimScanSQL, FOR UPDATE SKIP LOCKED;
// the first page exactly p.Limit rows, so that the common case locks nothing
// it does not take) and rows locked but not chosen are unlocked at commit.
// With MaxPerWebhook, a webhook's claims are serialised cluster-wide by its
// advisory lock (capWebhooks), so the pages are read without locks
// (claimReadSQL) and the final UPDATE locks the chosen rows, skipping any
// that someone else holds or took meanwhile (claimLockUpdateSQL): rows of
// saturated, excluded or busy webhooks are never locked — a row lock writes
// the row and the WAL, and with one busy webhook a claim used to lock a
// thousand rows to take a few. The scan stops after max(1024, 8×Limit) rows,
// or after a page in which every webhook has no room left; when it stops so
// before Limit is reached, one probe per other active webhook with room
// (claimFallbackSQL) finds their oldest due rows, so no webhook starves
// behind another's backlog.
func (s *Store) DeliveriesClaim(ctx context.Context, p hookd.ClaimParams) ([]hookd.ClaimedDelivery, error) {
	if p.Limit <= 0 {
		return []hookd.ClaimedDelivery{}, nil
	}
	now := trunc(p.Now)
	leaseUntil := trunc(p.Now.Add(p.Lease))
	excluded := make(map[string]bool, len(p.Exclude))
	for _, id := range p.Exclude {
		excluded[id] = true
	}
	room := map[string]int{} // webhook → how many more may be taken
	roomFor := func(wh string) int {
		if excluded[wh] {
			return 0
		}
		n, ok := room[wh]
		if !ok {
			n = math.MaxInt
			if p.PerWebhook != nil {
				n = p.PerWebhook(wh)
			}
			room[wh] = n
		}
		return n
	}
	var out []hookd.ClaimedDelivery
	seen := 0 // due rows read, chosen or not
	err := s.pipelinedTx(ctx, func(tx claimQuerier) error {
		// Without a cluster-wide cap, the scan locks (SKIP LOCKED) what it
		// reads, the first page exactly p.Limit rows. With one, each webhook's
		// claims are serialised by its advisory lock (capWebhooks), so the
		// scan reads without locking and only the chosen rows are locked, in
		// the final UPDATE: rows of saturated, excluded or busy webhooks are
		// read, never locked (a row lock writes the row and the WAL).
		scanSQL, markSQL, first := claimScanSQL, claimUpdateSQL, p.Limit
		if p.MaxPerWebhook > 0 {
			// A small first page: most capped claims end with it (their
			// webhooks' room is small, or held by another node), and the
			// head of the due index is where the rows claimed since the
			// last vacuum still have entries, each a heap visit.
			scanSQL, markSQL, first = claimReadSQL, claimLockUpdateSQL, min(p.Limit, claimPageMin)
		}
		var chosen []candidate
		var err error
		chosen, seen, err = s.claimScan(ctx, tx, scanSQL, first, p, now, roomFor, room)
		if err != nil || len(chosen) == 0 {
			return err
		}
		out, err = markClaimed(ctx, tx, markSQL, chosen, leaseUntil, p.Owner, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: deliveries claim: %w", err)
	}
	if out == nil {
		out = []hookd.ClaimedDelivery{}
	}
	if p.Blocked != nil {
		*p.Blocked = seen > len(out)
	}
	return out, nil
}

// claimScan walks the due index in pages of scanSQL (the first page first
// rows) and chooses, in the queue's order, up to p.Limit rows of webhooks with
// room; past the scan bound it falls back to per-webhook probes. seen counts
// the due rows it read, chosen or not.
func (s *Store) claimScan(ctx context.Context, tx claimQuerier, scanSQL string, first int, p hookd.ClaimParams, now time.Time,
	roomFor func(string) int, room map[string]int) (chosen []candidate, seen int, err error) {
	taken := map[string]int{} // webhook → rows chosen
	page := first
	bound := max(claimScanMin, p.Limit*8)
	scanned, exhausted := 0, false
	after := candidate{due: time.Unix(0, 0).UTC().AddDate(-1000, 0, 0)}
	// The due scan must walk deliveries_due in order and stop at LIMIT.
	// With stale statistics (a backlog that grew since the last ANALYZE)
	// the planner may instead bitmap-scan every due row and sort them:
	// seconds per claim on a large queue. Rule that out for this
	// transaction, in the same round trip as the first page.
	// The transaction's BEGIN goes in the same round trip (pipelinedTx).
	//
	// Every statement of the claim runs with its generic plan: the cap's
	// count (capWebhooks) was otherwise planned anew at every claim, four
	// times its execution's cost; the others already settled on theirs.
	//
	// A claim commits without waiting for its WAL to reach disk
	// (synchronous_commit off for this transaction): a claim lost in a crash
	// of PostgreSQL only leaves its rows pending, to be claimed and sent
	// again (at least once holds), and the WAL is sequential, so an attempt's
	// result, committed durably later, makes its claim durable too. Not
	// waiting keeps claims out of the queue of publishes flushing the WAL.
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true),
		set_config('synchronous_commit', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true), ` + noSeqScan)
	b.Queue(scanSQL, now, after.due, after.id, page)
	br := tx.SendBatch(ctx, b)
	for range 2 {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, 0, err
		}
	}
	for len(chosen) < p.Limit && scanned < bound {
		var rows pgx.Rows
		if br != nil {
			rows, _ = br.Query()
		} else {
			rows, _ = tx.Query(ctx, scanSQL, now, after.due, after.id, page)
		}
		var rowsOf []candidate
		var c candidate
		_, err := pgx.ForEachRow(rows, []any{&c.id, &c.webhookID, &c.due, &c.ws}, func() error {
			rowsOf = append(rowsOf, c)
			return nil
		})
		if br != nil {
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			br = nil
		}
		if err != nil {
			return nil, 0, err
		}
		if p.MaxPerWebhook > 0 {
			ids, ws := make([]string, len(rowsOf)), make([]string, len(rowsOf))
			for i, c := range rowsOf {
				ids[i], ws[i] = c.webhookID, c.ws
			}
			if err := capWebhooks(ctx, tx, p, ids, ws, roomFor, room); err != nil {
				return nil, 0, err
			}
		}
		n := len(rowsOf)
		for _, c := range rowsOf {
			after = c
			if len(chosen) < p.Limit && roomFor(c.webhookID) > 0 {
				room[c.webhookID]--
				taken[c.webhookID]++
				chosen = append(chosen, c)
			}
		}
		scanned += n
		if n < page {
			exhausted = true
			break
		}
		// Every webhook of this page is saturated (or excluded): the next
		// pages are most likely more of the same, so other webhooks' due
		// rows are found by the fallback's probes rather than by reading on
		// (with one hot webhook, four pages of it per claim otherwise).
		saturated := true
		for _, c := range rowsOf {
			if roomFor(c.webhookID) > 0 {
				saturated = false
				break
			}
		}
		if saturated {
			break
		}
		page = min(max(p.Limit*4, claimPageMin), claimPageMax)
	}
	if !exhausted && len(chosen) < p.Limit {
		more, err := s.claimFallback(ctx, tx, now, p.Limit-len(chosen), p, roomFor, room, taken, chosen)
		if err != nil {
			return nil, 0, err
		}
		chosen = append(chosen, more...)
		scanned += len(more)
	}
	return chosen, scanned, nil
}

// markClaimed runs markSQL (claimUpdateSQL or claimLockUpdateSQL) on the
// chosen rows and returns them in the chosen order; rows it did not mark
// are left out.
func markClaimed(ctx context.Context, tx claimQuerier, markSQL string, chosen []candidate, leaseUntil time.Time, owner string,
	now time.Time) ([]hookd.ClaimedDelivery, error) {
	ids := make([]string, len(chosen))
	order := make(map[string]int, len(chosen))
	for i, c := range chosen {
		ids[i] = c.id
		order[c.id] = i
	}
	out := make([]hookd.ClaimedDelivery, len(chosen))
	// The COMMIT goes in the same round trip (pipelinedTx); the rows are
	// handed out only when it succeeded.
	b := &pgx.Batch{}
	b.Queue(markSQL, ids, leaseUntil, owner, now).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var manual bool
			var data []byte
			var evtCreated time.Time
			var whUpdated *time.Time
			d, err := scanDelivery(rows, &manual, &data, &evtCreated, &whUpdated)
			if err != nil {
				return err
			}
			c := hookd.ClaimedDelivery{
				Delivery:         *d,
				EventData:        data,
				EventTimestamp:   evtCreated,
				Manual:           manual,
				WebhookUpdatedAt: time.Unix(0, 0).UTC(),
				LeaseUntil:       leaseUntil,
			}
			if whUpdated != nil {
				c.WebhookUpdatedAt = *whUpdated
			}
			out[order[d.ID]] = c
		}
		return rows.Err()
	})
	b.Queue(`COMMIT`)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	// Holes: rows another claimer took first (capped claims), or a delivery
	// whose event row is missing — dropped rather than handed out empty (it
	// stays processing until reaped, which keeps the defect visible).
	return slices.DeleteFunc(out, func(c hookd.ClaimedDelivery) bool { return c.ID == "" }), nil
}

// claimFallback finds due work of webhooks the bounded scan did not reach:
// the oldest due rows of each active webhook that still has room, merged
// oldest first. Rows the scan already chose are locked by this transaction
// (SKIP LOCKED does not skip its own locks), so each probe asks for that many
// more and skips them.
func (s *Store) claimFallback(ctx context.Context, tx claimQuerier, now time.Time, want int, p hookd.ClaimParams, roomFor func(string) int,
	room, taken map[string]int, chosen []candidate) ([]candidate, error) {
	rows, _ := tx.Query(ctx, `SELECT id, workspace_id FROM webhooks WHERE active`)
	var allIDs, allWS []string
	var id, ws string
	if _, err := pgx.ForEachRow(rows, []any{&id, &ws}, func() error {
		allIDs, allWS = append(allIDs, id), append(allWS, ws)
		return nil
	}); err != nil {
		return nil, err
	}
	if p.MaxPerWebhook > 0 {
		if err := capWebhooks(ctx, tx, p, allIDs, allWS, roomFor, room); err != nil {
			return nil, err
		}
	}
	var hookIDs, hookWS []string
	var lims []int32
	for i, id := range allIDs {
		n := min(roomFor(id), want)
		if n > 0 {
			hookIDs = append(hookIDs, id)
			hookWS = append(hookWS, allWS[i])
			lims = append(lims, int32(n+taken[id]))
		}
	}
	if len(hookIDs) == 0 {
		return nil, nil
	}
	seen := make(map[string]bool, len(chosen))
	for _, c := range chosen {
		seen[c.id] = true
	}
	rows, _ = tx.Query(ctx, claimFallbackSQL, hookIDs, hookWS, lims, now)
	var cands []candidate
	var c candidate
	_, err := pgx.ForEachRow(rows, []any{&c.id, &c.webhookID, &c.due}, func() error {
		if !seen[c.id] {
			cands = append(cands, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := a.due.Compare(b.due); c != 0 {
			return c
		}
		if a.id < b.id {
			return -1
		}
		return 1
	})
	var out []candidate
	for _, c := range cands {
		if len(out) == want {
			break
		}
		if roomFor(c.webhookID) > 0 {
			room[c.webhookID]--
			out = append(out, c)
		}
	}
	return out, nil
}

// deliveryState is what DeliveriesComplete reads of a delivery, changes in
// Go, and writes back.
type deliveryState struct {
	ws, webhookID, status string
	attempts, auto        int
	next, delivered       pgtype.Timestamptz
	leaseUntil            pgtype.Timestamptz
	leaseOwner            pgtype.Text
	paused, manual        bool
	code                  int32
	lastErr               string
	active                *bool // nil: webhook deleted
	touched               bool
	updated               time.Time
}

// DeliveriesComplete records each attempt (numbered after the delivery's
// previous ones) and applies its outcome, all in one transaction:
// delivered; retry (pending at NextAttemptAt, held if the webhook is now
// inactive, dead if it was deleted); failed; dead (also deactivates the
// webhook and holds its other pending deliveries). A result for a delivery no
// longer processing (reaped meanwhile) only records the attempt. A result for
// an unknown delivery is skipped. EInvalid for an unknown outcome.
//
// Cost: two round trips whatever the batch size — BEGIN and one SELECT …
// FOR UPDATE of every delivery (with its webhook's state); one pipelined
// batch of a multi-row attempts INSERT, one UPDATE … FROM unnest of the
// deliveries' new states, only for 410s the webhook deactivations, and
// COMMIT. Then a
// coalesced wake-up of every node (rows left processing: capped webhooks have
// room again).
func (s *Store) DeliveriesComplete(ctx context.Context, results []hookd.AttemptResult) error {
	for _, r := range results {
		switch r.Outcome {
		case hookd.OutcomeDelivered, hookd.OutcomeRetry, hookd.OutcomeFailed, hookd.OutcomeDead:
		default:
			return hookd.Errorf(hookd.EInvalid, "unknown outcome %q", r.Outcome)
		}
	}
	if len(results) == 0 {
		return nil
	}
	ids := make([]string, 0, len(results))
	for _, r := range results {
		ids = append(ids, r.DeliveryID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	finished := false // some row left processing
	// A 410 deactivates its webhook in the transaction: then every webhook
	// of the batch is locked for update at once (in one sorted statement,
	// so two batches cannot deadlock upgrading a shared lock).
	webhookLock := `FOR SHARE`
	for _, r := range results {
		if r.Outcome == hookd.OutcomeDead {
			webhookLock = `FOR NO KEY UPDATE`
		}
	}
	err := s.pipelinedTx(ctx, func(tx claimQuerier) error {
		finished = false
		state := make(map[string]*deliveryState, len(ids))
		b0 := &pgx.Batch{}
		b0.Queue(`BEGIN`)
		b0.Queue(`SELECT ` + noSeqScan)
		b0.Queue(lockWebhooksSQL(webhookLock), ids)
		b0.Queue(`SELECT d.id, d.workspace_id, d.webhook_id, d.status, d.attempts, d.auto_attempts,
				d.next_attempt_at, d.delivered_at, d.lease_until, d.lease_owner, d.paused, d.manual, d.last_status_code, d.last_error, w.active
			FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.id = ANY($1) ORDER BY d.id FOR UPDATE OF d`, ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				st := &deliveryState{}
				if err := rows.Scan(&id, &st.ws, &st.webhookID, &st.status, &st.attempts, &st.auto, &st.next, &st.delivered,
					&st.leaseUntil, &st.leaseOwner, &st.paused, &st.manual, &st.code, &st.lastErr, &st.active); err != nil {
					return err
				}
				state[id] = st
			}
			return rows.Err()
		})
		if err := tx.SendBatch(ctx, b0).Close(); err != nil {
			return err
		}

		type attemptRows struct {
			id, ws, dlv, errs, body []string
			number, code            []int32
			manual                  []bool
			started                 []time.Time
			duration                []int64
		}
		var at attemptRows
		deactivated := map[string]bool{} // webhook → deactivated by a 410 in this batch
		b := &pgx.Batch{}
		for _, r := range results {
			st := state[r.DeliveryID]
			if st == nil {
				continue
			}
			now := trunc(r.Now)
			a := r.Attempt
			if a.StartedAt.IsZero() {
				a.StartedAt = r.Now
			}
			if a.ID == "" {
				a.ID = hookd.NewIDAt(hookd.PrefixAttempt, a.StartedAt)
			}
			a.Manual = a.Manual || st.manual
			st.attempts++
			at.id = append(at.id, a.ID)
			at.ws = append(at.ws, st.ws)
			at.dlv = append(at.dlv, r.DeliveryID)
			at.number = append(at.number, int32(st.attempts))
			at.manual = append(at.manual, a.Manual)
			at.started = append(at.started, trunc(a.StartedAt))
			at.duration = append(at.duration, a.DurationMS)
			at.code = append(at.code, int32(a.StatusCode))
			at.errs = append(at.errs, a.Error)
			at.body = append(at.body, a.ResponseBody)
			if !a.Manual {
				st.auto++
			}
			st.touched = true
			st.updated = now
			if st.status != hookd.DeliveryProcessing {
				continue // reaped meanwhile: the attempt is recorded, the state stays
			}
			finished = true
			active := st.active != nil && *st.active && !deactivated[st.webhookID]
			st.next = pgtype.Timestamptz{}
			st.paused = false
			st.status = r.Outcome
			switch {
			case r.Outcome == hookd.OutcomeDelivered:
				st.delivered = pgtype.Timestamptz{Time: now, Valid: true}
			case st.active == nil: // webhook deleted: nothing else can succeed
				st.status = hookd.DeliveryDead
			case r.Outcome == hookd.OutcomeRetry:
				st.status = hookd.DeliveryPending
				st.next = pgtype.Timestamptz{Time: trunc(r.NextAttemptAt), Valid: true}
				st.paused = !active
			case r.Outcome == hookd.OutcomeDead:
				if !deactivated[st.webhookID] {
					deactivated[st.webhookID] = true
					b.Queue(`UPDATE webhooks SET active = false, updated = GREATEST($1, updated + interval '1 microsecond')
						WHERE id = $2 AND active`, now, st.webhookID)
					b.Queue(`UPDATE deliveries SET paused = true, updated = $1
						WHERE workspace_id = $2 AND webhook_id = $3 AND status = 'pending' AND NOT paused AND id <> ALL($4)`,
						now, st.ws, st.webhookID, ids)
				}
			}
			st.code = int32(a.StatusCode)
			st.lastErr = a.Error
			st.leaseUntil = pgtype.Timestamptz{}
			st.leaseOwner = pgtype.Text{}
			st.manual = false
		}
		if len(at.id) == 0 {
			return nil
		}
		for _, st := range state {
			if st.status == hookd.DeliveryPending && deactivated[st.webhookID] {
				st.paused = true
			}
		}
		b.Queue(`INSERT INTO attempts (id, workspace_id, delivery_id, number, manual, started_at, duration_ms,
				status_code, error, response_body)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bool[], $6::timestamptz[], $7::bigint[],
				$8::int[], $9::text[], $10::text[])`,
			at.id, at.ws, at.dlv, at.number, at.manual, at.started, at.duration, at.code, at.errs, at.body)

		var (
			uid, ustatus, uerr        []string
			uattempts, uauto, ucode   []int32
			unext, udelivered, ulease []pgtype.Timestamptz
			uowner                    []pgtype.Text
			upaused, umanual          []bool
			uupdated                  []time.Time
		)
		// Every touched delivery gets its final state (a delivery twice in
		// one batch is written once).
		for _, id := range ids {
			st := state[id]
			if st == nil || !st.touched {
				continue
			}
			uid = append(uid, id)
			ustatus = append(ustatus, st.status)
			uattempts = append(uattempts, int32(st.attempts))
			uauto = append(uauto, int32(st.auto))
			unext = append(unext, st.next)
			upaused = append(upaused, st.paused)
			ucode = append(ucode, st.code)
			uerr = append(uerr, st.lastErr)
			udelivered = append(udelivered, st.delivered)
			ulease = append(ulease, st.leaseUntil)
			uowner = append(uowner, st.leaseOwner)
			umanual = append(umanual, st.manual)
			uupdated = append(uupdated, st.updated)
		}
		b.Queue(`UPDATE deliveries d SET status = u.status, attempts = u.attempts, auto_attempts = u.auto,
				next_attempt_at = u.next, paused = u.paused, last_status_code = u.code, last_error = u.err,
				delivered_at = u.delivered, lease_until = u.lease_until, lease_owner = u.lease_owner, manual = u.manual,
				updated = u.updated
			FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::timestamptz[], $6::bool[], $7::int[], $8::text[],
				$9::timestamptz[], $10::timestamptz[], $11::text[], $12::bool[], $13::timestamptz[])
				AS u (id, status, attempts, auto, next, paused, code, err, delivered, lease_until, lease_owner, manual, updated)
			WHERE d.id = u.id AND d.id = ANY($1)`, // ANY: a primary key probe whatever the statistics say
			uid, ustatus, uattempts, uauto, unext, upaused, ucode, uerr, udelivered, ulease, uowner, umanual, uupdated)
		b.Queue(`COMMIT`)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: deliveries complete: %w", err)
	}
	if finished && s.capCounted() {
		// Rows left processing: a webhook capped cluster-wide (ClaimParams.
		// MaxPerWebhook counts processing rows) has room again, on every node.
		// Without this wake-up a node whose claims came back short waits for
		// its next send, publish or poll. Where each node holds to its share
		// of the cap instead, another node's room does not depend on these
		// rows, and this node's engine wakes itself for its freed slots.
		s.wake(hookd.WakeDeliveries)
	}
	return nil
}

// capCounted reports whether this node's engine has claims count the
// deliveries in processing of every node against a cluster-wide cap
// (hookd.Dispatcher.Lease), as a Store without an engine is assumed to.
func (s *Store) capCounted() bool {
	ref := s.batch.disp.Load()
	if ref == nil {
		return true
	}
	_, _, maxPer := ref.d.Lease()
	return maxPer > 0
}

// lockWebhooksSQL locks the webhooks of the deliveries $1 (ids) in id order
// with lock ("FOR SHARE", or "FOR NO KEY UPDATE" to change them), before
// anything reads whether they are active and decides on that whether a
// delivery is held (DeliveriesComplete, DeliveryRetry; requeueSQL does the
// same in its own statement). WebhookUpdate also takes the webhook before the
// deliveries. Read unlocked, a deactivation committed between the reading
// statement's snapshot and the deliveries' lock would be missed — its hold
// skips rows still processing — and the delivery attempted once more.
func lockWebhooksSQL(lock string) string {
	return `SELECT 1 FROM webhooks WHERE id IN (SELECT webhook_id FROM deliveries WHERE id = ANY($1)) ORDER BY id ` + lock
}

// requeueSQL returns processing rows (chosen by cond, over d) to pending,
// due at $1 (or earlier if they were due earlier, keeping their place in
// line); held if the webhook is now inactive, dead if it was deleted. Their
// webhooks are locked first (shared, in id order, as DeliveriesComplete
// does), so whether the webhook is active is read from its current row, not
// from before a deactivation that committed meanwhile. The rows are locked
// next, so a result recorded concurrently wins or loses cleanly (the status
// is re-checked after the lock).
func requeueSQL(cond string) string {
	return `WITH w AS MATERIALIZED (
		SELECT id, active FROM webhooks
		WHERE id IN (SELECT d.webhook_id FROM deliveries d WHERE d.status = 'processing' AND ` + cond + `)
		ORDER BY id FOR SHARE),
	x AS (
		SELECT d.id, w.active FROM deliveries d LEFT JOIN w ON w.id = d.webhook_id
		WHERE d.status = 'processing' AND ` + cond + ` FOR UPDATE OF d)
	UPDATE deliveries d SET
		status = CASE WHEN x.active IS NULL THEN 'dead' ELSE 'pending' END,
		paused = COALESCE(NOT x.active, false),
		next_attempt_at = CASE WHEN x.active IS NULL THEN NULL ELSE LEAST(COALESCE(d.next_attempt_at, $1), $1) END,
		lease_until = NULL, lease_owner = NULL, updated = $1
	FROM x WHERE d.id = x.id`
}

// DeliveriesRelease returns claimed deliveries that were never attempted to
// pending, due at once (the store's clock); ids not processing are ignored.
func (s *Store) DeliveriesRelease(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	tag, err := s.pool.Exec(ctx, requeueSQL(`d.id = ANY($2)`), trunc(s.now()), ids)
	if err != nil {
		return fmt.Errorf("postgres: deliveries release: %w", err)
	}
	if tag.RowsAffected() > 0 {
		s.wake(hookd.WakeDeliveries)
	}
	return nil
}

// DeliveriesReap returns processing deliveries whose lease ended before now
// to pending and reports how many. It scans only the in-flight rows
// (deliveries_lease is a partial index of them).
func (s *Store) DeliveriesReap(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, requeueSQL(`d.lease_until < $1`), trunc(now))
	if err != nil {
		return 0, fmt.Errorf("postgres: deliveries reap: %w", err)
	}
	if tag.RowsAffected() > 0 {
		s.wake(hookd.WakeDeliveries)
	}
	return int(tag.RowsAffected()), nil
}

// DeliveriesNextDue returns the earliest next_attempt_at of a claimable
// delivery (one probe of the due index); ok=false when there is none.
func (s *Store) DeliveriesNextDue(ctx context.Context) (time.Time, bool, error) {
	var t *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND NOT paused`).Scan(&t); err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: deliveries next due: %w", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return *t, true, nil
}

// QueueStats counts claimable pending deliveries (not held by an inactive
// webhook; due now or later), deliveries in flight, and the oldest due time.
//
// Cost: the pending count scans the partial due index, linear in the queue's
// length; the other two are a probe and a count of small partial indexes.
// Callers should cache it (metrics scrape, readiness) rather than call it per
// claim.
func (s *Store) QueueStats(ctx context.Context) (hookd.QueueStats, error) {
	var st hookd.QueueStats
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND NOT paused),
		(SELECT COUNT(*) FROM deliveries WHERE status = 'processing'),
		(SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND NOT paused)`).Scan(&st.Pending, &st.Processing, &st.OldestDueAt)
	if err != nil {
		return st, fmt.Errorf("postgres: queue stats: %w", err)
	}
	return st, nil
}
