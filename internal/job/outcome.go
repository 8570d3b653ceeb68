package job

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/plainjson"
)

// The outcome of an event job's run ended inline is encoded inside the
// store's one writer, once per accepted trigger call. json.Marshal spends
// most of that on reflection and on validating the result it was given, which
// this package built itself: for the common case (ids, names and sources
// that need no escaping, internal/plainjson) the bytes are appended here
// instead, exactly as json.Marshal would write them (TestOutcomeJSON,
// FuzzOutcomeJSON), and anything else goes through json.Marshal as before.

// eventResult is the result of an event job's run that published evt:
// {"event_id", "deliveries"}, compact and escaped as json.Marshal writes it,
// so that json.Marshal leaves it unchanged as a json.RawMessage (which
// outcomeEventOwn relies on).
func eventResult(evt *hookd.Event) json.RawMessage {
	n := 32 + len(evt.ID)
	for _, id := range evt.DeliveryIDs {
		n += len(id) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, `{"event_id":`...)
	b, ok := plainjson.Append(b, evt.ID)
	b = append(b, `,"deliveries":[`...)
	for i, id := range evt.DeliveryIDs {
		if !ok {
			break
		}
		if i > 0 {
			b = append(b, ',')
		}
		b, ok = plainjson.Append(b, id)
	}
	if ok {
		return append(b, "]}"...)
	}
	ids := evt.DeliveryIDs
	if ids == nil {
		ids = []string{}
	}
	b, _ = json.Marshal(struct {
		EventID    string   `json:"event_id"`
		Deliveries []string `json:"deliveries"`
	}{evt.ID, ids}) // strings only: never fails
	return b
}

// appendJSON appends d as json.Marshal(d) encodes it, given that d.Result is
// empty or already as json.Marshal writes a json.RawMessage (compact, valid,
// escaped). ok is false when a string needs escaping.
func (d *outcomeData) appendJSON(b []byte) (_ []byte, ok bool) {
	b = append(b, `{"job_id":`...)
	if b, ok = plainjson.Append(b, d.JobID); !ok {
		return b, false
	}
	b = append(b, `,"job_name":`...)
	if b, ok = plainjson.Append(b, d.JobName); !ok {
		return b, false
	}
	b = append(b, `,"execution_id":`...)
	if b, ok = plainjson.Append(b, d.ExecutionID); !ok {
		return b, false
	}
	b = append(b, `,"trigger_id":`...)
	if d.TriggerID == nil {
		b = append(b, "null"...)
	} else if b, ok = plainjson.Append(b, *d.TriggerID); !ok {
		return b, false
	}
	b = append(b, `,"source":`...)
	if b, ok = plainjson.Append(b, d.Source); !ok {
		return b, false
	}
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, d.DurationMS, 10)
	if len(d.Result) > 0 {
		b = append(b, `,"result":`...)
		b = append(b, d.Result...)
	}
	if d.Reason != "" {
		b = append(b, `,"reason":`...)
		if b, ok = plainjson.Append(b, d.Reason); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// outcomeEventOwn is outcomeEvent for an execution whose result this package
// made (eventResult), which needs no validation.
func outcomeEventOwn(x *hookd.Execution, j *hookd.Job, now time.Time) *hookd.PublishParams {
	d := newOutcomeData(x, j)
	n := 128 + len(d.JobID) + len(d.JobName) + len(d.ExecutionID) + len(x.TriggerID) + len(d.Source) + len(d.Result) + len(d.Reason)
	if data, ok := d.appendJSON(make([]byte, 0, n)); ok {
		return &hookd.PublishParams{WorkspaceID: x.WorkspaceID, Type: outcomeType(x), Data: data, OwnerID: j.OwnerID, Now: now}
	}
	return outcomeEvent(x, j, now)
}
