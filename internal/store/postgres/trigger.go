package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	methods, mapping []byte
	secret, previous []byte
}

func (s *Store) encodeTrigger(t *hookd.Trigger) (*triggerRow, error) {
	if len(t.TokenHash) == 0 {
		return nil, hookd.FieldErrorf("token", "is required")
	}
	var r triggerRow
	var err error
	if r.methods, err = json.Marshal(t.Methods); err != nil {
		return nil, err
	}
	if r.mapping, err = json.Marshal(t.InputMapping); err != nil {
		return nil, err
	}
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
func (s *Store) scanTrigger(sc pgx.Row) (*hookd.Trigger, error) {
	var t hookd.Trigger
	var methods, mapping, secret, previous []byte
	if err := sc.Scan(&t.ID, &t.WorkspaceID, &t.JobID, &t.OwnerID, &t.Name, &t.TokenPrefix, &t.IsActive, &t.Signature,
		&methods, &t.Mode, &t.WaitSeconds, &t.RateLimitPerMinute, &t.CooldownSeconds, &t.CooldownMode, &t.DedupHeader,
		&mapping, &t.LastUsedAt, &t.CreatedByID, &t.TokenHash, &t.PreviousTokenHash, &t.PreviousTokenExpiresAt, &secret,
		&previous, &t.PreviousSecretExpiresAt, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(methods, &t.Methods); err != nil {
		return nil, fmt.Errorf("methods: %w", err)
	}
	if err := json.Unmarshal(mapping, &t.InputMapping); err != nil {
		return nil, fmt.Errorf("input_mapping: %w", err)
	}
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

// nilBytes stores an empty hash as NULL.
func nilBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
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
		return fmt.Errorf("postgres: trigger create: %w", err)
	}
	// The job must be the workspace's (the foreign key alone only checks
	// that it exists); the FK check's KEY SHARE lock keeps it until commit.
	tag, err := s.pool.Exec(ctx, `INSERT INTO triggers (`+triggerCols+`)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
			$24, $25, $26
		WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $3 AND workspace_id = $2)`,
		t.ID, t.WorkspaceID, t.JobID, t.OwnerID, t.Name, t.TokenPrefix, t.IsActive, t.Signature,
		r.methods, t.Mode, t.WaitSeconds, t.RateLimitPerMinute, t.CooldownSeconds, t.CooldownMode, t.DedupHeader,
		r.mapping, t.LastUsedAt, t.CreatedByID, t.TokenHash, nilBytes(t.PreviousTokenHash),
		t.PreviousTokenExpiresAt, r.secret, r.previous, t.PreviousSecretExpiresAt, t.CreatedAt, t.UpdatedAt)
	switch pgCode(err) {
	case "":
	case codeUnique:
		return hookd.Errorf(hookd.EConflict, "trigger already exists")
	case codeForeignKey:
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	if err != nil {
		return fmt.Errorf("postgres: trigger create: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	return nil
}

// TriggerGet reads a trigger of the workspace with its secrets; ENotFound
// when absent or of another workspace.
func (s *Store) TriggerGet(ctx context.Context, workspaceID, id string) (*hookd.Trigger, error) {
	t, err := s.scanTrigger(s.pool.QueryRow(ctx, `SELECT `+triggerCols+` FROM triggers WHERE id = $1 AND workspace_id = $2`, id, workspaceID))
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
	t, err := s.scanTrigger(s.pool.QueryRow(ctx, `(SELECT `+triggerCols+` FROM triggers WHERE token_hash = $1)
		UNION ALL
		(SELECT `+triggerCols+` FROM triggers WHERE previous_token_hash = $1 AND previous_token_expires_at > $2)
		LIMIT 1`, hash, trunc(now)))
	return getResult(t, err, "trigger")
}

// TriggerList lists a workspace's triggers newest first (ties in insertion
// order, newest first) with the total count: active ones only unless
// f.IncludeInactive, narrowed by owner and job.
func (s *Store) TriggerList(ctx context.Context, f hookd.TriggerFilter) ([]hookd.Trigger, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `workspace_id = $1`
	args := []any{f.WorkspaceID}
	if !f.IncludeInactive {
		where += ` AND is_active`
	}
	for _, c := range []struct{ col, v string }{{"owner_id", f.OwnerID}, {"job_id", f.JobID}} {
		if c.v != "" {
			args = append(args, c.v)
			where += fmt.Sprintf(` AND %s = $%d`, c.col, len(args))
		}
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM triggers WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: trigger list: %w", err)
	}
	rows, _ := s.pool.Query(ctx, fmt.Sprintf(`SELECT `+triggerCols+` FROM triggers WHERE `+where+`
		ORDER BY created DESC, seq DESC LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2), append(args, limit, offset)...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.Trigger, error) {
		t, err := s.scanTrigger(r)
		if err != nil {
			return hookd.Trigger{}, err
		}
		return *t, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: trigger list: %w", err)
	}
	return nonNil(out), total, nil
}

// TriggerUpdate replaces every mutable field of t (matched by workspace and
// id) — job, settings, token hashes and secrets included — sets UpdatedAt
// from the store's clock (strictly later than before) and HasSecret, and
// fills CreatedAt and LastUsedAt from the stored trigger. ENotFound when the
// trigger, or its new job, is not the workspace's; EConflict when the token
// hash is used by another trigger.
func (s *Store) TriggerUpdate(ctx context.Context, t *hookd.Trigger) error {
	r, err := s.encodeTrigger(t)
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return err
		}
		return fmt.Errorf("postgres: trigger update: %w", err)
	}
	now := trunc(s.now())
	var jobOK, found bool
	var created, updated, lastUsed *time.Time
	// One statement: the job check (a KEY SHARE lock until commit, so the
	// job cannot be deleted under the trigger) and the update.
	err = s.pool.QueryRow(ctx, `WITH j AS (SELECT id FROM jobs WHERE id = $1 AND workspace_id = $24 FOR KEY SHARE),
		u AS (UPDATE triggers SET job_id = $1, owner_id = $2, name = $3, token_prefix = $4, is_active = $5,
				signature = $6, methods = $7, mode = $8, wait_seconds = $9, rate_limit_per_minute = $10, cooldown_seconds = $11,
				cooldown_mode = $12, dedup_header = $13, input_mapping = $14, created_by_id = $15, token_hash = $16,
				previous_token_hash = $17, previous_token_expires_at = $18, secret = $19, previous_secret = $20,
				previous_secret_expires_at = $21, updated = GREATEST($22, updated + interval '1 microsecond')
			WHERE id = $23 AND workspace_id = $24 AND EXISTS (SELECT 1 FROM j)
			RETURNING created, updated, last_used_at)
		SELECT EXISTS (SELECT 1 FROM j), EXISTS (SELECT 1 FROM u),
			(SELECT created FROM u), (SELECT updated FROM u), (SELECT last_used_at FROM u)`,
		t.JobID, t.OwnerID, t.Name, t.TokenPrefix, t.IsActive, t.Signature, r.methods, t.Mode,
		t.WaitSeconds, t.RateLimitPerMinute, t.CooldownSeconds, t.CooldownMode, t.DedupHeader, r.mapping,
		t.CreatedByID, t.TokenHash, nilBytes(t.PreviousTokenHash), t.PreviousTokenExpiresAt, r.secret,
		r.previous, t.PreviousSecretExpiresAt, now, t.ID, t.WorkspaceID).Scan(&jobOK, &found, &created, &updated, &lastUsed)
	if pgCode(err) == codeUnique {
		return hookd.Errorf(hookd.EConflict, "token already used")
	}
	if err != nil {
		return fmt.Errorf("postgres: trigger update: %w", err)
	}
	if !jobOK {
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	if !found {
		return hookd.Errorf(hookd.ENotFound, "trigger not found")
	}
	t.CreatedAt, t.UpdatedAt, t.LastUsedAt = *created, *updated, lastUsed
	return nil
}

// TriggerDelete removes the trigger with its cooldown window, dedup keys and
// call log; executions it started stay. ENotFound when absent.
func (s *Store) TriggerDelete(ctx context.Context, workspaceID, id string) error {
	var n int
	err := s.pool.QueryRow(ctx, `WITH t AS (DELETE FROM triggers WHERE id = $1 AND workspace_id = $2 RETURNING id),
			c AS (DELETE FROM trigger_cooldowns WHERE workspace_id = $2 AND trigger_id IN (SELECT id FROM t)),
			d AS (DELETE FROM trigger_dedup WHERE workspace_id = $2 AND trigger_id IN (SELECT id FROM t)),
			l AS (DELETE FROM calls WHERE workspace_id = $2 AND trigger_id IN (SELECT id FROM t))
		SELECT count(*) FROM t`, id, workspaceID).Scan(&n)
	if err != nil {
		return fmt.Errorf("postgres: trigger delete: %w", err)
	}
	if n == 0 {
		return hookd.Errorf(hookd.ENotFound, "trigger not found")
	}
	return nil
}
