package job_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// ticks waits until the schedulers of the env's engines have made n more
// passes.
func (e *env) ticks(n int64) {
	e.t.Helper()
	from := e.store.passes.Load()
	e.waitFor("scheduler passes", func() bool { return e.store.passes.Load() >= from+n })
}

// scheduled waits until j has n finished scheduled runs, makes the
// schedulers pass many more times, and checks that n is still the count.
func (e *env) scheduled(j *hookd.Job, n int) []hookd.Execution {
	e.t.Helper()
	e.waitFor("scheduled runs", func() bool {
		xs := e.executions(j, hookd.SourceSchedule)
		return len(xs) >= n && (n == 0 || xs[n-1].Done())
	})
	e.ticks(20)
	xs := e.executions(j, hookd.SourceSchedule)
	if len(xs) != n {
		e.t.Fatalf("%d scheduled runs, want %d", len(xs), n)
	}
	for _, x := range xs {
		if x.Status != hookd.ExecSucceeded {
			e.t.Errorf("scheduled run %s: %s (%s)", x.ID, x.Status, x.Reason)
		}
	}
	return xs
}

// checkFor checks that x was scheduled for due and in its period.
func checkFor(t *testing.T, x hookd.Execution, due time.Time) {
	t.Helper()
	var in struct {
		ScheduledFor time.Time `json:"scheduled_for"`
	}
	if err := json.Unmarshal(x.Input, &in); err != nil || !in.ScheduledFor.Equal(due) {
		t.Errorf("input %s, want scheduled_for %s", x.Input, due.Format(time.RFC3339))
	}
	if x.Period == nil || !x.Period.Equal(due) {
		t.Errorf("period %v, want %s", x.Period, due)
	}
}

func TestSchedulerEveryOneRunPerPeriod(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	t0 := e.clock.Now()
	j := e.commandJob("hourly", "cat", func(j *hookd.Job) { j.Schedule = &hookd.Schedule{Every: "1h"} })
	a := e.start(nil)

	e.clock.Advance(time.Hour - time.Second)
	e.scheduled(j, 0) // not yet due

	e.clock.Advance(time.Second)
	xs := e.scheduled(j, 1)
	checkFor(t, xs[0], t0.Add(time.Hour))
	if string(xs[0].Result) != string(xs[0].Input) {
		t.Errorf("result %s, want the input %s", xs[0].Result, xs[0].Input)
	}

	// A restart: a new Engine on the same store finds the period done.
	a.stop()
	b := e.start(nil)
	e.scheduled(j, 1)

	// Two nodes at once on the next period: still one run.
	e.start(nil)
	e.clock.Advance(time.Hour)
	xs = e.scheduled(j, 2)
	checkFor(t, xs[1], t0.Add(2*time.Hour))

	// Another node already queued the next period's run (and this node's
	// scheduler must not add a second one when it comes due).
	b.stop()
	due := t0.Add(3 * time.Hour)
	other := &hookd.Execution{ID: hookd.NewIDAt(hookd.PrefixExecution, due), WorkspaceID: e.ws.ID, JobID: j.ID,
		Source: hookd.SourceSchedule, Status: hookd.ExecQueued, Input: json.RawMessage(`{"scheduled_for":"` + due.Format(time.RFC3339) + `"}`),
		CreatedAt: e.clock.Now(), RunAt: due, Period: &due}
	if err := e.store.ExecutionCreate(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	xs = e.scheduled(j, 3)
	if xs[2].ID != other.ID {
		t.Errorf("third run %s, want the other node's %s", xs[2].ID, other.ID)
	}
}

// TestSchedulerBusyJobOneRunPerPeriod: a due run that cannot start (the job's
// one slot is taken by the previous run) stays the period's only run however
// often the scheduler passes and however the clock moves.
func TestSchedulerBusyJobOneRunPerPeriod(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	t0 := e.clock.Now()
	gate := filepath.Join(t.TempDir(), "gate")
	j := e.commandJob("slow-hourly", fmt.Sprintf(`while [ ! -f %s ]; do sleep 0.01; done`, gate),
		func(j *hookd.Job) { j.Schedule = &hookd.Schedule{Every: "1h"}; j.TimeoutSeconds = 20 })
	e.start(nil)
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o600) }) // a failed test ends the run at once

	e.clock.Advance(time.Hour)
	e.waitFor("the first run to start", func() bool {
		xs := e.executions(j, hookd.SourceSchedule)
		return len(xs) == 1 && xs[0].Status == hookd.ExecRunning
	})
	e.clock.Advance(time.Hour) // the second period is due; the first run holds the slot
	for range 30 {
		e.ticks(1)
		e.clock.Advance(time.Second)
	}
	xs := e.executions(j, hookd.SourceSchedule)
	if len(xs) != 2 || xs[1].Status != hookd.ExecQueued {
		t.Fatalf("%d scheduled runs, want 2 (one running, one queued)", len(xs))
	}
	checkFor(t, xs[1], t0.Add(2*time.Hour))
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.scheduled(j, 2)
}

func TestSchedulerWebhookRunResetsEvery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	t0 := e.clock.Now()
	j := e.commandJob("hourly", "cat", func(j *hookd.Job) { j.Schedule = &hookd.Schedule{Every: "1h"} })
	g := e.start(nil)

	e.clock.Advance(30 * time.Minute)
	x := e.queue(j, hookd.SourceWebhook, `{}`)
	g.Wake()
	if got := e.wait(g, x.ID); got.Status != hookd.ExecSucceeded {
		t.Fatalf("webhook run: %s (%s)", got.Status, got.Reason)
	}

	e.clock.Advance(30 * time.Minute) // t0+1h: due had the webhook not run
	e.scheduled(j, 0)

	e.clock.Advance(30 * time.Minute) // an hour after the webhook run
	xs := e.scheduled(j, 1)
	checkFor(t, xs[0], t0.Add(90*time.Minute))
}

func TestSchedulerCron(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	day := time.Date(2031, 3, 4, 0, 0, 0, 0, time.UTC)
	e.clock.Set(day.Add(6 * time.Hour))
	j := e.commandJob("morning", "cat", func(j *hookd.Job) { j.Schedule = &hookd.Schedule{Cron: "30 6 * * *"} })
	e.start(nil)

	e.clock.Set(day.Add(6*time.Hour + 29*time.Minute + 59*time.Second))
	e.scheduled(j, 0)

	e.clock.Set(day.Add(6*time.Hour + 30*time.Minute))
	xs := e.scheduled(j, 1)
	checkFor(t, xs[0], day.Add(6*time.Hour+30*time.Minute))

	e.clock.Set(day.Add(30*time.Hour + 29*time.Minute)) // next day, 06:29
	e.scheduled(j, 1)

	e.clock.Set(day.Add(30*time.Hour + 30*time.Minute))
	xs = e.scheduled(j, 2)
	checkFor(t, xs[1], day.Add(30*time.Hour+30*time.Minute))
}
