package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/client"
)

// Several nodes on one PostgreSQL database (DESIGN §6): every test here runs
// three `hookd serve` processes on a fresh database and drives them through
// all three at once. PostgreSQL only: skipped without HOOKD_TEST_POSTGRES.

// startCluster starts n nodes on one fresh database. Each has its own data
// directory but the same HOOKD_MASTER_KEY (a secret sealed by one node opens
// on the others); the first bootstraps the workspace and the operator key,
// whose admin.key the others get a copy of.
func startCluster(t *testing.T, n int, extra ...string) []*server {
	t.Helper()
	nodes, _ := startGrowingCluster(t, n, extra...)
	return nodes
}

// startGrowingCluster is startCluster, and returns a function that starts
// one more node of the cluster.
func startGrowingCluster(t *testing.T, n int, extra ...string) ([]*server, func() *server) {
	t.Helper()
	needPostgres(t)
	dsn := freshDatabase(t)
	key := make([]byte, 32)
	rand.Read(key)
	env := []string{"HOOKD_MASTER_KEY=" + base64.StdEncoding.EncodeToString(key)}
	args := append([]string{"--database", dsn}, extra...)
	first := startEnv(t, "", env, args...)
	adminKey, err := os.ReadFile(filepath.Join(first.DataDir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	another := func() *server {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "admin.key"), adminKey, 0o600); err != nil {
			t.Fatal(err)
		}
		return startEnv(t, dir, env, args...)
	}
	nodes := []*server{first}
	for len(nodes) < n {
		nodes = append(nodes, another())
	}
	return nodes, another
}

// clusterClients returns a client per node sharing one transport that keeps
// enough idle connections for many concurrent publishers.
func clusterClients(nodes []*server) []*client.Client {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	cs := make([]*client.Client, len(nodes))
	for i, s := range nodes {
		cs[i] = client.New(s.URL, s.Key, client.WithHTTPClient(hc))
	}
	return cs
}

// publishRoundRobin publishes n events of type typ, event i to node i mod
// len(cs), from 24 goroutines at once. An event its node does not accept (a
// killed node) is offered to the next node: only acknowledged events are
// returned. after, when set, is called after every acknowledgement with the
// count so far.
func publishRoundRobin(t *testing.T, cs []*client.Client, n int, typ string, after func(acked int)) []string {
	t.Helper()
	ctx := context.Background()
	var (
		mu    sync.Mutex
		acked []string
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				var evt *client.Event
				var err error
				for try := 0; try < 2*len(cs); try++ {
					evt, err = cs[(i+try)%len(cs)].PublishEvent(ctx, typ, map[string]any{"i": i}, "", "")
					if err == nil {
						break
					}
				}
				if err != nil {
					t.Errorf("event %d accepted by no node: %v", i, err)
					return
				}
				mu.Lock()
				acked = append(acked, evt.ID)
				k := len(acked)
				mu.Unlock()
				if after != nil {
					after(k)
				}
			}
		}()
	}
	wg.Wait()
	return acked
}

// within polls cond every 50 ms until it holds or d passes.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allSeen reports whether the recorder saw every id at least once.
func (rc *recorder) allSeen(ids []string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range ids {
		if rc.byEvent[id] == 0 {
			return false
		}
	}
	return true
}

// 10,000 events published round-robin to three nodes: each delivered exactly
// once, by one node, with one attempt.
func TestClusterDeliveries(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	cs := clusterClients(nodes)
	ctx := context.Background()
	rc := newRecorder(t, nil)
	wh, err := cs[0].CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"cluster.*"}})
	if err != nil {
		t.Fatal(err)
	}
	const total = 10_000
	began := time.Now()
	ids := publishRoundRobin(t, cs, total, "cluster.event", nil)
	published := time.Since(began)
	if len(ids) != total {
		t.Fatalf("%d of %d events acknowledged", len(ids), total)
	}
	within(t, 60*time.Second, fmt.Sprintf("all %d events delivered", total), func() bool { return rc.allSeen(ids) })
	t.Logf("published %d events in %v, all delivered after %v", total, published.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))

	rc.mu.Lock()
	for id, n := range rc.byEvent {
		if n != 1 {
			t.Errorf("event %s sent %d times", id, n)
		}
	}
	if len(rc.reqs) != total || len(rc.byEvent) != total {
		t.Errorf("receiver got %d requests for %d distinct events, want %d of each", len(rc.reqs), len(rc.byEvent), total)
	}
	rc.mu.Unlock()

	// The database agrees, read through another node (once the last
	// answers are recorded: completes are batched): every delivery
	// delivered with exactly one attempt.
	var sum *client.DeliverySummary
	within(t, 20*time.Second, "every delivery recorded as delivered", func() bool {
		sum, err = cs[2].WebhookDeliverySummary(ctx, wh.ID)
		return err == nil && sum.Delivered == total
	})
	if sum.Total != total {
		t.Fatalf("summary %+v", sum)
	}
	for off := 0; off < total; off += 100 {
		page, err := cs[off/100%3].ListWebhookDeliveries(ctx, wh.ID, client.DeliveryFilter{Limit: 100, Offset: off})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Data {
			if d.Status != "delivered" || d.Attempts != 1 {
				t.Fatalf("delivery %s: %s after %d attempts, want delivered after 1", d.ID, d.Status, d.Attempts)
			}
		}
	}
}

// One of three nodes killed (kill -9) mid-run: the other two take its leased
// work back when the lease ends and every acknowledged event is delivered.
func TestClusterKill9(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, "--lease", "8s", "--delivery-timeout", "3s")
	cs := clusterClients(nodes)
	ctx := context.Background()
	// A receiver slow enough that every node has attempts in flight.
	rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { time.Sleep(20 * time.Millisecond) })
	wh, err := cs[0].CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"cluster.*"}})
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, nodes[0].Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	const total = 10_000
	var (
		once     sync.Once
		killedAt atomic.Int64
		held     []string // deliveries processing at the kill, some of them the dead node's
		owners   int
	)
	began := time.Now()
	ids := publishRoundRobin(t, cs, total, "cluster.kill", func(acked int) {
		if acked >= total/2 && rc.count() > 0 {
			once.Do(func() {
				nodes[1].kill()
				killedAt.Store(int64(acked))
				rows, err := db.Query(ctx, `SELECT id, lease_owner FROM deliveries WHERE status = 'processing'`)
				if err != nil {
					t.Error(err)
					return
				}
				seen := map[string]bool{}
				for rows.Next() {
					var id, owner string
					if err := rows.Scan(&id, &owner); err != nil {
						t.Error(err)
					}
					held, seen[owner] = append(held, id), true
				}
				rows.Close()
				owners = len(seen)
			})
		}
	})
	if killedAt.Load() == 0 {
		t.Fatal("the node was never killed")
	}
	if len(ids) != total {
		t.Fatalf("%d of %d events acknowledged", len(ids), total)
	}
	within(t, 60*time.Second, fmt.Sprintf("all %d acknowledged events delivered", len(ids)), func() bool { return rc.allSeen(ids) })
	// Nothing is left held by the dead node: every delivery (those of events
	// it committed without answering too) ends delivered.
	within(t, 20*time.Second, "every delivery delivered", func() bool {
		sum, err := cs[0].WebhookDeliverySummary(ctx, wh.ID)
		return err == nil && sum.Delivered == sum.Total && sum.Total >= total
	})
	var left int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE id = ANY($1) AND status <> 'delivered'`, held).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d of the %d deliveries in flight at the kill not delivered (%v)", left, len(held), err)
	}
	rc.mu.Lock()
	again := 0
	for _, n := range rc.byEvent {
		if n > 1 {
			again++
		}
	}
	reqs := len(rc.reqs)
	rc.mu.Unlock()
	t.Logf("node killed after %d acknowledgements with %d deliveries in flight on %d nodes; all %d delivered after %v; %d requests, %d events sent more than once",
		killedAt.Load(), len(held), owners, len(ids), time.Since(began).Round(time.Millisecond), reqs, again)
}

// A trigger with a 3 s coalescing cooldown called on each node in turn
// inside one window: one leading run and exactly one trailing run, which
// carries the latest input.
func TestClusterCooldown(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, "--allow-command-jobs")
	cs := clusterClients(nodes)
	ctx := context.Background()
	j, err := cs[0].CreateJob(ctx, client.JobCreate{Name: "refresh", Kind: "command", Config: map[string]any{"argv": []string{"/bin/cat"}}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs[1].CreateTrigger(ctx, client.TriggerCreate{JobID: j.ID, CooldownSeconds: 3, CooldownMode: "coalesce", RateLimitPerMinute: 100})
	if err != nil {
		t.Fatal(err)
	}
	const calls = 6
	var answers []*client.TriggerResponse
	began := time.Now()
	for i := range calls {
		res, err := cs[i%3].CallTrigger(ctx, tr.Token, []byte(fmt.Sprintf(`{"n":%d}`, i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, res)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("calls took %v: not all inside the 3 s window", took)
	}
	if answers[0].Status != "queued" {
		t.Fatalf("leading call: %+v", answers[0])
	}
	trailing := answers[1].ExecutionID
	if trailing == answers[0].ExecutionID {
		t.Fatalf("second call folded into the leading run %s", trailing)
	}
	for i, a := range answers[1:] {
		if a.Status != "coalesced" || a.ExecutionID != trailing {
			t.Fatalf("call %d (node %d) in the window: %+v, want coalesced into %s", i+1, (i+1)%3, a, trailing)
		}
	}
	var e *client.Execution
	within(t, 20*time.Second, "the trailing run", func() bool {
		e, _ = cs[2].GetExecution(ctx, trailing)
		return e != nil && e.Done()
	})
	if e.Status != "succeeded" || string(e.Result) != fmt.Sprintf(`{"n":%d}`, calls-1) {
		t.Fatalf("trailing run %s: %s, result %s; want the last call's input", e.Status, e.Reason, e.Result)
	}
	list, err := cs[0].ListExecutions(ctx, client.ExecutionFilter{JobID: j.ID})
	if err != nil || list.Total != 2 {
		t.Fatalf("%+v %v: want 2 executions for %d calls in one window", list, err, calls)
	}
}

// A job scheduled every second with three nodes running the scheduler: at
// most one run per period, cluster-wide.
func TestClusterSchedule(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	cs := clusterClients(nodes)
	ctx := context.Background()
	began := time.Now()
	j, err := cs[0].CreateJob(ctx, client.JobCreate{Name: "tick", Kind: "event", Config: map[string]any{"type": "tick"},
		Schedule: &client.Schedule{Every: "1s"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // the window observed: about five periods
	elapsed := time.Since(began)
	list, err := cs[1].ListExecutions(ctx, client.ExecutionFilter{JobID: j.ID, Source: "schedule", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var due []time.Time
	for _, x := range list.Data {
		var in struct {
			ScheduledFor time.Time `json:"scheduled_for"`
		}
		if err := json.Unmarshal(x.Input, &in); err != nil || in.ScheduledFor.IsZero() {
			t.Fatalf("scheduled run %s input %s: %v", x.ID, x.Input, err)
		}
		due = append(due, in.ScheduledFor)
	}
	sort.Slice(due, func(a, b int) bool { return due[a].Before(due[b]) })
	for i := 1; i < len(due); i++ {
		if gap := due[i].Sub(due[i-1]); gap < 990*time.Millisecond {
			t.Errorf("runs scheduled for %v and %v: two in one period", due[i-1], due[i])
		}
	}
	// One run per second of the window (each period starts at the last run,
	// so a little fewer), never one per node.
	if n, most := len(due), int(elapsed/time.Second)+1; n > most || n < 3 {
		t.Errorf("%d scheduled runs in %v, want 3–%d", n, elapsed.Round(time.Millisecond), most)
	}
	t.Logf("%d scheduled runs in %v", len(due), elapsed.Round(time.Millisecond))
}

// peakRecorder is a receiver that answers each request after hold and
// records the most requests it had in flight at once.
func peakRecorder(t *testing.T, hold time.Duration) (*recorder, *atomic.Int64) {
	var cur, peak atomic.Int64
	rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		now := cur.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(hold)
		cur.Add(-1)
	})
	return rc, &peak
}

// --per-webhook-concurrency 4 on each of three nodes is a cap on the
// webhook across the cluster, not per node.
func TestClusterConcurrencyCap(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, "--per-webhook-concurrency", "4")
	cs := clusterClients(nodes)
	ctx := context.Background()
	rc, peak := peakRecorder(t, 150*time.Millisecond) // a slow receiver keeps every slot busy
	if _, err := cs[0].CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"cap.*"}}); err != nil {
		t.Fatal(err)
	}
	const total = 90
	ids := publishRoundRobin(t, cs, total, "cap.x", nil)
	within(t, 30*time.Second, "all events delivered", func() bool { return rc.allSeen(ids) })
	if p := peak.Load(); p > 4 || p < 2 {
		t.Fatalf("peak of %d concurrent requests to the webhook, want 2–4 (the cap is 4 cluster-wide)", p)
	}
	t.Logf("peak %d concurrent requests, %d requests for %d events", peak.Load(), rc.count(), total)
}

// TestClusterJoinKeepsCap: a node joining a cluster whose nodes keep a
// webhook at its cap takes its share only once they have come down to their
// smaller shares: the cap (4, two each over two nodes, then one each over
// three) holds throughout, and the new node counts three nodes.
func TestClusterJoinKeepsCap(t *testing.T) {
	t.Parallel()
	nodes, another := startGrowingCluster(t, 2, "--per-webhook-concurrency", "4")
	ctx := context.Background()
	rc, peak := peakRecorder(t, 100*time.Millisecond) // every slot stays busy while the backlog lasts
	cs := clusterClients(nodes)
	if _, err := cs[0].CreateWebhook(ctx, client.WebhookCreate{URL: rc.URL, Events: []string{"join.*"}}); err != nil {
		t.Fatal(err)
	}
	ids := publishRoundRobin(t, cs, 60, "join.x", nil) // 1.5 s of work at four at a time
	nodes = append(nodes, another())
	cs = clusterClients(nodes)
	ids = append(ids, publishRoundRobin(t, cs, 30, "join.y", nil)...)
	within(t, 60*time.Second, "all events delivered", func() bool { return rc.allSeen(ids) })
	if p := peak.Load(); p > 4 {
		t.Fatalf("peak of %d concurrent requests to the webhook while a node joined, want at most 4", p)
	}
	for i, s := range nodes {
		if v := metricValue(t, s, "hookd_cluster_nodes"); v != 3 {
			t.Errorf("node %d: hookd_cluster_nodes %v, want 3", i, v)
		}
	}
	t.Logf("peak %d concurrent requests, %d requests for %d events", peak.Load(), rc.count(), len(ids))
}

// metricValue reads one unlabelled metric from s's /metrics.
func metricValue(t *testing.T, s *server, name string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(scrape(t, s), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return f
		}
	}
	t.Fatalf("/metrics of %s lacks %s", s.URL, name)
	return 0
}
