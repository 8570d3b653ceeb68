package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

const executionCols = `id, workspace_id, job_id, trigger_id, source, status, input, result, reason, created, run_at,
	period, started_at, finished_at, duration_ms`

// reasonInterrupted is the reason of an execution failed by
// ExecutionsInterrupt.
const reasonInterrupted = "interrupted"

// Claim scan bounds: queued rows read from the queue index per claim before
// falling back to one probe per job (a backlog of jobs at their concurrency
// fills the head of the queue).
const (
	execClaimPage    = 256
	execClaimScanMin = 4096
)

func scanExecution(sc pgx.Row) (*hookd.Execution, error) {
	var e hookd.Execution
	var input, result []byte
	if err := sc.Scan(&e.ID, &e.WorkspaceID, &e.JobID, &e.TriggerID, &e.Source, &e.Status, &input, &result, &e.Reason,
		&e.CreatedAt, &e.RunAt, &e.Period, &e.StartedAt, &e.FinishedAt, &e.DurationMS); err != nil {
		return nil, err
	}
	e.Input = json.RawMessage(input)
	if result != nil {
		e.Result = json.RawMessage(result)
	}
	return &e, nil
}

// jsonText returns raw as stored JSON text: empty becomes nil (NULL), and
// text that is not JSON is stored as a JSON string of itself, so that every
// stored value reads back as valid JSON.
func jsonText(raw json.RawMessage) *string {
	if len(raw) == 0 {
		return nil
	}
	s := string(raw)
	if !json.Valid(raw) {
		b, _ := json.Marshal(s)
		s = string(b)
	}
	return &s
}

// prepareExecution fills the defaults of a new queued execution.
func (s *Store) prepareExecution(e *hookd.Execution) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	e.CreatedAt = trunc(e.CreatedAt)
	if e.ID == "" {
		e.ID = hookd.NewIDAt(hookd.PrefixExecution, e.CreatedAt)
	}
	if e.RunAt.IsZero() {
		e.RunAt = e.CreatedAt
	}
	e.RunAt = trunc(e.RunAt)
	e.Period = truncPtr(e.Period)
	e.Status = hookd.ExecQueued
	e.Result, e.Reason, e.StartedAt, e.FinishedAt, e.DurationMS = nil, "", nil, nil, 0
	if len(e.Input) == 0 {
		e.Input = json.RawMessage("{}")
	}
	e.Input = json.RawMessage(*jsonText(e.Input))
}

const insertExecutionCols = `id, workspace_id, job_id, trigger_id, source, status, input, created, run_at, period`

const insertExecutionSQL = `INSERT INTO executions (` + insertExecutionCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

func insertExecutionArgs(e *hookd.Execution) []any {
	return []any{e.ID, e.WorkspaceID, e.JobID, e.TriggerID, e.Source, e.Status, string(e.Input), e.CreatedAt, e.RunAt, e.Period}
}

// ExecutionCreate inserts e as a queued execution, filling ID, CreatedAt (the
// store's clock when zero), RunAt (CreatedAt when zero), Input ({} when
// empty) and Status. ENotFound when the job is not the workspace's;
// EConflict when e.Period is set and the job already has a run for it
// (executions_period, a unique index: one run per period cluster-wide).
//
// The job row is share-locked (FOR KEY SHARE) in the same statement, so a
// concurrent JobDelete either comes first (ENotFound) or waits and cancels
// this run.
func (s *Store) ExecutionCreate(ctx context.Context, e *hookd.Execution) error {
	s.prepareExecution(e)
	var n int
	err := s.pool.QueryRow(ctx, `WITH j AS (SELECT id FROM jobs WHERE id = $3 AND workspace_id = $2 FOR KEY SHARE),
		x AS (INSERT INTO executions (`+insertExecutionCols+`)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM j RETURNING 1)
		SELECT count(*) FROM x`, insertExecutionArgs(e)...).Scan(&n)
	if pgCode(err) == codeUnique {
		if e.Period != nil {
			return hookd.Errorf(hookd.EConflict, "job %s already has a run for period %s", e.JobID, e.Period.Format(time.RFC3339))
		}
		return hookd.Errorf(hookd.EConflict, "execution already exists")
	}
	if err != nil {
		return fmt.Errorf("postgres: execution create: %w", err)
	}
	if n == 0 {
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	s.wake(hookd.WakeExecutions)
	return nil
}

// ExecutionGet reads an execution of the workspace; ENotFound when absent or
// of another workspace.
func (s *Store) ExecutionGet(ctx context.Context, workspaceID, id string) (*hookd.Execution, error) {
	e, err := getExecution(ctx, s.pool, workspaceID, id)
	return getResult(e, err, "execution")
}

func getExecution(ctx context.Context, q dbtx, workspaceID, id string) (*hookd.Execution, error) {
	return scanExecution(q.QueryRow(ctx, `SELECT `+executionCols+` FROM executions WHERE id = $1 AND workspace_id = $2`, id, workspaceID))
}

// ExecutionList lists a workspace's executions newest first (ties in
// insertion order, newest first) with the total count, narrowed by job,
// trigger, status and source.
func (s *Store) ExecutionList(ctx context.Context, f hookd.ExecutionFilter) ([]hookd.Execution, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `workspace_id = $1`
	args := []any{f.WorkspaceID}
	for _, c := range []struct{ col, v string }{
		{"job_id", f.JobID}, {"trigger_id", f.TriggerID}, {"status", f.Status}, {"source", f.Source},
	} {
		if c.v != "" {
			args = append(args, c.v)
			where += fmt.Sprintf(` AND %s = $%d`, c.col, len(args))
		}
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM executions WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: execution list: %w", err)
	}
	rows, _ := s.pool.Query(ctx, fmt.Sprintf(`SELECT `+executionCols+` FROM executions WHERE `+where+`
		ORDER BY created DESC, seq DESC LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2), append(args, limit, offset)...)
	out, err := collectExecutions(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: execution list: %w", err)
	}
	return out, total, nil
}

func collectExecutions(rows pgx.Rows) ([]hookd.Execution, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.Execution, error) {
		e, err := scanExecution(r)
		if err != nil {
			return hookd.Execution{}, err
		}
		return *e, nil
	})
	return nonNil(out), err
}

// claimJob is a job's state during one claim.
type claimJob struct {
	job   *hookd.Job
	room  int // concurrency minus running, when locked
	left  int // room not yet spent on rows seen by the scan
	lease time.Time
}

// execCand is a queued execution a claim may start.
type execCand struct {
	runAt     time.Time
	seq       int64
	id, jobID string
	wsID      string
}

func (a execCand) before(b execCand) bool {
	if c := a.runAt.Compare(b.runAt); c != 0 {
		return c < 0
	}
	return a.seq < b.seq
}

// ExecutionsClaim starts up to p.Limit queued executions whose RunAt is at
// or before p.Now, oldest RunAt first (then in the order they were queued),
// in one transaction. A job's runs start only while its running count is
// below its concurrency; a later run of a job never starts while an earlier
// due one of the same job waits. Each claimed run becomes running with
// StartedAt = p.Now, a lease until p.Now + p.Lease (its owner renews it
// while the run goes on, ExecutionsRenew) held by p.Owner, and sets its job's last_run_at to p.Now. Claimed rows
// carry their job.
//
// Across nodes: the claim locks the row of every job it may start runs of
// (FOR NO KEY UPDATE SKIP LOCKED: a job another node is claiming right now
// is left to that node) and only then, in a later statement whose snapshot
// sees every claim committed before the lock was granted, counts the job's
// running executions and reads its queued runs. So the running count of a
// job can never exceed its concurrency, whatever the number of nodes.
//
// Cost: pages of the queue index (no locks) until Limit runs are found,
// bounded to max(4096, 16×Limit) rows; per page, one statement locking the
// new jobs met and one counting their running runs (pipelined); then one
// statement reading the chosen jobs' oldest due runs, one update of the
// runs and one of the jobs. When the bound is hit before Limit is reached
// (the head of the queue is a backlog of jobs at their concurrency), every
// other job with due runs is locked and probed too (one probe each), so no
// job waits behind another's backlog.
func (s *Store) ExecutionsClaim(ctx context.Context, p hookd.ExecClaimParams) ([]hookd.ClaimedExecution, error) {
	if p.Limit <= 0 {
		return []hookd.ClaimedExecution{}, nil
	}
	now := trunc(p.Now)
	var out []hookd.ClaimedExecution
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = []hookd.ClaimedExecution{}
		jobs := map[string]*claimJob{} // seen; job == nil: not ours (locked elsewhere or gone)
		var cursor execCand
		cursor.runAt = time.Unix(0, 0).UTC().AddDate(-1000, 0, 0)
		est, scanned := 0, 0
		exhausted := false
		bound := max(execClaimScanMin, 16*p.Limit)
		for est < p.Limit && scanned < bound {
			rows, _ := tx.Query(ctx, `SELECT run_at, seq, id, job_id, workspace_id FROM executions
				WHERE status = 'queued' AND run_at <= $1 AND (run_at, seq) > ($2, $3)
				ORDER BY run_at, seq LIMIT $4`, now, cursor.runAt, cursor.seq, execClaimPage)
			var page []execCand
			var c execCand
			_, err := pgx.ForEachRow(rows, []any{&c.runAt, &c.seq, &c.id, &c.jobID, &c.wsID}, func() error {
				page = append(page, c)
				return nil
			})
			if err != nil {
				return err
			}
			var newIDs, newWS []string
			for _, c := range page {
				if _, ok := jobs[c.jobID]; !ok {
					jobs[c.jobID] = &claimJob{}
					newIDs, newWS = append(newIDs, c.jobID), append(newWS, c.wsID)
				}
			}
			if err := lockJobs(ctx, tx, jobs, newIDs, newWS, p.Lease, now); err != nil {
				return err
			}
			for _, c := range page {
				if js := jobs[c.jobID]; js.job != nil && js.left > 0 {
					js.left--
					est++
				}
			}
			scanned += len(page)
			if len(page) > 0 {
				cursor = page[len(page)-1]
			}
			if len(page) < execClaimPage {
				exhausted = true
				break
			}
		}
		bounded := !exhausted
		if !exhausted && est < p.Limit {
			// Backlog: every other job with due runs, one probe each.
			rows, _ := tx.Query(ctx, `SELECT j.id, j.workspace_id FROM jobs j
				WHERE j.id <> ALL($1) AND EXISTS (SELECT 1 FROM executions e
					WHERE e.workspace_id = j.workspace_id AND e.job_id = j.id AND e.status = 'queued' AND e.run_at <= $2)`,
				keys(jobs), now)
			var ids, ws []string
			var id, w string
			if _, err := pgx.ForEachRow(rows, []any{&id, &w}, func() error {
				ids, ws = append(ids, id), append(ws, w)
				jobs[id] = &claimJob{}
				return nil
			}); err != nil {
				return err
			}
			if err := lockJobs(ctx, tx, jobs, ids, ws, p.Lease, now); err != nil {
				return err
			}
			bounded = false
		}

		// The chosen jobs' oldest due runs, read after their locks.
		var jids, jws []string
		var jroom []int32
		for id, js := range jobs {
			if js.job != nil && js.room > 0 {
				jids, jws, jroom = append(jids, id), append(jws, js.job.WorkspaceID), append(jroom, int32(min(js.room, p.Limit)))
			}
		}
		if len(jids) == 0 {
			return nil
		}
		maxRunAt, maxSeq := now, int64(1<<63-1)
		if bounded {
			maxRunAt, maxSeq = cursor.runAt, cursor.seq
		}
		rows, _ := tx.Query(ctx, `SELECT e.run_at, e.seq, e.id, e.job_id, e.workspace_id
			FROM unnest($1::text[], $2::text[], $3::int[]) AS j (id, ws, room)
			CROSS JOIN LATERAL (SELECT run_at, seq, id, job_id, workspace_id FROM executions
				WHERE workspace_id = j.ws AND job_id = j.id AND status = 'queued' AND run_at <= $4
				  AND (run_at, seq) <= ($5, $6)
				ORDER BY run_at, seq LIMIT j.room) e`, jids, jws, jroom, now, maxRunAt, maxSeq)
		var cands []execCand
		var c execCand
		if _, err := pgx.ForEachRow(rows, []any{&c.runAt, &c.seq, &c.id, &c.jobID, &c.wsID}, func() error {
			cands = append(cands, c)
			return nil
		}); err != nil {
			return err
		}
		slices.SortFunc(cands, func(a, b execCand) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
		if len(cands) > p.Limit {
			cands = cands[:p.Limit]
		}
		if len(cands) == 0 {
			return nil
		}
		ids := make([]string, len(cands))
		leases := make([]time.Time, len(cands))
		ran := map[string]bool{}
		var ranIDs []string
		for i, c := range cands {
			ids[i] = c.id
			leases[i] = jobs[c.jobID].lease
			if !ran[c.jobID] {
				ran[c.jobID] = true
				ranIDs = append(ranIDs, c.jobID)
			}
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE executions x SET status = 'running', started_at = $3, lease_until = u.lease, lease_owner = $4
			FROM unnest($1::text[], $2::timestamptz[]) AS u (id, lease)
			WHERE x.id = u.id AND x.id = ANY($1) AND x.status = 'queued'
			RETURNING `+prefixCols("x.", executionCols)+`, x.seq`, ids, leases, now, p.Owner).Query(func(rows pgx.Rows) error {
			got := map[string]hookd.ClaimedExecution{}
			for rows.Next() {
				var seq int64
				var e hookd.Execution
				var input, result []byte
				if err := rows.Scan(&e.ID, &e.WorkspaceID, &e.JobID, &e.TriggerID, &e.Source, &e.Status, &input, &result,
					&e.Reason, &e.CreatedAt, &e.RunAt, &e.Period, &e.StartedAt, &e.FinishedAt, &e.DurationMS, &seq); err != nil {
					return err
				}
				e.Input = json.RawMessage(input)
				if result != nil {
					e.Result = json.RawMessage(result)
				}
				got[e.ID] = hookd.ClaimedExecution{Execution: e}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, c := range cands {
				if x, ok := got[c.id]; ok {
					js := jobs[c.jobID]
					js.job.LastRunAt = &now
					x.Job = *js.job
					out = append(out, x)
				}
			}
			return nil
		})
		b.Queue(`UPDATE jobs SET last_run_at = $2 WHERE id = ANY($1)`, ranIDs, now)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: executions claim: %w", err)
	}
	return out, nil
}

// lockJobs locks the listed jobs (those another transaction holds are
// skipped: left with a nil job) and, in a second statement of the same
// pipeline — its snapshot taken after the locks were granted — counts
// their running executions.
func lockJobs(ctx context.Context, tx pgx.Tx, jobs map[string]*claimJob, ids, ws []string, lease time.Duration, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+jobCols+` FROM jobs WHERE id = ANY($1) FOR NO KEY UPDATE SKIP LOCKED`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			if js := jobs[j.ID]; js != nil {
				js.job = j
				js.room = max(j.Concurrency, 1)
				js.lease = now.Add(lease)
			}
		}
		return rows.Err()
	})
	b.Queue(`SELECT r.job_id, count(*) FROM unnest($1::text[], $2::text[]) AS j (id, ws)
		JOIN executions r ON r.workspace_id = j.ws AND r.job_id = j.id AND r.status = 'running'
		GROUP BY r.job_id`, ids, ws).Query(func(rows pgx.Rows) error {
		var id string
		var n int
		_, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
			if js := jobs[id]; js != nil && js.job != nil {
				js.room = max(js.room-n, 0)
			}
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for _, id := range ids {
		if js := jobs[id]; js.job != nil {
			js.left = js.room
		}
	}
	return nil
}

func keys(m map[string]*claimJob) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// prefixCols qualifies each column of cols with prefix.
func prefixCols(prefix, cols string) string {
	var b []byte
	field := true
	for i := 0; i < len(cols); i++ {
		c := cols[i]
		if field && c != ' ' && c != '\t' && c != '\n' {
			b = append(b, prefix...)
			field = false
		}
		if c == ',' {
			field = true
		}
		b = append(b, c)
	}
	return string(b)
}

// ExecutionFinish sets a running execution's final status (succeeded, failed
// or canceled), result (text that is not JSON is stored as a JSON string),
// reason, FinishedAt = p.Now and duration since its start, and publishes
// p.Outcome (when set) in the same transaction: either both are committed or
// neither. It returns the published event, nil without an outcome. EInvalid
// for another status; ENotFound when the execution is not the workspace's;
// EConflict when it is not running (queued, or already finished).
func (s *Store) ExecutionFinish(ctx context.Context, p hookd.ExecFinishParams) (*hookd.Event, error) {
	switch p.Status {
	case hookd.ExecSucceeded, hookd.ExecFailed, hookd.ExecCanceled:
	default:
		return nil, hookd.FieldErrorf("status", "must be succeeded, failed or canceled, not %q", p.Status)
	}
	now := trunc(p.Now)
	if p.Now.IsZero() {
		now = trunc(s.now())
	}
	var evt, ran *hookd.Event
	err := s.tx(ctx, func(tx pgx.Tx) error {
		evt, ran = nil, nil
		var status string
		var started *time.Time
		err := tx.QueryRow(ctx, `SELECT status, started_at FROM executions WHERE id = $1 AND workspace_id = $2 FOR UPDATE`,
			p.ID, p.WorkspaceID).Scan(&status, &started)
		if errors.Is(err, pgx.ErrNoRows) {
			return hookd.Errorf(hookd.ENotFound, "execution not found")
		}
		if err != nil {
			return err
		}
		if status != hookd.ExecRunning {
			return hookd.Errorf(hookd.EConflict, "execution is %s, not running", status)
		}
		var dur int64
		if started != nil {
			dur = max(now.Sub(*started).Milliseconds(), 0)
		}
		p := p // OnEvent fills in this try's copy
		if p.Event != nil {
			if ran, err = s.publishOutcome(ctx, tx, p.Event, now); err != nil {
				return err
			}
			if p.OnEvent != nil {
				p.OnEvent(ran, &p)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE executions SET status = $1, result = $2, reason = $3, finished_at = $4,
				duration_ms = $5, lease_until = NULL WHERE id = $6 AND workspace_id = $7`,
			p.Status, jsonText(p.Result), p.Reason, now, dur, p.ID, p.WorkspaceID); err != nil {
			return err
		}
		if p.Outcome != nil {
			if evt, err = s.publishOutcome(ctx, tx, p.Outcome, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: execution finish: %w", err)
	}
	// A slot of the job is free; the events may have made deliveries.
	s.wake(hookd.WakeExecutions)
	if (evt != nil && len(evt.DeliveryIDs) > 0) || (ran != nil && len(ran.DeliveryIDs) > 0) {
		s.wake(hookd.WakeDeliveries)
	}
	return evt, nil
}

// publishOutcome publishes p inside tx (stamped now when p.Now is zero) and
// returns the event (the first one when its idempotency key was used
// before).
func (s *Store) publishOutcome(ctx context.Context, tx pgx.Tx, p *hookd.PublishParams, now time.Time) (*hookd.Event, error) {
	pp := *p
	if pp.Now.IsZero() {
		pp.Now = now
	}
	evt, _, err := s.publish(ctx, tx, pp)
	return evt, err
}

// ExecutionsInterrupt fails every running execution whose lease ended before
// now (its node died or shut down without finishing it) with reason
// "interrupted", FinishedAt = now and the duration since its start, and
// publishes outcome(x) for each (when outcome is non-nil and returns
// non-nil) in the same transaction. outcome is called before the write, on
// the caller's goroutine, with x as it will be stored; it may read the
// store. It returns the failed executions, oldest lease first. Runs finished
// (or interrupted by another node) meanwhile are left alone.
func (s *Store) ExecutionsInterrupt(ctx context.Context, now time.Time, outcome func(*hookd.Execution) *hookd.PublishParams) ([]hookd.Execution, error) {
	now = trunc(now)
	rows, _ := s.pool.Query(ctx, `SELECT `+executionCols+` FROM executions
		WHERE status = 'running' AND lease_until < $1 ORDER BY lease_until, id`, now)
	cands, err := collectExecutions(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: executions interrupt: %w", err)
	}
	if len(cands) == 0 {
		return []hookd.Execution{}, nil
	}
	for i := range cands {
		x := &cands[i]
		x.Status, x.Reason, x.FinishedAt = hookd.ExecFailed, reasonInterrupted, &now
		if x.StartedAt != nil {
			x.DurationMS = max(now.Sub(*x.StartedAt).Milliseconds(), 0)
		}
	}
	events := make([]*hookd.PublishParams, len(cands))
	if outcome != nil {
		for i := range cands {
			x := cands[i]
			events[i] = outcome(&x)
		}
	}
	var out []hookd.Execution
	published := false
	err = s.tx(ctx, func(tx pgx.Tx) error {
		out = []hookd.Execution{}
		published = false
		for i, x := range cands {
			tag, err := tx.Exec(ctx, `UPDATE executions SET status = 'failed', reason = $1, finished_at = $2, duration_ms = $3,
					lease_until = NULL
				WHERE id = $4 AND workspace_id = $5 AND status = 'running' AND lease_until < $2`,
				reasonInterrupted, now, x.DurationMS, x.ID, x.WorkspaceID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue // finished meanwhile
			}
			if events[i] != nil {
				evt, err := s.publishOutcome(ctx, tx, events[i], now)
				if err != nil {
					return err
				}
				published = published || len(evt.DeliveryIDs) > 0
			}
			out = append(out, x)
		}
		return nil
	})
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: executions interrupt: %w", err)
	}
	if len(out) > 0 {
		s.wake(hookd.WakeExecutions)
	}
	if published {
		s.wake(hookd.WakeDeliveries)
	}
	return out, nil
}

// ExecutionsNextRunAt returns the earliest RunAt of a queued execution (of
// any workspace, startable or waiting for its job's concurrency); ok=false
// when none is queued.
func (s *Store) ExecutionsNextRunAt(ctx context.Context) (time.Time, bool, error) {
	var at *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(run_at) FROM executions WHERE status = 'queued'`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: executions next run: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}

// ExecutionsRenew moves to until the leases of the running executions among
// ids that owner holds, in one statement; it returns how many it renewed.
func (s *Store) ExecutionsRenew(ctx context.Context, owner string, ids []string, until time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE executions SET lease_until = $1
		WHERE id = ANY($2) AND status = 'running' AND lease_owner = $3`, trunc(until), ids, owner)
	if err != nil {
		return 0, fmt.Errorf("postgres: executions renew: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
