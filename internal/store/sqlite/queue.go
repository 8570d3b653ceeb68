package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
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
// Cost: one ordered index-only scan of the due index, bounded to
// max(2048, 16×Limit) rows; when the bound is hit before Limit is reached
// (the head of the queue is held by excluded or saturated webhooks), one
// index probe per other active webhook finds their oldest due rows, so no
// webhook starves behind another's backlog.
func (s *Store) DeliveriesClaim(ctx context.Context, p hookd.ClaimParams) ([]hookd.ClaimedDelivery, error) {
	if p.Limit <= 0 {
		return []hookd.ClaimedDelivery{}, nil
	}
	now := us(p.Now)
	leaseUntil := trunc(p.Now.Add(p.Lease))
	excluded := make(map[string]bool, len(p.Exclude))
	for _, id := range p.Exclude {
		excluded[id] = true
	}
	var out []hookd.ClaimedDelivery
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = nil
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
		var chosen []candidate
		taken := map[int64]bool{}

		page := min(max(p.Limit+claimPageMin, claimPageMin), claimPageMax)
		bound := max(claimScanMin, p.Limit*16)
		scanned, exhausted := 0, false
		after := candidate{rowid: 0, webhookID: "", due: math.MinInt64}
		scan := tx.Stmt(s.stmts.claimScan)
		for len(chosen) < p.Limit && scanned < bound {
			rows, err := scan.Query(now, after.due, after.webhookID, after.rowid, page)
			if err != nil {
				return err
			}
			n, picked := 0, 0
			for rows.Next() {
				var c candidate
				if err := rows.Scan(&c.rowid, &c.webhookID, &c.due); err != nil {
					rows.Close()
					return err
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
				return err
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
			more, err := s.claimFallback(tx, now, p.Limit-len(chosen), roomFor, room, taken)
			if err != nil {
				return err
			}
			chosen = append(chosen, more...)
		}
		if len(chosen) == 0 {
			return nil
		}

		args := make([]any, 0, len(chosen)+4)
		args = append(args, us(leaseUntil), p.Owner, now)
		order := make(map[int64]int, len(chosen))
		for i, c := range chosen {
			args = append(args, c.rowid)
			order[c.rowid] = i
		}
		if _, err := tx.Exec(`UPDATE deliveries SET status = 'processing', lease_until = ?, lease_owner = ?, updated = ?
			WHERE rowid IN (`+placeholders(len(chosen))+`)`, args...); err != nil {
			return err
		}
		rows, err := tx.Query(`SELECT `+deliveryCols+`, d.rowid, d.manual, e.data, e.created, COALESCE(w.updated, 0)
			FROM deliveries d JOIN events e ON e.id = d.event_id LEFT JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.rowid IN (`+placeholders(len(chosen))+`)`, args[3:]...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = make([]hookd.ClaimedDelivery, len(chosen))
		for rows.Next() {
			var rowid, evtCreated, whUpdated int64
			var manual bool
			var data string
			d, err := scanDelivery(rows, &rowid, &manual, &data, &evtCreated, &whUpdated)
			if err != nil {
				return err
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
			return err
		}
		// A delivery whose event row is missing would leave a hole; drop it
		// rather than hand out an empty claim (it stays processing until
		// reaped, which keeps the defect visible).
		out = slices.DeleteFunc(out, func(c hookd.ClaimedDelivery) bool { return c.ID == "" })
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: deliveries claim: %w", err)
	}
	if out == nil {
		out = []hookd.ClaimedDelivery{}
	}
	return out, nil
}

// claimFallback finds due work of webhooks the bounded scan did not reach:
// the oldest due rows of each active webhook that still has room, one probe
// of deliveries_state each, merged oldest first.
func (s *Store) claimFallback(tx *sql.Tx, now int64, want int, roomFor func(string) int, room map[string]int, taken map[int64]bool) ([]candidate, error) {
	rows, err := tx.Query(`SELECT id, workspace_id FROM webhooks WHERE active = 1`)
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
		rows, err := tx.Query(`SELECT rowid, webhook_id, next_attempt_at FROM deliveries
			WHERE workspace_id = ? AND webhook_id = ? AND status = 'pending' AND paused = 0 AND next_attempt_at <= ?
			ORDER BY next_attempt_at LIMIT ?`, h.ws, h.id, now, n+len(taken))
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

const completeUpdateSQL = `UPDATE deliveries SET status = ?, attempts = attempts + 1, auto_attempts = auto_attempts + ?,
	next_attempt_at = ?, paused = ?, last_status_code = ?, last_error = ?, delivered_at = COALESCE(?, delivered_at),
	lease_until = NULL, lease_owner = NULL, manual = 0, updated = ? WHERE id = ?`

// DeliveriesComplete records each attempt (numbered after the delivery's
// previous ones) and applies its outcome, all in one transaction:
// delivered; retry (pending at NextAttemptAt, held if the webhook is now
// inactive, dead if it was deleted); failed; dead (also deactivates the
// webhook and holds its other pending deliveries). A result for a delivery no
// longer processing (reaped meanwhile) only records the attempt. A result for
// an unknown delivery is skipped. EInvalid for an unknown outcome.
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		read := tx.Stmt(s.stmts.completeRead)
		insert := tx.Stmt(s.stmts.insertAttempt)
		update := tx.Stmt(s.stmts.completeUpdate)
		for _, r := range results {
			var ws, webhookID, status string
			var attempts int
			var manual bool
			var active sql.NullBool
			err := read.QueryRow(r.DeliveryID).Scan(&ws, &webhookID, &status, &attempts, &manual, &active)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return err
			}
			now := us(r.Now)
			a := r.Attempt
			if a.StartedAt.IsZero() {
				a.StartedAt = r.Now
			}
			if a.ID == "" {
				a.ID = hookd.NewIDAt(hookd.PrefixAttempt, a.StartedAt)
			}
			a.Manual = a.Manual || manual
			if _, err := insert.Exec(a.ID, ws, r.DeliveryID, attempts+1, boolInt(a.Manual), us(a.StartedAt), a.DurationMS,
				a.StatusCode, a.Error, a.ResponseBody); err != nil {
				return err
			}
			auto := boolInt(!a.Manual)
			if status != hookd.DeliveryProcessing {
				if _, err := tx.Exec(`UPDATE deliveries SET attempts = attempts + 1, auto_attempts = auto_attempts + ?, updated = ?
					WHERE id = ?`, auto, now, r.DeliveryID); err != nil {
					return err
				}
				continue
			}
			var next, deliveredAt any
			paused := 0
			newStatus := r.Outcome
			switch {
			case r.Outcome == hookd.OutcomeDelivered:
				deliveredAt = now
			case !active.Valid: // webhook deleted: nothing else can succeed
				newStatus = hookd.DeliveryDead
			case r.Outcome == hookd.OutcomeRetry:
				newStatus = hookd.DeliveryPending
				next = us(r.NextAttemptAt)
				paused = boolInt(!active.Bool)
			case r.Outcome == hookd.OutcomeDead:
				delete(s.hooks, ws)
				if _, err := tx.Exec(`UPDATE webhooks SET active = 0, updated = MAX(?, updated + 1) WHERE id = ? AND active = 1`, now, webhookID); err != nil {
					return err
				}
				if _, err := tx.Exec(`UPDATE deliveries SET paused = 1, updated = ?
					WHERE workspace_id = ? AND webhook_id = ? AND status = 'pending' AND paused = 0`, now, ws, webhookID); err != nil {
					return err
				}
			}
			if _, err := update.Exec(newStatus, auto, next, paused, a.StatusCode, a.Error, deliveredAt, now, r.DeliveryID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: deliveries complete: %w", err)
	}
	return nil
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
