package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "modernc.org/sqlite"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/store"
)

// TestCredentialsOnlyInSecret is a canary: the generated credentials appear
// in the store's Secret and nowhere else urumi writes.
func TestCredentialsOnlyInSecret(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b.dsn(t))
			e.extra = []string{"URUMI_DEBUG=1"} // logs on stderr are checked too
			ctx := context.Background()
			name := "canary-" + b.name
			ns := "store-" + name
			var outputs []result
			outputs = append(outputs, e.ok("store", "create", name, "-o", "json"))
			for _, args := range [][]string{
				{"store", "get", name}, {"store", "get", name, "-o", "yaml"}, {"store", "list", "-A", "-o", "wide"},
				{"store", "list", "-o", "json"}, {"audit", "-o", "json"}, {"store", "retry", name, "--set", "site.title=Canary"},
			} {
				outputs = append(outputs, e.run(args...))
			}

			sec, err := e.client.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
			must(t, err)
			keys := charts.SecretKeys()
			var secrets []string
			for _, k := range keys {
				secrets = append(secrets, string(sec.Data[k]))
			}

			// The audited reveal and reset are the only answers that show
			// the administrator's password: the first, then the new one.
			first := string(sec.Data[charts.SecretKeyWordPressAdminPassword])
			reveal := e.ok("store", "credentials", name, "--reveal", "-o", "json")
			reset := e.ok("store", "reset-password", name, "--reveal", "-o", "json")
			sec, err = e.client.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
			must(t, err)
			second := string(sec.Data[charts.SecretKeyWordPressAdminPassword])
			if !strings.Contains(reveal.stdout, first) || !strings.Contains(reset.stdout, second) || second == first {
				t.Fatalf("reveal and reset do not show the Secret's passwords:\n%s\n%s", reveal, reset)
			}
			secrets, keys = append(secrets, second), append(keys, "the reset "+charts.SecretKeyWordPressAdminPassword)
			check := func(where string, data []byte) {
				t.Helper()
				for i, s := range secrets {
					if bytes.Contains(data, []byte(s)) {
						t.Errorf("credential %s found in %s", keys[i], where)
					}
				}
			}
			// What they print besides the one password each shows.
			check("reveal stderr/logs", []byte(reveal.stderr))
			check("reset stderr/logs", []byte(reset.stderr))
			check("reveal stdout without its password", []byte(strings.ReplaceAll(reveal.stdout, first, "")))
			check("reset stdout without its password", []byte(strings.ReplaceAll(reset.stdout, second, "")))
			for _, args := range [][]string{
				{"store", "get", name, "-o", "json"}, {"audit", "-o", "json"}, {"audit", "--store", name, "-o", "json"}, {"store", "check", name, "-o", "json"},
			} {
				outputs = append(outputs, e.run(args...))
			}
			for i, r := range outputs {
				check(fmt.Sprintf("output %d stdout", i), []byte(r.stdout))
				check(fmt.Sprintf("output %d stderr/logs", i), []byte(r.stderr))
			}

			// The database: every file of SQLite, every row of PostgreSQL.
			if b.name == "sqlite" {
				files, _ := filepath.Glob(e.db + "*")
				if len(files) == 0 {
					t.Fatal("no database files")
				}
				for _, f := range files {
					data, err := os.ReadFile(f)
					must(t, err)
					check(f, data)
				}
			} else {
				check("postgres tables", dumpPostgres(t, e.db))
			}

			// Helm's release records: values and manifest of every revision.
			rels, err := e.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
			must(t, err)
			if len(rels.Items) == 0 {
				t.Fatal("no helm release records")
			}
			for _, r := range rels.Items {
				raw := decodeRelease(t, r.Data["release"])
				if !bytes.Contains(raw, []byte(`"credentialsSecret":"store-credentials"`)) {
					t.Errorf("release %s: values do not name the credentials secret", r.Name)
				}
				check("helm release "+r.Name, raw)
			}
			// Nothing else in the namespace carries them either.
			cms, err := e.client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
			must(t, err)
			pods, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			must(t, err)
			jobs, err := e.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			must(t, err)
			if !slices.ContainsFunc(jobs.Items, func(j batchv1.Job) bool { return strings.HasPrefix(j.Name, "password-reset-") }) {
				t.Error("no password reset Job to look into")
			}
			for _, obj := range []any{cms, pods, jobs} {
				data, _ := json.Marshal(obj)
				check("configmaps, pods and jobs", data)
			}
		})
	}
}

func decodeRelease(t *testing.T, data []byte) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(string(data))
	must(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(b))
	must(t, err)
	raw, err := io.ReadAll(zr)
	must(t, err)
	return raw
}

// dumpPostgres renders every row of every table in the DSN's schema.
func dumpPostgres(t *testing.T, dsn string) []byte {
	t.Helper()
	db := openRaw(t, dsn)
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	must(t, err)
	var tables []string
	for rows.Next() {
		var n string
		must(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("only %d tables in the schema", len(tables))
	}
	var out bytes.Buffer
	for _, tb := range tables {
		rows, err := db.Query(`SELECT row_to_json(t)::text FROM ` + tb + ` t`)
		must(t, err)
		for rows.Next() {
			var s string
			must(t, rows.Scan(&s))
			out.WriteString(s + "\n")
		}
		rows.Close()
	}
	return out.Bytes()
}

func openRaw(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if strings.HasPrefix(dsn, "postgres") {
		db = stdlib.OpenDB(*mustPGConfig(t, dsn))
	} else {
		db, err = sql.Open("sqlite", dsn)
		must(t, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestFailedStoreThenRetry: a store whose pods can never start ends FAILED
// within its timeout with the cause; fixed and retried, it becomes READY.
func TestFailedStoreThenRetry(t *testing.T) {
	e := newEnv(t, backends[0].dsn(t))
	e.writeConfig(oversizedPlans)
	name := "impossible"
	start := time.Now()
	r := e.run("store", "create", name, "--timeout", "20s", "--plan", "oversized")
	took := time.Since(start)
	if r.code != 1 {
		t.Fatalf("impossible store: want exit 1, got %s", r)
	}
	if took > 60*time.Second {
		t.Errorf("failure took %s, beyond its 20s timeout", took)
	}
	s, _ := e.getStore(name)
	if s.Status != store.StatusFailed || !strings.Contains(s.Error, "wordpress") || !strings.Contains(s.Error, "cpu") {
		t.Fatalf("failed store: status %s, error %q", s.Status, s.Error)
	}
	if !strings.Contains(r.stderr, s.Error) || !strings.Contains(r.stderr, "urumi store retry "+name) {
		t.Errorf("the failure message should give the reason and the way out:\n%s", r.stderr)
	}
	// The resources stay for inspection.
	if _, err := e.client.CoreV1().Namespaces().Get(context.Background(), "store-"+name, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace of a failed store: %v", err)
	}
	// Retry after the fix.
	got := decodeStore(t, e.ok("store", "retry", name, "--set", "resources.wordpress.requests.cpu=1", "-o", "json"))
	if got.Status != store.StatusReady || got.Error != "" {
		t.Fatalf("after retry: %+v", got)
	}
	e.ok("store", "delete", name)

	// A FAILED store can be deleted as it is.
	broken := "broken"
	if r := e.run("store", "create", broken, "--timeout", "5s", "--plan", "oversized"); r.code != 1 {
		t.Fatalf("broken store: %s", r)
	}
	e.ok("store", "delete", broken)
	if _, found := e.getStore(broken); found {
		t.Fatal("deleted FAILED store still listed")
	}
	if _, err := e.client.CoreV1().Namespaces().Get(context.Background(), "store-"+broken, metav1.GetOptions{}); err == nil {
		t.Fatal("namespace of the deleted FAILED store remains")
	}
}

// TestKilledMidProvisioning: a CLI killed with SIGKILL at any point leaves a
// job that the next retry (or create --wait) resumes, with nothing doubled.
func TestKilledMidProvisioning(t *testing.T) {
	for i, resume := range [][]string{{"store", "retry"}, {"store", "create"}} {
		t.Run(resume[1], func(t *testing.T) {
			e := newEnv(t, backends[i%2].dsn(t))
			name := "killed-" + resume[1]
			cmd, _ := e.start("store", "create", name)
			// Kill once provisioning has begun; the second case waits for
			// the credentials, so Helm is running when the kill lands.
			waitProvisioning(t, e, name, 1+3*i)
			must(t, cmd.Process.Signal(syscall.SIGKILL))
			_, _ = cmd.Process.Wait()
			s, _ := e.getStore(name)
			if s.Status == store.StatusReady {
				t.Skip("the store became READY before the kill landed")
			}

			r := e.ok(append(resume, name, "-o", "json")...)
			if got := decodeStore(t, r); got.Status != store.StatusReady {
				t.Fatalf("resumed store: %+v", got)
			}
			ns := "store-" + name
			ctx := context.Background()
			deps, _ := e.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			sts, _ := e.client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
			secs, _ := e.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "urumi.io/store=" + name})
			pvcs, _ := e.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
			if len(deps.Items) != 1 || len(sts.Items) != 1 || len(secs.Items) != 1 || len(pvcs.Items) != 2 {
				t.Fatalf("after resume: %d deployments, %d statefulsets, %d credential secrets, %d claims; want 1, 1, 1, 2",
					len(deps.Items), len(sts.Items), len(secs.Items), len(pvcs.Items))
			}
			db := e.openDB()
			jobs, err := db.ListJobs(ctx, name)
			must(t, err)
			if len(jobs) != 1 || jobs[0].State != store.JobSucceeded || jobs[0].Attempts < 2 {
				t.Fatalf("jobs: %+v", jobs)
			}
			attempts, err := db.Attempts(ctx, jobs[0].ID)
			must(t, err)
			if attempts[0].Outcome != "lost" || attempts[len(attempts)-1].Outcome != "succeeded" {
				t.Fatalf("attempts: %+v", attempts)
			}
			e.ok("store", "delete", name)
		})
	}
}

// TestInterrupt: Ctrl-C stops cleanly, says what state the store is in,
// and the job can be resumed at once.
func TestInterrupt(t *testing.T) {
	e := newEnv(t, backends[0].dsn(t))
	name := "interrupted"
	cmd, out := e.start("store", "create", name)
	waitProvisioning(t, e, name, 1)
	must(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if code == 0 {
		t.Skip("the store became READY before the interrupt landed")
	}
	if code != 130 || !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "urumi store retry "+name) {
		t.Fatalf("interrupt: exit %d (%v)\n%s", code, err, out)
	}
	db := e.openDB()
	job, err := db.ActiveJob(context.Background(), name)
	if err != nil || job.State != store.JobQueued {
		t.Fatalf("interrupted job should be queued again: %+v, %v", job, err)
	}
	// Resumed at once: the job was handed back, not left to expire.
	start := time.Now()
	e.ok("store", "retry", name)
	if time.Since(start) > 30*time.Second {
		t.Errorf("resume took %s", time.Since(start))
	}
	e.ok("store", "delete", name)
}

// TestQuotaRace: 50 concurrent creates for an owner with a limit of 5
// accept exactly 5, on both backends.
func TestQuotaRace(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.dsn(t))
			e.ok("quota", "set", "--owner", "racer", "--max-stores", "5")
			var wg sync.WaitGroup
			results := make([]result, 50)
			for i := range results {
				wg.Go(func() {
					results[i] = e.run("store", "create", fmt.Sprintf("race-%s-%d", b.name, i), "--owner", "racer", "--wait=false")
				})
			}
			wg.Wait()
			accepted := 0
			for _, r := range results {
				switch {
				case r.code == 0:
					accepted++
				case r.code == 4 && strings.Contains(r.stderr, `owner "racer" has 5 of 5 stores`):
				default:
					t.Errorf("unexpected result: %s", r)
				}
			}
			if accepted != 5 {
				t.Fatalf("accepted %d creates, want exactly 5", accepted)
			}
			var q store.Quota
			must(t, json.Unmarshal([]byte(e.ok("quota", "get", "--owner", "racer", "-o", "json").stdout), &q))
			if q.Used != 5 || q.MaxStores != 5 {
				t.Fatalf("quota: %+v", q)
			}
			// A store still QUEUED (nothing on the cluster yet) deletes
			// cleanly and frees its place.
			var list []store.Store
			must(t, json.Unmarshal([]byte(e.ok("store", "list", "--owner", "racer", "-o", "json").stdout), &list))
			e.ok("store", "delete", list[0].Name)
			must(t, json.Unmarshal([]byte(e.ok("quota", "get", "--owner", "racer", "-o", "json").stdout), &q))
			if q.Used != 4 {
				t.Fatalf("quota after deleting a queued store: %+v", q)
			}
		})
	}
}

// TestAuditTamper: `audit verify` finds an edited entry and a deleted one.
func TestAuditTamper(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.dsn(t))
			for _, o := range []string{"a", "b", "c"} {
				e.ok("quota", "set", "--owner", o, "--max-stores", "3")
			}
			e.ok("audit", "verify")
			db := openRaw(t, e.db)
			// An attacker with database access drops the append-only guard.
			for _, trig := range []string{"audit_log_no_update", "audit_log_no_delete"} {
				q := "DROP TRIGGER " + trig
				if b.name == "postgres" {
					q += " ON audit_log"
				}
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE id = 2`); err != nil {
				t.Fatal(err)
			}
			r := e.run("audit", "verify")
			if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "entry 2") {
				t.Fatalf("edited entry not found: %s", r)
			}
			if _, err := db.Exec(`DELETE FROM audit_log WHERE id = 2`); err != nil {
				t.Fatal(err)
			}
			if r := e.run("audit", "verify", "-o", "json"); r.code != 1 || !strings.Contains(r.stdout, `"ok": false`) {
				t.Fatalf("deleted entry not found: %s", r)
			}
		})
	}
}

func mustPGConfig(t *testing.T, dsn string) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	must(t, err)
	return cfg
}

// TestClusterProblems: an unreachable cluster and a user without the
// permissions urumi needs each fail at once with the fix, and nothing is
// recorded.
func TestClusterProblems(t *testing.T) {
	e := newEnv(t, backends[0].dsn(t))
	nobody, err := e.cl.UserKubeconfig("nobody")
	must(t, err)
	dead := filepath.Join(t.TempDir(), "dead.kubeconfig")
	must(t, os.WriteFile(dead, []byte(`apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: dead, user: {token: not-a-secret}}]
contexts: [{name: dead, context: {cluster: dead, user: dead}}]
current-context: dead
`), 0o600))
	for _, tc := range []struct {
		kubeconfig string
		code       int
		want       string
	}{
		{dead, 1, "unreachable"},
		{nobody, 5, "lacks permissions urumi needs: namespaces (get, create, patch, delete, list, watch); resourcequotas (create, patch, list, watch)"},
	} {
		r := e.run("store", "create", "nowhere", "--kubeconfig", tc.kubeconfig)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("create with %s: want exit %d and %q, got %s", filepath.Base(tc.kubeconfig), tc.code, tc.want, r)
		}
		if _, found := e.getStore("nowhere"); found {
			t.Fatalf("a store was recorded although the cluster could not take it")
		}
	}
}

// TestLeastPrivilege: a kubeconfig user granted what `urumi rbac` prints,
// exactly the rules urumi's preflight checks (provision.Rules), and held to
// its stores' namespaces by the boundary policy printed with them, can create
// a store that fails, have the failure diagnosed, retry it to READY and
// delete it: the preflight asks for everything urumi then does, so a user
// who passes it is never stopped half-way by a missing permission.
func TestLeastPrivilege(t *testing.T) {
	e := newEnv(t, backends[0].dsn(t))
	ctx := context.Background()
	// What `urumi rbac` prints, as kubectl apply would create it: the
	// role and its binding, and the boundary policy and its binding.
	grantRBAC(t, e, "--user", "operator", "--name", "urumi-operator")
	kubeconfig, err := e.cl.UserKubeconfig("operator")
	must(t, err)
	e.extra = append(e.extra, "KUBECONFIG="+kubeconfig)

	name := "least"
	e.writeConfig(oversizedPlans)
	r := e.run("store", "create", name, "--timeout", "15s", "--plan", "oversized")
	if r.code != 1 || strings.Contains(r.stderr, `"operator" cannot`) {
		t.Fatalf("impossible store as the least-privileged user: want exit 1 without anything forbidden, got %s", r)
	}
	if s, _ := e.getStore(name); s.Status != store.StatusFailed || !strings.Contains(s.Error, "cpu") {
		t.Fatalf("failed store: status %s, error %q: the diagnosis should name the cause", s.Status, s.Error)
	}
	if got := decodeStore(t, e.ok("store", "retry", name, "--set", "resources.wordpress.requests.cpu=1", "-o", "json")); got.Status != store.StatusReady {
		t.Fatalf("after retry: %+v", got)
	}
	e.ok("store", "delete", name)
	if _, err := e.client.CoreV1().Namespaces().Get(ctx, "store-"+name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace after delete: %v", err)
	}
}

// waitProvisioning watches the database (a process per poll would be too
// slow to see a window of a second) until the store is PROVISIONING with at
// least phases phases done. If it is READY first, the test cannot do what
// it means to and skips.
func waitProvisioning(t *testing.T, e *env, name string, phases int) {
	t.Helper()
	db := e.openDB()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		s, err := db.GetStore(context.Background(), name)
		switch {
		case err != nil:
		case s.Status == store.StatusReady:
			t.Skipf("store %s became READY before the signal could land", name)
		case s.Status == store.StatusProvisioning && len(s.Phases) >= phases:
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("store %s was not provisioning with %d phases done within a minute", name, phases)
}

// TestDeleteDuringCreate: deleting a store while another process is still
// creating it stops the create promptly and removes everything.
func TestDeleteDuringCreate(t *testing.T) {
	e := newEnv(t, backends[1].dsn(t))
	name := "short-lived"
	cmd, out := e.start("store", "create", name)
	waitProvisioning(t, e, name, 1)
	e.ok("store", "delete", name)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the superseded create did not stop")
	}
	if code := cmd.ProcessState.ExitCode(); code == 0 && !strings.Contains(out.String(), "READY") {
		t.Fatalf("create: exit 0 without READY:\n%s", out)
	} else if code != 0 && !strings.Contains(out.String(), "another request took over store "+name) {
		t.Fatalf("create should say what happened:\n%s", out)
	}
	if _, found := e.getStore(name); found {
		t.Fatal("store still listed after delete")
	}
	if _, err := e.client.CoreV1().Namespaces().Get(context.Background(), "store-"+name, metav1.GetOptions{}); err == nil {
		t.Fatal("namespace remains after delete")
	}
}
