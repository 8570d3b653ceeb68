package job

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hookd/hookd"
)

// minScheduleTick is the shortest pause between two scheduler passes when
// the poll interval is longer.
const minScheduleTick = time.Second

// runScheduler queues the runs of scheduled jobs until ctx ends. A pass runs
// at start and then at the earliest next due time, at least every
// PollInterval and, when PollInterval is longer than a second, at most every
// second.
//
// A run is queued for a job when the due time its schedule gives (from the
// job's creation or last run of any source, see Schedule.Next) has come. The
// execution carries the due time's period, which the store keeps unique per
// job: a pass that finds the period already queued (an earlier pass before
// the run started, another node, or this node before a restart) gets
// EConflict and moves on, so no period ever runs twice.
func (e *Engine) runScheduler(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next, ok := e.schedulePass(ctx)
		wait := e.cfg.PollInterval
		if ok && wait > minScheduleTick {
			wait = min(max(next.Sub(e.cfg.Now()), minScheduleTick), wait)
		}
		timer.Reset(wait)
	}
}

// schedulePass queues every due scheduled run and returns the earliest due
// time still to come (ok=false when none is known).
func (e *Engine) schedulePass(ctx context.Context) (next time.Time, ok bool) {
	jobs, err := e.store.JobsScheduled(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("scheduler: load scheduled jobs", "err", err)
		}
		return time.Time{}, false
	}
	now := e.cfg.Now()
	queued := 0
	for i := range jobs {
		j := &jobs[i]
		sched, err := ParseSchedule(j.Schedule)
		if err != nil {
			// Validated when stored; a stored schedule that no longer parses
			// (a removed time zone) must not stop the others.
			e.log.Warn("scheduler: invalid schedule", "job_id", j.ID, "err", err)
			continue
		}
		due := sched.Next(j.CreatedAt, j.LastRunAt, now)
		if due.IsZero() {
			continue
		}
		if due.After(now) {
			if !ok || due.Before(next) {
				next, ok = due, true
			}
			continue
		}
		created, err := e.queueScheduled(ctx, j, sched, due, now)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("scheduler: queue run", "job_id", j.ID, "err", err)
			}
			continue
		}
		if created {
			queued++
		}
	}
	if queued > 0 {
		e.Wake()
	}
	return next, ok
}

// queueScheduled queues the run of job j for the period of due; created is
// false when that period already has its run.
func (e *Engine) queueScheduled(ctx context.Context, j *hookd.Job, sched Schedule, due, now time.Time) (created bool, err error) {
	input, err := json.Marshal(struct {
		ScheduledFor time.Time `json:"scheduled_for"`
	}{due.UTC()})
	if err != nil {
		return false, err
	}
	period := sched.Period(due)
	x := &hookd.Execution{
		ID:          hookd.NewIDAt(hookd.PrefixExecution, now),
		WorkspaceID: j.WorkspaceID,
		JobID:       j.ID,
		Source:      hookd.SourceSchedule,
		Status:      hookd.ExecQueued,
		Input:       input,
		CreatedAt:   now,
		RunAt:       now,
		Period:      &period,
	}
	switch err := e.store.ExecutionCreate(ctx, x); hookd.ErrorCode(err) {
	case "":
		e.log.Info("scheduler: queued run", "job_id", j.ID, "execution_id", x.ID, "scheduled_for", due)
		return true, nil
	case hookd.EConflict, hookd.ENotFound: // period taken; job deleted meanwhile
		return false, nil
	default:
		return false, err
	}
}
