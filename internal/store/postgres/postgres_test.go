package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/pgtest"
	"github.com/hookd/hookd/internal/seal"
	"github.com/hookd/hookd/internal/store/postgres"
	"github.com/hookd/hookd/internal/store/storetest"
)

// adminDSN returns HOOKD_TEST_POSTGRES or skips: the PostgreSQL suite needs a
// server (scripts/pg.sh start makes a throwaway one).
func adminDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("HOOKD_TEST_POSTGRES")
	if dsn == "" {
		tb.Skip("HOOKD_TEST_POSTGRES is not set: run eval \"$(scripts/pg.sh start)\" to test the PostgreSQL store")
	}
	return dsn
}

// freshDB is an empty database of its own for tb (pgtest.Fresh).
func freshDB(tb testing.TB) string { return pgtest.Fresh(tb, "hookd_test_") }

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "(dsn)"
}

func sealer(tb testing.TB) hookd.Sealer {
	tb.Helper()
	key := make([]byte, seal.KeySize)
	rand.Read(key)
	s, err := seal.New(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func open(tb testing.TB, dsn string, opts postgres.Options) *postgres.Store {
	tb.Helper()
	if opts.Sealer == nil {
		opts.Sealer = sealer(tb)
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 8
	}
	s, err := postgres.Open(context.Background(), dsn, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// cluster is n Stores (nodes) on one fresh database of the test's own,
// sharing one sealer as a cluster's nodes share HOOKD_MASTER_KEY, and a
// workspace created through the first; dsn and key open more nodes.
type cluster struct {
	dsn   string
	key   hookd.Sealer
	nodes []*postgres.Store
	ws    *hookd.Workspace
}

func newCluster(tb testing.TB, n int) *cluster {
	tb.Helper()
	c := &cluster{dsn: freshDB(tb), key: sealer(tb), ws: &hookd.Workspace{Name: "w"}}
	for range n {
		c.nodes = append(c.nodes, open(tb, c.dsn, postgres.Options{Sealer: c.key}))
	}
	if err := c.nodes[0].WorkspaceCreate(context.Background(), c.ws); err != nil {
		tb.Fatal(err)
	}
	return c
}

// storeWithWorkspace is a one-node cluster: a Store on a fresh database of
// tb's own, with a workspace.
func storeWithWorkspace(tb testing.TB) (*postgres.Store, *hookd.Workspace) {
	tb.Helper()
	c := newCluster(tb, 1)
	return c.nodes[0], c.ws
}

func TestStore(t *testing.T) {
	adminDSN(t)
	t.Parallel()
	storetest.Run(t, func(t *testing.T) hookd.Store {
		// The store's own clock runs an hour behind. The suite's
		// Pagination test creates one webhook on the store's clock and
		// expects it older than others stamped t0+1s, where t0 is the
		// second the test binary started: true only when the suite reaches
		// it within a second, which a PostgreSQL suite (a database per test,
		// an fsync per commit) does not. No other test depends on the
		// store's clock being exact, only on it not running ahead.
		return open(t, freshDB(t), postgres.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	})
}

func TestInbound(t *testing.T) {
	adminDSN(t)
	t.Parallel()
	storetest.RunInbound(t, func(t *testing.T) storetest.InboundStore {
		return open(t, freshDB(t), postgres.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	})
}

func TestErrNoSealer(t *testing.T) {
	t.Parallel()
	if _, err := postgres.Open(context.Background(), "postgres://localhost/x", postgres.Options{}); err == nil {
		t.Error("missing Sealer accepted")
	}
}

// TestMigrateConcurrently opens several stores on one empty database at once:
// goose's advisory lock lets exactly one migrate, and all of them work.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	dsn := freshDB(t)
	key := sealer(t)
	const n = 4
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(context.Background(), dsn, postgres.Options{Sealer: key, MaxConns: 2})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	ws := &hookd.Workspace{Name: "w"}
	if err := stores[0].WorkspaceCreate(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		if _, err := s.WorkspaceGet(context.Background(), ws.ID); err != nil {
			t.Errorf("store %d: %v", i, err)
		}
	}
}

// TestSecretsAtRest reads the raw webhook rows: the plaintext secrets are in
// no column, and a store with another master key cannot open them.
func TestSecretsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := freshDB(t)
	s := open(t, dsn, postgres.Options{})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "whsec_CURRENTplaintext",
		PreviousSecret: "whsec_PREVIOUSplaintext", PreviousSecretExpiresAt: &exp}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var raw string
	if err := conn.QueryRow(ctx, `SELECT string_agg(w::text, ' ') FROM webhooks w`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"CURRENTplaintext", "PREVIOUSplaintext", hex.EncodeToString([]byte("CURRENTplaintext"))} {
		if bytes.Contains([]byte(raw), []byte(secret)) {
			t.Errorf("webhook row holds the plaintext secret %q", secret)
		}
	}
	other := open(t, dsn, postgres.Options{})
	if _, err := other.WebhookGet(ctx, ws.ID, wh.ID); err == nil {
		t.Error("webhook readable under a different master key")
	}
}

// TestClaimConcurrent has several stores (nodes) claim from one queue at once:
// every delivery is claimed exactly once.
func TestClaimConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := newCluster(t, 1)
	s, ws := cl.nodes[0], cl.ws
	var hooks []string
	for range 5 {
		wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "s"}
		if err := s.WebhookCreate(ctx, wh); err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, wh.ID)
	}
	const events = 400
	base := time.Now().Add(-time.Hour)
	for i := range events {
		if _, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Data: json.RawMessage(`{}`), Now: base.Add(time.Duration(i) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	const nodes = 4
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for n := range nodes {
		node := open(t, cl.dsn, postgres.Options{Sealer: cl.key, MaxConns: 2})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := node.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now(), Limit: 37, Lease: time.Minute, Owner: fmt.Sprint("node-", n),
					PerWebhook: func(string) int { return 10 }})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				rs := make([]hookd.AttemptResult, len(got))
				mu.Lock()
				for i, c := range got {
					seen[c.ID]++
					rs[i] = hookd.AttemptResult{DeliveryID: c.ID, WebhookID: c.WebhookID, Attempt: hookd.Attempt{StatusCode: 200}, Outcome: hookd.OutcomeDelivered, Now: time.Now()}
				}
				mu.Unlock()
				if err := node.DeliveriesComplete(ctx, rs); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != events*len(hooks) {
		t.Errorf("claimed %d distinct deliveries, want %d", len(seen), events*len(hooks))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
	st, err := s.QueueStats(ctx)
	if err != nil || st.Pending != 0 || st.Processing != 0 {
		t.Errorf("queue after: %+v, %v", st, err)
	}
}

// TestLargeFanOut publishes to more webhooks than copyThreshold (the COPY path).
func TestLargeFanOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, ws := storeWithWorkspace(t)
	const n = 1500
	for range n {
		if err := s.WebhookCreate(ctx, &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	evt, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Data: json.RawMessage(`{"a": 1}`), IdempotencyKey: "k", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("publish to %d webhooks took %v", n, time.Since(start))
	got, err := s.EventGet(ctx, ws.ID, evt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.DeliveryIDs) != n || string(got.Data) != `{"a": 1}` {
		t.Errorf("stored event: %d deliveries, data %s", len(got.DeliveryIDs), got.Data)
	}
	for i := range got.DeliveryIDs {
		if got.DeliveryIDs[i] != evt.DeliveryIDs[i] {
			t.Fatalf("delivery %d: %s, published %s", i, got.DeliveryIDs[i], evt.DeliveryIDs[i])
		}
	}
	again, existing, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", IdempotencyKey: "k", Now: time.Now()})
	if err != nil || !existing || again.ID != evt.ID {
		t.Errorf("republish: %v %v %v", again, existing, err)
	}
}

// TestInvalidData: data that is not JSON is refused with EInvalid.
func TestInvalidData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, ws := storeWithWorkspace(t)
	_, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Data: json.RawMessage(`{nope`), Now: time.Now()})
	if hookd.ErrorCode(err) != hookd.EInvalid {
		t.Errorf("publish of invalid JSON: %v, want invalid", err)
	}
}

// TestClaimLargeBacklog: a large backlog of one excluded (or saturated)
// webhook ahead of everything else must not make a claim slow or starve the
// other webhooks.
func TestClaimLargeBacklog(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a 200,000-row queue")
	}
	storetest.ClaimLargeBacklog(t, open(t, freshDB(t), postgres.Options{}), 200_000)
}

// BenchmarkPublishParallel publishes events to two matching webhooks from many
// goroutines (each publish its own transaction and commit, fsync on).
func BenchmarkPublishParallel(b *testing.B) {
	ctx := context.Background()
	s := open(b, freshDB(b), postgres.Options{MaxConns: 32})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		b.Fatal(err)
	}
	for range 2 {
		if err := s.WebhookCreate(ctx, &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "s"}); err != nil {
			b.Fatal(err)
		}
	}
	data := json.RawMessage(`{"order_id":"ord_123","amount":4200,"currency":"EUR"}`)
	b.SetParallelism(32) // many concurrent HTTP handlers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "order.created", Data: data, Now: time.Now()}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkClaimComplete measures the delivery engine's store round trip:
// claim a batch of 100, complete it as delivered.
func BenchmarkClaimComplete(b *testing.B) {
	ctx := context.Background()
	s := open(b, freshDB(b), postgres.Options{})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		b.Fatal(err)
	}
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "s"}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		b.Fatal(err)
	}
	const batch = 100
	base := time.Now().Add(-time.Hour)
	if err := s.BulkInsertPending(ctx, ws.ID, wh.ID, b.N*batch+batch, base); err != nil {
		b.Fatal(err)
	}
	var done atomic.Int64
	var claimTime, completeTime time.Duration
	perHook := func(string) int { return 1000 }
	b.ResetTimer()
	for range b.N {
		now := time.Now()
		got, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: now, Limit: batch, Lease: time.Minute, Owner: "bench", PerWebhook: perHook})
		claimTime += time.Since(now)
		if err != nil || len(got) != batch {
			b.Fatalf("claim: %d, %v", len(got), err)
		}
		rs := make([]hookd.AttemptResult, len(got))
		for i, c := range got {
			rs[i] = hookd.AttemptResult{DeliveryID: c.ID, WebhookID: c.WebhookID, Attempt: hookd.Attempt{StartedAt: now, DurationMS: 3, StatusCode: 200}, Outcome: hookd.OutcomeDelivered, Now: now}
		}
		start := time.Now()
		if err := s.DeliveriesComplete(ctx, rs); err != nil {
			b.Fatal(err)
		}
		completeTime += time.Since(start)
		done.Add(int64(len(got)))
	}
	b.ReportMetric(float64(done.Load())/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(claimTime.Microseconds())/float64(b.N), "claim-µs/op")
	b.ReportMetric(float64(completeTime.Microseconds())/float64(b.N), "complete-µs/op")
}

// TestPipelinedTx: a transaction whose BEGIN and COMMIT ride in the
// statements' own batches commits what it wrote when its function succeeds
// (COMMIT sent or not), rolls it back when the function or a statement
// fails, and leaves the pool usable either way.
func TestPipelinedTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := freshDB(t)
	s := open(t, dsn, postgres.Options{Sealer: sealer(t), MaxConns: 1}) // one connection: every case reuses it
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ins := func(name string) string {
		return fmt.Sprintf(`INSERT INTO workspaces (id, name, created) VALUES ('ws_%s', '%s', now())`, name, name)
	}
	boom := errors.New("boom")
	cases := []struct {
		name  string // also the workspace it inserts
		fail  error
		stmts []string
		kept  bool
	}{
		{"committed", nil, []string{"BEGIN", ins("committed"), "COMMIT"}, true},
		{"left_open", nil, []string{"BEGIN", ins("left_open")}, true},
		{"fn_fails", boom, []string{"BEGIN", ins("fn_fails")}, false},
		{"stmt_fails", nil, []string{"BEGIN", ins("stmt_fails"), "SELECT 1/0", "COMMIT"}, false},
	}
	for _, c := range cases {
		err := s.PipelinedExec(ctx, c.fail, c.stmts...)
		if (err == nil) != c.kept {
			t.Errorf("%s: err %v", c.name, err)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM workspaces WHERE name = $1`, c.name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (n == 1) != c.kept {
			t.Errorf("%s: %d rows kept, want kept=%v", c.name, n, c.kept)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("pool unusable afterwards: %v", err)
	}
	if err := s.PipelinedExec(ctx, nil, "BEGIN", "SELECT 1", "COMMIT"); err != nil {
		t.Fatalf("transaction after the failures: %v", err)
	}
}
