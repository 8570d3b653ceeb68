// Package storetest is the one test suite every hookd.Store backend must pass
// (SQLite always, PostgreSQL when a database is given). A backend's test calls
// Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hookd/hookd"
)

// Open returns a fresh, empty store; the backend closes it in t.Cleanup.
type Open func(t *testing.T) hookd.Store

// Run runs the whole suite against stores made by open. Every subtest opens
// its own store and runs in parallel.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"Workspaces", testWorkspaces},
		{"APIKeys", testAPIKeys},
		{"Webhooks", testWebhooks},
		{"WebhooksCrossWorkspace", testWebhooksCrossWorkspace},
		{"FanOut", testFanOut},
		{"Idempotency", testIdempotency},
		{"GroupCommit", testGroupCommit},
		{"Claim", testClaim},
		{"Complete", testComplete},
		{"Release", testRelease},
		{"Reap", testReap},
		{"DeactivateReactivate", testDeactivateReactivate},
		{"Delete", testDelete},
		{"Retry", testRetry},
		{"Summary", testSummary},
		{"Pagination", testPagination},
		{"QueueStats", testQueueStats},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// t0 is the suite's base time: a whole second, so that every round trip
// compares equal. Near the real clock, because DeliveriesRelease and stamps
// without a time argument use the store's own clock.
var t0 = time.Now().UTC().Truncate(time.Second)

var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func workspace(t *testing.T, s hookd.Store, name string) *hookd.Workspace {
	t.Helper()
	ws := &hookd.Workspace{Name: name}
	if err := s.WorkspaceCreate(context.Background(), ws); err != nil {
		t.Fatalf("WorkspaceCreate(%q): %v", name, err)
	}
	return ws
}

func webhook(t *testing.T, s hookd.Store, wsID string, mod func(*hookd.Webhook)) *hookd.Webhook {
	t.Helper()
	wh := &hookd.Webhook{
		WorkspaceID: wsID,
		URL:         "https://example.com/hook",
		Active:      true,
		Secret:      "whsec_" + hookd.NewID(""),
	}
	if mod != nil {
		mod(wh)
	}
	if err := s.WebhookCreate(context.Background(), wh); err != nil {
		t.Fatalf("WebhookCreate: %v", err)
	}
	return wh
}

func publish(t *testing.T, s hookd.Store, p hookd.PublishParams) *hookd.Event {
	t.Helper()
	if p.Type == "" {
		p.Type = "order.created"
	}
	if p.Data == nil {
		p.Data = json.RawMessage(`{"n":1}`)
	}
	if p.Now.IsZero() {
		p.Now = t0
	}
	evt, existing, err := s.EventPublish(context.Background(), p)
	if err != nil {
		t.Fatalf("EventPublish: %v", err)
	}
	if existing {
		t.Fatalf("EventPublish: existing=true for a new event")
	}
	return evt
}

func claim(t *testing.T, s hookd.Store, p hookd.ClaimParams) []hookd.ClaimedDelivery {
	t.Helper()
	if p.Lease == 0 {
		p.Lease = time.Minute
	}
	if p.Owner == "" {
		p.Owner = "test"
	}
	got, err := s.DeliveriesClaim(context.Background(), p)
	if err != nil {
		t.Fatalf("DeliveriesClaim: %v", err)
	}
	return got
}

func getDelivery(t *testing.T, s hookd.Store, wsID, id string) *hookd.Delivery {
	t.Helper()
	d, err := s.DeliveryGet(context.Background(), wsID, id)
	if err != nil {
		t.Fatalf("DeliveryGet(%s): %v", id, err)
	}
	return d
}

func getWebhook(t *testing.T, s hookd.Store, wsID, id string) *hookd.Webhook {
	t.Helper()
	wh, err := s.WebhookGet(context.Background(), wsID, id)
	if err != nil {
		t.Fatalf("WebhookGet(%s): %v", id, err)
	}
	return wh
}

func complete(t *testing.T, s hookd.Store, rs ...hookd.AttemptResult) {
	t.Helper()
	if err := s.DeliveriesComplete(context.Background(), rs); err != nil {
		t.Fatalf("DeliveriesComplete: %v", err)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := hookd.ErrorCode(err); got != code {
		t.Errorf("%s: error code %q (%v), want %q", what, got, err, code)
	}
}

func ids(cs []hookd.ClaimedDelivery) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testWorkspaces(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	a := &hookd.Workspace{Name: "alpha", CreatedAt: t0}
	if err := s.WorkspaceCreate(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || len(a.ID) < 4 || a.ID[:3] != hookd.PrefixWorkspace {
		t.Errorf("ID = %q, want ws_…", a.ID)
	}
	b := &hookd.Workspace{Name: "beta", CreatedAt: t0.Add(time.Second)}
	if err := s.WorkspaceCreate(ctx, b); err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		got, err := s.WorkspaceGet(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("WorkspaceGet (-want +got):\n%s", diff)
		}
		got, err = s.WorkspaceGetByName(ctx, "beta")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b, got); diff != "" {
			t.Errorf("WorkspaceGetByName (-want +got):\n%s", diff)
		}
	})
	t.Run("List", func(t *testing.T) {
		list, total, err := s.WorkspaceList(ctx, hookd.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]hookd.Workspace{*b, *a}, list); diff != "" || total != 2 {
			t.Errorf("WorkspaceList total %d (-want +got):\n%s", total, diff)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		wantCode(t, "duplicate name", s.WorkspaceCreate(ctx, &hookd.Workspace{Name: "alpha"}), hookd.EConflict)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.WorkspaceGet(ctx, "ws_missing")
		wantCode(t, "WorkspaceGet", err, hookd.ENotFound)
		_, err = s.WorkspaceGetByName(ctx, "gamma")
		wantCode(t, "WorkspaceGetByName", err, hookd.ENotFound)
	})
}

func testAPIKeys(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	a := workspace(t, s, "a")
	b := workspace(t, s, "b")
	op := &hookd.APIKey{WorkspaceID: a.ID, Name: "operator", Prefix: "hk_abcd", Scopes: []string{hookd.ScopeAdmin},
		Operator: true, Hash: hookd.HashToken("hk_secret1"), CreatedAt: t0}
	rd := &hookd.APIKey{WorkspaceID: a.ID, Name: "reader", Prefix: "hk_efgh", Scopes: []string{hookd.ScopeRead},
		Hash: hookd.HashToken("hk_secret2"), CreatedAt: t0.Add(time.Second)}
	other := &hookd.APIKey{WorkspaceID: b.ID, Name: "b", Scopes: []string{hookd.ScopeWrite}, Hash: hookd.HashToken("hk_secret3"), CreatedAt: t0}
	for _, k := range []*hookd.APIKey{op, rd, other} {
		if err := s.APIKeyCreate(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("GetByHash", func(t *testing.T) {
		got, err := s.APIKeyGetByHash(ctx, hookd.HashToken("hk_secret1"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(op, got, cmpOpts...); diff != "" {
			t.Errorf("APIKeyGetByHash (-want +got):\n%s", diff)
		}
		if !got.Operator {
			t.Error("Operator flag lost")
		}
		_, err = s.APIKeyGetByHash(ctx, hookd.HashToken("hk_nope"))
		wantCode(t, "unknown hash", err, hookd.ENotFound)
	})
	t.Run("List", func(t *testing.T) {
		list, total, err := s.APIKeyList(ctx, a.ID, hookd.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]hookd.APIKey{*rd, *op}, list, cmpOpts...); diff != "" || total != 2 {
			t.Errorf("APIKeyList total %d (-want +got):\n%s", total, diff)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		dup := &hookd.APIKey{WorkspaceID: a.ID, Scopes: []string{hookd.ScopeRead}, Hash: hookd.HashToken("hk_secret1")}
		wantCode(t, "duplicate hash", s.APIKeyCreate(ctx, dup), hookd.EConflict)
	})
	t.Run("Delete", func(t *testing.T) {
		wantCode(t, "delete from other workspace", s.APIKeyDelete(ctx, b.ID, rd.ID), hookd.ENotFound)
		if err := s.APIKeyDelete(ctx, a.ID, rd.ID); err != nil {
			t.Fatal(err)
		}
		_, err := s.APIKeyGetByHash(ctx, rd.Hash)
		wantCode(t, "deleted key", err, hookd.ENotFound)
		wantCode(t, "delete twice", s.APIKeyDelete(ctx, a.ID, rd.ID), hookd.ENotFound)
	})
}

func testWebhooks(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "w")
	exp := t0.Add(time.Hour)
	wh := webhook(t, s, ws.ID, func(wh *hookd.Webhook) {
		wh.Events = []string{"job.*", "order.created"}
		wh.Filters = map[string]any{"job_id": "job_1", "n": float64(3), "tags": []any{"a", "b"}}
		wh.OwnerID = "agent-1"
		wh.Description = "desc"
		wh.MaxAttempts = 5
		wh.RateLimitPerSecond = 10
		wh.Headers = map[string]string{"X-Team": "core"}
		wh.PreviousSecret = "whsec_old"
		wh.PreviousSecretExpiresAt = &exp
		wh.CreatedAt = t0.Add(123456789 * time.Nanosecond) // truncated to the microsecond
	})
	if wh.ID[:3] != hookd.PrefixWebhook {
		t.Errorf("ID = %q, want wh_…", wh.ID)
	}
	if !wh.CreatedAt.Equal(t0.Add(123456 * time.Microsecond)) {
		t.Errorf("CreatedAt = %v, want truncated to µs", wh.CreatedAt)
	}

	t.Run("Get", func(t *testing.T) {
		got := getWebhook(t, s, ws.ID, wh.ID)
		if diff := cmp.Diff(wh, got, cmpOpts...); diff != "" {
			t.Errorf("WebhookGet (-want +got):\n%s", diff)
		}
		got, err := s.WebhookGetByID(ctx, wh.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wh, got, cmpOpts...); diff != "" {
			t.Errorf("WebhookGetByID (-want +got):\n%s", diff)
		}
		if got.Secret == "" || got.PreviousSecret != "whsec_old" {
			t.Errorf("secrets not round-tripped: %q %q", got.Secret, got.PreviousSecret)
		}
	})
	t.Run("DefaultMaxAttempts", func(t *testing.T) {
		w := webhook(t, s, ws.ID, nil)
		if got := getWebhook(t, s, ws.ID, w.ID); got.MaxAttempts != hookd.DefaultMaxAttempts {
			t.Errorf("MaxAttempts = %d, want %d", got.MaxAttempts, hookd.DefaultMaxAttempts)
		}
	})
	t.Run("UnknownWorkspace", func(t *testing.T) {
		err := s.WebhookCreate(ctx, &hookd.Webhook{WorkspaceID: "ws_missing", URL: "https://x", Secret: "s"})
		wantCode(t, "create in unknown workspace", err, hookd.ENotFound)
	})
	t.Run("Update", func(t *testing.T) {
		w := webhook(t, s, ws.ID, nil)
		before := getWebhook(t, s, ws.ID, w.ID)
		upd := *before
		upd.URL = "https://example.com/other"
		upd.Events = []string{"*"}
		upd.Filters = nil
		upd.OwnerID = "agent-2"
		upd.Description = "changed"
		upd.MaxAttempts = 3
		upd.Headers = map[string]string{"A": "b"}
		upd.Secret = "whsec_new"
		upd.PreviousSecret = before.Secret
		upd.PreviousSecretExpiresAt = &exp
		if err := s.WebhookUpdate(ctx, &upd); err != nil {
			t.Fatal(err)
		}
		if !upd.UpdatedAt.After(before.UpdatedAt) {
			t.Errorf("UpdatedAt %v not after %v", upd.UpdatedAt, before.UpdatedAt)
		}
		got := getWebhook(t, s, ws.ID, w.ID)
		if diff := cmp.Diff(&upd, got, cmpOpts...); diff != "" {
			t.Errorf("after update (-want +got):\n%s", diff)
		}
		// A second update still moves UpdatedAt, even within the same clock tick.
		prev := got.UpdatedAt
		if err := s.WebhookUpdate(ctx, got); err != nil {
			t.Fatal(err)
		}
		if !got.UpdatedAt.After(prev) {
			t.Errorf("UpdatedAt did not advance: %v then %v", prev, got.UpdatedAt)
		}
	})
	t.Run("ListAndDelete", func(t *testing.T) {
		ws := workspace(t, s, "list")
		a := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.OwnerID = "x"; w.CreatedAt = t0 })
		b := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.OwnerID = "y"; w.CreatedAt = t0.Add(time.Second) })
		c := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Active = false; w.OwnerID = "x"; w.CreatedAt = t0.Add(2 * time.Second) })
		list := func(f hookd.WebhookFilter) ([]string, int) {
			t.Helper()
			f.WorkspaceID = ws.ID
			f.Limit = 100
			got, total, err := s.WebhookList(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, w := range got {
				out = append(out, w.ID)
			}
			return out, total
		}
		for _, tt := range []struct {
			name  string
			f     hookd.WebhookFilter
			want  []string
			total int
		}{
			{"Default", hookd.WebhookFilter{}, []string{b.ID, a.ID}, 2},
			{"IncludeInactive", hookd.WebhookFilter{IncludeInactive: true}, []string{c.ID, b.ID, a.ID}, 3},
			{"Owner", hookd.WebhookFilter{OwnerID: "x"}, []string{a.ID}, 1},
			{"OwnerInactive", hookd.WebhookFilter{OwnerID: "x", IncludeInactive: true}, []string{c.ID, a.ID}, 2},
		} {
			got, total := list(tt.f)
			if diff := cmp.Diff(tt.want, got); diff != "" || total != tt.total {
				t.Errorf("%s: total %d want %d (-want +got):\n%s", tt.name, total, tt.total, diff)
			}
		}
		if err := s.WebhookDelete(ctx, ws.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		_, err := s.WebhookGet(ctx, ws.ID, b.ID)
		wantCode(t, "get deleted", err, hookd.ENotFound)
		_, err = s.WebhookGetByID(ctx, b.ID)
		wantCode(t, "get deleted by id", err, hookd.ENotFound)
		wantCode(t, "delete twice", s.WebhookDelete(ctx, ws.ID, b.ID), hookd.ENotFound)
		wantCode(t, "update deleted", s.WebhookUpdate(ctx, b), hookd.ENotFound)
		if got, total := list(hookd.WebhookFilter{IncludeInactive: true}); !slices.Equal(got, []string{c.ID, a.ID}) || total != 2 {
			t.Errorf("after delete: %v (total %d)", got, total)
		}
	})
}

func testWebhooksCrossWorkspace(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	a := workspace(t, s, "a")
	b := workspace(t, s, "b")
	wh := webhook(t, s, a.ID, nil)
	evt := publish(t, s, hookd.PublishParams{WorkspaceID: a.ID})
	if len(evt.DeliveryIDs) != 1 {
		t.Fatalf("deliveries = %v, want 1", evt.DeliveryIDs)
	}
	dlv := evt.DeliveryIDs[0]

	_, err := s.WebhookGet(ctx, b.ID, wh.ID)
	wantCode(t, "WebhookGet", err, hookd.ENotFound)
	upd := *wh
	upd.WorkspaceID = b.ID
	upd.URL = "https://evil.example"
	wantCode(t, "WebhookUpdate", s.WebhookUpdate(ctx, &upd), hookd.ENotFound)
	wantCode(t, "WebhookDelete", s.WebhookDelete(ctx, b.ID, wh.ID), hookd.ENotFound)
	_, err = s.DeliverySummary(ctx, b.ID, wh.ID)
	wantCode(t, "DeliverySummary", err, hookd.ENotFound)
	_, err = s.EventGet(ctx, b.ID, evt.ID)
	wantCode(t, "EventGet", err, hookd.ENotFound)
	_, err = s.DeliveryGet(ctx, b.ID, dlv)
	wantCode(t, "DeliveryGet", err, hookd.ENotFound)
	_, err = s.DeliveryRetry(ctx, b.ID, dlv, t0)
	wantCode(t, "DeliveryRetry", err, hookd.ENotFound)
	list, total, err := s.WebhookList(ctx, hookd.WebhookFilter{WorkspaceID: b.ID, IncludeInactive: true, Page: hookd.Page{Limit: 10}})
	if err != nil || len(list) != 0 || total != 0 {
		t.Errorf("WebhookList of b = %v, %d, %v; want empty", list, total, err)
	}
	dl, total, err := s.DeliveryList(ctx, hookd.DeliveryFilter{WorkspaceID: b.ID, WebhookID: wh.ID, Page: hookd.Page{Limit: 10}})
	if err != nil || len(dl) != 0 || total != 0 {
		t.Errorf("DeliveryList of b = %v, %d, %v; want empty", dl, total, err)
	}
	// Publishing in b reaches none of a's webhooks.
	if e := publish(t, s, hookd.PublishParams{WorkspaceID: b.ID}); len(e.DeliveryIDs) != 0 {
		t.Errorf("publish in b made deliveries %v", e.DeliveryIDs)
	}
	// And a is untouched.
	if got := getWebhook(t, s, a.ID, wh.ID); got.URL != wh.URL {
		t.Errorf("URL changed to %q", got.URL)
	}
}

func testFanOut(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "fan")
	other := workspace(t, s, "other")
	hooks := map[string]*hookd.Webhook{
		"all":      webhook(t, s, ws.ID, nil),
		"star":     webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"*"} }),
		"jobs":     webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"job.*"} }),
		"exact":    webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"job.failed"} }),
		"filtered": webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"job.*"}; w.Filters = map[string]any{"job_id": "job_1"} }),
		"anyof":    webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Filters = map[string]any{"region": []any{"eu", "us"}} }),
		"number":   webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Filters = map[string]any{"n": float64(2)} }),
		"owned":    webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.OwnerID = "agent-7" }),
		"inactive": webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Active = false }),
	}
	webhook(t, s, other.ID, nil) // another workspace's catch-all: never reached
	name := map[string]string{}
	for n, w := range hooks {
		name[w.ID] = n
	}
	tests := []struct {
		typ, owner, data string
		want             []string
	}{
		{"order.created", "", `{}`, []string{"all", "star"}},
		{"job.succeeded", "", `{"job_id":"job_2"}`, []string{"all", "jobs", "star"}},
		{"job.failed", "", `{"job_id":"job_1"}`, []string{"all", "exact", "filtered", "jobs", "star"}},
		{"job.failed", "agent-7", `{"job_id":"job_1","region":"us","n":2}`, []string{"all", "anyof", "exact", "filtered", "jobs", "number", "owned", "star"}},
		{"x", "agent-8", `{"region":"asia","n":2.5}`, []string{"all", "star"}},
		{"x", "", `{"region":"eu","n":2}`, []string{"all", "anyof", "number", "star"}},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", i, tt.typ), func(t *testing.T) {
			evt := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Type: tt.typ, OwnerID: tt.owner, Data: json.RawMessage(tt.data)})
			var got []string
			for _, id := range evt.DeliveryIDs {
				d := getDelivery(t, s, ws.ID, id)
				if d.EventID != evt.ID || d.EventType != tt.typ || d.Status != hookd.DeliveryPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(t0) {
					t.Errorf("delivery %+v", d)
				}
				got = append(got, name[d.WebhookID])
			}
			sort.Strings(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("webhooks reached (-want +got):\n%s", diff)
			}
			stored, err := s.EventGet(ctx, ws.ID, evt.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(evt, stored, cmpOpts...); diff != "" {
				t.Errorf("EventGet (-want +got):\n%s", diff)
			}
		})
	}
}

func testIdempotency(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "idem")
	other := workspace(t, s, "idem2")
	webhook(t, s, ws.ID, nil)
	webhook(t, s, ws.ID, nil)

	t.Run("Sequential", func(t *testing.T) {
		first := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, IdempotencyKey: "k1"})
		again, existing, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "other", Data: json.RawMessage(`{}`), IdempotencyKey: "k1", Now: t0.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if !existing {
			t.Error("existing = false for a reused key")
		}
		if diff := cmp.Diff(first, again, cmpOpts...); diff != "" {
			t.Errorf("second publish (-first +second):\n%s", diff)
		}
		// Same key in another workspace is a different event.
		if e := publish(t, s, hookd.PublishParams{WorkspaceID: other.ID, IdempotencyKey: "k1"}); e.ID == first.ID {
			t.Error("key shared across workspaces")
		}
		// No key: always new.
		a := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
		b := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
		if a.ID == b.ID {
			t.Error("events without a key collapsed")
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		const n = 50
		var wg sync.WaitGroup
		evts := make([]*hookd.Event, n)
		existing := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				evts[i], existing[i], errs[i] = s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Data: json.RawMessage(`{}`), IdempotencyKey: "race", Now: t0})
			}()
		}
		wg.Wait()
		created := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("publish %d: %v", i, errs[i])
			}
			if !existing[i] {
				created++
			}
			if evts[i].ID != evts[0].ID || !slices.Equal(evts[i].DeliveryIDs, evts[0].DeliveryIDs) {
				t.Errorf("publish %d returned %s %v, publish 0 %s %v", i, evts[i].ID, evts[i].DeliveryIDs, evts[0].ID, evts[0].DeliveryIDs)
			}
		}
		if created != 1 {
			t.Errorf("%d publishes created the event, want 1", created)
		}
		_, total, err := s.DeliveryList(ctx, hookd.DeliveryFilter{WorkspaceID: ws.ID, EventID: evts[0].ID, Page: hookd.Page{Limit: 10}})
		if err != nil || total != 2 {
			t.Errorf("deliveries of the event: %d, %v; want 2", total, err)
		}
	})
}

func testGroupCommit(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "gc")
	a := webhook(t, s, ws.ID, nil)
	b := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"even"} })
	const n = 200
	var wg sync.WaitGroup
	evts := make([]*hookd.Event, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			typ := "odd"
			if i%2 == 0 {
				typ = "even"
			}
			key := ""
			if i%10 == 0 {
				key = fmt.Sprintf("k%d", i)
			}
			evts[i], _, errs[i] = s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), IdempotencyKey: key, Now: t0})
		}()
	}
	wg.Wait()
	want := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("publish %d: %v", i, errs[i])
		}
		wantN := 1
		if i%2 == 0 {
			wantN = 2
		}
		want += wantN
		if len(evts[i].DeliveryIDs) != wantN {
			t.Errorf("event %d: %d deliveries, want %d", i, len(evts[i].DeliveryIDs), wantN)
		}
		got, err := s.EventGet(ctx, ws.ID, evts[i].ID)
		if err != nil {
			t.Fatalf("EventGet %d: %v", i, err)
		}
		if string(got.Data) != fmt.Sprintf(`{"i":%d}`, i) || !slices.Equal(got.DeliveryIDs, evts[i].DeliveryIDs) {
			t.Errorf("event %d stored as %s %v", i, got.Data, got.DeliveryIDs)
		}
	}
	sa, err := s.DeliverySummary(ctx, ws.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := s.DeliverySummary(ctx, ws.ID, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Pending != n || sb.Pending != n/2 || sa.Total+sb.Total != want {
		t.Errorf("summaries %+v %+v; want %d and %d pending", sa, sb, n, n/2)
	}
	// One failing caller in a batch does not take the others down: an invalid
	// data document (needed by a filter) fails alone.
	ws2 := workspace(t, s, "gc2")
	webhook(t, s, ws2.ID, func(w *hookd.Webhook) { w.Filters = map[string]any{"k": "v"} })
	errs = make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := `{"k":"v"}`
			if i%4 == 0 {
				data = `[1,2]`
			}
			_, _, errs[i] = s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws2.ID, Type: "t", Data: json.RawMessage(data), Now: t0})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%4 == 0 {
			wantCode(t, fmt.Sprintf("bad publish %d", i), err, hookd.EInvalid)
		} else if err != nil {
			t.Errorf("good publish %d: %v", i, err)
		}
	}
	_, total, err := s.DeliveryList(ctx, hookd.DeliveryFilter{WorkspaceID: ws2.ID, Page: hookd.Page{Limit: 1}})
	if err != nil || total != 15 {
		t.Errorf("deliveries after mixed batch: %d, %v; want 15", total, err)
	}
}

func testClaim(t *testing.T, open Open) {
	t.Run("OldestFirstAndLease", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ws := workspace(t, s, "c")
		wh := webhook(t, s, ws.ID, nil)
		var want []string
		for i := range 5 {
			// Published in reverse due order: claims must sort by due time.
			e := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Now: t0.Add(time.Duration(5-i) * time.Second), Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
			want = append([]string{e.DeliveryIDs[0]}, want...)
		}
		if got := claim(t, s, hookd.ClaimParams{Now: t0, Limit: 10}); len(got) != 0 {
			t.Fatalf("claimed %v before any was due", ids(got))
		}
		now := t0.Add(10 * time.Second)
		got := claim(t, s, hookd.ClaimParams{Now: now, Limit: 3, Lease: 30 * time.Second, Owner: "node-1"})
		if diff := cmp.Diff(want[:3], ids(got)); diff != "" {
			t.Errorf("claim order (-want +got):\n%s", diff)
		}
		c := got[0]
		if c.Status != hookd.DeliveryProcessing || !c.LeaseUntil.Equal(now.Add(30*time.Second)) || c.Manual ||
			c.WebhookID != wh.ID || !c.WebhookUpdatedAt.Equal(wh.UpdatedAt) || string(c.EventData) != `{"i":4}` ||
			!c.EventTimestamp.Equal(t0.Add(time.Second)) || c.EventType != "order.created" {
			t.Errorf("claimed delivery %+v (data %s)", c, c.EventData)
		}
		// The claimed ones are not claimed again; the rest are.
		rest := claim(t, s, hookd.ClaimParams{Now: now, Limit: 10})
		if diff := cmp.Diff(want[3:], ids(rest)); diff != "" {
			t.Errorf("second claim (-want +got):\n%s", diff)
		}
		if again := claim(t, s, hookd.ClaimParams{Now: now, Limit: 10}); len(again) != 0 {
			t.Errorf("claimed %v twice", ids(again))
		}
	})
	t.Run("Blocked", func(t *testing.T) {
		// ClaimParams.Blocked says whether the claim left due rows behind.
		t.Parallel()
		s := open(t)
		ws := workspace(t, s, "c")
		wh := webhook(t, s, ws.ID, nil)
		for i := range 3 {
			publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Now: t0.Add(time.Duration(i) * time.Millisecond)})
		}
		now := t0.Add(time.Second)
		steps := []struct {
			name        string
			p           hookd.ClaimParams
			took        int
			wantBlocked bool
		}{
			{"not due yet", hookd.ClaimParams{Now: t0.Add(-time.Second), Limit: 10}, 0, false},
			{"webhook excluded", hookd.ClaimParams{Now: now, Limit: 10, Exclude: []string{wh.ID}}, 0, true},
			{"room for one", hookd.ClaimParams{Now: now, Limit: 10, PerWebhook: func(string) int { return 1 }}, 1, true},
			{"the other two", hookd.ClaimParams{Now: now, Limit: 10}, 2, false},
			{"nothing left", hookd.ClaimParams{Now: now, Limit: 10}, 0, false},
		}
		for _, st := range steps {
			blocked := !st.wantBlocked
			st.p.Blocked = &blocked
			if got := claim(t, s, st.p); len(got) != st.took || blocked != st.wantBlocked {
				t.Errorf("%s: took %d, blocked %v; want %d, %v", st.name, len(got), blocked, st.took, st.wantBlocked)
			}
		}
	})
	t.Run("LimitPerWebhookExclude", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ws := workspace(t, s, "c")
		a := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"a"} })
		b := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"b"} })
		c := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"c"} })
		for i := range 10 {
			for _, typ := range []string{"a", "b", "c"} {
				publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Type: typ, Now: t0.Add(time.Duration(i) * time.Millisecond)})
			}
		}
		asked := map[string]int{}
		got := claim(t, s, hookd.ClaimParams{Now: t0.Add(time.Second), Limit: 100, Exclude: []string{c.ID},
			PerWebhook: func(id string) int {
				asked[id]++
				if id == a.ID {
					return 2
				}
				return 4
			}})
		count := map[string]int{}
		for _, d := range got {
			count[d.WebhookID]++
		}
		if count[a.ID] != 2 || count[b.ID] != 4 || count[c.ID] != 0 {
			t.Errorf("claimed per webhook a=%d b=%d c=%d; want 2, 4, 0", count[a.ID], count[b.ID], count[c.ID])
		}
		for id, n := range asked {
			if n != 1 {
				t.Errorf("PerWebhook(%s) asked %d times, want once per claim", id, n)
			}
		}
		got = claim(t, s, hookd.ClaimParams{Now: t0.Add(time.Second), Limit: 5})
		if len(got) != 5 {
			t.Errorf("Limit 5 claimed %d", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].NextAttemptAt.Before(*got[i-1].NextAttemptAt) {
				t.Errorf("claim %d due %v before claim %d due %v", i, got[i].NextAttemptAt, i-1, got[i-1].NextAttemptAt)
			}
		}
		zero := claim(t, s, hookd.ClaimParams{Now: t0.Add(time.Second), Limit: 100, PerWebhook: func(string) int { return 0 }})
		if len(zero) != 0 {
			t.Errorf("PerWebhook 0 claimed %d", len(zero))
		}
	})
	t.Run("BacklogDoesNotStarve", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ws := workspace(t, s, "c")
		busy := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"busy"} })
		quiet := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"quiet"} })
		// A backlog of the busy webhook, all due before the quiet one's event.
		for i := range 3000 {
			publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Type: "busy", Now: t0.Add(time.Duration(i) * time.Microsecond)})
		}
		q := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Type: "quiet", Now: t0.Add(time.Second)})
		for _, p := range []hookd.ClaimParams{
			{Now: t0.Add(time.Minute), Limit: 10, Exclude: []string{busy.ID}},
			{Now: t0.Add(time.Minute), Limit: 10, PerWebhook: func(id string) int {
				if id == busy.ID {
					return 0
				}
				return 10
			}},
		} {
			got := claim(t, s, p)
			if len(got) != 1 || got[0].ID != q.DeliveryIDs[0] || got[0].WebhookID != quiet.ID {
				t.Errorf("claim behind a backlog got %v, want the quiet webhook's %s", ids(got), q.DeliveryIDs[0])
			}
			if len(got) == 1 {
				if err := s.DeliveriesRelease(context.Background(), ids(got)); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	t.Run("PausedSkipped", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ws := workspace(t, s, "c")
		wh := webhook(t, s, ws.ID, nil)
		publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
		wh.Active = false
		if err := s.WebhookUpdate(context.Background(), wh); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, s, hookd.ClaimParams{Now: t0.Add(time.Hour), Limit: 10}); len(got) != 0 {
			t.Errorf("claimed %v of an inactive webhook", ids(got))
		}
	})
}

func testComplete(t *testing.T, open Open) {
	ctx := context.Background()
	now := t0.Add(time.Minute)
	setup := func(t *testing.T, n int) (hookd.Store, *hookd.Webhook, []hookd.ClaimedDelivery) {
		t.Helper()
		t.Parallel()
		s := open(t)
		ws := workspace(t, s, "c")
		wh := webhook(t, s, ws.ID, nil)
		for range n {
			publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
		}
		got := claim(t, s, hookd.ClaimParams{Now: now, Limit: n})
		if len(got) != n {
			t.Fatalf("claimed %d, want %d", len(got), n)
		}
		return s, wh, got
	}
	attempt := func(code int, errMsg string) hookd.Attempt {
		return hookd.Attempt{StartedAt: now, DurationMS: 42, StatusCode: code, Error: errMsg, ResponseBody: "body"}
	}

	t.Run("Delivered", func(t *testing.T) {
		s, wh, c := setup(t, 1)
		complete(t, s, hookd.AttemptResult{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: attempt(200, ""), Outcome: hookd.OutcomeDelivered, Now: now})
		d := getDelivery(t, s, wh.WorkspaceID, c[0].ID)
		if d.Status != hookd.DeliveryDelivered || d.Attempts != 1 || d.AutoAttempts != 1 || d.DeliveredAt == nil || !d.DeliveredAt.Equal(now) || d.LastStatusCode != 200 {
			t.Errorf("delivered: %+v", d)
		}
		want := []hookd.Attempt{{DeliveryID: c[0].ID, Number: 1, StartedAt: now, DurationMS: 42, StatusCode: 200, ResponseBody: "body"}}
		if diff := cmp.Diff(want, d.AttemptList, cmpopts.IgnoreFields(hookd.Attempt{}, "ID")); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		if d.AttemptList[0].ID == "" {
			t.Error("attempt without id")
		}
	})
	t.Run("RetryThenFailed", func(t *testing.T) {
		s, wh, c := setup(t, 1)
		next := now.Add(5 * time.Second)
		complete(t, s, hookd.AttemptResult{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: attempt(503, "server error"), Outcome: hookd.OutcomeRetry, NextAttemptAt: next, Now: now})
		d := getDelivery(t, s, wh.WorkspaceID, c[0].ID)
		if d.Status != hookd.DeliveryPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(next) || d.LastStatusCode != 503 || d.LastError != "server error" || d.Attempts != 1 {
			t.Errorf("after retry: %+v", d)
		}
		if got := claim(t, s, hookd.ClaimParams{Now: next.Add(-time.Microsecond), Limit: 10}); len(got) != 0 {
			t.Errorf("claimed before the retry was due")
		}
		got := claim(t, s, hookd.ClaimParams{Now: next, Limit: 10})
		if len(got) != 1 || got[0].Attempts != 1 {
			t.Fatalf("retry claim: %v", got)
		}
		complete(t, s, hookd.AttemptResult{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: attempt(0, "timeout"), Outcome: hookd.OutcomeFailed, Now: next})
		d = getDelivery(t, s, wh.WorkspaceID, c[0].ID)
		if d.Status != hookd.DeliveryFailed || d.Attempts != 2 || d.AutoAttempts != 2 || d.NextAttemptAt != nil || len(d.AttemptList) != 2 || d.AttemptList[1].Number != 2 {
			t.Errorf("after failed: %+v", d)
		}
	})
	t.Run("DeadDeactivates", func(t *testing.T) {
		s, wh, c := setup(t, 3)
		before := getWebhook(t, s, wh.WorkspaceID, wh.ID)
		// Release two so that they are pending when the third comes back 410.
		if err := s.DeliveriesRelease(ctx, []string{c[1].ID, c[2].ID}); err != nil {
			t.Fatal(err)
		}
		complete(t, s, hookd.AttemptResult{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: attempt(410, "gone"), Outcome: hookd.OutcomeDead, Now: now})
		if d := getDelivery(t, s, wh.WorkspaceID, c[0].ID); d.Status != hookd.DeliveryDead || d.LastStatusCode != 410 {
			t.Errorf("410 delivery: %+v", d)
		}
		after := getWebhook(t, s, wh.WorkspaceID, wh.ID)
		if after.Active || !after.UpdatedAt.After(before.UpdatedAt) {
			t.Errorf("webhook after 410: active=%v updated %v (before %v)", after.Active, after.UpdatedAt, before.UpdatedAt)
		}
		if got := claim(t, s, hookd.ClaimParams{Now: now.Add(time.Hour), Limit: 10}); len(got) != 0 {
			t.Errorf("claimed %v of a webhook deactivated by 410", ids(got))
		}
		if e := publish(t, s, hookd.PublishParams{WorkspaceID: wh.WorkspaceID}); len(e.DeliveryIDs) != 0 {
			t.Errorf("deactivated webhook still receives events")
		}
		// Reactivating releases the held ones.
		after.Active = true
		if err := s.WebhookUpdate(ctx, after); err != nil {
			t.Fatal(err)
		}
		got := claim(t, s, hookd.ClaimParams{Now: now.Add(time.Hour), Limit: 10})
		if diff := cmp.Diff([]string{c[1].ID, c[2].ID}, ids(got), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("after reactivation (-want +got):\n%s", diff)
		}
	})
	t.Run("RetryAfterWebhookDeleted", func(t *testing.T) {
		s, wh, c := setup(t, 2)
		if err := s.WebhookDelete(ctx, wh.WorkspaceID, wh.ID); err != nil {
			t.Fatal(err)
		}
		complete(t, s,
			hookd.AttemptResult{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: attempt(500, ""), Outcome: hookd.OutcomeRetry, NextAttemptAt: now.Add(time.Second), Now: now},
			hookd.AttemptResult{DeliveryID: c[1].ID, WebhookID: wh.ID, Attempt: attempt(200, ""), Outcome: hookd.OutcomeDelivered, Now: now},
		)
		if d := getDelivery(t, s, wh.WorkspaceID, c[0].ID); d.Status != hookd.DeliveryDead || d.NextAttemptAt != nil || d.Attempts != 1 {
			t.Errorf("retry of a deleted webhook's delivery: %+v", d)
		}
		if d := getDelivery(t, s, wh.WorkspaceID, c[1].ID); d.Status != hookd.DeliveryDelivered {
			t.Errorf("delivered after delete: %+v", d)
		}
	})
	t.Run("RetryWhileInactive", func(t *testing.T) {
		s, wh, c := setup(t, 1)
		w := getWebhook(t, s, wh.WorkspaceID, wh.ID)
		w.Active = false
		if err := s.WebhookUpdate(ctx, w); err != nil {
			t.Fatal(err)
		}
		complete(t, s, hookd.AttemptResult{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: attempt(500, ""), Outcome: hookd.OutcomeRetry, NextAttemptAt: now, Now: now})
		if got := claim(t, s, hookd.ClaimParams{Now: now.Add(time.Hour), Limit: 10}); len(got) != 0 {
			t.Errorf("retry of an inactive webhook claimed: %v", ids(got))
		}
		w.Active = true
		if err := s.WebhookUpdate(ctx, w); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, s, hookd.ClaimParams{Now: now.Add(time.Hour), Limit: 10}); len(got) != 1 {
			t.Errorf("after reactivation claimed %v, want the held retry", ids(got))
		}
	})
	t.Run("AfterReap", func(t *testing.T) {
		s, wh, c := setup(t, 1)
		if n, err := s.DeliveriesReap(ctx, now.Add(2*time.Minute)); err != nil || n < 1 {
			t.Fatalf("reap: %d, %v", n, err)
		}
		complete(t, s, hookd.AttemptResult{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: attempt(200, ""), Outcome: hookd.OutcomeDelivered, Now: now})
		d := getDelivery(t, s, wh.WorkspaceID, c[0].ID)
		if d.Status != hookd.DeliveryPending || len(d.AttemptList) != 1 || d.Attempts != 1 {
			t.Errorf("late result of a reaped delivery: %+v", d)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		s, wh, c := setup(t, 1)
		err := s.DeliveriesComplete(ctx, []hookd.AttemptResult{{DeliveryID: c[0].ID, WebhookID: wh.ID, Outcome: "maybe", Now: now}})
		wantCode(t, "unknown outcome", err, hookd.EInvalid)
	})
}

func testRelease(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "r")
	webhook(t, s, ws.ID, nil)
	e := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Now: t0.Add(-time.Hour)})
	got := claim(t, s, hookd.ClaimParams{Now: t0, Limit: 1})
	if len(got) != 1 {
		t.Fatalf("claimed %d", len(got))
	}
	if err := s.DeliveriesRelease(ctx, ids(got)); err != nil {
		t.Fatal(err)
	}
	d := getDelivery(t, s, ws.ID, e.DeliveryIDs[0])
	if d.Status != hookd.DeliveryPending || d.Attempts != 0 || d.NextAttemptAt == nil || d.NextAttemptAt.After(time.Now()) {
		t.Errorf("released: %+v", d)
	}
	again := claim(t, s, hookd.ClaimParams{Now: time.Now().Add(time.Second), Limit: 1})
	if len(again) != 1 || again[0].ID != e.DeliveryIDs[0] {
		t.Errorf("released delivery not claimable: %v", ids(again))
	}
	// Releasing what is not processing changes nothing.
	if err := s.DeliveriesRelease(ctx, []string{"dlv_missing"}); err != nil {
		t.Error(err)
	}
}

func testReap(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "r")
	webhook(t, s, ws.ID, nil)
	publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
	publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
	short := claim(t, s, hookd.ClaimParams{Now: t0, Limit: 1, Lease: time.Minute})
	long := claim(t, s, hookd.ClaimParams{Now: t0, Limit: 1, Lease: time.Hour})
	if len(short) != 1 || len(long) != 1 {
		t.Fatal("claims failed")
	}
	if n, err := s.DeliveriesReap(ctx, t0.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("reap at lease end: %d, %v; want 0 (lease_until < now only)", n, err)
	}
	n, err := s.DeliveriesReap(ctx, t0.Add(time.Minute+time.Microsecond))
	if err != nil || n != 1 {
		t.Fatalf("reap: %d, %v; want 1", n, err)
	}
	if d := getDelivery(t, s, ws.ID, short[0].ID); d.Status != hookd.DeliveryPending {
		t.Errorf("reaped: %+v", d)
	}
	if d := getDelivery(t, s, ws.ID, long[0].ID); d.Status != hookd.DeliveryProcessing {
		t.Errorf("unexpired lease reaped: %+v", d)
	}
	got := claim(t, s, hookd.ClaimParams{Now: t0.Add(2 * time.Minute), Limit: 10})
	if len(got) != 1 || got[0].ID != short[0].ID {
		t.Errorf("reaped delivery not claimable: %v", ids(got))
	}
}

func testDeactivateReactivate(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "d")
	wh := webhook(t, s, ws.ID, nil)
	held := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
	wh.Active = false
	if err := s.WebhookUpdate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	// Events published while inactive make no delivery at all.
	if e := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID}); len(e.DeliveryIDs) != 0 {
		t.Errorf("inactive webhook got deliveries %v", e.DeliveryIDs)
	}
	if got := claim(t, s, hookd.ClaimParams{Now: t0.Add(time.Hour), Limit: 10}); len(got) != 0 {
		t.Errorf("held delivery claimed: %v", ids(got))
	}
	if d := getDelivery(t, s, ws.ID, held.DeliveryIDs[0]); d.Status != hookd.DeliveryPending {
		t.Errorf("held delivery status %q, want pending", d.Status)
	}
	if _, ok, err := s.DeliveriesNextDue(ctx); err != nil || ok {
		t.Errorf("NextDue with only held deliveries: ok=%v err=%v", ok, err)
	}
	wh.Active = true
	if err := s.WebhookUpdate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	got := claim(t, s, hookd.ClaimParams{Now: t0.Add(time.Hour), Limit: 10})
	if len(got) != 1 || got[0].ID != held.DeliveryIDs[0] {
		t.Errorf("after reactivation claimed %v, want %v", ids(got), held.DeliveryIDs)
	}
}

func testDelete(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "d")
	wh := webhook(t, s, ws.ID, nil)
	keep := webhook(t, s, ws.ID, nil)
	e1 := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
	e2 := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
	// e1's delivery to wh in flight, e2's pending and held (webhook inactive).
	var inflight string
	for _, c := range claim(t, s, hookd.ClaimParams{Now: t0, Limit: 10, Exclude: []string{keep.ID}}) {
		if c.EventID == e1.ID {
			inflight = c.ID
		} else if err := s.DeliveriesRelease(ctx, []string{c.ID}); err != nil {
			t.Fatal(err)
		}
	}
	wh.Active = false
	if err := s.WebhookUpdate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	if err := s.WebhookDelete(ctx, ws.ID, wh.ID); err != nil {
		t.Fatal(err)
	}
	var pendingID string
	for _, id := range e2.DeliveryIDs {
		if d := getDelivery(t, s, ws.ID, id); d.WebhookID == wh.ID {
			pendingID = id
			if d.Status != hookd.DeliveryDead {
				t.Errorf("held pending delivery after delete: %q, want dead", d.Status)
			}
		} else if d.Status != hookd.DeliveryPending {
			t.Errorf("other webhook's delivery: %q, want pending", d.Status)
		}
	}
	if pendingID == "" {
		t.Fatal("no delivery of the deleted webhook found")
	}
	if d := getDelivery(t, s, ws.ID, inflight); d.Status != hookd.DeliveryProcessing {
		t.Errorf("in-flight delivery after delete: %q, want processing until its result", d.Status)
	}
	// Deliveries stay listable and readable by id.
	_, total, err := s.DeliveryList(ctx, hookd.DeliveryFilter{WorkspaceID: ws.ID, WebhookID: wh.ID, Page: hookd.Page{Limit: 10}})
	if err != nil || total != 2 {
		t.Errorf("deliveries of deleted webhook: %d, %v; want 2", total, err)
	}
	// A released in-flight delivery of a deleted webhook is dead, not pending.
	if err := s.DeliveriesRelease(ctx, []string{inflight}); err != nil {
		t.Fatal(err)
	}
	if d := getDelivery(t, s, ws.ID, inflight); d.Status != hookd.DeliveryDead {
		t.Errorf("released delivery of deleted webhook: %q, want dead", d.Status)
	}
	if e := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID}); len(e.DeliveryIDs) != 1 {
		t.Errorf("after delete an event reached %d webhooks, want 1", len(e.DeliveryIDs))
	}
}

func testRetry(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "r")
	wh := webhook(t, s, ws.ID, nil)
	e := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
	id := e.DeliveryIDs[0]
	now := t0.Add(time.Minute)

	c := claim(t, s, hookd.ClaimParams{Now: now, Limit: 1})
	_, err := s.DeliveryRetry(ctx, ws.ID, id, now)
	wantCode(t, "retry in flight", err, hookd.EConflict)
	complete(t, s, hookd.AttemptResult{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: hookd.Attempt{StartedAt: now, StatusCode: 500}, Outcome: hookd.OutcomeFailed, Now: now})

	later := now.Add(time.Hour)
	d, err := s.DeliveryRetry(ctx, ws.ID, id, later)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != hookd.DeliveryPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(later) || d.AutoAttempts != 1 {
		t.Errorf("after retry: %+v", d)
	}
	got := claim(t, s, hookd.ClaimParams{Now: later, Limit: 1})
	if len(got) != 1 || !got[0].Manual {
		t.Fatalf("manual retry claim: %+v", got)
	}
	complete(t, s, hookd.AttemptResult{DeliveryID: id, WebhookID: wh.ID, Attempt: hookd.Attempt{StartedAt: later, StatusCode: 200}, Outcome: hookd.OutcomeDelivered, Now: later})
	d = getDelivery(t, s, ws.ID, id)
	if d.Status != hookd.DeliveryDelivered || d.Attempts != 2 || d.AutoAttempts != 1 {
		t.Errorf("after manual attempt: status %q attempts %d auto %d; want delivered, 2, 1", d.Status, d.Attempts, d.AutoAttempts)
	}
	if len(d.AttemptList) != 2 || d.AttemptList[0].Manual || !d.AttemptList[1].Manual || d.AttemptList[1].Number != 2 {
		t.Errorf("attempts: %+v", d.AttemptList)
	}
	// The manual flag is spent: a later automatic claim is not manual.
	if _, err := s.DeliveryRetry(ctx, ws.ID, id, later); err != nil {
		t.Fatal(err)
	}
	got = claim(t, s, hookd.ClaimParams{Now: later, Limit: 1})
	complete(t, s, hookd.AttemptResult{DeliveryID: id, WebhookID: wh.ID, Attempt: hookd.Attempt{StartedAt: later, StatusCode: 500}, Outcome: hookd.OutcomeRetry, NextAttemptAt: later, Now: later})
	got = claim(t, s, hookd.ClaimParams{Now: later, Limit: 1})
	if len(got) != 1 || got[0].Manual {
		t.Errorf("automatic retry after a manual one claimed as manual: %+v", got)
	}

	t.Run("WebhookInactive", func(t *testing.T) {
		wh2 := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"only"} })
		e := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Type: "only"})
		wh2.Active = false
		if err := s.WebhookUpdate(ctx, wh2); err != nil {
			t.Fatal(err)
		}
		for _, id := range e.DeliveryIDs {
			if _, err := s.DeliveryRetry(ctx, ws.ID, id, later); err != nil {
				t.Fatal(err)
			}
		}
		if got := claim(t, s, hookd.ClaimParams{Now: later, Limit: 10, Exclude: []string{wh.ID}}); len(got) != 0 {
			t.Errorf("retry of an inactive webhook's delivery claimed: %v", ids(got))
		}
	})
	t.Run("WebhookDeleted", func(t *testing.T) {
		wh3 := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.Events = []string{"gone"} })
		e := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Type: "gone"})
		if err := s.WebhookDelete(ctx, ws.ID, wh3.ID); err != nil {
			t.Fatal(err)
		}
		for _, id := range e.DeliveryIDs {
			_, err := s.DeliveryRetry(ctx, ws.ID, id, later)
			if d := getDelivery(t, s, ws.ID, id); d.WebhookID == wh3.ID {
				wantCode(t, "retry of a deleted webhook's delivery", err, hookd.EConflict)
			} else if err != nil {
				t.Errorf("retry of a live webhook's delivery: %v", err)
			}
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.DeliveryRetry(ctx, ws.ID, "dlv_missing", later)
		wantCode(t, "retry unknown", err, hookd.ENotFound)
	})
}

func testSummary(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "s")
	wh := webhook(t, s, ws.ID, nil)
	other := webhook(t, s, ws.ID, nil)
	for range 6 {
		publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID})
	}
	c := claim(t, s, hookd.ClaimParams{Now: t0, Limit: 4, Exclude: []string{other.ID}})
	complete(t, s,
		hookd.AttemptResult{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: hookd.Attempt{StatusCode: 200}, Outcome: hookd.OutcomeDelivered, Now: t0},
		hookd.AttemptResult{DeliveryID: c[1].ID, WebhookID: wh.ID, Attempt: hookd.Attempt{StatusCode: 400}, Outcome: hookd.OutcomeFailed, Now: t0},
		hookd.AttemptResult{DeliveryID: c[2].ID, WebhookID: wh.ID, Attempt: hookd.Attempt{StatusCode: 500}, Outcome: hookd.OutcomeRetry, NextAttemptAt: t0.Add(time.Hour), Now: t0},
	)
	got, err := s.DeliverySummary(ctx, ws.ID, wh.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := &hookd.DeliverySummary{Total: 6, Pending: 3, Processing: 1, Delivered: 1, Failed: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	// Status and event type filters of the list agree with the summary.
	for _, tt := range []struct {
		f    hookd.DeliveryFilter
		want int
	}{
		{hookd.DeliveryFilter{WebhookID: wh.ID, Status: hookd.DeliveryPending}, 3},
		{hookd.DeliveryFilter{WebhookID: wh.ID, Status: hookd.DeliveryDelivered}, 1},
		{hookd.DeliveryFilter{Status: hookd.DeliveryPending}, 9},
		{hookd.DeliveryFilter{EventType: "order.created"}, 12},
		{hookd.DeliveryFilter{EventType: "nope"}, 0},
	} {
		tt.f.WorkspaceID = ws.ID
		tt.f.Limit = 100
		list, total, err := s.DeliveryList(ctx, tt.f)
		if err != nil || total != tt.want || len(list) != tt.want {
			t.Errorf("DeliveryList(%+v) = %d rows, total %d, %v; want %d", tt.f, len(list), total, err, tt.want)
		}
	}
	_, err = s.DeliverySummary(ctx, ws.ID, "wh_missing")
	wantCode(t, "summary of unknown webhook", err, hookd.ENotFound)
}

func testPagination(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	ws := workspace(t, s, "p")
	wh := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.CreatedAt = t0 })
	var want []string // newest first
	for i := range 25 {
		e := publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Now: t0.Add(time.Duration(i) * time.Millisecond)})
		want = append([]string{e.DeliveryIDs[0]}, want...)
	}
	var got []string
	for off := 0; off < 30; off += 10 {
		page, total, err := s.DeliveryList(ctx, hookd.DeliveryFilter{WorkspaceID: ws.ID, WebhookID: wh.ID, Page: hookd.Page{Limit: 10, Offset: off}})
		if err != nil {
			t.Fatal(err)
		}
		if total != 25 {
			t.Errorf("total = %d, want 25", total)
		}
		for _, d := range page {
			got = append(got, d.ID)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages, newest first (-want +got):\n%s", diff)
	}
	var hooks []string
	for i := range 5 {
		w := webhook(t, s, ws.ID, func(w *hookd.Webhook) { w.CreatedAt = t0.Add(time.Duration(i+1) * time.Second) })
		hooks = append([]string{w.ID}, hooks...)
	}
	hooks = append(hooks, wh.ID)
	list, total, err := s.WebhookList(ctx, hookd.WebhookFilter{WorkspaceID: ws.ID, Page: hookd.Page{Limit: 2, Offset: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if total != 6 || len(list) != 2 || list[0].ID != hooks[1] || list[1].ID != hooks[2] {
		t.Errorf("webhook page: total %d, %v; want %v", total, list, hooks[1:3])
	}
}

func testQueueStats(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	if st, err := s.QueueStats(ctx); err != nil || st.Pending != 0 || st.Processing != 0 || st.OldestDueAt != nil {
		t.Errorf("empty queue stats: %+v, %v", st, err)
	}
	if _, ok, err := s.DeliveriesNextDue(ctx); err != nil || ok {
		t.Errorf("empty NextDue: ok=%v, %v", ok, err)
	}
	ws := workspace(t, s, "q")
	webhook(t, s, ws.ID, nil)
	for i := range 4 {
		publish(t, s, hookd.PublishParams{WorkspaceID: ws.ID, Now: t0.Add(time.Duration(i) * time.Second)})
	}
	claim(t, s, hookd.ClaimParams{Now: t0, Limit: 1})
	st, err := s.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldest := t0.Add(time.Second)
	if st.Pending != 3 || st.Processing != 1 || st.OldestDueAt == nil || !st.OldestDueAt.Equal(oldest) {
		t.Errorf("stats %+v, want 3 pending, 1 processing, oldest %v", st, oldest)
	}
	next, ok, err := s.DeliveriesNextDue(ctx)
	if err != nil || !ok || !next.Equal(oldest) {
		t.Errorf("NextDue = %v, %v, %v; want %v", next, ok, err, oldest)
	}
}
