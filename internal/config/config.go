// Package config owns hookd's server configuration: defaults, then an optional
// YAML file (--config), then HOOKD_* environment variables, then flags — later
// sources win, and every setting has the same name in all of them
// (--data-dir, HOOKD_DATA_DIR, data-dir:). The config file may also declare
// jobs and triggers (see File).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is everything `hookd serve` needs.
type Config struct {
	Listen            string
	DataDir           string
	Database          string // "" or sqlite path → embedded SQLite in DataDir; postgres://… → PostgreSQL
	PublicURL         string
	AllowInsecureURLs bool
	AllowPrivateCIDR  []string
	RetrySchedule     []time.Duration
	TrustedProxy      []string
	AllowCommandJobs  bool
	ConfigFile        string
	MaxBodyBytes      int64
	LogLevel          string // debug, info, warn, error
	Synchronous       string // SQLite: FULL (default) or NORMAL
	Workers           int    // concurrent outbound attempts in this process
	PerWebhook        int    // concurrent attempts per webhook (cluster-wide on PostgreSQL)
	DeliveryTimeout   time.Duration
	ShutdownTimeout   time.Duration
	Lease             time.Duration // how long a node holds claimed deliveries before others may take them back
	JobLease          time.Duration // how long a running job's lease lasts without renewal

	// File is the parsed config file (nil without --config).
	File *File
}

// File is the YAML config file: settings under their flag names, plus jobs
// and triggers applied at start.
type File struct {
	Settings map[string]any `yaml:",inline"`
	Jobs     []FileJob      `yaml:"jobs"`
	Triggers []FileTrigger  `yaml:"triggers"`
}

// FileJob declares a job (command jobs are allowed here).
type FileJob struct {
	Name           string         `yaml:"name"`
	Kind           string         `yaml:"kind"`
	Config         map[string]any `yaml:"config"`
	Concurrency    int            `yaml:"concurrency"`
	TimeoutSeconds int            `yaml:"timeout_seconds"`
	Schedule       map[string]any `yaml:"schedule"`
	OwnerID        string         `yaml:"owner_id"`
	Workspace      string         `yaml:"workspace"` // default "default"
}

// FileTrigger declares a trigger; its token and secret come from environment
// variables so they stay out of the file.
type FileTrigger struct {
	Name               string            `yaml:"name"`
	Job                string            `yaml:"job"` // job name from this file
	TokenEnv           string            `yaml:"token_env"`
	SecretEnv          string            `yaml:"secret_env"`
	Signature          string            `yaml:"signature"`
	Methods            []string          `yaml:"methods"`
	Mode               string            `yaml:"mode"`
	WaitSeconds        int               `yaml:"wait_seconds"`
	RateLimitPerMinute int               `yaml:"rate_limit_per_minute"`
	CooldownSeconds    int               `yaml:"cooldown_seconds"`
	CooldownMode       string            `yaml:"cooldown_mode"`
	DedupHeader        string            `yaml:"dedup_header"`
	InputMapping       map[string]string `yaml:"input_mapping"`
	OwnerID            string            `yaml:"owner_id"`
	Workspace          string            `yaml:"workspace"`
}

// DefaultRetrySchedule is the delay before each retry (DESIGN §5).
const DefaultRetrySchedule = "5s,5m,30m,2h,5h,10h,10h"

// Load parses args (after "serve") with env lookups through getenv.
func Load(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("hookd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var privCIDR, proxies multi
	var retry string
	fs.StringVar(&c.Listen, "listen", ":8080", "address to listen on")
	fs.StringVar(&c.DataDir, "data-dir", "./hookd-data", "directory for the SQLite database, master.key and admin.key")
	fs.StringVar(&c.Database, "database", "", "postgres://… to run on PostgreSQL (default: embedded SQLite in --data-dir)")
	fs.StringVar(&c.PublicURL, "public-url", "", "base URL of trigger URLs (default http://localhost<listen port>)")
	fs.BoolVar(&c.AllowInsecureURLs, "allow-insecure-urls", false, "allow http:// webhook URLs")
	fs.Var(&privCIDR, "allow-private-cidr", "CIDR outbound connections may reach despite the SSRF guard (repeatable)")
	fs.StringVar(&retry, "retry-schedule", DefaultRetrySchedule, "comma-separated delays after the first attempt")
	fs.Var(&proxies, "trusted-proxy", "CIDR of a proxy whose X-Forwarded-For is believed (repeatable)")
	fs.BoolVar(&c.AllowCommandJobs, "allow-command-jobs", false, "allow command jobs through the API (the config file may always declare them)")
	fs.StringVar(&c.ConfigFile, "config", "", "YAML config file (settings, jobs, triggers)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 1<<20, "largest accepted request body")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.Synchronous, "synchronous", "FULL", "SQLite synchronous pragma: FULL (durable commits) or NORMAL")
	fs.IntVar(&c.Workers, "workers", 512, "concurrent outbound delivery attempts in this process")
	fs.IntVar(&c.PerWebhook, "per-webhook-concurrency", 64, "concurrent attempts per webhook")
	fs.DurationVar(&c.DeliveryTimeout, "delivery-timeout", 15*time.Second, "timeout of one delivery attempt")
	fs.DurationVar(&c.Lease, "lease", 60*time.Second, "how long a claimed delivery is held before another node may take it back (> --delivery-timeout)")
	fs.DurationVar(&c.JobLease, "job-lease", 60*time.Second, "how long a running job execution's lease lasts unrenewed: a dead node's runs are failed as interrupted about this long after it died (≥ 3s)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight work")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// The config file may be named by env too.
	if !set["config"] {
		if v := getenv("HOOKD_CONFIG"); v != "" {
			c.ConfigFile = v
		}
	}
	var fileSettings map[string]any
	if c.ConfigFile != "" {
		f, err := ReadFile(c.ConfigFile)
		if err != nil {
			return nil, err
		}
		c.File = f
		fileSettings = f.Settings
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" {
			return
		}
		env := "HOOKD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			for _, part := range splitList(f.Name, v) {
				if err := fs.Set(f.Name, part); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", env, err))
				}
			}
			return
		}
		if v, ok := fileSettings[f.Name]; ok {
			for _, part := range fileValues(v) {
				if err := fs.Set(f.Name, part); err != nil {
					errs = append(errs, fmt.Errorf("config file %s: %w", f.Name, err))
				}
			}
		}
	})
	for k := range fileSettings {
		if fs.Lookup(k) == nil || k == "config" {
			errs = append(errs, fmt.Errorf("config file: unknown setting %q", k))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.AllowPrivateCIDR = privCIDR
	c.TrustedProxy = proxies
	var err error
	if c.RetrySchedule, err = ParseRetrySchedule(retry); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks values that flag parsing cannot.
func (c *Config) Validate() error {
	for _, s := range append(append([]string{}, c.AllowPrivateCIDR...), c.TrustedProxy...) {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("invalid CIDR %q", s)
		}
	}
	switch strings.ToUpper(c.Synchronous) {
	case "FULL", "NORMAL":
		c.Synchronous = strings.ToUpper(c.Synchronous)
	default:
		return fmt.Errorf("--synchronous must be FULL or NORMAL")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level must be debug, info, warn or error")
	}
	if c.Workers < 1 || c.PerWebhook < 1 {
		return fmt.Errorf("--workers and --per-webhook-concurrency must be ≥ 1")
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("--max-body-bytes must be ≥ 1024")
	}
	if c.DeliveryTimeout <= 0 {
		return fmt.Errorf("--delivery-timeout must be positive")
	}
	if c.Lease < c.DeliveryTimeout+5*time.Second {
		return fmt.Errorf("--lease must exceed --delivery-timeout by at least 5s")
	}
	if c.JobLease < 3*time.Second {
		return fmt.Errorf("--job-lease must be at least 3s")
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return fmt.Errorf("--database must be a postgres:// URL (SQLite lives in --data-dir)")
	}
	if c.PublicURL == "" {
		port := c.Listen
		if i := strings.LastIndex(port, ":"); i >= 0 {
			port = port[i:]
		}
		c.PublicURL = "http://localhost" + port
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return nil
}

// ParseRetrySchedule parses "5s,5m,30m": the delays after the first attempt.
func ParseRetrySchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		d, err := time.ParseDuration(p)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("--retry-schedule: invalid delay %q", p)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--retry-schedule: at least one delay is needed")
	}
	return out, nil
}

// ReadFile parses a YAML config file strictly.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var f File
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return &f, nil
}

// splitList splits list-valued env variables on commas.
func splitList(name, v string) []string {
	switch name {
	case "allow-private-cidr", "trusted-proxy":
		var out []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	return []string{v}
}

func fileValues(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case string:
		return []string{x}
	case bool:
		return []string{strconv.FormatBool(x)}
	default:
		return []string{fmt.Sprint(x)}
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }
