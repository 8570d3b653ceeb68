package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// DedupWindow is how long a trigger remembers a dedup key.
const DedupWindow = 24 * time.Hour

const callCols = `id, workspace_id, trigger_id, disposition, execution_id, ip, method, status_code, detail, created`

func scanCall(sc pgx.Row) (*hookd.Call, error) {
	var c hookd.Call
	if err := sc.Scan(&c.ID, &c.WorkspaceID, &c.TriggerID, &c.Disposition, &c.ExecutionID, &c.IP, &c.Method,
		&c.StatusCode, &c.Detail, &c.CreatedAt); err != nil {
		return nil, err
	}
	return &c, nil
}

const insertCallSQL = `INSERT INTO calls (` + callCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

func insertCallArgs(c *hookd.Call) []any {
	return []any{c.ID, c.WorkspaceID, c.TriggerID, c.Disposition, c.ExecutionID, c.IP, c.Method, c.StatusCode, c.Detail, c.CreatedAt}
}

// callState is what CallAccept reads under the trigger's lock.
type callState struct {
	jobID      string
	found      bool
	dedupExeID string // the execution a live dedup key points at
	window     bool   // a cooldown row exists
	windowEnd  time.Time
	leading    *string
	trailing   *string
	trailingSt *string
}

// CallAccept records one call that passed every check up to dedup and
// decides what it becomes, in one transaction:
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
// the call became) and the trigger's last_used_at = p.Now (unless it is
// within a second of that already) are committed before it returns. ENotFound when the trigger no longer exists.
//
// Across nodes: the first statement updates the trigger's last_used_at,
// which locks its row until commit, so calls to one trigger are decided one
// at a time whichever node they land on, each seeing the commits of those
// before it (READ COMMITTED takes a snapshot per statement): they fold into
// one trailing run and a dedup key is honoured once. Calls to different
// triggers do not wait for each other.
//
// Cost: BEGIN, one pipelined batch that locks the trigger and reads the
// dedup key and the cooldown window, one pipelined batch of the writes,
// COMMIT (plus one statement to read or update the run a duplicate,
// dropped or coalesced call points at).
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
	var res *hookd.CallAcceptResult
	created := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		res, created = nil, false
		var st callState
		b := &pgx.Batch{}
		// last_used_at is kept to the second (as on SQLite); the update
		// locks the row either way.
		b.Queue(`UPDATE triggers SET last_used_at = CASE
				WHEN last_used_at IS NULL OR last_used_at <= $1::timestamptz - interval '1 second' THEN $1 ELSE last_used_at END
			WHERE id = $2 AND workspace_id = $3 RETURNING job_id`,
			now, tr.ID, tr.WorkspaceID).QueryRow(func(r pgx.Row) error {
			err := r.Scan(&st.jobID)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			st.found = err == nil
			return err
		})
		if p.DedupKey != "" {
			// Forget keys older than the window (one range probe; usually
			// nothing), then look the key up.
			b.Queue(`DELETE FROM trigger_dedup WHERE workspace_id = $1 AND trigger_id = $2 AND created_at <= $3`,
				tr.WorkspaceID, tr.ID, now.Add(-DedupWindow))
			b.Queue(`SELECT execution_id FROM trigger_dedup WHERE workspace_id = $1 AND trigger_id = $2 AND key = $3`,
				tr.WorkspaceID, tr.ID, p.DedupKey).QueryRow(func(r pgx.Row) error {
				err := r.Scan(&st.dedupExeID)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				return err
			})
		}
		if tr.CooldownSeconds > 0 {
			b.Queue(`SELECT c.window_end, c.leading_execution_id, c.trailing_execution_id, x.status
				FROM trigger_cooldowns c LEFT JOIN executions x ON x.id = c.trailing_execution_id
				WHERE c.trigger_id = $1 AND c.workspace_id = $2`, tr.ID, tr.WorkspaceID).QueryRow(func(r pgx.Row) error {
				err := r.Scan(&st.windowEnd, &st.leading, &st.trailing, &st.trailingSt)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				st.window = err == nil
				return err
			})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if !st.found {
			return hookd.Errorf(hookd.ENotFound, "trigger not found")
		}
		disp, x, isNew, writes, err := s.decideCall(ctx, tx, &p, &st, now)
		if err != nil {
			return err
		}
		if p.DedupKey != "" && disp != hookd.DispositionDuplicate {
			writes.Queue(`INSERT INTO trigger_dedup (workspace_id, trigger_id, key, execution_id, created_at)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (workspace_id, trigger_id, key) DO UPDATE SET execution_id = excluded.execution_id,
					created_at = excluded.created_at`, tr.WorkspaceID, tr.ID, p.DedupKey, x.ID, now)
		}
		c := base
		c.Disposition, c.ExecutionID = disp, x.ID
		c.StatusCode = http.StatusAccepted
		if disp == hookd.DispositionDuplicate {
			c.StatusCode = http.StatusOK
		}
		writes.Queue(insertCallSQL, insertCallArgs(&c)...)
		if err := tx.SendBatch(ctx, writes).Close(); err != nil {
			return err
		}
		res = &hookd.CallAcceptResult{Disposition: disp, Execution: x, CallID: c.ID}
		created = isNew
		return nil
	})
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return nil, err
		}
		if pgCode(err) == codeUnique {
			return nil, hookd.Errorf(hookd.EConflict, "call already recorded")
		}
		return nil, fmt.Errorf("postgres: call accept: %w", err)
	}
	if created {
		s.wake(hookd.WakeExecutions)
	}
	return res, nil
}

// decideCall applies dedup, then the cooldown, then makes a new run; it
// returns the disposition, the execution the call became, whether that
// execution is new, and the writes still to send (a new run, the window).
func (s *Store) decideCall(ctx context.Context, tx pgx.Tx, p *hookd.CallAcceptParams, st *callState, now time.Time) (
	disp string, x *hookd.Execution, isNew bool, writes *pgx.Batch, err error) {
	tr := p.Trigger
	writes = &pgx.Batch{}
	if st.dedupExeID != "" {
		x, err := getExecution(ctx, tx, tr.WorkspaceID, st.dedupExeID)
		if err != nil {
			return "", nil, false, nil, fmt.Errorf("execution %s: %w", st.dedupExeID, err)
		}
		return hookd.DispositionDuplicate, x, false, writes, nil
	}
	newRun := func(runAt time.Time) *hookd.Execution {
		x := &hookd.Execution{
			WorkspaceID: tr.WorkspaceID, JobID: st.jobID, TriggerID: tr.ID, Source: hookd.SourceWebhook,
			Input: p.Input, CreatedAt: now, RunAt: runAt,
		}
		s.prepareExecution(x)
		writes.Queue(insertExecutionSQL, insertExecutionArgs(x)...)
		return x
	}
	if tr.CooldownSeconds <= 0 {
		return hookd.DispositionAccepted, newRun(now), true, writes, nil
	}
	cooldown := time.Duration(tr.CooldownSeconds) * time.Second
	inWindow := st.window && now.Before(st.windowEnd)
	if st.window && tr.CooldownMode == hookd.CooldownDrop {
		if inWindow && st.leading != nil {
			x, err := getExecution(ctx, tx, tr.WorkspaceID, *st.leading)
			if err != nil {
				return "", nil, false, nil, fmt.Errorf("execution %s: %w", *st.leading, err)
			}
			return hookd.DispositionDropped, x, false, writes, nil
		}
	} else if st.window {
		if st.trailing != nil && st.trailingSt != nil && *st.trailingSt == hookd.ExecQueued {
			// Still queued unless a claim started it since the read: the
			// update re-checks under the row's lock.
			in := jsonText(p.Input)
			if in == nil {
				v := "{}"
				in = &v
			}
			x, err := scanExecution(tx.QueryRow(ctx, `UPDATE executions SET input = $1
				WHERE id = $2 AND workspace_id = $3 AND status = 'queued' RETURNING `+executionCols, *in, *st.trailing, tr.WorkspaceID))
			if err == nil {
				return hookd.DispositionCoalesced, x, false, writes, nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return "", nil, false, nil, err
			}
		}
		if inWindow {
			t := newRun(st.windowEnd)
			writes.Queue(`UPDATE trigger_cooldowns SET window_end = $1, trailing_execution_id = $2
				WHERE trigger_id = $3 AND workspace_id = $4`, st.windowEnd.Add(cooldown), t.ID, tr.ID, tr.WorkspaceID)
			return hookd.DispositionCoalesced, t, true, writes, nil
		}
	}
	// A leading run opens a new window.
	x = newRun(now)
	writes.Queue(`INSERT INTO trigger_cooldowns (trigger_id, workspace_id, window_end, leading_execution_id, trailing_execution_id)
		VALUES ($1, $2, $3, $4, NULL)
		ON CONFLICT (trigger_id) DO UPDATE SET window_end = excluded.window_end,
			leading_execution_id = excluded.leading_execution_id, trailing_execution_id = NULL`,
		tr.ID, tr.WorkspaceID, now.Add(cooldown), x.ID)
	return hookd.DispositionAccepted, x, true, writes, nil
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
	_, err := s.pool.Exec(ctx, insertCallSQL, insertCallArgs(c)...)
	if pgCode(err) == codeUnique {
		return hookd.Errorf(hookd.EConflict, "call already recorded")
	}
	if err != nil {
		return fmt.Errorf("postgres: call record: %w", err)
	}
	return nil
}

// CallList lists a trigger's calls (of the workspace) newest first (ties in
// insertion order, newest first) with the total count, of one disposition
// when f.Disposition is set.
func (s *Store) CallList(ctx context.Context, f hookd.CallFilter) ([]hookd.Call, int, error) {
	limit, offset := pageArgs(f.Page)
	where := `workspace_id = $1 AND trigger_id = $2`
	args := []any{f.WorkspaceID, f.TriggerID}
	if f.Disposition != "" {
		args = append(args, f.Disposition)
		where += ` AND disposition = $3`
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM calls WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: call list: %w", err)
	}
	rows, _ := s.pool.Query(ctx, fmt.Sprintf(`SELECT `+callCols+` FROM calls WHERE `+where+`
		ORDER BY created DESC, seq DESC LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2), append(args, limit, offset)...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.Call, error) {
		c, err := scanCall(r)
		if err != nil {
			return hookd.Call{}, err
		}
		return *c, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: call list: %w", err)
	}
	return nonNil(out), total, nil
}
