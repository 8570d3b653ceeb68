package hookd

import (
	"encoding/json"
	"time"
)

// Trigger signature schemes (DESIGN §3).
const (
	SchemeHMACSHA256       = "hmac-sha256"
	SchemeGitHub           = "github"
	SchemeStripe           = "stripe"
	SchemeSlack            = "slack"
	SchemeStandardWebhooks = "standard-webhooks"
)

// Trigger modes and cooldown modes.
const (
	ModeAsync = "async"
	ModeSync  = "sync"

	CooldownCoalesce = "coalesce"
	CooldownDrop     = "drop"
)

// Call dispositions: what became of one inbound call.
const (
	DispositionAccepted     = "accepted"
	DispositionUnauthorized = "unauthorized"
	DispositionBadSignature = "bad_signature"
	DispositionRateLimited  = "rate_limited"
	DispositionInactive     = "inactive"
	DispositionDuplicate    = "duplicate"
	DispositionCoalesced    = "coalesced"
	DispositionDropped      = "dropped"
	DispositionRejected     = "rejected" // wrong method, too large, unreadable body
)

// Trigger is an inbound URL bound to one job.
type Trigger struct {
	ID                 string            `json:"id"`
	WorkspaceID        string            `json:"workspace_id"`
	JobID              string            `json:"job_id"`
	OwnerID            string            `json:"owner_id"`
	Name               string            `json:"name"`
	TokenPrefix        string            `json:"token_prefix"`
	IsActive           bool              `json:"is_active"`
	HasSecret          bool              `json:"has_secret"`
	Signature          string            `json:"signature"`
	Methods            []string          `json:"methods"`
	Mode               string            `json:"mode"`
	WaitSeconds        int               `json:"wait_seconds"`
	RateLimitPerMinute int               `json:"rate_limit_per_minute"`
	CooldownSeconds    int               `json:"cooldown_seconds"`
	CooldownMode       string            `json:"cooldown_mode"`
	DedupHeader        string            `json:"dedup_header"`
	InputMapping       map[string]string `json:"input_mapping"`
	LastUsedAt         *time.Time        `json:"last_used_at"`
	CreatedByID        string            `json:"created_by_id"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`

	// TokenHash is the SHA-256 of the token; PreviousTokenHash verifies until
	// PreviousTokenExpiresAt (rotation grace).
	TokenHash              []byte     `json:"-"`
	PreviousTokenHash      []byte     `json:"-"`
	PreviousTokenExpiresAt *time.Time `json:"-"`
	// Secret is the HMAC secret in plain text in memory (encrypted at rest).
	Secret                  string     `json:"-"`
	PreviousSecret          string     `json:"-"`
	PreviousSecretExpiresAt *time.Time `json:"-"`
}

// Secrets returns the secrets that verify a call at now.
func (t *Trigger) Secrets(now time.Time) []string {
	if t.Secret == "" {
		return nil
	}
	s := []string{t.Secret}
	if t.PreviousSecret != "" && t.PreviousSecretExpiresAt != nil && now.Before(*t.PreviousSecretExpiresAt) {
		s = append(s, t.PreviousSecret)
	}
	return s
}

// Job kinds.
const (
	JobHTTP    = "http"
	JobCommand = "command"
	JobEvent   = "event"
	JobGroup   = "group"
)

// Schedule of a job: exactly one of Every (a Go duration such as "1h") or Cron.
type Schedule struct {
	Every string `json:"every,omitempty"`
	Cron  string `json:"cron,omitempty"`
}

// Job is a unit of work started by triggers, schedules and the API.
type Job struct {
	ID             string          `json:"id"`
	WorkspaceID    string          `json:"workspace_id"`
	Name           string          `json:"name"`
	Kind           string          `json:"kind"`
	Config         json.RawMessage `json:"config"`
	Concurrency    int             `json:"concurrency"`
	TimeoutSeconds int             `json:"timeout_seconds"`
	Schedule       *Schedule       `json:"schedule,omitempty"`
	OwnerID        string          `json:"owner_id"`
	// FromConfig marks jobs declared in the server's config file (the only
	// place command jobs may come from unless --allow-command-jobs).
	FromConfig bool       `json:"from_config"`
	LastRunAt  *time.Time `json:"last_run_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Execution statuses and sources.
const (
	ExecQueued    = "queued"
	ExecRunning   = "running"
	ExecSucceeded = "succeeded"
	ExecFailed    = "failed"
	ExecCanceled  = "canceled"

	SourceWebhook  = "webhook"
	SourceSchedule = "schedule"
	SourceAPI      = "api"
	SourceRetry    = "retry"
)

// Execution is one run of a job.
type Execution struct {
	ID          string          `json:"id"`
	WorkspaceID string          `json:"workspace_id"`
	JobID       string          `json:"job_id"`
	TriggerID   string          `json:"trigger_id,omitempty"`
	Source      string          `json:"source"`
	Status      string          `json:"status"`
	Input       json.RawMessage `json:"input"`
	Result      json.RawMessage `json:"result,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	// RunAt is when the execution may start: creation time, or the end of a
	// cooldown window for a trailing coalesced run.
	RunAt time.Time `json:"run_at"`
	// Period is set for scheduled runs: the schedule period it belongs to
	// (unique per job, so one period never runs twice).
	Period     *time.Time `json:"period,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	DurationMS int64      `json:"duration_ms,omitempty"`
}

// Done reports whether the execution reached a final status.
func (e *Execution) Done() bool {
	return e.Status == ExecSucceeded || e.Status == ExecFailed || e.Status == ExecCanceled
}

// Call is one inbound call to a trigger, accepted or not.
type Call struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	TriggerID   string    `json:"trigger_id"`
	Disposition string    `json:"disposition"`
	ExecutionID string    `json:"execution_id,omitempty"`
	IP          string    `json:"ip"`
	Method      string    `json:"method"`
	StatusCode  int       `json:"status_code"`
	Detail      string    `json:"detail,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}
