package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookd/hookd"
)

func TestJobCreate(t *testing.T) { onBackends(t, testJobCreate) }

func testJobCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := e.do("POST", "/v1/jobs", e.writer, map[string]any{
		"name": "refresh", "kind": "http", "config": map[string]any{"url": "http://svc.internal/refresh", "method": "put"},
		"schedule": map[string]any{"every": "1h"}, "owner_id": "bot",
	}).want(t, 201).obj(t)
	want := map[string]any{"name": "refresh", "kind": "http", "concurrency": float64(1), "timeout_seconds": float64(600),
		"owner_id": "bot", "from_config": false, "workspace_id": e.ws.ID,
		"config":   map[string]any{"url": "http://svc.internal/refresh", "method": "PUT"},
		"schedule": map[string]any{"every": "1h"}}
	for k, v := range want {
		if !equalJSON(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if !strings.HasPrefix(got["id"].(string), "job_") {
		t.Errorf("id %v", got["id"])
	}
	if g := e.do("GET", "/v1/jobs/"+got["id"].(string), e.read, nil).want(t, 200).obj(t); !equalJSON(g["config"], want["config"]) {
		t.Errorf("GET %v", g)
	}

	// Names are unique per workspace.
	e.do("POST", "/v1/jobs", e.writer, map[string]any{"name": "refresh", "kind": "event", "config": map[string]any{"type": "a.b"}}).wantProblem(t, 409)
	e.job(e.other, "refresh", nil)

	// Groups name jobs of the workspace.
	e.do("POST", "/v1/jobs", e.writer, map[string]any{"name": "all", "kind": "group", "config": map[string]any{"jobs": []string{"refresh", got["id"].(string)}}}).want(t, 201)
	e.do("POST", "/v1/jobs", e.writer, map[string]any{"name": "bad", "kind": "group", "config": map[string]any{"jobs": []string{"nope"}}}).wantProblem(t, 400, "config.jobs")

	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", map[string]any{"kind": "event", "config": map[string]any{"type": "a.b"}}, "name"},
		{"kind", map[string]any{"name": "x", "kind": "nope", "config": map[string]any{}}, "kind"},
		{"no config", map[string]any{"name": "x", "kind": "event"}, "config"},
		{"null config", map[string]any{"name": "x", "kind": "event", "config": nil}, "config"},
		{"config field", map[string]any{"name": "x", "kind": "event", "config": map[string]any{"type": "a.b", "extra": 1}}, "config"},
		{"concurrency", map[string]any{"name": "x", "kind": "event", "config": map[string]any{"type": "a.b"}, "concurrency": 101}, "concurrency"},
		{"timeout", map[string]any{"name": "x", "kind": "event", "config": map[string]any{"type": "a.b"}, "timeout_seconds": -1}, "timeout_seconds"},
		{"schedule", map[string]any{"name": "x", "kind": "event", "config": map[string]any{"type": "a.b"}, "schedule": map[string]any{"every": "soon"}}, "schedule.every"},
		{"owner", map[string]any{"name": "x", "kind": "event", "config": map[string]any{"type": "a.b"}, "owner_id": "a\x00"}, "owner_id"},
		{"unknown", map[string]any{"name": "x", "kind": "event", "config": map[string]any{"type": "a.b"}, "from_config": true}, "from_config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e.do("POST", "/v1/jobs", e.writer, tt.body).wantProblem(t, 400, tt.field)
		})
	}
}

func TestCommandJobs(t *testing.T) { onBackends(t, testCommandJobs) }

func testCommandJobs(t *testing.T) {
	t.Parallel()
	cmd := map[string]any{"name": "sh", "kind": "command", "config": map[string]any{"argv": []string{"/bin/true"}}}

	e := newEnv(t)
	p := e.do("POST", "/v1/jobs", e.admin, cmd).wantProblem(t, 403)
	if !strings.Contains(p.Detail, "--allow-command-jobs") {
		t.Errorf("detail %q", p.Detail)
	}
	id := e.job(e.admin, "ev", nil)["id"].(string)
	e.do("PATCH", "/v1/jobs/"+id, e.admin, map[string]any{"kind": "command", "config": cmd["config"]}).wantProblem(t, 403)
	if n := e.do("GET", "/v1/jobs", e.read, nil).obj(t)["total"]; n != float64(1) {
		t.Errorf("%v jobs", n)
	}

	allowed := newEnv(t, func(c *Config) { c.AllowCommandJobs = true })
	got := allowed.do("POST", "/v1/jobs", allowed.writer, cmd).want(t, 201).obj(t)
	if got["kind"] != "command" {
		t.Errorf("answer %v", got)
	}
	id = allowed.job(allowed.admin, "ev", nil)["id"].(string)
	allowed.do("PATCH", "/v1/jobs/"+id, allowed.admin, map[string]any{"kind": "command", "config": cmd["config"]}).want(t, 200)
}

func TestJobUpdate(t *testing.T) { onBackends(t, testJobUpdate) }

func testJobUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.job(e.writer, "taken", nil)
	id := e.job(e.writer, "mine", map[string]any{"kind": "event", "config": map[string]any{"type": "a.b"}, "schedule": map[string]any{"cron": "0 6 * * *"}})["id"].(string)
	path := "/v1/jobs/" + id
	wakes := e.jobs.wakes.Load()

	got := e.do("PATCH", path, e.writer, map[string]any{"name": "renamed", "concurrency": 3, "owner_id": "o", "schedule": nil}).want(t, 200).obj(t)
	if got["name"] != "renamed" || got["concurrency"] != float64(3) || got["owner_id"] != "o" || got["schedule"] != nil {
		t.Errorf("answer %v", got)
	}
	if e.jobs.wakes.Load() == wakes {
		t.Error("a schedule change did not wake the engine")
	}
	got = e.do("PATCH", path, e.writer, map[string]any{"schedule": map[string]any{"every": "15m"}, "config": map[string]any{"type": "c.d"}}).want(t, 200).obj(t)
	if !equalJSON(got["schedule"], map[string]any{"every": "15m"}) || !equalJSON(got["config"], map[string]any{"type": "c.d"}) || got["name"] != "renamed" {
		t.Errorf("answer %v", got)
	}
	e.do("PATCH", path, e.writer, map[string]any{"name": "taken"}).wantProblem(t, 409)
	e.do("PATCH", path, e.writer, map[string]any{"name": ""}).wantProblem(t, 400, "name")
	e.do("PATCH", path, e.writer, map[string]any{"kind": "http"}).wantProblem(t, 400, "config")
	e.do("PATCH", path, e.writer, map[string]any{"schedule": map[string]any{"every": "1h", "cron": "* * * * *"}}).wantProblem(t, 400, "schedule")
	e.do("PATCH", path, e.writer, map[string]any{"from_config": true}).wantProblem(t, 400, "from_config")
	e.do("PATCH", "/v1/jobs/job_nope", e.writer, map[string]any{"name": "x"}).wantProblem(t, 404)
	if g := e.do("GET", path, e.read, nil).obj(t); g["name"] != "renamed" || g["kind"] != "event" {
		t.Errorf("a refused PATCH changed the job: %v", g)
	}

	// Filters.
	if l := e.do("GET", "/v1/jobs?owner_id=o", e.read, nil).want(t, 200).obj(t); l["total"] != float64(1) {
		t.Errorf("owner filter %v", l)
	}
}

func TestJobFromConfig(t *testing.T) { onBackends(t, testJobFromConfig) }

func testJobFromConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j := &hookd.Job{ID: hookd.NewIDAt(hookd.PrefixJob, e.now()), WorkspaceID: e.ws.ID, Name: "nightly", Kind: hookd.JobCommand,
		Config: json.RawMessage(`{"argv":["/bin/true"]}`), Concurrency: 1, TimeoutSeconds: 60, FromConfig: true, CreatedAt: e.now(), UpdatedAt: e.now()}
	if err := e.store.JobCreate(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	path := "/v1/jobs/" + j.ID
	if g := e.do("GET", path, e.read, nil).want(t, 200).obj(t); g["from_config"] != true {
		t.Errorf("GET %v", g)
	}
	p := e.do("PATCH", path, e.admin, map[string]any{"owner_id": "x"}).wantProblem(t, 409)
	if !strings.Contains(p.Detail, "config file") {
		t.Errorf("detail %q", p.Detail)
	}
	e.do("DELETE", path, e.admin, nil).wantProblem(t, 409)
	// Running it is fine, command or not.
	e.do("POST", path+"/run", e.writer, nil).want(t, 202)
	e.do("GET", path, e.read, nil).want(t, 200)
}

func TestJobDelete(t *testing.T) { onBackends(t, testJobDelete) }

func testJobDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.job(e.writer, "doomed", nil)["id"].(string)
	trg := e.trigger(e.writer, map[string]any{"job_id": id})["id"].(string)
	exe := e.do("POST", "/v1/jobs/"+id+"/run", e.writer, nil).want(t, 202).obj(t)["execution_id"].(string)

	e.do("DELETE", "/v1/jobs/"+id, e.writer, nil).want(t, 204)
	e.do("GET", "/v1/jobs/"+id, e.read, nil).wantProblem(t, 404)
	e.do("GET", "/v1/triggers/"+trg, e.read, nil).wantProblem(t, 404)
	if x := e.do("GET", "/v1/executions/"+exe, e.read, nil).want(t, 200).obj(t); x["status"] != "canceled" {
		t.Errorf("queued execution of a deleted job: %v", x)
	}
	e.do("DELETE", "/v1/jobs/"+id, e.writer, nil).wantProblem(t, 404)
	e.do("POST", "/v1/jobs/"+id+"/run", e.writer, nil).wantProblem(t, 404)
}

func TestJobRun(t *testing.T) { onBackends(t, testJobRun) }

func testJobRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.job(e.writer, "work", nil)["id"].(string)
	run := "/v1/jobs/" + id + "/run"
	wakes := e.jobs.wakes.Load()

	got := e.do("POST", run, e.writer, map[string]any{"input": map[string]any{"n": 1, "s": "x"}}).want(t, 202).obj(t)
	if got["success"] != true || got["status"] != "queued" || !strings.HasPrefix(got["execution_id"].(string), "exe_") {
		t.Fatalf("answer %v", got)
	}
	if e.jobs.wakes.Load() != wakes+1 {
		t.Error("the engine was not woken")
	}
	x := e.do("GET", "/v1/executions/"+got["execution_id"].(string), e.read, nil).want(t, 200).obj(t)
	if x["source"] != "api" || x["status"] != "queued" || x["job_id"] != id || !equalJSON(x["input"], map[string]any{"n": float64(1), "s": "x"}) {
		t.Errorf("execution %v", x)
	}
	// No body, an empty object and a null input all run with {}.
	for _, body := range []any{nil, map[string]any{}, map[string]any{"input": nil}} {
		id := e.do("POST", run, e.writer, body).want(t, 202).obj(t)["execution_id"].(string)
		if x := e.do("GET", "/v1/executions/"+id, e.read, nil).obj(t); !equalJSON(x["input"], map[string]any{}) {
			t.Errorf("body %v: input %v", body, x["input"])
		}
	}
	// Any JSON is an input.
	id2 := e.do("POST", run, e.writer, `{"input": [1, "two"]}`).want(t, 202).obj(t)["execution_id"].(string)
	if x := e.do("GET", "/v1/executions/"+id2, e.read, nil).obj(t); !equalJSON(x["input"], []any{float64(1), "two"}) {
		t.Errorf("array input %v", x["input"])
	}

	e.do("POST", run+"?wait=x", e.writer, nil).wantProblem(t, 400, "wait")
	e.do("POST", run+"?wait=301", e.writer, nil).wantProblem(t, 400, "wait")
	e.do("POST", run, e.writer, map[string]any{"inputs": 1}).wantProblem(t, 400, "inputs")
	e.do("POST", "/v1/jobs/job_nope/run", e.writer, nil).wantProblem(t, 404)
	e.do("POST", run, e.read, nil).wantProblem(t, 403)
}

// TestJobRunWait runs with ?wait= against a stand-in engine that finishes
// executions through the real store.
func TestJobRunWait(t *testing.T) { onBackends(t, testJobRunWait) }

func testJobRunWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.job(e.writer, "work", nil)["id"].(string)
	run := "/v1/jobs/" + id + "/run?wait=5"

	e.jobs.finish = func(c hookd.ClaimedExecution) (string, json.RawMessage, string) {
		return hookd.ExecSucceeded, json.RawMessage(`{"echo":` + string(c.Input) + `}`), ""
	}
	got := e.do("POST", run, e.writer, map[string]any{"input": map[string]any{"a": 1}}).want(t, 200).obj(t)
	if got["success"] != true || got["status"] != "succeeded" || !equalJSON(got["result"], map[string]any{"echo": map[string]any{"a": float64(1)}}) {
		t.Errorf("succeeded: %v", got)
	}
	x := e.do("GET", "/v1/executions/"+got["execution_id"].(string), e.read, nil).want(t, 200).obj(t)
	if x["status"] != "succeeded" || x["finished_at"] == nil {
		t.Errorf("stored %v", x)
	}

	e.jobs.finish = func(hookd.ClaimedExecution) (string, json.RawMessage, string) { return hookd.ExecFailed, nil, "boom" }
	got = e.do("POST", run, e.writer, nil).want(t, 500).obj(t)
	if got["success"] != false || got["status"] != "failed" || got["reason"] != "boom" || got["execution_id"] == "" {
		t.Errorf("failed: %v", got)
	}

	e.jobs.finish = nil // nothing runs: the wait ends with the current state
	got = e.do("POST", run, e.writer, nil).want(t, 202).obj(t)
	if got["success"] != true || got["status"] != "queued" {
		t.Errorf("still queued: %v", got)
	}
	// wait=0 does not wait.
	waits := e.jobs.waits.Load()
	e.do("POST", "/v1/jobs/"+id+"/run?wait=0", e.writer, nil).want(t, 202)
	if e.jobs.waits.Load() != waits {
		t.Error("wait=0 waited")
	}
}

func TestExecutionList(t *testing.T) { onBackends(t, testExecutionList) }

func testExecutionList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j1 := e.job(e.writer, "one", map[string]any{"kind": "event", "config": map[string]any{"type": "a.b"}, "concurrency": 5})["id"].(string)
	j2 := e.job(e.writer, "two", nil)["id"].(string)
	trg := e.trigger(e.writer, map[string]any{"job_id": j2})
	a := e.do("POST", "/v1/jobs/"+j1+"/run", e.writer, nil).want(t, 202).obj(t)["execution_id"]
	b := e.do("POST", "/hooks/"+trg["token"].(string), "", nil).want(t, 202).obj(t)["execution_id"]
	e.jobs.finish = func(hookd.ClaimedExecution) (string, json.RawMessage, string) {
		return hookd.ExecSucceeded, json.RawMessage(`1`), ""
	}
	c := e.do("POST", "/v1/jobs/"+j1+"/run?wait=10", e.writer, nil).want(t, 200).obj(t)["execution_id"]
	e.do("POST", "/v1/jobs/"+e.job(e.other, "x", nil)["id"].(string)+"/run", e.other, nil).want(t, 202)

	ids := func(q string) []any {
		t.Helper()
		var out []any
		for _, d := range e.do("GET", "/v1/executions"+q, e.read, nil).want(t, 200).obj(t)["data"].([]any) {
			out = append(out, d.(map[string]any)["id"])
		}
		return out
	}
	// The stand-in engine ran a and b along with c.
	for q, want := range map[string][]any{
		"":                                  {c, b, a},
		"?job_id=" + j1:                     {c, a},
		"?trigger_id=" + trg["id"].(string): {b},
		"?source=webhook":                   {b},
		"?source=api&limit=1":               {c},
		"?status=succeeded":                 {c, b, a},
		"?status=queued":                    nil,
	} {
		if got := ids(q); !equalJSON(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
	e.do("GET", "/v1/executions?status=done", e.read, nil).wantProblem(t, 400, "status")
	e.do("GET", "/v1/executions?source=cron", e.read, nil).wantProblem(t, 400, "source")
	e.do("GET", "/v1/executions/exe_nope", e.read, nil).wantProblem(t, 404)
}
