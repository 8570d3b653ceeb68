package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hookd/hookd"
)

// matchWebhooks returns the workspace's active webhooks that evt matches.
func (s *Store) matchWebhooks(tx *sql.Tx, evt *hookd.Event) ([]*hookd.Webhook, error) {
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
	return matched, nil
}

// Events kept on their execution (migrations/00006_folded_events.sql): a
// finished run keeps its outcome on its row when it made no deliveries, and
// an event job's run ended inline its event too. Their ids are the
// execution's KSUID under the event prefix, the outcome's with its last
// digit paired (foldPair).

// foldedEventID is the id of the job's event kept on execution exeID.
func foldedEventID(exeID string) string {
	return hookd.PrefixEvent + strings.TrimPrefix(exeID, hookd.PrefixExecution)
}

// foldedOutcomeID is the id of the outcome event kept on execution exeID.
func foldedOutcomeID(exeID string) string {
	return foldPair(foldedEventID(exeID))
}

// base62 is KSUID's alphabet, and base62Pairs the same with each pair of
// neighbours swapped.
const (
	base62      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base62Pairs = "1032547698BADCFEHGJILKNMPORQTSVUXWZYbadcfehgjilknmporqtsvuxwzy"
)

// foldPair returns id with its last base62 digit swapped with its pair
// (0↔1, …, y↔z: the KSUID ± 1), its own inverse; id unchanged when that
// digit is not base62.
func foldPair(id string) string {
	if id == "" {
		return id
	}
	i := strings.IndexByte(base62, id[len(id)-1])
	if i < 0 {
		return id
	}
	return id[:len(id)-1] + base62Pairs[i:i+1]
}

// foldedEvent reads an event kept on an execution of the workspace
// (ENotFound when there is none): evt_<K> is the job's event of execution
// exe_<K>, or the outcome of the execution whose id pairs with exe_<K>.
func (s *Store) foldedEvent(ctx context.Context, workspaceID, id string) (*hookd.Event, error) {
	k, ok := strings.CutPrefix(id, hookd.PrefixEvent)
	if !ok || k == "" {
		return nil, hookd.Errorf(hookd.ENotFound, "event not found")
	}
	own := hookd.PrefixExecution + k
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, event_type, event_owner, input, outcome_type, outcome_owner, outcome_data, finished_at
		FROM executions WHERE id IN (?, ?) AND workspace_id = ?`, own, foldPair(own), workspaceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: event get: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var exeID, input string
		var evType, evOwner, outType, outOwner, outData sql.NullString
		var finished sql.NullInt64
		if err := rows.Scan(&exeID, &evType, &evOwner, &input, &outType, &outOwner, &outData, &finished); err != nil {
			return nil, fmt.Errorf("sqlite: event get: %w", err)
		}
		e := &hookd.Event{ID: id, WorkspaceID: workspaceID, Timestamp: fromUS(finished.Int64), DeliveryIDs: []string{}}
		switch {
		case exeID == own && evType.Valid:
			e.Type, e.OwnerID, e.Data = evType.String, evOwner.String, json.RawMessage(input)
		case exeID != own && outType.Valid:
			e.Type, e.OwnerID, e.Data = outType.String, outOwner.String, json.RawMessage(outData.String)
		default:
			continue
		}
		return e, nil
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: event get: %w", err)
	}
	return nil, hookd.Errorf(hookd.ENotFound, "event not found")
}
