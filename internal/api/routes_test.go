package api

import (
	"net/http"
	"strings"
	"testing"
)

// routeCase says how the tests call one route of the table.
type routeCase struct {
	path func(f fixture) string
	body any // sent as JSON; nil: no body
	ok   int // status of a successful call
}

func lit(p string) func(fixture) string { return func(fixture) string { return p } }

// routeCases has one entry per route of routeTable (TestRouteCasesCoverTable
// keeps them in step), each with a request that succeeds on a fixture.
var routeCases = map[string]routeCase{
	"GET /healthz":      {path: lit("/healthz"), ok: 200},
	"GET /readyz":       {path: lit("/readyz"), ok: 200},
	"GET /metrics":      {path: lit("/metrics"), ok: 200},
	"GET /openapi.json": {path: lit("/openapi.json"), ok: 200},

	"POST /v1/workspaces": {path: lit("/v1/workspaces"), body: map[string]any{"name": "new-ws"}, ok: 201},
	"GET /v1/workspaces":  {path: lit("/v1/workspaces"), ok: 200},

	"POST /v1/api-keys":        {path: lit("/v1/api-keys"), body: map[string]any{"name": "ci", "scopes": []string{"write"}}, ok: 201},
	"GET /v1/api-keys":         {path: lit("/v1/api-keys"), ok: 200},
	"DELETE /v1/api-keys/{id}": {path: func(f fixture) string { return "/v1/api-keys/" + f.apiKey }, ok: 204},

	"POST /v1/webhooks":                        {path: lit("/v1/webhooks"), body: map[string]any{"url": "https://example.com/in"}, ok: 201},
	"GET /v1/webhooks":                         {path: lit("/v1/webhooks"), ok: 200},
	"GET /v1/webhooks/{id}":                    {path: func(f fixture) string { return "/v1/webhooks/" + f.webhook }, ok: 200},
	"PATCH /v1/webhooks/{id}":                  {path: func(f fixture) string { return "/v1/webhooks/" + f.webhook }, body: map[string]any{"description": "d"}, ok: 200},
	"DELETE /v1/webhooks/{id}":                 {path: func(f fixture) string { return "/v1/webhooks/" + f.webhook }, ok: 204},
	"POST /v1/webhooks/{id}/rotate-secret":     {path: func(f fixture) string { return "/v1/webhooks/" + f.webhook + "/rotate-secret" }, body: map[string]any{}, ok: 200},
	"GET /v1/webhooks/{id}/deliveries":         {path: func(f fixture) string { return "/v1/webhooks/" + f.webhook + "/deliveries" }, ok: 200},
	"GET /v1/webhooks/{id}/deliveries/summary": {path: func(f fixture) string { return "/v1/webhooks/" + f.webhook + "/deliveries/summary" }, ok: 200},

	"GET /v1/deliveries/{id}":        {path: func(f fixture) string { return "/v1/deliveries/" + f.delivery }, ok: 200},
	"POST /v1/deliveries/{id}/retry": {path: func(f fixture) string { return "/v1/deliveries/" + f.delivery + "/retry" }, body: map[string]any{}, ok: 202},

	"POST /v1/events":     {path: lit("/v1/events"), body: map[string]any{"type": "a.b", "data": map[string]any{}}, ok: 202},
	"GET /v1/events/{id}": {path: func(f fixture) string { return "/v1/events/" + f.event }, ok: 200},

	"POST /v1/triggers":                    {path: lit("/v1/triggers"), body: map[string]any{"job_id": "<job>"}, ok: 201},
	"GET /v1/triggers":                     {path: lit("/v1/triggers"), ok: 200},
	"GET /v1/triggers/{id}":                {path: func(f fixture) string { return "/v1/triggers/" + f.trigger }, ok: 200},
	"PATCH /v1/triggers/{id}":              {path: func(f fixture) string { return "/v1/triggers/" + f.trigger }, body: map[string]any{"name": "n"}, ok: 200},
	"DELETE /v1/triggers/{id}":             {path: func(f fixture) string { return "/v1/triggers/" + f.trigger }, ok: 204},
	"POST /v1/triggers/{id}/rotate-token":  {path: func(f fixture) string { return "/v1/triggers/" + f.trigger + "/rotate-token" }, body: map[string]any{}, ok: 200},
	"POST /v1/triggers/{id}/rotate-secret": {path: func(f fixture) string { return "/v1/triggers/" + f.trigger + "/rotate-secret" }, body: map[string]any{}, ok: 200},
	"GET /v1/triggers/{id}/calls":          {path: func(f fixture) string { return "/v1/triggers/" + f.trigger + "/calls" }, ok: 200},

	"POST /v1/jobs":          {path: lit("/v1/jobs"), body: map[string]any{"name": "j2", "kind": "event", "config": map[string]any{"type": "a.b"}}, ok: 201},
	"GET /v1/jobs":           {path: lit("/v1/jobs"), ok: 200},
	"GET /v1/jobs/{id}":      {path: func(f fixture) string { return "/v1/jobs/" + f.job }, ok: 200},
	"PATCH /v1/jobs/{id}":    {path: func(f fixture) string { return "/v1/jobs/" + f.job }, body: map[string]any{"owner_id": "o"}, ok: 200},
	"DELETE /v1/jobs/{id}":   {path: func(f fixture) string { return "/v1/jobs/" + f.job }, ok: 204},
	"POST /v1/jobs/{id}/run": {path: func(f fixture) string { return "/v1/jobs/" + f.job + "/run" }, body: map[string]any{"input": map[string]any{"a": 1}}, ok: 202},

	"GET /v1/executions":      {path: lit("/v1/executions"), ok: 200},
	"GET /v1/executions/{id}": {path: func(f fixture) string { return "/v1/executions/" + f.execution }, ok: 200},

	"POST /hooks/{token}":      {path: func(f fixture) string { return "/hooks/" + f.token }, body: map[string]any{"a": 1}, ok: 202},
	"GET /hooks/{token}":       {path: func(f fixture) string { return "/hooks/" + f.token }, ok: 202},
	"POST /v1/webhook/trigger": {path: lit("/v1/webhook/trigger"), body: map[string]any{"a": 1}, ok: 202},
}

// withJob puts the fixture's job id where a route case's body says "<job>".
func withJob(body any, f fixture) any {
	m, ok := body.(map[string]any)
	if !ok {
		return body
	}
	out := map[string]any{}
	for k, v := range m {
		if v == "<job>" {
			v = f.job
		}
		out[k] = v
	}
	return out
}

// tableRoutes returns the route table of a throwaway server (patterns and
// access only matter here).
func tableRoutes(t *testing.T) []route {
	t.Helper()
	return (&Server{}).routeTable()
}

func splitPattern(p string) (method, path string) {
	method, path, _ = strings.Cut(p, " ")
	return method, path
}

func TestRouteCasesCoverTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, rt := range tableRoutes(t) {
		if seen[rt.pattern] {
			t.Errorf("route %q is in the table twice", rt.pattern)
		}
		seen[rt.pattern] = true
		if _, ok := routeCases[rt.pattern]; !ok {
			t.Errorf("route %q has no test case in routeCases", rt.pattern)
		}
	}
	for p := range routeCases {
		if !seen[p] {
			t.Errorf("routeCases has %q, which is not in the table", p)
		}
	}
}

// TestRoutesOK calls every route of the table once, successfully, with the
// operator key (operator and admin of its workspace).
func TestRoutesOK(t *testing.T) { onBackends(t, testRoutesOK) }

func testRoutesOK(t *testing.T) {
	t.Parallel()
	for _, rt := range tableRoutes(t) {
		t.Run(rt.pattern, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			f := e.fixture()
			rc := routeCases[rt.pattern]
			method, _ := splitPattern(rt.pattern)
			key := e.operator
			if rt.access == triggerToken {
				key = f.token
			}
			r := e.do(method, rc.path(f), key, withJob(rc.body, f)).want(t, rc.ok)
			ct := r.Header.Get("Content-Type")
			switch {
			case rc.ok == http.StatusNoContent:
				if len(r.body) != 0 {
					t.Errorf("204 with body %q", r.body)
				}
			case rt.pattern == "GET /metrics":
				if !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type %q", ct)
				}
			default:
				if ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
				r.obj(t) // a JSON object
			}
			if r.Header.Get(requestIDHeader) == "" {
				t.Error("no X-Request-Id in the answer")
			}
		})
	}
}

// TestUnauthorized sends every non-public route a missing, wrong or
// malformed key; each answers the same 401 problem.
func TestUnauthorized(t *testing.T) { onBackends(t, testUnauthorized) }

func testUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture()
	auths := map[string]string{
		"missing":      "",
		"unknown":      "Bearer hk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"not hk":       "Bearer whsec_abc",
		"basic":        "Basic dXNlcjpwYXNz",
		"empty bearer": "Bearer ",
		"too long":     "Bearer hk_" + strings.Repeat("a", 300),
	}
	for _, rt := range tableRoutes(t) {
		if rt.access == public || rt.access == triggerToken {
			continue
		}
		t.Run(rt.pattern, func(t *testing.T) {
			t.Parallel()
			rc := routeCases[rt.pattern]
			method, _ := splitPattern(rt.pattern)
			var first string
			for name, auth := range auths {
				r := e.do(method, rc.path(f), "", rc.body, "Authorization", auth)
				p := r.wantProblem(t, http.StatusUnauthorized)
				if r.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: no WWW-Authenticate", name)
				}
				if first == "" {
					first = p.Detail
				} else if p.Detail != first {
					t.Errorf("%s: detail %q differs from %q", name, p.Detail, first)
				}
			}
		})
	}
	// Nothing was changed by the refused calls.
	e.do("GET", "/v1/webhooks/"+f.webhook, e.read, nil).want(t, 200)
}

// TestForbidden: a key without the scope a route needs gets 403 — read keys
// writing, write keys on admin routes, non-operator keys on workspaces.
func TestForbidden(t *testing.T) { onBackends(t, testForbidden) }

func testForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture()
	for _, rt := range tableRoutes(t) {
		var keys map[string]string
		switch rt.access {
		case public, read, triggerToken:
			continue
		case write:
			keys = map[string]string{"read": e.read}
		case admin:
			keys = map[string]string{"read": e.read, "write": e.writer}
		case operator:
			keys = map[string]string{"read": e.read, "write": e.writer, "admin": e.admin}
		}
		t.Run(rt.pattern, func(t *testing.T) {
			t.Parallel()
			rc := routeCases[rt.pattern]
			method, _ := splitPattern(rt.pattern)
			for name, k := range keys {
				t.Run(name, func(t *testing.T) {
					e.do(method, rc.path(f), k, rc.body).wantProblem(t, http.StatusForbidden)
				})
			}
		})
	}
	// Read keys can read.
	e.do("GET", "/v1/webhooks/"+f.webhook, e.read, nil).want(t, 200)
}

// TestCrossWorkspace: an admin key of another workspace sees 404 for every
// id on every route that takes one, and changes nothing.
func TestCrossWorkspace(t *testing.T) { onBackends(t, testCrossWorkspace) }

func testCrossWorkspace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture()
	n := 0
	t.Run("group", func(t *testing.T) {
		for _, rt := range tableRoutes(t) {
			if !strings.Contains(rt.pattern, "{id}") {
				continue
			}
			n++
			t.Run(rt.pattern, func(t *testing.T) {
				t.Parallel()
				rc := routeCases[rt.pattern]
				method, _ := splitPattern(rt.pattern)
				e.do(method, rc.path(f), e.other, withJob(rc.body, f)).wantProblem(t, http.StatusNotFound)
			})
		}
	})
	if n < 21 {
		t.Fatalf("only %d routes with an id", n)
	}
	e.do("GET", "/v1/webhooks/"+f.webhook, e.admin, nil).want(t, 200)
	keys := e.do("GET", "/v1/api-keys?limit=100", e.admin, nil).want(t, 200).obj(t)
	found := false
	for _, k := range keys["data"].([]any) {
		if k.(map[string]any)["id"] == f.apiKey {
			found = true
		}
	}
	if !found {
		t.Error("another workspace deleted an api key")
	}
	wh := e.do("GET", "/v1/webhooks/"+f.webhook, e.admin, nil).obj(t)
	if wh["description"] != "" {
		t.Errorf("another workspace patched the webhook: %v", wh)
	}
	trg := e.do("GET", "/v1/triggers/"+f.trigger, e.admin, nil).want(t, 200).obj(t)
	if trg["name"] != "" || trg["token_prefix"] != f.token[:8] || trg["has_secret"] != false {
		t.Errorf("another workspace changed the trigger: %v", trg)
	}
	j := e.do("GET", "/v1/jobs/"+f.job, e.admin, nil).want(t, 200).obj(t)
	if j["owner_id"] != "" {
		t.Errorf("another workspace patched the job: %v", j)
	}
	runs := e.do("GET", "/v1/executions?job_id="+f.job, e.admin, nil).want(t, 200).obj(t)
	if runs["total"] != float64(1) {
		t.Errorf("another workspace ran the job: %v", runs)
	}
}

// TestUnknownRouteAndMethod: unknown paths are 404 and known paths with the
// wrong method 405 with Allow, both as problem+json.
func TestUnknownRouteAndMethod(t *testing.T) { onBackends(t, testUnknownRouteAndMethod) }

func testUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/v1/webhooks/x/y/z", 404, ""},
		{"PUT", "/v1/webhooks", 405, "GET, HEAD, POST"},
		{"DELETE", "/v1/events", 405, "POST"},
		{"POST", "/healthz", 405, "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			r := e.do(tt.method, tt.path, e.admin, nil)
			p := r.wantProblem(t, tt.status)
			if got := r.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if tt.allow != "" && !strings.Contains(p.Detail, tt.method) {
				t.Errorf("detail %q does not name the method", p.Detail)
			}
		})
	}
}
