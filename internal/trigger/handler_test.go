package trigger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
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

// fakeClock is the injected clock of a handler test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hookEnv is one handler on a real SQLite store behind a loopback server.
type hookEnv struct {
	store   *sqlite.Store
	clock   *fakeClock
	metrics *metrics.Metrics
	h       *Handler
	srv     *httptest.Server
	ws      *hookd.Workspace
	job     *hookd.Job
	engine  *job.Engine
	jobSrv  *jobServer
}

// envOptions changes a test environment.
type envOptions struct {
	cfg    func(*HandlerConfig)
	engine bool // run the real job engine
	// fullSync keeps SQLite's default synchronous=FULL; tests use NORMAL,
	// which is as correct without power losses and much faster.
	fullSync bool
}

// newHookEnv opens a fresh store in t's temporary directory and serves a
// Handler on it. The clock starts a minute in the past so that executions
// it stamps are due for an engine on the real clock too.
func newHookEnv(t testing.TB, o envOptions) *hookEnv {
	t.Helper()
	ctx := context.Background()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now().UTC().Add(-time.Minute).Truncate(time.Second)}
	syncMode := "NORMAL"
	if o.fullSync {
		syncMode = "FULL"
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{Sealer: sealer, Now: clock.Now, Synchronous: syncMode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	e := &hookEnv{store: st, clock: clock, metrics: metrics.New(), jobSrv: newJobServer(t)}
	e.ws = &hookd.Workspace{Name: "ws-" + hookd.NewID("")}
	if err := st.WorkspaceCreate(ctx, e.ws); err != nil {
		t.Fatal(err)
	}
	cfgJSON, _ := json.Marshal(job.HTTPConfig{URL: e.jobSrv.srv.URL, Method: http.MethodPost})
	e.job = &hookd.Job{WorkspaceID: e.ws.ID, Name: "job-" + hookd.NewID(""), Kind: hookd.JobHTTP, Config: cfgJSON}
	if err := job.ValidateJob(e.job); err != nil {
		t.Fatal(err)
	}
	if err := st.JobCreate(ctx, e.job); err != nil {
		t.Fatal(err)
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.engine = job.NewEngine(job.EngineConfig{
		Store: st, Logger: quiet, Now: clock.Now, HTTPClient: &http.Client{Timeout: 30 * time.Second},
		ShutdownGrace: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond,
	})
	if o.engine {
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = e.engine.Run(runCtx)
		}()
		t.Cleanup(func() { stop(); <-done })
	}

	cfg := HandlerConfig{
		Store: st, Jobs: e.engine, Logger: quiet, Metrics: e.metrics, Now: clock.Now,
		TrustedProxies: mustTrusted(t, "127.0.0.0/8", "::1"),
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	e.h = NewHandler(cfg)
	mux := http.NewServeMux()
	e.h.Register(mux)
	e.srv = httptest.NewServer(mux)
	e.srv.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	// Cleanups run last-in first-out: the server closes (waiting for its
	// handlers) after blocked jobs are released and before the engine stops.
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.jobSrv.releaseAll)
	return e
}

// trigger creates an active async trigger (changed by mod) and returns it
// with its token.
func (e *hookEnv) trigger(t testing.TB, mod func(*hookd.Trigger)) (*hookd.Trigger, string) {
	t.Helper()
	tok := NewToken()
	tr := &hookd.Trigger{
		WorkspaceID: e.ws.ID, JobID: e.job.ID, Name: "trg-" + hookd.NewID(""),
		TokenPrefix: tok[:8], TokenHash: hookd.HashToken(tok), IsActive: true,
		Signature: hookd.SchemeHMACSHA256, Methods: []string{http.MethodPost, http.MethodGet},
		Mode: hookd.ModeAsync, WaitSeconds: 25, RateLimitPerMinute: 1000,
		CooldownMode: hookd.CooldownCoalesce, DedupHeader: DefaultDedupHeader,
	}
	if mod != nil {
		mod(tr)
	}
	tr.HasSecret = tr.Secret != ""
	if err := e.store.TriggerCreate(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	return tr, tok
}

// reply is one answer of the handler.
type reply struct {
	code   int
	header http.Header
	raw    []byte
	answer
}

// req describes one call.
type req struct {
	method string // default POST
	path   string // default /hooks/<tok>
	query  string
	body   []byte
	header http.Header
	xff    string // X-Forwarded-For
	chunk  bool   // send the body chunked (no Content-Length)
}

// call makes one call with token tok.
func (e *hookEnv) call(t testing.TB, tok string, r req) reply {
	t.Helper()
	return e.callCtx(t, context.Background(), tok, r)
}

func (e *hookEnv) callCtx(t testing.TB, ctx context.Context, tok string, r req) reply {
	t.Helper()
	// Each call a microsecond later than the one before, so the call log
	// (newest first, by time) lists them in the order they were made.
	e.clock.Add(time.Microsecond)
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/hooks/" + tok
	}
	u := e.srv.URL + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if r.chunk {
			body = io.MultiReader(body) // hides the length: sent chunked
		}
	}
	hr, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.header {
		hr.Header[k] = vs
	}
	if r.xff != "" {
		hr.Header.Set("X-Forwarded-For", r.xff)
	}
	if r.path == PathBearer && tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := reply{code: resp.StatusCode, header: resp.Header, raw: raw}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: content-type %q, body %s", r.method, r.path, ct, raw)
	}
	if err := json.Unmarshal(raw, &out.answer); err != nil {
		t.Fatalf("%s %s: %v in %s", r.method, r.path, err, raw)
	}
	return out
}

// want checks an answer's status code and status.
func (r reply) want(t testing.TB, code int, status string) reply {
	t.Helper()
	if r.code != code || r.Status != status {
		t.Fatalf("answer %d %s, want %d %s", r.code, r.raw, code, status)
	}
	if wantOK := code < 300; r.Success != wantOK {
		t.Fatalf("answer %d %s: success %v", r.code, r.raw, r.Success)
	}
	return r
}

// calls returns the call log of tr, oldest first.
func (e *hookEnv) calls(t testing.TB, tr *hookd.Trigger) []hookd.Call {
	t.Helper()
	cs, _, err := e.store.CallList(context.Background(), hookd.CallFilter{WorkspaceID: tr.WorkspaceID, TriggerID: tr.ID, Page: hookd.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(cs)-1; i < j; i, j = i+1, j-1 {
		cs[i], cs[j] = cs[j], cs[i]
	}
	return cs
}

// wantCalls checks the dispositions and status codes of tr's call log.
func (e *hookEnv) wantCalls(t testing.TB, tr *hookd.Trigger, want ...string) {
	t.Helper()
	var got []string
	for _, c := range e.calls(t, tr) {
		got = append(got, fmt.Sprintf("%s %d", c.Disposition, c.StatusCode))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("call log (-want +got):\n%s", diff)
	}
}

// execution reads one execution.
func (e *hookEnv) execution(t testing.TB, id string) *hookd.Execution {
	t.Helper()
	x, err := e.store.ExecutionGet(context.Background(), e.ws.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// executions returns how many executions tr made.
func (e *hookEnv) executions(t testing.TB, tr *hookd.Trigger) int {
	t.Helper()
	_, n, err := e.store.ExecutionList(context.Background(), hookd.ExecutionFilter{WorkspaceID: e.ws.ID, TriggerID: tr.ID, Page: hookd.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// counted returns the InboundCalls counter of disposition.
func (e *hookEnv) counted(t testing.TB, disposition string) float64 {
	t.Helper()
	var m dto.Metric
	if err := e.metrics.InboundCalls.WithLabelValues(disposition).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// wantJSON compares two JSON documents by value.
func wantJSON(t testing.TB, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Fatalf("JSON (-want +got):\n%s", diff)
	}
}

// jobServer is the internal service the test job posts its input to. The
// input says what to do: {"do":"ok"} → 200 {"answer":42}; {"do":"fail"} →
// 500; {"do":"block"} → wait for release, then 200 {"released":true}.
type jobServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	release chan struct{}
	started chan string
	freed   bool
}

func newJobServer(t testing.TB) *jobServer {
	j := &jobServer{release: make(chan struct{}), started: make(chan string, 16)}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Do string `json:"do"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		switch in.Do {
		case "fail":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":"boom"}`)
		case "block":
			j.started <- in.Do
			<-j.release
			_, _ = io.WriteString(w, `{"released":true}`)
		default:
			_, _ = io.WriteString(w, `{"answer":42}`)
		}
	}))
	t.Cleanup(j.srv.Close)
	return j
}

// releaseAll lets every blocked and future "block" run finish.
func (j *jobServer) releaseAll() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.freed {
		j.freed = true
		close(j.release)
	}
}

var body1 = []byte(`{"n":1}`)

func TestHandlerAsyncBothPaths(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	tr, tok := e.trigger(t, nil)

	t.Run("Path", func(t *testing.T) {
		r := e.call(t, tok, req{body: []byte(` {"a": 1} `)}).want(t, http.StatusAccepted, hookd.ExecQueued)
		if !strings.HasPrefix(r.ExecutionID, hookd.PrefixExecution) {
			t.Fatalf("execution id %q", r.ExecutionID)
		}
		x := e.execution(t, r.ExecutionID)
		wantJSON(t, x.Input, `{"a":1}`)
		if x.TriggerID != tr.ID || x.JobID != e.job.ID || x.Source != hookd.SourceWebhook || x.Status != hookd.ExecQueued {
			t.Fatalf("execution %+v", x)
		}
	})
	t.Run("Bearer", func(t *testing.T) {
		r := e.call(t, tok, req{path: PathBearer, body: []byte(`{"b":2}`)}).want(t, http.StatusAccepted, hookd.ExecQueued)
		wantJSON(t, e.execution(t, r.ExecutionID).Input, `{"b":2}`)
	})
	t.Run("EmptyBody", func(t *testing.T) {
		r := e.call(t, tok, req{}).want(t, http.StatusAccepted, hookd.ExecQueued)
		wantJSON(t, e.execution(t, r.ExecutionID).Input, `{}`)
	})
	e.wantCalls(t, tr, "accepted 202", "accepted 202", "accepted 202")
	if got := e.counted(t, hookd.DispositionAccepted); got != 3 {
		t.Fatalf("accepted counted %v, want 3", got)
	}
}

func TestHandlerUnauthorized(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	tr, tok := e.trigger(t, nil)
	unknown := NewToken()
	cases := []struct {
		name string
		tok  string
		r    req
	}{
		{"Unknown", unknown, req{}},
		{"UnknownBearer", unknown, req{path: PathBearer}},
		{"Short", tok[:len(tok)-1], req{}},
		{"Long", tok + "A", req{}},
		{"NoPrefix", "whx_" + tok[4:], req{}},
		{"BadCharacter", tok[:10] + "!" + tok[11:], req{}},
		{"BearerMissing", "", req{path: PathBearer}},
		{"BearerWrongScheme", "", req{path: PathBearer, header: http.Header{"Authorization": {"Basic " + tok}}}},
		{"BearerMalformed", "hk_nope", req{path: PathBearer}},
	}
	var first []byte
	for _, c := range cases {
		r := e.call(t, c.tok, c.r).want(t, http.StatusUnauthorized, hookd.DispositionUnauthorized)
		if first == nil {
			first = r.raw
		} else if !bytes.Equal(r.raw, first) {
			t.Fatalf("%s: body %s differs from %s", c.name, r.raw, first)
		}
	}
	// No trigger owns these calls: counted, never written.
	if got := e.counted(t, hookd.DispositionUnauthorized); got != float64(len(cases)) {
		t.Fatalf("unauthorized counted %v, want %d", got, len(cases))
	}
	e.wantCalls(t, tr)
}

func TestHandlerFloodGuard(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	tr, tok := e.trigger(t, nil)
	flooder := req{xff: "198.51.100.7"}
	bad := NewToken()
	for i := range DefaultFloodLimit {
		e.call(t, bad, flooder).want(t, http.StatusUnauthorized, hookd.DispositionUnauthorized)
		if i == 0 {
			// One more refusal to come is still under the limit: a valid
			// token goes through, between refusals.
			e.call(t, tok, flooder).want(t, http.StatusAccepted, hookd.ExecQueued)
		}
	}
	// 60 refusals: not more than 60 yet.
	e.call(t, bad, flooder).want(t, http.StatusUnauthorized, hookd.DispositionUnauthorized)

	// 61 refusals: the flood guard answers first, even for a bad token and
	// even for a good one.
	r := e.call(t, bad, flooder).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 120 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	e.call(t, tok, flooder).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)

	// Another client is not affected.
	e.call(t, tok, req{xff: "198.51.100.8"}).want(t, http.StatusAccepted, hookd.ExecQueued)

	// Calls refused by the flood guard leave no trace in the call log.
	e.wantCalls(t, tr, "accepted 202", "accepted 202")
	if got := e.counted(t, hookd.DispositionRateLimited); got != 2 {
		t.Fatalf("rate_limited counted %v, want 2", got)
	}

	// Two quiet minutes later the client is welcome again.
	e.clock.Add(2 * time.Minute)
	e.call(t, tok, flooder).want(t, http.StatusAccepted, hookd.ExecQueued)
}

func TestHandlerFloodCountsEveryRefusal(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{cfg: func(c *HandlerConfig) { c.FloodLimit = 3 }})
	inactive, itok := e.trigger(t, func(tr *hookd.Trigger) { tr.IsActive = false })
	_, ptok := e.trigger(t, func(tr *hookd.Trigger) { tr.Methods = []string{http.MethodPost} })
	_, stok := e.trigger(t, func(tr *hookd.Trigger) { tr.Secret = "s3cret" })
	_, tok := e.trigger(t, nil)
	c := req{xff: "203.0.113.50"}
	e.call(t, itok, c).want(t, http.StatusForbidden, hookd.DispositionInactive)
	e.call(t, ptok, req{xff: c.xff, method: http.MethodGet}).want(t, http.StatusMethodNotAllowed, hookd.DispositionRejected)
	e.call(t, stok, c).want(t, http.StatusUnauthorized, hookd.DispositionBadSignature)
	e.call(t, tok, req{xff: c.xff, body: []byte("not json")}).want(t, http.StatusBadRequest, hookd.DispositionRejected)
	// Four refusals of four kinds > 3: blocked, before the inactive check.
	e.call(t, itok, c).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)
	e.wantCalls(t, inactive, "inactive 403")
}

func TestHandlerInactive(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	tr, tok := e.trigger(t, func(tr *hookd.Trigger) {
		tr.IsActive = false
		tr.Secret = "s3cret"
		tr.RateLimitPerMinute = 1
	})
	// Inactive comes before the rate limit and the signature: a bad
	// signature on an inactive trigger is 403, however often.
	for range 3 {
		r := e.call(t, tok, req{body: body1}).want(t, http.StatusForbidden, hookd.DispositionInactive)
		if r.ExecutionID != "" {
			t.Fatalf("refusal with execution: %s", r.raw)
		}
	}
	e.wantCalls(t, tr, "inactive 403", "inactive 403", "inactive 403")
	if n := e.executions(t, tr); n != 0 {
		t.Fatalf("%d executions", n)
	}
}

func TestHandlerRateLimit(t *testing.T) {
	t.Parallel()

	t.Run("BeforeMethodAndSignature", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t, envOptions{})
		tr, tok := e.trigger(t, func(tr *hookd.Trigger) {
			tr.RateLimitPerMinute = 2
			tr.Secret = "s3cret"
			tr.Methods = []string{http.MethodPost}
		})
		now := e.clock.Now()
		signed, _ := signature.SignInbound(hookd.SchemeHMACSHA256, "s3cret", body1, now)
		e.call(t, tok, req{body: body1, header: signed}).want(t, http.StatusAccepted, hookd.ExecQueued)
		e.call(t, tok, req{body: body1, header: signed}).want(t, http.StatusAccepted, hookd.ExecQueued)
		// The bucket is empty: a bad signature and a wrong method both get 429.
		r := e.call(t, tok, req{body: body1}).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)
		if got := r.header.Get("Retry-After"); got != "30" {
			t.Fatalf("Retry-After %q, want 30", got)
		}
		e.call(t, tok, req{method: http.MethodGet}).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)
		// A token is back after 30 s.
		e.clock.Add(30 * time.Second)
		e.call(t, tok, req{body: body1, header: signed}).want(t, http.StatusAccepted, hookd.ExecQueued)
		e.wantCalls(t, tr, "accepted 202", "accepted 202", "rate_limited 429", "rate_limited 429", "accepted 202")
	})

	t.Run("PerClientBehindTrustedProxy", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t, envOptions{})
		_, tok := e.trigger(t, func(tr *hookd.Trigger) { tr.RateLimitPerMinute = 1 })
		e.call(t, tok, req{xff: "192.0.2.1"}).want(t, http.StatusAccepted, hookd.ExecQueued)
		e.call(t, tok, req{xff: "192.0.2.1"}).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)
		// X-Forwarded-For from the trusted loopback proxy names the client.
		e.call(t, tok, req{xff: "192.0.2.2"}).want(t, http.StatusAccepted, hookd.ExecQueued)
		// The proxy itself is skipped when it appends itself.
		e.call(t, tok, req{xff: "192.0.2.3, 127.0.0.1"}).want(t, http.StatusAccepted, hookd.ExecQueued)
		e.call(t, tok, req{xff: "192.0.2.3"}).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)
		// IPv6 clients share a bucket per /64.
		e.call(t, tok, req{xff: "2001:db8:1:2::1"}).want(t, http.StatusAccepted, hookd.ExecQueued)
		e.call(t, tok, req{xff: "2001:db8:1:2:ffff::9"}).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)
		e.call(t, tok, req{xff: "2001:db8:1:3::1"}).want(t, http.StatusAccepted, hookd.ExecQueued)
	})

	t.Run("UntrustedPeerForwardedForIgnored", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t, envOptions{cfg: func(c *HandlerConfig) { c.TrustedProxies = nil }})
		tr, tok := e.trigger(t, func(tr *hookd.Trigger) { tr.RateLimitPerMinute = 1 })
		e.call(t, tok, req{xff: "192.0.2.1"}).want(t, http.StatusAccepted, hookd.ExecQueued)
		// A made-up X-Forwarded-For does not buy a new bucket.
		e.call(t, tok, req{xff: "192.0.2.2"}).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)
		for _, c := range e.calls(t, tr) {
			if c.IP != "127.0.0.1" {
				t.Fatalf("call log IP %q, want the peer 127.0.0.1", c.IP)
			}
		}
	})

	t.Run("PerTrigger", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t, envOptions{})
		_, tok1 := e.trigger(t, func(tr *hookd.Trigger) { tr.RateLimitPerMinute = 1 })
		_, tok2 := e.trigger(t, func(tr *hookd.Trigger) { tr.RateLimitPerMinute = 1 })
		e.call(t, tok1, req{}).want(t, http.StatusAccepted, hookd.ExecQueued)
		e.call(t, tok2, req{}).want(t, http.StatusAccepted, hookd.ExecQueued)
		e.call(t, tok1, req{}).want(t, http.StatusTooManyRequests, hookd.DispositionRateLimited)
	})
}

func TestHandlerMethod(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	post, ptok := e.trigger(t, func(tr *hookd.Trigger) { tr.Methods = []string{http.MethodPost} })
	_, dtok := e.trigger(t, func(tr *hookd.Trigger) { tr.Methods = nil })

	r := e.call(t, ptok, req{method: http.MethodGet}).want(t, http.StatusMethodNotAllowed, hookd.DispositionRejected)
	if got := r.header.Get("Allow"); got != "POST" {
		t.Fatalf("Allow %q", got)
	}
	r = e.call(t, dtok, req{method: http.MethodPut, body: body1}).want(t, http.StatusMethodNotAllowed, hookd.DispositionRejected)
	if got := r.header.Get("Allow"); got != "POST, GET" {
		t.Fatalf("Allow %q", got)
	}
	e.call(t, ptok, req{path: PathBearer, method: http.MethodDelete}).want(t, http.StatusMethodNotAllowed, hookd.DispositionRejected)
	e.call(t, ptok, req{body: body1}).want(t, http.StatusAccepted, hookd.ExecQueued)
	e.wantCalls(t, post, "rejected 405", "rejected 405", "accepted 202")
}

func TestHandlerBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	e := newHookEnv(t, envOptions{cfg: func(c *HandlerConfig) { c.MaxBodyBytes = limit }})
	tr, tok := e.trigger(t, nil)
	fits := []byte(`{"s":"` + strings.Repeat("x", limit-8) + `"}`)
	over := []byte(`{"s":"` + strings.Repeat("x", limit-7) + `"}`)
	if len(fits) != limit || len(over) != limit+1 {
		t.Fatal("bad fixture")
	}
	e.call(t, tok, req{body: over}).want(t, http.StatusRequestEntityTooLarge, hookd.DispositionRejected)
	e.call(t, tok, req{body: over, chunk: true}).want(t, http.StatusRequestEntityTooLarge, hookd.DispositionRejected)
	e.call(t, tok, req{body: bytes.Repeat([]byte(" "), 10*limit), chunk: true}).want(t, http.StatusRequestEntityTooLarge, hookd.DispositionRejected)
	e.call(t, tok, req{body: fits}).want(t, http.StatusAccepted, hookd.ExecQueued)
	e.call(t, tok, req{body: fits, chunk: true}).want(t, http.StatusAccepted, hookd.ExecQueued)
	e.wantCalls(t, tr, "rejected 413", "rejected 413", "rejected 413", "accepted 202", "accepted 202")
}

func TestHandlerSignature(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	body := []byte(`{"event":"push","n":12345678901234567890}`)
	for _, scheme := range []string{
		hookd.SchemeHMACSHA256, hookd.SchemeGitHub, hookd.SchemeStripe, hookd.SchemeSlack, hookd.SchemeStandardWebhooks,
	} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			secret := "provider-secret-" + scheme
			if scheme == hookd.SchemeStandardWebhooks {
				secret = signature.NewSecret()
			}
			tr, tok := e.trigger(t, func(tr *hookd.Trigger) {
				tr.Signature = scheme
				tr.Secret = secret
				tr.DedupHeader = "X-Nope" // standard-webhooks ids must not dedup the retries below
			})
			now := e.clock.Now()
			signed, err := signature.SignInbound(scheme, secret, body, now)
			if err != nil {
				t.Fatal(err)
			}

			r := e.call(t, tok, req{body: body, header: signed}).want(t, http.StatusAccepted, hookd.ExecQueued)
			wantJSON(t, e.execution(t, r.ExecutionID).Input, string(body))

			flipped := bytes.Clone(body)
			flipped[len(flipped)-2] ^= 1
			r = e.call(t, tok, req{body: flipped, header: signed}).want(t, http.StatusUnauthorized, hookd.DispositionBadSignature)
			for _, vs := range signed {
				for _, v := range vs {
					if len(v) > 8 && bytes.Contains(r.raw, []byte(v)) {
						t.Fatalf("answer %s echoes a signature header", r.raw)
					}
				}
			}
			if bytes.Contains(r.raw, []byte(secret)) {
				t.Fatalf("answer %s echoes the secret", r.raw)
			}

			// One byte of the signature flipped.
			bad := signed.Clone()
			for k, vs := range bad {
				if strings.Contains(strings.ToLower(k), "signature") {
					// A valid character either way (hex and base64), so the
					// signature is well formed and wrong.
					v := []byte(vs[0])
					i := len(v) - 3
					if v[i] == '0' {
						v[i] = '1'
					} else {
						v[i] = '0'
					}
					bad[k] = []string{string(v)}
				}
			}
			e.call(t, tok, req{body: body, header: bad}).want(t, http.StatusUnauthorized, hookd.DispositionBadSignature)

			r = e.call(t, tok, req{body: body}).want(t, http.StatusUnauthorized, hookd.DispositionBadSignature)
			if r.Reason != reasonSigMissing {
				t.Fatalf("reason %q", r.Reason)
			}
			e.wantCalls(t, tr, "accepted 202", "bad_signature 401", "bad_signature 401", "bad_signature 401")
		})
	}

	t.Run("Stale", func(t *testing.T) {
		t.Parallel()
		tr, tok := e.trigger(t, func(tr *hookd.Trigger) {
			tr.Signature = hookd.SchemeStripe
			tr.Secret = "whsec_stripe"
		})
		signed, _ := signature.SignInbound(hookd.SchemeStripe, "whsec_stripe", body, e.clock.Now().Add(-10*time.Minute))
		r := e.call(t, tok, req{body: body, header: signed}).want(t, http.StatusUnauthorized, hookd.DispositionBadSignature)
		if r.Reason != reasonSigStale {
			t.Fatalf("reason %q", r.Reason)
		}
		e.wantCalls(t, tr, "bad_signature 401")
	})
}

func TestHandlerSignatureRotationGrace(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	ends := e.clock.Now().Add(time.Hour)
	_, tok := e.trigger(t, func(tr *hookd.Trigger) {
		tr.Signature = hookd.SchemeGitHub
		tr.Secret = "new-secret"
		tr.PreviousSecret = "old-secret"
		tr.PreviousSecretExpiresAt = &ends
	})
	sign := func(secret string) http.Header {
		h, err := signature.SignInbound(hookd.SchemeGitHub, secret, body1, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	e.call(t, tok, req{body: body1, header: sign("new-secret")}).want(t, http.StatusAccepted, hookd.ExecQueued)
	e.call(t, tok, req{body: body1, header: sign("old-secret")}).want(t, http.StatusAccepted, hookd.ExecQueued)
	e.call(t, tok, req{body: body1, header: sign("other-secret")}).want(t, http.StatusUnauthorized, hookd.DispositionBadSignature)
	e.clock.Add(time.Hour)
	e.call(t, tok, req{body: body1, header: sign("old-secret")}).want(t, http.StatusUnauthorized, hookd.DispositionBadSignature)
	e.call(t, tok, req{body: body1, header: sign("new-secret")}).want(t, http.StatusAccepted, hookd.ExecQueued)
}

func TestHandlerInput(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	_, plain := e.trigger(t, nil)
	mapped, mtok := e.trigger(t, func(tr *hookd.Trigger) {
		tr.InputMapping = map[string]string{
			"message": "body.message",
			"pr":      "body.pr_number",
			"first":   "body.commits.0.id",
			"event":   "headers.X-GitHub-Event",
			"page":    "query.page",
			"ip":      "ip",
			"auth":    "headers.Authorization",
		}
	})

	t.Run("GETQuery", func(t *testing.T) {
		r := e.call(t, plain, req{method: http.MethodGet, query: "a=1&tag=x&tag=y"}).want(t, http.StatusAccepted, hookd.ExecQueued)
		wantJSON(t, e.execution(t, r.ExecutionID).Input, `{"a":"1","tag":["x","y"]}`)
	})
	t.Run("GETNoQuery", func(t *testing.T) {
		r := e.call(t, plain, req{method: http.MethodGet, path: PathBearer}).want(t, http.StatusAccepted, hookd.ExecQueued)
		wantJSON(t, e.execution(t, r.ExecutionID).Input, `{}`)
	})
	t.Run("Mapping", func(t *testing.T) {
		r := e.call(t, mtok, req{
			path:   PathBearer,
			query:  "page=3",
			body:   []byte(`{"message":"hi","pr_number":12345678901234567890,"commits":[{"id":"c1"}]}`),
			header: http.Header{"X-Github-Event": {"pull_request"}},
			xff:    "192.0.2.44",
		}).want(t, http.StatusAccepted, hookd.ExecQueued)
		// The bearer token never reaches the job input.
		got := e.execution(t, r.ExecutionID).Input
		wantJSON(t, got, `{"message":"hi","pr":12345678901234567890,"first":"c1","event":"pull_request","page":"3","ip":"192.0.2.44","auth":null}`)
		if !bytes.Contains(got, []byte("12345678901234567890")) {
			t.Fatalf("big number lost in %s", got)
		}
	})
	t.Run("MappingGET", func(t *testing.T) {
		r := e.call(t, mtok, req{method: http.MethodGet, query: "page=1"}).want(t, http.StatusAccepted, hookd.ExecQueued)
		wantJSON(t, e.execution(t, r.ExecutionID).Input, `{"message":null,"pr":null,"first":null,"event":null,"page":"1","ip":"127.0.0.1","auth":null}`)
	})
	t.Run("NotJSON", func(t *testing.T) {
		r := e.call(t, mtok, req{body: []byte(`message=hi`)}).want(t, http.StatusBadRequest, hookd.DispositionRejected)
		if r.Reason != "body is not JSON" {
			t.Fatalf("reason %q", r.Reason)
		}
		e.call(t, plain, req{body: []byte(`{"a":`)}).want(t, http.StatusBadRequest, hookd.DispositionRejected)
	})
	e.wantCalls(t, mapped, "accepted 202", "accepted 202", "rejected 400")
}

func TestHandlerDedup(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	tr, tok := e.trigger(t, nil)
	gh, ghtok := e.trigger(t, func(tr *hookd.Trigger) { tr.DedupHeader = "X-GitHub-Delivery" })

	id := http.Header{"Webhook-Id": {"msg_1"}}
	first := e.call(t, tok, req{body: body1, header: id}).want(t, http.StatusAccepted, hookd.ExecQueued)
	e.clock.Add(23 * time.Hour)
	again := e.call(t, tok, req{body: []byte(`{"n":2}`), header: id}).want(t, http.StatusOK, hookd.DispositionDuplicate)
	if again.ExecutionID != first.ExecutionID {
		t.Fatalf("duplicate points at %s, want %s", again.ExecutionID, first.ExecutionID)
	}
	// Another key, or no key, is a new call.
	e.call(t, tok, req{body: body1, header: http.Header{"Webhook-Id": {"msg_2"}}}).want(t, http.StatusAccepted, hookd.ExecQueued)
	e.call(t, tok, req{body: body1}).want(t, http.StatusAccepted, hookd.ExecQueued)
	e.call(t, tok, req{body: body1}).want(t, http.StatusAccepted, hookd.ExecQueued)
	// After 24 h the key is forgotten.
	e.clock.Add(2 * time.Hour)
	later := e.call(t, tok, req{body: body1, header: id}).want(t, http.StatusAccepted, hookd.ExecQueued)
	if later.ExecutionID == first.ExecutionID {
		t.Fatal("key remembered after 24 h")
	}
	e.wantCalls(t, tr, "accepted 202", "duplicate 200", "accepted 202", "accepted 202", "accepted 202", "accepted 202")
	wantJSON(t, e.execution(t, first.ExecutionID).Input, string(body1))

	// A trigger's own dedup header; the default header means nothing there.
	d := http.Header{"X-Github-Delivery": {"72d3162e"}, "Webhook-Id": {"msg_1"}}
	g1 := e.call(t, ghtok, req{body: body1, header: d}).want(t, http.StatusAccepted, hookd.ExecQueued)
	d.Set("Webhook-Id", "msg_other")
	g2 := e.call(t, ghtok, req{body: body1, header: d}).want(t, http.StatusOK, hookd.DispositionDuplicate)
	if g2.ExecutionID != g1.ExecutionID {
		t.Fatalf("duplicate points at %s, want %s", g2.ExecutionID, g1.ExecutionID)
	}
	e.wantCalls(t, gh, "accepted 202", "duplicate 200")
	if got := e.counted(t, hookd.DispositionDuplicate); got != 2 {
		t.Fatalf("duplicate counted %v", got)
	}
}

func TestHandlerCooldown(t *testing.T) {
	t.Parallel()

	t.Run("Coalesce", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t, envOptions{})
		tr, tok := e.trigger(t, func(tr *hookd.Trigger) {
			tr.CooldownSeconds = 60
			tr.CooldownMode = hookd.CooldownCoalesce
		})
		start := e.clock.Now()
		lead := e.call(t, tok, req{body: body1}).want(t, http.StatusAccepted, hookd.ExecQueued)
		e.clock.Add(10 * time.Second)
		c2 := e.call(t, tok, req{body: []byte(`{"n":2}`)}).want(t, http.StatusAccepted, hookd.DispositionCoalesced)
		e.clock.Add(10 * time.Second)
		c3 := e.call(t, tok, req{body: []byte(`{"n":3}`)}).want(t, http.StatusAccepted, hookd.DispositionCoalesced)
		if c2.ExecutionID != c3.ExecutionID || c2.ExecutionID == lead.ExecutionID || c2.ExecutionID == "" {
			t.Fatalf("lead %s, folded into %s and %s: want one trailing run", lead.ExecutionID, c2.ExecutionID, c3.ExecutionID)
		}
		trail := e.execution(t, c3.ExecutionID)
		wantJSON(t, trail.Input, `{"n":3}`)
		if trail.Status != hookd.ExecQueued || !trail.RunAt.After(e.clock.Now()) || trail.RunAt.After(start.Add(61*time.Second)) {
			t.Fatalf("trailing run %s at %s, want queued at the window's end %s", trail.Status, trail.RunAt, start.Add(time.Minute))
		}
		wantJSON(t, e.execution(t, lead.ExecutionID).Input, string(body1))
		if n := e.executions(t, tr); n != 2 {
			t.Fatalf("%d executions, want 2", n)
		}
		e.wantCalls(t, tr, "accepted 202", "coalesced 202", "coalesced 202")
	})

	t.Run("Drop", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t, envOptions{})
		tr, tok := e.trigger(t, func(tr *hookd.Trigger) {
			tr.CooldownSeconds = 60
			tr.CooldownMode = hookd.CooldownDrop
		})
		lead := e.call(t, tok, req{body: body1}).want(t, http.StatusAccepted, hookd.ExecQueued)
		e.clock.Add(30 * time.Second)
		d := e.call(t, tok, req{body: []byte(`{"n":2}`)}).want(t, http.StatusAccepted, hookd.DispositionDropped)
		if d.ExecutionID != lead.ExecutionID {
			t.Fatalf("dropped call points at %s, want the leading run %s", d.ExecutionID, lead.ExecutionID)
		}
		wantJSON(t, e.execution(t, lead.ExecutionID).Input, string(body1))
		e.clock.Add(31 * time.Second)
		next := e.call(t, tok, req{body: []byte(`{"n":3}`)}).want(t, http.StatusAccepted, hookd.ExecQueued)
		if next.ExecutionID == lead.ExecutionID {
			t.Fatal("window did not end")
		}
		if n := e.executions(t, tr); n != 2 {
			t.Fatalf("%d executions, want 2", n)
		}
		e.wantCalls(t, tr, "accepted 202", "dropped 202", "accepted 202")
	})
}

func TestHandlerSync(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{engine: true})
	tr, tok := e.trigger(t, func(tr *hookd.Trigger) { tr.Mode = hookd.ModeSync })

	t.Run("Succeeded", func(t *testing.T) {
		r := e.call(t, tok, req{body: []byte(`{"do":"ok"}`)}).want(t, http.StatusOK, hookd.ExecSucceeded)
		wantJSON(t, r.Result, `{"answer":42}`)
		if r.ExecutionID == "" || r.Reason != "" {
			t.Fatalf("answer %s", r.raw)
		}
	})
	t.Run("Failed", func(t *testing.T) {
		r := e.call(t, tok, req{body: []byte(`{"do":"fail"}`)}).want(t, http.StatusInternalServerError, hookd.ExecFailed)
		if r.ExecutionID == "" || !strings.Contains(r.Reason, "500") {
			t.Fatalf("answer %s", r.raw)
		}
	})
	t.Run("StillRunning", func(t *testing.T) {
		r := e.call(t, tok, req{body: []byte(`{"do":"block"}`), query: "wait=1"})
		if r.code != http.StatusAccepted || !r.Success || r.ExecutionID == "" ||
			(r.Status != hookd.ExecRunning && r.Status != hookd.ExecQueued) {
			t.Fatalf("answer %d %s", r.code, r.raw)
		}
		e.jobSrv.releaseAll()
		x := waitDone(t, e, r.ExecutionID)
		if x.Status != hookd.ExecSucceeded {
			t.Fatalf("execution %s", x.Status)
		}
	})
	t.Run("WaitZero", func(t *testing.T) {
		// No wait: 202 with the run's state, which started in the
		// transaction that recorded the call (the engine had a worker).
		e.call(t, tok, req{body: []byte(`{"do":"ok"}`), query: "wait=0"}).want(t, http.StatusAccepted, hookd.ExecRunning)
	})
	e.wantCalls(t, tr, "accepted 202", "accepted 202", "accepted 202", "accepted 202")
}

func TestHandlerSyncClientHangsUp(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{engine: true})
	tr, tok := e.trigger(t, func(tr *hookd.Trigger) { tr.Mode = hookd.ModeSync })

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/hooks/"+tok, strings.NewReader(`{"do":"block"}`))
		resp, err := e.srv.Client().Do(hr)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-e.jobSrv.started:
	case <-time.After(10 * time.Second):
		t.Fatal("execution did not start")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v, want canceled", err)
	}
	cs := e.calls(t, tr)
	if len(cs) != 1 || cs[0].ExecutionID == "" {
		t.Fatalf("call log %+v", cs)
	}
	// The run goes on after its caller left, and finishes normally.
	time.Sleep(50 * time.Millisecond) // give a wrongly propagated cancel the chance to land
	if x := e.execution(t, cs[0].ExecutionID); x.Status != hookd.ExecRunning {
		t.Fatalf("execution %s after the client left, want running", x.Status)
	}
	e.jobSrv.releaseAll()
	x := waitDone(t, e, cs[0].ExecutionID)
	if x.Status != hookd.ExecSucceeded {
		t.Fatalf("execution %s (%s), want succeeded", x.Status, x.Reason)
	}
	wantJSON(t, x.Result, `{"released":true}`)
}

// waitDone waits up to 10 s for an execution to finish.
func waitDone(t *testing.T, e *hookEnv, id string) *hookd.Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x, err := e.engine.Wait(ctx, e.ws.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	if !x.Done() {
		t.Fatalf("execution %s still %s", id, x.Status)
	}
	return x
}

func TestHandlerTokenCache(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	ctx := context.Background()

	t.Run("PositiveAtMostTwoSeconds", func(t *testing.T) {
		tr, tok := e.trigger(t, nil)
		e.call(t, tok, req{}).want(t, http.StatusAccepted, hookd.ExecQueued)
		tr.IsActive = false
		if err := e.store.TriggerUpdate(ctx, tr); err != nil {
			t.Fatal(err)
		}
		// Within the cache's life the old state may still answer…
		e.clock.Add(MaxCacheTTL - time.Millisecond)
		e.call(t, tok, req{}).want(t, http.StatusAccepted, hookd.ExecQueued)
		// …but never beyond it.
		e.clock.Add(time.Millisecond)
		e.call(t, tok, req{}).want(t, http.StatusForbidden, hookd.DispositionInactive)
	})
	t.Run("NoNegative", func(t *testing.T) {
		tok := NewToken()
		e.call(t, tok, req{}).want(t, http.StatusUnauthorized, hookd.DispositionUnauthorized)
		tr := &hookd.Trigger{
			WorkspaceID: e.ws.ID, JobID: e.job.ID, Name: "late", TokenPrefix: tok[:8], TokenHash: hookd.HashToken(tok),
			IsActive: true, Methods: []string{http.MethodPost}, Mode: hookd.ModeAsync, RateLimitPerMinute: 30,
			Signature: hookd.SchemeHMACSHA256, WaitSeconds: 25, CooldownMode: hookd.CooldownCoalesce,
		}
		if err := e.store.TriggerCreate(ctx, tr); err != nil {
			t.Fatal(err)
		}
		e.call(t, tok, req{}).want(t, http.StatusAccepted, hookd.ExecQueued)
	})
}

func TestTokenCacheBounded(t *testing.T) {
	t.Parallel()
	c := newTokenCache(time.Second, 64)
	now := time.Unix(1_700_000_000, 0)
	tr := &hookd.Trigger{ID: "trg_x"}
	for i := range 1000 {
		c.put([32]byte(hookd.HashToken(strconv.Itoa(i))), tr, now)
		if n := c.size(); n > 64 {
			t.Fatalf("%d entries after %d puts", n, i+1)
		}
	}
	k := [32]byte(hookd.HashToken("999"))
	if c.get(k, now) != tr || c.get(k, now.Add(time.Second)) != nil {
		t.Fatal("fresh entry missing or expired entry served")
	}
	c.put(k, tr, now)
	if c.get(k, now.Add(-time.Hour)) != nil {
		t.Fatal("a clock stepping back extended an entry")
	}
}

func TestValidToken(t *testing.T) {
	t.Parallel()
	tok := NewToken()
	if !ValidToken(tok) || len(tok) != TokenLen || NewToken() == tok {
		t.Fatalf("NewToken %q", tok)
	}
	for _, bad := range []string{"", "wht_", tok[:TokenLen-1], tok + "x", "WHT_" + tok[4:], tok[:20] + "+" + tok[21:], tok[:20] + "=" + tok[21:]} {
		if ValidToken(bad) {
			t.Errorf("ValidToken(%q) = true", bad)
		}
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		trigger int
		query   string
		want    time.Duration
	}{
		{0, "", 25 * time.Second},
		{10, "", 10 * time.Second},
		{1000, "", 300 * time.Second},
		{10, "3", 3 * time.Second},
		{10, "0", 0},
		{10, "30", 10 * time.Second},
		{10, "-1", 10 * time.Second},
		{10, "x", 10 * time.Second},
	} {
		if got := waitFor(c.trigger, c.query); got != c.want {
			t.Errorf("waitFor(%d, %q) = %v, want %v", c.trigger, c.query, got, c.want)
		}
	}
}

func BenchmarkAcceptedCall(b *testing.B) {
	e := newHookEnv(b, envOptions{fullSync: true})
	_, tok := e.trigger(b, func(tr *hookd.Trigger) { tr.RateLimitPerMinute = 1 << 30 })
	u := e.srv.URL + "/hooks/" + tok
	client := e.srv.Client()
	var fails atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(u, "application/json", bytes.NewReader(body1))
			if err != nil {
				fails.Add(1)
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				fails.Add(1)
			}
		}
	})
	if n := fails.Load(); n > 0 {
		b.Fatalf("%d calls not accepted", n)
	}
}

func BenchmarkUnknownToken(b *testing.B) {
	// A high flood limit keeps the guard out of the way: this measures the
	// token check itself.
	e := newHookEnv(b, envOptions{fullSync: true, cfg: func(c *HandlerConfig) { c.FloodLimit = 1 << 30 }})
	u := e.srv.URL + "/hooks/" + NewToken()
	client := e.srv.Client()
	var fails atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(u, "application/json", bytes.NewReader(body1))
			if err != nil {
				fails.Add(1)
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				fails.Add(1)
			}
		}
	})
	if n := fails.Load(); n > 0 {
		b.Fatalf("%d calls not refused", n)
	}
}
