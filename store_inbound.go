package hookd

import (
	"context"
	"encoding/json"
	"time"
)

// InboundStore persists triggers, jobs, executions and the call log. It is
// part of Store; the same conventions hold (ENotFound for missing or foreign
// objects, workspace filtering, newest first).
type InboundStore interface {
	TriggerCreate(ctx context.Context, t *Trigger) error
	TriggerGet(ctx context.Context, workspaceID, id string) (*Trigger, error)
	// TriggerGetByTokenHash finds the trigger whose current token hashes to
	// hash, or whose previous token does and is still within its grace at now.
	TriggerGetByTokenHash(ctx context.Context, hash []byte, now time.Time) (*Trigger, error)
	TriggerList(ctx context.Context, f TriggerFilter) ([]Trigger, int, error)
	// TriggerUpdate replaces every mutable field (token hashes and secrets
	// included) and sets UpdatedAt.
	TriggerUpdate(ctx context.Context, t *Trigger) error
	TriggerDelete(ctx context.Context, workspaceID, id string) error

	// CallAccept records one call that passed every check up to dedup and
	// decides, in one transaction: a duplicate of p.DedupKey within 24 h →
	// DispositionDuplicate pointing at the first execution; else the cooldown
	// (DESIGN §3: coalesce folds the call into the window's one trailing run,
	// updating its input to p.Input; drop points at the window's leading run);
	// else a new queued execution. The call, the execution, the dedup key and
	// the trigger's last_used_at are committed before it returns.
	CallAccept(ctx context.Context, p CallAcceptParams) (*CallAcceptResult, error)
	// CallRecord stores a refused call (no execution).
	CallRecord(ctx context.Context, c *Call) error
	CallList(ctx context.Context, f CallFilter) ([]Call, int, error)

	JobCreate(ctx context.Context, j *Job) error
	JobGet(ctx context.Context, workspaceID, id string) (*Job, error)
	JobGetByName(ctx context.Context, workspaceID, name string) (*Job, error)
	JobList(ctx context.Context, f JobFilter) ([]Job, int, error)
	JobUpdate(ctx context.Context, j *Job) error
	// JobDelete removes the job and its triggers; queued executions become canceled.
	JobDelete(ctx context.Context, workspaceID, id string) error
	// JobsScheduled returns every job with a schedule (all workspaces).
	JobsScheduled(ctx context.Context) ([]Job, error)

	// ExecutionCreate inserts a queued execution. With Period set, a second
	// execution for the same job and period is refused with EConflict.
	ExecutionCreate(ctx context.Context, e *Execution) error
	ExecutionGet(ctx context.Context, workspaceID, id string) (*Execution, error)
	ExecutionList(ctx context.Context, f ExecutionFilter) ([]Execution, int, error)
	// ExecutionsClaim starts up to p.Limit queued executions whose RunAt has
	// come, oldest first, never letting a job's running count exceed its
	// concurrency (counted in the database, so across nodes); sets them
	// running with StartedAt and a lease, and the job's last_run_at.
	ExecutionsClaim(ctx context.Context, p ExecClaimParams) ([]ClaimedExecution, error)
	// ExecutionFinish sets the final status, result or reason and duration,
	// and publishes the outcome event (when p.Outcome is set) in the same
	// transaction.
	ExecutionFinish(ctx context.Context, p ExecFinishParams) (*Event, error)
	// ExecutionsInterrupt fails running executions whose lease ended before
	// now with reason "interrupted", publishing each one's outcome event
	// (built by outcome), and returns them.
	ExecutionsInterrupt(ctx context.Context, now time.Time, outcome func(*Execution) *PublishParams) ([]Execution, error)
	// ExecutionsNextRunAt returns the earliest RunAt of a queued execution.
	ExecutionsNextRunAt(ctx context.Context) (time.Time, bool, error)
}

// TriggerFilter selects triggers of one workspace.
type TriggerFilter struct {
	WorkspaceID     string
	OwnerID         string
	JobID           string
	IncludeInactive bool
	Page
}

// CallFilter selects a trigger's calls.
type CallFilter struct {
	WorkspaceID string
	TriggerID   string
	Disposition string
	Page
}

// JobFilter selects jobs of one workspace.
type JobFilter struct {
	WorkspaceID string
	OwnerID     string
	Page
}

// ExecutionFilter selects executions of one workspace.
type ExecutionFilter struct {
	WorkspaceID string
	JobID       string
	TriggerID   string
	Status      string
	Source      string
	Page
}

// CallAcceptParams is one call that passed the checks.
type CallAcceptParams struct {
	Trigger  *Trigger // id, workspace, job, cooldown settings
	Call     Call     // IP, method, status filled by the store from the disposition
	DedupKey string   // "" = no dedup
	Input    json.RawMessage
	Now      time.Time
}

// CallAcceptResult says what became of an accepted call.
type CallAcceptResult struct {
	Disposition string // accepted, duplicate, coalesced, dropped
	Execution   *Execution
	CallID      string
}

// ExecClaimParams controls ExecutionsClaim.
type ExecClaimParams struct {
	Now   time.Time
	Limit int
	Lease time.Duration
	Owner string
}

// ClaimedExecution is an execution being started, with its job.
type ClaimedExecution struct {
	Execution
	Job Job
}

// ExecFinishParams finishes one execution.
type ExecFinishParams struct {
	WorkspaceID string
	ID          string
	Status      string // succeeded, failed, canceled
	Result      json.RawMessage
	Reason      string
	Now         time.Time
	Outcome     *PublishParams // job.succeeded / job.failed, published atomically
}
