// Package server holds the end-to-end tests of `urumi serve`: real server
// processes of the urumi binary against the simulated cluster, on SQLite
// files and on real PostgreSQL.
package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/simcluster"
	"github.com/urumi/urumi/internal/store"
)

var (
	cluster simcluster.Shared
	// binary is the urumi binary under test, built once by TestMain.
	binary string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "urumi-server-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "urumi")
	build := exec.Command("go", "build", "-o", binary, "github.com/urumi/urumi/cmd/urumi")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build urumi:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := cluster.RunTests(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is the environment of a urumi process: only what the test gives it,
// so the developer's own config and database are never touched.
func env(t *testing.T, c *simcluster.Cluster, extra ...string) []string {
	home := t.TempDir()
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_DATA_HOME=" + filepath.Join(home, ".local/share"),
		"URUMI_AUDIT_KEY=" + filepath.Join(home, "audit.key"),
		"USER=e2e-admin",
		"KUBECONFIG=" + c.Kubeconfig,
	}, extra...)
}

// urumi runs the CLI and returns its stdout.
func urumi(t *testing.T, environ []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = environ
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("urumi %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// token creates an API token with the CLI.
func token(t *testing.T, environ []string, db, owner string, admin bool) string {
	t.Helper()
	args := []string{"token", "create", "--db", db, "--owner", owner}
	if admin {
		args = append(args, "--admin")
	}
	tok := urumi(t, environ, args...)
	if !strings.HasPrefix(tok, "urumi_") || strings.Contains(tok, "\n") {
		t.Fatalf("token create printed %q", tok)
	}
	return tok
}

// serverProc is one running `urumi serve`.
type serverProc struct {
	name string
	cmd  *exec.Cmd
	url  string
	log  *syncBuffer
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// syncBuffer is a log that the process writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer starts `urumi serve` on a free port and waits until it
// listens. The test's end stops it (SIGTERM, then SIGKILL) and, if the test
// failed, prints its log.
func startServer(t *testing.T, name string, environ []string, args ...string) *serverProc {
	t.Helper()
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = environ
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &serverProc{name: name, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.log, line)
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				listening <- rec.Addr
			}
		}
	}()
	go func() {
		<-scanned
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop(10 * time.Second)
		if t.Failed() {
			t.Logf("--- log of server %s (pid %d) ---\n%s", s.name, s.pid(), tail(s.log.String(), 60))
		}
	})
	select {
	case addr := <-listening:
		s.url = "http://" + addr
	case <-s.done:
		t.Fatalf("server %s exited: %v\n%s", name, s.err, s.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("server %s did not listen within 30s\n%s", name, s.log.String())
	}
	return s
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits up to grace, then kills.
func (s *serverProc) stop(grace time.Duration) error {
	select {
	case <-s.done:
		return s.err
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return s.err
}

// kill is SIGKILL: no shutdown, no lease released.
func (s *serverProc) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// client calls one server with one token.
type client struct {
	t     *testing.T
	base  string
	token string
}

func (s *serverProc) as(t *testing.T, token string) client {
	return client{t: t, base: s.url, token: token}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) code() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r reply) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d %s: %v", r.status, r.body, err)
	}
}

// do sends a request; it returns a zero reply (status 0) if the server
// cannot be reached, which tests of killed servers expect.
func (c client) do(method, path string, body any) reply {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	cl := &http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return reply{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// must fails unless r has status.
func must(t *testing.T, r reply, status int) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("got %d %s, want %d", r.status, r.body, status)
	}
	return r
}

// eventually polls cond every interval until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		if state != "" {
			last = state
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openDB opens the state database as the tests' own observer, with the
// audit key of the processes run with environ.
func openDB(t *testing.T, environ []string, dsn string) store.DB {
	t.Helper()
	var keyPath string
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "URUMI_AUDIT_KEY="); ok {
			keyPath = v
		}
	}
	key, err := store.LoadAuditKey(keyPath, true)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), dsn, store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// getStore reads a store over the API; ok is false when it is gone (404).
func getStore(t *testing.T, c client, name string) (store.Store, bool) {
	t.Helper()
	r := c.do("GET", "/v1/stores/"+name, nil)
	switch r.status {
	case http.StatusOK:
		var st store.Store
		r.into(t, &st)
		return st, true
	case http.StatusNotFound:
		return store.Store{}, false
	}
	return store.Store{}, true // unreachable or busy: try again
}
