package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd"
)

const deliveryCols = `d.id, d.workspace_id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, d.auto_attempts,
	d.next_attempt_at, d.last_status_code, d.last_error, d.created, d.updated, d.delivered_at`

func scanDelivery(sc interface{ Scan(...any) error }, extra ...any) (*hookd.Delivery, error) {
	var d hookd.Delivery
	var next, delivered sql.NullInt64
	var created, updated int64
	dst := append([]any{&d.ID, &d.WorkspaceID, &d.WebhookID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.AutoAttempts,
		&next, &d.LastStatusCode, &d.LastError, &created, &updated, &delivered}, extra...)
	if err := sc.Scan(dst...); err != nil {
		return nil, err
	}
	d.NextAttemptAt = fromNullUS(next)
	d.DeliveredAt = fromNullUS(delivered)
	d.CreatedAt = fromUS(created)
	d.UpdatedAt = fromUS(updated)
	return &d, nil
}

// dbtx is what both *sql.DB and *sql.Tx offer.
type dbtx interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// getDelivery reads a delivery and its attempts, oldest first.
func getDelivery(ctx context.Context, q dbtx, workspaceID, id string) (*hookd.Delivery, error) {
	d, err := scanDelivery(q.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM deliveries d WHERE d.id = ? AND d.workspace_id = ?`, id, workspaceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hookd.Errorf(hookd.ENotFound, "delivery not found")
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT id, delivery_id, number, manual, started_at, duration_ms, status_code, error, response_body
		FROM attempts WHERE workspace_id = ? AND delivery_id = ? ORDER BY number, rowid`, workspaceID, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a hookd.Attempt
		var started int64
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.Number, &a.Manual, &started, &a.DurationMS, &a.StatusCode, &a.Error, &a.ResponseBody); err != nil {
			return nil, err
		}
		a.StartedAt = fromUS(started)
		d.AttemptList = append(d.AttemptList, a)
	}
	return d, rows.Err()
}

// DeliveryGet returns one delivery of the workspace with its attempts, oldest
// first; ENotFound when absent or of another workspace.
func (s *Store) DeliveryGet(ctx context.Context, workspaceID, id string) (*hookd.Delivery, error) {
	d, err := getDelivery(ctx, s.rdb, workspaceID, id)
	if err != nil && hookd.ErrorCode(err) == hookd.EInternal {
		return nil, fmt.Errorf("sqlite: delivery get: %w", err)
	}
	return d, err
}

// DeliveryList lists deliveries of the workspace newest first with the total
// count, filtered by webhook, event, status and event type when set.
// AttemptList is not filled.
func (s *Store) DeliveryList(ctx context.Context, f hookd.DeliveryFilter) ([]hookd.Delivery, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `d.workspace_id = ?`
	args := []any{f.WorkspaceID}
	if f.EventID != "" {
		// The event row lists its deliveries (no event_id index on deliveries).
		where += ` AND d.id IN (SELECT value FROM json_each((SELECT delivery_ids FROM events WHERE id = ? AND workspace_id = d.workspace_id)))`
		args = append(args, f.EventID)
	}
	for _, c := range []struct{ col, v string }{
		{"d.webhook_id", f.WebhookID}, {"d.status", f.Status}, {"d.event_type", f.EventType},
	} {
		if c.v != "" {
			where += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	var total int
	if f.EventID == "" && f.EventType == "" && f.Status != "" {
		// Counted from the state indexes rather than row by row.
		sum, err := s.summary(ctx, f.WorkspaceID, f.WebhookID)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: delivery list: %w", err)
		}
		total = sum.Count(f.Status)
	} else if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries d WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: delivery list: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+deliveryCols+` FROM deliveries d WHERE `+where+`
		ORDER BY d.created DESC, d.rowid DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: delivery list: %w", err)
	}
	defer rows.Close()
	out := []hookd.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: delivery list: %w", err)
		}
		out = append(out, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: delivery list: %w", err)
	}
	return out, total, nil
}

// DeliverySummary counts a webhook's deliveries by status (index-only counts,
// see summary). ENotFound when the webhook is absent, deleted or of
// another workspace.
func (s *Store) DeliverySummary(ctx context.Context, workspaceID, webhookID string) (*hookd.DeliverySummary, error) {
	var exists bool
	if err := s.rdb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = ? AND workspace_id = ?)`, webhookID, workspaceID).Scan(&exists); err != nil {
		return nil, fmt.Errorf("sqlite: delivery summary: %w", err)
	}
	if !exists {
		return nil, hookd.Errorf(hookd.ENotFound, "webhook not found")
	}
	sum, err := s.summary(ctx, workspaceID, webhookID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: delivery summary: %w", err)
	}
	return &sum.DeliverySummary, nil
}

// statusSummary is a DeliverySummary that can be asked by status.
type statusSummary struct{ hookd.DeliverySummary }

// Count returns the count of one status (0 for an unknown one).
func (s statusSummary) Count(status string) int {
	switch status {
	case hookd.DeliveryPending:
		return s.Pending
	case hookd.DeliveryProcessing:
		return s.Processing
	case hookd.DeliveryDelivered:
		return s.Delivered
	case hookd.DeliveryFailed:
		return s.Failed
	case hookd.DeliveryDead:
		return s.Dead
	}
	return 0
}

// summary counts the deliveries of a workspace, or of one of its webhooks,
// by status in one snapshot: index-only counts of deliveries_list (all),
// deliveries_pending, deliveries_lease and deliveries_ended; delivered is
// what remains (no index holds delivered rows by status: each would be
// rewritten by every claim and complete).
func (s *Store) summary(ctx context.Context, workspaceID, webhookID string) (statusSummary, error) {
	cond, args := `workspace_id = ?1`, []any{workspaceID}
	if webhookID != "" {
		cond += ` AND webhook_id = ?2`
		args = append(args, webhookID)
	}
	var sum statusSummary
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_list WHERE `+cond+`),
		(SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_pending WHERE `+cond+` AND status = 'pending'),
		(SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_lease WHERE `+cond+` AND status = 'processing'),
		(SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_ended WHERE `+cond+` AND status IN ('failed', 'dead') AND status = 'failed'),
		(SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_ended WHERE `+cond+` AND status IN ('failed', 'dead') AND status = 'dead')`,
		args...).Scan(&sum.Total, &sum.Pending, &sum.Processing, &sum.Failed, &sum.Dead)
	if err != nil {
		return sum, err
	}
	sum.Delivered = sum.Total - sum.Pending - sum.Processing - sum.Failed - sum.Dead
	return sum, nil
}

// DeliveryRetry schedules an extra attempt at now that does not count against
// the retry budget (held while the webhook is inactive). ENotFound when the
// delivery is absent or of another workspace; EConflict when its webhook was
// deleted or it is in flight.
func (s *Store) DeliveryRetry(ctx context.Context, workspaceID, id string, now time.Time) (*hookd.Delivery, error) {
	at := us(now)
	var d *hookd.Delivery
	err := s.write(ctx, func(tx *sql.Tx) error {
		var status string
		var active sql.NullBool
		err := tx.QueryRow(`SELECT d.status, w.active FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.id = ? AND d.workspace_id = ?`, id, workspaceID).Scan(&status, &active)
		if errors.Is(err, sql.ErrNoRows) {
			return hookd.Errorf(hookd.ENotFound, "delivery not found")
		}
		if err != nil {
			return err
		}
		if !active.Valid {
			return hookd.Errorf(hookd.EConflict, "the delivery's webhook was deleted")
		}
		if status == hookd.DeliveryProcessing {
			return hookd.Errorf(hookd.EConflict, "the delivery is being attempted")
		}
		if _, err := tx.Exec(`UPDATE deliveries SET status = 'pending', next_attempt_at = ?, manual = 1, paused = ?,
				lease_until = NULL, lease_owner = NULL, updated = ? WHERE id = ?`, at, boolInt(!active.Bool), at, id); err != nil {
			return err
		}
		d, err = getDelivery(context.Background(), tx, workspaceID, id)
		return err
	})
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: delivery retry: %w", err)
	}
	return d, nil
}
