package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/seal"
)

const webhookCols = `id, workspace_id, url, events, filters, owner_id, description, max_attempts,
	rate_limit_per_second, headers, active, secret, previous_secret, previous_secret_expires_at, created, updated`

// webhookRow is a webhook as stored: JSON columns encoded, secrets sealed.
type webhookRow struct {
	events, filters, headers []byte
	secret, previous         []byte
}

func (s *Store) encodeWebhook(wh *hookd.Webhook) (*webhookRow, error) {
	var r webhookRow
	var err error
	if r.events, err = json.Marshal(wh.Events); err != nil {
		return nil, err
	}
	if r.filters, err = json.Marshal(wh.Filters); err != nil {
		return nil, err
	}
	if r.headers, err = json.Marshal(wh.Headers); err != nil {
		return nil, err
	}
	if r.secret, err = s.sealer.Seal([]byte(wh.Secret)); err != nil {
		return nil, err
	}
	if r.previous, err = seal.SealOptional(s.sealer, wh.PreviousSecret); err != nil {
		return nil, err
	}
	return &r, nil
}

// scanWebhook reads a row of webhookCols; secrets are opened only when open
// is set (fan-out needs none of them).
func (s *Store) scanWebhook(sc pgx.Row, open bool) (*hookd.Webhook, error) {
	var wh hookd.Webhook
	var events, filters, headers []byte
	var secret, previous []byte
	if err := sc.Scan(&wh.ID, &wh.WorkspaceID, &wh.URL, &events, &filters, &wh.OwnerID, &wh.Description, &wh.MaxAttempts,
		&wh.RateLimitPerSecond, &headers, &wh.Active, &secret, &previous, &wh.PreviousSecretExpiresAt, &wh.CreatedAt, &wh.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(events, &wh.Events); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if err := json.Unmarshal(filters, &wh.Filters); err != nil {
		return nil, fmt.Errorf("filters: %w", err)
	}
	if err := json.Unmarshal(headers, &wh.Headers); err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	if open {
		pt, err := s.sealer.Open(secret)
		if err != nil {
			return nil, err
		}
		wh.Secret = string(pt)
		if wh.PreviousSecret, err = seal.OpenOptional(s.sealer, previous); err != nil {
			return nil, err
		}
	}
	return &wh, nil
}

// WebhookCreate inserts wh, filling ID, CreatedAt/UpdatedAt and MaxAttempts
// (DefaultMaxAttempts) when empty. ENotFound when the workspace does not exist.
func (s *Store) WebhookCreate(ctx context.Context, wh *hookd.Webhook) error {
	if wh.ID == "" {
		wh.ID = hookd.NewID(hookd.PrefixWebhook)
	}
	if wh.CreatedAt.IsZero() {
		wh.CreatedAt = s.now()
	}
	wh.CreatedAt = trunc(wh.CreatedAt)
	wh.UpdatedAt = wh.CreatedAt
	wh.PreviousSecretExpiresAt = truncPtr(wh.PreviousSecretExpiresAt)
	if wh.MaxAttempts <= 0 {
		wh.MaxAttempts = hookd.DefaultMaxAttempts
	}
	r, err := s.encodeWebhook(wh)
	if err != nil {
		return fmt.Errorf("postgres: webhook create: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO webhooks (`+webhookCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		wh.ID, wh.WorkspaceID, wh.URL, r.events, r.filters, wh.OwnerID, wh.Description, wh.MaxAttempts,
		wh.RateLimitPerSecond, r.headers, wh.Active, r.secret, r.previous, wh.PreviousSecretExpiresAt,
		wh.CreatedAt, wh.UpdatedAt)
	switch pgCode(err) {
	case "":
	case codeUnique:
		return hookd.Errorf(hookd.EConflict, "webhook already exists")
	case codeForeignKey:
		return hookd.Errorf(hookd.ENotFound, "workspace not found")
	}
	if err != nil {
		return fmt.Errorf("postgres: webhook create: %w", err)
	}
	return nil
}

// WebhookGet reads a webhook of the workspace with its secrets; ENotFound when
// absent, deleted or of another workspace.
func (s *Store) WebhookGet(ctx context.Context, workspaceID, id string) (*hookd.Webhook, error) {
	wh, err := s.scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = $1 AND workspace_id = $2`, id, workspaceID), true)
	return getResult(wh, err, "webhook")
}

// WebhookGetByID reads a webhook of any workspace with its secrets; ENotFound
// when absent or deleted.
func (s *Store) WebhookGetByID(ctx context.Context, id string) (*hookd.Webhook, error) {
	wh, err := s.scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = $1`, id), true)
	return getResult(wh, err, "webhook")
}

// WebhookList lists a workspace's webhooks newest first with the total count:
// active ones only unless f.IncludeInactive, of one owner when f.OwnerID is set.
func (s *Store) WebhookList(ctx context.Context, f hookd.WebhookFilter) ([]hookd.Webhook, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `workspace_id = $1`
	args := []any{f.WorkspaceID}
	if !f.IncludeInactive {
		where += ` AND active`
	}
	if f.OwnerID != "" {
		args = append(args, f.OwnerID)
		where += fmt.Sprintf(` AND owner_id = $%d`, len(args))
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM webhooks WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: webhook list: %w", err)
	}
	rows, _ := s.pool.Query(ctx, fmt.Sprintf(`SELECT `+webhookCols+` FROM webhooks WHERE `+where+`
		ORDER BY created DESC, id DESC LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2), append(args, limit, offset)...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.Webhook, error) {
		wh, err := s.scanWebhook(r, true)
		if err != nil {
			return hookd.Webhook{}, err
		}
		return *wh, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: webhook list: %w", err)
	}
	return nonNil(out), total, nil
}

// WebhookUpdate replaces every mutable field of wh (matched by workspace and
// id), sets UpdatedAt (strictly later than before, so that caches keyed on it
// always see the change) and fills CreatedAt. Deactivating holds the
// webhook's pending deliveries (paused); reactivating releases them, in the
// same transaction. ENotFound when absent.
func (s *Store) WebhookUpdate(ctx context.Context, wh *hookd.Webhook) error {
	if wh.MaxAttempts <= 0 {
		wh.MaxAttempts = hookd.DefaultMaxAttempts
	}
	wh.PreviousSecretExpiresAt = truncPtr(wh.PreviousSecretExpiresAt)
	r, err := s.encodeWebhook(wh)
	if err != nil {
		return fmt.Errorf("postgres: webhook update: %w", err)
	}
	now := trunc(s.now())
	found, released := false, false
	var created, updated time.Time
	err = s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE webhooks SET url = $1, events = $2, filters = $3, owner_id = $4, description = $5,
				max_attempts = $6, rate_limit_per_second = $7, headers = $8, active = $9, secret = $10, previous_secret = $11,
				previous_secret_expires_at = $12, updated = GREATEST($13, updated + interval '1 microsecond')
			WHERE id = $14 AND workspace_id = $15 RETURNING created, updated`,
			wh.URL, r.events, r.filters, wh.OwnerID, wh.Description, wh.MaxAttempts, wh.RateLimitPerSecond, r.headers,
			wh.Active, r.secret, r.previous, wh.PreviousSecretExpiresAt, now,
			wh.ID, wh.WorkspaceID).Scan(&created, &updated)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET paused = $1, updated = $2
			WHERE workspace_id = $3 AND webhook_id = $4 AND status = 'pending' AND paused = $5`,
			!wh.Active, now, wh.WorkspaceID, wh.ID, wh.Active)
		released = wh.Active && tag.RowsAffected() > 0
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: webhook update: %w", err)
	}
	if !found {
		return hookd.Errorf(hookd.ENotFound, "webhook not found")
	}
	if released {
		s.wake(hookd.WakeDeliveries)
	}
	wh.CreatedAt = created
	wh.UpdatedAt = updated
	return nil
}

// WebhookDelete removes the webhook; its pending deliveries (held or not)
// become dead, in-flight ones become dead when their result comes back, and
// every delivery stays readable by id. ENotFound when absent.
func (s *Store) WebhookDelete(ctx context.Context, workspaceID, id string) error {
	now := trunc(s.now())
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE id = $1 AND workspace_id = $2`, id, workspaceID)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE deliveries SET status = 'dead', next_attempt_at = NULL, manual = false, paused = false, updated = $1
			WHERE workspace_id = $2 AND webhook_id = $3 AND status = 'pending'`, now, workspaceID, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: webhook delete: %w", err)
	}
	if n == 0 {
		return hookd.Errorf(hookd.ENotFound, "webhook not found")
	}
	return nil
}
