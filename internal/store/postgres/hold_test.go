package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/store/postgres"
)

// TestHoldRacesDeactivation: a deactivation (WebhookUpdate's two statements)
// that commits while a retry result, a release or a manual retry of one of
// the webhook's deliveries is being recorded holds that delivery. The
// deactivation's own hold skips the row (it is not pending yet when it
// runs), so the recording must read the webhook as it is after the
// deactivation commits, not as its snapshot saw it before.
func TestHoldRacesDeactivation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name string
		// prepare brings the delivery to the state the operation starts
		// from; op records it.
		prepare func(t *testing.T, s *postgres.Store, d hookd.ClaimedDelivery)
		op      func(s *postgres.Store, ws string, d hookd.ClaimedDelivery) error
	}{
		{"RetryResult", nil, func(s *postgres.Store, _ string, d hookd.ClaimedDelivery) error {
			now := time.Now()
			return s.DeliveriesComplete(ctx, []hookd.AttemptResult{{DeliveryID: d.ID, WebhookID: d.WebhookID, Outcome: hookd.OutcomeRetry,
				Attempt: hookd.Attempt{StatusCode: 500}, NextAttemptAt: now.Add(-time.Second), Now: now}})
		}},
		{"Release", nil, func(s *postgres.Store, _ string, d hookd.ClaimedDelivery) error {
			return s.DeliveriesRelease(ctx, []string{d.ID})
		}},
		{"ManualRetry", func(t *testing.T, s *postgres.Store, d hookd.ClaimedDelivery) {
			now := time.Now()
			if err := s.DeliveriesComplete(ctx, []hookd.AttemptResult{{DeliveryID: d.ID, WebhookID: d.WebhookID, Outcome: hookd.OutcomeFailed,
				Attempt: hookd.Attempt{StatusCode: 500}, Now: now}}); err != nil {
				t.Fatal(err)
			}
		}, func(s *postgres.Store, ws string, d hookd.ClaimedDelivery) error {
			_, err := s.DeliveryRetry(ctx, ws, d.ID, time.Now().Add(-time.Second))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, 1)
			s, ws := cl.nodes[0], cl.ws
			wh := &hookd.Webhook{WorkspaceID: ws.ID, URL: "https://held", Active: true, Secret: "s"}
			if err := s.WebhookCreate(ctx, wh); err != nil {
				t.Fatal(err)
			}
			if err := s.BulkInsertPending(ctx, ws.ID, wh.ID, 1, time.Now().Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			claim := func() []hookd.ClaimedDelivery {
				t.Helper()
				got, err := s.DeliveriesClaim(ctx, hookd.ClaimParams{Now: time.Now().Add(time.Hour), Limit: 10, Lease: time.Minute, Owner: "a"})
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			got := claim()
			if len(got) != 1 {
				t.Fatalf("claimed %d, want 1", len(got))
			}
			d := got[0]
			if tc.prepare != nil {
				tc.prepare(t, s, d)
			}

			// The deactivation, as WebhookUpdate runs it, left open.
			deact, err := pgx.Connect(ctx, cl.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer deact.Close(ctx)
			tx, err := deact.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `UPDATE webhooks SET active = false WHERE id = $1`, wh.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET paused = true WHERE webhook_id = $1 AND status = 'pending' AND NOT paused`, wh.ID); err != nil {
				t.Fatal(err)
			}

			done := make(chan error, 1)
			go func() { done <- tc.op(s, ws.ID, d) }()
			// The operation either waits for the deactivation's lock or
			// (the defect) finishes without it; commit the deactivation
			// then.
			watch, err := pgx.Connect(ctx, cl.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer watch.Close(ctx)
			var opErr error
			finished := false
			for deadline := time.Now().Add(20 * time.Second); !finished; {
				select {
				case opErr = <-done:
					finished = true
					continue
				default:
				}
				var waiting int
				if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the operation neither finished nor waited for a lock")
				}
				time.Sleep(time.Millisecond)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if !finished {
				opErr = <-done
			}
			if opErr != nil {
				t.Fatal(opErr)
			}

			if got := claim(); len(got) != 0 {
				t.Fatalf("the delivery of a webhook deactivated meanwhile was claimed again: %+v", got)
			}
			dv, err := s.DeliveryGet(ctx, ws.ID, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if dv.Status != hookd.DeliveryPending {
				t.Fatalf("held delivery is %s, want pending", dv.Status)
			}
			// Reactivated, it is released.
			wh.Active = true
			if err := s.WebhookUpdate(ctx, wh); err != nil {
				t.Fatal(err)
			}
			if got := claim(); len(got) != 1 || got[0].ID != d.ID {
				t.Fatalf("after reactivating: claimed %+v, want the held delivery", got)
			}
		})
	}
}
