package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/client"
	"github.com/hookd/hookd/signature"
)

func TestOutboundEndToEnd(t *testing.T) { onBackends(t, testOutboundEndToEnd) }

func testOutboundEndToEnd(t *testing.T) {
	t.Parallel()
	s := start(t, "")
	c := s.client()
	ctx := context.Background()

	// The operator key file is private.
	fi, err := os.Stat(filepath.Join(s.DataDir, "admin.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key: %v %v", fi, err)
	}

	t.Run("SignedDelivery", func(t *testing.T) {
		t.Parallel()
		rc := newRecorder(t, nil)
		wh, err := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL + "/hook", Events: []string{"order.*"}, Headers: map[string]string{"X-Env": "test"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(wh.Secret, "whsec_") {
			t.Fatalf("secret %q", wh.Secret)
		}
		got, err := c.GetWebhook(ctx, wh.ID)
		if err != nil || got.Secret != "" {
			t.Fatalf("secret visible after create: %+v %v", got, err)
		}
		evt, err := c.PublishEvent(ctx, "order.paid", map[string]any{"amount": 7}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(evt.Deliveries) != 1 {
			t.Fatalf("deliveries %v", evt.Deliveries)
		}
		d := waitDelivery(t, c, evt.Deliveries[0], "delivered")
		if len(d.AttemptList) != 1 || d.AttemptList[0].StatusCode != 200 {
			t.Fatalf("attempts %+v", d.AttemptList)
		}
		rc.mu.Lock()
		req := rc.reqs[0]
		rc.mu.Unlock()
		if err := signature.Verify(wh.Secret, req.Header, req.Body, time.Now()); err != nil {
			t.Fatalf("signature: %v", err)
		}
		if req.Header.Get("X-Env") != "test" || req.Header.Get("webhook-id") != evt.ID {
			t.Fatalf("headers %v", req.Header)
		}
		var body map[string]any
		json.Unmarshal(req.Body, &body)
		if body["event"] != "order.paid" {
			t.Fatalf("body %s", req.Body)
		}
		// A type the webhook does not subscribe to makes no delivery.
		other, err := c.PublishEvent(ctx, "user.created", map[string]any{}, "", "")
		if err != nil || len(other.Deliveries) != 0 {
			t.Fatalf("unsubscribed type delivered: %+v %v", other, err)
		}
	})

	t.Run("RetryThenDeliver", func(t *testing.T) {
		t.Parallel()
		rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n < 3 {
				w.WriteHeader(500)
			}
		})
		_, err := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"retry.me"}})
		if err != nil {
			t.Fatal(err)
		}
		evt, err := c.PublishEvent(ctx, "retry.me", map[string]any{}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		d := waitDelivery(t, c, evt.Deliveries[0], "delivered")
		if d.Attempts != 3 || d.AttemptList[0].StatusCode != 500 || d.AttemptList[2].StatusCode != 200 {
			t.Fatalf("delivery %+v", d)
		}
		// The same webhook-id on every attempt.
		rc.mu.Lock()
		for _, r := range rc.reqs {
			if r.Header.Get("webhook-id") != evt.ID {
				t.Errorf("attempt with webhook-id %q", r.Header.Get("webhook-id"))
			}
		}
		rc.mu.Unlock()
	})

	t.Run("FailedThenManualRetry", func(t *testing.T) {
		t.Parallel()
		var ok atomic.Bool
		rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if !ok.Load() {
				w.WriteHeader(503)
			}
		})
		wh, _ := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"manual.retry"}, MaxAttempts: 2})
		evt, _ := c.PublishEvent(ctx, "manual.retry", map[string]any{}, "", "")
		d := waitDelivery(t, c, evt.Deliveries[0], "failed")
		if d.Attempts != 2 {
			t.Fatalf("attempts %d", d.Attempts)
		}
		ok.Store(true)
		if _, err := c.RetryDelivery(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		d = waitDelivery(t, c, d.ID, "delivered")
		if d.Attempts != 3 || d.AutoAttempts != 2 || !d.AttemptList[2].Manual {
			t.Fatalf("after manual retry %+v", d)
		}
		sum, err := c.WebhookDeliverySummary(ctx, wh.ID)
		if err != nil || sum.Delivered != 1 || sum.Total != 1 {
			t.Fatalf("summary %+v %v", sum, err)
		}
	})

	t.Run("GoneDeactivates", func(t *testing.T) {
		t.Parallel()
		rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(410) })
		wh, _ := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"gone.x"}})
		evt, _ := c.PublishEvent(ctx, "gone.x", map[string]any{}, "", "")
		waitDelivery(t, c, evt.Deliveries[0], "dead")
		got, err := c.GetWebhook(ctx, wh.ID)
		if err != nil || got.Active {
			t.Fatalf("webhook still active after 410: %+v %v", got, err)
		}
		if n := rc.count(); n != 1 {
			t.Fatalf("410 endpoint hit %d times", n)
		}
	})

	t.Run("RedirectNotFollowed", func(t *testing.T) {
		t.Parallel()
		target := newRecorder(t, nil)
		rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			http.Redirect(w, r, target.URL, http.StatusFound)
		})
		c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"redirect.x"}, MaxAttempts: 1})
		evt, _ := c.PublishEvent(ctx, "redirect.x", map[string]any{}, "", "")
		d := waitDelivery(t, c, evt.Deliveries[0], "failed")
		if target.count() != 0 || d.LastStatusCode != 302 || !strings.Contains(d.LastError, "redirect") {
			t.Fatalf("redirect followed or not recorded: target hits %d, %+v", target.count(), d)
		}
	})

	t.Run("Idempotency", func(t *testing.T) {
		t.Parallel()
		rc := newRecorder(t, nil)
		c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"idem.x"}})
		a, err := c.PublishEvent(ctx, "idem.x", map[string]any{"n": 1}, "", "key-1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.PublishEvent(ctx, "idem.x", map[string]any{"n": 2}, "", "key-1")
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != b.ID || len(b.Deliveries) != 1 || b.Deliveries[0] != a.Deliveries[0] {
			t.Fatalf("replay made a new event: %+v vs %+v", a, b)
		}
		waitDelivery(t, c, a.Deliveries[0], "delivered")
		time.Sleep(100 * time.Millisecond)
		if rc.count() != 1 {
			t.Fatalf("receiver got %d deliveries for one idempotent event", rc.count())
		}
	})

	t.Run("DeactivateHoldsReactivateResumes", func(t *testing.T) {
		t.Parallel()
		var fail atomic.Bool
		fail.Store(true)
		rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if fail.Load() {
				w.WriteHeader(500)
			}
		})
		wh, _ := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"hold.x"}})
		evt, _ := c.PublishEvent(ctx, "hold.x", map[string]any{}, "", "")
		eventually(t, "first failed attempt", func() bool { return rc.count() >= 1 })
		off := false
		if _, err := c.UpdateWebhook(ctx, wh.ID, client.WebhookUpdate{Active: &off}); err != nil {
			t.Fatal(err)
		}
		// An attempt in flight at the deactivation ends (its result may take
		// a while to be recorded on a loaded machine); then the delivery is
		// held: pending, and not attempted again.
		waitDelivery(t, c, evt.Deliveries[0], "pending")
		hits := rc.count()
		time.Sleep(800 * time.Millisecond) // several retry periods (200 ms) pass while held
		if rc.count() > hits {
			t.Fatalf("held webhook still attempted: %d → %d", hits, rc.count())
		}
		d, _ := c.GetDelivery(ctx, evt.Deliveries[0])
		if d.Status != "pending" {
			t.Fatalf("held delivery is %s", d.Status)
		}
		// No deliveries for events published while inactive.
		e2, _ := c.PublishEvent(ctx, "hold.x", map[string]any{}, "", "")
		if len(e2.Deliveries) != 0 {
			t.Fatalf("inactive webhook got a delivery")
		}
		fail.Store(false)
		on := true
		if _, err := c.UpdateWebhook(ctx, wh.ID, client.WebhookUpdate{Active: &on}); err != nil {
			t.Fatal(err)
		}
		waitDelivery(t, c, evt.Deliveries[0], "delivered")
	})

	t.Run("DeleteMakesPendingDead", func(t *testing.T) {
		t.Parallel()
		rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(500) })
		wh, _ := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"del.x"}})
		evt, _ := c.PublishEvent(ctx, "del.x", map[string]any{}, "", "")
		eventually(t, "first attempt", func() bool { return rc.count() >= 1 })
		if err := c.DeleteWebhook(ctx, wh.ID); err != nil {
			t.Fatal(err)
		}
		d := waitDelivery(t, c, evt.Deliveries[0], "dead")
		if _, err := c.GetWebhook(ctx, wh.ID); !client.IsNotFound(err) {
			t.Fatalf("deleted webhook readable: %v", err)
		}
		if _, err := c.RetryDelivery(ctx, d.ID); !client.IsConflict(err) {
			t.Fatalf("retry of a deleted webhook's delivery: %v", err)
		}
	})

	t.Run("Isolation", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		hang := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		healthy := newRecorder(t, nil)
		c.CreateWebhook(ctx, client.WebhookCreate{URL: hang.URL, Events: []string{"iso.slow"}})
		c.CreateWebhook(ctx, client.WebhookCreate{URL: healthy.URL, Events: []string{"iso.fast"}})
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 125; i++ {
					if _, err := c.PublishEvent(ctx, "iso.slow", map[string]any{"i": i}, "", ""); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		var ids []string
		for i := 0; i < 20; i++ {
			e, err := c.PublishEvent(ctx, "iso.fast", map[string]any{"i": i}, "", "")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.Deliveries[0])
		}
		for _, id := range ids {
			d := waitDelivery(t, c, id, "delivered")
			// The server's own clock: from the delivery's creation to its success.
			if delay := d.DeliveredAt.Sub(d.CreatedAt); delay > time.Second {
				t.Errorf("healthy delivery %s took %v behind a hanging endpoint", id, delay)
			}
		}
	})
}

func TestGracefulShutdown(t *testing.T) { onBackends(t, testGracefulShutdown) }

func testGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := start(t, "")
	c := s.client()
	ctx := context.Background()
	rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { time.Sleep(300 * time.Millisecond) })
	wh, _ := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL})
	for i := 0; i < 100; i++ {
		if _, err := c.PublishEvent(ctx, "slow.x", map[string]any{"i": i}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "attempts in flight", func() bool { return rc.count() >= 5 })
	s.term()
	s2 := start(t, s.DataDir, "--workers", "1") // restart to read the state
	sum, err := s2.client().WebhookDeliverySummary(ctx, wh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 100 || sum.Delivered < 5 {
		t.Fatalf("after SIGTERM: %+v", sum)
	}
	if !strings.Contains(s.logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log")
	}
	// Nothing was left processing: the restarted node had to reclaim nothing.
	if strings.Contains(s2.logs.String(), "returned interrupted deliveries") {
		t.Fatalf("SIGTERM left deliveries in processing")
	}
}

// kill -9 while publishing and delivering: every acknowledged event is
// delivered at least once after a restart on the same data directory (on
// PostgreSQL: the same database; the dead node's claims return when its
// short lease ends).
func TestKill9NothingAcknowledgedIsLost(t *testing.T) {
	onBackends(t, testKill9NothingAcknowledgedIsLost)
}

func testKill9NothingAcknowledgedIsLost(t *testing.T) {
	t.Parallel()
	lease := shortLease(t)
	s := start(t, "", lease...)
	ctx := context.Background()
	rc := newRecorder(t, nil)
	if _, err := s.client().CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL}); err != nil {
		t.Fatal(err)
	}
	const total = 2000
	var (
		mu    sync.Mutex
		acked []string
		sent  atomic.Int64
	)
	publish := func(srv *server, n int) {
		var wg sync.WaitGroup
		c := srv.client()
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := sent.Add(1)
					if i > int64(n) {
						return
					}
					e, err := c.PublishEvent(ctx, "crash.test", map[string]any{"i": i}, "", "")
					if err != nil {
						continue // not acknowledged: the client may send it again
					}
					mu.Lock()
					acked = append(acked, e.ID)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	done := make(chan struct{})
	go func() { publish(s, total); close(done) }()
	eventually(t, "half the events published and some delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= total/2 && rc.count() > 0
	})
	s.kill()
	<-done
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	if before >= total {
		t.Fatalf("kill came too late to test anything")
	}
	s2 := start(t, s.DataDir, lease...)
	sent.Store(int64(before))
	publish(s2, total)
	mu.Lock()
	ids := append([]string(nil), acked...)
	mu.Unlock()
	eventually(t, fmt.Sprintf("all %d acknowledged events delivered", len(ids)), func() bool {
		for _, id := range ids {
			if rc.seen(id) == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("acknowledged %d before the kill, %d in all; receiver saw %d requests", before, len(ids), rc.count())
}
