package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hookd/hookd"
)

// InboundStore is a store with the inbound half of the contract. Once
// hookd.Store embeds hookd.InboundStore every hookd.Store is one.
type InboundStore interface {
	hookd.Store
	hookd.InboundStore
}

// OpenInbound returns a fresh, empty store; the backend closes it in
// t.Cleanup.
type OpenInbound func(t *testing.T) InboundStore

// RunInbound runs the inbound suite (triggers, calls, jobs, executions)
// against stores made by open. Every subtest opens its own store and runs in
// parallel; every time is injected.
func RunInbound(t *testing.T, open OpenInbound) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open OpenInbound)
	}{
		{"Triggers", testTriggers},
		{"TriggerToken", testTriggerToken},
		{"Dedup", testDedup},
		{"CooldownCoalesce", testCooldownCoalesce},
		{"CooldownDrop", testCooldownDrop},
		{"CooldownConcurrent", testCooldownConcurrent},
		{"Calls", testCalls},
		{"Jobs", testJobs},
		{"JobDelete", testJobDelete},
		{"ExecutionCreate", testExecutionCreate},
		{"ExecutionList", testExecutionList},
		{"ClaimConcurrency", testExecClaimConcurrency},
		{"ClaimRunAt", testExecClaimRunAt},
		{"ClaimLease", testExecClaimLease},
		{"Finish", testExecFinish},
		{"FinishAtomic", testExecFinishAtomic},
		{"Interrupt", testExecInterrupt},
		{"AcceptStart", testAcceptStart},
		{"FinishEvent", testFinishEvent},
		{"TriggerLastUsed", testTriggerLastUsed},
		{"AcceptFollowsTrigger", testAcceptFollowsTrigger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

func job(t *testing.T, s InboundStore, wsID string, mod func(*hookd.Job)) *hookd.Job {
	t.Helper()
	j := &hookd.Job{
		WorkspaceID: wsID,
		Name:        "job-" + hookd.NewID(""),
		Kind:        hookd.JobHTTP,
		Config:      json.RawMessage(`{"url":"https://internal/x"}`),
		CreatedAt:   t0,
	}
	if mod != nil {
		mod(j)
	}
	if err := s.JobCreate(context.Background(), j); err != nil {
		t.Fatalf("JobCreate: %v", err)
	}
	return j
}

// trigger creates a trigger of job j with a fresh token, returned beside it.
func trigger(t *testing.T, s InboundStore, j *hookd.Job, mod func(*hookd.Trigger)) (*hookd.Trigger, string) {
	t.Helper()
	token := "wht_" + hookd.NewID("")
	tr := &hookd.Trigger{
		WorkspaceID: j.WorkspaceID,
		JobID:       j.ID,
		Name:        "t",
		TokenPrefix: token[:8],
		TokenHash:   hookd.HashToken(token),
		IsActive:    true,
		Signature:   hookd.SchemeHMACSHA256,
		Methods:     []string{"POST", "GET"},
		Mode:        hookd.ModeAsync,
		WaitSeconds: 25,
		DedupHeader: "webhook-id",
		CreatedAt:   t0,
	}
	if mod != nil {
		mod(tr)
	}
	if err := s.TriggerCreate(context.Background(), tr); err != nil {
		t.Fatalf("TriggerCreate: %v", err)
	}
	return tr, token
}

func accept(t *testing.T, s InboundStore, tr *hookd.Trigger, now time.Time, input, key string) *hookd.CallAcceptResult {
	t.Helper()
	res, err := s.CallAccept(context.Background(), hookd.CallAcceptParams{
		Trigger:  tr,
		Call:     hookd.Call{IP: "203.0.113.7", Method: http.MethodPost},
		DedupKey: key,
		Input:    json.RawMessage(input),
		Now:      now,
	})
	if err != nil {
		t.Fatalf("CallAccept at %v: %v", now.Sub(t0), err)
	}
	return res
}

func execution(t *testing.T, s InboundStore, x *hookd.Execution) *hookd.Execution {
	t.Helper()
	if x.Source == "" {
		x.Source = hookd.SourceAPI
	}
	if x.CreatedAt.IsZero() {
		x.CreatedAt = t0
	}
	if err := s.ExecutionCreate(context.Background(), x); err != nil {
		t.Fatalf("ExecutionCreate: %v", err)
	}
	return x
}

func getExecution(t *testing.T, s InboundStore, wsID, id string) *hookd.Execution {
	t.Helper()
	x, err := s.ExecutionGet(context.Background(), wsID, id)
	if err != nil {
		t.Fatalf("ExecutionGet(%s): %v", id, err)
	}
	return x
}

func claimExec(t *testing.T, s InboundStore, now time.Time, limit int) []hookd.ClaimedExecution {
	t.Helper()
	got, err := s.ExecutionsClaim(context.Background(), hookd.ExecClaimParams{Now: now, Limit: limit, Lease: time.Minute, Owner: "node-a"})
	if err != nil {
		t.Fatalf("ExecutionsClaim: %v", err)
	}
	return got
}

func finishExec(t *testing.T, s InboundStore, x *hookd.Execution, now time.Time) {
	t.Helper()
	if _, err := s.ExecutionFinish(context.Background(), hookd.ExecFinishParams{WorkspaceID: x.WorkspaceID, ID: x.ID,
		Status: hookd.ExecSucceeded, Result: json.RawMessage(`{}`), Now: now}); err != nil {
		t.Fatalf("ExecutionFinish(%s): %v", x.ID, err)
	}
}

func execIDs(cs []hookd.ClaimedExecution) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func listExecutions(t *testing.T, s InboundStore, f hookd.ExecutionFilter) ([]hookd.Execution, int) {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = 100
	}
	xs, total, err := s.ExecutionList(context.Background(), f)
	if err != nil {
		t.Fatalf("ExecutionList: %v", err)
	}
	return xs, total
}

func testTriggers(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	other := workspace(t, s, "b")
	j := job(t, s, ws.ID, nil)
	j2 := job(t, s, ws.ID, nil)
	exp := t0.Add(time.Hour)
	tr, _ := trigger(t, s, j, func(tr *hookd.Trigger) {
		tr.OwnerID = "agent-1"
		tr.Secret, tr.PreviousSecret, tr.PreviousSecretExpiresAt = "s3cret", "old", &exp
		tr.CooldownSeconds, tr.CooldownMode = 30, hookd.CooldownCoalesce
		tr.RateLimitPerMinute = 30
		tr.InputMapping = map[string]string{"message": "body.message"}
		tr.CreatedByID = "key_1"
	})
	if tr.ID[:len(hookd.PrefixTrigger)] != hookd.PrefixTrigger || !tr.HasSecret {
		t.Errorf("created trigger: id %q, has_secret %v", tr.ID, tr.HasSecret)
	}
	inactive, _ := trigger(t, s, j2, func(tr *hookd.Trigger) { tr.IsActive = false; tr.CreatedAt = t0.Add(time.Second) })

	t.Run("OK", func(t *testing.T) {
		got, err := s.TriggerGet(ctx, ws.ID, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tr, got, cmpOpts...); diff != "" {
			t.Errorf("TriggerGet (-want +got):\n%s", diff)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.TriggerGet(ctx, other.ID, tr.ID)
		wantCode(t, "TriggerGet of another workspace", err, hookd.ENotFound)
		_, err = s.TriggerGet(ctx, ws.ID, "trg_nope")
		wantCode(t, "TriggerGet unknown", err, hookd.ENotFound)
		foreign := *tr
		foreign.WorkspaceID = other.ID
		wantCode(t, "TriggerUpdate of another workspace", s.TriggerUpdate(ctx, &foreign), hookd.ENotFound)
		wantCode(t, "TriggerDelete of another workspace", s.TriggerDelete(ctx, other.ID, tr.ID), hookd.ENotFound)
		otherJob := job(t, s, other.ID, nil)
		bad := &hookd.Trigger{WorkspaceID: ws.ID, JobID: otherJob.ID, TokenHash: hookd.HashToken("x")}
		wantCode(t, "TriggerCreate with another workspace's job", s.TriggerCreate(ctx, bad), hookd.ENotFound)
	})
	t.Run("ErrConflict", func(t *testing.T) {
		dup := &hookd.Trigger{WorkspaceID: ws.ID, JobID: j.ID, TokenHash: tr.TokenHash}
		wantCode(t, "TriggerCreate with a used token", s.TriggerCreate(ctx, dup), hookd.EConflict)
	})
	t.Run("List", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			f    hookd.TriggerFilter
			want []string
		}{
			{"Active", hookd.TriggerFilter{}, []string{tr.ID}},
			{"IncludeInactive", hookd.TriggerFilter{IncludeInactive: true}, []string{inactive.ID, tr.ID}},
			{"Owner", hookd.TriggerFilter{IncludeInactive: true, OwnerID: "agent-1"}, []string{tr.ID}},
			{"Job", hookd.TriggerFilter{IncludeInactive: true, JobID: j2.ID}, []string{inactive.ID}},
		} {
			tt.f.WorkspaceID, tt.f.Limit = ws.ID, 10
			list, total, err := s.TriggerList(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range list {
				got = append(got, x.ID)
			}
			if !slices.Equal(got, tt.want) || total != len(tt.want) {
				t.Errorf("%s: %v (total %d), want %v", tt.name, got, total, tt.want)
			}
		}
		list, total, err := s.TriggerList(ctx, hookd.TriggerFilter{WorkspaceID: other.ID, IncludeInactive: true, Page: hookd.Page{Limit: 10}})
		if err != nil || len(list) != 0 || total != 0 {
			t.Errorf("other workspace lists %d triggers (total %d), %v", len(list), total, err)
		}
	})
	t.Run("Update", func(t *testing.T) {
		u := *tr
		u.JobID, u.Name, u.IsActive, u.CooldownSeconds, u.Methods = j2.ID, "renamed", false, 0, []string{"POST"}
		u.Secret, u.PreviousSecret, u.PreviousSecretExpiresAt = "", "", nil
		if err := s.TriggerUpdate(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if u.HasSecret || !u.CreatedAt.Equal(tr.CreatedAt) || !u.UpdatedAt.After(tr.UpdatedAt) {
			t.Errorf("after update: has_secret %v, created %v, updated %v", u.HasSecret, u.CreatedAt, u.UpdatedAt)
		}
		got, err := s.TriggerGet(ctx, ws.ID, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&u, got, cmpOpts...); diff != "" {
			t.Errorf("TriggerGet after update (-want +got):\n%s", diff)
		}
		u.JobID = "job_nope"
		wantCode(t, "TriggerUpdate to an unknown job", s.TriggerUpdate(ctx, &u), hookd.ENotFound)
	})
	t.Run("Delete", func(t *testing.T) {
		if err := s.TriggerDelete(ctx, ws.ID, inactive.ID); err != nil {
			t.Fatal(err)
		}
		_, err := s.TriggerGet(ctx, ws.ID, inactive.ID)
		wantCode(t, "TriggerGet after delete", err, hookd.ENotFound)
		wantCode(t, "TriggerDelete twice", s.TriggerDelete(ctx, ws.ID, inactive.ID), hookd.ENotFound)
	})
}

func testTriggerToken(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, nil)
	tr, oldToken := trigger(t, s, j, nil)
	lookup := func(token string, now time.Time) (*hookd.Trigger, error) {
		return s.TriggerGetByTokenHash(ctx, hookd.HashToken(token), now)
	}
	if got, err := lookup(oldToken, t0); err != nil || got.ID != tr.ID {
		t.Fatalf("lookup by current token: %v, %v", got, err)
	}
	_, err := lookup("wht_unknown", t0)
	wantCode(t, "unknown token", err, hookd.ENotFound)
	_, err = s.TriggerGetByTokenHash(ctx, nil, t0)
	wantCode(t, "empty hash", err, hookd.ENotFound)

	// Rotate with a one-hour grace.
	newToken := "wht_" + hookd.NewID("")
	exp := t0.Add(time.Hour)
	tr.PreviousTokenHash, tr.PreviousTokenExpiresAt = tr.TokenHash, &exp
	tr.TokenHash, tr.TokenPrefix = hookd.HashToken(newToken), newToken[:8]
	if err := s.TriggerUpdate(ctx, tr); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		token string
		now   time.Time
		found bool
	}{
		{"NewToken", newToken, t0, true},
		{"NewTokenLater", newToken, t0.Add(48 * time.Hour), true},
		{"OldTokenInGrace", oldToken, t0.Add(59 * time.Minute), true},
		{"OldTokenAtExpiry", oldToken, exp, false},
		{"OldTokenAfterGrace", oldToken, t0.Add(2 * time.Hour), false},
	} {
		got, err := lookup(tt.token, tt.now)
		if tt.found && (err != nil || got.ID != tr.ID) {
			t.Errorf("%s: %v, %v; want the trigger", tt.name, got, err)
		}
		if !tt.found {
			wantCode(t, tt.name, err, hookd.ENotFound)
		}
	}
	// Rotating without grace ends the old token at once.
	tr.PreviousTokenHash, tr.PreviousTokenExpiresAt = nil, nil
	if err := s.TriggerUpdate(ctx, tr); err != nil {
		t.Fatal(err)
	}
	_, err = lookup(oldToken, t0)
	wantCode(t, "old token without grace", err, hookd.ENotFound)
}

func testDedup(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, nil)
	tr, _ := trigger(t, s, j, nil)
	tr2, _ := trigger(t, s, j, nil)

	first := accept(t, s, tr, t0, `{"n":1}`, "msg_1")
	if first.Disposition != hookd.DispositionAccepted || first.Execution.Status != hookd.ExecQueued {
		t.Fatalf("first call: %s, %s", first.Disposition, first.Execution.Status)
	}
	dup := accept(t, s, tr, t0.Add(23*time.Hour), `{"n":2}`, "msg_1")
	if dup.Disposition != hookd.DispositionDuplicate || dup.Execution.ID != first.Execution.ID {
		t.Errorf("same key within 24 h: %s → %s, want duplicate → %s", dup.Disposition, dup.Execution.ID, first.Execution.ID)
	}
	if string(dup.Execution.Input) != `{"n":1}` {
		t.Errorf("duplicate changed the first execution's input: %s", dup.Execution.Input)
	}
	if other := accept(t, s, tr, t0.Add(time.Hour), `{}`, "msg_2"); other.Disposition != hookd.DispositionAccepted {
		t.Errorf("another key: %s", other.Disposition)
	}
	if otherTrigger := accept(t, s, tr2, t0.Add(time.Hour), `{}`, "msg_1"); otherTrigger.Disposition != hookd.DispositionAccepted {
		t.Errorf("same key on another trigger: %s", otherTrigger.Disposition)
	}
	if nokey := accept(t, s, tr, t0.Add(time.Hour), `{}`, ""); nokey.Disposition != hookd.DispositionAccepted {
		t.Errorf("no key: %s", nokey.Disposition)
	}
	later := accept(t, s, tr, t0.Add(24*time.Hour+time.Second), `{"n":3}`, "msg_1")
	if later.Disposition != hookd.DispositionAccepted || later.Execution.ID == first.Execution.ID {
		t.Errorf("same key after 24 h: %s → %s, want a new execution", later.Disposition, later.Execution.ID)
	}
	// And the key now points at the new execution.
	again := accept(t, s, tr, t0.Add(25*time.Hour), `{}`, "msg_1")
	if again.Disposition != hookd.DispositionDuplicate || again.Execution.ID != later.Execution.ID {
		t.Errorf("key after renewal: %s → %s, want duplicate → %s", again.Disposition, again.Execution.ID, later.Execution.ID)
	}
	calls, total, err := s.CallList(ctx, hookd.CallFilter{WorkspaceID: ws.ID, TriggerID: tr.ID, Disposition: hookd.DispositionDuplicate, Page: hookd.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(calls) != 2 || calls[0].StatusCode != http.StatusOK || calls[0].ExecutionID != later.Execution.ID || calls[0].ID != again.CallID {
		t.Errorf("duplicate calls: %+v (total %d)", calls, total)
	}
	tr1, err := s.TriggerGet(ctx, ws.ID, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tr1.LastUsedAt == nil || !tr1.LastUsedAt.Equal(t0.Add(25*time.Hour)) {
		t.Errorf("last_used_at = %v, want the last call's time", tr1.LastUsedAt)
	}
}

func testCooldownCoalesce(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, nil)
	tr, _ := trigger(t, s, j, func(tr *hookd.Trigger) { tr.CooldownSeconds, tr.CooldownMode = 60, hookd.CooldownCoalesce })
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

	lead := accept(t, s, tr, at(0), `{"n":1}`, "")
	if lead.Disposition != hookd.DispositionAccepted || !lead.Execution.RunAt.Equal(at(0)) {
		t.Fatalf("first call: %s at %v", lead.Disposition, lead.Execution.RunAt)
	}
	var trailing string
	for i, sec := range []int{10, 20, 30} {
		r := accept(t, s, tr, at(sec), fmt.Sprintf(`{"n":%d}`, i+2), "")
		if r.Disposition != hookd.DispositionCoalesced || !r.Execution.RunAt.Equal(at(60)) {
			t.Errorf("call at %ds: %s, run at %v; want coalesced at the window end", sec, r.Disposition, r.Execution.RunAt.Sub(t0))
		}
		if trailing == "" {
			trailing = r.Execution.ID
		} else if r.Execution.ID != trailing {
			t.Errorf("call at %ds folded into %s, want the one trailing run %s", sec, r.Execution.ID, trailing)
		}
	}
	if got := getExecution(t, s, ws.ID, trailing); string(got.Input) != `{"n":4}` || got.Status != hookd.ExecQueued {
		t.Errorf("trailing run: input %s, status %s; want the latest input, queued", got.Input, got.Status)
	}
	if _, total := listExecutions(t, s, hookd.ExecutionFilter{WorkspaceID: ws.ID, TriggerID: tr.ID}); total != 2 {
		t.Errorf("%d executions, want one leading and one trailing", total)
	}

	// The leading run runs; the trailing one waits for its window end.
	if got := execIDs(claimExec(t, s, at(1), 10)); !slices.Equal(got, []string{lead.Execution.ID}) {
		t.Fatalf("claim at 1s: %v, want the leading run", got)
	}
	finishExec(t, s, lead.Execution, at(2))
	if got := execIDs(claimExec(t, s, at(59), 10)); len(got) != 0 {
		t.Fatalf("claim at 59s: %v, want nothing", got)
	}
	if got := execIDs(claimExec(t, s, at(60), 10)); !slices.Equal(got, []string{trailing}) {
		t.Fatalf("claim at 60s: %v, want the trailing run", got)
	}

	// The trailing run started: a call in its window makes the next trailing
	// run, at the end of the window the trailing run opened.
	next := accept(t, s, tr, at(70), `{"n":5}`, "")
	if next.Disposition != hookd.DispositionCoalesced || next.Execution.ID == trailing || !next.Execution.RunAt.Equal(at(120)) {
		t.Errorf("call at 70s: %s → %s at %v; want a new trailing run at 120s", next.Disposition, next.Execution.ID, next.Execution.RunAt.Sub(t0))
	}
	if r := accept(t, s, tr, at(80), `{"n":6}`, ""); r.Execution.ID != next.Execution.ID || string(r.Execution.Input) != `{"n":6}` {
		t.Errorf("call at 80s: → %s input %s; want folded into %s with the latest input", r.Execution.ID, r.Execution.Input, next.Execution.ID)
	}

	finishExec(t, s, &hookd.Execution{WorkspaceID: ws.ID, ID: trailing}, at(61))
	if got := execIDs(claimExec(t, s, at(120), 10)); !slices.Equal(got, []string{next.Execution.ID}) {
		t.Fatalf("claim at 120s: %v, want the second trailing run", got)
	}

	// Long after every window: a leading run again, at once.
	late := accept(t, s, tr, at(500), `{"n":7}`, "")
	if late.Disposition != hookd.DispositionAccepted || !late.Execution.RunAt.Equal(at(500)) {
		t.Errorf("call at 500s: %s at %v; want accepted at once", late.Disposition, late.Execution.RunAt.Sub(t0))
	}
	calls, total, err := s.CallList(ctx, hookd.CallFilter{WorkspaceID: ws.ID, TriggerID: tr.ID, Disposition: hookd.DispositionCoalesced, Page: hookd.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if total != 5 || calls[0].StatusCode != http.StatusAccepted {
		t.Errorf("%d coalesced calls (first %+v), want 5 with status 202", total, calls[0])
	}
}

func testCooldownDrop(t *testing.T, open OpenInbound) {
	s := open(t)
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, nil)
	tr, _ := trigger(t, s, j, func(tr *hookd.Trigger) { tr.CooldownSeconds, tr.CooldownMode = 60, hookd.CooldownDrop })
	lead := accept(t, s, tr, t0, `{"n":1}`, "")
	if lead.Disposition != hookd.DispositionAccepted {
		t.Fatalf("first call: %s", lead.Disposition)
	}
	for _, d := range []time.Duration{time.Second, 30 * time.Second, 59 * time.Second} {
		r := accept(t, s, tr, t0.Add(d), `{"n":2}`, "")
		if r.Disposition != hookd.DispositionDropped || r.Execution.ID != lead.Execution.ID {
			t.Errorf("call at %v: %s → %s, want dropped → the leading run", d, r.Disposition, r.Execution.ID)
		}
	}
	if got := getExecution(t, s, ws.ID, lead.Execution.ID); string(got.Input) != `{"n":1}` {
		t.Errorf("a dropped call changed the leading run's input to %s", got.Input)
	}
	after := accept(t, s, tr, t0.Add(60*time.Second), `{"n":3}`, "")
	if after.Disposition != hookd.DispositionAccepted || after.Execution.ID == lead.Execution.ID {
		t.Errorf("call at the window end: %s, want a new leading run", after.Disposition)
	}
	if _, total := listExecutions(t, s, hookd.ExecutionFilter{WorkspaceID: ws.ID}); total != 2 {
		t.Errorf("%d executions, want 2", total)
	}
}

func testCooldownConcurrent(t *testing.T, open OpenInbound) {
	s := open(t)
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, nil)
	tr, _ := trigger(t, s, j, func(tr *hookd.Trigger) { tr.CooldownSeconds, tr.CooldownMode = 60, hookd.CooldownCoalesce })
	const n = 50
	results := make([]*hookd.CallAcceptResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.CallAccept(context.Background(), hookd.CallAcceptParams{
				Trigger: tr, Input: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), Now: t0.Add(time.Second),
				Call: hookd.Call{IP: "203.0.113.7", Method: http.MethodPost},
			})
		})
	}
	wg.Wait()
	count := map[string]int{}
	execs := map[string]bool{}
	inputs := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		count[results[i].Disposition]++
		execs[results[i].Execution.ID] = true
		inputs[fmt.Sprintf(`{"i":%d}`, i)] = true
	}
	if count[hookd.DispositionAccepted] != 1 || count[hookd.DispositionCoalesced] != n-1 || len(execs) != 2 {
		t.Errorf("dispositions %v over %d executions; want 1 accepted, %d coalesced, 2 executions", count, len(execs), n-1)
	}
	xs, total := listExecutions(t, s, hookd.ExecutionFilter{WorkspaceID: ws.ID})
	if total != 2 {
		t.Fatalf("%d executions, want 2", total)
	}
	for _, x := range xs {
		if !inputs[string(x.Input)] {
			t.Errorf("execution input %s is none of the calls'", x.Input)
		}
	}
}

func testCalls(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	other := workspace(t, s, "b")
	j := job(t, s, ws.ID, nil)
	tr, _ := trigger(t, s, j, nil)
	var want []hookd.Call
	for i, d := range []string{hookd.DispositionBadSignature, hookd.DispositionRateLimited, hookd.DispositionBadSignature, hookd.DispositionInactive} {
		c := &hookd.Call{WorkspaceID: ws.ID, TriggerID: tr.ID, Disposition: d, IP: "198.51.100.1", Method: "POST",
			StatusCode: 401, Detail: "d", CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		if err := s.CallRecord(ctx, c); err != nil {
			t.Fatal(err)
		}
		if c.ID == "" {
			t.Fatal("CallRecord left ID empty")
		}
		want = append(want, *c)
	}
	acc := accept(t, s, tr, t0.Add(10*time.Second), `{}`, "")
	// Calls of the same instant list in reverse order of arrival.
	tr2, _ := trigger(t, s, j, nil)
	var same []string
	for range 6 {
		c := &hookd.Call{WorkspaceID: ws.ID, TriggerID: tr2.ID, Disposition: hookd.DispositionRateLimited, CreatedAt: t0}
		if err := s.CallRecord(ctx, c); err != nil {
			t.Fatal(err)
		}
		same = append([]string{c.ID}, same...)
	}
	if list, _, err := s.CallList(ctx, hookd.CallFilter{WorkspaceID: ws.ID, TriggerID: tr2.ID, Page: hookd.Page{Limit: 10}}); err != nil {
		t.Fatal(err)
	} else {
		var got []string
		for _, c := range list {
			got = append(got, c.ID)
		}
		if !slices.Equal(got, same) {
			t.Errorf("same-instant calls listed %v, want newest first %v", got, same)
		}
	}
	// An unknown token has no trigger or workspace, yet is recorded.
	if err := s.CallRecord(ctx, &hookd.Call{Disposition: hookd.DispositionUnauthorized, StatusCode: 401, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}

	list, total, err := s.CallList(ctx, hookd.CallFilter{WorkspaceID: ws.ID, TriggerID: tr.ID, Page: hookd.Page{Limit: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if total != 5 || len(list) != 2 || list[0].ID != acc.CallID || list[1].ID != want[3].ID {
		t.Errorf("first page: %v (total %d), want the accepted call then the inactive one of 5", list, total)
	}
	if list[0].Disposition != hookd.DispositionAccepted || list[0].StatusCode != http.StatusAccepted || list[0].ExecutionID != acc.Execution.ID ||
		list[0].IP != "203.0.113.7" || list[0].Method != http.MethodPost {
		t.Errorf("accepted call as stored: %+v", list[0])
	}
	list, total, err = s.CallList(ctx, hookd.CallFilter{WorkspaceID: ws.ID, TriggerID: tr.ID, Disposition: hookd.DispositionBadSignature, Page: hookd.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]hookd.Call{want[2], want[0]}, list, cmpOpts...); diff != "" || total != 2 {
		t.Errorf("bad_signature calls (total %d) (-want +got):\n%s", total, diff)
	}
	list, total, err = s.CallList(ctx, hookd.CallFilter{WorkspaceID: other.ID, TriggerID: tr.ID, Page: hookd.Page{Limit: 10}})
	if err != nil || total != 0 || len(list) != 0 {
		t.Errorf("another workspace sees %d calls (total %d), %v", len(list), total, err)
	}
	// The log mixes calls recorded as they are (an accepted one too, as a
	// store may have kept them before) with accepted calls, in one order
	// and one count, paged across both.
	tr3, _ := trigger(t, s, j, nil)
	old := &hookd.Call{WorkspaceID: ws.ID, TriggerID: tr3.ID, Disposition: hookd.DispositionAccepted, IP: "192.0.2.1",
		Method: http.MethodGet, StatusCode: http.StatusAccepted, CreatedAt: t0.Add(time.Second)}
	if err := s.CallRecord(ctx, old); err != nil {
		t.Fatal(err)
	}
	first := accept(t, s, tr3, t0.Add(2*time.Second), `{}`, "")
	refused := &hookd.Call{WorkspaceID: ws.ID, TriggerID: tr3.ID, Disposition: hookd.DispositionRateLimited,
		StatusCode: http.StatusTooManyRequests, CreatedAt: t0.Add(3 * time.Second)}
	if err := s.CallRecord(ctx, refused); err != nil {
		t.Fatal(err)
	}
	second := accept(t, s, tr3, t0.Add(4*time.Second), `{}`, "")
	for _, tc := range []struct {
		disposition   string
		limit, offset int
		want          []string
		total         int
	}{
		{"", 10, 0, []string{second.CallID, refused.ID, first.CallID, old.ID}, 4},
		{"", 2, 1, []string{refused.ID, first.CallID}, 4},
		{hookd.DispositionAccepted, 10, 0, []string{second.CallID, first.CallID, old.ID}, 3},
		{hookd.DispositionAccepted, 1, 2, []string{old.ID}, 3},
		{hookd.DispositionRateLimited, 10, 0, []string{refused.ID}, 1},
	} {
		list, total, err := s.CallList(ctx, hookd.CallFilter{WorkspaceID: ws.ID, TriggerID: tr3.ID, Disposition: tc.disposition,
			Page: hookd.Page{Limit: tc.limit, Offset: tc.offset}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range list {
			got = append(got, c.ID)
		}
		if !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("calls %q limit %d offset %d: %v (total %d), want %v (total %d)",
				tc.disposition, tc.limit, tc.offset, got, total, tc.want, tc.total)
		}
		for _, c := range list {
			if c.ID == second.CallID && (c.ExecutionID != second.Execution.ID || c.IP != "203.0.113.7" ||
				c.Method != http.MethodPost || c.StatusCode != http.StatusAccepted || c.Disposition != hookd.DispositionAccepted ||
				!c.CreatedAt.Equal(t0.Add(4*time.Second)) || c.WorkspaceID != ws.ID || c.TriggerID != tr3.ID) {
				t.Errorf("accepted call as listed: %+v", c)
			}
		}
	}
	// A call to a trigger deleted meanwhile is refused.
	if err := s.TriggerDelete(ctx, ws.ID, tr.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: tr, Input: json.RawMessage(`{}`), Now: t0})
	wantCode(t, "CallAccept on a deleted trigger", err, hookd.ENotFound)
}

func testJobs(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	other := workspace(t, s, "b")
	a := job(t, s, ws.ID, func(j *hookd.Job) { j.Name = "refresh"; j.OwnerID = "team-1" })
	if a.Concurrency != 1 || a.TimeoutSeconds != 600 || a.ID[:len(hookd.PrefixJob)] != hookd.PrefixJob {
		t.Errorf("defaults: concurrency %d, timeout %d, id %q", a.Concurrency, a.TimeoutSeconds, a.ID)
	}
	b := job(t, s, ws.ID, func(j *hookd.Job) {
		j.Name, j.Kind, j.Concurrency, j.TimeoutSeconds = "nightly", hookd.JobCommand, 3, 60
		j.Schedule, j.FromConfig, j.CreatedAt = &hookd.Schedule{Cron: "0 6 * * *"}, true, t0.Add(time.Second)
	})
	c := job(t, s, other.ID, func(j *hookd.Job) {
		j.Name, j.Schedule, j.CreatedAt = "refresh", &hookd.Schedule{Every: "1h"}, t0.Add(2*time.Second)
	})

	t.Run("OK", func(t *testing.T) {
		for _, want := range []*hookd.Job{a, b} {
			got, err := s.JobGet(ctx, ws.ID, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
				t.Errorf("JobGet (-want +got):\n%s", diff)
			}
		}
		got, err := s.JobGetByName(ctx, other.ID, "refresh")
		if err != nil || got.ID != c.ID {
			t.Errorf("JobGetByName: %v, %v; want %s", got, err, c.ID)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.JobGet(ctx, other.ID, a.ID)
		wantCode(t, "JobGet of another workspace", err, hookd.ENotFound)
		_, err = s.JobGetByName(ctx, ws.ID, "nope")
		wantCode(t, "JobGetByName unknown", err, hookd.ENotFound)
		foreign := *a
		foreign.WorkspaceID = other.ID
		wantCode(t, "JobUpdate of another workspace", s.JobUpdate(ctx, &foreign), hookd.ENotFound)
		wantCode(t, "JobDelete of another workspace", s.JobDelete(ctx, other.ID, a.ID), hookd.ENotFound)
		wantCode(t, "JobCreate in an unknown workspace", s.JobCreate(ctx, &hookd.Job{WorkspaceID: "ws_nope", Name: "x", Kind: hookd.JobHTTP}), hookd.ENotFound)
	})
	t.Run("ErrConflict", func(t *testing.T) {
		wantCode(t, "JobCreate with a taken name", s.JobCreate(ctx, &hookd.Job{WorkspaceID: ws.ID, Name: "refresh", Kind: hookd.JobHTTP}), hookd.EConflict)
		u := *b
		u.Name = "refresh"
		wantCode(t, "JobUpdate to a taken name", s.JobUpdate(ctx, &u), hookd.EConflict)
	})
	t.Run("List", func(t *testing.T) {
		list, total, err := s.JobList(ctx, hookd.JobFilter{WorkspaceID: ws.ID, Page: hookd.Page{Limit: 1}})
		if err != nil || total != 2 || len(list) != 1 || list[0].ID != b.ID {
			t.Errorf("JobList page 1: %v (total %d), %v; want the newest of 2", list, total, err)
		}
		list, total, err = s.JobList(ctx, hookd.JobFilter{WorkspaceID: ws.ID, OwnerID: "team-1", Page: hookd.Page{Limit: 10}})
		if err != nil || total != 1 || len(list) != 1 || list[0].ID != a.ID {
			t.Errorf("JobList by owner: %v (total %d), %v", list, total, err)
		}
	})
	t.Run("Scheduled", func(t *testing.T) {
		got, err := s.JobsScheduled(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, j := range got {
			ids = append(ids, j.ID)
		}
		slices.Sort(ids)
		want := []string{b.ID, c.ID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("JobsScheduled: %v, want %v (every workspace, scheduled only)", ids, want)
		}
	})
	t.Run("Update", func(t *testing.T) {
		u := *a
		u.Name, u.Concurrency, u.Schedule, u.Config = "refresh-all", 4, &hookd.Schedule{Every: "30m"}, json.RawMessage(`{"url":"https://internal/y"}`)
		if err := s.JobUpdate(ctx, &u); err != nil {
			t.Fatal(err)
		}
		got, err := s.JobGet(ctx, ws.ID, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&u, got, cmpOpts...); diff != "" {
			t.Errorf("JobGet after update (-want +got):\n%s", diff)
		}
		if !got.UpdatedAt.After(a.UpdatedAt) {
			t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, a.UpdatedAt)
		}
		u.Schedule = nil
		if err := s.JobUpdate(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.JobGet(ctx, ws.ID, a.ID); got.Schedule != nil {
			t.Errorf("schedule not removed: %+v", got.Schedule)
		}
	})
}

func testJobDelete(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, func(j *hookd.Job) { j.Concurrency = 1 })
	keep := job(t, s, ws.ID, nil)
	tr, token := trigger(t, s, j, nil)
	keepTr, _ := trigger(t, s, keep, nil)
	running := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID})
	queued := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, CreatedAt: t0.Add(time.Second)})
	other := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: keep.ID, RunAt: t0.Add(time.Hour)})
	if got := execIDs(claimExec(t, s, t0.Add(time.Second), 1)); !slices.Equal(got, []string{running.ID}) {
		t.Fatalf("claim: %v", got)
	}

	if err := s.JobDelete(ctx, ws.ID, j.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.JobGet(ctx, ws.ID, j.ID)
	wantCode(t, "JobGet after delete", err, hookd.ENotFound)
	_, err = s.TriggerGet(ctx, ws.ID, tr.ID)
	wantCode(t, "its trigger", err, hookd.ENotFound)
	_, err = s.TriggerGetByTokenHash(ctx, hookd.HashToken(token), t0)
	wantCode(t, "its trigger's token", err, hookd.ENotFound)
	if _, err := s.TriggerGet(ctx, ws.ID, keepTr.ID); err != nil {
		t.Errorf("another job's trigger: %v", err)
	}
	for _, tt := range []struct {
		x    *hookd.Execution
		want string
	}{{queued, hookd.ExecCanceled}, {running, hookd.ExecRunning}, {other, hookd.ExecQueued}} {
		if got := getExecution(t, s, ws.ID, tt.x.ID); got.Status != tt.want {
			t.Errorf("execution %s: %s, want %s", tt.x.ID, got.Status, tt.want)
		}
	}
	if got := claimExec(t, s, t0.Add(time.Minute), 10); len(got) != 0 {
		t.Errorf("claimed %v after the job was deleted", execIDs(got))
	}
	// The running one can still finish.
	finishExec(t, s, running, t0.Add(2*time.Second))
	wantCode(t, "JobDelete twice", s.JobDelete(ctx, ws.ID, j.ID), hookd.ENotFound)
}

func testExecutionCreate(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	other := workspace(t, s, "b")
	j := job(t, s, ws.ID, nil)
	x := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Input: json.RawMessage(`{"a":1}`)})
	if x.ID[:len(hookd.PrefixExecution)] != hookd.PrefixExecution || x.Status != hookd.ExecQueued || !x.RunAt.Equal(t0) {
		t.Errorf("created: id %q, status %s, run_at %v", x.ID, x.Status, x.RunAt)
	}
	got := getExecution(t, s, ws.ID, x.ID)
	if diff := cmp.Diff(x, got, cmpOpts...); diff != "" {
		t.Errorf("ExecutionGet (-want +got):\n%s", diff)
	}
	_, err := s.ExecutionGet(ctx, other.ID, x.ID)
	wantCode(t, "ExecutionGet of another workspace", err, hookd.ENotFound)
	wantCode(t, "ExecutionCreate of another workspace's job",
		s.ExecutionCreate(ctx, &hookd.Execution{WorkspaceID: other.ID, JobID: j.ID, Source: hookd.SourceAPI}), hookd.ENotFound)

	period := t0.Truncate(time.Hour)
	execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: hookd.SourceSchedule, Period: &period})
	dup := &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: hookd.SourceSchedule, Period: &period, CreatedAt: t0.Add(time.Minute)}
	wantCode(t, "second run for a period", s.ExecutionCreate(ctx, dup), hookd.EConflict)
	next := period.Add(time.Hour)
	execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: hookd.SourceSchedule, Period: &next})
	j2 := job(t, s, ws.ID, nil)
	execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j2.ID, Source: hookd.SourceSchedule, Period: &period})
}

func testExecutionList(t *testing.T, open OpenInbound) {
	s := open(t)
	ws := workspace(t, s, "a")
	other := workspace(t, s, "b")
	a := job(t, s, ws.ID, nil)
	b := job(t, s, ws.ID, nil)
	tr, _ := trigger(t, s, a, nil)
	var all []string // oldest first
	for i, src := range []string{hookd.SourceAPI, hookd.SourceSchedule, hookd.SourceAPI} {
		j := a
		if i == 1 {
			j = b
		}
		x := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: src, CreatedAt: t0.Add(time.Duration(i) * time.Second)})
		all = append(all, x.ID)
	}
	hook := accept(t, s, tr, t0.Add(10*time.Second), `{}`, "")
	all = append(all, hook.Execution.ID)
	if got := execIDs(claimExec(t, s, t0.Add(11*time.Second), 1)); !slices.Equal(got, all[:1]) {
		t.Fatalf("claim: %v", got)
	}
	execution(t, s, &hookd.Execution{WorkspaceID: other.ID, JobID: job(t, s, other.ID, nil).ID})

	for _, tt := range []struct {
		name string
		f    hookd.ExecutionFilter
		want []string // newest first
	}{
		{"All", hookd.ExecutionFilter{}, []string{all[3], all[2], all[1], all[0]}},
		{"Job", hookd.ExecutionFilter{JobID: a.ID}, []string{all[3], all[2], all[0]}},
		{"Trigger", hookd.ExecutionFilter{TriggerID: tr.ID}, []string{all[3]}},
		{"Status", hookd.ExecutionFilter{Status: hookd.ExecRunning}, []string{all[0]}},
		{"Source", hookd.ExecutionFilter{Source: hookd.SourceAPI}, []string{all[2], all[0]}},
		{"JobAndStatus", hookd.ExecutionFilter{JobID: a.ID, Status: hookd.ExecQueued}, []string{all[3], all[2]}},
	} {
		tt.f.WorkspaceID = ws.ID
		xs, total := listExecutions(t, s, tt.f)
		var got []string
		for _, x := range xs {
			got = append(got, x.ID)
		}
		if !slices.Equal(got, tt.want) || total != len(tt.want) {
			t.Errorf("%s: %v (total %d), want %v", tt.name, got, total, tt.want)
		}
	}
	xs, total := listExecutions(t, s, hookd.ExecutionFilter{WorkspaceID: ws.ID, Page: hookd.Page{Limit: 2, Offset: 1}})
	if total != 4 || len(xs) != 2 || xs[0].ID != all[2] || xs[1].ID != all[1] {
		t.Errorf("page 2 of 2: %d rows (total %d)", len(xs), total)
	}
}

func testExecClaimConcurrency(t *testing.T, open OpenInbound) {
	s := open(t)
	ws := workspace(t, s, "a")
	ws2 := workspace(t, s, "b")
	a := job(t, s, ws.ID, func(j *hookd.Job) { j.Concurrency = 2 })
	b := job(t, s, ws2.ID, func(j *hookd.Job) { j.Concurrency = 1 })
	// Interleaved run times: a0 b0 a1 a2 b1 a3.
	mk := func(j *hookd.Job, sec int) *hookd.Execution {
		return execution(t, s, &hookd.Execution{WorkspaceID: j.WorkspaceID, JobID: j.ID, RunAt: t0.Add(time.Duration(sec) * time.Second)})
	}
	a0, b0, a1, a2, b1, a3 := mk(a, 0), mk(b, 1), mk(a, 2), mk(a, 3), mk(b, 4), mk(a, 5)
	now := t0.Add(time.Minute)

	got := claimExec(t, s, now, 10)
	if ids := execIDs(got); !slices.Equal(ids, []string{a0.ID, b0.ID, a1.ID}) {
		t.Fatalf("first claim: %v, want a0 b0 a1 (a at concurrency 2, b at 1)", ids)
	}
	for _, c := range got {
		if c.Status != hookd.ExecRunning || c.StartedAt == nil || !c.StartedAt.Equal(now) || c.Job.ID != c.JobID ||
			c.Job.LastRunAt == nil || !c.Job.LastRunAt.Equal(now) {
			t.Errorf("claimed %s: status %s, started %v, job %s, last run %v", c.ID, c.Status, c.StartedAt, c.Job.ID, c.Job.LastRunAt)
		}
	}
	if j, _ := s.JobGet(context.Background(), ws.ID, a.ID); j.LastRunAt == nil || !j.LastRunAt.Equal(now) {
		t.Errorf("job last_run_at = %v, want %v", j.LastRunAt, now)
	}
	if ids := execIDs(claimExec(t, s, now, 10)); len(ids) != 0 {
		t.Fatalf("second claim: %v, want nothing (every job at its concurrency)", ids)
	}
	// Freeing one slot of a starts a's oldest waiting run, never a later one.
	finishExec(t, s, a1, now)
	if ids := execIDs(claimExec(t, s, now, 10)); !slices.Equal(ids, []string{a2.ID}) {
		t.Fatalf("after a1 finished: %v, want a2", ids)
	}
	finishExec(t, s, b0, now)
	finishExec(t, s, a0, now)
	// Limit 1 takes the oldest due run of all jobs.
	if ids := execIDs(claimExec(t, s, now, 1)); !slices.Equal(ids, []string{b1.ID}) {
		t.Fatalf("limit 1: %v, want b1 (the oldest)", ids)
	}
	if ids := execIDs(claimExec(t, s, now, 10)); !slices.Equal(ids, []string{a3.ID}) {
		t.Fatalf("last claim: %v, want a3", ids)
	}
	// Limit 0 claims nothing.
	if got := claimExec(t, s, now, 0); len(got) != 0 {
		t.Errorf("limit 0 claimed %d", len(got))
	}

	// Runs queued in the same second (ids do not order within a second)
	// start in the order they were queued.
	c := job(t, s, ws.ID, nil)
	var want, got2 []string
	for range 8 {
		want = append(want, execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: c.ID, CreatedAt: now, RunAt: now}).ID)
	}
	for range 8 {
		cs := claimExec(t, s, now, 10)
		if len(cs) != 1 {
			t.Fatalf("claimed %v, want one run of a concurrency-1 job", execIDs(cs))
		}
		got2 = append(got2, cs[0].ID)
		finishExec(t, s, &cs[0].Execution, now)
	}
	if !slices.Equal(got2, want) {
		t.Errorf("same-second runs started in order %v, want %v", got2, want)
	}
}

func testExecClaimRunAt(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, func(j *hookd.Job) { j.Concurrency = 5 })
	if _, ok, err := s.ExecutionsNextRunAt(ctx); err != nil || ok {
		t.Fatalf("NextRunAt on an empty queue: ok=%v, %v", ok, err)
	}
	later := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, RunAt: t0.Add(time.Hour)})
	soon := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, RunAt: t0.Add(time.Minute)})
	at, ok, err := s.ExecutionsNextRunAt(ctx)
	if err != nil || !ok || !at.Equal(soon.RunAt) {
		t.Fatalf("NextRunAt: %v, %v, %v; want %v", at, ok, err, soon.RunAt)
	}
	if got := claimExec(t, s, t0.Add(time.Minute-time.Microsecond), 10); len(got) != 0 {
		t.Fatalf("claimed %v before its run time", execIDs(got))
	}
	if ids := execIDs(claimExec(t, s, t0.Add(time.Minute), 10)); !slices.Equal(ids, []string{soon.ID}) {
		t.Fatalf("claim at its run time: %v", ids)
	}
	if at, ok, _ := s.ExecutionsNextRunAt(ctx); !ok || !at.Equal(later.RunAt) {
		t.Errorf("NextRunAt after the claim: %v, %v; want %v", at, ok, later.RunAt)
	}
	if ids := execIDs(claimExec(t, s, t0.Add(2*time.Hour), 10)); !slices.Equal(ids, []string{later.ID}) {
		t.Fatalf("claim later: %v", ids)
	}
	if _, ok, _ := s.ExecutionsNextRunAt(ctx); ok {
		t.Error("NextRunAt with nothing queued: ok")
	}
}

// testExecClaimLease: the lease outlasts the job's timeout by a minute even
// when the claim asks for less, so only a dead node's runs are interrupted.
func testExecClaimLease(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	short := job(t, s, ws.ID, func(j *hookd.Job) { j.TimeoutSeconds = 10 })
	long := job(t, s, ws.ID, func(j *hookd.Job) { j.TimeoutSeconds = 600 })
	xs := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: short.ID})
	xl := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: long.ID})
	if got := claimExec(t, s, t0, 10); len(got) != 2 { // Lease: 1 min, owner node-a
		t.Fatalf("claimed %d, want 2", len(got))
	}
	interrupt := func(now time.Time) []string {
		got, err := s.ExecutionsInterrupt(ctx, now, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range got {
			ids = append(ids, x.ID)
		}
		return ids
	}
	renew := func(owner string, until time.Time, ids ...string) int {
		n, err := s.ExecutionsRenew(ctx, owner, ids, until)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The lease is the claim's, whatever the job's timeout; its owner alone
	// renews it.
	if n := renew("node-b", t0.Add(10*time.Minute), xs.ID, xl.ID); n != 0 {
		t.Errorf("another node renewed %d leases", n)
	}
	if n := renew("node-a", t0.Add(2*time.Minute), xl.ID, "exe_nope"); n != 1 {
		t.Errorf("renewed %d leases, want 1 (the long job's run)", n)
	}
	if n := renew("node-a", t0.Add(2*time.Minute)); n != 0 {
		t.Errorf("renewing nothing renewed %d", n)
	}
	if got := interrupt(t0.Add(time.Minute)); len(got) != 0 {
		t.Errorf("interrupted at 1 min: %v, want none (lease = 1 min)", got)
	}
	if got := interrupt(t0.Add(time.Minute + time.Second)); !slices.Equal(got, []string{xs.ID}) {
		t.Errorf("interrupted at 1 min 1 s: %v, want the run whose lease was not renewed", got)
	}
	if got := interrupt(t0.Add(2 * time.Minute)); len(got) != 0 {
		t.Errorf("interrupted at 2 min: %v, want none (renewed until then)", got)
	}
	// An interrupted run is not renewed back to life.
	if n := renew("node-a", t0.Add(time.Hour), xs.ID); n != 0 {
		t.Errorf("renewed an interrupted run")
	}
	if got := interrupt(t0.Add(2*time.Minute + time.Second)); !slices.Equal(got, []string{xl.ID}) {
		t.Errorf("interrupted at 2 min 1 s: %v, want the renewed run", got)
	}
}

func outcomeParams(x *hookd.Execution, typ string, now time.Time) *hookd.PublishParams {
	data, _ := json.Marshal(map[string]any{"job_id": x.JobID, "execution_id": x.ID, "reason": x.Reason})
	return &hookd.PublishParams{WorkspaceID: x.WorkspaceID, Type: typ, Data: data, Now: now}
}

func testExecFinish(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, nil)
	wh := webhook(t, s, ws.ID, func(wh *hookd.Webhook) {
		wh.Events, wh.Filters = []string{"job.*"}, map[string]any{"job_id": j.ID}
	})
	webhook(t, s, ws.ID, func(wh *hookd.Webhook) { wh.Events = []string{"order.*"} })
	x := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID})
	queued := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, CreatedAt: t0.Add(time.Second)})
	claimExec(t, s, t0.Add(time.Second), 1)
	end := t0.Add(1500 * time.Millisecond)

	_, err := s.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: queued.ID, Status: hookd.ExecSucceeded, Now: end})
	wantCode(t, "finish a queued execution", err, hookd.EConflict)
	_, err = s.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: "exe_nope", Status: hookd.ExecSucceeded, Now: end})
	wantCode(t, "finish an unknown execution", err, hookd.ENotFound)
	_, err = s.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: x.ID, Status: hookd.ExecRunning, Now: end})
	wantCode(t, "finish with status running", err, hookd.EInvalid)

	evt, err := s.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: x.ID, Status: hookd.ExecSucceeded,
		Result: json.RawMessage(`{"rows":42}`), Now: end, Outcome: outcomeParams(x, "job.succeeded", end)})
	if err != nil {
		t.Fatal(err)
	}
	if evt == nil || evt.Type != "job.succeeded" || len(evt.DeliveryIDs) != 1 {
		t.Fatalf("outcome event: %+v, want job.succeeded with one delivery", evt)
	}
	stored, err := s.EventGet(ctx, ws.ID, evt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(evt, stored, cmpOpts...); diff != "" {
		t.Errorf("stored outcome event (-returned +stored):\n%s", diff)
	}
	if d := getDelivery(t, s, ws.ID, evt.DeliveryIDs[0]); d.WebhookID != wh.ID || d.Status != hookd.DeliveryPending {
		t.Errorf("outcome delivery: webhook %s, status %s", d.WebhookID, d.Status)
	}
	got := getExecution(t, s, ws.ID, x.ID)
	if got.Status != hookd.ExecSucceeded || string(got.Result) != `{"rows":42}` || got.FinishedAt == nil ||
		!got.FinishedAt.Equal(end) || got.DurationMS != 500 {
		t.Errorf("finished execution: %+v", got)
	}
	_, err = s.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: x.ID, Status: hookd.ExecFailed, Reason: "again",
		Now: end, Outcome: outcomeParams(x, "job.failed", end)})
	wantCode(t, "finish twice", err, hookd.EConflict)
	if ds, total, _ := s.DeliveryList(ctx, hookd.DeliveryFilter{WorkspaceID: ws.ID, WebhookID: wh.ID, Page: hookd.Page{Limit: 10}}); total != 1 {
		t.Errorf("%d deliveries after a refused second finish (%v), want 1", total, ds)
	}

	// Without an outcome: nothing is published.
	claimExec(t, s, end, 1)
	evt, err = s.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: queued.ID, Status: hookd.ExecFailed, Reason: "exit 1", Now: end})
	if err != nil || evt != nil {
		t.Errorf("finish without outcome: %v, %v", evt, err)
	}
	if got := getExecution(t, s, ws.ID, queued.ID); got.Status != hookd.ExecFailed || got.Reason != "exit 1" || got.Result != nil {
		t.Errorf("failed execution: %+v", got)
	}
}

// testExecFinishAtomic: when the outcome cannot be published, the execution
// is not finished either.
func testExecFinishAtomic(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, nil)
	// A filtering webhook needs the event's data to be an object.
	webhook(t, s, ws.ID, func(wh *hookd.Webhook) { wh.Filters = map[string]any{"job_id": j.ID} })
	x := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID})
	claimExec(t, s, t0, 1)
	bad := &hookd.PublishParams{WorkspaceID: ws.ID, Type: "job.succeeded", Data: json.RawMessage(`[1,2]`), Now: t0}
	_, err := s.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: x.ID, Status: hookd.ExecSucceeded, Now: t0, Outcome: bad})
	wantCode(t, "finish with an unpublishable outcome", err, hookd.EInvalid)
	if got := getExecution(t, s, ws.ID, x.ID); got.Status != hookd.ExecRunning || got.FinishedAt != nil {
		t.Errorf("execution after a failed finish: %s, finished %v; want still running", got.Status, got.FinishedAt)
	}
	if _, err := s.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: x.ID, Status: hookd.ExecSucceeded, Now: t0,
		Outcome: outcomeParams(x, "job.succeeded", t0)}); err != nil {
		t.Errorf("finish after the failed one: %v", err)
	}
}

func testExecInterrupt(t *testing.T, open OpenInbound) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "a")
	j := job(t, s, ws.ID, func(j *hookd.Job) { j.Concurrency, j.TimeoutSeconds = 3, 60 })
	wh := webhook(t, s, ws.ID, func(wh *hookd.Webhook) { wh.Events = []string{"job.failed"} })
	dead := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID})
	if got := claimExec(t, s, t0, 1); len(got) != 1 { // lease until t0 + 1 min
		t.Fatal("claim")
	}
	alive := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, CreatedAt: t0.Add(time.Minute)})
	if got := claimExec(t, s, t0.Add(time.Minute), 1); len(got) != 1 { // lease until t0 + 2 min
		t.Fatal("claim")
	}
	queued := execution(t, s, &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, RunAt: t0.Add(time.Hour), CreatedAt: t0.Add(time.Minute)})

	now := t0.Add(90 * time.Second)
	var seen []hookd.Execution
	got, err := s.ExecutionsInterrupt(ctx, now, func(x *hookd.Execution) *hookd.PublishParams {
		seen = append(seen, *x)
		return outcomeParams(x, "job.failed", now)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != dead.ID || got[0].Status != hookd.ExecFailed || got[0].Reason != "interrupted" {
		t.Fatalf("interrupted: %+v, want the dead node's run only", got)
	}
	if len(seen) != 1 || seen[0].Status != hookd.ExecFailed || seen[0].Reason != "interrupted" || seen[0].DurationMS != 90_000 {
		t.Errorf("outcome saw %+v, want the failed execution with its duration", seen)
	}
	stored := getExecution(t, s, ws.ID, dead.ID)
	if stored.Status != hookd.ExecFailed || stored.Reason != "interrupted" || stored.FinishedAt == nil || !stored.FinishedAt.Equal(now) {
		t.Errorf("stored: %+v", stored)
	}
	for _, x := range []struct {
		x    *hookd.Execution
		want string
	}{{alive, hookd.ExecRunning}, {queued, hookd.ExecQueued}} {
		if got := getExecution(t, s, ws.ID, x.x.ID); got.Status != x.want {
			t.Errorf("%s: %s, want %s", x.x.ID, got.Status, x.want)
		}
	}
	ds, total, err := s.DeliveryList(ctx, hookd.DeliveryFilter{WorkspaceID: ws.ID, WebhookID: wh.ID, Page: hookd.Page{Limit: 10}})
	if err != nil || total != 1 || ds[0].EventType != "job.failed" {
		t.Errorf("outcome deliveries: %v (total %d), %v; want one job.failed", ds, total, err)
	}
	// Finishing the interrupted run late is refused; interrupting again finds nothing.
	_, err = s.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: ws.ID, ID: dead.ID, Status: hookd.ExecSucceeded, Now: now})
	wantCode(t, "finish an interrupted run", err, hookd.EConflict)
	if again, err := s.ExecutionsInterrupt(ctx, now, nil); err != nil || len(again) != 0 {
		t.Errorf("second interrupt: %v, %v", again, err)
	}
}
