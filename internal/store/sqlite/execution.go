package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hookd/hookd"
)

const executionCols = `id, workspace_id, job_id, trigger_id, source, status, input, result, reason, created, run_at,
	period, started_at, finished_at, duration_ms`

// reasonInterrupted is the reason of an execution failed by
// ExecutionsInterrupt.
const reasonInterrupted = "interrupted"

// Claim scan bounds: queued rows read from the queue index per claim. They
// keep a claim cheap when the head of the queue is a backlog of jobs already
// at their concurrency; runs behind such a backlog wait for a later claim.
const (
	execClaimPage    = 256
	execClaimScanMin = 4096
)

func scanExecution(sc rowScanner) (*hookd.Execution, error) {
	var e hookd.Execution
	var input string
	var result sql.NullString
	var created, runAt int64
	var period, started, finished sql.NullInt64
	if err := sc.Scan(&e.ID, &e.WorkspaceID, &e.JobID, &e.TriggerID, &e.Source, &e.Status, &input, &result, &e.Reason,
		&created, &runAt, &period, &started, &finished, &e.DurationMS); err != nil {
		return nil, err
	}
	e.Input = json.RawMessage(input)
	if result.Valid {
		e.Result = json.RawMessage(result.String)
	}
	e.CreatedAt, e.RunAt = fromUS(created), fromUS(runAt)
	e.Period, e.StartedAt, e.FinishedAt = fromNullUS(period), fromNullUS(started), fromNullUS(finished)
	return &e, nil
}

// jsonText returns raw as stored JSON text: empty becomes def (nil = NULL),
// and text that is not JSON is stored as a JSON string of itself, so that
// every stored value reads back as valid JSON.
func jsonText(raw json.RawMessage, def any) any {
	if len(raw) == 0 {
		return def
	}
	if !json.Valid(raw) {
		b, _ := json.Marshal(string(raw))
		return string(b)
	}
	return string(raw)
}

// prepareExecution fills the defaults of a new queued execution.
func (s *Store) prepareExecution(e *hookd.Execution) { s.prepareRun(e, false) }

// prepareRun is prepareExecution, trusting e.Input to be valid JSON when
// inputValid (hookd.CallAcceptParams.InputValid).
func (s *Store) prepareRun(e *hookd.Execution, inputValid bool) {
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
	if !inputValid && !json.Valid(e.Input) {
		e.Input = json.RawMessage(jsonText(e.Input, nil).(string))
	}
}

// insertExecution inserts a prepared queued execution.
func insertExecution(tx writeTx, e *hookd.Execution) error {
	_, err := tx.Exec(hqExecution11,
		e.ID, e.WorkspaceID, e.JobID, e.TriggerID, e.Source, e.Status, string(e.Input), us(e.CreatedAt), us(e.RunAt),
		nullUS(e.Period))
	return err
}

// ExecutionCreate inserts e as a queued execution, filling ID, CreatedAt (the
// store's clock when zero), RunAt (CreatedAt when zero), Input ({} when
// empty) and Status. ENotFound when the job is not the workspace's;
// EConflict when e.Period is set and the job already has a run for it.
func (s *Store) ExecutionCreate(ctx context.Context, e *hookd.Execution) error {
	s.prepareExecution(e)
	exists := false
	err := s.write(ctx, func(rawTx *sql.Tx) error {
		tx := s.prepared(rawTx)
		ok, err := jobExists(tx, e.WorkspaceID, e.JobID)
		if exists = ok; err != nil || !ok {
			return err
		}
		return insertExecution(tx, e)
	})
	if isUnique(err) {
		if e.Period != nil {
			return hookd.Errorf(hookd.EConflict, "job %s already has a run for period %s", e.JobID, e.Period.Format(time.RFC3339))
		}
		return hookd.Errorf(hookd.EConflict, "execution already exists")
	}
	if err != nil {
		return fmt.Errorf("sqlite: execution create: %w", err)
	}
	if !exists {
		return hookd.Errorf(hookd.ENotFound, "job not found")
	}
	return nil
}

// ExecutionGet reads an execution of the workspace; ENotFound when absent or
// of another workspace.
func (s *Store) ExecutionGet(ctx context.Context, workspaceID, id string) (*hookd.Execution, error) {
	e, err := scanExecution(s.rdb.QueryRowContext(ctx, `SELECT `+executionCols+` FROM executions WHERE id = ? AND workspace_id = ?`, id, workspaceID))
	return getResult(e, err, "execution")
}

// ExecutionList lists a workspace's executions newest first with the total
// count, narrowed by job, trigger, status and source.
func (s *Store) ExecutionList(ctx context.Context, f hookd.ExecutionFilter) ([]hookd.Execution, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `workspace_id = ?`
	args := []any{f.WorkspaceID}
	for _, c := range []struct{ col, v string }{
		{"job_id", f.JobID}, {"trigger_id", f.TriggerID}, {"status", f.Status}, {"source", f.Source},
	} {
		if c.v != "" {
			where += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	if f.Status != "" && f.Status != hookd.ExecSucceeded {
		where += ` AND status <> 'succeeded'` // executions_status is partial
	}
	var total int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM executions WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: execution list: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+executionCols+` FROM executions WHERE `+where+`
		ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: execution list: %w", err)
	}
	defer rows.Close()
	out := []hookd.Execution{}
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: execution list: %w", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: execution list: %w", err)
	}
	return out, total, nil
}

// claimJob is a job's state during one claim.
type claimJob struct {
	job   *hookd.Job // nil: the job is gone
	room  int        // how many more of its runs may start
	lease time.Time
	ran   bool // last_run_at set in this claim
}

// ExecutionsClaim starts up to p.Limit queued executions whose RunAt is at
// or before p.Now, oldest RunAt first (then in the order they were queued),
// in one transaction. A job's
// runs start only while its running count (counted in the database, so
// across processes) is below its concurrency; because the scan goes in run
// order, a later run of a job never starts while an earlier due one of the
// same job waits. Each claimed run becomes running with StartedAt = p.Now, a
// lease until p.Now + p.Lease (its owner renews it while the run goes on,
// ExecutionsRenew) held by p.Owner, and
// sets its job's last_run_at to p.Now. Claimed rows carry their job.
//
// Cost: one ordered scan of the queue index (a row lookup each for its job
// and workspace), bounded to max(4096, 16×Limit) rows, plus one count per
// job met. When the bound is hit before Limit is reached (the head of the
// queue is a backlog of jobs at their concurrency), one probe per job with
// room finds its oldest due runs, so no job waits behind another's backlog.
func (s *Store) ExecutionsClaim(ctx context.Context, p hookd.ExecClaimParams) ([]hookd.ClaimedExecution, error) {
	if p.Limit <= 0 {
		return []hookd.ClaimedExecution{}, nil
	}
	now := trunc(p.Now)
	var out []hookd.ClaimedExecution
	err := s.write(ctx, func(rawTx *sql.Tx) error {
		tx := s.prepared(rawTx)
		out = []hookd.ClaimedExecution{}
		jobs := map[string]*claimJob{}
		var chosen []execCand
		exhausted := false
		after := execCand{runAt: math.MinInt64}
		bound := max(execClaimScanMin, 16*p.Limit)
		for scanned := 0; len(chosen) < p.Limit && scanned < bound; {
			rows, err := tx.Query(hqExecution12, us(now), after.runAt, after.rowid, execClaimPage)
			if err != nil {
				return err
			}
			var page []execCand
			for rows.Next() {
				var c execCand
				if err := rows.Scan(&c.runAt, &c.rowid, &c.id, &c.job, &c.wsID); err != nil {
					rows.Close()
					return err
				}
				page = append(page, c)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			picked := 0
			for _, c := range page {
				after = c
				js, err := s.claimJobState(tx, jobs, c.wsID, c.job, p.Lease, now)
				if err != nil {
					return err
				}
				if js.room > 0 {
					js.room--
					picked++
					chosen = append(chosen, c)
					if len(chosen) == p.Limit {
						break
					}
				}
			}
			scanned += len(page)
			if len(page) < execClaimPage {
				exhausted = true
				break
			}
			if picked == 0 {
				// A whole page of runs whose jobs are at their concurrency:
				// the per-job probes of the fallback are cheaper than reading on.
				break
			}
		}
		if !exhausted && len(chosen) < p.Limit {
			more, err := s.execClaimFallback(tx, jobs, chosen, p.Limit-len(chosen), p.Lease, now)
			if err != nil {
				return err
			}
			chosen = append(chosen, more...)
		}
		for _, c := range chosen {
			js := jobs[c.job]
			x, err := scanExecution(tx.QueryRow(hqExecution13,
				us(now), us(js.lease), p.Owner, c.id))
			if err != nil {
				return err
			}
			if !js.ran {
				if _, err := tx.Exec(hqExecution14, us(now), c.job); err != nil {
					return err
				}
				delete(s.jobs, c.job)
				js.ran = true
				js.job.LastRunAt = &now
			}
			out = append(out, hookd.ClaimedExecution{Execution: *x})
		}
		for i := range out {
			out[i].Job = *jobs[out[i].JobID].job
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: executions claim: %w", err)
	}
	return out, nil
}

// execCand is a queued execution a claim may start.
type execCand struct {
	runAt, rowid  int64
	id, job, wsID string
}

// execClaimFallback runs when the claim's scan hit its bound with room left: the
// head of the queue is a backlog of jobs at their concurrency. It probes
// every job with room for its oldest due runs (after those already chosen)
// and returns the oldest n of them, so no job waits behind another's
// backlog. One probe per job.
func (s *Store) execClaimFallback(tx writeTx, jobs map[string]*claimJob, chosen []execCand, n int, lease time.Duration, now time.Time) ([]execCand, error) {
	taken := map[string]int{}
	for _, c := range chosen {
		taken[c.job]++
	}
	rows, err := tx.Query(hqExecution15)
	if err != nil {
		return nil, err
	}
	var all [][2]string
	for rows.Next() {
		var id, ws string
		if err := rows.Scan(&id, &ws); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, [2]string{id, ws})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var more []execCand
	for _, j := range all {
		js, err := s.claimJobState(tx, jobs, j[1], j[0], lease, now)
		if err != nil {
			return nil, err
		}
		if js.room <= 0 {
			continue
		}
		rows, err := tx.Query(hqExecution16, j[1], j[0], us(now), min(js.room, n), taken[j[0]])
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			c := execCand{job: j[0], wsID: j[1]}
			if err := rows.Scan(&c.runAt, &c.rowid, &c.id); err != nil {
				rows.Close()
				return nil, err
			}
			more = append(more, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(more, func(a, b execCand) int {
		return cmp.Or(cmp.Compare(a.runAt, b.runAt), cmp.Compare(a.rowid, b.rowid))
	})
	var out []execCand
	for _, c := range more {
		if len(out) == n {
			break
		}
		if js := jobs[c.job]; js.room > 0 {
			js.room--
			out = append(out, c)
		}
	}
	return out, nil
}

// claimJobState loads a job's claim state once per claim: its room is its
// concurrency minus its running executions.
func (s *Store) claimJobState(tx writeTx, jobs map[string]*claimJob, workspaceID, jobID string, lease time.Duration, now time.Time) (*claimJob, error) {
	if js, ok := jobs[jobID]; ok {
		return js, nil
	}
	js := &claimJob{}
	jobs[jobID] = js
	j, err := scanJob(tx.QueryRow(hqExecution17, jobID, workspaceID))
	if errors.Is(err, sql.ErrNoRows) {
		return js, nil // deleted: its queued runs were canceled; none start
	}
	if err != nil {
		return nil, err
	}
	var running int
	if err := tx.QueryRow(hqExecution18,
		workspaceID, jobID).Scan(&running); err != nil {
		return nil, err
	}
	js.job = j
	js.room = max(j.Concurrency, 1) - running
	js.lease = now.Add(lease)
	return js, nil
}

// outcomeEvent builds the event p publishes, as EventPublish would: stamped
// p.Now (or now when zero), data {} when empty; its id is id, a new one
// when empty.
func outcomeEvent(p *hookd.PublishParams, now time.Time, id string) *hookd.Event {
	at := now
	if !p.Now.IsZero() {
		at = trunc(p.Now)
	}
	data := p.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	if id == "" {
		id = hookd.NewIDAt(hookd.PrefixEvent, at)
	}
	return &hookd.Event{
		ID:             id,
		WorkspaceID:    p.WorkspaceID,
		Type:           p.Type,
		Data:           data,
		OwnerID:        p.OwnerID,
		IdempotencyKey: p.IdempotencyKey,
		Timestamp:      at,
	}
}

// publishOutcome publishes p inside tx and returns the event (the first one
// when its idempotency key was used before).
func (s *Store) publishOutcome(tx *sql.Tx, p *hookd.PublishParams, now time.Time) (*hookd.Event, error) {
	return s.publishFrom(tx, p, now, "")
}

// publishFrom is publishOutcome with publishTx's dataFrom.
func (s *Store) publishFrom(tx *sql.Tx, p *hookd.PublishParams, now time.Time, dataFrom string) (*hookd.Event, error) {
	evt := outcomeEvent(p, now, "")
	existing, err := s.publishTx(tx, evt, dataFrom)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return existing, nil
	}
	return evt, nil
}

// ExecutionFinish sets a running execution's final status (succeeded, failed
// or canceled), result (text that is not JSON is stored as a JSON string),
// reason, FinishedAt = p.Now and duration since its start, and publishes
// p.Event (first, then calling p.OnEvent) and p.Outcome (when set) in the
// same transaction: either all are committed or none. An outcome that makes
// no deliveries is kept on the execution (migrations/00006_folded_events.sql).
// It returns the published outcome, nil without one. EInvalid for another
// status; ENotFound when the execution is not the workspace's; EConflict
// when it is not running (queued, or already finished).
func (s *Store) ExecutionFinish(ctx context.Context, p hookd.ExecFinishParams) (*hookd.Event, error) {
	if err := finishStatus(p.Status); err != nil {
		return nil, err
	}
	now := trunc(p.Now)
	if p.Now.IsZero() {
		now = trunc(s.now())
	}
	var evt *hookd.Event
	err := s.write(ctx, func(rawTx *sql.Tx) error {
		tx := s.prepared(rawTx)
		evt = nil
		var status string
		var started sql.NullInt64
		err := tx.QueryRow(hqExecution19,
			p.ID, p.WorkspaceID).Scan(&status, &started)
		if errors.Is(err, sql.ErrNoRows) {
			return hookd.Errorf(hookd.ENotFound, "execution not found")
		}
		if err != nil {
			return err
		}
		if status != hookd.ExecRunning {
			return hookd.Errorf(hookd.EConflict, "execution is %s, not running", status)
		}
		var dur int64
		if started.Valid {
			dur = max((us(now)-started.Int64)/1000, 0)
		}
		p := p // OnEvent fills in this run's copy
		if _, err := s.publishRunEvent(rawTx, &p, now, ""); err != nil {
			return err
		}
		// The outcome, kept on the execution when it makes no deliveries
		// (publishOrFold, as for runs ended inline).
		var out keptEvent
		if p.Outcome != nil {
			if evt, out, err = s.publishOrFold(rawTx, p.Outcome, now, "", foldedOutcomeID(p.ID)); err != nil {
				return err
			}
		}
		_, err = tx.Exec(hqExecution20,
			p.Status, jsonText(p.Result, nil), p.Reason, us(now), dur, out.typ, out.owner, out.data, p.ID)
		return err
	})
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: execution finish: %w", err)
	}
	return evt, nil
}

// finishStatus checks the status a run ends with.
func finishStatus(status string) error {
	switch status {
	case hookd.ExecSucceeded, hookd.ExecFailed, hookd.ExecCanceled:
		return nil
	}
	return hookd.FieldErrorf("status", "must be succeeded, failed or canceled, not %q", status)
}

// publishRunEvent publishes p.Event, when set, inside tx and lets p.OnEvent
// fill in p's result and outcome from it.
func (s *Store) publishRunEvent(tx *sql.Tx, p *hookd.ExecFinishParams, now time.Time, dataFrom string) (*hookd.Event, error) {
	if p.Event == nil {
		return nil, nil
	}
	evt, err := s.publishFrom(tx, p.Event, now, dataFrom)
	if err != nil {
		return nil, err
	}
	if p.OnEvent != nil {
		p.OnEvent(evt, p)
	}
	return evt, nil
}

// ExecutionsInterrupt fails every running execution whose lease ended before
// now (its node died or shut down without finishing it) with reason
// "interrupted", FinishedAt = now and the duration since its start, and
// publishes outcome(x) for each (when outcome is non-nil and returns
// non-nil) in the same transaction. outcome is called before the write, on
// the caller's goroutine, with x as it will be stored; it may read the
// store. It returns the failed executions, oldest lease first.
func (s *Store) ExecutionsInterrupt(ctx context.Context, now time.Time, outcome func(*hookd.Execution) *hookd.PublishParams) ([]hookd.Execution, error) {
	now = trunc(now)
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+executionCols+` FROM executions
		WHERE status = 'running' AND lease_until < ? ORDER BY lease_until, id`, us(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: executions interrupt: %w", err)
	}
	var cands []hookd.Execution
	for rows.Next() {
		x, err := scanExecution(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: executions interrupt: %w", err)
		}
		x.Status, x.Reason, x.FinishedAt = hookd.ExecFailed, reasonInterrupted, &now
		if x.StartedAt != nil {
			x.DurationMS = max(now.Sub(*x.StartedAt).Milliseconds(), 0)
		}
		cands = append(cands, *x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: executions interrupt: %w", err)
	}
	if len(cands) == 0 {
		return []hookd.Execution{}, nil
	}
	events := make([]*hookd.PublishParams, len(cands))
	if outcome != nil {
		for i := range cands {
			x := cands[i]
			events[i] = outcome(&x)
		}
	}
	var out []hookd.Execution
	err = s.write(ctx, func(rawTx *sql.Tx) error {
		tx := s.prepared(rawTx)
		out = []hookd.Execution{}
		for i, x := range cands {
			res, err := tx.Exec(hqExecution21,
				reasonInterrupted, us(now), x.DurationMS, x.ID, us(now))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return err
				}
				continue // finished meanwhile
			}
			if events[i] != nil {
				if _, err := s.publishOutcome(rawTx, events[i], now); err != nil {
					return err
				}
			}
			out = append(out, x)
		}
		return nil
	})
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: executions interrupt: %w", err)
	}
	return out, nil
}

// ExecutionsNextRunAt returns the earliest RunAt of a queued execution (of
// any workspace, startable or waiting for its job's concurrency); ok=false
// when none is queued.
func (s *Store) ExecutionsNextRunAt(ctx context.Context) (time.Time, bool, error) {
	var at int64
	err := s.rdb.QueryRowContext(ctx, `SELECT run_at FROM executions WHERE status = 'queued' ORDER BY run_at LIMIT 1`).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: executions next run: %w", err)
	}
	return fromUS(at), true, nil
}

// Hot statements, prepared when the store opens (see prepared.go).
var hqExecution11 = hot(`INSERT INTO executions (` + executionCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '', ?, ?, ?, NULL, NULL, 0)`)
var hqExecution12 = hot(`SELECT run_at, rowid, id, job_id, workspace_id FROM executions
				WHERE status = 'queued' AND run_at <= ? AND (run_at, rowid) > (?, ?)
				ORDER BY run_at, rowid LIMIT ?`)
var hqExecution13 = hot(`UPDATE executions SET status = 'running', started_at = ?,
					lease_until = ?, lease_owner = ?
				WHERE id = ? AND status = 'queued' RETURNING ` + executionCols)
var hqExecution14 = hot(`UPDATE jobs SET last_run_at = ? WHERE id = ?`)
var hqExecution15 = hot(`SELECT id, workspace_id FROM jobs`)
var hqExecution16 = hot(`SELECT run_at, rowid, id FROM executions
			WHERE workspace_id = ? AND job_id = ? AND status = 'queued' AND run_at <= ?
			ORDER BY run_at, rowid LIMIT ? OFFSET ?`)
var hqExecution17 = hot(`SELECT ` + jobCols + ` FROM jobs WHERE id = ? AND workspace_id = ?`)
var hqExecution18 = hot(`SELECT COUNT(*) FROM executions WHERE workspace_id = ? AND job_id = ? AND status = 'running'`)
var hqExecution19 = hot(`SELECT status, started_at FROM executions WHERE id = ? AND workspace_id = ?`)
var hqExecution20 = hot(`UPDATE executions SET status = ?, result = ?, reason = ?, finished_at = ?, duration_ms = ?,
				lease_until = NULL, outcome_type = ?, outcome_owner = ?, outcome_data = ? WHERE id = ?`)
var hqExecution21 = hot(`UPDATE executions SET status = 'failed', reason = ?, finished_at = ?, duration_ms = ?,
					lease_until = NULL
				WHERE id = ? AND status = 'running' AND lease_until < ?`)

// ExecutionsRenew moves to until the leases of the running executions among
// ids that owner holds, in one statement; it returns how many it renewed.
func (s *Store) ExecutionsRenew(ctx context.Context, owner string, ids []string, until time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return 0, fmt.Errorf("sqlite: executions renew: %w", err)
	}
	var n int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE executions SET lease_until = ?
			WHERE id IN (SELECT value FROM json_each(?)) AND status = 'running' AND lease_owner = ?`,
			us(trunc(until)), string(list), owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: executions renew: %w", err)
	}
	return int(n), nil
}
