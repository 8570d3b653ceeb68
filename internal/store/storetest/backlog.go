package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// Backlog is a store whose test build can fill its queue in bulk.
type Backlog interface {
	hookd.Store
	// BulkInsertPending inserts one event and n pending deliveries of it to
	// webhookID, due one microsecond apart from base.
	BulkInsertPending(ctx context.Context, workspaceID, webhookID string, n int, base time.Time) error
}

// ClaimLargeBacklog builds a queue of n pending deliveries to one webhook
// and checks that a claim which excludes that webhook, or finds it
// saturated, still finds another webhook's delivery behind them, and that
// the next due time and the queue stats read it quickly and right.
func ClaimLargeBacklog(t *testing.T, s Backlog, n int) {
	ctx := context.Background()
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	busy := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://busy", Active: true, Secret: "s", Events: []string{"busy"}}
	quiet := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://quiet", Active: true, Secret: "s", Events: []string{"quiet"}}
	for _, wh := range []*hookd.Webhook{busy, quiet} {
		if err := s.WebhookCreate(ctx, wh); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	start := time.Now()
	if err := s.BulkInsertPending(ctx, ws.ID, busy.ID, n, base); err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d pending rows in %v", n, time.Since(start))
	q, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "quiet", Data: json.RawMessage(`{}`), Now: base.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tt := range []struct {
		name string
		p    hookd.ClaimParams
	}{
		{"Excluded", hookd.ClaimParams{Exclude: []string{busy.ID}}},
		{"Saturated", hookd.ClaimParams{PerWebhook: func(id string) int {
			if id == busy.ID {
				return 0
			}
			return 100
		}}},
	} {
		tt.p.Now, tt.p.Limit, tt.p.Lease = now, 100, time.Minute
		start := time.Now()
		got, err := s.DeliveriesClaim(ctx, tt.p)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: claim took %v", tt.name, took)
		if len(got) != 1 || got[0].ID != q.DeliveryIDs[0] {
			t.Errorf("%s: claimed %d rows, want the quiet webhook's one", tt.name, len(got))
		}
		if took > time.Second {
			t.Errorf("%s: claim took %v behind a backlog", tt.name, took)
		}
		if err := s.DeliveriesRelease(ctx, []string{q.DeliveryIDs[0]}); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	st, err := s.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("QueueStats over %d rows took %v", st.Pending, time.Since(start))
	if st.Pending != n+1 {
		t.Errorf("pending = %d, want %d", st.Pending, n+1)
	}
	start = time.Now()
	if _, ok, err := s.DeliveriesNextDue(ctx); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("NextDue took %v", took)
	}
}
