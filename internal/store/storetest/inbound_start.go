package storetest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// acceptStart is accept with CallAcceptParams.Start set.
func acceptStart(t *testing.T, s InboundStore, tr *hookd.Trigger, now time.Time, input string, st *hookd.ExecStart) *hookd.CallAcceptResult {
	t.Helper()
	res, err := s.CallAccept(context.Background(), hookd.CallAcceptParams{
		Trigger: tr,
		Call:    hookd.Call{IP: "203.0.113.7", Method: http.MethodPost},
		Input:   json.RawMessage(input),
		Now:     now,
		Start:   st,
	})
	if err != nil {
		t.Fatalf("CallAccept at %v: %v", now.Sub(t0), err)
	}
	return res
}

// testAcceptStart: CallAcceptParams.Start starts a new run in the accepting
// transaction exactly when a claim would: the job has room and no earlier due
// run of it waits. A store may ignore Start (the run is then queued), so
// the rest is skipped when the first call does not start.
func testAcceptStart(t *testing.T, open OpenInbound) {
	s := open(t)
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, func(j *hookd.Job) { j.Concurrency, j.TimeoutSeconds = 2, 30 })
	tr, _ := trigger(t, s, j, nil)
	st := &hookd.ExecStart{Owner: "node-a", Lease: time.Minute}

	first := acceptStart(t, s, tr, t0, `{"n":1}`, st)
	if first.Started == nil {
		if first.Execution.Status != hookd.ExecQueued {
			t.Fatalf("ignored Start: execution %s, want queued", first.Execution.Status)
		}
		t.Skip("this store ignores CallAcceptParams.Start")
	}
	c := first.Started
	if c.ID != first.Execution.ID || c.Status != hookd.ExecRunning || c.StartedAt == nil || !c.StartedAt.Equal(t0) ||
		c.Job.ID != j.ID || c.Job.LastRunAt == nil || !c.Job.LastRunAt.Equal(t0) || string(c.Input) != `{"n":1}` {
		t.Fatalf("started run: %+v", c)
	}
	if got := getExecution(t, s, ws.ID, c.ID); got.Status != hookd.ExecRunning || got.StartedAt == nil || !got.StartedAt.Equal(t0) {
		t.Errorf("stored run: %s started %v, want running since t0", got.Status, got.StartedAt)
	}
	if got, err := s.JobGet(context.Background(), ws.ID, j.ID); err != nil || got.LastRunAt == nil || !got.LastRunAt.Equal(t0) {
		t.Errorf("job last_run_at: %v (%v), want t0", got.LastRunAt, err)
	}
	// The lease is Start's, held by Start.Owner. A claim does not see the
	// run; ExecutionsInterrupt before the lease ends leaves it alone.
	if got := claimExec(t, s, t0, 10); len(got) != 0 {
		t.Errorf("claim took %v, want nothing queued", execIDs(got))
	}
	if xs, err := s.ExecutionsInterrupt(context.Background(), t0.Add(time.Minute), nil); err != nil || len(xs) != 0 {
		t.Errorf("interrupted %d runs before the lease ended (%v)", len(xs), err)
	}
	if n, err := s.ExecutionsRenew(context.Background(), "node-a", []string{c.ID}, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("renewed %d leases (%v), want the started run's (held by node-a)", n, err)
	}

	// Concurrency 2: the second starts, the third queues.
	if second := acceptStart(t, s, tr, t0.Add(time.Millisecond), `{"n":2}`, st); second.Started == nil {
		t.Fatalf("second call: %s, want started (room for 2)", second.Execution.Status)
	}
	third := acceptStart(t, s, tr, t0.Add(2*time.Millisecond), `{"n":3}`, st)
	if third.Started != nil || third.Execution.Status != hookd.ExecQueued {
		t.Fatalf("third call: started %v status %s, want queued (job at its concurrency)", third.Started != nil, third.Execution.Status)
	}
	// A slot frees, but the third run waits first: the fourth queues behind it.
	finishExec(t, s, &c.Execution, t0.Add(3*time.Millisecond))
	fourth := acceptStart(t, s, tr, t0.Add(4*time.Millisecond), `{"n":4}`, st)
	if fourth.Started != nil {
		t.Fatalf("fourth call started ahead of the queued third")
	}
	if got := claimExec(t, s, t0.Add(5*time.Millisecond), 10); len(got) != 1 || got[0].ID != third.Execution.ID {
		t.Errorf("claim took %v, want the third run only", execIDs(got))
	}

	// Inline: the run ends in the same transaction, publishing its event
	// and outcome; OnEvent fills in the result.
	ev := job(t, s, ws.ID, func(j *hookd.Job) {
		j.Kind, j.Config, j.Concurrency = hookd.JobEvent, json.RawMessage(`{"type":"order.paid"}`), 1
	})
	wh := webhook(t, s, ws.ID, func(wh *hookd.Webhook) { wh.Events = []string{"order.*", "job.*"} })
	evTr, _ := trigger(t, s, ev, nil)
	inline := &hookd.ExecStart{Owner: "node-a", Lease: time.Minute, Inline: func(c *hookd.ClaimedExecution) *hookd.ExecFinishParams {
		if c.Job.ID != ev.ID || c.StartedAt == nil {
			return nil
		}
		return &hookd.ExecFinishParams{
			Status: hookd.ExecSucceeded, Now: *c.StartedAt,
			Event: &hookd.PublishParams{WorkspaceID: ws.ID, Type: "order.paid", Data: c.Input},
			OnEvent: func(evt *hookd.Event, p *hookd.ExecFinishParams) {
				p.Result = json.RawMessage(`{"event_id":"` + evt.ID + `"}`)
				p.Outcome = &hookd.PublishParams{WorkspaceID: ws.ID, Type: "job.succeeded", Data: json.RawMessage(`{"event_id":"` + evt.ID + `"}`)}
			},
		}
	}}
	at := t0.Add(time.Second)
	res := acceptStart(t, s, evTr, at, `{"order":7}`, inline)
	if res.Started == nil || res.Started.Status != hookd.ExecSucceeded || res.Execution.Status != hookd.ExecSucceeded {
		t.Fatalf("inline run: %+v, want started and succeeded", res.Started)
	}
	if res.Started.Deliveries != 2 {
		t.Errorf("inline run: Deliveries %d, want 2 (its event's and its outcome's)", res.Started.Deliveries)
	}
	got := getExecution(t, s, ws.ID, res.Execution.ID)
	if got.Status != hookd.ExecSucceeded || got.FinishedAt == nil || !got.FinishedAt.Equal(at) || got.StartedAt == nil {
		t.Fatalf("stored inline run: %+v", got)
	}
	var result struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(got.Result, &result); err != nil {
		t.Fatalf("result %s: %v", got.Result, err)
	}
	evt, err := s.EventGet(context.Background(), ws.ID, result.EventID)
	if err != nil || evt.Type != "order.paid" || string(evt.Data) != `{"order":7}` || len(evt.DeliveryIDs) != 1 {
		t.Fatalf("the run's event: %+v (%v)", evt, err)
	}
	if ds, total, _ := s.DeliveryList(context.Background(), hookd.DeliveryFilter{WorkspaceID: ws.ID, WebhookID: wh.ID,
		Page: hookd.Page{Limit: 10}}); total != 2 {
		t.Errorf("%d deliveries (%v), want the event's and the outcome's", total, ds)
	}
	// Concurrency 1 and nothing running: the next call is inline too. With
	// the webhook gone, its events make no deliveries.
	if err := s.WebhookDelete(context.Background(), ws.ID, wh.ID); err != nil {
		t.Fatal(err)
	}
	again := acceptStart(t, s, evTr, at.Add(time.Millisecond), `{"order":8}`, inline)
	if again.Started == nil || again.Execution.Status != hookd.ExecSucceeded {
		t.Fatalf("second inline run: %s", again.Execution.Status)
	}
	if again.Started.Deliveries != 0 {
		t.Errorf("inline run without subscribers: Deliveries %d, want 0", again.Started.Deliveries)
	}
	// Its event reads back all the same (SQLite keeps it on the execution).
	if err := json.Unmarshal(again.Execution.Result, &result); err != nil {
		t.Fatalf("result %s: %v", again.Execution.Result, err)
	}
	evt, err = s.EventGet(context.Background(), ws.ID, result.EventID)
	if err != nil || evt.ID != result.EventID || evt.WorkspaceID != ws.ID || evt.Type != "order.paid" ||
		string(evt.Data) != `{"order":8}` || !evt.Timestamp.Equal(at.Add(time.Millisecond)) || len(evt.DeliveryIDs) != 0 {
		t.Errorf("the event of the run without subscribers: %+v (%v)", evt, err)
	}
	other := workspace(t, s, "other")
	if _, err := s.EventGet(context.Background(), other.ID, result.EventID); hookd.ErrorCode(err) != hookd.ENotFound {
		t.Errorf("another workspace reads the run's event: %v, want not found", err)
	}

	// The job as it is now: its concurrency raised, the next call has room.
	one := job(t, s, ws.ID, func(j *hookd.Job) { j.Concurrency = 1 })
	oneTr, _ := trigger(t, s, one, nil)
	if r := acceptStart(t, s, oneTr, at, `{}`, st); r.Started == nil {
		t.Fatalf("first run of an idle job: %s, want started", r.Execution.Status)
	}
	one.Concurrency = 2
	if err := s.JobUpdate(context.Background(), one); err != nil {
		t.Fatal(err)
	}
	if r := acceptStart(t, s, oneTr, at.Add(time.Millisecond), `{}`, st); r.Started == nil {
		t.Errorf("second run after concurrency 1 → 2: %s, want started", r.Execution.Status)
	}
}

// testFinishEvent: ExecFinishParams.Event is published in the finishing
// transaction, before OnEvent fills in the result and outcome; a refused
// finish publishes nothing.
func testFinishEvent(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, nil)
	wh := webhook(t, s, ws.ID, func(wh *hookd.Webhook) { wh.Events = []string{"order.*"} })
	x := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID})
	queued := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, CreatedAt: t0.Add(time.Second)})
	claimExec(t, s, t0, 1)
	end := t0.Add(time.Second)
	params := func(id string) hookd.ExecFinishParams {
		return hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: id, Status: hookd.ExecSucceeded, Now: end,
			Event: &hookd.PublishParams{WorkspaceID: ws.ID, Type: "order.paid", Data: json.RawMessage(`{"n":1}`)},
			OnEvent: func(evt *hookd.Event, p *hookd.ExecFinishParams) {
				p.Result = json.RawMessage(`{"event_id":"` + evt.ID + `"}`)
				p.Outcome = &hookd.PublishParams{WorkspaceID: ws.ID, Type: "job.succeeded", Data: json.RawMessage(`{}`)}
			}}
	}
	_, err := s.ExecutionFinish(ctx, params(queued.ID))
	wantCode(t, "finish a queued execution", err, hookd.EConflict)
	if _, total, _ := s.DeliveryList(ctx, hookd.DeliveryFilter{WorkspaceID: ws.ID, WebhookID: wh.ID, Page: hookd.Page{Limit: 10}}); total != 0 {
		t.Errorf("%d deliveries after a refused finish, want 0", total)
	}
	outcome, err := s.ExecutionFinish(ctx, params(x.ID))
	if err != nil {
		t.Fatal(err)
	}
	if outcome == nil || outcome.Type != "job.succeeded" {
		t.Errorf("outcome %+v, want job.succeeded", outcome)
	}
	got := getExecution(t, s, ws.ID, x.ID)
	var result struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(got.Result, &result); err != nil || got.Status != hookd.ExecSucceeded {
		t.Fatalf("finished run: %s %s (%v)", got.Status, got.Result, err)
	}
	evt, err := s.EventGet(ctx, ws.ID, result.EventID)
	if err != nil || evt.Type != "order.paid" || len(evt.DeliveryIDs) != 1 {
		t.Fatalf("the run's event: %+v (%v)", evt, err)
	}
}

// testTriggerLastUsed: CallAccept keeps the trigger's last_used_at to the
// second.
func testTriggerLastUsed(t *testing.T, open OpenInbound) {
	s := open(t)
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, nil)
	tr, _ := trigger(t, s, j, nil)
	lastUsed := func() *time.Time {
		t.Helper()
		got, err := s.TriggerGet(context.Background(), ws.ID, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsedAt
	}
	if lu := lastUsed(); lu != nil {
		t.Fatalf("last_used_at %v before any call", lu)
	}
	for _, step := range []struct {
		at, want time.Duration
	}{
		{0, 0},
		{500 * time.Millisecond, 0}, // within a second: left
		{1500 * time.Millisecond, 1500 * time.Millisecond},
		{10 * time.Second, 10 * time.Second},
	} {
		accept(t, s, tr, t0.Add(step.at), `{}`, "")
		if lu := lastUsed(); lu == nil || !lu.Equal(t0.Add(step.want)) {
			t.Errorf("after a call at +%v: last_used_at %v, want +%v", step.at, lu, step.want)
		}
	}
}

// testAcceptFollowsTrigger: an accepted call runs the job its trigger has
// now — moved to another job since the last call, the next call's run is
// the new job's — and a trigger deleted with its job refuses calls.
func testAcceptFollowsTrigger(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	a, b := job(t, s, ws.ID, nil), job(t, s, ws.ID, nil)
	tr, _ := trigger(t, s, a, nil)
	if x := accept(t, s, tr, t0, `{}`, "").Execution; x.JobID != a.ID {
		t.Fatalf("run of job %s, want the trigger's job %s", x.JobID, a.ID)
	}
	moved := *tr
	moved.JobID = b.ID
	if err := s.TriggerUpdate(ctx, &moved); err != nil {
		t.Fatal(err)
	}
	// The caller may still hold the trigger as it was.
	if x := accept(t, s, tr, t0.Add(time.Second), `{}`, "").Execution; x.JobID != b.ID {
		t.Errorf("after the move: run of job %s, want %s", x.JobID, b.ID)
	}
	if err := s.JobDelete(ctx, ws.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: &moved, Input: json.RawMessage(`{}`), Now: t0.Add(2 * time.Second)})
	wantCode(t, "CallAccept after the trigger's job was deleted", err, hookd.ENotFound)
}
