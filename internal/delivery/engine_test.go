package delivery_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/delivery"
	"github.com/hookd/hookd/internal/seal"
	"github.com/hookd/hookd/internal/store/sqlite"
	"github.com/hookd/hookd/signature"
)

// clock is an injected clock the tests move by hand, so retries are reached
// without waiting for them.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t      *testing.T
	store  hookd.Store
	engine *delivery.Engine
	clock  *clock
	ws     *hookd.Workspace
	cancel context.CancelFunc
	done   chan struct{}
}

func newEnv(t *testing.T, mod func(*delivery.Config)) *env {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	sealer, _ := seal.New(key)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	cfg := delivery.Config{
		Store:        st,
		Client:       &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Now:          clk.Now,
		Rand:         func() float64 { return 0.5 }, // no jitter: exact expectations
		Timeout:      5 * time.Second,
		PollInterval: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	e := &env{t: t, store: st, engine: delivery.New(cfg), clock: clk, done: make(chan struct{})}
	e.ws = &hookd.Workspace{ID: hookd.NewID(hookd.PrefixWorkspace), Name: "w-" + hookd.NewID(""), CreatedAt: clk.Now()}
	if err := st.WorkspaceCreate(context.Background(), e.ws); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { defer close(e.done); e.engine.Run(ctx) }()
	t.Cleanup(func() { e.stop(); st.Close() })
	return e
}

func (e *env) stop() {
	e.cancel()
	<-e.done
}

func (e *env) webhook(url string, mod func(*hookd.Webhook)) *hookd.Webhook {
	e.t.Helper()
	wh := &hookd.Webhook{ID: hookd.NewID(hookd.PrefixWebhook), WorkspaceID: e.ws.ID, URL: url, Events: []string{"*"},
		MaxAttempts: 8, Active: true, Secret: signature.NewSecret(), CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}
	if mod != nil {
		mod(wh)
	}
	if err := e.store.WebhookCreate(context.Background(), wh); err != nil {
		e.t.Fatal(err)
	}
	return wh
}

func (e *env) publish(typ string, data string) *hookd.Event {
	e.t.Helper()
	evt, _, err := e.store.EventPublish(context.Background(), hookd.PublishParams{WorkspaceID: e.ws.ID, Type: typ, Data: json.RawMessage(data), Now: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.engine.Wake()
	return evt
}

func (e *env) delivery(id string) *hookd.Delivery {
	e.t.Helper()
	d, err := e.store.DeliveryGet(context.Background(), e.ws.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// waitStatus polls the store until the delivery reaches status (the engine
// works asynchronously; this waits for its effect, not for a retry timer).
func (e *env) waitStatus(id, status string, attempts int) *hookd.Delivery {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := e.delivery(id)
		if d.Status == status && d.Attempts >= attempts {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("delivery %s: status %s after %d attempts, want %s after %d (last error %q)", id, d.Status, d.Attempts, status, attempts, d.LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
	hits atomic.Int64
}

func newReceiver(t *testing.T, h func(n int64, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n := rc.hits.Add(1)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, r)
		rc.body = append(rc.body, b)
		rc.mu.Unlock()
		if h != nil {
			h(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func TestDeliverSigned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rc := newReceiver(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "thanks") })
	wh := e.webhook(rc.URL+"/in", func(w *hookd.Webhook) { w.Headers = map[string]string{"X-Team": "blue"} })
	evt := e.publish("order.paid", `{"amount":42}`)
	if len(evt.DeliveryIDs) != 1 {
		t.Fatalf("deliveries = %v", evt.DeliveryIDs)
	}
	d := e.waitStatus(evt.DeliveryIDs[0], hookd.DeliveryDelivered, 1)
	if len(d.AttemptList) != 1 || d.AttemptList[0].StatusCode != 200 || d.AttemptList[0].ResponseBody != "thanks" {
		t.Fatalf("attempts = %+v", d.AttemptList)
	}
	rc.mu.Lock()
	r, body := rc.reqs[0], rc.body[0]
	rc.mu.Unlock()
	if r.Header.Get("webhook-id") != evt.ID || r.Header.Get("X-Team") != "blue" || r.Header.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(r.Header.Get("User-Agent"), "hookd/") {
		t.Fatalf("headers = %v", r.Header)
	}
	if err := signature.Verify(wh.Secret, r.Header, body, e.clock.Now()); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil || got["event"] != "order.paid" || got["data"].(map[string]any)["amount"] != 42.0 {
		t.Fatalf("body = %s", body)
	}
}

func TestRotationGraceSignsTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rc := newReceiver(t, nil)
	old := signature.NewSecret()
	until := e.clock.Now().Add(time.Hour)
	wh := e.webhook(rc.URL, func(w *hookd.Webhook) { w.PreviousSecret = old; w.PreviousSecretExpiresAt = &until })
	evt := e.publish("a", `{}`)
	e.waitStatus(evt.DeliveryIDs[0], hookd.DeliveryDelivered, 1)
	rc.mu.Lock()
	r, body := rc.reqs[0], rc.body[0]
	rc.mu.Unlock()
	if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("signatures = %q, want 2", r.Header.Get("webhook-signature"))
	}
	for _, s := range []string{wh.Secret, old} {
		if err := signature.Verify(s, r.Header, body, e.clock.Now()); err != nil {
			t.Fatalf("secret does not verify: %v", err)
		}
	}
}

func TestRetryThenDeliver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rc := newReceiver(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
		}
	})
	e.webhook(rc.URL, nil)
	start := e.clock.Now()
	evt := e.publish("a", `{}`)
	d := e.waitStatus(evt.DeliveryIDs[0], hookd.DeliveryPending, 1)
	if d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(start.Add(5*time.Second)) {
		t.Fatalf("next attempt at %v, want start+5s", d.NextAttemptAt)
	}
	if d.LastStatusCode != 503 || d.AutoAttempts != 1 {
		t.Fatalf("after first attempt: %+v", d)
	}
	e.clock.Advance(4 * time.Second)
	e.engine.Wake()
	time.Sleep(50 * time.Millisecond) // not due yet: nothing may happen
	if rc.hits.Load() != 1 {
		t.Fatalf("retried before its time")
	}
	e.clock.Advance(time.Second)
	e.engine.Wake()
	d = e.waitStatus(evt.DeliveryIDs[0], hookd.DeliveryDelivered, 2)
	if len(d.AttemptList) != 2 || d.AttemptList[0].StatusCode != 503 || d.AttemptList[1].StatusCode != 200 {
		t.Fatalf("attempts = %+v", d.AttemptList)
	}
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		maxAtt     int
		wantStatus string
		wantNext   time.Duration // 0: not checked
		wantErr    string
	}{
		{"ServerErrorRetries", 500, nil, 8, hookd.DeliveryPending, 5 * time.Second, "receiver answered 500"},
		{"ClientErrorRetriesAsRefusal", 400, nil, 8, hookd.DeliveryPending, 5 * time.Second, "receiver refused with 400"},
		{"RetryAfterHonoured", 429, map[string]string{"Retry-After": "120"}, 8, hookd.DeliveryPending, 120 * time.Second, ""},
		{"RetryAfterCapped", 503, map[string]string{"Retry-After": "86400"}, 8, hookd.DeliveryPending, time.Hour, ""},
		{"RedirectNotFollowed", 302, map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}, 8, hookd.DeliveryPending, 5 * time.Second, "redirect 302 not followed"},
		{"BudgetSpent", 500, nil, 1, hookd.DeliveryFailed, 0, ""},
		{"GoneIsDead", 410, nil, 8, hookd.DeliveryDead, 0, "410"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			rc := newReceiver(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
			})
			wh := e.webhook(rc.URL, func(w *hookd.Webhook) { w.MaxAttempts = tt.maxAtt })
			start := e.clock.Now()
			evt := e.publish("a", `{}`)
			d := e.waitStatus(evt.DeliveryIDs[0], tt.wantStatus, 1)
			if tt.wantNext > 0 && (d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(start.Add(tt.wantNext))) {
				t.Fatalf("next attempt at %v, want start+%v", d.NextAttemptAt, tt.wantNext)
			}
			if !strings.Contains(d.LastError, tt.wantErr) || d.LastStatusCode != tt.status {
				t.Fatalf("last error %q code %d", d.LastError, d.LastStatusCode)
			}
			if rc.hits.Load() != 1 {
				t.Fatalf("receiver hit %d times", rc.hits.Load())
			}
			got, err := e.store.WebhookGet(context.Background(), e.ws.ID, wh.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Active != (tt.status != 410) {
				t.Fatalf("webhook active = %v after %d", got.Active, tt.status)
			}
		})
	}
}

func TestGoneHoldsTheRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *delivery.Config) { c.PerWebhook = 1 })
	gate := make(chan struct{})
	rc := newReceiver(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { <-gate; w.WriteHeader(410) })
	e.webhook(rc.URL, nil)
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, e.publish("a", `{}`).DeliveryIDs[0])
	}
	close(gate) // all five exist before the first answer deactivates the webhook
	e.waitStatus(ids[0], hookd.DeliveryDead, 1)
	time.Sleep(100 * time.Millisecond)
	dead := 0
	for _, id := range ids {
		d := e.delivery(id)
		if d.Status == hookd.DeliveryDead {
			dead++
		} else if d.Status != hookd.DeliveryPending {
			t.Fatalf("delivery %s is %s", id, d.Status)
		}
	}
	if dead != 1 || rc.hits.Load() != 1 {
		t.Fatalf("dead=%d hits=%d: the deactivated webhook's other deliveries must wait", dead, rc.hits.Load())
	}
}

// A hanging endpoint with a deep backlog must not delay a healthy one.
func TestIsolationHangingEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *delivery.Config) { c.PerWebhook = 8; c.Workers = 64; c.Timeout = 30 * time.Second })
	release := make(chan struct{})
	hang := newReceiver(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	var arrivedMu sync.Mutex
	arrived := map[string]time.Time{}
	healthy := newReceiver(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		arrivedMu.Lock()
		arrived[r.Header.Get("webhook-id")] = time.Now()
		arrivedMu.Unlock()
	})
	e.webhook(hang.URL, func(w *hookd.Webhook) { w.Events = []string{"slow.*"} })
	e.webhook(healthy.URL, func(w *hookd.Webhook) { w.Events = []string{"fast.*"} })
	for i := 0; i < 1000; i++ {
		e.publish("slow.x", fmt.Sprintf(`{"i":%d}`, i))
	}
	published := map[string]time.Time{}
	var ids []string
	for i := 0; i < 50; i++ {
		evt := e.publish("fast.x", `{}`)
		published[evt.ID] = time.Now()
		ids = append(ids, evt.DeliveryIDs[0])
	}
	for _, id := range ids {
		e.waitStatus(id, hookd.DeliveryDelivered, 1)
	}
	// Each healthy delivery's own delay, from its publish to its arrival.
	arrivedMu.Lock()
	for id, at := range published {
		if d := arrived[id].Sub(at); d > time.Second {
			t.Errorf("healthy delivery of %s arrived %v after publishing, behind a hanging endpoint", id, d)
		}
	}
	arrivedMu.Unlock()
	if n := hang.hits.Load(); n > 8 {
		t.Fatalf("hanging endpoint has %d concurrent attempts, cap is 8", n)
	}
}

func TestShutdownLeavesNothingProcessing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *delivery.Config) { c.PerWebhook = 4 })
	rc := newReceiver(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { time.Sleep(100 * time.Millisecond) })
	wh := e.webhook(rc.URL, nil)
	for i := 0; i < 40; i++ {
		e.publish("a", `{}`)
	}
	for rc.hits.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	e.stop()
	sum, err := e.store.DeliverySummary(context.Background(), e.ws.ID, wh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Processing != 0 || sum.Delivered < 4 || sum.Delivered+sum.Pending != 40 {
		t.Fatalf("after shutdown: %+v", sum)
	}
}

// lateClaims is a store whose claim, once armed, misses what is due: a claim
// that read the queue just before a publish committed.
type lateClaims struct {
	hookd.Store
	armed atomic.Bool
}

func (s *lateClaims) DeliveriesClaim(ctx context.Context, p hookd.ClaimParams) ([]hookd.ClaimedDelivery, error) {
	if s.armed.CompareAndSwap(true, false) {
		return nil, nil
	}
	return s.Store.DeliveriesClaim(ctx, p)
}

// TestClaimAgainBeforePausing: a claim that took nothing while deliveries
// were due is followed by another claim at once, not by the pause for
// saturated webhooks (which ignores wake-ups): the deliveries may have been
// committed just after the claim read the queue.
func TestClaimAgainBeforePausing(t *testing.T) {
	late := &lateClaims{}
	reads := &nextDueCounter{}
	e := newEnv(t, func(c *delivery.Config) {
		reads.Store = c.Store
		late.Store = reads
		c.Store = late
		c.PollInterval = time.Hour
		c.SaturatedPause = time.Hour
	})
	rc := newReceiver(t, nil)
	e.webhook(rc.URL, nil)
	// The engine's first claim at start, and its read of the next due time
	// after it, done: only then is it idle. Armed while that claim or that
	// read was still going, the engine could see two empty claims in a row
	// with the delivery due (that claim, having read the queue before the
	// publish, then the armed one) and rightly pause.
	for reads.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	late.armed.Store(true)
	evt := e.publish("t", `{}`)
	e.waitStatus(evt.DeliveryIDs[0], hookd.DeliveryDelivered, 1)
}

// nextDueCounter counts the engine's reads of the next due time, each once
// it has returned.
type nextDueCounter struct {
	hookd.Store
	n atomic.Int64
}

func (s *nextDueCounter) DeliveriesNextDue(ctx context.Context) (time.Time, bool, error) {
	defer s.n.Add(1)
	return s.Store.DeliveriesNextDue(ctx)
}

// TestBlockedClaimPauses: a claim that reports it left due deliveries behind
// (their webhook saturated) starts the pause at once, without reading the
// next due time, and wake-ups do not bring the engine back to them.
func TestBlockedClaimPauses(t *testing.T) {
	counter := &nextDueCounter{}
	e := newEnv(t, func(c *delivery.Config) {
		counter.Store = c.Store
		c.Store = counter
		c.PerWebhook = 1
		c.PollInterval = time.Hour
		c.SaturatedPause = time.Hour
	})
	release := make(chan struct{})
	rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) { <-release })
	t.Cleanup(func() { close(release) }) // before the receiver closes
	e.webhook(rc.URL, nil)
	e.publish("t", `{}`)
	for rc.hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	before := counter.n.Load()
	e.publish("t", `{}`) // due, but the webhook's one slot is taken
	for range 5 {
		e.engine.Wake()
		time.Sleep(20 * time.Millisecond)
	}
	if n := counter.n.Load() - before; n != 0 {
		t.Errorf("the next due time was read %d times while the webhook was saturated, want 0", n)
	}
	if h := rc.hits.Load(); h != 1 {
		t.Errorf("receiver hit %d times, want 1 (cap 1)", h)
	}
}
