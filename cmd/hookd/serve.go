package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/delivery"
	"github.com/hookd/hookd/internal/job"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/seal"
	"github.com/hookd/hookd/internal/store/postgres"
	"github.com/hookd/hookd/internal/store/sqlite"
	"github.com/hookd/hookd/internal/trigger"
)

var errUsage = errors.New("usage")

// serveGCPercent is the collector's target a server runs with unless GOGC is
// set: its live heap is small (SQLite's page cache is outside it), and at
// Go's default of 100 a busy node spent about a tenth of its CPU collecting.
// Accepted trigger calls, alternated with the default: +4 to +11 % req/s,
// peak RSS 96 → 156 MB (docs/BENCHMARKS.md).
const serveGCPercent = 400

// tuneGC sets serveGCPercent when the environment does not set GOGC.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}

// tuneProcs gives the Go scheduler one processor (P) more than its default
// when the environment does not set GOMAXPROCS; serve calls it for the
// embedded SQLite store only.
//
// Why: the store's writer keeps an OS thread of its own (sqlite.Store's
// writer) and with it one of the processors, also while it waits in the
// commit's fsync. On two cores the HTTP handlers were left one processor
// through every fsync, and an answered call waited for it: a scheduler
// trace put 0.7 ms of an accepted call's 4 ms there, while a quarter of the
// machine idled. With a third processor, alternated over eight rounds:
// accepted calls +8.6 % req/s at 6 % less CPU per call, and outbound
// deliveries +11 and +12 % against the ceiling in two pairs; a fourth added
// nothing (docs/BENCHMARKS.md, twelfth session). Setting it stops Go from
// following later changes of the container's CPU limit; a process restarted
// after such a change starts from the new limit.
func tuneProcs(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
}

// serve runs the server until ctx ends, then shuts down gracefully: stop
// accepting requests, finish those in flight, let the delivery engine finish
// its attempts, close the store.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, os.Getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	slog.SetDefault(log)
	tuneGC(os.Getenv)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	key, err := seal.LoadKey(os.Getenv("HOOKD_MASTER_KEY"), cfg.DataDir)
	if err != nil {
		return err
	}
	sealer, err := seal.New(key)
	if err != nil {
		return err
	}

	var store fullStore
	reclaim := false
	if cfg.Database == "" {
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
		st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "hookd.db"), sqlite.Options{Sealer: sealer, Synchronous: cfg.Synchronous})
		if err != nil {
			return err
		}
		store = st
		reclaim = true // only this process uses the file: anything processing was interrupted
		tuneProcs(os.Getenv)
	} else {
		st, err := postgres.Open(ctx, cfg.Database, postgres.Options{Sealer: sealer})
		if err != nil {
			return err
		}
		pgStore, ok := any(st).(fullStore)
		if !ok {
			st.Close()
			return fmt.Errorf("--database: the PostgreSQL store does not serve triggers and jobs yet")
		}
		store = pgStore
		// Several nodes share the database: work in flight on a node that dies
		// returns when its lease ends (see --lease).
	}
	defer store.Close()

	if err := bootstrap(ctx, store, cfg.DataDir, stdout, log); err != nil {
		return err
	}
	if err := applyConfigFile(ctx, store, cfg.File, os.Getenv, log); err != nil {
		return err
	}
	proxies, err := trigger.ParseTrustedProxies(cfg.TrustedProxy)
	if err != nil {
		return err
	}

	guard, err := netguard.New(cfg.AllowPrivateCIDR)
	if err != nil {
		return err
	}
	m := metrics.New()
	m.RegisterQueue(store, time.Now, 5*time.Second)
	membership, shared := store.(hookd.Membership)
	engine := delivery.New(delivery.Config{
		Store:          store,
		Client:         guard.Client(cfg.DeliveryTimeout),
		Logger:         log,
		Metrics:        m,
		RetrySchedule:  cfg.RetrySchedule,
		Timeout:        cfg.DeliveryTimeout,
		Workers:        cfg.Workers,
		PerWebhook:     cfg.PerWebhook,
		Shared:         shared,
		RecordDelay:    recordDelay(shared),
		ReclaimOnStart: reclaim,
		Lease:          cfg.Lease,
	})
	jobs := job.NewEngine(job.EngineConfig{
		Store:       store,
		Logger:      log,
		Metrics:     m,
		HTTPClient:  guard.Client(0), // each http job's own timeout applies
		PublishWake: engine.Wake,
		Lease:       cfg.JobLease,
		// ReclaimOnStart stays off: Reclaim runs below, before the listener opens.
		ShutdownGrace: cfg.ShutdownTimeout,
	})
	inbound := trigger.NewHandler(trigger.HandlerConfig{
		Store:          store,
		Jobs:           jobs,
		Logger:         log,
		Metrics:        m,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		TrustedProxies: proxies,
		SharedLimits:   sharedLimits(store),
	})
	srv := api.New(api.Config{
		Store:             store,
		Logger:            log,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		AllowInsecureURLs: cfg.AllowInsecureURLs,
		Wake:              engine.Wake,
		Gatherer:          m.Registry,
		Metrics:           m,
		PublicURL:         cfg.PublicURL,
		AllowCommandJobs:  cfg.AllowCommandJobs,
		Jobs:              jobs,
		Inbound:           inbound,
	})

	if reclaim {
		// Runs the previous process left running were interrupted: fail them
		// (and send their outcome events) before anyone can read them.
		if err := jobs.Reclaim(ctx); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      330 * time.Second, // sync triggers may wait up to 300 s
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	if shared {
		// The node's row in the cluster's membership: the engine takes its
		// share of each webhook's cap once the other nodes count it, and
		// the row goes (deferred: after the engine's last attempt, before
		// the store closes) when the node stops.
		membersCtx, stopMembers := context.WithCancel(context.WithoutCancel(ctx))
		membersDone := make(chan struct{})
		node, _, _ := engine.Lease()
		go func() {
			defer close(membersDone)
			_ = membership.Members(membersCtx, node, engine)
		}()
		defer func() { stopMembers(); <-membersDone }()
	}
	var wg sync.WaitGroup
	if dc, ok := store.(hookd.DirectClaimer); ok {
		// Deliveries of events published here are claimed by their
		// publish for this engine when it has room (no claim, no wake-up).
		dc.SetDispatcher(engine)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := engine.Run(engineCtx); err != nil {
			log.Error("delivery engine stopped", "err", err)
		}
	}()
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	jobsDone := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(jobsDone)
		if err := jobs.Run(jobsCtx); err != nil {
			log.Error("job engine stopped", "err", err)
		}
	}()
	if addr := os.Getenv("HOOKD_DEBUG_ADDR"); addr != "" {
		// Profiling endpoints (net/http/pprof) on a separate, operator-chosen
		// address: never on the public listener.
		go func() {
			dbg := &http.Server{Addr: addr, Handler: debugMux(), ReadHeaderTimeout: 10 * time.Second}
			log.Info("debug listener", "addr", addr)
			if err := dbg.ListenAndServe(); err != nil {
				log.Warn("debug listener stopped", "err", err)
			}
		}()
	}
	if w, ok := store.(hookd.Waker); ok {
		// Work committed on another node wakes this node's engines at once.
		go func() {
			_ = w.Listen(engineCtx, func(kind string) {
				switch kind {
				case hookd.WakeDeliveries:
					engine.Wake()
				case hookd.WakeExecutions:
					jobs.Wake()
				}
			})
		}()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "version", hookd.Version)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopJobs()
		stopEngine()
		wg.Wait()
		return err
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	// Jobs first: their outcome events go out through the delivery engine.
	stopJobs()
	<-jobsDone
	stopEngine()
	wg.Wait()
	log.Info("stopped")
	return nil
}

func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// recordDelay is how long attempt results wait to be written together
// (delivery.Config.RecordDelay): on PostgreSQL, where a transaction costs
// more than the rows it writes, 100 ms make result batches of a few hundred
// at a few thousand deliveries a second (recordBatchMin ends a batch
// sooner), and a fifth as many result transactions as 20 ms (docs/BENCHMARKS.md:
// 8–18 % more deliveries a second on one node and on three). A delivery then
// reads processing up to 100 ms after its receiver answered. SQLite's writer
// groups them already.
func recordDelay(shared bool) time.Duration {
	if shared {
		return 100 * time.Millisecond
	}
	return 0
}

// sharedLimits returns the store's shared rate limiter when it has one (a
// database several nodes share), nil otherwise.
func sharedLimits(st hookd.Store) hookd.SharedRateLimiter {
	if l, ok := st.(hookd.SharedRateLimiter); ok {
		return l
	}
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// lockDataDir takes an exclusive lock so two processes never share one SQLite
// data directory (the engine relies on being alone to reclaim leases).
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another hookd process", dir)
	}
	return func() { f.Close() }, nil
}

// bootstrap creates the workspace "default" and the operator key on a fresh
// database, prints the key once and writes it to <data-dir>/admin.key (0600).
// Each step is repeatable, so a crash half-way is mended on the next start.
func bootstrap(ctx context.Context, store hookd.Store, dataDir string, stdout io.Writer, log *slog.Logger) error {
	path := filepath.Join(dataDir, "admin.key")
	ws, err := store.WorkspaceGetByName(ctx, "default")
	if err != nil && !hookd.IsNotFound(err) {
		return err
	}
	fileKey, ferr := os.ReadFile(path)
	if ws != nil && ferr != nil {
		return nil // set up before; the operator keeps admin.key elsewhere
	}
	secret, fresh := strings.TrimSpace(string(fileKey)), false
	if ferr != nil || !strings.HasPrefix(secret, "hk_") {
		secret = api.NewAPIKeySecret()
		// The file first: a crash before the database commit repeats this.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
			return fmt.Errorf("write admin.key: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write admin.key: %w", err)
		}
		fresh = true
	}
	now := time.Now().UTC()
	if ws == nil {
		ws = &hookd.Workspace{ID: hookd.NewID(hookd.PrefixWorkspace), Name: "default", CreatedAt: now}
		if err := store.WorkspaceCreate(ctx, ws); err != nil {
			return err
		}
		log.Info("created workspace default", "workspace_id", ws.ID)
	}
	if _, err := store.APIKeyGetByHash(ctx, hookd.HashToken(secret)); err == nil {
		return nil
	} else if !hookd.IsNotFound(err) {
		return err
	}
	key := api.APIKeyRecord(ws.ID, "operator", []string{hookd.ScopeAdmin}, secret, now)
	key.Operator = true
	if err := store.APIKeyCreate(ctx, key); err != nil {
		return err
	}
	if fresh {
		fmt.Fprintf(stdout, "hookd: operator key of workspace \"default\" (shown once; also in %s):\n%s\n", path, secret)
	}
	log.Info("created the operator key", "key_id", key.ID)
	return nil
}
