package storetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a PostgreSQL server of a test's own, for tests that stop and
// restart it: its data directory is a temporary directory and it listens on
// a free port of 127.0.0.1, so the machine's server is never touched. It is
// stopped and removed when the test ends.
type Postgres struct {
	t    testing.TB
	bin  string // the directory of initdb, pg_ctl and postgres
	dir  string // holds data/, the socket and the log
	port int
	// asUser prefixes every server command: PostgreSQL refuses to run as
	// root, so root runs it as the postgres user.
	asUser []string
}

// StartPostgres initialises and starts a server of t's own. Without
// PostgreSQL's server programs (Debian's postgresql package) the test
// skips, except under CI=true, where it fails.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir, err := os.MkdirTemp("", "urumi-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &Postgres{t: t, bin: bin, dir: dir}
	t.Cleanup(func() {
		// Immediate: nothing the test left behind needs to be kept.
		_ = p.pgctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("PostgreSQL refuses to run as root and there is no postgres user to run it as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.command("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.port = freePort(t)
	p.Start()
	return p
}

// postgresBin finds the newest server installation, or one on PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) < versionOf(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL's server programs (initdb, pg_ctl) are not installed: " +
		"install Debian's postgresql package to run this test")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

func (p *Postgres) command(prog string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, p.asUser...), filepath.Join(p.bin, prog)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.dir
	return cmd
}

func (p *Postgres) pgctl(args ...string) error {
	args = append(args, "-D", p.data(), "-w", "-t", "60")
	out, err := p.command("pg_ctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w\n%s", args[0], err, bytes.TrimSpace(out))
	}
	return nil
}

// DSN is a connection string for the server's postgres database.
func (p *Postgres) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Start starts the stopped server and waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	// fsync off: the test's data need not survive a crash of the machine.
	opts := fmt.Sprintf("-p %d -h 127.0.0.1 -k %s -c fsync=off -c max_connections=200", p.port, p.dir)
	if err := p.pgctl("start", "-o", opts, "-l", filepath.Join(p.dir, "server.log")); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		p.t.Fatalf("%v\nserver log:\n%s", err, log)
	}
	p.waitReady()
}

// Stop stops the server the way an operator's restart does: connections
// are terminated (fast shutdown) and new ones refused until Start.
func (p *Postgres) Stop() {
	p.t.Helper()
	if err := p.pgctl("stop", "-m", "fast"); err != nil {
		p.t.Fatal(err)
	}
}

// Restart stops the server, keeps it down for down, and starts it again.
func (p *Postgres) Restart(down time.Duration) {
	p.t.Helper()
	p.Stop()
	time.Sleep(down)
	p.Start()
}

func (p *Postgres) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, p.DSN())
		if err == nil {
			conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			p.t.Fatalf("PostgreSQL on port %d did not accept connections within a minute: %v", p.port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
