package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/store/sqlite"
	"github.com/hookd/hookd/internal/store/storetest"
)

func TestInbound(t *testing.T) {
	t.Parallel()
	storetest.RunInbound(t, func(t *testing.T) storetest.InboundStore {
		return open(t, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{})
	})
}

// TestTriggerSecretsAtRest reads the raw trigger rows through a separate
// handle: neither HMAC secret nor the token may appear in plain text.
func TestTriggerSecretsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, s, ws := openWorkspace(t)
	j := &hookd.Job{WorkspaceID: ws.ID, Name: "j", Kind: hookd.JobHTTP}
	if err := s.JobCreate(ctx, j); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	const token = "wht_TOKENplaintext"
	tr := &hookd.Trigger{WorkspaceID: ws.ID, JobID: j.ID, IsActive: true, TokenHash: hookd.HashToken(token),
		Secret: "CURRENTplaintext", PreviousSecret: "PREVIOUSplaintext", PreviousSecretExpiresAt: &exp}
	if err := s.TriggerCreate(ctx, tr); err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, path, "triggers", "CURRENTplaintext", "PREVIOUSplaintext", "TOKENplaintext")
	got, err := s.TriggerGet(ctx, ws.ID, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != tr.Secret || got.PreviousSecret != tr.PreviousSecret || !got.HasSecret {
		t.Errorf("secrets read back: %q, %q, has_secret %v", got.Secret, got.PreviousSecret, got.HasSecret)
	}
	// A store opened with another master key cannot read it.
	s.Close()
	other := open(t, path, sqlite.Options{})
	if _, err := other.TriggerGet(ctx, ws.ID, tr.ID); err == nil {
		t.Error("trigger readable under a different master key")
	}
}

// TestExecClaimBacklog: more due runs of a job at its concurrency than the
// claim scans must not hide other jobs' runs queued behind them.
func TestExecClaimBacklog(t *testing.T) {
	t.Parallel()
	if raceEnabled {
		// Building the backlog takes ~15 s under the race detector; the
		// fallback runs on the writer goroutine like the rest of the claim.
		t.Skip("slow under -race")
	}
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{Synchronous: "NORMAL"})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	mkJob := func(name string, concurrency int) *hookd.Job {
		j := &hookd.Job{WorkspaceID: ws.ID, Name: name, Kind: hookd.JobHTTP, Concurrency: concurrency}
		if err := s.JobCreate(ctx, j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	busy, quiet, partial := mkJob("busy", 1), mkJob("quiet", 1), mkJob("partial", 3)
	t0 := time.Now().UTC().Truncate(time.Second)
	mk := func(j *hookd.Job, runAt time.Time) string {
		x := &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: hookd.SourceAPI, CreatedAt: t0, RunAt: runAt}
		if err := s.ExecutionCreate(ctx, x); err != nil {
			t.Error(err)
		}
		return x.ID
	}
	mk(busy, t0.Add(-time.Second))
	if got, err := s.ExecutionsClaim(ctx, hookd.ExecClaimParams{Now: t0, Limit: 1, Lease: time.Minute}); err != nil || len(got) != 1 {
		t.Fatalf("claim the busy job's first run: %v, %v", got, err)
	}
	p0 := mk(partial, t0)
	const backlog = 4500 // more than one claim scans
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < backlog; i += 16 {
				mk(busy, t0.Add(time.Second+time.Duration(i)*time.Millisecond))
			}
		})
	}
	wg.Wait()
	q := mk(quiet, t0.Add(time.Hour))
	p1, p2 := mk(partial, t0.Add(time.Hour+time.Second)), mk(partial, t0.Add(time.Hour+2*time.Second))
	mk(partial, t0.Add(time.Hour+3*time.Second)) // over partial's concurrency

	got, err := s.ExecutionsClaim(ctx, hookd.ExecClaimParams{Now: t0.Add(2 * time.Hour), Limit: 10, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if want := []string{p0, q, p1, p2}; !slices.Equal(ids, want) {
		t.Errorf("claimed %v, want %v (the quiet and partial jobs' runs behind the backlog, oldest first)", ids, want)
	}
}

// TestAcceptedCallsOnExecutions: an accepted call is kept on the execution it
// made (migrations/00004_accepted_calls.sql) however that run starts —
// started, ended inline, or queued — with no calls row of its own; migrating
// down to 3 moves the accepted calls back into calls, and up again lists
// each once.
func TestAcceptedCallsOnExecutions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, s, ws, tr := eventTrigger(t, 2, "")
	t0 := time.Now().Truncate(time.Second)
	inline := func(c *hookd.ClaimedExecution) *hookd.ExecFinishParams {
		return &hookd.ExecFinishParams{Status: hookd.ExecSucceeded, Now: *c.StartedAt,
			Event: &hookd.PublishParams{WorkspaceID: ws.ID, Type: "order.paid", Data: c.Input}}
	}
	want := map[string]hookd.Call{} // call id → as listed
	for i, st := range []*hookd.ExecStart{
		{Owner: "node-a", Lease: time.Minute},                 // started
		{Owner: "node-a", Lease: time.Minute, Inline: inline}, // ended inline
		nil, // queued
	} {
		ip, method := fmt.Sprintf("198.51.100.%d", i+1), []string{"POST", "GET", "POST"}[i]
		res, err := s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: tr, Call: hookd.Call{IP: ip, Method: method},
			Input: json.RawMessage(`{}`), Now: t0.Add(time.Duration(i) * time.Second), Start: st})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus := []string{hookd.ExecRunning, hookd.ExecSucceeded, hookd.ExecQueued}[i]
		if res.Disposition != hookd.DispositionAccepted || res.Execution.Status != wantStatus {
			t.Fatalf("call %d: %s, execution %s; want accepted, %s", i, res.Disposition, res.Execution.Status, wantStatus)
		}
		want[res.CallID] = hookd.Call{ID: res.CallID, WorkspaceID: ws.ID, TriggerID: tr.ID, Disposition: hookd.DispositionAccepted,
			ExecutionID: res.Execution.ID, IP: ip, Method: method, StatusCode: 202, CreatedAt: t0.Add(time.Duration(i) * time.Second)}
	}
	check := func(when string) {
		t.Helper()
		list, total, err := s.CallList(ctx, hookd.CallFilter{WorkspaceID: ws.ID, TriggerID: tr.ID, Page: hookd.Page{Limit: 10}})
		if err != nil {
			t.Fatal(err)
		}
		if total != len(want) || len(list) != len(want) {
			t.Fatalf("%s: %d calls listed (total %d), want %d", when, len(list), total, len(want))
		}
		for _, c := range list {
			if diff := cmp.Diff(want[c.ID], c, cmpopts.EquateApproxTime(0)); diff != "" {
				t.Errorf("%s: call %s (-want +got):\n%s", when, c.ID, diff)
			}
		}
	}
	check("kept on executions")
	if n := countRows(t, path, "calls"); n != 0 {
		t.Errorf("%d calls rows for accepted calls, want 0", n)
	}

	s.Close()
	if err := sqlite.MigrateDownTo(ctx, path, 3); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, path, "calls"); n != len(want) {
		t.Errorf("after migrating down: %d calls rows, want %d", n, len(want))
	}
	s = open(t, path, sqlite.Options{})
	check("migrated down and up again")
}

// TestGroupCommitRooms: calls accepted in one group start runs up to the
// job's concurrency and queue the rest, whether their runs stay running (the
// room found for one call must not serve the next) or end inline (then every
// call starts one, the job's room unchanged by them).
func TestGroupCommitRooms(t *testing.T) {
	for _, tc := range []struct {
		name        string
		inline      bool
		wantStarted int
	}{{"Running", false, 3}, {"Inline", true, 12}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, s, _, tr := eventTrigger(t, 3, "")
			ctx := context.Background()
			start := &hookd.ExecStart{Owner: "n", Lease: time.Minute}
			if tc.inline {
				start.Inline = func(c *hookd.ClaimedExecution) *hookd.ExecFinishParams {
					return &hookd.ExecFinishParams{Status: hookd.ExecSucceeded, Now: *c.StartedAt}
				}
			}
			release := s.HoldWriter()
			before := s.WriteStats()
			const n = 12
			results := make([]*hookd.CallAcceptResult, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					res, err := s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: tr, Call: hookd.Call{IP: "127.0.0.1", Method: "POST"},
						Input: json.RawMessage(`{}`), Now: time.Now(), Start: start})
					if err != nil {
						t.Error(err)
					}
					results[i] = res
				})
			}
			release(n)
			wg.Wait()
			if commits := s.WriteStats().Commits - before.Commits; commits != 2 {
				t.Errorf("%d commits, want 2 (one group)", commits)
			}
			started := 0
			for _, r := range results {
				if r != nil && r.Started != nil {
					started++
				}
			}
			if started != tc.wantStarted {
				t.Errorf("%d of %d calls started their run, want %d", started, n, tc.wantStarted)
			}
		})
	}
}

// eventTrigger opens a store at a new path with a workspace, an event job
// (type order.paid) of the given concurrency and an active trigger for it,
// and, when events is set, a webhook subscribed to those events.
func eventTrigger(t *testing.T, concurrency int, events string) (string, *sqlite.Store, *hookd.Workspace, *hookd.Trigger) {
	t.Helper()
	ctx := context.Background()
	path, s, ws := openWorkspace(t)
	if events != "" {
		wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "whsec_s", Events: []string{events}}
		if err := s.WebhookCreate(ctx, wh); err != nil {
			t.Fatal(err)
		}
	}
	j := &hookd.Job{WorkspaceID: ws.ID, Name: "ev", Kind: hookd.JobEvent, Concurrency: concurrency,
		Config: json.RawMessage(`{"type":"order.paid"}`)}
	if err := s.JobCreate(ctx, j); err != nil {
		t.Fatal(err)
	}
	tr := &hookd.Trigger{WorkspaceID: ws.ID, JobID: j.ID, IsActive: true, TokenHash: hookd.HashToken("wht_" + hookd.NewID(""))}
	if err := s.TriggerCreate(ctx, tr); err != nil {
		t.Fatal(err)
	}
	return path, s, ws, tr
}

// rawDB is a read-only handle on the database file at path, beside the
// store's own connections; closed with the test.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// countRows counts table's rows through a separate handle.
func countRows(t *testing.T, path, table string) int {
	t.Helper()
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInlineEventDataOnExecution: the event of a run ended inline whose data
// is the run's input byte for byte names the execution instead of holding a
// copy (migrations/00005_event_data_from.sql), and reads back whole through
// EventGet and the claim of its delivery; an event whose data differs from
// the input keeps its own; migrating down to 4 writes the input back into
// the event.
func TestInlineEventDataOnExecution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, s, ws, tr := eventTrigger(t, 1, "order.*")
	t0 := time.Now().Truncate(time.Second)
	events := map[string]string{} // event id → its data
	for i, tc := range []struct {
		input, data string
		ref         bool
	}{
		{`{"order":7,"note":"` + strings.Repeat("x", 500) + `"}`, "", true}, // data: the input itself
		{`[1,2]`, `{"input":[1,2]}`, false},                                 // data: made from the input
	} {
		data := tc.data
		inline := func(c *hookd.ClaimedExecution) *hookd.ExecFinishParams {
			d := json.RawMessage(data)
			if data == "" {
				d = c.Input
			}
			return &hookd.ExecFinishParams{Status: hookd.ExecSucceeded, Now: *c.StartedAt,
				Event: &hookd.PublishParams{WorkspaceID: ws.ID, Type: "order.paid", Data: d},
				OnEvent: func(evt *hookd.Event, p *hookd.ExecFinishParams) {
					p.Result = json.RawMessage(`{"event_id":"` + evt.ID + `"}`)
				}}
		}
		res, err := s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: tr, Call: hookd.Call{IP: "192.0.2.1", Method: "POST"},
			Input: json.RawMessage(tc.input), Now: t0.Add(time.Duration(i) * time.Second),
			Start: &hookd.ExecStart{Owner: "node-a", Lease: time.Minute, Inline: inline}})
		if err != nil || res.Started == nil || res.Started.Status != hookd.ExecSucceeded {
			t.Fatalf("call %d: %+v, %v; want a run ended inline", i, res, err)
		}
		var result struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(res.Execution.Result, &result); err != nil {
			t.Fatal(err)
		}
		want := tc.input
		if !tc.ref {
			want = tc.data
		}
		events[result.EventID] = want
		stored, from := rawEventData(t, path, result.EventID)
		if tc.ref && (stored != "" || from != res.Execution.ID) {
			t.Errorf("event of call %d stored data %q, data_from %q; want none and %s", i, stored, from, res.Execution.ID)
		}
		if !tc.ref && (stored != want || from != "") {
			t.Errorf("event of call %d stored data %q, data_from %q; want its own data", i, stored, from)
		}
		evt, err := s.EventGet(ctx, ws.ID, result.EventID)
		if err != nil || string(evt.Data) != want {
			t.Errorf("EventGet %s: data %s (%v), want %s", result.EventID, evt.Data, err, want)
		}
	}
	claimed, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: t0.Add(time.Hour), Limit: 10, Lease: time.Minute, Owner: "n"})
	if err != nil || len(claimed) != len(events) {
		t.Fatalf("claimed %d deliveries (%v), want %d", len(claimed), err, len(events))
	}
	for _, d := range claimed {
		if string(d.EventData) != events[d.EventID] {
			t.Errorf("delivery %s carries %s, want %s", d.ID, d.EventData, events[d.EventID])
		}
	}

	s.Close()
	if err := sqlite.MigrateDownTo(ctx, path, 4); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for id, want := range events {
		var data string
		if err := db.QueryRow(`SELECT data FROM events WHERE id = ?`, id).Scan(&data); err != nil || data != want {
			t.Errorf("after migrating down, event %s data %q (%v), want %s", id, data, err, want)
		}
	}
}

// rawEventData reads an event's data and data_from columns as stored.
func rawEventData(t *testing.T, path, id string) (data, from string) {
	t.Helper()
	var f sql.NullString
	if err := rawDB(t, path).QueryRow(`SELECT data, data_from FROM events WHERE id = ?`, id).Scan(&data, &f); err != nil {
		t.Fatal(err)
	}
	return data, f.String
}

// TestFoldedEvents: the event and the outcome of a run ended inline are kept
// on its execution when they make no deliveries (migrations/
// 00006_folded_events.sql): no events rows, and EventGet reads them back
// whole under their ids (the execution's KSUID, the outcome's paired); an
// event some webhook matches gets its row and deliveries as before; only the
// workspace sees them; migrating down to 5 writes them into events rows
// that read back the same.
func TestFoldedEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, s, ws, tr := eventTrigger(t, 4, "")
	t0 := time.Now().Truncate(time.Second)
	inline := func(c *hookd.ClaimedExecution) *hookd.ExecFinishParams {
		return &hookd.ExecFinishParams{Status: hookd.ExecSucceeded, Now: *c.StartedAt,
			Event: &hookd.PublishParams{WorkspaceID: ws.ID, Type: "order.paid", Data: c.Input, OwnerID: "acme", Now: *c.StartedAt},
			OnEvent: func(evt *hookd.Event, p *hookd.ExecFinishParams) {
				p.Result = json.RawMessage(`{"event_id":"` + evt.ID + `"}`)
				p.Outcome = &hookd.PublishParams{WorkspaceID: ws.ID, Type: "job.succeeded", OwnerID: "acme", Now: *c.StartedAt,
					Data: json.RawMessage(`{"execution_id":"` + c.ID + `","result":{"event_id":"` + evt.ID + `"}}`)}
			}}
	}
	countEvents := func() int { return countRows(t, path, "events") }
	type run struct {
		exe, input         string
		at                 time.Time
		evtRow, outcomeRow bool // kept in an events row (else on the execution)
	}
	var runs []run
	accept := func(i int, input string, evtRow, outcomeRow bool) {
		t.Helper()
		at := t0.Add(time.Duration(i) * time.Second)
		res, err := s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: tr, Call: hookd.Call{IP: "192.0.2.1", Method: "POST"},
			Input: json.RawMessage(input), Now: at, Start: &hookd.ExecStart{Owner: "n", Lease: time.Minute, Inline: inline}})
		if err != nil || res.Started == nil || res.Execution.Status != hookd.ExecSucceeded {
			t.Fatalf("call %d: %+v, %v; want a run ended inline", i, res, err)
		}
		if want := count(evtRow) + count(outcomeRow); res.Started.Deliveries != want {
			t.Errorf("call %d: %d deliveries, want %d", i, res.Started.Deliveries, want)
		}
		runs = append(runs, run{res.Execution.ID, input, at, evtRow, outcomeRow})
	}
	accept(0, `{"n":0}`, false, false)
	accept(1, `{"n":1}`, false, false)
	if n := countEvents(); n != 0 {
		t.Errorf("%d events rows after two runs nobody subscribes to, want 0", n)
	}
	// Outcomes subscribed: the job's event stays on the execution.
	hook := func(events ...string) {
		wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "whsec_s", Events: events}
		if err := s.WebhookCreate(ctx, wh); err != nil {
			t.Fatal(err)
		}
	}
	hook("job.*")
	accept(2, `{"n":2}`, false, true)
	hook("order.*")
	accept(3, `{"n":3}`, true, true)
	if n := countEvents(); n != 3 {
		t.Errorf("%d events rows, want 3 (two outcomes, one event)", n)
	}

	// check reads every run's two events through EventGet and returns them.
	check := func(when string) map[string]*hookd.Event {
		t.Helper()
		got := map[string]*hookd.Event{}
		for i, r := range runs {
			x, err := s.ExecutionGet(ctx, ws.ID, r.exe)
			if err != nil {
				t.Fatal(err)
			}
			var result struct {
				EventID string `json:"event_id"`
			}
			if err := json.Unmarshal(x.Result, &result); err != nil {
				t.Fatal(err)
			}
			evt, err := s.EventGet(ctx, ws.ID, result.EventID)
			if err != nil {
				t.Fatalf("%s: run %d's event %s: %v", when, i, result.EventID, err)
			}
			if evt.ID != result.EventID || evt.Type != "order.paid" || string(evt.Data) != r.input || evt.OwnerID != "acme" ||
				!evt.Timestamp.Equal(r.at) || evt.WorkspaceID != ws.ID || len(evt.DeliveryIDs) != count(r.evtRow) {
				t.Errorf("%s: run %d's event: %+v", when, i, evt)
			}
			if !r.evtRow && evt.ID != "evt_"+strings.TrimPrefix(r.exe, "exe_") {
				t.Errorf("%s: run %d's event kept on %s has id %s", when, i, r.exe, evt.ID)
			}
			got[evt.ID] = evt
			if r.outcomeRow {
				continue // its id is random: the deliveries carry it
			}
			id := sqlite.FoldedOutcomeID(r.exe)
			out, err := s.EventGet(ctx, ws.ID, id)
			want := `{"execution_id":"` + r.exe + `","result":{"event_id":"` + evt.ID + `"}}`
			if err != nil || out.ID != id || out.Type != "job.succeeded" || string(out.Data) != want || out.OwnerID != "acme" ||
				!out.Timestamp.Equal(r.at) || len(out.DeliveryIDs) != 0 {
				t.Errorf("%s: run %d's outcome %s: %+v (%v)", when, i, id, out, err)
			}
			got[id] = out
			if _, err := s.EventGet(ctx, "ws_other", id); hookd.ErrorCode(err) != hookd.ENotFound {
				t.Errorf("%s: another workspace reads outcome %s: %v", when, id, err)
			}
		}
		return got
	}
	before := check("kept on executions")
	if _, err := s.EventGet(ctx, ws.ID, "evt_"+strings.TrimPrefix(runs[3].exe, "exe_")); hookd.ErrorCode(err) != hookd.ENotFound {
		t.Errorf("an event id that was never made: %v, want not found", err)
	}

	s.Close()
	if err := sqlite.MigrateDownTo(ctx, path, 5); err != nil {
		t.Fatal(err)
	}
	if n := countEvents(); n != 3+5 {
		t.Errorf("after migrating down: %d events rows, want 8 (3 and the 5 kept on executions)", n)
	}
	s = open(t, path, sqlite.Options{})
	after := check("migrated down and up again")
	for id, e := range before {
		if a := after[id]; a == nil || string(a.Data) != string(e.Data) || a.Type != e.Type || !a.Timestamp.Equal(e.Timestamp) {
			t.Errorf("event %s: %+v before, %+v after", id, e, a)
		}
	}
}

// TestFoldedOutcomeOfFinish: a run finished through ExecutionFinish keeps an
// outcome that makes no deliveries on its row (no events row; EventGet reads
// it back under the execution's paired id); one a webhook subscribes to gets
// its row and delivery as before.
func TestFoldedOutcomeOfFinish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, s, ws, tr := eventTrigger(t, 4, "")
	t0 := time.Now().Truncate(time.Second)
	finish := func(i int) (exe string, evt *hookd.Event) {
		t.Helper()
		res, err := s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: tr, Call: hookd.Call{Method: "POST"},
			Input: json.RawMessage(`{}`), Now: t0, Start: &hookd.ExecStart{Owner: "n", Lease: time.Minute}})
		if err != nil || res.Started == nil {
			t.Fatalf("call %d: %+v, %v; want a started run", i, res, err)
		}
		at := t0.Add(time.Duration(i+1) * time.Second)
		data := `{"execution_id":"` + res.Execution.ID + `","reason":"boom"}`
		evt, err = s.ExecutionFinish(ctx, hookd.ExecFinishParams{ID: res.Execution.ID, WorkspaceID: ws.ID, Status: hookd.ExecFailed,
			Reason: "boom", Now: at, Outcome: &hookd.PublishParams{WorkspaceID: ws.ID, Type: "job.failed", OwnerID: "acme",
				Data: json.RawMessage(data), Now: at}})
		if err != nil {
			t.Fatalf("finish %d: %v", i, err)
		}
		got, err := s.EventGet(ctx, ws.ID, evt.ID)
		if err != nil || got.Type != "job.failed" || string(got.Data) != data || got.OwnerID != "acme" || !got.Timestamp.Equal(at) ||
			len(got.DeliveryIDs) != len(evt.DeliveryIDs) {
			t.Errorf("finish %d: outcome %s reads %+v (%v), published %+v", i, evt.ID, got, err, evt)
		}
		return res.Execution.ID, evt
	}
	exe, evt := finish(0)
	if evt.ID != sqlite.FoldedOutcomeID(exe) || len(evt.DeliveryIDs) != 0 {
		t.Errorf("outcome nobody subscribes to: %+v, want id %s and no deliveries", evt, sqlite.FoldedOutcomeID(exe))
	}
	if n := countRows(t, path, "events"); n != 0 {
		t.Errorf("%d events rows, want 0", n)
	}
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "whsec_s", Events: []string{"job.*"}}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	exe, evt = finish(1)
	if evt.ID == sqlite.FoldedOutcomeID(exe) || len(evt.DeliveryIDs) != 1 {
		t.Errorf("subscribed outcome: %+v, want a row of its own and a delivery", evt)
	}
	if n := countRows(t, path, "events"); n != 1 {
		t.Errorf("%d events rows, want 1", n)
	}
}

// count is 1 for true.
func count(b bool) int {
	if b {
		return 1
	}
	return 0
}
