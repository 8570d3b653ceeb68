package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// DedupWindow is how long a trigger remembers a dedup key.
const DedupWindow = 24 * time.Hour

// lastUsedResolution is how stale a trigger's last_used_at may be.
const lastUsedResolution = time.Second

const callCols = `id, workspace_id, trigger_id, disposition, execution_id, ip, method, status_code, detail, created`

func insertCall(tx writeTx, c *hookd.Call) error {
	_, err := tx.Exec(hqCall1,
		c.ID, c.WorkspaceID, c.TriggerID, c.Disposition, c.ExecutionID, c.IP, c.Method, c.StatusCode, c.Detail,
		us(c.CreatedAt))
	return err
}

// CallAccept records one call that passed every check up to dedup and
// decides what it becomes, in one transaction (so concurrent calls to one
// trigger, on this process or queued together in one group commit, see each
// other's effects):
//
//  1. p.DedupKey non-empty and seen on this trigger within 24 h →
//     duplicate (status 200), pointing at the first call's execution.
//  2. p.Trigger.CooldownSeconds > 0, with the trigger's window (end W,
//     leading run L, trailing run T):
//     coalesce — T still queued: T's input becomes p.Input (coalesced);
//     else now < W: a new trailing run T at RunAt = W, and W moves one
//     cooldown on, since T opens the next window (coalesced);
//     drop — now < W: dropped, pointing at L, no new run.
//     Otherwise (no window yet, or it is over) a leading run starts now and
//     opens the window [now, now + cooldown) (accepted).
//  3. Otherwise a new queued run (accepted).
//
// New runs have Source webhook, the trigger's id and job. The call (status
// 202, or 200 for a duplicate), the run, the dedup key (pointing at the run
// the call became) and the trigger's last_used_at = p.Now are committed
// before it returns. ENotFound when the trigger no longer exists.
func (s *Store) CallAccept(ctx context.Context, p hookd.CallAcceptParams) (*hookd.CallAcceptResult, error) {
	if p.Trigger == nil {
		return nil, hookd.Errorf(hookd.EInvalid, "call accept: no trigger")
	}
	now := trunc(p.Now)
	if p.Now.IsZero() {
		now = trunc(s.now())
	}
	tr := p.Trigger
	base := p.Call
	base.WorkspaceID, base.TriggerID, base.CreatedAt = tr.WorkspaceID, tr.ID, now
	if base.ID == "" {
		base.ID = hookd.NewIDAt(hookd.PrefixCall, now)
	}
	// A new run, made ready here rather than in the writer (its id, its
	// input checked as JSON): decideCall copies it when the call becomes one.
	run := hookd.Execution{
		WorkspaceID: tr.WorkspaceID, TriggerID: tr.ID, Source: hookd.SourceWebhook, Input: p.Input, CreatedAt: now,
	}
	s.prepareRun(&run, p.InputValid)
	var res *hookd.CallAcceptResult
	// Rerunnable: everything the fn makes (run, call, ids of its events) is
	// made from p, run and base anew on each run, and res is set last. It
	// keeps s.rooms (startRun and decideCall account for its runs).
	err := s.enqueue(&writeOp{ctx: ctx, size: len(p.Input), rerun: true, keepRooms: true, fn: func(rawTx *sql.Tx) error {
		tx := s.prepared(rawTx)
		res = nil
		// The trigger as stored: it may have been deleted or moved to
		// another job since the caller read it. last_used_at is kept to the
		// second: rewriting the trigger's row on every call of a busy
		// trigger would cost the one writer more than the call itself.
		ts, err := s.trigger(tx, tr)
		if err != nil {
			return err
		}
		if !ts.lastUsed.Valid || ts.lastUsed.Int64 <= us(now.Add(-lastUsedResolution)) {
			if _, err := tx.Exec(hqCall11, us(now), tr.ID); err != nil {
				return err
			}
			ts.lastUsed = sql.NullInt64{Int64: us(now), Valid: true}
			s.trigs[tr.ID] = ts
		}
		run := run
		run.JobID = ts.jobID
		disp, x, started, err := s.decideCall(tx, &p, &run, now)
		if err != nil {
			return err
		}
		if p.DedupKey != "" && disp != hookd.DispositionDuplicate {
			if _, err := tx.Exec(hqCall3, tr.WorkspaceID, tr.ID, p.DedupKey, x.ID, us(now)); err != nil {
				return err
			}
		}
		c := base
		c.Disposition, c.ExecutionID = disp, x.ID
		c.StatusCode = http.StatusAccepted
		if disp == hookd.DispositionDuplicate {
			c.StatusCode = http.StatusOK
		}
		if disp == hookd.DispositionAccepted {
			// Kept on its new execution (call_method, call_ip): see
			// migrations/00004_accepted_calls.sql.
			c.ID = acceptedCallID(x.ID)
		} else if err := insertCall(tx, &c); err != nil {
			return err
		}
		res = &hookd.CallAcceptResult{Disposition: disp, Execution: x, CallID: c.ID, Started: started}
		return nil
	}})
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: call accept: %w", err)
	}
	return res, nil
}

// trigState is what CallAccept reads of a trigger's row: its workspace, its
// job and when it was last used.
type trigState struct {
	workspaceID, jobID string
	lastUsed           sql.NullInt64
}

// trigger reads tr's row as stored (ENotFound when deleted meanwhile) through
// the writer's cache, s.trigs: every write that can change a trigger's job or
// remove it (TriggerUpdate, TriggerDelete, JobDelete) clears the cache, and
// so does a rolled-back write (forgetWrites), so that it never holds what
// the database does not.
func (s *Store) trigger(tx writeTx, tr *hookd.Trigger) (trigState, error) {
	if ts, ok := s.trigs[tr.ID]; ok && ts.workspaceID == tr.WorkspaceID {
		return ts, nil
	}
	ts := trigState{workspaceID: tr.WorkspaceID}
	err := tx.QueryRow(hqCall2, tr.ID, tr.WorkspaceID).Scan(&ts.jobID, &ts.lastUsed)
	if errors.Is(err, sql.ErrNoRows) {
		return ts, hookd.Errorf(hookd.ENotFound, "trigger not found")
	}
	if err != nil {
		return ts, err
	}
	if len(s.trigs) >= 10000 {
		clear(s.trigs)
	}
	s.trigs[tr.ID] = ts
	return ts, nil
}

// job reads a job's row through the writer's cache, s.jobs (nil when it is
// not the workspace's): JobUpdate, JobDelete and a claim that moves its
// last_run_at drop its entry, as does a rolled-back write (forgetWrites).
func (s *Store) job(tx writeTx, workspaceID, id string) (*hookd.Job, error) {
	if j, ok := s.jobs[id]; ok && j.WorkspaceID == workspaceID {
		return j, nil
	}
	j, err := scanJob(tx.QueryRow(hqExecution17, id, workspaceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(s.jobs) >= 10000 {
		clear(s.jobs)
	}
	s.jobs[id] = j
	return j, nil
}

// decideCall applies dedup, then the cooldown, then makes a new run (a copy
// of run, prepared, with its job); it returns the disposition, the execution
// the call became and, when p.Start started that new run at once, the run
// with its job.
func (s *Store) decideCall(tx writeTx, p *hookd.CallAcceptParams, run *hookd.Execution, now time.Time) (string, *hookd.Execution, *hookd.ClaimedExecution, error) {
	tr := p.Trigger
	if p.DedupKey != "" {
		// Forget keys older than the window (one range seek; usually nothing).
		if _, err := tx.Exec(hqCall4,
			tr.WorkspaceID, tr.ID, us(now.Add(-DedupWindow))); err != nil {
			return "", nil, nil, err
		}
		var exeID string
		err := tx.QueryRow(hqCall5,
			tr.WorkspaceID, tr.ID, p.DedupKey).Scan(&exeID)
		if err == nil {
			x, err := txExecution(tx, tr.WorkspaceID, exeID)
			return hookd.DispositionDuplicate, x, nil, err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", nil, nil, err
		}
	}
	// startNow makes the new run due now: started at once when p.Start asks
	// and its job has room, else queued.
	startNow := func() (*hookd.Execution, *hookd.ClaimedExecution, error) {
		x := *run
		if p.Start != nil {
			c, err := s.startRun(tx, &x, p.Start, &p.Call, now)
			if err != nil {
				return nil, nil, err
			}
			if c != nil {
				return &c.Execution, c, nil
			}
		}
		delete(s.rooms, x.JobID) // one more queued
		_, err := tx.Exec(hqCall15, x.ID, x.WorkspaceID, x.JobID, x.TriggerID, x.Source, textOf(x.Input),
			us(x.CreatedAt), us(x.RunAt), p.Call.Method, p.Call.IP)
		return &x, nil, err
	}
	if tr.CooldownSeconds <= 0 {
		x, c, err := startNow()
		return hookd.DispositionAccepted, x, c, err
	}
	cooldown := time.Duration(tr.CooldownSeconds) * time.Second
	var windowEnd int64
	var leading, trailing sql.NullString
	err := tx.QueryRow(hqCall6, tr.ID, tr.WorkspaceID).Scan(&windowEnd, &leading, &trailing)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil, err
	}
	inWindow := found && us(now) < windowEnd
	if found && tr.CooldownMode == hookd.CooldownDrop {
		if inWindow && leading.Valid {
			x, err := txExecution(tx, tr.WorkspaceID, leading.String)
			return hookd.DispositionDropped, x, nil, err
		}
	} else if found {
		if trailing.Valid {
			t, err := txExecution(tx, tr.WorkspaceID, trailing.String)
			if err != nil {
				return "", nil, nil, err
			}
			if t.Status == hookd.ExecQueued {
				input := jsonText(p.Input, "{}").(string)
				if _, err := tx.Exec(hqCall7, input, t.ID); err != nil {
					return "", nil, nil, err
				}
				t.Input = []byte(input)
				return hookd.DispositionCoalesced, t, nil, nil
			}
		}
		if inWindow {
			// A trailing run at the window's end, which opens the next window.
			end := fromUS(windowEnd)
			t := *run
			t.RunAt = end
			delete(s.rooms, t.JobID) // one more queued
			if err := insertExecution(tx, &t); err != nil {
				return "", nil, nil, err
			}
			if _, err := tx.Exec(hqCall8, us(end.Add(cooldown)), t.ID, tr.ID); err != nil {
				return "", nil, nil, err
			}
			return hookd.DispositionCoalesced, &t, nil, nil
		}
	}
	// A leading run opens a new window.
	x, c, err := startNow()
	if err != nil {
		return "", nil, nil, err
	}
	_, err = tx.Exec(hqCall9,
		tr.ID, tr.WorkspaceID, us(now.Add(cooldown)), x.ID)
	return hookd.DispositionAccepted, x, c, err
}

// startRun inserts x (prepared, due now) as running, leased to st.Owner as
// ExecutionsClaim would start it, when its job exists, has room under its
// concurrency and no earlier due run of it waits; nil (nothing written)
// otherwise.
func (s *Store) startRun(tx writeTx, x *hookd.Execution, st *hookd.ExecStart, cl *hookd.Call, now time.Time) (*hookd.ClaimedExecution, error) {
	// The job, then whether it has room under its concurrency and no
	// earlier due run of it waits.
	j, err := s.job(tx, x.WorkspaceID, x.JobID)
	if j == nil || err != nil {
		return nil, err // gone: the run queues (and is canceled with its job)
	}
	room := s.rooms[x.JobID]
	if !room {
		if err := tx.QueryRow(hqCall12, max(j.Concurrency, 1), x.WorkspaceID, x.JobID, x.WorkspaceID, x.JobID, us(now)).Scan(&room); err != nil {
			return nil, err
		}
		if !room {
			return nil, nil // busy or behind its queue: the run queues
		}
		s.rooms[x.JobID] = true
	}
	// last_run_at: exact for a scheduled job (its next "every" run counts
	// from it), else kept to the second like a trigger's last_used_at.
	if j.Schedule != nil || j.LastRunAt == nil || !j.LastRunAt.After(now.Add(-lastUsedResolution)) {
		if _, err := tx.Exec(hqExecution14, us(now), x.JobID); err != nil {
			return nil, err
		}
		ran := now
		j.LastRunAt = &ran // the cached row too: it is the database's now
	}
	lease := now.Add(st.Lease)
	x.Status, x.StartedAt = hookd.ExecRunning, &now
	c := &hookd.ClaimedExecution{Execution: *x, Job: *j}
	if st.Inline != nil {
		if fp := st.Inline(c); fp != nil {
			return c, s.finishInline(tx, c, fp, cl, now)
		}
	}
	delete(s.rooms, x.JobID) // one more running
	if _, err := tx.Exec(hqCall13, x.ID, x.WorkspaceID, x.JobID, x.TriggerID, x.Source, textOf(x.Input),
		us(x.CreatedAt), us(x.RunAt), us(now), us(lease), st.Owner, cl.Method, cl.IP); err != nil {
		return nil, err
	}
	return c, nil
}

// finishInline records the started run c as ended the way fp says
// (hookd.ExecStart.Inline), in the transaction that starts it: fp's event
// first, then its outcome event, then the run as finished at now. An event
// that makes no deliveries is kept on the run's row, not in an events row
// (publishOrFold, migrations/00006_folded_events.sql): a run of an event
// job nobody subscribes to is then one row. Measured end to end, accepted
// calls: +20 % req/s, 18 % less CPU per call (docs/BENCHMARKS.md,
// thirteenth session).
func (s *Store) finishInline(tx writeTx, c *hookd.ClaimedExecution, fp *hookd.ExecFinishParams, cl *hookd.Call, now time.Time) error {
	if err := finishStatus(fp.Status); err != nil {
		return err
	}
	raw := sqlTx(tx)
	p := *fp
	// An event job's event is usually its input as it is: kept once, on the
	// execution (its row follows in this transaction).
	dataFrom := ""
	if p.Event != nil && len(p.Event.Data) > 0 && bytes.Equal(p.Event.Data, c.Input) {
		dataFrom = c.ID
	}
	// The job's event, then (p.OnEvent sets it) the outcome: each kept on
	// the execution when it made no deliveries (publishOrFold), the job's
	// event only when its data is the input.
	var ev, out keptEvent
	c.Deliveries = 0
	if p.Event != nil {
		fold := ""
		if dataFrom != "" {
			fold = foldedEventID(c.ID)
		}
		evt, kept, err := s.publishOrFold(raw, p.Event, now, dataFrom, fold)
		if err != nil {
			return err
		}
		ev = kept
		c.Deliveries = len(evt.DeliveryIDs)
		if p.OnEvent != nil {
			p.OnEvent(evt, &p)
		}
	}
	if p.Outcome != nil {
		evt, kept, err := s.publishOrFold(raw, p.Outcome, now, "", foldedOutcomeID(c.ID))
		if err != nil {
			return err
		}
		out = kept
		c.Deliveries += len(evt.DeliveryIDs)
	}
	x := &c.Execution
	x.Status, x.Reason, x.FinishedAt, x.DurationMS = p.Status, p.Reason, &now, 0
	x.Result = nil
	result := jsonText(p.Result, nil)
	if result != nil {
		x.Result = json.RawMessage(result.(string))
	}
	_, err := tx.Exec(hqCall14, x.ID, x.WorkspaceID, x.JobID, x.TriggerID, x.Source, x.Status, textOf(x.Input),
		result, x.Reason, us(x.CreatedAt), us(x.RunAt), us(now), us(now), cl.Method, cl.IP,
		ev.typ, ev.owner, out.typ, out.owner, out.data) // the job's event's data is the input
	return err
}

// sqlTx is the *sql.Tx under a writeTx.
func sqlTx(tx writeTx) *sql.Tx {
	if p, ok := tx.(prepTx); ok {
		return p.Tx
	}
	return tx.(*sql.Tx)
}

// txExecution reads an execution inside the writer's transaction.
func txExecution(tx writeTx, workspaceID, id string) (*hookd.Execution, error) {
	x, err := scanExecution(tx.QueryRow(hqCall10, id, workspaceID))
	if err != nil {
		return nil, fmt.Errorf("execution %s: %w", id, err)
	}
	return x, nil
}

// CallRecord stores a refused call (no execution), filling ID and CreatedAt
// (the store's clock when zero). Calls with an unknown token have no
// workspace or trigger.
func (s *Store) CallRecord(ctx context.Context, c *hookd.Call) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	c.CreatedAt = trunc(c.CreatedAt)
	if c.ID == "" {
		c.ID = hookd.NewIDAt(hookd.PrefixCall, c.CreatedAt)
	}
	err := s.write(ctx, func(tx *sql.Tx) error { return insertCall(s.prepared(tx), c) })
	if isUnique(err) {
		return hookd.Errorf(hookd.EConflict, "call already recorded")
	}
	if err != nil {
		return fmt.Errorf("sqlite: call record: %w", err)
	}
	return nil
}

// CallList lists a trigger's calls (of the workspace) newest first with the
// total count, of one disposition when f.Disposition is set.
func (s *Store) CallList(ctx context.Context, f hookd.CallFilter) ([]hookd.Call, int, error) {
	limit, offset := pageArgs(f.Page)
	count, list, args := callListSQL(f)
	var total int
	if err := s.rdb.QueryRowContext(ctx, count, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: call list: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, list, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: call list: %w", err)
	}
	defer rows.Close()
	out := []hookd.Call{}
	for rows.Next() {
		var c hookd.Call
		var created, seq int64
		if err := rows.Scan(&c.ID, &c.WorkspaceID, &c.TriggerID, &c.Disposition, &c.ExecutionID, &c.IP, &c.Method,
			&c.StatusCode, &c.Detail, &created, &seq); err != nil {
			return nil, 0, fmt.Errorf("sqlite: call list: %w", err)
		}
		c.CreatedAt = fromUS(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: call list: %w", err)
	}
	return out, total, nil
}

// callListSQL is CallList's count and page queries for f, in two parts: the
// calls rows (every disposition but accepted, and the accepted calls
// recorded before migration 00004) and the accepted calls kept on their
// executions. args are both queries' arguments; the page query then takes
// limit and offset.
func callListSQL(f hookd.CallFilter) (count, list string, args []any) {
	where := `workspace_id = ? AND trigger_id = ?`
	args = []any{f.WorkspaceID, f.TriggerID}
	if disposition := f.Disposition; disposition != "" {
		where += ` AND disposition = ?`
		args = append(args, disposition)
		if disposition != hookd.DispositionAccepted {
			where += ` AND disposition <> 'accepted'` // calls_disposition is partial
		}
	}
	count = `SELECT (SELECT COUNT(*) FROM calls WHERE ` + where + `)`
	// Each part in its index's order (created, then rowid: the order of
	// insertion), merged.
	list = `SELECT ` + callCols + `, rowid AS seq FROM calls WHERE ` + where
	if f.Disposition == "" || f.Disposition == hookd.DispositionAccepted {
		const accepted = ` FROM executions WHERE workspace_id = ? AND trigger_id = ? AND call_method IS NOT NULL`
		count += ` + (SELECT COUNT(*)` + accepted + `)`
		list += ` UNION ALL SELECT '` + hookd.PrefixCall + `' || substr(id, ` + strconv.Itoa(len(hookd.PrefixExecution)+1) + `),
			workspace_id, trigger_id, 'accepted', id, COALESCE(call_ip, ''), call_method, ` + strconv.Itoa(http.StatusAccepted) + `, '',
			created, rowid AS seq` + accepted
		args = append(args, f.WorkspaceID, f.TriggerID)
	}
	return count, list + ` ORDER BY created DESC, seq DESC LIMIT ? OFFSET ?`, args
}

// Hot statements, prepared when the store opens (see prepared.go).
var hqCall1 = hot(`INSERT INTO calls (` + callCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
var hqCall2 = hot(`SELECT job_id, last_used_at FROM triggers WHERE id = ? AND workspace_id = ?`)
var hqCall3 = hot(`INSERT INTO trigger_dedup (workspace_id, trigger_id, key, execution_id, created_at)
				VALUES (?, ?, ?, ?, ?)`)
var hqCall4 = hot(`DELETE FROM trigger_dedup WHERE workspace_id = ? AND trigger_id = ? AND created_at <= ?`)
var hqCall5 = hot(`SELECT execution_id FROM trigger_dedup WHERE workspace_id = ? AND trigger_id = ? AND key = ?`)
var hqCall6 = hot(`SELECT window_end, leading_execution_id, trailing_execution_id FROM trigger_cooldowns
		WHERE trigger_id = ? AND workspace_id = ?`)
var hqCall7 = hot(`UPDATE executions SET input = ? WHERE id = ?`)
var hqCall8 = hot(`UPDATE trigger_cooldowns SET window_end = ?, trailing_execution_id = ?
				WHERE trigger_id = ?`)
var hqCall9 = hot(`INSERT INTO trigger_cooldowns (trigger_id, workspace_id, window_end, leading_execution_id, trailing_execution_id)
		VALUES (?, ?, ?, ?, NULL)
		ON CONFLICT (trigger_id) DO UPDATE SET window_end = excluded.window_end,
			leading_execution_id = excluded.leading_execution_id, trailing_execution_id = NULL`)
var hqCall10 = hot(`SELECT ` + executionCols + ` FROM executions WHERE id = ? AND workspace_id = ?`)
var hqCall11 = hot(`UPDATE triggers SET last_used_at = ? WHERE id = ?`)
var hqCall12 = hot(`SELECT ? > (SELECT COUNT(*) FROM executions
					WHERE workspace_id = ? AND job_id = ? AND status = 'running')
				AND NOT EXISTS (SELECT 1 FROM executions
					WHERE workspace_id = ? AND job_id = ? AND status = 'queued' AND run_at <= ?)`)
var hqCall13 = hot(`INSERT INTO executions (id, workspace_id, job_id, trigger_id, source, status, input, result, reason,
				created, run_at, period, started_at, finished_at, duration_ms, lease_until, lease_owner, call_method, call_ip)
				VALUES (?, ?, ?, ?, ?, 'running', ?, NULL, '', ?, ?, NULL, ?, NULL, 0, ?, ?, ?, ?)`)
var hqCall14 = hot(`INSERT INTO executions (id, workspace_id, job_id, trigger_id, source, status, input, result, reason,
				created, run_at, period, started_at, finished_at, duration_ms, lease_until, lease_owner, call_method, call_ip,
				event_type, event_owner, outcome_type, outcome_owner, outcome_data)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 0, NULL, NULL, ?, ?, ?, ?, ?, ?, ?)`)
var hqCall15 = hot(`INSERT INTO executions (id, workspace_id, job_id, trigger_id, source, status, input, result, reason,
				created, run_at, period, started_at, finished_at, duration_ms, lease_until, lease_owner, call_method, call_ip)
				VALUES (?, ?, ?, ?, ?, 'queued', ?, NULL, '', ?, ?, NULL, NULL, NULL, 0, NULL, NULL, ?, ?)`)

// acceptedCallID is the id of the accepted call kept on execution exeID:
// call_ and the execution's KSUID.
func acceptedCallID(exeID string) string {
	return hookd.PrefixCall + strings.TrimPrefix(exeID, hookd.PrefixExecution)
}
