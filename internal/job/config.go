// Package job owns what a job does when it runs (DESIGN §4): the typed config
// of each job kind and its validation, the runners for command and http jobs,
// and the every/cron schedules that decide when a scheduled run is due. The
// execution engine (engine*.go) builds on these blocks.
package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/hookd/hookd"
)

// Limits and defaults of a job's fields.
const (
	MaxNameLen            = 100   // characters of a job name
	DefaultConcurrency    = 1     // runs of one job at a time when 0 is given
	MaxConcurrency        = 100   // runs of one job at a time
	DefaultTimeoutSeconds = 600   // seconds per run when 0 is given
	MaxTimeoutSeconds     = 86400 // seconds per run
	MaxGroupMembers       = 50    // members of a group job
	MaxEventTypeLen       = 255   // characters of an event job's type
)

// CommandConfig is the config of a command job: the program and arguments to
// start, extra environment variables and the working directory.
type CommandConfig struct {
	Argv []string          `json:"argv"`
	Env  map[string]string `json:"env,omitempty"`
	Dir  string            `json:"dir,omitempty"`
}

// HTTPConfig is the config of an http job: where to send the input.
// Method defaults to POST.
type HTTPConfig struct {
	URL     string            `json:"url"`
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// EventConfig is the config of an event job: the type of the event it
// publishes with the input as data.
type EventConfig struct {
	Type string `json:"type"`
}

// GroupConfig is the config of a group job: its member jobs by id or name.
type GroupConfig struct {
	Jobs []string `json:"jobs"`
}

// httpMethods are the methods an http job may use.
var httpMethods = map[string]bool{
	http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodGet: true,
}

// reservedHeaders are set by the transport from the request itself; letting a
// job config set them would desynchronise framing.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
}

// ValidateJob checks a job before it is stored and applies defaults in place:
// concurrency 0 → 1, timeout_seconds 0 → 600, and j.Config is rewritten to the
// canonical encoding of the kind's typed config (an http job's method defaults
// to POST and is upper-cased). It returns the first problem found as a
// hookd.FieldErrorf error naming the field ("name", "kind", "config.argv",
// "schedule.cron", …). Whether command jobs are allowed for the caller is not
// its concern.
func ValidateJob(j *hookd.Job) error {
	if err := validateName(j.Name); err != nil {
		return err
	}
	cfg, err := DecodeConfig(j.Kind, j.Config)
	if err != nil {
		return err
	}
	if g, ok := cfg.(GroupConfig); ok {
		for i, m := range g.Jobs {
			if (j.ID != "" && m == j.ID) || m == j.Name {
				return hookd.FieldErrorf("config.jobs", "member %d: a group cannot contain itself", i)
			}
		}
	}
	switch {
	case j.Concurrency == 0:
		j.Concurrency = DefaultConcurrency
	case j.Concurrency < 1 || j.Concurrency > MaxConcurrency:
		return hookd.FieldErrorf("concurrency", "must be between 1 and %d", MaxConcurrency)
	}
	switch {
	case j.TimeoutSeconds == 0:
		j.TimeoutSeconds = DefaultTimeoutSeconds
	case j.TimeoutSeconds < 1 || j.TimeoutSeconds > MaxTimeoutSeconds:
		return hookd.FieldErrorf("timeout_seconds", "must be between 1 and %d", MaxTimeoutSeconds)
	}
	if j.Schedule != nil {
		if _, err := ParseSchedule(j.Schedule); err != nil {
			return err
		}
	}
	canon, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("validate job: encode config: %w", err)
	}
	j.Config = canon
	return nil
}

func validateName(name string) error {
	switch n := utf8.RuneCountInString(name); {
	case strings.TrimSpace(name) == "":
		return hookd.FieldErrorf("name", "required")
	case !utf8.ValidString(name):
		return hookd.FieldErrorf("name", "must be valid UTF-8")
	case n > MaxNameLen:
		return hookd.FieldErrorf("name", "must be at most %d characters", MaxNameLen)
	}
	return nil
}

// DecodeConfig decodes raw strictly (unknown fields, trailing data and
// anything but a JSON object are errors) into the typed config of kind,
// applies its defaults and validates it. It returns a CommandConfig,
// HTTPConfig, EventConfig or GroupConfig value, or a hookd.FieldErrorf error
// naming "kind" or a "config…" field.
func DecodeConfig(kind string, raw json.RawMessage) (any, error) {
	switch kind {
	case hookd.JobCommand:
		var c CommandConfig
		if err := decodeStrict(raw, &c); err != nil {
			return nil, err
		}
		return c, c.Validate()
	case hookd.JobHTTP:
		var c HTTPConfig
		if err := decodeStrict(raw, &c); err != nil {
			return nil, err
		}
		if c.Method == "" {
			c.Method = http.MethodPost
		}
		c.Method = strings.ToUpper(c.Method)
		return c, c.Validate()
	case hookd.JobEvent:
		var c EventConfig
		if err := decodeStrict(raw, &c); err != nil {
			return nil, err
		}
		return c, c.Validate()
	case hookd.JobGroup:
		var c GroupConfig
		if err := decodeStrict(raw, &c); err != nil {
			return nil, err
		}
		return c, c.Validate()
	case "":
		return nil, hookd.FieldErrorf("kind", "required")
	default:
		return nil, hookd.FieldErrorf("kind", "must be one of http, command, event, group")
	}
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data.
func decodeStrict(raw json.RawMessage, v any) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return hookd.FieldErrorf("config", "required")
	}
	if trimmed[0] != '{' {
		return hookd.FieldErrorf("config", "must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return configDecodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return hookd.FieldErrorf("config", "unexpected data after the JSON object")
	}
	return nil
}

// configDecodeError names the offending field where encoding/json tells us.
func configDecodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return hookd.FieldErrorf("config."+te.Field, "must be %s", jsonTypeName(te.Type.String()))
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return hookd.FieldErrorf("config", "unknown field %s", f)
	}
	return hookd.FieldErrorf("config", "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonTypeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "an array of strings"
	case strings.HasPrefix(goType, "map["):
		return "an object of strings"
	default:
		return "of another type"
	}
}

// Validate checks a command config: argv non-empty with a program that is an
// absolute path or found in the server's PATH (an absolute path is not checked
// for existence, so a program may be deployed after the job), no NUL bytes,
// env names without "=", and an absolute dir when one is given.
func (c CommandConfig) Validate() error {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return hookd.FieldErrorf("config.argv", "required: the program and its arguments")
	}
	for i, a := range c.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return hookd.FieldErrorf("config.argv", "argument %d contains a NUL byte", i)
		}
	}
	prog := c.Argv[0]
	switch {
	case filepath.IsAbs(prog):
	case strings.ContainsRune(prog, filepath.Separator):
		return hookd.FieldErrorf("config.argv", "program %q must be an absolute path or a name found in PATH", prog)
	default:
		if _, err := exec.LookPath(prog); err != nil {
			return hookd.FieldErrorf("config.argv", "program %q not found in PATH", prog)
		}
	}
	for k, v := range c.Env {
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			return hookd.FieldErrorf("config.env", "invalid variable name %q", k)
		case k == envInput:
			return hookd.FieldErrorf("config.env", "%s is set by hookd", envInput)
		case strings.IndexByte(v, 0) >= 0:
			return hookd.FieldErrorf("config.env", "value of %s contains a NUL byte", k)
		}
	}
	if c.Dir != "" && (!filepath.IsAbs(c.Dir) || strings.IndexByte(c.Dir, 0) >= 0) {
		return hookd.FieldErrorf("config.dir", "must be an absolute path")
	}
	return nil
}

// Validate checks an http config: an absolute http or https URL with a host,
// one of GET, POST, PUT, PATCH, DELETE (upper case; DecodeConfig normalises),
// and header names that are HTTP tokens other than Host, Content-Length,
// Transfer-Encoding and Connection, with values free of control line breaks.
func (c HTTPConfig) Validate() error {
	if c.URL == "" {
		return hookd.FieldErrorf("config.url", "required")
	}
	u, err := url.Parse(c.URL)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return hookd.FieldErrorf("config.url", "must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return hookd.FieldErrorf("config.url", "scheme must be http or https")
	}
	if !httpMethods[c.Method] {
		return hookd.FieldErrorf("config.method", "must be one of GET, POST, PUT, PATCH, DELETE")
	}
	for k, v := range c.Headers {
		switch {
		case !hookd.ValidHeaderName(k):
			return hookd.FieldErrorf("config.headers", "invalid header name %q", k)
		case reservedHeaders[http.CanonicalHeaderKey(k)]:
			return hookd.FieldErrorf("config.headers", "header %s cannot be set", http.CanonicalHeaderKey(k))
		case strings.ContainsAny(v, "\r\n\x00"):
			return hookd.FieldErrorf("config.headers", "value of %s contains a line break or NUL", k)
		}
	}
	return nil
}

// Validate checks an event config: a type of 1–255 characters from
// [A-Za-z0-9._:-].
func (c EventConfig) Validate() error {
	if c.Type == "" {
		return hookd.FieldErrorf("config.type", "required")
	}
	if len(c.Type) > MaxEventTypeLen {
		return hookd.FieldErrorf("config.type", "must be at most %d characters", MaxEventTypeLen)
	}
	for i := 0; i < len(c.Type); i++ {
		if !isEventTypeChar(c.Type[i]) {
			return hookd.FieldErrorf("config.type", "may contain only letters, digits and . _ : -")
		}
	}
	return nil
}

func isEventTypeChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == ':' || c == '-'
}

// Validate checks a group config: 1–50 members, each a non-empty job id or
// name of at most 100 characters, no member twice. Whether the members exist
// and whether groups nest into a cycle is for the caller, who has the store.
func (c GroupConfig) Validate() error {
	if len(c.Jobs) == 0 {
		return hookd.FieldErrorf("config.jobs", "required: at least one member job")
	}
	if len(c.Jobs) > MaxGroupMembers {
		return hookd.FieldErrorf("config.jobs", "at most %d members", MaxGroupMembers)
	}
	seen := make(map[string]bool, len(c.Jobs))
	for i, m := range c.Jobs {
		switch {
		case strings.TrimSpace(m) == "":
			return hookd.FieldErrorf("config.jobs", "member %d is empty", i)
		case utf8.RuneCountInString(m) > MaxNameLen:
			return hookd.FieldErrorf("config.jobs", "member %d is longer than %d characters", i, MaxNameLen)
		case seen[m]:
			return hookd.FieldErrorf("config.jobs", "member %q appears twice", m)
		}
		seen[m] = true
	}
	return nil
}
