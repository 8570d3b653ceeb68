package sqlite_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/store/sqlite"
	"github.com/hookd/hookd/internal/store/storetest"
)

func TestInbound(t *testing.T) {
	t.Parallel()
	storetest.RunInbound(t, func(t *testing.T) storetest.InboundStore {
		return open(t, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{})
	})
}

// TestTriggerSecretsAtRest reads the raw trigger rows through a separate
// handle: neither HMAC secret nor the token may appear in plain text.
func TestTriggerSecretsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hookd.db")
	s := open(t, path, sqlite.Options{})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	j := &hookd.Job{WorkspaceID: ws.ID, Name: "j", Kind: hookd.JobHTTP}
	if err := s.JobCreate(ctx, j); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	const token = "wht_TOKENplaintext"
	tr := &hookd.Trigger{WorkspaceID: ws.ID, JobID: j.ID, IsActive: true, TokenHash: hookd.HashToken(token),
		Secret: "CURRENTplaintext", PreviousSecret: "PREVIOUSplaintext", PreviousSecretExpiresAt: &exp}
	if err := s.TriggerCreate(ctx, tr); err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, path, "triggers", "CURRENTplaintext", "PREVIOUSplaintext", "TOKENplaintext")
	got, err := s.TriggerGet(ctx, ws.ID, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != tr.Secret || got.PreviousSecret != tr.PreviousSecret || !got.HasSecret {
		t.Errorf("secrets read back: %q, %q, has_secret %v", got.Secret, got.PreviousSecret, got.HasSecret)
	}
	// A store opened with another master key cannot read it.
	s.Close()
	other := open(t, path, sqlite.Options{})
	if _, err := other.TriggerGet(ctx, ws.ID, tr.ID); err == nil {
		t.Error("trigger readable under a different master key")
	}
}

// TestExecClaimBacklog: more due runs of a job at its concurrency than the
// claim scans must not hide other jobs' runs queued behind them.
func TestExecClaimBacklog(t *testing.T) {
	t.Parallel()
	if raceEnabled {
		// Building the backlog takes ~15 s under the race detector; the
		// fallback runs on the writer goroutine like the rest of the claim.
		t.Skip("slow under -race")
	}
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{Synchronous: "NORMAL"})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	mkJob := func(name string, concurrency int) *hookd.Job {
		j := &hookd.Job{WorkspaceID: ws.ID, Name: name, Kind: hookd.JobHTTP, Concurrency: concurrency}
		if err := s.JobCreate(ctx, j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	busy, quiet, partial := mkJob("busy", 1), mkJob("quiet", 1), mkJob("partial", 3)
	t0 := time.Now().UTC().Truncate(time.Second)
	mk := func(j *hookd.Job, runAt time.Time) string {
		x := &hookd.Execution{WorkspaceID: ws.ID, JobID: j.ID, Source: hookd.SourceAPI, CreatedAt: t0, RunAt: runAt}
		if err := s.ExecutionCreate(ctx, x); err != nil {
			t.Error(err)
		}
		return x.ID
	}
	mk(busy, t0.Add(-time.Second))
	if got, err := s.ExecutionsClaim(ctx, hookd.ExecClaimParams{Now: t0, Limit: 1, Lease: time.Minute}); err != nil || len(got) != 1 {
		t.Fatalf("claim the busy job's first run: %v, %v", got, err)
	}
	p0 := mk(partial, t0)
	const backlog = 4500 // more than one claim scans
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < backlog; i += 16 {
				mk(busy, t0.Add(time.Second+time.Duration(i)*time.Millisecond))
			}
		})
	}
	wg.Wait()
	q := mk(quiet, t0.Add(time.Hour))
	p1, p2 := mk(partial, t0.Add(time.Hour+time.Second)), mk(partial, t0.Add(time.Hour+2*time.Second))
	mk(partial, t0.Add(time.Hour+3*time.Second)) // over partial's concurrency

	got, err := s.ExecutionsClaim(ctx, hookd.ExecClaimParams{Now: t0.Add(2 * time.Hour), Limit: 10, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if want := []string{p0, q, p1, p2}; !slices.Equal(ids, want) {
		t.Errorf("claimed %v, want %v (the quiet and partial jobs' runs behind the backlog, oldest first)", ids, want)
	}
}
