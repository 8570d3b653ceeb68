package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/store/postgres"
)

// TestPublishBatch: publishes committed together get what their own
// statements would have answered: inserted with their deliveries, refused
// for a stale fingerprint or a used idempotency key, and one bad event fails
// alone.
func TestPublishBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, ws := storeWithWorkspace(t)
	var hooks []string
	for i := range 2 {
		wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: fmt.Sprintf("https://example.com/%d", i), Active: true, Secret: "s"}
		if err := s.WebhookCreate(ctx, wh); err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, wh.ID)
	}
	fp, err := s.Fingerprint(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	event := func(key, data string) *hookd.Event {
		e := &hookd.Event{ID: hookd.NewIDAt(hookd.PrefixEvent, now), WorkspaceID: ws.ID, Type: "t",
			Data: json.RawMessage(data), IdempotencyKey: key, Timestamp: now}
		for range hooks {
			e.DeliveryIDs = append(e.DeliveryIDs, hookd.NewIDAt(hookd.PrefixDelivery, now))
		}
		// Sorted, as EventPublish makes them (EventGet lists them by id):
		// ids made in one second sort in the order they were made only
		// while no parallel test has made one stamped later.
		slices.Sort(e.DeliveryIDs)
		return e
	}
	both := [][]string{hooks, hooks, hooks, hooks}

	plain, keyed, sameKey, stale := event("", `{"n":1}`), event("k", `{"n":2}`), event("k", `{"n":3}`), event("", `{"n":4}`)
	inserted, current, errs := s.PublishBatch([]*hookd.Event{plain, keyed, sameKey, stale}, both, []string{fp, fp, fp, "stale"})
	if want := []bool{true, true, false, false}; !slices.Equal(inserted, want) {
		t.Errorf("inserted %v, want %v", inserted, want)
	}
	for i := range errs {
		if errs[i] != nil || current[i] != fp {
			t.Errorf("publish %d: err %v, current fingerprint %q, want nil and %q", i, errs[i], current[i], fp)
		}
	}
	for _, e := range []*hookd.Event{plain, keyed} {
		got, err := s.EventGet(ctx, ws.ID, e.ID)
		if err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
		if !slices.Equal(got.DeliveryIDs, e.DeliveryIDs) || string(got.Data) != string(e.Data) {
			t.Errorf("event %s: deliveries %v data %s, want %v %s", e.ID, got.DeliveryIDs, got.Data, e.DeliveryIDs, e.Data)
		}
	}
	for _, e := range []*hookd.Event{sameKey, stale} {
		if _, err := s.EventGet(ctx, ws.ID, e.ID); hookd.ErrorCode(err) != hookd.ENotFound {
			t.Errorf("event %s not inserted: EventGet says %v, want not found", e.ID, err)
		}
	}

	// A batch whose statement fails (invalid JSON): each publish runs alone.
	good, bad := event("", `{"n":5}`), event("", `{nope`)
	inserted, _, errs = s.PublishBatch([]*hookd.Event{good, bad}, both[:2], []string{fp, fp})
	if !inserted[0] || errs[0] != nil {
		t.Errorf("good publish beside a bad one: inserted %v, err %v", inserted[0], errs[0])
	}
	if inserted[1] || errs[1] == nil {
		t.Errorf("bad publish: inserted %v, err %v, want an error", inserted[1], errs[1])
	}
	if got, err := s.EventGet(ctx, ws.ID, good.ID); err != nil || len(got.DeliveryIDs) != 2 {
		t.Errorf("good event after the fallback: %v, %v", got, err)
	}
}

// TestPublishConcurrentBatches: many publishes at once are batched, and each
// gets its own event with its deliveries.
func TestPublishConcurrentBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, ws := storeWithWorkspace(t)
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://example.com/", Active: true, Secret: "s"}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	const n = 100
	seen := map[string]bool{}
	for round := 0; round < 5 && s.BatchedPublishes() == 0; round++ {
		evts := make([]*hookd.Event, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				evts[i], _, errs[i] = s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t",
					Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), Now: time.Now()})
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("publish %d: %v", i, errs[i])
			}
			if seen[evts[i].ID] || len(evts[i].DeliveryIDs) != 1 {
				t.Fatalf("publish %d: event %s (seen before: %v) with deliveries %v", i, evts[i].ID, seen[evts[i].ID], evts[i].DeliveryIDs)
			}
			seen[evts[i].ID] = true
			got, err := s.EventGet(ctx, ws.ID, evts[i].ID)
			if err != nil || !slices.Equal(got.DeliveryIDs, evts[i].DeliveryIDs) || string(got.Data) != fmt.Sprintf(`{"i":%d}`, i) {
				t.Fatalf("publish %d: stored %+v, %v", i, got, err)
			}
		}
	}
	if s.BatchedPublishes() == 0 {
		t.Error("no publish was batched in five rounds of 100 concurrent publishes")
	}
}

// TestPublishDuringClose: publishes racing the store's Close all return
// (committed, or with an error); none waits forever on a batch that will
// never run.
func TestPublishDuringClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := postgres.Open(ctx, freshDB(t), postgres.Options{Sealer: sealer(t), MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if err := s.WebhookCreate(ctx, &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://example.com/", Active: true, Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				if _, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Now: time.Now()}); err != nil {
					return // the pool is closed
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	s.Close()
	returned := make(chan struct{})
	go func() { wg.Wait(); close(returned) }()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("publishes still waiting 10 s after Close")
	}
}
