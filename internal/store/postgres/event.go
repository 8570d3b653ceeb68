package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// copyThreshold is the fan-out from which deliveries are written with COPY
// (in an explicit transaction) rather than one INSERT … SELECT FROM unnest
// inside the event's own statement.
const copyThreshold = 512

// EventPublish commits the event and one pending delivery (due at p.Now) per
// matching active webhook before it returns. With an idempotency key already
// used in the workspace it returns the first event with its deliveries and
// existing=true, creating nothing; concurrent publishes with one key make
// one event (the unique index events_idempotency decides, ON CONFLICT DO
// NOTHING, then the winner is re-read). EInvalid when p.Data is not JSON, or
// not a JSON object while a webhook filter needs to look inside it.
//
// Cost: one round trip for an ordinary fan-out without an idempotency key:
// one statement that inserts the event and its deliveries (one transaction,
// one commit), matched against this Store's copy of the workspace's active
// webhooks (hookCache). The statement checks that copy in its own snapshot
// (the fingerprint of the active webhooks' ids and update times) and
// inserts nothing when it is stale — a webhook created, changed, deactivated
// or deleted since, on any node —; then the webhooks are read again and the
// publish retried. So an event fans out to exactly the webhooks active when
// it is committed. A key costs one more round trip (its event is read
// first); from copyThreshold deliveries on, the deliveries go through COPY.
// Publishes on the pool made at the same time share one statement and one
// commit (pubBatcher).
func (s *Store) EventPublish(ctx context.Context, p hookd.PublishParams) (*hookd.Event, bool, error) {
	evt, existing, err := s.publish(ctx, s.pool, p)
	if err == nil && !existing && len(evt.DeliveryIDs) > evt.Claimed {
		s.wake(hookd.WakeDeliveries)
	}
	return evt, existing, err
}

// publish is EventPublish on q: the pool (each step its own transaction, as
// described above) or a transaction of the caller (ExecutionFinish publishes
// the outcome event inside its own).
func (s *Store) publish(ctx context.Context, q dbtx, p hookd.PublishParams) (*hookd.Event, bool, error) {
	now := trunc(p.Now)
	if p.Now.IsZero() {
		now = trunc(s.now())
	}
	data := p.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	evt := &hookd.Event{
		ID:             hookd.NewIDAt(hookd.PrefixEvent, now),
		WorkspaceID:    p.WorkspaceID,
		Type:           p.Type,
		Data:           data,
		OwnerID:        p.OwnerID,
		IdempotencyKey: p.IdempotencyKey,
		Timestamp:      now,
	}
	if p.IdempotencyKey != "" {
		if e, err := s.eventByKey(ctx, q, p.WorkspaceID, p.IdempotencyKey); err == nil {
			return e, true, nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return nil, false, fmt.Errorf("postgres: event publish: %w", err)
		}
	}
	var decoded map[string]any
	for try := 0; ; try++ {
		hooks, err := s.hooks.get(ctx, q, p.WorkspaceID, try > 0)
		if err != nil {
			return nil, false, fmt.Errorf("postgres: event publish: %w", err)
		}
		var matched []string
		var updated []time.Time
		for _, wh := range hooks.list {
			if len(wh.Filters) > 0 && decoded == nil {
				if err := json.Unmarshal(data, &decoded); err != nil || decoded == nil {
					return nil, false, hookd.FieldErrorf("data", "must be a JSON object")
				}
			}
			if wh.Matches(p.Type, p.OwnerID, decoded) {
				matched = append(matched, wh.ID)
				updated = append(updated, wh.UpdatedAt)
			}
		}
		// Sorted ids make ORDER BY id the fan-out order (EventGet lists them so).
		evt.DeliveryIDs = make([]string, len(matched))
		for i := range matched {
			evt.DeliveryIDs[i] = hookd.NewIDAt(hookd.PrefixDelivery, now)
		}
		slices.Sort(evt.DeliveryIDs)

		var inserted bool
		var current string
		switch {
		case len(matched) < copyThreshold && q == dbtx(s.pool):
			inserted, evt.Claimed, current, err = s.batch.insert(ctx, evt, matched, updated, hooks.fingerprint)
		case len(matched) < copyThreshold:
			inserted, current, err = insertEventSmall(ctx, q, evt, matched, hooks.fingerprint)
		default:
			inserted, current, err = insertEventCopy(ctx, q, evt, matched, hooks.fingerprint)
		}
		if err != nil {
			if c := pgCode(err); c == codeInvalidText || c == codeInvalidJSON || c == codeUntranslatable {
				return nil, false, hookd.FieldErrorf("data", "must be JSON")
			}
			return nil, false, fmt.Errorf("postgres: event publish: %w", err)
		}
		if inserted {
			return evt, false, nil
		}
		if current != hooks.fingerprint {
			// The webhooks changed since they were read: read them again.
			if try == 10 {
				return nil, false, fmt.Errorf("postgres: event publish: the workspace's webhooks keep changing")
			}
			continue
		}
		break
	}
	// The key was taken by a publish that committed meanwhile (ON CONFLICT
	// waited for it): that event is the answer.
	e, err := s.eventByKey(ctx, q, p.WorkspaceID, p.IdempotencyKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, hookd.Errorf(hookd.EConflict, "idempotency key already used")
	}
	if err != nil {
		return nil, false, fmt.Errorf("postgres: event publish: %w", err)
	}
	return e, true, nil
}

// insertEventSQL inserts the event ($1–$7) when the fingerprint of the
// workspace's active webhooks (the CTE fp, hooksFingerprintCTE) is $10.
const insertEventSQL = `INSERT INTO events (id, workspace_id, type, data, owner_id, idempotency_key, created)
	SELECT $1, $2, $3, $4::json, $5, $6, $7::timestamptz FROM fp WHERE fp.v = $10::text
	ON CONFLICT (workspace_id, idempotency_key) WHERE idempotency_key <> '' DO NOTHING
	RETURNING id`

// insertEventSmall inserts the event and its deliveries in one statement
// (data-modifying CTEs: one implicit transaction, one round trip) if the
// workspace's active webhooks still have fingerprint fp. The deliveries are
// inserted only when the event was. It returns the current fingerprint.
func insertEventSmall(ctx context.Context, q dbtx, evt *hookd.Event, hooks []string, fp string) (bool, string, error) {
	var n int
	var current string
	err := q.QueryRow(ctx, `WITH `+hooksFingerprintCTE+`,
		e AS (`+insertEventSQL+`),
		d AS (INSERT INTO deliveries (id, workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created, updated)
			SELECT u.id, $2, u.wh, e.id, $3, 'pending', $7, $7, $7 FROM e, unnest($8::text[], $9::text[]) AS u (id, wh))
		SELECT (SELECT count(*) FROM e), (SELECT v FROM fp)`,
		evt.ID, evt.WorkspaceID, evt.Type, []byte(evt.Data), evt.OwnerID, evt.IdempotencyKey, evt.Timestamp,
		evt.DeliveryIDs, hooks, fp).Scan(&n, &current)
	return n == 1, current, err
}

// insertEventCopy inserts the event (if the webhooks still have fingerprint
// fp), then COPYs its deliveries, in one transaction (a savepoint when q is
// one). It returns the current fingerprint.
func insertEventCopy(ctx context.Context, q dbtx, evt *hookd.Event, hooks []string, fp string) (bool, string, error) {
	inserted := false
	var current string
	err := pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, `WITH `+hooksFingerprintCTE+`, e AS (`+strings.Replace(insertEventSQL, "$10", "$8", 1)+`)
			SELECT (SELECT count(*) FROM e), (SELECT v FROM fp)`,
			evt.ID, evt.WorkspaceID, evt.Type, []byte(evt.Data), evt.OwnerID, evt.IdempotencyKey, evt.Timestamp,
			fp).Scan(&n, &current)
		if err != nil || n == 0 {
			return err
		}
		inserted = true
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"deliveries"},
			[]string{"id", "workspace_id", "webhook_id", "event_id", "event_type", "status", "next_attempt_at", "created", "updated"},
			pgx.CopyFromSlice(len(hooks), func(i int) ([]any, error) {
				return []any{evt.DeliveryIDs[i], evt.WorkspaceID, hooks[i], evt.ID, evt.Type, hookd.DeliveryPending,
					evt.Timestamp, evt.Timestamp, evt.Timestamp}, nil
			}))
		return err
	})
	return inserted, current, err
}

const eventCols = `id, workspace_id, type, data, owner_id, idempotency_key, created`

func scanEvent(sc pgx.Row) (*hookd.Event, error) {
	var e hookd.Event
	var data []byte
	var created time.Time
	if err := sc.Scan(&e.ID, &e.WorkspaceID, &e.Type, &data, &e.OwnerID, &e.IdempotencyKey, &created); err != nil {
		return nil, err
	}
	e.Data = json.RawMessage(data)
	e.Timestamp = created
	return &e, nil
}

// eventByKey reads the event of an idempotency key with its delivery ids, in
// one round trip; pgx.ErrNoRows when there is none.
func (s *Store) eventByKey(ctx context.Context, q dbtx, workspaceID, key string) (*hookd.Event, error) {
	return s.eventWhere(ctx, q, `workspace_id = $1 AND idempotency_key = $2 AND idempotency_key <> ''`, workspaceID, key)
}

// eventWhere reads one event (where has $1 = workspace id, $2 = the other
// key) and its delivery ids in one batch.
func (s *Store) eventWhere(ctx context.Context, q dbtx, where, workspaceID, v string) (*hookd.Event, error) {
	b := &pgx.Batch{}
	var e *hookd.Event
	b.Queue(`SELECT `+eventCols+` FROM events WHERE `+where, workspaceID, v).QueryRow(func(r pgx.Row) error {
		var err error
		e, err = scanEvent(r)
		return err
	})
	ids := []string{}
	b.Queue(`SELECT d.id FROM deliveries d WHERE d.workspace_id = $1
		AND d.event_id = (SELECT id FROM events WHERE `+where+`) ORDER BY d.id`, workspaceID, v).Query(func(rows pgx.Rows) error {
		var err error
		ids, err = pgx.AppendRows(ids, rows, pgx.RowTo[string])
		return err
	})
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	e.DeliveryIDs = ids
	return e, nil
}

// EventGet reads one event of the workspace with its delivery ids (in
// fan-out order); ENotFound when absent or of another workspace.
func (s *Store) EventGet(ctx context.Context, workspaceID, id string) (*hookd.Event, error) {
	e, err := s.eventWhere(ctx, s.pool, `workspace_id = $1 AND id = $2`, workspaceID, id)
	return getResult(e, err, "event")
}
