package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/signature"
)

// Webhook limits.
const (
	maxEventPatterns   = 100
	maxFilters         = 50
	maxFieldName       = 255
	maxOwnerID         = 255
	maxDescription     = 1000
	maxMaxAttempts     = 20
	maxRateLimit       = 100000
	defaultSecretGrace = 86400          // seconds
	maxGraceSeconds    = 30 * 24 * 3600 // seconds
)

// webhookCreateRequest is the body of POST /v1/webhooks.
type webhookCreateRequest struct {
	URL                string            `json:"url"`
	Events             []string          `json:"events"`
	Filters            map[string]any    `json:"filters"`
	OwnerID            string            `json:"owner_id"`
	Description        string            `json:"description"`
	MaxAttempts        *int              `json:"max_attempts"`
	RateLimitPerSecond *int              `json:"rate_limit_per_second"`
	Headers            map[string]string `json:"headers"`
}

// webhookUpdateRequest is the body of PATCH /v1/webhooks/{id}: absent (or
// null) fields stay as they are.
type webhookUpdateRequest struct {
	URL                *string            `json:"url"`
	Events             *[]string          `json:"events"`
	Filters            *map[string]any    `json:"filters"`
	OwnerID            *string            `json:"owner_id"`
	Description        *string            `json:"description"`
	MaxAttempts        *int               `json:"max_attempts"`
	RateLimitPerSecond *int               `json:"rate_limit_per_second"`
	Headers            *map[string]string `json:"headers"`
	Active             *bool              `json:"active"`
}

// rotateRequest is the body of a rotate-secret call.
type rotateRequest struct {
	GraceSeconds *int `json:"grace_seconds"`
}

// webhookResponse is a webhook as answered: lists and maps are never null.
type webhookResponse struct {
	*hookd.Webhook
	Events  []string          `json:"events"`
	Filters map[string]any    `json:"filters"`
	Headers map[string]string `json:"headers"`
}

// webhookWithSecret is the answer of create and rotate-secret, the only
// answers that carry the signing secret.
type webhookWithSecret struct {
	webhookResponse
	Secret string `json:"secret"`
}

func webhookOut(wh *hookd.Webhook) webhookResponse {
	out := webhookResponse{Webhook: wh, Events: wh.Events, Filters: wh.Filters, Headers: wh.Headers}
	if out.Events == nil {
		out.Events = []string{}
	}
	if out.Filters == nil {
		out.Filters = map[string]any{}
	}
	if out.Headers == nil {
		out.Headers = map[string]string{}
	}
	return out
}

func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	var req webhookCreateRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	now := s.now().UTC()
	wh := &hookd.Webhook{
		ID:          hookd.NewIDAt(hookd.PrefixWebhook, now),
		WorkspaceID: key.WorkspaceID,
		URL:         req.URL,
		Events:      req.Events,
		Filters:     req.Filters,
		OwnerID:     req.OwnerID,
		Description: req.Description,
		MaxAttempts: hookd.DefaultMaxAttempts,
		Headers:     req.Headers,
		Active:      true,
		CreatedAt:   now,
		UpdatedAt:   now,
		Secret:      signature.NewSecret(),
	}
	if req.MaxAttempts != nil {
		wh.MaxAttempts = *req.MaxAttempts
	}
	if req.RateLimitPerSecond != nil {
		wh.RateLimitPerSecond = *req.RateLimitPerSecond
	}
	if err := s.validateWebhook(wh, allWebhookFields); err != nil {
		return err
	}
	if err := s.store.WebhookCreate(r.Context(), wh); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, webhookWithSecret{webhookResponse: webhookOut(wh), Secret: wh.Secret})
	return nil
}

func (s *Server) handleWebhookList(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	inactive, err := boolParam(r, "include_inactive")
	if err != nil {
		return err
	}
	f := hookd.WebhookFilter{WorkspaceID: key.WorkspaceID, OwnerID: r.URL.Query().Get("owner_id"), IncludeInactive: inactive, Page: p}
	whs, total, err := s.store.WebhookList(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]webhookResponse, len(whs))
	for i := range whs {
		out[i] = webhookOut(&whs[i])
	}
	s.writeJSON(w, r, http.StatusOK, newList(out, total, p))
	return nil
}

func (s *Server) handleWebhookGet(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	wh, err := s.store.WebhookGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, webhookOut(wh))
	return nil
}

func (s *Server) handleWebhookUpdate(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	var req webhookUpdateRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	wh, err := s.store.WebhookGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	var changed webhookFields
	if req.URL != nil {
		wh.URL, changed = *req.URL, changed|fieldURL
	}
	if req.Events != nil {
		wh.Events, changed = *req.Events, changed|fieldEvents
	}
	if req.Filters != nil {
		wh.Filters, changed = *req.Filters, changed|fieldFilters
	}
	if req.OwnerID != nil {
		wh.OwnerID, changed = *req.OwnerID, changed|fieldOwner
	}
	if req.Description != nil {
		wh.Description, changed = *req.Description, changed|fieldDescription
	}
	if req.MaxAttempts != nil {
		wh.MaxAttempts, changed = *req.MaxAttempts, changed|fieldMaxAttempts
	}
	if req.RateLimitPerSecond != nil {
		wh.RateLimitPerSecond, changed = *req.RateLimitPerSecond, changed|fieldRateLimit
	}
	if req.Headers != nil {
		wh.Headers, changed = *req.Headers, changed|fieldHeaders
	}
	reactivated := req.Active != nil && *req.Active && !wh.Active
	if req.Active != nil {
		wh.Active = *req.Active
	}
	if err := s.validateWebhook(wh, changed); err != nil {
		return err
	}
	wh.UpdatedAt = s.now().UTC()
	if err := s.store.WebhookUpdate(r.Context(), wh); err != nil {
		return err
	}
	if reactivated {
		s.wake()
	}
	s.writeJSON(w, r, http.StatusOK, webhookOut(wh))
	return nil
}

func (s *Server) handleWebhookDelete(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	if err := s.store.WebhookDelete(r.Context(), key.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleWebhookRotateSecret makes a new signing secret; the old one keeps
// signing beside it for grace_seconds (default 86400; 0 ends it at once).
func (s *Server) handleWebhookRotateSecret(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	var req rotateRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return err
	}
	grace := defaultSecretGrace
	if req.GraceSeconds != nil {
		grace = *req.GraceSeconds
	}
	if grace < 0 || grace > maxGraceSeconds {
		return hookd.FieldErrorf("grace_seconds", "must be from 0 to %d", maxGraceSeconds)
	}
	wh, err := s.store.WebhookGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if grace > 0 {
		until := now.Add(time.Duration(grace) * time.Second)
		wh.PreviousSecret, wh.PreviousSecretExpiresAt = wh.Secret, &until
	} else {
		wh.PreviousSecret, wh.PreviousSecretExpiresAt = "", nil
	}
	wh.Secret = signature.NewSecret()
	wh.UpdatedAt = now
	if err := s.store.WebhookUpdate(r.Context(), wh); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, webhookWithSecret{webhookResponse: webhookOut(wh), Secret: wh.Secret})
	return nil
}

// handleWebhookDeliveries lists one webhook's deliveries; ?status= and
// ?event_type= narrow it.
func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := hookd.DeliveryFilter{WorkspaceID: key.WorkspaceID, WebhookID: r.PathValue("id"), Status: q.Get("status"), EventType: q.Get("event_type"), Page: p}
	if f.Status != "" && !validStatus(f.Status) {
		return hookd.FieldErrorf("status", "must be one of %s", strings.Join(hookd.DeliveryStatuses, ", "))
	}
	if len(f.EventType) > maxEventType {
		return hookd.FieldErrorf("event_type", "must be at most %d bytes", maxEventType)
	}
	if _, err := s.store.WebhookGet(r.Context(), key.WorkspaceID, f.WebhookID); err != nil {
		return err
	}
	ds, total, err := s.store.DeliveryList(r.Context(), f)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, newList(ds, total, p))
	return nil
}

func (s *Server) handleWebhookDeliverySummary(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	id := r.PathValue("id")
	if _, err := s.store.WebhookGet(r.Context(), key.WorkspaceID, id); err != nil {
		return err
	}
	sum, err := s.store.DeliverySummary(r.Context(), key.WorkspaceID, id)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, sum)
	return nil
}

func validStatus(st string) bool {
	for _, v := range hookd.DeliveryStatuses {
		if v == st {
			return true
		}
	}
	return false
}

// webhookFields is a set of webhook fields to validate.
type webhookFields uint

const (
	fieldURL webhookFields = 1 << iota
	fieldEvents
	fieldFilters
	fieldOwner
	fieldDescription
	fieldMaxAttempts
	fieldRateLimit
	fieldHeaders

	allWebhookFields = fieldURL | fieldEvents | fieldFilters | fieldOwner | fieldDescription | fieldMaxAttempts | fieldRateLimit | fieldHeaders
)

// validateWebhook checks the fields of wh named in which and returns every
// problem at once. Unchanged fields of an update are not checked again (a URL
// accepted under --allow-insecure-urls stays editable after it is turned off).
func (s *Server) validateWebhook(wh *hookd.Webhook, which webhookFields) error {
	var fe fieldErrors
	if which&fieldURL != 0 {
		if wh.URL == "" {
			fe.add("url", "is required")
		} else {
			fe.merge("url", netguard.ValidateURL("url", wh.URL, s.insecure))
		}
	}
	if which&fieldEvents != 0 {
		if len(wh.Events) > maxEventPatterns {
			fe.add("events", "must have at most "+strconv.Itoa(maxEventPatterns)+" patterns")
		}
		for i, p := range wh.Events {
			if msg := checkPattern(p); msg != "" {
				fe.add("events["+strconv.Itoa(i)+"]", msg)
			}
		}
	}
	if which&fieldFilters != 0 {
		if len(wh.Filters) > maxFilters {
			fe.add("filters", "must have at most "+strconv.Itoa(maxFilters)+" fields")
		}
		for k := range wh.Filters {
			if k == "" {
				fe.add("filters", "field names must not be empty")
			} else if msg := checkText(k, maxFieldName); msg != "" {
				fe.add("filters."+k, "field name "+msg)
			}
		}
	}
	if which&fieldOwner != 0 {
		if msg := checkText(wh.OwnerID, maxOwnerID); msg != "" {
			fe.add("owner_id", msg)
		}
	}
	if which&fieldDescription != 0 && len(wh.Description) > maxDescription {
		fe.add("description", "must be at most "+strconv.Itoa(maxDescription)+" bytes")
	}
	if which&fieldMaxAttempts != 0 && (wh.MaxAttempts < 1 || wh.MaxAttempts > maxMaxAttempts) {
		fe.add("max_attempts", "must be from 1 to "+strconv.Itoa(maxMaxAttempts))
	}
	if which&fieldRateLimit != 0 && (wh.RateLimitPerSecond < 0 || wh.RateLimitPerSecond > maxRateLimit) {
		fe.add("rate_limit_per_second", "must be from 0 (unlimited) to "+strconv.Itoa(maxRateLimit))
	}
	if which&fieldHeaders != 0 {
		fe.merge("headers", netguard.ValidateHeaders("headers", wh.Headers))
	}
	return fe.err()
}

// checkPattern validates one event-type pattern: "*" alone, an event type, or
// an event type prefix ending in "." or ":" followed by "*" ("job.*"). It
// returns "" when the pattern is acceptable.
func checkPattern(p string) string {
	if p == "*" {
		return ""
	}
	if p == "" {
		return "must not be empty"
	}
	prefix, wild := strings.CutSuffix(p, "*")
	if wild {
		if !strings.HasSuffix(prefix, ".") && !strings.HasSuffix(prefix, ":") {
			return `"*" may only be the whole pattern or follow "." or ":" at the end`
		}
	}
	if msg := checkEventType(prefix); msg != "" {
		if strings.Contains(prefix, "*") {
			return `"*" may only be the whole pattern or follow "." or ":" at the end`
		}
		return msg
	}
	return ""
}
