package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// TestStoreLifecycleOverHTTP: an owner creates, lists, gets and deletes a
// store over HTTP; it reaches READY on the cluster and is then gone.
// Another owner gets 404 for it, no or a wrong token 401; /metrics shows
// the run's phase histograms; SIGTERM stops the server cleanly.
func TestStoreLifecycleOverHTTP(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	kube := kubernetes.NewForConfigOrDie(c.Config)
	environ := env(t, c)
	db := filepath.Join(t.TempDir(), "urumi.db")
	alice := token(t, environ, db, "alice", false)
	bob := token(t, environ, db, "bob", false)
	srv := startServer(t, "lifecycle", environ, "--db", db, "--workers", "2", "--timeout", "2m")
	as := srv.as(t, alice)
	const name = "life-shop"

	must(t, srv.as(t, "").do("GET", "/v1/stores", nil), http.StatusUnauthorized)
	must(t, srv.as(t, alice[:len(alice)-2]+"xx").do("GET", "/v1/stores", nil), http.StatusUnauthorized)
	must(t, srv.as(t, "urumi_0123456789ab_nope").do("POST", "/v1/stores", map[string]any{"name": name}), http.StatusUnauthorized)

	var created store.Store
	must(t, as.do("POST", "/v1/stores", map[string]any{"name": name}), http.StatusAccepted).into(t, &created)
	if created.Status != store.StatusQueued || created.Owner != "alice" {
		t.Fatalf("created %+v", created)
	}
	var list []store.Store
	must(t, as.do("GET", "/v1/stores", nil), http.StatusOK).into(t, &list)
	if len(list) != 1 || list[0].Name != name {
		t.Fatalf("list %+v", list)
	}

	var st store.Store
	eventually(t, 2*time.Minute, "store READY", func() (bool, string) {
		st, _ = getStore(t, as, name)
		if st.Status == store.StatusFailed {
			t.Fatalf("store failed: %s", st.Error)
		}
		return st.Status == store.StatusReady, string(st.Status)
	})
	if st.URL != "http://life-shop.localhost" || len(st.Phases) != 5 {
		t.Errorf("ready store %+v", st)
	}
	if _, err := kube.CoreV1().Namespaces().Get(context.Background(), "store-"+name, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace of a READY store: %v", err)
	}

	// Bob cannot see, delete or retry it: to him it does not exist.
	asBob := srv.as(t, bob)
	for _, r := range []reply{
		asBob.do("GET", "/v1/stores/"+name, nil),
		asBob.do("DELETE", "/v1/stores/"+name, nil),
		asBob.do("POST", "/v1/stores/"+name+"/retry", nil),
	} {
		if r.status != http.StatusNotFound || r.code() != "not_found" {
			t.Errorf("bob: %d %s", r.status, r.body)
		}
	}
	must(t, asBob.do("GET", "/v1/stores", nil), http.StatusOK).into(t, &list)
	if len(list) != 0 {
		t.Errorf("bob lists %+v", list)
	}

	metrics := string(must(t, srv.as(t, "").do("GET", "/metrics", nil), http.StatusOK).body)
	for _, phase := range []string{"namespace", "quota", "network-policies", "credentials", "helm-install"} {
		want := fmt.Sprintf(`urumi_provision_phase_duration_seconds_count{kind="create",phase=%q,result="done"} 1`, phase)
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(metrics, `urumi_jobs_finished_total{kind="create",outcome="succeeded"} 1`) {
		t.Error("/metrics lacks the job outcome")
	}

	var deleting store.Store
	must(t, as.do("DELETE", "/v1/stores/"+name, nil), http.StatusAccepted).into(t, &deleting)
	if deleting.Status != store.StatusDeleting {
		t.Fatalf("after DELETE: %+v", deleting)
	}
	eventually(t, 2*time.Minute, "store gone", func() (bool, string) {
		st, exists := getStore(t, as, name)
		return !exists, string(st.Status)
	})
	if _, err := kube.CoreV1().Namespaces().Get(context.Background(), "store-"+name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace after delete: %v", err)
	}

	var audit []store.AuditEntry
	must(t, as.do("GET", "/v1/audit?store="+name, nil), http.StatusOK).into(t, &audit)
	var got []string
	for _, e := range audit {
		if e.Actor != "alice" {
			t.Errorf("audit entry by %q: %+v", e.Actor, e)
		}
		got = append(got, e.Action+":"+e.Outcome)
	}
	if want := []string{"create:requested", "create:succeeded", "delete:requested", "delete:succeeded"}; !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}

	// A revoked token stops working at once.
	aliceID := alice[len("urumi_") : len("urumi_")+12]
	urumi(t, environ, "token", "revoke", "--db", db, aliceID)
	must(t, as.do("GET", "/v1/stores", nil), http.StatusUnauthorized)
	var tokens []store.Token
	if err := json.Unmarshal([]byte(urumi(t, environ, "token", "list", "--db", db, "-o", "json")), &tokens); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if (tok.ID == aliceID) == tok.RevokedAt.IsZero() || tok.LastUsedAt.IsZero() {
			t.Errorf("token list: %+v", tok)
		}
	}

	if err := srv.stop(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: server exited with %v", err)
	}
	if !strings.Contains(srv.log.String(), `"msg":"stopped"`) {
		t.Error("the server did not log a clean stop")
	}
	for _, line := range strings.Split(srv.log.String(), "\n") {
		if strings.Contains(line, alice) || strings.Contains(line, bob) || strings.Contains(line, alice[19:]) {
			t.Fatalf("a token is in the log: %s", line)
		}
	}
}

// TestReplicasShareTheQueueAndSurviveAKill: three servers on one
// PostgreSQL schema take 30 creates; one is SIGKILLed while it holds jobs.
// Every store ends READY, no job ever had two overlapping attempts, and the
// killed server's jobs were finished by the others after their leases ran
// out.
func TestReplicasShareTheQueueAndSurviveAKill(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	dsn := storetest.PostgresDSN(t)
	environ := env(t, c)
	admin := token(t, environ, dsn, "ops", true)
	owner := token(t, environ, dsn, "replica-owner", false)
	var servers []*serverProc
	for i := range 3 {
		servers = append(servers, startServer(t, fmt.Sprintf("replica-%d", i), environ,
			"--db", dsn, "--workers", "3", "--lease", "3s", "--timeout", "2m", "--create-rate", "0"))
	}
	must(t, servers[0].as(t, admin).do("PUT", "/v1/quotas/replica-owner", map[string]any{"maxStores": 30}), http.StatusOK)

	const n = 30
	names := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		names[i] = fmt.Sprintf("replica-%02d", i)
		wg.Go(func() {
			r := servers[i%3].as(t, owner).do("POST", "/v1/stores", map[string]any{"name": names[i], "plan": "small"})
			if r.status != http.StatusAccepted {
				t.Errorf("create %s on replica %d: %d %s", names[i], i%3, r.status, r.body)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Kill replica 0 once it holds running jobs.
	db := openDB(t, environ, dsn)
	victim := servers[0]
	victimTag := fmt.Sprintf("-%d-", victim.pid())
	victimJobs := func() []store.Job {
		var held []store.Job
		for _, name := range names {
			job, err := db.ActiveJob(context.Background(), name)
			if err == nil && job.State == store.JobRunning && strings.Contains(job.LeaseOwner, victimTag) {
				held = append(held, job)
			}
		}
		return held
	}
	eventually(t, time.Minute, "replica 0 running a job", func() (bool, string) {
		return len(victimJobs()) > 0, ""
	})
	victim.kill()
	// What it held when it died (its leases outlive it by 2s at least, so
	// nobody has taken them over yet).
	held := victimJobs()
	if len(held) == 0 {
		t.Fatal("replica 0 finished its jobs before it could be killed: nothing to resume")
	}
	t.Logf("killed replica 0 (pid %d) holding the jobs of %d stores", victim.pid(), len(held))

	as := servers[1].as(t, owner)
	eventually(t, 3*time.Minute, "every store READY", func() (bool, string) {
		var list []store.Store
		r := as.do("GET", "/v1/stores", nil)
		if r.status != http.StatusOK {
			return false, string(r.body)
		}
		r.into(t, &list)
		ready := 0
		for _, s := range list {
			if s.Status == store.StatusFailed {
				t.Fatalf("store %s FAILED: %s", s.Name, s.Error)
			}
			if s.Status == store.StatusReady {
				ready++
			}
		}
		return ready == n, fmt.Sprintf("%d of %d READY", ready, n)
	})

	// The records: per job, attempts one after another, exactly one of them
	// succeeded; per worker, never two jobs at once.
	byWorker := map[string][]store.Attempt{}
	heldIDs := map[int64]bool{}
	for _, j := range held {
		heldIDs[j.ID] = true
	}
	resumed := 0
	for _, name := range names {
		jobs, err := db.ListJobs(context.Background(), name)
		if err != nil || len(jobs) != 1 || jobs[0].State != store.JobSucceeded {
			t.Fatalf("jobs of %s: %+v %v", name, jobs, err)
		}
		attempts, err := db.Attempts(context.Background(), jobs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		succeeded := 0
		for i, a := range attempts {
			byWorker[a.Worker] = append(byWorker[a.Worker], a)
			if a.EndedAt.IsZero() {
				t.Errorf("%s: attempt %d by %s never ended", name, a.Attempt, a.Worker)
			}
			if a.Outcome == "succeeded" {
				succeeded++
			}
			if i > 0 && a.StartedAt.Before(attempts[i-1].EndedAt) {
				t.Errorf("%s: attempt %d (%s) started %s before attempt %d (%s) ended %s",
					name, a.Attempt, a.Worker, a.StartedAt, attempts[i-1].Attempt, attempts[i-1].Worker, attempts[i-1].EndedAt)
			}
		}
		last := attempts[len(attempts)-1]
		if succeeded != 1 || last.Outcome != "succeeded" {
			t.Errorf("%s: attempts %+v", name, attempts)
		}
		if heldIDs[jobs[0].ID] {
			resumed++
			first := attempts[0]
			if len(attempts) < 2 || !strings.Contains(first.Worker, victimTag) || first.Outcome != "lost" || strings.Contains(last.Worker, victimTag) {
				t.Errorf("%s was held by the killed replica: attempts %+v", name, attempts)
			}
			if gap := last.StartedAt.Sub(first.StartedAt); gap < 2*time.Second {
				t.Errorf("%s was taken over %s after the killed replica claimed it: before its 3s lease could expire", name, gap)
			}
		}
	}
	if resumed != len(held) || resumed == 0 {
		t.Errorf("%d of the %d jobs the killed replica held were resumed", resumed, len(held))
	}
	for w, as := range byWorker {
		slices.SortFunc(as, func(a, b store.Attempt) int { return a.StartedAt.Compare(b.StartedAt) })
		for i := 1; i < len(as); i++ {
			if as[i].StartedAt.Before(as[i-1].EndedAt) {
				t.Errorf("worker %s ran jobs %d and %d at once", w, as[i-1].JobID, as[i].JobID)
			}
		}
	}
	processes := map[string]bool{}
	for w := range byWorker {
		processes[w[:strings.LastIndex(w, "-w")]] = true
	}
	if len(processes) != 3 {
		t.Errorf("jobs ran in %d processes, want all 3: %v", len(processes), processes)
	}
}

// TestQuotaAndRateLimitAcrossReplicas: 20 concurrent creates by one owner
// spread over three API-only replicas: exactly the quota's 5 are accepted.
// A replica with a create rate of 2 per minute (set through URUMI_*)
// answers the third create with 429 and Retry-After.
func TestQuotaAndRateLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	dsn := storetest.PostgresDSN(t)
	environ := env(t, c)
	owner := token(t, environ, dsn, "quota-owner", false)
	var servers []*serverProc
	for i := range 3 {
		servers = append(servers, startServer(t, fmt.Sprintf("quota-%d", i), environ,
			"--db", dsn, "--workers", "0", "--create-rate", "0"))
	}
	var (
		mu    sync.Mutex
		codes = map[string]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range 20 {
		wg.Go(func() {
			<-start
			r := servers[i%3].as(t, owner).do("POST", "/v1/stores", map[string]any{"name": fmt.Sprintf("quota-%02d", i)})
			mu.Lock()
			defer mu.Unlock()
			codes[strconv.Itoa(r.status)+" "+r.code()]++
		})
	}
	close(start)
	wg.Wait()
	if codes["202 "] != 5 || codes["409 quota_exceeded"] != 15 {
		t.Fatalf("20 concurrent creates: %v, want 5 accepted and 15 quota_exceeded", codes)
	}
	db := openDB(t, environ, dsn)
	list, err := db.ListStores(context.Background(), store.ListFilter{Owner: "quota-owner"})
	if err != nil || len(list) != 5 {
		t.Fatalf("stores in the database: %d %v", len(list), err)
	}

	// Each replica keeps tokens and the stores' generation in memory,
	// following the database's change notifications: a store created
	// through one replica is listed by it at once and by the others as
	// soon as the notification arrives, and a token revoked from the CLI
	// is refused by every replica.
	feedTok := token(t, environ, dsn, "feed-owner", false)
	for _, srv := range servers {
		must(t, srv.as(t, feedTok).do("GET", "/v1/stores", nil), http.StatusOK) // the token is now kept
	}
	must(t, servers[0].as(t, feedTok).do("POST", "/v1/stores", map[string]any{"name": "feed-1"}), http.StatusAccepted)
	listed := func(srv *serverProc) (bool, string) {
		var list []store.Store
		must(t, srv.as(t, feedTok).do("GET", "/v1/stores", nil), http.StatusOK).into(t, &list)
		return len(list) == 1 && list[0].Name == "feed-1", fmt.Sprintf("%d stores listed", len(list))
	}
	if ok, got := listed(servers[0]); !ok {
		t.Fatalf("the replica that created feed-1 does not list it at once: %s", got)
	}
	for _, srv := range servers[1:] {
		eventually(t, 10*time.Second, "another replica lists feed-1", func() (bool, string) { return listed(srv) })
	}
	urumi(t, environ, "token", "revoke", "--db", dsn, feedTok[len("urumi_"):len("urumi_")+12])
	for _, srv := range servers {
		eventually(t, 10*time.Second, "a replica refuses the revoked token", func() (bool, string) {
			r := srv.as(t, feedTok).do("GET", "/v1/stores", nil)
			return r.status == http.StatusUnauthorized, fmt.Sprint("status ", r.status)
		})
	}

	limited := startServer(t, "rate", append(environ, "URUMI_CREATE_RATE=2"), "--db", dsn, "--workers", "0")
	rater := limited.as(t, token(t, environ, dsn, "rate-owner", false))
	must(t, rater.do("POST", "/v1/stores", map[string]any{"name": "rate-1"}), http.StatusAccepted)
	must(t, rater.do("POST", "/v1/stores", map[string]any{"name": "rate-2"}), http.StatusAccepted)
	r := must(t, rater.do("POST", "/v1/stores", map[string]any{"name": "rate-3"}), http.StatusTooManyRequests)
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 30 || r.code() != "rate_limited" {
		t.Fatalf("429 with Retry-After %q: %s", r.header.Get("Retry-After"), r.body)
	}
}

// TestReadyzFollowsTheDatabase: /readyz answers 503, naming the database
// check (its detail goes to the log), while PostgreSQL refuses the server's
// connections, and 200 again once it accepts them; /healthz stays 200
// throughout.
func TestReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	admin, u := storetest.PostgresAdmin(t)
	dbName := "urumi_ready_" + storetest.RandomSuffix()
	if _, err := admin.Exec("CREATE DATABASE " + dbName); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + dbName + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", dbName, err)
		}
	})
	u.Path = "/" + dbName
	dsn := u.String()
	srv := startServer(t, "ready", env(t, c), "--db", dsn, "--workers", "1")
	anon := srv.as(t, "")
	readyz := func() (int, string) {
		r := anon.do("GET", "/readyz", nil)
		return r.status, string(r.body)
	}
	if status, body := readyz(); status != http.StatusOK || !strings.Contains(body, `"name":"cluster","ok":true`) {
		t.Fatalf("readyz: %d %s", status, body)
	}

	// Take the database away: refuse new connections, end the open ones.
	if _, err := admin.Exec("ALTER DATABASE " + dbName + " ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbName); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "readyz 503", func() (bool, string) {
		status, body := readyz()
		return status == http.StatusServiceUnavailable && strings.Contains(body, `"name":"database","ok":false`), body
	})
	// Anyone may ask: the answer names the failed check, never the
	// database's name or address; the server's log has them.
	_, body := readyz()
	if !strings.Contains(body, `"name":"database","ok":false,"error":"`) || !strings.Contains(body, `"name":"cluster","ok":true`) {
		t.Errorf("readyz does not say what is wrong: %s", body)
	}
	if strings.Contains(body, dbName) || strings.Contains(body, u.Host) {
		t.Errorf("readyz tells anonymous callers the database's name or address: %s", body)
	}
	if !strings.Contains(srv.log.String(), dbName) {
		t.Errorf("the server's log lacks the failed check's detail:\n%s", tail(srv.log.String(), 20))
	}
	must(t, anon.do("GET", "/healthz", nil), http.StatusOK)

	if _, err := admin.Exec("ALTER DATABASE " + dbName + " ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "readyz 200 again", func() (bool, string) {
		status, body := readyz()
		return status == http.StatusOK, body
	})
}

// TestGracefulShutdown: on SIGTERM a running job finishes within the grace
// period; with no grace it is released, and the next server resumes it.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	environ := env(t, c)
	dbPath := filepath.Join(t.TempDir(), "urumi.db")
	tok := token(t, environ, dbPath, "grace-owner", false)

	waitProvisioning := func(srv *serverProc, name string) {
		t.Helper()
		must(t, srv.as(t, tok).do("POST", "/v1/stores", map[string]any{"name": name}), http.StatusAccepted)
		eventually(t, 30*time.Second, name+" PROVISIONING", func() (bool, string) {
			st, _ := getStore(t, srv.as(t, tok), name)
			return st.Status == store.StatusProvisioning, string(st.Status)
		})
	}

	// With a grace period, the job finishes before the process exits.
	srv := startServer(t, "grace", environ, "--db", dbPath, "--workers", "1", "--timeout", "2m", "--shutdown-grace", "1m")
	waitProvisioning(srv, "grace-finish")
	if err := srv.stop(time.Minute); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	db := openDB(t, environ, dbPath)
	st, err := db.GetStore(context.Background(), "grace-finish")
	if err != nil || st.Status != store.StatusReady {
		t.Fatalf("after a graceful stop: %+v %v", st, err)
	}

	// Without one, the job is handed back to the queue...
	srv = startServer(t, "no-grace", environ, "--db", dbPath, "--workers", "1", "--timeout", "2m", "--shutdown-grace", "0s")
	waitProvisioning(srv, "grace-release")
	if err := srv.stop(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	jobs, err := db.ListJobs(context.Background(), "grace-release")
	if err != nil || len(jobs) != 1 || jobs[0].State != store.JobQueued {
		t.Fatalf("job after an interrupted stop: %+v %v", jobs, err)
	}
	attempts, err := db.Attempts(context.Background(), jobs[0].ID)
	if err != nil || len(attempts) != 1 || attempts[0].Outcome != "released" {
		t.Fatalf("attempts after an interrupted stop: %+v %v", attempts, err)
	}
	// ...and the next server resumes it.
	srv = startServer(t, "resume", environ, "--db", dbPath, "--workers", "1", "--timeout", "2m")
	eventually(t, 2*time.Minute, "resumed store READY", func() (bool, string) {
		st, _ := getStore(t, srv.as(t, tok), "grace-release")
		return st.Status == store.StatusReady, string(st.Status)
	})
}

// TestServeRefusesMissingPermissions: a server whose workers could provision
// nothing stops at start, naming what its user lacks and how to grant it; an
// API-only replica (--workers 0) touches no store on the cluster and starts.
func TestServeRefusesMissingPermissions(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	kubeconfig, err := c.UserKubeconfig("no-rights")
	if err != nil {
		t.Fatal(err)
	}
	environ := env(t, c, "KUBECONFIG="+kubeconfig)
	dbPath := filepath.Join(t.TempDir(), "urumi.db")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--addr", "127.0.0.1:0", "--db", dbPath, "--workers", "2")
	cmd.Env = environ
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 5 {
		t.Fatalf("serve as a user without permissions: want exit 5, got %v\n%s", err, out)
	}
	for _, s := range []string{"lacks permissions urumi needs: namespaces (get, create, patch, delete, list, watch)", "urumi rbac"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("serve's error does not say %q:\n%s", s, out)
		}
	}
	if strings.Contains(string(out), `msg=listening`) {
		t.Errorf("serve listened before refusing:\n%s", out)
	}

	srv := startServer(t, "api-only", environ, "--db", dbPath, "--workers", "0")
	must(t, srv.as(t, "").do("GET", "/healthz", nil), http.StatusOK)
}
