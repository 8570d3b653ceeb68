package trigger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/internal/plainjson"
	"github.com/hookd/hookd/signature"
)

// Trigger tokens: "wht_" followed by the unpadded base64url encoding of 32
// random bytes (43 characters), TokenLen characters in all.
const (
	TokenPrefix = "wht_"
	TokenLen    = len(TokenPrefix) + 43
)

// Handler defaults and limits.
const (
	DefaultMaxBodyBytes = 1 << 20 // 1 MiB
	DefaultFloodLimit   = 60      // refused calls per client per minute
	DefaultWaitSeconds  = 25      // sync wait when a trigger has none
	MaxWaitSeconds      = 300     // longest sync wait
	DefaultDedupHeader  = "webhook-id"
	// MaxCacheTTL is the longest a trigger found by its token is reused
	// without asking the store again: a deactivation, a token rotation or a
	// secret change takes effect within it.
	MaxCacheTTL = 2 * time.Second
	// DefaultCacheSize bounds the token cache.
	DefaultCacheSize = 10_000
	// maxDedupKeyLen is the longest dedup header value kept as is; longer
	// ones are replaced by their SHA-256 (hex) so the key stays small.
	maxDedupKeyLen = 200
	// storeTimeout bounds a store write made on behalf of a call; writes run
	// detached from the request so a client hanging up leaves the call log
	// consistent.
	storeTimeout = 10 * time.Second
)

// PathCall and PathBearer are the two call paths (DESIGN §3): the token in
// the URL, or in an Authorization: Bearer header.
const (
	PathCall   = "/hooks/{token}"
	PathBearer = "/v1/webhook/trigger"
)

// Store is what a Handler needs from the database (a subset of
// hookd.InboundStore).
type Store interface {
	// TriggerGetByTokenHash finds the trigger of a token hash (current or
	// previous within its grace at now); ENotFound when there is none.
	TriggerGetByTokenHash(ctx context.Context, hash []byte, now time.Time) (*hookd.Trigger, error)
	// CallAccept records a call that passed every check and decides dedup,
	// cooldown or a new execution.
	CallAccept(ctx context.Context, p hookd.CallAcceptParams) (*hookd.CallAcceptResult, error)
	// CallRecord stores a refused call.
	CallRecord(ctx context.Context, c *hookd.Call) error
}

// Waiter is the job engine as a Handler sees it (*job.Engine implements it).
type Waiter interface {
	// Wait returns the execution once it is done, or its latest state when
	// ctx ends (without error).
	Wait(ctx context.Context, workspaceID, executionID string) (*hookd.Execution, error)
	// Wake tells the engine that executions may have been queued; it never
	// blocks.
	Wake()
}

// Starter is what a Waiter may also do (*job.Engine does): lend a worker so
// that a call's new run starts in the transaction that records it
// (hookd.CallAcceptParams.Start) instead of waiting for a claim.
type Starter interface {
	// Reserve takes a worker: nil when none is free.
	Reserve() *hookd.ExecStart
	// Started hands a reservation back: with the run the store started
	// (which the engine then runs), or nil when none was.
	Started(c *hookd.ClaimedExecution)
}

// HandlerConfig configures a Handler. Zero values take the documented
// defaults; Store and Jobs are required.
type HandlerConfig struct {
	Store Store
	Jobs  Waiter
	// Logger defaults to slog.Default(). Tokens and secrets are never logged.
	Logger *slog.Logger
	// Metrics may be nil; InboundCalls counts calls by disposition.
	Metrics *metrics.Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxBodyBytes bounds a call's body (default 1 MiB); larger → 413.
	MaxBodyBytes int64
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// FloodLimit is how many refused calls a client may have within a minute
	// before every call of it is refused with 429 (default 60; < 0 means 0).
	FloodLimit int
	// CacheTTL is how long a trigger found by its token is reused (default
	// and at most MaxCacheTTL; < 0 disables the cache).
	CacheTTL time.Duration
	// CacheSize bounds the cached triggers (default DefaultCacheSize).
	CacheSize int
	// SharedLimits, when set (a store shared by several nodes), keeps the
	// per-trigger, per-IP buckets in the database so the limit holds across
	// nodes; otherwise they live in this process.
	SharedLimits hookd.SharedRateLimiter
}

// Handler answers the calls to trigger URLs (DESIGN §3), on both paths:
// POST|GET /hooks/{token} and POST /v1/webhook/trigger with a bearer token.
// Its checks run in the order of the design, each with its answer:
//
//  1. flood guard: a client with more than FloodLimit refused calls in the
//     last minute → 429 + Retry-After
//  2. token known (malformed or unknown, with one identical answer) → 401
//  3. trigger active → 403
//  4. per-trigger, per-client rate limit → 429 + Retry-After
//  5. method allowed → 405 + Allow; body ≤ MaxBodyBytes → 413
//  6. signature, when the trigger has a secret → 401
//  7. input mapping (a body that is not JSON where needed) → 400
//  8. the store's dedup and cooldown: duplicate → 200, coalesced or dropped
//     → 202, else a new execution: async → 202 "queued"; sync → wait
//     (200 succeeded with result, 500 failed with reason, 202 still running)
//
// Every refusal counts towards the flood guard. Every call is recorded in the
// call log with its disposition, except those refused by the flood guard and
// those with an unknown or malformed token: no trigger owns them, and a flood
// of them must cost no database write. Those are counted in metrics only.
//
// Answers are JSON {success, execution_id?, status, result?, reason?}.
type Handler struct {
	store   Store
	jobs    Waiter
	log     *slog.Logger
	metrics *metrics.Metrics
	now     func() time.Time
	maxBody int64
	trusted []netip.Prefix
	flood   *FloodGuard
	limiter *Limiter
	shared  hookd.SharedRateLimiter
	cache   *tokenCache
}

// NewHandler returns a Handler for cfg.
func NewHandler(cfg HandlerConfig) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.FloodLimit == 0 {
		cfg.FloodLimit = DefaultFloodLimit
	}
	if cfg.CacheTTL == 0 || cfg.CacheTTL > MaxCacheTTL {
		cfg.CacheTTL = MaxCacheTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	h := &Handler{
		store:   cfg.Store,
		jobs:    cfg.Jobs,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		now:     cfg.Now,
		maxBody: cfg.MaxBodyBytes,
		trusted: cfg.TrustedProxies,
		flood:   NewFloodGuard(cfg.FloodLimit, time.Minute),
		limiter: NewLimiter(0),
		shared:  cfg.SharedLimits,
	}
	if cfg.CacheTTL > 0 {
		h.cache = newTokenCache(cfg.CacheTTL, cfg.CacheSize)
	}
	return h
}

// Register mounts h on mux for both call paths, for every method: which
// methods a trigger accepts is its own setting, checked after its token.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(PathCall, h)
	mux.Handle(PathBearer, h)
}

// NewToken returns a new trigger token: TokenPrefix and 43 base64url
// characters (256 random bits). Only its hash (hookd.HashToken) is stored.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// allow applies the trigger's per-client rate limit, in the database when the
// buckets are shared; a database error lets the call through (the limit is a
// courtesy to the job, not a security boundary) and is logged.
func (h *Handler) allow(ctx context.Context, t *hookd.Trigger, key string, now time.Time) (bool, time.Duration) {
	if h.shared == nil || t.RateLimitPerMinute <= 0 {
		return h.limiter.Allow(t.ID, key, t.RateLimitPerMinute, now)
	}
	ok, retry, err := h.shared.RateLimitAllow(ctx, t.ID+"|"+key, t.RateLimitPerMinute, now)
	if err != nil {
		h.log.Error("shared rate limit", "trigger_id", t.ID, "err", err)
		return true, 0
	}
	if !ok && retry < time.Second {
		retry = time.Second
	}
	return ok, retry
}

// ValidToken reports whether tok has the shape of a trigger token.
func ValidToken(tok string) bool {
	if len(tok) != TokenLen || !strings.HasPrefix(tok, TokenPrefix) {
		return false
	}
	for i := len(TokenPrefix); i < len(tok); i++ {
		c := tok[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// answer is the body of every response.
type answer struct {
	Success     bool            `json:"success"`
	ExecutionID string          `json:"execution_id,omitempty"`
	Status      string          `json:"status"`
	Result      json.RawMessage `json:"result,omitempty"`
	Reason      string          `json:"reason,omitempty"`
}

// Reasons given to callers. They never contain expected values.
const (
	reasonFlood        = "too many refused calls"
	reasonToken        = "unknown or malformed token"
	reasonInactive     = "trigger is inactive"
	reasonRateLimited  = "rate limit exceeded"
	reasonMethod       = "method not allowed"
	reasonTooLarge     = "body too large"
	reasonUnreadable   = "body could not be read"
	reasonSigMissing   = "signature missing"
	reasonSigStale     = "signature timestamp outside tolerance"
	reasonSigBad       = "invalid signature"
	reasonInternal     = "internal error"
	dispositionError   = "error" // metrics label of calls a store failure cut short
	statusInternalName = "error"
)

// errTooLarge marks a body over the limit.
var errTooLarge = errors.New("body too large")

// ServeHTTP answers one call to a trigger.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	ip := ClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), h.trusted)
	key := RateKey(ip)

	// 1. Flood guard. A blocked call is itself a refusal, so a client that
	// ignores Retry-After stays blocked.
	if blocked, retry := h.flood.Blocked(key, now); blocked {
		h.flood.Refused(key, now)
		h.count(hookd.DispositionRateLimited)
		setRetryAfter(w, retry)
		writeAnswer(w, http.StatusTooManyRequests, answer{Status: hookd.DispositionRateLimited, Reason: reasonFlood})
		return
	}

	// 2. Token.
	tok := h.token(r)
	if !ValidToken(tok) {
		h.unauthorized(w, key, now)
		return
	}
	sum := [sha256.Size]byte(hookd.HashToken(tok))
	t, err := h.lookup(r.Context(), sum, now)
	if err != nil {
		if hookd.IsNotFound(err) {
			h.unauthorized(w, key, now)
			return
		}
		h.internal(w, r, "trigger lookup", "", err)
		return
	}

	c := call{h: h, w: w, r: r, t: t, sum: sum, now: now, key: key, ip: ip}

	// 3. Active.
	if !t.IsActive {
		c.refuse(http.StatusForbidden, hookd.DispositionInactive, reasonInactive, "")
		return
	}

	// 4. Per-trigger, per-client rate limit.
	if ok, retry := h.allow(r.Context(), t, key, now); !ok {
		setRetryAfter(w, retry)
		c.refuse(http.StatusTooManyRequests, hookd.DispositionRateLimited, reasonRateLimited, "")
		return
	}

	// 5. Method and body size.
	methods := t.Methods
	if len(methods) == 0 {
		methods = []string{http.MethodPost, http.MethodGet}
	}
	if !allowed(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		c.refuse(http.StatusMethodNotAllowed, hookd.DispositionRejected, reasonMethod, "method "+r.Method+" not allowed")
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			c.refuse(http.StatusRequestEntityTooLarge, hookd.DispositionRejected, reasonTooLarge, "body over "+strconv.FormatInt(h.maxBody, 10)+" bytes")
			return
		}
		c.refuse(http.StatusBadRequest, hookd.DispositionRejected, reasonUnreadable, "body could not be read")
		return
	}

	// 6. Signature.
	if t.HasSecret || t.Secret != "" {
		if err := signature.VerifyInbound(t.Signature, t.Secrets(now), r.Header, body, now); err != nil {
			reason := reasonSigBad
			switch {
			case errors.Is(err, signature.ErrMissing):
				reason = reasonSigMissing
			case errors.Is(err, signature.ErrStale):
				reason = reasonSigStale
			}
			// The sentinel errors name what failed, never a value.
			c.refuse(http.StatusUnauthorized, hookd.DispositionBadSignature, reason, err.Error())
			return
		}
	}

	// 7. Input.
	input, err := buildInput(t.InputMapping, Source{
		Method: r.Method,
		Body:   body,
		Query:  r.URL.Query(),
		Header: r.Header,
		IP:     ipString(ip),
	}, true)
	if err != nil {
		msg := hookd.ErrorMessage(err)
		c.refuse(http.StatusBadRequest, hookd.DispositionRejected, msg, msg)
		return
	}

	// 8. Dedup, cooldown, execution.
	c.accept(input)
}

// call is one call past the token check.
type call struct {
	h   *Handler
	w   http.ResponseWriter
	r   *http.Request
	t   *hookd.Trigger
	sum [sha256.Size]byte // the token's hash: the cache key
	now time.Time
	key string
	ip  netip.Addr
}

// record is the call log entry of c with its disposition and answer.
func (c *call) record(disposition string, status int, detail string) *hookd.Call {
	return &hookd.Call{
		ID:          hookd.NewIDAt(hookd.PrefixCall, c.now),
		WorkspaceID: c.t.WorkspaceID,
		TriggerID:   c.t.ID,
		Disposition: disposition,
		IP:          ipString(c.ip),
		Method:      c.r.Method,
		StatusCode:  status,
		Detail:      detail,
		CreatedAt:   c.now,
	}
}

// refuse answers a refused call, counts it towards the flood guard and
// records it in the call log (detail there, reason to the caller; detail ""
// means the reason).
func (c *call) refuse(status int, disposition, reason, detail string) {
	h := c.h
	h.flood.Refused(c.key, c.now)
	h.count(disposition)
	if detail == "" {
		detail = reason
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.r.Context()), storeTimeout)
	err := h.store.CallRecord(ctx, c.record(disposition, status, detail))
	cancel()
	if err != nil {
		// The caller's answer does not depend on the log; say so in ours.
		h.log.LogAttrs(c.r.Context(), slog.LevelError, "trigger call not recorded",
			slog.String("trigger_id", c.t.ID), slog.String("disposition", disposition), slog.String("error", err.Error()))
	}
	writeAnswer(c.w, status, answer{Status: disposition, Reason: reason})
}

// accept hands the call to the store and answers what became of it.
func (c *call) accept(input json.RawMessage) {
	h, t, r, w := c.h, c.t, c.r, c.w
	dedupHeader := t.DedupHeader
	if dedupHeader == "" {
		dedupHeader = DefaultDedupHeader
	}
	// A new run may start in the transaction that records it, sparing the
	// engine a claim, when the engine has a worker for it.
	starter, _ := h.jobs.(Starter)
	var start *hookd.ExecStart
	if starter != nil {
		start = starter.Reserve()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	res, err := h.store.CallAccept(ctx, hookd.CallAcceptParams{
		Trigger:  t,
		Call:     *c.record(hookd.DispositionAccepted, 0, ""),
		DedupKey: dedupKey(r.Header.Get(dedupHeader)),
		Input:    input,
		// buildInput's result is always valid JSON.
		InputValid: true,
		Now:        c.now,
		Start:      start,
	})
	cancel()
	if start != nil {
		var started *hookd.ClaimedExecution
		if err == nil {
			started = res.Started
		}
		starter.Started(started)
	}
	if err != nil {
		if hookd.IsNotFound(err) {
			// The trigger went away since it was looked up.
			h.cache.forget(c.sum)
			h.unauthorized(w, c.key, c.now)
			return
		}
		h.internal(w, r, "call accept", t.ID, err)
		return
	}
	h.count(res.Disposition)
	exeID := ""
	if res.Execution != nil {
		exeID = res.Execution.ID
	}
	switch res.Disposition {
	case hookd.DispositionDuplicate:
		writeAnswer(w, http.StatusOK, answer{Success: true, ExecutionID: exeID, Status: hookd.DispositionDuplicate})
		return
	case hookd.DispositionCoalesced, hookd.DispositionDropped:
		// A trailing run's start may have moved: let the engine look again.
		h.jobs.Wake()
		writeAnswer(w, http.StatusAccepted, answer{Success: true, ExecutionID: exeID, Status: res.Disposition})
		return
	}
	if res.Started == nil {
		h.jobs.Wake()
	}
	if t.Mode != hookd.ModeSync || res.Execution == nil {
		writeAnswer(w, http.StatusAccepted, answer{Success: true, ExecutionID: exeID, Status: hookd.ExecQueued})
		return
	}
	c.wait(res.Execution)
}

// wait waits for a sync trigger's execution and answers its outcome. The wait
// is detached from the request: a client hanging up never cancels anything.
func (c *call) wait(x *hookd.Execution) {
	h, w := c.h, c.w
	d := waitFor(c.t.WaitSeconds, c.r.URL.Query().Get("wait"))
	if done := x.Status == hookd.ExecSucceeded || x.Status == hookd.ExecFailed || x.Status == hookd.ExecCanceled; d > 0 && !done {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.r.Context()), d)
		got, err := h.jobs.Wait(ctx, x.WorkspaceID, x.ID)
		cancel()
		switch {
		case err != nil:
			// Accepted and committed: answer that, not an error the caller
			// would retry into a second run.
			h.log.LogAttrs(c.r.Context(), slog.LevelWarn, "sync trigger wait failed",
				slog.String("trigger_id", c.t.ID), slog.String("execution_id", x.ID), slog.String("error", err.Error()))
		case got != nil:
			x = got
		}
	}
	switch x.Status {
	case hookd.ExecSucceeded:
		writeAnswer(w, http.StatusOK, answer{Success: true, ExecutionID: x.ID, Status: x.Status, Result: jsonOrString(x.Result)})
	case hookd.ExecFailed, hookd.ExecCanceled:
		writeAnswer(w, http.StatusInternalServerError, answer{ExecutionID: x.ID, Status: x.Status, Reason: x.Reason})
	default:
		writeAnswer(w, http.StatusAccepted, answer{Success: true, ExecutionID: x.ID, Status: x.Status})
	}
}

// waitFor is a sync call's wait: the trigger's wait_seconds (default 25, at
// most 300), lowered by the caller's ?wait= seconds when that is a
// non-negative integer below it (other values are ignored).
func waitFor(triggerSeconds int, query string) time.Duration {
	s := triggerSeconds
	if s <= 0 {
		s = DefaultWaitSeconds
	}
	s = min(s, MaxWaitSeconds)
	if query != "" {
		if q, err := strconv.Atoi(query); err == nil && q >= 0 && q < s {
			s = q
		}
	}
	return time.Duration(s) * time.Second
}

// token returns the token of a call: the {token} path segment on
// /hooks/{token}, else the bearer token of the Authorization header, which
// is then removed from the request so no input mapping can copy it.
func (h *Handler) token(r *http.Request) string {
	if tok := r.PathValue("token"); tok != "" {
		return tok
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/hooks/"); ok {
		return rest // mounted without a pattern
	}
	auth := r.Header.Get("Authorization")
	r.Header.Del("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// lookup returns the trigger of the token hashing to sum, from the cache
// when it is fresh.
func (h *Handler) lookup(ctx context.Context, sum [sha256.Size]byte, now time.Time) (*hookd.Trigger, error) {
	if t := h.cache.get(sum, now); t != nil {
		return t, nil
	}
	t, err := h.store.TriggerGetByTokenHash(ctx, sum[:], now)
	if err != nil {
		return nil, err
	}
	h.cache.put(sum, t, now)
	return t, nil
}

// unauthorized answers an unknown or malformed token: one answer for both,
// counted in metrics and by the flood guard, never written to the store.
func (h *Handler) unauthorized(w http.ResponseWriter, key string, now time.Time) {
	h.flood.Refused(key, now)
	h.count(hookd.DispositionUnauthorized)
	writeAnswer(w, http.StatusUnauthorized, answer{Status: hookd.DispositionUnauthorized, Reason: reasonToken})
}

// internal answers a store failure; its detail goes to the log only.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, op, triggerID string, err error) {
	h.count(dispositionError)
	h.log.LogAttrs(r.Context(), slog.LevelError, "trigger call failed",
		slog.String("op", op), slog.String("trigger_id", triggerID), slog.String("error", err.Error()))
	status := http.StatusInternalServerError
	if hookd.ErrorCode(err) == hookd.EUnavailable {
		status = http.StatusServiceUnavailable
	}
	writeAnswer(w, status, answer{Status: statusInternalName, Reason: reasonInternal})
}

// readBody reads the body up to the limit; errTooLarge beyond it, declared
// or chunked.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.maxBody {
		return nil, errTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if n := r.ContentLength; n > 0 {
		// Its length is known (and within the limit): read it into one
		// buffer of that size, not io.ReadAll's growing ones. net/http's
		// body ends at Content-Length, short of it with ErrUnexpectedEOF.
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, err
	}
	return body, nil
}

// count adds one call of disposition to the metrics.
func (h *Handler) count(disposition string) {
	if h.metrics != nil {
		h.metrics.InboundCalls.WithLabelValues(disposition).Inc()
	}
}

// allowed reports whether method is one of methods (exact, upper case).
func allowed(methods []string, method string) bool {
	for _, m := range methods {
		if m == method {
			return true
		}
	}
	return false
}

// dedupKey is the stored dedup key of a header value.
func dedupKey(v string) string {
	v = strings.TrimSpace(v)
	if len(v) <= maxDedupKeyLen {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ipString is the call log's form of a client address ("" when unknown).
func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

// jsonOrString returns r when it is JSON, else r as a JSON string, so an
// odd stored result cannot break the answer.
func jsonOrString(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || json.Valid(r) {
		return r
	}
	b, _ := json.Marshal(string(r))
	return b
}

// setRetryAfter sets Retry-After in whole seconds (at least one).
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	s := int64((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, s), 10))
}

// writeAnswer writes a as JSON with status.
func writeAnswer(w http.ResponseWriter, status int, a answer) {
	body, ok := a.appendPlain(make([]byte, 0, 96))
	if !ok {
		var err error
		if body, err = json.Marshal(a); err != nil { // unreachable: Result is valid JSON (jsonOrString)
			status = http.StatusInternalServerError
			body = []byte(`{"success":false,"status":"error","reason":"internal error"}`)
		}
		body = append(body, '\n')
	}
	// Set directly: the keys are canonical and the shared values are never
	// changed (net/http only reads them).
	hd := w.Header()
	hd["Content-Type"] = answerContentType
	hd["Content-Length"] = []string{strconv.Itoa(len(body))}
	hd["Cache-Control"] = answerCacheControl
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var (
	answerContentType  = []string{"application/json"}
	answerCacheControl = []string{"no-store"}
)

// appendPlain appends a's JSON and a newline to b, exactly as json.Marshal
// and writeAnswer would write it, when a has no result or reason and its id
// and status need no escaping (an accepted call's answer, every time); ok is
// false otherwise, and b is then unchanged.
func (a answer) appendPlain(b []byte) (_ []byte, ok bool) {
	if a.Result != nil || a.Reason != "" || !plainjson.Is(a.ExecutionID) || !plainjson.Is(a.Status) {
		return b, false
	}
	b = append(b, `{"success":`...)
	b = strconv.AppendBool(b, a.Success)
	if a.ExecutionID != "" {
		b = append(b, `,"execution_id":"`...)
		b = append(b, a.ExecutionID...)
		b = append(b, '"')
	}
	b = append(b, `,"status":"`...)
	b = append(b, a.Status...)
	return append(b, "\"}\n"...), true
}

// tokenCache keeps triggers found by token hash for a short time, so an
// accepted call costs one database write and no read. Only hits are kept:
// a miss is cheap to repeat and must not hide a trigger created a moment
// later. Entries are shared read-only.
type tokenCache struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	t       *hookd.Trigger
	expires time.Time
}

func newTokenCache(ttl time.Duration, maxEntries int) *tokenCache {
	return &tokenCache{ttl: ttl, max: maxEntries, m: make(map[[sha256.Size]byte]cacheEntry)}
}

// get returns the cached trigger of sum while fresh at now; nil otherwise
// (and on a nil cache).
func (c *tokenCache) get(sum [sha256.Size]byte, now time.Time) *hookd.Trigger {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[sum]
	if !ok {
		return nil
	}
	// A clock stepping back must not extend an entry's life either.
	if !now.Before(e.expires) || now.Before(e.expires.Add(-c.ttl)) {
		delete(c.m, sum)
		return nil
	}
	return e.t
}

// put caches t under sum from now; when full, expired entries go first,
// then arbitrary ones, until an eighth is free.
func (c *tokenCache) put(sum [sha256.Size]byte, t *hookd.Trigger, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[sum]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		target := c.max - max(1, c.max/8)
		for k := range c.m {
			if len(c.m) <= target {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[sum] = cacheEntry{t: t, expires: now.Add(c.ttl)}
}

// forget drops the entry of a token hash.
func (c *tokenCache) forget(sum [sha256.Size]byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, sum)
	c.mu.Unlock()
}

// size returns the number of cached triggers, for tests.
func (c *tokenCache) size() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
