package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/store/sqlite"
)

// BenchmarkWriterCost measures the writer goroutine's busy time per delivery
// (its CPU time on Linux; synchronous=NORMAL) for each step of the outbound path, the
// way the delivery engine drives it with one webhook: events published by
// many goroutines, small claims (slots freed a few at a time) and completes
// recorded in batches.
func BenchmarkWriterCost(b *testing.B) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "hookd.db"), sqlite.Options{Synchronous: "NORMAL"})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		b.Fatal(err)
	}
	wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://x", Active: true, Secret: "s"}
	if err := s.WebhookCreate(ctx, wh); err != nil {
		b.Fatal(err)
	}
	data := json.RawMessage(`{"order_id":"ord_123","amount":4200,"currency":"EUR"}`)
	const claimBatch, completeBatch = 16, 32
	n := max(b.N, completeBatch)
	n -= n % completeBatch
	b.ResetTimer()

	// Publish n events from 32 goroutines.
	busy0 := s.WriterBusy()
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range 32 {
		wg.Go(func() {
			for range next {
				if _, _, err := s.EventPublish(ctx, hookd.PublishParams{WorkspaceID: ws.ID, Type: "order.created", Data: data, Now: time.Now()}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	busy1 := s.WriterBusy()

	// Claim and complete them.
	var claimBusy, completeBusy time.Duration
	var pending []hookd.AttemptResult
	done := 0
	for done < n {
		t0 := s.WriterBusy()
		now := time.Now()
		got, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: now, Limit: claimBatch, Lease: time.Minute, Owner: "bench",
			PerWebhook: func(string) int { return 64 }})
		if err != nil || len(got) == 0 {
			b.Fatalf("claim: %d, %v", len(got), err)
		}
		t1 := s.WriterBusy()
		claimBusy += t1 - t0
		for _, c := range got {
			pending = append(pending, hookd.AttemptResult{DeliveryID: c.ID, WebhookID: c.WebhookID,
				Attempt: hookd.Attempt{StartedAt: now, DurationMS: 3, StatusCode: 200, ResponseBody: "ok"}, Outcome: hookd.OutcomeDelivered, Now: now})
		}
		for len(pending) >= completeBatch {
			t0 := s.WriterBusy()
			if err := s.DeliveriesComplete(ctx, pending[:completeBatch]); err != nil {
				b.Fatal(err)
			}
			completeBusy += s.WriterBusy() - t0
			pending = pending[completeBatch:]
			done += completeBatch
		}
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	b.ReportMetric(per(busy1-busy0), "µs-publish/dlv")
	b.ReportMetric(per(claimBusy), "µs-claim/dlv")
	b.ReportMetric(per(completeBusy), "µs-complete/dlv")
	b.ReportMetric(per(busy1-busy0+claimBusy+completeBusy), "µs-writer/dlv")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkWriterCostAccept measures the writer goroutine's busy time per
// accepted trigger call (its CPU time on Linux; synchronous=NORMAL) the way
// the inbound benchmark drives it: 50 concurrent calls with 1 KiB bodies to
// a trigger whose job is kind event, each run started and ended inline
// (event, execution, outcome, call log in the accepting transaction).
func BenchmarkWriterCostAccept(b *testing.B) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "hookd.db"), sqlite.Options{Synchronous: "NORMAL"})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		b.Fatal(err)
	}
	j := &hookd.Job{WorkspaceID: ws.ID, Name: "ev", Kind: hookd.JobEvent, Config: json.RawMessage(`{"type":"bench.inbound"}`), Concurrency: 32}
	if err := s.JobCreate(ctx, j); err != nil {
		b.Fatal(err)
	}
	tr := &hookd.Trigger{WorkspaceID: ws.ID, JobID: j.ID, TokenHash: hookd.HashToken("wht_bench"), IsActive: true, Mode: hookd.ModeAsync}
	if err := s.TriggerCreate(ctx, tr); err != nil {
		b.Fatal(err)
	}
	input := json.RawMessage(`{"d":"` + strings.Repeat("a", 1000) + `"}`)
	start := &hookd.ExecStart{Owner: "bench", Lease: time.Minute, Inline: func(c *hookd.ClaimedExecution) *hookd.ExecFinishParams {
		return &hookd.ExecFinishParams{Status: hookd.ExecSucceeded, Now: *c.StartedAt,
			Event: &hookd.PublishParams{WorkspaceID: ws.ID, Type: "bench.inbound", Data: c.Input},
			OnEvent: func(evt *hookd.Event, p *hookd.ExecFinishParams) {
				p.Result = json.RawMessage(`{"event_id":"` + evt.ID + `","deliveries":[]}`)
				p.Outcome = &hookd.PublishParams{WorkspaceID: ws.ID, Type: "job.succeeded",
					Data: json.RawMessage(`{"execution_id":"` + c.ID + `","result":` + string(p.Result) + `}`)}
			}}
	}}
	b.ResetTimer()
	busy0 := s.WriterBusy()
	var wg sync.WaitGroup
	next := make(chan struct{}, b.N)
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	for range 50 {
		wg.Go(func() {
			for range next {
				res, err := s.CallAccept(ctx, hookd.CallAcceptParams{Trigger: tr, Call: hookd.Call{IP: "127.0.0.1", Method: "POST"},
					Input: input, Now: time.Now(), Start: start})
				if err != nil || res.Started == nil || res.Started.Status != hookd.ExecSucceeded {
					b.Errorf("accept: %v (%+v)", err, res)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((s.WriterBusy()-busy0).Microseconds())/float64(b.N), "µs-writer/call")
	st := s.WriteStats()
	b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "ops/commit")
}
