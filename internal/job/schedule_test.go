package job

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookd/hookd"
)

// at returns a UTC time on 2025-03-<day> at hh:mm:ss.
func at(day, hh, mm, ss int) time.Time {
	return time.Date(2025, time.March, day, hh, mm, ss, 0, time.UTC)
}

func ptr[T any](v T) *T { return &v }

func mustSchedule(t testing.TB, s hookd.Schedule) Schedule {
	t.Helper()
	sch, err := ParseSchedule(&s)
	if err != nil {
		t.Fatalf("ParseSchedule(%+v): %v", s, err)
	}
	return sch
}

func TestScheduleNext(t *testing.T) {
	t.Parallel()
	created := at(1, 9, 30, 0)
	tests := []struct {
		name    string
		sched   hookd.Schedule
		lastRun *time.Time
		now     time.Time
		want    time.Time
	}{
		{"OK/EveryNeverRun", hookd.Schedule{Every: "1h"}, nil, at(1, 9, 45, 0), at(1, 10, 30, 0)},
		{"OK/EveryAfterScheduledRun", hookd.Schedule{Every: "1h"}, ptr(at(1, 10, 30, 0)), at(1, 10, 30, 1), at(1, 11, 30, 0)},
		{"OK/EveryLateRunShiftsTimer", hookd.Schedule{Every: "1h"}, ptr(at(1, 10, 31, 7)), at(1, 10, 32, 0), at(1, 11, 31, 7)},
		// A webhook run at 10:50 resets the timer: the next scheduled run is
		// a full interval after it, not at 11:30.
		{"OK/EveryWebhookRunResets", hookd.Schedule{Every: "1h"}, ptr(at(1, 10, 50, 0)), at(1, 10, 55, 0), at(1, 11, 50, 0)},
		{"OK/EverySubSecondLastRun", hookd.Schedule{Every: "90s"}, ptr(at(1, 10, 0, 0).Add(250 * time.Millisecond)), at(1, 10, 0, 1), at(1, 10, 1, 30).Add(250 * time.Millisecond)},
		// Down from 11:00 to 15:10: the due time lies in the past, so the
		// caller runs once now (see TestScheduleCatchUp).
		{"OK/EveryAfterDowntimeIsPast", hookd.Schedule{Every: "1h"}, ptr(at(1, 10, 30, 0)), at(1, 15, 10, 0), at(1, 11, 30, 0)},
		{"OK/CronNeverRun", hookd.Schedule{Cron: "0 6 * * *"}, nil, at(1, 5, 0, 0), at(2, 6, 0, 0)},
		{"OK/CronAfterRun", hookd.Schedule{Cron: "0 6 * * *"}, ptr(at(2, 6, 0, 0)), at(2, 6, 0, 1), at(3, 6, 0, 0)},
		{"OK/CronStrictlyAfter", hookd.Schedule{Cron: "0 6 * * *"}, ptr(at(2, 5, 59, 59)), at(2, 6, 0, 0), at(2, 6, 0, 0)},
		{"OK/CronRunLate", hookd.Schedule{Cron: "0 6 * * *"}, ptr(at(2, 6, 0, 3).Add(400 * time.Millisecond)), at(2, 6, 0, 4), at(3, 6, 0, 0)},
		{"OK/CronAcrossMonth", hookd.Schedule{Cron: "0 6 * * *"}, ptr(at(31, 7, 0, 0)), at(31, 7, 0, 0), time.Date(2025, time.April, 1, 6, 0, 0, 0, time.UTC)},
		{"OK/CronDescriptorHourly", hookd.Schedule{Cron: "@hourly"}, ptr(at(1, 10, 0, 0)), at(1, 10, 0, 0), at(1, 11, 0, 0)},
		{"OK/CronWeekdays", hookd.Schedule{Cron: "30 8 * * 1-5"}, ptr(at(7, 8, 30, 0)), at(7, 9, 0, 0), at(10, 8, 30, 0)}, // Fri → Mon
		// 06:00 in Berlin is 05:00 UTC in March before the DST switch.
		{"OK/CronTZ", hookd.Schedule{Cron: "CRON_TZ=Europe/Berlin 0 6 * * *"}, ptr(at(1, 12, 0, 0)), at(1, 12, 0, 0), at(2, 5, 0, 0)},
		{"OK/ZeroCreatedCountsFromNow", hookd.Schedule{Every: "10m"}, nil, at(1, 12, 0, 0), at(1, 12, 10, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustSchedule(t, tt.sched)
			c := created
			if tt.name == "OK/ZeroCreatedCountsFromNow" {
				c = time.Time{}
			}
			got := s.Next(c, tt.lastRun, tt.now)
			if !got.Equal(tt.want) {
				t.Errorf("Next = %v, want %v", got, tt.want)
			}
		})
	}
}

// simulate drives a scheduler loop with an injected clock: at every tick it
// asks Next and, when due, "runs" the job (recording the tick as the run's
// start and the period as the store would). Webhook runs happen at their
// given times. It returns the periods of the scheduled runs.
func simulate(s Schedule, created time.Time, lastRun *time.Time, ticks []time.Time, webhookRuns map[time.Time]bool) []time.Time {
	var periods []time.Time
	seen := map[time.Time]bool{} // the unique (job_id, period) constraint
	for _, now := range ticks {
		if webhookRuns[now] {
			lastRun = ptr(now)
			continue
		}
		due := s.Next(created, lastRun, now)
		if due.IsZero() || due.After(now) {
			continue
		}
		p := s.Period(due)
		if seen[p] {
			continue
		}
		seen[p] = true
		periods = append(periods, p)
		lastRun = ptr(now)
	}
	return periods
}

// minutes returns ticks every step from start to end inclusive.
func minutes(start, end time.Time, step time.Duration) []time.Time {
	var ts []time.Time
	for t := start; !t.After(end); t = t.Add(step) {
		ts = append(ts, t)
	}
	return ts
}

func TestScheduleCatchUp(t *testing.T) {
	t.Parallel()
	concat := func(parts ...[]time.Time) []time.Time {
		var all []time.Time
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	tests := []struct {
		name     string
		sched    hookd.Schedule
		created  time.Time
		lastRun  *time.Time
		ticks    []time.Time
		webhooks map[time.Time]bool
		want     []time.Time
	}{
		{
			name: "OK/EveryRunsOnTime", sched: hookd.Schedule{Every: "1h"}, created: at(1, 9, 0, 0),
			ticks: minutes(at(1, 9, 0, 0), at(1, 12, 0, 0), time.Minute),
			want:  []time.Time{at(1, 10, 0, 0), at(1, 11, 0, 0), at(1, 12, 0, 0)},
		},
		{
			// Up until 10:30, down until 15:10: one catch-up run at 15:10,
			// then hourly from there.
			name: "OK/EveryDowntimeOneCatchUp", sched: hookd.Schedule{Every: "1h"}, created: at(1, 9, 0, 0),
			ticks: concat(minutes(at(1, 9, 0, 0), at(1, 10, 30, 0), time.Minute), minutes(at(1, 15, 10, 0), at(1, 16, 30, 0), time.Minute)),
			want:  []time.Time{at(1, 10, 0, 0), at(1, 11, 0, 0), at(1, 16, 10, 0)},
		},
		{
			name: "OK/EveryWebhookPushesOut", sched: hookd.Schedule{Every: "1h"}, created: at(1, 9, 0, 0),
			ticks:    minutes(at(1, 9, 0, 0), at(1, 12, 0, 0), time.Minute),
			webhooks: map[time.Time]bool{at(1, 10, 40, 0): true},
			want:     []time.Time{at(1, 10, 0, 0), at(1, 11, 40, 0)},
		},
		{
			name: "OK/CronAcrossDays", sched: hookd.Schedule{Cron: "0 6 * * *"}, created: at(1, 12, 0, 0),
			ticks: minutes(at(1, 12, 0, 0), at(4, 12, 0, 0), 15*time.Minute),
			want:  []time.Time{at(2, 6, 0, 0), at(3, 6, 0, 0), at(4, 6, 0, 0)},
		},
		{
			// Down from day 2 07:00 to day 6 10:00: four missed mornings
			// become one catch-up run (period day 3 06:00), then day 7.
			name: "OK/CronDowntimeOneCatchUp", sched: hookd.Schedule{Cron: "0 6 * * *"}, created: at(1, 12, 0, 0),
			ticks: concat(minutes(at(1, 12, 0, 0), at(2, 7, 0, 0), 30*time.Minute), minutes(at(6, 10, 0, 0), at(7, 12, 0, 0), 30*time.Minute)),
			want:  []time.Time{at(2, 6, 0, 0), at(3, 6, 0, 0), at(7, 6, 0, 0)},
		},
		{
			name: "OK/NeverRunAfterLongDowntime", sched: hookd.Schedule{Every: "10m"}, created: at(1, 0, 0, 0),
			ticks: minutes(at(5, 0, 0, 0), at(5, 0, 15, 0), time.Minute),
			want:  []time.Time{at(1, 0, 10, 0), at(5, 0, 10, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustSchedule(t, tt.sched)
			got := simulate(s, tt.created, tt.lastRun, tt.ticks, tt.webhooks)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scheduled periods (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchedulePeriod(t *testing.T) {
	t.Parallel()
	s := mustSchedule(t, hookd.Schedule{Every: "1h"})
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	tests := []struct {
		name string
		due  time.Time
		want time.Time
	}{
		{"OK/Whole", at(1, 10, 0, 0), at(1, 10, 0, 0)},
		{"OK/Truncated", at(1, 10, 0, 0).Add(999 * time.Millisecond), at(1, 10, 0, 0)},
		{"OK/ToUTC", time.Date(2025, 3, 1, 11, 0, 0, 5, berlin), at(1, 10, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := s.Period(tt.due)
			if got != tt.want { // == also checks the location is UTC
				t.Errorf("Period = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        *hookd.Schedule
		wantField string // "" = valid
	}{
		{"OK/Every", &hookd.Schedule{Every: "1h30m"}, ""},
		{"OK/EveryMin", &hookd.Schedule{Every: "1s"}, ""},
		{"OK/Cron", &hookd.Schedule{Cron: "*/5 * * * *"}, ""},
		{"OK/Daily", &hookd.Schedule{Cron: "@daily"}, ""},
		{"OK/Names", &hookd.Schedule{Cron: "0 0 1 jan,jul mon-fri"}, ""},
		{"OK/TZ", &hookd.Schedule{Cron: "TZ=America/New_York @midnight"}, ""},
		{"OK/LeapDay", &hookd.Schedule{Cron: "0 0 29 2 *"}, ""},
		{"ErrNil", nil, "schedule"},
		{"ErrEmpty", &hookd.Schedule{}, "schedule"},
		{"ErrBoth", &hookd.Schedule{Every: "1h", Cron: "@daily"}, "schedule"},
		{"ErrEvery/Syntax", &hookd.Schedule{Every: "hourly"}, "schedule.every"},
		{"ErrEvery/Short", &hookd.Schedule{Every: "999ms"}, "schedule.every"},
		{"ErrEvery/Negative", &hookd.Schedule{Every: "-1h"}, "schedule.every"},
		{"ErrCron/Fields", &hookd.Schedule{Cron: "0 6 * *"}, "schedule.cron"},
		{"ErrCron/Seconds", &hookd.Schedule{Cron: "0 0 6 * * *"}, "schedule.cron"},
		{"ErrCron/Range", &hookd.Schedule{Cron: "0 25 * * *"}, "schedule.cron"},
		{"ErrCron/Step0", &hookd.Schedule{Cron: "*/0 * * * *"}, "schedule.cron"},
		{"ErrCron/Descriptor", &hookd.Schedule{Cron: "@fortnightly"}, "schedule.cron"},
		{"ErrCron/AtEvery", &hookd.Schedule{Cron: "@every 1h"}, "schedule.cron"},
		{"ErrCron/Never", &hookd.Schedule{Cron: "0 0 30 2 *"}, "schedule.cron"},
		{"ErrCron/TZNoSpace", &hookd.Schedule{Cron: "CRON_TZ=UTC"}, "schedule.cron"},
		{"ErrCron/TZUnknown", &hookd.Schedule{Cron: "CRON_TZ=Mars/Olympus 0 6 * * *"}, "schedule.cron"},
		{"ErrCron/TZTwice", &hookd.Schedule{Cron: "CRON_TZ=UTC TZ=UTC 0 6 * * *"}, "schedule.cron"},
		{"ErrCron/Garbage", &hookd.Schedule{Cron: "every morning"}, "schedule.cron"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseSchedule(tt.in)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("ParseSchedule: %v", err)
				}
				return
			}
			if got := fieldOf(err); got != tt.wantField {
				t.Errorf("field = %q, want %q (err %v)", got, tt.wantField, err)
			}
		})
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"1h", "0 6 * * *", "@daily", "CRON_TZ=UTC 0 6 * * *", "TZ=", "CRON_TZ=UTC", "*/0 * * * *", "0-59/7 1,2 L * ?", "1s", "@every 1s"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	created := at(1, 9, 30, 0)
	f.Fuzz(func(t *testing.T, spec string, isCron bool) {
		in := hookd.Schedule{Every: spec}
		if isCron {
			in = hookd.Schedule{Cron: spec}
		}
		s, err := ParseSchedule(&in)
		if err != nil {
			if fieldOf(err) == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		for _, last := range []*time.Time{nil, ptr(created.Add(7 * time.Hour))} {
			base := created
			if last != nil {
				base = *last
			}
			next := s.Next(created, last, base)
			if !next.After(base) {
				t.Fatalf("%q: Next(%v) = %v, not after the base", spec, base, next)
			}
			if !isCron && next.Sub(base) < MinEvery {
				t.Fatalf("%q: interval %v below the minimum", spec, next.Sub(base))
			}
			if p := s.Period(next); p.After(next) || next.Sub(p) >= time.Second {
				t.Fatalf("%q: Period(%v) = %v", spec, next, p)
			}
		}
	})
}
