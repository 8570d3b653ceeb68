// Package hookd holds the domain of the hookd webhook platform: workspaces, API
// keys, outbound webhooks, events, deliveries and their attempts, inbound
// triggers, jobs and executions; the Store interface every database backend
// implements; and the one Error type. It imports only the standard library and
// the id generator.
package hookd

import (
	"crypto/sha256"
	"encoding/json"
	"time"
)

// Version is reported in User-Agent and /healthz. Set by the linker.
var Version = "0.1.0"

// ID prefixes (DESIGN §1).
const (
	PrefixWorkspace = "ws_"
	PrefixAPIKey    = "key_"
	PrefixWebhook   = "wh_"
	PrefixEvent     = "evt_"
	PrefixDelivery  = "dlv_"
	PrefixAttempt   = "att_"
	PrefixTrigger   = "trg_"
	PrefixJob       = "job_"
	PrefixExecution = "exe_"
	PrefixCall      = "call_"
)

// NewID returns prefix plus a new KSUID (sortable by creation time), as
// NewIDAt(prefix, time.Now()).
func NewID(prefix string) string { return NewIDAt(prefix, time.Now()) }

// HashToken returns the SHA-256 of a secret token (API key, trigger token). Only
// hashes are stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Scopes of an API key.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAdmin = "admin"
)

// Workspace is a tenant; nothing crosses workspaces.
type Workspace struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is a management credential of a workspace. The secret (hk_…) is shown
// once at creation; only its SHA-256 is stored.
type APIKey struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspace_id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"` // first characters of the key, for recognising it
	Scopes      []string   `json:"scopes"`
	Operator    bool       `json:"operator"` // may manage workspaces
	Hash        []byte     `json:"-"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
}

// HasScope reports whether the key may act with scope s (admin ⊃ write ⊃ read).
func (k *APIKey) HasScope(s string) bool {
	rank := map[string]int{ScopeRead: 1, ScopeWrite: 2, ScopeAdmin: 3}
	need := rank[s]
	for _, have := range k.Scopes {
		if rank[have] >= need {
			return true
		}
	}
	return false
}

// Webhook is an outbound subscriber endpoint.
type Webhook struct {
	ID                 string            `json:"id"`
	WorkspaceID        string            `json:"workspace_id"`
	URL                string            `json:"url"`
	Events             []string          `json:"events"`  // patterns: "*", "job.*", exact
	Filters            map[string]any    `json:"filters"` // top-level data field → required value
	OwnerID            string            `json:"owner_id"`
	Description        string            `json:"description"`
	MaxAttempts        int               `json:"max_attempts"`
	RateLimitPerSecond int               `json:"rate_limit_per_second"` // 0 = unlimited
	Headers            map[string]string `json:"headers"`
	Active             bool              `json:"active"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`

	// Secret is the signing secret (whsec_…) in plain text in memory; stores
	// encrypt it at rest. PreviousSecret keeps signing until PreviousSecretExpiresAt.
	Secret                  string     `json:"-"`
	PreviousSecret          string     `json:"-"`
	PreviousSecretExpiresAt *time.Time `json:"-"`
}

// DefaultMaxAttempts is a webhook's retry budget when none is given.
const DefaultMaxAttempts = 8

// Secrets returns the secrets that sign a delivery at now: the current one and,
// during a rotation grace, the previous one.
func (w *Webhook) Secrets(now time.Time) []string {
	s := []string{w.Secret}
	if w.PreviousSecret != "" && w.PreviousSecretExpiresAt != nil && now.Before(*w.PreviousSecretExpiresAt) {
		s = append(s, w.PreviousSecret)
	}
	return s
}

// Event is something that happened, fanned out to matching webhooks.
type Event struct {
	ID             string          `json:"id"`
	WorkspaceID    string          `json:"workspace_id"`
	Type           string          `json:"type"`
	Data           json.RawMessage `json:"data"`
	OwnerID        string          `json:"owner_id,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Timestamp      time.Time       `json:"timestamp"`
	DeliveryIDs    []string        `json:"deliveries"`
	// Claimed counts the deliveries of a publish that its store claimed for
	// this node's engine as it committed them (DirectClaimer): they need no
	// wake-up.
	Claimed int `json:"-"`
}

// Delivery statuses.
const (
	DeliveryPending    = "pending"
	DeliveryProcessing = "processing"
	DeliveryDelivered  = "delivered"
	DeliveryFailed     = "failed"
	DeliveryDead       = "dead"
)

// DeliveryStatuses lists every status in lifecycle order.
var DeliveryStatuses = []string{DeliveryPending, DeliveryProcessing, DeliveryDelivered, DeliveryFailed, DeliveryDead}

// Delivery is one event to one webhook.
type Delivery struct {
	ID             string     `json:"id"`
	WorkspaceID    string     `json:"workspace_id"`
	WebhookID      string     `json:"webhook_id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`      // every attempt made, manual ones included
	AutoAttempts   int        `json:"auto_attempts"` // attempts that count against max_attempts
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
	Manual       bool      `json:"manual"`
	StartedAt    time.Time `json:"started_at"`
	DurationMS   int64     `json:"duration_ms"`
	StatusCode   int       `json:"status_code,omitempty"`
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

// Add counts n deliveries of status s.
func (s *DeliverySummary) Add(status string, n int) {
	s.Total += n
	switch status {
	case DeliveryPending:
		s.Pending += n
	case DeliveryProcessing:
		s.Processing += n
	case DeliveryDelivered:
		s.Delivered += n
	case DeliveryFailed:
		s.Failed += n
	case DeliveryDead:
		s.Dead += n
	}
}

// Sealer encrypts secrets at rest (HMAC secrets of webhooks and triggers).
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}
