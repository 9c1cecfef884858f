package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// The fault suite (issue 14): each test provisions stores while something
// urumi depends on fails, and ends with checkInvariants.

// checkInvariants is how every fault test ends. Of the stores whose names
// start with prefix: each is READY, or FAILED with a reason; no job is
// still queued or running and no attempt is left open (every lease was
// recovered); no namespace or Helm release is without its store record;
// every READY store has its objects on the cluster; each store's outcome
// is in the audit log, and the log verifies. It returns the stores.
func checkInvariants(t *testing.T, e *env, prefix string) []store.Store {
	t.Helper()
	ctx := context.Background()
	db := e.openDB()
	all, err := db.ListStores(ctx, store.ListFilter{})
	must(t, err)
	var stores []store.Store
	live := map[string]store.Store{}
	for _, s := range all {
		if strings.HasPrefix(s.Name, prefix) {
			stores = append(stores, s)
			live[s.Name] = s
		}
	}

	for _, s := range stores {
		switch {
		case s.Status == store.StatusReady:
		case s.Status == store.StatusFailed && s.Error != "":
		default:
			t.Errorf("store %s is %s (error %q): want READY, or FAILED with a reason", s.Name, s.Status, s.Error)
		}
		jobs, err := db.ListJobs(ctx, s.Name)
		must(t, err)
		for _, j := range jobs {
			if j.State == store.JobQueued || j.State == store.JobRunning {
				t.Errorf("store %s: %s job %d is still %s (lease %q)", s.Name, j.Kind, j.ID, j.State, j.LeaseOwner)
			}
			attempts, err := db.Attempts(ctx, j.ID)
			must(t, err)
			for _, a := range attempts {
				if a.EndedAt.IsZero() {
					t.Errorf("store %s: attempt %d of job %d (worker %s) was never closed", s.Name, a.Attempt, j.ID, a.Worker)
				}
			}
		}
	}
	// Jobs of stores deleted since are counted here too.
	stats, err := db.QueueStats(ctx)
	must(t, err)
	if n := stats.ByState[store.JobQueued] + stats.ByState[store.JobRunning]; n != 0 {
		t.Errorf("%d jobs still queued or running: %+v", n, stats.ByState)
	}

	// Nothing on the cluster without its record.
	nss, err := e.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{
		LabelSelector: provision.LabelManagedBy + "=" + provision.ManagedBy})
	must(t, err)
	for _, ns := range nss.Items {
		name := ns.Labels[provision.LabelStore]
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if _, ok := live[name]; !ok {
			t.Errorf("namespace %s (%s) has no store record", ns.Name, ns.Status.Phase)
		}
	}
	rels, err := e.client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	must(t, err)
	for _, r := range rels.Items {
		name := strings.TrimPrefix(r.Namespace, "store-")
		if !strings.HasPrefix(r.Namespace, "store-"+prefix) {
			continue
		}
		if _, ok := live[name]; !ok {
			t.Errorf("Helm release record %s/%s (%s) has no store record", r.Namespace, r.Name, r.Labels["status"])
		}
	}

	// Every READY store's objects.
	for _, s := range stores {
		if s.Status != store.StatusReady {
			continue
		}
		ns := "store-" + s.Name
		if n, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil || n.DeletionTimestamp != nil {
			t.Errorf("READY store %s: namespace: %v", s.Name, err)
			continue
		}
		deployed, err := e.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,status=deployed"})
		must(t, err)
		_, depErr := e.client.AppsV1().Deployments(ns).Get(ctx, "wordpress", metav1.GetOptions{})
		_, stsErr := e.client.AppsV1().StatefulSets(ns).Get(ctx, "mariadb", metav1.GetOptions{})
		_, secErr := e.client.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
		quotas, qErr := e.client.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
		pols, pErr := e.client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
		if len(deployed.Items) != 1 || depErr != nil || stsErr != nil || secErr != nil || qErr != nil || pErr != nil ||
			len(quotas.Items) == 0 || len(pols.Items) == 0 {
			var revisions []string
			if all, err := e.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"}); err == nil {
				for _, r := range all.Items {
					revisions = append(revisions, r.Labels["version"]+":"+r.Labels["status"])
				}
			}
			t.Errorf("READY store %s (revision %d) lacks objects: %d deployed releases (revisions %v), wordpress %v, mariadb %v, credentials %v, %d quotas, %d policies",
				s.Name, s.Release.Revision, len(deployed.Items), revisions, depErr, stsErr, secErr, len(quotas.Items), len(pols.Items))
		}
	}

	// The audit log: intact, with each store's outcome.
	if r := e.run("audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "intact") {
		t.Errorf("audit verify: %s", r)
	}
	for _, s := range stores {
		entries, err := db.ListAudit(ctx, store.AuditFilter{Store: s.Name})
		must(t, err)
		want := map[store.Status]string{store.StatusReady: "succeeded", store.StatusFailed: "failed"}[s.Status]
		found := false
		for _, a := range entries {
			found = found || (a.Outcome == want && (a.Action == "create" || s.Status == store.StatusFailed))
		}
		if want != "" && !found {
			t.Errorf("store %s is %s but the audit log has no %s outcome for it", s.Name, s.Status, want)
		}
	}
	return stores
}

// queueStores records n creates (prefix-00, prefix-01, ...) for workers
// to run, several at a time, as clients would send them.
func queueStores(t *testing.T, e *env, prefix string, n int) []string {
	t.Helper()
	e.ok("quota", "set", "--owner", "tester", "--max-stores", strconv.Itoa(n))
	names := make([]string, n)
	results := make([]result, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%02d", prefix, i)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = e.run("store", "create", names[i], "--wait=false")
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("queue %s: %s", names[i], r)
		}
	}
	return names
}

// progress counts the stores of names by status.
func progress(ctx context.Context, db store.DB, names []string) (map[store.Status]int, error) {
	counts := map[store.Status]int{}
	for _, n := range names {
		s, err := db.GetStore(ctx, n)
		if err != nil {
			return nil, err
		}
		counts[s.Status]++
	}
	return counts, nil
}

// waitMidway waits until some of names are READY and others still on
// their way: the moment a fault should land.
func waitMidway(t *testing.T, db store.DB, names []string, logs fmt.Stringer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	waitFor(ctx, t, "some stores READY and others on their way", func() (bool, error) {
		c, err := progress(ctx, db, names)
		if err != nil {
			return false, err
		}
		if c[store.StatusReady] == len(names) {
			t.Fatalf("every store was READY before the fault could land; serve:\n%s", logs)
		}
		return c[store.StatusReady] >= 2 && c[store.StatusReady]+c[store.StatusFailed] < len(names)-3, nil
	})
}

// waitSettled waits until none of names is queued or on its way.
func waitSettled(t *testing.T, db store.DB, names []string, within time.Duration, logs fmt.Stringer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last map[store.Status]int
	var lastErr error
	for {
		c, err := progress(ctx, db, names)
		if err == nil && c[store.StatusReady]+c[store.StatusFailed] == len(names) {
			return
		}
		last, lastErr = c, err
		select {
		case <-ctx.Done():
			t.Fatalf("stores not settled within %s: %v (last error %v); logs:\n%s", within, last, lastErr, logs)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveProc starts `urumi serve` with workers; its output goes to logs.
func (e *env) serveProc(logs *lockedBuffer, workers int) *exec.Cmd {
	e.t.Helper()
	cmd := exec.Command(e.bin, "serve", "--addr", "127.0.0.1:0", "--workers", strconv.Itoa(workers))
	cmd.Env = e.environ()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	return cmd
}

// allReady fails the test for every store that is not READY: in these
// tests nothing was wrong with the stores, only with what urumi uses.
func allReady(t *testing.T, stores []store.Store, n int) {
	t.Helper()
	if len(stores) != n {
		t.Errorf("%d stores, want %d", len(stores), n)
	}
	for _, s := range stores {
		if s.Status != store.StatusReady {
			t.Errorf("store %s is %s: %s", s.Name, s.Status, s.Error)
		}
	}
}

// TestPostgresRestartMidJobs: the PostgreSQL server holding urumi's state
// (one of the test's own) is restarted, refusing connections for a few
// seconds, while a serve's workers run 20 creates. The workers reconnect
// and finish every store.
func TestPostgresRestartMidJobs(t *testing.T) {
	start := time.Now()
	pg := storetest.StartPostgres(t)
	e := newEnv(t, pg.DSN())
	names := queueStores(t, e, "pgr", 20)
	logs := &lockedBuffer{}
	e.serveProc(logs, 5)
	db := e.openDB()
	waitMidway(t, db, names, logs)
	c, _ := progress(context.Background(), db, names)
	t.Logf("restarting PostgreSQL with %v", c)
	pg.Restart(3 * time.Second)
	waitSettled(t, db, names, 5*time.Minute, logs)
	allReady(t, checkInvariants(t, e, "pgr-"), len(names))
	lost := strings.Count(logs.String(), "SQLSTATE 57P01") + strings.Count(logs.String(), "connection refused")
	if lost == 0 {
		t.Errorf("serve's log shows no lost connection: did the restart land?\n%s", logs)
	}
	t.Logf("%d database errors in serve's log; took %s", lost, time.Since(start).Round(time.Second))
}

// TestAPIServerRestartMidInstalls: kube-apiserver is restarted while a
// serve's workers run 20 creates. The workers reconnect and finish every
// store.
func TestAPIServerRestartMidInstalls(t *testing.T) {
	start := time.Now()
	e := newEnv(t, storetest.PostgresDSN(t))
	names := queueStores(t, e, "apir", 20)
	logs := &lockedBuffer{}
	e.serveProc(logs, 5)
	db := e.openDB()
	waitMidway(t, db, names, logs)
	c, _ := progress(context.Background(), db, names)
	t.Logf("restarting kube-apiserver with %v", c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	must(t, e.cl.RestartAPIServer(ctx))
	waitSettled(t, db, names, 5*time.Minute, logs)
	stores := checkInvariants(t, e, "apir-")
	allReady(t, stores, len(names))
	t.Logf("%d steps ran again after meeting the restarting API server; took %s",
		strings.Count(logs.String(), "cluster unavailable; the step runs again"), time.Since(start).Round(time.Second))
}

// TestServeReplicasKilled: three serve replicas on PostgreSQL run 30
// creates while one of them, in turn, is killed with SIGKILL every few
// seconds and started again. Every job is taken over when its lease runs
// out, and every store ends READY.
func TestServeReplicasKilled(t *testing.T) {
	start := time.Now()
	e := newEnv(t, storetest.PostgresDSN(t))
	names := queueStores(t, e, "kill", 30)
	logs := &lockedBuffer{}
	replicas := make([]*exec.Cmd, 3)
	for i := range replicas {
		replicas[i] = e.serveProc(logs, 4)
	}
	db := e.openDB()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	kills := 0
	for {
		c, err := progress(ctx, db, names)
		if err == nil && c[store.StatusReady]+c[store.StatusFailed] == len(names) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stores not settled with replicas being killed: %v (%v); logs:\n%s", c, err, logs)
		case <-time.After(4 * time.Second):
		}
		i := kills % len(replicas)
		must(t, replicas[i].Process.Signal(syscall.SIGKILL))
		_, _ = replicas[i].Process.Wait()
		replicas[i] = e.serveProc(logs, 4)
		kills++
	}
	if kills < 3 {
		t.Errorf("only %d kills landed before the stores settled", kills)
	}
	stores := checkInvariants(t, e, "kill-")
	allReady(t, stores, len(names))
	lost := 0
	for _, s := range stores {
		jobs, err := db.ListJobs(context.Background(), s.Name)
		must(t, err)
		for _, j := range jobs {
			if j.Attempts > 1 {
				lost++
			}
		}
	}
	t.Logf("%d kills; %d jobs were taken over after a kill; took %s", kills, lost, time.Since(start).Round(time.Second))
	if lost == 0 {
		t.Error("no job was taken over: the kills did not land on running jobs")
	}
}

// TestDeleteDuringCreateUnderLoad: stores deleted while a serve's workers
// are still creating them, among other creates. Each delete finishes;
// when one fails, its message reads as one sentence with its cause, not a
// diagnosis of pods glued to a Helm error.
func TestDeleteDuringCreateUnderLoad(t *testing.T) {
	start := time.Now()
	e := newEnv(t, storetest.PostgresDSN(t))
	names := queueStores(t, e, "dwc", 12)
	logs := &lockedBuffer{}
	e.serveProc(logs, 6)
	db := e.openDB()
	victims := []string{names[1], names[4], names[7], names[10]}
	var wg sync.WaitGroup
	results := make([]result, len(victims))
	for i, v := range victims {
		wg.Go(func() {
			// Delete once its creation is under way.
			deadline := time.Now().Add(3 * time.Minute)
			for {
				s, err := db.GetStore(context.Background(), v)
				if err == nil && s.Status != store.StatusQueued {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s was not taken up within 3 minutes: %+v, %v", v, s, err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			results[i] = e.run("store", "delete", v)
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("delete %s: %s", victims[i], r)
			msg := r.stderr
			if strings.Count(msg, "(") != strings.Count(msg, ")") || strings.Contains(msg, "cannot be scheduled") ||
				strings.Contains(msg, "PersistentVolumeClaims.") {
				t.Errorf("delete %s: the message does not read cleanly:\n%s", victims[i], msg)
			}
		}
		if _, err := db.GetStore(context.Background(), victims[i]); err == nil {
			t.Errorf("store %s still recorded after its delete", victims[i])
		}
	}
	waitSettled(t, db, withoutNames(names, victims), 5*time.Minute, logs)
	stores := checkInvariants(t, e, "dwc-")
	allReady(t, stores, len(names)-len(victims))
	t.Logf("took %s", time.Since(start).Round(time.Second))
}

func withoutNames(names, drop []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(drop, n) {
			out = append(out, n)
		}
	}
	return out
}
