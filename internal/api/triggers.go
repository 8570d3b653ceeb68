package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/trigger"
	"github.com/hookd/hookd/signature"
)

// Trigger limits and defaults (DESIGN §3).
const (
	maxTriggerName       = 255
	defaultWaitSeconds   = trigger.DefaultWaitSeconds
	maxWaitSeconds       = trigger.MaxWaitSeconds
	defaultRatePerMinute = 30
	maxRatePerMinute     = 100_000_000 // high enough for load tests from one address
	maxCooldownSeconds   = 86400
	defaultDedupHeader   = trigger.DefaultDedupHeader
	maxDedupHeader       = 255
	maxGivenSecret       = 1024
	tokenPrefixLen       = 8 // characters of the token kept in token_prefix
	secretHexBytes       = 32
)

// errNoInbound answers trigger, job and execution routes when the store does
// not implement hookd.InboundStore.
var errNoInbound = hookd.Errorf(hookd.EUnavailable, "this server's store does not support triggers, jobs and executions")

// inb wraps a handler that needs the inbound store.
func (s *Server) inb(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
		if s.in == nil {
			return errNoInbound
		}
		return h(w, r, key)
	}
}

// handleInbound passes a trigger call to Config.Inbound, which checks the
// token and answers by itself.
func (s *Server) handleInbound(w http.ResponseWriter, r *http.Request, _ *hookd.APIKey) error {
	s.inbound.ServeHTTP(w, r)
	return nil
}

// triggerCreateRequest is the body of POST /v1/triggers.
type triggerCreateRequest struct {
	JobID              string            `json:"job_id"`
	Name               string            `json:"name"`
	OwnerID            string            `json:"owner_id"`
	Signature          string            `json:"signature"`
	GenerateSecret     bool              `json:"generate_secret"`
	Secret             *string           `json:"secret"`
	Methods            []string          `json:"methods"`
	Mode               string            `json:"mode"`
	WaitSeconds        *int              `json:"wait_seconds"`
	RateLimitPerMinute *int              `json:"rate_limit_per_minute"`
	CooldownSeconds    *int              `json:"cooldown_seconds"`
	CooldownMode       string            `json:"cooldown_mode"`
	DedupHeader        *string           `json:"dedup_header"`
	InputMapping       map[string]string `json:"input_mapping"`
	IsActive           *bool             `json:"is_active"`
}

// triggerUpdateRequest is the body of PATCH /v1/triggers/{id}: absent (or
// null) fields stay as they are. Secrets change only through rotate-secret.
type triggerUpdateRequest struct {
	JobID              *string            `json:"job_id"`
	Name               *string            `json:"name"`
	OwnerID            *string            `json:"owner_id"`
	Signature          *string            `json:"signature"`
	Methods            *[]string          `json:"methods"`
	Mode               *string            `json:"mode"`
	WaitSeconds        *int               `json:"wait_seconds"`
	RateLimitPerMinute *int               `json:"rate_limit_per_minute"`
	CooldownSeconds    *int               `json:"cooldown_seconds"`
	CooldownMode       *string            `json:"cooldown_mode"`
	DedupHeader        *string            `json:"dedup_header"`
	InputMapping       *map[string]string `json:"input_mapping"`
	IsActive           *bool              `json:"is_active"`
}

// triggerResponse is a trigger as answered: lists and maps are never null;
// tokens and secrets are never part of it (hookd.Trigger does not marshal
// them).
type triggerResponse struct {
	*hookd.Trigger
	Methods      []string          `json:"methods"`
	InputMapping map[string]string `json:"input_mapping"`
}

// triggerWithSecrets is the answer of create, rotate-token and
// rotate-secret: the only answers carrying a token, its URL or a secret.
type triggerWithSecrets struct {
	triggerResponse
	Token  string `json:"token,omitempty"`
	URL    string `json:"url,omitempty"`
	Secret string `json:"secret,omitempty"`
}

func triggerOut(t *hookd.Trigger) triggerResponse {
	out := triggerResponse{Trigger: t, Methods: t.Methods, InputMapping: t.InputMapping}
	if out.Methods == nil {
		out.Methods = []string{}
	}
	if out.InputMapping == nil {
		out.InputMapping = map[string]string{}
	}
	return out
}

// triggerURL is the URL of token: PublicURL, or the request's own scheme and
// host when none is configured, then /hooks/<token>.
func (s *Server) triggerURL(r *http.Request, token string) string {
	base := s.publicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/hooks/" + token
}

// newTriggerSecret makes a signing secret for scheme: a whsec_ secret for
// standard-webhooks, 32 random bytes in hex for the others.
func newTriggerSecret(scheme string) string {
	if scheme == hookd.SchemeStandardWebhooks {
		return signature.NewSecret()
	}
	b := make([]byte, secretHexBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b)
}

// setToken gives t a new token and returns it.
func setToken(t *hookd.Trigger) string {
	tok := trigger.NewToken()
	t.TokenHash = hookd.HashToken(tok)
	t.TokenPrefix = tok[:tokenPrefixLen]
	return tok
}

func (s *Server) handleTriggerCreate(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	var req triggerCreateRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	now := s.now().UTC()
	t := &hookd.Trigger{
		ID:                 hookd.NewIDAt(hookd.PrefixTrigger, now),
		WorkspaceID:        key.WorkspaceID,
		JobID:              req.JobID,
		OwnerID:            req.OwnerID,
		Name:               req.Name,
		IsActive:           true,
		Signature:          req.Signature,
		Methods:            req.Methods,
		Mode:               req.Mode,
		WaitSeconds:        defaultWaitSeconds,
		RateLimitPerMinute: defaultRatePerMinute,
		CooldownMode:       req.CooldownMode,
		DedupHeader:        defaultDedupHeader,
		InputMapping:       req.InputMapping,
		CreatedByID:        key.ID,
		CreatedAt:          now,
		UpdatedAt:          now,
	}
	defaultTriggerModes(t)
	if req.WaitSeconds != nil {
		t.WaitSeconds = *req.WaitSeconds
	}
	if req.RateLimitPerMinute != nil {
		t.RateLimitPerMinute = *req.RateLimitPerMinute
	}
	if req.CooldownSeconds != nil {
		t.CooldownSeconds = *req.CooldownSeconds
	}
	if req.DedupHeader != nil {
		t.DedupHeader = *req.DedupHeader
	}
	if req.IsActive != nil {
		t.IsActive = *req.IsActive
	}
	fe := validateTrigger(t)
	if t.JobID == "" {
		fe.add("job_id", "is required")
	}
	switch {
	case req.Secret != nil && req.GenerateSecret:
		fe.add("secret", "give either secret or generate_secret, not both")
	case req.Secret != nil:
		if msg := checkGivenSecret(t.Signature, *req.Secret); msg != "" {
			fe.add("secret", msg)
		}
		t.Secret = *req.Secret
	case req.GenerateSecret:
		t.Secret = newTriggerSecret(t.Signature)
	}
	if err := fe.err(); err != nil {
		return err
	}
	if err := s.checkTriggerJob(r, key.WorkspaceID, t.JobID); err != nil {
		return err
	}
	tok := setToken(t)
	t.HasSecret = t.Secret != ""
	if err := s.in.TriggerCreate(r.Context(), t); err != nil {
		if hookd.IsNotFound(err) { // the job was deleted meanwhile
			return hookd.FieldErrorf("job_id", "no job with this id in the workspace")
		}
		return err
	}
	out := triggerWithSecrets{triggerResponse: triggerOut(t), Token: tok, URL: s.triggerURL(r, tok)}
	if req.GenerateSecret {
		out.Secret = t.Secret
	}
	s.writeJSON(w, r, http.StatusCreated, out)
	return nil
}

// checkTriggerJob answers a field error on job_id unless id is a job of the
// workspace.
func (s *Server) checkTriggerJob(r *http.Request, workspaceID, id string) error {
	if id == "" {
		return hookd.FieldErrorf("job_id", "is required")
	}
	_, err := s.in.JobGet(r.Context(), workspaceID, id)
	if hookd.IsNotFound(err) {
		return hookd.FieldErrorf("job_id", "no job with this id in the workspace")
	}
	return err
}

// checkGivenSecret validates a secret given by the caller; "" when fine.
func checkGivenSecret(scheme, secret string) string {
	switch {
	case secret == "":
		return "must not be empty (leave it out for a trigger without a signature check)"
	case len(secret) > maxGivenSecret:
		return "must be at most " + strconv.Itoa(maxGivenSecret) + " bytes"
	case scheme == hookd.SchemeStandardWebhooks:
		if _, err := signature.DecodeSecret(secret); err != nil {
			return "must be a Standard Webhooks secret (whsec_ and the base64 of at least " + strconv.Itoa(signature.MinSecretBytes) + " bytes)"
		}
	}
	return ""
}

func (s *Server) handleTriggerList(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	inactive, err := boolParam(r, "include_inactive")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := hookd.TriggerFilter{WorkspaceID: key.WorkspaceID, OwnerID: q.Get("owner_id"), JobID: q.Get("job_id"), IncludeInactive: inactive, Page: p}
	ts, total, err := s.in.TriggerList(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]triggerResponse, len(ts))
	for i := range ts {
		out[i] = triggerOut(&ts[i])
	}
	s.writeJSON(w, r, http.StatusOK, newList(out, total, p))
	return nil
}

func (s *Server) handleTriggerGet(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	t, err := s.in.TriggerGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, triggerOut(t))
	return nil
}

func (s *Server) handleTriggerUpdate(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	var req triggerUpdateRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	t, err := s.in.TriggerGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	set(&t.Name, req.Name)
	set(&t.OwnerID, req.OwnerID)
	set(&t.Signature, req.Signature)
	set(&t.Methods, req.Methods)
	set(&t.Mode, req.Mode)
	set(&t.WaitSeconds, req.WaitSeconds)
	set(&t.RateLimitPerMinute, req.RateLimitPerMinute)
	set(&t.CooldownSeconds, req.CooldownSeconds)
	set(&t.CooldownMode, req.CooldownMode)
	set(&t.DedupHeader, req.DedupHeader)
	set(&t.InputMapping, req.InputMapping)
	set(&t.IsActive, req.IsActive)
	fe := validateTrigger(t)
	if req.Signature != nil && t.Signature == hookd.SchemeStandardWebhooks && t.Secret != "" {
		// A secret made for another scheme (64 hex characters) may decode as
		// base64 too, but would silently become another key: require whsec_.
		if _, err := signature.DecodeSecret(t.Secret); err != nil || !strings.HasPrefix(t.Secret, signature.SecretPrefix) {
			fe.add("signature", "the trigger's secret is not a Standard Webhooks secret (whsec_…); create a new trigger with this scheme")
		}
	}
	if err := fe.err(); err != nil {
		return err
	}
	if req.JobID != nil && *req.JobID != t.JobID {
		if err := s.checkTriggerJob(r, key.WorkspaceID, *req.JobID); err != nil {
			return err
		}
		t.JobID = *req.JobID
	}
	t.UpdatedAt = s.now().UTC()
	if err := s.in.TriggerUpdate(r.Context(), t); err != nil {
		if hookd.IsNotFound(err) && req.JobID != nil {
			if _, gerr := s.in.TriggerGet(r.Context(), key.WorkspaceID, t.ID); gerr == nil {
				return hookd.FieldErrorf("job_id", "no job with this id in the workspace")
			}
		}
		return err
	}
	s.writeJSON(w, r, http.StatusOK, triggerOut(t))
	return nil
}

// set replaces *dst by *v when v is not nil (a field present in a PATCH).
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (s *Server) handleTriggerDelete(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	if err := s.in.TriggerDelete(r.Context(), key.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateGrace parses the optional {grace_seconds} body of a trigger rotation
// (default 0: the old token or secret stops at once).
func (s *Server) rotateGrace(w http.ResponseWriter, r *http.Request) (time.Duration, error) {
	var req rotateRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return 0, err
	}
	grace := 0
	if req.GraceSeconds != nil {
		grace = *req.GraceSeconds
	}
	if grace < 0 || grace > maxGraceSeconds {
		return 0, hookd.FieldErrorf("grace_seconds", "must be from 0 to %d", maxGraceSeconds)
	}
	return time.Duration(grace) * time.Second, nil
}

// handleTriggerRotateToken gives the trigger a new token, shown once. With
// grace_seconds the old token keeps working that long; without, it stops at
// once (a trigger handler's token cache may still honour it for its short
// TTL).
func (s *Server) handleTriggerRotateToken(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	grace, err := s.rotateGrace(w, r)
	if err != nil {
		return err
	}
	t, err := s.in.TriggerGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if grace > 0 {
		until := now.Add(grace)
		t.PreviousTokenHash, t.PreviousTokenExpiresAt = t.TokenHash, &until
	} else {
		t.PreviousTokenHash, t.PreviousTokenExpiresAt = nil, nil
	}
	tok := setToken(t)
	t.UpdatedAt = now
	if err := s.in.TriggerUpdate(r.Context(), t); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, triggerWithSecrets{triggerResponse: triggerOut(t), Token: tok, URL: s.triggerURL(r, tok)})
	return nil
}

// handleTriggerRotateSecret gives the trigger a new signing secret of its
// scheme, shown once. A trigger without a secret gets its first one (calls
// must be signed from then on). With grace_seconds the old secret keeps
// verifying that long.
func (s *Server) handleTriggerRotateSecret(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	grace, err := s.rotateGrace(w, r)
	if err != nil {
		return err
	}
	t, err := s.in.TriggerGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if grace > 0 && t.Secret != "" {
		until := now.Add(grace)
		t.PreviousSecret, t.PreviousSecretExpiresAt = t.Secret, &until
	} else {
		t.PreviousSecret, t.PreviousSecretExpiresAt = "", nil
	}
	t.Secret = newTriggerSecret(t.Signature)
	t.HasSecret = true
	t.UpdatedAt = now
	if err := s.in.TriggerUpdate(r.Context(), t); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, triggerWithSecrets{triggerResponse: triggerOut(t), Secret: t.Secret})
	return nil
}

// dispositions are the values of ?disposition=.
var dispositions = []string{
	hookd.DispositionAccepted, hookd.DispositionUnauthorized, hookd.DispositionBadSignature,
	hookd.DispositionRateLimited, hookd.DispositionInactive, hookd.DispositionDuplicate,
	hookd.DispositionCoalesced, hookd.DispositionDropped, hookd.DispositionRejected,
}

// handleTriggerCalls lists one trigger's call log, newest first.
func (s *Server) handleTriggerCalls(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f := hookd.CallFilter{WorkspaceID: key.WorkspaceID, TriggerID: r.PathValue("id"), Disposition: r.URL.Query().Get("disposition"), Page: p}
	if f.Disposition != "" && !slices.Contains(dispositions, f.Disposition) {
		return hookd.FieldErrorf("disposition", "must be one of %s", strings.Join(dispositions, ", "))
	}
	if _, err := s.in.TriggerGet(r.Context(), key.WorkspaceID, f.TriggerID); err != nil {
		return err
	}
	calls, total, err := s.in.CallList(r.Context(), f)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, newList(calls, total, p))
	return nil
}

var (
	schemes       = []string{hookd.SchemeHMACSHA256, hookd.SchemeGitHub, hookd.SchemeStripe, hookd.SchemeSlack, hookd.SchemeStandardWebhooks}
	modes         = []string{hookd.ModeAsync, hookd.ModeSync}
	cooldownModes = []string{hookd.CooldownCoalesce, hookd.CooldownDrop}
)

// validateTrigger checks every settable field of t (methods are upper-cased
// in place) and returns the problems found; the caller adds its own and
// calls err.
func validateTrigger(t *hookd.Trigger) fieldErrors {
	var fe fieldErrors
	if msg := checkText(t.Name, maxTriggerName); msg != "" {
		fe.add("name", msg)
	}
	if msg := checkText(t.OwnerID, maxOwnerID); msg != "" {
		fe.add("owner_id", msg)
	}
	if !slices.Contains(schemes, t.Signature) {
		fe.add("signature", "must be one of "+strings.Join(schemes, ", "))
	}
	if len(t.Methods) == 0 {
		fe.add("methods", "must name POST, GET or both")
	}
	seen := map[string]bool{}
	for i, m := range t.Methods {
		m = strings.ToUpper(m)
		t.Methods[i] = m
		switch {
		case m != http.MethodPost && m != http.MethodGet:
			fe.add("methods["+strconv.Itoa(i)+"]", "must be POST or GET")
		case seen[m]:
			fe.add("methods["+strconv.Itoa(i)+"]", "is repeated")
		}
		seen[m] = true
	}
	if !slices.Contains(modes, t.Mode) {
		fe.add("mode", "must be async or sync")
	}
	if t.WaitSeconds < 1 || t.WaitSeconds > maxWaitSeconds {
		fe.add("wait_seconds", "must be from 1 to "+strconv.Itoa(maxWaitSeconds))
	}
	if t.RateLimitPerMinute < 1 || t.RateLimitPerMinute > maxRatePerMinute {
		fe.add("rate_limit_per_minute", "must be from 1 to "+strconv.Itoa(maxRatePerMinute))
	}
	if t.CooldownSeconds < 0 || t.CooldownSeconds > maxCooldownSeconds {
		fe.add("cooldown_seconds", "must be from 0 (off) to "+strconv.Itoa(maxCooldownSeconds))
	}
	if !slices.Contains(cooldownModes, t.CooldownMode) {
		fe.add("cooldown_mode", "must be coalesce or drop")
	}
	if t.DedupHeader != "" && (len(t.DedupHeader) > maxDedupHeader || !hookd.ValidHeaderName(t.DedupHeader)) {
		fe.add("dedup_header", `must be a header name, or "" to turn deduplication off`)
	}
	fe.merge("input_mapping", trigger.ValidateMapping(t.InputMapping))
	return fe
}

// defaultTriggerModes gives a trigger the default signature scheme,
// methods, mode and cooldown mode (DESIGN §3) where they are unset.
func defaultTriggerModes(t *hookd.Trigger) {
	if t.Signature == "" {
		t.Signature = hookd.SchemeHMACSHA256
	}
	if t.Methods == nil {
		t.Methods = []string{http.MethodPost, http.MethodGet}
	}
	if t.Mode == "" {
		t.Mode = hookd.ModeAsync
	}
	if t.CooldownMode == "" {
		t.CooldownMode = hookd.CooldownCoalesce
	}
}

// PrepareTrigger gives the unset fields of t DESIGN §3's defaults and checks
// every field as trigger creation through the API does, secret included. The
// server's config file declares triggers through it too, so both paths accept
// exactly the same triggers.
func PrepareTrigger(t *hookd.Trigger) error {
	defaultTriggerModes(t)
	if t.WaitSeconds == 0 {
		t.WaitSeconds = defaultWaitSeconds
	}
	if t.RateLimitPerMinute == 0 {
		t.RateLimitPerMinute = defaultRatePerMinute
	}
	if t.DedupHeader == "" {
		t.DedupHeader = defaultDedupHeader
	}
	fe := validateTrigger(t)
	if t.Secret != "" {
		if msg := checkGivenSecret(t.Signature, t.Secret); msg != "" {
			fe.add("secret", msg)
		}
	}
	return fe.err()
}
