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
	// else a new queued execution (or a running one, see
	// CallAcceptParams.Start). The call, the execution, the dedup key and the
	// trigger's last_used_at (kept to the second: a call within a second of
	// the stored time leaves it) are committed before it returns.
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
	// and publishes the run's event (p.Event) and the outcome event (when
	// p.Outcome is set) in the same transaction.
	ExecutionFinish(ctx context.Context, p ExecFinishParams) (*Event, error)
	// ExecutionsInterrupt fails running executions whose lease ended before
	// now with reason "interrupted", publishing each one's outcome event
	// (built by outcome), and returns them.
	ExecutionsInterrupt(ctx context.Context, now time.Time, outcome func(*Execution) *PublishParams) ([]Execution, error)
	// ExecutionsRenew moves to until the leases of the running executions
	// among ids that owner holds, and returns how many it renewed (the
	// others have ended, or were failed as interrupted).
	ExecutionsRenew(ctx context.Context, owner string, ids []string, until time.Time) (int, error)
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
	// InputValid says Input is valid JSON as it is (trigger.BuildInput's
	// result always is), so the store need not check it again.
	InputValid bool
	Now        time.Time
	// Start, when set, asks that a new run due at once start in the same
	// transaction, sparing the job engine a claim: when its job has room
	// under its concurrency and no earlier due run of the job waits, the run
	// is stored running as ExecutionsClaim would start it (StartedAt, a
	// lease held by Start.Owner, the job's last_run_at) and returned in
	// CallAcceptResult.Started. A store may ignore it; the run is then
	// queued as without it.
	Start *ExecStart
}

// ExecStart is who starts a run at once and for how long at least it holds
// its lease (as ExecClaimParams' Owner and Lease).
type ExecStart struct {
	Owner string
	Lease time.Duration
	// Inline, when set, may end the run in the same transaction: given the
	// started run and its job, it returns how the run ends, as
	// ExecutionFinish would record it (Status, Result or Reason, Event and
	// OnEvent, Outcome; Now is the start), or nil to leave it running. It is
	// for runs that are nothing but writes to the store, such as an event
	// job's publish. It runs inside the store's transaction, so it must be
	// quick and must not use the store.
	Inline func(c *ClaimedExecution) *ExecFinishParams
}

// CallAcceptResult says what became of an accepted call.
type CallAcceptResult struct {
	Disposition string // accepted, duplicate, coalesced, dropped
	Execution   *Execution
	CallID      string
	// Started is the new run with its job when CallAcceptParams.Start
	// started it (Execution is then the same run); it is already finished
	// (succeeded, failed or canceled) when ExecStart.Inline ended it.
	Started *ClaimedExecution
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
	// Deliveries, for a run that ExecStart.Inline ended, counts the
	// deliveries its events made (its own event's and its outcome's): with
	// none, the outbound side has nothing new to send.
	Deliveries int
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
	// Event, for a run of an event job that succeeded, is the job's event
	// (DESIGN §4): published in the same transaction, first, so that a run's
	// event and its end are recorded together or not at all. OnEvent, when
	// set, is then called with the published event to fill in Result and
	// Outcome; it runs inside the store's transaction, so it must be quick
	// and must not use the store.
	Event   *PublishParams
	OnEvent func(evt *Event, p *ExecFinishParams)
}
