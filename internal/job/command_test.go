package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sh returns the config of a /bin/sh script.
func sh(script string) CommandConfig {
	return CommandConfig{Argv: []string{"/bin/sh", "-c", script}}
}

// processGone reports whether pid no longer runs: absent, or a zombie that
// PID 1 has not reaped yet.
func processGone(t *testing.T, pid int) bool {
	t.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		// Without /proc, fall back to kill(0): a zombie still counts as alive.
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return f[0] == "Z" || f[0] == "X"
}

func TestRunCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name  string
		cfg   CommandConfig
		input string
		want  string // Output
	}{
		{"OK/JSONStdout", sh(`echo '{"rows": 42}'`), `{}`, `{"rows": 42}`},
		{"OK/PlainText", sh(`echo refreshed; echo done`), `{}`, `"refreshed\ndone"`},
		{"OK/EmptyStdout", sh(`true`), `{}`, `null`},
		{"OK/JSONNumberIsJSON", sh(`echo 17`), `{}`, `17`},
		{"OK/InputOnStdinAndEnv", sh(`printf '{"stdin":%s,"env":%s}' "$(cat)" "$HOOKD_INPUT"`), `{"pr":7}`, `{"stdin":{"pr":7},"env":{"pr":7}}`},
		{"OK/Env", CommandConfig{Argv: []string{"/bin/sh", "-c", `printf '%s-%s' "$GREETING" "$LANG"`}, Env: map[string]string{"GREETING": "hi", "LANG": "C.UTF-8"}}, `{}`, `"hi-C.UTF-8"`},
		{"OK/Dir", CommandConfig{Argv: []string{"pwd"}, Dir: dir}, `{}`, strconv.Quote(dir)},
		{"OK/ArgvNotShellExpanded", CommandConfig{Argv: []string{"printf", "%s", "$HOME;*"}}, `{}`, `"$HOME;*"`},
		// The command ignores its stdin: a 1 MiB input must not block.
		{"OK/UnreadLargeInput", sh(`echo ok`), `"` + strings.Repeat("x", 1<<20) + `"`, `"ok"`},
		{"OK/LargeInputStdinOnly", sh(`printf '{"bytes":%s,"env":"%s"}' "$(wc -c | tr -d ' ')" "${HOOKD_INPUT-unset}"`), `"` + strings.Repeat("y", MaxEnvInput) + `"`, `{"bytes":65538,"env":"unset"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := RunCommand(t.Context(), tt.cfg, []byte(tt.input), 10*time.Second, time.Second)
			if err != nil {
				t.Fatalf("RunCommand: %v (stderr %q)", err, res.Stderr)
			}
			if diff := cmp.Diff(tt.want, string(res.Output)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if res.ExitCode != 0 || res.Truncated {
				t.Errorf("exit code %d, truncated %v; want 0, false", res.ExitCode, res.Truncated)
			}
		})
	}
}

func TestRunCommandEnvIsMinimal(t *testing.T) {
	t.Parallel()
	// env(1) prints exactly the environment it was given.
	cfg := CommandConfig{Argv: []string{"env"}, Env: map[string]string{"B": "2", "A": "1"}}
	res, err := RunCommand(t.Context(), cfg, []byte(`{"a":1}`), 10*time.Second, time.Second)
	if err != nil {
		t.Fatalf("RunCommand: %v", err)
	}
	var out string
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("output %s: %v", res.Output, err)
	}
	var want []string
	for _, k := range []string{"PATH", "HOME", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			want = append(want, k+"="+v)
		}
	}
	want = append(want, "A=1", "B=2", `HOOKD_INPUT={"a":1}`)
	got := strings.Split(out, "\n")
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

func TestRunCommandErrors(t *testing.T) {
	t.Parallel()
	longErr := strings.Repeat("e", 5000) + "LAST"
	tests := []struct {
		name       string
		cfg        CommandConfig
		wantCode   int
		wantStderr string
		wantMsg    string
	}{
		{"ErrExit3", sh(`echo partial; echo "no such table" >&2; exit 3`), 3, "no such table\n", "exit status 3: no such table\n"},
		{"ErrExitNoStderr", sh(`exit 1`), 1, "", "exit status 1"},
		{"ErrStderrTail", sh(`printf '%s' "` + longErr + `" >&2; exit 2`), 2, longErr[len(longErr)-MaxStderrTail:], "exit status 2: " + longErr[len(longErr)-MaxStderrTail:]},
		{"ErrSignal", sh(`kill -KILL $$`), -1, "", "signal: killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := RunCommand(t.Context(), tt.cfg, nil, 10*time.Second, time.Second)
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("error = %v, want *ExitError", err)
			}
			if ee.ExitCode != tt.wantCode || res.ExitCode != tt.wantCode {
				t.Errorf("exit code = %d (result %d), want %d", ee.ExitCode, res.ExitCode, tt.wantCode)
			}
			if ee.Stderr != tt.wantStderr || res.Stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", ee.Stderr, tt.wantStderr)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("message = %q, want %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

func TestRunCommandStartErrors(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		cfg  CommandConfig
	}{
		{"ErrEmptyArgv", t.Context(), CommandConfig{}},
		{"ErrNotFound", t.Context(), CommandConfig{Argv: []string{"/nonexistent/hookd-prog"}}},
		{"ErrNotInPATH", t.Context(), CommandConfig{Argv: []string{"no-such-program-hookd"}}},
		{"ErrBadDir", t.Context(), CommandConfig{Argv: []string{"/bin/sh", "-c", "true"}, Dir: "/nonexistent/dir"}},
		{"ErrCanceledBeforeStart", canceled, sh("true")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := RunCommand(tt.ctx, tt.cfg, nil, time.Second, time.Second); err == nil {
				t.Fatal("RunCommand: no error")
			}
		})
	}
}

func TestRunCommandTruncatesStdout(t *testing.T) {
	t.Parallel()
	res, err := RunCommand(t.Context(), sh(`head -c 3000000 /dev/zero | tr '\0' a`), nil, 10*time.Second, time.Second)
	if err != nil {
		t.Fatalf("RunCommand: %v", err)
	}
	var out string
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("output is not a JSON string: %v", err)
	}
	if !res.Truncated || len(out) != MaxOutput {
		t.Errorf("truncated %v, %d bytes; want true, %d", res.Truncated, len(out), MaxOutput)
	}
}

// grandchildScript starts a grandchild that, like its parent, ignores SIGTERM
// (an ignored signal stays ignored across exec), prints its pid, and waits.
const grandchildScript = `trap "" TERM; sleep 60 & echo $!; wait`

func TestRunCommandTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	// 200 ms timeout and 200 ms grace are the runner's own timers.
	const timeout, grace = 200 * time.Millisecond, 200 * time.Millisecond
	start := time.Now()
	res, err := RunCommand(t.Context(), sh(grandchildScript), nil, timeout, grace)
	elapsed := time.Since(start)

	var te *TimeoutError
	if !errors.As(err, &te) || err.Error() != "timed out after 0.2s" {
		t.Fatalf("error = %v, want timed out after 0.2s", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, DeadlineExceeded) = false")
	}
	if elapsed < timeout+grace {
		t.Errorf("returned after %v: SIGKILL came before the grace", elapsed)
	}
	if elapsed > 5*time.Second {
		t.Errorf("returned after %v", elapsed)
	}
	pid, err := strconv.Atoi(string(res.Output))
	if err != nil {
		t.Fatalf("output %s is not the grandchild's pid", res.Output)
	}
	if !processGone(t, pid) {
		t.Errorf("grandchild %d still alive", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func TestRunCommandTermEndsGroupWithinGrace(t *testing.T) {
	t.Parallel()
	// Nothing ignores SIGTERM here: the run ends right after the timeout,
	// without waiting out the long grace.
	res, err := RunCommand(t.Context(), sh(`sleep 60 & echo $!; wait`), nil, 100*time.Millisecond, time.Minute)
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("error = %v, want *TimeoutError", err)
	}
	pid, _ := strconv.Atoi(string(res.Output))
	if pid == 0 || !processGone(t, pid) {
		t.Errorf("grandchild %s still alive", res.Output)
	}
}

func TestRunCommandLeftoverGrandchild(t *testing.T) {
	t.Parallel()
	// The script exits at once but leaves a grandchild holding stdout: the
	// run must neither hang on the pipe nor leave the grandchild behind.
	res, err := RunCommand(t.Context(), sh(`sleep 60 & echo $!`), nil, time.Minute, time.Second)
	if err != nil {
		t.Fatalf("RunCommand: %v", err)
	}
	pid, err := strconv.Atoi(string(res.Output))
	if err != nil {
		t.Fatalf("output %s is not the grandchild's pid", res.Output)
	}
	if !processGone(t, pid) {
		t.Errorf("grandchild %d still alive", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func TestRunCommandCancel(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "ready")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pids := make(chan int, 1)
	go func() {
		// Opening the fifo blocks until the script writes to it: cancel once
		// the process tree is up.
		b, err := os.ReadFile(fifo)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			pid = 0
		}
		pids <- pid
		cancel()
	}()
	cfg := CommandConfig{
		Argv: []string{"/bin/sh", "-c", `trap "" TERM; sleep 60 & echo $! > "$READY"; wait`},
		Env:  map[string]string{"READY": fifo},
	}
	_, err := RunCommand(ctx, cfg, nil, time.Minute, 200*time.Millisecond)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if pid := <-pids; pid == 0 || !processGone(t, pid) {
		t.Errorf("grandchild %d still alive", pid)
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"OK/Short", []string{"a", "b"}, "ab"},
		{"OK/ManyWrites", slices.Repeat([]string{"0123456789"}, 1000), strings.Repeat("0123456789", 1000)[10000-MaxStderrTail:]},
		{"OK/CutRune", []string{"é" + strings.Repeat("x", MaxStderrTail-1)}, "\uFFFD" + strings.Repeat("x", MaxStderrTail-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b tailBuffer
			for _, w := range tt.writes {
				b.Write([]byte(w))
			}
			if got := b.String(); got != tt.want {
				t.Errorf("tail = %q…, want %q…", got[:min(len(got), 20)], tt.want[:min(len(tt.want), 20)])
			}
		})
	}
}
