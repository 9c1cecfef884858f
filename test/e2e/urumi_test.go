package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/urumi/urumi/internal/simcluster"
	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// The urumi binary under test, built once per run of this package.
var build struct {
	once sync.Once
	bin  string
	err  error
}

func urumiBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		if bin := os.Getenv("URUMI_E2E_BIN"); bin != "" {
			build.bin = bin // a binary built elsewhere (debugging)
			return
		}
		dir, err := os.MkdirTemp("", "urumi-e2e-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(dir, "urumi")
		root, err := simcluster.RepoRoot()
		if err != nil {
			build.err = err
			return
		}
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/urumi")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// backends are the state databases every stateful test runs on.
var backends = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{"sqlite", storetest.SQLiteDSN},
	{"postgres", storetest.PostgresDSN},
}

// env runs the urumi binary as a user would: its own database, config and
// home, the simulated cluster's kubeconfig.
type env struct {
	t      *testing.T
	bin    string
	db     string
	home   string
	cl     *simcluster.Cluster
	client kubernetes.Interface
	extra  []string
}

func newEnv(t *testing.T, dsn string) *env {
	c := cluster.Get(t)
	return &env{
		t: t, bin: urumiBinary(t), db: dsn, home: t.TempDir(), cl: c,
		client: kubernetes.NewForConfigOrDie(c.Config),
	}
}

func (e *env) environ() []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.home,
		"XDG_CONFIG_HOME=" + filepath.Join(e.home, ".config"),
		"XDG_DATA_HOME=" + filepath.Join(e.home, ".local/share"),
		"URUMI_AUDIT_KEY=" + e.auditKeyPath(),
		"KUBECONFIG=" + e.cl.Kubeconfig,
		"URUMI_DB=" + e.db,
		"URUMI_LEASE=3s",
		"URUMI_TIMEOUT=2m",
		"USER=tester",
		"NO_COLOR=1",
	}, e.extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs urumi to completion.
func (e *env) run(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("run urumi %v: %v", args, err)
	}
	return r
}

// ok runs urumi and fails the test unless it exits 0.
func (e *env) ok(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("urumi %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// start runs urumi in the background.
func (e *env) start(args ...string) (*exec.Cmd, *bytes.Buffer) {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.environ()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	return cmd, &buf
}

// getStore reads a store with `urumi store get -o json`.
func (e *env) getStore(name string) (store.Store, bool) {
	e.t.Helper()
	r := e.run("store", "get", name, "-o", "json")
	if r.code == 3 {
		return store.Store{}, false
	}
	if r.code != 0 {
		e.t.Fatalf("store get %s: %s", name, r)
	}
	var s store.Store
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		e.t.Fatalf("store get %s: decode %q: %v", name, r.stdout, err)
	}
	return s, true
}

// auditKeyPath is the audit key file of the env's urumi processes.
func (e *env) auditKeyPath() string { return filepath.Join(e.home, "audit.key") }

// openDB opens the env's state database directly, with its audit key.
func (e *env) openDB() store.DB {
	e.t.Helper()
	key, err := store.LoadAuditKey(e.auditKeyPath(), true)
	if err != nil {
		e.t.Fatal(err)
	}
	db, err := store.Open(context.Background(), e.db, store.Options{AuditKey: key})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}
