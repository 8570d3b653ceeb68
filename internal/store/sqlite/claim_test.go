package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/store/sqlite"
)

// TestClaimConcurrent: claims choose their rows on a read connection before
// marking them on the writer, so concurrent claims keep choosing the same
// rows, and a webhook held meanwhile has its rows chosen while they are still
// claimable. Every delivery must be handed out exactly once, never while its
// webhook is held, and each claim must stay within its per-webhook room.
func TestClaimConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{Synchronous: "NORMAL"})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	var hooks []*hookd.Webhook
	for _, typ := range []string{"a", "b", "c"} {
		wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://" + typ, Active: true, Secret: "s", Events: []string{typ}}
		if err := s.WebhookCreate(ctx, wh); err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, wh)
	}
	n := 600
	if raceEnabled {
		n = 300
	}
	base := time.Now().Add(-time.Hour)
	for i := range n {
		typ := []string{"a", "b", "c"}[i%3]
		if _, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: typ, Now: base.Add(time.Duration(i) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	held, gen := false, 0 // hooks[2] is inactive; toggles so far
	seen := map[string]int{}
	stop := make(chan struct{})
	var toggler sync.WaitGroup
	toggler.Go(func() {
		wh := *hooks[2]
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			wh.Active = !wh.Active
			err := s.WebhookUpdate(ctx, &wh)
			held = !wh.Active
			gen++
			mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	var claimers sync.WaitGroup
	for range 8 {
		claimers.Go(func() {
			for {
				mu.Lock()
				h, g := held, gen
				mu.Unlock()
				got, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now(), Limit: 7, Lease: time.Minute, Owner: "t",
					PerWebhook: func(id string) int {
						if id == hooks[0].ID {
							return 2
						}
						return 7
					}})
				if err != nil {
					t.Error(err)
					return
				}
				per := map[string]int{}
				mu.Lock()
				for _, c := range got {
					seen[c.ID]++
					per[c.WebhookID]++
					if c.Status != hookd.DeliveryProcessing || c.EventID == "" {
						t.Errorf("claimed %+v", c)
					}
					// Held before the claim and not toggled since: the
					// webhook was inactive for the whole claim.
					if c.WebhookID == hooks[2].ID && h && g == gen {
						t.Errorf("claimed %s while its webhook was held", c.ID)
					}
				}
				total := len(seen)
				mu.Unlock()
				if per[hooks[0].ID] > 2 || len(got) > 7 {
					t.Errorf("claim took %d of the capped webhook, %d in all", per[hooks[0].ID], len(got))
				}
				if total >= n*2/3 && len(got) == 0 {
					return // all of a and b; c may be held right now
				}
			}
		})
	}
	claimers.Wait()
	close(stop)
	toggler.Wait()
	// Release the last hold and take what is left.
	wh := *hooks[2]
	wh.Active = true
	if err := s.WebhookUpdate(ctx, &wh); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now(), Limit: 100, Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		for _, c := range got {
			seen[c.ID]++
		}
	}
	if len(seen) != n {
		t.Errorf("claimed %d distinct deliveries, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s handed out %d times", id, k)
		}
	}
}
