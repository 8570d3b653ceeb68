package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/signature"
)

// maxResponseKept is how much of a receiver's answer an attempt keeps.
const maxResponseKept = 4 << 10

// maxDrain is how much more of a response is read so the connection can be reused.
const maxDrain = 64 << 10

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// attempt sends one claimed delivery and queues its result.
func (e *Engine) attempt(c *hookd.ClaimedDelivery) {
	defer e.attempts.Done()
	hs, err := e.hook(c)
	if err != nil {
		if hookd.IsNotFound(err) {
			// Deleted between claim and send: the store makes it dead.
			e.results <- hookd.AttemptResult{DeliveryID: c.ID, WebhookID: c.WebhookID, Outcome: hookd.OutcomeDead, Now: e.cfg.Now(),
				Attempt: hookd.Attempt{ID: hookd.NewID(hookd.PrefixAttempt), Manual: c.Manual, StartedAt: e.cfg.Now(), Error: "webhook deleted"}}
			return
		}
		e.log.Error("load webhook", "webhook_id", c.WebhookID, "err", err)
		e.release(c.WebhookID)
		e.releaseToQueue(c.ID)
		return
	}
	if hs.limiter != nil {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-e.stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := hs.limiter.Wait(ctx)
		cancel()
		if err != nil { // shutting down: give it back untouched
			e.release(c.WebhookID)
			e.releaseToQueue(c.ID)
			return
		}
	}
	if e.isGone(c.WebhookID) {
		// An earlier attempt got 410 Gone and its verdict is being recorded:
		// do not call the receiver again; the store holds this delivery once
		// the webhook is deactivated.
		e.release(c.WebhookID)
		e.releaseToQueue(c.ID)
		return
	}
	res := e.send(hs, c)
	if res.Outcome == hookd.OutcomeDead {
		e.markGone(c.WebhookID)
	}
	// The slot is free once the receiver answered: the cap bounds concurrent
	// requests to one endpoint.
	e.release(c.WebhookID)
	e.results <- res
}

// markGone remembers that a webhook answered 410 until that verdict (which
// deactivates it) is committed: claims skip it and claimed attempts are not sent.
func (e *Engine) markGone(webhookID string) {
	e.mu.Lock()
	e.gone[webhookID]++
	e.mu.Unlock()
}

func (e *Engine) isGone(webhookID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gone[webhookID] > 0
}

func (e *Engine) releaseToQueue(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.store.DeliveriesRelease(ctx, []string{id}); err != nil {
		e.log.Error("release delivery", "delivery_id", id, "err", err)
		return
	}
	// Due again at once: an idle claim loop is not woken by the freed slot.
	e.Wake()
}

// hook returns the cached state of the claimed delivery's webhook, reloading
// it when the webhook changed since it was cached.
func (e *Engine) hook(c *hookd.ClaimedDelivery) (*hookState, error) {
	now := e.cfg.Now()
	e.mu.Lock()
	hs := e.hooks[c.WebhookID]
	e.mu.Unlock()
	if hs != nil && hs.updatedAt.Equal(c.WebhookUpdatedAt) && now.Before(hs.signUntil) {
		return hs, nil
	}
	// The first attempts to a webhook (after a start, or a change) arrive
	// together: they share one read of it.
	hs, err := e.hookLoads.Do(context.Background(), c.WebhookID, func(ctx context.Context) (*hookState, error) {
		return e.loadHook(ctx, c.WebhookID, now)
	})
	if err == nil && hs.updatedAt.Before(c.WebhookUpdatedAt) {
		// The shared read began before the change this delivery was
		// claimed under: read it again.
		hs, err = e.loadHook(context.Background(), c.WebhookID, now)
	}
	return hs, err
}

// loadHook reads webhook id (within 10 s of ctx) and caches its state.
func (e *Engine) loadHook(ctx context.Context, id string, now time.Time) (*hookState, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	wh, err := e.store.WebhookGetByID(ctx, id)
	if err != nil {
		return nil, err
	}
	signer, err := signature.NewSigner(wh.Secrets(now))
	if err != nil {
		return nil, fmt.Errorf("webhook %s secret: %w", wh.ID, err)
	}
	hs := &hookState{wh: wh, updatedAt: wh.UpdatedAt, signer: signer, signUntil: now.Add(time.Hour)}
	if wh.PreviousSecretExpiresAt != nil && wh.PreviousSecretExpiresAt.After(now) && wh.PreviousSecretExpiresAt.Before(hs.signUntil) {
		hs.signUntil = *wh.PreviousSecretExpiresAt
	}
	if wh.RateLimitPerSecond > 0 {
		hs.limiter = rate.NewLimiter(rate.Limit(wh.RateLimitPerSecond), wh.RateLimitPerSecond)
		e.mu.Lock()
		if old := e.hooks[id]; old != nil && old.limiter != nil && old.wh.RateLimitPerSecond == wh.RateLimitPerSecond {
			hs.limiter = old.limiter // keep the bucket's state across reloads
		}
		e.mu.Unlock()
	}
	hs.headers = make(http.Header, len(wh.Headers)+5)
	for k, v := range wh.Headers {
		hs.headers.Set(k, v)
	}
	hs.headers.Set("Content-Type", "application/json")
	hs.headers.Set("User-Agent", "hookd/"+hookd.Version)
	e.mu.Lock()
	e.hooks[id] = hs
	e.mu.Unlock()
	return hs, nil
}

// Body returns the delivery body: {"event": type, "timestamp": RFC 3339, "data": data}.
func Body(eventType string, ts time.Time, data json.RawMessage) []byte {
	t, _ := json.Marshal(eventType)
	b := make([]byte, 0, len(data)+len(t)+64)
	b = append(b, `{"event":`...)
	b = append(b, t...)
	b = append(b, `,"timestamp":"`...)
	b = ts.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b = append(b, data...)
	return append(b, '}')
}

// send performs the HTTP attempt and decides the outcome.
func (e *Engine) send(hs *hookState, c *hookd.ClaimedDelivery) hookd.AttemptResult {
	body := Body(c.EventType, c.EventTimestamp, c.EventData)
	start := e.cfg.Now()
	ts := start.Unix()
	sig := hs.signer.Sign(nil, c.EventID, ts, body)

	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hs.wh.URL, bytes.NewReader(body))
	res := hookd.AttemptResult{DeliveryID: c.ID, WebhookID: c.WebhookID}
	att := &res.Attempt
	att.ID = hookd.NewIDAt(hookd.PrefixAttempt, start)
	att.Manual = c.Manual
	att.StartedAt = start
	var resp *http.Response
	wallStart := time.Now()
	if err == nil {
		h := req.Header
		for k, v := range hs.headers {
			h[k] = v
		}
		h["Webhook-Id"] = []string{c.EventID}
		h["Webhook-Timestamp"] = []string{strconv.FormatInt(ts, 10)}
		h["Webhook-Signature"] = []string{string(sig)}
		resp, err = e.cfg.Client.Do(req)
	}
	var retryAfter time.Duration
	if err == nil {
		att.StatusCode = resp.StatusCode
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		_, rerr := io.Copy(buf, io.LimitReader(resp.Body, maxResponseKept))
		if rerr == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		}
		resp.Body.Close()
		att.ResponseBody = keepText(buf.Bytes())
		bufPool.Put(buf)
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), start)
	} else {
		att.Error = attemptError(err, e.cfg.Timeout)
	}
	elapsed := time.Since(wallStart)
	att.DurationMS = elapsed.Milliseconds()
	if m := e.cfg.Metrics; m != nil {
		m.AttemptDuration.Observe(elapsed.Seconds())
	}
	now := e.cfg.Now()
	res.Now = now

	switch {
	case err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300:
		res.Outcome = hookd.OutcomeDelivered
		return res
	case err == nil && resp.StatusCode == http.StatusGone:
		res.Outcome = hookd.OutcomeDead
		att.Error = "410 Gone: the receiver asked to stop; webhook deactivated"
		return res
	case err == nil && resp.StatusCode >= 300 && resp.StatusCode < 400:
		att.Error = fmt.Sprintf("redirect %d not followed", resp.StatusCode)
	case err == nil && resp.StatusCode >= 400 && resp.StatusCode < 500 &&
		resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		att.Error = fmt.Sprintf("receiver refused with %d", resp.StatusCode)
	case err == nil:
		att.Error = fmt.Sprintf("receiver answered %d", resp.StatusCode)
	}
	auto := c.AutoAttempts
	if !c.Manual {
		auto++
	}
	maxAttempts := hs.wh.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = hookd.DefaultMaxAttempts
	}
	if auto >= maxAttempts {
		res.Outcome = hookd.OutcomeFailed
		return res
	}
	res.Outcome = hookd.OutcomeRetry
	res.NextAttemptAt = now.Add(e.retryDelay(auto, retryAfter))
	return res
}

// retryDelay is the wait after the n-th counted attempt failed (n ≥ 1): the
// schedule's entry with jitter, or the receiver's Retry-After (capped at
// MaxRetryAfter) when it asked for one.
func (e *Engine) retryDelay(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, MaxRetryAfter)
	}
	return RetryDelay(e.cfg.RetrySchedule, n, e.cfg.Jitter, e.cfg.Rand())
}

// RetryDelay returns schedule[n-1] (the last entry past the end) scaled by a
// jitter of ±jitter, where r in [0,1) picks the point in that range.
func RetryDelay(schedule []time.Duration, n int, jitter, r float64) time.Duration {
	if n < 1 {
		n = 1
	}
	d := schedule[min(n, len(schedule))-1]
	f := 1 + jitter*(2*r-1)
	return time.Duration(float64(d) * f)
}

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if s <= 0 {
			return 0
		}
		return min(time.Duration(s)*time.Second, MaxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), MaxRetryAfter)
	}
	return 0
}

func attemptError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %s", timeout)
	}
	return err.Error()
}

// keepText returns b as valid UTF-8 text (invalid bytes replaced).
func keepText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
