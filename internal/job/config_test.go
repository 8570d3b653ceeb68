package job

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookd/hookd"
)

// fieldOf returns the field an error names, "" when it is not a field error.
func fieldOf(err error) string {
	var e *hookd.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		return e.Fields[0].Field
	}
	return ""
}

func TestValidateJob(t *testing.T) {
	t.Parallel()
	job := func(kind, config string, mod ...func(*hookd.Job)) hookd.Job {
		j := hookd.Job{Name: "nightly", Kind: kind, Config: json.RawMessage(config)}
		for _, m := range mod {
			m(&j)
		}
		return j
	}
	sched := func(every, cron string) func(*hookd.Job) {
		return func(j *hookd.Job) { j.Schedule = &hookd.Schedule{Every: every, Cron: cron} }
	}
	tests := []struct {
		name      string
		job       hookd.Job
		wantField string // "" = valid
	}{
		{"OK/Command", job("command", `{"argv":["/bin/sh","-c","true"],"env":{"A":"b"},"dir":"/tmp"}`), ""},
		{"OK/CommandFromPATH", job("command", `{"argv":["sh"]}`), ""},
		{"OK/HTTP", job("http", `{"url":"https://svc.internal/refresh","headers":{"Authorization":"Bearer x"}}`), ""},
		{"OK/HTTPLowerMethod", job("http", `{"url":"http://svc:8080/","method":"put"}`), ""},
		{"OK/Event", job("event", `{"type":"report.ready:v1_x-y"}`), ""},
		{"OK/Group", job("group", `{"jobs":["job_a","refresh views"]}`), ""},
		{"OK/Every", job("event", `{"type":"a"}`, sched("1h", "")), ""},
		{"OK/Cron", job("event", `{"type":"a"}`, sched("", "0 6 * * *")), ""},
		{"OK/CronTZ", job("event", `{"type":"a"}`, sched("", "CRON_TZ=Europe/Berlin 0 6 * * 1-5")), ""},
		{"OK/NameMaxRunes", job("event", `{"type":"a"}`, func(j *hookd.Job) { j.Name = strings.Repeat("é", 100) }), ""},
		{"OK/Limits", job("event", `{"type":"a"}`, func(j *hookd.Job) { j.Concurrency, j.TimeoutSeconds = 100, 86400 }), ""},

		{"ErrName/Empty", job("event", `{"type":"a"}`, func(j *hookd.Job) { j.Name = " " }), "name"},
		{"ErrName/TooLong", job("event", `{"type":"a"}`, func(j *hookd.Job) { j.Name = strings.Repeat("x", 101) }), "name"},
		{"ErrName/BadUTF8", job("event", `{"type":"a"}`, func(j *hookd.Job) { j.Name = "a\xff" }), "name"},
		{"ErrKind/Empty", job("", `{}`), "kind"},
		{"ErrKind/Unknown", job("shell", `{}`), "kind"},
		{"ErrConfig/Missing", job("event", ``), "config"},
		{"ErrConfig/Null", job("event", `null`), "config"},
		{"ErrConfig/Array", job("event", `["a"]`), "config"},
		{"ErrConfig/UnknownField", job("event", `{"type":"a","extra":1}`), "config"},
		{"ErrConfig/Trailing", job("event", `{"type":"a"} {}`), "config"},
		{"ErrConfig/WrongType", job("command", `{"argv":"ls"}`), "config.argv"},
		{"ErrConfig/Syntax", job("event", `{"type":`), "config"},
		{"ErrArgv/Missing", job("command", `{}`), "config.argv"},
		{"ErrArgv/EmptyProgram", job("command", `{"argv":[""]}`), "config.argv"},
		{"ErrArgv/NotInPATH", job("command", `{"argv":["no-such-program-hookd"]}`), "config.argv"},
		{"ErrArgv/Relative", job("command", `{"argv":["./run.sh"]}`), "config.argv"},
		{"ErrArgv/NUL", job("command", `{"argv":["/bin/echo","a\u0000b"]}`), "config.argv"},
		{"ErrEnv/BadName", job("command", `{"argv":["sh"],"env":{"A=B":"x"}}`), "config.env"},
		{"ErrEnv/Reserved", job("command", `{"argv":["sh"],"env":{"HOOKD_INPUT":"x"}}`), "config.env"},
		{"ErrDir/Relative", job("command", `{"argv":["sh"],"dir":"tmp"}`), "config.dir"},
		{"ErrURL/Missing", job("http", `{}`), "config.url"},
		{"ErrURL/Relative", job("http", `{"url":"/refresh"}`), "config.url"},
		{"ErrURL/Scheme", job("http", `{"url":"ftp://host/x"}`), "config.url"},
		{"ErrURL/NoHost", job("http", `{"url":"http:///x"}`), "config.url"},
		{"ErrMethod", job("http", `{"url":"http://a/","method":"TRACE"}`), "config.method"},
		{"ErrHeaders/Name", job("http", `{"url":"http://a/","headers":{"Bad Name":"x"}}`), "config.headers"},
		{"ErrHeaders/Reserved", job("http", `{"url":"http://a/","headers":{"host":"x"}}`), "config.headers"},
		{"ErrHeaders/CRLF", job("http", `{"url":"http://a/","headers":{"X-A":"a\r\nX-B: b"}}`), "config.headers"},
		{"ErrEventType/Empty", job("event", `{"type":""}`), "config.type"},
		{"ErrEventType/Chars", job("event", `{"type":"job succeeded"}`), "config.type"},
		{"ErrEventType/TooLong", job("event", `{"type":"`+strings.Repeat("a", 256)+`"}`), "config.type"},
		{"ErrGroup/Empty", job("group", `{"jobs":[]}`), "config.jobs"},
		{"ErrGroup/TooMany", job("group", `{"jobs":[`+strings.TrimSuffix(strings.Repeat(`"j",`, 51), ",")+`]}`), "config.jobs"},
		{"ErrGroup/Duplicate", job("group", `{"jobs":["a","b","a"]}`), "config.jobs"},
		{"ErrGroup/BlankMember", job("group", `{"jobs":["a",""]}`), "config.jobs"},
		{"ErrGroup/Self", job("group", `{"jobs":["a","nightly"]}`), "config.jobs"},
		{"ErrConcurrency/Negative", job("event", `{"type":"a"}`, func(j *hookd.Job) { j.Concurrency = -1 }), "concurrency"},
		{"ErrConcurrency/TooHigh", job("event", `{"type":"a"}`, func(j *hookd.Job) { j.Concurrency = 101 }), "concurrency"},
		{"ErrTimeout/Negative", job("event", `{"type":"a"}`, func(j *hookd.Job) { j.TimeoutSeconds = -5 }), "timeout_seconds"},
		{"ErrTimeout/TooHigh", job("event", `{"type":"a"}`, func(j *hookd.Job) { j.TimeoutSeconds = 86401 }), "timeout_seconds"},
		{"ErrSchedule/Neither", job("event", `{"type":"a"}`, sched("", "")), "schedule"},
		{"ErrSchedule/Both", job("event", `{"type":"a"}`, sched("1h", "@daily")), "schedule"},
		{"ErrSchedule/EveryShort", job("event", `{"type":"a"}`, sched("500ms", "")), "schedule.every"},
		{"ErrSchedule/CronBad", job("event", `{"type":"a"}`, sched("", "61 * * * *")), "schedule.cron"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := tt.job
			err := ValidateJob(&j)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("ValidateJob: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateJob: no error, want one for %q", tt.wantField)
			}
			if got := hookd.ErrorCode(err); got != hookd.EInvalid {
				t.Errorf("code = %q, want %q (%v)", got, hookd.EInvalid, err)
			}
			if got := fieldOf(err); got != tt.wantField {
				t.Errorf("field = %q, want %q (%v)", got, tt.wantField, err)
			}
		})
	}
}

func TestValidateJobDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		in         hookd.Job
		wantConfig string
		wantConc   int
		wantTO     int
	}{
		{"OK/HTTPMethodDefault", hookd.Job{Name: "a", Kind: "http", Config: json.RawMessage(` {"url":"http://svc/"} `)},
			`{"url":"http://svc/","method":"POST"}`, 1, 600},
		{"OK/HTTPMethodUpper", hookd.Job{Name: "a", Kind: "http", Config: json.RawMessage(`{"url":"http://svc/","method":"patch"}`), Concurrency: 4, TimeoutSeconds: 30},
			`{"url":"http://svc/","method":"PATCH"}`, 4, 30},
		{"OK/CommandCanonical", hookd.Job{Name: "a", Kind: "command", Config: json.RawMessage(`{"env":{"B":"2","A":"1"},"argv":["/bin/true"]}`)},
			`{"argv":["/bin/true"],"env":{"A":"1","B":"2"}}`, 1, 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := tt.in
			if err := ValidateJob(&j); err != nil {
				t.Fatalf("ValidateJob: %v", err)
			}
			if diff := cmp.Diff(tt.wantConfig, string(j.Config)); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if j.Concurrency != tt.wantConc || j.TimeoutSeconds != tt.wantTO {
				t.Errorf("concurrency, timeout = %d, %d; want %d, %d", j.Concurrency, j.TimeoutSeconds, tt.wantConc, tt.wantTO)
			}
		})
	}
}

func TestDecodeConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind string
		raw  string
		want any
	}{
		{"OK/Command", "command", `{"argv":["/bin/echo","hi"],"env":{"X":"1"},"dir":"/tmp"}`,
			CommandConfig{Argv: []string{"/bin/echo", "hi"}, Env: map[string]string{"X": "1"}, Dir: "/tmp"}},
		{"OK/HTTP", "http", `{"url":"https://a.example/x","headers":{"X-Key":"k"}}`,
			HTTPConfig{URL: "https://a.example/x", Method: "POST", Headers: map[string]string{"X-Key": "k"}}},
		{"OK/Event", "event", `{"type":"order.paid"}`, EventConfig{Type: "order.paid"}},
		{"OK/Group", "group", `{"jobs":["a","b"]}`, GroupConfig{Jobs: []string{"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeConfig(tt.kind, json.RawMessage(tt.raw))
			if err != nil {
				t.Fatalf("DecodeConfig: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzValidateJob(f *testing.F) {
	seeds := []struct {
		kind, config, every, cron string
		conc, timeout             int
	}{
		{"command", `{"argv":["/bin/sh","-c","echo hi"],"env":{"A":"b"}}`, "", "", 0, 0},
		{"http", `{"url":"https://x.example/","method":"post","headers":{"A":"b"}}`, "1h", "", 3, 60},
		{"event", `{"type":"a.b"}`, "", "@daily", 1, 1},
		{"group", `{"jobs":["a","b","a"]}`, "", "CRON_TZ=UTC 0 6 * * *", 0, 0},
		{"event", `{"type":"a"}{}`, "", "", -1, 0},
		{"http", `{"url":"http://[::1]:80/\u0000"}`, "", "", 0, 0},
	}
	for _, s := range seeds {
		f.Add(s.kind, s.config, s.every, s.cron, s.conc, s.timeout)
	}
	f.Fuzz(func(t *testing.T, kind, config, every, cron string, conc, timeout int) {
		j := hookd.Job{Name: "fuzz", Kind: kind, Config: json.RawMessage(config), Concurrency: conc, TimeoutSeconds: timeout}
		if every != "" || cron != "" {
			j.Schedule = &hookd.Schedule{Every: every, Cron: cron}
		}
		err := ValidateJob(&j)
		if err != nil {
			if hookd.ErrorCode(err) != hookd.EInvalid || fieldOf(err) == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if j.Concurrency < 1 || j.Concurrency > MaxConcurrency || j.TimeoutSeconds < 1 || j.TimeoutSeconds > MaxTimeoutSeconds {
			t.Fatalf("defaults not applied: %+v", j)
		}
		// A valid job stays valid and unchanged: the canonical config is a
		// fixed point.
		again := j
		if err := ValidateJob(&again); err != nil {
			t.Fatalf("second ValidateJob: %v (config %s)", err, j.Config)
		}
		if string(again.Config) != string(j.Config) {
			t.Fatalf("config not canonical: %s then %s", j.Config, again.Config)
		}
	})
}
