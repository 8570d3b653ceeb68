package job_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/job"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/internal/seal"
	"github.com/hookd/hookd/internal/store/sqlite"
	"github.com/hookd/hookd/signature"
)

// clock is an injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts scheduler passes (each loads the scheduled jobs), so
// tests can wait for "many ticks" without sleeping.
type countingStore struct {
	job.Store
	passes atomic.Int64
}

func (s *countingStore) JobsScheduled(ctx context.Context) ([]hookd.Job, error) {
	jobs, err := s.Store.JobsScheduled(ctx)
	s.passes.Add(1)
	return jobs, err
}

type env struct {
	t       *testing.T
	store   *countingStore
	clock   *clock
	ws      *hookd.Workspace
	metrics *metrics.Metrics
	wakes   atomic.Int64 // PublishWake calls
	mod     func(*job.EngineConfig)
}

// newEnv opens a real SQLite store with an injected clock and a workspace.
// Engines are started with start.
func newEnv(t *testing.T, mod func(*job.EngineConfig)) *env {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{Sealer: sealer, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, store: &countingStore{Store: st}, clock: clk, metrics: metrics.New(), mod: mod}
	e.ws = &hookd.Workspace{ID: hookd.NewID(hookd.PrefixWorkspace), Name: "w-" + hookd.NewID(""), CreatedAt: clk.Now()}
	if err := st.WorkspaceCreate(context.Background(), e.ws); err != nil {
		t.Fatal(err)
	}
	return e
}

// engine is one running Engine; stop ends it and waits for Run to return.
type engine struct {
	*job.Engine
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (g *engine) stop() {
	g.once.Do(func() { g.cancel(); <-g.done })
}

// start runs a new Engine on the env's store until the test ends.
func (e *env) start(mod func(*job.EngineConfig)) *engine {
	e.t.Helper()
	cfg := job.EngineConfig{
		Store:        e.store,
		Logger:       slog.New(slog.NewTextHandler(e.t.Output(), nil)),
		Now:          e.clock.Now,
		Metrics:      e.metrics,
		HTTPClient:   &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		PublishWake:  func() { e.wakes.Add(1) },
		KillGrace:    500 * time.Millisecond,
		PollInterval: 5 * time.Millisecond,
	}
	if e.mod != nil {
		e.mod(&cfg)
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &engine{Engine: job.NewEngine(cfg), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		if err := g.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
	e.t.Cleanup(g.stop)
	return g
}

// job validates and stores a job of kind with config.
func (e *env) job(name, kind, config string, mod func(*hookd.Job)) *hookd.Job {
	e.t.Helper()
	j := &hookd.Job{ID: hookd.NewID(hookd.PrefixJob), WorkspaceID: e.ws.ID, Name: name, Kind: kind,
		Config: json.RawMessage(config), OwnerID: "owner-1", CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}
	if mod != nil {
		mod(j)
	}
	if err := job.ValidateJob(j); err != nil {
		e.t.Fatalf("ValidateJob %s: %v", name, err)
	}
	if err := e.store.JobCreate(context.Background(), j); err != nil {
		e.t.Fatalf("JobCreate %s: %v", name, err)
	}
	return j
}

// commandJob is a /bin/sh job running script.
func (e *env) commandJob(name, script string, mod func(*hookd.Job)) *hookd.Job {
	e.t.Helper()
	cfg, _ := json.Marshal(job.CommandConfig{Argv: []string{"/bin/sh", "-c", script}})
	return e.job(name, hookd.JobCommand, string(cfg), mod)
}

// queue stores a queued execution of j as the API would.
func (e *env) queue(j *hookd.Job, source, input string) *hookd.Execution {
	e.t.Helper()
	now := e.clock.Now()
	x := &hookd.Execution{ID: hookd.NewIDAt(hookd.PrefixExecution, now), WorkspaceID: e.ws.ID, JobID: j.ID,
		Source: source, Status: hookd.ExecQueued, Input: json.RawMessage(input), CreatedAt: now, RunAt: now}
	if err := e.store.ExecutionCreate(context.Background(), x); err != nil {
		e.t.Fatalf("ExecutionCreate: %v", err)
	}
	return x
}

// run queues an execution, wakes g and waits for the execution to finish.
func (e *env) run(g *engine, j *hookd.Job, input string) *hookd.Execution {
	e.t.Helper()
	x := e.queue(j, hookd.SourceAPI, input)
	g.Wake()
	return e.wait(g, x.ID)
}

// wait waits (at most 20 s) for execution id to be done.
func (e *env) wait(g *engine, id string) *hookd.Execution {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	x, err := g.Wait(ctx, e.ws.ID, id)
	if err != nil {
		e.t.Fatalf("Wait %s: %v", id, err)
	}
	if !x.Done() {
		e.t.Fatalf("execution %s still %s after 20 s", id, x.Status)
	}
	return x
}

// waitFor polls cond (the engine works asynchronously; this waits for its
// effect, not for a timer).
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// subscribe creates a webhook for events matching pattern whose data has
// the given filters. The delivery engine does not run: deliveries stay
// pending, which is all the tests read.
func (e *env) subscribe(pattern string, filters map[string]any) *hookd.Webhook {
	e.t.Helper()
	now := e.clock.Now()
	wh := &hookd.Webhook{ID: hookd.NewID(hookd.PrefixWebhook), WorkspaceID: e.ws.ID, URL: "https://receiver.example/hook",
		Events: []string{pattern}, Filters: filters, MaxAttempts: 8, Active: true, Secret: signature.NewSecret(),
		CreatedAt: now, UpdatedAt: now}
	if err := e.store.WebhookCreate(context.Background(), wh); err != nil {
		e.t.Fatal(err)
	}
	return wh
}

// events returns the events delivered to wh, oldest first.
func (e *env) events(wh *hookd.Webhook) []*hookd.Event {
	e.t.Helper()
	ds, _, err := e.store.DeliveryList(context.Background(), hookd.DeliveryFilter{WorkspaceID: e.ws.ID, WebhookID: wh.ID, Page: hookd.Page{Limit: 100}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*hookd.Event
	for i := len(ds) - 1; i >= 0; i-- {
		evt, err := e.store.EventGet(context.Background(), e.ws.ID, ds[i].EventID)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, evt)
	}
	return out
}

// onlyEvent returns the one event delivered to wh.
func (e *env) onlyEvent(wh *hookd.Webhook) (*hookd.Event, map[string]any) {
	e.t.Helper()
	evts := e.events(wh)
	if len(evts) != 1 {
		e.t.Fatalf("webhook got %d events, want 1", len(evts))
	}
	return evts[0], decode(e.t, evts[0].Data)
}

// executions lists the executions of j, oldest first.
func (e *env) executions(j *hookd.Job, source string) []hookd.Execution {
	e.t.Helper()
	xs, _, err := e.store.ExecutionList(context.Background(), hookd.ExecutionFilter{WorkspaceID: e.ws.ID, JobID: j.ID, Source: source, Page: hookd.Page{Limit: 100}})
	if err != nil {
		e.t.Fatal(err)
	}
	for i, k := 0, len(xs)-1; i < k; i, k = i+1, k-1 {
		xs[i], xs[k] = xs[k], xs[i]
	}
	return xs
}

func (e *env) counter(status string) float64 {
	var m dto.Metric
	if err := e.metrics.Executions.WithLabelValues(status).Write(&m); err != nil {
		e.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
	return m
}

// sameJSON fails the test unless got and want are the same JSON value.
func sameJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want: %v", what, err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func TestEngineCommandSucceeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	j := e.commandJob("echo", `printf '{"ok":true,"stdin":'; cat; printf ',"env":%s}' "$HOOKD_INPUT"`, nil)
	wh := e.subscribe("job.*", map[string]any{"job_id": j.ID})
	other := e.commandJob("other", "echo 1", nil)
	g := e.start(nil)
	e.run(g, other, `{}`) // its outcome must not reach wh

	x := e.run(g, j, `{"n":1}`)
	if x.Status != hookd.ExecSucceeded {
		t.Fatalf("status %s (%s), want succeeded", x.Status, x.Reason)
	}
	sameJSON(t, "result", x.Result, `{"ok":true,"stdin":{"n":1},"env":{"n":1}}`)
	if x.StartedAt == nil || x.FinishedAt == nil {
		t.Errorf("started %v finished %v, want both set", x.StartedAt, x.FinishedAt)
	}

	evt, data := e.onlyEvent(wh)
	if evt.Type != job.EventJobSucceeded || evt.OwnerID != "owner-1" {
		t.Errorf("event %s owner %q, want job.succeeded owner-1", evt.Type, evt.OwnerID)
	}
	want := map[string]any{"job_id": j.ID, "job_name": "echo", "execution_id": x.ID, "trigger_id": nil,
		"source": "api", "result": map[string]any{"ok": true, "stdin": map[string]any{"n": 1.0}, "env": map[string]any{"n": 1.0}}}
	if _, ok := data["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms = %v, want a number", data["duration_ms"])
	}
	delete(data, "duration_ms")
	if diff := cmp.Diff(want, data); diff != "" {
		t.Errorf("event data (-want +got):\n%s", diff)
	}
	// Counted and woken right after the store write that Wait may see first.
	e.waitFor("succeeded counter 2", func() bool { return e.counter(hookd.ExecSucceeded) == 2 })
	e.waitFor("PublishWake after the outcome events", func() bool { return e.wakes.Load() >= 2 })
}

func TestEngineCommandFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	j := e.commandJob("fail", `echo '{"partial":1}'; echo first line >&2; echo last words >&2; exit 3`, nil)
	wh := e.subscribe("job.failed", map[string]any{"job_id": j.ID})
	g := e.start(nil)

	x := e.run(g, j, `{}`)
	if x.Status != hookd.ExecFailed {
		t.Fatalf("status %s, want failed", x.Status)
	}
	if !strings.Contains(x.Reason, "exit status 3") || !strings.Contains(x.Reason, "last words") {
		t.Errorf("reason %q, want the exit status and stderr's tail", x.Reason)
	}
	evt, data := e.onlyEvent(wh)
	if evt.Type != job.EventJobFailed {
		t.Errorf("event type %s, want job.failed", evt.Type)
	}
	if data["reason"] != x.Reason || data["execution_id"] != x.ID || data["job_name"] != "fail" {
		t.Errorf("event data %v, want reason %q of %s", data, x.Reason, x.ID)
	}
	if _, ok := data["result"]; ok {
		t.Errorf("job.failed carries a result: %v", data["result"])
	}
	e.waitFor("failed counter 1", func() bool { return e.counter(hookd.ExecFailed) == 1 })
}

func TestEngineHTTPJob(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/fail" {
			http.Error(w, "upstream broke", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q,"token":%q,"body":%s}`, r.Method, r.Header.Get("X-Token"), body)
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, nil)
	ok := e.job("call", hookd.JobHTTP, fmt.Sprintf(`{"url":%q,"method":"put","headers":{"X-Token":"t1"}}`, srv.URL+"/ok"), nil)
	bad := e.job("call-fail", hookd.JobHTTP, fmt.Sprintf(`{"url":%q}`, srv.URL+"/fail"), nil)
	g := e.start(nil)

	t.Run("OK", func(t *testing.T) {
		x := e.run(g, ok, `{"a":[1,2]}`)
		if x.Status != hookd.ExecSucceeded {
			t.Fatalf("status %s (%s), want succeeded", x.Status, x.Reason)
		}
		sameJSON(t, "result", x.Result, `{"method":"PUT","token":"t1","body":{"a":[1,2]}}`)
	})
	t.Run("Non2xx", func(t *testing.T) {
		x := e.run(g, bad, `{}`)
		if x.Status != hookd.ExecFailed || !strings.Contains(x.Reason, "502") || !strings.Contains(x.Reason, "upstream broke") {
			t.Fatalf("status %s reason %q, want failed with HTTP 502 and the body", x.Status, x.Reason)
		}
	})
}

func TestEngineEventJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sub := e.subscribe("order.shipped", nil)
	sub2 := e.subscribe("order.*", nil)
	j := e.job("ship", hookd.JobEvent, `{"type":"order.shipped"}`, nil)
	g := e.start(nil)

	for _, tc := range []struct{ name, input, data string }{
		{"Object", `{"order":42}`, `{"order":42}`},
		{"NotObject", `[1,2]`, `{"input":[1,2]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.wakes.Load()
			x := e.run(g, j, tc.input)
			if x.Status != hookd.ExecSucceeded {
				t.Fatalf("status %s (%s), want succeeded", x.Status, x.Reason)
			}
			var res struct {
				EventID    string   `json:"event_id"`
				Deliveries []string `json:"deliveries"`
			}
			if err := json.Unmarshal(x.Result, &res); err != nil {
				t.Fatalf("result %s: %v", x.Result, err)
			}
			evt, err := e.store.EventGet(context.Background(), e.ws.ID, res.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if evt.Type != "order.shipped" || evt.OwnerID != "owner-1" {
				t.Errorf("event %s owner %q, want order.shipped owner-1", evt.Type, evt.OwnerID)
			}
			sameJSON(t, "event data", evt.Data, tc.data)
			if len(res.Deliveries) != 2 {
				t.Errorf("deliveries %v, want one per subscribed webhook (2)", res.Deliveries)
			}
			for _, id := range res.Deliveries {
				d, err := e.store.DeliveryGet(context.Background(), e.ws.ID, id)
				if err != nil {
					t.Fatal(err)
				}
				if d.EventID != evt.ID || (d.WebhookID != sub.ID && d.WebhookID != sub2.ID) {
					t.Errorf("delivery %s: event %s webhook %s", id, d.EventID, d.WebhookID)
				}
			}
			// The run's end, which publishes its event and its outcome in
			// one transaction, wakes the delivery engine.
			e.waitFor("a PublishWake call", func() bool { return e.wakes.Load()-before >= 1 })
		})
	}
}

func TestEngineGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	dir := t.TempDir()
	// a and b each wait for the other's mark: they pass only when run at
	// the same time.
	a := e.commandJob("a", fmt.Sprintf(`touch %[1]s/a; while [ ! -f %[1]s/b ]; do sleep 0.01; done; echo '{"a":1}'`, dir), func(j *hookd.Job) { j.TimeoutSeconds = 10 })
	e.commandJob("b", fmt.Sprintf(`touch %[1]s/b; while [ ! -f %[1]s/a ]; do sleep 0.01; done; cat`, dir), func(j *hookd.Job) { j.TimeoutSeconds = 10 })
	e.commandJob("c", `echo broken >&2; exit 1`, nil)
	good := e.job("good", hookd.JobGroup, fmt.Sprintf(`{"jobs":[%q,"b"]}`, a.ID), nil)
	bad := e.job("bad", hookd.JobGroup, `{"jobs":["b","c","missing"]}`, nil)
	// loop1 → loop2 → loop1: a cycle ValidateJob cannot see.
	loop1 := e.job("loop1", hookd.JobGroup, `{"jobs":["loop2"]}`, nil)
	e.job("loop2", hookd.JobGroup, `{"jobs":["loop1"]}`, nil)
	wh := e.subscribe("job.*", map[string]any{"job_id": bad.ID})
	g := e.start(nil)

	t.Run("OK", func(t *testing.T) {
		x := e.run(g, good, `{"in":true}`)
		if x.Status != hookd.ExecSucceeded {
			t.Fatalf("status %s (%s), want succeeded", x.Status, x.Reason)
		}
		sameJSON(t, "result", x.Result, `{"a":{"status":"succeeded","result":{"a":1}},"b":{"status":"succeeded","result":{"in":true}}}`)
		// Members are not executions of their own.
		if xs := e.executions(a, ""); len(xs) != 0 {
			t.Errorf("member a has %d executions, want 0", len(xs))
		}
	})
	t.Run("MemberFails", func(t *testing.T) {
		// b finds a's mark from the first run.
		x := e.run(g, bad, `{}`)
		if x.Status != hookd.ExecFailed {
			t.Fatalf("status %s, want failed", x.Status)
		}
		for _, s := range []string{"c: exit status 1", "broken", "missing: job not found"} {
			if !strings.Contains(x.Reason, s) {
				t.Errorf("reason %q lacks %q", x.Reason, s)
			}
		}
		res := decode(t, x.Result)
		if st := res["b"].(map[string]any)["status"]; st != "succeeded" {
			t.Errorf("member b: %v, want succeeded", res["b"])
		}
		if st := res["c"].(map[string]any)["status"]; st != "failed" {
			t.Errorf("member c: %v, want failed", res["c"])
		}
		evt, data := e.onlyEvent(wh)
		if evt.Type != job.EventJobFailed || data["reason"] != x.Reason {
			t.Errorf("event %s data %v, want job.failed with the reason", evt.Type, data)
		}
	})
	t.Run("Cycle", func(t *testing.T) {
		x := e.run(g, loop1, `{}`)
		if x.Status != hookd.ExecFailed || !strings.Contains(x.Reason, "cannot contain itself") {
			t.Fatalf("status %s reason %q, want failed: a group cannot contain itself", x.Status, x.Reason)
		}
	})
}

func TestEngineGroupDepth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.commandJob("leaf", `echo '"leaf"'`, nil)
	// g1 → g2 → … → g6 → leaf: six levels of groups.
	prev := "leaf"
	groups := map[string]*hookd.Job{}
	for i := 6; i >= 1; i-- {
		j := e.job(fmt.Sprintf("g%d", i), hookd.JobGroup, fmt.Sprintf(`{"jobs":[%q]}`, prev), nil)
		groups[j.Name], prev = j, j.Name
	}
	g := e.start(nil)
	x := e.run(g, groups["g1"], `{}`)
	if x.Status != hookd.ExecFailed || !strings.Contains(x.Reason, "deeper than 5") {
		t.Fatalf("six levels: status %s reason %q, want failed: groups nest deeper than 5", x.Status, x.Reason)
	}
	// g2 → … → g6 → leaf: five levels, the limit.
	x = e.run(g, groups["g2"], `{}`)
	if x.Status != hookd.ExecSucceeded {
		t.Fatalf("five levels: status %s (%s), want succeeded", x.Status, x.Reason)
	}
	sameJSON(t, "result", x.Result, `{"g3":{"status":"succeeded","result":{"g4":{"status":"succeeded","result":{"g5":{"status":"succeeded","result":{"g6":{"status":"succeeded","result":{"leaf":{"status":"succeeded","result":"leaf"}}}}}}}}}}`)
}

func TestEngineConcurrencyOneRunsInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	log := filepath.Join(t.TempDir(), "log")
	// Each run writes its start, pauses, and writes its end: overlapping runs
	// would interleave the lines.
	j := e.commandJob("serial", fmt.Sprintf(`n=$(cat); echo "start $n" >> %[1]s; sleep 0.05; echo "end $n" >> %[1]s`, log), nil)
	var xs []*hookd.Execution
	for i := 1; i <= 3; i++ {
		xs = append(xs, e.queue(j, hookd.SourceAPI, fmt.Sprint(i)))
		e.clock.Advance(time.Second) // distinct creation times: a defined order
	}
	g := e.start(nil)
	for _, x := range xs {
		if got := e.wait(g, x.ID); got.Status != hookd.ExecSucceeded {
			t.Fatalf("%s: status %s (%s)", x.ID, got.Status, got.Reason)
		}
	}
	out, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := "start 1\nend 1\nstart 2\nend 2\nstart 3\nend 3\n"
	if string(out) != want {
		t.Errorf("runs overlapped or ran out of order:\n%s\nwant:\n%s", out, want)
	}
}

func TestEngineConcurrencyTwo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	dir := t.TempDir()
	// Two runs each wait for the other to have started: they pass only when
	// the job's concurrency of 2 lets them run together.
	j := e.commandJob("pair", fmt.Sprintf(`n=$(cat); touch %[1]s/$n; while [ $(ls %[1]s | wc -l) -lt 2 ]; do sleep 0.01; done`, dir),
		func(j *hookd.Job) { j.Concurrency = 2; j.TimeoutSeconds = 10 })
	x1 := e.queue(j, hookd.SourceAPI, "1")
	x2 := e.queue(j, hookd.SourceAPI, "2")
	g := e.start(nil)
	for _, x := range []*hookd.Execution{x1, x2} {
		if got := e.wait(g, x.ID); got.Status != hookd.ExecSucceeded {
			t.Fatalf("%s: status %s (%s)", x.ID, got.Status, got.Reason)
		}
	}
}

func TestEngineWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	gate := filepath.Join(t.TempDir(), "gate")
	j := e.commandJob("gated", fmt.Sprintf(`while [ ! -f %s ]; do sleep 0.01; done; echo '"through"'`, gate), nil)
	g := e.start(nil)
	x := e.queue(j, hookd.SourceAPI, `{}`)
	g.Wake()

	t.Run("CallerGivesUp", func(t *testing.T) {
		e.waitFor("the run to start", func() bool {
			got, err := e.store.ExecutionGet(context.Background(), e.ws.ID, x.ID)
			return err == nil && got.Status == hookd.ExecRunning
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		got, err := g.Wait(ctx, e.ws.ID, x.ID)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if got.Status != hookd.ExecRunning {
			t.Errorf("status %s, want the current state, running", got.Status)
		}
	})
	t.Run("OK", func(t *testing.T) {
		// The earlier caller hanging up did not cancel the run.
		res := make(chan *hookd.Execution, 1)
		go func() { res <- e.wait(g, x.ID) }()
		if err := os.WriteFile(gate, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		got := <-res
		if got.Status != hookd.ExecSucceeded || string(got.Result) != `"through"` {
			t.Errorf("status %s result %s, want succeeded \"through\"", got.Status, got.Result)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := g.Wait(context.Background(), e.ws.ID, hookd.NewID(hookd.PrefixExecution))
		if !hookd.IsNotFound(err) {
			t.Errorf("err %v, want not found", err)
		}
	})
}

// TestEngineWaitSeesOtherNode: an execution finished by another node (here:
// written straight to the store) is seen by the 250 ms poll.
func TestEngineWaitSeesOtherNode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	j := e.commandJob("elsewhere", "echo 1", nil)
	x := e.queue(j, hookd.SourceAPI, `{}`)
	// This engine never claims: it is not running Run.
	g := &engine{Engine: job.NewEngine(job.EngineConfig{Store: e.store, Now: e.clock.Now})}
	go func() {
		time.Sleep(50 * time.Millisecond) // lets Wait start polling first
		claimed, err := e.store.ExecutionsClaim(context.Background(), hookd.ExecClaimParams{Now: e.clock.Now(), Limit: 1, Lease: time.Hour, Owner: "other"})
		if err != nil || len(claimed) != 1 {
			t.Errorf("claim: %v %d", err, len(claimed))
			return
		}
		if _, err := e.store.ExecutionFinish(context.Background(), hookd.ExecFinishParams{WorkspaceID: e.ws.ID, ID: x.ID,
			Status: hookd.ExecSucceeded, Result: json.RawMessage(`1`), Now: e.clock.Now()}); err != nil {
			t.Error(err)
		}
	}()
	if got := e.wait(g, x.ID); got.Status != hookd.ExecSucceeded {
		t.Errorf("status %s, want succeeded", got.Status)
	}
}

func TestEngineReclaimOnStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	j := e.commandJob("crashed", "echo 1", nil)
	wh := e.subscribe("job.*", map[string]any{"job_id": j.ID})
	x := e.queue(j, hookd.SourceAPI, `{}`)
	// A previous process claimed it and died.
	claimed, err := e.store.ExecutionsClaim(context.Background(), hookd.ExecClaimParams{Now: e.clock.Now(), Limit: 10, Lease: job.DefaultLease, Owner: "dead-node"})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d claimed", err, len(claimed))
	}
	g := e.start(func(c *job.EngineConfig) { c.ReclaimOnStart = true })
	got := e.wait(g, x.ID)
	if got.Status != hookd.ExecFailed || got.Reason != job.ReasonInterrupted {
		t.Fatalf("status %s reason %q, want failed: interrupted", got.Status, got.Reason)
	}
	evt, data := e.onlyEvent(wh)
	if evt.Type != job.EventJobFailed || data["reason"] != job.ReasonInterrupted || data["execution_id"] != x.ID || data["job_name"] != "crashed" {
		t.Errorf("event %s data %v, want job.failed interrupted for %s", evt.Type, data, x.ID)
	}
	if evt.OwnerID != "owner-1" {
		t.Errorf("event owner %q, want the job's owner", evt.OwnerID)
	}
}

// TestEngineWithoutReclaimLeavesRunning is the counterpart: a node sharing the
// database must not fail another node's runs.
func TestEngineWithoutReclaimLeavesRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	j := e.commandJob("busy", "echo 1", nil)
	x := e.queue(j, hookd.SourceAPI, `{}`)
	if _, err := e.store.ExecutionsClaim(context.Background(), hookd.ExecClaimParams{Now: e.clock.Now(), Limit: 10, Lease: job.DefaultLease, Owner: "other-node"}); err != nil {
		t.Fatal(err)
	}
	e.start(nil)
	passes := e.store.passes.Load()
	e.waitFor("engine passes", func() bool { return e.store.passes.Load() > passes+5 })
	got, err := e.store.ExecutionGet(context.Background(), e.ws.ID, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != hookd.ExecRunning {
		t.Errorf("status %s, want running", got.Status)
	}
}

func TestEngineShutdownInterruptsAfterGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	j := e.commandJob("slow", `sleep 30`, nil)
	wh := e.subscribe("job.*", map[string]any{"job_id": j.ID})
	quick := e.commandJob("quick", `sleep 0.05; echo '"finished"'`, nil)
	g := e.start(func(c *job.EngineConfig) { c.ShutdownGrace = 300 * time.Millisecond })
	x := e.queue(j, hookd.SourceAPI, `{}`)
	y := e.queue(quick, hookd.SourceAPI, `{}`)
	g.Wake()
	e.waitFor("both runs to start", func() bool {
		a, _ := e.store.ExecutionGet(context.Background(), e.ws.ID, x.ID)
		b, _ := e.store.ExecutionGet(context.Background(), e.ws.ID, y.ID)
		return a != nil && b != nil && a.Status == hookd.ExecRunning && b.Status != hookd.ExecQueued
	})
	start := time.Now()
	g.stop()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	got, err := e.store.ExecutionGet(context.Background(), e.ws.ID, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != hookd.ExecFailed || got.Reason != job.ReasonInterrupted {
		t.Errorf("slow: status %s reason %q, want failed: interrupted", got.Status, got.Reason)
	}
	// The quick run finished within the grace, normally.
	if got, _ := e.store.ExecutionGet(context.Background(), e.ws.ID, y.ID); got.Status != hookd.ExecSucceeded {
		t.Errorf("quick: status %s (%s), want succeeded", got.Status, got.Reason)
	}
	if evt, data := e.onlyEvent(wh); evt.Type != job.EventJobFailed || data["reason"] != job.ReasonInterrupted {
		t.Errorf("event %s data %v, want job.failed interrupted", evt.Type, data)
	}
}

// TestEngineWorkersBound: with one worker, two jobs of their own (no shared
// concurrency limit) still run one at a time.
func TestEngineWorkersBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	log := filepath.Join(t.TempDir(), "log")
	script := fmt.Sprintf(`echo "start $0" >> %[1]s; sleep 0.05; echo "end $0" >> %[1]s`, log)
	var xs []*hookd.Execution
	for _, name := range []string{"w1", "w2"} {
		cfg, _ := json.Marshal(job.CommandConfig{Argv: []string{"/bin/sh", "-c", script, name}})
		j := e.job(name, hookd.JobCommand, string(cfg), nil)
		xs = append(xs, e.queue(j, hookd.SourceAPI, `{}`))
		e.clock.Advance(time.Second)
	}
	g := e.start(func(c *job.EngineConfig) { c.Workers = 1 })
	for _, x := range xs {
		e.wait(g, x.ID)
	}
	out, _ := os.ReadFile(log)
	if want := "start w1\nend w1\nstart w2\nend w2\n"; string(out) != want {
		t.Errorf("runs overlapped with one worker:\n%s\nwant:\n%s", out, want)
	}
}

// TestEngineFutureRunAt: a run queued for later (a trailing coalesced run)
// starts when its RunAt comes, woken by a timer rather than the poll, which
// is set far longer than the test may take.
func TestEngineFutureRunAt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	j := e.commandJob("later", "echo 1", nil)
	g := e.start(func(c *job.EngineConfig) { c.Now = time.Now; c.PollInterval = time.Minute })
	runAt := time.Now().Add(300 * time.Millisecond)
	x := &hookd.Execution{ID: hookd.NewID(hookd.PrefixExecution), WorkspaceID: e.ws.ID, JobID: j.ID, Source: hookd.SourceWebhook,
		Status: hookd.ExecQueued, Input: json.RawMessage(`{}`), CreatedAt: time.Now(), RunAt: runAt}
	if err := e.store.ExecutionCreate(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	g.Wake()
	got := e.wait(g, x.ID)
	if got.Status != hookd.ExecSucceeded {
		t.Fatalf("status %s (%s)", got.Status, got.Reason)
	}
	if got.StartedAt.Before(runAt.Truncate(time.Millisecond)) {
		t.Errorf("started %s, before its RunAt %s", got.StartedAt, runAt)
	}
}

// TestEngineReserve: the call path's reservations (Reserve/Started) take
// workers only while the engine runs, within Workers; a reservation's run is
// the engine's to run, or to count when the store ended it inline.
func TestEngineReserve(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	idle := job.NewEngine(job.EngineConfig{Store: e.store, Workers: 2})
	if st := idle.Reserve(); st != nil {
		t.Fatalf("Reserve on an engine that is not running: %+v, want nil", st)
	}
	g := e.start(func(c *job.EngineConfig) { c.Workers, c.Node = 2, "node-x" })
	e.waitFor("the engine to run", func() bool {
		st := g.Reserve()
		if st != nil {
			g.Started(nil)
		}
		return st != nil
	})
	a, b := g.Reserve(), g.Reserve()
	if a == nil || b == nil || a.Owner != "node-x" || a.Lease <= 0 || a.Inline == nil {
		t.Fatalf("reservations %+v, %+v; want two, owned by node-x", a, b)
	}
	if c := g.Reserve(); c != nil {
		t.Fatalf("a third reservation with Workers 2: %+v", c)
	}
	g.Started(nil)
	if c := g.Reserve(); c == nil {
		t.Fatal("no reservation after one was handed back")
	}

	// Inline ends an event job's run (and nothing else's) with its event.
	ev := e.job("ev", hookd.JobEvent, `{"type":"order.paid"}`, nil)
	now := e.clock.Now()
	x := hookd.Execution{ID: "exe_1", WorkspaceID: e.ws.ID, JobID: ev.ID, Status: hookd.ExecRunning, StartedAt: &now,
		Input: json.RawMessage(`{"n":1}`)}
	p := a.Inline(&hookd.ClaimedExecution{Execution: x, Job: *ev})
	if p == nil || p.Status != hookd.ExecSucceeded || p.Event == nil || p.Event.Type != "order.paid" || p.OnEvent == nil {
		t.Fatalf("inline end of an event run: %+v", p)
	}
	p.OnEvent(&hookd.Event{ID: "evt_1", DeliveryIDs: []string{"dlv_1"}}, p)
	sameJSON(t, "inline result", p.Result, `{"event_id":"evt_1","deliveries":["dlv_1"]}`)
	if p.Outcome == nil || p.Outcome.Type != job.EventJobSucceeded {
		t.Errorf("inline outcome %+v, want job.succeeded", p.Outcome)
	}
	cmd := e.job("cmd", hookd.JobHTTP, `{"url":"https://internal.example/x"}`, nil)
	if p := a.Inline(&hookd.ClaimedExecution{Execution: x, Job: *cmd}); p != nil {
		t.Errorf("inline end of an http run: %+v, want nil", p)
	}

	// A run the store ended inline is counted, and the delivery engine woken
	// when its events made deliveries (only then); its reservation is handed
	// back.
	done := x
	done.Status = hookd.ExecSucceeded
	for _, deliveries := range []int{2, 0} {
		before, wakes := e.counter(hookd.ExecSucceeded), e.wakes.Load()
		g.Started(&hookd.ClaimedExecution{Execution: done, Job: *ev, Deliveries: deliveries})
		want := wakes
		if deliveries > 0 {
			want++
		}
		if got := e.counter(hookd.ExecSucceeded); got != before+1 || e.wakes.Load() != want {
			t.Errorf("after an inline run with %d deliveries: succeeded %v→%v, wakes %d→%d, want →%d",
				deliveries, before, got, wakes, e.wakes.Load(), want)
		}
		if st := g.Reserve(); st == nil {
			t.Fatalf("the inline run's reservation was not handed back")
		}
	}
	g.Started(nil)
	g.Started(nil)
	a, b = g.Reserve(), g.Reserve()
	if a == nil || b == nil {
		t.Fatal("reservations not all handed back")
	}
	// Run waits for held reservations at shutdown: hand them back.
	g.Started(nil)
	g.Started(nil)
}

// TestEngineRenewsLeases: the engine renews the leases of its runs while they
// go on, so a run longer than its lease is not failed as interrupted by
// another node's reaper; a run's lease ends only when its engine is gone.
func TestEngineRenewsLeases(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	dir := t.TempDir()
	j := e.commandJob("long", `while [ ! -f `+dir+`/go ]; do sleep 0.02; done; echo done`, func(j *hookd.Job) { j.TimeoutSeconds = 3600 })
	g := e.start(func(c *job.EngineConfig) { c.Lease = 150 * time.Millisecond })
	x := e.queue(j, hookd.SourceAPI, `{}`)
	e.waitFor("the run to start", func() bool {
		got, err := e.store.ExecutionGet(context.Background(), e.ws.ID, x.ID)
		return err == nil && got.Status == hookd.ExecRunning
	})
	// Far past the claim's lease: only renewals (every 50 ms, from the
	// engine's clock) keep the run's lease ahead of a reaper's now.
	e.clock.Advance(10 * time.Minute)
	time.Sleep(time.Second)
	got, err := e.store.ExecutionsInterrupt(context.Background(), e.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("a reaper interrupted the running run %s: its lease was not renewed", got[0].ID)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if done := e.wait(g, x.ID); done.Status != hookd.ExecSucceeded {
		t.Fatalf("run %s (%s), want succeeded", done.Status, done.Reason)
	}
}
