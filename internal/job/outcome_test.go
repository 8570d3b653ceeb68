package job

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// marshalled is what json.Marshal makes of an inline event run's outcome and
// result: what eventResult and outcomeEventOwn must write byte for byte.
func marshalled(t testing.TB, x hookd.Execution, j hookd.Job, evt *hookd.Event) (result, outcome []byte) {
	ids := evt.DeliveryIDs
	if ids == nil {
		ids = []string{}
	}
	result, err := json.Marshal(struct {
		EventID    string   `json:"event_id"`
		Deliveries []string `json:"deliveries"`
	}{evt.ID, ids})
	if err != nil {
		t.Fatal(err)
	}
	x.Result = result
	outcome, err = json.Marshal(newOutcomeData(&x, &j))
	if err != nil {
		t.Fatal(err)
	}
	return result, outcome
}

// checkOutcome fails t unless eventResult and outcomeEventOwn write what
// json.Marshal does for a run of j that published evt.
func checkOutcome(t testing.TB, x hookd.Execution, j hookd.Job, evt *hookd.Event) {
	wantResult, wantOutcome := marshalled(t, x, j, evt)
	x.Result = eventResult(evt)
	if !bytes.Equal(x.Result, wantResult) {
		t.Fatalf("eventResult = %s\njson.Marshal  %s", x.Result, wantResult)
	}
	p := outcomeEventOwn(&x, &j, time.Unix(0, 0))
	if !bytes.Equal(p.Data, wantOutcome) {
		t.Fatalf("outcome = %s\njson.Marshal %s", p.Data, wantOutcome)
	}
	if want := outcomeEvent(&x, &j, time.Unix(0, 0)); p.Type != want.Type || p.OwnerID != want.OwnerID || p.WorkspaceID != want.WorkspaceID {
		t.Fatalf("outcome %s/%s/%s, want %s/%s/%s", p.Type, p.OwnerID, p.WorkspaceID, want.Type, want.OwnerID, want.WorkspaceID)
	}
}

// TestOutcomeJSON: the appended result and outcome of an inline event run are
// json.Marshal's bytes, in the fast case and in each case that falls back.
func TestOutcomeJSON(t *testing.T) {
	base := hookd.Execution{
		ID: "exe_2qLsZ0D1b4zUqgQmQ4Iy3ZqM6dE", WorkspaceID: "ws_1", JobID: "job_2qLsYxCXQ0w2v9ZtmnbB3n3Ux0m",
		TriggerID: "trg_2qLsYyL8hYQm4EJrNbi7nnOHIaY", Source: hookd.SourceWebhook, Status: hookd.ExecSucceeded, DurationMS: 3,
	}
	job := hookd.Job{Name: "refresh-views", OwnerID: "team-data"}
	evt := &hookd.Event{ID: "evt_2qLsZ3p4CGMcM0kV1K3b9l6tLxR", DeliveryIDs: []string{"dlv_2qLsZ4", "dlv_2qLsZ5"}}
	for _, tt := range []struct {
		name string
		edit func(x *hookd.Execution, j *hookd.Job, e *hookd.Event)
	}{
		{"plain", func(*hookd.Execution, *hookd.Job, *hookd.Event) {}},
		{"no deliveries", func(_ *hookd.Execution, _ *hookd.Job, e *hookd.Event) { e.DeliveryIDs = nil }},
		{"one delivery", func(_ *hookd.Execution, _ *hookd.Job, e *hookd.Event) { e.DeliveryIDs = e.DeliveryIDs[:1] }},
		{"no trigger", func(x *hookd.Execution, _ *hookd.Job, _ *hookd.Event) {
			x.TriggerID, x.Source = "", hookd.SourceSchedule
		}},
		{"long run", func(x *hookd.Execution, _ *hookd.Job, _ *hookd.Event) { x.DurationMS = 1<<53 + 1 }},
		{"name escaped", func(_ *hookd.Execution, j *hookd.Job, _ *hookd.Event) { j.Name = `say "hi" <b>&</b>` }},
		{"name unicode", func(_ *hookd.Execution, j *hookd.Job, _ *hookd.Event) {
			j.Name = "Auffrischung der Ansichten – ü\u2028"
		}},
		{"name control", func(_ *hookd.Execution, j *hookd.Job, _ *hookd.Event) { j.Name = "a\tb\x7f\x00" }},
		{"name invalid UTF-8", func(_ *hookd.Execution, j *hookd.Job, _ *hookd.Event) { j.Name = "a\xffb" }},
		{"delivery id escaped", func(_ *hookd.Execution, _ *hookd.Job, e *hookd.Event) { e.DeliveryIDs = []string{"dlv_1", `dlv_"2"`} }},
		{"event id escaped", func(_ *hookd.Execution, _ *hookd.Job, e *hookd.Event) { e.ID = "evt_<1>" }},
		{"trigger id escaped", func(x *hookd.Execution, _ *hookd.Job, _ *hookd.Event) { x.TriggerID = `trg\1` }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, j, e := base, job, *evt
			e.DeliveryIDs = append([]string(nil), evt.DeliveryIDs...)
			tt.edit(&x, &j, &e)
			checkOutcome(t, x, j, &e)
		})
	}
	// Each character json.Marshal escapes, alone in a name otherwise plain.
	for _, c := range []string{`"`, `\`, "<", ">", "&", "\x00", "\x1f", "\x7f", "\x80", "\u2028", "\u2029"} {
		t.Run("escape "+strconv.QuoteToASCII(c), func(t *testing.T) {
			j := job
			j.Name = "a" + c + "b"
			checkOutcome(t, base, j, evt)
		})
	}
}

// FuzzOutcomeJSON: whatever the strings, the appended result and outcome are
// json.Marshal's bytes.
func FuzzOutcomeJSON(f *testing.F) {
	f.Add("refresh", "trg_1", "webhook", "evt_1", "dlv_1", int64(7), uint8(2))
	f.Add(`a"b<c>&`, "", "schedule", "evt_\u2028", "dlv_\\", int64(-1), uint8(0))
	f.Add("\xff\x00", "trg_\n", "api", "", "", int64(1)<<62, uint8(1))
	f.Fuzz(func(t *testing.T, name, trigger, source, eventID, deliveryID string, duration int64, n uint8) {
		x := hookd.Execution{ID: "exe_1", WorkspaceID: "ws_1", JobID: "job_1", TriggerID: trigger, Source: source,
			Status: hookd.ExecSucceeded, DurationMS: duration}
		e := &hookd.Event{ID: eventID}
		for i := range int(n % 4) {
			e.DeliveryIDs = append(e.DeliveryIDs, deliveryID+string(rune('a'+i)))
		}
		checkOutcome(t, x, hookd.Job{Name: name}, e)
	})
}

// BenchmarkOutcome: an inline event run's result and outcome, appended
// (own) and through json.Marshal (marshal), which the writer paid before.
func BenchmarkOutcome(b *testing.B) {
	x := hookd.Execution{ID: "exe_2qLsZ0D1b4zUqgQmQ4Iy3ZqM6dE", WorkspaceID: "ws_1", JobID: "job_2qLsYxCXQ0w2v9ZtmnbB3n3Ux0m",
		TriggerID: "trg_2qLsYyL8hYQm4EJrNbi7nnOHIaY", Source: hookd.SourceWebhook, Status: hookd.ExecSucceeded}
	j := hookd.Job{Name: "bench", OwnerID: "team"}
	evt := &hookd.Event{ID: "evt_2qLsZ3p4CGMcM0kV1K3b9l6tLxR", DeliveryIDs: []string{"dlv_2qLsZ4p4CGMcM0kV1K3b9l6tLxR"}}
	b.Run("own", func(b *testing.B) {
		for b.Loop() {
			x.Result = eventResult(evt)
			outcomeEventOwn(&x, &j, time.Time{})
		}
	})
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			x.Result, _ = json.Marshal(struct {
				EventID    string   `json:"event_id"`
				Deliveries []string `json:"deliveries"`
			}{evt.ID, evt.DeliveryIDs})
			outcomeEvent(&x, &j, time.Time{})
		}
	})
}
