package hookd

import (
	"context"
	"encoding/json"
	"time"
)

// Store is the persistence contract. Every backend (internal/store/sqlite,
// internal/store/postgres) implements it and passes internal/store/storetest.
//
// Conventions: methods that read one object return an *Error with ENotFound
// when it does not exist or belongs to another workspace (never nil, nil);
// every method that takes a workspaceID filters by it. Lists return the page and
// the total count, newest first.
type Store interface {
	Close() error
	Ping(ctx context.Context) error

	WorkspaceCreate(ctx context.Context, ws *Workspace) error
	WorkspaceGet(ctx context.Context, id string) (*Workspace, error)
	WorkspaceGetByName(ctx context.Context, name string) (*Workspace, error)
	WorkspaceList(ctx context.Context, page Page) ([]Workspace, int, error)

	APIKeyCreate(ctx context.Context, key *APIKey) error
	// APIKeyGetByHash finds a key by the SHA-256 of its secret (any workspace).
	APIKeyGetByHash(ctx context.Context, hash []byte) (*APIKey, error)
	APIKeyList(ctx context.Context, workspaceID string, page Page) ([]APIKey, int, error)
	APIKeyDelete(ctx context.Context, workspaceID, id string) error

	WebhookCreate(ctx context.Context, wh *Webhook) error
	WebhookGet(ctx context.Context, workspaceID, id string) (*Webhook, error)
	// WebhookGetByID reads a webhook of any workspace (for the delivery engine).
	WebhookGetByID(ctx context.Context, id string) (*Webhook, error)
	WebhookList(ctx context.Context, f WebhookFilter) ([]Webhook, int, error)
	// WebhookUpdate replaces every mutable field of wh (matched by workspace and
	// id) and sets UpdatedAt. Deactivating holds the webhook's pending
	// deliveries; reactivating releases them.
	WebhookUpdate(ctx context.Context, wh *Webhook) error
	// WebhookDelete removes the webhook; its pending deliveries become dead and
	// every delivery stays readable by id.
	WebhookDelete(ctx context.Context, workspaceID, id string) error

	// EventPublish commits the event and one pending delivery per matching
	// active webhook before it returns. With an idempotency key already used in
	// the workspace it returns the first event and existing=true, creating
	// nothing. Concurrent calls may be committed together (group commit).
	EventPublish(ctx context.Context, p PublishParams) (evt *Event, existing bool, err error)
	EventGet(ctx context.Context, workspaceID, id string) (*Event, error)

	// DeliveryGet returns one delivery with its attempts, oldest first.
	DeliveryGet(ctx context.Context, workspaceID, id string) (*Delivery, error)
	DeliveryList(ctx context.Context, f DeliveryFilter) ([]Delivery, int, error)
	DeliverySummary(ctx context.Context, workspaceID, webhookID string) (*DeliverySummary, error)
	// DeliveryRetry schedules an extra attempt at now that does not count
	// against the retry budget. EConflict when the webhook was deleted or the
	// delivery is in flight.
	DeliveryRetry(ctx context.Context, workspaceID, id string, now time.Time) (*Delivery, error)

	// DeliveriesClaim marks up to p.Limit due pending deliveries of active
	// webhooks as processing under a lease until p.Now+p.Lease, oldest due
	// first, taking at most p.PerWebhook(webhookID) of each webhook and none of
	// p.Exclude. Claimed rows carry what is needed to send them.
	DeliveriesClaim(ctx context.Context, p ClaimParams) ([]ClaimedDelivery, error)
	// DeliveriesComplete records attempts and applies their outcomes in one
	// transaction.
	DeliveriesComplete(ctx context.Context, results []AttemptResult) error
	// DeliveriesRelease returns claimed deliveries that were never attempted to
	// pending, due at once.
	DeliveriesRelease(ctx context.Context, ids []string) error
	// DeliveriesReap returns processing deliveries whose lease ended before now
	// to pending and reports how many.
	DeliveriesReap(ctx context.Context, now time.Time) (int, error)
	// DeliveriesNextDue returns the earliest next_attempt_at of a claimable
	// delivery, ok=false when there is none.
	DeliveriesNextDue(ctx context.Context) (t time.Time, ok bool, err error)
	// QueueStats counts pending deliveries and the oldest due time among them.
	QueueStats(ctx context.Context) (QueueStats, error)
}

// Page is offset pagination: Limit 1–100, Offset ≥ 0.
type Page struct {
	Limit  int
	Offset int
}

// WebhookFilter selects webhooks of one workspace.
type WebhookFilter struct {
	WorkspaceID     string
	OwnerID         string
	IncludeInactive bool
	Page
}

// DeliveryFilter selects deliveries of one workspace, optionally of one webhook.
type DeliveryFilter struct {
	WorkspaceID string
	WebhookID   string
	EventID     string
	Status      string
	EventType   string
	Page
}

// PublishParams is one event to publish.
type PublishParams struct {
	WorkspaceID    string
	Type           string
	Data           json.RawMessage // a JSON object
	OwnerID        string
	IdempotencyKey string
	Now            time.Time
}

// ClaimParams controls DeliveriesClaim.
type ClaimParams struct {
	Now   time.Time
	Limit int
	Lease time.Duration
	// Owner names the claiming node (for diagnostics and reaping).
	Owner string
	// Exclude lists webhooks to skip entirely (saturated ones).
	Exclude []string
	// PerWebhook returns how many deliveries of a webhook may be claimed now;
	// nil means no limit. It is asked at most once per webhook per claim:
	// the caller may hold the room it gives until the claim returns.
	PerWebhook func(webhookID string) int
	// MaxPerWebhook, when > 0, caps each webhook's deliveries in processing
	// across every node sharing the database (stores shared by several nodes
	// count them; a single-process store may rely on PerWebhook alone).
	MaxPerWebhook int
	// InFlight, when set with MaxPerWebhook, returns how many of Owner's
	// claimed deliveries of a webhook are still being attempted (sent and not
	// yet answered, or about to be sent). The cap then counts Owner's own
	// processing rows as that many instead of reading them: a delivery whose
	// receiver has answered holds no slot while its result is being recorded,
	// so the cap bounds concurrent requests to the endpoint, not commits.
	// Other owners' processing rows still count in full. nil: every
	// processing row counts.
	InFlight func(webhookID string) int
	// Blocked, when set, is set to whether the claim read due deliveries it
	// did not take: their webhooks had no room or were excluded, another
	// claimer took them first, or Limit was reached (how far a claim reads
	// past Limit is the store's business). A claim that took nothing and was
	// not blocked saw nothing due, what was committed after it read the
	// queue aside.
	Blocked *bool
}

// ClaimedDelivery is a delivery taken for an attempt, with its event.
type ClaimedDelivery struct {
	Delivery
	EventData        json.RawMessage
	EventTimestamp   time.Time
	Manual           bool // this attempt was asked for through the API
	WebhookUpdatedAt time.Time
	LeaseUntil       time.Time
}

// Outcome of an attempt, decided by the delivery engine.
const (
	OutcomeDelivered = "delivered" // 2xx
	OutcomeRetry     = "retry"     // pending again at NextAttemptAt
	OutcomeFailed    = "failed"    // budget spent
	OutcomeDead      = "dead"      // 410 Gone: also deactivates the webhook
)

// AttemptResult is one finished attempt and what it means for its delivery.
type AttemptResult struct {
	DeliveryID    string
	WebhookID     string
	Attempt       Attempt
	Outcome       string
	NextAttemptAt time.Time // for OutcomeRetry
	Now           time.Time
}

// QueueStats describes the pending queue.
type QueueStats struct {
	Pending     int
	Processing  int
	OldestDueAt *time.Time // earliest next_attempt_at among claimable pending deliveries
}
