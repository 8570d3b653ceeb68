package api

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/signature"
)

// noLeak fails the test when one of secrets appears in the logs or in one of
// the answers given.
func (e *env) noLeak(t *testing.T, secrets []string, answers ...response) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range secrets {
		if s == "" {
			t.Fatal("noLeak: empty secret")
		}
		if strings.Contains(logs, s) {
			t.Errorf("%q reached the log", s)
		}
		for _, a := range answers {
			if strings.Contains(string(a.body), s) {
				t.Errorf("%s %s answered %q: %s", a.Request.Method, a.Request.URL, s, a.body)
			}
		}
	}
}

// keyID returns the id of the API key with secret.
func (e *env) keyID(secret string) string {
	e.t.Helper()
	k, err := e.store.APIKeyGetByHash(context.Background(), hookd.HashToken(secret))
	if err != nil {
		e.t.Fatal(err)
	}
	return k.ID
}

func TestTriggerCreateDefaults(t *testing.T) { onBackends(t, testTriggerCreateDefaults) }

func testTriggerCreateDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j := e.job(e.writer, "deploy", nil)
	r := e.do("POST", "/v1/triggers", e.writer, map[string]any{"job_id": j["id"], "name": "ci", "owner_id": "bot"}).want(t, 201)
	got := r.obj(t)
	tok, _ := got["token"].(string)
	if !strings.HasPrefix(tok, "wht_") || len(tok) != 4+43 {
		t.Fatalf("token %q", tok)
	}
	want := map[string]any{
		"job_id": j["id"], "name": "ci", "owner_id": "bot", "workspace_id": e.ws.ID, "token_prefix": tok[:8],
		"is_active": true, "has_secret": false, "signature": "hmac-sha256", "methods": []any{"POST", "GET"},
		"mode": "async", "wait_seconds": float64(25), "rate_limit_per_minute": float64(30), "cooldown_seconds": float64(0),
		"cooldown_mode": "coalesce", "dedup_header": "webhook-id", "input_mapping": map[string]any{},
		"created_by_id": e.keyID(e.writer), "url": "https://hooks.example.com/hooks/" + tok, "last_used_at": nil,
	}
	for k, v := range want {
		if !equalJSON(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if _, ok := got["secret"]; ok {
		t.Errorf("secret in the answer without generate_secret: %v", got)
	}
	id := got["id"].(string)
	if !strings.HasPrefix(id, "trg_") {
		t.Errorf("id %q", id)
	}
	st, err := e.store.TriggerGetByTokenHash(context.Background(), hookd.HashToken(tok), e.now())
	if err != nil || st.ID != id {
		t.Fatalf("by token hash: %v %v", st, err)
	}

	// The token works without any API key, on both paths.
	e.do("POST", "/hooks/"+tok, "", `{"a":1}`).want(t, 202)
	e.do("POST", "/v1/webhook/trigger", tok, `{"a":2}`).want(t, 202)
	x := e.do("GET", "/v1/executions?trigger_id="+id, e.read, nil).want(t, 200).obj(t)
	if x["total"] != float64(2) {
		t.Errorf("executions of the trigger: %v", x)
	}

	// Never again in an answer, nor in the logs.
	g := e.do("GET", "/v1/triggers/"+id, e.read, nil).want(t, 200)
	l := e.do("GET", "/v1/triggers", e.read, nil).want(t, 200)
	p := e.do("PATCH", "/v1/triggers/"+id, e.writer, map[string]any{"name": "ci2"}).want(t, 200)
	for _, a := range []response{g, l, p} {
		for _, k := range []string{`"token"`, `"url"`, `"secret"`, `"token_hash"`} {
			if strings.Contains(string(a.body), k) {
				t.Errorf("%s %s: %s in %s", a.Request.Method, a.Request.URL.Path, k, a.body)
			}
		}
	}
	e.noLeak(t, []string{tok}, g, l, p)
}

// equalJSON compares a decoded JSON value with a wanted one.
func equalJSON(got, want any) bool {
	switch w := want.(type) {
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !equalJSON(g[i], w[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k := range w {
			if !equalJSON(g[k], w[k]) {
				return false
			}
		}
		return true
	}
	return got == want
}

func TestTriggerSecrets(t *testing.T) { onBackends(t, testTriggerSecrets) }

func testTriggerSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j := e.job(e.writer, "deploy", nil)
	ctx := context.Background()
	var leaks []string
	var answers []response

	t.Run("generated hmac", func(t *testing.T) {
		r := e.do("POST", "/v1/triggers", e.writer, map[string]any{"job_id": j["id"], "generate_secret": true}).want(t, 201)
		got := r.obj(t)
		sec := got["secret"].(string)
		if b, err := hex.DecodeString(sec); err != nil || len(b) != 32 || got["has_secret"] != true {
			t.Fatalf("secret %q has_secret %v", sec, got["has_secret"])
		}
		st, err := e.store.TriggerGet(ctx, e.ws.ID, got["id"].(string))
		if err != nil || st.Secret != sec || !st.HasSecret {
			t.Fatalf("stored %+v %v", st, err)
		}
		// Signed calls pass, unsigned ones do not.
		tok := got["token"].(string)
		body := []byte(`{"x":1}`)
		h, err := signature.SignInbound(hookd.SchemeHMACSHA256, sec, body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.do("POST", "/hooks/"+tok, "", body, signature.HeaderHMAC, h.Get(signature.HeaderHMAC)).want(t, 202)
		e.do("POST", "/hooks/"+tok, "", body).want(t, 401)
		leaks = append(leaks, sec, tok)
		answers = append(answers, e.do("GET", "/v1/triggers/"+st.ID, e.read, nil).want(t, 200))
	})
	t.Run("generated standard-webhooks", func(t *testing.T) {
		got := e.trigger(e.writer, map[string]any{"job_id": j["id"], "generate_secret": true, "signature": "standard-webhooks"})
		sec := got["secret"].(string)
		if _, err := signature.DecodeSecret(sec); err != nil || !strings.HasPrefix(sec, "whsec_") {
			t.Fatalf("secret %q: %v", sec, err)
		}
		leaks = append(leaks, sec)
	})
	t.Run("given", func(t *testing.T) {
		const sec = "stripe-given-secret-123"
		r := e.do("POST", "/v1/triggers", e.writer, map[string]any{"job_id": j["id"], "secret": sec, "signature": "stripe"}).want(t, 201)
		got := r.obj(t)
		if _, ok := got["secret"]; ok || got["has_secret"] != true {
			t.Fatalf("answer %v", got)
		}
		st, err := e.store.TriggerGet(ctx, e.ws.ID, got["id"].(string))
		if err != nil || st.Secret != sec {
			t.Fatalf("stored %+v %v", st, err)
		}
		leaks = append(leaks, sec)
		answers = append(answers, r)
	})
	t.Run("given standard-webhooks", func(t *testing.T) {
		sec := signature.NewSecret()
		e.trigger(e.writer, map[string]any{"job_id": j["id"], "secret": sec, "signature": "standard-webhooks"})
		e.do("POST", "/v1/triggers", e.writer, map[string]any{"job_id": j["id"], "secret": "not-base64!", "signature": "standard-webhooks"}).
			wantProblem(t, 400, "secret")
		leaks = append(leaks, sec)
	})
	answers = append(answers, e.do("GET", "/v1/triggers?limit=100", e.read, nil).want(t, 200))
	e.noLeak(t, leaks, answers...)
}

func TestTriggerCreateErrors(t *testing.T) { onBackends(t, testTriggerCreateErrors) }

func testTriggerCreateErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j := e.job(e.writer, "deploy", nil)["id"]
	foreign := e.job(e.other, "theirs", nil)["id"]
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no job", map[string]any{}, "job_id"},
		{"unknown job", map[string]any{"job_id": "job_nope"}, "job_id"},
		{"foreign job", map[string]any{"job_id": foreign}, "job_id"},
		{"signature", map[string]any{"signature": "md5"}, "signature"},
		{"method", map[string]any{"methods": []string{"PUT"}}, "methods[0]"},
		{"no methods", map[string]any{"methods": []string{}}, "methods"},
		{"repeated method", map[string]any{"methods": []string{"POST", "post"}}, "methods[1]"},
		{"mode", map[string]any{"mode": "later"}, "mode"},
		{"wait 0", map[string]any{"wait_seconds": 0}, "wait_seconds"},
		{"wait 301", map[string]any{"wait_seconds": 301}, "wait_seconds"},
		{"rate 0", map[string]any{"rate_limit_per_minute": 0}, "rate_limit_per_minute"},
		{"rate big", map[string]any{"rate_limit_per_minute": 100_000_001}, "rate_limit_per_minute"},
		{"cooldown negative", map[string]any{"cooldown_seconds": -1}, "cooldown_seconds"},
		{"cooldown big", map[string]any{"cooldown_seconds": 86401}, "cooldown_seconds"},
		{"cooldown mode", map[string]any{"cooldown_mode": "later"}, "cooldown_mode"},
		{"dedup header", map[string]any{"dedup_header": "bad header"}, "dedup_header"},
		{"mapping", map[string]any{"input_mapping": map[string]string{"a": "nowhere.x"}}, "input_mapping.a"},
		{"secret and generate", map[string]any{"secret": "abc", "generate_secret": true}, "secret"},
		{"empty secret", map[string]any{"secret": ""}, "secret"},
		{"bad whsec", map[string]any{"secret": "whsec_abc", "signature": "standard-webhooks"}, "secret"},
		{"name", map[string]any{"name": "a\nb"}, "name"},
		{"unknown field", map[string]any{"token": "wht_mine"}, "token"},
		{"wrong type", map[string]any{"wait_seconds": "25"}, "wait_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, ok := tt.body["job_id"]; !ok && tt.name != "no job" {
				tt.body["job_id"] = j
			}
			e.do("POST", "/v1/triggers", e.writer, tt.body).wantProblem(t, 400, tt.field)
		})
	}
	t.Cleanup(func() {
		n := e.do("GET", "/v1/triggers?include_inactive=true", e.read, nil).obj(t)["total"]
		if n != float64(0) {
			t.Errorf("%v triggers made by refused requests", n)
		}
	})
}

func TestTriggerListFilters(t *testing.T) { onBackends(t, testTriggerListFilters) }

func testTriggerListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j1 := e.job(e.writer, "one", nil)["id"].(string)
	j2 := e.job(e.writer, "two", nil)["id"].(string)
	t1 := e.trigger(e.writer, map[string]any{"job_id": j1, "owner_id": "a"})["id"]
	t2 := e.trigger(e.writer, map[string]any{"job_id": j2, "owner_id": "b"})["id"]
	t3 := e.trigger(e.writer, map[string]any{"job_id": j1, "owner_id": "a", "is_active": false})["id"]
	e.trigger(e.other, map[string]any{"job_id": e.job(e.other, "x", nil)["id"]})
	ids := func(q string) []any {
		t.Helper()
		var out []any
		for _, d := range e.do("GET", "/v1/triggers"+q, e.read, nil).want(t, 200).obj(t)["data"].([]any) {
			out = append(out, d.(map[string]any)["id"])
		}
		return out
	}
	for q, want := range map[string][]any{
		"":                                      {t2, t1},
		"?include_inactive=true":                {t3, t2, t1},
		"?job_id=" + j1:                         {t1},
		"?job_id=" + j1 + "&include_inactive=1": {t3, t1},
		"?owner_id=b":                           {t2},
		"?limit=1&offset=1":                     {t1},
	} {
		if got := ids(q); !equalJSON(got, want) {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
	e.do("GET", "/v1/triggers?include_inactive=maybe", e.read, nil).wantProblem(t, 400, "include_inactive")
	e.do("GET", "/v1/triggers?limit=101", e.read, nil).wantProblem(t, 400, "limit")
}

func TestTriggerUpdate(t *testing.T) { onBackends(t, testTriggerUpdate) }

func testTriggerUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j1 := e.job(e.writer, "one", nil)["id"]
	j2 := e.job(e.writer, "two", nil)["id"]
	created := e.trigger(e.writer, map[string]any{"job_id": j1, "generate_secret": true})
	id, tok := created["id"].(string), created["token"].(string)
	path := "/v1/triggers/" + id

	got := e.do("PATCH", path, e.writer, map[string]any{
		"name": "renamed", "methods": []string{"get"}, "is_active": false, "job_id": j2, "mode": "sync",
		"wait_seconds": 5, "cooldown_seconds": 60, "cooldown_mode": "drop", "dedup_header": "",
		"input_mapping": map[string]string{"msg": "body.message"}, "signature": "github",
	}).want(t, 200).obj(t)
	want := map[string]any{"name": "renamed", "methods": []any{"GET"}, "is_active": false, "job_id": j2, "mode": "sync",
		"wait_seconds": float64(5), "cooldown_seconds": float64(60), "cooldown_mode": "drop", "dedup_header": "",
		"input_mapping": map[string]any{"msg": "body.message"}, "signature": "github", "has_secret": true}
	for k, v := range want {
		if !equalJSON(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	// The token and secret are untouched by a PATCH.
	st, err := e.store.TriggerGetByTokenHash(ctx, hookd.HashToken(tok), e.now())
	if err != nil || st.ID != id || st.Secret != created["secret"] {
		t.Fatalf("after patch: %+v %v", st, err)
	}
	if g := e.do("GET", path, e.read, nil).obj(t); !equalJSON(g["methods"], []any{"GET"}) || g["name"] != "renamed" {
		t.Errorf("GET after PATCH: %v", g)
	}

	e.do("PATCH", path, e.writer, map[string]any{"job_id": "job_nope"}).wantProblem(t, 400, "job_id")
	e.do("PATCH", path, e.writer, map[string]any{"job_id": e.job(e.other, "x", nil)["id"]}).wantProblem(t, 400, "job_id")
	e.do("PATCH", path, e.writer, map[string]any{"secret": "s"}).wantProblem(t, 400, "secret")
	e.do("PATCH", path, e.writer, map[string]any{"generate_secret": true}).wantProblem(t, 400, "generate_secret")
	e.do("PATCH", path, e.writer, map[string]any{"wait_seconds": 0}).wantProblem(t, 400, "wait_seconds")
	e.do("PATCH", path, e.writer, map[string]any{"methods": []string{}}).wantProblem(t, 400, "methods")
	// A hex secret cannot serve standard-webhooks.
	e.do("PATCH", path, e.writer, map[string]any{"signature": "standard-webhooks"}).wantProblem(t, 400, "signature")
	e.do("PATCH", "/v1/triggers/trg_nope", e.writer, map[string]any{"name": "x"}).wantProblem(t, 404)
	if g := e.do("GET", path, e.read, nil).obj(t); g["job_id"] != j2 || g["signature"] != "github" {
		t.Errorf("a refused PATCH changed the trigger: %v", g)
	}

	e.do("DELETE", path, e.writer, nil).want(t, 204)
	e.do("GET", path, e.read, nil).wantProblem(t, 404)
	e.do("DELETE", path, e.writer, nil).wantProblem(t, 404)
	e.noLeak(t, []string{tok, created["secret"].(string)})
}

func TestTriggerRotateToken(t *testing.T) { onBackends(t, testTriggerRotateToken) }

func testTriggerRotateToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := e.job(e.writer, "one", nil)["id"]
	created := e.trigger(e.writer, map[string]any{"job_id": j})
	id, old := created["id"].(string), created["token"].(string)
	path := "/v1/triggers/" + id + "/rotate-token"

	// No grace: the old token stops at once.
	r := e.do("POST", path, e.writer, nil).want(t, 200)
	got := r.obj(t)
	tok := got["token"].(string)
	if tok == old || got["url"] != "https://hooks.example.com/hooks/"+tok || got["token_prefix"] != tok[:8] {
		t.Fatalf("answer %v", got)
	}
	if _, ok := got["secret"]; ok {
		t.Errorf("secret in a rotate-token answer")
	}
	if _, err := e.store.TriggerGetByTokenHash(ctx, hookd.HashToken(old), e.now()); !hookd.IsNotFound(err) {
		t.Fatalf("old token after a rotation without grace: %v", err)
	}
	e.do("POST", "/hooks/"+old, "", nil).want(t, 401)
	e.do("POST", "/hooks/"+tok, "", nil).want(t, 202)

	// With grace: both work until it ends.
	start := e.now()
	next := e.do("POST", path, e.writer, map[string]any{"grace_seconds": 3600}).want(t, 200).obj(t)["token"].(string)
	for _, tc := range []struct {
		token string
		at    time.Duration
		ok    bool
	}{
		{tok, time.Minute, true},
		{tok, 3590 * time.Second, true},
		{tok, 3610 * time.Second, false},
		{next, 3610 * time.Second, true},
	} {
		st, err := e.store.TriggerGetByTokenHash(ctx, hookd.HashToken(tc.token), start.Add(tc.at))
		if tc.ok != (err == nil) || (err == nil && st.ID != id) {
			t.Errorf("token %s at +%s: %v, %v", tc.token[:8], tc.at, st, err)
		}
	}
	e.do("POST", "/hooks/"+tok, "", nil).want(t, 202) // the handler's clock is within the grace

	// A later rotation without grace ends the previous grace too.
	e.do("POST", path, e.writer, map[string]any{"grace_seconds": 0}).want(t, 200)
	if _, err := e.store.TriggerGetByTokenHash(ctx, hookd.HashToken(next), e.now()); !hookd.IsNotFound(err) {
		t.Errorf("previous token after a rotation without grace: %v", err)
	}

	e.do("POST", path, e.writer, map[string]any{"grace_seconds": -1}).wantProblem(t, 400, "grace_seconds")
	e.do("POST", path, e.writer, map[string]any{"grace_seconds": "1"}).wantProblem(t, 400, "grace_seconds")
	e.do("POST", path, e.read, nil).wantProblem(t, 403)
	e.do("POST", "/v1/triggers/trg_nope/rotate-token", e.writer, nil).wantProblem(t, 404)
	e.noLeak(t, []string{old, tok, next})
}

func TestTriggerRotateSecret(t *testing.T) { onBackends(t, testTriggerRotateSecret) }

func testTriggerRotateSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := e.job(e.writer, "one", nil)["id"]
	id := e.trigger(e.writer, map[string]any{"job_id": j})["id"].(string)
	path := "/v1/triggers/" + id + "/rotate-secret"

	// A trigger without a secret gets its first one.
	got := e.do("POST", path, e.writer, nil).want(t, 200).obj(t)
	first := got["secret"].(string)
	if b, err := hex.DecodeString(first); err != nil || len(b) != 32 || got["has_secret"] != true {
		t.Fatalf("answer %v", got)
	}
	if _, ok := got["token"]; ok {
		t.Error("token in a rotate-secret answer")
	}

	// With grace both verify until it ends; the default is none.
	second := e.do("POST", path, e.writer, map[string]any{"grace_seconds": 60}).want(t, 200).obj(t)["secret"].(string)
	st, err := e.store.TriggerGet(ctx, e.ws.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	now := e.now()
	if s := st.Secrets(now); len(s) != 2 || s[0] != second || s[1] != first {
		t.Errorf("secrets within grace %q", s)
	}
	if s := st.Secrets(now.Add(2 * time.Minute)); len(s) != 1 || s[0] != second {
		t.Errorf("secrets after grace %q", s)
	}
	third := e.do("POST", path, e.writer, nil).want(t, 200).obj(t)["secret"].(string)
	st, _ = e.store.TriggerGet(ctx, e.ws.ID, id)
	if s := st.Secrets(e.now()); len(s) != 1 || s[0] != third {
		t.Errorf("secrets after a rotation without grace %q", s)
	}

	// standard-webhooks triggers get whsec_ secrets.
	sw := e.trigger(e.writer, map[string]any{"job_id": j, "signature": "standard-webhooks"})["id"].(string)
	sec := e.do("POST", "/v1/triggers/"+sw+"/rotate-secret", e.writer, nil).want(t, 200).obj(t)["secret"].(string)
	if _, err := signature.DecodeSecret(sec); err != nil {
		t.Errorf("standard-webhooks secret %q: %v", sec, err)
	}

	e.do("POST", path, e.writer, map[string]any{"grace_seconds": 30*24*3600 + 1}).wantProblem(t, 400, "grace_seconds")
	e.do("POST", path, e.writer, map[string]any{"secret": "mine"}).wantProblem(t, 400, "secret")
	g := e.do("GET", "/v1/triggers/"+id, e.read, nil).want(t, 200)
	e.noLeak(t, []string{first, second, third, sec}, g)
}

func TestTriggerCalls(t *testing.T) { onBackends(t, testTriggerCalls) }

func testTriggerCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j := e.job(e.writer, "one", nil)["id"]
	created := e.trigger(e.writer, map[string]any{"job_id": j, "generate_secret": true})
	id, tok, sec := created["id"].(string), created["token"].(string), created["secret"].(string)
	body := []byte(`{"n":1}`)
	h, err := signature.SignInbound(hookd.SchemeHMACSHA256, sec, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/hooks/"+tok, "", body).want(t, 401)
	e.do("POST", "/hooks/"+tok, "", body, signature.HeaderHMAC, h.Get(signature.HeaderHMAC)).want(t, 202)
	e.do("PUT", "/hooks/"+tok, "", body).want(t, 405)

	calls := func(q string) []any {
		t.Helper()
		return e.do("GET", "/v1/triggers/"+id+"/calls"+q, e.read, nil).want(t, 200).obj(t)["data"].([]any)
	}
	all := calls("")
	if len(all) != 3 {
		t.Fatalf("calls %v", all)
	}
	var disp []any
	for _, c := range all {
		disp = append(disp, c.(map[string]any)["disposition"])
	}
	if !equalJSON(disp, []any{"rejected", "accepted", "bad_signature"}) {
		t.Errorf("dispositions newest first %v", disp)
	}
	acc := calls("?disposition=accepted")
	if len(acc) != 1 || acc[0].(map[string]any)["execution_id"] == "" {
		t.Errorf("accepted calls %v", acc)
	}
	if got := calls("?limit=1&offset=2"); len(got) != 1 || got[0].(map[string]any)["disposition"] != "bad_signature" {
		t.Errorf("paged %v", got)
	}
	e.do("GET", "/v1/triggers/"+id+"/calls?disposition=nope", e.read, nil).wantProblem(t, 400, "disposition")
	e.do("GET", "/v1/triggers/"+id+"/calls?offset=-1", e.read, nil).wantProblem(t, 400, "offset")
	e.do("GET", "/v1/triggers/trg_nope/calls", e.read, nil).wantProblem(t, 404)
	e.noLeak(t, []string{tok, sec})
}

// TestInboundMount: the trigger endpoints reach Config.Inbound for every
// method without an API key, and are absent without it.
func TestInboundMount(t *testing.T) { onBackends(t, testInboundMount) }

func testInboundMount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j := e.job(e.writer, "one", nil)["id"]
	tok := e.trigger(e.writer, map[string]any{"job_id": j, "methods": []string{"POST"}})["token"].(string)
	e.do("POST", "/hooks/"+tok, "", nil).want(t, 202)
	for _, m := range []string{"GET", "PUT", "DELETE", "PATCH"} {
		r := e.do(m, "/hooks/"+tok, "", nil).want(t, 405)
		if ct := r.Header.Get("Content-Type"); ct != "application/json" || r.Header.Get("Allow") != "POST" {
			t.Errorf("%s: Content-Type %q Allow %q", m, ct, r.Header.Get("Allow"))
		}
	}
	// An API key is no trigger token.
	e.do("POST", "/v1/webhook/trigger", e.admin, nil).want(t, 401)
	e.do("GET", "/v1/webhook/trigger", tok, nil).wantProblem(t, 405)
	e.noLeak(t, []string{tok})

	bare := newEnv(t, func(c *Config) { c.Inbound = nil })
	for _, p := range []string{"/hooks/" + tok, "/v1/webhook/trigger"} {
		bare.do("POST", p, tok, nil).wantProblem(t, 404)
	}
}

// plainStore hides the InboundStore methods of a store.
type plainStore struct{ hookd.Store }

func TestStoreWithoutInbound(t *testing.T) { onBackends(t, testStoreWithoutInbound) }

func testStoreWithoutInbound(t *testing.T) {
	t.Parallel()
	var st hookd.Store
	e := newEnv(t, func(c *Config) { st = c.Store; c.Store = plainStore{c.Store} })
	_ = st
	for _, p := range []string{"/v1/jobs", "/v1/triggers", "/v1/executions"} {
		e.do("GET", p, e.read, nil).wantProblem(t, http.StatusServiceUnavailable)
	}
	e.do("GET", "/v1/webhooks", e.read, nil).want(t, 200)
}
