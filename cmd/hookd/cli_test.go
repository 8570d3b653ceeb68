package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const cliTestKey = "hk_good"

// cliRequest is one request the fake API received.
type cliRequest struct {
	Method, Path, Query, Auth, Idem string
	Body                            string
}

// fakeAPI behaves like the management API (DESIGN §2) as far as the CLI can
// tell: it checks the bearer key, answers problem+json errors, and answers
// canned objects for known paths. Ids ending in "_missing" are 404.
type fakeAPI struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []cliRequest
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) requests() []cliRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]cliRequest(nil), f.reqs...)
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, cliRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), string(b)})
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+cliTestKey {
		problem(w, 401, "Unauthorized", "missing or unknown API key")
		return
	}
	if strings.HasSuffix(r.URL.Path, "_missing") || strings.Contains(r.URL.Path, "_missing/") {
		problem(w, 404, "Not Found", "not found")
		return
	}
	if len(b) > 0 && !json.Valid(b) {
		problem(w, 400, "Bad Request", "request body is not valid JSON")
		return
	}
	list := func(item string) string { return `{"data":[` + item + `],"total":1,"limit":20,"offset":0}` }
	answer := func(status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
	switch p := r.Method + " " + r.URL.Path; {
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	case p == "POST /v1/webhooks" && strings.Contains(string(b), "max_attempts\":99"):
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"title":"Bad Request","status":400,"errors":[{"field":"max_attempts","message":"must be from 1 to 20"}]}`)
	case p == "GET /v1/webhooks":
		answer(200, list(`{"id":"wh_1","url":"https://a.test/h","events":["job.*"],"active":true,"created_at":"2025-01-02T03:04:05Z"}`))
	case strings.HasSuffix(p, "/deliveries/summary"):
		answer(200, `{"total":3,"pending":1,"processing":0,"delivered":1,"failed":1,"dead":0}`)
	case strings.HasSuffix(p, "/deliveries"):
		answer(200, list(`{"id":"dlv_1","webhook_id":"wh_1","event_type":"job.failed","status":"failed","attempts":8,"last_status_code":503}`))
	case p == "POST /v1/webhooks", strings.HasPrefix(p, "GET /v1/webhooks/wh_"), strings.HasPrefix(p, "PATCH /v1/webhooks/"):
		answer(200, `{"id":"wh_1","url":"https://a.test/h","events":["job.*"],"filters":{"job_id":"job_1"},"active":true,"secret":"whsec_x"}`)
	case strings.HasSuffix(p, "/rotate-secret"), strings.HasSuffix(p, "/rotate-token"):
		answer(200, `{"id":"x","secret":"s"}`)
	case strings.HasPrefix(p, "GET /v1/deliveries/"), strings.HasPrefix(p, "POST /v1/deliveries/"):
		answer(200, `{"id":"dlv_1","status":"pending","attempt_list":[{"id":"att_1","number":1}]}`)
	case p == "POST /v1/events", strings.HasPrefix(p, "GET /v1/events/"):
		answer(202, `{"id":"evt_1","type":"order.paid","timestamp":"2025-01-02T03:04:05Z","deliveries":["dlv_1"]}`)
	case p == "GET /v1/triggers":
		answer(200, list(`{"id":"trg_1","name":"gh","job_id":"job_1","token_prefix":"wht_abcd","mode":"async","is_active":true,"has_secret":true,"signature":"github"}`))
	case strings.HasSuffix(p, "/calls"):
		answer(200, list(`{"id":"call_1","disposition":"bad_signature","status_code":401,"ip":"10.0.0.1","method":"POST"}`))
	case strings.HasPrefix(p, "POST /v1/triggers"), strings.HasPrefix(p, "GET /v1/triggers/"), strings.HasPrefix(p, "PATCH /v1/triggers/"):
		answer(201, `{"id":"trg_1","job_id":"job_1","token":"wht_abc","url":"http://h/hooks/wht_abc"}`)
	case p == "GET /v1/jobs":
		answer(200, list(`{"id":"job_1","name":"refresh","kind":"http","concurrency":1,"schedule":{"every":"1h"}}`))
	case strings.HasSuffix(p, "/run"):
		if r.URL.Query().Get("wait") != "" && strings.Contains(string(b), "fail") {
			answer(500, `{"success":false,"execution_id":"exe_2","status":"failed","reason":"exit status 1"}`)
			return
		}
		answer(202, `{"success":true,"execution_id":"exe_1","status":"queued"}`)
	case strings.HasPrefix(p, "POST /v1/jobs"), strings.HasPrefix(p, "GET /v1/jobs/"):
		answer(201, `{"id":"job_1","name":"refresh","kind":"http"}`)
	case p == "GET /v1/executions":
		answer(200, list(`{"id":"exe_1","job_id":"job_1","status":"succeeded","source":"api","duration_ms":1500,"finished_at":"2025-01-02T03:04:05Z"}`))
	case strings.HasPrefix(p, "GET /v1/executions/"):
		answer(200, `{"id":"exe_1","status":"succeeded","result":{"ok":true}}`)
	case p == "GET /v1/workspaces":
		answer(200, list(`{"id":"ws_1","name":"default"}`))
	case p == "POST /v1/workspaces":
		answer(201, `{"id":"ws_2","name":"acme","api_key":"hk_new"}`)
	case p == "GET /v1/api-keys":
		answer(200, list(`{"id":"key_1","name":"operator","prefix":"hk_abcde","scopes":["admin"],"operator":true}`))
	case p == "POST /v1/api-keys":
		answer(201, `{"id":"key_2","scopes":["read"],"key":"hk_secret"}`)
	default:
		problem(w, 404, "Not Found", "no such route")
	}
}

// cliRun runs the CLI with env (HOOKD_SERVER pointing at the fake unless env
// sets it) and returns the exit status and outputs.
func cliRun(t *testing.T, f *fakeAPI, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	e := map[string]string{"HOOKD_DATA_DIR": filepath.Join(t.TempDir(), "none")}
	if f != nil {
		e["HOOKD_SERVER"] = f.srv.URL
		e["HOOKD_API_KEY"] = cliTestKey
	}
	for k, v := range env {
		e[k] = v
	}
	var out, errb bytes.Buffer
	code := runCLIEnv(context.Background(), args, func(k string) string { return e[k] }, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func jsonSame(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestCLIRequests checks that each verb's flags become the right request.
func TestCLIRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stdin  string
		method string
		path   string
		query  string
		body   string // JSON; "" for none
		idem   string
		out    string // stdout contains
	}{
		{name: "WebhooksList", args: []string{"webhooks", "list"}, method: "GET", path: "/v1/webhooks", out: "wh_1"},
		{name: "WebhooksListFilters", args: []string{"webhooks", "list", "--owner", "bot", "--all", "--limit", "5", "--offset", "10"},
			method: "GET", path: "/v1/webhooks", query: "include_inactive=true&limit=5&offset=10&owner_id=bot"},
		{name: "SingularNoun", args: []string{"webhook", "list"}, method: "GET", path: "/v1/webhooks"},
		{name: "WebhooksCreate", args: []string{"webhooks", "create", "--url", "https://a.test/h", "--events", "job.*,order.*", "--events", "x",
			"--filters", `{"job_id":"job_1"}`, "--owner", "bot", "--max-attempts", "3", "--header", "X-Team: blue"},
			method: "POST", path: "/v1/webhooks", out: `"secret": "whsec_x"`,
			body: `{"url":"https://a.test/h","events":["job.*","order.*","x"],"filters":{"job_id":"job_1"},"owner_id":"bot","max_attempts":3,"headers":{"X-Team":"blue"}}`},
		{name: "WebhooksGetFlagAfterID", args: []string{"webhooks", "get", "wh_1", "-o", "table"}, method: "GET", path: "/v1/webhooks/wh_1", out: "filters.job_id"},
		{name: "WebhooksUpdateOnlySet", args: []string{"webhooks", "update", "wh_1", "--active=false", "--events", "a"},
			method: "PATCH", path: "/v1/webhooks/wh_1", body: `{"active":false,"events":["a"]}`},
		{name: "WebhooksDelete", args: []string{"webhooks", "delete", "wh_1"}, method: "DELETE", path: "/v1/webhooks/wh_1", out: "deleted wh_1"},
		{name: "WebhooksRotateDefault", args: []string{"webhooks", "rotate-secret", "wh_1"}, method: "POST", path: "/v1/webhooks/wh_1/rotate-secret", body: `{}`},
		{name: "WebhooksRotateGrace", args: []string{"webhooks", "rotate-secret", "--grace", "0", "wh_1"}, method: "POST", path: "/v1/webhooks/wh_1/rotate-secret", body: `{"grace_seconds":0}`},
		{name: "EventsPublish", args: []string{"events", "publish", "--type", "order.paid", "--data", `{"n":1}`, "--owner", "shop", "--idempotency-key", "k1"},
			method: "POST", path: "/v1/events", idem: "k1", out: "evt_1",
			body: `{"type":"order.paid","data":{"n":1},"owner_id":"shop","idempotency_key":"k1"}`},
		{name: "EventsPublishStdin", args: []string{"events", "publish", "--type", "t", "--data", "-"}, stdin: "{\"from\":\"stdin\"}\n",
			method: "POST", path: "/v1/events", body: `{"type":"t","data":{"from":"stdin"}}`},
		{name: "EventsPublishDefaultData", args: []string{"events", "publish", "--type", "t"}, method: "POST", path: "/v1/events", body: `{"type":"t","data":{}}`},
		{name: "EventsGet", args: []string{"events", "get", "evt_1"}, method: "GET", path: "/v1/events/evt_1"},
		{name: "DeliveriesList", args: []string{"deliveries", "list", "--webhook", "wh_1", "--status", "failed"},
			method: "GET", path: "/v1/webhooks/wh_1/deliveries", query: "status=failed", out: "job.failed"},
		{name: "DeliveriesGet", args: []string{"deliveries", "get", "dlv_1"}, method: "GET", path: "/v1/deliveries/dlv_1", out: "attempt_list"},
		{name: "DeliveriesRetry", args: []string{"deliveries", "retry", "dlv_1"}, method: "POST", path: "/v1/deliveries/dlv_1/retry", body: `{}`},
		{name: "DeliveriesSummary", args: []string{"deliveries", "summary", "--webhook", "wh_1"}, method: "GET", path: "/v1/webhooks/wh_1/deliveries/summary", out: `"delivered": 1`},
		{name: "TriggersList", args: []string{"triggers", "list", "--job", "job_1"}, method: "GET", path: "/v1/triggers", query: "job_id=job_1", out: "wht_abcd…"},
		{name: "TriggersCreate", args: []string{"triggers", "create", "--job", "job_1", "--mode", "sync", "--wait", "10", "--methods", "POST",
			"--signature", "github", "--generate-secret", "--map", "pr=body.number", "--cooldown", "60"},
			method: "POST", path: "/v1/triggers", out: "wht_abc",
			body: `{"job_id":"job_1","mode":"sync","wait_seconds":10,"methods":["POST"],"signature":"github","generate_secret":true,"input_mapping":{"pr":"body.number"},"cooldown_seconds":60}`},
		{name: "TriggersUpdate", args: []string{"triggers", "update", "trg_1", "--active=false"}, method: "PATCH", path: "/v1/triggers/trg_1", body: `{"is_active":false}`},
		{name: "TriggersGet", args: []string{"triggers", "get", "trg_1"}, method: "GET", path: "/v1/triggers/trg_1"},
		{name: "TriggersDelete", args: []string{"triggers", "delete", "trg_1", "-o", "json"}, method: "DELETE", path: "/v1/triggers/trg_1", out: `"deleted": "trg_1"`},
		{name: "TriggersRotateToken", args: []string{"triggers", "rotate-token", "trg_1", "--grace", "60"}, method: "POST", path: "/v1/triggers/trg_1/rotate-token", body: `{"grace_seconds":60}`},
		{name: "TriggersRotateSecret", args: []string{"triggers", "rotate-secret", "trg_1"}, method: "POST", path: "/v1/triggers/trg_1/rotate-secret", body: `{}`},
		{name: "TriggersCalls", args: []string{"triggers", "calls", "trg_1", "--disposition", "bad_signature"},
			method: "GET", path: "/v1/triggers/trg_1/calls", query: "disposition=bad_signature", out: "bad_signature"},
		{name: "JobsList", args: []string{"jobs", "list"}, method: "GET", path: "/v1/jobs", out: "every 1h"},
		{name: "JobsCreate", args: []string{"jobs", "create", "--name", "refresh", "--kind", "http", "--config", `{"url":"http://svc/refresh"}`, "--every", "1h", "--timeout", "30"},
			method: "POST", path: "/v1/jobs", body: `{"name":"refresh","kind":"http","config":{"url":"http://svc/refresh"},"timeout_seconds":30,"schedule":{"every":"1h"}}`},
		{name: "JobsGet", args: []string{"jobs", "get", "job_1"}, method: "GET", path: "/v1/jobs/job_1"},
		{name: "JobsDelete", args: []string{"jobs", "delete", "job_1"}, method: "DELETE", path: "/v1/jobs/job_1"},
		{name: "JobsRun", args: []string{"jobs", "run", "job_1", "--input", `{"a":1}`}, method: "POST", path: "/v1/jobs/job_1/run", body: `{"input":{"a":1}}`, out: "exe_1"},
		{name: "JobsRunWait", args: []string{"jobs", "run", "job_1", "--wait", "5"}, method: "POST", path: "/v1/jobs/job_1/run", query: "wait=5", body: `{}`},
		{name: "ExecutionsList", args: []string{"executions", "list", "--job", "job_1", "--status", "succeeded", "--source", "api", "--trigger", "trg_1"},
			method: "GET", path: "/v1/executions", query: "job_id=job_1&source=api&status=succeeded&trigger_id=trg_1", out: "1.5s"},
		{name: "ExecutionsGet", args: []string{"executions", "get", "exe_1"}, method: "GET", path: "/v1/executions/exe_1", out: `"ok": true`},
		{name: "WorkspacesList", args: []string{"workspaces", "list"}, method: "GET", path: "/v1/workspaces", out: "default"},
		{name: "WorkspacesCreate", args: []string{"workspaces", "create", "--name", "acme"}, method: "POST", path: "/v1/workspaces", body: `{"name":"acme"}`, out: `"api_key": "hk_new"`},
		{name: "KeysList", args: []string{"keys", "list"}, method: "GET", path: "/v1/api-keys", out: "hk_abcde"},
		{name: "KeysCreateDefaultScope", args: []string{"keys", "create", "--name", "ci"}, method: "POST", path: "/v1/api-keys", body: `{"name":"ci","scopes":["read"]}`, out: "hk_secret"},
		{name: "KeysCreateScopes", args: []string{"keys", "create", "--scopes", "read,write"}, method: "POST", path: "/v1/api-keys", body: `{"scopes":["read","write"]}`},
		{name: "KeysDelete", args: []string{"keys", "delete", "key_1"}, method: "DELETE", path: "/v1/api-keys/key_1"},
		{name: "GlobalFlagsFirst", args: []string{"-o", "json", "jobs", "list"}, method: "GET", path: "/v1/jobs", out: `"total": 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			code, out, errOut := cliRun(t, f, nil, tt.stdin, tt.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1: %+v", len(reqs), reqs)
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path || r.Query != tt.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, tt.method, tt.path, tt.query)
			}
			if r.Auth != "Bearer "+cliTestKey {
				t.Errorf("Authorization %q", r.Auth)
			}
			if r.Idem != tt.idem {
				t.Errorf("Idempotency-Key %q, want %q", r.Idem, tt.idem)
			}
			if tt.body == "" && r.Body != "" {
				t.Errorf("body %s, want none", r.Body)
			} else if tt.body != "" && !jsonSame(t, r.Body, tt.body) {
				t.Errorf("body %s\nwant %s", r.Body, tt.body)
			}
			if !strings.Contains(out, tt.out) {
				t.Errorf("stdout %q does not contain %q", out, tt.out)
			}
		})
	}
}

// TestCLIErrors checks exit statuses and the one-line messages on stderr.
func TestCLIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		stderr   string // the whole of stderr, without its newline
		requests int
	}{
		{name: "NoCommand", args: nil, code: 2, stderr: "hookd: no command given (see hookd help)"},
		{name: "UnknownNoun", args: []string{"frobs", "list"}, code: 2, stderr: `hookd: unknown command "frobs" (see hookd help)`},
		{name: "NoVerb", args: []string{"jobs"}, code: 2, stderr: "hookd: jobs: no verb given: list, create, get, delete, run (see hookd help jobs)"},
		{name: "UnknownVerb", args: []string{"jobs", "explode"}, code: 2, stderr: `hookd: jobs: unknown verb "explode" (see hookd help jobs)`},
		{name: "UnknownFlag", args: []string{"webhooks", "list", "--bogus"}, code: 2,
			stderr: "hookd: webhooks list: flag provided but not defined: -bogus (see hookd webhooks list -h)"},
		{name: "BadInt", args: []string{"webhooks", "list", "--limit", "many"}, code: 2,
			stderr: `hookd: webhooks list: invalid value "many" for flag -limit: parse error (see hookd webhooks list -h)`},
		{name: "BadGlobalFlag", args: []string{"--nope", "jobs", "list"}, code: 2, stderr: "hookd: flag provided but not defined: -nope (see hookd help)"},
		{name: "MissingID", args: []string{"webhooks", "get"}, code: 2, stderr: "hookd: webhooks get: missing ID (see hookd webhooks get -h)"},
		{name: "ExtraArgs", args: []string{"webhooks", "get", "wh_1", "wh_2"}, code: 2, stderr: "hookd: webhooks get: too many arguments (see hookd webhooks get -h)"},
		{name: "UnexpectedArg", args: []string{"jobs", "list", "job_1"}, code: 2, stderr: `hookd: jobs list: unexpected argument "job_1" (see hookd jobs list -h)`},
		{name: "BadOutput", args: []string{"jobs", "list", "-o", "yaml"}, code: 2, stderr: `hookd: jobs list: -o must be json or table, not "yaml"`},
		{name: "CreateNoURL", args: []string{"webhooks", "create"}, code: 2, stderr: "hookd: webhooks create: --url is required"},
		{name: "UpdateNothing", args: []string{"webhooks", "update", "wh_1"}, code: 2, stderr: "hookd: webhooks update: nothing to change (see hookd webhooks update -h)"},
		{name: "BadFilters", args: []string{"webhooks", "create", "--url", "https://x", "--filters", "[1]"}, code: 2, stderr: "hookd: webhooks create: --filters: must be a JSON object"},
		{name: "BadHeader", args: []string{"webhooks", "create", "--url", "https://x", "--header", "nocolon"}, code: 2,
			stderr: `hookd: webhooks create: invalid value "nocolon" for flag -header: want KEY:VALUE, got "nocolon" (see hookd webhooks create -h)`},
		{name: "PublishNoType", args: []string{"events", "publish"}, code: 2, stderr: "hookd: events publish: --type is required"},
		{name: "PublishBadJSON", args: []string{"events", "publish", "--type", "t", "--data", "{nope"}, code: 2, stderr: "hookd: events publish: --data: not valid JSON"},
		{name: "PublishNotObject", args: []string{"events", "publish", "--type", "t", "--data", "[1]"}, code: 2, stderr: "hookd: events publish: --data: must be a JSON object"},
		{name: "DeliveriesNoWebhook", args: []string{"deliveries", "list"}, code: 2, stderr: "hookd: deliveries list: --webhook is required"},
		{name: "SummaryNoWebhook", args: []string{"deliveries", "summary"}, code: 2, stderr: "hookd: deliveries summary: --webhook is required"},
		{name: "TriggerNoJob", args: []string{"triggers", "create"}, code: 2, stderr: "hookd: triggers create: --job is required"},
		{name: "TriggerTwoSecrets", args: []string{"triggers", "create", "--job", "j", "--secret", "s", "--generate-secret"}, code: 2,
			stderr: "hookd: triggers create: give --generate-secret or --secret, not both"},
		{name: "NegativeGrace", args: []string{"triggers", "rotate-token", "trg_1", "--grace", "-5"}, code: 2, stderr: "hookd: triggers rotate-token: --grace must be ≥ 0"},
		{name: "JobBothSchedules", args: []string{"jobs", "create", "--name", "n", "--kind", "http", "--every", "1h", "--cron", "* * * * *"}, code: 2,
			stderr: "hookd: jobs create: give --every or --cron, not both"},
		{name: "JobBadEvery", args: []string{"jobs", "create", "--name", "n", "--kind", "http", "--every", "often"}, code: 2,
			stderr: `hookd: jobs create: --every: time: invalid duration "often"`},
		{name: "KeyBadScope", args: []string{"keys", "create", "--scopes", "root"}, code: 2, stderr: `hookd: keys create: unknown scope "root" (read, write, admin)`},
		{name: "WorkspaceNoName", args: []string{"workspaces", "create"}, code: 2, stderr: "hookd: workspaces create: --name is required"},
		{name: "NoAPIKey", args: []string{"jobs", "list"}, env: map[string]string{"HOOKD_API_KEY": ""}, code: 2, stderr: "hookd: no API key: "},

		{name: "ErrNotFound", args: []string{"webhooks", "get", "wh_missing"}, code: 1, stderr: "hookd: 404 Not Found: not found", requests: 1},
		{name: "ErrUnauthorized", args: []string{"jobs", "list", "--api-key", "hk_bad"}, code: 1,
			stderr: "hookd: 401 Unauthorized: missing or unknown API key", requests: 1},
		{name: "ErrFieldErrors", args: []string{"webhooks", "create", "--url", "https://x", "--max-attempts", "99"}, code: 1,
			stderr: "hookd: 400 Bad Request: max_attempts: must be from 1 to 20", requests: 1},
		{name: "ErrRunFailed", args: []string{"jobs", "run", "job_1", "--wait", "5", "--input", `"fail"`}, code: 1,
			stderr: "hookd: execution exe_2 failed: exit status 1", requests: 1},
		{name: "ErrUnreachable", args: []string{"jobs", "list"}, env: map[string]string{"HOOKD_SERVER": "http://127.0.0.1:1"}, code: 1, stderr: "hookd: GET /v1/jobs: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			code, _, errOut := cliRun(t, f, tt.env, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
				t.Errorf("stderr is not one line: %q", errOut)
			}
			line := strings.TrimSuffix(errOut, "\n")
			if strings.HasSuffix(tt.stderr, ": ") {
				if !strings.HasPrefix(line, tt.stderr) {
					t.Errorf("stderr %q, want prefix %q", line, tt.stderr)
				}
			} else if line != tt.stderr {
				t.Errorf("stderr %q\nwant     %q", line, tt.stderr)
			}
			if n := len(f.requests()); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

// TestCLIAPIKey checks where the key comes from: --api-key, then
// HOOKD_API_KEY, then <data-dir>/admin.key.
func TestCLIAPIKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin.key"), []byte(cliTestKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
	}{
		{"FlagBeatsEnv", map[string]string{"HOOKD_API_KEY": "hk_bad"}, []string{"--api-key", cliTestKey, "jobs", "list"}, 0},
		{"FlagAfterVerb", map[string]string{"HOOKD_API_KEY": "hk_bad"}, []string{"jobs", "list", "--api-key", cliTestKey}, 0},
		{"Env", nil, []string{"jobs", "list"}, 0},
		{"EnvBeatsFile", map[string]string{"HOOKD_API_KEY": "hk_bad", "HOOKD_DATA_DIR": dir}, []string{"jobs", "list"}, 1},
		{"FileFromEnvDataDir", map[string]string{"HOOKD_API_KEY": "", "HOOKD_DATA_DIR": dir}, []string{"jobs", "list"}, 0},
		{"FileFromFlagDataDir", map[string]string{"HOOKD_API_KEY": ""}, []string{"--data-dir", dir, "jobs", "list"}, 0},
		{"NoKeyAnywhere", map[string]string{"HOOKD_API_KEY": ""}, []string{"jobs", "list"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			code, _, errOut := cliRun(t, f, tt.env, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
		})
	}
}

// TestCLIServerFlag checks --server (with or without a scheme) over
// HOOKD_SERVER.
func TestCLIServerFlag(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	hostPort := strings.TrimPrefix(f.srv.URL, "http://")
	code, _, errOut := cliRun(t, f, map[string]string{"HOOKD_SERVER": "http://127.0.0.1:1"}, "", "--server", hostPort, "jobs", "list")
	if code != 0 || len(f.requests()) != 1 {
		t.Fatalf("exit %d, stderr %q, %d requests", code, errOut, len(f.requests()))
	}
}

// TestCLIOutput checks the table and JSON forms.
func TestCLIOutput(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	_, out, _ := cliRun(t, f, nil, "", "webhooks", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], "wh_1 ") || !strings.Contains(lines[1], "https://a.test/h") {
		t.Errorf("table:\n%s", out)
	}
	_, out, _ = cliRun(t, f, nil, "", "webhooks", "list", "-o", "json")
	var l struct {
		Data  []map[string]any `json:"data"`
		Total int              `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.Total != 1 || l.Data[0]["id"] != "wh_1" {
		t.Errorf("json list %v:\n%s", err, out)
	}
	_, out, _ = cliRun(t, f, nil, "", "webhooks", "get", "wh_1")
	var wh map[string]any
	if err := json.Unmarshal([]byte(out), &wh); err != nil || wh["id"] != "wh_1" {
		t.Errorf("json object %v:\n%s", err, out)
	}
}

// TestCLIHelp checks help, -h and version: stdout, exit 0, no request.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		out  string
	}{
		{"Help", []string{"help"}, "hookd [global flags] NOUN VERB"},
		{"DashH", []string{"-h"}, "hookd [global flags] NOUN VERB"},
		{"HelpNoun", []string{"help", "triggers"}, "rotate-token ID"},
		{"NounH", []string{"deliveries", "-h"}, "summary"},
		{"VerbH", []string{"webhooks", "create", "-h"}, "-max-attempts"},
		{"VerbHelpAfterArgs", []string{"jobs", "run", "job_1", "--help"}, "usage: hookd jobs run [flags] ID"},
		{"Version", []string{"version"}, "hookd "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			code, out, errOut := cliRun(t, f, nil, "", tt.args...)
			if code != 0 || errOut != "" {
				t.Errorf("exit %d, stderr %q", code, errOut)
			}
			if !strings.Contains(out, tt.out) {
				t.Errorf("stdout does not contain %q:\n%s", tt.out, out)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

// TestParseInterleaved checks flags before and after positional arguments.
func TestParseInterleaved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		pos  []string
		o    string
	}{
		{[]string{"a", "-o", "json"}, []string{"a"}, "json"},
		{[]string{"-o", "json", "a", "b"}, []string{"a", "b"}, "json"},
		{[]string{"a", "--", "-o", "json"}, []string{"a", "-o", "json"}, ""},
		{nil, nil, ""},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		o := fs.String("o", "", "")
		pos, err := parseInterleaved(fs, tt.args)
		if err != nil || !reflect.DeepEqual(pos, tt.pos) || *o != tt.o {
			t.Errorf("parseInterleaved(%q) = %q, -o %q, %v; want %q, %q", tt.args, pos, *o, err, tt.pos, tt.o)
		}
	}
}
