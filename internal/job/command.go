package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Output limits of the runners.
const (
	MaxOutput     = 1 << 20 // bytes of a command's stdout or an http response kept
	MaxStderrTail = 2 << 10 // bytes of a command's stderr kept: the last ones
	// MaxEnvInput is the largest input also passed as HOOKD_INPUT. Linux
	// refuses a single environment string over 128 KiB (MAX_ARG_STRLEN), so
	// larger inputs come on stdin only and HOOKD_INPUT is left unset.
	MaxEnvInput = 64 << 10
)

// envInput carries the input in a command's environment.
const envInput = "HOOKD_INPUT"

// pipeDrain bounds how long a finished command's output pipes may stay open:
// a process that left the process group (setsid) can hold them forever.
const pipeDrain = 500 * time.Millisecond

// pollGroup is how often a stopping process group is checked for survivors.
const pollGroup = 5 * time.Millisecond

// baseEnv are the server's variables a command inherits; nothing else leaks
// (no HOOKD_MASTER_KEY, no database URL).
var baseEnv = []string{"PATH", "HOME", "LANG"}

// Result is what a command run produced.
type Result struct {
	// Output is stdout as JSON when it parses, otherwise a JSON string of it
	// (trailing line breaks removed); JSON null when stdout was empty.
	Output json.RawMessage
	// ExitCode is the process's exit status, -1 when a signal ended it.
	ExitCode int
	// Stderr is the last MaxStderrTail bytes of stderr.
	Stderr string
	// Truncated reports that stdout exceeded MaxOutput; Output is then a JSON
	// string of the first MaxOutput bytes.
	Truncated bool
}

// ExitError is returned by RunCommand when the command ended with a non-zero
// exit status or was killed by a signal it did not get from hookd.
type ExitError struct {
	ExitCode int    // -1 when a signal ended the process
	Status   string // "exit status 3", "signal: segmentation fault"
	Stderr   string // the last MaxStderrTail bytes of stderr
}

func (e *ExitError) Error() string {
	if e.Stderr == "" {
		return e.Status
	}
	return e.Status + ": " + e.Stderr
}

// TimeoutError is returned by the runners when a run exceeded its timeout.
type TimeoutError struct{ After time.Duration }

func (e *TimeoutError) Error() string {
	return "timed out after " + strconv.FormatFloat(e.After.Seconds(), 'f', -1, 64) + "s"
}

// Is makes errors.Is(err, context.DeadlineExceeded) hold for a timeout.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// RunCommand runs a command job once. It starts cfg.Argv[0] (an absolute path
// or a name looked up in the server's PATH) with the remaining arguments in
// cfg.Dir, in a new process group, with the environment PATH, HOME and LANG
// taken from the server, then cfg.Env, then HOOKD_INPUT=<input> (unset when the
// input exceeds MaxEnvInput). The input is also written to stdin.
//
// When timeout (≤ 0: none) passes or ctx is done, the whole process group gets
// SIGTERM and, if any of it is still alive killGrace later, SIGKILL. Members
// of the group left running after the command itself exits are stopped the
// same way, so no process of the run outlives RunCommand, and Wait never
// hangs on a grandchild holding the output pipes.
//
// The error is a *TimeoutError after the timeout, ctx's cause (wrapped) after
// cancellation, an *ExitError for a non-zero exit, or a start failure. The
// Result holds whatever was captured, also alongside an error.
func RunCommand(ctx context.Context, cfg CommandConfig, input []byte, timeout, killGrace time.Duration) (Result, error) {
	if len(cfg.Argv) == 0 || cfg.Argv[0] == "" {
		return Result{}, errors.New("run command: empty argv")
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("run command: %w", context.Cause(ctx))
	}
	cmd := exec.Command(cfg.Argv[0], cfg.Argv[1:]...)
	if cmd.Err != nil {
		return Result{}, fmt.Errorf("run command: %w", cmd.Err)
	}
	cmd.Env = commandEnv(cfg.Env, input)
	cmd.Dir = cfg.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	// Our own pipes (rather than exec's copying goroutines) let us tell the
	// command's exit from the closing of its pipes, which grandchildren may
	// hold open.
	var pipes [3][2]*os.File // stdin, stdout, stderr; [read, write]
	closeAll := func() {
		for _, p := range pipes {
			for _, f := range p {
				if f != nil {
					f.Close()
				}
			}
		}
	}
	for i := range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return Result{}, fmt.Errorf("run command: %w", err)
		}
		pipes[i] = [2]*os.File{r, w}
	}
	stdinR, stdinW := pipes[0][0], pipes[0][1]
	stdoutR, stdoutW := pipes[1][0], pipes[1][1]
	stderrR, stderrW := pipes[2][0], pipes[2][1]
	defer closeAll()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, stdoutW, stderrW
	err := cmd.Start()
	// The child has its copies; ours of its ends must go so that EOF comes
	// when the child's side closes.
	stdinR.Close()
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		return Result{}, fmt.Errorf("run command: %w", err)
	}
	pgid := cmd.Process.Pid

	var ioWG sync.WaitGroup
	var stdout headBuffer
	var stderr tailBuffer
	ioWG.Go(func() {
		// A command that does not read its input must not block us: the
		// write fails with EPIPE once its side closes, or when we close ours.
		stdinW.Write(input)
		stdinW.Close()
	})
	ioWG.Go(func() { copyAll(&stdout, stdoutR) })
	ioWG.Go(func() { copyAll(&stderr, stderrR) })

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	var waitErr, stopErr error
	exited := false
	select {
	case waitErr = <-waited:
		exited = true
	case <-timer:
		stopErr = &TimeoutError{After: timeout}
	case <-ctx.Done():
		stopErr = fmt.Errorf("run command: canceled: %w", context.Cause(ctx))
	}
	stopGroup(pgid, killGrace, waited, &waitErr, exited)

	drained := make(chan struct{})
	go func() { ioWG.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(pipeDrain):
		stdinW.Close()
		stdoutR.Close()
		stderrR.Close()
		<-drained
	}

	if cmd.ProcessState == nil {
		return Result{}, fmt.Errorf("run command: wait: %w", waitErr)
	}
	res := Result{
		ExitCode:  cmd.ProcessState.ExitCode(),
		Stderr:    stderr.String(),
		Truncated: stdout.truncated,
	}
	res.Output = outputJSON(stdout.buf.Bytes(), stdout.truncated)
	if stopErr != nil {
		return res, stopErr
	}
	if !cmd.ProcessState.Success() {
		return res, &ExitError{ExitCode: res.ExitCode, Status: cmd.ProcessState.String(), Stderr: res.Stderr}
	}
	if waitErr != nil {
		return res, fmt.Errorf("run command: %w", waitErr)
	}
	return res, nil
}

// stopGroup ends the process group pgid: SIGTERM, then SIGKILL once grace has
// passed with any member alive, then a short wait (killWait) for the kernel to
// finish them. Unless exited, it also collects the leader's Wait result into
// *waitErr. It returns at once when the group is already empty, the common
// case after a command exits by itself.
func stopGroup(pgid int, grace time.Duration, waited <-chan error, waitErr *error, exited bool) {
	if exited && !groupAlive(pgid) {
		return
	}
	syscall.Kill(-pgid, syscall.SIGTERM)
	if !awaitGroup(pgid, grace, waited, waitErr, &exited) {
		syscall.Kill(-pgid, syscall.SIGKILL)
		awaitGroup(pgid, killWait, waited, waitErr, &exited)
	}
	if !exited {
		*waitErr = <-waited
	}
}

// killWait bounds the wait for a SIGKILLed group to die (a process in
// uninterruptible sleep dies only when its system call returns).
const killWait = time.Second

// awaitGroup waits up to d for the leader to be reaped and the group to be
// empty, reporting whether it is.
func awaitGroup(pgid int, d time.Duration, waited <-chan error, waitErr *error, exited *bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(pollGroup)
	defer tick.Stop()
	for {
		// The leader stays a zombie (and a group member) until Wait reaps it,
		// so reap before asking whether the group is empty.
		if !*exited {
			select {
			case *waitErr = <-waited:
				*exited = true
			default:
			}
		}
		if *exited && !groupAlive(pgid) {
			return true
		}
		select {
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// groupAlive reports whether any live process of group pgid exists. Zombies
// do not count: orphaned members are reparented to PID 1, which in a container
// may never reap them. Where /proc cannot tell, any member counts.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	live, ok := liveGroupMember(pgid)
	return live || !ok
}

// liveGroupMember scans /proc for a process of group pgid that is not a
// zombie; ok is false when /proc is unavailable.
func liveGroupMember(pgid int) (live, ok bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false, false
	}
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		name := e.Name()
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp …"; comm may hold spaces and parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[2] != want {
			continue
		}
		if f[0] != "Z" && f[0] != "X" {
			return true, true
		}
	}
	return false, true
}

// commandEnv builds a command's environment: the server's PATH, HOME and LANG,
// then extra in name order, then HOOKD_INPUT. exec keeps the last of duplicate
// names, so extra overrides the base.
func commandEnv(extra map[string]string, input []byte) []string {
	env := make([]string, 0, len(baseEnv)+len(extra)+1)
	for _, k := range baseEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	if len(input) <= MaxEnvInput && bytes.IndexByte(input, 0) < 0 {
		env = append(env, envInput+"="+string(input))
	}
	return env
}

// outputJSON turns captured output into a result: the bytes when they are one
// JSON value, null when empty, otherwise a JSON string of the text.
func outputJSON(out []byte, truncated bool) json.RawMessage {
	trimmed := bytes.TrimSpace(out)
	if len(trimmed) == 0 {
		return json.RawMessage("null")
	}
	// A truncated document may still parse (a long number cut short) but
	// would be a different value: keep it as text.
	if !truncated && json.Valid(trimmed) {
		return bytes.Clone(trimmed)
	}
	s, _ := json.Marshal(strings.TrimRight(string(out), "\r\n"))
	return s
}

// copyAll copies r into w until EOF or an error (a closed pipe ends it).
func copyAll(w io.Writer, r io.Reader) { io.Copy(w, r) }

// headBuffer keeps the first MaxOutput bytes written and discards the rest,
// still accepting writes so the writer never blocks on a full pipe.
type headBuffer struct {
	buf       bytes.Buffer
	truncated bool
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := MaxOutput - b.buf.Len(); len(p) > room {
		b.buf.Write(p[:max(room, 0)])
		b.truncated = true
		return len(p), nil
	}
	return b.buf.Write(p)
}

// tailBuffer keeps the last MaxStderrTail bytes written.
type tailBuffer struct{ buf []byte }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*MaxStderrTail {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-MaxStderrTail:]...)
	}
	return len(p), nil
}

// String returns the tail as valid UTF-8 (a cut rune becomes U+FFFD).
func (b *tailBuffer) String() string {
	t := b.buf
	if len(t) > MaxStderrTail {
		t = t[len(t)-MaxStderrTail:]
	}
	return strings.ToValidUTF8(string(t), "\uFFFD")
}
