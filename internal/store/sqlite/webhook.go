package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/seal"
)

const webhookCols = `id, workspace_id, url, events, filters, owner_id, description, max_attempts,
	rate_limit_per_second, headers, active, secret, previous_secret, previous_secret_expires_at, created, updated`

// webhookRow is a webhook as stored: JSON columns encoded, secrets sealed.
type webhookRow struct {
	events, filters, headers string
	secret, previous         []byte
}

func (s *Store) encodeWebhook(wh *hookd.Webhook) (*webhookRow, error) {
	var r webhookRow
	for _, f := range []struct {
		v   any
		out *string
	}{{wh.Events, &r.events}, {wh.Filters, &r.filters}, {wh.Headers, &r.headers}} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		*f.out = string(b)
	}
	var err error
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
func (s *Store) scanWebhook(sc interface{ Scan(...any) error }, open bool) (*hookd.Webhook, error) {
	var wh hookd.Webhook
	var events, filters, headers string
	var secret, previous []byte
	var prevExp sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&wh.ID, &wh.WorkspaceID, &wh.URL, &events, &filters, &wh.OwnerID, &wh.Description, &wh.MaxAttempts,
		&wh.RateLimitPerSecond, &headers, &wh.Active, &secret, &previous, &prevExp, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &wh.Events); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if err := json.Unmarshal([]byte(filters), &wh.Filters); err != nil {
		return nil, fmt.Errorf("filters: %w", err)
	}
	if err := json.Unmarshal([]byte(headers), &wh.Headers); err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	wh.PreviousSecretExpiresAt = fromNullUS(prevExp)
	wh.CreatedAt = fromUS(created)
	wh.UpdatedAt = fromUS(updated)
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
		return fmt.Errorf("sqlite: webhook create: %w", err)
	}
	return s.createIn(ctx, wh.WorkspaceID, "webhook", "webhook already exists", func(tx *sql.Tx) error {
		delete(s.hooks, wh.WorkspaceID)
		_, err := tx.Exec(`INSERT INTO webhooks (`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			wh.ID, wh.WorkspaceID, wh.URL, r.events, r.filters, wh.OwnerID, wh.Description, wh.MaxAttempts,
			wh.RateLimitPerSecond, r.headers, boolInt(wh.Active), r.secret, r.previous, nullUS(wh.PreviousSecretExpiresAt),
			us(wh.CreatedAt), us(wh.UpdatedAt))
		return err
	})
}

// WebhookGet reads a webhook of the workspace with its secrets; ENotFound when
// absent, deleted or of another workspace.
func (s *Store) WebhookGet(ctx context.Context, workspaceID, id string) (*hookd.Webhook, error) {
	wh, err := s.scanWebhook(s.rdb.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ? AND workspace_id = ?`, id, workspaceID), true)
	return getResult(wh, err, "webhook")
}

// WebhookGetByID reads a webhook of any workspace with its secrets; ENotFound
// when absent or deleted.
func (s *Store) WebhookGetByID(ctx context.Context, id string) (*hookd.Webhook, error) {
	wh, err := s.scanWebhook(s.rdb.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id), true)
	return getResult(wh, err, "webhook")
}

// WebhookList lists a workspace's webhooks newest first with the total count:
// active ones only unless f.IncludeInactive, of one owner when f.OwnerID is set.
func (s *Store) WebhookList(ctx context.Context, f hookd.WebhookFilter) ([]hookd.Webhook, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `workspace_id = ?`
	args := []any{f.WorkspaceID}
	if !f.IncludeInactive {
		where += ` AND active = 1`
	}
	if f.OwnerID != "" {
		where += ` AND owner_id = ?`
		args = append(args, f.OwnerID)
	}
	var total int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhooks WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: webhook list: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE `+where+`
		ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: webhook list: %w", err)
	}
	defer rows.Close()
	out := []hookd.Webhook{}
	for rows.Next() {
		wh, err := s.scanWebhook(rows, true)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: webhook list: %w", err)
		}
		out = append(out, *wh)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: webhook list: %w", err)
	}
	return out, total, nil
}

// WebhookUpdate replaces every mutable field of wh (matched by workspace and
// id), sets UpdatedAt (strictly later than before, so that caches keyed on it
// always see the change) and fills CreatedAt. Deactivating holds the
// webhook's pending deliveries (paused); reactivating releases them.
// ENotFound when absent.
func (s *Store) WebhookUpdate(ctx context.Context, wh *hookd.Webhook) error {
	if wh.MaxAttempts <= 0 {
		wh.MaxAttempts = hookd.DefaultMaxAttempts
	}
	wh.PreviousSecretExpiresAt = truncPtr(wh.PreviousSecretExpiresAt)
	r, err := s.encodeWebhook(wh)
	if err != nil {
		return fmt.Errorf("sqlite: webhook update: %w", err)
	}
	now := us(s.now())
	found := false
	var created, updated int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		delete(s.hooks, wh.WorkspaceID)
		err := tx.QueryRow(`UPDATE webhooks SET url = ?, events = ?, filters = ?, owner_id = ?, description = ?,
				max_attempts = ?, rate_limit_per_second = ?, headers = ?, active = ?, secret = ?, previous_secret = ?,
				previous_secret_expires_at = ?, updated = MAX(?, updated + 1)
			WHERE id = ? AND workspace_id = ? RETURNING created, updated`,
			wh.URL, r.events, r.filters, wh.OwnerID, wh.Description, wh.MaxAttempts, wh.RateLimitPerSecond, r.headers,
			boolInt(wh.Active), r.secret, r.previous, nullUS(wh.PreviousSecretExpiresAt), now,
			wh.ID, wh.WorkspaceID).Scan(&created, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		_, err = tx.Exec(`UPDATE deliveries SET paused = ?, updated = ?
			WHERE workspace_id = ? AND webhook_id = ? AND status = 'pending' AND paused = ?`,
			boolInt(!wh.Active), now, wh.WorkspaceID, wh.ID, boolInt(wh.Active))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: webhook update: %w", err)
	}
	if !found {
		return hookd.Errorf(hookd.ENotFound, "webhook not found")
	}
	wh.CreatedAt = fromUS(created)
	wh.UpdatedAt = fromUS(updated)
	return nil
}

// WebhookDelete removes the webhook; its pending deliveries (held or not)
// become dead, in-flight ones become dead when their result comes back, and
// every delivery stays readable by id. ENotFound when absent.
func (s *Store) WebhookDelete(ctx context.Context, workspaceID, id string) error {
	now := us(s.now())
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		delete(s.hooks, workspaceID)
		res, err := tx.Exec(`DELETE FROM webhooks WHERE id = ? AND workspace_id = ?`, id, workspaceID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = tx.Exec(`UPDATE deliveries SET status = 'dead', next_attempt_at = NULL, manual = 0, paused = 0, updated = ?
			WHERE workspace_id = ? AND webhook_id = ? AND status = 'pending'`, now, workspaceID, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: webhook delete: %w", err)
	}
	if n == 0 {
		return hookd.Errorf(hookd.ENotFound, "webhook not found")
	}
	return nil
}

// activeWebhooks returns the workspace's active webhooks for fan-out, from the
// writer-owned cache (invalidated by every webhook write of this process).
// Runs on the writer goroutine only.
func (s *Store) activeWebhooks(tx *sql.Tx, workspaceID string) ([]*hookd.Webhook, error) {
	if hooks, ok := s.hooks[workspaceID]; ok {
		return hooks, nil
	}
	rows, err := tx.Stmt(s.stmts.activeHooks).Query(workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	hooks := []*hookd.Webhook{}
	for rows.Next() {
		wh, err := s.scanWebhook(rows, false)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, wh)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(s.hooks) > 10000 {
		clear(s.hooks)
	}
	s.hooks[workspaceID] = hooks
	return hooks, nil
}
