package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

const deliveryCols = `d.id, d.workspace_id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, d.auto_attempts,
	d.next_attempt_at, d.last_status_code, d.last_error, d.created, d.updated, d.delivered_at`

func scanDelivery(sc pgx.Row, extra ...any) (*hookd.Delivery, error) {
	var d hookd.Delivery
	dst := append([]any{&d.ID, &d.WorkspaceID, &d.WebhookID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.AutoAttempts,
		&d.NextAttemptAt, &d.LastStatusCode, &d.LastError, &d.CreatedAt, &d.UpdatedAt, &d.DeliveredAt}, extra...)
	if err := sc.Scan(dst...); err != nil {
		return nil, err
	}
	return &d, nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// getDelivery reads a delivery and its attempts, oldest first.
func getDelivery(ctx context.Context, q querier, workspaceID, id string) (*hookd.Delivery, error) {
	d, err := scanDelivery(q.QueryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries d WHERE d.id = $1 AND d.workspace_id = $2`, id, workspaceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookd.Errorf(hookd.ENotFound, "delivery not found")
	}
	if err != nil {
		return nil, err
	}
	rows, _ := q.Query(ctx, `SELECT id, delivery_id, number, manual, started_at, duration_ms, status_code, error, response_body
		FROM attempts WHERE workspace_id = $1 AND delivery_id = $2 ORDER BY number, id`, workspaceID, id)
	d.AttemptList, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.Attempt, error) {
		var a hookd.Attempt
		err := r.Scan(&a.ID, &a.DeliveryID, &a.Number, &a.Manual, &a.StartedAt, &a.DurationMS, &a.StatusCode, &a.Error, &a.ResponseBody)
		return a, err
	})
	if err != nil {
		return nil, err
	}
	if len(d.AttemptList) == 0 {
		d.AttemptList = nil
	}
	return d, nil
}

// DeliveryGet returns one delivery of the workspace with its attempts, oldest
// first; ENotFound when absent or of another workspace.
func (s *Store) DeliveryGet(ctx context.Context, workspaceID, id string) (*hookd.Delivery, error) {
	d, err := getDelivery(ctx, s.pool, workspaceID, id)
	if err != nil && hookd.ErrorCode(err) == hookd.EInternal {
		return nil, fmt.Errorf("postgres: delivery get: %w", err)
	}
	return d, err
}

// DeliveryList lists deliveries of the workspace newest first with the total
// count, filtered by webhook, event, status and event type when set.
// AttemptList is not filled.
func (s *Store) DeliveryList(ctx context.Context, f hookd.DeliveryFilter) ([]hookd.Delivery, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `d.workspace_id = $1`
	args := []any{f.WorkspaceID}
	for _, c := range []struct{ col, v string }{
		{"d.webhook_id", f.WebhookID}, {"d.event_id", f.EventID}, {"d.status", f.Status}, {"d.event_type", f.EventType},
	} {
		if c.v != "" {
			args = append(args, c.v)
			where += fmt.Sprintf(` AND %s = $%d`, c.col, len(args))
		}
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM deliveries d WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: delivery list: %w", err)
	}
	rows, _ := s.pool.Query(ctx, fmt.Sprintf(`SELECT `+deliveryCols+` FROM deliveries d WHERE `+where+`
		ORDER BY d.created DESC, d.id DESC LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2), append(args, limit, offset)...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.Delivery, error) {
		d, err := scanDelivery(r)
		if err != nil {
			return hookd.Delivery{}, err
		}
		return *d, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: delivery list: %w", err)
	}
	return nonNil(out), total, nil
}

// DeliverySummary counts a webhook's deliveries by status (an index-only scan
// of deliveries_state when the visibility map allows). ENotFound when the
// webhook is absent, deleted or of another workspace.
func (s *Store) DeliverySummary(ctx context.Context, workspaceID, webhookID string) (*hookd.DeliverySummary, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND workspace_id = $2)`, webhookID, workspaceID).Scan(&exists); err != nil {
		return nil, fmt.Errorf("postgres: delivery summary: %w", err)
	}
	if !exists {
		return nil, hookd.Errorf(hookd.ENotFound, "webhook not found")
	}
	rows, _ := s.pool.Query(ctx, `SELECT status, COUNT(*) FROM deliveries
		WHERE workspace_id = $1 AND webhook_id = $2 GROUP BY status`, workspaceID, webhookID)
	sum := &hookd.DeliverySummary{}
	var status string
	var n int
	_, err := pgx.ForEachRow(rows, []any{&status, &n}, func() error {
		sum.Add(status, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: delivery summary: %w", err)
	}
	return sum, nil
}

// DeliveryRetry schedules an extra attempt at now that does not count against
// the retry budget (held while the webhook is inactive). ENotFound when the
// delivery is absent or of another workspace; EConflict when its webhook was
// deleted or it is in flight.
func (s *Store) DeliveryRetry(ctx context.Context, workspaceID, id string, now time.Time) (*hookd.Delivery, error) {
	at := trunc(now)
	var d *hookd.Delivery
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var status string
		var active *bool
		if _, err := tx.Exec(ctx, lockWebhooksSQL(`FOR SHARE`), []string{id}); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT d.status, w.active FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.id = $1 AND d.workspace_id = $2 FOR UPDATE OF d`, id, workspaceID).Scan(&status, &active)
		if errors.Is(err, pgx.ErrNoRows) {
			return hookd.Errorf(hookd.ENotFound, "delivery not found")
		}
		if err != nil {
			return err
		}
		if active == nil {
			return hookd.Errorf(hookd.EConflict, "the delivery's webhook was deleted")
		}
		if status == hookd.DeliveryProcessing {
			return hookd.Errorf(hookd.EConflict, "the delivery is being attempted")
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = $1, manual = true, paused = $2,
				lease_until = NULL, lease_owner = NULL, updated = $1 WHERE id = $3`, at, !*active, id); err != nil {
			return err
		}
		d, err = getDelivery(ctx, tx, workspaceID, id)
		return err
	})
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: delivery retry: %w", err)
	}
	if d.Status == hookd.DeliveryPending {
		s.wake(hookd.WakeDeliveries)
	}
	return d, nil
}
