package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "hookd.yaml")
	os.WriteFile(file, []byte(`
listen: ":9000"
data-dir: /from/file
allow-private-cidr: [10.0.0.0/8, 192.168.0.0/16]
retry-schedule: 1s,2s
job-lease: 5s
jobs:
  - name: deploy
    kind: command
    config: {argv: [/bin/true]}
triggers:
  - name: deploy-hook
    job: deploy
    token_env: DEPLOY_TOKEN
`), 0o600)
	c, err := Load([]string{"--config", file, "--listen", ":7000"}, env(map[string]string{"HOOKD_DATA_DIR": "/from/env"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":7000" || c.DataDir != "/from/env" {
		t.Fatalf("flag > env > file broken: listen %q data-dir %q", c.Listen, c.DataDir)
	}
	if diff := cmp.Diff([]string{"10.0.0.0/8", "192.168.0.0/16"}, c.AllowPrivateCIDR); diff != "" {
		t.Fatal(diff)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second}, c.RetrySchedule); diff != "" {
		t.Fatal(diff)
	}
	if len(c.File.Jobs) != 1 || c.File.Triggers[0].TokenEnv != "DEPLOY_TOKEN" {
		t.Fatalf("file jobs/triggers: %+v", c.File)
	}
	if c.JobLease != 5*time.Second || c.Lease != time.Minute {
		t.Fatalf("job-lease %v lease %v, want 5s from the file and the 60s default", c.JobLease, c.Lease)
	}
	if c.PublicURL != "http://localhost:7000" {
		t.Fatalf("public url %q", c.PublicURL)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("no-such-setting: 1\n"), 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"BadCIDR", []string{"--allow-private-cidr", "10.0.0.0/99"}, nil},
		{"BadRetry", []string{"--retry-schedule", "5s,soon"}, nil},
		{"BadSync", []string{"--synchronous", "OFF"}, nil},
		{"BadDatabase", []string{"--database", "mysql://x"}, nil},
		{"UnknownFileSetting", []string{"--config", bad}, nil},
		{"MissingFile", []string{"--config", filepath.Join(dir, "none.yaml")}, nil},
		{"BadEnv", nil, map[string]string{"HOOKD_WORKERS": "many"}},
		{"StrayArg", []string{"extra"}, nil},
		{"ShortLease", []string{"--lease", "10s"}, nil},
		{"ShortJobLease", []string{"--job-lease", "2s"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Load(tt.args, env(tt.env), io.Discard); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestEnvLists(t *testing.T) {
	t.Parallel()
	c, err := Load(nil, env(map[string]string{"HOOKD_TRUSTED_PROXY": "10.0.0.0/8, 127.0.0.1/32", "HOOKD_ALLOW_INSECURE_URLS": "true"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxy) != 2 || !c.AllowInsecureURLs {
		t.Fatalf("%+v", c)
	}
}
