package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/metrics"
)

// Store is what the execution engine needs from the database: jobs and
// executions, and events for event jobs and outcome events.
type Store interface {
	hookd.Store
	hookd.InboundStore
}

// Engine defaults and limits.
const (
	DefaultWorkers       = 256
	DefaultKillGrace     = 5 * time.Second
	DefaultShutdownGrace = 30 * time.Second
	DefaultPollInterval  = time.Second
	// DefaultLease is how long a run's lease lasts past its claim or last
	// renewal: the engine renews the leases of its runs every third of it,
	// so a lease ends only when its node is gone (or stalled that long),
	// and another node then fails the run as interrupted.
	DefaultLease = time.Minute
	// MaxGroupDepth is how many levels groups may nest: the group an
	// execution runs counts as the first; a member group that would be the
	// sixth fails.
	MaxGroupDepth = 5
	// ReasonInterrupted is the reason of an execution whose run was cut short
	// by a shutdown or whose node died.
	ReasonInterrupted = "interrupted"
	// maxReapInterval is how often, at most, leases of dead nodes are
	// looked for (a quarter of the lease when that is shorter).
	maxReapInterval = 15 * time.Second
)

// Outcome event types (DESIGN §4).
const (
	EventJobSucceeded = "job.succeeded"
	EventJobFailed    = "job.failed"
)

// EngineConfig configures an Engine. Zero values take the documented defaults.
type EngineConfig struct {
	Store  Store
	Logger *slog.Logger // default slog.Default()
	// Metrics may be nil; its Executions counter counts finished executions
	// by status.
	Metrics *metrics.Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// HTTPClient sends the requests of http jobs. It must refuse private
	// addresses unless allow-listed (DESIGN §5) and not follow redirects;
	// main supplies it. Without one, http jobs fail.
	HTTPClient *http.Client
	// PublishWake wakes the outbound delivery engine after events were
	// published (outcome events, event jobs). May be nil.
	PublishWake func()
	// Workers bounds the executions this process runs at once, calls' runs
	// being started at accept (Reserve) included (default 256).
	Workers int
	// Lease is how long a run's lease lasts past its claim or its last
	// renewal before another node may fail it as interrupted (default 1 min);
	// the engine renews its runs' leases every Lease/3 and looks for others'
	// expired ones every Lease/4 (at most every 15 s).
	Lease time.Duration
	// KillGrace is how long a command gets between SIGTERM and SIGKILL
	// (default 5 s).
	KillGrace time.Duration
	// ShutdownGrace is how long running executions may go on after Run's
	// context ends before they are canceled and failed as interrupted
	// (default 30 s).
	ShutdownGrace time.Duration
	// Node names this process in leases.
	Node string
	// ReclaimOnStart fails every running execution as interrupted at start:
	// right when this process is the only one using the database (SQLite),
	// where a running execution at start can only be one a crash cut short.
	ReclaimOnStart bool
	// PollInterval is the longest the claim loop and the scheduler sleep
	// without a wake-up (default 1 s).
	PollInterval time.Duration
}

// Engine runs executions: it claims queued executions from the store (which
// enforces each job's concurrency), runs each with the runner of its job's
// kind, records the outcome and publishes job.succeeded or job.failed. It
// also runs the scheduler (scheduler.go). Create with NewEngine, start with Run.
type Engine struct {
	cfg   EngineConfig
	store Store
	log   *slog.Logger

	wake  chan struct{}
	freed chan struct{}

	mu       sync.Mutex
	inflight int // runs going on and workers reserved (Reserve)
	// accepting is true while Run claims: only then may Reserve take a
	// worker (so every run is under runs before Run waits for them).
	accepting bool
	// finishedSince counts runs finished since the last claim.
	finishedSince int
	waiters       map[string]*waiter
	// leased are the runs this engine runs, whose leases it renews.
	leased map[string]struct{}

	evMu      sync.Mutex
	evConfigs map[string]EventConfig // event job configs by their JSON (eventConfig)

	runs sync.WaitGroup
	// runCtx is the context of every run: detached from any request, canceled
	// only when a shutdown's grace is over.
	runCtx     context.Context
	cancelRuns context.CancelCauseFunc
}

// waiter is the in-process notification of one execution's end.
type waiter struct {
	done chan struct{}
	n    int // Waits sharing it
}

// errInterrupted is the cause with which runs are canceled at shutdown.
var errInterrupted = errors.New(ReasonInterrupted)

// NewEngine returns an Engine; it does nothing until Run.
func NewEngine(cfg EngineConfig) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Node == "" {
		cfg.Node = hookd.NewID("node_")
	}
	runCtx, cancel := context.WithCancelCause(context.Background())
	return &Engine{
		cfg:        cfg,
		store:      cfg.Store,
		log:        cfg.Logger,
		wake:       make(chan struct{}, 1),
		freed:      make(chan struct{}, 1),
		waiters:    map[string]*waiter{},
		leased:     map[string]struct{}{},
		evConfigs:  map[string]EventConfig{},
		runCtx:     runCtx,
		cancelRuns: cancel,
	}
}

// renewLeases renews the leases of the runs this engine runs every Lease/3
// until its runs' context ends (after the last run), so that their leases
// end only when this process is gone.
func (e *Engine) renewLeases() {
	t := time.NewTicker(e.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-e.runCtx.Done():
			return
		case <-t.C:
		}
		e.renewOnce(e.cfg.Now())
	}
}

// renewOnce moves the leases of this engine's runs to a Lease from now.
func (e *Engine) renewOnce(now time.Time) error {
	e.mu.Lock()
	ids := make([]string, 0, len(e.leased))
	for id := range e.leased {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(e.runCtx, e.cfg.Lease/3)
	_, err := e.store.ExecutionsRenew(ctx, e.cfg.Node, ids, now.Add(e.cfg.Lease))
	cancel()
	if err != nil && e.runCtx.Err() == nil {
		e.log.Error("renew execution leases", "runs", len(ids), "err", err)
	}
	return err
}

// Wake tells the engine that executions may have been queued. It never blocks.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs executions and runs the scheduler until ctx ends. Then
// it stops claiming and lets running executions finish for up to
// ShutdownGrace; those still running are canceled, recorded as failed with
// reason "interrupted", and Run returns. It returns an error only when the
// start-up reclaim fails. Call it once.
func (e *Engine) Run(ctx context.Context) error {
	defer e.cancelRuns(context.Canceled)
	if e.cfg.ReclaimOnStart {
		if err := e.reclaim(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("job engine: reclaim: %w", err)
		}
	}
	e.mu.Lock()
	e.accepting = true
	e.mu.Unlock()
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); e.runScheduler(ctx) }()
	renewDone := make(chan struct{})
	go func() { defer close(renewDone); e.renewLeases() }()
	defer func() {
		// Every run is over by now: end runCtx, which ends the renewals.
		e.cancelRuns(context.Canceled)
		<-renewDone
	}()

	reap := time.NewTicker(min(maxReapInterval, e.cfg.Lease/4))
	defer reap.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastShort time.Time // when a claim last found less than it could take
	onlyFreed := false      // woken only because runs finished
	prevShort := false      // the previous claim took less than it asked for
	for {
		full, err := e.claimOnce(ctx, onlyFreed && prevShort)
		prevShort = err == nil && !full
		if err != nil && ctx.Err() == nil {
			e.log.Error("claim executions", "err", err)
		}
		if !full {
			lastShort = time.Now()
		}
		if ctx.Err() != nil {
			break
		}
		if full {
			continue // more may be due right away
		}
		wait := e.cfg.PollInterval
		if err == nil {
			// Trailing coalesced runs are queued with a future RunAt. A due
			// run we did not claim waits for its job's concurrency: a
			// finished run (freed) or the poll brings us back.
			if due, ok, err := e.store.ExecutionsNextRunAt(ctx); err == nil && ok {
				if d := due.Sub(e.cfg.Now()); d > 0 && d < wait {
					wait = d
				}
			}
		}
		timer.Reset(wait) // drops a tick not received (Go 1.23 timers): no drain needed
		onlyFreed = false
		select {
		case <-ctx.Done():
		case <-e.wake:
			// New work was queued. Right after a claim that found nothing
			// more to start (its jobs at their concurrency), wait a moment
			// so a burst of calls makes one claim, not one each — unless a
			// run finishes meanwhile, which frees a slot.
			if d := wakeDebounce - time.Since(lastShort); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-e.freed:
				case <-ctx.Done():
				}
				t.Stop()
			}
		case <-e.freed:
			onlyFreed = true
		case <-timer.C:
		case <-reap.C:
			// Own runs first: a renewal that lagged (a slow database, a
			// stalled process) must not let this node fail its own live
			// runs. One now for both: renewed to now+Lease, they are not
			// expired at now, however the clock moved in between. A
			// renewal that failed skips this round.
			now := e.cfg.Now()
			if e.renewOnce(now) == nil {
				if err := e.interrupt(ctx, now); err != nil && ctx.Err() == nil {
					e.log.Error("interrupt executions with expired leases", "err", err)
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	<-schedDone
	e.mu.Lock()
	e.accepting = false
	e.mu.Unlock()

	done := make(chan struct{})
	go func() { e.runs.Wait(); close(done) }()
	grace := time.NewTimer(e.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		e.log.Warn("shutdown grace over: interrupting running executions")
		e.cancelRuns(errInterrupted)
		<-done
	}
	return nil
}

// wakeDebounce bounds how often queued work alone (no finished run) makes the
// engine claim again after a claim that could not start everything: claims
// scan the queue, and a flood of trigger calls to a busy job would otherwise
// make one claim per call.
const wakeDebounce = 20 * time.Millisecond

// claimOnce claims as many startable executions as there are free workers
// and starts them; full reports that the claim was limited by the free
// workers, not by what was startable.
//
// afterShort says the previous claim could not take all it asked for and only
// runs finished since: then only their jobs can start more, at most as many
// as finished, and the claim asks for no more (its cost grows with its limit).
func (e *Engine) claimOnce(ctx context.Context, afterShort bool) (full bool, err error) {
	e.mu.Lock()
	free := e.cfg.Workers - e.inflight
	finished := e.finishedSince
	e.finishedSince = 0
	e.mu.Unlock()
	if free <= 0 {
		return false, nil
	}
	limit := free
	if afterShort {
		if finished == 0 {
			return false, nil
		}
		// Runs started at accept finish without anything queued behind
		// them: a read (not a write) tells whether a claim could start any.
		if due, ok, err := e.store.ExecutionsNextRunAt(ctx); err == nil && (!ok || due.After(e.cfg.Now())) {
			return false, nil
		}
		limit = min(limit, finished)
	}
	claimed, err := e.store.ExecutionsClaim(ctx, hookd.ExecClaimParams{
		Now: e.cfg.Now(), Limit: limit, Lease: e.cfg.Lease, Owner: e.cfg.Node,
	})
	if err != nil {
		return false, err
	}
	for i := range claimed {
		c := &claimed[i]
		e.mu.Lock()
		e.inflight++
		e.leased[c.ID] = struct{}{}
		e.mu.Unlock()
		e.runs.Add(1)
		go e.execute(c)
	}
	return len(claimed) == limit, nil
}

// Reserve takes a worker for a run that the call path may start at once,
// in the transaction that records it (hookd.CallAcceptParams.Start): the
// engine's lease owner and lease, or nil when no worker is free or the
// engine is not running. Whoever got a reservation must hand it back
// through Started.
func (e *Engine) Reserve() *hookd.ExecStart {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.accepting || e.inflight >= e.cfg.Workers {
		return nil
	}
	e.inflight++
	e.runs.Add(1)
	return &hookd.ExecStart{Owner: e.cfg.Node, Lease: e.cfg.Lease, Inline: e.inline}
}

// Started ends a reservation: c is the run the store started with it, which
// the engine now runs as its own claim; nil gives the worker back (the run
// was queued, or nothing was recorded).
func (e *Engine) Started(c *hookd.ClaimedExecution) {
	switch {
	case c != nil && c.Status == hookd.ExecRunning:
		e.mu.Lock()
		e.leased[c.ID] = struct{}{}
		e.mu.Unlock()
		go e.execute(c)
		return
	case c != nil:
		// Ended in the same transaction (ExecStart.Inline): the delivery
		// engine is woken only when its events made deliveries.
		if m := e.cfg.Metrics; m != nil {
			m.Executions.WithLabelValues(c.Status).Inc()
		}
		if c.Deliveries > 0 {
			e.publishWake()
		}
		e.notify(c.ID)
	}
	// The worker goes back. No slot of a job was freed, so the claim loop is
	// not woken (the caller wakes it when it queued a run).
	e.mu.Lock()
	e.inflight--
	e.mu.Unlock()
	e.runs.Done()
}

// release frees a worker and wakes the claim loop: the finished run may
// also have freed a slot of its job's concurrency.
func (e *Engine) release() {
	e.mu.Lock()
	e.inflight--
	e.finishedSince++
	e.mu.Unlock()
	select {
	case e.freed <- struct{}{}:
	default:
	}
}

// execute runs one claimed execution and records its outcome.
func (e *Engine) execute(c *hookd.ClaimedExecution) {
	defer e.runs.Done()
	defer e.release()
	defer func() {
		e.mu.Lock()
		delete(e.leased, c.ID)
		e.mu.Unlock()
	}()
	if c.Job.Kind == hookd.JobEvent {
		// An invalid config falls through: runJob reports it.
		if ev, ok := e.eventConfig(c.Job.Config); ok {
			e.executeEvent(c, ev)
			return
		}
	}
	result, err := e.runJob(e.runCtx, &c.Job, c.Input, c.ID, 0, nil)
	status, reason := hookd.ExecSucceeded, ""
	if err != nil {
		status, reason = hookd.ExecFailed, e.reason(err)
		if _, group := err.(*groupError); !group {
			result = nil
		}
	}
	now := e.cfg.Now()
	exe := c.Execution
	exe.Status, exe.Result, exe.Reason = status, result, reason
	started := now
	if exe.StartedAt != nil {
		started = *exe.StartedAt
	}
	exe.DurationMS = max(now.Sub(started).Milliseconds(), 0)
	e.finish(hookd.ExecFinishParams{
		WorkspaceID: exe.WorkspaceID, ID: exe.ID, Status: status, Result: result, Reason: reason,
		Now: now, Outcome: outcomeEvent(&exe, &c.Job, now),
	})
	e.notify(exe.ID)
}

// executeEvent runs an execution of an event job: its event is published by
// the transaction that records the run's end (ExecFinishParams.Event), so
// the run costs one write and its event exists exactly when the run
// succeeded. (Event jobs inside a group publish through runEvent.)
func (e *Engine) executeEvent(c *hookd.ClaimedExecution, ev EventConfig) {
	now := e.cfg.Now()
	started := now
	if c.StartedAt != nil {
		started = *c.StartedAt
	}
	e.finish(eventFinish(c, ev, started, now))
	e.notify(c.ID)
}

// eventFinish is how a run c of an event job that started at started ends at
// now: succeeded, publishing its event, with the result {event_id,
// deliveries} and the job.succeeded outcome.
func eventFinish(c *hookd.ClaimedExecution, ev EventConfig, started, now time.Time) hookd.ExecFinishParams {
	exe := c.Execution
	exe.Status = hookd.ExecSucceeded
	exe.DurationMS = max(now.Sub(started).Milliseconds(), 0)
	job := c.Job
	return hookd.ExecFinishParams{
		WorkspaceID: exe.WorkspaceID, ID: exe.ID, Status: hookd.ExecSucceeded, Now: now,
		Event: &hookd.PublishParams{
			WorkspaceID: job.WorkspaceID, Type: ev.Type, Data: eventData(c.Input), OwnerID: job.OwnerID, Now: now,
		},
		OnEvent: func(evt *hookd.Event, p *hookd.ExecFinishParams) {
			x := exe
			x.Result = eventResult(evt)
			p.Result, p.Outcome = x.Result, outcomeEventOwn(&x, &job, now)
		},
	}
}

// inline ends a run of an event job in the transaction that starts it
// (hookd.ExecStart.Inline): publishing is all such a run does.
func (e *Engine) inline(c *hookd.ClaimedExecution) *hookd.ExecFinishParams {
	if c.Job.Kind != hookd.JobEvent || c.StartedAt == nil {
		return nil
	}
	ev, ok := e.eventConfig(c.Job.Config)
	if !ok {
		return nil // the engine's run records why
	}
	now := *c.StartedAt
	p := eventFinish(c, ev, now, now)
	return &p
}

// eventConfig decodes an event job's config, remembering the last few: inline
// runs decode it inside the store's one writer, once per call otherwise.
func (e *Engine) eventConfig(raw json.RawMessage) (EventConfig, bool) {
	e.evMu.Lock()
	ev, ok := e.evConfigs[string(raw)]
	e.evMu.Unlock()
	if ok {
		return ev, true
	}
	cfg, err := DecodeConfig(hookd.JobEvent, raw)
	if err != nil {
		return EventConfig{}, false
	}
	ev = cfg.(EventConfig)
	e.evMu.Lock()
	if len(e.evConfigs) >= 1024 {
		clear(e.evConfigs)
	}
	e.evConfigs[string(raw)] = ev
	e.evMu.Unlock()
	return ev, true
}

// reason is the text a failed execution records for err.
func (e *Engine) reason(err error) string {
	if errors.Is(context.Cause(e.runCtx), errInterrupted) {
		return ReasonInterrupted
	}
	return err.Error()
}

// finish records the end of an execution, retrying a failing store for a
// while: an execution left running is failed as interrupted once its lease
// ends (or at the next start on SQLite), so nothing stays running forever.
func (e *Engine) finish(p hookd.ExecFinishParams) {
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := e.store.ExecutionFinish(ctx, p)
		cancel()
		if err == nil {
			break
		}
		if code := hookd.ErrorCode(err); code == hookd.ENotFound || code == hookd.EConflict {
			// Deleted with its job, or already finished (interrupted by
			// another node that judged our lease expired).
			e.log.Warn("finish execution: not recorded", "execution_id", p.ID, "err", err)
			return
		}
		if try == 4 {
			e.log.Error("finish execution: giving up", "execution_id", p.ID, "err", err)
			return
		}
		e.log.Error("finish execution", "execution_id", p.ID, "err", err)
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	if m := e.cfg.Metrics; m != nil {
		m.Executions.WithLabelValues(p.Status).Inc()
	}
	e.publishWake()
}

func (e *Engine) publishWake() {
	if e.cfg.PublishWake != nil {
		e.cfg.PublishWake()
	}
}

// reclaim fails every running execution as interrupted, each with its
// job.failed event, at the true time. It goes workspace by workspace rather
// than through ExecutionsInterrupt, which would need a far-future "now" to
// take every lease and would stamp that as the finish time.
// Reclaim fails every running execution as "interrupted" (with its outcome
// event), as ReclaimOnStart does inside Run. Call it before serving when this
// process alone uses the database, so no caller sees a stale "running" run.
func (e *Engine) Reclaim(ctx context.Context) error {
	if err := e.reclaim(ctx); err != nil {
		return fmt.Errorf("job engine: reclaim: %w", err)
	}
	return nil
}

func (e *Engine) reclaim(ctx context.Context) error {
	n := 0
	for off := 0; ; off += 100 {
		wss, total, err := e.store.WorkspaceList(ctx, hookd.Page{Limit: 100, Offset: off})
		if err != nil {
			return err
		}
		for _, ws := range wss {
			// Finishing shrinks the running list: always read its first page.
			for {
				xs, _, err := e.store.ExecutionList(ctx, hookd.ExecutionFilter{WorkspaceID: ws.ID, Status: hookd.ExecRunning, Page: hookd.Page{Limit: 100}})
				if err != nil {
					return err
				}
				done := 0
				for i := range xs {
					ok, err := e.failInterrupted(ctx, &xs[i])
					if err != nil {
						return err
					}
					if ok {
						done++
					}
				}
				n += done
				if len(xs) < 100 || done == 0 {
					break
				}
			}
		}
		if off+len(wss) >= total || len(wss) == 0 {
			break
		}
	}
	if n > 0 {
		e.log.Warn("failed executions interrupted by the last shutdown", "count", n)
		e.publishWake()
	}
	return nil
}

// failInterrupted fails running execution x as interrupted with its
// job.failed event; ok is false when x was no longer running.
func (e *Engine) failInterrupted(ctx context.Context, x *hookd.Execution) (ok bool, err error) {
	j, err := e.store.JobGet(ctx, x.WorkspaceID, x.JobID)
	if err != nil {
		if !hookd.IsNotFound(err) {
			return false, err
		}
		j = &hookd.Job{ID: x.JobID, WorkspaceID: x.WorkspaceID}
	}
	now := e.cfg.Now()
	fin := *x
	fin.Status, fin.Reason, fin.Result = hookd.ExecFailed, ReasonInterrupted, nil
	if fin.StartedAt != nil {
		fin.DurationMS = max(now.Sub(*fin.StartedAt).Milliseconds(), 0)
	}
	_, err = e.store.ExecutionFinish(ctx, hookd.ExecFinishParams{
		WorkspaceID: x.WorkspaceID, ID: x.ID, Status: hookd.ExecFailed, Reason: ReasonInterrupted,
		Now: now, Outcome: outcomeEvent(&fin, j, now),
	})
	switch hookd.ErrorCode(err) {
	case "":
	case hookd.EConflict, hookd.ENotFound:
		return false, nil
	default:
		return false, err
	}
	if m := e.cfg.Metrics; m != nil {
		m.Executions.WithLabelValues(hookd.ExecFailed).Inc()
	}
	e.notify(x.ID)
	return true, nil
}

// interrupt fails running executions whose lease ended before now (their
// node died), each with its job.failed event.
func (e *Engine) interrupt(ctx context.Context, now time.Time) error {
	jobs := map[string]*hookd.Job{}
	outcome := func(x *hookd.Execution) *hookd.PublishParams {
		// The store calls this while it fails x; the job is read from the
		// read side (the contract hands over no job).
		j, ok := jobs[x.JobID]
		if !ok {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			got, err := e.store.JobGet(rctx, x.WorkspaceID, x.JobID)
			cancel()
			if err != nil {
				got = &hookd.Job{ID: x.JobID, WorkspaceID: x.WorkspaceID}
			}
			j, jobs[x.JobID] = got, got
		}
		fin := *x
		fin.Status, fin.Reason, fin.Result = hookd.ExecFailed, ReasonInterrupted, nil
		if fin.StartedAt != nil && fin.DurationMS == 0 {
			fin.DurationMS = max(now.Sub(*fin.StartedAt).Milliseconds(), 0)
		}
		return outcomeEvent(&fin, j, e.cfg.Now())
	}
	failed, err := e.store.ExecutionsInterrupt(ctx, now, outcome)
	if err != nil {
		return err
	}
	if len(failed) == 0 {
		return nil
	}
	e.log.Warn("failed interrupted executions", "count", len(failed))
	for i := range failed {
		if m := e.cfg.Metrics; m != nil {
			m.Executions.WithLabelValues(hookd.ExecFailed).Inc()
		}
		e.notify(failed[i].ID)
	}
	e.publishWake()
	return nil
}

// outcomeData is the data of job.succeeded and job.failed (DESIGN §4).
type outcomeData struct {
	JobID       string          `json:"job_id"`
	JobName     string          `json:"job_name"`
	ExecutionID string          `json:"execution_id"`
	TriggerID   *string         `json:"trigger_id"` // null when not started by a trigger
	Source      string          `json:"source"`
	DurationMS  int64           `json:"duration_ms"`
	Result      json.RawMessage `json:"result,omitempty"`
	Reason      string          `json:"reason,omitempty"`
}

// outcomeEvent builds the outcome event of a finished execution x of job j:
// job.succeeded with the result or job.failed with the reason, owned by the
// job's owner.
func outcomeEvent(x *hookd.Execution, j *hookd.Job, now time.Time) *hookd.PublishParams {
	d := newOutcomeData(x, j)
	data, err := json.Marshal(d)
	if err != nil {
		// Only a result that is not JSON gets here; keep the event.
		d.Result = nil
		data, _ = json.Marshal(d)
	}
	return &hookd.PublishParams{WorkspaceID: x.WorkspaceID, Type: outcomeType(x), Data: data, OwnerID: j.OwnerID, Now: now}
}

// newOutcomeData is the payload of x's outcome event: its result when it
// succeeded (null when empty), its reason otherwise.
func newOutcomeData(x *hookd.Execution, j *hookd.Job) *outcomeData {
	d := &outcomeData{
		JobID: x.JobID, JobName: j.Name, ExecutionID: x.ID, Source: x.Source, DurationMS: x.DurationMS,
	}
	if x.TriggerID != "" {
		d.TriggerID = &x.TriggerID
	}
	if x.Status == hookd.ExecSucceeded {
		d.Result = x.Result
		if len(bytes.TrimSpace(d.Result)) == 0 {
			d.Result = json.RawMessage("null")
		}
	} else {
		d.Reason = x.Reason
	}
	return d
}

// outcomeType is x's outcome event type.
func outcomeType(x *hookd.Execution) string {
	if x.Status == hookd.ExecSucceeded {
		return EventJobSucceeded
	}
	return EventJobFailed
}

// Wait returns the execution once it is done, or its state when ctx ends
// (then without error; the caller tells by Done). It is told of executions
// this engine finishes at once and polls the store every 250 ms for those
// finished elsewhere. The error is ENotFound for an unknown execution, or the
// store's.
func (e *Engine) Wait(ctx context.Context, workspaceID, executionID string) (*hookd.Execution, error) {
	w := e.addWaiter(executionID)
	defer e.dropWaiter(executionID, w)
	get := func(ctx context.Context) (*hookd.Execution, error) {
		return e.store.ExecutionGet(ctx, workspaceID, executionID)
	}
	x, err := get(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return e.lastState(ctx, get)
		}
		return nil, err
	}
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for !x.Done() {
		select {
		case <-ctx.Done():
			return e.lastState(ctx, get)
		case <-w.done:
		case <-poll.C:
		}
		if x, err = get(ctx); err != nil {
			if ctx.Err() != nil {
				return e.lastState(ctx, get)
			}
			return nil, err
		}
	}
	return x, nil
}

// lastState reads the execution once more after the caller's ctx ended.
func (e *Engine) lastState(ctx context.Context, get func(context.Context) (*hookd.Execution, error)) (*hookd.Execution, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return get(rctx)
}

func (e *Engine) addWaiter(id string) *waiter {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.waiters[id]
	if w == nil {
		w = &waiter{done: make(chan struct{})}
		e.waiters[id] = w
	}
	w.n++
	return w
}

func (e *Engine) dropWaiter(id string, w *waiter) {
	e.mu.Lock()
	defer e.mu.Unlock()
	// notify may have replaced or removed w meanwhile.
	if e.waiters[id] == w {
		if w.n--; w.n == 0 {
			delete(e.waiters, id)
		}
	}
}

// notify wakes the Waits of execution id.
func (e *Engine) notify(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w := e.waiters[id]; w != nil {
		close(w.done)
		// Later Waits get a fresh channel; they read the store first anyway.
		delete(e.waiters, id)
	}
}

// runJob runs job j once with input and returns its result. execID names the
// execution (for logs); depth and path (the ids of the enclosing groups)
// guard group recursion. A failed group returns its per-member result along
// with a *groupError.
func (e *Engine) runJob(ctx context.Context, j *hookd.Job, input json.RawMessage, execID string, depth int, path []string) (json.RawMessage, error) {
	cfg, err := DecodeConfig(j.Kind, j.Config)
	if err != nil {
		return nil, fmt.Errorf("invalid job config: %s", hookd.ErrorMessage(err))
	}
	timeout := time.Duration(j.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = DefaultTimeoutSeconds * time.Second
	}
	switch c := cfg.(type) {
	case CommandConfig:
		res, err := RunCommand(ctx, c, input, timeout, e.cfg.KillGrace)
		if err != nil {
			return nil, err
		}
		return res.Output, nil
	case HTTPConfig:
		if e.cfg.HTTPClient == nil {
			return nil, errors.New("http jobs are not enabled on this server")
		}
		return RunHTTP(ctx, e.cfg.HTTPClient, c, input, timeout)
	case EventConfig:
		return e.runEvent(ctx, j, c, input, timeout)
	case GroupConfig:
		ctx, cancel := context.WithTimeoutCause(ctx, timeout, &TimeoutError{After: timeout})
		defer cancel()
		return e.runGroup(ctx, j, c, input, execID, depth, append(path[:len(path):len(path)], j.ID))
	default:
		return nil, fmt.Errorf("unknown job kind %q", j.Kind)
	}
}

// runEvent publishes the event of an event job: the input as data when it is
// a JSON object, else {"input": <input>}.
func (e *Engine) runEvent(ctx context.Context, j *hookd.Job, c EventConfig, input json.RawMessage, timeout time.Duration) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, &TimeoutError{After: timeout})
	defer cancel()
	evt, _, err := e.store.EventPublish(ctx, hookd.PublishParams{
		WorkspaceID: j.WorkspaceID, Type: c.Type, Data: eventData(input), OwnerID: j.OwnerID, Now: e.cfg.Now(),
	})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return nil, fmt.Errorf("publish event: %w", cause)
		}
		return nil, fmt.Errorf("publish event: %w", err)
	}
	e.publishWake()
	return eventResult(evt), nil
}

// eventData is an event job's data for input: the input itself when it is a
// JSON object, {} when empty, else {"input": <input>}. input is an
// execution's, which the stores keep valid JSON (they store anything else as
// a JSON string), so an object is taken as it is without checking it again:
// for a run ended inline this runs inside the store's one writer.
func eventData(input json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(input)
	switch {
	case len(t) == 0:
		return json.RawMessage("{}")
	case t[0] == '{' && t[len(t)-1] == '}':
		return json.RawMessage(t)
	case json.Valid(t):
		return json.RawMessage(`{"input":` + string(t) + `}`)
	default:
		s, _ := json.Marshal(string(t))
		return json.RawMessage(`{"input":` + string(s) + `}`)
	}
}

// memberResult is one member's entry in a group's result.
type memberResult struct {
	Status string          `json:"status"`
	Result json.RawMessage `json:"result,omitempty"`
	Reason string          `json:"reason,omitempty"`
}

// groupError is a group whose members did not all succeed.
type groupError struct{ failed []string } // "name: reason", by name

func (g *groupError) Error() string {
	return fmt.Sprintf("%d member(s) failed: %s", len(g.failed), strings.Join(g.failed, "; "))
}

// runGroup runs the members of group j concurrently, each with its own
// runner and timeout, all with the group's input. The result maps each
// member's name to {status, result | reason}; the group fails when any
// member fails. path holds the ids of j and its enclosing groups.
func (e *Engine) runGroup(ctx context.Context, j *hookd.Job, c GroupConfig, input json.RawMessage, execID string, depth int, path []string) (json.RawMessage, error) {
	type member struct {
		key string
		job *hookd.Job
		res memberResult
	}
	members := make([]*member, len(c.Jobs))
	seen := map[string]bool{}
	for i, ref := range c.Jobs {
		m := &member{key: ref}
		members[i] = m
		mj, err := e.resolveMember(ctx, j.WorkspaceID, ref)
		switch {
		case err != nil && hookd.IsNotFound(err):
			m.res = memberResult{Status: hookd.ExecFailed, Reason: "job not found"}
			continue
		case err != nil:
			m.res = memberResult{Status: hookd.ExecFailed, Reason: "load job: " + err.Error()}
			continue
		}
		if !seen[mj.Name] {
			m.key = mj.Name
		}
		seen[m.key] = true
		switch {
		case slices.Contains(path, mj.ID):
			m.res = memberResult{Status: hookd.ExecFailed, Reason: "a group cannot contain itself"}
		case mj.Kind == hookd.JobGroup && depth+1 >= MaxGroupDepth:
			m.res = memberResult{Status: hookd.ExecFailed, Reason: fmt.Sprintf("groups nest deeper than %d", MaxGroupDepth)}
		default:
			m.job = mj
		}
	}
	var wg sync.WaitGroup
	for _, m := range members {
		if m.job == nil {
			continue
		}
		wg.Go(func() {
			res, err := e.runJob(ctx, m.job, input, execID, depth+1, path)
			if err != nil {
				m.res = memberResult{Status: hookd.ExecFailed, Reason: e.reason(err)}
				if _, ok := err.(*groupError); ok {
					m.res.Result = res
				}
				return
			}
			if len(bytes.TrimSpace(res)) == 0 {
				res = json.RawMessage("null")
			}
			m.res = memberResult{Status: hookd.ExecSucceeded, Result: res}
		})
	}
	wg.Wait()
	out := make(map[string]memberResult, len(members))
	var failed []string
	for _, m := range members {
		out[m.key] = m.res
		if m.res.Status != hookd.ExecSucceeded {
			failed = append(failed, m.key+": "+m.res.Reason)
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("group result: %w", err)
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return data, &groupError{failed: failed}
	}
	return data, nil
}

// resolveMember finds a group member by id, else by name, in workspace ws.
func (e *Engine) resolveMember(ctx context.Context, ws, ref string) (*hookd.Job, error) {
	if strings.HasPrefix(ref, hookd.PrefixJob) {
		j, err := e.store.JobGet(ctx, ws, ref)
		if err == nil || !hookd.IsNotFound(err) {
			return j, err
		}
	}
	return e.store.JobGetByName(ctx, ws, ref)
}
