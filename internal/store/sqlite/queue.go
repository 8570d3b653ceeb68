package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// claimScanSQL walks the global due index (deliveries_due) in due order with
// keyset pagination; index-only: it never touches the table.
const claimScanSQL = `SELECT rowid, webhook_id, next_attempt_at FROM deliveries
	WHERE status = 'pending' AND paused = 0 AND next_attempt_at <= ?
	  AND (next_attempt_at, webhook_id, rowid) > (?, ?, ?)
	ORDER BY next_attempt_at, webhook_id, rowid LIMIT ?`

// Claim scan bounds: rows read from the due index per claim before falling
// back to per-webhook probes. They keep a claim cheap when the head of the
// queue belongs to excluded or saturated webhooks (say a million rows of one
// dead endpoint).
const (
	claimPageMin = 64
	claimPageMax = 1024
	claimScanMin = 2048
)

type candidate struct {
	rowid     int64
	webhookID string
	due       int64
}

// DeliveriesClaim marks up to p.Limit due pending deliveries of active
// webhooks as processing under a lease until p.Now+p.Lease, oldest due first,
// taking at most p.PerWebhook(webhookID) of each webhook (asked once per
// webhook per claim) and none of p.Exclude.
//
// Only the marking runs on the writer: the candidates are chosen on a read
// connection before it, and the claimed rows are read with their events on a
// read connection after its commit. The read before may miss rows committed a
// moment ago (the next claim takes them) or pick rows that a concurrent
// claim, retry, hold or webhook deletion has taken meanwhile: the marking
// re-checks that each row is still claimable, and only the rows it marked are
// handed out. (Delivery rows are never deleted, so a rowid always names the
// row it was read as.)
//
// Cost: one ordered index-only scan of the due index, bounded to
// max(2048, 16×Limit) rows; when the bound is hit before Limit is reached
// (the head of the queue is held by excluded or saturated webhooks), one
// index probe per other active webhook finds their oldest due rows, so no
// webhook starves behind another's backlog. The writer does one rowid lookup
// per chosen row.
func (s *Store) DeliveriesClaim(ctx context.Context, p hookd.ClaimParams) ([]hookd.ClaimedDelivery, error) {
	if p.Limit <= 0 {
		return []hookd.ClaimedDelivery{}, nil
	}
	now := us(p.Now)
	leaseUntil := trunc(p.Now.Add(p.Lease))
	chosen, seen, err := s.claimCandidates(ctx, p, now)
	if err != nil {
		return nil, fmt.Errorf("sqlite: deliveries claim: %w", err)
	}
	if p.Blocked != nil {
		*p.Blocked = seen > 0 // until the rows taken are known
	}
	if len(chosen) == 0 {
		return []hookd.ClaimedDelivery{}, nil
	}

	args := make([]any, 0, len(chosen)+4)
	args = append(args, us(leaseUntil), p.Owner, now)
	for _, c := range chosen {
		args = append(args, c.rowid)
	}
	args = append(args, now)
	update := `UPDATE deliveries SET status = 'processing', lease_until = ?, lease_owner = ?, updated = ?
		WHERE rowid IN (` + placeholders(len(chosen)) + `) AND status = 'pending' AND paused = 0 AND next_attempt_at <= ?
		RETURNING rowid`
	var marked []any
	err = s.write(ctx, func(tx *sql.Tx) error {
		marked = marked[:0]
		rows, err := tx.Query(update, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var rowid int64
			if err := rows.Scan(&rowid); err != nil {
				return err
			}
			marked = append(marked, rowid)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: deliveries claim: %w", err)
	}
	if len(marked) == 0 {
		return []hookd.ClaimedDelivery{}, nil
	}
	// The rows are ours now (processing under our lease) whatever happens to
	// ctx: read them even if it ends (an error here strands them until their
	// lease expires and they are reaped, which keeps at-least-once).
	out, err := s.claimedRows(context.WithoutCancel(ctx), chosen, marked, leaseUntil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: deliveries claim: %w", err)
	}
	if p.Blocked != nil {
		*p.Blocked = seen > len(out)
	}
	return out, nil
}

// claimCandidates chooses the rows to claim on a read connection (one
// snapshot), oldest due first, within the per-webhook room; seen counts the
// due rows it read, chosen or not.
func (s *Store) claimCandidates(ctx context.Context, p hookd.ClaimParams, now int64) (chosen []candidate, seen int, err error) {
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
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	taken := map[int64]bool{}

	page := min(max(p.Limit+claimPageMin, claimPageMin), claimPageMax)
	bound := max(claimScanMin, p.Limit*16)
	scanned, exhausted := 0, false
	after := candidate{rowid: 0, webhookID: "", due: math.MinInt64}
	scan := tx.StmtContext(ctx, s.rstmts.claimScan)
	for len(chosen) < p.Limit && scanned < bound {
		rows, err := scan.QueryContext(ctx, now, after.due, after.webhookID, after.rowid, page)
		if err != nil {
			return nil, 0, err
		}
		n, picked := 0, 0
		for rows.Next() {
			var c candidate
			if err := rows.Scan(&c.rowid, &c.webhookID, &c.due); err != nil {
				rows.Close()
				return nil, 0, err
			}
			n++
			after = c
			if len(chosen) < p.Limit && roomFor(c.webhookID) > 0 {
				room[c.webhookID]--
				chosen = append(chosen, c)
				taken[c.rowid] = true
				picked++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
		scanned += n
		if n < page {
			exhausted = true
			break
		}
		if picked == 0 {
			// A whole page of webhooks without room: the per-webhook
			// probes below are cheaper than reading on.
			break
		}
	}
	if !exhausted && len(chosen) < p.Limit {
		more, err := claimFallback(ctx, tx, now, p.Limit-len(chosen), roomFor, room, taken)
		if err != nil {
			return nil, 0, err
		}
		chosen = append(chosen, more...)
		scanned += len(more)
	}
	return chosen, scanned, nil
}

// claimedRows reads the marked rows with their events on a read connection,
// in the order they were chosen. The event data is immutable and the rows
// are processing under the caller's lease, so the read needs no transaction
// with the marking; it starts after the marking committed and sees it.
func (s *Store) claimedRows(ctx context.Context, chosen []candidate, marked []any, leaseUntil time.Time) ([]hookd.ClaimedDelivery, error) {
	order := make(map[int64]int, len(chosen))
	for i, c := range chosen {
		order[c.rowid] = i
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+deliveryCols+`, d.rowid, d.manual, `+eventData("e")+`, e.created, COALESCE(w.updated, 0)
		FROM deliveries d JOIN events e ON e.id = d.event_id LEFT JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.rowid IN (`+placeholders(len(marked))+`)`, marked...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]hookd.ClaimedDelivery, len(chosen))
	for rows.Next() {
		var rowid, evtCreated, whUpdated int64
		var manual bool
		var data string
		d, err := scanDelivery(rows, &rowid, &manual, &data, &evtCreated, &whUpdated)
		if err != nil {
			return nil, err
		}
		out[order[rowid]] = hookd.ClaimedDelivery{
			Delivery:         *d,
			EventData:        []byte(data),
			EventTimestamp:   fromUS(evtCreated),
			Manual:           manual,
			WebhookUpdatedAt: fromUS(whUpdated),
			LeaseUntil:       leaseUntil,
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Chosen rows the marking did not take leave holes, and so would a
	// delivery whose event row is missing: drop them rather than hand out an
	// empty claim (the latter stays processing until reaped, which keeps the
	// defect visible).
	return slices.DeleteFunc(out, func(c hookd.ClaimedDelivery) bool { return c.ID == "" }), nil
}

// claimFallback finds due work of webhooks the bounded scan did not reach:
// the oldest due rows of each active webhook that still has room, one probe
// of the webhook's pending rows each, merged oldest first.
func claimFallback(ctx context.Context, tx *sql.Tx, now int64, want int, roomFor func(string) int, room map[string]int, taken map[int64]bool) ([]candidate, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, workspace_id FROM webhooks WHERE active = 1`)
	if err != nil {
		return nil, err
	}
	type hook struct{ id, ws string }
	var hooks []hook
	for rows.Next() {
		var h hook
		if err := rows.Scan(&h.id, &h.ws); err != nil {
			rows.Close()
			return nil, err
		}
		hooks = append(hooks, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var cands []candidate
	for _, h := range hooks {
		n := min(roomFor(h.id), want)
		if n <= 0 {
			continue
		}
		// Rows already chosen by the scan are still pending here: ask for
		// enough to skip them.
		rows, err := tx.QueryContext(ctx, claimProbeSQL, h.ws, h.id, now, n+len(taken))
		if err != nil {
			return nil, err
		}
		got := 0
		for rows.Next() && got < n {
			var c candidate
			if err := rows.Scan(&c.rowid, &c.webhookID, &c.due); err != nil {
				rows.Close()
				return nil, err
			}
			if taken[c.rowid] {
				continue
			}
			cands = append(cands, c)
			got++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.due != b.due {
			if a.due < b.due {
				return -1
			}
			return 1
		}
		return int(a.rowid - b.rowid)
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

// claimProbeSQL reads a webhook's oldest due rows (the claim's fallback).
const claimProbeSQL = `SELECT rowid, webhook_id, next_attempt_at FROM deliveries
	WHERE workspace_id = ? AND webhook_id = ? AND status = 'pending' AND paused = 0 AND next_attempt_at <= ?
	ORDER BY next_attempt_at LIMIT ?`

const completeUpdateSQL = `UPDATE deliveries SET status = ?, attempts = attempts + 1, auto_attempts = auto_attempts + ?,
	next_attempt_at = ?, paused = ?, last_status_code = ?, last_error = ?, delivered_at = COALESCE(?, delivered_at),
	lease_until = NULL, lease_owner = NULL, manual = 0, updated = ? WHERE rowid = ?`

// completeState is what DeliveriesComplete reads of a delivery before
// applying its results.
type completeState struct {
	rowid     int64
	ws        string
	webhookID string
	status    string
	attempts  int
	manual    bool
}

// completeReadChunk bounds the ids of one read of DeliveriesComplete.
const completeReadChunk = 500

// DeliveriesComplete records each attempt (numbered after the delivery's
// previous ones) and applies its outcome, all in one transaction:
// delivered; retry (pending at NextAttemptAt, held if the webhook is now
// inactive, dead if it was deleted); failed; dead (also deactivates the
// webhook and holds its other pending deliveries). A result for a delivery no
// longer processing (reaped meanwhile) only records the attempt. A result for
// an unknown delivery is skipped. EInvalid for an unknown outcome.
//
// Cost on the writer: one read of the batch's deliveries and webhooks,
// multi-row inserts of the attempts and one rowid update per result.
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
	// Attempt ids and start times are fixed before the write.
	attempts := make([]hookd.Attempt, len(results))
	ids := make([]any, 0, len(results))
	seen := make(map[string]bool, len(results))
	for i, r := range results {
		a := r.Attempt
		if a.StartedAt.IsZero() {
			a.StartedAt = r.Now
		}
		if a.ID == "" {
			a.ID = hookd.NewIDAt(hookd.PrefixAttempt, a.StartedAt)
		}
		attempts[i] = a
		if !seen[r.DeliveryID] {
			seen[r.DeliveryID] = true
			ids = append(ids, r.DeliveryID)
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		// The deliveries as they are now, and whether their webhooks are
		// active (invalid: deleted). Both change as the results are applied
		// in order (a delivery may appear twice; a dead outcome deactivates
		// its webhook for the results after it).
		state := make(map[string]*completeState, len(ids))
		active := map[string]sql.NullBool{}
		for lo := 0; lo < len(ids); lo += completeReadChunk {
			chunk := ids[lo:min(lo+completeReadChunk, len(ids))]
			rows, err := tx.Query(`SELECT d.rowid, d.id, d.workspace_id, d.webhook_id, d.status, d.attempts, d.manual, w.active
				FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id WHERE d.id IN (`+placeholders(len(chunk))+`)`, chunk...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var st completeState
				var id string
				var act sql.NullBool
				if err := rows.Scan(&st.rowid, &id, &st.ws, &st.webhookID, &st.status, &st.attempts, &st.manual, &act); err != nil {
					rows.Close()
					return err
				}
				state[id] = &st
				active[st.webhookID] = act
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		update := tx.Stmt(s.stmts.completeUpdate)
		ins := make([]any, 0, len(results)*attemptInsertCols)
		for i, r := range results {
			st := state[r.DeliveryID]
			if st == nil {
				continue
			}
			now := us(r.Now)
			a := &attempts[i]
			a.Manual = a.Manual || st.manual
			st.attempts++
			ins = append(ins, a.ID, st.ws, r.DeliveryID, st.attempts, boolInt(a.Manual), us(a.StartedAt), a.DurationMS,
				a.StatusCode, a.Error, a.ResponseBody)
			auto := boolInt(!a.Manual)
			if st.status != hookd.DeliveryProcessing {
				if _, err := tx.Exec(`UPDATE deliveries SET attempts = attempts + 1, auto_attempts = auto_attempts + ?, updated = ?
					WHERE rowid = ?`, auto, now, st.rowid); err != nil {
					return err
				}
				continue
			}
			var next, deliveredAt any
			paused := 0
			newStatus := r.Outcome
			act := active[st.webhookID]
			switch {
			case r.Outcome == hookd.OutcomeDelivered:
				deliveredAt = now
			case !act.Valid: // webhook deleted: nothing else can succeed
				newStatus = hookd.DeliveryDead
			case r.Outcome == hookd.OutcomeRetry:
				newStatus = hookd.DeliveryPending
				next = us(r.NextAttemptAt)
				paused = boolInt(!act.Bool)
			case r.Outcome == hookd.OutcomeDead:
				delete(s.hooks, st.ws)
				if _, err := tx.Exec(`UPDATE webhooks SET active = 0, updated = MAX(?, updated + 1) WHERE id = ? AND active = 1`, now, st.webhookID); err != nil {
					return err
				}
				if _, err := tx.Exec(`UPDATE deliveries SET paused = 1, updated = ?
					WHERE workspace_id = ? AND webhook_id = ? AND status = 'pending' AND paused = 0`, now, st.ws, st.webhookID); err != nil {
					return err
				}
				active[st.webhookID] = sql.NullBool{Valid: true, Bool: false}
			}
			if _, err := update.Exec(newStatus, auto, next, paused, a.StatusCode, a.Error, deliveredAt, now, st.rowid); err != nil {
				return err
			}
			st.status, st.manual = newStatus, false
		}
		return s.insertAttempts(tx, ins)
	})
	if err != nil {
		return fmt.Errorf("sqlite: deliveries complete: %w", err)
	}
	return nil
}

// attemptInsertCols is the number of arguments per row of insertAttempts.
const attemptInsertCols = 10

// insertAttempts inserts attempt rows (attemptInsertCols arguments each) with
// multi-row INSERTs of prepared power-of-two sizes.
func (s *Store) insertAttempts(tx *sql.Tx, args []any) error {
	n := len(args) / attemptInsertCols
	for i := 0; i < n; {
		k := len(s.stmts.insertAttempts) - 1
		for k > 0 && 1<<k > n-i {
			k--
		}
		size := 1 << k
		if _, err := tx.Stmt(s.stmts.insertAttempts[k]).Exec(args[i*attemptInsertCols : (i+size)*attemptInsertCols]...); err != nil {
			return err
		}
		i += size
	}
	return nil
}

func insertAttemptsSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO attempts (id, workspace_id, delivery_id, number, manual, started_at, duration_ms,
		status_code, error, response_body) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	}
	return b.String()
}

// requeueSQL returns processing rows to pending, due at ? (or earlier if they
// were due earlier, keeping their place in line); held if the webhook is now
// inactive, dead if it was deleted.
const requeueSQL = `UPDATE deliveries SET
	status = CASE WHEN w.active IS NULL THEN 'dead' ELSE 'pending' END,
	paused = CASE WHEN w.active = 0 THEN 1 ELSE 0 END,
	next_attempt_at = CASE WHEN w.active IS NULL THEN NULL ELSE MIN(COALESCE(deliveries.next_attempt_at, ?1), ?1) END,
	lease_until = NULL, lease_owner = NULL, updated = ?1
	FROM (SELECT d.rowid AS rid, (SELECT active FROM webhooks WHERE id = d.webhook_id) AS active
	      FROM deliveries d WHERE d.status = 'processing' AND `

// DeliveriesRelease returns claimed deliveries that were never attempted to
// pending, due at once (the store's clock); ids not processing are ignored.
func (s *Store) DeliveriesRelease(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	now := us(s.now())
	args := []any{now}
	for _, id := range ids {
		args = append(args, id)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(requeueSQL+`d.id IN (`+placeholders(len(ids))+`)) AS w WHERE deliveries.rowid = w.rid`, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: deliveries release: %w", err)
	}
	return nil
}

// DeliveriesReap returns processing deliveries whose lease ended before now
// to pending and reports how many. It scans only the in-flight rows
// (deliveries_lease is a partial index of them).
func (s *Store) DeliveriesReap(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(requeueSQL+`d.lease_until < ?1) AS w WHERE deliveries.rowid = w.rid`, us(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: deliveries reap: %w", err)
	}
	return int(n), nil
}

// DeliveriesNextDue returns the earliest next_attempt_at of a claimable
// delivery (one probe of the due index); ok=false when there is none.
func (s *Store) DeliveriesNextDue(ctx context.Context) (time.Time, bool, error) {
	var v sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND paused = 0`).Scan(&v); err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: deliveries next due: %w", err)
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return fromUS(v.Int64), true, nil
}

// QueueStats counts claimable pending deliveries (not held by an inactive
// webhook; due now or later), deliveries in flight, and the oldest due time.
//
// Cost: the pending count is an index-only count of the partial due index,
// linear in the queue's length (tens of milliseconds per million rows); the
// other two are a probe and a count of the small in-flight index. Callers
// should cache it (metrics scrape, readiness) rather than call it per claim.
func (s *Store) QueueStats(ctx context.Context) (hookd.QueueStats, error) {
	var st hookd.QueueStats
	var oldest sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND paused = 0),
		(SELECT COUNT(*) FROM deliveries WHERE status = 'processing'),
		(SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND paused = 0)`).Scan(&st.Pending, &st.Processing, &oldest)
	if err != nil {
		return st, fmt.Errorf("sqlite: queue stats: %w", err)
	}
	st.OldestDueAt = fromNullUS(oldest)
	return st, nil
}
