package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWebhookCreate(t *testing.T) { onBackends(t, testWebhookCreate) }

func testWebhookCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		wh := e.webhook(e.writer, map[string]any{
			"url": "https://example.com/a", "events": []string{"order.*", "job.succeeded", "*"},
			"filters": map[string]any{"job_id": "job_1", "n": 3, "tags": []any{"a", "b"}}, "owner_id": "agent-7",
			"description": "orders", "max_attempts": 3, "rate_limit_per_second": 10, "headers": map[string]string{"X-Team": "ops"},
		})
		if !strings.HasPrefix(wh["secret"].(string), "whsec_") {
			t.Fatalf("secret %v", wh["secret"])
		}
		got := map[string]any{}
		for _, k := range []string{"url", "events", "filters", "owner_id", "description", "max_attempts", "rate_limit_per_second", "headers", "active", "workspace_id"} {
			got[k] = wh[k]
		}
		want := map[string]any{
			"url": "https://example.com/a", "events": []any{"order.*", "job.succeeded", "*"},
			"filters": map[string]any{"job_id": "job_1", "n": float64(3), "tags": []any{"a", "b"}}, "owner_id": "agent-7",
			"description": "orders", "max_attempts": float64(3), "rate_limit_per_second": float64(10),
			"headers": map[string]any{"X-Team": "ops"}, "active": true, "workspace_id": e.ws.ID,
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("webhook (-want +got):\n%s", d)
		}
		stored, err := e.store.WebhookGet(context.Background(), e.ws.ID, wh["id"].(string))
		if err != nil || stored.Secret != wh["secret"] {
			t.Fatalf("stored %+v, %v", stored, err)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		wh := e.webhook(e.writer, nil)
		if wh["max_attempts"] != float64(8) || wh["active"] != true || wh["rate_limit_per_second"] != float64(0) {
			t.Errorf("defaults: %v", wh)
		}
		for _, k := range []string{"events", "filters", "headers"} {
			if wh[k] == nil {
				t.Errorf("%s is null", k)
			}
		}
	})
	invalid := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no url", map[string]any{"url": ""}, "url"},
		{"http url", map[string]any{"url": "http://example.com"}, "url"},
		{"relative url", map[string]any{"url": "/hook"}, "url"},
		{"empty pattern", map[string]any{"events": []string{""}}, "events[0]"},
		{"star in middle", map[string]any{"events": []string{"a.*.b"}}, "events[0]"},
		{"star suffix without dot", map[string]any{"events": []string{"a.b*"}}, "events[0]"},
		{"space in pattern", map[string]any{"events": []string{"ok", "a b"}}, "events[1]"},
		{"max_attempts 0", map[string]any{"max_attempts": 0}, "max_attempts"},
		{"max_attempts 21", map[string]any{"max_attempts": 21}, "max_attempts"},
		{"negative rate", map[string]any{"rate_limit_per_second": -1}, "rate_limit_per_second"},
		{"reserved header", map[string]any{"headers": map[string]string{"Host": "x"}}, "headers"},
		{"header with newline", map[string]any{"headers": map[string]string{"X-A": "a\r\nb"}}, "headers"},
		{"filters not object", map[string]any{"filters": []int{1}}, "filters"},
		{"empty filter name", map[string]any{"filters": map[string]any{"": 1}}, "filters"},
		{"events not array", map[string]any{"events": "order.*"}, "events"},
		{"max_attempts string", map[string]any{"max_attempts": "3"}, "max_attempts"},
	}
	for _, tt := range invalid {
		t.Run("Invalid/"+tt.name, func(t *testing.T) {
			t.Parallel()
			if _, ok := tt.body["url"]; !ok {
				tt.body["url"] = "https://example.com/h"
			}
			e.do("POST", "/v1/webhooks", e.writer, tt.body).wantProblem(t, http.StatusBadRequest, tt.field)
		})
	}
	t.Run("Several errors at once", func(t *testing.T) {
		t.Parallel()
		p := e.do("POST", "/v1/webhooks", e.writer, map[string]any{"url": "ftp://x", "max_attempts": 99}).
			wantProblem(t, http.StatusBadRequest, "url", "max_attempts")
		if len(p.Errors) != 2 {
			t.Errorf("errors %v", p.Errors)
		}
	})
}

func TestWebhookInsecureURLs(t *testing.T) { onBackends(t, testWebhookInsecureURLs) }

func testWebhookInsecureURLs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.AllowInsecureURLs = true })
	e.webhook(e.writer, map[string]any{"url": "http://127.0.0.1:9/h"})
}

func TestWebhookListFilters(t *testing.T) { onBackends(t, testWebhookListFilters) }

func testWebhookListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.webhook(e.writer, map[string]any{"owner_id": "a"})
	b := e.webhook(e.writer, map[string]any{"owner_id": "b"})
	e.do("PATCH", "/v1/webhooks/"+b["id"].(string), e.writer, map[string]any{"active": false}).want(t, 200)
	ids := func(path string) []string {
		var l listResponse[map[string]any]
		e.do("GET", path, e.read, nil).want(t, 200).json(t, &l)
		var out []string
		for _, w := range l.Data {
			out = append(out, w["id"].(string))
			if _, ok := w["secret"]; ok {
				t.Errorf("list shows a secret")
			}
		}
		return out
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/v1/webhooks", []string{a["id"].(string)}},
		{"/v1/webhooks?include_inactive=true", []string{b["id"].(string), a["id"].(string)}},
		{"/v1/webhooks?include_inactive=true&owner_id=b", []string{b["id"].(string)}},
		{"/v1/webhooks?owner_id=b", nil},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, ids(tt.path)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.path, d)
		}
	}
	e.do("GET", "/v1/webhooks?include_inactive=maybe", e.read, nil).wantProblem(t, 400, "include_inactive")
}

func TestWebhookUpdate(t *testing.T) { onBackends(t, testWebhookUpdate) }

func testWebhookUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.webhook(e.writer, map[string]any{"events": []string{"a"}, "description": "keep"})
	path := "/v1/webhooks/" + wh["id"].(string)

	got := e.do("PATCH", path, e.writer, map[string]any{"url": "https://example.org/new", "events": []string{"b.*"}, "max_attempts": 2}).want(t, 200).obj(t)
	if got["url"] != "https://example.org/new" || got["description"] != "keep" || got["max_attempts"] != float64(2) ||
		cmp.Diff([]any{"b.*"}, got["events"]) != "" {
		t.Errorf("patched %v", got)
	}
	if _, ok := got["secret"]; ok {
		t.Error("PATCH shows the secret")
	}
	e.do("PATCH", path, e.writer, map[string]any{"max_attempts": 0}).wantProblem(t, 400, "max_attempts")
	e.do("PATCH", path, e.writer, map[string]any{"url": "http://x"}).wantProblem(t, 400, "url")
	e.do("PATCH", path, e.writer, map[string]any{"secret": "whsec_x"}).wantProblem(t, 400, "secret")
	e.do("PATCH", path, e.writer, map[string]any{"active": "no"}).wantProblem(t, 400, "active")

	// Deactivating does not wake; reactivating does.
	before := e.wakes.Load()
	e.do("PATCH", path, e.writer, map[string]any{"active": false}).want(t, 200)
	if e.wakes.Load() != before {
		t.Error("deactivation woke the engine")
	}
	got = e.do("PATCH", path, e.writer, map[string]any{"active": true}).want(t, 200).obj(t)
	if got["active"] != true || e.wakes.Load() != before+1 {
		t.Errorf("reactivation: %v, wakes %d", got["active"], e.wakes.Load()-before)
	}
	// Patching an active webhook does not wake.
	e.do("PATCH", path, e.writer, map[string]any{"active": true}).want(t, 200)
	if e.wakes.Load() != before+1 {
		t.Error("no-op activation woke the engine")
	}
	e.do("GET", path, e.read, nil).want(t, 200)
	e.do("DELETE", path, e.writer, nil).want(t, 204)
	e.do("GET", path, e.read, nil).wantProblem(t, 404)
	e.do("DELETE", path, e.writer, nil).wantProblem(t, 404)
}

func TestWebhookRotateSecret(t *testing.T) { onBackends(t, testWebhookRotateSecret) }

func testWebhookRotateSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		body  any
		grace time.Duration
	}{
		{"DefaultGrace", nil, 86400 * time.Second},
		{"EmptyObject", map[string]any{}, 86400 * time.Second},
		{"Grace60", map[string]any{"grace_seconds": 60}, 60 * time.Second},
		{"GraceZero", map[string]any{"grace_seconds": 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wh := e.webhook(e.writer, nil)
			id := wh["id"].(string)
			old := wh["secret"].(string)
			before := time.Unix(e.clock.Load(), 0)
			r := e.do("POST", "/v1/webhooks/"+id+"/rotate-secret", e.writer, tt.body).want(t, 200)
			got := r.obj(t)
			secret, _ := got["secret"].(string)
			if !strings.HasPrefix(secret, "whsec_") || secret == old || got["id"] != id {
				t.Fatalf("rotated %v (old %s)", got, old)
			}
			st, err := e.store.WebhookGet(ctx, e.ws.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Secret != secret {
				t.Error("store does not have the new secret")
			}
			after := time.Unix(e.clock.Load(), 0)
			if tt.grace == 0 {
				if st.PreviousSecret != "" || st.PreviousSecretExpiresAt != nil {
					t.Errorf("grace 0 kept the previous secret until %v", st.PreviousSecretExpiresAt)
				}
				if cmp.Diff([]string{secret}, st.Secrets(after)) != "" {
					t.Error("old secret still signs")
				}
				return
			}
			// The rotation read the clock once, between before and after.
			exp := st.PreviousSecretExpiresAt
			if st.PreviousSecret != old || exp == nil || !exp.After(before.Add(tt.grace)) || exp.After(after.Add(tt.grace)) {
				t.Fatalf("previous %q until %v, want %q until (%v, %v]", st.PreviousSecret, exp, old, before.Add(tt.grace), after.Add(tt.grace))
			}
			if cmp.Diff([]string{secret, old}, st.Secrets(exp.Add(-time.Second))) != "" {
				t.Error("old secret does not sign during the grace")
			}
			if cmp.Diff([]string{secret}, st.Secrets(*exp)) != "" {
				t.Error("old secret signs after the grace")
			}
			// GET never shows a secret.
			if g := e.do("GET", "/v1/webhooks/"+id, e.read, nil).want(t, 200); strings.Contains(string(g.body), "whsec_") {
				t.Errorf("GET shows a secret: %s", g.body)
			}
		})
	}
	for _, g := range []any{-1, 30*24*3600 + 1, "60"} {
		wh := e.webhook(e.writer, nil)
		e.do("POST", "/v1/webhooks/"+wh["id"].(string)+"/rotate-secret", e.writer, map[string]any{"grace_seconds": g}).
			wantProblem(t, 400, "grace_seconds")
	}
}

func TestWebhookDeliveries(t *testing.T) { onBackends(t, testWebhookDeliveries) }

func testWebhookDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.webhook(e.writer, map[string]any{"events": []string{"order.*"}})
	id := wh["id"].(string)
	e.publish(e.writer, "order.created", map[string]any{})
	e.publish(e.writer, "order.paid", map[string]any{})
	e.publish(e.writer, "user.created", map[string]any{}) // no match

	var l listResponse[map[string]any]
	e.do("GET", "/v1/webhooks/"+id+"/deliveries", e.read, nil).want(t, 200).json(t, &l)
	if l.Total != 2 || len(l.Data) != 2 || l.Data[0]["event_type"] != "order.paid" {
		t.Errorf("deliveries %+v", l)
	}
	e.do("GET", "/v1/webhooks/"+id+"/deliveries?event_type=order.created&status=pending", e.read, nil).want(t, 200).json(t, &l)
	if l.Total != 1 || l.Data[0]["event_type"] != "order.created" {
		t.Errorf("filtered %+v", l)
	}
	e.do("GET", "/v1/webhooks/"+id+"/deliveries?status=delivered", e.read, nil).want(t, 200).json(t, &l)
	if l.Total != 0 || l.Data == nil {
		t.Errorf("delivered %+v", l)
	}
	e.do("GET", "/v1/webhooks/"+id+"/deliveries?status=bogus", e.read, nil).wantProblem(t, 400, "status")
	e.do("GET", "/v1/webhooks/wh_nope/deliveries", e.read, nil).wantProblem(t, 404)
	e.do("GET", "/v1/webhooks/wh_nope/deliveries/summary", e.read, nil).wantProblem(t, 404)

	var sum map[string]int
	e.do("GET", "/v1/webhooks/"+id+"/deliveries/summary", e.read, nil).want(t, 200).json(t, &sum)
	want := map[string]int{"total": 2, "pending": 2, "processing": 0, "delivered": 0, "failed": 0, "dead": 0}
	if d := cmp.Diff(want, sum); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}
}
