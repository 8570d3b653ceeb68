package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// *Store implements the inbound half of the contract (triggers, calls, jobs,
// executions) in trigger.go, call.go, job.go and execution.go.
var _ hookd.InboundStore = (*Store)(nil)

// Job defaults (DESIGN §4), applied when a job is stored with zero values.
const (
	defaultJobConcurrency = 1
	defaultJobTimeout     = 600
)

const jobCols = `id, workspace_id, name, kind, config, concurrency, timeout_seconds, schedule, owner_id,
	from_config, last_run_at, created, updated`

func scanJob(sc pgx.Row) (*hookd.Job, error) {
	var j hookd.Job
	var config, schedule []byte
	if err := sc.Scan(&j.ID, &j.WorkspaceID, &j.Name, &j.Kind, &config, &j.Concurrency, &j.TimeoutSeconds, &schedule,
		&j.OwnerID, &j.FromConfig, &j.LastRunAt, &j.CreatedAt, &j.UpdatedAt); err != nil {
		return nil, err
	}
	if string(config) != "null" {
		j.Config = json.RawMessage(config)
	}
	if schedule != nil {
		j.Schedule = new(hookd.Schedule)
		if err := json.Unmarshal(schedule, j.Schedule); err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
	}
	return &j, nil
}

// encodeJob applies the defaults and returns the JSON columns.
func encodeJob(j *hookd.Job) (config string, schedule []byte, err error) {
	if j.Concurrency <= 0 {
		j.Concurrency = defaultJobConcurrency
	}
	if j.TimeoutSeconds <= 0 {
		j.TimeoutSeconds = defaultJobTimeout
	}
	config = "null"
	if len(j.Config) > 0 {
		if !json.Valid(j.Config) {
			return "", nil, hookd.FieldErrorf("config", "must be JSON")
		}
		config = string(j.Config)
	}
	if j.Schedule != nil {
		if schedule, err = json.Marshal(j.Schedule); err != nil {
			return "", nil, err
		}
	}
	return config, schedule, nil
}

// JobCreate inserts j, filling ID, CreatedAt/UpdatedAt (the store's clock
// when zero), Concurrency (1) and TimeoutSeconds (600) when zero. EConflict
// when the name is taken in the workspace; ENotFound when the workspace does
// not exist.
func (s *Store) JobCreate(ctx context.Context, j *hookd.Job) error {
	if j.ID == "" {
		j.ID = hookd.NewID(hookd.PrefixJob)
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = s.now()
	}
	j.CreatedAt = trunc(j.CreatedAt)
	j.UpdatedAt = j.CreatedAt
	j.LastRunAt = truncPtr(j.LastRunAt)
	config, schedule, err := encodeJob(j)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO jobs (`+jobCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		j.ID, j.WorkspaceID, j.Name, j.Kind, config, j.Concurrency, j.TimeoutSeconds, schedule, j.OwnerID,
		j.FromConfig, j.LastRunAt, j.CreatedAt, j.UpdatedAt)
	switch pgCode(err) {
	case "":
		return nil
	case codeUnique:
		return hookd.Errorf(hookd.EConflict, "job name %q is taken", j.Name)
	case codeForeignKey:
		return hookd.Errorf(hookd.ENotFound, "workspace not found")
	}
	return fmt.Errorf("postgres: job create: %w", err)
}

// JobGet reads a job of the workspace; ENotFound when absent or of another
// workspace.
func (s *Store) JobGet(ctx context.Context, workspaceID, id string) (*hookd.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1 AND workspace_id = $2`, id, workspaceID))
	return getResult(j, err, "job")
}

// JobGetByName reads a job of the workspace by its unique name; ENotFound
// when absent.
func (s *Store) JobGetByName(ctx context.Context, workspaceID, name string) (*hookd.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE workspace_id = $1 AND name = $2`, workspaceID, name))
	return getResult(j, err, "job")
}

// JobList lists a workspace's jobs newest first (ties in insertion order,
// newest first) with the total count, of one owner when f.OwnerID is set.
func (s *Store) JobList(ctx context.Context, f hookd.JobFilter) ([]hookd.Job, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `workspace_id = $1`
	args := []any{f.WorkspaceID}
	if f.OwnerID != "" {
		args = append(args, f.OwnerID)
		where += ` AND owner_id = $2`
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: job list: %w", err)
	}
	out, err := s.queryJobs(ctx, fmt.Sprintf(`SELECT `+jobCols+` FROM jobs WHERE `+where+`
		ORDER BY created DESC, seq DESC LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2), append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: job list: %w", err)
	}
	return out, total, nil
}

// JobsScheduled returns every job with a schedule, of all workspaces, oldest
// first.
func (s *Store) JobsScheduled(ctx context.Context) ([]hookd.Job, error) {
	out, err := s.queryJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE schedule IS NOT NULL ORDER BY created, seq`)
	if err != nil {
		return nil, fmt.Errorf("postgres: jobs scheduled: %w", err)
	}
	return out, nil
}

func (s *Store) queryJobs(ctx context.Context, query string, args ...any) ([]hookd.Job, error) {
	rows, _ := s.pool.Query(ctx, query, args...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.Job, error) {
		j, err := scanJob(r)
		if err != nil {
			return hookd.Job{}, err
		}
		return *j, nil
	})
	return nonNil(out), err
}

// JobUpdate replaces every mutable field of j (name, kind, config,
// concurrency, timeout, schedule, owner, from_config; matched by workspace and
// id), sets UpdatedAt from the store's clock (strictly later than before),
// and fills CreatedAt and LastRunAt from the stored job (last_run_at belongs
// to the store). EConflict when the new name is taken; ENotFound when absent.
func (s *Store) JobUpdate(ctx context.Context, j *hookd.Job) error {
	config, schedule, err := encodeJob(j)
	if err != nil {
		return err
	}
	now := trunc(s.now())
	var created, updated time.Time
	var lastRun *time.Time
	err = s.pool.QueryRow(ctx, `UPDATE jobs SET name = $1, kind = $2, config = $3, concurrency = $4, timeout_seconds = $5,
			schedule = $6, owner_id = $7, from_config = $8, updated = GREATEST($9, updated + interval '1 microsecond')
		WHERE id = $10 AND workspace_id = $11 RETURNING created, updated, last_run_at`,
		j.Name, j.Kind, config, j.Concurrency, j.TimeoutSeconds, schedule, j.OwnerID, j.FromConfig, now,
		j.ID, j.WorkspaceID).Scan(&created, &updated, &lastRun)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return hookd.Errorf(hookd.ENotFound, "job not found")
	case pgCode(err) == codeUnique:
		return hookd.Errorf(hookd.EConflict, "job name %q is taken", j.Name)
	case err != nil:
		return fmt.Errorf("postgres: job update: %w", err)
	}
	j.CreatedAt, j.UpdatedAt, j.LastRunAt = created, updated, lastRun
	return nil
}

// JobDelete removes the job and its triggers (with their cooldown windows,
// dedup keys and call log); its queued executions become canceled (finished
// now by the store's clock). Running and finished executions stay readable
// by id. ENotFound when absent.
//
// The job row is locked first: a claim holding it (another node starting
// the job's runs) finishes before, and one coming after finds no job.
func (s *Store) JobDelete(ctx context.Context, workspaceID, id string) error {
	now := trunc(s.now())
	found := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM jobs WHERE id = $1 AND workspace_id = $2 FOR UPDATE`, id, workspaceID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		b := &pgx.Batch{}
		b.Queue(`WITH t AS (DELETE FROM triggers WHERE workspace_id = $1 AND job_id = $2 RETURNING id),
				c AS (DELETE FROM trigger_cooldowns WHERE workspace_id = $1 AND trigger_id IN (SELECT id FROM t)),
				d AS (DELETE FROM trigger_dedup WHERE workspace_id = $1 AND trigger_id IN (SELECT id FROM t))
			DELETE FROM calls WHERE workspace_id = $1 AND trigger_id IN (SELECT id FROM t)`, workspaceID, id)
		b.Queue(`DELETE FROM jobs WHERE id = $1 AND workspace_id = $2`, id, workspaceID)
		b.Queue(`UPDATE executions SET status = 'canceled', reason = 'job deleted', finished_at = $3
			WHERE workspace_id = $1 AND job_id = $2 AND status = 'queued'`, workspaceID, id, now)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: job delete: %w", err)
	}
	if !found {
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	// Runs waiting behind the job's concurrency elsewhere are gone: a claim
	// that skipped it may look again.
	s.wake(hookd.WakeExecutions)
	return nil
}
