package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/trigger"
)

// stubRunner stands in for the job engine (the store stays real). Wait
// claims the queued executions through the store and, when finish is set,
// finishes each with what finish returns; then it answers the execution's
// state. Without finish nothing runs and Wait answers the current state.
type stubRunner struct {
	e      *env
	wakes  atomic.Int64
	waits  atomic.Int64
	finish func(c hookd.ClaimedExecution) (status string, result json.RawMessage, reason string)
}

func (r *stubRunner) Wake() { r.wakes.Add(1) }

func (r *stubRunner) Wait(ctx context.Context, workspaceID, executionID string) (*hookd.Execution, error) {
	r.waits.Add(1)
	if r.finish != nil {
		claimed, err := r.e.store.ExecutionsClaim(ctx, hookd.ExecClaimParams{Now: r.e.now(), Limit: 100, Lease: time.Minute, Owner: "stub"})
		if err != nil {
			return nil, err
		}
		for _, c := range claimed {
			st, res, reason := r.finish(c)
			if _, err := r.e.store.ExecutionFinish(ctx, hookd.ExecFinishParams{WorkspaceID: c.WorkspaceID, ID: c.ID,
				Status: st, Result: res, Reason: reason, Now: r.e.now()}); err != nil {
				return nil, err
			}
		}
	}
	return r.e.store.ExecutionGet(ctx, workspaceID, executionID)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one server on a fresh store (SQLite or PostgreSQL: see onBackends),
// with two workspaces: "main" (operator, admin, write and read keys) and
// "other" (an admin key).
type env struct {
	t     *testing.T
	store testStore
	api   *Server
	srv   *httptest.Server
	logs  *syncBuffer
	wakes atomic.Int64
	clock atomic.Int64 // unix seconds; every call of now advances it by one
	jobs  *stubRunner

	ws, otherWS                   *hookd.Workspace
	operator, admin, writer, read string // hk_… secrets of keys of ws
	other                         string // admin key of otherWS
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	st := openStore(t) // the backend of t's onBackends subtest
	e := &env{t: t, store: st, logs: &syncBuffer{}}
	e.jobs = &stubRunner{e: e}
	e.clock.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix())
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{
		Store:             st,
		Logger:            logger,
		Now:               e.now,
		AllowInsecureURLs: false,
		Wake:              func() { e.wakes.Add(1) },
		PublicURL:         "https://hooks.example.com/",
		Jobs:              e.jobs,
		Inbound: trigger.NewHandler(trigger.HandlerConfig{Store: st, Jobs: e.jobs, Logger: logger, Now: e.now,
			CacheTTL: -1}),
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.api = New(cfg)
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(e.srv.Close)

	e.ws = e.workspace("main")
	e.otherWS = e.workspace("other")
	e.operator = e.key(e.ws.ID, true, hookd.ScopeAdmin)
	e.admin = e.key(e.ws.ID, false, hookd.ScopeAdmin)
	e.writer = e.key(e.ws.ID, false, hookd.ScopeWrite)
	e.read = e.key(e.ws.ID, false, hookd.ScopeRead)
	e.other = e.key(e.otherWS.ID, false, hookd.ScopeAdmin)
	return e
}

// now is the injected clock: one second later on every call, so ids made
// one after the other sort by creation.
func (e *env) now() time.Time { return time.Unix(e.clock.Add(1), 0).UTC() }

func (e *env) workspace(name string) *hookd.Workspace {
	e.t.Helper()
	ws := &hookd.Workspace{ID: hookd.NewIDAt(hookd.PrefixWorkspace, e.now()), Name: name, CreatedAt: e.now()}
	if err := e.store.WorkspaceCreate(context.Background(), ws); err != nil {
		e.t.Fatal(err)
	}
	return ws
}

func (e *env) key(ws string, operator bool, scopes ...string) string {
	e.t.Helper()
	k, secret := newAPIKey(ws, "test", scopes, e.now())
	k.Operator = operator
	if err := e.store.APIKeyCreate(context.Background(), k); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// response is a finished request.
type response struct {
	*http.Response
	body []byte
}

// json decodes the body into v, failing the test when it is not JSON.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s %s: body %q: %v", r.Request.Method, r.Request.URL.Path, r.body, err)
	}
}

// obj decodes the body as a JSON object.
func (r response) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

// do sends a request; body is sent as is when it is a string or []byte, as
// JSON otherwise (nil: no body).
func (e *env) do(method, path, key string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{Response: resp, body: b}
}

// want fails the test unless the answer has status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
	return r
}

// wantProblem fails the test unless the answer is a problem+json document
// with status (and, when given, this field in errors).
func (r response) wantProblem(t *testing.T, status int, field ...string) problem {
	t.Helper()
	r.want(t, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s %s: Content-Type %q, want application/problem+json", r.Request.Method, r.Request.URL.Path, ct)
	}
	var p problem
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem %s: %v", r.body, err)
	}
	if p.Status != status || p.Title != http.StatusText(status) || !strings.HasPrefix(p.Type, problemTypeBase) || p.Detail == "" {
		t.Fatalf("problem %+v does not match status %d", p, status)
	}
	for _, f := range field {
		found := false
		for _, fe := range p.Errors {
			if fe.Field == f && fe.Message != "" {
				found = true
			}
		}
		if !found {
			t.Fatalf("problem %s: no error for field %q", r.body, f)
		}
	}
	return p
}

// webhook creates a webhook through the API and returns its answer.
func (e *env) webhook(key string, body map[string]any) map[string]any {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if _, ok := body["url"]; !ok {
		body["url"] = "https://example.com/hook"
	}
	return e.do("POST", "/v1/webhooks", key, body).want(e.t, http.StatusCreated).obj(e.t)
}

// publish publishes an event through the API and returns its answer.
func (e *env) publish(key, typ string, data any) map[string]any {
	e.t.Helper()
	return e.do("POST", "/v1/events", key, map[string]any{"type": typ, "data": data}).want(e.t, http.StatusAccepted).obj(e.t)
}

// fixture is one of everything in the main workspace, for tests that need an
// id of each kind.
type fixture struct {
	webhook, event, delivery, apiKey string
	job, trigger, token, execution   string
}

func (e *env) fixture() fixture {
	e.t.Helper()
	wh := e.webhook(e.admin, nil)
	evt := e.publish(e.admin, "order.created", map[string]any{"n": 1})
	dl := evt["deliveries"].([]any)
	if len(dl) != 1 {
		e.t.Fatalf("deliveries %v", dl)
	}
	k := e.do("POST", "/v1/api-keys", e.admin, map[string]any{"scopes": []string{"read"}}).want(e.t, 201).obj(e.t)
	j := e.job(e.admin, "fixture", nil)
	trg := e.trigger(e.admin, map[string]any{"job_id": j["id"]})
	run := e.do("POST", "/v1/jobs/"+j["id"].(string)+"/run", e.admin, nil).want(e.t, 202).obj(e.t)
	return fixture{webhook: wh["id"].(string), event: evt["id"].(string), delivery: dl[0].(string), apiKey: k["id"].(string),
		job: j["id"].(string), trigger: trg["id"].(string), token: trg["token"].(string), execution: run["execution_id"].(string)}
}

// job creates a job through the API (an event job unless body says
// otherwise) and returns its answer.
func (e *env) job(key, name string, body map[string]any) map[string]any {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["name"] = name
	if _, ok := body["kind"]; !ok {
		body["kind"] = "event"
		body["config"] = map[string]any{"type": "job.ran"}
	}
	return e.do("POST", "/v1/jobs", key, body).want(e.t, http.StatusCreated).obj(e.t)
}

// trigger creates a trigger through the API and returns its answer.
func (e *env) trigger(key string, body map[string]any) map[string]any {
	e.t.Helper()
	return e.do("POST", "/v1/triggers", key, body).want(e.t, http.StatusCreated).obj(e.t)
}
