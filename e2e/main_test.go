// Package e2e holds end-to-end tests: they build the real hookd binary, start
// it on a fresh data directory and drive it over HTTP through the client SDK,
// with httptest receivers standing in for subscriber endpoints.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/client"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookd-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "hookd")
	build := exec.Command("go", "build", "-o", binary, "../cmd/hookd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hookd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running hookd process.
type server struct {
	t        *testing.T
	cmd      *exec.Cmd
	URL      string
	Key      string
	DataDir  string
	Database string // the --database DSN; "" on SQLite
	args     []string
	logs     *syncBuffer
	exited   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// baseArgs lets the binary reach httptest receivers on loopback over http and
// retry quickly (the schedule is configuration, not a test sleep).
var baseArgs = []string{"--allow-insecure-urls", "--allow-private-cidr", "127.0.0.0/8", "--retry-schedule", "200ms,200ms,200ms"}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// start runs `hookd serve` on dataDir ("" = a new one) and waits until it is
// ready. Inside the "postgres" subtest of onBackends it runs on PostgreSQL
// (--database): a fresh database for a new data directory, the same database
// again for a data directory started before (a restart).
func start(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	return startEnv(t, dataDir, nil, extra...)
}

// startEnv is start with extra environment variables for the process.
func startEnv(t *testing.T, dataDir string, env []string, extra ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	database := ""
	for i, a := range extra {
		if a == "--database" && i+1 < len(extra) {
			database = extra[i+1]
		}
	}
	if database == "" && backendOf(t) == backendPostgres {
		if dsn, ok := databases.Load(dataDir); ok {
			database = dsn.(string)
		} else {
			database = freshDatabase(t)
			databases.Store(dataDir, database)
		}
		extra = append([]string{"--database", database}, extra...)
	}
	addr := freePort(t)
	args := append([]string{"serve", "--listen", addr, "--data-dir", dataDir}, baseArgs...)
	args = append(args, extra...)
	s := &server{t: t, URL: "http://" + addr, DataDir: dataDir, Database: database, args: args, logs: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	s.cmd.Env = append(append(os.Environ(), "HOOKD_MASTER_KEY="), env...)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("hookd output:\n%s", tail(s.logs.String(), 4000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := apiHTTP.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("hookd exited at start:\n%s", s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hookd not ready:\n%s", s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	s.Key = strings.TrimSpace(string(b))
	return s
}

func (s *server) client() *client.Client {
	return client.New(s.URL, s.Key, client.WithHTTPClient(apiHTTP))
}

// apiHTTP is the tests' client of the servers, with a transport of its own:
// an httptest server closing (a receiver, in a test running in parallel)
// closes http.DefaultTransport's idle connections, which can break a request
// that has just taken one of them.
var apiHTTP = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

// kill sends SIGKILL and waits for the exit.
func (s *server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// term sends SIGTERM and waits for a clean exit.
func (s *server) term() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(40 * time.Second):
		s.t.Fatal("hookd did not stop after SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("hookd exit code %d after SIGTERM", code)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// recorder is a subscriber endpoint counting what it receives.
type recorder struct {
	*httptest.Server
	mu      sync.Mutex
	byEvent map[string]int
	reqs    []recorded
	handle  func(w http.ResponseWriter, r *http.Request, n int)
}

type recorded struct {
	Header http.Header
	Body   []byte
}

func newRecorder(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *recorder {
	rc := &recorder{byEvent: map[string]int{}, handle: handle}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.byEvent[r.Header.Get("webhook-id")]++
		rc.reqs = append(rc.reqs, recorded{r.Header.Clone(), b})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if rc.handle != nil {
			rc.handle(w, r, n)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *recorder) count() int { rc.mu.Lock(); defer rc.mu.Unlock(); return len(rc.reqs) }
func (rc *recorder) seen(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.byEvent[id]
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitDelivery(t *testing.T, c *client.Client, id, status string) *client.Delivery {
	t.Helper()
	var d *client.Delivery
	eventually(t, "delivery "+id+" to be "+status, func() bool {
		var err error
		d, err = c.GetDelivery(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return d.Status == status
	})
	return d
}

// logLines returns the JSON log lines of the server output.
func logLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
