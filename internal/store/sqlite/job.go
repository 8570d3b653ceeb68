package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

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

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

func scanJob(sc rowScanner) (*hookd.Job, error) {
	var j hookd.Job
	var config string
	var schedule sql.NullString
	var lastRun sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&j.ID, &j.WorkspaceID, &j.Name, &j.Kind, &config, &j.Concurrency, &j.TimeoutSeconds, &schedule,
		&j.OwnerID, &j.FromConfig, &lastRun, &created, &updated); err != nil {
		return nil, err
	}
	if config != "null" {
		j.Config = json.RawMessage(config)
	}
	if schedule.Valid {
		j.Schedule = new(hookd.Schedule)
		if err := json.Unmarshal([]byte(schedule.String), j.Schedule); err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
	}
	j.LastRunAt = fromNullUS(lastRun)
	j.CreatedAt = fromUS(created)
	j.UpdatedAt = fromUS(updated)
	return &j, nil
}

// encodeJob applies the defaults and returns the JSON columns.
func encodeJob(j *hookd.Job) (config string, schedule any, err error) {
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
		b, err := json.Marshal(j.Schedule)
		if err != nil {
			return "", nil, err
		}
		schedule = string(b)
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
	return s.createIn(ctx, j.WorkspaceID, "job", fmt.Sprintf("job name %q is taken", j.Name), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO jobs (`+jobCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			j.ID, j.WorkspaceID, j.Name, j.Kind, config, j.Concurrency, j.TimeoutSeconds, schedule, j.OwnerID,
			boolInt(j.FromConfig), nullUS(j.LastRunAt), us(j.CreatedAt), us(j.UpdatedAt))
		return err
	})
}

// JobGet reads a job of the workspace; ENotFound when absent or of another
// workspace.
func (s *Store) JobGet(ctx context.Context, workspaceID, id string) (*hookd.Job, error) {
	j, err := scanJob(s.rdb.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ? AND workspace_id = ?`, id, workspaceID))
	return getResult(j, err, "job")
}

// JobGetByName reads a job of the workspace by its unique name; ENotFound
// when absent.
func (s *Store) JobGetByName(ctx context.Context, workspaceID, name string) (*hookd.Job, error) {
	j, err := scanJob(s.rdb.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE workspace_id = ? AND name = ?`, workspaceID, name))
	return getResult(j, err, "job")
}

// JobList lists a workspace's jobs newest first with the total count, of one
// owner when f.OwnerID is set.
func (s *Store) JobList(ctx context.Context, f hookd.JobFilter) ([]hookd.Job, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `workspace_id = ?`
	args := []any{f.WorkspaceID}
	if f.OwnerID != "" {
		where += ` AND owner_id = ?`
		args = append(args, f.OwnerID)
	}
	var total int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: job list: %w", err)
	}
	out, err := s.queryJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE `+where+`
		ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: job list: %w", err)
	}
	return out, total, nil
}

// JobsScheduled returns every job with a schedule, of all workspaces, oldest
// first.
func (s *Store) JobsScheduled(ctx context.Context) ([]hookd.Job, error) {
	out, err := s.queryJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE schedule IS NOT NULL ORDER BY created, rowid`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: jobs scheduled: %w", err)
	}
	return out, nil
}

func (s *Store) queryJobs(ctx context.Context, query string, args ...any) ([]hookd.Job, error) {
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hookd.Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	return out, rows.Err()
}

// JobUpdate replaces every mutable field of j (name, kind, config,
// concurrency, timeout, schedule, owner, from_config; matched by workspace and
// id), sets UpdatedAt from the store's clock, and fills CreatedAt and
// LastRunAt from the stored job (last_run_at belongs to the store). EConflict
// when the new name is taken; ENotFound when absent.
func (s *Store) JobUpdate(ctx context.Context, j *hookd.Job) error {
	config, schedule, err := encodeJob(j)
	if err != nil {
		return err
	}
	now := us(s.now())
	found := false
	var created, updated int64
	var lastRun sql.NullInt64
	err = s.write(ctx, func(tx *sql.Tx) error {
		delete(s.jobs, j.ID)
		err := tx.QueryRow(`UPDATE jobs SET name = ?, kind = ?, config = ?, concurrency = ?, timeout_seconds = ?,
				schedule = ?, owner_id = ?, from_config = ?, updated = MAX(?, updated + 1)
			WHERE id = ? AND workspace_id = ? RETURNING created, updated, last_run_at`,
			j.Name, j.Kind, config, j.Concurrency, j.TimeoutSeconds, schedule, j.OwnerID, boolInt(j.FromConfig), now,
			j.ID, j.WorkspaceID).Scan(&created, &updated, &lastRun)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	if isUnique(err) {
		return hookd.Errorf(hookd.EConflict, "job name %q is taken", j.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: job update: %w", err)
	}
	if !found {
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	j.CreatedAt, j.UpdatedAt, j.LastRunAt = fromUS(created), fromUS(updated), fromNullUS(lastRun)
	return nil
}

// JobDelete removes the job and its triggers (with their cooldown windows,
// dedup keys and call log); its queued executions become canceled (finished
// now by the store's clock). Running and finished executions stay readable
// by id. ENotFound when absent.
func (s *Store) JobDelete(ctx context.Context, workspaceID, id string) error {
	now := us(s.now())
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		clear(s.trigs) // its triggers go with it
		delete(s.jobs, id)
		rows, err := tx.Query(`SELECT id FROM triggers WHERE workspace_id = ? AND job_id = ?`, workspaceID, id)
		if err != nil {
			return err
		}
		var triggers []string
		for rows.Next() {
			var tid string
			if err := rows.Scan(&tid); err != nil {
				rows.Close()
				return err
			}
			triggers = append(triggers, tid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, tid := range triggers {
			if _, err := deleteTrigger(tx, workspaceID, tid); err != nil {
				return err
			}
		}
		res, err := tx.Exec(`DELETE FROM jobs WHERE id = ? AND workspace_id = ?`, id, workspaceID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = tx.Exec(`UPDATE executions SET status = 'canceled', reason = 'job deleted', finished_at = ?
			WHERE workspace_id = ? AND job_id = ? AND status = 'queued'`, now, workspaceID, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: job delete: %w", err)
	}
	if n == 0 {
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	return nil
}
