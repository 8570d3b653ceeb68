package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/hookd/hookd/client"
)

const testKey = "hk_test"

// seen is what the fake server received.
type seen struct {
	method, path, query, auth, ua, idem, ctype string
	body                                       string
}

// fake answers every request with status and body, recording what it got.
// When the request has no valid bearer key and needAuth is set it answers 401
// as the server does.
func fake(t *testing.T, status int, body string) (*client.Client, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*s = seen{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, auth: r.Header.Get("Authorization"),
			ua: r.Header.Get("User-Agent"), idem: r.Header.Get("Idempotency-Key"), ctype: r.Header.Get("Content-Type"), body: string(b)}
		if status >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return client.New(srv.URL+"/", testKey, client.WithHTTPClient(srv.Client())), s
}

// jsonEq reports whether a and b hold the same JSON value.
func jsonEq(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("bad JSON %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("bad JSON %q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func pt[T any](v T) *T { return &v }

func TestRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name       string
		call       func(c *client.Client) (any, error)
		method     string
		path       string
		query      string
		body       string // expected JSON body; "" means none
		status     int
		answer     string
		want       any // compared with the call's result when not nil
		noAuth     bool
		wantCtypeJ bool
	}{
		{
			name: "CreateWebhook",
			call: func(c *client.Client) (any, error) {
				return c.CreateWebhook(ctx, client.WebhookCreate{URL: "https://x.test/h", Events: []string{"job.*"}, OwnerID: "bot", MaxAttempts: 3, Filters: map[string]any{"job_id": "job_1"}})
			},
			method: "POST", path: "/v1/webhooks",
			body:   `{"url":"https://x.test/h","events":["job.*"],"filters":{"job_id":"job_1"},"owner_id":"bot","max_attempts":3}`,
			status: 201, answer: `{"id":"wh_1","url":"https://x.test/h","events":["job.*"],"active":true,"max_attempts":3,"secret":"whsec_abc","created_at":"2025-01-02T03:04:05Z"}`,
			want: &client.Webhook{ID: "wh_1", URL: "https://x.test/h", Events: []string{"job.*"}, Active: true, MaxAttempts: 3, Secret: "whsec_abc",
				CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
		},
		{
			name: "ListWebhooks",
			call: func(c *client.Client) (any, error) {
				return c.ListWebhooks(ctx, client.WebhookFilter{OwnerID: "bot 1", IncludeInactive: true, Limit: 5, Offset: 10})
			},
			method: "GET", path: "/v1/webhooks", query: "include_inactive=true&limit=5&offset=10&owner_id=bot+1",
			status: 200, answer: `{"data":[{"id":"wh_2"},{"id":"wh_1"}],"total":12,"limit":5,"offset":10}`,
			want: &client.List[client.Webhook]{Data: []client.Webhook{{ID: "wh_2"}, {ID: "wh_1"}}, Total: 12, Limit: 5, Offset: 10},
		},
		{
			name:   "ListWebhooksDefaults",
			call:   func(c *client.Client) (any, error) { return c.ListWebhooks(ctx, client.WebhookFilter{}) },
			method: "GET", path: "/v1/webhooks", status: 200, answer: `{"data":[],"total":0,"limit":20,"offset":0}`,
		},
		{
			name:   "GetWebhook",
			call:   func(c *client.Client) (any, error) { return c.GetWebhook(ctx, "wh_1") },
			method: "GET", path: "/v1/webhooks/wh_1", status: 200, answer: `{"id":"wh_1","headers":{"X-A":"b"}}`,
			want: &client.Webhook{ID: "wh_1", Headers: map[string]string{"X-A": "b"}},
		},
		{
			name:   "GetWebhookEscapesID",
			call:   func(c *client.Client) (any, error) { return c.GetWebhook(ctx, "../v1/jobs") },
			method: "GET", path: "/v1/webhooks/..%2Fv1%2Fjobs", status: 200, answer: `{"id":"x"}`,
		},
		{
			name: "UpdateWebhookOnlySetFields",
			call: func(c *client.Client) (any, error) {
				return c.UpdateWebhook(ctx, "wh_1", client.WebhookUpdate{Active: pt(false), Events: &[]string{}, MaxAttempts: pt(0)})
			},
			method: "PATCH", path: "/v1/webhooks/wh_1", body: `{"active":false,"events":[],"max_attempts":0}`,
			status: 200, answer: `{"id":"wh_1","active":false}`,
		},
		{
			name:   "DeleteWebhook",
			call:   func(c *client.Client) (any, error) { return nil, c.DeleteWebhook(ctx, "wh_1") },
			method: "DELETE", path: "/v1/webhooks/wh_1", status: 204,
		},
		{
			name:   "RotateWebhookSecretDefault",
			call:   func(c *client.Client) (any, error) { return c.RotateWebhookSecret(ctx, "wh_1", client.DefaultGrace) },
			method: "POST", path: "/v1/webhooks/wh_1/rotate-secret", body: `{}`, status: 200, answer: `{"id":"wh_1","secret":"whsec_new"}`,
			want: &client.Webhook{ID: "wh_1", Secret: "whsec_new"},
		},
		{
			name:   "RotateWebhookSecretNoGrace",
			call:   func(c *client.Client) (any, error) { return c.RotateWebhookSecret(ctx, "wh_1", 0) },
			method: "POST", path: "/v1/webhooks/wh_1/rotate-secret", body: `{"grace_seconds":0}`, status: 200, answer: `{"id":"wh_1"}`,
		},
		{
			name: "ListWebhookDeliveries",
			call: func(c *client.Client) (any, error) {
				return c.ListWebhookDeliveries(ctx, "wh_1", client.DeliveryFilter{Status: "failed", EventType: "job.failed", Limit: 2})
			},
			method: "GET", path: "/v1/webhooks/wh_1/deliveries", query: "event_type=job.failed&limit=2&status=failed",
			status: 200, answer: `{"data":[{"id":"dlv_1","status":"failed","attempts":8,"auto_attempts":8,"last_status_code":503,"last_error":"boom"}],"total":1,"limit":2,"offset":0}`,
			want: &client.List[client.Delivery]{Data: []client.Delivery{{ID: "dlv_1", Status: "failed", Attempts: 8, AutoAttempts: 8, LastStatusCode: 503, LastError: "boom"}}, Total: 1, Limit: 2},
		},
		{
			name:   "WebhookDeliverySummary",
			call:   func(c *client.Client) (any, error) { return c.WebhookDeliverySummary(ctx, "wh_1") },
			method: "GET", path: "/v1/webhooks/wh_1/deliveries/summary", status: 200,
			answer: `{"total":6,"pending":1,"processing":1,"delivered":2,"failed":1,"dead":1}`,
			want:   &client.DeliverySummary{Total: 6, Pending: 1, Processing: 1, Delivered: 2, Failed: 1, Dead: 1},
		},
		{
			name:   "GetDelivery",
			call:   func(c *client.Client) (any, error) { return c.GetDelivery(ctx, "dlv_1") },
			method: "GET", path: "/v1/deliveries/dlv_1", status: 200,
			answer: `{"id":"dlv_1","next_attempt_at":"2025-01-02T03:04:05Z","attempt_list":[{"id":"att_1","number":1,"status_code":500,"duration_ms":12,"manual":true}]}`,
			want: &client.Delivery{ID: "dlv_1", NextAttemptAt: pt(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
				AttemptList: []client.Attempt{{ID: "att_1", Number: 1, StatusCode: 500, DurationMS: 12, Manual: true}}},
		},
		{
			name:   "RetryDelivery",
			call:   func(c *client.Client) (any, error) { return c.RetryDelivery(ctx, "dlv_1") },
			method: "POST", path: "/v1/deliveries/dlv_1/retry", body: `{}`, status: 202, answer: `{"id":"dlv_1","status":"pending"}`,
			want: &client.Delivery{ID: "dlv_1", Status: "pending"},
		},
		{
			name: "PublishEvent",
			call: func(c *client.Client) (any, error) {
				return c.PublishEvent(ctx, "order.paid", map[string]any{"n": 1}, "shop", "")
			},
			method: "POST", path: "/v1/events", body: `{"type":"order.paid","data":{"n":1},"owner_id":"shop"}`,
			status: 202, answer: `{"id":"evt_1","type":"order.paid","timestamp":"2025-01-02T03:04:05Z","deliveries":["dlv_1","dlv_2"]}`,
			want: &client.Event{ID: "evt_1", Type: "order.paid", Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Deliveries: []string{"dlv_1", "dlv_2"}},
		},
		{
			name:   "PublishEventNilData",
			call:   func(c *client.Client) (any, error) { return c.PublishEvent(ctx, "ping", nil, "", "") },
			method: "POST", path: "/v1/events", body: `{"type":"ping","data":{}}`, status: 202, answer: `{"id":"evt_1"}`,
		},
		{
			name:   "GetEvent",
			call:   func(c *client.Client) (any, error) { return c.GetEvent(ctx, "evt_1") },
			method: "GET", path: "/v1/events/evt_1", status: 200, answer: `{"id":"evt_1","data":{"a":1},"deliveries":[]}`,
			want: &client.Event{ID: "evt_1", Data: json.RawMessage(`{"a":1}`), Deliveries: []string{}},
		},
		{
			name: "CreateTrigger",
			call: func(c *client.Client) (any, error) {
				return c.CreateTrigger(ctx, client.TriggerCreate{JobID: "job_1", Mode: "sync", GenerateSecret: true, Signature: "github", InputMapping: map[string]string{"pr": "body.number"}})
			},
			method: "POST", path: "/v1/triggers",
			body:   `{"job_id":"job_1","mode":"sync","input_mapping":{"pr":"body.number"},"signature":"github","generate_secret":true}`,
			status: 201, answer: `{"id":"trg_1","job_id":"job_1","token":"wht_abc","url":"http://h/hooks/wht_abc","secret":"s3","has_secret":true,"is_active":true}`,
			want: &client.Trigger{ID: "trg_1", JobID: "job_1", Token: "wht_abc", URL: "http://h/hooks/wht_abc", Secret: "s3", HasSecret: true, IsActive: true},
		},
		{
			name: "ListTriggers",
			call: func(c *client.Client) (any, error) {
				return c.ListTriggers(ctx, client.TriggerFilter{OwnerID: "o", JobID: "job_1", IncludeInactive: true})
			},
			method: "GET", path: "/v1/triggers", query: "include_inactive=true&job_id=job_1&owner_id=o", status: 200, answer: `{"data":[],"total":0,"limit":20,"offset":0}`,
		},
		{
			name:   "GetTrigger",
			call:   func(c *client.Client) (any, error) { return c.GetTrigger(ctx, "trg_1") },
			method: "GET", path: "/v1/triggers/trg_1", status: 200, answer: `{"id":"trg_1","token_prefix":"wht_abcd"}`,
			want: &client.Trigger{ID: "trg_1", TokenPrefix: "wht_abcd"},
		},
		{
			name: "UpdateTrigger",
			call: func(c *client.Client) (any, error) {
				return c.UpdateTrigger(ctx, "trg_1", client.TriggerUpdate{IsActive: pt(false)})
			},
			method: "PATCH", path: "/v1/triggers/trg_1", body: `{"is_active":false}`, status: 200, answer: `{"id":"trg_1"}`,
		},
		{
			name:   "DeleteTrigger",
			call:   func(c *client.Client) (any, error) { return nil, c.DeleteTrigger(ctx, "trg_1") },
			method: "DELETE", path: "/v1/triggers/trg_1", status: 204,
		},
		{
			name:   "RotateTriggerToken",
			call:   func(c *client.Client) (any, error) { return c.RotateTriggerToken(ctx, "trg_1", 60) },
			method: "POST", path: "/v1/triggers/trg_1/rotate-token", body: `{"grace_seconds":60}`, status: 200, answer: `{"id":"trg_1","token":"wht_new"}`,
			want: &client.Trigger{ID: "trg_1", Token: "wht_new"},
		},
		{
			name:   "RotateTriggerSecret",
			call:   func(c *client.Client) (any, error) { return c.RotateTriggerSecret(ctx, "trg_1", client.DefaultGrace) },
			method: "POST", path: "/v1/triggers/trg_1/rotate-secret", body: `{}`, status: 200, answer: `{"id":"trg_1","secret":"new"}`,
		},
		{
			name: "ListTriggerCalls",
			call: func(c *client.Client) (any, error) {
				return c.ListTriggerCalls(ctx, "trg_1", client.CallFilter{Disposition: "bad_signature"})
			},
			method: "GET", path: "/v1/triggers/trg_1/calls", query: "disposition=bad_signature", status: 200,
			answer: `{"data":[{"id":"call_1","disposition":"bad_signature","status_code":401,"ip":"1.2.3.4"}],"total":1,"limit":20,"offset":0}`,
			want:   &client.List[client.Call]{Data: []client.Call{{ID: "call_1", Disposition: "bad_signature", StatusCode: 401, IP: "1.2.3.4"}}, Total: 1, Limit: 20},
		},
		{
			name: "CreateJob",
			call: func(c *client.Client) (any, error) {
				return c.CreateJob(ctx, client.JobCreate{Name: "n", Kind: "event", Config: map[string]string{"type": "x"}, Schedule: &client.Schedule{Every: "1h"}})
			},
			method: "POST", path: "/v1/jobs", body: `{"name":"n","kind":"event","config":{"type":"x"},"schedule":{"every":"1h"}}`,
			status: 201, answer: `{"id":"job_1","name":"n","kind":"event","config":{"type":"x"},"concurrency":1,"timeout_seconds":600,"schedule":{"every":"1h"}}`,
			want: &client.Job{ID: "job_1", Name: "n", Kind: "event", Config: json.RawMessage(`{"type":"x"}`), Concurrency: 1, TimeoutSeconds: 600, Schedule: &client.Schedule{Every: "1h"}},
		},
		{
			name:   "ListJobs",
			call:   func(c *client.Client) (any, error) { return c.ListJobs(ctx, client.Page{Offset: 20}) },
			method: "GET", path: "/v1/jobs", query: "offset=20", status: 200, answer: `{"data":[{"id":"job_1"}],"total":21,"limit":20,"offset":20}`,
		},
		{
			name:   "GetJob",
			call:   func(c *client.Client) (any, error) { return c.GetJob(ctx, "job_1") },
			method: "GET", path: "/v1/jobs/job_1", status: 200, answer: `{"id":"job_1"}`,
		},
		{
			name: "UpdateJob",
			call: func(c *client.Client) (any, error) {
				return c.UpdateJob(ctx, "job_1", client.JobUpdate{Concurrency: pt(4)})
			},
			method: "PATCH", path: "/v1/jobs/job_1", body: `{"concurrency":4}`, status: 200, answer: `{"id":"job_1","concurrency":4}`,
		},
		{
			name:   "DeleteJob",
			call:   func(c *client.Client) (any, error) { return nil, c.DeleteJob(ctx, "job_1") },
			method: "DELETE", path: "/v1/jobs/job_1", status: 204,
		},
		{
			name:   "RunJobAsync",
			call:   func(c *client.Client) (any, error) { return c.RunJob(ctx, "job_1", map[string]int{"a": 1}, nil) },
			method: "POST", path: "/v1/jobs/job_1/run", body: `{"input":{"a":1}}`, status: 202,
			answer: `{"success":true,"execution_id":"exe_1","status":"queued"}`,
			want:   &client.TriggerResponse{Success: true, ExecutionID: "exe_1", Status: "queued", HTTPStatus: 202},
		},
		{
			name:   "RunJobWaitSucceeded",
			call:   func(c *client.Client) (any, error) { return c.RunJob(ctx, "job_1", nil, pt(5)) },
			method: "POST", path: "/v1/jobs/job_1/run", query: "wait=5", body: `{}`, status: 200,
			answer: `{"success":true,"execution_id":"exe_1","status":"succeeded","result":{"ok":true}}`,
			want:   &client.TriggerResponse{Success: true, ExecutionID: "exe_1", Status: "succeeded", Result: json.RawMessage(`{"ok":true}`), HTTPStatus: 200},
		},
		{
			name:   "RunJobWaitFailedIsAnAnswer",
			call:   func(c *client.Client) (any, error) { return c.RunJob(ctx, "job_1", nil, pt(5)) },
			method: "POST", path: "/v1/jobs/job_1/run", query: "wait=5", body: `{}`, status: 500,
			answer: `{"success":false,"execution_id":"exe_1","status":"failed","reason":"exit 1"}`,
			want:   &client.TriggerResponse{ExecutionID: "exe_1", Status: "failed", Reason: "exit 1", HTTPStatus: 500},
		},
		{
			name:   "RunJobExecutionAnswer",
			call:   func(c *client.Client) (any, error) { return c.RunJob(ctx, "job_1", nil, nil) },
			method: "POST", path: "/v1/jobs/job_1/run", body: `{}`, status: 202,
			answer: `{"id":"exe_9","job_id":"job_1","status":"queued","source":"api"}`,
			want:   &client.TriggerResponse{Success: true, ExecutionID: "exe_9", Status: "queued", HTTPStatus: 202},
		},
		{
			name: "ListExecutions",
			call: func(c *client.Client) (any, error) {
				return c.ListExecutions(ctx, client.ExecutionFilter{JobID: "job_1", TriggerID: "trg_1", Status: "failed", Source: "webhook", Limit: 1})
			},
			method: "GET", path: "/v1/executions", query: "job_id=job_1&limit=1&source=webhook&status=failed&trigger_id=trg_1", status: 200,
			answer: `{"data":[{"id":"exe_1","status":"failed","reason":"x","duration_ms":5}],"total":1,"limit":1,"offset":0}`,
			want:   &client.List[client.Execution]{Data: []client.Execution{{ID: "exe_1", Status: "failed", Reason: "x", DurationMS: 5}}, Total: 1, Limit: 1},
		},
		{
			name:   "GetExecution",
			call:   func(c *client.Client) (any, error) { return c.GetExecution(ctx, "exe_1") },
			method: "GET", path: "/v1/executions/exe_1", status: 200, answer: `{"id":"exe_1","input":{"a":1},"result":[1]}`,
			want: &client.Execution{ID: "exe_1", Input: json.RawMessage(`{"a":1}`), Result: json.RawMessage(`[1]`)},
		},
		{
			name: "CreateAPIKey",
			call: func(c *client.Client) (any, error) {
				return c.CreateAPIKey(ctx, client.APIKeyCreate{Name: "ci", Scopes: []string{"read"}})
			},
			method: "POST", path: "/v1/api-keys", body: `{"name":"ci","scopes":["read"]}`, status: 201,
			answer: `{"id":"key_1","name":"ci","scopes":["read"],"key":"hk_secret","prefix":"hk_secre"}`,
			want:   &client.APIKey{ID: "key_1", Name: "ci", Scopes: []string{"read"}, Key: "hk_secret", Prefix: "hk_secre"},
		},
		{
			name:   "ListAPIKeys",
			call:   func(c *client.Client) (any, error) { return c.ListAPIKeys(ctx, client.Page{Limit: 100}) },
			method: "GET", path: "/v1/api-keys", query: "limit=100", status: 200, answer: `{"data":[],"total":0,"limit":100,"offset":0}`,
		},
		{
			name:   "DeleteAPIKey",
			call:   func(c *client.Client) (any, error) { return nil, c.DeleteAPIKey(ctx, "key_1") },
			method: "DELETE", path: "/v1/api-keys/key_1", status: 204,
		},
		{
			name:   "ListWorkspaces",
			call:   func(c *client.Client) (any, error) { return c.ListWorkspaces(ctx, client.Page{}) },
			method: "GET", path: "/v1/workspaces", status: 200, answer: `{"data":[{"id":"ws_1","name":"default"}],"total":1,"limit":20,"offset":0}`,
			want: &client.List[client.Workspace]{Data: []client.Workspace{{ID: "ws_1", Name: "default"}}, Total: 1, Limit: 20},
		},
		{
			name:   "Health",
			call:   func(c *client.Client) (any, error) { return c.Health(ctx) },
			method: "GET", path: "/healthz", status: 200, answer: `{"status":"ok","version":"0.1.0"}`, noAuth: true,
			want: &client.Health{Status: "ok", Version: "0.1.0"},
		},
		{
			name:   "ReadyText",
			call:   func(c *client.Client) (any, error) { return c.Ready(ctx) },
			method: "GET", path: "/readyz", status: 200, answer: "ok\n", noAuth: true,
			want: &client.Health{Status: "ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, s := fake(t, tt.status, tt.answer)
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if s.method != tt.method || s.path != tt.path || s.query != tt.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", s.method, s.path, s.query, tt.method, tt.path, tt.query)
			}
			wantAuth := "Bearer " + testKey
			if tt.noAuth {
				wantAuth = ""
			}
			if s.auth != wantAuth {
				t.Errorf("Authorization %q, want %q", s.auth, wantAuth)
			}
			if s.ua != client.DefaultUserAgent {
				t.Errorf("User-Agent %q", s.ua)
			}
			switch {
			case tt.body == "" && s.body != "":
				t.Errorf("body %s, want none", s.body)
			case tt.body != "":
				if !jsonEq(t, s.body, tt.body) {
					t.Errorf("body %s, want %s", s.body, tt.body)
				}
				if s.ctype != "application/json" {
					t.Errorf("Content-Type %q", s.ctype)
				}
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
