package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hookd/hookd"
)

// EventPublish commits the event and one pending delivery (due at p.Now) per
// matching active webhook before it returns. With an idempotency key already
// used in the workspace it returns the first event with its deliveries and
// existing=true, creating nothing. Concurrent calls share one transaction and
// one fsync (group commit); each runs in its own savepoint. EInvalid when
// p.Data is not a JSON object and a webhook filter needs to look inside it.
func (s *Store) EventPublish(ctx context.Context, p hookd.PublishParams) (*hookd.Event, bool, error) {
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
	var existing *hookd.Event
	err := s.writeSized(ctx, len(data), func(tx *sql.Tx) error {
		var err error
		existing, err = s.publishTx(tx, evt)
		return err
	})
	if err != nil {
		if hookd.ErrorCode(err) != hookd.EInternal {
			return nil, false, err
		}
		if isUnique(err) {
			return nil, false, hookd.Errorf(hookd.EConflict, "idempotency key already used")
		}
		return nil, false, fmt.Errorf("sqlite: event publish: %w", err)
	}
	if existing != nil {
		return existing, true, nil
	}
	return evt, false, nil
}

// publishTx publishes evt inside tx (the writer's transaction): with an
// idempotency key already used in the workspace it returns the first event
// with its deliveries and creates nothing; otherwise it inserts evt and one
// pending delivery per matching active webhook and fills evt.DeliveryIDs.
// Runs on the writer goroutine only (ExecutionFinish and ExecutionsInterrupt
// publish outcome events through it in their own transactions).
func (s *Store) publishTx(tx *sql.Tx, evt *hookd.Event) (existing *hookd.Event, err error) {
	evt.DeliveryIDs = nil
	if evt.IdempotencyKey != "" {
		e, err := scanEvent(tx.Stmt(s.stmts.eventByKey).QueryRow(evt.WorkspaceID, evt.IdempotencyKey))
		if err == nil {
			if e.DeliveryIDs, err = deliveryIDs(tx.Stmt(s.stmts.eventDeliveries), evt.WorkspaceID, e.ID); err != nil {
				return nil, err
			}
			return e, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	hooks, err := s.activeWebhooks(tx, evt.WorkspaceID)
	if err != nil {
		return nil, err
	}
	var decoded map[string]any
	var matched []*hookd.Webhook
	for _, wh := range hooks {
		if len(wh.Filters) > 0 && decoded == nil {
			if err := json.Unmarshal(evt.Data, &decoded); err != nil || decoded == nil {
				return nil, hookd.FieldErrorf("data", "must be a JSON object")
			}
		}
		if wh.Matches(evt.Type, evt.OwnerID, decoded) {
			matched = append(matched, wh)
		}
	}
	if _, err := tx.Stmt(s.stmts.insertEvent).Exec(evt.ID, evt.WorkspaceID, evt.Type, string(evt.Data), evt.OwnerID, evt.IdempotencyKey, us(evt.Timestamp)); err != nil {
		return nil, err
	}
	evt.DeliveryIDs = make([]string, len(matched))
	for i := range matched {
		evt.DeliveryIDs[i] = hookd.NewIDAt(hookd.PrefixDelivery, evt.Timestamp)
	}
	return nil, s.insertDeliveries(tx, evt, matched)
}

// insertDeliveries inserts one pending delivery per webhook with multi-row
// INSERTs of prepared power-of-two sizes.
func (s *Store) insertDeliveries(tx *sql.Tx, evt *hookd.Event, hooks []*hookd.Webhook) error {
	at := us(evt.Timestamp)
	for i := 0; i < len(hooks); {
		n := len(hooks) - i
		k := len(s.stmts.insertDeliveries) - 1
		for k > 0 && 1<<k > n {
			k--
		}
		size := 1 << k
		args := make([]any, 0, size*deliveryInsertCols)
		for j := range size {
			args = append(args, evt.DeliveryIDs[i+j], evt.WorkspaceID, hooks[i+j].ID, evt.ID, evt.Type, at, at, at)
		}
		if _, err := tx.Stmt(s.stmts.insertDeliveries[k]).Exec(args...); err != nil {
			return err
		}
		i += size
	}
	return nil
}

// deliveryInsertCols is the number of arguments per row of insertDeliveries.
const deliveryInsertCols = 8

func insertDeliveriesSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO deliveries (id, workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created, updated) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?, ?, ?, ?, 'pending', ?, ?, ?)`)
	}
	return b.String()
}

const eventCols = `id, workspace_id, type, data, owner_id, idempotency_key, created`

func scanEvent(sc interface{ Scan(...any) error }) (*hookd.Event, error) {
	var e hookd.Event
	var data string
	var created int64
	if err := sc.Scan(&e.ID, &e.WorkspaceID, &e.Type, &data, &e.OwnerID, &e.IdempotencyKey, &created); err != nil {
		return nil, err
	}
	e.Data = json.RawMessage(data)
	e.Timestamp = fromUS(created)
	return &e, nil
}

type queryer interface {
	Query(args ...any) (*sql.Rows, error)
}

// deliveryIDs lists an event's deliveries in creation order.
func deliveryIDs(q queryer, workspaceID, eventID string) ([]string, error) {
	rows, err := q.Query(workspaceID, eventID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// EventGet reads one event of the workspace with its delivery ids;
// ENotFound when absent or of another workspace.
func (s *Store) EventGet(ctx context.Context, workspaceID, id string) (*hookd.Event, error) {
	e, err := scanEvent(s.rdb.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE id = ? AND workspace_id = ?`, id, workspaceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hookd.Errorf(hookd.ENotFound, "event not found")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: event get: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, eventDeliveriesSQL, workspaceID, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: event get: %w", err)
	}
	defer rows.Close()
	e.DeliveryIDs = []string{}
	for rows.Next() {
		var did string
		if err := rows.Scan(&did); err != nil {
			return nil, fmt.Errorf("sqlite: event get: %w", err)
		}
		e.DeliveryIDs = append(e.DeliveryIDs, did)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: event get: %w", err)
	}
	return e, nil
}

const eventDeliveriesSQL = `SELECT id FROM deliveries WHERE workspace_id = ? AND event_id = ? ORDER BY rowid`
