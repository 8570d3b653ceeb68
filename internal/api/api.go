// Package api serves hookd's management REST API (DESIGN §2): workspaces, API
// keys, webhooks, events, deliveries, triggers, jobs and executions, plus
// /healthz, /readyz, /metrics and the embedded OpenAPI document. It also
// mounts the inbound trigger endpoints (DESIGN §3) it is given.
//
// Every route is declared once, in the table of routes.go, with the scope it
// needs; handlers return errors and one function (errors.go) turns them into
// RFC 9457 problem+json answers through one code→status table. The package
// holds no state beyond a short-lived cache of API key lookups; everything
// else lives in the hookd.Store it is given.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// JobRunner is the job engine as the API sees it; *job.Engine implements it.
type JobRunner interface {
	// Wake tells the engine that an execution was queued; it never blocks.
	Wake()
	// Wait returns the execution once it is done, or its latest state when
	// ctx ends.
	Wait(ctx context.Context, workspaceID, executionID string) (*hookd.Execution, error)
}

// Config configures a Server. Only Store is required.
type Config struct {
	// Store persists everything; required. The trigger, job and execution
	// routes also need it to implement hookd.InboundStore; with a store that
	// does not, they answer 503.
	Store hookd.Store
	// Logger receives the access log and errors (JSON handler recommended);
	// nil discards. Request bodies, API keys and secrets are never logged.
	Logger *slog.Logger
	// Now is the clock for timestamps and rotation graces; nil → time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds every request body; larger bodies answer 413.
	// 0 → DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// AllowInsecureURLs permits http:// webhook URLs (--allow-insecure-urls).
	AllowInsecureURLs bool
	// Wake, when set, is called after something became due for delivery: an
	// event published with deliveries, a retry, a webhook reactivated. It must
	// not block.
	Wake func()
	// Metrics, when set, counts published events (EventsPublished).
	Metrics *metrics.Metrics
	// Gatherer is served at /metrics; nil → Metrics.Registry when Metrics is
	// set, else prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// Ready answers /readyz (nil error → 200, else 503); nil → Store.Ping.
	Ready func(ctx context.Context) error
	// KeyCacheTTL is how long a verified API key is reused without asking the
	// store again; 0 → 2 s, negative disables the cache. Deleting a key through
	// this server drops it from the cache at once; a key deleted elsewhere
	// (another node, the CLI on the database) stays usable here for at most
	// this long.
	KeyCacheTTL time.Duration

	// PublicURL is the base of trigger URLs in answers (--public-url, e.g.
	// https://hooks.example.com); "" → the scheme and Host of the request.
	PublicURL string
	// AllowCommandJobs lets API keys create and edit command jobs
	// (--allow-command-jobs); without it they come only from the config file.
	AllowCommandJobs bool
	// Jobs is woken after POST /v1/jobs/{id}/run and waited on for ?wait=;
	// nil: runs are queued only (and ?wait= answers at once).
	Jobs JobRunner
	// Inbound, when set, answers the trigger calls: POST /v1/webhook/trigger
	// and /hooks/{token} for every method (it answers 405 itself). These
	// routes take no API key; the handler checks the trigger token.
	Inbound http.Handler
}

// Server is the management API. Create it with New; it is safe for
// concurrent use.
type Server struct {
	store    hookd.Store
	log      *slog.Logger
	now      func() time.Time
	maxBody  int64
	insecure bool
	wake     func()
	gatherer prometheus.Gatherer
	counters *metrics.Metrics // nil: nothing counted
	ready    func(ctx context.Context) error
	metricsH http.Handler
	keys     *keyCache
	handler  http.Handler

	in           hookd.InboundStore // nil when the store lacks it
	publicURL    string
	allowCommand bool
	jobs         JobRunner    // nil: no engine
	inbound      http.Handler // nil: trigger endpoints not mounted
}

// New returns a Server for cfg, with defaults filled in. It panics if
// cfg.Store is nil, a programming error caught at start-up.
func New(cfg Config) *Server {
	if cfg.Store == nil {
		panic("api: Config.Store is nil")
	}
	s := &Server{
		store:    cfg.Store,
		log:      cfg.Logger,
		now:      cfg.Now,
		maxBody:  cfg.MaxBodyBytes,
		insecure: cfg.AllowInsecureURLs,
		wake:     cfg.Wake,
		gatherer: cfg.Gatherer,
		counters: cfg.Metrics,
		ready:    cfg.Ready,

		publicURL:    strings.TrimRight(cfg.PublicURL, "/"),
		allowCommand: cfg.AllowCommandJobs,
		jobs:         cfg.Jobs,
		inbound:      cfg.Inbound,
	}
	s.in, _ = cfg.Store.(hookd.InboundStore)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.wake == nil {
		s.wake = func() {}
	}
	if s.gatherer == nil && s.counters != nil {
		s.gatherer = s.counters.Registry
	}
	if s.gatherer == nil {
		s.gatherer = prometheus.DefaultGatherer
	}
	if s.ready == nil {
		s.ready = s.store.Ping
	}
	s.metricsH = promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})
	ttl := cfg.KeyCacheTTL
	if ttl == 0 {
		ttl = 2 * time.Second
	}
	s.keys = newKeyCache(ttl, keyCacheSize)
	s.handler = s.middleware(s.routes())
	return s
}

// Handler returns the HTTP handler of every route, wrapped in the request id,
// access log and panic recovery middleware.
func (s *Server) Handler() http.Handler { return s.handler }
