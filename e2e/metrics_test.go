package e2e

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/hookd/hookd/client"
)

// /metrics exports what an operator alerts on: deliveries by outcome, the
// attempt latency histogram, the queue's depth and the age of its oldest
// delivery, inbound calls and executions.
func TestMetrics(t *testing.T) { onBackends(t, testMetrics) }

func testMetrics(t *testing.T) {
	t.Parallel()
	s := start(t, "")
	c := s.client()
	ctx := context.Background()
	rc := newRecorder(t, nil)
	if _, err := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL}); err != nil {
		t.Fatal(err)
	}
	evt, err := c.PublishEvent(ctx, "metrics.x", map[string]any{}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, c, evt.Deliveries[0], "delivered")
	// An unknown token counts as an inbound call refused.
	r, err := apiHTTP.Post(s.URL+"/hooks/wht_"+strings.Repeat("B", 43), "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	var body string
	eventually(t, "metrics to show the delivery", func() bool {
		body = scrape(t, s)
		return strings.Contains(body, `hookd_delivery_attempts_total{outcome="delivered"} 1`)
	})
	for _, want := range []string{
		"hookd_delivery_attempt_duration_seconds_bucket",
		`hookd_delivery_queue_depth{state="pending"}`,
		"hookd_delivery_queue_oldest_age_seconds",
		`hookd_events_published_total 1`,
		`hookd_inbound_calls_total{disposition="unauthorized"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// scrape returns s's /metrics.
func scrape(t *testing.T, s *server) string {
	t.Helper()
	resp, err := apiHTTP.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
