package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/seal"
)

const triggerCols = `id, workspace_id, job_id, owner_id, name, token_prefix, is_active, signature, methods, mode,
	wait_seconds, rate_limit_per_minute, cooldown_seconds, cooldown_mode, dedup_header, input_mapping, last_used_at,
	created_by_id, token_hash, previous_token_hash, previous_token_expires_at, secret, previous_secret,
	previous_secret_expires_at, created, updated`

// triggerRow is a trigger as stored: JSON columns encoded, secrets sealed
// (nil when absent).
type triggerRow struct {
	methods, mapping string
	secret, previous []byte
}

func (s *Store) encodeTrigger(t *hookd.Trigger) (*triggerRow, error) {
	if len(t.TokenHash) == 0 {
		return nil, hookd.FieldErrorf("token", "is required")
	}
	var r triggerRow
	b, err := json.Marshal(t.Methods)
	if err != nil {
		return nil, err
	}
	r.methods = string(b)
	if b, err = json.Marshal(t.InputMapping); err != nil {
		return nil, err
	}
	r.mapping = string(b)
	if r.secret, err = seal.SealOptional(s.sealer, t.Secret); err != nil {
		return nil, err
	}
	if r.previous, err = seal.SealOptional(s.sealer, t.PreviousSecret); err != nil {
		return nil, err
	}
	t.HasSecret = t.Secret != ""
	if len(t.PreviousTokenHash) == 0 {
		t.PreviousTokenHash, t.PreviousTokenExpiresAt = nil, nil
	}
	t.PreviousTokenExpiresAt = truncPtr(t.PreviousTokenExpiresAt)
	t.PreviousSecretExpiresAt = truncPtr(t.PreviousSecretExpiresAt)
	return &r, nil
}

// scanTrigger reads a row of triggerCols and opens its secrets.
func (s *Store) scanTrigger(sc rowScanner) (*hookd.Trigger, error) {
	var t hookd.Trigger
	var methods, mapping string
	var secret, previous []byte
	var lastUsed, prevTokenExp, prevSecretExp sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&t.ID, &t.WorkspaceID, &t.JobID, &t.OwnerID, &t.Name, &t.TokenPrefix, &t.IsActive, &t.Signature,
		&methods, &t.Mode, &t.WaitSeconds, &t.RateLimitPerMinute, &t.CooldownSeconds, &t.CooldownMode, &t.DedupHeader,
		&mapping, &lastUsed, &t.CreatedByID, &t.TokenHash, &t.PreviousTokenHash, &prevTokenExp, &secret, &previous,
		&prevSecretExp, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(methods), &t.Methods); err != nil {
		return nil, fmt.Errorf("methods: %w", err)
	}
	if err := json.Unmarshal([]byte(mapping), &t.InputMapping); err != nil {
		return nil, fmt.Errorf("input_mapping: %w", err)
	}
	t.LastUsedAt = fromNullUS(lastUsed)
	t.PreviousTokenExpiresAt = fromNullUS(prevTokenExp)
	t.PreviousSecretExpiresAt = fromNullUS(prevSecretExp)
	t.CreatedAt, t.UpdatedAt = fromUS(created), fromUS(updated)
	var err error
	if t.Secret, err = seal.OpenOptional(s.sealer, secret); err != nil {
		return nil, err
	}
	t.HasSecret = secret != nil
	if t.PreviousSecret, err = seal.OpenOptional(s.sealer, previous); err != nil {
		return nil, err
	}
	return &t, nil
}

// TriggerCreate inserts t, filling ID, CreatedAt/UpdatedAt (the store's
// clock when zero) and HasSecret; secrets are sealed at rest and only the
// token's hash is stored. The store applies no other defaults. EInvalid
// without a TokenHash; ENotFound when the job is not one of the workspace's;
// EConflict when the token hash is already used.
func (s *Store) TriggerCreate(ctx context.Context, t *hookd.Trigger) error {
	if t.ID == "" {
		t.ID = hookd.NewID(hookd.PrefixTrigger)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.CreatedAt = trunc(t.CreatedAt)
	t.UpdatedAt = t.CreatedAt
	t.LastUsedAt = truncPtr(t.LastUsedAt)
	r, err := s.encodeTrigger(t)
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return err
		}
		return fmt.Errorf("sqlite: trigger create: %w", err)
	}
	exists := false
	err = s.write(ctx, func(tx *sql.Tx) error {
		ok, err := jobExists(tx, t.WorkspaceID, t.JobID)
		if exists = ok; err != nil || !ok {
			return err
		}
		_, err = tx.Exec(`INSERT INTO triggers (`+triggerCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.WorkspaceID, t.JobID, t.OwnerID, t.Name, t.TokenPrefix, boolInt(t.IsActive), t.Signature,
			r.methods, t.Mode, t.WaitSeconds, t.RateLimitPerMinute, t.CooldownSeconds, t.CooldownMode, t.DedupHeader,
			r.mapping, nullUS(t.LastUsedAt), t.CreatedByID, t.TokenHash, nilBytes(t.PreviousTokenHash),
			nullUS(t.PreviousTokenExpiresAt), r.secret, r.previous, nullUS(t.PreviousSecretExpiresAt),
			us(t.CreatedAt), us(t.UpdatedAt))
		return err
	})
	if isUnique(err) {
		return hookd.Errorf(hookd.EConflict, "trigger already exists")
	}
	if err != nil {
		return fmt.Errorf("sqlite: trigger create: %w", err)
	}
	if !exists {
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	return nil
}

func jobExists(tx writeTx, workspaceID, jobID string) (bool, error) {
	var ok bool
	err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ? AND workspace_id = ?)`, jobID, workspaceID).Scan(&ok)
	return ok, err
}

// nilBytes stores an empty hash as NULL.
func nilBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// TriggerGet reads a trigger of the workspace with its secrets; ENotFound
// when absent or of another workspace.
func (s *Store) TriggerGet(ctx context.Context, workspaceID, id string) (*hookd.Trigger, error) {
	t, err := s.scanTrigger(s.rdb.QueryRowContext(ctx, `SELECT `+triggerCols+` FROM triggers WHERE id = ? AND workspace_id = ?`, id, workspaceID))
	return getResult(t, err, "trigger")
}

// TriggerGetByTokenHash finds the trigger (of any workspace) whose current
// token hashes to hash, or whose previous token does and whose grace lasts
// past now. ENotFound otherwise. Inactive triggers are found too: the
// caller answers them with 403.
func (s *Store) TriggerGetByTokenHash(ctx context.Context, hash []byte, now time.Time) (*hookd.Trigger, error) {
	if len(hash) == 0 {
		return nil, hookd.Errorf(hookd.ENotFound, "trigger not found")
	}
	t, err := s.scanTrigger(s.rdb.QueryRowContext(ctx, `SELECT `+triggerCols+` FROM triggers WHERE token_hash = ?
		UNION ALL
		SELECT `+triggerCols+` FROM triggers WHERE previous_token_hash = ? AND previous_token_expires_at > ?
		LIMIT 1`, hash, hash, us(now)))
	return getResult(t, err, "trigger")
}

// TriggerList lists a workspace's triggers newest first with the total
// count: active ones only unless f.IncludeInactive, narrowed by owner and job.
func (s *Store) TriggerList(ctx context.Context, f hookd.TriggerFilter) ([]hookd.Trigger, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `workspace_id = ?`
	args := []any{f.WorkspaceID}
	if !f.IncludeInactive {
		where += ` AND is_active = 1`
	}
	if f.OwnerID != "" {
		where += ` AND owner_id = ?`
		args = append(args, f.OwnerID)
	}
	if f.JobID != "" {
		where += ` AND job_id = ?`
		args = append(args, f.JobID)
	}
	var total int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM triggers WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: trigger list: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+triggerCols+` FROM triggers WHERE `+where+`
		ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: trigger list: %w", err)
	}
	defer rows.Close()
	out := []hookd.Trigger{}
	for rows.Next() {
		t, err := s.scanTrigger(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: trigger list: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: trigger list: %w", err)
	}
	return out, total, nil
}

// TriggerUpdate replaces every mutable field of t (matched by workspace and
// id) — job, settings, token hashes and secrets included — sets UpdatedAt
// from the store's clock and HasSecret, and fills CreatedAt and LastUsedAt
// from the stored trigger. ENotFound when the trigger, or its new job, is
// not the workspace's; EConflict when the token hash is used by another
// trigger.
func (s *Store) TriggerUpdate(ctx context.Context, t *hookd.Trigger) error {
	r, err := s.encodeTrigger(t)
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return err
		}
		return fmt.Errorf("sqlite: trigger update: %w", err)
	}
	now := us(s.now())
	found, jobOK := false, false
	var created, updated int64
	var lastUsed sql.NullInt64
	err = s.write(ctx, func(tx *sql.Tx) error {
		clear(s.trigs)
		ok, err := jobExists(tx, t.WorkspaceID, t.JobID)
		if jobOK = ok; err != nil || !ok {
			return err
		}
		err = tx.QueryRow(`UPDATE triggers SET job_id = ?, owner_id = ?, name = ?, token_prefix = ?, is_active = ?,
				signature = ?, methods = ?, mode = ?, wait_seconds = ?, rate_limit_per_minute = ?, cooldown_seconds = ?,
				cooldown_mode = ?, dedup_header = ?, input_mapping = ?, created_by_id = ?, token_hash = ?,
				previous_token_hash = ?, previous_token_expires_at = ?, secret = ?, previous_secret = ?,
				previous_secret_expires_at = ?, updated = MAX(?, updated + 1)
			WHERE id = ? AND workspace_id = ? RETURNING created, updated, last_used_at`,
			t.JobID, t.OwnerID, t.Name, t.TokenPrefix, boolInt(t.IsActive), t.Signature, r.methods, t.Mode,
			t.WaitSeconds, t.RateLimitPerMinute, t.CooldownSeconds, t.CooldownMode, t.DedupHeader, r.mapping,
			t.CreatedByID, t.TokenHash, nilBytes(t.PreviousTokenHash), nullUS(t.PreviousTokenExpiresAt), r.secret,
			r.previous, nullUS(t.PreviousSecretExpiresAt), now, t.ID, t.WorkspaceID).Scan(&created, &updated, &lastUsed)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	if isUnique(err) {
		return hookd.Errorf(hookd.EConflict, "token already used")
	}
	if err != nil {
		return fmt.Errorf("sqlite: trigger update: %w", err)
	}
	if !jobOK {
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	if !found {
		return hookd.Errorf(hookd.ENotFound, "trigger not found")
	}
	t.CreatedAt, t.UpdatedAt, t.LastUsedAt = fromUS(created), fromUS(updated), fromNullUS(lastUsed)
	return nil
}

// TriggerDelete removes the trigger with its cooldown window, dedup keys and
// call log; executions it started stay. ENotFound when absent.
func (s *Store) TriggerDelete(ctx context.Context, workspaceID, id string) error {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		clear(s.trigs)
		var err error
		n, err = deleteTrigger(tx, workspaceID, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: trigger delete: %w", err)
	}
	if n == 0 {
		return hookd.Errorf(hookd.ENotFound, "trigger not found")
	}
	return nil
}

// deleteTrigger deletes one trigger and what hangs off it; n is 0 when it
// did not exist in the workspace.
func deleteTrigger(tx *sql.Tx, workspaceID, id string) (n int64, err error) {
	res, err := tx.Exec(`DELETE FROM triggers WHERE id = ? AND workspace_id = ?`, id, workspaceID)
	if err != nil {
		return 0, err
	}
	if n, err = res.RowsAffected(); err != nil || n == 0 {
		return n, err
	}
	for _, q := range []string{
		`DELETE FROM trigger_cooldowns WHERE trigger_id = ? AND workspace_id = ?`,
		`DELETE FROM trigger_dedup WHERE trigger_id = ? AND workspace_id = ?`,
		`DELETE FROM calls WHERE trigger_id = ? AND workspace_id = ?`,
	} {
		if _, err := tx.Exec(q, id, workspaceID); err != nil {
			return 0, err
		}
	}
	return n, nil
}
