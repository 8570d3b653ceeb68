package client

import (
	"context"
	"net/http"
)

// TriggerCreate is the body of CreateTrigger. Only JobID is required; zero
// values are left out and get the server's defaults (methods POST and GET,
// mode async, wait 25 s, 30 calls per minute per IP, no cooldown, dedup header
// webhook-id, no signature check).
type TriggerCreate struct {
	JobID              string            `json:"job_id"`
	Name               string            `json:"name,omitempty"`
	OwnerID            string            `json:"owner_id,omitempty"`
	Methods            []string          `json:"methods,omitempty"`
	Mode               string            `json:"mode,omitempty"`         // "async" | "sync"
	WaitSeconds        int               `json:"wait_seconds,omitempty"` // sync cap, ≤ 300
	RateLimitPerMinute int               `json:"rate_limit_per_minute,omitempty"`
	CooldownSeconds    int               `json:"cooldown_seconds,omitempty"`
	CooldownMode       string            `json:"cooldown_mode,omitempty"` // "coalesce" | "drop"
	DedupHeader        string            `json:"dedup_header,omitempty"`
	InputMapping       map[string]string `json:"input_mapping,omitempty"` // input field → "body.x", "query.y", "headers.Z", "ip"
	// Signature is the scheme checked when the trigger has a secret:
	// "hmac-sha256" (default), "github", "stripe", "slack", "standard-webhooks".
	Signature string `json:"signature,omitempty"`
	// GenerateSecret asks the server for a secret, returned once in Secret.
	GenerateSecret bool `json:"generate_secret,omitempty"`
	// Secret sets a secret a provider gave (never returned).
	Secret string `json:"secret,omitempty"`
}

// TriggerUpdate is the body of UpdateTrigger: only the fields that are set
// (non-nil) are sent and changed.
type TriggerUpdate struct {
	IsActive           *bool              `json:"is_active,omitempty"`
	JobID              *string            `json:"job_id,omitempty"`
	Name               *string            `json:"name,omitempty"`
	OwnerID            *string            `json:"owner_id,omitempty"`
	Methods            *[]string          `json:"methods,omitempty"`
	Mode               *string            `json:"mode,omitempty"`
	WaitSeconds        *int               `json:"wait_seconds,omitempty"`
	RateLimitPerMinute *int               `json:"rate_limit_per_minute,omitempty"`
	CooldownSeconds    *int               `json:"cooldown_seconds,omitempty"`
	CooldownMode       *string            `json:"cooldown_mode,omitempty"`
	DedupHeader        *string            `json:"dedup_header,omitempty"`
	InputMapping       *map[string]string `json:"input_mapping,omitempty"`
	Signature          *string            `json:"signature,omitempty"`
}

// TriggerFilter selects the triggers ListTriggers returns.
type TriggerFilter struct {
	OwnerID         string
	JobID           string
	IncludeInactive bool
	Limit           int
	Offset          int
}

// CallFilter selects the calls ListTriggerCalls returns.
type CallFilter struct {
	Disposition string // DispositionAccepted, …
	Limit       int
	Offset      int
}

// CreateTrigger makes an inbound URL for a job. The answer carries Token and
// URL (and Secret with GenerateSecret), shown only here.
func (c *Client) CreateTrigger(ctx context.Context, p TriggerCreate) (*Trigger, error) {
	var out Trigger
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/triggers", body: p}, &out)
	return ptr(&out, err)
}

// ListTriggers returns one page of the workspace's triggers, newest first.
func (c *Client) ListTriggers(ctx context.Context, f TriggerFilter) (*List[Trigger], error) {
	q := Page{Limit: f.Limit, Offset: f.Offset}.values()
	setStr(q, "owner_id", f.OwnerID)
	setStr(q, "job_id", f.JobID)
	setBool(q, "include_inactive", f.IncludeInactive)
	var out List[Trigger]
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/triggers", query: q}, &out)
	return ptr(&out, err)
}

// GetTrigger reads one trigger (without token or secret).
func (c *Client) GetTrigger(ctx context.Context, id string) (*Trigger, error) {
	var out Trigger
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/triggers/" + esc(id)}, &out)
	return ptr(&out, err)
}

// UpdateTrigger changes the fields set in p and returns the trigger as stored.
func (c *Client) UpdateTrigger(ctx context.Context, id string, p TriggerUpdate) (*Trigger, error) {
	var out Trigger
	err := c.do(ctx, request{method: http.MethodPatch, path: "/v1/triggers/" + esc(id), body: p}, &out)
	return ptr(&out, err)
}

// DeleteTrigger removes a trigger; its URL answers 401 from then on.
func (c *Client) DeleteTrigger(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/triggers/" + esc(id)}, nil)
}

// RotateTriggerToken makes a new token, returned once with its URL. The old
// token keeps working for graceSeconds (DefaultGrace or 0: it stops at once).
func (c *Client) RotateTriggerToken(ctx context.Context, id string, graceSeconds int) (*Trigger, error) {
	var out Trigger
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/triggers/" + esc(id) + "/rotate-token", body: graceBody(graceSeconds)}, &out)
	return ptr(&out, err)
}

// RotateTriggerSecret makes a new HMAC secret, returned once in Secret. The
// old one keeps verifying for graceSeconds (DefaultGrace or 0: it stops at
// once).
func (c *Client) RotateTriggerSecret(ctx context.Context, id string, graceSeconds int) (*Trigger, error) {
	var out Trigger
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/triggers/" + esc(id) + "/rotate-secret", body: graceBody(graceSeconds)}, &out)
	return ptr(&out, err)
}

// ListTriggerCalls returns one page of a trigger's call log, newest first:
// every call with its disposition and the execution it became.
func (c *Client) ListTriggerCalls(ctx context.Context, triggerID string, f CallFilter) (*List[Call], error) {
	q := Page{Limit: f.Limit, Offset: f.Offset}.values()
	setStr(q, "disposition", f.Disposition)
	var out List[Call]
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/triggers/" + esc(triggerID) + "/calls", query: q}, &out)
	return ptr(&out, err)
}
