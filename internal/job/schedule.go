package job

import (
	"fmt"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/robfig/cron/v3"
)

// MinEvery is the shortest interval of an every schedule.
const MinEvery = time.Second

// maxCronLen bounds a cron expression (a time zone name plus five fields fits
// easily).
const maxCronLen = 256

// Schedule is a parsed job schedule: either an interval counted from the job's
// last run, or a cron expression. The zero Schedule never fires.
type Schedule struct {
	every time.Duration
	cron  cron.Schedule
	spec  string
}

// ParseSchedule parses a job's schedule: exactly one of Every, a Go duration
// of at least one second ("90s", "1h"), or Cron, a standard five-field cron
// expression or descriptor (@yearly, @monthly, @weekly, @daily, @midnight,
// @hourly), optionally preceded by "CRON_TZ=<IANA zone> " (or "TZ=…"). Cron
// times are in UTC unless a zone is given. An expression that never fires
// (such as "0 0 30 2 *") is refused. Errors are hookd.FieldErrorf naming
// "schedule", "schedule.every" or "schedule.cron".
func ParseSchedule(s *hookd.Schedule) (Schedule, error) {
	switch {
	case s == nil || (s.Every == "" && s.Cron == ""):
		return Schedule{}, hookd.FieldErrorf("schedule", "needs one of every or cron")
	case s.Every != "" && s.Cron != "":
		return Schedule{}, hookd.FieldErrorf("schedule", "give only one of every or cron")
	case s.Every != "":
		d, err := time.ParseDuration(s.Every)
		if err != nil {
			return Schedule{}, hookd.FieldErrorf("schedule.every", "must be a duration such as 90s, 15m or 1h")
		}
		if d < MinEvery {
			return Schedule{}, hookd.FieldErrorf("schedule.every", "must be at least %s", MinEvery)
		}
		return Schedule{every: d, spec: s.Every}, nil
	default:
		c, err := parseCron(s.Cron)
		if err != nil {
			return Schedule{}, hookd.FieldErrorf("schedule.cron", "%s", err)
		}
		return Schedule{cron: c, spec: s.Cron}, nil
	}
}

// neverProbe is the instant from which a cron expression must fire within the
// cron library's five-year search; a fixed instant keeps parsing deterministic.
var neverProbe = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func parseCron(spec string) (sched cron.Schedule, err error) {
	if len(spec) > maxCronLen {
		return nil, fmt.Errorf("must be at most %d characters", maxCronLen)
	}
	// The time zone prefix is handled here rather than by the library, which
	// panics on a prefix without a following space and defaults to the
	// server's local zone instead of UTC.
	loc := time.UTC
	rest := strings.TrimSpace(spec)
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if after, ok := strings.CutPrefix(rest, p); ok {
			name, expr, found := strings.Cut(after, " ")
			if !found || name == "" {
				return nil, fmt.Errorf("%s must be followed by a zone name and the expression", p)
			}
			if loc, err = time.LoadLocation(name); err != nil {
				return nil, fmt.Errorf("unknown time zone %q", name)
			}
			rest = strings.TrimSpace(expr)
			break
		}
	}
	if strings.HasPrefix(rest, "@every") {
		return nil, fmt.Errorf("use schedule.every for intervals")
	}
	if strings.HasPrefix(rest, "TZ=") || strings.HasPrefix(rest, "CRON_TZ=") {
		return nil, fmt.Errorf("only one time zone prefix")
	}
	defer func() {
		// The library is old and fuzzing is cheap insurance: a panic on some
		// input must become a validation error, not a crashed API handler.
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("invalid expression")
		}
	}()
	parsed, err := cron.ParseStandard(rest)
	if err != nil {
		return nil, fmt.Errorf("invalid expression: %v", err)
	}
	spec2, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("invalid expression")
	}
	spec2.Location = loc
	if spec2.Next(neverProbe).IsZero() {
		return nil, fmt.Errorf("expression never fires")
	}
	return spec2, nil
}

// String returns the schedule as it was written.
func (s Schedule) String() string { return s.spec }

// Every returns the interval of an every schedule, 0 for a cron schedule.
func (s Schedule) Every() time.Duration { return s.every }

// Next returns when the next scheduled run is due. lastRun is the start time of
// the job's last run of any source (webhook, api, schedule, retry), nil if it
// never ran; it must be the time the run actually started, not the due time it
// was run for — that is what makes downtime cost one catch-up run instead of
// one per missed period.
//
// For an every schedule the due time is lastRun + interval, or created +
// interval when the job never ran: a webhook run pushes the next scheduled run
// a full interval out. For a cron schedule it is the first activation strictly
// after lastRun (or created), at whole seconds.
//
// A due time at or before now means "run now". If the server was down across
// several periods the due time lies in the past; the caller runs the job once,
// records the run's start as lastRun and calls Next again, which lands after
// now: missed periods are not replayed. now is used only when created is the
// zero time and the job never ran, as the base to count from. Next returns the
// zero time for the zero Schedule, and for a cron schedule that has no
// activation within five years of the base.
func (s Schedule) Next(created time.Time, lastRun *time.Time, now time.Time) time.Time {
	base := created
	if lastRun != nil {
		base = *lastRun
	} else if created.IsZero() {
		base = now
	}
	switch {
	case s.every > 0:
		return base.Add(s.every).UTC()
	case s.cron != nil:
		return s.cron.Next(base).UTC()
	default:
		return time.Time{}
	}
}

// Period returns the key of the scheduled period a due time belongs to: the
// due time in UTC truncated to the second. Every node computes the same due
// time from the same stored lastRun, so a unique (job_id, period) constraint
// lets exactly one of them start the run.
func (s Schedule) Period(due time.Time) time.Time {
	return due.UTC().Truncate(time.Second)
}
