package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/hookd/hookd/client"
)

func TestPublishEventIdempotencyKey(t *testing.T) {
	t.Parallel()
	c, s := fake(t, 202, `{"id":"evt_1","type":"t","deliveries":[]}`)
	if _, err := c.PublishEvent(context.Background(), "t", json.RawMessage(`{"x":true}`), "", "key-1"); err != nil {
		t.Fatal(err)
	}
	if s.idem != "key-1" {
		t.Errorf("Idempotency-Key %q", s.idem)
	}
	if !jsonEq(t, s.body, `{"type":"t","data":{"x":true},"idempotency_key":"key-1"}`) {
		t.Errorf("body %s", s.body)
	}
}

func TestWithUserAgent(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"`+r.Header.Get("User-Agent")+`"}`)
	}))
	t.Cleanup(srv.Close)
	h, err := client.New(srv.URL, "", client.WithUserAgent("mine/2"), client.WithHTTPClient(srv.Client())).Health(context.Background())
	if err != nil || h.Status != "mine/2" {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestCreateWorkspace(t *testing.T) {
	t.Parallel()
	const ts = `"created_at":"2025-01-02T03:04:05Z"`
	tests := []struct {
		name, answer string
		wantKey      client.APIKey
	}{
		{"Flat", `{"id":"ws_1","name":"acme",` + ts + `,"api_key":"hk_new"}`, client.APIKey{WorkspaceID: "ws_1", Key: "hk_new"}},
		{"Nested", `{"workspace":{"id":"ws_1","name":"acme",` + ts + `},"api_key":{"id":"key_1","workspace_id":"ws_1","scopes":["admin"],"key":"hk_new"}}`,
			client.APIKey{ID: "key_1", WorkspaceID: "ws_1", Scopes: []string{"admin"}, Key: "hk_new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, s := fake(t, 201, tt.answer)
			ws, key, err := c.CreateWorkspace(context.Background(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			if s.method != "POST" || s.path != "/v1/workspaces" || !jsonEq(t, s.body, `{"name":"acme"}`) {
				t.Errorf("request %s %s %s", s.method, s.path, s.body)
			}
			if ws.ID != "ws_1" || ws.Name != "acme" || ws.CreatedAt.IsZero() {
				t.Errorf("workspace %+v", ws)
			}
			if !reflect.DeepEqual(*key, tt.wantKey) {
				t.Errorf("key %+v, want %+v", *key, tt.wantKey)
			}
		})
	}
}

func TestCallTrigger(t *testing.T) {
	t.Parallel()
	type got struct{ method, path, auth, ctype, sig, body string }
	var g got
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g = got{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get("X-Webhook-Signature"), string(b)}
		switch strings.TrimPrefix(r.URL.Path, "/hooks/") {
		case "wht_async":
			w.WriteHeader(202)
			_, _ = io.WriteString(w, `{"success":true,"execution_id":"exe_1","status":"queued"}`)
		case "wht_fail":
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `{"success":false,"execution_id":"exe_2","status":"failed","reason":"boom"}`)
		case "wht_broken":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `{"title":"Internal Server Error","detail":"internal error"}`)
		case "wht_limited":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(429)
		default:
			w.WriteHeader(401)
		}
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, testKey, client.WithHTTPClient(srv.Client()))
	ctx := context.Background()

	// The subtests run in turn, not in parallel: they share g.
	t.Run("OKByToken", func(t *testing.T) {
		r, err := c.CallTrigger(ctx, "wht_async", []byte(`{"a":1}`), http.Header{"X-Webhook-Signature": {"sha256=00"}})
		if err != nil {
			t.Fatal(err)
		}
		want := client.TriggerResponse{Success: true, ExecutionID: "exe_1", Status: "queued", HTTPStatus: 202}
		if !reflect.DeepEqual(*r, want) {
			t.Errorf("got %+v", *r)
		}
		if g != (got{"POST", "/hooks/wht_async", "", "application/json", "sha256=00", `{"a":1}`}) {
			t.Errorf("request %+v", g)
		}
	})
	t.Run("OKByURLEmptyBody", func(t *testing.T) {
		r, err := c.CallTrigger(ctx, srv.URL+"/hooks/wht_async", nil, nil)
		if err != nil || r.ExecutionID != "exe_1" {
			t.Fatalf("%+v %v", r, err)
		}
		if g.path != "/hooks/wht_async" || g.ctype != "" || g.body != "" || g.auth != "" {
			t.Errorf("request %+v", g)
		}
	})
	t.Run("FailedRunIsAnAnswer", func(t *testing.T) {
		r, err := c.CallTrigger(ctx, "wht_fail", []byte(`{}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Success || r.Reason != "boom" || r.HTTPStatus != 500 || r.ExecutionID != "exe_2" {
			t.Errorf("got %+v", *r)
		}
	})
	t.Run("ErrInternal", func(t *testing.T) {
		_, err := c.CallTrigger(ctx, "wht_broken", nil, nil)
		if client.StatusCode(err) != 500 || err.Error() != "500 Internal Server Error: internal error" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		_, err := c.CallTrigger(ctx, "wht_unknown", nil, nil)
		if !client.IsUnauthorized(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("ErrRateLimited", func(t *testing.T) {
		_, err := c.CallTrigger(ctx, "wht_limited", nil, nil)
		var e *client.Error
		if !errors.As(err, &e) || !client.IsRateLimited(err) || e.RetryAfter.Seconds() != 3 {
			t.Fatalf("err %#v", err)
		}
	})
}

func TestCallTriggerRedactsToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := client.New(url, testKey).CallTrigger(context.Background(), "wht_supersecrettoken", nil, nil)
	if err == nil || strings.Contains(err.Error(), "supersecret") {
		t.Fatalf("err %v", err)
	}
}
