package client

import (
	"encoding/json"
	"time"
)

// List is one page of a list answer, newest first.
type List[T any] struct {
	Data   []T `json:"data"`
	Total  int `json:"total"` // objects matching the filter, over all pages
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// Workspace is a tenant; nothing crosses workspaces.
type Workspace struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is a management credential of a workspace. Key (the "hk_…" secret)
// is only set in the answer that creates it.
type APIKey struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspace_id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Scopes      []string   `json:"scopes"`
	Operator    bool       `json:"operator"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
	Key         string     `json:"key,omitempty"`
}

// Webhook is an outbound subscriber endpoint. Secret ("whsec_…") is only set
// in the answers of CreateWebhook and RotateWebhookSecret.
type Webhook struct {
	ID                 string            `json:"id"`
	WorkspaceID        string            `json:"workspace_id"`
	URL                string            `json:"url"`
	Events             []string          `json:"events"`
	Filters            map[string]any    `json:"filters"`
	OwnerID            string            `json:"owner_id"`
	Description        string            `json:"description"`
	MaxAttempts        int               `json:"max_attempts"`
	RateLimitPerSecond int               `json:"rate_limit_per_second"` // 0 = unlimited
	Headers            map[string]string `json:"headers"`
	Active             bool              `json:"active"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	Secret             string            `json:"secret,omitempty"`
}

// Event is something that happened, fanned out to matching webhooks.
// Deliveries holds the ids of the deliveries it made.
type Event struct {
	ID             string          `json:"id"`
	WorkspaceID    string          `json:"workspace_id,omitempty"`
	Type           string          `json:"type"`
	Data           json.RawMessage `json:"data,omitempty"`
	OwnerID        string          `json:"owner_id,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Timestamp      time.Time       `json:"timestamp"`
	Deliveries     []string        `json:"deliveries"`
}

// Delivery statuses.
const (
	DeliveryPending    = "pending"
	DeliveryProcessing = "processing"
	DeliveryDelivered  = "delivered"
	DeliveryFailed     = "failed"
	DeliveryDead       = "dead"
)

// Delivery is one event to one webhook. AttemptList is filled by
// GetDelivery (oldest attempt first); lists leave it empty.
type Delivery struct {
	ID             string     `json:"id"`
	WorkspaceID    string     `json:"workspace_id"`
	WebhookID      string     `json:"webhook_id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`      // every attempt made, manual ones included
	AutoAttempts   int        `json:"auto_attempts"` // attempts counted against max_attempts
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	AttemptList    []Attempt  `json:"attempt_list,omitempty"`
}

// Attempt is one HTTP try of a delivery.
type Attempt struct {
	ID           string    `json:"id"`
	DeliveryID   string    `json:"delivery_id"`
	Number       int       `json:"number"`
	Manual       bool      `json:"manual"` // asked for with RetryDelivery
	StartedAt    time.Time `json:"started_at"`
	DurationMS   int64     `json:"duration_ms"`
	StatusCode   int       `json:"status_code,omitempty"` // 0 when no answer came
	Error        string    `json:"error,omitempty"`
	ResponseBody string    `json:"response_body,omitempty"` // first 4 KiB
}

// DeliverySummary counts a webhook's deliveries by status.
type DeliverySummary struct {
	Total      int `json:"total"`
	Pending    int `json:"pending"`
	Processing int `json:"processing"`
	Delivered  int `json:"delivered"`
	Failed     int `json:"failed"`
	Dead       int `json:"dead"`
}

// Trigger is an inbound URL bound to one job. Token and URL are only set in
// the answers of CreateTrigger and RotateTriggerToken; Secret only when the
// server generated it (create with GenerateSecret, RotateTriggerSecret).
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
	Token              string            `json:"token,omitempty"`
	URL                string            `json:"url,omitempty"`
	Secret             string            `json:"secret,omitempty"`
}

// Schedule of a job: exactly one of Every (a Go duration such as "1h") or Cron
// ("0 6 * * *").
type Schedule struct {
	Every string `json:"every,omitempty"`
	Cron  string `json:"cron,omitempty"`
}

// Job kinds.
const (
	JobHTTP    = "http"
	JobCommand = "command"
	JobEvent   = "event"
	JobGroup   = "group"
)

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
	FromConfig     bool            `json:"from_config"` // declared in the server's config file
	LastRunAt      *time.Time      `json:"last_run_at,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
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
	Input       json.RawMessage `json:"input,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	DurationMS  int64           `json:"duration_ms,omitempty"`
}

// Done reports whether the execution reached a final status.
func (e *Execution) Done() bool {
	return e.Status == ExecSucceeded || e.Status == ExecFailed || e.Status == ExecCanceled
}

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
)

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

// TriggerResponse is the answer of a trigger call or a job run: 202 with
// status "queued" (or still "running" after the wait), 200 with the Result of
// a succeeded run, 500 with the Reason of a failed one; "coalesced" and
// "dropped" under a cooldown. HTTPStatus is the answer's status code.
type TriggerResponse struct {
	Success     bool            `json:"success"`
	ExecutionID string          `json:"execution_id"`
	Status      string          `json:"status"`
	Result      json.RawMessage `json:"result,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	HTTPStatus  int             `json:"-"`
}

// Health is the answer of /healthz and /readyz. Status is the body's status
// member, or its text when it is not JSON.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}
