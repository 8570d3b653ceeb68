package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// logLines decodes a JSON log.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestPanicRecovery: a panic becomes a 500 problem that tells nothing, and
// the log has the panic with the request id.
func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	s := &Server{log: slog.New(slog.NewJSONHandler(logs, nil))}
	h := s.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Leak", "yes")
		panic("secret-detail whsec_zzz")
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v1/x", nil)
	req.Header.Set(requestIDHeader, "req-123")
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	r := response{Response: resp, body: rec.Body.Bytes()}
	r.Request = req
	p := r.wantProblem(t, 500)
	if p.Detail != "internal error" || strings.Contains(rec.Body.String(), "secret") || resp.Header.Get("X-Leak") != "" {
		t.Errorf("answer leaks: %s %v", rec.Body.String(), resp.Header)
	}
	if resp.Header.Get(requestIDHeader) != "req-123" {
		t.Errorf("request id %q", resp.Header.Get(requestIDHeader))
	}
	var panicked, accessed bool
	for _, l := range logLines(t, logs.String()) {
		if l["msg"] == "panic serving request" && l["request_id"] == "req-123" && strings.Contains(l["panic"].(string), "secret-detail") && l["stack"] != "" {
			panicked = true
		}
		if l["msg"] == "request" && l["status"] == float64(500) && l["level"] == "ERROR" {
			accessed = true
		}
	}
	if !panicked || !accessed {
		t.Errorf("log lacks the panic or the access line:\n%s", logs.String())
	}

	// A panic after the answer began cuts the connection instead.
	h = s.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		panic("late")
	}))
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("late panic re-raised %v, want http.ErrAbortHandler", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
}

// failingStore is the real store with one method broken, to see how an
// unexpected error is answered.
type failingStore struct {
	hookd.Store
}

func (failingStore) WebhookList(context.Context, hookd.WebhookFilter) ([]hookd.Webhook, int, error) {
	return nil, 0, fmt.Errorf("sqlite: disk I/O error at /var/lib/hookd/hookd.db")
}

func (failingStore) Ping(context.Context) error { return errors.New("database is locked") }

// TestInternalError: an error that is not a *hookd.Error reaches the client
// as "internal error" and the log with its text and the request id.
func TestInternalError(t *testing.T) { onBackends(t, testInternalError) }

func testInternalError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := New(Config{Store: failingStore{e.store}, Logger: slog.New(slog.NewJSONHandler(e.logs, nil))})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	e.srv = srv
	r := e.do("GET", "/v1/webhooks", e.read, nil, requestIDHeader, "rid-internal")
	p := r.wantProblem(t, 500)
	if p.Detail != "internal error" || strings.Contains(string(r.body), "sqlite") {
		t.Errorf("answer leaks: %s", r.body)
	}
	found := false
	for _, l := range logLines(t, e.logs.String()) {
		if l["request_id"] == "rid-internal" && strings.Contains(fmt.Sprint(l["error"]), "disk I/O error") {
			found = true
		}
	}
	if !found {
		t.Errorf("error not logged with the request id:\n%s", e.logs.String())
	}
	// Readiness follows Ping by default, and says nothing of the cause.
	r = e.do("GET", "/readyz", "", nil)
	if p := r.wantProblem(t, 503); strings.Contains(p.Detail, "locked") {
		t.Errorf("readyz leaks %q", p.Detail)
	}
}

func TestRequestID(t *testing.T) { onBackends(t, testRequestID) }

func testRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, in string
		keep     bool
	}{
		{"Kept", "0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"KeptDotted", "trace.1:2_3", true},
		{"Missing", "", false},
		{"TooLong", strings.Repeat("a", 129), false},
		{"Spaces", "a b", false},
		{"Injection", `x","level":"ERROR`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hdr []string
			if tt.in != "" {
				hdr = []string{requestIDHeader, tt.in}
			}
			got := e.do("GET", "/healthz", "", nil, hdr...).want(t, 200).Header.Get(requestIDHeader)
			if tt.keep && got != tt.in {
				t.Errorf("id %q, want %q", got, tt.in)
			}
			if !tt.keep && (got == tt.in || !validRequestID(got) || len(got) != 24) {
				t.Errorf("id %q for incoming %q", got, tt.in)
			}
		})
	}
}

// TestAccessLog: the level follows the status, and 2xx lines exist only at
// debug.
func TestAccessLog(t *testing.T) { onBackends(t, testAccessLog) }

func testAccessLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do("GET", "/healthz", "", nil, requestIDHeader, "ok-1").want(t, 200)
	e.do("GET", "/v1/webhooks", "", nil, requestIDHeader, "unauth-1").want(t, 401)
	e.do("POST", "/hooks/wht_supersecret", "", nil).want(t, 401) // the inbound handler: unknown token
	if strings.Contains(e.logs.String(), "wht_supersecret") {
		t.Error("a trigger token reached the log")
	}
	levels := map[string]string{}
	for _, l := range logLines(t, e.logs.String()) {
		if l["msg"] == "request" {
			levels[fmt.Sprint(l["request_id"])] = fmt.Sprint(l["level"])
		}
	}
	if levels["ok-1"] != "DEBUG" || levels["unauth-1"] != "WARN" {
		t.Errorf("levels %v", levels)
	}

	// At info level a 2xx costs no log line at all.
	logs := &syncBuffer{}
	s := New(Config{Store: e.store, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || logs.String() != "" {
		t.Errorf("status %d, log %q", rec.Code, logs.String())
	}
}

// TestSecretsStayHidden: webhook secrets and API keys appear only in the
// answers that create them, never in reads and never in the log.
func TestSecretsStayHidden(t *testing.T) { onBackends(t, testSecretsStayHidden) }

func testSecretsStayHidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.webhook(e.writer, map[string]any{"headers": map[string]string{"Authorization": "Bearer downstream-token"}})
	id := wh["id"].(string)
	rotated := e.do("POST", "/v1/webhooks/"+id+"/rotate-secret", e.writer, nil).want(t, 200).obj(t)
	key := e.do("POST", "/v1/api-keys", e.admin, map[string]any{"scopes": []string{"read"}}).want(t, 201).obj(t)
	ws := e.do("POST", "/v1/workspaces", e.operator, map[string]any{"name": "w2"}).want(t, 201).obj(t)
	secrets := []string{wh["secret"].(string), rotated["secret"].(string), key["key"].(string), ws["api_key"].(string),
		e.admin, e.writer, e.read, e.operator, "downstream-token"}

	reads := []string{"/v1/webhooks/" + id, "/v1/webhooks?include_inactive=true", "/v1/api-keys", "/v1/workspaces"}
	for _, path := range reads {
		body := string(e.do("GET", path, e.operator, nil).want(t, 200).body)
		if strings.Contains(body, "whsec_") || strings.Contains(body, `"secret"`) || strings.Contains(body, `"key"`) {
			t.Errorf("GET %s shows a secret: %s", path, body)
		}
	}
	// Errors on the way log too; make a few.
	e.do("POST", "/v1/webhooks", "hk_wrong", nil).want(t, 401)
	e.do("PATCH", "/v1/webhooks/"+id, e.writer, map[string]any{"url": "http://user:pw@x"}).want(t, 400)
	logs := e.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatal("no access log captured")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log contains secret %q", s[:8])
		}
	}
}

func TestHealthReadyMetrics(t *testing.T) { onBackends(t, testHealthReadyMetrics) }

func testHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "hookd_test_total", Help: "t"})
	reg.MustRegister(c)
	c.Add(3)
	var ready atomic.Pointer[error]
	e := newEnv(t, func(cfg *Config) {
		cfg.Gatherer = reg
		cfg.Ready = func(context.Context) error {
			if p := ready.Load(); p != nil {
				return *p
			}
			return nil
		}
	})
	h := e.do("GET", "/healthz", "", nil).want(t, 200).obj(t)
	if h["status"] != "ok" || h["version"] != hookd.Version {
		t.Errorf("healthz %v", h)
	}
	e.do("GET", "/readyz", "", nil).want(t, 200)
	m := e.do("GET", "/metrics", "", nil).want(t, 200)
	if !strings.Contains(string(m.body), "hookd_test_total 3") {
		t.Errorf("metrics:\n%s", m.body)
	}
	draining := errors.New("draining")
	ready.Store(&draining)
	e.do("GET", "/readyz", "", nil).wantProblem(t, 503)
}

func TestEventsPublishedMetric(t *testing.T) { onBackends(t, testEventsPublishedMetric) }

func testEventsPublishedMetric(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	e := newEnv(t, func(cfg *Config) { cfg.Metrics = m })
	e.publish(e.writer, "a", map[string]any{})
	e.do("POST", "/v1/events", e.writer, map[string]any{"type": "a"}, "Idempotency-Key", "k").want(t, 202)
	e.do("POST", "/v1/events", e.writer, map[string]any{"type": "a"}, "Idempotency-Key", "k").want(t, 202) // replay: not counted
	body := string(e.do("GET", "/metrics", "", nil).want(t, 200).body)
	if !strings.Contains(body, "hookd_events_published_total 2") {
		t.Errorf("metrics (Gatherer defaults to Metrics.Registry):\n%s", body)
	}
}
