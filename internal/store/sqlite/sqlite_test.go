package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/seal"
	"github.com/hookd/hookd/internal/store/sqlite"
	"github.com/hookd/hookd/internal/store/storetest"
)

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

func open(tb testing.TB, path string, opts sqlite.Options) *sqlite.Store {
	tb.Helper()
	if opts.Sealer == nil {
		opts.Sealer = sealer(tb)
	}
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// openWorkspace opens a store at a new path (default options) with one
// workspace in it.
func openWorkspace(t *testing.T) (string, *sqlite.Store, *hookd.Workspace) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookd.db")
	s := open(t, path, sqlite.Options{})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	return path, s, ws
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) hookd.Store {
		return open(t, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{})
	})
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sync string
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{"", 2}, {"FULL", 2}, {"NORMAL", 1}} {
		t.Run("Synchronous"+tt.sync, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "hookd.db")
			s := open(t, path, sqlite.Options{Synchronous: tt.sync})
			mode, sync, fk, err := s.Pragmas(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if mode != "wal" || sync != tt.want || !fk {
				t.Errorf("journal_mode=%s synchronous=%d foreign_keys=%v; want wal, %d, true", mode, sync, fk, tt.want)
			}
		})
	}
	t.Run("ErrBadSynchronous", func(t *testing.T) {
		t.Parallel()
		if _, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Sealer: sealer(t), Synchronous: "OFF"}); err == nil {
			t.Error("Synchronous OFF accepted")
		}
	})
	t.Run("ErrNoSealer", func(t *testing.T) {
		t.Parallel()
		if _, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqlite.Options{}); err == nil {
			t.Error("missing Sealer accepted")
		}
	})
}

// TestSecretsAtRest reads the raw columns through a separate handle: the
// plaintext must be nowhere in the file's webhook rows.
func TestSecretsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, s, ws := openWorkspace(t)
	exp := time.Now().Add(time.Hour)
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "whsec_CURRENTplaintext",
		PreviousSecret: "whsec_PREVIOUSplaintext", PreviousSecretExpiresAt: &exp}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, path, "webhooks", "CURRENTplaintext", "PREVIOUSplaintext")
	// And a store opened with another master key cannot read it.
	s.Close()
	other := open(t, path, sqlite.Options{})
	if _, err := other.WebhookGet(ctx, ws.ID, wh.ID); err == nil {
		t.Error("webhook readable under a different master key")
	}
}

// TestDurability closes and reopens the file: everything acknowledged is there.
func TestDurability(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hookd.db")
	key := sealer(t)
	s := open(t, path, sqlite.Options{Sealer: key})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	k := &hookd.APIKey{WorkspaceID: ws.ID, Scopes: []string{hookd.ScopeAdmin}, Hash: hookd.HashToken("hk_x")}
	if err := s.APIKeyCreate(ctx, k); err != nil {
		t.Fatal(err)
	}
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "whsec_s", Events: []string{"*"}}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var evts []*hookd.Event
	for i := range 20 {
		e, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), IdempotencyKey: fmt.Sprint(i), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		evts = append(evts, e)
	}
	c, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: now, Limit: 1, Lease: time.Minute})
	if err != nil || len(c) != 1 {
		t.Fatal(c, err)
	}
	if err := s.DeliveriesComplete(ctx, []hookd.AttemptResult{{DeliveryID: c[0].ID, WebhookID: wh.ID, Attempt: hookd.Attempt{StartedAt: now, StatusCode: 200}, Outcome: hookd.OutcomeDelivered, Now: now}}); err != nil {
		t.Fatal(err)
	}
	before, err := s.DeliveryGet(ctx, ws.ID, c[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", Now: now}); hookd.ErrorCode(err) != hookd.EUnavailable {
		t.Errorf("publish after Close: %v, want unavailable", err)
	}

	s = open(t, path, sqlite.Options{Sealer: key})
	gotWS, err := s.WorkspaceGetByName(ctx, "w")
	if err != nil || gotWS.ID != ws.ID {
		t.Fatalf("workspace after reopen: %v, %v", gotWS, err)
	}
	if _, err := s.APIKeyGetByHash(ctx, k.Hash); err != nil {
		t.Errorf("api key after reopen: %v", err)
	}
	gotWH, err := s.WebhookGet(ctx, ws.ID, wh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wh, gotWH, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("webhook after reopen (-want +got):\n%s", diff)
	}
	for _, e := range evts {
		got, err := s.EventGet(ctx, ws.ID, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(e, got); diff != "" {
			t.Errorf("event after reopen (-want +got):\n%s", diff)
		}
	}
	after, err := s.DeliveryGet(ctx, ws.ID, c[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("delivery after reopen (-want +got):\n%s", diff)
	}
	// Idempotency survives too.
	if _, existing, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "t", IdempotencyKey: "3", Now: now}); err != nil || !existing {
		t.Errorf("reused key after reopen: existing=%v, %v", existing, err)
	}
}

// TestClaimLargeBacklog: a million pending rows of one excluded (or saturated)
// webhook ahead of everything else must not make a claim slow or starve the
// other webhooks.
func TestClaimLargeBacklog(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a 1,000,000-row queue")
	}
	n := 1_000_000
	if raceEnabled {
		n = 100_000
	}
	storetest.ClaimLargeBacklog(t, open(t, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{Synchronous: "NORMAL"}), n)
}

// BenchmarkPublishParallel publishes events to two matching webhooks from many
// goroutines with synchronous=FULL: group commit folds them into few fsyncs.
func BenchmarkPublishParallel(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			ctx := context.Background()
			s := open(b, filepath.Join(b.TempDir(), "hookd.db"), sqlite.Options{Synchronous: sync})
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
			if st := s.WriteStats(); st.Commits > 0 {
				b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
			}
		})
	}
}

// BenchmarkClaimComplete measures the delivery engine's store round trip:
// claim a batch of 100, complete it as delivered.
func BenchmarkClaimComplete(b *testing.B) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "hookd.db"), sqlite.Options{})
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
	b.ResetTimer()
	for range b.N {
		now := time.Now()
		got, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: now, Limit: batch, Lease: time.Minute, Owner: "bench"})
		if err != nil || len(got) != batch {
			b.Fatalf("claim: %d, %v", len(got), err)
		}
		rs := make([]hookd.AttemptResult, len(got))
		for i, c := range got {
			rs[i] = hookd.AttemptResult{DeliveryID: c.ID, WebhookID: c.WebhookID, Attempt: hookd.Attempt{StartedAt: now, DurationMS: 3, StatusCode: 200}, Outcome: hookd.OutcomeDelivered, Now: now}
		}
		if err := s.DeliveriesComplete(ctx, rs); err != nil {
			b.Fatal(err)
		}
		done.Add(int64(len(got)))
	}
	b.ReportMetric(float64(done.Load())/b.Elapsed().Seconds(), "deliveries/s")
}

// TestListPlans: the filtered lists of executions and calls use their
// indexes (the partial ones for the rare values) rather than scanning.
func TestListPlans(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{})
	for _, tc := range []struct{ name, query, index string }{
		{"ExecutionsFailed", `SELECT id FROM executions WHERE workspace_id = 'w' AND status = 'failed' AND status <> 'succeeded'
			ORDER BY created DESC, rowid DESC LIMIT 10`, "executions_status"},
		{"ExecutionsSucceeded", `SELECT id FROM executions WHERE workspace_id = 'w' AND status = 'succeeded'
			ORDER BY created DESC, rowid DESC LIMIT 10`, "executions_list"},
		{"CallsRefused", `SELECT id FROM calls WHERE workspace_id = 'w' AND trigger_id = 't' AND disposition = 'rate_limited'
			AND disposition <> 'accepted' ORDER BY created DESC, rowid DESC LIMIT 10`, "calls_disposition"},
		{"CallsAccepted", `SELECT id FROM calls WHERE workspace_id = 'w' AND trigger_id = 't' AND disposition = 'accepted'
			ORDER BY created DESC, rowid DESC LIMIT 10`, "calls_list"},
		// CallList: the calls rows and the accepted calls kept on their
		// executions, each read in its index's order and merged: no sort of
		// a trigger's whole log for one page.
		{"CallListRows", sqlite.CallListQuery(""), "calls_list"},
		{"CallListOnExecutions", sqlite.CallListQuery(""), "executions_trigger"},
		{"CallListAcceptedRows", sqlite.CallListQuery("accepted"), "calls_list"},
		{"CallListAcceptedOnExecutions", sqlite.CallListQuery("accepted"), "executions_trigger"},
	} {
		plan, err := s.QueryPlan(context.Background(), tc.query)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "INDEX "+tc.index) {
			t.Errorf("%s: plan %q, want index %s", tc.name, plan, tc.index)
		}
		if strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s: plan %q sorts", tc.name, plan)
		}
	}
}

// noPlaintext reads every row of table through a separate read-only handle
// and fails when any column holds one of the plaintexts, or when the table
// does not hold exactly one row.
func noPlaintext(t *testing.T, path, table string, plaintexts ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(context.Background(), `SELECT * FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var b []byte
			switch v := v.(type) {
			case []byte:
				b = v
			case string:
				b = []byte(v)
			}
			for _, secret := range plaintexts {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s column %s holds the plaintext %s", table, cols[i], secret)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d %s rows, want 1", n, table)
	}
}
