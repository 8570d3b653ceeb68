package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

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
	// Rerunnable: publishTx sets evt's deliveries and existing anew.
	err := s.writeRerun(ctx, len(data), func(tx *sql.Tx) error {
		var err error
		existing, err = s.publishTx(tx, evt, "")
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
//
// dataFrom, when set, is the id of an execution (inserted in the same
// transaction or before) whose input is evt.Data byte for byte: the event
// then names it instead of storing a second copy.
func (s *Store) publishTx(tx *sql.Tx, evt *hookd.Event, dataFrom string) (existing *hookd.Event, err error) {
	evt.DeliveryIDs = nil
	if evt.IdempotencyKey != "" {
		e, err := scanEvent(tx.Stmt(s.stmts.eventByKey).QueryRow(evt.WorkspaceID, evt.IdempotencyKey))
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	matched, err := s.matchWebhooks(tx, evt)
	if err != nil {
		return nil, err
	}
	return nil, s.insertEvent(tx, evt, matched, dataFrom)
}

// insertEvent inserts evt (see publishTx for dataFrom) and one pending
// delivery per webhook of matched, filling evt.DeliveryIDs.
func (s *Store) insertEvent(tx *sql.Tx, evt *hookd.Event, matched []*hookd.Webhook, dataFrom string) error {
	evt.DeliveryIDs = make([]string, len(matched))
	for i := range matched {
		evt.DeliveryIDs[i] = hookd.NewIDAt(hookd.PrefixDelivery, evt.Timestamp)
	}
	ids := []byte("[]")
	if len(evt.DeliveryIDs) > 0 {
		var err error
		if ids, err = json.Marshal(evt.DeliveryIDs); err != nil {
			return err
		}
	}
	data, from := "", any(dataFrom)
	if dataFrom == "" {
		data, from = textOf(evt.Data), nil
	}
	if _, err := s.prepared(tx).Exec(hqInsertEvent, evt.ID, evt.WorkspaceID, evt.Type, data, evt.OwnerID, evt.IdempotencyKey,
		us(evt.Timestamp), string(ids), from); err != nil {
		return err
	}
	return s.insertDeliveries(tx, evt, matched)
}

// keptEvent is an event kept on its execution as the execution's columns
// take it (migrations/00006_folded_events.sql): its type, owner and data;
// all nil when the event was published in a row of its own.
type keptEvent struct{ typ, owner, data any }

// publishOrFold publishes p inside tx as publishFrom does, unless the event
// can be kept on the execution being written: no idempotency key, stamped
// now, and no active webhook matches it. Then it writes nothing, names the
// event id and returns it as kept, for the caller to store on the
// execution. An empty id never folds.
func (s *Store) publishOrFold(tx *sql.Tx, p *hookd.PublishParams, now time.Time, dataFrom, id string) (*hookd.Event, keptEvent, error) {
	if p.IdempotencyKey != "" || id == "" {
		evt, err := s.publishFrom(tx, p, now, dataFrom)
		return evt, keptEvent{}, err
	}
	evt := outcomeEvent(p, now, id) // a new id below if it is not kept
	matched, err := s.matchWebhooks(tx, evt)
	if err != nil {
		return nil, keptEvent{}, err
	}
	if len(matched) == 0 && evt.Timestamp.Equal(now) {
		evt.DeliveryIDs = []string{}
		return evt, keptEvent{evt.Type, evt.OwnerID, textOf(evt.Data)}, nil
	}
	evt.ID = hookd.NewIDAt(hookd.PrefixEvent, evt.Timestamp)
	return evt, keptEvent{}, s.insertEvent(tx, evt, matched, dataFrom)
}

var hqInsertEvent = hot(`INSERT INTO events (` + eventRowCols + `, data_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)

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

// eventRowCols are the columns an event is inserted with (and data_from,
// see publishTx); eventCols reads them back (from events named events).
const eventRowCols = `id, workspace_id, type, data, owner_id, idempotency_key, created, delivery_ids`

var eventCols = `id, workspace_id, type, ` + eventData("events") + `, owner_id, idempotency_key, created, delivery_ids`

// eventData is the SQL for the data of the event in table alias t: its data
// column, or the input of the execution it names in data_from (see
// migrations/00005_event_data_from.sql).
func eventData(t string) string {
	return `CASE WHEN ` + t + `.data_from IS NULL THEN ` + t + `.data
		ELSE (SELECT x.input FROM executions x WHERE x.id = ` + t + `.data_from) END`
}

// scanEvent reads a row of eventCols, delivery ids included.
func scanEvent(sc interface{ Scan(...any) error }) (*hookd.Event, error) {
	var e hookd.Event
	var data, ids string
	var created int64
	if err := sc.Scan(&e.ID, &e.WorkspaceID, &e.Type, &data, &e.OwnerID, &e.IdempotencyKey, &created, &ids); err != nil {
		return nil, err
	}
	e.Data = json.RawMessage(data)
	e.Timestamp = fromUS(created)
	if err := json.Unmarshal([]byte(ids), &e.DeliveryIDs); err != nil {
		return nil, fmt.Errorf("delivery_ids: %w", err)
	}
	return &e, nil
}

// EventGet reads one event of the workspace with its delivery ids;
// ENotFound when absent or of another workspace.
func (s *Store) EventGet(ctx context.Context, workspaceID, id string) (*hookd.Event, error) {
	e, err := scanEvent(s.rdb.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE id = ? AND workspace_id = ?`, id, workspaceID))
	if errors.Is(err, sql.ErrNoRows) {
		return s.foldedEvent(ctx, workspaceID, id)
	}
	return getResult(e, err, "event")
}
