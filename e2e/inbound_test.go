package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/client"
	"github.com/hookd/hookd/signature"
)

// A trigger call starts a job; the job's outcome reaches a subscribed webhook.
func TestInboundTriggerToOutcomeEvent(t *testing.T) { onBackends(t, testInboundTriggerToOutcomeEvent) }

func testInboundTriggerToOutcomeEvent(t *testing.T) {
	t.Parallel()
	s := start(t, "", "--allow-command-jobs")
	c := s.client()
	ctx := context.Background()
	rc := newRecorder(t, nil)

	j, err := c.CreateJob(ctx, client.JobCreate{Name: "echo", Kind: "command",
		Config: map[string]any{"argv": []string{"/bin/sh", "-c", `cat; echo >&2 done`}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"job.*"}, Filters: map[string]any{"job_id": j.ID}}); err != nil {
		t.Fatal(err)
	}
	tr, err := c.CreateTrigger(ctx, client.TriggerCreate{JobID: j.ID, Name: "ci", GenerateSecret: true,
		InputMapping: map[string]string{"msg": "body.message", "event": "headers.X-Event"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tr.Token, "wht_") || tr.Secret == "" || !strings.HasSuffix(tr.URL, tr.Token) {
		t.Fatalf("trigger create answer %+v", tr)
	}
	body := []byte(`{"message":"hello"}`)

	// Unsigned → 401 bad signature; signed → 202 queued.
	if _, err := c.CallTrigger(ctx, tr.Token, body, http.Header{"X-Event": {"push"}}); client.StatusCode(err) != 401 {
		t.Fatalf("unsigned call: %v", err)
	}
	h, _ := signature.SignInbound("hmac-sha256", tr.Secret, body, time.Now())
	h.Set("X-Event", "push")
	res, err := c.CallTrigger(ctx, tr.Token, body, h)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || res.Status != "queued" || res.HTTPStatus != 202 {
		t.Fatalf("answer %+v", res)
	}
	var exe *client.Execution
	eventually(t, "the execution to succeed", func() bool {
		exe, err = c.GetExecution(ctx, res.ExecutionID)
		return err == nil && exe.Done()
	})
	if exe.Status != "succeeded" || exe.Source != "webhook" || exe.TriggerID != tr.ID {
		t.Fatalf("execution %+v", exe)
	}
	var out map[string]string
	if err := json.Unmarshal(exe.Result, &out); err != nil || out["msg"] != "hello" || out["event"] != "push" {
		t.Fatalf("mapped input did not reach the command: %s", exe.Result)
	}
	eventually(t, "job.succeeded delivered", func() bool { return rc.count() == 1 })
	rc.mu.Lock()
	var evt struct {
		Event string         `json:"event"`
		Data  map[string]any `json:"data"`
	}
	json.Unmarshal(rc.reqs[0].Body, &evt)
	rc.mu.Unlock()
	if evt.Event != "job.succeeded" || evt.Data["execution_id"] != exe.ID || evt.Data["job_id"] != j.ID || evt.Data["trigger_id"] != tr.ID {
		t.Fatalf("outcome event %+v", evt)
	}
	calls, err := c.ListTriggerCalls(ctx, tr.ID, client.CallFilter{})
	if err != nil || calls.Total != 2 {
		t.Fatalf("call log %+v %v", calls, err)
	}
	if calls.Data[0].Disposition != "accepted" || calls.Data[1].Disposition != "bad_signature" {
		t.Fatalf("dispositions %s, %s", calls.Data[0].Disposition, calls.Data[1].Disposition)
	}
}

func TestInboundSyncAndBearer(t *testing.T) { onBackends(t, testInboundSyncAndBearer) }

func testInboundSyncAndBearer(t *testing.T) {
	t.Parallel()
	s := start(t, "", "--allow-command-jobs")
	c := s.client()
	ctx := context.Background()
	ok, _ := c.CreateJob(ctx, client.JobCreate{Name: "ok", Kind: "command", Config: map[string]any{"argv": []string{"/bin/echo", `{"done":true}`}}})
	bad, _ := c.CreateJob(ctx, client.JobCreate{Name: "bad", Kind: "command", Config: map[string]any{"argv": []string{"/bin/sh", "-c", "echo broken >&2; exit 3"}}})
	tOK, err := c.CreateTrigger(ctx, client.TriggerCreate{JobID: ok.ID, Mode: "sync", WaitSeconds: 20})
	if err != nil {
		t.Fatal(err)
	}
	tBad, _ := c.CreateTrigger(ctx, client.TriggerCreate{JobID: bad.ID, Mode: "sync", WaitSeconds: 20})

	// Bearer path, sync success → 200 with the result.
	req, _ := http.NewRequest("POST", s.URL+"/v1/webhook/trigger", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+tOK.Token)
	resp, err := apiHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ans client.TriggerResponse
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != 200 || !ans.Success || string(ans.Result) != `{"done":true}` {
		t.Fatalf("sync ok: %d %+v", resp.StatusCode, ans)
	}
	// Sync failure → 500 with the reason.
	res, err := c.CallTrigger(ctx, tBad.Token, []byte(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.HTTPStatus != 500 || res.Success || !strings.Contains(res.Reason, "broken") {
		t.Fatalf("sync failure: %+v", res)
	}
	// Unknown and malformed tokens get the same 401.
	for _, tok := range []string{"wht_" + strings.Repeat("A", 43), "nonsense"} {
		r, _ := apiHTTP.Post(s.URL+"/hooks/"+tok, "application/json", strings.NewReader(`{}`))
		if r.StatusCode != 401 {
			t.Fatalf("token %q: %d", tok, r.StatusCode)
		}
		r.Body.Close()
	}
}

// Jobs and triggers declared in the config file, tokens from the environment.
func TestConfigFileHooks(t *testing.T) { onBackends(t, testConfigFileHooks) }

func testConfigFileHooks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hookd.yaml")
	os.WriteFile(cfg, []byte(`
jobs:
  - name: deploy
    kind: command
    config:
      argv: ["/bin/sh", "-c", "echo deployed"]
triggers:
  - name: deploy-hook
    job: deploy
    token_env: E2E_DEPLOY_TOKEN
    mode: sync
`), 0o600)
	// No --allow-command-jobs: the file may declare them.
	s := startEnv(t, "", []string{"E2E_DEPLOY_TOKEN=wht_e2eConfigToken0123456789abcdefghijklmnopqrs"}, "--config", cfg)
	res, err := s.client().CallTrigger(context.Background(), "wht_e2eConfigToken0123456789abcdefghijklmnopqrs", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.HTTPStatus != 200 || string(res.Result) != `"deployed"` {
		t.Fatalf("config trigger: %+v %s", res, res.Result)
	}
	// The API may not create command jobs without --allow-command-jobs.
	_, err = s.client().CreateJob(context.Background(), client.JobCreate{Name: "x", Kind: "command", Config: map[string]any{"argv": []string{"/bin/true"}}})
	if client.StatusCode(err) != 403 {
		t.Fatalf("command job through the API: %v", err)
	}
}

// A queued execution survives kill -9; a running one is failed "interrupted"
// and its outcome event is sent, and it ran once: on SQLite at the restart
// (the node is alone with its database); on PostgreSQL by the other node
// once the dead node's job lease ends (--job-lease 3s here), a restarted node
// being unable to tell a dead node's run from a live node's slow one.
func TestKill9Executions(t *testing.T) { onBackends(t, testKill9Executions) }

func testKill9Executions(t *testing.T) {
	t.Parallel()
	flags := []string{"--allow-command-jobs", "--job-lease", "3s"}
	s := start(t, "", flags...)
	c := s.client()
	ctx := context.Background()
	rc := newRecorder(t, nil)
	marker := filepath.Join(t.TempDir(), "ran")
	j, err := c.CreateJob(ctx, client.JobCreate{Name: "slow", Kind: "command", Concurrency: 1,
		Config: map[string]any{"argv": []string{"/bin/sh", "-c", "echo $$ >> " + marker + "; sleep 30"}}})
	if err != nil {
		t.Fatal(err)
	}
	// Each run writes its process id (its process group's) to marker.
	pids := func() []string { b, _ := os.ReadFile(marker); return strings.Fields(string(b)) }
	runs := func() int { return len(pids()) }
	// kill -9 of hookd leaves the run's process group behind: end it.
	t.Cleanup(func() {
		for _, f := range pids() {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
	c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"job.failed"}})
	tr, _ := c.CreateTrigger(ctx, client.TriggerCreate{JobID: j.ID, RateLimitPerMinute: 100})
	var ids []string
	for i := 0; i < 3; i++ {
		res, err := c.CallTrigger(ctx, tr.Token, []byte(`{}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ExecutionID)
	}
	// Running in the store comes before the command has started: wait for
	// the command's own mark too, or kill -9 may land between the two.
	eventually(t, "the first run to start", func() bool {
		e, _ := c.GetExecution(ctx, ids[0])
		return e != nil && e.Status == "running" && runs() == 1
	})
	s.kill()
	killed := time.Now()
	s2 := start(t, s.DataDir, flags...)
	c2 := s2.client()
	var first *client.Execution
	eventually(t, "the interrupted run to be failed", func() bool {
		first, _ = c2.GetExecution(ctx, ids[0])
		return first != nil && first.Status != "running"
	})
	if first.Status != "failed" || first.Reason != "interrupted" {
		t.Fatalf("interrupted run: %+v", first)
	}
	t.Logf("interrupted run failed %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	eventually(t, "job.failed for the interrupted run", func() bool { return rc.count() >= 1 })
	eventually(t, "the queued run to start after restart", func() bool {
		e, _ := c2.GetExecution(ctx, ids[1])
		return e != nil && e.Status == "running" && runs() == 2
	})
	third, _ := c2.GetExecution(ctx, ids[2])
	if third.Status != "queued" {
		t.Fatalf("concurrency 1: third run is %s while the second runs", third.Status)
	}
	if n := runs(); n != 2 {
		t.Fatalf("%d runs started, want 2 (the interrupted one is not run again)", n)
	}
}

// Calls landing inside a cooldown fold into one trailing run with the latest input.
func TestCooldownCoalesce(t *testing.T) { onBackends(t, testCooldownCoalesce) }

func testCooldownCoalesce(t *testing.T) {
	t.Parallel()
	s := start(t, "", "--allow-command-jobs")
	c := s.client()
	ctx := context.Background()
	j, _ := c.CreateJob(ctx, client.JobCreate{Name: "sync-data", Kind: "command", Config: map[string]any{"argv": []string{"/bin/cat"}}})
	tr, _ := c.CreateTrigger(ctx, client.TriggerCreate{JobID: j.ID, CooldownSeconds: 2, RateLimitPerMinute: 100})
	var mu sync.Mutex
	var answers []*client.TriggerResponse
	for i := 0; i < 5; i++ {
		res, err := c.CallTrigger(ctx, tr.Token, []byte(`{"n":`+string(rune('0'+i))+`}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		answers = append(answers, res)
		mu.Unlock()
	}
	if answers[0].Status != "queued" {
		t.Fatalf("leading call: %+v", answers[0])
	}
	trailing := answers[1].ExecutionID
	for _, a := range answers[1:] {
		if a.Status != "coalesced" || a.ExecutionID != trailing {
			t.Fatalf("call in the window: %+v (trailing %s)", a, trailing)
		}
	}
	var e *client.Execution
	eventually(t, "the trailing run", func() bool {
		e, _ = c.GetExecution(ctx, trailing)
		return e != nil && e.Done()
	})
	if string(e.Result) != `{"n":4}` {
		t.Fatalf("trailing run lost the last change: %s", e.Result)
	}
	list, _ := c.ListExecutions(ctx, client.ExecutionFilter{JobID: j.ID})
	if list.Total != 2 {
		t.Fatalf("%d executions for 5 calls in one window, want 2", list.Total)
	}
}

// A trigger call whose job is kind event: the call, the run, the job's event
// with its delivery and the job.succeeded outcome are committed together
// (the run starts and ends in the accepting transaction on SQLite; through a
// claim on PostgreSQL), a sync call answers 200 with the result at once, and
// both events reach the subscribed webhook.
func TestInboundEventJobBridge(t *testing.T) { onBackends(t, testInboundEventJobBridge) }

func testInboundEventJobBridge(t *testing.T) {
	t.Parallel()
	s := start(t, "")
	c := s.client()
	ctx := context.Background()
	rc := newRecorder(t, nil)
	if _, err := c.CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"order.*", "job.*"}}); err != nil {
		t.Fatal(err)
	}
	tr, res, out := callEventJob(t, c, `{"order":42}`, 1)
	waitDelivery(t, c, out.Deliveries[0], "delivered")
	eventually(t, "the event and the outcome delivered", func() bool { return rc.count() == 2 })
	types := map[string]map[string]any{}
	rc.mu.Lock()
	for _, r := range rc.reqs {
		var evt struct {
			Event string         `json:"event"`
			Data  map[string]any `json:"data"`
		}
		json.Unmarshal(r.Body, &evt)
		types[evt.Event] = evt.Data
	}
	rc.mu.Unlock()
	if types["order.paid"]["order"] != float64(42) {
		t.Errorf("order.paid data %v", types["order.paid"])
	}
	outcome := types["job.succeeded"]
	if outcome["execution_id"] != res.ExecutionID || outcome["trigger_id"] != tr.ID {
		t.Errorf("job.succeeded data %v", outcome)
	}
	if r, _ := outcome["result"].(map[string]any); r["event_id"] != out.EventID {
		t.Errorf("outcome result %v, want the run's event %s", outcome["result"], out.EventID)
	}
	exe, err := c.GetExecution(ctx, res.ExecutionID)
	if err != nil || exe.Status != "succeeded" || exe.Source != "webhook" || exe.StartedAt == nil || exe.FinishedAt == nil {
		t.Fatalf("execution %+v (%v)", exe, err)
	}
	calls, err := c.ListTriggerCalls(ctx, tr.ID, client.CallFilter{})
	if err != nil || calls.Total != 1 || calls.Data[0].Disposition != "accepted" || calls.Data[0].ExecutionID != exe.ID {
		t.Fatalf("call log %+v (%v)", calls, err)
	}
}

// eventResult is the result of an event job's run.
type eventResult struct {
	EventID    string   `json:"event_id"`
	Deliveries []string `json:"deliveries"`
}

// callEventJob makes an event job (type order.paid, concurrency 2) and a
// sync trigger of it, calls it with body and checks the answer: 200, the
// run succeeded, its event made deliveries deliveries.
func callEventJob(t *testing.T, c *client.Client, body string, deliveries int) (*client.Trigger, *client.TriggerResponse, eventResult) {
	t.Helper()
	ctx := context.Background()
	j, err := c.CreateJob(ctx, client.JobCreate{Name: "paid", Kind: "event", Config: map[string]any{"type": "order.paid"}, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.CreateTrigger(ctx, client.TriggerCreate{JobID: j.ID, Mode: "sync", WaitSeconds: 20})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.CallTrigger(ctx, tr.Token, []byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out eventResult
	if err := json.Unmarshal(res.Result, &out); err != nil || res.HTTPStatus != 200 || res.Status != "succeeded" ||
		out.EventID == "" || len(out.Deliveries) != deliveries {
		t.Fatalf("sync answer %+v (%s)", res, res.Result)
	}
	return tr, res, out
}

// A trigger call whose job is kind event that no webhook subscribes to: its
// event makes no deliveries (on SQLite it is kept on the execution, with no
// events row of its own) and reads back through GET /v1/events/{id} all the
// same.
func TestInboundEventJobUnsubscribed(t *testing.T) { onBackends(t, testInboundEventJobUnsubscribed) }

func testInboundEventJobUnsubscribed(t *testing.T) {
	t.Parallel()
	s := start(t, "")
	c := s.client()
	ctx := context.Background()
	_, res, out := callEventJob(t, c, `{"order":43}`, 0)
	exe, err := c.GetExecution(ctx, res.ExecutionID)
	if err != nil || exe.FinishedAt == nil {
		t.Fatalf("execution %+v (%v)", exe, err)
	}
	evt, err := c.GetEvent(ctx, out.EventID)
	if err != nil || evt.ID != out.EventID || evt.Type != "order.paid" || string(evt.Data) != `{"order":43}` ||
		len(evt.Deliveries) != 0 || !evt.Timestamp.Equal(*exe.FinishedAt) {
		t.Fatalf("GET /v1/events/%s: %+v (%v)", out.EventID, evt, err)
	}
}
