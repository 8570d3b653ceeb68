package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// DefaultGrace asks a rotation for the server's default grace period: 86400 s
// for webhook secrets, 0 for trigger tokens and secrets.
const DefaultGrace = -1

// WebhookCreate is the body of CreateWebhook. Only URL is required; zero
// values are left out and get the server's defaults (events "*", max_attempts
// 8, no rate limit).
type WebhookCreate struct {
	URL                string            `json:"url"`
	Events             []string          `json:"events,omitempty"`  // patterns: "*", "job.*", exact types
	Filters            map[string]any    `json:"filters,omitempty"` // top-level data field → required value
	OwnerID            string            `json:"owner_id,omitempty"`
	Description        string            `json:"description,omitempty"`
	MaxAttempts        int               `json:"max_attempts,omitempty"`          // 1–20
	RateLimitPerSecond int               `json:"rate_limit_per_second,omitempty"` // 0 = unlimited
	Headers            map[string]string `json:"headers,omitempty"`               // sent with every delivery
}

// WebhookUpdate is the body of UpdateWebhook: only the fields that are set
// (non-nil) are sent and changed. A pointer to an empty slice or map clears
// that field.
type WebhookUpdate struct {
	Active             *bool              `json:"active,omitempty"`
	URL                *string            `json:"url,omitempty"`
	Events             *[]string          `json:"events,omitempty"`
	Filters            *map[string]any    `json:"filters,omitempty"`
	OwnerID            *string            `json:"owner_id,omitempty"`
	Description        *string            `json:"description,omitempty"`
	MaxAttempts        *int               `json:"max_attempts,omitempty"`
	RateLimitPerSecond *int               `json:"rate_limit_per_second,omitempty"`
	Headers            *map[string]string `json:"headers,omitempty"`
}

// WebhookFilter selects the webhooks ListWebhooks returns.
type WebhookFilter struct {
	OwnerID         string
	IncludeInactive bool // inactive webhooks are hidden unless set
	Limit           int  // 1–100, 0 = server default (20)
	Offset          int
}

// DeliveryFilter selects the deliveries ListWebhookDeliveries returns.
type DeliveryFilter struct {
	Status    string // DeliveryPending, …
	EventType string
	Limit     int
	Offset    int
}

// CreateWebhook registers a subscriber endpoint. The answer carries Secret,
// shown only here.
func (c *Client) CreateWebhook(ctx context.Context, p WebhookCreate) (*Webhook, error) {
	var out Webhook
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/webhooks", body: p}, &out)
	return ptr(&out, err)
}

// ListWebhooks returns one page of the workspace's webhooks, newest first.
func (c *Client) ListWebhooks(ctx context.Context, f WebhookFilter) (*List[Webhook], error) {
	q := Page{Limit: f.Limit, Offset: f.Offset}.values()
	setStr(q, "owner_id", f.OwnerID)
	setBool(q, "include_inactive", f.IncludeInactive)
	var out List[Webhook]
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/webhooks", query: q}, &out)
	return ptr(&out, err)
}

// GetWebhook reads one webhook (without its secret).
func (c *Client) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var out Webhook
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/webhooks/" + esc(id)}, &out)
	return ptr(&out, err)
}

// UpdateWebhook changes the fields set in p and returns the webhook as stored.
// Deactivating holds its pending deliveries; reactivating releases them.
func (c *Client) UpdateWebhook(ctx context.Context, id string, p WebhookUpdate) (*Webhook, error) {
	var out Webhook
	err := c.do(ctx, request{method: http.MethodPatch, path: "/v1/webhooks/" + esc(id), body: p}, &out)
	return ptr(&out, err)
}

// DeleteWebhook removes a webhook. Its pending deliveries become dead; every
// delivery stays readable with GetDelivery.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/webhooks/" + esc(id)}, nil)
}

// RotateWebhookSecret makes a new signing secret, returned once in the
// answer's Secret. The old secret keeps signing beside it for graceSeconds
// (DefaultGrace: the server's default, 86400; 0 stops it at once).
func (c *Client) RotateWebhookSecret(ctx context.Context, id string, graceSeconds int) (*Webhook, error) {
	var out Webhook
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/webhooks/" + esc(id) + "/rotate-secret", body: graceBody(graceSeconds)}, &out)
	return ptr(&out, err)
}

// ListWebhookDeliveries returns one page of a webhook's deliveries, newest
// first, without their attempts.
func (c *Client) ListWebhookDeliveries(ctx context.Context, webhookID string, f DeliveryFilter) (*List[Delivery], error) {
	q := Page{Limit: f.Limit, Offset: f.Offset}.values()
	setStr(q, "status", f.Status)
	setStr(q, "event_type", f.EventType)
	var out List[Delivery]
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/webhooks/" + esc(webhookID) + "/deliveries", query: q}, &out)
	return ptr(&out, err)
}

// WebhookDeliverySummary counts a webhook's deliveries by status.
func (c *Client) WebhookDeliverySummary(ctx context.Context, webhookID string) (*DeliverySummary, error) {
	var out DeliverySummary
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/webhooks/" + esc(webhookID) + "/deliveries/summary"}, &out)
	return ptr(&out, err)
}

// GetDelivery reads one delivery with its attempts (AttemptList, oldest
// first).
func (c *Client) GetDelivery(ctx context.Context, id string) (*Delivery, error) {
	var out Delivery
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/deliveries/" + esc(id)}, &out)
	return ptr(&out, err)
}

// RetryDelivery asks for one more attempt now; it does not use up the
// automatic retry budget. A 409 (IsConflict) answers a delivery whose webhook
// was deleted or whose attempt is in flight.
func (c *Client) RetryDelivery(ctx context.Context, id string) (*Delivery, error) {
	var out Delivery
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/deliveries/" + esc(id) + "/retry", body: struct{}{}}, &out)
	return ptr(&out, err)
}

// PublishEvent publishes an event of eventType with data (a JSON object: a
// map, a struct, or json.RawMessage; nil sends {}). ownerID and
// idempotencyKey are optional; the key is sent both in the body and as the
// Idempotency-Key header, and publishing it again returns the first event
// without making new deliveries. The answer carries the delivery ids.
func (c *Client) PublishEvent(ctx context.Context, eventType string, data any, ownerID, idempotencyKey string) (*Event, error) {
	if data == nil {
		data = json.RawMessage("{}")
	}
	body := struct {
		Type           string `json:"type"`
		Data           any    `json:"data"`
		OwnerID        string `json:"owner_id,omitempty"`
		IdempotencyKey string `json:"idempotency_key,omitempty"`
	}{eventType, data, ownerID, idempotencyKey}
	r := request{method: http.MethodPost, path: "/v1/events", body: body}
	if idempotencyKey != "" {
		r.header = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	var out Event
	err := c.do(ctx, r, &out)
	return ptr(&out, err)
}

// GetEvent reads one event with its delivery ids.
func (c *Client) GetEvent(ctx context.Context, id string) (*Event, error) {
	var out Event
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/events/" + esc(id)}, &out)
	return ptr(&out, err)
}

// graceBody is the body of a rotation.
func graceBody(graceSeconds int) any {
	if graceSeconds < 0 {
		return struct{}{}
	}
	return struct {
		GraceSeconds int `json:"grace_seconds"`
	}{graceSeconds}
}

// ptr returns v, or nil when err is set, so that no half-decoded object
// escapes next to an error.
func ptr[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}
